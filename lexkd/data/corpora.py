"""Text corpora for masked-language-model pretraining.

Data model
----------
A *corpus* is a ``list[Document]`` and a :data:`Document` is a ``list[str]`` of
paragraphs (or sentences).  Every string is non-empty and whitespace-normalised (runs of
whitespace collapsed to one space, control characters removed).  Train/validation splits
are made by document (:func:`split_documents`), so no text of a validation document is seen
in training.

Sources accepted by :func:`load_corpus`
---------------------------------------
``"wordnet"``
    Every WordNet 3.0 synset is one document ``[gloss, *example sentences]``, in the
    deterministic order of ``lexkd.lexical.wordnet.get_wordnet().all_synsets()``.
``"hf:NAME"``
    A Hugging Face dataset loaded with ``datasets.load_dataset(NAME, hf_config,
    split=hf_split, ...)``; one document per row (see *Separators*).
a ``.txt`` file, or a folder
    A folder means all ``*.txt`` files below it (recursively, sorted by path), each read
    with the ``.txt`` rule.
a ``.jsonl`` file
    One JSON object per line; the ``text_field`` value (a string, or a list of strings
    taken as paragraphs) of each line is one document.
a ``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz`` / ``.tar.bz2`` / ``.tar.xz`` archive
    Read in place (nothing is extracted to disk).  Every text member (``*.txt`` or a name
    without extension; README/LICENSE/``cats.txt``/``stopwords``-style metadata, hidden
    files and binary members are skipped) is one document by default.  NLTK corpus
    packages are recognised by a folder name in the member path and get a dedicated rule:

    ========================  =============================================================
    ``gutenberg``             one document per book, paragraphs split at blank lines
    ``reuters``               only ``training/`` and ``test/`` members; one document per
                              news story: the headline, then paragraphs (indented lines
                              open a paragraph); HTML entities (``&lt;``) are unescaped
    ``brown``                 one document per file; ``word/tag`` tokens are stripped to
                              words and detokenised, one paragraph per sentence
    ``state_union``,          one document per file, one paragraph per non-empty line
    ``inaugural``,
    ``movie_reviews``,
    ``webtext``
    ``abc``                   one document per blank-line-separated story, one paragraph
                              per line
    ========================  =============================================================

    Members of recognised NLTK packages that are not valid UTF-8 (a few are Latin-1 or
    CP1252) are decoded with CP1252, falling back to Latin-1, unless ``encoding`` is given.
    Zip members are read in sorted name order, tar members in archive order.

Separators (``document_separator``)
-----------------------------------
``"line"``
    one document per non-empty line (a single paragraph each).
``"blank_line"``
    documents are separated by blank lines; the lines inside a block are joined with a
    space into a single paragraph.
``"file"``
    the whole file (or archive member, or dataset row) is one document; its
    blank-line-separated blocks are its paragraphs (lines inside a block joined).
``"wikitext"``
    WikiText layout: a new document starts at every top-level `` = Title = `` heading line;
    headings (``=`` markers removed) and every other non-empty line are paragraphs;
    ``<unk>`` tokens are kept.
``"auto"`` (default)
    for a ``.txt`` file: ``"wikitext"`` if its first non-empty line is a top-level WikiText
    heading, else ``"blank_line"`` if the file has any blank line, else ``"line"``.  For
    archive members: the package rule above, else ``"file"``.  For ``.jsonl`` lines and
    Hugging Face rows: one document per row with one paragraph per non-empty line, except
    that a Hugging Face dataset whose first non-empty row is a WikiText heading (e.g.
    ``wikitext``) is grouped into articles with the ``"wikitext"`` rule.

An explicit separator other than ``"auto"`` is applied to every file, member or row (after
Brown tag stripping / Reuters cleaning).
"""

from __future__ import annotations

import itertools
import json
import random
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

# SEPARATORS and the rules that cut text into documents live in lexkd.data.text.
from lexkd.data.text import (
    _TEXT_CLEANERS,
    SEPARATORS,
    Document,
    _clean,
    _decode,
    _is_wikitext,
    _lines,
    _split_record,
    _split_text,
    _split_wikitext,
)

__all__ = [
    "Document",
    "EmptyCorpusError",
    "SEPARATORS",
    "corpus_stats",
    "flatten",
    "load_corpus",
    "split_documents",
]


