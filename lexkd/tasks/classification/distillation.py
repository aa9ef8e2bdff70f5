"""Task-specific distillation: a classifier fine-tuned on gold labels plus fine-tuned teachers' soft labels.

For an example with gold class ``y``, each fine-tuned teacher ``k`` gives class logits ``z_k``; the
teachers are combined exactly as on the MLM side (:func:`lexkd.mlm.teachers.combine_teachers`, the
``N = batch, V = classes`` case: ``q = sum_k w_k softmax(z_k / T)`` with the confidence weights of the
chosen rule), and the student's loss is the MLM side's loss (:func:`lexkd.losses.multi_teacher_mlm_loss`)

    L = alpha * T^2 * KL(q || softmax(z_s / T)) + (1 - alpha) * CE(softmax(z_s), y)

averaged over the examples of the whole accumulated batch (Hinton et al. 2015; DistilBERT/TinyBERT-style
task distillation; teacher weighting after Wahle, arXiv 2301.08130).

Each teacher reads the text with **its own tokenizer** (soft labels are over classes, so teachers need
not share the student's vocabulary: an MPNet teacher can teach a BERT-vocabulary student). Its logits
over the training split are computed once and kept as a ``datasets`` Arrow folder under the cache
directory, keyed by the teacher's fingerprint (hash of its files, or hub id and commit), the task's
label names, the training texts and ``max_seq_length``; a later run with the same key reads them
instead of running the teacher (a subsample of the same data with other rows is another key).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import (
    AutoConfig,
    PretrainedConfig,
    PreTrainedModel,
    Trainer,
)

from lexkd.losses import kl_divergence_from_probs, multi_teacher_mlm_loss, token_cross_entropy
from lexkd.mlm.teachers import check_weighting_rule, combine_teachers
from lexkd.tasks.classification.evaluation import ClassificationEvaluator
from lexkd.tasks.classification.loading import (
    load_classifier,
    load_tokenizer,
    model_source,
    tokenize_dataset,
    uses_segment_ids,
)
from lexkd.tasks.classification.spec import TaskSpec
from lexkd.utils.fingerprints import model_fingerprint, refuse_unpinned_reuse
from lexkd.utils.hub import hub_load_error, model_label
from lexkd.utils.io import atomic_directory
from lexkd.utils.loss_logging import LossPartsLoggingMixin

logger = logging.getLogger(__name__)

TEACHER_LOGITS = "teacher_logits"
"""The training split's column of ``(K, C)`` teacher logits (K teachers, C classes) per example."""

CACHE_FORMAT = 1


class TeacherLabelMismatchError(ValueError):
    """A teacher fine-tuned for another label set than the task's (number of labels or their names)."""


