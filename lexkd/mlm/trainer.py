"""Multi-teacher MLM distillation through ``transformers.Trainer``.

``MultiTeacherDistillationTrainer`` overrides ``compute_loss`` (teachers' combined target plus
gold CE over masked positions, optionally a hidden-state term), ``evaluate`` (MLM loss, perplexity
and masked-token accuracy on a fixed masked split) and ``_save`` (checkpoints written with
``save_pretrained``, plus the hidden-state projectors). Everything
else (gradient accumulation, schedules, mixed precision, checkpoint/resume with optimizer,
scheduler and RNG state, multi-GPU with ``accelerate launch``, progress bars) is the Trainer's.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel, Trainer, TrainerState, TrainingArguments
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_utils import get_last_checkpoint

from lexkd.data.collators import MaskedLMCollator
from lexkd.losses import multi_teacher_mlm_loss
from lexkd.losses.hidden import (
    HIDDEN_DISTANCES,
    HiddenStateProjector,
    hidden_layer_map,
    parse_layer_map,
)
from lexkd.mlm.teachers import (
    WEIGHTING_RULES,
    Teacher,
    check_weighting_rule,
    teacher_targets,
    teacher_targets_and_hidden_states,
)
from lexkd.models.masked_lm import MaskedPositionMLM, masked_lm_logits
from lexkd.utils.loss_logging import LossPartsLoggingMixin
from lexkd.utils.projector_files import HIDDEN_PROJECTORS_NAME, load_projectors, save_projectors  # noqa: F401  (name re-exported)
from lexkd.utils.runs import NonFiniteGuardMixin, StopAtMaxStepsMixin

CACHED_TARGET_KEYS = ("target_ids", "target_probs", "tail_mass", "teacher_weights")
"""Batch keys of cached teacher targets (see :class:`lexkd.mlm.cache.CachedTargetCollator`)."""



@dataclass
class DistillationArguments(TrainingArguments):
    """``TrainingArguments`` plus the multi-teacher distillation settings.

    Raises:
        ValueError: (in ``__post_init__``) alpha outside [0, 1], a temperature <= 0, an
            unknown weighting rule, a hidden-state weight < 0 or not finite, an unknown hidden-state
            distance, or a malformed layer map.
    """

    alpha: float = field(
        default=0.5,
        metadata={"help": "Weight of the distillation term: loss = alpha * T^2 * KL(q || p_student^T) "
                  "+ (1 - alpha) * CE(gold). In [0, 1]; 0 trains on gold labels only."},
    )
    temperature: float = field(
        default=1.0, metadata={"help": "Softmax temperature T > 0 applied to teachers and student in the KD term."}
    )
    weighting: str = field(
        default="entropy",
        metadata={"help": f"Teacher weighting rule per masked position, one of: {', '.join(WEIGHTING_RULES)}."},
    )
    weight_temperature: float = field(
        default=1.0,
        metadata={"help": "Temperature tau > 0 of the softmax over teachers' confidence scores (small: "
                  "trust the most confident teacher; large: plain average)."},
    )
    mlm_probability: float = field(
        default=0.15, metadata={"help": "Share of tokens selected for prediction (80/10/10 masking), in (0, 1)."}
    )
    hidden_loss_weight: float = field(
        default=0.0,
        metadata={"help": "Weight beta of the hidden-state term: loss = the MLM distillation loss + beta * mean over "
                  "teachers of the hidden-state distance (per non-padding token, summed over the layer map), the "
                  "student projected to each teacher's width by a learned map. >= 0; 0 turns it off. Needs teachers "
                  "run at every step (a teacher cache holds no hidden states)."},
    )
    hidden_distance: str = field(
        default="cosine",
        metadata={"help": f"Hidden-state distance, one of: {', '.join(HIDDEN_DISTANCES)} (cosine: 1 - cos, as "
                  "DistilBERT; mse: mean squared error over the hidden dimension, as TinyBERT)."},
    )
    hidden_layer_map: str = field(
        default="uniform",
        metadata={"help": "Which student hidden state learns from which teacher hidden state: 'uniform' (TinyBERT: "
                  "student layer m from teacher layer m * N / M, for each teacher) or student:teacher pairs of "
                  "hidden-state indices, 0 = embeddings, e.g. '1:2,2:4' (the same pairs for every teacher)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.alpha <= 1.0:  # (NaN fails every comparison)
            raise ValueError(f"--alpha must be in [0, 1], got {self.alpha}.")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"--temperature must be finite and > 0, got {self.temperature}.")
        if not (self.weight_temperature > 0 and math.isfinite(self.weight_temperature)):
            raise ValueError(f"--weight_temperature must be finite and > 0, got {self.weight_temperature}.")
        if not (math.isfinite(self.learning_rate) and self.learning_rate >= 0):
            raise ValueError(f"--learning_rate must be finite and >= 0, got {self.learning_rate}.")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(f"--mlm_probability must be in (0, 1), got {self.mlm_probability}.")
        check_weighting_rule(self.weighting)
        if not (math.isfinite(self.hidden_loss_weight) and self.hidden_loss_weight >= 0):
            raise ValueError(f"--hidden_loss_weight must be finite and >= 0 (0 turns the term off), got "
                             f"{self.hidden_loss_weight}.")
        if self.hidden_distance not in HIDDEN_DISTANCES:
            raise ValueError(f"Unknown --hidden_distance {self.hidden_distance!r}; valid: {', '.join(HIDDEN_DISTANCES)}.")
        parse_layer_map(self.hidden_layer_map)  # ValueError naming --hidden_layer_map and the expected form


def _inner_model(model: torch.nn.Module) -> PreTrainedModel:
    return model.model if isinstance(model, MaskedPositionMLM) else model


@torch.inference_mode()
def evaluate_masked_lm(model: torch.nn.Module, dataloader, *, accelerator=None, desc: str = "Evaluating",
                       vocabulary_map=None) -> dict[str, float]:
    """MLM loss (nats per masked token), perplexity and masked-token accuracy of a masked LM.

    Args:
        model: an ``AutoModelForMaskedLM`` (or :class:`MaskedPositionMLM`); run in eval mode, the
            output layer at masked positions only.
        dataloader: batches with ``input_ids``, ``labels`` (-100 where not masked) and optional
            ``attention_mask``/``token_type_ids``, e.g. from :func:`lexkd.data.collators.mask_once`.
        accelerator: when given, batches are moved to its device and sums are gathered over
            processes.
        vocabulary_map: a :class:`lexkd.data.vocabulary_map.VocabularyMap` for a model (a teacher) that
            numbers the batches' tokens differently.

    Returns:
        ``{"loss", "perplexity", "accuracy", "masked_tokens"}``.

    Raises:
        ValueError: the dataloader holds no masked position, or batches without labels (not pre-masked).
    """
    inner = _inner_model(accelerator.unwrap_model(model) if accelerator is not None else model)
    was_training = inner.training
    inner.eval()
    device = next(inner.parameters()).device
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
    for batch in tqdm(dataloader, desc=desc, leave=False, disable=accelerator is not None and not accelerator.is_local_main_process):
        if "labels" not in batch:
            raise ValueError("The evaluation batches carry no labels: mask the evaluation set once with "
                             "lexkd.data.collators.mask_once (every model is then scored on the same positions).")
        batch = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        masked = batch["labels"] != -100
        logits = masked_lm_logits(inner, batch["input_ids"], masked, batch.get("attention_mask"), batch.get("token_type_ids"),
                                  vocabulary_map=vocabulary_map)
        gold = batch["labels"][masked]
        totals[0] += torch.nn.functional.cross_entropy(logits.float(), gold, reduction="sum").double()
        totals[1] += (logits.argmax(-1) == gold).sum()
        totals[2] += gold.numel()
    if accelerator is not None:
        totals = accelerator.reduce(totals, reduction="sum")
    inner.train(was_training)
    loss_sum, correct, count = totals.tolist()
    if count == 0:
        raise ValueError("The evaluation set has no masked position to score.")
    loss = loss_sum / count
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "accuracy": correct / count, "masked_tokens": int(count)}


class MultiTeacherDistillationTrainer(StopAtMaxStepsMixin, NonFiniteGuardMixin, LossPartsLoggingMixin, Trainer):
    """``Trainer`` for confidence-weighted multi-teacher MLM distillation (Wahle, arXiv 2301.08130).

    Args:
        model: the student wrapped in :class:`lexkd.models.masked_lm.MaskedPositionMLM`.
        args: :class:`DistillationArguments`.
        teachers: the loaded teachers, run at every step (may be empty when ``args.alpha == 0``
            or when the targets come from a teacher cache).
        cached_teachers: labels of the teachers behind a teacher cache
            (:mod:`lexkd.mlm.cache`): the batches then carry the targets
            (:data:`CACHED_TARGET_KEYS`, from :class:`lexkd.mlm.cache.CachedTargetCollator`)
            and no teacher runs; the KD term is the top-k loss
            :func:`lexkd.losses.sparse_kl_divergence`.
        Other arguments as ``transformers.Trainer`` (``data_collator`` should be a
        :class:`lexkd.data.collators.MaskedLMCollator`; the evaluation set pre-masked).

    With a seeded ``MaskedLMCollator``, the data loader (and its workers,
    ``--dataloader_num_workers``) only pads (``data_collator`` becomes its ``pad``; the collator
    is kept as :attr:`masking_collator`) and this process masks training batch ``i`` of the run
    with :meth:`~lexkd.data.collators.MaskedLMCollator.mask` as batch index ``i``, counted in
    :attr:`train_batches_masked` (restored on resume). So the masks do not depend on the number
    of workers, and a resumed run masks as an uninterrupted one.

    Hidden-state term (``args.hidden_loss_weight`` = beta > 0): each teacher ``k`` gets its own
    :class:`lexkd.losses.hidden.HiddenStateProjector` (its width and, with ``"uniform"``, its layer
    map), held in the student wrapper's ``hidden_projectors`` so that the optimizer and DDP see them,
    made (seeded with ``args.seed``) before the optimizer exists. The loss is

        loss = multi-teacher MLM loss + beta * (1/K) sum_k sum_{(s, t) in map_k} d(P_k,s h_s, h^k_t)

    with ``d`` averaged over the non-padding tokens (``attention_mask``) of the whole accumulated batch
    (counted in :meth:`get_batch_samples`, over processes as ``num_items_in_batch`` is): the mean over
    teachers, so that adding a teacher does not scale the term up. The teachers' hidden states come from
    the same forward pass as their logits. The projectors are saved in each checkpoint
    (:data:`HIDDEN_PROJECTORS_NAME`) and restored on resume; the student saved by ``save_pretrained``
    does not contain them.

    Logged per logging step: ``loss``, ``kd_loss``, ``mlm_loss`` (averaged as ``loss`` is:
    :mod:`lexkd.utils.loss_logging`; ``kd_loss`` without the ``alpha T^2`` factor), ``hidden_loss``
    with the hidden-state term (without beta) and, for each
    teacher ``k``, ``teacher_weight/<k>`` (its mean weight over the masked positions since the last log).

    Raises:
        ValueError: ``alpha > 0`` with neither teachers nor a cache, both at once, or a model
            that is not a ``MaskedPositionMLM``; ``hidden_loss_weight > 0`` with a teacher cache or
            without teachers, or with a layer map that does not fit a teacher (naming it and the depths).
    """

    # compute_loss divides by num_items_in_batch itself: the Trainer must not rescale.
    loss_is_scaled_for_ga = True

    def __init__(self, *args, teachers: Sequence[Teacher] = (), cached_teachers: Sequence[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        # Makes the Trainer count masked positions over the accumulated batch (and processes) and
        # pass them as num_items_in_batch; compute_loss divides by that count itself.
        self.model_accepts_loss_kwargs = True
        if not isinstance(self.model, MaskedPositionMLM):
            raise ValueError("MultiTeacherDistillationTrainer needs the student wrapped in MaskedPositionMLM.")
        if self.args.alpha > 0 and not (teachers or cached_teachers):
            raise ValueError("alpha > 0 needs at least one teacher or a teacher cache; pass one or set alpha to 0.")
        if teachers and cached_teachers:
            raise ValueError("Pass either teachers (run at every step) or cached_teachers (a teacher cache), not both.")
        hidden = self.args.hidden_loss_weight > 0
        if hidden and cached_teachers:
            raise ValueError("--hidden_loss_weight > 0 needs the teachers' hidden states, and a teacher cache holds "
                             "none: run the teachers at every step (--teachers instead of --teacher_cache) or set "
                             "--hidden_loss_weight 0.")
        if hidden and not teachers:
            raise ValueError("--hidden_loss_weight > 0 needs at least one teacher run at every step (for its hidden "
                             "states): pass teachers or set --hidden_loss_weight 0.")
        self.teachers = list(teachers) if self.args.alpha > 0 or hidden else []
        self.cached_teachers = list(cached_teachers) if self.args.alpha > 0 else []
        for teacher in self.teachers:
            teacher.model.eval().requires_grad_(False).to(self.args.device)
        self.hidden_items_in_batch = None  # non-padding tokens of the current accumulation window
        if hidden:
            self._add_hidden_projectors()
        self.masking_collator = None
        self.train_batches_masked = 0
        self.evaluation_cpu_seconds = self.train_cpu_seconds = 0.0
        if isinstance(self.data_collator, MaskedLMCollator) and self.data_collator.seed is not None:
            self.masking_collator, self.data_collator = self.data_collator, self.data_collator.pad

    def _add_hidden_projectors(self) -> None:
        """One projector per teacher in ``self.model.hidden_projectors`` (before the optimizer is made)."""
        if self.optimizer is not None:
            raise ValueError("--hidden_loss_weight > 0 trains projectors the given optimizer does not hold: let the "
                             "trainer create its optimizer (do not pass optimizers=).")
        student = self.model.config
        projectors = []
        for teacher in self.teachers:
            config = teacher.model.config
            try:
                layer_map = hidden_layer_map(self.args.hidden_layer_map, student.num_hidden_layers, config.num_hidden_layers)
            except ValueError as error:
                raise ValueError(f"--hidden_layer_map {self.args.hidden_layer_map!r} does not fit teacher "
                                 f"{teacher.label!r} ({config.num_hidden_layers} layers) and the student "
                                 f"({student.num_hidden_layers} layers): {error}") from None
            projectors.append((layer_map, config.hidden_size))
        with torch.random.fork_rng(devices=[]):  # seeded, and the data-order RNG does not move
            torch.manual_seed(self.args.seed)
            modules = nn.ModuleList(HiddenStateProjector(layer_map, student.hidden_size, width)
                                    for layer_map, width in projectors)
        self.model.hidden_projectors = modules.to(self.args.device)
        self.hidden_teacher_layers = [{t for _, t in layer_map} for layer_map, _ in projectors]

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """``Trainer.train``; also sets :attr:`train_cpu_seconds`: this process's CPU time (all threads) in
        training, without the periodic evaluations (for a resumed run, the resumed part only)."""
        self.evaluation_cpu_seconds = 0.0
        start = time.process_time()
        try:
            return self._train(resume_from_checkpoint, **kwargs)
        finally:
            self.train_cpu_seconds = time.process_time() - start - self.evaluation_cpu_seconds

    def _train(self, resume_from_checkpoint, **kwargs):
        if resume_from_checkpoint:
            if resume_from_checkpoint is True:
                resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
                if resume_from_checkpoint is None:
                    raise FileNotFoundError(f"No checkpoint-* folder to resume from in {self.args.output_dir!r}.")
            self._restore_batch_count(resume_from_checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _restore_batch_count(self, checkpoint: str) -> None:
        """Set :attr:`train_batches_masked` to the batches this process consumed before ``checkpoint``.

        Masks are seeded by batch index, so the resumed run masks as the uninterrupted one.
        """
        if self.masking_collator is None:
            return
        global_step = TrainerState.load_from_json(os.path.join(checkpoint, "trainer_state.json")).global_step
        batches_per_epoch = len(self.get_train_dataloader())
        accumulation = self.args.gradient_accumulation_steps
        updates_per_epoch = max(math.ceil(batches_per_epoch / accumulation), 1)
        epochs, updates = divmod(global_step, updates_per_epoch)
        self.train_batches_masked = epochs * batches_per_epoch + updates * accumulation

    def get_batch_samples(self, epoch_iterator, num_batches: int, device):
        # The Trainer counts num_items_in_batch on the returned batches: mask them before.
        if self.masking_collator is not None:
            epoch_iterator = (self._mask_training_batch(batch) for batch in epoch_iterator)
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        if self.args.hidden_loss_weight > 0:
            self.hidden_items_in_batch = self._count_tokens(batch_samples, device)
        return batch_samples, num_items_in_batch

    def _count_tokens(self, batch_samples: list[dict], device) -> torch.Tensor:
        """The non-padding tokens of an accumulation window's batches (the hidden term's positions),
        over processes as the Trainer counts ``num_items_in_batch``."""
        count = torch.zeros((), dtype=torch.long, device=device)
        for batch in batch_samples:
            mask = batch.get("attention_mask")
            count += mask.sum().to(device) if mask is not None else batch["input_ids"].numel()
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            count = self.accelerator.gather(count).sum()
        elif self.args.n_gpu > 1:
            count = count // self.args.n_gpu
        return count

    def _mask_training_batch(self, batch: dict) -> dict:
        """Mask one padded training batch (pre-masked ones pass) as batch :attr:`train_batches_masked`.

        Masks are drawn on the CPU, as the collator draws them, and moved back to the batch's device.
        """
        if "labels" in batch:
            return batch
        device = batch["input_ids"].device
        on_cpu = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        masked = self.masking_collator.mask(on_cpu, batch_index=self.train_batches_masked)
        self.train_batches_masked += 1
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in masked.items()}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        cached = {key: inputs.pop(key) for key in CACHED_TARGET_KEYS if key in inputs}
        hidden = self.args.hidden_loss_weight > 0
        # {"logits": (N, V), "labels": (N,)} [+ "hidden_states", "projected_hidden_states"]
        outputs = model(**inputs, output_hidden_states=True) if hidden else model(**inputs)
        target_probs = weights = teacher_states = None
        if self.teachers:
            settings = {"rule": self.args.weighting, "temperature": self.args.temperature,
                        "weight_temperature": self.args.weight_temperature}
            if hidden:
                target_probs, weights, teacher_states = teacher_targets_and_hidden_states(
                    self.teachers, inputs, layers=self.hidden_teacher_layers, **settings)
            else:
                target_probs, weights = teacher_targets(self.teachers, inputs, **settings)
            labels = [t.label for t in self.teachers]
        elif self.cached_teachers and cached:
            target_probs, weights, labels = cached["target_probs"], cached["teacher_weights"], self.cached_teachers
        elif self.cached_teachers and model.training:
            raise ValueError("The trainer was given a teacher cache but the batch carries no cached targets: "
                             "use lexkd.mlm.cache.CachedTargetCollator on the cache's dataset.")
        # (A pre-masked evaluation batch has no cached targets: it is scored on the gold tokens.)
        if weights is not None and model.training:
            self.record_means({f"teacher_weight/{label}": w.float().mean() for label, w in zip(labels, weights, strict=True)},
                              count=weights[0].numel())
        loss, parts = multi_teacher_mlm_loss(
            outputs["logits"], target_probs, outputs["labels"], alpha=self.args.alpha if target_probs is not None else 0.0,
            temperature=self.args.temperature, num_items_in_batch=num_items_in_batch,
            target_ids=cached.get("target_ids") if not self.teachers else None,
            tail_mass=cached.get("tail_mass") if not self.teachers else None,
        )
        if hidden:
            hidden_loss = self._hidden_loss(model, outputs, teacher_states, inputs.get("attention_mask"),
                                            num_items_in_batch)
            loss = loss + self.args.hidden_loss_weight * hidden_loss
            parts["hidden_loss"] = hidden_loss.detach()
        if model.training:
            self.record_loss_parts(parts, num_items_in_batch)
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            # num_items_in_batch counts every process's masked tokens and DDP averages gradients
            # over processes: scale back so the result is sum(all losses) / num_items.
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss

    def _hidden_loss(self, model, outputs, teacher_states, attention_mask, num_items_in_batch) -> torch.Tensor:
        """The mean over teachers of each projector's loss, per non-padding token of the accumulation window
        (of this batch when called outside the training loop)."""
        projectors = self.accelerator.unwrap_model(model).hidden_projectors
        mask = attention_mask.bool() if attention_mask is not None else None  # (B, T)
        count = self.hidden_items_in_batch if num_items_in_batch is not None and model.training else None
        terms = [projector.loss(projected, states, mask, distance=self.args.hidden_distance, num_items_in_batch=count)
                 for projector, projected, states in zip(projectors, outputs["projected_hidden_states"], teacher_states,
                                                         strict=True)]
        return torch.stack(terms).mean()

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        start = time.process_time()  # kept apart, so that train() reports the CPU time of training alone
        dataloader = self.get_eval_dataloader(eval_dataset)
        scores = evaluate_masked_lm(self.model, dataloader, accelerator=self.accelerator)
        self.evaluation_cpu_seconds += time.process_time() - start
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        # Save the inner masked LM with save_pretrained (handles tied weights), so checkpoints
        # load with AutoModelForMaskedLM.from_pretrained as well as resume.
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        wrapper = self.accelerator.unwrap_model(self.model)
        _inner_model(wrapper).save_pretrained(output_dir)
        projectors = getattr(wrapper, "hidden_projectors", None)
        if projectors is not None and len(projectors):
            save_projectors(projectors, output_dir, self._projector_metadata())
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        # Checkpoints are save_pretrained folders: load them the same way (tied weights included)
        # and copy strictly into the student, so a partial or mismatched checkpoint fails loudly.
        wrapper = self.accelerator.unwrap_model(model if model is not None else self.model)
        inner = _inner_model(wrapper)
        with torch.random.fork_rng(devices=[]):  # from_pretrained's init must not move the data-order RNG
            loaded = type(inner).from_pretrained(resume_from_checkpoint)
        inner.load_state_dict(loaded.state_dict(), strict=True)
        projectors = getattr(wrapper, "hidden_projectors", None)
        if projectors is not None and len(projectors):
            self._load_hidden_projectors(projectors, resume_from_checkpoint)

    def _projector_metadata(self) -> dict[str, str]:
        projectors = self.accelerator.unwrap_model(self.model).hidden_projectors
        return {"teachers": json.dumps([t.label for t in self.teachers]),
                "layer_maps": json.dumps([p.layer_map for p in projectors])}

    def _load_hidden_projectors(self, projectors: nn.ModuleList, checkpoint: str) -> None:
        """Copy the checkpoint's projectors into ``projectors``, refusing a checkpoint without them or made for
        other teachers or layer maps (:func:`lexkd.utils.projector_files.load_projectors`)."""
        load_projectors(projectors, checkpoint, self._projector_metadata(),
                        fix="resume with the teachers, --hidden_loss_weight and --hidden_layer_map it ran with")

