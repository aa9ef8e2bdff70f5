"""What a fine-tuning, baseline or similarity run gives (:class:`RunResult`), and which splits are evaluated."""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets
import numpy as np

from lexkd.data.sampling import TRANSFER_SPLIT
from lexkd.tasks.classification.spec import TaskSpec


@dataclass
class RunResult:
    """What a fine-tuning or baseline run gives.

    ``metrics``: split -> metric -> value; ``predictions``: split -> ``(N,)`` class ids or scores,
    in the split's order; ``details``: e.g. parameters, steps, training loss.
    """

    task: TaskSpec
    model: str
    kind: str  # "fine-tuned", "classic" or "baseline: cosine similarity"
    metrics: dict[str, dict[str, float]]
    predictions: dict[str, np.ndarray]
    train_examples: int
    eval_examples: dict[str, int]
    train_time_s: float
    eval_time_s: float
    details: dict = field(default_factory=dict)


def evaluation_splits(dataset_dict: datasets.DatasetDict) -> list[str]:
    """Every split but ``train`` and the unlabelled transfer set, in order (``validation``,
    ``validation_mismatched``, ``test``)."""
    return [split for split in dataset_dict if split not in ("train", TRANSFER_SPLIT)]
