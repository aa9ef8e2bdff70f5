"""Local folder or Hugging Face hub id: telling them apart, the error when the hub does not serve
a model, and the short name of a model in logs and results tables.

One copy of each rule, used by every loader (:mod:`lexkd.models.masked_lm`, :mod:`lexkd.models.seq2seq`,
:mod:`lexkd.tasks.classification.finetune`, :mod:`lexkd.tasks.wsd.lmgc`) and every report
(:mod:`lexkd.mlm.teachers`, :mod:`lexkd.seq2seq.job`, the fine-tuning results tables).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["hub_load_error", "is_local_reference", "model_label"]


def is_local_reference(name_or_path: str | os.PathLike) -> bool:
    """True when ``name_or_path`` must be a local folder: it exists, or looks like a path
    (starts with ``.``, ``/`` or ``~``, or has more than one ``/``), not a hub id (``name`` or ``org/name``)."""
    name = str(name_or_path)
    if os.path.exists(name):
        return True
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def hub_load_error(name: str, error: BaseException, *, role: str = "model") -> OSError:
    """The error to raise when ``from_pretrained`` failed on a name that is not a local folder.

    Args:
        name: the model reference as the user gave it.
        error: what ``transformers`` raised; its class and first line are quoted.
        role: what the model is (``"model"``, ``"teacher 'x'"``, ``"student"``), for the message.

    Returns:
        an ``OSError`` naming the model and the reason, and saying what to do (raise it ``from None``).
    """
    lines = str(error).splitlines()
    reason = f"{error.__class__.__name__}: {lines[0] if lines else ''}"
    return OSError(f"Could not load the {role} {name!r}: it is not a local folder and the hub did not serve it "
                   f"({reason}). Give a local path, or check the id and network.")


def model_label(name_or_path: str | os.PathLike) -> str:
    """A model's short name for logs and results tables.

    A local folder is named by its own name, or by its parent's when it is called ``model`` (lexkd's
    ``runs/<run>/model`` layout: ``runs/quickstart/student-distilled/model`` -> ``student-distilled``);
    a trailing ``/`` is ignored. A hub id (``bert-base-uncased``, ``google/t5-small``) or a baseline
    name (``tfidf-svm``) is returned as given (see :func:`is_local_reference`).
    """
    name = str(name_or_path).rstrip("/") or str(name_or_path)
    if not is_local_reference(name):
        return name
    path = Path(name).expanduser()
    return path.parent.name if path.name == "model" and path.parent.name else path.name
