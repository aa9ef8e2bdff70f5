"""Seq2seq distillation through ``transformers.Trainer``: one trainer, a ``--method`` option.

Methods (logits ``(batch_size, target_len, vocab_size)``; ``p`` teacher, ``q`` student):

- ``sft``: cross-entropy on the rows' targets (gold: the no-KD baseline);
- ``word_kd``: ``alpha T^2 KL(p_t || q_t) + (1 - alpha) CE`` per token on gold targets
  (Hinton et al. 2015; Kim & Rush 2016 "word-level KD");
- ``seqkd``: cross-entropy on the teacher's beam-search output (Kim & Rush 2016);
- ``pseudo_targets``: word-level KD on gold targets and on several teacher-sampled
  pseudo-targets per input (Calderon et al., ACL 2023, arXiv 2305.02031);
- ``joint_teaching``: as ``pseudo_targets``, but on a share of the micro-steps the student's own
  sample (generated on-line) replaces the target (Calderon et al., Joint-Teaching);
- ``f_distill``: f-DISTILL's step-wise ``kl``/``rkl``/``js``/``tvd`` on teacher samples (the
  rows), student samples (on-line) or both (Wen et al., ACL 2023; :func:`lexkd.losses.f_distill_loss`);
- ``hr_kd``: ``CE + beta * (L_enc + L_dec)``, the student's encoder and decoder hidden states against
  the teacher's through learned projections on a layer map (TinyBERT's mapping and MSE, or DistilBERT's
  cosine; :class:`lexkd.losses.hidden.HiddenStateProjector`, the MLM side's term), KD4Gen's hidden-
  representation baseline (Zhou et al., ACL 2023);
- ``ar_kd``: ``CE + gamma * (A_enc + A_dec)``, MiniLM's self-attention distribution KL on the last
  encoder and the last decoder layer (:func:`lexkd.losses.attention_relation_loss`; Wang et al. 2020),
  KD4Gen's attention-relation baseline.

Which rows the training set holds (gold, teacher beam output, teacher samples) is decided by the
caller (:mod:`lexkd.seq2seq.job`); this trainer adds the student samples. They are generated
for a whole accumulation window at once, with the current weights, before its first micro-step
(``get_batch_samples``), so that the loss is normalised by the token count of the sequences
actually trained on, over the whole accumulated batch, as in the MLM trainer.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import PreTrainedModel, Trainer, TrainingArguments
from transformers.trainer import TRAINING_ARGS_NAME

from lexkd.losses import (
    DIVERGENCES,
    PAPER_SAMPLE_SOURCE,
    SAMPLE_SOURCES,
    HiddenStateProjector,
    attention_relation_loss,
    f_distill_loss,
    forward_kl,
    hidden_layer_map,
    parse_layer_map,
    token_cross_entropy,
)
from lexkd.losses.hidden import HIDDEN_DISTANCES
from lexkd.models.seq2seq import GenerationSettings, decoder_input_ids_from_labels, generate_targets
from lexkd.models.seq2seq_features import Seq2SeqWithProjectors, stack_shapes, use_eager_attention
from lexkd.utils.loss_logging import LossPartsLoggingMixin
from lexkd.utils.projector_files import load_projectors, save_projectors
from lexkd.utils.runs import NonFiniteGuardMixin, StopAtMaxStepsMixin

METHODS = ("sft", "word_kd", "seqkd", "pseudo_targets", "joint_teaching", "f_distill", "hr_kd", "ar_kd")
"""Names accepted by ``--method``."""

NEW_WEIGHT_MARKERS = ("crossattention", "enc_to_dec_proj")
"""Parameter-name parts of the weights a bert2bert warm start initialises anew (``--cross_attention_learning_rate``)."""

TEACHER_METHODS = ("word_kd", "pseudo_targets", "joint_teaching", "f_distill", "hr_kd", "ar_kd")
"""Methods whose loss needs the teacher's logits at every step."""


