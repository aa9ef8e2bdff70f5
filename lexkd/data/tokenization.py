"""Tokenizers and tokenised datasets for MLM training.

The tokenizer comes from the teachers when teachers are given; otherwise a BERT-style WordPiece
tokenizer is trained on the corpus with the ``tokenizers`` library and saved as a
``PreTrainedTokenizerFast`` (loadable with ``AutoTokenizer.from_pretrained``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from itertools import chain
from pathlib import Path

import datasets
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import (
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from lexkd.utils.io import save_pretrained_atomically

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_wordpiece_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int = 8192,
    lowercase: bool = True,
    min_frequency: int = 2,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer on ``texts``.

    BERT normalisation (optional lowercasing, accent stripping), BERT pre-tokenisation, special
    tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4), ``[CLS] A [SEP] (B [SEP])`` templates.

    Args:
        texts: training text.
        vocab_size: target vocabulary size (the trainer may stop short on a small corpus).

    Raises:
        ValueError: vocab_size too small to hold the special tokens and the alphabet.
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}.")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS)
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        model_max_length=model_max_length,
    )


def load_or_train_tokenizer(
    directory: str | os.PathLike, texts: Iterable[str], *, vocab_size: int = 8192
) -> tuple[PreTrainedTokenizerBase, bool]:
    """Load the tokenizer saved in ``directory``, or train one on ``texts`` and save it there.

    Returns:
        ``(tokenizer, trained)`` where ``trained`` says whether it was trained now.
    """
    directory = Path(directory)
    if (directory / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(directory), False
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=vocab_size)
    save_pretrained_atomically(tokenizer, directory)
    return AutoTokenizer.from_pretrained(directory), True


def tokenize_texts(
    texts: list[str],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_seq_length: int = 128,
    line_by_line: bool = False,
    num_proc: int | None = None,
) -> datasets.Dataset:
    """Tokenise texts into MLM training sequences.

    With ``line_by_line=False`` (default, as transformers' ``run_mlm.py``), the tokenised texts
    (each ``[CLS] ... [SEP]``) are concatenated and cut into blocks of ``max_seq_length`` tokens,
    which wastes no compute on padding for short texts such as glosses; the last partial block
    is dropped. With ``line_by_line=True`` each text is one sequence, truncated.

    Returns:
        A dataset with ``input_ids``, ``attention_mask``, ``special_tokens_mask`` (and
        ``token_type_ids`` where the tokenizer makes them).

    Raises:
        ValueError: no text, or ``max_seq_length`` < 8 or above the tokenizer's limit.
    """
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("No text to tokenise: the corpus is empty.")
    if not 8 <= max_seq_length <= tokenizer.model_max_length:
        raise ValueError(f"max_seq_length must be in [8, {tokenizer.model_max_length}], got {max_seq_length}.")
    raw = datasets.Dataset.from_dict({"text": texts})

    def tokenize(batch):
        return tokenizer(
            batch["text"], truncation=line_by_line, max_length=max_seq_length if line_by_line else None,
            return_special_tokens_mask=True, verbose=False,
        )

    tokenized = raw.map(tokenize, batched=True, remove_columns=["text"], num_proc=num_proc, desc="Tokenising")
    if line_by_line:
        return tokenized

    def group(batch):
        concatenated = {k: list(chain.from_iterable(batch[k])) for k in batch}
        total = len(concatenated["input_ids"]) // max_seq_length * max_seq_length
        return {k: [v[i : i + max_seq_length] for i in range(0, total, max_seq_length)] for k, v in concatenated.items()}

    grouped = tokenized.map(group, batched=True, batch_size=2000, num_proc=num_proc, desc=f"Grouping into blocks of {max_seq_length}")
    if len(grouped) == 0:
        raise ValueError(
            f"The corpus has fewer than {max_seq_length} tokens: no full block. Use a larger corpus, "
            "a smaller max_seq_length, or line_by_line."
        )
    return grouped


class VocabularyMismatchError(ValueError):
    """Teachers and student do not share one vocabulary."""


def check_vocabularies(
    student_tokenizer: PreTrainedTokenizerBase,
    teacher_tokenizers: dict[str, PreTrainedTokenizerBase],
    teacher_models: dict[str, PreTrainedModel] | None = None,
) -> None:
    """Check that every teacher shares the student's vocabulary (size and token strings).

    Args:
        student_tokenizer: the tokenizer the student (and the data) uses.
        teacher_tokenizers: teacher name -> its tokenizer.
        teacher_models: teacher name -> model; when given, its output layer must have at least
            as many rows as the vocabulary has tokens.

    Raises:
        VocabularyMismatchError: naming the teacher, both vocabulary sizes, and the first
            differing token.
    """
    student_vocab = student_tokenizer.get_vocab()
    for name, tokenizer in teacher_tokenizers.items():
        vocab = tokenizer.get_vocab()
        if vocab != student_vocab:
            differing = sorted(set(vocab.items()) ^ set(student_vocab.items()), key=lambda item: item[1])
            example = f"; first difference: token {differing[0][0]!r} at id {differing[0][1]}" if differing else ""
            raise VocabularyMismatchError(
                f"Teacher {name!r} has a vocabulary of {len(vocab)} tokens but the student's has "
                f"{len(student_vocab)}{example}. All teachers and the student must share one "
                "tokenizer: use teachers trained with the same tokenizer."
            )
    for name, model in (teacher_models or {}).items():
        weight = model.get_output_embeddings().weight
        rows = (weight() if callable(weight) else weight).shape[0]  # a dynamically quantized Linear's weight is a method
        if rows < len(student_vocab):
            raise VocabularyMismatchError(
                f"Teacher {name!r} predicts over {rows} tokens but the vocabulary has {len(student_vocab)}."
            )


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")


def has_tokenizer(source: str) -> bool:
    """Whether a local checkpoint folder holds tokenizer files (by name: ``AutoTokenizer`` would build a
    tokenizer from a bare BERT ``config.json``), or a hub id serves a tokenizer."""
    if Path(source).is_dir():
        return any((Path(source) / name).is_file() for name in TOKENIZER_FILES)
    try:
        AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError):
        return False
    return True
