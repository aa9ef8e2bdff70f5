"""The NLTK backend of lexkd's WordNet API: Princeton WordNet 3.0 read by NLTK's reader
(the search order and staging are described in :mod:`lexkd.lexical.wordnet`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from lexkd.lexical.senses import (
    _POS_ORDER,
    _SENSE_KEY_RE,
    EXPECTED_VERSION,
    LemmaNotInSynsetError,
    Sense,
    SenseCountUnavailableError,
    UnknownSenseKeyError,
    UnknownSynsetError,
    WordNetVersionError,
    _normalize_lemma,
    normalize_pos,
)
from lexkd.lexical.wordnet_files import WordNetNotFoundError, _locate_and_load


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


