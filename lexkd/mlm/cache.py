"""Offline multi-teacher targets for MLM distillation: run the teachers once, train from disk.

A cache fixes the masking (static masking, as BERT's original pipeline and RoBERTa's
"static" baseline do): each training sequence is masked ``num_maskings`` times, each time by a
generator seeded from ``(masking_seed, masking, sequence index)``, so the masks do not depend
on batch size, shard size or the number of processes. For each masked position it stores the
top-k of the combined target ``q`` (:func:`lexkd.mlm.teachers.combine_teachers`: token ids and
probabilities), the mass ``r`` outside them, and the teachers' weights. The trainer's loss on
such a target is :func:`lexkd.losses.sparse_kl_divergence` (the tail mass is one bucket).

Layout of a cache folder::

    build_config.json    what is being built (written first; a build with other settings is refused)
    shards/m00-00000/    one ``datasets`` Arrow folder per (masking, block of sequences), written
                         under a temporary name and renamed when complete
    cache_meta.json      written last, atomically: settings, shards with their rows and file
                         sizes, totals. Without it the cache is incomplete and is never read.

An interrupted build resumes: complete shards are kept, temporary ones are removed, the rest
are built. With ``accelerate launch`` each process builds the blocks ``b`` with
``b % num_processes == process_index``; the main process writes ``cache_meta.json`` at the end.
Reading (:mod:`lexkd.mlm.cache_reader`, :class:`~lexkd.mlm.cache_reader.TeacherCache`) memory-maps the shards
(``datasets.load_from_disk``).

Columns of a row (one masking of one sequence, ``n`` masked positions, ``K`` teachers):
``input_ids`` (masked input, ``L``), ``masked_positions`` (``n``, ascending), ``gold_ids``
(``n``), ``target_ids`` (``n * k``, row-major), ``target_probs`` (``n * k``, float16),
``tail_mass`` (``n``, float32), ``teacher_weights`` (``K * n``, float16), ``sequence_index``,
``masking``, and ``token_type_ids`` (``L``) when the corpus has them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from lexkd.mlm.teachers import Teacher, check_weighting_rule, combine_teachers
from lexkd.models.masked_lm import masked_lm_logits
from lexkd.utils.fingerprints import (
    dataset_fingerprint,
    is_pinned,
    model_fingerprint,
    refuse_unpinned_reuse,
    tokenizer_fingerprint,
)
from lexkd.utils.io import atomic_directory, write_json_atomically

logger = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: a SHA-256 per shard file in cache_meta.json
META_NAME = "cache_meta.json"
BUILD_NAME = "build_config.json"


class TeacherCacheError(ValueError):
    """A teacher cache that is missing, incomplete, damaged, or built for other settings."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def shard_problem(folder: Path, shard: dict) -> str | None:
    """What is wrong with a built shard against its ``cache_meta.json`` record (None: intact).

    Checks that every recorded file exists with its size and SHA-256 (a shard overwritten in place with the
    same size, e.g. zeroed or NaN bytes, fails the checksum).
    """
    if not folder.is_dir():
        return "missing"
    for name, size in shard["files"].items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes but {size} were written (truncated or changed)"
        if file_sha256(path) != shard["sha256"][name]:
            return f"{name} does not match its SHA-256 (its bytes were changed after it was written)"
    return None


