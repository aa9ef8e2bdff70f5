"""The MLM path's data: tokenised training sequences and the held-out set with fixed masks, built once
for every model of a job (teachers and students are scored on the same masked positions)."""

from __future__ import annotations

from dataclasses import dataclass

import datasets
from transformers import PreTrainedTokenizerBase

from lexkd.data.collators import mask_once
from lexkd.data.corpora import flatten
from lexkd.data.tokenization import tokenize_texts


@dataclass
class MLMData:
    """Tokenised train split, fixed-masked validation split, and what they came from."""

    train: datasets.Dataset
    validation: datasets.Dataset
    stats: dict


def prepare_mlm_data(
    train_documents: list,
    validation_documents: list,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_seq_length: int = 128,
    line_by_line: bool = False,
    mlm_probability: float = 0.15,
    eval_masking_seed: int = 1234,
    max_eval_sequences: int | None = None,
) -> MLMData:
    """Tokenise both splits; mask the validation split once with a fixed seed.

    The fixed masks make every model (teachers, students, runs) scored on the same positions.
    """
    train = tokenize_texts(flatten(train_documents), tokenizer, max_seq_length=max_seq_length, line_by_line=line_by_line)
    validation = prepare_validation_set(validation_documents, tokenizer, max_seq_length=max_seq_length,
                                        line_by_line=line_by_line, mlm_probability=mlm_probability,
                                        eval_masking_seed=eval_masking_seed, max_eval_sequences=max_eval_sequences)
    stats = {
        "train_documents": len(train_documents), "validation_documents": len(validation_documents),
        "train_sequences": len(train), "validation_sequences": len(validation),
        "max_seq_length": max_seq_length, "vocab_size": len(tokenizer),
    }
    return MLMData(train=train, validation=validation, stats=stats)


def prepare_validation_set(
    validation_documents: list,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_seq_length: int = 128,
    line_by_line: bool = False,
    mlm_probability: float = 0.15,
    eval_masking_seed: int = 1234,
    max_eval_sequences: int | None = None,
) -> datasets.Dataset:
    """The held-out split of :func:`prepare_mlm_data`: tokenised, cut to ``max_eval_sequences``
    sequences evenly spaced over it (so that every source of a several-source corpus is represented
    by its share of text), and masked once with ``eval_masking_seed``.

    The one builder of the held-out MLM set: LMGC-M (:mod:`lexkd.lexical.job`) scores its student
    on it too, so with the same settings its losses compare with the MLM job's.
    """
    validation = tokenize_texts(flatten(validation_documents), tokenizer, max_seq_length=max_seq_length, line_by_line=line_by_line)
    if max_eval_sequences is not None and len(validation) > max_eval_sequences:
        step = len(validation) / max_eval_sequences  # > 1: evenly spaced, distinct, in order
        validation = validation.select([int(i * step) for i in range(max_eval_sequences)])
    return mask_once(validation, tokenizer, mlm_probability=mlm_probability, seed=eval_masking_seed)