@dataclass
class Seq2SeqDistillationArguments(TrainingArguments):
    """``TrainingArguments`` plus the NLG distillation settings.

    Raises:
        ValueError: (in ``__post_init__``) an unknown method, divergence or sample source, a
            sample source f-DISTILL does not define for the divergence, beta outside [0, 1] (or
            outside (0, 1) for ``js``), alpha outside [0, 1], a temperature <= 0, a student share
            outside [0, 1], or a generation length <= 0.
    """

    method: str = field(default="sft", metadata={"help": f"Distillation method, one of: {', '.join(METHODS)}."})
    divergence: str = field(
        default="kl",
        metadata={"help": f"f-DISTILL divergence for --method f_distill, one of: {', '.join(DIVERGENCES)} "
                  "(kl = KL(teacher||student), rkl = KL(student||teacher), js = Jensen-Shannon with --beta, "
                  "tvd = total variation)."},
    )
    sample_source: str | None = field(
        default=None,
        metadata={"help": f"Sequences the f-DISTILL loss is taken on, one of: {', '.join(SAMPLE_SOURCES)}. "
                  "Unset: the paper's choice (kl: teacher, rkl: student, js and tvd: mix)."},
    )
    beta: float = field(
        default=0.5,
        metadata={"help": "Student weight in the JS mixture m = beta*student + (1-beta)*teacher; in (0, 1) "
                  "for js (f-DISTILL's scripts use 0.85 for DART/XSum, 0.25 for WMT)."},
    )
    temperature: float = field(default=1.0, metadata={"help": "Softmax temperature T > 0 of the KD terms."})
    alpha: float = field(
        default=1.0,
        metadata={"help": "word_kd, pseudo_targets, joint_teaching: loss = alpha*T^2*KL + (1-alpha)*CE on "
                  "the same targets; 1 = pure KD, as in both papers."},
    )
    student_share: float = field(
        default=0.5,
        metadata={"help": "joint_teaching: share of micro-steps whose targets are the student's own samples "
                  "(Calderon et al. use 0.5), in [0, 1]."},
    )
    student_top_p: float = field(default=0.95, metadata={"help": "Nucleus mass of on-line student sampling, in (0, 1]."})
    student_top_k: int = field(default=50, metadata={"help": "Top-k of on-line student sampling (0 = off)."})
    student_temperature: float = field(default=1.0, metadata={"help": "Temperature of on-line student sampling (> 0)."})
    max_new_tokens: int = field(default=64, metadata={"help": "Longest student sample, in tokens (> 0)."})
    hidden_loss_weight: float = field(default=1.0, metadata={
        "help": "hr_kd: weight beta of the hidden-state term, loss = CE + beta * (encoder + decoder hidden-state "
                "distance, per token, summed over the layer map); >= 0."})
    hidden_distance: str = field(default="mse", metadata={
        "help": f"hr_kd: distance between projected student and teacher states, one of: {', '.join(HIDDEN_DISTANCES)} "
                "(mse: TinyBERT's, averaged over the hidden dimension; cosine: DistilBERT's 1 - cos)."})
    hidden_layer_map: str = field(default="uniform", metadata={
        "help": "hr_kd: which student layer learns from which teacher layer, on both encoder and decoder: 'uniform' "
                "(TinyBERT: student layer m from teacher layer m*N/M) or pairs of hidden-state indices, e.g. '1:2,2:4' "
                "(0 = embeddings)."})
    cross_attention_learning_rate: float | None = field(default=None, metadata={
        "help": "Learning rate of the weights a bert2bert warm start adds (cross-attention, enc_to_dec_proj), "
                "under the same schedule; the rest trains at --learning_rate. Unset: one learning rate for all. "
                "The new weights start random while the rest is pretrained (Rothe et al. 2020 train all at one rate "
                "for far more steps than a CPU allows)."})
    attention_loss_weight: float = field(default=1.0, metadata={
        "help": "ar_kd: weight gamma of the attention term, loss = CE + gamma * (last encoder + last decoder layer "
                "KL(teacher attention || student attention), mean over heads, per query token); >= 0."})

    def __post_init__(self):
        super().__post_init__()
        if self.method not in METHODS:
            raise ValueError(f"Unknown --method {self.method!r}; valid methods: {', '.join(METHODS)}.")
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"Unknown --divergence {self.divergence!r}; valid: {', '.join(DIVERGENCES)}.")
        if self.sample_source is not None and self.sample_source not in SAMPLE_SOURCES:
            raise ValueError(f"Unknown --sample_source {self.sample_source!r}; valid: {', '.join(SAMPLE_SOURCES)}.")
        if self.divergence in ("kl", "rkl") and self.sample_source == "mix":
            raise ValueError(f"--sample_source mix is defined for js and tvd only; {self.divergence} takes "
                             "teacher or student samples.")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"--beta must be in [0, 1], got {self.beta}.")
        if self.method == "f_distill" and self.divergence == "js" and self.beta in (0.0, 1.0):
            raise ValueError(f"--beta {self.beta} makes the JS divergence identically 0; use --divergence "
                             f"{'rkl' if self.beta == 0 else 'kl'} for that limit, or a beta in (0, 1).")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"--alpha must be in [0, 1], got {self.alpha}.")
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be > 0, got {self.temperature}.")
        if not 0.0 <= self.student_share <= 1.0:
            raise ValueError(f"--student_share must be in [0, 1], got {self.student_share}.")
        if self.max_new_tokens <= 0:
            raise ValueError(f"--max_new_tokens must be > 0, got {self.max_new_tokens}.")
        if self.cross_attention_learning_rate is not None and not (
                math.isfinite(self.cross_attention_learning_rate) and self.cross_attention_learning_rate > 0):
            raise ValueError(f"--cross_attention_learning_rate must be > 0, got {self.cross_attention_learning_rate}.")
        for name in ("hidden_loss_weight", "attention_loss_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"--{name} must be finite and >= 0, got {value}.")
        if self.hidden_distance not in HIDDEN_DISTANCES:
            raise ValueError(f"Unknown --hidden_distance {self.hidden_distance!r}; valid: {', '.join(HIDDEN_DISTANCES)}.")
        parse_layer_map(self.hidden_layer_map)  # ValueError naming --hidden_layer_map and the expected form
        self.student_generation()  # validates the sampling settings
        self.remove_unused_columns = False  # the model's forward takes **kwargs; keep the columns

    @property
    def effective_sample_source(self) -> str | None:
        """Where the f-DISTILL loss takes its sequences (the paper's choice when unset)."""
        if self.method != "f_distill":
            return None
        return self.sample_source or PAPER_SAMPLE_SOURCE[self.divergence]

    def student_generation(self, seed: int | None = None) -> GenerationSettings:
        """Settings of the student's on-line samples (ancestral sampling, one per input)."""
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens, do_sample=True, top_p=self.student_top_p,
            top_k=self.student_top_k, temperature=self.student_temperature, seed=seed,
        )


