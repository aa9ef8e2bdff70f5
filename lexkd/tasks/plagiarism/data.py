"""Plagiarism detection data: paraphrase plagiarism pairs, and machine-paraphrase corpora.

The field's two forms of the task (Wahle et al., "Identifying Machine-Paraphrased Plagiarism",
iConference 2022; Foltýnek et al., "Detecting Machine-obfuscated Plagiarism", iConference 2020):

**Pairs** (source, suspicious), labelled 1 when the suspicious sentence is a plagiarised
paraphrase of the source. Every reader returns a ``datasets.Dataset`` with the columns
``source`` (str), ``suspicious`` (str) and ``label`` (``ClassLabel``: 0 ``non-paraphrase``,
1 ``paraphrase``).

- :func:`read_pan_pairs`: the PAN-2010 sentence pairs of Madnani, Tetreault and Chodorow (2012,
  "Re-examining Machine Translation Metrics for Paraphrase Identification", NAACL), three
  line-aligned files ``pan-<split>_s1.txt`` (source sentences, from the PAN source documents),
  ``pan-<split>_s2.txt`` (the aligned sentences of the suspicious, Turker-paraphrased passage)
  and ``pan-<split>.labels`` (0/1 per line; human labels for ``train``, heuristic ones for
  ``test`` according to that corpus's README). Only ``train`` (10,000 pairs) is in
  ``../shared/data``; :func:`split_by_group` carves a held-out part from it.
- :func:`read_msrp`: the Microsoft Research Paraphrase Corpus files
  (``Quality<TAB>#1 ID<TAB>#2 ID<TAB>#1 String<TAB>#2 String``, no quoting); ``#1 String``
  becomes ``source`` and ``#2 String`` ``suspicious`` (MSRP pairs have no direction).

**Single texts** labelled 0 original, 1 machine-paraphrased, in the layout of the corpus of
Wahle et al. (Zenodo record 3608000, the sets of Foltýnek et al. 2020 and Wahle et al. 2022).
:func:`read_machine_paraphrase` returns ``text``, ``label`` (``ClassLabel``: 0 ``original``,
1 ``machine-paraphrased``), ``document`` and ``path``. The layout, as found in the authors'
code (``jpwahle/iconf22-paraphrase``: ``NLM/prepare_data.sh`` unpacks the record's
``automated_evaluation.zip``, ``NLM/main.py`` names the sets, ``NLM/data.py`` reads
``og``/``mg``), in the record's README (counts, ``ORIG``/``SPUN`` keys) and in a student
project that re-spun the same paragraphs (original names such as ``4115833-ORIG-15.txt``,
``232530-ORIG-13.txt``; it names a spun copy by replacing ``ORIG`` with ``SPUN``, which is
what ``<document>-SPUN-<paragraph>`` below assumes)::

    automated_evaluation_up/spinbot/corpus/paragraphs/
        wikipedia_paragraphs_train/      (training set: Wikipedia featured articles)
            og/<document>-ORIG-<paragraph>.txt    one original paragraph per file
            mg/<document>-SPUN-<paragraph>.txt    one machine-paraphrased paragraph per file
        wikipedia_paragraph/  arxiv_paragraph/  thesis_paragraph/     (test sets, same og/mg)
    automated_evaluation_up/spinnerchief/corpus/paragraphs/
        {arxiv,thesis,wikipedia}_paragraphs_{2w,4w}/og/ and mg/

Files are ISO-8859-1; the label is the ``ORIG``/``SPUN`` in the name (the authors' loader
tests ``'SPUN' in path``). Train and test are separate sibling sets, not nested folders.
Originals and spun paragraphs are *not* aligned one to one (the counts differ: spun articles
were split into paragraphs separately), so the reader pairs nothing: it reads every ``*.txt``
below every folder named ``og`` or ``mg`` under ``root``. The same reader reads what
:func:`lexkd.tasks.plagiarism.spinning.write_machine_paraphrase_corpus` writes
(``train/og``, ``train/mg``, ``test/og``, ``test/mg``); text written in this layout is first
brought into ISO-8859-1 by :func:`to_latin1` (a fixed transliteration rule, or a refusal).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import datasets

from lexkd.tasks.classification.readers import MSRP_COLUMNS, read_delimited

__all__ = [
    "MACHINE_PARAPHRASE_ENCODING",
    "MACHINE_PARAPHRASE_LABELS",
    "NotLatin1Error",
    "ORIGINAL_DIR",
    "ORIGINAL_TAG",
    "PAIR_LABELS",
    "SPUN_DIR",
    "SPUN_TAG",
    "parse_paragraph_name",
    "read_machine_paraphrase",
    "read_msrp",
    "read_pan_pairs",
    "split_by_group",
    "to_latin1",
]

#: Label names of the pair datasets (index = label).
PAIR_LABELS = ("non-paraphrase", "paraphrase")
#: Label names of the machine-paraphrase datasets (index = label).
MACHINE_PARAPHRASE_LABELS = ("original", "machine-paraphrased")
#: Folder and file-name tag of original paragraphs, and of machine-paraphrased ("spun") ones.
ORIGINAL_DIR, ORIGINAL_TAG = "og", "ORIG"
SPUN_DIR, SPUN_TAG = "mg", "SPUN"
#: Encoding of the corpus files (the authors' loader opens them as 'iso-8859-1').
MACHINE_PARAPHRASE_ENCODING = "iso-8859-1"

# Typographic characters outside Latin-1 and their ASCII forms (the rest goes through NFKD).
_LATIN1_TABLE = str.maketrans({
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
    "\u2026": "...", "\u2044": "/", "\u2022": "*", "\u2192": "->", "\u2190": "<-",
    "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D", "\u0131": "i",
    "\u0153": "oe", "\u0152": "OE", "\u20ac": "EUR", "\u2122": "(TM)",
})
_DIR_LABEL = {ORIGINAL_DIR: 0, SPUN_DIR: 1}
_TAG_LABEL = {ORIGINAL_TAG: 0, SPUN_TAG: 1}
_FULL_NAME = re.compile(rf"^(?P<document>.+?)-(?P<tag>{ORIGINAL_TAG}|{SPUN_TAG})-(?P<paragraph>\d+)\.txt$")


def _pair_features() -> datasets.Features:
    return datasets.Features({
        "source": datasets.Value("string"),
        "suspicious": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(PAIR_LABELS)),
    })


# --------------------------------------------------------------------------- encoding


class NotLatin1Error(ValueError):
    """A text has characters with no Latin-1 form under :func:`to_latin1`'s rule."""

    def __init__(self, characters: Sequence[str]):
        self.characters = tuple(characters)
        shown = " ".join(f"{c!r} (U+{ord(c):04X})" for c in self.characters[:10])
        super().__init__(f"characters with no ISO-8859-1 form: {shown}")


