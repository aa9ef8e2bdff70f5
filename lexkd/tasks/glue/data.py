"""GLUE-style NLU tasks: task presets (with their official metrics) and data loading.

:data:`TASKS` maps each GLUE task to a :class:`~lexkd.tasks.classification.spec.TaskSpec` (text
columns, label set or regression, official metrics, ``nyu-mll/glue`` config). Every loader returns a
``datasets.DatasetDict`` with the task's text columns (the hub's names) and ``label`` (a
``ClassLabel`` with the hub's label names, or a float score for STS-B), and the splits
``train``, ``validation`` (matched for MNLI) and, where they exist, ``validation_mismatched``
(MNLI from the hub) and ``test`` (MRPC's MSRP test set, local preset).

Three sources:

- the hub: :func:`load_hub`, ``datasets.load_dataset("nyu-mll/glue", config)``;
- the local copies in a GLUE folder laid out like ``../shared/data/glue`` (:func:`load_local`,
  read in place, :func:`default_glue_dir`), see :data:`LOCAL_FILES` for what each preset reads;
- your own TSV/CSV/JSON/JSONL files with a column mapping (:func:`load_files`).

The file readers (TSV/CSV, JSON, tar members) are in :mod:`lexkd.tasks.classification.readers`.

Local presets, and where they differ from GLUE's own splits:

- MRPC: the original MSRP train/test. GLUE's dev-id list is not available, so the dev split is
  carved from MSRP train: the :data:`MRPC_DEV_SIZE` (408, GLUE's dev size) pairs with the smallest
  ``sha256("{MRPC_DEV_SEED}:{#1 ID}:{#2 ID}")`` (seed 0), independent of row order and of any
  library's random generator; train keeps the other 3,668 pairs, ``test`` is MSRP test (1,725).
  These are GLUE's sizes, but not GLUE's dev pairs.
- WNLI: the local copy splits GLUE's train into ``train.tsv`` and ``val.tsv`` (no header); the
  preset joins them back (635 pairs, GLUE's train) and uses ``dev.tsv`` (71) as validation.
- MNLI, QQP: only random subsets exist, in ``subsets_mnli_qqp_qnli_snli_and_more.tar.xz`` (read
  in place): 8,999 train / 1,000 dev. That "dev" is a held-out sample the archive's authors drew
  for their own use, not GLUE's dev set (their SST-2 "dev" sentences occur in GLUE SST-2 train
  and none in its dev; none of their QNLI "dev" questions is in GLUE's QNLI dev): MNLI has no
  matched/mismatched validation locally, and these figures are not comparable with published
  GLUE dev results.
- QNLI: the full GLUE dev (``QNLI/dev.tsv``, 5,463) as validation, trained on the archive's
  8,999-pair QNLI train subset (none of its questions occurs in GLUE dev).

:class:`~lexkd.tasks.classification.spec.TaskSpec` and the metrics
(:func:`~lexkd.tasks.classification.spec.compute_metrics`: scikit-learn and scipy only) are in
:mod:`lexkd.tasks.classification.spec`, shared with the plagiarism tasks.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import datasets

from lexkd.tasks.classification.readers import (
    MSRP_COLUMNS,
    Records,
    parse_column_mapping,
    read_archive_members,
    read_delimited,
    read_json_records,
    read_records,
)
from lexkd.tasks.classification.spec import TaskSpec
from lexkd.utils.paths import shared_data_dir

GLUE_HUB_NAME = "nyu-mll/glue"
ARCHIVE_NAME = "subsets_mnli_qqp_qnli_snli_and_more.tar.xz"
MRPC_DEV_SIZE = 408
MRPC_DEV_SEED = 0

# --------------------------------------------------------------------------- task presets

_NLI = ("entailment", "not_entailment")
TASKS: dict[str, TaskSpec] = {
    "cola": TaskSpec("cola", ("sentence",), ("unacceptable", "acceptable"), ("matthews_correlation",), "cola"),
    "sst2": TaskSpec("sst2", ("sentence",), ("negative", "positive"), ("accuracy",), "sst2"),
    "mrpc": TaskSpec("mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("accuracy", "f1"), "mrpc"),
    "qqp": TaskSpec("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), ("accuracy", "f1"), "qqp"),
    "stsb": TaskSpec("stsb", ("sentence1", "sentence2"), None, ("pearson", "spearman"), "stsb", value_range=(0.0, 5.0)),
    "mnli": TaskSpec("mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"), ("accuracy",),
                     "mnli"),
    "qnli": TaskSpec("qnli", ("question", "sentence"), _NLI, ("accuracy",), "qnli"),
    "rte": TaskSpec("rte", ("sentence1", "sentence2"), _NLI, ("accuracy",), "rte"),
    "wnli": TaskSpec("wnli", ("sentence1", "sentence2"), ("not_entailment", "entailment"), ("accuracy",), "wnli"),
}


def get_task(task: str | TaskSpec) -> TaskSpec:
    """The :class:`TaskSpec` of ``task`` (case and dashes ignored: ``"SST-2"`` is ``sst2``).

    Raises:
        ValueError: an unknown task name, listing the valid ones.
    """
    if isinstance(task, TaskSpec):
        return task
    key = str(task).lower().replace("-", "").replace("_", "")
    if key not in TASKS:
        raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(TASKS)}.")
    return TASKS[key]


# --------------------------------------------------------------------------- records to datasets


def parse_label(value, spec: TaskSpec, where: str) -> int | float:
    """A label id (a class name, or an integer ``0..K-1``) or, for regression, a finite score.

    Raises:
        ValueError: a value outside the task's label set or range, naming ``where`` (file and line).
    """
    if spec.is_regression:
        try:
            score = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            score = math.nan
        low, high = spec.value_range or (-math.inf, math.inf)
        if not (math.isfinite(score) and low <= score <= high):
            raise ValueError(f"{where}: label {value!r} is not a score of {spec.name} (a number in [{low}, {high}]).")
        return score
    number = None
    if isinstance(value, str):
        if value.strip() in spec.label_names:
            return spec.label_names.index(value.strip())
        try:
            number = int(value)
        except ValueError:
            number = None
    elif isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        number = int(value)
    if number is None or not 0 <= number < spec.num_labels:
        raise ValueError(f"{where}: label {value!r} is not in the label set of {spec.name} "
                         f"(0..{spec.num_labels - 1} or {', '.join(spec.label_names)}).")
    return number


def records_to_dataset(records: Records, spec: TaskSpec, source: str,
                       columns: Mapping[str, str] | None = None, *, mapping_note: str = "") -> datasets.Dataset:
    """A ``datasets.Dataset`` of the task's text columns and ``label`` from parsed records.

    Args:
        columns: task column -> column in the records (``{"sentence": "text", "label": "polarity"}``);
            task columns not given keep their own name.
        mapping_note: added to the errors about the mapping (unknown or missing columns), e.g. which
            flag gave it.

    Raises:
        ValueError: missing columns (named, with the columns found), non-text values or labels
            outside the label set (file and line named).
    """
    note = f" {mapping_note}" if mapping_note else ""
    mapping = {name: name for name in (*spec.text_columns, "label")}
    unknown = sorted(set(columns or {}) - set(mapping))
    if unknown:
        raise ValueError(f"Column mapping names {unknown}, which task {spec.name} does not have (mapping of "
                         f"{source}); its columns: {', '.join(mapping)}.{note}")
    mapping.update(columns or {})
    values: dict[str, list] = {name: [] for name in mapping}
    for location, record in records:
        missing = [f"{task_col!r}" + (f" (from {col!r})" if col != task_col else "")
                   for task_col, col in mapping.items() if col not in record]
        if missing:
            raise ValueError(f"{source}, {location}: missing column(s) {', '.join(missing)}; columns found: "
                             f"{', '.join(map(str, record))}.{note}")
        for name in spec.text_columns:
            text = record[mapping[name]]
            if not isinstance(text, str):
                raise ValueError(f"{source}, {location}: column {mapping[name]!r} is not text: {text!r:.60}.")
            values[name].append(text)
        values["label"].append(parse_label(record[mapping["label"]], spec, f"{source}, {location}"))
    label = datasets.Value("float32") if spec.is_regression else datasets.ClassLabel(names=list(spec.label_names))
    features = datasets.Features({**{name: datasets.Value("string") for name in spec.text_columns}, "label": label})
    return datasets.Dataset.from_dict(values, features=features)


# --------------------------------------------------------------------------- local presets


@dataclass(frozen=True)
class LocalFile:
    """One file of a local preset: ``path`` under the GLUE folder (or, with ``archive``, a member
    ``glue_pretrain/PATH`` of :data:`ARCHIVE_NAME`), its column mapping and, for a file with no
    header, its column names (``fieldnames``) or, for one with a fixed header, that header."""

    path: str
    columns: Mapping[str, str] | None = None
    fieldnames: tuple[str, ...] | None = None
    archive: bool = False
    header: tuple[str, ...] | None = None


def _archived(task_dir: str, split: str, first: str, second: str) -> LocalFile:
    return LocalFile(f"{task_dir}/{split}.json", {first: "text_a", second: "text_b"}, archive=True)


_COLA = ("source", "label", "original_label", "sentence")  # the raw release has no header
_MSRP = {"sentence1": "#1 String", "sentence2": "#2 String", "label": "Quality"}  # columns of MSRP_COLUMNS
_STSB = {"label": "score"}
LOCAL_FILES: dict[str, dict[str, tuple[LocalFile, ...]]] = {
    "cola": {"train": (LocalFile("CoLA/in_domain_train.tsv", fieldnames=_COLA),),
             "validation": (LocalFile("CoLA/in_domain_dev.tsv", fieldnames=_COLA),)},
    "sst2": {"train": (LocalFile("SST-2/train.tsv"),),  # header label<TAB>sentence, CRLF
             "validation": (LocalFile("SST-2/dev.tsv", {"sentence": "content"}),)},  # header label<TAB>content
    "mrpc": {"train": (LocalFile("MRPC/msr_paraphrase_train.txt", _MSRP, header=MSRP_COLUMNS),),  # dev carved from it
             "test": (LocalFile("MRPC/msr_paraphrase_test.txt", _MSRP, header=MSRP_COLUMNS),)},
    "stsb": {"train": (LocalFile("STS-B/train.tsv", _STSB),), "validation": (LocalFile("STS-B/dev.tsv", _STSB),)},
    "rte": {"train": (LocalFile("RTE/train.tsv"),), "validation": (LocalFile("RTE/dev.tsv"),)},
    "wnli": {"train": (LocalFile("WNLI/train.tsv"),
                       LocalFile("WNLI/val.tsv", fieldnames=("index", "sentence1", "sentence2", "label"))),
             "validation": (LocalFile("WNLI/dev.tsv"),)},
    "qnli": {"train": (_archived("QNLI", "train", "question", "sentence"),),
             "validation": (LocalFile("QNLI/dev.tsv"),)},
    "mnli": {"train": (_archived("MNLI", "train", "premise", "hypothesis"),),
             "validation": (_archived("MNLI", "dev", "premise", "hypothesis"),)},
    "qqp": {"train": (_archived("QQP", "train", "question1", "question2"),),
            "validation": (_archived("QQP", "dev", "question1", "question2"),)},
}


def default_glue_dir() -> Path:
    """``$LEXKD_GLUE_DIR``, else ``glue`` in the shared data folder (:func:`lexkd.utils.paths.shared_data_dir`)."""
    if os.environ.get("LEXKD_GLUE_DIR"):
        return Path(os.environ["LEXKD_GLUE_DIR"])
    return shared_data_dir("glue")


def _archive_hint(task: str, members: list[str]) -> str:
    """What to do without the subsets archive (part of the missing-archive error)."""
    only_dev = " (the local GLUE copy has only QNLI's dev set outside it)" if task == "qnli" else ""
    return (f"The local {task.upper()} preset reads {', '.join(m.removeprefix('glue_pretrain/') for m in members)} "
            f"from this archive{only_dev}. Put the archive there, give your own train/validation files, or load "
            "from the hub.")


def carve_dev_split(records: Records, *, key: Callable[[dict], str], size: int, seed: int) -> tuple[Records, Records]:
    """Split ``records`` into ``(train, dev)``: dev = the ``size`` records with the smallest
    ``sha256(f"{seed}:{key(record)}")``. Deterministic, independent of row order and of any
    random generator's version; both parts keep file order.

    Raises:
        ValueError: ``size`` not in ``1..len(records)-1``, or duplicate keys.
    """
    if not 0 < size < len(records):
        raise ValueError(f"Cannot carve {size} dev records out of {len(records)}.")
    keys = [key(fields) for _, fields in records]
    if len(set(keys)) != len(keys):
        raise ValueError("Duplicate keys: the dev split would depend on row order.")
    digest = [hashlib.sha256(f"{seed}:{k}".encode()).hexdigest() for k in keys]
    dev = set(sorted(range(len(records)), key=digest.__getitem__)[:size])
    return ([r for i, r in enumerate(records) if i not in dev], [r for i, r in enumerate(records) if i in dev])


def load_local(task: str | TaskSpec, glue_dir: str | os.PathLike | None = None) -> datasets.DatasetDict:
    """A task's local preset, read in place from ``glue_dir`` (default :func:`default_glue_dir`).

    See the module docstring and :data:`LOCAL_FILES` for the files and splits.

    Raises:
        ValueError: an unknown task, or bad rows (file and line named).
        FileNotFoundError: a missing folder, file or archive (named, with how to supply it).
    """
    spec = get_task(task)
    root = Path(glue_dir) if glue_dir is not None else default_glue_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"The GLUE folder {root} does not exist: set LEXKD_GLUE_DIR, give the folder, "
                                "or load from the hub.")
    files = LOCAL_FILES[spec.name]
    archived = [f"glue_pretrain/{f.path}" for entries in files.values() for f in entries if f.archive]
    members = {}
    if archived:
        members = read_archive_members(root / ARCHIVE_NAME, archived, hint=_archive_hint(spec.name, archived))
    parts: dict[str, list[tuple[str, Records, Mapping | None]]] = {}
    for split, entries in files.items():
        for entry in entries:
            if entry.archive:
                source = f"{root / ARCHIVE_NAME}:glue_pretrain/{entry.path}"
                records = read_json_records(members[f"glue_pretrain/{entry.path}"], source, lines=False)
            else:
                source = str(root / entry.path)
                if not (root / entry.path).is_file():
                    raise FileNotFoundError(f"{source}: no such file (local {spec.name} preset).")
                records = read_delimited((root / entry.path).read_bytes(), source, fieldnames=entry.fieldnames,
                                         header=entry.header)
            parts.setdefault(split, []).append((source, records, entry.columns))
    if spec.name == "mrpc":
        [(source, records, columns)] = parts.pop("train")
        train, dev = carve_dev_split(records, key=lambda r: f"{r['#1 ID']}:{r['#2 ID']}", size=MRPC_DEV_SIZE,
                                     seed=MRPC_DEV_SEED)
        parts = {"train": [(source, train, columns)], "validation": [(source, dev, columns)], **parts}
    return datasets.DatasetDict({
        split: datasets.concatenate_datasets([records_to_dataset(r, spec, s, c) for s, r, c in entries])
        for split, entries in parts.items()})


# --------------------------------------------------------------------------- hub, files, dispatch

HUB_SPLITS = {"mnli": {"train": "train", "validation": "validation_matched",
                       "validation_mismatched": "validation_mismatched"}}


def load_hub(task: str | TaskSpec) -> datasets.DatasetDict:
    """``datasets.load_dataset("nyu-mll/glue", config)``, keeping the labelled splits (``train``,
    ``validation``; MNLI's ``validation_matched`` becomes ``validation``, plus
    ``validation_mismatched``) and the text and label columns.

    Raises:
        ValueError: an unknown task; a split or column missing from what the hub served.
        OSError: the hub could not be reached or did not serve the dataset.
    """
    spec = get_task(task)
    if spec.hub_config is None:
        raise ValueError(f"Task {spec.name!r} is not on the hub ({GLUE_HUB_NAME}).")
    try:
        raw = datasets.load_dataset(GLUE_HUB_NAME, spec.hub_config)
    except OSError as error:  # includes ConnectionError and datasets' DatasetNotFoundError
        raise OSError(f"Could not load {GLUE_HUB_NAME} ({spec.hub_config}) from the hub: {error}. Without a network, "
                      "use the local preset or your own files.") from None
    splits = HUB_SPLITS.get(spec.name, {"train": "train", "validation": "validation"})
    output = {}
    for split, hub_split in splits.items():
        if hub_split not in raw:
            raise ValueError(f"{GLUE_HUB_NAME} ({spec.hub_config}) has no split {hub_split!r}; found: {', '.join(raw)}.")
        needed = [*spec.text_columns, "label"]
        missing = [c for c in needed if c not in raw[hub_split].column_names]
        if missing:
            raise ValueError(f"{GLUE_HUB_NAME} ({spec.hub_config}) {hub_split}: missing column(s) {', '.join(missing)}; "
                             f"columns found: {', '.join(raw[hub_split].column_names)}.")
        output[split] = raw[hub_split].select_columns(needed)
    return datasets.DatasetDict(output)


def _column_mapping(columns: Mapping[str, str] | str | None) -> dict[str, str]:
    return dict(columns) if isinstance(columns, Mapping) else parse_column_mapping(columns)


def load_files(task: str | TaskSpec, train_file: str | os.PathLike, validation_file: str | os.PathLike,
               columns: Mapping[str, str] | str | None = None, *,
               validation_columns: Mapping[str, str] | str | None = None) -> datasets.DatasetDict:
    """Your own train and validation files (``.tsv``, ``.csv``, ``.json``, ``.jsonl``; see
    :func:`lexkd.tasks.classification.readers.read_records`) as a task's ``DatasetDict``.

    Args:
        columns: task column -> file column, as a dict or ``"sentence=text,label=polarity"``
            (:func:`~lexkd.tasks.classification.readers.parse_column_mapping`); task columns not
            named keep their own name. Labels may be class names or ids ``0..K-1`` (scores for STS-B).
        validation_columns: the mapping of the validation file, in the same form, for a file whose
            header differs from the training file's; ``None``: ``columns``. It replaces ``columns``
            for that file (it is not merged with it).

    Raises:
        FileNotFoundError, ValueError: see :func:`~lexkd.tasks.classification.readers.read_records` and
            :func:`records_to_dataset`; a mapped column missing from a file names the file, the
            column and the mapping (``--columns`` or ``--validation_columns``) that asked for it.
    """
    spec = get_task(task)
    if validation_columns is None:
        validation = (_column_mapping(columns), "This file's column mapping is --columns (also used for the "
                      "validation file: give --validation_columns when its header differs).")
    else:
        validation = (_column_mapping(validation_columns), "This file's column mapping is --validation_columns.")
    files = {"train": (train_file, _column_mapping(columns), "This file's column mapping is --columns."),
             "validation": (validation_file, *validation)}
    return datasets.DatasetDict({
        split: records_to_dataset(read_records(path), spec, str(path), mapping, mapping_note=note)
        for split, (path, mapping, note) in files.items()})


def load_task_data(task: str | TaskSpec, data: str = "auto", *, train_file: str | None = None,
                   validation_file: str | None = None, columns: Mapping[str, str] | str | None = None,
                   validation_columns: Mapping[str, str] | str | None = None) -> tuple[datasets.DatasetDict, str]:
    """A task's data from the source the scripts' ``--data`` names, or from your own files.

    Args:
        data: ``"hub"``; ``"local"`` (:func:`default_glue_dir`); a GLUE folder laid out like
            ``../shared/data/glue``; or ``"auto"``: local when that folder exists, else the hub.
            Ignored when ``train_file``/``validation_file`` are given (both are then required).
        columns, validation_columns: the column mappings of the files (:func:`load_files`).

    Returns:
        ``(dataset_dict, source)`` where ``source`` says what was read (for reports).

    Raises:
        ValueError: only one of the two files given; a column mapping without files; and see the loaders.
    """
    spec = get_task(task)
    if train_file or validation_file:
        if not (train_file and validation_file):
            raise ValueError("Give both a train file and a validation file (or neither, to use --data).")
        return (load_files(spec, train_file, validation_file, columns, validation_columns=validation_columns),
                f"files: {train_file}, {validation_file}")
    given = [flag for flag, value in (("--columns", columns), ("--validation_columns", validation_columns)) if value]
    if given:
        raise ValueError(f"{' and '.join(given)} map the columns of your own files: give --train_file and "
                         "--validation_file too, or drop the mapping to use --data.")
    if data == "auto":
        data = "local" if default_glue_dir().is_dir() else "hub"
    if data == "hub":
        return load_hub(spec), f"hub: {GLUE_HUB_NAME}/{spec.hub_config}"
    root = default_glue_dir() if data == "local" else Path(data)
    return load_local(spec, root), f"local: {root}"
