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
  rows), student samples (on-line) or both (Wen et al., ACL 2023; :func:`lexkd.losses.f_distill_loss`).

Which rows the training set holds (gold, teacher beam output, teacher samples) is decided by the
caller (:mod:`lexkd.seq2seq.job`); this trainer adds the student samples. They are generated
for a whole accumulation window at once, with the current weights, before its first micro-step
(``get_batch_samples``), so that the loss is normalised by the token count of the sequences
actually trained on, over the whole accumulated batch, as in the MLM trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, Trainer, TrainingArguments

from lexkd.losses import (
    DIVERGENCES,
    PAPER_SAMPLE_SOURCE,
    SAMPLE_SOURCES,
    f_distill_loss,
    forward_kl,
    token_cross_entropy,
)
from lexkd.models.seq2seq import GenerationSettings, decoder_input_ids_from_labels, generate_targets
from lexkd.utils.loss_logging import LossPartsLoggingMixin
from lexkd.utils.runs import NonFiniteGuardMixin, StopAtMaxStepsMixin

METHODS = ("sft", "word_kd", "seqkd", "pseudo_targets", "joint_teaching", "f_distill")
"""Names accepted by ``--method``."""

TEACHER_METHODS = ("word_kd", "pseudo_targets", "joint_teaching", "f_distill")
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

    Logged per logging step: ``loss``, ``ce_loss``/``kd_loss`` as they apply (averaged as
    ``loss`` is: :mod:`lexkd.utils.loss_logging`; ``kd_loss`` without the ``alpha T^2`` factor),
    and ``student_sample_length`` (mean tokens per student sample since the last log).

    Raises:
        ValueError: a method that needs a teacher and none was given.
    """

    # compute_loss divides by the accumulated token counts itself: the Trainer must not rescale.
    loss_is_scaled_for_ga = True

    def __init__(self, *args, teacher: PreTrainedModel | None = None, evaluator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = True  # makes the Trainer call get_batch_samples' counts through
        if self.args.method in TEACHER_METHODS and teacher is None:
            raise ValueError(f"--method {self.args.method} needs a teacher; pass one (or use sft / seqkd).")
        self.teacher = teacher.eval().requires_grad_(False).to(self.args.device) if teacher is not None else None
        self.evaluator = evaluator

    # ----- batches ------------------------------------------------------------------------
    def _needs_student_sample(self, micro_step: int) -> bool:
        if self.args.method == "joint_teaching":
            return student_turn(micro_step, self.args.student_share)
        return self.args.effective_sample_source in ("student", "mix")

    def _student_samples(self, batch: dict, micro_step: int) -> torch.Tensor:
        model = self.accelerator.unwrap_model(self.model)
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
        """Target tokens over the accumulated batch (and processes): ``{"labels": N, "student_labels": N_s}``."""
        if not batch_samples:
            return None
        counts = {}
        for key in ("labels", "student_labels"):
            present = [b[key] for b in batch_samples if key in b]
            if present:
                counts[key] = sum(int((labels != -100).sum()) for labels in present)
        if not counts:
            return None
        totals = torch.tensor(list(counts.values()), device=device)
        if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
            totals = self.accelerator.gather(totals.unsqueeze(0)).sum(0)
        return dict(zip(counts, totals, strict=True))

    # ----- loss ---------------------------------------------------------------------------
    def _logits(self, model, inputs: dict, labels: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, L, V)`` of ``model`` for the targets ``labels``."""
        decoder_input_ids = decoder_input_ids_from_labels(self.accelerator.unwrap_model(model), labels)
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
        scores = self.evaluator(self.accelerator.unwrap_model(self.model))
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in scores.items() if isinstance(v, int | float)}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

