"""Reading a teacher target cache (built by :mod:`lexkd.mlm.cache`): checking it against a training run,
memory-mapping its shards and collating its rows into the batches the trainer distils from.

Training from a cache runs no teacher: :class:`TeacherCache` is what ``--teacher_cache`` opens."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from lexkd.mlm.cache import (
    BUILD_NAME,
    CACHE_VERSION,
    META_NAME,
    TeacherCacheError,
    _pad,
    read_cache_json,
    shard_problem,
)
from lexkd.utils.fingerprints import (
    dataset_fingerprint,
    refuse_unpinned_reuse,
    tokenizer_fingerprint,
)

logger = logging.getLogger(__name__)


def load_teacher_cache(path: str | os.PathLike) -> tuple[datasets.Dataset, dict]:
    """Open a complete teacher cache, memory-mapped, after checking every shard against its record.

    Returns:
        ``(dataset, meta)``: all shards concatenated (``numpy`` format, for
        :class:`CachedTargetCollator`) and the contents of ``cache_meta.json``.

    Raises:
        FileNotFoundError: no folder at ``path``.
        TeacherCacheError: an interrupted build (no ``cache_meta.json``), a folder that is not a
            cache, another cache version, or a shard that is missing, truncated or changed.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"No teacher cache at {str(path)!r}: build one with "
                                f"`python scripts/build_teacher_cache.py --output_dir {path} ...`.")
    meta_path = path / META_NAME
    if not meta_path.is_file():
        if (path / BUILD_NAME).is_file():
            raise TeacherCacheError(
                f"The teacher cache {path} is incomplete: its build was interrupted. Run "
                "scripts/build_teacher_cache.py again with the same arguments to resume it.")
        raise TeacherCacheError(f"{path} is not a teacher cache (no {META_NAME}).")
    meta = read_cache_json(meta_path)
    if meta["config"].get("lexkd_cache_version") != CACHE_VERSION:
        raise TeacherCacheError(f"{path} was written by another cache version "
                                f"({meta['config'].get('lexkd_cache_version')}, expected {CACHE_VERSION}): rebuild it.")
    parts = []
    for shard in meta["shards"]:
        folder = path / "shards" / shard["name"]
        problem = shard_problem(folder, shard)  # sizes and SHA-256, once per shard as the cache is opened
        if problem is not None:
            raise TeacherCacheError(
                f"Shard {shard['name']} of the teacher cache {path} is damaged: {problem}. Run "
                "scripts/build_teacher_cache.py again with the same arguments: it rebuilds the damaged shards only.")
        part = datasets.load_from_disk(str(folder))
        if len(part) != shard["rows"]:
            raise TeacherCacheError(f"Shard {shard['name']} of {path} has {len(part)} rows, {shard['rows']} recorded.")
        parts.append(part)
    return datasets.concatenate_datasets(parts).with_format("numpy"), meta


def check_cache_settings(meta: dict, *, tokenizer: PreTrainedTokenizerBase, rule: str, temperature: float,
                         weight_temperature: float, mlm_probability: float, path: str | os.PathLike = "") -> None:
    """Refuse a cache built for another tokenizer or other distillation settings than the run's.

    Raises:
        TeacherCacheError: naming every differing setting and the two ways to fix it.
    """
    config = meta["config"]
    wanted = {"tokenizer": tokenizer_fingerprint(tokenizer), "weighting": rule, "temperature": temperature,
              "weight_temperature": weight_temperature, "mlm_probability": mlm_probability}
    differing = [f"{key}: cache {config.get(key)!r}, run {value!r}" for key, value in wanted.items() if config.get(key) != value]
    if differing:
        raise TeacherCacheError(
            f"The teacher cache {path} was built for other settings ({'; '.join(differing)}). Run with the "
            "cache's settings, or build a cache for these with scripts/build_teacher_cache.py.")


