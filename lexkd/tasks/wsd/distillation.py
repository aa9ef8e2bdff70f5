"""Task-specific distillation for LMGC: the gloss/context classifier learns from fine-tuned LMGC teachers too.

An LMGC pair (context with the target in quotes, ``lemma : gloss``) is a 2-class example (label 1 =
the gloss is a gold sense of the target, :data:`lexkd.tasks.wsd.lmgc.MATCH_LABEL`). Each teacher is an
LMGC classifier (``eval_wsd.py --model TEACHER --train SEMCOR``); its ``(N, 2)`` logits over the training
pairs are combined and trained on exactly as in GLUE task distillation
(:mod:`lexkd.tasks.classification.distillation`: ``L = alpha T^2 KL(q || student) + (1 - alpha) CE(gold)``,
``q`` the teachers' confidence-weighted soft labels, the ``N = pairs, V = 2`` case of the MLM side's
:func:`lexkd.mlm.teachers.combine_teachers` and :func:`lexkd.losses.multi_teacher_mlm_loss`).

Each teacher tokenises the same pairs with its own tokenizer (:func:`lexkd.lexical.glosses.tokenize_pairs`,
the same target-centred windows for tokenizers that segment alike). Its logits are computed once and
cached as a ``datasets`` Arrow folder keyed by the teacher's fingerprint, the pairs (instance, sense key,
context, gloss, in order) and ``max_length`` (:func:`lexkd.tasks.classification.distillation.cached_logits`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from lexkd.lexical.glosses import GlossPair, tokenize_pairs
from lexkd.tasks.classification.distillation import (
    CACHE_FORMAT,
    TeacherLabelMismatchError,
    cached_logits,
)
from lexkd.tasks.classification.evaluation import ClassificationEvaluator
from lexkd.tasks.classification.loading import model_source, uses_segment_ids
from lexkd.tasks.classification.spec import TaskSpec
from lexkd.utils.fingerprints import model_fingerprint
from lexkd.utils.hub import hub_load_error, model_label

__all__ = ["LMGC_TASK", "lmgc_teacher_logits"]

LMGC_TASK = TaskSpec("lmgc", ("context", "gloss"), ("no_match", "match"), ("accuracy",))
"""LMGC pairs as a 2-class pair task (label ids as :data:`lexkd.tasks.wsd.lmgc.LABELS`)."""


def _pairs_digest(groups: Sequence[Sequence[GlossPair]]) -> str:
    digest = hashlib.sha256()
    for group in groups:
        for pair in group:
            for text in (pair.instance_id, pair.sense_key, pair.context, pair.gloss, str(int(pair.label))):
                digest.update(str(text).encode("utf-8") + b"\x1f")
            digest.update(b"\x1e")
    return digest.hexdigest()


def _load_lmgc_teacher(name: str):
    try:
        config = AutoConfig.from_pretrained(model_source(name))
    except OSError as error:
        raise hub_load_error(name, error, role="LMGC teacher") from None
    architectures = list(getattr(config, "architectures", None) or [])
    if not any(a.endswith("ForSequenceClassification") for a in architectures) or config.num_labels != 2:
        raise TeacherLabelMismatchError(
            f"Teacher {name!r} is not an LMGC classifier (architectures {architectures}, {config.num_labels} labels; "
            "an LMGC teacher is a 2-label gloss/context classifier, label 1 = match). Fine-tune it first: "
            f"scripts/eval_wsd.py --model {name} --train SEMCOR.data.xml --output_dir DIR ..., then pass DIR/model.")
    return AutoModelForSequenceClassification.from_pretrained(model_source(name))


def lmgc_teacher_logits(teachers: Sequence[str], groups: Sequence[Sequence[GlossPair]], *, max_length: int,
                        cache_dir: str | Path = "runs/teacher-logits", batch_size: int = 64,
                        allow_unpinned_teacher: bool = False) -> tuple[np.ndarray, list[dict]]:
    """Each LMGC teacher's logits over the training pairs of ``groups``, computed once and cached.

    Args:
        teachers: K fine-tuned LMGC classifiers (folders or hub ids).
        groups: the training targets' candidate groups, in the order the student's pairs are made
            (:func:`lexkd.lexical.glosses.tokenize_pairs` gives one row per pair, in group order).
        max_length: tokens per pair, for the teachers as for the student.
        cache_dir: where the Arrow folders go (one per teacher, pairs and ``max_length``).

    Returns:
        ``(logits, records)``: ``(N, K, 2)`` float32 logits (N pairs) and, per teacher, ``{"teacher",
        "label", "cache", "reused"}``.

    Raises:
        ValueError: no teacher, or no pair.
        TeacherLabelMismatchError: a teacher that is not a 2-label sequence classifier.
        FileNotFoundError/OSError: a teacher that cannot be loaded.
    """
    if not teachers:
        raise ValueError("lmgc_teacher_logits needs at least one teacher.")
    rows = sum(len(group) for group in groups)
    if rows == 0:
        raise ValueError("No LMGC training pair to compute teacher logits on: the groups are empty.")
    digest = _pairs_digest(groups)
    columns, records = [], []
    for name in teachers:
        fields = {"format": CACHE_FORMAT, "teacher": model_fingerprint(name), "task": LMGC_TASK.name,
                  "pairs": digest, "rows": rows, "max_length": max_length}

        def compute(name=name):
            model = _load_lmgc_teacher(name)
            tokenizer = AutoTokenizer.from_pretrained(model_source(name))
            encoded = tokenize_pairs(groups, tokenizer, max_length=max_length)
            if not uses_segment_ids(model):  # e.g. MPNet, RoBERTa: no token_type_ids input
                encoded = encoded.remove_columns("token_type_ids")
            evaluator = ClassificationEvaluator(encoded, encoded["label"], LMGC_TASK, tokenizer, batch_size=batch_size)
            return evaluator.logits(model, desc=f"LMGC teacher {model_label(name)} logits").numpy()

        logits, record = cached_logits(name, fields, compute, cache_dir=cache_dir, prefix=LMGC_TASK.name,
                                       shape=(rows, 2), allow_unpinned_teacher=allow_unpinned_teacher)
        columns.append(logits)
        records.append(record)
    return np.stack(columns, axis=1), records  # (N, K, 2)
