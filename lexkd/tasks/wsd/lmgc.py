"""LMGC: word sense disambiguation as gloss/context sentence-pair classification.

LMGC (Wahle et al. 2021, after GlossBERT, Huang et al. 2019) fine-tunes any checkpoint (the
student, a teacher or a hub model) as a 2-label sequence-pair classifier on the pairs of
:mod:`lexkd.lexical.glosses` (label 1: the gloss is a gold sense of the marked target). The
prediction for a target is its candidate with the highest ``P(match)``; all candidates of a
target are scored in the same forward pass, and ties go to the earlier WordNet sense.

Two scorers give ``P(match)`` for a batch of pairs (:data:`SCORERS`):

- ``classifier``: an ``AutoModelForSequenceClassification`` fine-tuned here,
  ``softmax(logits)[:, 1]``;
- ``nsp``: BERT's next-sentence head of a ``BertForPreTraining`` (lexkd's students after LMGC-M
  lexical pretraining), ``softmax(seq_relationship_logits)[:, 0]`` (NSP label 0 = "B follows
  A" = the gloss matches), so such a model disambiguates with no added parameter.

A classifier made from a ``BertForPreTraining`` checkpoint starts from its next-sentence head
(:func:`load_lmgc_model`): both are a linear layer on the pooled ``[CLS]`` vector, so LMGC after
LMGC-M starts from what LMGC-M learnt instead of a random layer (rows swapped: NSP's label 0 is
the classifier's label 1).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from lexkd.lexical.glosses import (
    GlossPair,
    NoSensesError,
    PairStats,
    candidate_groups,
    sample_groups,
    target_pairs,
    tokenize_pairs,
    tokenize_sentence,
)
from lexkd.lexical.wordnet import get_wordnet, normalize_pos
from lexkd.models.masked_lm import check_local_model
from lexkd.models.pair_head import NSP_MATCH_LABEL, nsp_head, nsp_logits
from lexkd.utils.hub import hub_load_error

logger = logging.getLogger(__name__)

MATCH_LABEL = 1
"""The LMGC classifier's label for "the gloss is a sense of the target"."""
LABELS = {0: "no_match", MATCH_LABEL: "match"}