def read_cache_json(path: Path) -> dict:
    """A JSON file of a teacher cache (``cache_meta.json``, a build record, a shard's record).

    Raises:
        TeacherCacheError: the file is not valid JSON (a damaged cache), naming the file and the fix.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TeacherCacheError(f"{path} is not valid JSON ({error}): the teacher cache is damaged. Rebuild it "
                                "(scripts/build_teacher_cache.py with --overwrite), or delete the folder.") from None


def cache_config(
    teachers: Sequence[Teacher],
    tokenizer: PreTrainedTokenizerBase,
    dataset: datasets.Dataset,
    *,
    rule: str,
    temperature: float,
    weight_temperature: float,
    mlm_probability: float,
    num_maskings: int,
    top_k: int,
    masking_seed: int,
) -> dict:
    """What a cache is built from and for (plain JSON data); two caches are interchangeable iff equal.

    Raises:
        ValueError: no teacher, an empty dataset, ``top_k`` outside ``[1, vocab_size]``,
            ``num_maskings < 1``, an unknown rule, temperatures <= 0 or mlm_probability outside (0, 1).
    """
    if not teachers:
        raise ValueError("A teacher cache needs at least one teacher.")
    if len(dataset) == 0:
        raise ValueError("The corpus has no training sequence: nothing to cache.")
    vocab_size = len(tokenizer)
    if not 1 <= top_k <= vocab_size:
        raise ValueError(f"--top_k must be in [1, {vocab_size}] (the vocabulary size), got {top_k}.")
    if num_maskings < 1:
        raise ValueError(f"--num_maskings must be >= 1, got {num_maskings}.")
    check_weighting_rule(rule)
    if not (temperature > 0 and weight_temperature > 0):
        raise ValueError(f"Temperatures must be > 0, got {temperature} and {weight_temperature}.")
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"--mlm_probability must be in (0, 1), got {mlm_probability}.")
    return {
        "lexkd_cache_version": CACHE_VERSION,
        "teachers": [{"name": t.name, "label": t.label, "fingerprint": model_fingerprint(t.name, t.model),
                      **({"dtype": t.dtype} if t.dtype != "float32" else {})} for t in teachers],
        "weighting": rule, "temperature": temperature, "weight_temperature": weight_temperature,
        "tokenizer": tokenizer_fingerprint(tokenizer), "vocab_size": vocab_size,
        "mlm_probability": mlm_probability, "num_maskings": num_maskings, "masking_seed": masking_seed,
        "top_k": top_k, "data": dataset_fingerprint(dataset), "num_sequences": len(dataset),
    }


def _features(num_teachers: int, vocab_size: int, with_token_types: bool) -> datasets.Features:
    ids = datasets.Value("uint16" if vocab_size <= 65536 else "int32")
    features = {
        "input_ids": datasets.Sequence(ids), "masked_positions": datasets.Sequence(datasets.Value("int32")),
        "gold_ids": datasets.Sequence(ids), "target_ids": datasets.Sequence(ids),
        "target_probs": datasets.Sequence(datasets.Value("float16")),
        "tail_mass": datasets.Sequence(datasets.Value("float32")),
        "teacher_weights": datasets.Sequence(datasets.Value("float16")),
        "sequence_index": datasets.Value("int64"), "masking": datasets.Value("int32"),
    }
    if with_token_types:
        features["token_type_ids"] = datasets.Sequence(datasets.Value("uint8"))
    return datasets.Features(features)


def mask_sequence(masker: DataCollatorForLanguageModeling, input_ids: list[int], special_tokens_mask: list[int] | None,
                  *, seed: int, masking: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask one sequence with transformers' 80/10/10 rule, from a generator seeded by (seed, masking, index).

    Returns:
        ``(masked_input_ids, labels)``, each ``(L,)`` int64; labels are -100 where not masked.
    """
    masker.generator.manual_seed((seed * 1_000_003 + masking) * 1_000_000_007 + index)
    special = None if special_tokens_mask is None else torch.tensor([special_tokens_mask], dtype=torch.bool)
    inputs, labels = masker.torch_mask_tokens(torch.tensor([input_ids], dtype=torch.long), special)
    return inputs[0], labels[0]


