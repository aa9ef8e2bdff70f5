"""Shared fixtures: a tiny tokenizer and corpus built in the test, nothing downloaded."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from lexkd.data.tokenization import train_wordpiece_tokenizer

WORDS = (
    "the a cat dog bird sat ran flew on under over mat house tree river bank money water "
    "red green small big old young and with to of in"
).split()


def make_texts(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14))) for _ in range(n)]


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return make_texts()


@pytest.fixture(scope="session")
def tokenizer(texts):
    return train_wordpiece_tokenizer(texts, vocab_size=120, min_frequency=1)


# The shared data folder is found as lexkd finds it (lexkd.utils.paths.shared_data_dir); fix it
# once here, relative to the repository, so that a test changing the working directory does not move it.
os.environ.setdefault("LEXKD_SHARED_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder beside the project (``LEXKD_SHARED_DATA``, default ``../shared/data``)."""
    from lexkd.utils.paths import shared_data_dir

    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set LEXKD_SHARED_DATA)")
    return path


def save_tiny_bert(folder: Path, tokenizer, *, hidden_size: int = 32, seed: int = 0) -> Path:
    """Save a tiny BertForPreTraining (lexkd's student format, 2 layers) with ``tokenizer`` in ``folder``."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * hidden_size, max_position_embeddings=128)
    BertForPreTraining(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_named_script(name: str, argv: list[str]) -> int:
    """Run ``scripts/<name>.py``'s ``main(argv)`` as the command line does (through ``run_cli``)."""
    import importlib
    import sys

    from lexkd.utils.cli import run_cli

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.pop(0)
    return run_cli(lambda: module.main(argv))


@pytest.fixture(scope="session")
def student_checkpoint(tmp_path_factory, tokenizer) -> Path:
    """A tiny BertForPreTraining (lexkd's student format) saved with its tokenizer, in ``.../student/model``."""
    return save_tiny_bert(tmp_path_factory.mktemp("ckpt") / "student" / "model", tokenizer)
