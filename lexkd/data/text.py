"""Text rules of :mod:`lexkd.data.corpora`: cleaning, cutting text into documents, decoding.

Everything here works on a ``str`` (or ``bytes``) already read; no file, archive or dataset
is opened. :func:`_split_text` applies a document separator: the public ones in
:data:`SEPARATORS` (described in the docstring of :mod:`lexkd.data.corpora`) and the internal
``file_lines`` and ``block_lines`` rules of NLTK packages. :func:`_decode` decodes bytes, with
the CP1252/Latin-1 fallback for NLTK package members, and ``_TEXT_CLEANERS`` turn Reuters
stories and Brown ``word/tag`` files into plain text before they are split.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

Document = list[str]
"""A document: its paragraphs or lines, in order (a corpus is a ``list[Document]``)."""

SEPARATORS: tuple[str, ...] = ("auto", "line", "blank_line", "file", "wikitext")

_LEGACY_ENCODINGS = ("cp1252", "latin-1")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WIKI_TITLE = re.compile(r"^= (?!=)(.+) =$")
_WIKI_HEADING = re.compile(r"^(=(?: =)*) (.+) \1$")


# --------------------------------------------------------------------------- text rules


def _clean(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _blocks(text: str) -> list[list[str]]:
    """Blank-line-separated blocks of cleaned, non-empty lines."""
    blocks: list[list[str]] = [[]]
    for line in _lines(text):
        cleaned = _clean(line)
        if cleaned:
            blocks[-1].append(cleaned)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _is_wikitext(text: str) -> bool:
    for line in _lines(text):
        if line.strip():
            return bool(_WIKI_TITLE.match(line.strip()))
    return False


def _split_wikitext(text: str) -> list[Document]:
    """WikiText -> articles.  A heading is a ``= ... =`` line between blank lines (so that
    equations such as `` = 1 k = `` inside a paragraph are not taken for headings)."""
    lines = [line.strip() for line in _lines(text)]
    docs: list[Document] = []
    current: Document = []
    for i, stripped in enumerate(lines):
        if not stripped:
            continue
        isolated = (i == 0 or not lines[i - 1]) and (i + 1 == len(lines) or not lines[i + 1])
        heading = _WIKI_HEADING.match(stripped) if isolated else None
        if heading and _WIKI_TITLE.match(stripped) and current:
            docs.append(current)
            current = []
        cleaned = _clean(heading.group(2) if heading else stripped)
        if cleaned:
            current.append(cleaned)
    if current:
        docs.append(current)
    return docs


def _resolve_auto(text: str) -> str:
    if _is_wikitext(text):
        return "wikitext"
    has_blank = any(not line.strip() for line in _lines(text.strip("\r\n")))
    return "blank_line" if has_blank else "line"


def _split_text(text: str, separator: str) -> list[Document]:
    """Cut text into documents by a (public or internal) separator rule."""
    if separator == "auto":
        separator = _resolve_auto(text)
    if separator == "wikitext":
        return _split_wikitext(text)
    if separator == "line":
        return [[line] for line in map(_clean, _lines(text)) if line]
    blocks = _blocks(text)
    if separator == "blank_line":
        return [[" ".join(b)] for b in blocks]
    if separator == "file":
        return [[" ".join(b) for b in blocks]] if blocks else []
    if separator == "file_lines":
        lines = [line for b in blocks for line in b]
        return [lines] if lines else []
    if separator == "block_lines":
        return blocks
    raise ValueError(f"unknown document_separator {separator!r}; valid: {', '.join(SEPARATORS)}")


def _split_record(text: str, separator: str) -> list[Document]:
    """Rule for a jsonl line or dataset row: ``auto`` = one document, lines as paragraphs."""
    return _split_text(text, "file_lines" if separator == "auto" else separator)


# --------------------------------------------------------------------------- decoding


def _decode(data: bytes, name: str, encoding: str | None, legacy: bool = False) -> str:
    """Decode bytes; ValueError naming ``name`` and the line of the first bad byte."""
    codec = encoding or "utf-8"
    try:
        return data.decode(codec).removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        if legacy and encoding is None:
            for fallback in _LEGACY_ENCODINGS:
                try:
                    return data.decode(fallback)
                except UnicodeDecodeError:
                    continue
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{name}: line {line} is not valid {codec} ({err.reason}); "
            "pass --encoding (e.g. --encoding latin-1) to the script, or encoding=... to load_corpus"
        ) from err


# --------------------------------------------------------------------------- NLTK packages


def _reuters_text(text: str) -> str:
    """Reuters story -> headline and paragraphs separated by blank lines.

    In the ApteMod files the headline is the first line, body lines are indented by two
    spaces and a line indented by four or more spaces opens a new paragraph (or table row).
    """
    paragraphs: list[list[str]] = []
    for line in _lines(html.unescape(text)):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if len(paragraphs) <= 1 or indent >= 4:
            paragraphs.append([])
        paragraphs[-1].append(line.strip())
    return "\n\n".join(" ".join(p) for p in paragraphs)


_OPENERS = {"``": '"', "`": "'", "(": "(", "[": "[", "{": "{", "$": "$"}
_CLOSERS = {
    "''": '"',
    "'": "'",
    ",": ",",
    ".": ".",
    ";": ";",
    ":": ":",
    "?": "?",
    "!": "!",
    ")": ")",
    "]": "]",
    "}": "}",
    "%": "%",
    "...": "...",
    "'s": "'s",
    "n't": "n't",
}


def _detokenise(tokens: list[str]) -> str:
    """Join tokens with spaces, attaching punctuation and Brown-style quotes."""
    out: list[str] = []
    glue_next = True
    for token in tokens:
        if token in _OPENERS:
            out.append(("" if glue_next else " ") + _OPENERS[token])
            glue_next = True
        elif token in _CLOSERS:
            if token == "." and out and out[-1].endswith(".") and not out[-1].endswith(".."):
                continue  # "Jr." + "." at the end of a sentence
            out.append(_CLOSERS[token])
            glue_next = False
        else:
            out.append(("" if glue_next else " ") + token)
            glue_next = False
    return "".join(out)


def _brown_text(text: str) -> str:
    """Brown ``word/tag`` file -> plain sentences (one per line block)."""
    sentences = []
    for line in _lines(text):
        words = [tok.rsplit("/", 1)[0] if "/" in tok else tok for tok in line.split()]
        if words:
            sentences.append(_detokenise(words))
    return "\n\n".join(sentences)


_TEXT_CLEANERS: dict[str, Callable[[str], str]] = {
    "reuters": _reuters_text,
    "brown": _brown_text,
}
