"""What a sentence(-pair) classification or regression task is, and its metrics.

:class:`TaskSpec` is shared by every classification adapter: the GLUE presets
(:data:`lexkd.tasks.glue.data.TASKS`), the plagiarism tasks (:data:`lexkd.tasks.plagiarism.tasks.TASKS`)
and tasks built from your own columns (:func:`lexkd.tasks.classification.finetune.task_from_columns`).
:func:`compute_metrics` scores predictions with the metrics a spec names (:data:`METRICS`, scikit-learn
and scipy only: Matthews correlation, accuracy, binary F1 with positive class 1, macro F1, Pearson and
Spearman correlations).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn import metrics as skmetrics

__all__ = ["METRICS", "TaskSpec", "compute_metrics"]


def _correlation(function, predictions, labels) -> float:
    with warnings.catch_warnings():  # constant input: scipy warns and returns nan
        warnings.simplefilter("ignore")
        return float(function(predictions, labels).statistic)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda p, y: float(skmetrics.accuracy_score(y, p)),
    "f1": lambda p, y: float(skmetrics.f1_score(y, p, pos_label=1, average="binary", zero_division=0.0)),
    "macro_f1": lambda p, y: float(skmetrics.f1_score(y, p, average="macro", zero_division=0.0)),
    "matthews_correlation": lambda p, y: float(skmetrics.matthews_corrcoef(y, p)),
    "pearson": lambda p, y: _correlation(stats.pearsonr, p, y),
    "spearman": lambda p, y: _correlation(stats.spearmanr, p, y),
}
"""Metric name -> ``function(predictions, labels)``, both ``(N,)``."""


@dataclass(frozen=True)
class TaskSpec:
    """What a sentence(-pair) classification or regression task looks like.

    Args:
        name: short name (``"sst2"``).
        text_columns: one column (single sentences) or two (pairs), in model input order.
        label_names: class names in label-id order; ``None`` for regression.
        metrics: names in :data:`METRICS`; the first is the primary metric.
        hub_config: the ``nyu-mll/glue`` config, ``None`` for tasks not on the hub.
        value_range: for regression, the valid closed range of scores (``None``: any finite number).

    Raises:
        ValueError: not one or two text columns, unknown metrics, fewer than two label names.
    """

    name: str
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...] | None
    metrics: tuple[str, ...]
    hub_config: str | None = None
    value_range: tuple[float, float] | None = None

    def __post_init__(self):
        if len(self.text_columns) not in (1, 2):
            raise ValueError(f"Task {self.name!r}: expected one or two text columns, got {self.text_columns}.")
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise ValueError(f"Task {self.name!r}: unknown metrics {unknown}; valid: {', '.join(METRICS)}.")
        if self.label_names is not None and len(set(self.label_names)) < 2:
            raise ValueError(f"Task {self.name!r}: needs at least two distinct label names, got {self.label_names}.")

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    @property
    def num_labels(self) -> int:
        """Outputs of the model: 1 for regression, else the number of classes."""
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]


def compute_metrics(task: TaskSpec, predictions, labels) -> dict[str, float]:
    """The metrics ``task`` names, of ``predictions`` against ``labels``.

    Args:
        task: a :class:`TaskSpec` (for a GLUE task name, :func:`lexkd.tasks.glue.data.get_task`).
        predictions: ``(N,)`` class ids or scores, or ``(N, num_labels)`` logits (argmax is
            taken for classification; the single column for regression).
        labels: ``(N,)`` gold class ids or scores.

    Returns:
        ``{metric: value}`` in the order of ``TaskSpec.metrics``; correlations of a constant
        prediction are ``nan``.

    Raises:
        TypeError: ``task`` is not a :class:`TaskSpec`.
        ValueError: no examples, or different lengths.
    """
    if not isinstance(task, TaskSpec):
        raise TypeError(f"compute_metrics needs a TaskSpec, got {task!r}; for a GLUE task name use "
                        "lexkd.tasks.glue.data.get_task(name), for a plagiarism task get_plagiarism_task(name).")
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.ndim == 2:
        predictions = predictions[:, 0] if task.is_regression else predictions.argmax(-1)  # (N, K) -> (N,)
    if len(predictions) != len(labels) or len(labels) == 0:
        raise ValueError(f"Need as many predictions as labels (>0); got {len(predictions)} and {len(labels)}.")
    return {name: METRICS[name](predictions, labels) for name in task.metrics}