def student_turn(micro_step: int, share: float) -> bool:
    """Whether micro-step ``micro_step`` (0-based, counted over the run) trains on a student sample.

    True on exactly ``floor(n * share)`` of the first ``n`` micro-steps, spread evenly (Calderon et
    al. let the student generate every ``int(1/share)``-th step, which rounds the share).
    """
    return math.floor((micro_step + 1) * share) > math.floor(micro_step * share)


class Seq2SeqDistillationTrainer(StopAtMaxStepsMixin, NonFiniteGuardMixin, LossPartsLoggingMixin, Trainer):
    """``Trainer`` for seq2seq KD: see the module docstring for the methods.

    Args:
        model: the student, an encoder-decoder (``EncoderDecoderModel``, T5, BART).
        args: :class:`Seq2SeqDistillationArguments`.
        teacher: a seq2seq teacher sharing the student's tokenizer (needed by
            ``word_kd``, ``pseudo_targets``, ``joint_teaching`` and ``f_distill``).
        evaluator: an optional :class:`lexkd.seq2seq.metrics.GenerationEvaluator`;
            ``evaluate()`` generates with it and reports BLEU, chrF and ROUGE.
        Others as ``transformers.Trainer``; rows hold ``input_ids``, ``attention_mask`` and
        ``labels`` (targets without the decoder start token, -100 as padding), padded by
        ``transformers.DataCollatorForSeq2Seq``.

    Logged per logging step: ``loss``, ``ce_loss``/``kd_loss``/``hidden_loss``/``attention_loss`` as they apply (averaged as
    ``loss`` is: :mod:`lexkd.utils.loss_logging`; ``kd_loss`` without the ``alpha T^2`` factor),
    and ``student_sample_length`` (mean tokens per student sample since the last log).

    With ``hr_kd`` the trainer's model is the student wrapped with its two projectors
    (:class:`lexkd.models.seq2seq_features.Seq2SeqWithProjectors`); checkpoints hold the student (``save_pretrained``)
    and the projectors apart, restored on resume. With ``ar_kd`` the student and the teacher switch to the
    eager attention implementation (the one that returns attention maps).

    Raises:
        ValueError: a method that needs a teacher and none was given; hr_kd with a layer map that does not fit
            the encoders or decoders (naming the depths); ar_kd with different head counts.
    """

    # compute_loss divides by the accumulated token counts itself: the Trainer must not rescale.
    loss_is_scaled_for_ga = True

    def __init__(self, *args, teacher: PreTrainedModel | None = None, evaluator=None, **kwargs):
        train_args = kwargs.get("args") or next((a for a in args if isinstance(a, TrainingArguments)), None)
        method = getattr(train_args, "method", None)
        if method in TEACHER_METHODS and teacher is None:
            raise ValueError(f"--method {method} needs a teacher; pass one (or use sft / seqkd).")
        if method == "hr_kd":  # the projectors join the student before the optimizer exists
            if "model" in kwargs:
                model = kwargs.pop("model")
            else:
                model, args = args[0], args[1:]
            kwargs["model"] = Seq2SeqWithProjectors(model, self._hidden_projectors(model, teacher, train_args))
        if method == "ar_kd":
            model = kwargs.get("model") if "model" in kwargs else args[0]
            self._check_attention_heads(model, teacher)
            for each in (model, teacher):  # attention maps are returned by the eager implementation only
                use_eager_attention(each)
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = True  # makes the Trainer call get_batch_samples' counts through
        self.teacher = teacher.eval().requires_grad_(False).to(self.args.device) if teacher is not None else None
        self.evaluator = evaluator

    def create_optimizer(self, model=None):
        """The Trainer's optimizer; with ``--cross_attention_learning_rate``, each of its parameter groups
        split in two, the weights a bert2bert warm start adds (:data:`NEW_WEIGHT_MARKERS` in the name)
        taking that learning rate (the scheduler scales every group's rate by the same factor)."""
        optimizer = super().create_optimizer(model)
        rate = self.args.cross_attention_learning_rate
        if rate is None or getattr(optimizer, "_lexkd_split", False):
            return optimizer
        opt_model = self.model if model is None else model
        new = {id(p) for n, p in opt_model.named_parameters() if any(m in n for m in NEW_WEIGHT_MARKERS)}
        if not new:
            raise ValueError("--cross_attention_learning_rate is set but the model has no cross-attention or "
                             "enc_to_dec_proj weights (not a bert2bert warm start); unset it.")
        groups = []
        for group in optimizer.param_groups:
            old_params = [p for p in group["params"] if id(p) not in new]
            new_params = [p for p in group["params"] if id(p) in new]
            settings = {k: v for k, v in group.items() if k != "params"}
            groups += [{**settings, "params": old_params}, {**settings, "params": new_params, "lr": rate}]
        optimizer.param_groups.clear()
        for group in groups:
            if group["params"]:
                optimizer.param_groups.append(group)
        optimizer._lexkd_split = True
        return optimizer

    @staticmethod
    def _hidden_projectors(student: PreTrainedModel, teacher: PreTrainedModel, args) -> nn.ModuleDict:
        """One seeded :class:`HiddenStateProjector` per side, on ``--hidden_layer_map`` (checked against both depths)."""
        student_shapes, teacher_shapes = stack_shapes(student), stack_shapes(teacher)
        projectors = {}
        with torch.random.fork_rng(devices=[]):  # seeded, and the data-order RNG does not move
            torch.manual_seed(args.seed)
            for side in ("encoder", "decoder"):
                s, t = student_shapes[side], teacher_shapes[side]
                try:
                    layer_map = hidden_layer_map(args.hidden_layer_map, s.layers, t.layers)
                except ValueError as error:
                    raise ValueError(f"--hidden_layer_map {args.hidden_layer_map!r} does not fit the {side}s: the "
                                     f"student's has {s.layers} layers, the teacher's {t.layers}: {error}") from None
                projectors[side] = HiddenStateProjector(layer_map, s.hidden_size, t.hidden_size)
        return nn.ModuleDict(projectors)

    @staticmethod
    def _check_attention_heads(student: PreTrainedModel, teacher: PreTrainedModel) -> None:
        student_shapes, teacher_shapes = stack_shapes(student), stack_shapes(teacher)
        for side in ("encoder", "decoder"):
            if student_shapes[side].heads != teacher_shapes[side].heads:
                raise ValueError(
                    f"--method ar_kd compares attention maps head by head, but the student's {side} has "
                    f"{student_shapes[side].heads} heads and the teacher's {teacher_shapes[side].heads}, and no head "
                    "mapping is defined: give the student the teacher's head count, or use hr_kd or word_kd.")

    def _student(self, model=None) -> PreTrainedModel:
        """The student itself (no accelerate/DDP wrapper, no projector wrapper)."""
        model = self.accelerator.unwrap_model(model if model is not None else self.model)
        return model.model if isinstance(model, Seq2SeqWithProjectors) else model

    # ----- batches ------------------------------------------------------------------------
    def _needs_student_sample(self, micro_step: int) -> bool:
        if self.args.method == "joint_teaching":
            return student_turn(micro_step, self.args.student_share)
        return self.args.effective_sample_source in ("student", "mix")

    def _student_samples(self, batch: dict, micro_step: int) -> torch.Tensor:
        model = self._student()
        device = next(model.parameters()).device
        # A seed per (run seed, micro-step): samples are reproducible and resume exactly,
        # and the global RNG (data order, dropout) is not consumed.
        settings = self.args.student_generation(seed=self.args.seed * 1_000_003 + micro_step)
        labels, _ = generate_targets(model, batch["input_ids"].to(device), batch["attention_mask"].to(device), settings)
        self.record_means({"student_sample_length": (labels != -100).sum(-1).float().mean()}, count=len(labels))
        return labels  # (B, L)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batch_samples = []
        for _ in range(num_batches):
            try:
                batch_samples.append(next(epoch_iterator))
            except StopIteration:
                break
        first = self.state.global_step * self.args.gradient_accumulation_steps
        for offset, batch in enumerate(batch_samples):
            if not self._needs_student_sample(first + offset):
                continue
            samples = self._student_samples(batch, first + offset)
            if self.args.method == "joint_teaching":
                batch["labels"] = samples.to(batch["labels"].device)
            else:
                batch["student_labels"] = samples.to(batch["labels"].device)
        return batch_samples, self._count_tokens(batch_samples, device)

    def _count_tokens(self, batch_samples: list[dict], device) -> dict[str, torch.Tensor] | None:
        """Target tokens over the accumulated batch (and processes): ``{"labels": N, "student_labels": N_s}``,
        and ``"source"``, the non-padding source tokens, for hr_kd and ar_kd."""
        if not batch_samples:
            return None
        counts = {}
        for key in ("labels", "student_labels"):
            present = [b[key] for b in batch_samples if key in b]
            if present:
                counts[key] = sum(int((labels != -100).sum()) for labels in present)
        if self.args.method in ("hr_kd", "ar_kd"):  # their encoder terms count source tokens
            counts["source"] = sum(int(b["attention_mask"].sum()) for b in batch_samples)
        if not counts:
            return None
        totals = torch.tensor(list(counts.values()), device=device)
        if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
            totals = self.accelerator.gather(totals.unsqueeze(0)).sum(0)
        return dict(zip(counts, totals, strict=True))

    # ----- loss ---------------------------------------------------------------------------
    def _logits(self, model, inputs: dict, labels: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, L, V)`` of ``model`` for the targets ``labels``."""
        decoder_input_ids = decoder_input_ids_from_labels(self._student(model), labels)
        return model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                     decoder_input_ids=decoder_input_ids).logits

    def _teacher_logits(self, inputs: dict, labels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._logits(self.teacher, inputs, labels)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        counts = num_items_in_batch if isinstance(num_items_in_batch, dict) else {}
        args, labels = self.args, inputs["labels"]
        student_labels = inputs.get("student_labels")
        parts: dict[str, torch.Tensor] = {}
        if args.method in ("sft", "seqkd"):
            logits = self._logits(model, inputs, labels)
            loss = token_cross_entropy(logits, labels, num_items_in_batch=counts.get("labels"))
            parts["ce_loss"] = loss
        elif args.method == "f_distill":
            sets = {}
            source = args.effective_sample_source
            if source in ("teacher", "mix"):
                sets["on_teacher_samples"] = self._kd_inputs(model, inputs, labels)
            if source in ("student", "mix"):
                sets["on_student_samples"] = self._kd_inputs(model, inputs, student_labels)
            loss = f_distill_loss(
                args.divergence, beta=args.beta, temperature=args.temperature,
                num_items={"teacher": counts.get("labels"), "student": counts.get("student_labels")}, **sets,
            )
            parts["kd_loss"] = loss
        elif args.method in ("hr_kd", "ar_kd"):
            loss, parts = self._feature_kd_loss(model, inputs, labels, counts)
        else:  # word_kd, pseudo_targets, joint_teaching: word-level KD on this micro-batch's targets
            student_logits, teacher_logits, mask = self._kd_inputs(model, inputs, labels)
            kd = forward_kl(student_logits, teacher_logits, mask, temperature=args.temperature,
                            num_items_in_batch=counts.get("labels"))
            loss = args.alpha * args.temperature**2 * kd
            parts["kd_loss"] = kd
            if args.alpha < 1.0:
                ce = token_cross_entropy(student_logits, labels, num_items_in_batch=counts.get("labels"))
                loss = loss + (1.0 - args.alpha) * ce
                parts["ce_loss"] = ce
        if model.training:
            self.record_loss_parts(parts, counts or None)
        # Counts that cover every process, while DDP averages gradients: scale back (as the MLM trainer).
        loss = loss * self.process_factor(counts or None)
        return (loss, None) if return_outputs else loss

    def _feature_kd_loss(self, model, inputs, labels, counts) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """hr_kd / ar_kd: CE on the targets plus the weighted hidden-state or attention term (module docstring)."""
        args = self.args
        features = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"],
                    "decoder_input_ids": decoder_input_ids_from_labels(self._student(model), labels)}
        hidden = args.method == "hr_kd"
        if hidden:
            outputs, projected = model(**features)
        else:
            outputs = model(**features, output_attentions=True)
        with torch.no_grad():
            teacher = self.teacher(**features, output_hidden_states=hidden, output_attentions=not hidden)
        source_mask, target_mask = inputs["attention_mask"].bool(), labels != -100
        ce = token_cross_entropy(outputs.logits, labels, num_items_in_batch=counts.get("labels"))
        if hidden:
            projectors = self.accelerator.unwrap_model(model).hidden_projectors
            term = (projectors["encoder"].loss(projected["encoder"], teacher.encoder_hidden_states, source_mask,
                                               distance=args.hidden_distance, num_items_in_batch=counts.get("source"))
                    + projectors["decoder"].loss(projected["decoder"], teacher.decoder_hidden_states, target_mask,
                                                 distance=args.hidden_distance, num_items_in_batch=counts.get("labels")))
            return ce + args.hidden_loss_weight * term, {"ce_loss": ce, "hidden_loss": term}
        if not (outputs.encoder_attentions and outputs.decoder_attentions):
            raise RuntimeError(f"{type(self._student(model)).__name__} returned no attention maps with "
                               "output_attentions=True: ar_kd needs the eager attention implementation "
                               "(lexkd.models.seq2seq_features.use_eager_attention).")
        term = (attention_relation_loss(outputs.encoder_attentions[-1], teacher.encoder_attentions[-1], source_mask,
                                        num_items_in_batch=counts.get("source"))
                + attention_relation_loss(outputs.decoder_attentions[-1], teacher.decoder_attentions[-1], target_mask,
                                          num_items_in_batch=counts.get("labels")))
        return ce + args.attention_loss_weight * term, {"ce_loss": ce, "attention_loss": term}

    # ----- checkpoints (hr_kd: the student and, apart, its projectors) --------------------------
    def _projector_metadata(self) -> dict[str, str]:
        projectors = self.accelerator.unwrap_model(self.model).hidden_projectors
        return {"method": "hr_kd", "layer_maps": json.dumps({side: p.layer_map for side, p in projectors.items()})}

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        wrapper = self.accelerator.unwrap_model(self.model)
        if not isinstance(wrapper, Seq2SeqWithProjectors):
            return super()._save(output_dir, state_dict)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return None
        os.makedirs(output_dir, exist_ok=True)
        wrapper.model.save_pretrained(output_dir)  # a checkpoint that loads as the student (tied weights kept)
        save_projectors(wrapper.hidden_projectors, output_dir, self._projector_metadata())
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))
        return None

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        wrapper = self.accelerator.unwrap_model(model if model is not None else self.model)
        if not isinstance(wrapper, Seq2SeqWithProjectors):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        with torch.random.fork_rng(devices=[]):  # from_pretrained's init must not move the data-order RNG
            loaded = type(wrapper.model).from_pretrained(resume_from_checkpoint)
        wrapper.model.load_state_dict(loaded.state_dict(), strict=True)
        load_projectors(wrapper.hidden_projectors, resume_from_checkpoint, self._projector_metadata(),
                        fix="resume with the --method and --hidden_layer_map it ran with")
        return None

    def _kd_inputs(self, model, inputs, labels):
        return self._logits(model, inputs, labels), self._teacher_logits(inputs, labels), labels != -100

    # ----- evaluation ----------------------------------------------------------------------
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Generate on the evaluator's dataset and score it (BLEU, chrF, ROUGE-1/2/L).

        Raises:
            ValueError: no evaluator was given.
        """
        if self.evaluator is None:
            raise ValueError("evaluate() needs the trainer's evaluator (a GenerationEvaluator).")
        scores = self.evaluator(self._student())
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores.items() if isinstance(v, int | float)}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

