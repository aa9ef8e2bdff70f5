"""Word sense disambiguation data: the unified format of Raganato et al. (2017), and SemCor.

The unified format (Raganato, Camacho-Collados and Navigli 2017, "Word Sense Disambiguation:
A Unified Evaluation Framework and Empirical Comparison", EACL) is a pair of files:

``NAME.data.xml``::

    <corpus lang="en" source="semeval2007">
    <text id="d000">
    <sentence id="d000.s000">
    <wf lemma="you" pos="PRON">Your</wf>
    <instance id="d000.s000.t000" lemma="refer" pos="VERB">referred</instance>
    ...

``NAME.gold.key.txt``: one line ``instance_id key1 [key2 ...]`` per instance, with WordNet
3.0 sense keys. Token POS tags are the universal tags of Petrov et al. (2012) (``NOUN VERB
ADJ ADV PRON DET ADP NUM CONJ PRT . X``); instances are always ``NOUN VERB ADJ ADV``.
Multiword targets keep spaces in the text and underscores in the lemma (``pointed out`` /
``point_out``). :func:`read_raganato` reads any set in this format (Senseval-2/3,
SemEval-2007/2013/2015, ALL, or SemCor converted by :func:`convert_semcor_naf`).

SemCor 3.0 in NAF (the ``wsd_corpora`` package of Izquierdo and Postma) is converted by
:func:`convert_semcor_naf`; its docstring lists every decision and what is skipped.
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

# The records (WSDCorpus, ...) and the key-file functions live in lexkd.tasks.wsd.corpus.
from lexkd.tasks.wsd.corpus import (
    INSTANCE_POS,
    WSDCorpus,
    WSDFormatError,
    WSDInstance,
    WSDSentence,
    WSDToken,
    _existing,
    read_key_file,
    write_key_file,
)
from lexkd.utils.io import write_atomically

__all__ = [
    "INSTANCE_POS",
    "PTB_TO_UNIVERSAL",
    "WSDCorpus",
    "WSDFormatError",
    "WSDInstance",
    "WSDSentence",
    "WSDToken",
    "convert_semcor_naf",
    "read_key_file",
    "read_raganato",
    "write_key_file",
    "write_raganato",
]

logger = logging.getLogger(__name__)

#: Penn Treebank -> universal tags (Petrov, Das and McDonald 2012, en-ptb.map), plus the
#: older Brown-style tags SemCor also uses (NP, NPS, PP). Unknown tags become ``X``.
PTB_TO_UNIVERSAL: dict[str, str] = {
    **dict.fromkeys(["!", "#", "$", "''", "(", ")", ",", "-LRB-", "-RRB-", ".", ":", "?", "``"], "."),
    **dict.fromkeys(["NN", "NNS", "NNP", "NNPS", "NP", "NPS"], "NOUN"),
    **dict.fromkeys(["VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "MD"], "VERB"),
    **dict.fromkeys(["JJ", "JJR", "JJRJR", "JJS"], "ADJ"),
    **dict.fromkeys(["RB", "RBR", "RBS", "WRB"], "ADV"),
    **dict.fromkeys(["PRP", "PRP$", "WP", "WP$", "PP", "PR"], "PRON"),
    **dict.fromkeys(["DT", "PDT", "WDT", "EX"], "DET"),
    **dict.fromkeys(["POS", "RP", "TO", "PRT"], "PRT"),
    **dict.fromkeys(["FW", "LS", "SYM", "UH", "WH"], "X"),
    "CC": "CONJ",
    "CD": "NUM",
    "IN": "ADP",
}
# The ss_type digit of a sense key (lemma%<digit>:...) -> universal tag (5 = satellite).
_KEY_POS = {"1": "NOUN", "2": "VERB", "3": "ADJ", "4": "ADV", "5": "ADJ"}
# A syntactic marker on an adjective head word, e.g. single(a) in only%5:00:00:single(a):00.
_MARKER = re.compile(r"\((?:a|p|ip)\)")


# --------------------------------------------------------------------------- file helpers


def _parse_error(path, err: ET.ParseError) -> WSDFormatError:
    """A WSDFormatError naming file, line and (1-based) column of an XML syntax error."""
    line, column = err.position
    reason = str(err).split(": line ")[0]
    return WSDFormatError(f"{path}: malformed XML at line {line}, column {column + 1}: {reason}; "
                          "fix the file (or re-create it from its source)")


# --------------------------------------------------------------------------- reading


def _token(path, elem: ET.Element, sentence_id: str, position: int) -> WSDToken:
    """A WSDToken from a ``<wf>`` or ``<instance>`` element; instances are validated."""
    text = elem.text or ""
    if elem.tag == "wf":
        return WSDToken(text, elem.get("lemma", ""), elem.get("pos", ""), None)
    where = f"{path}: <instance> {position} of sentence {sentence_id!r}"
    iid, lemma, pos = elem.get("id"), elem.get("lemma"), elem.get("pos")
    if not iid or not lemma or not pos:
        raise WSDFormatError(f"{where} lacks an id, lemma or pos attribute; all three are required")
    if pos not in INSTANCE_POS:
        raise WSDFormatError(f"{path}: instance {iid!r} has pos {pos!r}; instances must be one of "
                             f"{', '.join(INSTANCE_POS)} (map the tag before writing the file)")
    return WSDToken(text, lemma, pos, iid)


def _iterparse(path: Path) -> Iterator[tuple[str, ET.Element]]:
    """``ET.iterparse`` start/end events, with ParseError turned into WSDFormatError."""
    try:
        yield from ET.iterparse(path, events=("start", "end"))
    except ET.ParseError as err:
        raise _parse_error(path, err) from err


def _read_sentences(path: Path) -> dict[str, WSDSentence]:
    """All ``<sentence>`` elements of a data file, validated, in file order."""
    sentences: dict[str, WSDSentence] = {}
    instance_ids: set[str] = set()
    sentence_id, tokens = None, []
    for event, elem in _iterparse(path):
        if event == "start":
            if elem.tag == "sentence":
                sentence_id, tokens = elem.get("id"), []
                if not sentence_id:
                    raise WSDFormatError(f"{path}: <sentence> number {len(sentences) + 1} has no id")
                if sentence_id in sentences:
                    raise WSDFormatError(f"{path}: duplicate sentence id {sentence_id!r}")
            elif elem.tag in ("wf", "instance") and sentence_id is None:
                raise WSDFormatError(f"{path}: <{elem.tag}> outside a <sentence> (after sentence "
                                     f"{next(reversed(sentences), None)!r}); wrap it in one")
            continue
        if elem.tag in ("wf", "instance") and sentence_id is not None:
            token = _token(path, elem, sentence_id, len(tokens))
            if token.instance_id in instance_ids:
                raise WSDFormatError(f"{path}: duplicate instance id {token.instance_id!r}")
            if token.instance_id:
                instance_ids.add(token.instance_id)
            tokens.append(token)
        elif elem.tag == "sentence":
            sentences[sentence_id] = WSDSentence(sentence_id, tuple(tokens))
            sentence_id = None
            elem.clear()  # keep memory flat on big files
    if not sentences:
        raise WSDFormatError(f"{path}: no <sentence> elements; is it a Raganato .data.xml file?")
    return sentences


def _check_keys(data_xml, gold_key, ids: list[str], keys: dict, allow_missing: bool) -> None:
    """Errors for key ids absent from the data, and for unkeyed instances unless allowed."""
    known = set(ids)
    extra = [iid for iid in keys if iid not in known]
    if extra:
        raise WSDFormatError(f"{gold_key}: {len(extra)} ids are not instances of {data_xml} "
                             f"(e.g. {', '.join(extra[:5])}); is it the key file of this data?")
    missing = [iid for iid in ids if iid not in keys]
    if missing and not allow_missing:
        raise WSDFormatError(f"{gold_key}: {len(missing)} instances of {data_xml} have no key "
                             f"(e.g. {', '.join(missing[:5])}); pass --allow_missing_keys "
                             "(scripts/eval_wsd.py) or allow_missing_keys=True (read_raganato) to leave them out")


def default_key_file(data_xml: str | os.PathLike) -> str | None:
    """``X.gold.key.txt`` beside ``X.data.xml`` when that file exists (the unified framework's
    naming: ``semeval2007.data.xml`` + ``semeval2007.gold.key.txt``), else None."""
    data_xml = str(data_xml)
    if not data_xml.endswith(".data.xml"):
        return None
    key = Path(data_xml[: -len(".data.xml")] + ".gold.key.txt")
    return str(key) if key.is_file() else None


def read_raganato(data_xml: str | os.PathLike, gold_key: str | os.PathLike | None = None, *,
                  name: str | None = None, allow_missing_keys: bool = False) -> WSDCorpus:
    """Read a data set in the unified format of Raganato et al. (2017).

    Args:
        data_xml: the ``NAME.data.xml`` file (parsed incrementally with ``iterparse``).
        gold_key: its ``NAME.gold.key.txt``; None leaves ``gold_keys`` empty.
        name: the corpus name; default the file name without ``.data.xml``.
        allow_missing_keys: with a key file, instances without a key are dropped from
            ``instances`` (their tokens stay, with ``instance_id`` None) and counted in
            ``corpus.skipped["missing_gold_key"]``, instead of raising.

    Returns:
        a WSDCorpus; ``instances`` in file order, each with its ``index`` in its sentence.

    Raises:
        FileNotFoundError: a file is missing.
        WSDFormatError: malformed XML (file, line, column), a duplicate sentence or instance
            id, an instance without id/lemma/pos or with a pos other than NOUN VERB ADJ ADV,
            key-file ids that are not instances, or instances without a key (unless allowed).
    """
    data_xml = _existing(data_xml, "WSD data file")
    sentences = _read_sentences(data_xml)
    keys = read_key_file(gold_key) if gold_key is not None else None
    ids = [t.instance_id for s in sentences.values() for t in s.tokens if t.instance_id]
    skipped: Counter = Counter()
    if keys is not None:
        _check_keys(data_xml, gold_key, ids, keys, allow_missing_keys)
        if len(keys) < len(ids):
            sentences = _drop_unkeyed(sentences, keys)
            skipped["missing_gold_key"] = len(ids) - len(keys)
            logger.warning("%s: skipped %d instances without a gold key", data_xml, len(ids) - len(keys))
    instances = [
        WSDInstance(token.instance_id, sentence.id, index, token.lemma, token.pos, token.text,
                    keys[token.instance_id] if keys is not None else ())
        for sentence in sentences.values()
        for index, token in enumerate(sentence.tokens)
        if token.instance_id
    ]
    if name is None:
        name = data_xml.name.removesuffix(".xml").removesuffix(".data")
    return WSDCorpus(name, sentences, instances, skipped)


def _drop_unkeyed(sentences: dict[str, WSDSentence], keys: Mapping) -> dict[str, WSDSentence]:
    """Sentences whose instance tokens without a key become plain tokens."""
    def plain(token: WSDToken) -> WSDToken:
        if token.instance_id and token.instance_id not in keys:
            return WSDToken(token.text, token.lemma, token.pos, None)
        return token

    return {sid: WSDSentence(sid, tuple(plain(t) for t in s.tokens)) for sid, s in sentences.items()}


# --------------------------------------------------------------------------- writing


def _text_element(text_id: str, sentences: Iterable[WSDSentence], source: str | None = None) -> ET.Element:
    """A ``<text>`` element holding ``sentences``, one element per line."""
    text = ET.Element("text", {"id": text_id} | ({"source": source} if source else {}))
    for sentence in sentences:
        node = ET.SubElement(text, "sentence", id=sentence.id)
        for token in sentence.tokens:
            if token.instance_id:
                attrs = {"id": token.instance_id, "lemma": token.lemma, "pos": token.pos}
                ET.SubElement(node, "instance", attrs).text = token.text
            else:
                ET.SubElement(node, "wf", lemma=token.lemma, pos=token.pos).text = token.text
    ET.indent(text, space="")
    return text


def _corpus_head(name: str) -> str:
    """The XML declaration and the opening ``<corpus>`` tag."""
    source = ET.tostring(ET.Element("corpus", lang="en", source=name), encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8" ?>\n' + source.replace(" />", ">") + "\n"


def _texts(sentences: Iterable[WSDSentence]) -> dict[str, list[WSDSentence]]:
    """Sentences grouped by text id: the part of the sentence id before the first dot."""
    texts: dict[str, list[WSDSentence]] = {}
    for sentence in sentences:
        text_id = sentence.id.split(".")[0] if "." in sentence.id else "d000"
        texts.setdefault(text_id, []).append(sentence)
    return texts


def write_raganato(corpus: WSDCorpus, data_xml: str | os.PathLike,
                   gold_key: str | os.PathLike | None = None) -> None:
    """Write ``corpus`` in the unified format; each file is written atomically.

    Sentences are grouped into ``<text>`` elements by the part of their id before the first
    dot (``d000.s001`` -> ``d000``; ids without a dot all go to ``d000``). The gold key file
    has one line per instance, in corpus order.

    Raises:
        ValueError: ``gold_key`` is given but some instances have no gold key.
    """
    if gold_key is not None:
        unkeyed = [x.id for x in corpus.instances if not x.gold_keys]
        if unkeyed:
            raise ValueError(f"corpus {corpus.name!r}: {len(unkeyed)} instances have no gold key "
                             f"(e.g. {', '.join(unkeyed[:5])}); write without gold_key")

    def write_data(handle: IO[str]) -> None:
        handle.write(_corpus_head(corpus.name))
        for text_id, sentences in _texts(corpus.sentences.values()).items():
            handle.write(ET.tostring(_text_element(text_id, sentences), encoding="unicode") + "\n")
        handle.write("</corpus>\n")

    write_atomically(data_xml, write_data)
    if gold_key is not None:
        write_key_file({x.id: x.gold_keys for x in corpus.instances}, gold_key)


# --------------------------------------------------------------------------- SemCor (NAF)


def _naf_documents(source: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """(name, binary file) for each ``*.naf`` document of a folder, tar archive or file."""
    if source.is_dir():
        for path in sorted(source.rglob("*.naf")):
            with open(path, "rb") as handle:
                yield path.relative_to(source).as_posix(), handle
    elif source.is_file() and tarfile.is_tarfile(source):
        with tarfile.open(source, "r|*") as archive:  # streamed, in archive order
            for member in archive:
                if member.isfile() and member.name.endswith(".naf"):
                    yield member.name, archive.extractfile(member)
    elif source.is_file() and source.suffix == ".naf":
        with open(source, "rb") as handle:
            yield source.name, handle
    else:
        raise FileNotFoundError(f"SemCor source {str(source)!r} is not a folder, tar archive or "
                                ".naf file; give e.g. ../shared/data/wsd/semcor3.0_naf.tar.xz")


class _KeyChecker:
    """Sense keys checked against WordNet 3.0 (cached), with the syntactic-marker repair."""

    def __init__(self, wordnet) -> None:
        from lexkd.lexical.wordnet import UnknownSenseKeyError

        self._wordnet, self._unknown_error = wordnet, UnknownSenseKeyError
        self._known: dict[str, bool] = {}

    def known(self, key: str) -> bool:
        if key not in self._known:
            try:
                self._wordnet.synset_from_sense_key(key)
                self._known[key] = True
            except self._unknown_error:
                self._known[key] = False
        return self._known[key]

    def resolve(self, key: str, stats: Counter) -> str | None:
        """``key``, its repaired form, or None (the reason counted in ``stats``)."""
        if self.known(key):
            return key
        repaired = _MARKER.sub("", key)
        if repaired != key and self.known(repaired):
            stats["repaired_syntactic_marker"] += 1
            return repaired
        stats["unknown_sense_key"] += 1
        return None


def _naf_tokens(root: ET.Element, checker: _KeyChecker, skipped: Counter,
                unknown: Counter) -> dict[str, list[tuple[WSDToken, tuple[str, ...]]]]:
    """Tokens (with their valid keys, empty for plain words) of a NAF document, by ``sent``."""
    terms = {}
    for term in root.iter("term"):
        targets = [t.get("id") for t in term.iter("target")]
        if len(targets) == 1:
            terms[targets[0]] = term
        elif any(r.get("reftype") == "lexical_key" for r in term.iter("externalRef")):
            skipped["multi_token_term"] += 1  # absent from SemCor 3.0: its MWEs are one <wf>
    sentences: dict[str, list] = {}
    for wf in root.iter("wf"):
        text = (wf.text or "").replace("_", " ")
        term = terms.get(wf.get("id"))
        keys: list[str] = []
        if term is None:  # punctuation and a few abbreviations carry no term
            lemma, pos = text.lower(), "X" if any(c.isalnum() for c in text) else "."
        else:
            lemma, tag = term.get("lemma", ""), term.get("pos", "")
            pos = PTB_TO_UNIVERSAL.get(tag.split("|")[0], "X")
            for ref in term.iter("externalRef"):
                if ref.get("reftype") == "lexical_key":
                    key = f"{lemma}%{ref.get('reference')}"
                    resolved = checker.resolve(key, skipped)
                    if resolved is None:
                        unknown[key] += 1
                    else:
                        keys.append(resolved)
        if keys:
            pos = _KEY_POS[keys[0].split("%", 1)[1][0]]
        sentences.setdefault(wf.get("sent"), []).append((WSDToken(text, lemma, pos, None), tuple(keys)))
    return sentences


def _convert_document(root: ET.Element, doc_index: int, checker: _KeyChecker, stats: Counter,
                      unknown: Counter) -> tuple[list[WSDSentence], dict[str, tuple[str, ...]]]:
    """One NAF document as Raganato sentences (``dNNN.sNNN``) and its instance keys."""
    sentences, gold = [], {}
    grouped = _naf_tokens(root, checker, stats, unknown)
    for s_index, rows in enumerate(grouped.values()):
        sentence_id = f"d{doc_index:03d}.s{s_index:03d}"
        tokens, n_instances = [], 0
        for token, keys in rows:
            if keys:
                iid = f"{sentence_id}.t{n_instances:03d}"
                n_instances += 1
                token = WSDToken(token.text, token.lemma, token.pos, iid)
                gold[iid] = keys
            tokens.append(token)
        sentences.append(WSDSentence(sentence_id, tuple(tokens)))
    return sentences, gold


def convert_semcor_naf(archive_or_folder: str | os.PathLike, data_xml: str | os.PathLike,
                       gold_key: str | os.PathLike, *, wordnet=None) -> dict:
    """Convert SemCor 3.0 in NAF to the unified format (``data_xml`` + ``gold_key``).

    Input: the ``semcor3.0_naf.tar.xz`` archive (read in place, streamed with ``tarfile``),
    a folder of ``*.naf`` files (sorted by path), or one ``.naf`` file. Each document
    becomes a ``<text id="dNNN" source="brown1/br-a01">``; its ``<wf sent=...>`` tokens
    become ``<sentence id="dNNN.sNNN">`` elements in text order.

    Decisions:

    - A term with a ``lexical_key`` reference is an instance; its sense key is
      ``lemma + "%" + lexical_key``, checked against WordNet 3.0. A key whose adjective head
      word carries a syntactic marker (``only%5:00:00:single(a):00``) is retried without it
      and counted as ``repaired_syntactic_marker``; a key still unknown to WordNet 3.0 (e.g.
      ``n't%4:02:00::``, the SemCor senses without a WordNet 3.0 synset) is skipped, counted
      (per key) as ``unknown_sense_key``, and a token left without a valid key is written as
      a plain ``<wf>``.
    - Instance POS comes from the sense key (1 NOUN, 2 VERB, 3/5 ADJ, 4 ADV); other tokens'
      Penn Treebank tags are mapped with :data:`PTB_TO_UNIVERSAL` (``A|B`` uses ``A``).
      Tokens without a term (punctuation, a few abbreviations) get their lower-cased text as
      lemma and ``.`` (no letter or digit) or ``X``.
    - Multiword expressions are single ``<wf>`` tokens in SemCor (``took_place``); they stay
      one token, with spaces in the text (``took place``) and underscores in the lemma, as
      in Raganato's files. A sense-tagged term spanning several tokens (absent from SemCor
      3.0) is not an instance: counted as ``multi_token_term``, its tokens stay plain.

    Args:
        wordnet: a ``lexkd.lexical.wordnet.WordNet``; default ``get_wordnet()``.

    Returns:
        stats: ``documents``, ``sentences``, ``tokens``, ``instances``, ``instance_pos``
        (counts by POS), ``skipped`` and ``repaired`` (counts by reason) and
        ``top_unknown_keys`` (the 20 most frequent unknown keys).

    Raises:
        FileNotFoundError: the source is missing or of an unknown kind.
        WSDFormatError: a NAF document is malformed XML (document, line, column).
        lexkd.lexical.wordnet.WordNetNotFoundError: WordNet 3.0 is not installed.
    """
    if wordnet is None:
        from lexkd.lexical.wordnet import get_wordnet

        wordnet = get_wordnet()
    source, checker = Path(archive_or_folder), _KeyChecker(wordnet)
    if not source.exists():
        raise FileNotFoundError(f"SemCor source {str(source)!r} does not exist; give the "
                                "semcor3.0_naf.tar.xz archive or a folder of .naf files")
    stats, reasons, unknown, pos_counts = Counter(), Counter(), Counter(), Counter()
    write_atomically(data_xml, lambda data: _write_semcor(
        source, data, gold_key, checker, stats, reasons, unknown, pos_counts))
    repaired = {"syntactic_marker": reasons.pop("repaired_syntactic_marker", 0)}
    return {**{k: stats[k] for k in ("documents", "sentences", "tokens", "instances")},
            "instance_pos": dict(pos_counts.most_common()), "skipped": dict(reasons),
            "repaired": repaired, "top_unknown_keys": dict(unknown.most_common(20))}


def _write_semcor(source: Path, data: IO[str], gold_key, checker: _KeyChecker, stats: Counter,
                  reasons: Counter, unknown: Counter, pos_counts: Counter) -> None:
    """Stream every document into ``data``; the gold key file is written atomically at the end."""
    gold_all: dict[str, tuple[str, ...]] = {}
    data.write(_corpus_head("semcor"))
    for doc_index, (name, handle) in enumerate(_naf_documents(source)):
        try:
            root = ET.parse(handle).getroot()
        except ET.ParseError as err:
            raise _parse_error(name, err) from err
        sentences, gold = _convert_document(root, doc_index, checker, reasons, unknown)
        label = "/".join(Path(name).with_suffix("").parts[-2:])
        data.write(ET.tostring(_text_element(f"d{doc_index:03d}", sentences, label), encoding="unicode") + "\n")
        stats.update(documents=1, sentences=len(sentences), instances=len(gold),
                     tokens=sum(len(s.tokens) for s in sentences))
        pos_counts.update(t.pos for s in sentences for t in s.tokens if t.instance_id)
        gold_all.update(gold)
    data.write("</corpus>\n")
    if not gold_all:
        raise WSDFormatError(f"{source}: no sense-tagged terms found; is it SemCor in NAF?")
    write_key_file(gold_all, gold_key)
