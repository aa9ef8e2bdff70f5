"""Metrics for generated text: BLEU, chrF, ROUGE, and an evaluator that generates and scores.

References in lexkd's NLG data are often already tokenised (the Shakespeare files are
NLTK-tokenised: ``don 't`` , ``.``), while hypotheses are decoded from WordPiece ids
(``don't .``, lower case). :func:`normalize_for_metrics` passes both through the same
tokenizer's normaliser and pre-tokeniser so they compare on equal footing; the scores are
then computed on those space-separated words:

- BLEU: ``sacrebleu`` corpus BLEU with ``tokenize="none"`` (the text is already tokenised);
- chrF: ``sacrebleu`` corpus chrF (character 6-grams, beta 2);
- ROUGE-1/2/L: ``rouge_score``'s mean F1 over sentences (no stemming). Its own tokeniser
  lowercases and keeps only ``[a-z0-9]`` words, so ROUGE ignores punctuation.

All scores are in [0, 100]. :class:`GenerationEvaluator` follows the sentence-transformers
evaluator pattern (``primary_metric``, ``greater_is_better``, ``__call__(model, output_dir)``: :class:`lexkd.evaluation.Evaluator`).
"""

from __future__ import annotations

import time
from pathlib import Path

import datasets
import torch
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF
from tqdm.auto import tqdm
from transformers import GenerationConfig, PreTrainedTokenizerBase

from lexkd.evaluation import Evaluator
from lexkd.utils.io import write_text_atomically

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def normalize_for_metrics(texts: list[str], tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """Each text as the tokenizer's normaliser and pre-tokeniser see it, words joined by spaces.

    With the BERT-style tokenizers of lexkd this lowercases, strips accents and splits off
    punctuation: ``"Don't go!"`` -> ``"don ' t go !"``. The result is idempotent. A tokenizer
    without a fast backend, or whose backend has no normaliser / no pre-tokeniser, skips that
    step; without a pre-tokeniser the text is split on whitespace. Pre-tokenisers that mark
    word starts (SentencePiece's ``▁``) keep the mark, on hypotheses and references alike.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    normalizer = getattr(backend, "normalizer", None)
    pre_tokenizer = getattr(backend, "pre_tokenizer", None)
    output = []
    for text in texts:
        if normalizer is not None:
            text = normalizer.normalize_str(text)
        words = (
            [w for w, _ in pre_tokenizer.pre_tokenize_str(text)]
            if pre_tokenizer is not None
            else text.split()
        )
        output.append(" ".join(words))
    return output


def score_generations(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF, and mean ROUGE-1/2/L F1, of ``hypotheses`` against one reference each.

    Args:
        hypotheses: generated texts, already tokenised (words separated by spaces), e.g. by
            :func:`normalize_for_metrics`.
        references: the reference of each hypothesis, tokenised the same way.

    Returns:
        ``{"bleu", "chrf", "rouge1", "rouge2", "rougeL"}`` in [0, 100]; BLEU's parts: ``"bleu_precisions"``
        (the four modified n-gram precisions, %), ``"bleu_brevity_penalty"`` (in (0, 1]) and
        ``"length_ratio"`` (hypothesis words / reference words); ``"bleu_signature"`` and
        ``"chrf_signature"`` (sacrebleu's, for reports) and ``"num_examples"``.

    Raises:
        ValueError: no hypotheses, or not one reference per hypothesis.
    """
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(
            f"Need one reference per hypothesis (and at least one); got {len(hypotheses)} "
            f"hypotheses and {len(references)} references."
        )
    bleu, chrf = BLEU(tokenize="none", force=True), CHRF()  # force: input is tokenised on purpose
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES))
    rouge = {name: 0.0 for name in ROUGE_TYPES}
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        scores = scorer.score(reference, hypothesis)  # rouge_score's order: (target, prediction)
        for name in ROUGE_TYPES:
            rouge[name] += scores[name].fmeasure
    corpus_bleu = bleu.corpus_score(hypotheses, [references])
    return {
        "bleu": corpus_bleu.score,
        # BLEU's parts (Papineni et al. 2002): modified 1-4-gram precisions (%), the brevity penalty
        # exp(min(0, 1 - r / c)) and the length ratio c / r (hypothesis / reference words)
        "bleu_precisions": list(corpus_bleu.precisions),
        "bleu_brevity_penalty": corpus_bleu.bp,
        "length_ratio": corpus_bleu.sys_len / corpus_bleu.ref_len if corpus_bleu.ref_len else 0.0,
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        **{name: 100.0 * total / len(hypotheses) for name, total in rouge.items()},
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "num_examples": len(hypotheses),
    }


