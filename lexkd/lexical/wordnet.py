"""Plain-Python access to Princeton WordNet 3.0 through NLTK's reader.

Where WordNet is looked for, in this order (the first two are exclusive: when
given, nothing else is tried, so a wrong setting fails loudly):

1. the ``path`` argument: a folder with the WordNet database files
   (``data.noun``, ``index.noun``, ...) or an NLTK data folder holding
   ``corpora/wordnet`` (or ``corpora/wordnet.zip``);
2. the environment variable ``LEXKD_WORDNET_DIR`` (same forms);
3. NLTK's data folders (``nltk.data.path``), as ``corpora/wordnet`` or the
   ``corpora/wordnet.zip`` NLTK's downloader leaves;
4. the Debian/Ubuntu packages ``wordnet-base`` + ``wordnet-sense-index``
   under ``/usr/share/wordnet``.

NLTK (>= 3.9) only reads corpus files inside its data folders
(``nltk.data.path``): a reader root outside them is refused, files are opened
with ``O_NOFOLLOW`` (a symlink is refused, so is a hard link, ``st_nlink > 1``),
the opened file's real path must lie inside the corpus root, and every folder
and file must be owned by the user or root and not group/world writable. A
plain database folder (the Debian one, or one given by ``path``) is therefore
*staged*: its files are copied, with lexkd's ``lexnames`` table added when
missing (Debian does not ship it), into a private NLTK-style data folder in
the lexkd cache (``$LEXKD_CACHE`` or ``~/.cache/lexkd``), e.g.
``~/.cache/lexkd/nltk_data/corpora/wordnet``. That folder is registered on
``nltk.data.path`` and loaded through ``nltk.data.find``, so NLTK's checks stay
enabled and pass legitimately.

The public API returns only ``str``, ``int``, lists/tuples and dataclasses,
never NLTK objects. Synsets are named as in NLTK (``"bank.n.01"``).

A second backend, for WN-LMF files such as Open English WordNet, has the same API:
``get_wordnet(lmf="english-wordnet-2024.xml.gz")`` (:mod:`lexkd.lexical.wordnet_lmf`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Locating, staging and loading the files (module docstring) live in wordnet_data; the
# ENV_* names are re-exported for callers that import them from here.
from lexkd.lexical.wordnet_files import DEBIAN_WORDNET_DIR, WordNetNotFoundError, _locate_and_load
from lexkd.lexical.wordnet_files import ENV_CACHE as ENV_CACHE
from lexkd.lexical.wordnet_files import ENV_WORDNET_DIR as ENV_WORDNET_DIR

__all__ = [
    "DEBIAN_WORDNET_DIR",
    "LemmaNotInSynsetError",
    "Sense",
    "SenseCountUnavailableError",
    "UnknownSenseKeyError",
    "UnknownSynsetError",
    "WordNet",
    "WordNetNotFoundError",
    "WordNetVersionError",
    "get_wordnet",
    "normalize_pos",
]

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


class WordNet:
    """WordNet 3.0 with a plain-Python API (str, int, lists and dataclasses only).

    Synsets are named as in NLTK, e.g. ``"bank.n.01"``; every method taking a synset
    also accepts NLTK's alias form ``"<lemma>.<pos>.<sense number>"``. Not thread-safe:
    NLTK's reader shares file handles, so use one instance per thread if needed.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        """Locate WordNet 3.0 (see the module docstring) and open it.

        Args:
            path: a WordNet database folder or an NLTK data folder; None searches the
                usual places.

        Raises:
            WordNetNotFoundError: WordNet 3.0 was not found; the message says where lexkd
                looked and how to install it.
            WordNetVersionError: the WordNet found is not version 3.0.
            ImportError: nltk is not installed.
        """
        if path is not None and os.path.isfile(path):
            raise WordNetNotFoundError(
                f"{str(path)!r} is a file, not a WordNet 3.0 folder; for a WN-LMF file (e.g. Open "
                "English WordNet) use get_wordnet(lmf=path) or lexkd.lexical.wordnet_lmf.LMFWordNet"
            )
        reader, staged_root, source = _locate_and_load(path)
        version = reader.get_version()
        if version != EXPECTED_VERSION:
            raise WordNetVersionError(
                f"WordNet at {source!r} is version {version!r}; lexkd needs {EXPECTED_VERSION}"
            )
        self._reader = reader
        self._version = version
        self._source = source
        self._staged_root = None if staged_root is None else str(staged_root)
        self._has_file: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"WordNet(version={self._version!r}, source={self._source!r})"

    @property
    def version(self) -> str:
        """The WordNet version string read from the database, always ``"3.0"``."""
        return self._version

    @property
    def source(self) -> str:
        """Where the WordNet files came from (a folder, or an NLTK zip pointer)."""
        return self._source

    @property
    def staged_root(self) -> str | None:
        """The NLTK data folder lexkd built and put on ``nltk.data.path``; None when unused."""
        return self._staged_root

    # ---------------------------------------------------------------- internals

    def _synset(self, name: str):
        """The NLTK synset called ``name``; raises UnknownSynsetError."""
        from nltk.corpus.reader.wordnet import WordNetError

        try:
            return self._reader.synset(name)
        except (WordNetError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise UnknownSynsetError(f"unknown WordNet synset {name!r}") from err

    def _synset_objects(self, lemma: str, pos: str | None) -> list:
        """NLTK synsets whose lemmas include ``lemma`` exactly, in sense-number order."""
        name = _normalize_lemma(lemma)
        wanted = normalize_pos(pos) if pos is not None else None
        found, seen = [], set()
        for letter in _POS_ORDER if wanted is None else (wanted,):
            query = "a" if letter == "s" else letter
            # NLTK also returns synsets of morphological variants (banks -> bank); those
            # are filtered out so the result is the lemma's own senses in index order.
            for synset in self._reader.synsets(name, query, check_exceptions=False):
                if letter == "s" and synset.pos() != "s":
                    continue
                if synset in seen or name not in {x.lower() for x in synset.lemma_names()}:
                    continue
                seen.add(synset)
                found.append(synset)
        return found

    def _file_available(self, name: str) -> bool:
        """Whether the loaded corpus has the file ``name`` (cached)."""
        if name not in self._has_file:
            try:
                self._reader.open(name).close()
                self._has_file[name] = True
            except (OSError, LookupError, ValueError):
                self._has_file[name] = False
        return self._has_file[name]

    def _in_sense_index(self, key: str, synset) -> bool:
        """Whether index.sense maps ``key`` to ``synset``."""
        from nltk.corpus.reader.wordnet import WordNetError

        try:
            return self._reader.lemma_from_key(key).synset() == synset
        except (WordNetError, OSError, LookupError, ValueError):
            return False

    def _canonical_key(self, synset, lemma_lower: str) -> str | None:
        """The sense key of ``lemma_lower`` in ``synset``, or None if it is not a lemma.

        Case variants of a lemma in one synset (``Earth``/``earth``) can carry different
        lexical ids and so different keys; WordNet's index.sense holds one of them (8 keys
        NLTK computes, e.g. ``earth%1:17:02::``, are not in it). Prefer the indexed one.
        """
        keys = list(
            dict.fromkeys(x.key() for x in synset.lemmas() if x.name().lower() == lemma_lower)
        )
        if len(keys) > 1:
            for key in keys:
                if self._in_sense_index(key, synset):
                    return key
        return keys[0] if keys else None

    def _lemma_for_key(self, key: str):
        """The NLTK lemma with sense key ``key``; raises UnknownSenseKeyError."""
        from nltk.corpus.reader.wordnet import WordNetError

        text = key.strip().lower() if isinstance(key, str) else ""
        if not _SENSE_KEY_RE.match(text):
            raise UnknownSenseKeyError(f"malformed WordNet sense key {key!r}")
        try:
            return self._reader.lemma_from_key(text)
        except (WordNetError, OSError, LookupError, ValueError):
            pass
        # Not in index.sense: it may be one of the keys NLTK computes for a case variant.
        lemma_name, lex_sense = text.split("%", 1)
        letter = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "s"}[lex_sense[0]]
        for synset in self._synset_objects(lemma_name, letter):
            for lemma in synset.lemmas():
                if lemma.key() == text:
                    return lemma
        raise UnknownSenseKeyError(f"unknown WordNet 3.0 sense key {key!r}")

    # ---------------------------------------------------------------- lookups

    def synsets(self, lemma: str, pos: str | None = None) -> list[str]:
        """Synset names of ``lemma`` in WordNet sense-number order.

        Args:
            lemma: a lemma; multiword lemmas may use spaces or underscores, case is ignored.
                No morphological analysis: ``"banks"`` finds nothing.
            pos: a WordNet letter (``n v a r s``) or universal tag (``NOUN VERB ADJ ADV``);
                ``a``/``ADJ`` include satellites. None means all, nouns first
                (n, v, a, r).

        Returns:
            names such as ``["bank.n.01", "depository_financial_institution.n.01", ...]``;
            empty if WordNet has no such lemma.

        Raises:
            ValueError: unknown part of speech.
        """
        return [synset.name() for synset in self._synset_objects(lemma, pos)]

    def gloss(self, synset: str) -> str:
        """The definition of ``synset``. Raises UnknownSynsetError."""
        return self._synset(synset).definition()

    def examples(self, synset: str) -> list[str]:
        """The example sentences of ``synset`` (often empty). Raises UnknownSynsetError."""
        return list(self._synset(synset).examples())

    def lemma_names(self, synset: str) -> list[str]:
        """The lemmas of ``synset`` in WordNet's spelling (underscores, original case).

        Raises UnknownSynsetError.
        """
        return list(self._synset(synset).lemma_names())

    def pos(self, synset: str) -> str:
        """The part of speech of ``synset``: ``n v a s r``. Raises UnknownSynsetError."""
        return self._synset(synset).pos()

    def lexname(self, synset: str) -> str:
        """The lexicographer file of ``synset``, e.g. ``"noun.animal"``. Raises UnknownSynsetError."""
        return self._synset(synset).lexname()

    def sense_key(self, lemma: str, synset: str) -> str:
        """The WordNet 3.0 sense key of ``lemma`` in ``synset``, e.g. ``"bank%1:17:01::"``.

        Raises:
            UnknownSynsetError: unknown synset.
            LemmaNotInSynsetError: ``lemma`` (spaces or underscores, any case) is not one
                of the synset's lemmas.
        """
        obj = self._synset(synset)
        key = self._canonical_key(obj, _normalize_lemma(lemma))
        if key is None:
            raise LemmaNotInSynsetError(
                f"{lemma!r} is not a lemma of {synset!r} (lemmas: {obj.lemma_names()})"
            )
        return key

    def sense_keys(self, synset: str) -> list[str]:
        """The sense keys of all lemmas of ``synset``, in lemma order, without duplicates.

        Raises UnknownSynsetError.
        """
        obj = self._synset(synset)
        names = dict.fromkeys(name.lower() for name in obj.lemma_names())
        return [self._canonical_key(obj, name) for name in names]

    def synset_from_sense_key(self, key: str) -> str:
        """The synset name a sense key belongs to, e.g. ``"dog%1:05:00::"`` -> ``"dog.n.01"``.

        Keys are matched case-insensitively (WordNet keys are lower case).

        Raises:
            UnknownSenseKeyError: malformed key, or not a WordNet 3.0 sense.
        """
        return self._lemma_for_key(key).synset().name()

    def lemma_count(self, sense_key: str) -> int:
        """The tag count of a sense from ``cntlist.rev``, as NLTK's ``Lemma.count()``.

        A sense missing from cntlist.rev was never tagged in the concordances and counts 0.
        Caveat of WordNet 3.0's cntlist.rev: it spells some adjective-satellite keys with a
        syntactic marker (``any%5:00:00:some(a):00``), so 83 adjective senses count 0 here
        although the tag_cnt field of index.sense has a count (47 for
        ``any%5:00:00:some:00``); NLTK's ``Lemma.count()`` gives the same 0.

        Raises:
            UnknownSenseKeyError: malformed or unknown sense key.
            SenseCountUnavailableError: the loaded WordNet has no cntlist.rev.
        """
        lemma = self._lemma_for_key(sense_key)
        if not self._file_available("cntlist.rev"):
            raise SenseCountUnavailableError(
                f"no sense counts: cntlist.rev is missing from the WordNet at {self._source!r} "
                "(it ships with Debian's wordnet-base and with NLTK's wordnet download)"
            )
        return lemma.count()

    def senses(self, lemma: str, pos: str | None = None) -> list[Sense]:
        """All senses of ``lemma`` in WordNet sense-number order, with gloss, examples, count.

        Args:
            lemma: as for :meth:`synsets`.
            pos: as for :meth:`synsets`.

        Raises:
            ValueError: unknown part of speech.
            SenseCountUnavailableError: the loaded WordNet has no cntlist.rev.
        """
        name = _normalize_lemma(lemma)
        result = []
        for synset in self._synset_objects(lemma, pos):
            key = self._canonical_key(synset, name)
            result.append(
                Sense(
                    sense_key=key,
                    synset=synset.name(),
                    gloss=synset.definition(),
                    examples=tuple(synset.examples()),
                    count=self.lemma_count(key),
                )
            )
        return result

    def all_synsets(self, pos: str | None = None) -> Iterator[str]:
        """Every synset name, lazily, in a fixed order: by part of speech (n, v, a, r),
        then by position in the data file.

        Args:
            pos: restrict to one part of speech (``a``/``ADJ`` include satellites, ``s``
                gives satellites only).

        Raises:
            ValueError: unknown part of speech (raised at the call, not on iteration).
        """
        letters = _POS_ORDER if pos is None else (normalize_pos(pos),)
        return (synset.name() for letter in letters for synset in self._reader.all_synsets(letter))


@functools.cache  # an lru_cache without size bound
def get_wordnet(
    path: str | os.PathLike | None = None,
    *,
    lmf: str | os.PathLike | None = None,
    lexicon: str | None = None,
):
    """The process-wide WordNet for ``path`` or ``lmf`` (loaded once, then cached).

    Two backends, chosen by the argument given:

    - ``path`` (or nothing): Princeton WordNet 3.0 through NLTK, a :class:`WordNet` (the search
      order is in the module docstring);
    - ``lmf``: a WN-LMF file (e.g. Open English WordNet's ``english-wordnet-2024.xml.gz``)
      through the ``wn`` package, a :class:`lexkd.lexical.wordnet_lmf.LMFWordNet` with the same
      API; ``lexicon`` picks one lexicon of a file that holds several. Never falls back to NLTK.

    The cache is keyed by the arguments only: changing ``LEXKD_WORDNET_DIR`` (or the file) later
    has no effect on ``get_wordnet()``; call ``get_wordnet.cache_clear()`` to reload.

    Raises:
        ValueError: both ``path`` and ``lmf``, or ``lexicon`` without ``lmf``.
        WordNetNotFoundError: WordNet 3.0 was not found (the message says how to install).
        WordNetVersionError: the WordNet found is not version 3.0.
        FileNotFoundError: the ``lmf`` file does not exist.
        lexkd.lexical.wordnet_lmf.NotWordNetLMFError: the ``lmf`` file is not WN-LMF.
    """
    if lmf is not None:
        if path is not None:
            raise ValueError(
                f"get_wordnet got path={str(path)!r} (WordNet 3.0 files, NLTK backend) and "
                f"lmf={str(lmf)!r} (a WN-LMF file, wn backend); give one of them"
            )
        from lexkd.lexical.wordnet_lmf import LMFWordNet

        return LMFWordNet(lmf, lexicon=lexicon)
    if lexicon is not None:
        raise ValueError(
            f"lexicon={lexicon!r} selects a lexicon of a WN-LMF file; give the file as lmf= too"
        )
    return WordNet(path)