_ACCEPTED = (
    "'wordnet', 'hf:NAME' (a Hugging Face dataset), or a path to a .txt or .jsonl file, "
    "a folder of .txt files, or a .zip/.tar/.tar.gz/.tgz/.tar.bz2/.tar.xz archive"
)
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_METADATA_NAMES = {
    "readme",
    "license",
    "licence",
    "copying",
    "contents",
    "cats.txt",
    "stopwords",
    "fileids",
    "citation",
    "manifest",
}
_NLTK_PACKAGES = {
    "gutenberg",
    "reuters",
    "brown",
    "state_union",
    "inaugural",
    "movie_reviews",
    "webtext",
    "abc",
}
# How "auto" splits a member of a recognised package (internal separators included).
_PACKAGE_RULE = {
    "gutenberg": "file",
    "reuters": "file",
    "brown": "file",
    "state_union": "file_lines",
    "inaugural": "file_lines",
    "movie_reviews": "file_lines",
    "webtext": "file_lines",
    "abc": "block_lines",
}


class EmptyCorpusError(ValueError):
    """Raised when a source yields no non-empty text."""


@dataclass(frozen=True)
class _Options:
    text_field: str
    separator: str
    encoding: str | None


# --------------------------------------------------------------------------- public API


def load_corpus(
    source: str | Path | Sequence[str | Path],
    *,
    text_field: str = "text",
    document_separator: str = "auto",
    hf_config: str | None = None,
    hf_split: str = "train",
    max_documents: int | None = None,
    encoding: str | None = None,
    data_files: Any = None,
    hf_kwargs: dict[str, Any] | None = None,
) -> list[Document]:
    """Load a text corpus as a list of documents (each a list of paragraphs).

    Args:
        source: ``"wordnet"``, ``"hf:NAME"`` or a local path (``.txt`` file, folder of
            ``.txt`` files, ``.jsonl`` file, ``.zip``/``.tar*`` archive); see the module
            docstring for how each is read. A list of sources gives their documents one after
            the other, in the order given (each must hold text).
        text_field: JSON key (``.jsonl``) or column (Hugging Face) holding the text.
        document_separator: one of :data:`SEPARATORS`; how text is cut into documents
            (module docstring, *Separators*).
        hf_config: Hugging Face dataset configuration name (e.g. ``"wikitext-2-raw-v1"``).
        hf_split: Hugging Face split to load.
        max_documents: stop after this many documents (``None``: all).
        encoding: text encoding of local files; ``None`` means strict UTF-8, except for
            members of recognised NLTK packages, which fall back to CP1252/Latin-1.
        data_files: passed to ``datasets.load_dataset`` (e.g. with ``"hf:json"``).
        hf_kwargs: further keyword arguments for ``datasets.load_dataset``.

    Returns:
        ``list[list[str]]``: documents of non-empty, whitespace-normalised paragraphs.

    Raises:
        FileNotFoundError: ``source`` is not a keyword and no such path exists.
        EmptyCorpusError: the source (or one of several) holds no non-empty text.
        ValueError: unknown ``document_separator``, bad ``max_documents``, undecodable
            text (naming file and line), malformed JSON or missing ``text_field``
            (naming file and line), missing Hugging Face column (listing the columns).
        ImportError: ``datasets`` (for ``hf:``) or ``lexkd.lexical.wordnet`` is missing.
    """
    if document_separator not in SEPARATORS:
        raise ValueError(
            f"unknown document_separator {document_separator!r}; valid: {', '.join(SEPARATORS)}"
        )
    if max_documents is not None and (not isinstance(max_documents, int) or max_documents < 1):
        raise ValueError(f"max_documents must be a positive integer or None, got {max_documents!r}")
    opts = _Options(text_field, document_separator, encoding)
    if not isinstance(source, (str, Path)):
        sources = [str(s) for s in source]
        if not sources:
            raise ValueError("No corpus source given: name at least one (e.g. --corpus wordnet).")
        corpus: list[Document] = []
        for src in sources:
            if max_documents is not None and len(corpus) >= max_documents:
                break
            corpus += load_corpus(src, text_field=text_field, document_separator=document_separator,
                                  hf_config=hf_config, hf_split=hf_split, encoding=encoding, data_files=data_files,
                                  hf_kwargs=hf_kwargs,
                                  max_documents=None if max_documents is None else max_documents - len(corpus))
        return corpus
    src = str(source)
    if src == "wordnet":
        docs = _iter_wordnet()
    elif src.startswith("hf:"):
        kwargs = dict(hf_kwargs or {})
        if data_files is not None:
            kwargs["data_files"] = data_files
        docs = _iter_hf(src[3:], hf_config, hf_split, kwargs, opts)
    else:
        docs = _iter_path(Path(src), opts)
    corpus = list(itertools.islice(docs, max_documents))
    if not corpus:
        raise EmptyCorpusError(f"corpus source {src!r} contains no non-empty text")
    return corpus


