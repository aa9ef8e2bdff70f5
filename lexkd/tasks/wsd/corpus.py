"""The records of a word sense disambiguation data set, and its key files.

A :class:`WSDCorpus` holds :class:`WSDSentence` objects made of :class:`WSDToken` objects,
and the :class:`WSDInstance` targets to disambiguate; :mod:`lexkd.tasks.wsd.raganato` reads and
writes them in the unified format of Raganato et al. (2017) and converts SemCor into it. A
key file (``NAME.gold.key.txt``, or a system's answers) has one line ``instance_id key1
[key2 ...]`` per instance, with WordNet 3.0 sense keys: :func:`read_key_file` reads one
strictly, :func:`write_key_file` writes one atomically.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lexkd.utils.io import write_atomically

__all__ = [
    "INSTANCE_POS",
    "WSDCorpus",
    "WSDFormatError",
    "WSDInstance",
    "WSDSentence",
    "WSDToken",
    "read_key_file",
    "write_key_file",
]

#: The parts of speech an instance may have (WordNet's open classes, universal tags).
INSTANCE_POS = ("NOUN", "VERB", "ADJ", "ADV")


class WSDFormatError(ValueError):
    """A WSD data or key file that does not follow the format; the message names file and place."""


@dataclass(frozen=True)
class WSDToken:
    """One token of a sentence: a ``<wf>`` (``instance_id`` None) or an ``<instance>``."""

    text: str
    lemma: str
    pos: str
    instance_id: str | None


@dataclass(frozen=True)
class WSDSentence:
    """A sentence: its id (``d000.s000``) and its tokens in order."""

    id: str
    tokens: tuple[WSDToken, ...]


@dataclass(frozen=True)
class WSDInstance:
    """A target word to disambiguate.

    Attributes:
        id: instance id, e.g. ``"d000.s000.t000"``.
        sentence_id: id of the sentence holding it.
        index: its position in that sentence's ``tokens``.
        lemma: WordNet-style lemma (multiword lemmas joined by ``_``).
        pos: ``NOUN``, ``VERB``, ``ADJ`` or ``ADV``.
        text: the surface form.
        gold_keys: WordNet 3.0 sense keys; empty when no key file was read.
    """

    id: str
    sentence_id: str
    index: int
    lemma: str
    pos: str
    text: str
    gold_keys: tuple[str, ...]


@dataclass
class WSDCorpus:
    """A WSD data set: sentences by id and the instances in file order.

    ``skipped`` counts instances left out by :func:`read_raganato` with
    ``allow_missing_keys=True`` (reason ``"missing_gold_key"``).
    """

    name: str
    sentences: dict[str, WSDSentence]
    instances: list[WSDInstance]
    skipped: Counter = field(default_factory=Counter)

    def sentence_of(self, instance: WSDInstance) -> WSDSentence:
        """The sentence holding ``instance``. Raises KeyError naming the sentence id."""
        try:
            return self.sentences[instance.sentence_id]
        except KeyError:
            raise KeyError(f"corpus {self.name!r} has no sentence {instance.sentence_id!r} "
                           f"(instance {instance.id!r})") from None

    def gold(self) -> dict[str, tuple[str, ...]]:
        """Instance id -> gold sense keys, for instances that have keys."""
        return {x.id: x.gold_keys for x in self.instances if x.gold_keys}

    def pos_of(self) -> dict[str, str]:
        """Instance id -> part of speech (for the per-POS scores of ``wsd_scoring.score``)."""
        return {x.id: x.pos for x in self.instances}


# --------------------------------------------------------------------------- file helpers


def _existing(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; FileNotFoundError naming ``what`` when it is absent."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist; check the path")
    return path


def read_key_file(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Read a key file: one ``instance_id key1 [key2 ...]`` line per instance.

    Fields are separated by any whitespace; blank lines are ignored; a key repeated on a
    line is kept once. (This reader is strict; ``wsd_scoring.score_files`` reads files the
    way Scorer.java does instead.)

    Raises:
        FileNotFoundError: no such file.
        WSDFormatError: a line with an id but no key, or an id on two lines (file and line
            numbers are named).
    """
    path = _existing(path, "key file")
    keys: dict[str, tuple[str, ...]] = {}
    first_line: dict[str, int] = {}
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise WSDFormatError(f"{path}, line {line}: not UTF-8 text ({error.reason}); a key file holds "
                             "'instance_id sense_key ...' lines in UTF-8") from None
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise WSDFormatError(f"{path}, line {number}: {fields[0]!r} has no sense key; "
                                 "each line must be 'instance_id key1 [key2 ...]'")
        if fields[0] in keys:
            raise WSDFormatError(f"{path}, line {number}: duplicate id {fields[0]!r} (first "
                                 f"on line {first_line[fields[0]]}); merge its keys on one line")
        keys[fields[0]] = tuple(dict.fromkeys(fields[1:]))
        first_line[fields[0]] = number
    return keys


def _answer_keys(instance_id: str, value: str | Sequence[str]) -> list[str]:
    """The keys of one answer as a list; ValueError if empty or containing whitespace."""
    keys = [value] if isinstance(value, str) else list(value)
    if not keys:
        raise ValueError(f"answer for {instance_id!r} has no sense key; leave the id out instead")
    for text in [instance_id, *keys]:
        if not isinstance(text, str) or not text or len(text.split()) != 1:
            raise ValueError(f"answer for {instance_id!r}: {text!r} must be a non-empty string "
                             "without whitespace")
    return keys


def write_key_file(answers: Mapping[str, str | Sequence[str]], path: str | os.PathLike) -> None:
    """Write ``answers`` (id -> key or keys) as ``id key1 [key2 ...]`` lines, atomically.

    Lines follow the mapping's order; the folder is created if needed.

    Raises:
        ValueError: an id without keys, or an id or key that is empty or holds whitespace.
    """
    lines = [" ".join([iid, *_answer_keys(iid, value)]) + "\n" for iid, value in answers.items()]
    write_atomically(path, lambda handle: handle.writelines(lines))