def to_latin1(text: str) -> tuple[str, int]:
    """``text`` with every character outside ISO-8859-1 transliterated, and how many were.

    Rule: characters in Latin-1 stay; dashes (incl. the minus sign and non-breaking
    hyphen) become ``-``, curly single quotes and primes ``'``, curly double quotes and double
    primes ``"``, ``…`` ``...``, ``⁄`` ``/``, ``•`` ``*``, arrows ``->``/``<-``, ``ł đ ı œ``
    ``l d i oe`` (and capitals), ``€`` ``EUR``, ``™`` ``(TM)``; any other character is
    decomposed (Unicode NFKD) and its combining marks dropped (``ā`` -> ``a``, ``ﬁ`` -> ``fi``)
    when that leaves only Latin-1 characters.

    Raises:
        NotLatin1Error: characters left with no Latin-1 form (its ``characters`` lists them).
    """
    out, changed, missing = [], 0, []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        changed += 1
        mapped = char.translate(_LATIN1_TABLE)
        if mapped == char:
            decomposed = unicodedata.normalize("NFKD", char)
            mapped = "".join(c for c in decomposed if not unicodedata.combining(c))
        if mapped and all(ord(c) < 256 for c in mapped):
            out.append(mapped)
        else:
            missing.append(char)
    if missing:
        raise NotLatin1Error(list(dict.fromkeys(missing)))
    return "".join(out), changed