class CachedTargetCollator:
    """Batches cache rows for :class:`lexkd.mlm.trainer.MultiTeacherDistillationTrainer`.

    Call: cache rows -> ``input_ids``, ``attention_mask``, ``labels`` (``(B, T)``; the gold id at
    masked positions, -100 elsewhere), ``token_type_ids`` when cached, and over the ``N`` masked
    positions in row-major order (the order of ``labels != -100``): ``target_ids`` ``(N, k)``
    int64, ``target_probs`` ``(N, k)`` float32, ``tail_mass`` ``(N,)``, ``teacher_weights``
    ``(K, N)``. The float16 top-k probabilities are rescaled to sum to ``1 - tail_mass`` (the
    tail mass is summed in float32 at build time). Rows without the target columns give only
    the first four; rows already carrying ``labels`` (a pre-masked evaluation set) are only padded.

    With a ``torch`` ``IterableDataset`` under ``Trainer``, set
    ``accelerator_config={"dispatch_batches": False}``: accelerate's batch dispatching slices
    every tensor to the batch size along dim 0, which would cut the ``(N, k)`` targets.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, *, top_k: int, num_teachers: int):
        from transformers import DataCollatorForTokenClassification

        self.pad_token_id = tokenizer.pad_token_id
        self.top_k, self.num_teachers = top_k, num_teachers
        self.padder = DataCollatorForTokenClassification(tokenizer)

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        if "masked_positions" not in examples[0]:
            return self.padder([{k: v for k, v in ex.items() if k != "special_tokens_mask"} for ex in examples])
        rows = [torch.as_tensor(np.asarray(ex["input_ids"], dtype=np.int64)) for ex in examples]
        batch = {"input_ids": _pad(rows, self.pad_token_id),
                 "attention_mask": _pad([torch.ones(len(r), dtype=torch.long) for r in rows], 0)}
        labels = torch.full_like(batch["input_ids"], -100)  # (B, T)
        for i, ex in enumerate(examples):
            labels[i, torch.as_tensor(np.asarray(ex["masked_positions"], dtype=np.int64))] = torch.as_tensor(
                np.asarray(ex["gold_ids"], dtype=np.int64))
        batch["labels"] = labels
        if "token_type_ids" in examples[0]:
            batch["token_type_ids"] = _pad([torch.as_tensor(np.asarray(ex["token_type_ids"], dtype=np.int64)) for ex in examples], 0)
        if "target_ids" not in examples[0]:  # rows read without their targets (plain MLM on the cached masks)
            return batch

        def cat(key, dtype):
            return torch.from_numpy(np.concatenate([np.asarray(ex[key], dtype=dtype) for ex in examples]))

        ids = cat("target_ids", np.int64).view(-1, self.top_k)  # (N, k)
        probs = cat("target_probs", np.float32).view(-1, self.top_k)
        tail = cat("tail_mass", np.float32)  # (N,)
        batch["target_ids"], batch["tail_mass"] = ids, tail
        batch["target_probs"] = probs * ((1.0 - tail) / probs.sum(-1).clamp_min(1e-12)).unsqueeze(-1)
        batch["teacher_weights"] = torch.cat(
            [torch.from_numpy(np.asarray(ex["teacher_weights"], dtype=np.float32)).view(self.num_teachers, -1)
             for ex in examples], dim=1)  # (K, N)
        return batch


@dataclass
class TeacherCache:
    """An opened teacher cache: its rows (memory-mapped), its record, and what a training run needs."""

    path: Path
    dataset: datasets.Dataset
    meta: dict

    @classmethod
    def open(cls, path: str | os.PathLike) -> TeacherCache:
        """Open and check a complete cache (raises as :func:`load_teacher_cache`)."""
        dataset, meta = load_teacher_cache(path)
        return cls(Path(path), dataset, meta)

    @property
    def teacher_labels(self) -> list[str]:
        return [t["label"] for t in self.meta["config"]["teachers"]]

    @property
    def teacher_names(self) -> list[str]:
        return [t["name"] for t in self.meta["config"]["teachers"]]

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> CachedTargetCollator:
        return CachedTargetCollator(tokenizer, top_k=self.meta["config"]["top_k"], num_teachers=len(self.teacher_labels))

    def check_pinned(self, *, allow_unpinned_teacher: bool = False) -> None:
        """Refuse a cache of a teacher that was a hub model of unknown commit, unless allowed.

        Raises:
            UnpinnedModelError: naming the teacher and the fixes.
        """
        refuse_unpinned_reuse([t["fingerprint"] for t in self.meta["config"]["teachers"]],
                              what=f"The teacher cache {self.path}", allow=allow_unpinned_teacher,
                              rebuild="scripts/build_teacher_cache.py --overwrite")

    def check(self, tokenizer: PreTrainedTokenizerBase, args, train_dataset: datasets.Dataset | None = None) -> None:
        """Refuse the cache for a run with another tokenizer, other settings (``args``: a
        :class:`lexkd.mlm.trainer.DistillationArguments`) or, when given, other training sequences.

        Raises:
            TeacherCacheError: naming what differs.
        """
        check_cache_settings(self.meta, tokenizer=tokenizer, rule=args.weighting, temperature=args.temperature,
                             weight_temperature=args.weight_temperature, mlm_probability=args.mlm_probability,
                             path=self.path)
        if train_dataset is not None and dataset_fingerprint(train_dataset) != self.meta["config"]["data"]:
            raise TeacherCacheError(
                f"The teacher cache {self.path} was built from other training sequences than this run's (another "
                "corpus, split, --max_seq_length or --line_by_line): use the corpus flags the cache was built with, "
                "or build a cache for this corpus.")
