"""Finding and staging the WordNet 3.0 files that :mod:`lexkd.lexical.wordnet` opens.

The files come from the Debian/Ubuntu packages ``wordnet-base`` + ``wordnet-sense-index``
(``/usr/share/wordnet``), from NLTK's data folders (``corpora/wordnet``, or the
``corpora/wordnet.zip`` NLTK's downloader leaves), or from a folder given by the ``path``
argument or ``LEXKD_WORDNET_DIR``. The search order, and why a plain database folder is
staged into a private NLTK data folder in the lexkd cache, are described in the docstring
of :mod:`lexkd.lexical.wordnet`. :func:`_locate_and_load` returns NLTK's reader, which only
:class:`lexkd.lexical.wordnet.WordNet` uses: code elsewhere goes through that class.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
import warnings
from importlib import resources
from pathlib import Path

#: Where the Debian/Ubuntu packages wordnet-base and wordnet-sense-index install WordNet 3.0.

class WordNetNotFoundError(FileNotFoundError):
    """No usable WordNet 3.0 installation was found; the message lists where lexkd looked."""


DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
ENV_WORDNET_DIR = "LEXKD_WORDNET_DIR"
ENV_CACHE = "LEXKD_CACHE"

# Files NLTK's WordNetCorpusReader opens while it is being constructed. index.sense is
# among them because the reader maps sense keys against "corpora/wordnet" on creation.
_REQUIRED_FILES = tuple(
    [f"data.{p}" for p in ("noun", "verb", "adj", "adv")]
    + [f"index.{p}" for p in ("noun", "verb", "adj", "adv")]
    + [f"{p}.exc" for p in ("noun", "verb", "adj", "adv")]
    + ["index.sense"]
)
# Copied when present: lexnames is supplied by lexkd when absent, cntlist.rev only
# serves lemma_count.
_OPTIONAL_FILES = ("lexnames", "cntlist.rev")
_MANIFEST = "lexkd-manifest.json"
_MANIFEST_FORMAT = 1
_INSTALL_HINT = (
    "Install WordNet 3.0 with one of:\n"
    "  - Debian/Ubuntu: sudo apt-get install wordnet-base wordnet-sense-index\n"
    "  - NLTK: python -c \"import nltk; nltk.download('wordnet')\"\n"
    f"  - or set {ENV_WORDNET_DIR} to a folder holding the WordNet 3.0 database files "
    "(data.noun, index.noun, index.sense, ...)."
)


# --------------------------------------------------------------------------- locating


def _cache_dir() -> Path:
    """lexkd's cache folder: ``$LEXKD_CACHE`` or ``~/.cache/lexkd``."""
    return Path(os.environ.get(ENV_CACHE) or "~/.cache/lexkd").expanduser().resolve()


def _staging_root(source: Path) -> Path:
    """The NLTK data folder a database folder is staged into, one per source folder.

    The Debian folder gets ``<cache>/nltk_data``; any other source its own
    ``<cache>/nltk_data-<hash>``, so two sources never overwrite each other's files
    while a reader still opens some of them lazily.
    """
    if source == DEBIAN_WORDNET_DIR.resolve():
        return _cache_dir() / "nltk_data"
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return _cache_dir() / f"nltk_data-{digest}"


def _missing_files(folder: Path) -> list[str]:
    """The required database files absent from ``folder``."""
    return [name for name in _REQUIRED_FILES if not (folder / name).is_file()]


def _describe_missing(missing: list[str]) -> str:
    """A short account of missing files, pointing at the Debian package for index.sense."""
    if missing == ["index.sense"]:
        return "missing index.sense (Debian package wordnet-sense-index)"
    shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
    return f"not a WordNet database folder (missing {shown})"


def _is_staging_root(entry) -> bool:
    """Whether an ``nltk.data.path`` entry is one of lexkd's staging folders."""
    try:
        path = Path(str(entry)).expanduser().resolve()
    except (OSError, ValueError):
        return False
    named = path.name == "nltk_data" or path.name.startswith("nltk_data-")
    return named and path.parent == _cache_dir()


def _nltk_data_dirs() -> list[str]:
    """``nltk.data.path`` without lexkd's own staging folders: those are not user data."""
    import nltk

    return [str(entry) for entry in nltk.data.path if not _is_staging_root(entry)]


