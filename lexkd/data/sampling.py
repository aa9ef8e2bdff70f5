"""Random samples of the splits of a ``datasets.DatasetDict``, for quick runs (used by the fine-tuning
scripts and the seq2seq job alike)."""

from __future__ import annotations

import datasets

__all__ = ["subsample"]


def subsample(dataset_dict: datasets.DatasetDict, *, max_train_examples: int | None = None,
              max_eval_examples: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """At most ``max_train_examples`` random training examples and ``max_eval_examples`` of every
    other split (drawn with ``seed``), for quick runs; ``None`` keeps a split whole.

    A split no larger than its limit is kept as it is (same rows, same order). The sample of a
    split depends only on its rows, the limit and ``seed``.

    Raises:
        ValueError: a limit below 1.
    """
    output = {}
    for split, dataset in dataset_dict.items():
        limit = max_train_examples if split == "train" else max_eval_examples
        if limit is not None and limit < 1:
            raise ValueError(f"Example limits must be at least 1, got {limit}.")
        small = limit is not None and limit < len(dataset)
        output[split] = dataset.shuffle(seed=seed).select(range(limit)).flatten_indices() if small else dataset
    return datasets.DatasetDict(output)
