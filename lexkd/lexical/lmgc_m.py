"""LMGC-M lexical pretraining: MLM plus gloss matching through BERT's next-sentence head.

On the gloss/context pairs of :mod:`lexkd.lexical.glosses` (``[CLS] context [SEP] lemma :
gloss [SEP]``), the student learns two things at once (Wahle et al. 2021, LMGC-M):

    loss = L_mlm + nsp_weight * CE(nsp_logits, next_sentence_label)

- ``L_mlm``: the masked-LM loss on the pair's tokens, masked by
  :class:`lexkd.data.collators.MaskedLMCollator`; with teachers it is the multi-teacher loss of the
  MLM job, ``alpha * T^2 * KL(q || p_student^T) + (1 - alpha) * CE(gold)``, the teachers'
  target ``q`` combined by :func:`lexkd.mlm.teachers.teacher_targets` (one run can use both);
- the gloss-match term: cross-entropy of the model's *existing* next-sentence head
  (``cls.seq_relationship`` of a ``BertForPreTraining``) on the match label, with BERT's label
  convention: ``next_sentence_label`` 0 = "B follows A" = the gloss is a gold sense, 1 = not.
  ``nsp_weight`` defaults to 1, BERT's own unweighted sum of its MLM and NSP losses.

No parameter is added (the run checks the count before and after and records it), and the
model stays a masked LM: its held-out MLM loss is measured before and after.

:class:`LexicalPretrainingTrainer` subclasses :class:`lexkd.mlm.trainer.MultiTeacherDistillationTrainer`,
so checkpoints, ``--resume``, progress bars, logging and held-out MLM evaluation are the MLM
job's. :func:`train_lexical` writes the run folder::

    run_config.json  metrics.jsonl  checkpoint-*/  model/ (atomic)
    lexical_results.json  report.md  [wsd_dev_before.key.txt  wsd_dev_after.key.txt]

The sentence-pair head and the training wrapper are :mod:`lexkd.models.pair_head`'s; the dev WSD
evaluation is passed in (``dev_evaluator``), so this module imports no task adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lexkd.data.collators import MaskedLMCollator
from lexkd.lexical.glosses import tokenize_pairs
from lexkd.mlm.teachers import Teacher
from lexkd.mlm.trainer import DistillationArguments, MultiTeacherDistillationTrainer
from lexkd.models.masked_lm import count_parameters
from lexkd.models.pair_head import NSP_MATCH_LABEL, MaskedPositionPreTraining

logger = logging.getLogger(__name__)

NO_MATCH_LABEL = -100
"""``next_sentence_label`` of a row with no gloss-match term (a general-corpus sequence mixed in)."""


def gloss_match_loss(nsp_logits: torch.Tensor, next_sentence_label: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``(batch_size, 2)`` next-sentence logits on ``(batch_size,)`` labels (0 = match),
    over the rows whose label is not :data:`NO_MATCH_LABEL`; 0 (with a gradient path) when there is none."""
    counted = next_sentence_label != NO_MATCH_LABEL
    if not counted.any():
        return nsp_logits.float().sum() * 0.0
    return F.cross_entropy(nsp_logits.float()[counted], next_sentence_label[counted])


@dataclass
class LexicalPretrainingArguments(DistillationArguments):
    """:class:`lexkd.mlm.trainer.DistillationArguments` plus the weight of the gloss-match term.

    Raises:
        ValueError: (in ``__post_init__``) ``nsp_weight`` < 0, ``hidden_loss_weight`` > 0 (not supported
            here), or the checks of the parent.
    """

    nsp_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the gloss-match cross-entropy through the next-sentence head: loss = MLM (or "
                  "multi-teacher) loss + nsp_weight * CE(gloss match). >= 0; 1 is BERT's MLM + NSP sum."},
    )

    def __post_init__(self):
        super().__post_init__()
        if not self.nsp_weight >= 0:
            raise ValueError(f"--nsp_weight must be >= 0, got {self.nsp_weight}.")
        if self.hidden_loss_weight > 0:
            raise ValueError("--hidden_loss_weight (hidden-state distillation) is not supported by lexical pretraining "
                             "(LMGC-M); use it in the MLM distillation job (scripts/pretrain_multiteacher.py).")