def _find_corpus(paths: list[str]):
    """NLTK's pointer to ``corpora/wordnet`` (folder or zip) within ``paths``, or None."""
    import nltk

    # The zip form needs the trailing slash for NLTK to find a folder inside an archive.
    for name in ("corpora/wordnet", "corpora/wordnet.zip/wordnet/"):
        try:
            return nltk.data.find(name, paths=paths)
        except LookupError:
            continue
    return None


def _register_data_root(root: Path) -> None:
    """Append ``root`` to ``nltk.data.path`` unless an entry already names it."""
    import nltk

    for entry in nltk.data.path:
        try:
            if Path(str(entry)).expanduser().resolve() == root:
                return
        except (OSError, ValueError):
            continue
    nltk.data.path.append(str(root))


# --------------------------------------------------------------------------- staging


def _manifest_for(source: Path, lexnames: Path) -> dict:
    """What a staged folder was built from; a mismatch means it must be rebuilt."""
    files = {}
    for name in _REQUIRED_FILES + _OPTIONAL_FILES:
        path = source / name
        if path.is_file():
            st = path.stat()
            files[name] = [st.st_size, st.st_mtime_ns]
    digest = hashlib.sha256(lexnames.read_bytes()).hexdigest()
    return {"format": _MANIFEST_FORMAT, "source": str(source), "files": files, "lexnames": digest}


def _read_manifest(folder: Path) -> dict | None:
    """The manifest of a staged folder, or None if it has none (absent or half-made)."""
    try:
        return json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _make_private_dir(path: Path) -> None:
    """Create ``path`` and missing parents as 0755: NLTK refuses group/world-writable folders."""
    if path.is_dir():
        return
    _make_private_dir(path.parent)
    try:
        # mkdir's mode is masked by the umask, which can only remove bits, so the folder
        # is never group/world writable whatever the umask is.
        path.mkdir(mode=0o755)
    except FileExistsError:
        pass


def _copy_private(src: Path, dst: Path) -> None:
    """Copy one file as a private regular file (NLTK refuses symlinks and hard links)."""
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