def split_documents(
    documents: list[Document], validation_fraction: float = 0.05, seed: int = 42
) -> tuple[list[Document], list[Document]]:
    """Split a corpus by document into train and validation parts, deterministically.

    The document indices are shuffled with ``random.Random(seed)`` (independent of Python's
    hash seed) and the first ``round(n * validation_fraction)`` of them, clamped to
    ``[1, n - 1]``, form the validation part.  Both parts keep the original order.

    Args:
        documents: the corpus (at least two documents).
        validation_fraction: share of documents for validation, strictly between 0 and 1.
        seed: shuffling seed; the same corpus and seed always give the same split.

    Returns:
        ``(train, validation)``, two non-empty lists of documents that together hold every
        document exactly once.

    Raises:
        ValueError: fewer than two documents, or ``validation_fraction`` not in (0, 1).
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    n = len(documents)
    if n < 2:
        raise ValueError(f"need at least 2 documents to split, got {n}")
    n_val = min(max(round(n * validation_fraction), 1), n - 1)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    val_idx = set(order[:n_val])
    train = [doc for i, doc in enumerate(documents) if i not in val_idx]
    validation = [doc for i, doc in enumerate(documents) if i in val_idx]
    return train, validation


def corpus_stats(documents: Iterable[Document]) -> dict[str, int]:
    """Count documents, paragraphs and characters of a corpus.

    Args:
        documents: the corpus.

    Returns:
        ``{"documents": int, "paragraphs": int, "characters": int}`` (characters counted
        over paragraph strings, without separators).
    """
    n_docs = n_paras = n_chars = 0
    for doc in documents:
        n_docs += 1
        n_paras += len(doc)
        n_chars += sum(len(p) for p in doc)
    return {"documents": n_docs, "paragraphs": n_paras, "characters": n_chars}


def flatten(documents: Iterable[Document]) -> list[str]:
    """Concatenate the paragraphs of all documents, in order (e.g. for tokenisation).

    Args:
        documents: the corpus.

    Returns:
        The list of all paragraphs.
    """
    return [paragraph for doc in documents for paragraph in doc]


# --------------------------------------------------------------------------- local paths


def _iter_path(path: Path, opts: _Options) -> Iterator[Document]:
    if not path.exists():
        raise FileNotFoundError(
            f"corpus source {str(path)!r} does not exist; accepted: {_ACCEPTED}"
        )
    name = path.name.lower()
    if path.is_dir():
        return _iter_folder(path, opts)
    if name.endswith(".jsonl"):
        return _iter_jsonl(path, opts)
    if name.endswith(_TAR_SUFFIXES):
        return _iter_tar(path, opts)
    if name.endswith(".zip") or zipfile.is_zipfile(path):
        return _iter_zip(path, opts)
    return _iter_txt(path, opts)


def _iter_txt(path: Path, opts: _Options) -> Iterator[Document]:
    text = _decode(path.read_bytes(), str(path), opts.encoding)
    yield from _split_text(text, opts.separator)


def _iter_folder(folder: Path, opts: _Options) -> Iterator[Document]:
    for path in sorted(p for p in folder.rglob("*.txt") if p.is_file()):
        yield from _iter_txt(path, opts)


def _iter_jsonl(path: Path, opts: _Options) -> Iterator[Document]:
    text = _decode(path.read_bytes(), str(path), opts.encoding)
    for lineno, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {lineno} is not valid JSON ({err.msg})") from err
        if not isinstance(record, dict):
            raise ValueError(f"{path}: line {lineno} is not a JSON object")
        yield from _record_documents(record, opts, f"{path}: line {lineno}")


def _record_documents(record: dict[str, Any], opts: _Options, where: str) -> list[Document]:
    if opts.text_field not in record:
        keys = ", ".join(map(str, record)) or "(none)"
        raise ValueError(f"{where} has no field {opts.text_field!r}; available keys: {keys}")
    value = record[opts.text_field]
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        doc = [p for p in map(_clean, value) if p]
        return [doc] if doc else []
    if not isinstance(value, str):
        raise ValueError(
            f"{where}: field {opts.text_field!r} must be a string or a list of strings, "
            f"got {type(value).__name__}"
        )
    return _split_record(value, opts.separator)


# --------------------------------------------------------------------------- archives


def _package_of(member: str) -> str | None:
    """The recognised NLTK package a member belongs to (a folder in its path), if any."""
    for part in PurePosixPath(member).parts[:-1]:
        if part in _NLTK_PACKAGES:
            return part
    return None


def _is_text_member(member: str, package: str | None) -> bool:
    path = PurePosixPath(member)
    if any(part.startswith(".") or part == "__MACOSX" for part in path.parts):
        return False
    base = path.name.lower()
    if base in _METADATA_NAMES or base.split(".")[0] in _METADATA_NAMES:
        return False
    if package == "reuters":
        return "training" in path.parts or "test" in path.parts
    return path.suffix.lower() == ".txt" or "." not in base


def _member_documents(archive: Path, member: str, data: bytes, opts: _Options) -> list[Document]:
    package = _package_of(member)
    if b"\x00" in data:
        return []
    text = _decode(data, f"{archive}!{member}", opts.encoding, legacy=package is not None)
    if package in _TEXT_CLEANERS:
        text = _TEXT_CLEANERS[package](text)
    separator = opts.separator
    if separator == "auto":
        separator = _PACKAGE_RULE.get(package or "", "file")
    return _split_text(text, separator)


def _iter_tar(path: Path, opts: _Options) -> Iterator[Document]:
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for info in archive:
                if not info.isfile() or not _is_text_member(info.name, _package_of(info.name)):
                    continue
                handle = archive.extractfile(info)
                if handle is None:
                    continue
                yield from _member_documents(path, info.name, handle.read(), opts)
    except tarfile.TarError as err:
        raise ValueError(f"{path}: cannot read tar archive ({err})") from err


def _iter_zip(path: Path, opts: _Options) -> Iterator[Document]:
    try:
        with zipfile.ZipFile(path) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                name = info.filename
                if info.is_dir() or not _is_text_member(name, _package_of(name)):
                    continue
                yield from _member_documents(path, name, archive.read(info), opts)
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path}: cannot read zip archive ({err})") from err


# --------------------------------------------------------------------------- WordNet, HF


def _iter_wordnet() -> Iterator[Document]:
    from lexkd.lexical.wordnet import get_wordnet

    wordnet = get_wordnet()
    for synset in wordnet.all_synsets():
        doc = [
            p for p in (_clean(s) for s in (wordnet.gloss(synset), *wordnet.examples(synset))) if p
        ]
        if doc:
            yield doc


def _iter_hf(
    name: str, config: str | None, split: str, kwargs: dict[str, Any], opts: _Options
) -> Iterator[Document]:
    import datasets

    if not name:
        raise ValueError(f"empty Hugging Face dataset name in 'hf:'; accepted: {_ACCEPTED}")
    dataset = datasets.load_dataset(name, config, split=split, **kwargs)
    where = f"Hugging Face dataset {name!r} (config {config!r}, split {split!r})"
    columns = getattr(dataset, "column_names", None)  # None for some streaming datasets
    if columns is not None and opts.text_field not in columns:
        raise ValueError(
            f"{where} has no column {opts.text_field!r}; columns: "
            f"{', '.join(map(str, columns)) or '(none)'}"
        )
    texts = (t for t in _hf_texts(dataset, opts.text_field, where) if isinstance(t, str))
    first, texts = _peek_nonblank(texts)
    if opts.separator == "wikitext" or (opts.separator == "auto" and _is_wikitext(first)):
        yield from _split_wikitext("".join(t if t.endswith("\n") else t + "\n" for t in texts))
        return
    for text in texts:
        yield from _split_record(text, opts.separator)


def _hf_texts(dataset: Iterable[dict[str, Any]], field: str, where: str) -> Iterator[Any]:
    for row in dataset:
        if field not in row:
            raise ValueError(f"{where} has no column {field!r}; columns: {', '.join(row)}")
        yield row[field]


def _peek_nonblank(texts: Iterator[str]) -> tuple[str, Iterator[str]]:
    """First non-blank text and an iterator over all texts (nothing lost)."""
    seen: list[str] = []
    for text in texts:
        seen.append(text)
        if text.strip():
            return text, itertools.chain(seen, texts)
    return "", iter(seen)


def load_split_corpus(source: str, *, validation_fraction: float, seed: int, **corpus_kwargs) -> tuple[list, list]:
    """Load a corpus (see :func:`lexkd.data.corpora.load_corpus`) and split it by document.

    Returns:
        ``(train_documents, validation_documents)``.
    """
    documents = load_corpus(source, **corpus_kwargs)
    return split_documents(documents, validation_fraction=validation_fraction, seed=seed)