# --------------------------------------------------------------------------- decoding


def _read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file (without line ends; a final newline adds no line).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty (or only whitespace), or not valid ``encoding``
            (naming the file and the line of the first bad byte).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        text = data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line} is not valid {encoding} ({err.reason})") from err
    if not text.strip():
        raise ValueError(f"{path}: the file is empty")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _label(value: str, where: str) -> int:
    """A 0/1 label; ValueError naming ``where`` (file and line) and the value otherwise."""
    if value.strip() not in ("0", "1"):
        raise ValueError(f"{where}: label {value!r} is not 0 or 1")
    return int(value.strip())


# --------------------------------------------------------------------------- pairs


def _pan_files(prefix_or_dir: str | Path, split: str) -> tuple[Path, Path, Path]:
    """``(s1, s2, labels)`` paths of a PAN pairs split (see :func:`read_pan_pairs`)."""
    path = Path(prefix_or_dir)
    prefix = path / f"pan-{split}" if path.is_dir() else path
    return (
        prefix.with_name(prefix.name + "_s1.txt"),
        prefix.with_name(prefix.name + "_s2.txt"),
        prefix.with_name(prefix.name + ".labels"),
    )


def read_pan_pairs(prefix_or_dir: str | Path, split: str = "train") -> datasets.Dataset:
    """Read the PAN-2010 paraphrase plagiarism pairs of Madnani et al. (2012).

    Args:
        prefix_or_dir: the folder holding ``pan-<split>_s1.txt``, ``pan-<split>_s2.txt`` and
            ``pan-<split>.labels`` (e.g. ``../shared/data/paraphrase/pan_plagiarism_pairs``),
            or the common prefix of three such files (e.g. ``.../pan-test``, giving
            ``pan-test_s1.txt``, ``pan-test_s2.txt``, ``pan-test.labels``; ``split`` is then
            not used).
        split: ``"train"`` or ``"test"`` (the upstream names), used with a folder.

    Returns:
        A ``datasets.Dataset`` with ``source`` (line of ``_s1``), ``suspicious`` (same line of
        ``_s2``) and ``label`` (1 = plagiarised paraphrase), in file order. Files are UTF-8
        (the upstream ones are ASCII); ``\\r\\n`` line ends are accepted.

    Raises:
        FileNotFoundError: one of the three files is missing (named).
        ValueError: an empty file; text that is not valid UTF-8 (file and line); line
            counts that differ (each file named with its count); a label other than 0 or 1
            (file, line, value); an empty sentence (file and line).
    """
    s1_path, s2_path, labels_path = _pan_files(prefix_or_dir, split)
    s1, s2, labels = (_read_lines(p) for p in (s1_path, s2_path, labels_path))
    if not len(s1) == len(s2) == len(labels):
        raise ValueError(
            "PAN pair files have different line counts: "
            f"{s1_path} {len(s1)}, {s2_path} {len(s2)}, {labels_path} {len(labels)}"
        )
    for path, lines in ((s1_path, s1), (s2_path, s2)):
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                raise ValueError(f"{path}: line {lineno} is empty")
    rows = {
        "source": [line.strip() for line in s1],
        "suspicious": [line.strip() for line in s2],
        "label": [_label(v, f"{labels_path}: line {i}") for i, v in enumerate(labels, start=1)],
    }
    return datasets.Dataset.from_dict(rows, features=_pair_features())


