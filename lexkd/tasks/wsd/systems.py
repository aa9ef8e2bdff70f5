"""WSD systems by name, and their evaluation on a data set in the unified format (Raganato et al. 2017).

``scripts/eval_wsd.py`` is a thin ``main()`` over these:

- :func:`make_system`: a baseline of :data:`lexkd.tasks.wsd.baselines.BASELINES` by name, or an
  :class:`lexkd.tasks.wsd.lmgc.LMGCSystem` over a checkpoint (fine-tuned first when a training
  corpus is given);
- :func:`gold_key_for`: the gold key file to score against: the one given, else
  ``X.gold.key.txt`` beside ``X.data.xml`` (the framework's naming), else none;
- :func:`evaluate_system`: predict, write the answers as a key file, score them when the corpus
  has gold keys;
- :class:`WSDEvaluator`: a model scored as an LMGC system on a dev corpus (LMGC-M's dev
  evaluation, passed to :func:`lexkd.lexical.lmgc_m.train_lexical`).
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path

from lexkd.evaluation import Evaluator
from lexkd.tasks.wsd.baselines import BASELINES
from lexkd.tasks.wsd.corpus import WSDCorpus, write_key_file
from lexkd.tasks.wsd.lmgc import LMGCSystem, load_lmgc_model
from lexkd.tasks.wsd.raganato import default_key_file
from lexkd.tasks.wsd.scoring import score

__all__ = ["WSDEvaluator", "evaluate_system", "gold_key_for", "make_system"]

logger = logging.getLogger(__name__)


def make_system(model: str, *, train: WSDCorpus | None = None, train_args=None, scorer: str = "auto",
                max_length: int = 128, batch_size: int = 64, max_train_instances: int | None = None,
                init_from_nsp: bool = True, resume: bool = False, wordnet=None,
                distillation=None) -> tuple[object, str]:
    """The WSD system named by ``model``, trained on ``train`` where it learns.

    Args:
        model: a baseline name (``first_sense``, ``mfs``, ``lesk``, ``word_expert``) or a checkpoint
            (folder or hub id).
        train: a corpus with gold keys: fits ``mfs`` and ``word_expert``; for a checkpoint, an
            LMGC classifier is fine-tuned on it (from the next-sentence head with ``init_from_nsp``).
        train_args: ``transformers.TrainingArguments`` of that fine-tuning (``seed`` also draws the
            ``max_train_instances`` training targets).
        scorer: for a checkpoint without ``train``: ``auto``, ``classifier`` or ``nsp``
            (:data:`lexkd.tasks.wsd.lmgc.SCORERS`).
        max_length, batch_size: tokens per pair and pairs per forward pass of LMGC.
        resume: continue LMGC fine-tuning from the last checkpoint in ``train_args.output_dir``.
        distillation: :class:`lexkd.tasks.classification.distillation.TaskDistillationArguments`; with
            teachers (fine-tuned LMGC classifiers), LMGC fine-tuning learns from their soft labels too.
        wordnet: the sense inventory (default :func:`lexkd.lexical.wordnet.get_wordnet`).

    Returns:
        ``(system, kind)``: ``kind`` is ``"baseline"``, ``"classifier"`` or ``"nsp"``.

    Raises:
        ValueError: a name close to a baseline's that is no local folder (a typo: the baseline is
            suggested, the hub is not asked), ``train`` with ``scorer="nsp"`` (the next-sentence head is scored untrained;
            fine-tuning makes a classifier), ``train`` without ``train_args``, a baseline that
            needs ``train`` without it, or a checkpoint the scorer cannot use.
        FileNotFoundError: a local checkpoint path with no saved model.
    """
    if model in BASELINES:
        if distillation is not None and distillation.enabled:
            raise ValueError(f"--teacher is for LMGC checkpoints; the baseline {model!r} learns from no teacher.")
        return BASELINES[model](wordnet=wordnet).fit(train), "baseline"
    close = difflib.get_close_matches(model, list(BASELINES), n=1, cutoff=0.75)
    if close and not Path(model).exists():  # a mistyped baseline, not a checkpoint to look up on the hub
        raise ValueError(f"--model {model!r} is neither a baseline nor a local checkpoint: did you mean "
                         f"{close[0]!r}? Baselines: {', '.join(sorted(BASELINES))}.")
    distilling = distillation is not None and distillation.enabled
    if distilling and train is None:
        raise ValueError("--teacher distils LMGC teachers into a classifier fine-tuned here: give the training "
                         "corpus (--train SEMCOR.data.xml), or drop --teacher.")
    if train is None:
        system = LMGCSystem.from_pretrained(model, scorer=scorer, max_length=max_length, batch_size=batch_size,
                                            wordnet=wordnet)
        return system, system.scorer.name
    if scorer == "nsp":
        raise ValueError("--scorer nsp scores a checkpoint's next-sentence head as it is, while --train fine-tunes an "
                         "LMGC classifier (scored as such): drop --train, or drop --scorer nsp.")
    if train_args is None:
        raise ValueError("Fine-tuning LMGC on a training corpus needs TrainingArguments (train_args=...).")
    from transformers import AutoTokenizer

    classifier = load_lmgc_model(model, init_from_nsp=init_from_nsp)
    system = LMGCSystem(classifier, AutoTokenizer.from_pretrained(model), scorer="classifier",
                        max_length=max_length, batch_size=batch_size, wordnet=wordnet)
    system.fit(train, args=train_args, max_instances=max_train_instances, seed=train_args.seed, resume=resume,
               distillation=distillation)
    return system, "classifier"


def gold_key_for(data_xml: str | os.PathLike, gold: str | os.PathLike | None = None) -> str | None:
    """The gold key file to score ``data_xml`` against, and a log line saying which (or that none is).

    An explicit ``gold`` wins (it must exist: :func:`lexkd.tasks.wsd.raganato.read_raganato`
    raises otherwise); else ``X.gold.key.txt`` beside ``X.data.xml`` when that file exists
    (:func:`lexkd.tasks.wsd.raganato.default_key_file`); else None (answers are written, not scored).
    """
    if gold is not None:
        logger.info("Scoring against the gold key file %s (given)", gold)
        return str(gold)
    found = default_key_file(data_xml)
    if found is not None:
        logger.info("Scoring against the gold key file %s (found beside %s)", found, data_xml)
    else:
        logger.warning("No gold key file given or beside %s (X.gold.key.txt next to X.data.xml): the answers are "
                       "written but not scored; pass --gold to score them.", data_xml)
    return found


def evaluate_system(system, corpus: WSDCorpus, output: str | os.PathLike, *,
                    gold_key_file: str | os.PathLike | None = None) -> dict:
    """Run ``system`` on ``corpus``, write its answers to ``output`` and score them.

    Args:
        system: anything with ``predict(corpus) -> {instance id: sense key}`` and ``skipped``.
        corpus: the evaluation set, read with its gold keys to be scored.
        output: the key file to write (``instance_id sense_key`` lines, Scorer.java's format).
        gold_key_file: the key file the corpus's gold keys came from (recorded in the result).

    Returns:
        ``instances``, ``answered``, ``skipped`` (counts by reason), ``key_file``, ``gold_key_file``
        and, when the corpus has gold keys, ``scores`` (:func:`lexkd.tasks.wsd.scoring.score`,
        with ``per_pos``).

    Raises:
        ValueError: ``gold_key_file`` given for a corpus without gold keys (read it with them).
    """
    gold = corpus.gold()
    if gold_key_file is not None and not gold:
        raise ValueError(f"The corpus {corpus.name!r} has no gold keys although {str(gold_key_file)!r} was given: "
                         "read it with read_raganato(data_xml, gold_key_file).")
    answers = system.predict(corpus)
    write_key_file(answers, output)
    result = {"instances": len(corpus.instances), "answered": len(answers), "skipped": dict(system.skipped),
              "key_file": str(output), "gold_key_file": None if gold_key_file is None else str(gold_key_file)}
    if gold:
        result["scores"] = score(answers, gold, pos_of=corpus.pos_of())
    return result


class WSDEvaluator(Evaluator):
    """WSD scores of a model used as an LMGC system on a corpus with gold keys.

    LMGC-M's dev evaluation: with the default ``scorer="nsp"`` a ``BertForPreTraining`` is scored
    with its next-sentence head, no parameter added.

    Args:
        corpus: the dev corpus, with gold keys.
        tokenizer: the model's tokenizer.
        scorer, max_length, batch_size: as :class:`lexkd.tasks.wsd.lmgc.LMGCSystem`.
        wordnet: the sense inventory (default :func:`lexkd.lexical.wordnet.get_wordnet`).

    Call (the :class:`lexkd.evaluation.Evaluator` interface): ``evaluator(model, output_dir=None)``
    -> :func:`lexkd.tasks.wsd.scoring.score`'s dict (``P``, ``R``, ``F1`` ... with ``per_pos``)
    plus ``skipped`` (the corpus's :class:`lexkd.lexical.glosses.PairStats`); with ``output_dir``,
    the answers go to ``output_dir/wsd.key.txt`` and the scores to ``output_dir/metrics.json``.
    ``evaluator(model, key_file=PATH)`` writes only the answers, to ``PATH`` (``key_file`` in the
    result). Primary metric ``F1``.

    Raises:
        ValueError: (on construction) a corpus without gold keys; (on call) a model the scorer
            cannot use.
    """

    primary_metric = "F1"
    greater_is_better = True

    def __init__(self, corpus: WSDCorpus, tokenizer, *, scorer: str = "nsp", max_length: int = 128,
                 batch_size: int = 64, wordnet=None):
        self.gold = corpus.gold()
        if not self.gold:
            raise ValueError(f"The WSD dev corpus {corpus.name!r} has no gold keys: read it with its .gold.key.txt.")
        self.corpus, self.tokenizer, self.scorer = corpus, tokenizer, scorer
        self.max_length, self.batch_size, self.wordnet = max_length, batch_size, wordnet

    def __call__(self, model, output_dir: str | os.PathLike | None = None, *,
                 key_file: str | os.PathLike | None = None) -> dict:
        if key_file is not None:
            return self._score(model, key_file)
        return super().__call__(model, output_dir)

    def compute(self, model, output_dir: Path | None = None) -> dict:
        return self._score(model, output_dir / "wsd.key.txt" if output_dir is not None else None)

    def _score(self, model, key_file: str | os.PathLike | None) -> dict:
        system = LMGCSystem(model, self.tokenizer, scorer=self.scorer, max_length=self.max_length,
                            batch_size=self.batch_size, wordnet=self.wordnet)
        answers = system.predict(self.corpus)
        result = {**score(answers, self.gold, pos_of=self.corpus.pos_of()), "skipped": system.stats.as_dict()}
        if key_file is not None:
            write_key_file(answers, key_file)
            result["key_file"] = str(key_file)
        return result