@dataclass
class TaskDistillationArguments:
    """Flags of task-specific distillation (``scripts/finetune_glue.py``, ``scripts/eval_plagiarism.py``, and LMGC in
    ``scripts/eval_wsd.py``, whose teachers are fine-tuned LMGC classifiers)."""

    teacher: list[str] = field(default_factory=list, metadata={
        "help": "Fine-tuned teacher classifier(s) for the same task (folders written by --save_model, or hub ids): "
                "the student then learns from gold labels plus the teachers' combined soft labels. Each teacher "
                "reads the text with its own tokenizer. Default: none (plain fine-tuning)."})
    alpha: float = field(default=0.5, metadata={
        "help": "Weight of the soft-label term: L = alpha T^2 KL(q || student) + (1 - alpha) CE(gold), in [0, 1]."})
    temperature: float = field(default=1.0, metadata={"help": "Softmax temperature T > 0 of teachers and student in the KD term."})
    weighting: str = field(default="entropy", metadata={
        "help": "How the teachers are weighted per example: uniform, max_prob, entropy, gold_prob (as on the MLM side)."})
    weight_temperature: float = field(default=1.0, metadata={"help": "tau > 0 of the weights w_k = softmax_k(s_k / tau)."})
    teacher_logits_dir: str = field(default="runs/teacher-logits", metadata={
        "help": "Where each teacher's logits over the training split are cached (one Arrow folder per teacher, "
                "task, training texts and max_seq_length)."})
    allow_unpinned_teacher: bool = field(default=False, metadata={
        "help": "Reuse cached logits of a hub teacher whose commit is unknown (they may be another version's)."})
    transfer_examples: int = field(default=0, metadata={
        "help": "A transfer set: this many further training inputs (beyond --max_train_examples, same seeded "
                "shuffle) whose gold labels the student never sees; on them it learns from the teachers' soft labels "
                "alone (Hinton et al. 2015; TinyBERT distils on unlabelled inputs too). The KD term averages over "
                "all rows, the gold term over the gold rows. Needs --teacher and --max_train_examples; not with "
                "--weighting gold_prob (no gold label to weight by). GLUE and plagiarism tasks. Default 0: none."})

    def __post_init__(self):
        if not (math.isfinite(self.alpha) and 0.0 <= self.alpha <= 1.0):
            raise ValueError(f"--alpha must be in [0, 1], got {self.alpha}.")
        for name in ("temperature", "weight_temperature"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"--{name} must be a finite number > 0, got {value}.")
        check_weighting_rule(self.weighting)
        if self.transfer_examples < 0:
            raise ValueError(f"--transfer_examples must be >= 0, got {self.transfer_examples}.")
        if self.transfer_examples and not self.teacher:
            raise ValueError("--transfer_examples needs --teacher: the transfer set is labelled by the teachers only.")
        if self.transfer_examples and self.weighting == "gold_prob":
            raise ValueError("--weighting gold_prob weights teachers by the gold label's probability, which the "
                             "transfer set does not have: use entropy, max_prob or uniform with --transfer_examples.")

    @property
    def enabled(self) -> bool:
        return bool(self.teacher)

    def settings(self) -> dict:
        """What a run records about its distillation (empty without teachers)."""
        if not self.enabled:
            return {}
        settings = {"teachers": list(self.teacher), "alpha": self.alpha, "temperature": self.temperature,
                    "weighting": self.weighting, "weight_temperature": self.weight_temperature}
        if self.transfer_examples:
            settings["transfer_examples"] = self.transfer_examples
        return settings


def check_teacher_labels(config: PretrainedConfig, task: TaskSpec, name: str) -> None:
    """Refuse a teacher whose config (``num_labels``, ``id2label``) is for another label set than ``task``'s
    (generic names ``LABEL_0``... are not compared, only their number).

    Raises:
        TeacherLabelMismatchError: naming the teacher, its labels and the task's.
        ValueError: a regression task (distillation of regression scores is not supported).
    """
    if task.is_regression:
        raise ValueError(f"Task distillation (--teacher) is for classification tasks; {task.name} is a regression "
                         "task. Fine-tune it without --teacher.")
    names = [config.id2label[i] for i in sorted(config.id2label)] if getattr(config, "id2label", None) else []
    generic = all(label == f"LABEL_{i}" for i, label in enumerate(names))
    if config.num_labels != task.num_labels or (names and not generic and tuple(names) != tuple(task.label_names)):
        raise TeacherLabelMismatchError(
            f"Teacher {name!r} was fine-tuned for {config.num_labels} labels ({', '.join(names) or 'unnamed'}), but "
            f"task {task.name!r} has {task.num_labels}: {', '.join(task.label_names)}. Pass a teacher fine-tuned on "
            f"this task (scripts/finetune_glue.py --task {task.name} --model TEACHER --save_model).")


