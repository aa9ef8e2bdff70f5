"""Batching for MLM distillation, built on transformers' collators.

Masking itself is ``DataCollatorForLanguageModeling.torch_mask_tokens`` (80% ``[MASK]``, 10%
random token, 10% unchanged; -100 labels elsewhere). Training batches are masked on
the fly, each from a generator seeded with ``(seed, index of the batch)``: the masks depend only
on the seed and the batch's position in the run, not on how far a prefetching data loader has
run ahead. The global RNG cannot do this: ``Trainer`` collates the first resumed batch before
restoring it, and accelerate's data loader collates one batch ahead.

The batch index must be counted where every batch passes in order: called as a collator,
:class:`MaskedLMCollator` counts the batches it masks (:attr:`MaskedLMCollator.batches_seen`),
which is right in a single process; but each ``DataLoader`` worker holds its own copy of the
collator (and its count). So :class:`lexkd.mlm.trainer.MultiTeacherDistillationTrainer` splits
the two halves: the workers only pad (:meth:`MaskedLMCollator.pad`) and the training process
masks each batch (:meth:`MaskedLMCollator.mask`) with its own count of training batches, which a
resumed run restores from the checkpoint. Either way batch ``i`` gets the same masks, with any
number of workers.
Evaluation sets are masked once with a fixed seed (:func:`mask_once`), so every model, teacher
or student, is scored on the same masked positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import datasets
import torch
from transformers import (
    DataCollatorForLanguageModeling,
    DataCollatorForTokenClassification,
    PreTrainedTokenizerBase,
)
from transformers.data.data_collator import pad_without_fast_tokenizer_warning


class MaskedLMCollator:
    """Pads and masks examples for MLM; examples that already carry ``labels`` are only padded.

    Args:
        tokenizer: a tokenizer with a mask token.
        mlm_probability: share of (non-special) tokens selected for prediction, in (0, 1).
        whole_word_mask: mask all sub-tokens of a selected word together (needs a fast tokenizer
            and ``offset_mapping`` in the examples).
        seed: masking seed; batch ``i`` is masked with a generator seeded with
            ``seed * 1_000_003 + i``. ``None`` masks from the global torch RNG.

    Call: a list of examples with ``input_ids`` (and optionally ``special_tokens_mask``,
    ``attention_mask``, ``token_type_ids``, ``labels``) -> dict of ``(batch_size, seq_len)``
    tensors with ``labels`` -100 at unmasked positions and padding. A call is
    ``mask(pad(examples), batch_index=batches_seen)`` and then counts the batch in
    :attr:`batches_seen`: right in one process, not in ``DataLoader`` workers (each counts
    alone); there, pad in the workers and mask in the training process (see the module docstring).

    Raises:
        ValueError: mlm_probability outside (0, 1) or a tokenizer without a mask token.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        mlm_probability: float = 0.15,
        whole_word_mask: bool = False,
        seed: int | None = None,
    ):
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}.")
        if tokenizer.mask_token is None:
            raise ValueError("The tokenizer has no mask token; masked language modelling needs one.")
        self.masker = DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=mlm_probability, whole_word_mask=whole_word_mask
        )
        self.padder = DataCollatorForTokenClassification(tokenizer)  # pads labels with -100
        self.seed = seed
        self.batches_seen = 0
        self.masker.generator = None if seed is None else torch.Generator()  # torch_mask_tokens draws from it

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.pad(examples)
        if "labels" in batch:
            return batch
        batch = self.mask(batch, batch_index=self.batches_seen)
        self.batches_seen += 1
        return batch

    def pad(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        """Pad examples into ``(batch_size, seq_len)`` tensors without masking them.

        Examples that all carry ``labels`` get -100-padded labels and lose ``special_tokens_mask``
        (they are pre-masked); others keep ``special_tokens_mask`` (and ``offset_mapping``) for
        :meth:`mask`, as ``DataCollatorForLanguageModeling`` pads them.

        Raises:
            TypeError: examples that are not mappings (e.g. bare lists of ids).
        """
        if not all(isinstance(example, Mapping) for example in examples):
            raise TypeError("MaskedLMCollator takes examples as mappings with an 'input_ids' key (dataset rows), "
                            f"got {type(examples[0]).__name__}; wrap bare ids as {{'input_ids': ids}}.")
        if all("labels" in example for example in examples):
            return self.padder([{k: v for k, v in ex.items() if k != "special_tokens_mask"} for ex in examples])
        return pad_without_fast_tokenizer_warning(self.masker.tokenizer, examples, return_tensors="pt",
                                                  pad_to_multiple_of=self.masker.pad_to_multiple_of)

    def mask(self, batch: dict[str, Any], batch_index: int | None = None) -> dict[str, Any]:
        """Mask a batch from :meth:`pad` (80/10/10; ``labels`` -100 where not masked), in place.

        Args:
            batch: CPU tensors ``(batch_size, seq_len)``: ``input_ids`` and optionally
                ``special_tokens_mask``/``offset_mapping`` (both removed), other keys kept.
            batch_index: the batch's position in the run (0, 1, ...); with a seed, its masks
                are drawn from a generator seeded with ``seed * 1_000_003 + batch_index``.

        Raises:
            ValueError: a seeded collator and no ``batch_index``.
        """
        special_tokens_mask = batch.pop("special_tokens_mask", None)
        offset_mapping = batch.pop("offset_mapping", None)
        if self.seed is not None:
            if batch_index is None:
                raise ValueError("A seeded MaskedLMCollator masks a batch from its index: pass batch_index.")
            self.masker.generator.manual_seed(self.seed * 1_000_003 + batch_index)
        batch["input_ids"], batch["labels"] = self.masker.torch_mask_tokens(
            batch["input_ids"], special_tokens_mask=special_tokens_mask, offset_mapping=offset_mapping)
        return batch


def mask_once(
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    mlm_probability: float = 0.15,
    seed: int = 1234,
    batch_size: int = 256,
) -> datasets.Dataset:
    """Mask a tokenised dataset once, deterministically, for evaluation.

    Args:
        dataset: rows with ``input_ids`` (and optionally ``special_tokens_mask``,
            ``attention_mask``, ``token_type_ids``).
        seed: masking seed; the same dataset and seed always give the same masks.

    Returns:
        The dataset with masked ``input_ids`` and ``labels`` (original id at masked positions,
        -100 elsewhere), same row lengths as the input.
    """
    masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, seed=seed)

    def mask_batch(batch: dict[str, list]) -> dict[str, list]:
        rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
        lengths = [len(row["input_ids"]) for row in rows]
        masked = masker(rows)  # padded to the longest row
        return {
            "input_ids": [ids[:n] for ids, n in zip(masked["input_ids"].tolist(), lengths, strict=True)],
            "labels": [labels[:n] for labels, n in zip(masked["labels"].tolist(), lengths, strict=True)],
        }

    columns = [c for c in ("input_ids", "special_tokens_mask") if c in dataset.column_names]
    masked = dataset.select_columns(columns).map(
        mask_batch, batched=True, batch_size=batch_size, remove_columns=columns, desc="Masking evaluation set"
    )
    kept = [c for c in ("attention_mask", "token_type_ids") if c in dataset.column_names]
    for column in kept:
        masked = masked.add_column(column, dataset[column])
    return masked
