"""Atomic writes and file locks: what lexkd writes looks complete only when it is complete.

Every file is written to a temporary name beside its destination and renamed into place with
``os.replace`` (atomic on POSIX and Windows within one file system); every folder is built under a
temporary sibling name and renamed likewise. A crash mid-write leaves a hidden ``.name.*`` temporary,
never a destination that looks finished. Locks come from the ``filelock`` package, which works on
every platform (``fcntl`` where it exists, ``msvcrt`` on Windows).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from filelock import FileLock

__all__ = [
    "atomic_directory",
    "file_lock",
    "save_model_atomically",
    "save_pretrained_atomically",
    "write_atomically",
    "write_json_atomically",
    "write_text_atomically",
]


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_atomically(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False) -> Path:
    """Run ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``.

    The file gets the usual umask-based mode (``NamedTemporaryFile`` creates it 0600). On any
    error the temporary file is removed and ``path`` is left as it was.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if binary else "w"
    encoding = None if binary else "utf-8"
    handle = tempfile.NamedTemporaryFile(mode, encoding=encoding, dir=path.parent, prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            write(handle)
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_atomically`)."""
    return write_atomically(path, lambda handle: handle.write(text))


def write_json_atomically(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (non-JSON values through ``str``)."""
    return write_text_atomically(json.dumps(obj, indent=2, default=str), path)


@contextlib.contextmanager
def atomic_directory(directory: str | os.PathLike) -> Iterator[Path]:
    """Build a folder under a temporary sibling name; on success it replaces ``directory``.

    Usage: ``with atomic_directory(out) as tmp: write files into tmp``. An existing ``directory``
    is replaced only once the new one is complete; on an error the temporary folder is removed
    and ``directory`` is left as it was.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates the folder 0700
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_pretrained_atomically(obj, directory: str | os.PathLike) -> Path:
    """``obj.save_pretrained`` (a model, tokenizer or config) into ``directory``, atomically."""
    with atomic_directory(directory) as tmp:
        obj.save_pretrained(tmp)
    return Path(directory)


def save_model_atomically(model, tokenizer, directory: str | os.PathLike, *, model_card: str | None = None) -> Path:
    """Save a model and its tokenizer into one folder with ``save_pretrained``, atomically.

    Args:
        model_card: Markdown text written as the folder's ``README.md`` (the model card), if given.
    """
    with atomic_directory(directory) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if model_card is not None:
            (tmp / "README.md").write_text(model_card, encoding="utf-8")
    return Path(directory)


@contextlib.contextmanager
def file_lock(directory: str | os.PathLike, name: str = ".lock", *, timeout: float = -1) -> Iterator[None]:
    """An exclusive inter-process lock on ``directory/name`` (``filelock.FileLock``).

    Runs that write the same results table or cache entry at the same time take turns, on every
    platform. ``timeout`` in seconds, -1 waits for ever.

    Raises:
        filelock.Timeout: the lock was not acquired within ``timeout`` seconds.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory / name), timeout=timeout):
        yield