def copy_baseline_scores(dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase) -> dict:
    """The scores of copying the input (hypothesis = ``source``) against ``target``, both
    normalised by :func:`normalize_for_metrics`: the floor a style-transfer model must beat.

    Raises:
        ValueError: an empty dataset (see :func:`score_generations`).
    """
    return score_generations(
        normalize_for_metrics(dataset["source"], tokenizer),
        normalize_for_metrics(dataset["target"], tokenizer),
    )


def _one_line(text: str) -> str:
    """``text`` with tabs and line breaks as spaces, for one TSV field."""
    return " ".join(text.replace("\t", " ").splitlines())


class GenerationEvaluator(Evaluator):
    """Generate from the sources of a dataset and score against its targets.

    Args:
        dataset: a Dataset with ``source`` and ``target`` string columns.
        tokenizer: the model's tokenizer (fast, for :func:`normalize_for_metrics`).
        generation_config: how to generate (``max_new_tokens``, ``num_beams``,
            ``decoder_start_token_id``, ...), passed to ``model.generate``.
        batch_size: sources per ``generate`` call.
        max_source_length: sources are truncated to this many ids.
        show_progress_bar: a tqdm bar over the batches.

    Raises:
        ValueError: missing columns, an empty dataset, or a size <= 0.
    """

    primary_metric = "bleu"
    greater_is_better = True

    def __init__(
        self,
        dataset: datasets.Dataset,
        tokenizer: PreTrainedTokenizerBase,
        generation_config: GenerationConfig,
        *,
        batch_size: int = 32,
        max_source_length: int = 128,
        show_progress_bar: bool = True,
    ) -> None:
        missing = [c for c in ("source", "target") if c not in dataset.column_names]
        if missing:
            raise ValueError(
                f"GenerationEvaluator needs columns source and target; missing "
                f"{', '.join(missing)} (columns: {', '.join(dataset.column_names)})."
            )
        if len(dataset) == 0 or batch_size <= 0 or max_source_length <= 0:
            raise ValueError(
                f"Need a non-empty dataset and sizes > 0; got {len(dataset)} examples, batch_size "
                f"{batch_size}, max_source_length {max_source_length}."
            )
        self.sources, self.references = list(dataset["source"]), list(dataset["target"])
        self.tokenizer = tokenizer
        self.generation_config = generation_config
        self.batch_size = batch_size
        self.max_source_length = max_source_length
        self.show_progress_bar = show_progress_bar

    @torch.no_grad()
    def generate(self, model: torch.nn.Module) -> list[str]:
        """The decoded generations (special tokens skipped) for all sources, in order; the
        model is in eval mode meanwhile and gets its previous mode back."""
        was_training = model.training
        model.eval()
        hypotheses: list[str] = []
        try:
            starts = range(0, len(self.sources), self.batch_size)
            for start in tqdm(starts, desc="Generating", disable=not self.show_progress_bar):
                batch = self.tokenizer(
                    self.sources[start : start + self.batch_size],
                    max_length=self.max_source_length,
                    truncation=True,
                    padding=True,
                    return_token_type_ids=False,
                    return_tensors="pt",
                ).to(model.device)
                output = model.generate(
                    input_ids=batch["input_ids"],
                    attention_mask=batch["attention_mask"],
                    generation_config=self.generation_config,
                )  # (B, T_out)
                hypotheses.extend(self.tokenizer.batch_decode(output, skip_special_tokens=True))
        finally:
            model.train(was_training)
        return hypotheses

    def compute(self, model: torch.nn.Module, output_dir: Path | None = None) -> dict:
        """Generate, normalise and score (:func:`score_generations`); with ``output_dir``, also write
        ``predictions.tsv`` there (header ``source reference hypothesis``; raw texts, tabs and line
        breaks as spaces), atomically. ``metrics.json`` (written by :class:`lexkd.evaluation.Evaluator`)
        also records the ``generation_config`` (its ``to_diff_dict()``).

        Returns:
            the scores of :func:`score_generations` plus ``seconds`` (generation and scoring).
        """
        started = time.perf_counter()
        hypotheses = self.generate(model)
        scores = score_generations(
            normalize_for_metrics(hypotheses, self.tokenizer),
            normalize_for_metrics(self.references, self.tokenizer),
        )
        scores["seconds"] = time.perf_counter() - started
        if output_dir is not None:
            rows = ["source\treference\thypothesis"] + [
                "\t".join(map(_one_line, row))
                for row in zip(self.sources, self.references, hypotheses, strict=True)
            ]
            write_text_atomically("\n".join(rows) + "\n", output_dir / "predictions.tsv")
        return scores

    def metadata(self) -> dict:
        return {"generation_config": self.generation_config.to_diff_dict()}
