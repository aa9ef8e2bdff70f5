"""WN-LMF wordnets (e.g. Open English WordNet) through the ``wn`` package, with the API of
:class:`lexkd.lexical.wordnet.WordNet`.

Open it with ``get_wordnet(lmf="english-wordnet-2024.xml.gz")`` or ``LMFWordNet(path)``. The
file (WN-LMF 1.0-1.4 XML, plain, gzip or xz, as ``wn.add`` reads it) is added once to a ``wn``
database in lexkd's cache, ``<cache>/wn_data`` (``$LEXKD_CACHE`` or ``~/.cache/lexkd``, the
cache of :mod:`lexkd.lexical.wordnet_files`), never to ``wn``'s own default folder: lexkd points
``wn.config.data_directory`` there for each call and restores the previous folder afterwards.
A manifest there records the SHA-256 of every file added, so opening the same file again adds
nothing; a changed file whose lexicon (id and version) is already there replaces it. Nothing is
downloaded: ``wn.download`` is never called.

What the methods return, and how it differs from the NLTK backend:

- **Synset names** are the file's ``Synset`` ids (``"oewn-08437235-n"``), not NLTK's
  ``"bank.n.01"``. Methods taking a synset also accept NLTK's alias form
  ``"<lemma>.<pos>.<sense number>"`` (``"bank.n.02"``: the second noun sense of *bank* here).
- **Sense keys**: a WN-LMF ``Sense`` id is not a WordNet sense key. :meth:`LMFWordNet.sense_key`
  returns, in this order: the sense's ``dc:identifier`` when it is a WordNet sense key (OMW's
  PWN exports, EWN 2019/2020); else the key encoded in the sense id (OEWN 2021+:
  ``oewn-bank__1.17.01..`` -> ``bank%1:17:01::``, decoded with ``wn.compat.sensekey.unescape``
  after dropping the ``<lexicon id>-`` prefix, with the OEWN 2025 scheme for lexicons ``wn``
  does not know); else the LMF sense id itself. Only the first two compare with WordNet 3.0
  gold keys (Raganato, SemCor). :meth:`LMFWordNet.synset_from_sense_key` accepts all three.
- **Lemmas** are written with underscores (``depository_financial_institution``), as NLTK does;
  lookups ignore case and accept spaces or underscores, without morphology.
- **Order**: a lemma's senses are in the file's sense order (``n`` attributes, else order within
  the entry), nouns, verbs, adjectives (with satellites), adverbs; entries of one lemma (case
  variants, homographs) in file order. Synsets of other WN-LMF parts of speech (``t c p x u``)
  are not reached by lemma lookups with ``pos=None`` nor by :meth:`LMFWordNet.all_synsets`.
- **Gloss** is the synset's first ``Definition`` (``""`` when it has none); **examples** are the
  synset's ``Example`` elements (examples on senses are not included); **lexname** is the
  ``lexfile`` attribute (WN-LMF 1.1+; ``""`` when absent).
- **Counts**: a sense's count is the sum of its ``Count`` elements (0 when it has none). A lexicon
  without any ``Count`` has no counts: :meth:`LMFWordNet.lemma_count` and
  :meth:`LMFWordNet.senses` raise ``SenseCountUnavailableError``, as the NLTK backend does
  without ``cntlist.rev``.

Not thread-safe (``wn.config`` is process-wide).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from lexkd.lexical.senses import (
    _POS_ORDER,
    _SENSE_KEY_RE,
    LemmaNotInSynsetError,
    Sense,
    SenseCountUnavailableError,
    UnknownSenseKeyError,
    UnknownSynsetError,
    _normalize_lemma,
    normalize_pos,
)
from lexkd.lexical.wordnet_files import _cache_dir
from lexkd.utils.io import file_lock, write_json_atomically

__all__ = ["LMFWordNet", "NotWordNetLMFError", "add_lmf_file", "lmf_data_dir"]

_MANIFEST = "lexkd-lmf-manifest.json"
_MANIFEST_FORMAT = 1
_ALIAS_RE = re.compile(r"^(.+)\.([nvasr])\.(\d+)$")
_SS_TYPE_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}  # 'a' includes satellites
_LMF_HINT = (
    "a WN-LMF file starts with the two lines\n"
    '  <?xml version="1.0" encoding="UTF-8"?>\n'
    '  <!DOCTYPE LexicalResource SYSTEM "http://globalwordnet.github.io/schemas/WN-LMF-1.1.dtd">\n'
    "(Open English WordNet: english-wordnet-2024.xml.gz from "
    "https://github.com/globalwordnet/english-wordnet/releases); for WordNet 3.0 database "
    "files use get_wordnet(path=folder)"
)


class NotWordNetLMFError(ValueError):
    """The file given as a WN-LMF wordnet is not one ``wn`` can read; the message says why."""


def lmf_data_dir() -> Path:
    """The ``wn`` data folder lexkd adds WN-LMF files to: ``<lexkd cache>/wn_data``."""
    return _cache_dir() / "wn_data"


@contextlib.contextmanager
def _wn_database(folder: Path) -> Iterator[None]:
    """Point ``wn.config.data_directory`` at ``folder`` for the block, then restore it."""
    import wn

    previous = wn.config.database_path.parent  # the getter of data_directory would create it
    wn.config.data_directory = folder
    try:
        yield
    finally:
        wn.config.data_directory = previous


def _uses_database(method):
    """Run a :class:`LMFWordNet` method with ``wn`` pointed at the instance's data folder."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _wn_database(self._data_dir):
            return method(self, *args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- adding files


def _checked_file(path: str | os.PathLike) -> Path:
    """``path`` resolved; raises FileNotFoundError unless it is an existing file."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        what = "is a folder" if resolved.is_dir() else "does not exist"
        raise FileNotFoundError(
            f"WN-LMF file {str(resolved)!r} {what}; give the path of a WN-LMF XML file "
            "(.xml, .xml.gz or .xml.xz), e.g. Open English WordNet's english-wordnet-2024.xml.gz"
        )
    return resolved


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_lexicons(path: Path) -> list[tuple[dict, dict]]:
    """Parse ``path`` with ``wn``: (resource, lexicon) pairs; raises NotWordNetLMFError."""
    import wn
    from wn import lmf
    from wn._config import ResourceType
    from wn.project import iterpackages

    found = []
    try:
        for package in iterpackages(path):
            if package.type != ResourceType.WORDNET:
                raise NotWordNetLMFError(f"{str(path)!r} is an ILI file, not a WN-LMF wordnet; {_LMF_HINT}")
            resource = lmf.load(package.resource_file(), progress_handler=None)
            found.extend((resource, lexicon) for lexicon in resource["lexicons"])
    except (wn.Error, OSError, SyntaxError) as err:  # lmf.LMFError is a wn.Error
        raise NotWordNetLMFError(f"{str(path)!r} is not a WN-LMF file wn can read ({err}); {_LMF_HINT}") from err
    if not found:
        raise NotWordNetLMFError(f"{str(path)!r} holds no <Lexicon>; {_LMF_HINT}")
    return found


def _spec(lexicon: dict) -> str:
    return f"{lexicon['id']}:{lexicon['version']}"


def _has_counts(lexicon: dict) -> bool:
    return any(sense.get("counts") for entry in lexicon.get("entries", []) for sense in entry.get("senses", []))


def _read_manifest(folder: Path) -> dict:
    """``{"format": 1, "files": {sha256: {"source": path, "lexicons": {spec: {"counts": bool}}}}}``."""
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    return manifest if manifest.get("format") == _MANIFEST_FORMAT else {"format": _MANIFEST_FORMAT, "files": {}}


def _add(path: Path, digest: str, manifest: dict, present: set[str]) -> dict[str, dict]:
    """Add every lexicon of ``path`` (replacing same-specifier ones) and record it in ``manifest``."""
    import wn

    pairs = _read_lexicons(path)
    for resource in {id(r): r for r, _ in pairs}.values():
        for lexicon in resource["lexicons"]:
            if _spec(lexicon) in present:
                wn.remove(_spec(lexicon), progress_handler=None)  # an older file with the same id:version
        wn.add_lexical_resource(resource, progress_handler=None)
    added = {lex.specifier() for lex in wn.lexicons()}
    lexicons = {_spec(lexicon): {"counts": _has_counts(lexicon)} for _, lexicon in pairs}
    missing = sorted(set(lexicons) - added)
    if missing:
        raise NotWordNetLMFError(
            f"wn did not add {missing} from {str(path)!r} (a lexicon extension whose base lexicon "
            "is not added?); add the base lexicon's file first"
        )
    files = manifest["files"]
    for other in [d for d, entry in files.items() if set(entry["lexicons"]) & set(lexicons)]:
        del files[other]  # those lexicons now come from this file
    files[digest] = {"source": str(path), "lexicons": lexicons}
    return lexicons


def add_lmf_file(path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> dict[str, dict]:
    """Add a WN-LMF file to lexkd's ``wn`` database unless that exact file was added already.

    Args:
        path: a WN-LMF XML file (plain, ``.gz`` or ``.xz``).
        data_dir: the ``wn`` data folder; default :func:`lmf_data_dir`.

    Returns:
        ``{lexicon specifier: {"counts": bool}}`` for the file's lexicons, e.g.
        ``{"oewn:2024": {"counts": False}}``.

    Raises:
        FileNotFoundError: ``path`` is not an existing file.
        NotWordNetLMFError: ``path`` is not a WN-LMF file ``wn`` can read.
    """
    import wn

    source = _checked_file(path)
    folder = Path(data_dir).expanduser().resolve() if data_dir is not None else lmf_data_dir()
    digest = _sha256(source)
    with file_lock(folder, ".lexkd-lmf.lock"), _wn_database(folder):
        manifest = _read_manifest(folder)
        try:
            present = {lex.specifier() for lex in wn.lexicons()}
            known = manifest["files"].get(digest)
            if known is not None and set(known["lexicons"]) <= present:
                return known["lexicons"]
            lexicons = _add(source, digest, manifest, present)
        except wn.DatabaseError as err:
            raise OSError(
                f"the wn database in {folder} is unusable ({err}); delete that folder and lexkd "
                "adds the WN-LMF file again"
            ) from err
        write_json_atomically(manifest, folder / _MANIFEST)
    return lexicons


def _choose_lexicon(lexicons: dict[str, dict], wanted: str | None, path: Path) -> str:
    """The specifier of the lexicon to open; raises ValueError naming the file's lexicons."""
    names = sorted(lexicons)
    if wanted is None:
        if len(names) == 1:
            return names[0]
        raise ValueError(f"{str(path)!r} holds {len(names)} lexicons {names}; pass lexicon= one of them")
    matches = [name for name in names if wanted in (name, name.split(":", 1)[0])]
    if len(matches) != 1:
        raise ValueError(f"lexicon {wanted!r} is not (uniquely) in {str(path)!r}; its lexicons are {names}")
    return matches[0]


# --------------------------------------------------------------------------- the API


class LMFWordNet:
    """A WN-LMF wordnet with the plain-Python API of :class:`lexkd.lexical.wordnet.WordNet`.

    Same methods, arguments, return types and errors; what names and keys are here is in the
    module docstring. Pass it wherever lexkd takes a ``wordnet`` (glosses, WSD, spinning,
    definition modelling).
    """

    def __init__(self, path: str | os.PathLike, *, lexicon: str | None = None,
                 data_dir: str | os.PathLike | None = None) -> None:
        """Add ``path`` to lexkd's ``wn`` database (once, see :func:`add_lmf_file`) and open it.

        Args:
            path: a WN-LMF XML file (plain, ``.gz`` or ``.xz``).
            lexicon: which lexicon of the file (``"id"`` or ``"id:version"``); needed only when
                the file holds more than one.
            data_dir: the ``wn`` data folder; default :func:`lmf_data_dir`.

        Raises:
            FileNotFoundError: ``path`` is not an existing file.
            NotWordNetLMFError: ``path`` is not a WN-LMF file ``wn`` can read.
            ValueError: ``lexicon`` is missing (several lexicons) or not in the file.
            ImportError: the ``wn`` package is not installed (``pip install wn``).
        """
        import wn
        import wn.compat.sensekey

        self._source = _checked_file(path)
        self._data_dir = Path(data_dir).expanduser().resolve() if data_dir is not None else lmf_data_dir()
        lexicons = add_lmf_file(self._source, self._data_dir)
        self._spec = _choose_lexicon(lexicons, lexicon, self._source)
        self._has_counts = bool(lexicons[self._spec]["counts"])
        self._lexicon_id, self._version = self._spec.split(":", 1)
        self._flavor = wn.compat.sensekey.SENSE_ID_LEXICONS.get(self._spec, "oewn-v2")  # how ids encode keys
        with _wn_database(self._data_dir):
            self._wn = wn.Wordnet(lexicon=self._spec, expand="")

    def __repr__(self) -> str:
        return f"LMFWordNet(lexicon={self._spec!r}, source={str(self._source)!r})"

    @property
    def version(self) -> str:
        """The lexicon's version string, e.g. ``"2024"`` for ``oewn:2024``."""
        return self._version

    @property
    def lexicon(self) -> str:
        """The lexicon specifier ``"id:version"``, e.g. ``"oewn:2024"``."""
        return self._spec

    @property
    def source(self) -> str:
        """The WN-LMF file this wordnet was added from."""
        return str(self._source)

    @property
    def staged_root(self) -> None:
        """Always None: nothing is staged for NLTK (the ``wn`` database is :attr:`data_directory`)."""
        return None

    @property
    def data_directory(self) -> str:
        """The ``wn`` data folder holding the database."""
        return str(self._data_dir)

    # ---------------------------------------------------------------- internals

    def _lemma_senses(self, lemma: str, pos: str | None) -> list:
        """``wn`` senses of ``lemma`` (exact, any case), one per synset, in sense order."""
        name = _normalize_lemma(lemma)
        letters = _POS_ORDER if pos is None else (normalize_pos(pos),)
        if not name:
            return []
        words = self._wn.words(name.replace("_", " "))
        if "_" in name:
            words += self._wn.words(name)  # a file spelling multiword lemmas with underscores
        words = [word for word in words if _normalize_lemma(word.lemma()) == name]
        found, seen = [], set()
        for letter in letters:
            accepted = {"a", "s"} if letter == "a" else {letter}
            for word in words:
                for sense in word.senses():
                    synset = sense.synset()
                    if synset.pos in accepted and synset.id not in seen:
                        seen.add(synset.id)
                        found.append(sense)
        return found

    def _synset(self, name: str):
        """The ``wn`` synset called ``name`` (an id or an alias); raises UnknownSynsetError."""
        import wn

        if isinstance(name, str):
            try:
                return self._wn.synset(name)
            except wn.Error:
                pass
            alias = _ALIAS_RE.match(name.strip())
            if alias:
                senses = self._lemma_senses(alias.group(1), alias.group(2))
                number = int(alias.group(3))
                if 1 <= number <= len(senses):
                    return senses[number - 1].synset()
        raise UnknownSynsetError(
            f"unknown synset {name!r} in WN-LMF lexicon {self._spec} ({self._source}); synset names "
            "here are the file's Synset ids, or <lemma>.<pos>.<sense number>"
        )

    def _key_of(self, sense) -> str:
        """The sense key of a ``wn`` sense (the rule of the module docstring)."""
        from wn.compat import sensekey

        identifier = (sense.metadata() or {}).get("identifier")
        if isinstance(identifier, str) and _SENSE_KEY_RE.match(identifier.strip().lower()):
            return identifier.strip()
        body = sense.id.removeprefix(f"{self._lexicon_id}-")
        if "__" in body:
            decoded = sensekey.unescape(body, flavor=self._flavor)
            if _SENSE_KEY_RE.match(decoded.lower()):
                return decoded
        return sense.id

    def _sense_for_key(self, key: str):
        """The ``wn`` sense whose key (or LMF id) is ``key``; raises UnknownSenseKeyError."""
        import wn

        text = key.strip() if isinstance(key, str) else ""
        if text:
            try:
                return self._wn.sense(text)  # an LMF sense id: what sense_key gives without a key
            except wn.Error:
                pass
        lower = text.lower()
        if _SENSE_KEY_RE.match(lower):
            lemma, lex_sense = lower.split("%", 1)
            for sense in self._lemma_senses(lemma, _SS_TYPE_POS[lex_sense[0]]):
                if self._key_of(sense).lower() == lower:
                    return sense
        raise UnknownSenseKeyError(
            f"unknown sense key {key!r} in WN-LMF lexicon {self._spec} ({self._source}); give a "
            "key or sense id that sense_key() returns"
        )

    def _count(self, sense) -> int:
        if not self._has_counts:
            raise SenseCountUnavailableError(
                f"no sense counts: the WN-LMF lexicon {self._spec} in {self._source} has no <Count> "
                "elements; use a file with them, or WordNet 3.0 (get_wordnet()) for SemCor counts"
            )
        return sum(sense.counts())

    # ---------------------------------------------------------------- lookups

    @_uses_database
    def synsets(self, lemma: str, pos: str | None = None) -> list[str]:
        """Synset ids of ``lemma`` in sense order, as :meth:`WordNet.synsets`. Raises ValueError (pos)."""
        return [sense.synset().id for sense in self._lemma_senses(lemma, pos)]

    @_uses_database
    def gloss(self, synset: str) -> str:
        """The first definition of ``synset`` (``""`` if none). Raises UnknownSynsetError."""
        return self._synset(synset).definition() or ""

    @_uses_database
    def examples(self, synset: str) -> list[str]:
        """The synset's example sentences (often empty). Raises UnknownSynsetError."""
        return list(self._synset(synset).examples())

    @_uses_database
    def lemma_names(self, synset: str) -> list[str]:
        """The synset's lemmas in member order, words joined by underscores. Raises UnknownSynsetError."""
        return [lemma.replace(" ", "_") for lemma in self._synset(synset).lemmas()]

    @_uses_database
    def pos(self, synset: str) -> str:
        """The synset's part of speech (``n v a s r``, or another WN-LMF one). Raises UnknownSynsetError."""
        return self._synset(synset).pos

    @_uses_database
    def lexname(self, synset: str) -> str:
        """The synset's ``lexfile`` (``"noun.object"``; ``""`` if absent). Raises UnknownSynsetError."""
        return self._synset(synset).lexfile() or ""

    @_uses_database
    def sense_key(self, lemma: str, synset: str) -> str:
        """The sense key of ``lemma`` in ``synset`` (module docstring: what a key is here).

        Raises:
            UnknownSynsetError: unknown synset.
            LemmaNotInSynsetError: ``lemma`` is not one of the synset's lemmas.
        """
        obj, name = self._synset(synset), _normalize_lemma(lemma)
        for sense in obj.senses():
            if _normalize_lemma(sense.word().lemma()) == name:
                return self._key_of(sense)
        raise LemmaNotInSynsetError(
            f"{lemma!r} is not a lemma of {synset!r} (lemmas: {[x.replace(' ', '_') for x in obj.lemmas()]})"
        )

    @_uses_database
    def sense_keys(self, synset: str) -> list[str]:
        """The sense keys of the synset's lemmas, in member order, one per lemma (any case)."""
        keys: dict[str, str] = {}
        for sense in self._synset(synset).senses():
            keys.setdefault(_normalize_lemma(sense.word().lemma()), self._key_of(sense))
        return list(keys.values())

    @_uses_database
    def synset_from_sense_key(self, key: str) -> str:
        """The synset id of a sense key (case-insensitive) or LMF sense id. Raises UnknownSenseKeyError."""
        return self._sense_for_key(key).synset().id

    @_uses_database
    def lemma_count(self, sense_key: str) -> int:
        """The sense's count: the sum of its ``Count`` elements (0 if it has none).

        Raises:
            UnknownSenseKeyError: unknown key.
            SenseCountUnavailableError: the lexicon has no ``Count`` element at all.
        """
        return self._count(self._sense_for_key(sense_key))

    @_uses_database
    def senses(self, lemma: str, pos: str | None = None) -> list[Sense]:
        """All senses of ``lemma`` in sense order, with gloss, examples and count.

        Raises:
            ValueError: unknown part of speech.
            SenseCountUnavailableError: the lemma has senses and the lexicon has no counts.
        """
        result = []
        for sense in self._lemma_senses(lemma, pos):
            synset = sense.synset()
            result.append(Sense(sense_key=self._key_of(sense), synset=synset.id,
                                gloss=synset.definition() or "", examples=tuple(synset.examples()),
                                count=self._count(sense)))
        return result

    def all_synsets(self, pos: str | None = None) -> Iterator[str]:
        """Every synset id by part of speech (n, v, a with s, r), then file order; the ids are
        read at the call and yielded lazily.

        Raises:
            ValueError: unknown part of speech (raised at the call, not on iteration).
        """
        letters = _POS_ORDER if pos is None else (normalize_pos(pos),)
        with _wn_database(self._data_dir):
            rows = [(synset.id, synset.pos) for synset in self._wn.synsets()]
        accepted = [{"a", "s"} if letter == "a" else {letter} for letter in letters]
        return (name for wanted in accepted for name, tag in rows if tag in wanted)
