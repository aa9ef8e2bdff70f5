"""Evaluating masked LMs: held-out MLM loss (nats per masked token), perplexity, masked-token accuracy.

Every model of a job (teachers and students) is scored on the same held-out sequences with the same
fixed masks (:func:`lexkd.data.collators.mask_once`), so figures compare across models.
"""

from __future__ import annotations

from pathlib import Path

import datasets
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from lexkd.data.collators import MaskedLMCollator
from lexkd.evaluation import Evaluator
from lexkd.mlm.trainer import evaluate_masked_lm

__all__ = ["MaskedLMEvaluator", "evaluate_masked_lm"]


class MaskedLMEvaluator(Evaluator):
    """Held-out MLM loss, perplexity and masked-token accuracy on a masked dataset.

    Args:
        dataset: rows with ``input_ids`` and ``labels`` (-100 where not masked), e.g. the job's
            ``MLMData.validation`` or :func:`lexkd.data.collators.mask_once`'s output.
        tokenizer: pads the batches.
        batch_size: sequences per forward pass.
        vocabulary_map: for a teacher that numbers the dataset's tokens differently
            (:func:`lexkd.mlm.teachers.match_vocabularies`).

    Call: ``evaluator(model, output_dir=None)`` with an ``AutoModelForMaskedLM`` (or
    :class:`lexkd.models.masked_lm.MaskedPositionMLM`) -> ``{"loss", "perplexity", "accuracy",
    "masked_tokens"}``; primary metric ``loss`` (lower is better).

    Raises:
        ValueError: a dataset without ``labels``, or ``batch_size`` < 1.
    """

    primary_metric = "loss"
    greater_is_better = False

    def __init__(self, dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, *, batch_size: int = 64,
                 desc: str = "Evaluating", vocabulary_map=None):
        if "labels" not in dataset.column_names:
            raise ValueError(f"MaskedLMEvaluator needs a masked dataset with labels (columns: {', '.join(dataset.column_names)}); "
                             "mask it once with lexkd.data.collators.mask_once.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.dataset, self.tokenizer, self.batch_size, self.desc = dataset, tokenizer, batch_size, desc
        self.vocabulary_map = vocabulary_map

    def compute(self, model, output_dir: Path | None = None) -> dict:
        loader = DataLoader(self.dataset, batch_size=self.batch_size, collate_fn=MaskedLMCollator(self.tokenizer))
        return evaluate_masked_lm(model, loader, desc=self.desc, vocabulary_map=self.vocabulary_map)


def evaluate_model(model, dataset: datasets.Dataset, tokenizer, *, batch_size: int = 64, desc: str = "Evaluating",
                   vocabulary_map=None) -> dict:
    """Held-out MLM loss, perplexity and masked-token accuracy of any masked LM on a masked dataset
    (:class:`lexkd.mlm.evaluation.MaskedLMEvaluator`)."""
    from lexkd.mlm.evaluation import MaskedLMEvaluator

    return MaskedLMEvaluator(dataset, tokenizer, batch_size=batch_size, desc=desc, vocabulary_map=vocabulary_map)(model)
