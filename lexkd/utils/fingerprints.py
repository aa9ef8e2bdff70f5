"""What identifies a model, a tokenizer or a dataset, for caches that must not be reused by mistake."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import datasets
from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


def sha256_of_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


UNPINNED = "unknown"
"""The commit part of a hub model's fingerprint when its commit is unknown: ``hub:NAME@unknown``."""


class UnpinnedModelError(ValueError):
    """A cache keyed by a hub model of unknown commit, which may hold another version's outputs."""


def model_fingerprint(name_or_path: str | os.PathLike, model: PreTrainedModel | None = None) -> str:
    """What identifies a model's weights: a hash of its weight and config files for a local
    folder, else ``hub:NAME@COMMIT`` with the commit the model was loaded from.

    The commit is ``model.config._commit_hash`` when transformers set it (before v5), else the
    snapshot the local Hugging Face cache holds for the default branch (:func:`hub_commit`, no
    network); when neither is known it is ``unknown`` (:data:`UNPINNED`): see :func:`is_pinned`.

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
    commit = getattr(getattr(model, "config", None), "_commit_hash", None) or hub_commit(str(name_or_path))
    return f"hub:{name_or_path}@{commit or UNPINNED}"


def hub_commit(repo_id: str) -> str | None:
    """The commit of the default branch (``main``) of a hub model as the local Hugging Face cache
    records it (``models--ORG--NAME/refs/main`` and its snapshot), without network; None when the
    cache holds no snapshot of it or ``repo_id`` is not a valid hub id."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # HFValidationError: not a hub id (e.g. a missing local path)
        return None
    if not isinstance(found, str):
        return None
    commit = Path(found).parent.name  # .../snapshots/<commit>/config.json
    return commit if len(commit) == 40 and all(c in "0123456789abcdef" for c in commit) else None


def is_pinned(fingerprint: str) -> bool:
    """False for the fingerprint of a hub model whose commit was unknown (``hub:NAME@unknown``)."""
    return not fingerprint.endswith(f"@{UNPINNED}")


def refuse_unpinned_reuse(fingerprints, *, what: str, allow: bool, rebuild: str,
                          flag: str = "--allow_unpinned_teacher") -> None:
    """Refuse to reuse ``what`` (a cache) keyed by a hub model of unknown commit, unless ``allow``.

    Such a key stays the same when the model is updated on the hub, so the cache may hold outputs
    of another version than the one a run now loads.

    Args:
        fingerprints: the fingerprints (:func:`model_fingerprint`) the cache is keyed by.
        what: the cache, as the error names it (e.g. ``"The teacher cache runs/cache"``).
        allow: reuse anyway (the user's ``flag``); a warning is logged.
        rebuild: how to rebuild the cache instead, as the error tells it.

    Raises:
        UnpinnedModelError: naming the models, the cache and the three fixes.
    """
    unpinned = [fp.removeprefix("hub:").removesuffix(f"@{UNPINNED}") for fp in fingerprints if not is_pinned(fp)]
    if not unpinned:
        return
    if allow:
        logger.warning("%s is reused although made from %s of unknown commit (%s given)", what, ", ".join(unpinned), flag)
        return
    raise UnpinnedModelError(
        f"{what} was made from {', '.join(repr(name) for name in unpinned)}, a hub model whose commit is unknown (no "
        "snapshot of it in the local Hugging Face cache), so it may hold the outputs of another version than the "
        f"model has now. Rebuild it ({rebuild}), or use a local folder of the model (a fingerprint of its files), "
        f"or pass {flag} to reuse it anyway.")


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