def _pad(rows: Sequence[torch.Tensor], value: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)  # (B, T)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@torch.inference_mode()
def _cache_rows(teachers: Sequence[Teacher], masker, examples: list[dict], indices: list[int], masking: int,
                config: dict, device) -> dict[str, list]:
    """Mask ``examples`` (rows of the tokenised corpus), run the teachers at the masked positions,
    and return the cache columns of these rows (top-k of q per masked position)."""
    masked, labels = zip(*(mask_sequence(masker, ex["input_ids"], ex.get("special_tokens_mask"), seed=config["masking_seed"],
                                         masking=masking, index=index)
                           for ex, index in zip(examples, indices, strict=True)), strict=True)
    input_ids, label_ids = _pad(masked, masker.tokenizer.pad_token_id), _pad(labels, -100)  # (B, T)
    attention = _pad([torch.ones(len(m), dtype=torch.long) for m in masked], 0)
    with_types = "token_type_ids" in examples[0]
    token_types = _pad([torch.tensor(ex["token_type_ids"]) for ex in examples], 0).to(device) if with_types else None
    is_masked = label_ids != -100  # (B, T); row-major order of masked positions = the order of q's rows
    logits = [masked_lm_logits(t.model, input_ids.to(device), is_masked.to(device), attention.to(device), token_types,
                               vocabulary_map=t.vocabulary_map)
              for t in teachers]  # K x (N, V), over the student's ids
    gold = label_ids[is_masked]  # (N,)
    q, weights = combine_teachers(logits, rule=config["weighting"], temperature=config["temperature"],
                                  weight_temperature=config["weight_temperature"], labels=gold.to(device))
    top_probs, top_ids = q.topk(config["top_k"], dim=-1)  # (N, k)
    tail = (1.0 - top_probs.sum(-1)).clamp_min(0.0).cpu().numpy()  # summed in float32, before the float16 cast
    top_ids, top_probs = top_ids.cpu().numpy(), top_probs.cpu().numpy().astype(np.float16)
    weights = weights.cpu().numpy().astype(np.float16)  # (K, N)
    out = {name: [] for name in _features(1, 2, with_types)}
    start = 0
    for i, n in enumerate(is_masked.sum(-1).tolist()):
        span = slice(start, start + n)
        out["input_ids"].append(masked[i].numpy())
        out["masked_positions"].append(is_masked[i].nonzero().squeeze(-1).numpy().astype(np.int32))
        out["gold_ids"].append(gold[span].numpy())
        out["target_ids"].append(top_ids[span].reshape(-1))
        out["target_probs"].append(top_probs[span].reshape(-1))
        out["tail_mass"].append(tail[span])
        out["teacher_weights"].append(weights[:, span].reshape(-1))
        out["sequence_index"].append(indices[i])
        out["masking"].append(masking)
        if with_types:
            out["token_type_ids"].append(np.asarray(examples[i]["token_type_ids"], dtype=np.uint8))
        start += n
    return out


def _blocks_of(config: dict, shard_size: int) -> list[tuple[str, int, int, int]]:
    """Every shard of the cache as ``(name, masking, first sequence, end)``, in a fixed order."""
    n = config["num_sequences"]
    starts = range(0, n, shard_size)
    return [(f"m{m:02d}-{b:05d}", m, lo, min(lo + shard_size, n))
            for m in range(config["num_maskings"]) for b, lo in enumerate(starts)]


def _prepare_folder(output: Path, config: dict, shard_size: int, overwrite: bool) -> dict | None:
    """Main process: reuse a complete cache, refuse a foreign one, record the build. Returns the meta to reuse."""
    meta_path, build_path = output / META_NAME, output / BUILD_NAME
    record = {"config": config, "shard_size": shard_size}  # the shard layout must not change on resume
    if meta_path.is_file() and not overwrite:
        meta = read_cache_json(meta_path)
        if meta["config"] == config:
            damaged = {shard["name"]: problem for shard in meta["shards"]
                       if (problem := shard_problem(output / "shards" / shard["name"], shard))}
            if not damaged:
                return meta
            for name, problem in damaged.items():  # rebuild those, keep the intact ones
                logger.warning("Rebuilding shard %s of %s: %s", name, output, problem)
                shutil.rmtree(output / "shards" / name, ignore_errors=True)
            write_json_atomically(record, build_path)
            meta_path.unlink()
            return None
        raise TeacherCacheError(
            f"{output} holds a complete teacher cache built with other settings (differing: "
            f"{', '.join(_differences(meta['config'], config))}); pass --overwrite to rebuild it or choose another --output_dir."
        )
    if output.exists() and overwrite:
        if not (meta_path.is_file() or build_path.is_file()) and any(output.iterdir()):
            raise TeacherCacheError(f"{output} is not a teacher cache; --overwrite only replaces caches. Choose another --output_dir.")
        shutil.rmtree(output)
    elif build_path.is_file() and read_cache_json(build_path) != record:
        recorded = read_cache_json(build_path)
        differing = _differences(recorded.get("config", {}), config)
        if recorded.get("shard_size") != shard_size:
            differing.append(f"shard_size: {recorded.get('shard_size')!r} vs {shard_size!r}")
        raise TeacherCacheError(
            f"{output} holds an interrupted build of another teacher cache or shard layout (differing: "
            f"{', '.join(differing)}); resume with the same settings, pass --overwrite, or choose another --output_dir."
        )
    elif output.is_dir() and any(output.iterdir()) and not build_path.is_file():
        raise TeacherCacheError(f"{output} exists and is not a teacher cache: choose an empty or new --output_dir.")
    (output / "shards").mkdir(parents=True, exist_ok=True)
    for leftover in (output / "shards").glob(".*"):  # shards an interrupted build left half-written
        logger.info("Removing the incomplete shard %s", leftover.name)
        shutil.rmtree(leftover)
    write_json_atomically(record, build_path)
    return None