class LexicalPretrainingTrainer(MultiTeacherDistillationTrainer):
    """The MLM job's trainer plus the gloss-match term (module docstring).

    Args:
        model: the student wrapped in :class:`MaskedPositionPreTraining`.
        args: :class:`LexicalPretrainingArguments`.
        Other arguments as :class:`lexkd.mlm.trainer.MultiTeacherDistillationTrainer`; training
        rows carry ``next_sentence_label``.

    Logged per logging step, besides the MLM job's: ``nsp_loss`` and ``nsp_accuracy`` (over the rows with a
    gloss-match label; general-corpus rows mixed in by ``--corpus_mix`` carry :data:`NO_MATCH_LABEL` and
    count in the MLM term only).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.model, MaskedPositionPreTraining):
            raise ValueError("LexicalPretrainingTrainer needs the student wrapped in MaskedPositionPreTraining.")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        label = inputs.get("next_sentence_label")
        if label is not None:
            nsp_loss = gloss_match_loss(outputs["nsp_logits"], label)
            # The MLM part is already divided by the masked tokens of the whole accumulated batch
            # (loss_is_scaled_for_ga); this per-micro-batch mean is divided by the number of
            # micro-batches to match (exact when they have equal sizes). It is a per-process mean,
            # so DDP's gradient averaging needs no further scaling.
            steps = getattr(self, "current_gradient_accumulation_steps", None) or self.args.gradient_accumulation_steps
            scale = 1.0 / steps if num_items_in_batch is not None else 1.0
            loss = loss + self.args.nsp_weight * scale * nsp_loss
            counted = label != NO_MATCH_LABEL  # corpus rows mixed in (--corpus_mix) have no gloss-match label
            if model.training and counted.any():
                accuracy = (outputs["nsp_logits"].argmax(-1)[counted] == label[counted]).float().mean()
                self.record_means({"nsp_loss": nsp_loss, "nsp_accuracy": accuracy})  # means over micro-batches
        return (loss, outputs) if return_outputs else loss


def lmgc_m_dataset(groups, tokenizer: PreTrainedTokenizerBase, *, max_length: int = 128) -> datasets.Dataset:
    """Training rows for LMGC-M: tokenised pairs with ``next_sentence_label`` (0 = gold sense).

    Args:
        groups: from :func:`lexkd.lexical.glosses.candidate_groups` (``training=True``).
        max_length: tokens per pair (see :func:`lexkd.lexical.glosses.tokenize_pairs`).

    Returns:
        ``input_ids``, ``token_type_ids``, ``attention_mask``, ``special_tokens_mask``,
        ``next_sentence_label``.
    """
    pairs = tokenize_pairs(groups, tokenizer, max_length=max_length)
    labels = [NSP_MATCH_LABEL if label == 1 else 1 - NSP_MATCH_LABEL for label in pairs["label"]]
    pairs = pairs.remove_columns(["label", "group", "instance_id", "sense_key"])
    return pairs.add_column("next_sentence_label", labels)


def train_lexical(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: datasets.Dataset,
    held_out: datasets.Dataset,
    args: LexicalPretrainingArguments,
    *,
    teachers: Sequence[Teacher] = (),
    resume: bool = False,
    dev_evaluator: Callable[..., dict] | None = None,
    max_length: int = 128,
    extra_config: dict | None = None,
) -> dict:
    """LMGC-M lexical pretraining of a ``BertForPreTraining`` student; writes the run folder.

    Args:
        model: the student; must have a next-sentence head (:func:`lexkd.models.pair_head.nsp_head`)
            and a masked-position MLM head (:data:`lexkd.models.masked_lm.MASKED_HEADS`).
        train: from :func:`lmgc_m_dataset`.
        held_out: the MLM job's fixed-masked held-out set
            (:func:`lexkd.mlm.job.prepare_validation_set`, or :func:`lexkd.lexical.job.held_out_mlm_set`
            from the corpus flags), scored before and after and at every evaluation step.
        args: :class:`LexicalPretrainingArguments` (``alpha > 0`` needs ``teachers``).
        dev_evaluator: optional WSD evaluation, run on the student before and after: a callable
            ``(model, key_file=None) -> dict`` of scores with ``"F1"`` that writes its answers to
            ``key_file`` when given (:class:`lexkd.tasks.wsd.systems.WSDEvaluator`, the dev set
            scored with the next-sentence head). Its answers go to
            ``wsd_dev_before.key.txt`` / ``wsd_dev_after.key.txt`` in the run folder.
        extra_config: more settings for ``run_config.json`` (data paths, pair counts, ...).

    Returns:
        ``lexical_results.json``'s content: ``parameters_before``/``parameters_after``,
        ``mlm_before``/``mlm_after``, optional ``wsd_dev_before``/``wsd_dev_after``,
        ``train_runtime_s``, ``steps``.

    Raises:
        ValueError: no next-sentence head (message: start from a BertForPreTraining checkpoint),
            or a model type without a masked-position MLM head.
        FileNotFoundError: ``resume`` with no checkpoint; FileExistsError: an interrupted run's folder.
        RuntimeError: the parameter count changed (it cannot, by construction; checked anyway).
    """
    from lexkd.utils.io import save_model_atomically, write_json_atomically
    from lexkd.utils.model_card import model_card
    from lexkd.utils.runs import MetricsJsonlCallback, TrainingClock, start_run

    wrapped = MaskedPositionPreTraining(model)  # raises before any work without an NSP or MLM head
    output_dir = Path(args.output_dir)
    checkpoint = start_run(output_dir, args, resume=resume)
    results: dict = {"parameters_before": count_parameters(model),
                     **_measure(model, tokenizer, held_out, dev_evaluator, "before", args)}
    if args.should_save:
        write_json_atomically({"training": args.to_dict(), "teachers": [t.name for t in teachers],
                               "train_pairs": len(train), "held_out_sequences": len(held_out), **(extra_config or {})},
                              output_dir / "run_config.json")
    trainer = LexicalPretrainingTrainer(
        model=wrapped, args=args, train_dataset=train, eval_dataset=held_out,
        data_collator=MaskedLMCollator(tokenizer, mlm_probability=args.mlm_probability,
                                       seed=args.seed + 1000 * args.process_index),
        processing_class=tokenizer, teachers=teachers,
        callbacks=[MetricsJsonlCallback(output_dir / "metrics.jsonl"), clock := TrainingClock(checkpoint)],
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    results.update(train_runtime_s=round(clock.seconds, 1), steps=trainer.state.global_step,
                   parameters_after=count_parameters(model), parameters_trained=count_parameters(trainer.model))
    if not results["parameters_before"] == results["parameters_after"] == results["parameters_trained"]:
        raise RuntimeError(f"LMGC-M changed the parameter count: {results}")
    results["parameters_unchanged"] = True
    results.update(_measure(model, tokenizer, held_out, dev_evaluator, "after", args))
    if trainer.is_world_process_zero():
        model.config.lexkd = {**(getattr(model.config, "lexkd", None) or {}), "lmgc_m": {
            "nsp_weight": args.nsp_weight, "alpha": args.alpha, "teachers": [t.name for t in teachers],
            "match_label": NSP_MATCH_LABEL, "max_length": max_length}}
        card = model_card(
            output_dir.name, summary="LMGC-M (Wahle et al. 2021, after GlossBERT): masked-LM training plus gloss/context "
            "matching through the model's own next-sentence head; no parameter added.",
            base_model=(extra_config or {}).get("student"), teachers=[t.name for t in teachers],
            training={"gloss-match weight": args.nsp_weight, "alpha": args.alpha, "temperature (T)": args.temperature,
                      "steps": results.get("steps"), "learning rate": args.learning_rate, "train pairs": len(train),
                      "max pair length": max_length, "seed": args.seed},
            results={f"held-out MLM loss {k}": (results.get(f"mlm_{k}") or {}).get("loss") for k in ("before", "after")}
            | {"parameters": results.get("parameters_after")},
            result_notes="Held-out MLM loss (nats per masked token) before and after LMGC-M, on the MLM job's held-out set.",
            tags=["word-sense-disambiguation", "wordnet"], pipeline_tag="fill-mask")
        save_model_atomically(model, tokenizer, output_dir / "model", model_card=card)
        write_json_atomically(results, output_dir / "lexical_results.json")
        _write_report(output_dir, args, teachers, results, extra_config or {})
    trainer.accelerator.wait_for_everyone()
    return results


def _measure(model, tokenizer, held_out, dev_evaluator, when: str, args: LexicalPretrainingArguments) -> dict:
    """Held-out MLM scores (``mlm_<when>``) and, with ``dev_evaluator``, its WSD scores (``wsd_dev_<when>``)."""
    from lexkd.mlm.evaluation import evaluate_model

    results = {f"mlm_{when}": evaluate_model(model, held_out, tokenizer, desc=f"Held-out MLM {when}")}
    if dev_evaluator is not None:
        key_file = Path(args.output_dir) / f"wsd_dev_{when}.key.txt" if args.should_save else None
        results[f"wsd_dev_{when}"] = dev_evaluator(model, key_file=key_file)
    return results


def _write_report(output_dir: Path, args: LexicalPretrainingArguments, teachers: Sequence[Teacher], results: dict,
                  config: dict) -> None:
    from lexkd.utils.io import write_text_atomically
    from lexkd.utils.reporting import markdown_table, plot_learning_curves, read_metrics

    before, after = results["mlm_before"], results["mlm_after"]
    rows = [{"": name, "held-out MLM loss": r["loss"], "perplexity": r["perplexity"], "masked-token accuracy": r["accuracy"],
             "parameters": results[f"parameters_{when}"]} for name, r, when in (("before", before, "before"), ("after", after, "after"))]
    for row, key in zip(rows, ("wsd_dev_before", "wsd_dev_after"), strict=True):
        if key in results:
            row["dev WSD F1 (NSP head)"] = results[key].get("F1")
    columns = ["", "held-out MLM loss", "perplexity", "masked-token accuracy", "parameters"]
    if "wsd_dev_before" in results:
        columns.append("dev WSD F1 (NSP head)")
    kd = (f"multi-teacher targets from {', '.join(t.name for t in teachers)} (alpha {args.alpha}, T {args.temperature}, "
          f"{args.weighting} weighting)") if teachers else "gold tokens only"
    lines = [f"# {output_dir.name}: LMGC-M lexical pretraining", "",
             f"Loss: MLM on the pair tokens ({kd}) + {args.nsp_weight} x gloss-match CE through the next-sentence head.",
             "", markdown_table(rows, columns), "",
             f"Parameters unchanged: {results['parameters_unchanged']} ({results['parameters_after']:,}). "
             f"Steps: {results['steps']}; training time {results['train_runtime_s']} s.", "",
             "Held-out MLM loss in nats per masked token, on fixed masks.", ""]
    if config.get("pairs"):
        lines += ["Training pairs:", "", markdown_table([config["pairs"]], [k for k in config["pairs"] if k != "skipped_examples"]), ""]
    if (output_dir / "metrics.jsonl").is_file():
        plot_learning_curves({output_dir.name: read_metrics(output_dir / "metrics.jsonl")},
                             output_dir / "learning_curves.png", title=f"{output_dir.name}: LMGC-M")
        lines += ["![learning curves](learning_curves.png)", ""]
    if config.get("command"):
        lines += [f"Command: `{config['command']}`", ""]
    lines += ["Settings: `run_config.json`; log: `metrics.jsonl`; numbers: `lexical_results.json`.", ""]
    write_text_atomically("\n".join(lines), output_dir / "report.md")
