"""Sequence-to-sequence (NLG) data: parallel text, task presets and tokenisation.

Every loader returns a ``datasets.Dataset`` with the string columns ``source`` and ``target``
(one example per row), and :func:`load_nlg_data` a ``DatasetDict`` with ``train`` and
``validation``. Sources:

- two aligned plain-text files, one example per line (:func:`load_parallel_files`);
- Shakespeare style transfer (Jhamtani et al. 2017), NLTK-tokenised, read in place from
  ``../shared/data/nlg/shakespeare`` (:func:`load_shakespeare`, :func:`default_shakespeare_dir`);
- definition modelling from WordNet 3.0: ``"<lemma> : <example>"`` -> gloss
  (:func:`definition_pairs`);
- any hub or local Hugging Face dataset with a source and a target column (:func:`load_hf_pairs`).

:func:`tokenize_pairs` turns such a dataset into ``input_ids``, ``attention_mask`` and ``labels``
for an encoder-decoder model; ``transformers.DataCollatorForSeq2Seq(tokenizer,
label_pad_token_id=-100)`` pads the batches.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from lexkd.lexical.wordnet import WordNet, get_wordnet
from lexkd.utils.paths import shared_data_dir

SHAKESPEARE_DIRECTIONS = ("modern2original", "original2modern")
SHAKESPEARE_SPLITS = {"train": "train", "valid": "valid", "validation": "valid"}
DEFINITION_SPLITS = {"train": 90, "validation": 5, "test": 5}  # percent of glosses
NLG_PRESETS = ("shakespeare", "definitions", "files")
PAIR_FEATURES = datasets.Features(
    {"source": datasets.Value("string"), "target": datasets.Value("string")}
)

# --------------------------------------------------------------------------- parallel files


def _read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file without their line ends (``\\n`` or ``\\r\\n``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty file, a blank line (``file:line``) or bytes that are not UTF-8
            (file and line).
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file; give the path of an existing text file, one example per line."
        )
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"{path} is empty; it needs one example per line.")
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{path}:{number}: bytes that are not UTF-8 ({error.reason} at byte "
                f"{error.start}); re-encode the file as UTF-8."
            ) from None
        lines.append(line)
    if data.endswith(b"\n"):
        lines.pop()  # the final line end does not start another line
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(
                f"{path}:{number}: blank line; every line must hold one example (remove it from "
                "both files)."
            )
    return lines


def load_parallel_files(
    source_path: str | os.PathLike, target_path: str | os.PathLike
) -> datasets.Dataset:
    """Two aligned UTF-8 text files as a Dataset with string columns ``source`` and ``target``.

    Line ``i`` of ``source_path`` is the source of example ``i``, line ``i`` of ``target_path``
    its target. Line ends (``\\n``, ``\\r\\n``) are stripped, nothing else is changed.

    Raises:
        FileNotFoundError: a missing file (named).
        ValueError: an empty file, a blank line (``file:line``), undecodable bytes (file and line),
            or different line counts (both files and both counts named).
    """
    source_path, target_path = Path(source_path), Path(target_path)
    sources, targets = _read_lines(source_path), _read_lines(target_path)
    if len(sources) != len(targets):
        raise ValueError(
            f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}; "
            "parallel files need one line per example in both."
        )
    return datasets.Dataset.from_dict(
        {"source": sources, "target": targets}, features=PAIR_FEATURES
    )


# --------------------------------------------------------------------------- Shakespeare


def default_shakespeare_dir() -> Path:
    """``nlg/shakespeare`` in the shared data folder (:func:`lexkd.utils.paths.shared_data_dir`)."""
    return shared_data_dir("nlg", "shakespeare")


def load_shakespeare(
    split: str, *, data_dir: str | os.PathLike | None = None, direction: str = "modern2original"
) -> datasets.Dataset:
    """Shakespeare style transfer: ``{split}.modern.nltktok`` and ``{split}.original.nltktok``.

    Args:
        split: ``"train"`` (18,395 pairs) or ``"valid"`` (1,218; ``"validation"`` is accepted too).
            For other files (e.g. the test split) use :func:`load_parallel_files`.
        data_dir: the folder of the four files; default :func:`default_shakespeare_dir`.
        direction: ``"modern2original"`` (source = modern English, target = Shakespeare) or
            ``"original2modern"``.

    Raises:
        ValueError: unknown split or direction (the valid ones listed), and see
            :func:`load_parallel_files`.
        FileNotFoundError: a missing folder or file.
    """
    if split not in SHAKESPEARE_SPLITS:
        raise ValueError(
            f"Unknown Shakespeare split {split!r}; valid: {', '.join(SHAKESPEARE_SPLITS)}."
        )
    if direction not in SHAKESPEARE_DIRECTIONS:
        raise ValueError(
            f"Unknown direction {direction!r}; valid: {', '.join(SHAKESPEARE_DIRECTIONS)}."
        )
    root = Path(data_dir) if data_dir is not None else default_shakespeare_dir()
    if not root.is_dir():
        raise FileNotFoundError(
            f"The Shakespeare folder {root} does not exist: set LEXKD_SHARED_DATA, pass "
            "data_dir, or give the files with load_parallel_files."
        )
    modern = root / f"{SHAKESPEARE_SPLITS[split]}.modern.nltktok"
    original = root / f"{SHAKESPEARE_SPLITS[split]}.original.nltktok"
    if direction == "modern2original":
        return load_parallel_files(modern, original)
    return load_parallel_files(original, modern)


# --------------------------------------------------------------------------- WordNet definitions


def _lemma_pattern(lemma: str, inflected: bool) -> re.Pattern:
    """A whole-word, case-insensitive match of ``lemma`` (any spacing between its words) and,
    if ``inflected``, with an optional inflectional ending (walk -> walked, stop -> stopped);
    never irregular forms (run -> ran)."""
    words = r"\s+".join(map(re.escape, lemma.split()))
    doubled = re.escape(lemma[-1]) + "?" if lemma[-1:].isalpha() else ""
    ending = f"(?:s|es|d|{doubled}(?:ed|ing|er|est))?" if inflected else ""
    return re.compile(rf"(?<!\w){words}{ending}(?!\w)", re.IGNORECASE)


def pick_lemma(lemma_names: Sequence[str], example: str) -> str:
    """The lemma of a synset that ``example`` uses, with spaces for underscores.

    The first lemma (in WordNet order) found as a whole word, case-insensitive; else the first
    found with an inflectional ending (``-s -es -d -ed -ing -er -est``, final consonant possibly
    doubled); else the first lemma.
    """
    lemmas = [name.replace("_", " ") for name in lemma_names]
    for inflected in (False, True):
        for lemma in lemmas:
            if _lemma_pattern(lemma, inflected).search(example):
                return lemma
    return lemmas[0]


def definition_split_of(gloss: str, seed_salt: str = "lexkd") -> str:
    """The split (``train``/``validation``/``test``, 90/5/5) of a gloss: from
    ``sha256(f"{seed_salt}:{gloss}")``, stable across runs, machines and Python versions."""
    bucket = (
        int.from_bytes(hashlib.sha256(f"{seed_salt}:{gloss}".encode()).digest()[:8], "big") % 100
    )
    for split, percent in DEFINITION_SPLITS.items():
        if bucket < percent:
            return split
        bucket -= percent
    raise AssertionError("DEFINITION_SPLITS must sum to 100")


@functools.lru_cache(maxsize=2)
def _definition_records(wordnet: WordNet, seed_salt: str) -> dict[str, dict[str, list[str]]]:
    """All definition pairs of ``wordnet``, by split (cached: reading WordNet takes ~20 s)."""
    records = {split: {"source": [], "target": [], "synset": []} for split in DEFINITION_SPLITS}
    for synset in wordnet.all_synsets():
        examples = wordnet.examples(synset)
        if not examples:
            continue
        gloss, lemma_names = wordnet.gloss(synset), wordnet.lemma_names(synset)
        columns = records[definition_split_of(gloss, seed_salt)]
        for example in examples:
            columns["source"].append(f"{pick_lemma(lemma_names, example)} : {example}")
            columns["target"].append(gloss)
            columns["synset"].append(synset)
    return records


def definition_pairs(
    split: str, *, wordnet: WordNet | None = None, seed_salt: str = "lexkd"
) -> datasets.Dataset:
    """Definition modelling from WordNet 3.0: one example per (synset, example sentence).

    ``source`` is ``"<lemma> : <example sentence>"`` (lemma chosen by :func:`pick_lemma`),
    ``target`` the synset's gloss, ``synset`` its name (``"walk.v.01"``). Synsets without
    example sentences give nothing.

    Splits are 90/5/5 by a stable hash of the gloss (:func:`definition_split_of`), so no synset
    and no gloss occurs in two splits (218 glosses of WordNet 3.0 are shared by two or more
    synsets with examples; hashing the synset id would let those cross splits). The order is
    WordNet's (see :meth:`WordNet.all_synsets`). The first call reads all of WordNet (~20 s);
    the result is cached per ``(wordnet, seed_salt)``.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        wordnet: default :func:`~lexkd.lexical.wordnet.get_wordnet`.
        seed_salt: changes the split assignment.

    Raises:
        ValueError: unknown split.
        WordNetNotFoundError: no WordNet 3.0 installed (the message says how to install it).
    """
    if split not in DEFINITION_SPLITS:
        raise ValueError(
            f"Unknown definitions split {split!r}; valid: {', '.join(DEFINITION_SPLITS)}."
        )
    columns = _definition_records(wordnet if wordnet is not None else get_wordnet(), seed_salt)[
        split
    ]
    features = datasets.Features({**PAIR_FEATURES, "synset": datasets.Value("string")})
    return datasets.Dataset.from_dict(columns, features=features)


# --------------------------------------------------------------------------- Hugging Face datasets


def _load_hf_split(name: str, split: str, config_name: str | None) -> datasets.Dataset:
    """One split of a ``save_to_disk`` folder, or of what ``load_dataset`` serves."""
    path = Path(name)
    if path.is_dir() and (
        (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
    ):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ValueError(f"{name} has no split {split!r}; splits: {', '.join(loaded)}.")
            return loaded[split]
        return loaded
    try:
        return datasets.load_dataset(name, config_name, split=split)
    except OSError as error:  # ConnectionError, DatasetNotFoundError, offline mode
        config = f" (config {config_name!r})" if config_name else ""
        raise OSError(
            f"Could not load split {split!r} of {name!r}{config} with datasets.load_dataset, "
            f"nor as a save_to_disk folder: {error}. Without a network, pass a local folder or use "
            "load_parallel_files."
        ) from None


def load_hf_pairs(
    name: str, *, source_column: str, target_column: str, split: str, config_name: str | None = None
) -> datasets.Dataset:
    """``source_column`` and ``target_column`` of a hub dataset (or a local ``save_to_disk``
    folder, or anything else ``datasets.load_dataset`` reads) as ``source`` and ``target``.

    Raises:
        ValueError: a missing column (the available ones listed), a column that is not text,
            or (local folder) a missing split.
        OSError: the dataset could not be loaded; the message says what was tried.
    """
    dataset = _load_hf_split(name, split, config_name)
    missing = [c for c in (source_column, target_column) if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{name} ({split}) has no column(s) {', '.join(map(repr, missing))}; "
            f"available columns: {', '.join(dataset.column_names)}."
        )
    for column in (source_column, target_column):
        feature = dataset.features[column]
        if not (
            isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")
        ):
            raise ValueError(f"{name} ({split}): column {column!r} is {feature}, not text.")
    dataset = dataset.select_columns([source_column, target_column])
    if source_column == target_column:  # e.g. auto-encoding: both sides are the same column
        return dataset.map(
            lambda batch: {"source": batch[source_column], "target": batch[source_column]},
            batched=True,
            remove_columns=[source_column],
            features=PAIR_FEATURES,
        )
    return dataset.rename_columns({source_column: "source", target_column: "target"}).cast(
        PAIR_FEATURES
    )


# --------------------------------------------------------------------------- dispatch


def load_nlg_data(
    task: str,
    *,
    data_dir: str | os.PathLike | None = None,
    direction: str = "modern2original",
    train_files: tuple[str | os.PathLike, str | os.PathLike] | None = None,
    validation_files: tuple[str | os.PathLike, str | os.PathLike] | None = None,
    source_column: str | None = None,
    target_column: str | None = None,
    config_name: str | None = None,
    train_split: str = "train",
    validation_split: str = "validation",
    wordnet: WordNet | None = None,
    seed_salt: str = "lexkd",
) -> datasets.DatasetDict:
    """The ``train`` and ``validation`` splits of an NLG task, columns ``source`` and ``target``.

    Args:
        task: ``"shakespeare"`` (:func:`load_shakespeare` with ``data_dir``, ``direction``);
            ``"definitions"`` (:func:`definition_pairs` with ``wordnet``, ``seed_salt``; the
            ``synset`` column is kept); ``"files"`` (``train_files`` and ``validation_files``,
            each a ``(source_path, target_path)`` pair); or any other name: a hub dataset or local
            ``save_to_disk`` folder read by :func:`load_hf_pairs` with ``source_column``,
            ``target_column``, ``config_name``, ``train_split`` and ``validation_split``.

    Raises:
        ValueError: ``"files"`` without both file pairs; a name that is not a preset given
            without both columns (the presets listed); and see the loaders.
    """
    splits = ("train", "validation")
    if task == "shakespeare":
        parts = {s: load_shakespeare(s, data_dir=data_dir, direction=direction) for s in splits}
    elif task == "definitions":
        parts = {s: definition_pairs(s, wordnet=wordnet, seed_salt=seed_salt) for s in splits}
    elif task == "files":
        if train_files is None or validation_files is None:
            raise ValueError(
                "Task 'files' needs train_files and validation_files, each "
                "(source_path, target_path)."
            )
        parts = {
            "train": load_parallel_files(*train_files),
            "validation": load_parallel_files(*validation_files),
        }
    elif source_column is None or target_column is None:
        raise ValueError(
            f"Unknown NLG task {task!r}: presets are {', '.join(NLG_PRESETS)}; for a hub "
            "dataset or save_to_disk folder give source_column and target_column."
        )
    else:
        names = {"train": train_split, "validation": validation_split}
        parts = {
            s: load_hf_pairs(
                task,
                source_column=source_column,
                target_column=target_column,
                split=name,
                config_name=config_name,
            )
            for s, name in names.items()
        }
    return datasets.DatasetDict(parts)


# --------------------------------------------------------------------------- tokenisation


def _target_ids(ids: list[int], max_length: int, decoder_start_token_id: int | None) -> list[int]:
    """Drop a leading decoder start token, then truncate to ``max_length`` keeping the last id."""
    if decoder_start_token_id is not None and ids and ids[0] == decoder_start_token_id:
        ids = ids[1:]
    if len(ids) > max_length:
        ids = ids[: max_length - 1] + ids[-1:]  # the last id is the tokenizer's EOS/[SEP]
    return ids


def tokenize_pairs(
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_source_length: int,
    max_target_length: int,
    decoder_start_token_id: int | None = None,
) -> datasets.Dataset:
    """Tokenise ``source`` (and ``target``, if present) for an encoder-decoder model.

    Returns a Dataset with only ``input_ids`` and ``attention_mask`` (sources, at most
    ``max_source_length`` ids, no ``token_type_ids``) and, when ``dataset`` has a ``target``
    column, ``labels``: the ids of ``tokenizer(text_target=target)`` with the first id dropped
    if it equals ``decoder_start_token_id``, at most ``max_target_length`` ids. For bert2bert
    (``[CLS] y [SEP]``, decoder start ``[CLS]``) labels are ``y [SEP]``; T5/BART labels are
    unchanged (pass ``decoder_start_token_id=None`` or their start id, which their labels do
    not begin with). Truncation keeps the final EOS/``[SEP]``. Nothing is padded: use
    ``DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)``.

    Raises:
        ValueError: a length <= 0, or no ``source`` column.
    """
    if max_source_length <= 0 or max_target_length <= 0:
        raise ValueError(
            f"max_source_length and max_target_length must be > 0, got {max_source_length} and "
            f"{max_target_length}."
        )
    if "source" not in dataset.column_names:
        raise ValueError(
            f"tokenize_pairs needs a 'source' column; columns: {', '.join(dataset.column_names)}."
        )
    has_target = "target" in dataset.column_names
    # One more id than kept, so that dropping the start token still leaves max_target_length ids.
    target_budget = max_target_length + (decoder_start_token_id is not None)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(
            batch["source"],
            max_length=max_source_length,
            truncation=True,
            return_token_type_ids=False,
        )
        output = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        if has_target:
            targets = tokenizer(
                text_target=batch["target"], max_length=target_budget, truncation=True
            )
            output["labels"] = [
                _target_ids(ids, max_target_length, decoder_start_token_id)
                for ids in targets["input_ids"]
            ]
        return output

    return dataset.map(
        encode,
        batched=True,
        remove_columns=dataset.column_names,
        desc="Tokenising source/target pairs",
    )