def read_msrp(path: str | Path) -> datasets.Dataset:
    """Read a Microsoft Research Paraphrase Corpus file (``msr_paraphrase_{train,test}.txt``).

    The file is tab-separated with the header ``Quality  #1 ID  #2 ID  #1 String  #2 String``
    and no quoting (``csv.QUOTE_NONE``: quote characters are text); a UTF-8 byte-order mark
    is accepted. It is read by :func:`lexkd.tasks.classification.readers.read_delimited`, as the GLUE MRPC
    preset reads it. ``Quality`` (1 = paraphrase) becomes ``label``, ``#1 String`` ``source``
    and ``#2 String`` ``suspicious``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty file; text that is not valid UTF-8 (file and line); a header
            other than the above (line 1); a row without exactly five fields, a blank line
            between rows, or an empty sentence (file and line); a label other than 0 or 1
            (file, line, value); a header with no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    records = read_delimited(path.read_bytes(), str(path), header=MSRP_COLUMNS)
    rows: dict[str, list] = {"source": [], "suspicious": [], "label": []}
    for location, fields in records:
        where = f"{path}, {location}"
        first, second = fields["#1 String"].strip(), fields["#2 String"].strip()
        if not first or not second:
            raise ValueError(f"{where}: empty sentence")
        rows["label"].append(_label(fields["Quality"], where))
        rows["source"].append(first)
        rows["suspicious"].append(second)
    return datasets.Dataset.from_dict(rows, features=_pair_features())


def split_by_group(
    dataset: datasets.Dataset, group_column: str, test_fraction: float = 0.1, seed: int = 42
) -> datasets.DatasetDict:
    """A deterministic train/test split that never puts one group on both sides.

    Groups are the distinct values of ``group_column`` (``"source"`` for the PAN pairs, where
    a source sentence recurs in up to 5 pairs; ``"document"`` for machine-paraphrase
    corpora). They are shuffled with ``random.Random(seed)`` in first-appearance order and
    ``round(n_groups * test_fraction)`` of them (at least 1, at most ``n_groups - 1``) form
    the test side. Rows keep their order within each side.

    Returns:
        ``DatasetDict(train=..., test=...)``, both non-empty.

    Raises:
        ValueError: ``test_fraction`` not in (0, 1), no column ``group_column`` (listing the
            columns), or fewer than two groups.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if group_column not in dataset.column_names:
        raise ValueError(f"no column {group_column!r}; columns: {', '.join(dataset.column_names)}")
    values = list(dataset[group_column])
    groups = list(dict.fromkeys(values))
    if len(groups) < 2:
        raise ValueError(f"need at least 2 distinct {group_column!r} values to split, got {len(groups)}")
    random.Random(seed).shuffle(groups)
    n_test = min(max(round(len(groups) * test_fraction), 1), len(groups) - 1)
    test_groups = set(groups[:n_test])
    test_rows = [i for i, value in enumerate(values) if value in test_groups]
    train_rows = [i for i, value in enumerate(values) if value not in test_groups]
    return datasets.DatasetDict(train=dataset.select(train_rows), test=dataset.select(test_rows))


# --------------------------------------------------------------------------- machine paraphrase


def parse_paragraph_name(name: str) -> tuple[int, str]:
    """The label and source-document id encoded in a corpus file name.

    ``<document>-ORIG-<paragraph>.txt`` gives ``(0, document)`` and
    ``<document>-SPUN-<paragraph>.txt`` ``(1, document)``. Any other name containing exactly
    one of the tags ``ORIG``/``SPUN`` (upper case) is accepted, as the authors' loader does:
    its document is the part before the tag without trailing ``-_.`` and spaces, or the
    name without ``.txt`` when nothing precedes the tag.

    Raises:
        ValueError: the name has neither tag, or both.
    """
    tags = [tag for tag in (ORIGINAL_TAG, SPUN_TAG) if tag in name]
    if len(tags) != 1:
        found = "both ORIG and SPUN" if tags else "neither ORIG nor SPUN"
        raise ValueError(f"file name {name!r} has {found}; cannot tell original from machine-paraphrased")
    match = _FULL_NAME.match(name)
    if match:
        return _TAG_LABEL[match["tag"]], match["document"]
    document = name.split(tags[0], 1)[0].rstrip("-_. ")
    return _TAG_LABEL[tags[0]], document or name.removesuffix(".txt")


