"""Scoring a sequence(-pair) classifier on a labelled split with the task's official metrics."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from lexkd.evaluation import Evaluator
from lexkd.tasks.classification.spec import TaskSpec, compute_metrics

__all__ = ["ClassificationEvaluator"]


class ClassificationEvaluator(Evaluator):
    """The official metrics of ``task`` (accuracy, F1, Matthews, Pearson/Spearman ...) on one split.

    Args:
        encoded: the split tokenised for the model (``input_ids``, ``attention_mask``, optional
            ``token_type_ids``), one row per example.
        labels: the gold labels, ``(N,)`` (class ids, or scores for a regression task).
        task: the task (its metrics and primary metric).
        tokenizer: pads the batches.
        batch_size: examples per forward pass.

    Call: ``evaluator(model, output_dir=None)`` with an ``AutoModelForSequenceClassification`` ->
    the metrics; :attr:`last_predictions` holds the ``(N,)`` predictions (class ids, or scores).

    Raises:
        ValueError: as many labels as rows are needed, and at least one row.
    """

    greater_is_better = True

    def __init__(self, encoded: datasets.Dataset, labels, task: TaskSpec, tokenizer: PreTrainedTokenizerBase, *,
                 batch_size: int = 128):
        if len(encoded) == 0 or len(labels) != len(encoded):
            raise ValueError(f"ClassificationEvaluator needs one label per row: {len(encoded)} rows, {len(labels)} labels.")
        columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in encoded.column_names]
        self.encoded, self.labels, self.task = encoded.select_columns(columns), list(labels), task
        self.collator, self.batch_size = DataCollatorWithPadding(tokenizer), batch_size
        self.primary_metric = task.primary_metric
        self.last_predictions: np.ndarray | None = None

    @torch.inference_mode()
    def logits(self, model, *, desc: str | None = None) -> torch.Tensor:
        """``(N, num_labels)`` float32 outputs of the model on the split, on the CPU (eval mode, restored
        after); ``desc`` shows a progress bar with that title."""
        from tqdm.auto import tqdm

        was_training, device = model.training, next(model.parameters()).device
        model.eval()
        outputs = []
        loader = DataLoader(self.encoded, batch_size=self.batch_size, collate_fn=self.collator)
        try:
            for batch in tqdm(loader, desc=desc, leave=False, disable=desc is None):
                outputs.append(model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu())  # (B, C)
        finally:
            model.train(was_training)
        return torch.cat(outputs)

    def predict(self, model) -> np.ndarray:
        """``(N,)`` predictions: the argmax class, or the score of a regression head."""
        logits = self.logits(model)
        return logits[:, 0].numpy() if self.task.is_regression else logits.argmax(-1).numpy()

    def compute(self, model, output_dir: Path | None = None) -> dict:
        self.last_predictions = self.predict(model)
        return compute_metrics(self.task, self.last_predictions, self.labels)