def _fill(folder: Path, source: Path, lexnames: Path, manifest: dict) -> None:
    """Copy the database into ``folder``; the manifest goes last, marking it complete."""
    for name in _REQUIRED_FILES + _OPTIONAL_FILES:
        if (source / name).is_file():
            _copy_private(source / name, folder / name)
    if not (folder / "lexnames").is_file():
        _copy_private(lexnames, folder / "lexnames")
    (folder / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.chmod(folder / _MANIFEST, 0o644)
    os.chmod(folder, 0o755)


def _swap_in(built: Path, target: Path, manifest: dict) -> None:
    """Move the finished folder ``built`` to ``target`` atomically, replacing a stale one."""
    if _read_manifest(target) == manifest:
        return  # another process staged the same source meanwhile: keep its folder
    if target.exists():
        # os.replace cannot overwrite a non-empty folder: move the stale one aside first.
        stale = target.with_name(f".{target.name}-stale-{uuid.uuid4().hex}")
        try:
            os.replace(target, stale)
        except FileNotFoundError:
            pass
        else:
            shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(built, target)
    except OSError:
        # Another process staged the same source meanwhile; its folder is complete.
        if _read_manifest(target) != manifest:
            raise


def _stage(source: Path) -> Path:
    """Build (or reuse) ``<staging root>/corpora/wordnet`` from a database folder.

    Returns:
        the NLTK data root holding the staged corpus.
    """
    data_root = _staging_root(source)
    target = data_root / "corpora" / "wordnet"
    with resources.as_file(resources.files("lexkd.lexical") / "lexnames") as lexnames:
        manifest = _manifest_for(source, lexnames)
        if _read_manifest(target) == manifest:
            return data_root
        try:
            _make_private_dir(target.parent)
            built = Path(tempfile.mkdtemp(prefix=".wordnet-building-", dir=target.parent))
            try:
                _fill(built, source, lexnames, manifest)
                _swap_in(built, target, manifest)
            finally:
                shutil.rmtree(built, ignore_errors=True)
        except OSError as err:
            raise OSError(
                f"cannot build the NLTK data folder for WordNet in {data_root}: {err}; "
                f"set {ENV_CACHE} to a writable folder"
            ) from err
    return data_root


# --------------------------------------------------------------------------- loading


def _new_reader(pointer):
    """NLTK's WordNetCorpusReader on ``pointer`` without Open Multilingual WordNet."""
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    with warnings.catch_warnings():
        # Expected: lexkd does not load the multilingual (OMW) data.
        warnings.filterwarnings(
            "ignore", message="The multilingual functions", category=UserWarning
        )
        return WordNetCorpusReader(pointer, None)


def _load_staged(source: Path):
    """Stage a database folder, register it with NLTK and open it.

    Returns:
        (reader, staged NLTK data root)
    """
    import nltk

    data_root = _stage(source)
    _register_data_root(data_root)
    try:
        pointer = nltk.data.find("corpora/wordnet", paths=[str(data_root)])
    except LookupError as err:
        # NLTK refuses folders another account could write to (it warns which one).
        raise PermissionError(
            f"NLTK refused the staged WordNet folder {data_root}/corpora/wordnet; it and "
            "its parents up to that folder must not be group- or world-writable"
        ) from err
    return _new_reader(pointer), data_root


def _load_nltk_pointer(pointer):
    """Open a ``corpora/wordnet`` NLTK found; a bare database folder there is staged.

    Returns:
        (reader, staged NLTK data root or None)
    """
    from nltk.data import FileSystemPathPointer

    if isinstance(pointer, FileSystemPathPointer):
        folder = Path(pointer.path)
        if folder.is_dir() and not (folder / "lexnames").is_file():
            return _load_staged(folder.resolve())
    return _new_reader(pointer), None


def _load_from_setting(path: Path, label: str, tried: list[str]):
    """Load from an explicit folder (path argument or env var), or record why not.

    Returns:
        (reader, staged root or None, source description), or None.
    """
    path = path.expanduser().resolve()
    if not path.is_dir():
        tried.append(f"{label} {str(path)!r}: not an existing folder")
        return None
    missing = _missing_files(path)
    if not missing:
        reader, root = _load_staged(path)
        return reader, root, str(path)
    if (path / "corpora" / "wordnet").is_dir() or (path / "corpora" / "wordnet.zip").is_file():
        # An NLTK data folder: authorise it the way NLTK documents, by listing it on
        # nltk.data.path (NLTK checks zip archives against that list even in find()).
        _register_data_root(path)
        pointer = _find_corpus([str(path)])
        if pointer is not None:
            reader, root = _load_nltk_pointer(pointer)
            return reader, root, str(getattr(pointer, "path", pointer))
    tried.append(f"{label} {str(path)!r}: {_describe_missing(missing)}")
    return None


def _load_from_defaults(tried: list[str]):
    """Load from NLTK's data folders, then the Debian folder, or record why not.

    Returns:
        (reader, staged root or None, source description), or None.
    """
    try:
        nltk_dirs = _nltk_data_dirs()
    except ImportError:
        tried.append("NLTK's data folders: nltk is not installed (pip install nltk)")
    else:
        pointer = _find_corpus(nltk_dirs)
        if pointer is not None:
            reader, root = _load_nltk_pointer(pointer)
            return reader, root, str(getattr(pointer, "path", pointer))
        tried.append(f"NLTK's data folders {nltk_dirs}: no corpora/wordnet or corpora/wordnet.zip")
    if DEBIAN_WORDNET_DIR.is_dir() and not _missing_files(DEBIAN_WORDNET_DIR):
        reader, root = _load_staged(DEBIAN_WORDNET_DIR.resolve())
        return reader, root, str(DEBIAN_WORDNET_DIR)
    missing = _missing_files(DEBIAN_WORDNET_DIR) if DEBIAN_WORDNET_DIR.is_dir() else None
    why = "no such folder" if missing is None else _describe_missing(missing)
    tried.append(f"Debian folder {str(DEBIAN_WORDNET_DIR)!r}: {why}")
    return None


def _locate_and_load(path: str | os.PathLike | None):
    """Find WordNet 3.0 in the documented order and open it.

    Returns:
        (reader, staged root or None, source description)

    Raises:
        WordNetNotFoundError: nowhere had it; the message lists each place and why.
    """

    tried: list[str] = []
    env = os.environ.get(ENV_WORDNET_DIR)
    if path is not None:
        found = _load_from_setting(Path(path), "path argument", tried)
    elif env:
        found = _load_from_setting(Path(env), f"${ENV_WORDNET_DIR}", tried)
    else:
        found = _load_from_defaults(tried)
    if found is None:
        places = "\n".join(f"  - {entry}" for entry in tried)
        raise WordNetNotFoundError(f"WordNet 3.0 not found. Looked in:\n{places}\n{_INSTALL_HINT}")
    return found