def _texts_digest(dataset: datasets.Dataset, columns: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for column in columns:
        digest.update(f"\x00{column}\x00".encode())
        for text in dataset[column]:
            digest.update(str(text).encode("utf-8") + b"\x1e")
    return digest.hexdigest()


def teacher_logits_key(teacher: str, task: TaskSpec, dataset: datasets.Dataset, max_seq_length: int,
                       fingerprint: str | None = None) -> tuple[str, dict]:
    """The cache key of one teacher's logits over ``dataset``: ``(hex digest, the keyed fields)``."""
    fields = {"format": CACHE_FORMAT, "teacher": fingerprint or model_fingerprint(teacher), "task": task.name,
              "labels": list(task.label_names or ()), "text_columns": list(task.text_columns),
              "texts": _texts_digest(dataset, task.text_columns), "rows": len(dataset), "max_seq_length": max_seq_length}
    return _cache_key(fields), fields


def _cache_key(fields: dict) -> str:
    """The 20-hex-digit name part of a teacher-logit cache folder keyed by ``fields``."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]


def _logits(model: PreTrainedModel, encoded: datasets.Dataset, labels, task: TaskSpec, tokenizer, batch_size: int,
            desc: str) -> np.ndarray:
    """``(N, C)`` float32 logits of ``model`` on ``encoded`` (the evaluator's batching and padding)."""
    return ClassificationEvaluator(encoded, labels, task, tokenizer, batch_size=batch_size).logits(model, desc=desc).numpy()


def teacher_logits(teachers: Sequence[str], dataset: datasets.Dataset, task: TaskSpec, *, max_seq_length: int = 128,
                   cache_dir: str | Path = "runs/teacher-logits", batch_size: int = 64,
                   allow_unpinned_teacher: bool = False) -> tuple[np.ndarray, list[dict]]:
    """Each teacher's class logits over ``dataset`` (raw texts), computed once and cached.

    Args:
        teachers: K fine-tuned sequence classifiers (folders or hub ids) for ``task``.
        dataset: the training split with the task's text columns, in training order (with a transfer set:
            the gold rows, then the transfer rows, which have no ``label``).
        task: the task (label names, text columns); classification only.
        max_seq_length: tokens per example for the teachers (pairs truncated longest first).
        cache_dir: one Arrow folder per (teacher, task, texts, max_seq_length) key (module docstring).

    Returns:
        ``(logits, records)``: ``(N, K, C)`` float32 logits and, per teacher, ``{"teacher", "label",
        "cache", "reused"}``.

    Raises:
        TeacherLabelMismatchError: a teacher for another label set. ValueError: a regression task or
            no teacher. FileNotFoundError/OSError: a teacher that cannot be loaded.
            UnpinnedModelError: cached logits of a hub teacher of unknown commit (without ``allow_unpinned_teacher``).
    """
    if not teachers:
        raise ValueError("teacher_logits needs at least one teacher.")
    if task.is_regression:
        raise ValueError(f"Task distillation (--teacher) is for classification tasks; {task.name} is a regression task.")
    columns, records = [], []
    for name in teachers:
        fingerprint = model_fingerprint(name)
        _, fields = teacher_logits_key(name, task, dataset, max_seq_length, fingerprint)  # the key: cached_logits

        def compute(name=name):
            model = _load_teacher(name, task)
            tokenizer = load_tokenizer(name)
            encoded = tokenize_dataset(datasets.DatasetDict({"train": dataset}), tokenizer, task,
                                       max_seq_length=max_seq_length, segment_ids=uses_segment_ids(model) or None)["train"]
            # logits only: labels are not read (a transfer set has none; -100 marks that)
            labels = dataset["label"] if "label" in dataset.column_names else [-100] * len(dataset)
            return _logits(model, encoded, labels, task, tokenizer, batch_size,
                           f"Teacher {model_label(name)} logits")

        logits, record = cached_logits(name, fields, compute, cache_dir=cache_dir, prefix=task.name,
                                       shape=(len(dataset), task.num_labels), allow_unpinned_teacher=allow_unpinned_teacher)
        columns.append(logits)
        records.append(record)
    return np.stack(columns, axis=1), records  # (N, K, C)


def cached_logits(name: str, fields: dict, compute, *, cache_dir: str | Path, prefix: str, shape: tuple[int, int],
                  allow_unpinned_teacher: bool = False) -> tuple[np.ndarray, dict]:
    """One teacher's ``(N, C)`` logits from the cache folder keyed by ``fields``, or ``compute()``d and cached.

    The folder is ``CACHE_DIR/PREFIX-<teacher label>-<hash of fields>`` (an Arrow folder ``logits`` and
    ``key.json``), written atomically; ``fields`` holds the teacher's fingerprint under ``"teacher"``.
    Shared by the GLUE/plagiarism tasks (:func:`teacher_logits`) and LMGC (:mod:`lexkd.tasks.wsd.lmgc`).

    Returns:
        ``(logits, {"teacher", "label", "cache", "reused"})``.

    Raises:
        ValueError: a cache folder whose key or shape differs from this run's (names the folder to delete).
        UnpinnedModelError: cached logits of a hub teacher of unknown commit (without ``allow_unpinned_teacher``).
    """
    folder = Path(cache_dir) / f"{prefix}-{model_label(name).replace('/', '--')}-{_cache_key(fields)}"
    reused = (folder / "key.json").is_file()
    if reused:
        refuse_unpinned_reuse([fields["teacher"]], what=f"The cached teacher logits {folder}",
                              allow=allow_unpinned_teacher, rebuild=f"delete {folder}")
        logits = np.asarray(datasets.load_from_disk(str(folder / "logits"))["logits"], dtype=np.float32)
        if json.loads((folder / "key.json").read_text()) != fields or logits.shape != tuple(shape):
            raise ValueError(f"The cached teacher logits in {folder} do not match this run (key or shape "
                             f"{logits.shape}, expected {tuple(shape)}): delete the folder to compute them again.")
    else:
        logits = np.asarray(compute(), dtype=np.float32)
        if logits.shape != tuple(shape):
            raise ValueError(f"Teacher {name!r} gave logits of shape {logits.shape}, expected {tuple(shape)}.")
        with atomic_directory(folder) as tmp:
            datasets.Dataset.from_dict({"logits": logits.tolist()}).save_to_disk(str(tmp / "logits"))
            (tmp / "key.json").write_text(json.dumps(fields, indent=2, sort_keys=True))
    logger.info("Teacher %s: logits of %d training examples %s %s", name, shape[0],
                "read from" if reused else "computed and cached in", folder)
    return logits, {"teacher": name, "label": model_label(name), "cache": str(folder), "reused": reused}


def _load_teacher(name: str, task: TaskSpec) -> PreTrainedModel:
    try:
        config = AutoConfig.from_pretrained(model_source(name))
    except OSError as error:
        raise hub_load_error(name, error) from None
    check_teacher_labels(config, task, name)  # before loading: the task's label count would replace its head
    model, new_weights = load_classifier(name, task, with_new_weights=True)
    head = [w for w in new_weights if "classifier" in w or "score" in w]
    if head:
        raise TeacherLabelMismatchError(
            f"Teacher {name!r} has no fine-tuned classification head ({', '.join(head)} would be initialised at random, "
            f"so its soft labels would be noise). Fine-tune it on {task.name} first and pass the saved folder "
            f"(scripts/finetune_glue.py --task {task.name} --model {name} --save_model).")
    return model


def mean_teacher_weights(logits: np.ndarray, labels, args: TaskDistillationArguments, names: Sequence[str]) -> dict:
    """Mean weight of each teacher over the training examples under ``args.weighting`` (``logits``: ``(N, K, C)``)."""
    tensor = torch.as_tensor(logits).transpose(0, 1)  # (K, N, C)
    _, weights = combine_teachers(tensor, rule=args.weighting, temperature=args.temperature,
                                  weight_temperature=args.weight_temperature, labels=torch.as_tensor(np.asarray(labels)))
    return {name: round(float(w.mean()), 4) for name, w in zip(names, weights, strict=True)}


class TaskDistillationTrainer(LossPartsLoggingMixin, Trainer):
    """``Trainer`` whose loss mixes gold labels and the teachers' combined soft labels (module docstring).

    The training set carries :data:`TEACHER_LOGITS` ``(K, C)`` per example (from :func:`teacher_logits`);
    batches without it (evaluation) get the model's own loss. ``compute_loss`` divides by the number of
    examples in the whole accumulated batch (``num_items_in_batch``), so gradient accumulation does not
    change the update. Logged with ``loss``: ``kd_loss`` (without ``alpha T^2``), ``mlm_loss`` (the gold
    cross-entropy; the name of the shared loss's part) and ``teacher_weight/<label>`` per teacher.

    Args:
        distillation: the :class:`TaskDistillationArguments`.
        teacher_labels: the K teachers' names in the logs, in column order.
        Other arguments as ``transformers.Trainer``.
    """

    loss_is_scaled_for_ga = True

    def __init__(self, *args, distillation: TaskDistillationArguments, teacher_labels: Sequence[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = True  # the Trainer counts the examples of the accumulated batch
        self.distillation, self.teacher_labels = distillation, list(teacher_labels)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if TEACHER_LOGITS not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, TEACHER_LOGITS]

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        # The KD term counts every row (transfer rows have label -100), the gold term the labelled ones
        # (num_items_in_batch): both over the whole accumulated batch, so GA does not change the update.
        rows = torch.tensor(sum(len(batch["labels"]) for batch in batch_samples if "labels" in batch), device=device)
        if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
            rows = self.accelerator.gather(rows).sum()
        self._rows_in_batch = rows
        return batch_samples, num_items_in_batch

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if TEACHER_LOGITS not in inputs:
            return super().compute_loss(model, inputs, return_outputs=return_outputs)
        inputs = dict(inputs)
        teacher = inputs.pop(TEACHER_LOGITS).float()  # (B, K, C)
        labels = inputs.pop("labels")  # (B,), -100 on transfer rows
        outputs = model(**inputs)
        args = self.distillation
        target, weights = combine_teachers(teacher.transpose(0, 1), rule=args.weighting, temperature=args.temperature,
                                           weight_temperature=args.weight_temperature, labels=labels)  # (B, C), (K, B)
        rows = getattr(self, "_rows_in_batch", None) if num_items_in_batch is not None else None
        # A transfer set in this micro-batch, or elsewhere in the accumulated batch (a micro-batch of gold rows
        # alone must still divide its KD term by all the rows): KD over all rows, gold CE over the labelled ones.
        mixed = rows is not None and int(rows) != int(num_items_in_batch)
        if mixed or bool((labels == -100).any()):
            every_row = torch.ones_like(labels, dtype=torch.bool)
            kd_loss = kl_divergence_from_probs(outputs.logits, target, every_row, temperature=args.temperature,
                                               num_items_in_batch=rows)
            gold = labels != -100
            if num_items_in_batch is not None and int(num_items_in_batch) == 0 or not gold.any():
                ce_loss = outputs.logits.sum() * 0.0  # no gold row in the (accumulated) batch
            else:
                ce_loss = token_cross_entropy(outputs.logits, labels, num_items_in_batch=num_items_in_batch)
            loss = args.alpha * args.temperature**2 * kd_loss + (1.0 - args.alpha) * ce_loss
            parts = {"kd_loss": kd_loss.detach(), "mlm_loss": ce_loss.detach()}
            count = rows
        else:
            loss, parts = multi_teacher_mlm_loss(outputs.logits, target, labels, alpha=args.alpha,
                                                 temperature=args.temperature, num_items_in_batch=num_items_in_batch)
            count = num_items_in_batch
        if model.training:
            self.record_loss_parts(parts, count)
            self.record_means({f"teacher_weight/{label}": w.mean() for label, w in
                               zip(self.teacher_labels, weights, strict=True)}, count=labels.numel())
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss
