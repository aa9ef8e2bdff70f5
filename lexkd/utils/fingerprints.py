"""What identifies a model, a tokenizer or a dataset, for caches that must not be reused by mistake."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import datasets
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def sha256_of_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(name_or_path: str | os.PathLike, model: PreTrainedModel | None = None) -> str:
    """What identifies a model's weights: a hash of its weight and config files for a local
    folder, else the hub id with the resolved commit (``config._commit_hash``) when known.

    Raises:
        FileNotFoundError: a local folder with no weight file.
    """
    path = Path(name_or_path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin") or p.name == "config.json")
        if not any(p.suffix in (".safetensors", ".bin") for p in files):
            raise FileNotFoundError(f"{path} holds no model weights (*.safetensors or *.bin).")
        digest = hashlib.sha256()
        for file in files:
            digest.update(f"{file.name}:{sha256_of_file(file)}\n".encode())
        return f"sha256:{digest.hexdigest()}"
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)
    return f"hub:{name_or_path}@{commit or 'unknown'}"


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """Hex SHA-256 of the tokenizer's vocabulary (token -> id), which fixes the meaning of every id."""
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
    return hashlib.sha256(vocab.encode()).hexdigest()


def dataset_fingerprint(dataset: datasets.Dataset, columns: tuple[str, ...] = ("input_ids",)) -> str:
    """Hex SHA-256 of the content of ``columns`` in row order (list lengths and values), however the
    Arrow table is chunked or sliced."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    digest = hashlib.sha256()
    table = dataset.with_format("arrow")[:]  # the rows in order, any indices mapping applied
    for name in columns:
        digest.update(name.encode())
        for chunk in table.column(name).chunks:
            if pa.types.is_list(chunk.type) or pa.types.is_large_list(chunk.type):
                digest.update(pc.list_value_length(chunk).to_numpy(zero_copy_only=False).astype(np.int64).tobytes())
                chunk = chunk.flatten()
            digest.update(chunk.to_numpy(zero_copy_only=False).astype(np.int64).tobytes())
    return digest.hexdigest()
