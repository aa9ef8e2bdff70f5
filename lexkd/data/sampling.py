"""Random samples of the splits of a ``datasets.DatasetDict``, for quick runs (used by the fine-tuning
scripts and the seq2seq job alike)."""

from __future__ import annotations

import datasets

__all__ = ["TRANSFER_SPLIT", "subsample"]

TRANSFER_SPLIT = "transfer"
"""The split of training inputs whose gold labels are withheld: the teachers label them (``--transfer_examples``)."""


def subsample(dataset_dict: datasets.DatasetDict, *, max_train_examples: int | None = None,
              max_eval_examples: int | None = None, seed: int = 0, transfer_examples: int = 0) -> datasets.DatasetDict:
    """At most ``max_train_examples`` random training examples and ``max_eval_examples`` of every
    other split (drawn with ``seed``), for quick runs; ``None`` keeps a split whole.

    A split no larger than its limit is kept as it is (same rows, same order). The sample of a
    split depends only on its rows, the limit and ``seed``.

    ``transfer_examples`` > 0 adds the split :data:`TRANSFER_SPLIT`: the next ``transfer_examples``
    training rows of the same shuffle (none of them in ``train``), without their ``label`` column: a
    transfer set for task distillation, labelled by the teachers only (Hinton et al. 2015, Sec. 2).

    Raises:
        ValueError: a limit below 1; ``transfer_examples`` < 0, or > 0 without a ``max_train_examples``
            that leaves that many training rows out.
    """
    if transfer_examples < 0:
        raise ValueError(f"--transfer_examples must be >= 0, got {transfer_examples}.")
    transfer = None
    if transfer_examples:
        train = dataset_dict["train"]
        left = len(train) - (max_train_examples if max_train_examples is not None else len(train))
        if max_train_examples is None or left < transfer_examples:
            raise ValueError(
                f"--transfer_examples {transfer_examples} needs that many training rows beyond --max_train_examples "
                f"({max_train_examples}); the training split has {len(train)} rows, so {max(left, 0)} are left. "
                "Lower --max_train_examples or --transfer_examples.")
        rows = range(max_train_examples, max_train_examples + transfer_examples)
        transfer = train.shuffle(seed=seed).select(rows).flatten_indices()
        if "label" in transfer.column_names:
            transfer = transfer.remove_columns("label")
    output = {}
    for split, dataset in dataset_dict.items():
        limit = max_train_examples if split == "train" else max_eval_examples
        if limit is not None and limit < 1:
            raise ValueError(f"Example limits must be at least 1, got {limit}.")
        small = limit is not None and limit < len(dataset)
        output[split] = dataset.shuffle(seed=seed).select(range(limit)).flatten_indices() if small else dataset
    if transfer is not None:
        output[TRANSFER_SPLIT] = transfer
    return datasets.DatasetDict(output)
