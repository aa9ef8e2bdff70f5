"""Atomic writes and file locks: what lexkd writes looks complete only when it is complete.

Every file is written to a temporary name beside its destination and renamed into place with
``os.replace`` (atomic on POSIX and Windows within one file system); every folder is built under a
temporary sibling name and renamed likewise. A crash mid-write leaves a hidden
``.name.tmp-HOST-PID-*`` temporary, never a destination that looks finished; the next write of the same
destination removes the temporaries of processes of this host that no longer run. Locks come from the ``filelock`` package, which works on
every platform (``fcntl`` where it exists, ``msvcrt`` on Windows).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from filelock import FileLock

__all__ = [
    "NonFiniteModelError",
    "atomic_directory",
    "check_finite_parameters",
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


_HOST = socket.gethostname().replace(".", "_").replace("-", "_")


def _temporary_prefix(name: str) -> str:
    """``.NAME.tmp-HOST-PID-``: a temporary sibling that says which process made it."""
    return f".{name}.tmp-{_HOST}-{os.getpid()}-"


def _remove_stale_temporaries(path: Path) -> None:
    """Remove temporaries of ``path`` left by processes of this host that no longer run (killed mid-write)."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.tmp-{re.escape(_HOST)}-(\d+)-")
    for sibling in path.parent.glob(f".{path.name}.tmp-*"):
        match = pattern.match(sibling.name)
        if match is None or _process_exists(int(match.group(1))):
            continue
        if sibling.is_dir():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else (or a platform without signals): keep its files
        return True
    return True


def _apply_umask(folder: Path) -> None:
    """Give a folder built under a temporary name the modes the process umask gives new files and folders
    (``mkdtemp`` makes folders 0700; some writers, e.g. transformers' safetensors save, make files 0600)."""
    umask = _umask()
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~umask)
    os.chmod(folder, 0o777 & ~umask)


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
    _remove_stale_temporaries(path)
    handle = tempfile.NamedTemporaryFile(mode, encoding=encoding, dir=path.parent, prefix=_temporary_prefix(path.name),
                                         delete=False)
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
    and ``directory`` is left as it was. The finished folder and everything in it get the modes of
    the process umask. Temporaries of ``directory`` left by a killed process are removed first.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(directory)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(directory.name), dir=directory.parent))
    try:
        yield tmp
        _apply_umask(tmp)
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

    Raises:
        NonFiniteModelError: a parameter holds NaN or infinite values (nothing is written).
    """
    check_finite_parameters(model, directory)
    with atomic_directory(directory) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if model_card is not None:
            (tmp / "README.md").write_text(model_card, encoding="utf-8")
    return Path(directory)


class NonFiniteModelError(ValueError):
    """A model whose parameters hold NaN or infinite values: it is never saved as a finished model."""


def check_finite_parameters(model, directory: str | os.PathLike = "") -> None:
    """Raise :class:`NonFiniteModelError` when a parameter of ``model`` holds NaN or infinite values."""
    bad = [(name, int((~p.detach().isfinite()).sum())) for name, p in model.named_parameters()
           if not bool(p.detach().isfinite().all())]
    if bad:
        total = sum(count for _, count in bad)
        raise NonFiniteModelError(
            f"Not saving {str(directory) or 'the model'}: {total:,} parameter values are NaN or infinite (in "
            f"{len(bad)} tensors, e.g. {bad[0][0]}). Training diverged: check the settings and inputs.")


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