def _read_paragraph(path: Path, encoding: str) -> str:
    """The text of one corpus file; ValueError naming the file when it is not text."""
    data = path.read_bytes()
    if b"\x00" in data:
        raise ValueError(f"{path}: contains NUL bytes; not a {encoding} text file")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line} is not valid {encoding} ({err.reason})") from err
    text = text.strip()
    if not text:
        raise ValueError(f"{path}: the file is empty")
    return text


def _corpus_files(root: Path) -> list[Path]:
    """The ``*.txt`` files in folders named og/mg under ``root`` (or ``root`` itself), sorted;
    hidden folders skipped. Raises FileNotFoundError when ``root`` is not a folder."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    folders = [root] if root.name in _DIR_LABEL else []
    folders += [
        p for p in root.rglob("*")
        if p.is_dir() and p.name in _DIR_LABEL and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(path for folder in folders for path in folder.glob("*.txt") if path.is_file())


def read_machine_paraphrase(
    root: str | Path, encoding: str = MACHINE_PARAPHRASE_ENCODING
) -> datasets.Dataset:
    """Read a machine-paraphrase corpus in the layout of Zenodo record 3608000 (Wahle et al. 2022).

    Every ``*.txt`` file below every folder named ``og`` (originals) or ``mg``
    (machine-paraphrased) under ``root`` is one example (see the module docstring for the
    layout and its sources). ``root`` may be one set (holding ``og/`` and ``mg/``), or any
    folder above several (e.g. a generated corpus with ``train/`` and ``test/``; read
    ``root/"train"`` for one side). Files are read in sorted path order. Hidden folders (a
    name starting with ``.``, e.g. the temporary folder of an unfinished write) are skipped.

    Args:
        root: the corpus folder.
        encoding: the files' encoding; ISO-8859-1 as in the corpus (every byte decodes, so
            only a binary file fails); pass ``"utf-8"`` for a UTF-8 copy.

    Returns:
        A ``datasets.Dataset`` with ``text`` (the paragraph, surrounding whitespace removed),
        ``label`` (0 original, 1 machine-paraphrased, from the ``ORIG``/``SPUN`` in the file
        name), ``document`` (the source-document id from the name, see
        :func:`parse_paragraph_name`; split by it with :func:`split_by_group`) and ``path``.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: a file name with neither (or both) ``ORIG`` and ``SPUN``, or whose folder
            contradicts it (an ``ORIG`` file in ``mg/``); bytes that do not decode, NUL bytes
            or an empty file (each naming the file); no ``og``/``mg`` file at all under
            ``root`` (an empty corpus).
    """
    rows: dict[str, list] = {"text": [], "label": [], "document": [], "path": []}
    for path in _corpus_files(Path(root)):
        try:
            label, document = parse_paragraph_name(path.name)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        if label != _DIR_LABEL[path.parent.name]:
            raise ValueError(
                f"{path}: the name says {MACHINE_PARAPHRASE_LABELS[label]} but the file is in "
                f"{path.parent.name}/ ({ORIGINAL_DIR}/ holds {ORIGINAL_TAG} files, {SPUN_DIR}/ {SPUN_TAG} files)"
            )
        rows["text"].append(_read_paragraph(path, encoding))
        rows["label"].append(label)
        rows["document"].append(document)
        rows["path"].append(str(path))
    if not rows["text"]:
        raise ValueError(
            f"{root}: empty corpus: no *.txt file in a folder named {ORIGINAL_DIR}/ or {SPUN_DIR}/ "
            "(layout: <set>/og/<doc>-ORIG-<n>.txt and <set>/mg/<doc>-SPUN-<n>.txt)"
        )
    features = datasets.Features({
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(MACHINE_PARAPHRASE_LABELS)),
        "document": datasets.Value("string"),
        "path": datasets.Value("string"),
    })
    return datasets.Dataset.from_dict(rows, features=features)