class ClassifierScorer:
    """``P(match) = softmax(logits)[:, 1]`` of a 2-label sequence-pair classifier."""

    name = "classifier"

    def check(self, model: PreTrainedModel) -> None:
        if getattr(model.config, "num_labels", None) != 2 or not type(model).__name__.endswith("ForSequenceClassification"):
            raise ValueError(
                f"The classifier scorer needs a 2-label sequence classifier (LMGC), got {type(model).__name__} with "
                f"{getattr(model.config, 'num_labels', '?')} labels; fine-tune one first, or use the 'nsp' scorer "
                "for a BertForPreTraining model."
            )

    def __call__(self, model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(**batch).logits  # (B, 2)
        return torch.softmax(logits.float(), dim=-1)[:, MATCH_LABEL]


class NSPScorer:
    """``P(match) = softmax(seq_relationship_logits)[:, 0]``: BERT's next-sentence head, no added head."""

    name = "nsp"

    def check(self, model: PreTrainedModel) -> None:
        nsp_head(model)

    def __call__(self, model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = nsp_logits(model, batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))  # (B, 2)
        return torch.softmax(logits.float(), dim=-1)[:, NSP_MATCH_LABEL]


SCORERS = {"classifier": ClassifierScorer, "nsp": NSPScorer}
"""Scorer name -> class; ``"auto"`` picks ``classifier`` for a sequence classifier, else ``nsp``."""


def get_scorer(name: str, model: PreTrainedModel):
    """The scorer called ``name`` (or ``"auto"``), checked against ``model``.

    Raises:
        ValueError: unknown name (listing the valid ones), or a model the scorer cannot use.
    """
    if name == "auto":
        name = "classifier" if type(model).__name__.endswith("ForSequenceClassification") else "nsp"
    if name not in SCORERS:
        raise ValueError(f"Unknown scorer {name!r}; valid scorers: auto, {', '.join(SCORERS)}.")
    scorer = SCORERS[name]()
    scorer.check(model)
    return scorer


def _architectures(name_or_path: str | os.PathLike) -> list[str]:
    check_local_model(str(name_or_path))
    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except OSError as error:
        raise hub_load_error(str(name_or_path), error) from None
    return list(config.architectures or [])


def load_pretraining_model(name_or_path: str | os.PathLike) -> PreTrainedModel:
    """A checkpoint with BERT's pretraining heads, refused when its next-sentence head would be new.

    Raises:
        ValueError: the checkpoint has no trained next-sentence head or pooler (e.g. one saved
            as ``BertForMaskedLM``): scoring with a random head would give meaningless senses.
    """
    model, info = AutoModelForPreTraining.from_pretrained(name_or_path, output_loading_info=True)
    missing = sorted(k for k in info["missing_keys"] if "seq_relationship" in k or ".pooler." in k)
    if missing:
        raise ValueError(
            f"{str(name_or_path)!r} has no trained next-sentence head ({', '.join(missing)} missing from the "
            "checkpoint), so the 'nsp' scorer would rank senses at random. Use a BertForPreTraining checkpoint "
            "(after pretrain_lexical.py), or fine-tune an LMGC classifier (eval_wsd.py --train ...)."
        )
    nsp_head(model)
    return model


def load_lmgc_model(name_or_path: str | os.PathLike, *, init_from_nsp: bool = True) -> PreTrainedModel:
    """An LMGC classifier (2 labels, 1 = match) from any checkpoint.

    A checkpoint that already is a sequence classifier loads as it is (it must have 2 labels).
    Otherwise a classifier layer is added; with ``init_from_nsp`` and a checkpoint that has
    BERT's next-sentence head, that layer starts from the head (rows swapped, module docstring).

    Raises:
        FileNotFoundError: a local path with no saved model.
        ValueError: a sequence classifier with another number of labels.
    """
    architectures = _architectures(name_or_path)
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        model = AutoModelForSequenceClassification.from_pretrained(name_or_path)
        ClassifierScorer().check(model)
        return model
    model = AutoModelForSequenceClassification.from_pretrained(
        name_or_path, num_labels=2, id2label=LABELS, label2id={v: k for k, v in LABELS.items()}
    )
    if init_from_nsp and any(a.endswith("ForPreTraining") for a in architectures):
        head = nsp_head(load_pretraining_model(name_or_path))
        classifier = getattr(model, "classifier", None)
        if isinstance(classifier, torch.nn.Linear) and classifier.weight.shape == head.weight.shape:
            with torch.no_grad():  # NSP row 0 ("B follows A") becomes the classifier's "match" row 1
                classifier.weight.copy_(head.weight.flip(0))
                classifier.bias.copy_(head.bias.flip(0))
            logger.info("LMGC classifier initialised from the next-sentence head of %s", name_or_path)
    return model


def _batches(groups: Sequence[Sequence[GlossPair]], batch_size: int) -> list[list[int]]:
    """Group indices packed into batches of at most ``batch_size`` pairs; a group is never split."""
    batches, current, size = [], [], 0
    for number, group in enumerate(groups):
        if current and size + len(group) > batch_size:
            batches.append(current)
            current, size = [], 0
        current.append(number)
        size += len(group)
    if current:
        batches.append(current)
    return batches


class LMGCSystem:
    """A WSD system (``fit``/``predict``, as :class:`lexkd.tasks.wsd.baselines.WSDSystem`) over LMGC scores.

    Args:
        model: an LMGC classifier, or a ``BertForPreTraining`` scored with its next-sentence head.
        tokenizer: the model's (fast) tokenizer.
        scorer: ``"auto"``, ``"classifier"`` or ``"nsp"`` (:data:`SCORERS`).
        max_length: tokens per pair (:func:`lexkd.lexical.glosses.tokenize_pairs`).
        batch_size: pairs per forward pass; all candidates of a target always share one pass.

    After :meth:`predict`, ``stats`` holds the :class:`PairStats` of the corpus (skipped
    instances are left unanswered, and counted there).
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, scorer: str = "auto",
                 max_length: int = 128, batch_size: int = 64, wordnet=None):
        self.model, self.tokenizer = model, tokenizer
        self.scorer = get_scorer(scorer, model)
        self.max_length, self.batch_size = max_length, batch_size
        self.wordnet = wordnet
        self.stats: PairStats | None = None
        self.training: dict | None = None

    @property
    def skipped(self) -> dict[str, int]:
        """Unanswered instances of the last :meth:`predict` by reason (as the baselines' ``skipped``)."""
        if self.stats is None:
            return {}
        reasons = ("no_senses", "unknown_pos", "no_gold", "gold_not_candidate")
        return {reason: getattr(self.stats, reason) for reason in reasons if getattr(self.stats, reason)}

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, scorer: str = "auto", **kwargs) -> LMGCSystem:
        """Load a checkpoint for ``scorer`` (``auto``: a sequence classifier as such, else the NSP head).

        Raises:
            FileNotFoundError: a local path with no saved model.
            ValueError: the checkpoint cannot serve the scorer (e.g. ``classifier`` on a
                pretraining checkpoint: fine-tune it first).
        """
        architectures = _architectures(name_or_path)
        is_classifier = any(a.endswith("ForSequenceClassification") for a in architectures)
        if scorer == "auto":
            scorer = "classifier" if is_classifier else "nsp"
        if scorer == "classifier" and not is_classifier:
            raise ValueError(
                f"{str(name_or_path)!r} is not an LMGC classifier (architectures {architectures}): fine-tune it "
                "first (eval_wsd.py --train SEMCOR.data.xml) or score with its next-sentence head (--scorer nsp)."
            )
        model = (AutoModelForSequenceClassification.from_pretrained(name_or_path) if scorer == "classifier"
                 else load_pretraining_model(name_or_path))
        return cls(model, AutoTokenizer.from_pretrained(name_or_path), scorer=scorer, **kwargs)

    def fit(self, train=None, *, args: TrainingArguments | None = None, max_instances: int | None = None,
            seed: int = 42, resume: bool = False, distillation=None) -> LMGCSystem:
        """Fine-tune the classifier on ``train`` (a WSD corpus); no-op when ``train`` is None.

        Uses at most ``max_instances`` training targets (drawn with ``seed``); ``resume``
        continues from the last checkpoint in ``args.output_dir``; ``distillation``
        (:class:`lexkd.tasks.classification.distillation.TaskDistillationArguments`) adds LMGC teachers'
        soft labels (see :func:`train_lmgc`). The training summary is kept in ``training``.

        Raises:
            ValueError: ``train`` given without ``args``, or a model that is not a classifier.
        """
        if train is None:
            return self
        if args is None:
            raise ValueError("LMGCSystem.fit needs TrainingArguments (args=...) to fine-tune on a corpus.")
        ClassifierScorer().check(self.model)
        groups = candidate_groups(train, training=True, wordnet=self.wordnet)
        logger.info("LMGC training pairs: %s", groups.stats.as_dict())
        self.training = train_lmgc(self.model, self.tokenizer, sample_groups(groups, max_instances, seed=seed), args,
                                   max_length=self.max_length, resume=resume, distillation=distillation)
        return self

    @torch.inference_mode()
    def score_groups(self, groups: Sequence[Sequence[GlossPair]]) -> list[list[float]]:
        """``P(match)`` of every pair, one list per group (same order as the groups' pairs)."""
        scores: list[list[float]] = [[] for _ in groups]
        if not any(groups):
            return scores
        columns = tokenize_pairs(groups, self.tokenizer, max_length=self.max_length)[:]  # column -> list
        group_of = columns.pop("group")
        rows_of: dict[int, list[int]] = {}
        for row, number in enumerate(group_of):
            rows_of.setdefault(number, []).append(row)
        columns = {name: columns[name] for name in ("input_ids", "token_type_ids", "attention_mask")}
        pad = DataCollatorWithPadding(self.tokenizer)
        was_training, device = self.model.training, next(self.model.parameters()).device
        self.model.eval()
        try:
            for batch_groups in _batches(groups, self.batch_size):
                rows = [row for number in batch_groups for row in rows_of.get(number, [])]
                if not rows:
                    continue
                batch = pad([{k: v[row] for k, v in columns.items()} for row in rows])
                probs = self.scorer(self.model, {k: v.to(device) for k, v in batch.items()}).tolist()  # (B,)
                for row, prob in zip(rows, probs, strict=True):
                    scores[group_of[row]].append(prob)
        finally:
            self.model.train(was_training)
        return scores

    def predict(self, corpus) -> dict[str, str]:
        """Instance id -> predicted sense key (the highest-scoring candidate) for a WSD corpus."""
        groups = candidate_groups(corpus, training=False, wordnet=self.wordnet)
        self.stats = groups.stats
        if groups.stats.skipped:
            logger.warning("LMGC: %d of %d instances unanswered (%s)", groups.stats.skipped, groups.stats.instances,
                           groups.stats.as_dict())
        answers = {}
        for group, scores in zip(groups, self.score_groups(groups), strict=True):
            best = max(range(len(group)), key=lambda i: (scores[i], -i))  # ties: earlier WordNet sense
            answers[group[best].instance_id] = group[best].sense_key
        return answers


def train_lmgc(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, groups: Sequence[Sequence[GlossPair]],
               args: TrainingArguments, *, eval_groups: Sequence[Sequence[GlossPair]] | None = None,
               max_length: int = 128, resume: bool = False, distillation=None) -> dict:
    """Fine-tune an LMGC classifier on gloss/context pairs with ``transformers.Trainer``.

    Pairs are shuffled individually and trained with cross-entropy on the match label, as
    GlossBERT does. With ``distillation`` (a :class:`TaskDistillationArguments` with teachers), the
    loss is task distillation's ``alpha T^2 KL(q || student) + (1 - alpha) CE(gold)`` over the pairs,
    ``q`` the LMGC teachers' combined soft labels (:mod:`lexkd.tasks.wsd.distillation`, logits cached).
    Writes ``args.output_dir``: ``metrics.jsonl``, ``checkpoint-*`` (for ``resume``) and, when
    finished, ``model/`` (model and tokenizer, written atomically).

    Returns:
        the training metrics plus ``train_runtime_s``, ``train_cpu_s``, ``pairs``, ``steps`` and, when
        distilling, ``distillation`` (settings, teachers' cache records, mean teacher weights).

    Raises:
        TeacherLabelMismatchError: a teacher that is not a 2-label LMGC classifier.
    """
    from lexkd.utils.io import save_model_atomically
    from lexkd.utils.model_card import model_card
    from lexkd.utils.runs import MetricsJsonlCallback, resume_checkpoint

    checkpoint = resume_checkpoint(args.output_dir) if resume else None
    train = tokenize_pairs(groups, tokenizer, max_length=max_length)
    evaluation = tokenize_pairs(eval_groups, tokenizer, max_length=max_length) if eval_groups else None
    trainer_class, extra, summary = Trainer, {}, {}
    if distillation is not None and distillation.enabled:
        from lexkd.tasks.classification.distillation import (
            TEACHER_LOGITS,
            TaskDistillationTrainer,
            mean_teacher_weights,
        )
        from lexkd.tasks.wsd.distillation import lmgc_teacher_logits

        kd_start = time.perf_counter()
        soft, records = lmgc_teacher_logits(distillation.teacher, groups, max_length=max_length,
                                            cache_dir=distillation.teacher_logits_dir,
                                            batch_size=args.per_device_eval_batch_size,
                                            allow_unpinned_teacher=distillation.allow_unpinned_teacher)  # (N, K, 2)
        labels = [r["label"] for r in records]
        train = train.add_column(TEACHER_LOGITS, soft.tolist())
        trainer_class, extra = TaskDistillationTrainer, {"distillation": distillation, "teacher_labels": labels}
        summary = {"distillation": {**distillation.settings(), "teacher_logits": records,
                                    "teacher_logits_time_s": round(time.perf_counter() - kd_start, 2),
                                    "mean_teacher_weights": mean_teacher_weights(soft, train["label"], distillation,
                                                                                 labels)}}
    trainer = trainer_class(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                            data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                            callbacks=[MetricsJsonlCallback(Path(args.output_dir) / "metrics.jsonl")], **extra)
    start, cpu_start = time.perf_counter(), time.process_time()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    train_cpu = time.process_time() - cpu_start
    lexkd_config = dict(getattr(model.config, "lexkd", None) or {})
    lexkd_config["lmgc"] = {"match_label": MATCH_LABEL, "max_length": max_length, "pairs": len(train)}
    model.config.lexkd = lexkd_config
    if trainer.is_world_process_zero():
        card = model_card(Path(args.output_dir).name, summary="An LMGC (GlossBERT-style) gloss/context pair classifier "
                          "for word sense disambiguation: label 1 = the gloss is a sense of the quoted target.",
                          base_model=str(model.name_or_path or "") or None,
                          training={"train pairs": len(train), "steps": trainer.state.global_step,
                                    "learning rate": args.learning_rate, "max length": max_length, "seed": args.seed},
                          results={"train loss": output.training_loss},
                          tags=["word-sense-disambiguation", "wordnet"], pipeline_tag="text-classification",
                          usage="Load with `AutoModelForSequenceClassification.from_pretrained` on this folder; "
                                "`lexkd.disambiguate` uses it on raw sentences.")
        save_model_atomically(model, tokenizer, Path(args.output_dir) / "model", model_card=card)
    return {**output.metrics, "train_runtime_s": round(time.perf_counter() - start, 1),
            "train_cpu_s": round(train_cpu, 1), "pairs": len(train), "steps": trainer.state.global_step, **summary}


def _target_index(tokens: list[str], target: str | int) -> tuple[list[str], int]:
    """The target's position in ``tokens`` (a multiword target is merged into one token)."""
    if isinstance(target, int):
        if not 0 <= target < len(tokens):
            raise ValueError(f"Target index {target} is outside the sentence's {len(tokens)} tokens: {tokens}.")
        return tokens, target
    words = [w.lower() for w in tokenize_sentence(target)]
    lowered = [t.lower() for t in tokens]
    for start in range(len(tokens) - len(words) + 1 if words else 0):
        if lowered[start : start + len(words)] == words:
            merged = tokens[:start] + [" ".join(tokens[start : start + len(words)])] + tokens[start + len(words) :]
            return merged, start
    raise ValueError(f"Target {target!r} is not a word of the sentence; its words are: {tokens}.")


def disambiguate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, sentence: str, target: str | int,
                 pos: str, *, lemma: str | None = None, scorer: str = "auto", max_length: int = 128,
                 wordnet=None) -> list[dict]:
    """Rank the WordNet senses of a word in user text.

    Args:
        sentence: plain text; it is split into words and punctuation.
        target: the word (or words) to disambiguate, matched case-insensitively, first
            occurrence; or its index among the sentence's words.
        pos: ``NOUN``, ``VERB``, ``ADJ``, ``ADV`` (or a WordNet letter).
        lemma: the target's lemma (``"bank"`` for ``"banks"``); default the target lower-cased.
        scorer: as :class:`LMGCSystem`.

    Returns:
        ``[{"sense_key", "synset", "gloss", "score"}, ...]`` sorted by decreasing ``score``
        (``P(match)``).

    Raises:
        ValueError: an empty sentence, a target not in it, or an unknown POS.
        NoSensesError: WordNet has no sense of the lemma for that POS.
    """
    letter = normalize_pos(pos)  # ValueError naming the valid tags
    tokens = tokenize_sentence(sentence)
    if not tokens:
        raise ValueError("The sentence is empty.")
    tokens, index = _target_index(tokens, target)
    lemma = lemma or tokens[index].lower()
    wordnet = wordnet if wordnet is not None else get_wordnet()
    senses = wordnet.senses(lemma, letter)
    if not senses:
        raise NoSensesError(
            f"WordNet has no {pos} sense of {lemma!r}. Check the part of speech, or give the lemma "
            f"(e.g. lemma='bank' for 'banks')."
        )
    system = LMGCSystem(model, tokenizer, scorer=scorer, max_length=max_length, wordnet=wordnet)
    scores = system.score_groups([target_pairs(tokens, index, senses, lemma=lemma)])[0]
    ranked = sorted(zip(senses, scores, strict=True), key=lambda item: -item[1])
    return [{"sense_key": s.sense_key, "synset": s.synset, "gloss": s.gloss, "score": score} for s, score in ranked]
