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

# The API's data types live in senses, the NLTK backend in wordnet_nltk, the wn (WN-LMF) backend in
# wordnet_lmf, locating and staging the files in wordnet_files; all are re-exported here.
from lexkd.lexical.senses import (
    EXPECTED_VERSION,
    LemmaNotInSynsetError,
    Sense,
    SenseCountUnavailableError,
    UnknownSenseKeyError,
    UnknownSynsetError,
    WordNetVersionError,
    normalize_pos,
)
from lexkd.lexical.wordnet_files import DEBIAN_WORDNET_DIR, WordNetNotFoundError
from lexkd.lexical.wordnet_files import ENV_CACHE as ENV_CACHE
from lexkd.lexical.wordnet_files import ENV_WORDNET_DIR as ENV_WORDNET_DIR
from lexkd.lexical.wordnet_lmf import LMFWordNet
from lexkd.lexical.wordnet_nltk import WordNet

__all__ = [
    "DEBIAN_WORDNET_DIR",
    "EXPECTED_VERSION",
    "LMFWordNet",
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
        return LMFWordNet(lmf, lexicon=lexicon)
    if lexicon is not None:
        raise ValueError(
            f"lexicon={lexicon!r} selects a lexicon of a WN-LMF file; give the file as lmf= too"
        )
    return WordNet(path)