def _holds_this_cache(output: Path, config: dict, shard_size: int) -> bool:
    """Whether ``output`` holds this cache, complete or an interrupted build of it (which would be reused)."""
    meta_path, build_path = output / META_NAME, output / BUILD_NAME
    if meta_path.is_file():
        return read_cache_json(meta_path)["config"] == config
    if not build_path.is_file() or read_cache_json(build_path) != {"config": config, "shard_size": shard_size}:
        return False
    return any(not shard.name.startswith(".") for shard in (output / "shards").glob("*"))  # complete shards to keep


def _differences(recorded: dict, wanted: dict) -> list[str]:
    return [f"{key}: {recorded.get(key)!r} vs {wanted.get(key)!r}" for key in sorted(set(recorded) | set(wanted))
            if recorded.get(key) != wanted.get(key)]


def build_teacher_cache(
    teachers: Sequence[Teacher],
    tokenizer: PreTrainedTokenizerBase,
    dataset: datasets.Dataset,
    output_dir: str | os.PathLike,
    *,
    rule: str = "entropy",
    temperature: float = 1.0,
    weight_temperature: float = 1.0,
    mlm_probability: float = 0.15,
    num_maskings: int = 1,
    top_k: int = 32,
    masking_seed: int = 0,
    batch_size: int = 64,
    shard_size: int = 8192,
    overwrite: bool = False,
    allow_unpinned_teacher: bool = False,
) -> dict:
    """Run the teachers once over ``dataset`` and store the top-k combined targets (see the module docstring).

    Args:
        teachers: loaded teachers sharing the tokenizer's vocabulary.
        dataset: the tokenised training corpus (``input_ids``, optionally ``special_tokens_mask``
            and ``token_type_ids``), e.g. ``prepare_mlm_data(...).train``.
        output_dir: the cache folder.
        rule, temperature, weight_temperature: how the teachers are combined
            (:func:`lexkd.mlm.teachers.combine_teachers`); a training run must use the same values.
        mlm_probability, num_maskings, masking_seed: the static masking.
        top_k: target tokens kept per masked position, in ``[1, vocab_size]``.
        batch_size: sequences per teacher forward pass; shard_size: sequences per shard.
        overwrite: replace a cache (complete or not) built with other settings.
        allow_unpinned_teacher: reuse a complete cache, or resume a build, of a teacher that is a
            hub model of unknown commit (:func:`lexkd.utils.fingerprints.is_pinned`); refused otherwise.

    Returns:
        The cache's metadata (``config``, ``shards``, ``totals``), as written to ``cache_meta.json``.

    Raises:
        ValueError: bad settings (see :func:`cache_config`). TeacherCacheError: ``output_dir``
            holds another cache or something else. UnpinnedModelError: reuse (or resume) of a
            cache of an unpinned teacher without ``allow_unpinned_teacher``.
    """
    from accelerate import PartialState

    state = PartialState()
    output = Path(output_dir)
    config = cache_config(teachers, tokenizer, dataset, rule=rule, temperature=temperature,
                          weight_temperature=weight_temperature, mlm_probability=mlm_probability,
                          num_maskings=num_maskings, top_k=top_k, masking_seed=masking_seed)
    started = time.perf_counter()
    fingerprints = [t["fingerprint"] for t in config["teachers"]]
    if not overwrite and _holds_this_cache(output, config, shard_size):  # on every process: all raise alike
        refuse_unpinned_reuse(fingerprints, what=f"The teacher cache {output}", allow=allow_unpinned_teacher,
                              rebuild="--overwrite")
    elif not all(is_pinned(fp) for fp in fingerprints) and state.is_main_process:
        logger.warning("A teacher of %s is a hub model of unknown commit: later runs reuse this cache only with "
                       "--allow_unpinned_teacher", output)
    reused = None
    if state.is_main_process:
        reused = _prepare_folder(output, config, shard_size, overwrite)
    state.wait_for_everyone()
    if (output / META_NAME).is_file() and read_cache_json(output / META_NAME)["config"] == config:
        logger.info("Reusing the complete teacher cache in %s", output)
        return reused or read_cache_json(output / META_NAME)
    blocks = _blocks_of(config, shard_size)
    mine = [block for u, block in enumerate(blocks) if u % state.num_processes == state.process_index]
    todo = [block for block in mine if not (output / "shards" / block[0]).is_dir()]
    masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)
    masker.generator = torch.Generator()
    features = _features(len(teachers), len(tokenizer), "token_type_ids" in dataset.column_names)
    keys = [c for c in ("input_ids", "special_tokens_mask", "token_type_ids") if c in dataset.column_names]
    for teacher in teachers:
        teacher.model.eval().requires_grad_(False).to(state.device)
    bar = tqdm(total=sum(hi - lo for _, _, lo, hi in todo), unit="seq", desc="Caching teacher targets",
               disable=not state.is_local_main_process)
    for name, masking, lo, hi in todo:
        columns = {key: [] for key in features}
        for start in range(lo, hi, batch_size):
            rows = dataset.select_columns(keys)[start:min(start + batch_size, hi)]
            examples = [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
            part = _cache_rows(teachers, masker, examples, list(range(start, start + len(examples))), masking, config,
                               state.device)
            for key, values in part.items():
                columns[key].extend(values)
            bar.update(len(examples))
        _write_shard(columns, features, output / "shards", name)
    bar.close()
    state.wait_for_everyone()
    if state.is_main_process:
        _finish(output, config, blocks, time.perf_counter() - started)
    state.wait_for_everyone()
    return read_cache_json(output / META_NAME)


def _write_shard(columns: dict, features: datasets.Features, folder: Path, name: str) -> None:
    """Write one shard under a temporary name with its row counts, then rename it into place."""
    shard = datasets.Dataset.from_dict(columns, features=features)
    with atomic_directory(folder / name) as tmp:
        shard.save_to_disk(str(tmp))
        stats = {"rows": len(shard), "masked_positions": int(sum(len(g) for g in columns["gold_ids"]))}
        (tmp / "lexkd_shard.json").write_text(json.dumps(stats))


def _finish(output: Path, config: dict, blocks, build_time_s: float) -> dict:
    """Record every shard's rows, file sizes and SHA-256 and the totals in ``cache_meta.json`` (written last)."""
    shards, rows, masked, size = [], 0, 0, 0
    for name, _, lo, hi in blocks:
        folder = output / "shards" / name
        if not folder.is_dir():
            raise TeacherCacheError(f"Shard {name} of {output} was not built (did a process fail?); run the build again to resume.")
        stats = read_cache_json(folder / "lexkd_shard.json")
        if stats["rows"] != hi - lo:
            raise TeacherCacheError(f"Shard {name} of {output} holds {stats['rows']} rows where sequences {lo}-{hi - 1} "
                                    "need one each; rebuild the cache with --overwrite.")
        paths = [p for p in sorted(folder.iterdir()) if p.is_file()]
        files = {p.name: p.stat().st_size for p in paths}
        shards.append({"name": name, **stats, "files": files, "sha256": {p.name: file_sha256(p) for p in paths}})
        rows, masked, size = rows + stats["rows"], masked + stats["masked_positions"], size + sum(files.values())
    dense = masked * config["vocab_size"] * 2
    totals = {"rows": rows, "masked_positions": masked, "bytes": size,
              "bytes_per_masked_position": round(size / max(masked, 1), 2),
              "dense_fp16_bytes": dense, "fraction_of_dense_fp16": round(size / max(dense, 1), 6)}
    meta = {"config": config, "shards": shards, "totals": totals, "build_time_s": round(build_time_s, 1)}
    write_json_atomically(meta, output / META_NAME)
    logger.info("Teacher cache complete in %s: %s", output, totals)
    return meta








