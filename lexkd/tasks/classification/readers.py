"""Generic readers of tabular files: TSV/CSV, JSON and JSON lines, members of a tar archive.

Every reader returns :data:`Records`, ``[(location, {column: value}), ...]`` in file order, where
``location`` (``"line 12"``, ``"record 3"``) is what errors about that row name. Files are UTF-8
(an optional byte-order mark is dropped); empty files, bytes that do not decode, rows of the
wrong width and invalid JSON are ``ValueError`` naming the file and line. Used by the GLUE
presets (:mod:`lexkd.tasks.glue.data`) and the MSRP reader (:func:`lexkd.tasks.plagiarism.data.read_msrp`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

Records = list[tuple[str, dict]]  # (location such as "line 12", {column: value})

#: The header of the Microsoft Research Paraphrase Corpus files (tab-separated, no quoting).
MSRP_COLUMNS = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")


def _decode(data: bytes, source: str) -> str:
    if not data.strip():
        raise ValueError(f"{source} is empty.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{source}, line {line}: text cannot be decoded as UTF-8 ({error.reason}, byte "
                         f"{data[error.start:error.start + 1]!r})") from None


def read_delimited(data: bytes, source: str, *, delimiter: str = "\t", fieldnames: Sequence[str] | None = None,
                   header: Sequence[str] | None = None, quoting: int = csv.QUOTE_NONE) -> Records:
    """Rows of a TSV/CSV text (UTF-8, optional BOM, LF or CRLF) parsed by the ``csv`` module.

    Args:
        data: the file's bytes; ``source`` names it in errors.
        fieldnames: column names of a file without a header (default: the first row is the header).
        header: the header row the file must have (names compared without surrounding spaces);
            records are keyed by these names. Without it, any first row is the header.
        quoting: ``csv.QUOTE_NONE`` for GLUE's TSVs (quotes are text), ``csv.QUOTE_MINIMAL`` for CSV.

    Returns:
        ``[("line N", {column: value}), ...]`` in file order.

    Raises:
        ValueError: an empty or undecodable file, a header other than ``header``, a row with the
            wrong number of fields, a blank line followed by more rows, or a header with no rows
            (file and line named); both ``fieldnames`` and ``header`` given.
    """
    if fieldnames is not None and header is not None:
        raise ValueError("Give fieldnames (a file with no header row) or header (the header it must have), not both.")
    reader = csv.reader(io.StringIO(_decode(data, source), newline=""), delimiter=delimiter, quoting=quoting)
    columns = list(fieldnames) if fieldnames is not None else next(reader)
    if header is not None:
        if [name.strip() for name in columns] != list(header):
            raise ValueError(f"{source}, line 1: expected the header {list(header)}, found {columns}.")
        columns = list(header)
    records: Records = []
    blank_line = None
    for row in reader:
        if not row:
            blank_line = blank_line or reader.line_num
            continue
        if blank_line is not None:
            raise ValueError(f"{source}, line {blank_line}: blank line between rows.")
        if len(row) != len(columns):
            raise ValueError(f"{source}, line {reader.line_num}: expected {len(columns)} fields "
                             f"({', '.join(columns)}), found {len(row)}.")
        records.append((f"line {reader.line_num}", dict(zip(columns, row, strict=True))))
    if not records:
        raise ValueError(f"{source} has no data rows.")
    return records


def read_json_records(data: bytes, source: str, *, lines: bool | None = None) -> Records:
    """Records of a JSON file (a list of objects, or an object of objects) or of JSON lines.

    ``lines=None`` detects JSON lines (a file that is not one JSON value). Locations are
    ``"line N"`` (JSON lines) or ``"record K"``.

    Raises:
        ValueError: empty, undecodable or invalid JSON, or records that are not objects.
    """
    text = _decode(data, source)
    if not lines:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            if lines is False or error.msg != "Extra data":
                raise ValueError(f"{source}, line {error.lineno}: not valid JSON ({error.msg}).") from None
            lines = True
    if lines:
        value, locations = [], []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    value.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{source}, line {number}: not valid JSON ({error.msg}).") from None
                locations.append(f"line {number}")
    elif isinstance(value, dict):
        locations, value = [f"record {key!r}" for key in value], list(value.values())
    elif isinstance(value, list):
        locations = [f"record {i}" for i in range(len(value))]
    else:
        raise ValueError(f"{source}: expected a list of records or an object of records, found {type(value).__name__}.")
    for location, record in zip(locations, value, strict=True):
        if not isinstance(record, dict):
            raise ValueError(f"{source}, {location}: expected an object of columns, found {record!r:.60}.")
    if not value:
        raise ValueError(f"{source} has no records.")
    return list(zip(locations, value, strict=True))



def read_records(path: str | os.PathLike) -> Records:
    """Records of a ``.tsv`` (tab, no quoting), ``.csv`` (comma, quoted fields), ``.json`` or ``.jsonl`` file.

    Raises:
        FileNotFoundError: no such file. ValueError: other extensions and bad files (see the readers).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".csv"):
        return read_delimited(path.read_bytes(), str(path), delimiter="\t" if suffix == ".tsv" else ",",
                              quoting=csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL)
    if suffix in (".json", ".jsonl"):
        return read_json_records(path.read_bytes(), str(path), lines=True if suffix == ".jsonl" else None)
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use .tsv, .csv, .json or .jsonl.")


def parse_column_mapping(text: str | None) -> dict[str, str]:
    """``"sentence=text,label=polarity"`` -> ``{"sentence": "text", "label": "polarity"}``.

    Raises:
        ValueError: an item without ``=`` or with an empty side.
    """
    mapping = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        task_column, _, file_column = (side.strip() for side in item.partition("="))
        if not task_column or not file_column:
            raise ValueError(f"Bad column mapping {item!r}: expected TASK_COLUMN=FILE_COLUMN, e.g. sentence=text.")
        mapping[task_column] = file_column
    return mapping


def read_archive_members(archive: str | os.PathLike, names: Sequence[str], *, hint: str = "") -> dict[str, bytes]:
    """The bytes of the members of a tar archive (any compression ``tarfile`` reads) whose path is
    ``NAME`` or ends with ``/NAME``, for each of ``names`` (which may hold folders, e.g.
    ``glue_pretrain/QNLI/train.json``), read in place in one pass.

    Args:
        hint: added to the error when the archive is missing (what reads it, how else to get the data).

    Returns:
        ``{name: bytes}`` for every name.

    Raises:
        FileNotFoundError: no archive, or a member missing from it (both named).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: no such file." + (f" {hint}" if hint else ""))
    found: dict[str, bytes] = {}
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            name = next((n for n in names if member.name == n or member.name.endswith(f"/{n}")), None)
            if name is not None and member.isfile():
                found[name] = tar.extractfile(member).read()
            if len(found) == len(names):
                break
    missing = [n for n in names if n not in found]
    if missing:
        raise FileNotFoundError(f"{archive} has no member .../{missing[0]}.")
    return found
