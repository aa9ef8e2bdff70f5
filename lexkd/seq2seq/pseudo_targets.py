"""Teacher pseudo-targets, generated once and stored on disk (a ``datasets`` Arrow folder).

Sequence-level KD (Kim & Rush 2016) trains the student on the teacher's beam-search output;
Calderon et al. (ACL 2023, arXiv 2305.02031) sample several pseudo-targets per input from the
teacher; f-DISTILL (Wen et al., ACL 2023) takes expectations over teacher samples. The teacher is
frozen, so its outputs for a given input and decoding setting are computed once and reused across
epochs, methods and runs. Student samples change as the student trains and are never cached.

A cache folder is keyed by everything that determines its content: the teacher's weights (a hash
of its files, or the hub id and commit), the tokenizer's vocabulary, the decoding settings with
their seed, the source texts and the source length limit. Sources that a complete folder of the same
teacher, tokenizer, decoding settings and length limit already holds are read from it rather than
generated again (e.g. the labelled inputs of a run inside the cache of all its inputs): the rows of
those sources, renumbered. Their samples are then those drawn for the larger set (with their own batch
seeds), so a run reads the same pseudo-targets whichever order the caches were made in only when the
larger cache exists first; the run records which folder it read. A folder is written to a temporary
sibling and renamed into place when complete, under a lock, so an interrupted generation never
leaves a folder that reads as complete, and two runs wanting the same cache generate it once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import datasets
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lexkd.models.seq2seq import GenerationSettings, generate_targets
from lexkd.utils.fingerprints import refuse_unpinned_reuse, tokenizer_fingerprint
from lexkd.utils.io import atomic_directory, file_lock, write_json_atomically

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
META_NAME = "lexkd_pseudo_targets.json"
SOURCES_NAME = "sources.json"
"""Beside the cached rows: the SHA-256 of each source text, in source-index order (what subset reuse looks up)."""
COLUMNS = ("source_index", "sample_index", "target_ids", "truncated")


def cache_key(
    teacher_fingerprint: str,
    tokenizer: PreTrainedTokenizerBase,
    settings: GenerationSettings,
    sources: Sequence[str],
    *,
    max_source_length: int,
) -> dict:
    """The canonical description of a pseudo-target set (plain JSON data)."""
    return {
        "lexkd_cache_version": CACHE_VERSION,
        "teacher": teacher_fingerprint,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "generation": settings.to_dict(),
        "sources": hashlib.sha256("\n".join(sources).encode()).hexdigest(),
        "num_sources": len(sources),
        "max_source_length": max_source_length,
    }


def _source_hashes(sources: Sequence[str]) -> list[str]:
    return [hashlib.sha256(text.encode()).hexdigest() for text in sources]


def _subset_of_existing(cache_dir: Path, teacher_label: str, key: dict, sources: Sequence[str]):
    """Rows for ``sources`` from a complete folder whose key equals ``key`` but for the sources, when that
    folder holds every one of them: ``(dataset, folder)`` with ``source_index`` renumbered, else None."""
    same = {name: value for name, value in key.items() if name not in ("sources", "num_sources")}
    wanted = _source_hashes(sources)
    for folder in sorted(cache_dir.glob(f"{teacher_label}-*")):
        meta_path, hashes_path = folder / META_NAME, folder / SOURCES_NAME
        if not (meta_path.is_file() and hashes_path.is_file()):
            continue
        recorded = json.loads(meta_path.read_text()).get("key", {})
        if {name: recorded.get(name) for name in same} != same:
            continue
        position = {}
        for index, digest in enumerate(json.loads(hashes_path.read_text())):
            position.setdefault(digest, index)
        if not all(digest in position for digest in wanted):
            continue
        cached = read_cache(folder, recorded)
        by_source: dict[int, list[int]] = {}
        for row, source_index in enumerate(cached["source_index"]):
            by_source.setdefault(source_index, []).append(row)
        rows = [row for digest in wanted for row in by_source[position[digest]]]
        new_index = [i for i, digest in enumerate(wanted) for _ in by_source[position[digest]]]
        subset = cached.select(rows).remove_columns("source_index").add_column("source_index", new_index)
        return subset.select_columns(list(COLUMNS)), folder
    return None


def _key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def read_cache(folder: str | os.PathLike, key: dict) -> datasets.Dataset | None:
    """The cached pseudo-targets in ``folder`` if it is complete and was built for ``key``, else None.

    Raises:
        ValueError: the folder is complete but records another key (its files were changed).
    """
    folder = Path(folder)
    meta_path = folder / META_NAME
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("key") != key:
        raise ValueError(
            f"The pseudo-target cache {folder} was built for another teacher, tokenizer, decoding "
            f"setting or data ({json.dumps(meta.get('key'), sort_keys=True)}); delete it or use "
            "another --cache_dir."
        )
    dataset = datasets.load_from_disk(str(folder))
    if len(dataset) != meta["num_rows"] or tuple(dataset.column_names) != COLUMNS:
        raise ValueError(f"The pseudo-target cache {folder} is damaged (rows or columns differ from its record); delete it.")
    return dataset


def _batches(sources: Sequence[str], tokenizer, batch_size: int, max_source_length: int):
    """Batches of source indices, longest first (less padding), with their encodings."""
    lengths = [len(ids) for ids in tokenizer(list(sources), truncation=True, max_length=max_source_length)["input_ids"]]
    order = sorted(range(len(sources)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        indices = order[start:start + batch_size]
        encoded = tokenizer(
            [sources[i] for i in indices], truncation=True, max_length=max_source_length, padding=True,
            return_token_type_ids=False, return_tensors="pt",
        )
        yield indices, encoded


def generate_pseudo_targets(
    teacher: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: Sequence[str],
    settings: GenerationSettings,
    *,
    max_source_length: int,
    batch_size: int = 64,
) -> dict[str, list]:
    """Generate ``settings.num_return_sequences`` pseudo-targets per source with the teacher.

    Args:
        teacher: a seq2seq model (eval mode is set during generation).
        sources: the input texts, labelled or not.
        settings: decoding settings; ``seed`` makes the samples reproducible without touching
            the global RNG.

    Returns:
        Columns ``source_index`` (int), ``sample_index`` (0..R-1), ``target_ids`` (token ids
        without the decoder start token, ending with EOS unless truncated) and ``truncated``
        (no EOS within ``max_new_tokens``), rows sorted by (source_index, sample_index).
    """
    device = next(teacher.parameters()).device
    rows: dict[str, list] = {name: [] for name in COLUMNS}
    samples = settings.num_return_sequences
    progress = tqdm(total=len(sources), desc="Teacher pseudo-targets", unit="input")
    for batch_number, (indices, encoded) in enumerate(_batches(sources, tokenizer, batch_size, max_source_length)):
        # A per-batch seed keeps samples reproducible whatever the batch size of earlier batches.
        batch_settings = settings if settings.seed is None else dataclasses.replace(settings, seed=settings.seed + batch_number)
        labels, truncated = generate_targets(
            teacher, encoded["input_ids"].to(device), encoded["attention_mask"].to(device), batch_settings
        )  # (B * R, L), (B * R,)
        for row, (ids, cut) in enumerate(zip(labels.tolist(), truncated.tolist(), strict=True)):
            rows["source_index"].append(indices[row // samples])
            rows["sample_index"].append(row % samples)
            rows["target_ids"].append([token for token in ids if token != -100])
            rows["truncated"].append(bool(cut))
        progress.update(len(indices))
    progress.close()
    order = sorted(range(len(rows["source_index"])), key=lambda i: (rows["source_index"][i], rows["sample_index"][i]))
    return {name: [values[i] for i in order] for name, values in rows.items()}


def load_or_generate(
    teacher: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: Sequence[str],
    settings: GenerationSettings,
    *,
    cache_dir: str | os.PathLike,
    teacher_fingerprint: str,
    teacher_label: str = "teacher",
    max_source_length: int,
    batch_size: int = 64,
    allow_unpinned_teacher: bool = False,
) -> tuple[datasets.Dataset, Path]:
    """The teacher's pseudo-targets for ``sources``, read from the cache or generated once.

    The cache folder is ``cache_dir/<teacher_label>-<key digest>``. A complete folder for the
    same key is read (memory-mapped), never regenerated; so is a complete folder of the same teacher,
    tokenizer, decoding settings and source length that holds all of ``sources`` (their rows are
    selected and renumbered: module docstring); otherwise the pseudo-targets are generated, written
    to a temporary folder and renamed into place. A folder keyed by a hub
    teacher of unknown commit (``teacher_fingerprint`` ``hub:NAME@unknown``) is reused only with
    ``allow_unpinned_teacher``: its key would not change if the teacher were updated on the hub.

    Returns:
        ``(dataset, folder)``; the dataset has the columns of :func:`generate_pseudo_targets`.

    Raises:
        ValueError: no sources.
        UnpinnedModelError: a complete folder for an unpinned teacher without ``allow_unpinned_teacher``.
    """
    if not sources:
        raise ValueError("No source texts to generate pseudo-targets for.")
    key = cache_key(teacher_fingerprint, tokenizer, settings, sources, max_source_length=max_source_length)
    cache_dir = Path(cache_dir)
    folder = cache_dir / f"{teacher_label}-{_key_digest(key)}"
    with file_lock(cache_dir, name=f".{folder.name}.lock"):
        cached = read_cache(folder, key)
        if cached is not None:
            refuse_unpinned_reuse([teacher_fingerprint], what=f"The pseudo-target cache {folder}",
                                  allow=allow_unpinned_teacher, rebuild=f"delete {folder}")
            logger.info("Pseudo-targets read from %s (%d rows)", folder, len(cached))
            return cached, folder
        subset = _subset_of_existing(cache_dir, teacher_label, key, sources)
        if subset is not None:
            refuse_unpinned_reuse([teacher_fingerprint], what=f"The pseudo-target cache {subset[1]}",
                                  allow=allow_unpinned_teacher, rebuild=f"delete {subset[1]}")
            logger.info("Pseudo-targets of the %d sources read from %s, which holds them all (%d rows)",
                        len(sources), subset[1], len(subset[0]))
            return subset
        started = time.perf_counter()
        columns = generate_pseudo_targets(
            teacher, tokenizer, sources, settings, max_source_length=max_source_length, batch_size=batch_size
        )
        dataset = datasets.Dataset.from_dict(columns)
        with atomic_directory(folder) as tmp:
            dataset.save_to_disk(str(tmp))
            meta = {
                "key": key, "num_rows": len(dataset), "teacher_label": teacher_label,
                "truncated_share": sum(columns["truncated"]) / len(dataset),
                "seconds": round(time.perf_counter() - started, 1),
            }
            write_json_atomically(_source_hashes(sources), tmp / SOURCES_NAME)
            write_json_atomically(meta, tmp / META_NAME)  # written last: marks the folder complete
        logger.info("Pseudo-targets generated in %.0f s and stored in %s", meta["seconds"], folder)
        return datasets.load_from_disk(str(folder)), folder
