"""Machine-paraphrased ("spun") text from WordNet synonyms, written in the layout of Zenodo 3608000.

Why: the machine-paraphrase corpus of Wahle et al. (iConference 2022; Foltýnek et al.,
iConference 2020) was made with online spinning tools, SpinBot and SpinnerChief, which
rewrite a text mostly by swapping words for thesaurus synonyms, without regard to context.
:func:`spin_text` imitates that on any real text, and :func:`write_machine_paraphrase_corpus`
writes original and spun paragraphs in the corpus's layout (see :mod:`lexkd.tasks.plagiarism.data`),
so :func:`lexkd.tasks.plagiarism.data.read_machine_paraphrase` reads both alike.

Method (:func:`spin_text`)
--------------------------
1. Tokenise with NLTK tokenizers that need no downloaded data: ``PunktSentenceTokenizer``
   (untrained, given a fixed list of title abbreviations such as ``Mr.``) cuts sentences, and
   ``TreebankWordTokenizer().span_tokenize`` cuts each sentence into words with character
   offsets. Treebank expects one sentence per string (it detaches only a final period),
   hence the sentence step.
2. Content words: tokens that are alphabetic (``str.isalpha``) and not in scikit-learn's
   ``ENGLISH_STOP_WORDS`` (compared in lower case). ``ratio`` is a share of these.
3. Candidates of a content word (:func:`synonyms`): the lemmas of the word's WordNet 3.0
   synsets over every part of speech WordNet has for it, senses ordered by their SemCor tag
   count (most frequent first; ties keep WordNet's order: nouns, verbs, adjectives, adverbs,
   each by sense number), keeping single-word lemmas that are alphabetic, lower case (no
   proper names), not the word itself and not stop words. Senses whose gloss marks a slur or
   an obscenity ("offensive term for ...", "(ethnic slur)") are not used: spinning ``queen``
   must not produce a slur.
4. A content word is replaceable when it has a candidate and is not capitalised inside a
   sentence (a capital after the first word is taken for a name). ``round(ratio * content
   words)`` replaceable words (all of them when fewer) are drawn with ``random.Random(seed)``,
   and each is replaced by a candidate drawn from its first ``max_candidates``; the
   replacement takes the original's case (capitalised stays capitalised, all capitals stay
   all capitals).
5. Everything else is left byte for byte: replacements are spliced in at the tokens'
   offsets, never detokenised, so spacing, punctuation and sentences are those of the input.

Limits (as with the tools it imitates, these make the output clumsy; that is the point, but
know them): no part-of-speech tagging and no word-sense disambiguation, so a verb may get a
noun's synonym (``saw`` -> ``proverb``) and a sense unrelated to the context; no
morphological analysis (lexkd's WordNet API looks lemmas up as written and offers no
``morphy``), so inflected forms (``banks``, ``running``, ``said``) are never replaced and
replacements are always base forms; multiword expressions are neither matched nor produced;
the name heuristic misses names at the start of a sentence and skips capitalised common words
inside titles; untrained Punkt splits after abbreviations outside its short list, which only
changes which word counts as sentence-initial. The commercial tools use their own thesauri
and rules (SpinnerChief's "4W"/"2W" settings aim at every 4th/2nd word), which are not public.

Corpora (:func:`write_machine_paraphrase_corpus`)
-------------------------------------------------
For each chosen source paragraph, one original file and one spun file::

    OUT/train/og/<document>-ORIG-<paragraph>.txt     OUT/train/mg/<document>-SPUN-<paragraph>.txt
    OUT/test/og/...                                  OUT/test/mg/...
    OUT/manifest.json                                settings, counts, document ids per side

``<document>`` is the document's id (its 0-based position in the source corpus, zero-padded,
unless ids are given) and ``<paragraph>`` the paragraph's 0-based position in it. The
train/test split is by source document (``lexkd.data.corpora.split_documents``, fixed seed), never
by paragraph: both files of a paragraph, and all paragraphs of a document, are on one side.
Files are ISO-8859-1, as in the corpus. Characters outside Latin-1 are transliterated by a
fixed rule (:func:`lexkd.tasks.plagiarism.data.to_latin1`: typographic dashes, quotes and primes to
ASCII, then Unicode NFKD with combining marks removed, e.g. ``ā`` -> ``a``); a paragraph with
a character that has no such form (Greek, CJK, music signs, ...) is left out, and the
manifest counts those paragraphs and characters. Paragraphs are chosen by whitespace-separated word count
(``min_words``..``max_words``, a stand-in for the corpus's "at least three sentences"); one
in which nothing could be replaced is left out (its "spun" copy would equal the original),
and counted. The folder is written under a temporary name, the manifest last, then renamed.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nltk.tokenize import PunktSentenceTokenizer, TreebankWordTokenizer
from nltk.tokenize.punkt import PunktParameters
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from lexkd.data.corpora import split_documents
from lexkd.lexical.wordnet import SenseCountUnavailableError, WordNet, get_wordnet
from lexkd.tasks.plagiarism.data import (
    MACHINE_PARAPHRASE_ENCODING,
    ORIGINAL_DIR,
    ORIGINAL_TAG,
    SPUN_DIR,
    SPUN_TAG,
    NotLatin1Error,
    to_latin1,
)

__all__ = ["MANIFEST_NAME", "Replacement", "SpunText", "content_word_spans", "spin_text", "synonyms",
           "write_machine_paraphrase_corpus"]

MANIFEST_NAME = "manifest.json"
_FORMAT = "lexkd machine-paraphrase corpus 1"
# Untrained Punkt, told the common abbreviations of titles so that "Mr. Smith" stays one sentence.
_PUNKT = PunktParameters()
_PUNKT.abbrev_types = {"mr", "mrs", "ms", "dr", "prof", "rev", "st", "jr", "sr", "vs", "etc", "cf", "gen", "col",
                       "capt", "lt", "sgt", "gov", "sen", "rep", "hon", "mt", "ft", "e.g", "i.e"}
_SENTENCES = PunktSentenceTokenizer(_PUNKT)
_WORDS = TreebankWordTokenizer()
# Glosses of slurs and obscenities ("offensive term for ...", "(ethnic slur) ..."): 54 synsets of WordNet 3.0.
_SLUR_GLOSS = re.compile(
    r"\(ethnic slur\)|\b(?:offensive|derogatory|disparaging|vulgar|obscene)\s+(?:term|name|word|expression|slang)s?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Replacement:
    """One replaced word: ``text[start:end]`` of the original was ``original``."""

    start: int
    end: int
    original: str
    replacement: str


@dataclass(frozen=True)
class SpunText:
    """The result of :func:`spin_text`.

    Attributes:
        text: the spun text.
        original: the input text.
        replacements: the replaced words, in text order (offsets into ``original``).
        content_words: the number of content words of the input (the ratio's denominator).
    """

    text: str
    original: str
    replacements: tuple[Replacement, ...]
    content_words: int

    @property
    def ratio(self) -> float:
        """Replaced words / content words (0.0 for a text without content words)."""
        return len(self.replacements) / self.content_words if self.content_words else 0.0


# --------------------------------------------------------------------------- spinning


def _is_stop_word(word: str) -> bool:
    return word.lower() in ENGLISH_STOP_WORDS


def content_word_spans(text: str) -> list[tuple[int, int, bool]]:
    """The content words of ``text`` as ``(start, end, sentence_initial)`` character spans.

    Content words are alphabetic tokens not in scikit-learn's ``ENGLISH_STOP_WORDS``
    (tokenised as in the module docstring); ``sentence_initial`` says whether the token is the
    first word (letters or digits) of its sentence.
    """
    spans = []
    for sent_start, sent_end in _SENTENCES.span_tokenize(text):
        seen_word = False
        for start, end in _WORDS.span_tokenize(text[sent_start:sent_end]):
            token = text[sent_start + start:sent_start + end]
            is_word = any(c.isalnum() for c in token)
            initial, seen_word = is_word and not seen_word, seen_word or is_word
            if token.isalpha() and not _is_stop_word(token):
                spans.append((sent_start + start, sent_start + end, initial))
    return spans


@functools.lru_cache(maxsize=200_000)
def _synonyms(wordnet: WordNet, word: str) -> tuple[str, ...]:
    try:
        senses = sorted(wordnet.senses(word), key=lambda sense: -sense.count)  # stable: ties keep WordNet order
        synsets = [(sense.synset, sense.gloss) for sense in senses]
    except SenseCountUnavailableError:
        synsets = [(synset, wordnet.gloss(synset)) for synset in wordnet.synsets(word)]
    found: dict[str, None] = {}
    for synset, gloss in synsets:
        if _SLUR_GLOSS.search(gloss):
            continue
        for lemma in wordnet.lemma_names(synset):
            if lemma.isalpha() and lemma.islower() and lemma != word and not _is_stop_word(lemma):
                found.setdefault(lemma)
    return tuple(found)


def synonyms(word: str, wordnet: WordNet | None = None) -> tuple[str, ...]:
    """Replacement candidates for ``word``, best first (step 3 of the module docstring).

    Args:
        word: a word as written (looked up in lower case; no morphological analysis).
        wordnet: the WordNet to use (default ``get_wordnet()``).

    Returns:
        lower-case single-word lemmas, without duplicates; empty when WordNet has none.
        Results are cached per (wordnet, word).
    """
    return _synonyms(wordnet or get_wordnet(), word.lower())


def _match_case(original: str, replacement: str) -> str:
    if len(original) > 1 and original.isupper():
        return replacement.upper()
    if original[0].isupper():
        return replacement[0].upper() + replacement[1:]
    return replacement


def spin_text(
    text: str, ratio: float, seed: int | str, wordnet: WordNet | None = None, *, max_candidates: int = 5
) -> SpunText:
    """Rewrite ``text`` by replacing ``ratio`` of its content words with WordNet synonyms.

    See the module docstring for the method and its limits.

    Args:
        text: any English text (one paragraph or more).
        ratio: share of content words to replace, in [0, 1]; fewer are replaced when fewer
            have a synonym (``SpunText.ratio`` gives the share reached).
        seed: seed of ``random.Random`` (int or str); the same text, ratio, seed and
            ``max_candidates`` always give the same output.
        wordnet: the WordNet to use (default ``get_wordnet()``).
        max_candidates: each replacement is drawn uniformly from the word's first
            ``max_candidates`` candidates (1: always the most frequent sense's first lemma).

    Returns:
        a :class:`SpunText`.

    Raises:
        ValueError: ``ratio`` outside [0, 1] or ``max_candidates`` < 1.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio!r}")
    if max_candidates < 1:
        raise ValueError(f"max_candidates must be at least 1, got {max_candidates!r}")
    wordnet = wordnet or get_wordnet()
    rng = random.Random(seed)
    spans = content_word_spans(text)
    replaceable = [
        (start, end) for start, end, initial in spans
        if (initial or not text[start].isupper()) and _synonyms(wordnet, text[start:end].lower())
    ]
    n_target = int(ratio * len(spans) + 0.5)
    chosen = sorted(rng.sample(replaceable, min(n_target, len(replaceable))))
    replacements, pieces, last = [], [], 0
    for start, end in chosen:
        original = text[start:end]
        candidates = _synonyms(wordnet, original.lower())[:max_candidates]
        new = _match_case(original, rng.choice(candidates))
        replacements.append(Replacement(start, end, original, new))
        pieces += [text[last:start], new]
        last = end
    pieces.append(text[last:])
    return SpunText("".join(pieces), text, tuple(replacements), len(spans))


# --------------------------------------------------------------------------- corpora


@dataclass
class _Paragraph:
    document: str
    index: int
    text: str
    spun: SpunText | None = None


def _select_paragraphs(documents, ids, min_words, max_words, max_per_document, seed, stats, not_latin1) -> list[_Paragraph]:
    """Paragraphs within the word range and with a Latin-1 form (counting what is left out)."""
    selected: list[_Paragraph] = []
    for doc_id, paragraphs in zip(ids, documents, strict=True):
        kept = []
        for index, paragraph in enumerate(paragraphs):
            if not min_words <= len(paragraph.split()) <= max_words:
                stats["paragraphs_outside_word_range"] += 1
                continue
            try:
                text, changed = to_latin1(paragraph)
            except NotLatin1Error as err:
                stats["paragraphs_not_latin1"] += 1
                not_latin1.update(err.characters)
                continue
            stats["latin1_transliterated_characters"] += changed
            kept.append(_Paragraph(doc_id, index, text))
        if max_per_document is not None and len(kept) > max_per_document:
            stats["paragraphs_over_document_limit"] += len(kept) - max_per_document
            sample = random.Random(f"{seed}:{doc_id}:select").sample(range(len(kept)), max_per_document)
            kept = [kept[i] for i in sorted(sample)]
        selected += kept
    return selected


def _spin_paragraphs(paragraphs, ratio, seed, wordnet, max_candidates, stats) -> list[_Paragraph]:
    """Spin every paragraph (seeded per paragraph); those left unchanged are dropped."""
    kept = []
    for paragraph in paragraphs:
        spun = spin_text(paragraph.text, ratio, f"{seed}:{paragraph.document}:{paragraph.index}",
                         wordnet, max_candidates=max_candidates)
        if not spun.replacements:
            stats["paragraphs_unchanged"] += 1
            continue
        paragraph.spun = spun
        kept.append(paragraph)
    return kept


class _CorpusFolder:
    """Writes the corpus into a folder (``save_pretrained`` for ``save_pretrained_atomically``)."""

    def __init__(self, sides: dict[str, list[_Paragraph]], manifest: dict):
        self.sides, self.manifest = sides, manifest

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(directory, 0o777 & ~umask)  # mkdtemp makes it private (0700)
        for side, paragraphs in self.sides.items():
            for folder in (ORIGINAL_DIR, SPUN_DIR):
                (directory / side / folder).mkdir(parents=True)
            for p in paragraphs:
                name = f"{p.document}-{{}}-{p.index}.txt"
                original = directory / side / ORIGINAL_DIR / name.format(ORIGINAL_TAG)
                original.write_bytes((p.text + "\n").encode(MACHINE_PARAPHRASE_ENCODING))
                spun = directory / side / SPUN_DIR / name.format(SPUN_TAG)
                spun.write_bytes((p.spun.text + "\n").encode(MACHINE_PARAPHRASE_ENCODING))
        # Last: marks the folder complete (the folder itself is renamed into place afterwards).
        (directory / MANIFEST_NAME).write_text(json.dumps(self.manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def _check_settings(ratio, test_fraction, min_words, max_words, max_per_document, ids, n_documents) -> None:
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words!r} and {max_words!r}")
    if max_per_document is not None and max_per_document < 1:
        raise ValueError(f"max_paragraphs_per_document must be at least 1, got {max_per_document!r}")
    if len(ids) != n_documents or len(set(ids)) != len(ids):
        raise ValueError(f"need {n_documents} distinct document ids, got {len(set(ids))} distinct of {len(ids)}")
    for doc_id in ids:
        if not doc_id or ORIGINAL_TAG in doc_id or SPUN_TAG in doc_id or any(c in doc_id for c in '/\\:*?"<>| '):
            raise ValueError(f"document id {doc_id!r} cannot be used in a file name (empty, contains "
                             f"{ORIGINAL_TAG}/{SPUN_TAG}, a space or one of / \\ : * ? \" < > |)")


def write_machine_paraphrase_corpus(
    documents: Sequence[Sequence[str]],
    out_dir: str | os.PathLike,
    ratio: float = 0.5,
    seed: int = 42,
    *,
    wordnet: WordNet | None = None,
    test_fraction: float = 0.2,
    min_words: int = 40,
    max_words: int = 300,
    max_paragraphs_per_document: int | None = None,
    max_candidates: int = 5,
    document_ids: Sequence[str] | None = None,
    source: str = "",
    overwrite: bool = False,
) -> dict:
    """Write a machine-paraphrase corpus (originals and spun copies) in the Zenodo 3608000 layout.

    Layout, paragraph choice, Latin-1 rule and atomicity: see the module docstring. Each
    paragraph is spun with :func:`spin_text` seeded by ``"<seed>:<document>:<paragraph>"``, so
    its output does not depend on the other paragraphs.

    Args:
        documents: the source corpus, documents as lists of paragraphs (as returned by
            ``lexkd.data.corpora.load_corpus``).
        out_dir: the corpus folder to create.
        ratio: share of content words to replace, in (0, 1].
        seed: seed of the document split, of paragraph sampling and of the spinning.
        wordnet: the WordNet to use (default ``get_wordnet()``).
        test_fraction: share of documents in ``test/``, in (0, 1).
        min_words, max_words: paragraphs with fewer or more whitespace-separated words are
            left out.
        max_paragraphs_per_document: keep at most this many paragraphs of a document (a
            seeded sample, in document order); None keeps all.
        max_candidates: see :func:`spin_text`.
        document_ids: file-name ids of the documents (default: zero-padded positions).
        source: where the documents came from, recorded in the manifest.
        overwrite: replace an existing ``out_dir`` (otherwise it is an error).

    Returns:
        the manifest (also written to ``out_dir/manifest.json``): settings, ``counts``
        (documents, paragraphs, content words, words replaced, realised ratio, per side),
        ``skipped`` (what was left out and why) and the document ids of each side.

    Raises:
        FileExistsError: ``out_dir`` exists and ``overwrite`` is false.
        ValueError: a setting out of range, unusable document ids, or fewer than two
            documents with a usable paragraph (the split needs two).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} exists; choose another folder or pass overwrite=True")
    width = max(5, len(str(len(documents) - 1)))
    ids = [str(i) for i in document_ids] if document_ids is not None else [f"{i:0{width}d}" for i in range(len(documents))]
    _check_settings(ratio, test_fraction, min_words, max_words, max_paragraphs_per_document, ids, len(documents))
    wordnet = wordnet or get_wordnet()
    stats, not_latin1 = Counter(), Counter()
    paragraphs = _select_paragraphs(documents, ids, min_words, max_words, max_paragraphs_per_document, seed,
                                    stats, not_latin1)
    paragraphs = _spin_paragraphs(paragraphs, ratio, seed, wordnet, max_candidates, stats)
    used = list(dict.fromkeys(p.document for p in paragraphs))
    stats["documents_without_paragraphs"] = len(documents) - len(used)
    if len(used) < 2:
        raise ValueError(f"only {len(used)} document(s) of {len(documents)} have a paragraph of "
                         f"{min_words}-{max_words} words that could be spun; need at least 2 to split")
    train_ids, test_ids = split_documents(used, test_fraction, seed)
    test_set = set(test_ids)
    sides = {"train": [p for p in paragraphs if p.document not in test_set],
             "test": [p for p in paragraphs if p.document in test_set]}
    settings = {"source": source, "ratio": ratio, "seed": seed, "test_fraction": test_fraction,
                "min_words": min_words, "max_words": max_words,
                "max_paragraphs_per_document": max_paragraphs_per_document, "max_candidates": max_candidates}
    manifest = _manifest(sides, {"train": train_ids, "test": test_ids}, settings, stats, not_latin1)
    # Imported here: lexkd.data.tokenization imports transformers, which spinning and reading do not need.
    from lexkd.utils.io import save_pretrained_atomically

    save_pretrained_atomically(_CorpusFolder(sides, manifest), out_dir)
    return manifest


def _manifest(sides: dict, side_ids: dict, settings: dict, stats: Counter, not_latin1: Counter) -> dict:
    """The manifest: format, layout, method, settings, counts, what was skipped, split ids."""
    all_paragraphs = [p for side in sides.values() for p in side]
    content = sum(p.spun.content_words for p in all_paragraphs)
    replaced = sum(len(p.spun.replacements) for p in all_paragraphs)
    return {
        "format": _FORMAT,
        "layout": f"<side>/{ORIGINAL_DIR}/<document>-{ORIGINAL_TAG}-<paragraph>.txt and "
                  f"<side>/{SPUN_DIR}/<document>-{SPUN_TAG}-<paragraph>.txt, {MACHINE_PARAPHRASE_ENCODING} "
                  "(Wahle et al. 2022, Zenodo record 3608000); read with lexkd.tasks.plagiarism.data.read_machine_paraphrase",
        "method": "WordNet 3.0 synonym substitution of content words (lexkd.tasks.plagiarism.spinning.spin_text)",
        **settings,
        "counts": {
            "documents": sum(len(ids) for ids in side_ids.values()),
            "paragraphs": len(all_paragraphs),
            "files": 2 * len(all_paragraphs),
            "content_words": content,
            "words_replaced": replaced,
            "realised_ratio": round(replaced / content, 4) if content else 0.0,
            **{side: {"documents": len(side_ids[side]), "paragraphs": len(paragraphs)}
               for side, paragraphs in sides.items()},
        },
        "skipped": {
            "documents_without_paragraphs": stats["documents_without_paragraphs"],
            "paragraphs_outside_word_range": stats["paragraphs_outside_word_range"],
            "paragraphs_over_document_limit": stats["paragraphs_over_document_limit"],
            "paragraphs_unchanged": stats["paragraphs_unchanged"],
            "paragraphs_not_latin1": stats["paragraphs_not_latin1"],
            "not_latin1_characters": {f"U+{ord(c):04X} {c}": n for c, n in not_latin1.most_common()},
        },
        "latin1_transliterated_characters": stats["latin1_transliterated_characters"],
        "documents": side_ids,
    }
