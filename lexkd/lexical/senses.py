"""The plain data of lexkd's WordNet API, shared by its backends: :class:`Sense`, the errors, POS
normalisation and the sense-key pattern (no NLTK, no ``wn``, no torch)."""

from __future__ import annotations

import re
from dataclasses import dataclass

EXPECTED_VERSION = "3.0"

_LETTERS = ("n", "v", "a", "r", "s")
_UNIVERSAL = {"NOUN": "n", "VERB": "v", "ADJ": "a", "ADV": "r"}
# Order used whenever "all parts of speech" are meant; 'a' covers satellites 's'.
_POS_ORDER = ("n", "v", "a", "r")
_SENSE_KEY_RE = re.compile(r"^[^%\s]+%[1-5]:\d\d:\d\d:[^:\s]*:(\d\d)?$")


class WordNetVersionError(RuntimeError):
    """A WordNet was found, but it is not version 3.0."""


class _MessageKeyError(KeyError):
    """A KeyError whose ``str()`` is the plain message (KeyError quotes it by default)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownSynsetError(_MessageKeyError):
    """A synset name (e.g. ``"bank.n.01"``) that WordNet does not have or that is malformed."""


class UnknownSenseKeyError(_MessageKeyError):
    """A sense key (e.g. ``"dog%1:05:00::"``) that WordNet 3.0 does not have or that is malformed."""


class LemmaNotInSynsetError(_MessageKeyError):
    """A lemma that is not one of the given synset's lemmas."""


class SenseCountUnavailableError(FileNotFoundError):
    """The tag counts file ``cntlist.rev`` is missing from the loaded WordNet."""


@dataclass(frozen=True)
class Sense:
    """One WordNet sense of a lemma.

    Attributes:
        sense_key: WordNet 3.0 sense key, e.g. ``"bank%1:17:01::"``.
        synset: synset name, e.g. ``"bank.n.01"``.
        gloss: the synset's definition.
        examples: the synset's example sentences.
        count: the sense's tag count from ``cntlist.rev`` (0 when it is not tagged).
    """

    sense_key: str
    synset: str
    gloss: str
    examples: tuple[str, ...]
    count: int


def normalize_pos(pos: str) -> str:
    """Map a part of speech to a WordNet letter.

    Accepts the WordNet letters ``n v a r s`` and the universal tags ``NOUN VERB ADJ ADV``
    (as in the Raganato WSD format), case-insensitively.

    Returns:
        one of ``"n" "v" "a" "r" "s"`` (``ADJ`` gives ``"a"``, which includes satellites).

    Raises:
        ValueError: ``pos`` is none of those; the message names it and the valid ones.
    """
    text = pos.strip() if isinstance(pos, str) else pos
    if isinstance(text, str) and text.lower() in _LETTERS:
        return text.lower()
    if isinstance(text, str) and text.upper() in _UNIVERSAL:
        return _UNIVERSAL[text.upper()]
    valid = ", ".join(list(_LETTERS) + list(_UNIVERSAL))
    raise ValueError(f"unknown part of speech {pos!r}; valid ones are: {valid}")


def _normalize_lemma(lemma: str) -> str:
    """WordNet's form of a lemma: lower case, words joined by underscores."""
    return "_".join(lemma.strip().lower().split())


# --------------------------------------------------------------------------- API


