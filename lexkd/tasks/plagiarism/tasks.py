"""Plagiarism detection as classification tasks: the task specs and the data of each task.

Two tasks (:data:`TASKS`), both scored with macro F1 (the metric of Wahle et al., JCDL 2021 and
iConference 2022) and accuracy:

- ``pairs``: (``source``, ``suspicious``) sentence pairs, 1 = plagiarised paraphrase.
  :func:`load_pairs_data` reads the PAN-2010 pairs of Madnani et al. (2012). A folder that holds
  PAN's own ``pan-test_*`` files is trained on all of ``train`` and tested on them
  (:data:`PAN_OWN_TEST`); one with only ``train`` (the copy in ``../shared/data``) holds out
  ``test_fraction`` of the *source sentences* (:func:`lexkd.tasks.plagiarism.data.split_by_group`
  on ``source``; a source recurs in up to 5 pairs, so a row-level split would leak it), trains on
  the rest and reports on the held-out part (:data:`PAN_CARVED_TEST`); :func:`pairs_test_split`
  says which. Or MSRP's own train and test files.
- ``machine-paraphrase``: single paragraphs, 1 = machine-paraphrased. :func:`load_machine_paraphrase_data`
  reads folders in the layout of Zenodo record 3608000
  (:func:`lexkd.tasks.plagiarism.data.read_machine_paraphrase`): a training corpus and a test corpus
  (e.g. two corpora written by ``scripts/make_machine_paraphrase.py`` from different source
  texts: train on one, test on the other), or one corpus with its own ``train/`` and ``test/``
  sides (or split here by document).

Leakage check: when train and test come from the *same* corpus, no source document may have
paragraphs on both sides (:func:`check_disjoint_documents`). Two folders are the same corpus
when one contains the other, or when they have the same corpus identity
(:func:`corpus_identity`): the ``source`` recorded in the ``manifest.json`` of a generated
corpus (two corpora generated from the same text share document ids), else the corpus folder
itself (a side ``train``/``test`` and an ``og``/``mg`` folder belong to the folder above them).
Across different corpora, document ids are not comparable (generated corpora number documents
from 0), so they are not checked.

Every loader returns ``(DatasetDict(train=..., test=...), source)``, where ``source`` describes
the data for results tables; ``test`` is what the scripts report on.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import datasets

from lexkd.tasks.classification.spec import TaskSpec
from lexkd.tasks.plagiarism.data import (
    MACHINE_PARAPHRASE_ENCODING,
    MACHINE_PARAPHRASE_LABELS,
    ORIGINAL_DIR,
    PAIR_LABELS,
    SPUN_DIR,
    read_machine_paraphrase,
    read_msrp,
    read_pan_pairs,
    split_by_group,
)
from lexkd.tasks.plagiarism.spinning import MANIFEST_NAME
from lexkd.utils.paths import shared_data_dir

logger = logging.getLogger(__name__)

_METRICS = ("macro_f1", "accuracy")
TASKS: dict[str, TaskSpec] = {
    "pairs": TaskSpec("pairs", ("source", "suspicious"), PAIR_LABELS, _METRICS),
    "machine-paraphrase": TaskSpec("machine-paraphrase", ("text",), MACHINE_PARAPHRASE_LABELS, _METRICS),
}
_SIDES = ("train", "test")


def get_plagiarism_task(task: str) -> TaskSpec:
    """The :class:`~lexkd.tasks.classification.spec.TaskSpec` of ``"pairs"`` or ``"machine-paraphrase"``
    (underscores and case ignored).

    Raises:
        ValueError: an unknown task, listing the valid ones.
    """
    key = str(task).lower().replace("_", "-")
    if key not in TASKS:
        raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(TASKS)}.")
    return TASKS[key]


def default_pan_dir() -> Path:
    """The PAN pairs folder of the shared data: ``shared_data_dir()/paraphrase/pan_plagiarism_pairs``."""
    return shared_data_dir() / "paraphrase" / "pan_plagiarism_pairs"


# --------------------------------------------------------------------------- pairs


def _msrp_files(spec: str) -> tuple[Path, Path]:
    """``msrp`` (the shared copy) or ``msrp:TRAIN_FILE,TEST_FILE`` -> the two file paths."""
    if spec == "msrp":
        folder = shared_data_dir() / "paraphrase" / "msrp"
        return folder / "msr_paraphrase_train.txt", folder / "msr_paraphrase_test.txt"
    files = [part.strip() for part in spec.removeprefix("msrp:").split(",")]
    if len(files) != 2 or not all(files):
        raise ValueError(f"Bad MSRP data {spec!r}: expected msrp:TRAIN_FILE,TEST_FILE "
                         "(e.g. msrp:msr_paraphrase_train.txt,msr_paraphrase_test.txt), or msrp for the shared copy.")
    return Path(files[0]), Path(files[1])


PAN_OWN_TEST = "PAN's own test split"
PAN_CARVED_TEST = "carved from train by source sentence"
MSRP_OWN_TEST = "MSRP's own test split"
_PAN_TEST_FILES = ("pan-test_s1.txt", "pan-test_s2.txt", "pan-test.labels")


def _is_msrp(text: str) -> bool:
    return text == "msrp" or text.startswith("msrp:")


def pairs_test_split(data: str | os.PathLike | None = None) -> str:
    """Which test split :func:`load_pairs_data` uses for ``data``: :data:`PAN_OWN_TEST` for a PAN
    folder holding ``pan-test_s1.txt``, ``pan-test_s2.txt`` and ``pan-test.labels``;
    :data:`PAN_CARVED_TEST` for a folder with only the train files, or a file prefix; or
    :data:`MSRP_OWN_TEST` for the ``msrp`` forms.

    Raises:
        ValueError: a folder holding some of PAN's three test files but not all (named): it is
            not clear whether to use them.
    """
    if data is not None and _is_msrp(str(data)):
        return MSRP_OWN_TEST
    folder = Path(data) if data is not None else default_pan_dir()
    if not folder.is_dir():
        return PAN_CARVED_TEST
    present = [name for name in _PAN_TEST_FILES if (folder / name).is_file()]
    if present and len(present) < len(_PAN_TEST_FILES):
        absent = [name for name in _PAN_TEST_FILES if name not in present]
        raise ValueError(f"{folder} holds {', '.join(present)} but not {', '.join(absent)}: give all three files "
                         "of PAN's test split (to evaluate on it) or none (to carve a test split from train).")
    return PAN_OWN_TEST if present else PAN_CARVED_TEST


def load_pairs_data(data: str | os.PathLike | None = None, *, test_fraction: float = 0.1,
                    split_seed: int = 42) -> tuple[datasets.DatasetDict, str]:
    """The ``pairs`` task's train and test splits (which one: :func:`pairs_test_split`).

    Args:
        data: a folder holding ``pan-train_s1.txt``, ``pan-train_s2.txt``, ``pan-train.labels``,
            or the prefix of three such files (``.../pan-train``); default :func:`default_pan_dir`.
            When the folder also holds PAN's test files (``pan-test_s1.txt``, ``pan-test_s2.txt``,
            ``pan-test.labels``), all of train is trained on and ``test`` is PAN's own test split.
            Otherwise (as in ``../shared/data``, which has only train) ``test_fraction`` of the
            source sentences of train (``split_seed``) are held out as ``test``. Or
            ``"msrp:TRAIN_FILE,TEST_FILE"`` (MSRP's own split), or ``"msrp"`` for the shared copy
            (``shared_data_dir()/paraphrase/msrp``).

    Returns:
        ``(DatasetDict(train, test), source)``, columns ``source``, ``suspicious``, ``label``;
        ``source`` names the split (``"... (PAN's own test split)"`` or ``"... (held out 0.1 of
        source sentences, seed 42)"``).

    Raises:
        FileNotFoundError: no such folder, prefix or file (named).
        ValueError: bad files (see the readers), a bad ``msrp:`` form, ``test_fraction`` not in
            (0, 1), fewer than two source sentences, or only some of PAN's test files.
    """
    text = str(data) if data is not None else ""
    if _is_msrp(text):
        train_file, test_file = _msrp_files(text)
        parts = datasets.DatasetDict(train=read_msrp(train_file), test=read_msrp(test_file))
        return parts, f"msrp: {train_file}, {test_file}"
    path = Path(data) if data is not None else default_pan_dir()
    if not path.is_dir() and not path.with_name(path.name + "_s1.txt").is_file():
        where = "" if data is not None else " (the default: set LEXKD_SHARED_DATA or give the folder)"
        raise FileNotFoundError(f"{path}: no such PAN folder{where}; expected a folder holding pan-train_s1.txt, "
                                "pan-train_s2.txt and pan-train.labels, or the prefix of three such files.")
    if pairs_test_split(path) == PAN_OWN_TEST:
        parts = datasets.DatasetDict(train=read_pan_pairs(path, "train"), test=read_pan_pairs(path, "test"))
        logger.info("PAN pairs from %s: test split %s (%s), trained on all of train; --test_fraction and "
                    "--split_seed are not used.", path, PAN_OWN_TEST, ", ".join(_PAN_TEST_FILES))
        return parts, f"pan: {path} ({PAN_OWN_TEST})"
    parts = split_by_group(read_pan_pairs(path, "train"), "source", test_fraction, split_seed)
    logger.info("PAN pairs from %s: test split %s (%g of the source sentences, seed %d).", path, PAN_CARVED_TEST,
                test_fraction, split_seed)
    return parts, f"pan: {path} (held out {test_fraction:g} of source sentences, seed {split_seed})"


# --------------------------------------------------------------------------- machine paraphrase


def _normal_source(source: str) -> str:
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def corpus_identity(folder: str | os.PathLike) -> str:
    """What makes two machine-paraphrase folders the same corpus (module docstring).

    The corpus root is ``folder`` without a trailing ``og``/``mg`` and then ``train``/``test``
    part. A root with a lexkd ``manifest.json`` that records a ``source`` gives ``"source: ..."``
    (resolved when it is an existing path); any other root ``"folder: <resolved root>"``.
    """
    root = Path(folder).expanduser().resolve()
    if root.name in (ORIGINAL_DIR, SPUN_DIR):
        root = root.parent
    if root.name in _SIDES:
        root = root.parent
    try:
        source = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError, AttributeError):  # no manifest, or not one of ours
        source = None
    return f"source: {_normal_source(source)}" if isinstance(source, str) and source else f"folder: {root}"


def same_corpus(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """Whether two folders are the same corpus: one holds the other, or :func:`corpus_identity` agrees."""
    a, b = Path(first).expanduser().resolve(), Path(second).expanduser().resolve()
    return a == b or a in b.parents or b in a.parents or corpus_identity(a) == corpus_identity(b)


def check_disjoint_documents(train: datasets.Dataset, test: datasets.Dataset, train_name: str, test_name: str) -> None:
    """Refuse train and test sides of one corpus that share a source document.

    Raises:
        ValueError: naming up to five shared document ids, their number and both sides.
    """
    shared = sorted(set(train["document"]) & set(test["document"]))
    if shared:
        shown = ", ".join(shared[:5]) + (f" and {len(shared) - 5} more" if len(shared) > 5 else "")
        raise ValueError(f"{len(shared)} source document(s) have paragraphs in both train ({train_name}) and test "
                         f"({test_name}) of the same corpus: {shown}. Split by document (e.g. the train/ and test/ "
                         "of make_machine_paraphrase.py), or train and test on corpora from different sources.")


def _check_both_labels(train: datasets.Dataset, name: str) -> None:
    present = set(train["label"])
    if len(present) < 2:
        (only,) = present
        raise ValueError(f"{name}: the training side has only {MACHINE_PARAPHRASE_LABELS[only]} paragraphs; a "
                         f"classifier needs both {ORIGINAL_DIR}/ and {SPUN_DIR}/ files.")


def load_machine_paraphrase_data(train_corpus: str | os.PathLike | None = None,
                                 test_corpus: str | os.PathLike | None = None, *,
                                 corpus: str | os.PathLike | None = None, test_fraction: float = 0.1,
                                 split_seed: int = 42,
                                 encoding: str = MACHINE_PARAPHRASE_ENCODING) -> tuple[datasets.DatasetDict, str]:
    """The ``machine-paraphrase`` task's train and test splits.

    Args:
        train_corpus, test_corpus: two corpus folders (all of each is read): train on the first,
            test on the second. When they are the same corpus (:func:`same_corpus`), their
            documents must not overlap.
        corpus: instead, one corpus: its ``train/`` and ``test/`` folders when it has both (their
            documents must not overlap), else all of it split by ``document`` here
            (``test_fraction`` of the documents, ``split_seed``).
        encoding: of the corpus files (ISO-8859-1 as in Zenodo 3608000).

    Returns:
        ``(DatasetDict(train, test), source)``, columns ``text``, ``label``, ``document``, ``path``.

    Raises:
        FileNotFoundError: a folder that does not exist.
        ValueError: both or neither forms given; an empty corpus or bad files (see
            :func:`~lexkd.tasks.plagiarism.data.read_machine_paraphrase`); a document on both sides of
            one corpus; a training side with only one label.
    """
    if corpus is not None and (train_corpus is not None or test_corpus is not None):
        raise ValueError("Give either a corpus (--corpus) or a train and a test corpus (--train_corpus, "
                         "--test_corpus), not both.")
    if corpus is not None:
        root = Path(corpus)
        if all((root / side).is_dir() for side in _SIDES):
            train, test = (read_machine_paraphrase(root / side, encoding) for side in _SIDES)
            check_disjoint_documents(train, test, str(root / "train"), str(root / "test"))
            parts, source = datasets.DatasetDict(train=train, test=test), f"corpus: {root} (its train/ and test/)"
        else:
            parts = split_by_group(read_machine_paraphrase(root, encoding), "document", test_fraction, split_seed)
            source = f"corpus: {root} (held out {test_fraction:g} of documents, seed {split_seed})"
    else:
        if train_corpus is None or test_corpus is None:
            raise ValueError("machine-paraphrase needs a train and a test corpus (--train_corpus, --test_corpus), "
                             "or one corpus (--corpus).")
        train, test = read_machine_paraphrase(train_corpus, encoding), read_machine_paraphrase(test_corpus, encoding)
        if same_corpus(train_corpus, test_corpus):
            check_disjoint_documents(train, test, str(train_corpus), str(test_corpus))
        elif set(train["document"]) & set(test["document"]):
            logger.info("Train and test corpora share document ids, but come from different sources "
                        "(%s; %s): ids are not compared across corpora.", corpus_identity(train_corpus),
                        corpus_identity(test_corpus))
        parts, source = datasets.DatasetDict(train=train, test=test), f"train: {train_corpus}; test: {test_corpus}"
    _check_both_labels(parts["train"], source)
    return parts, source


def load_plagiarism_data(task: str | TaskSpec, *, data: str | None = None, train_corpus: str | None = None,
                         test_corpus: str | None = None, corpus: str | None = None, test_fraction: float = 0.1,
                         split_seed: int = 42,
                         encoding: str = MACHINE_PARAPHRASE_ENCODING) -> tuple[datasets.DatasetDict, str]:
    """The data of ``task`` from the sources the script's flags name (see :func:`load_pairs_data`
    and :func:`load_machine_paraphrase_data`).

    Raises:
        ValueError: an unknown task, or a source given to the other task; and see the loaders.
    """
    spec = task if isinstance(task, TaskSpec) else get_plagiarism_task(task)
    corpora = [name for name, value in (("--train_corpus", train_corpus), ("--test_corpus", test_corpus),
                                        ("--corpus", corpus)) if value is not None]
    if spec.name == "pairs":
        if corpora:
            raise ValueError(f"{', '.join(corpora)}: for --task machine-paraphrase; --task pairs reads --data.")
        return load_pairs_data(data, test_fraction=test_fraction, split_seed=split_seed)
    if data is not None:
        raise ValueError("--data is for --task pairs; machine-paraphrase reads --train_corpus and --test_corpus, "
                         "or --corpus.")
    return load_machine_paraphrase_data(train_corpus, test_corpus, corpus=corpus, test_fraction=test_fraction,
                                        split_seed=split_seed, encoding=encoding)
