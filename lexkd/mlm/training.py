"""Training one masked LM (a teacher on gold tokens, or a student distilled from teachers or a cache).

:func:`train_masked_lm` writes its own run folder::

    run_config.json     the arguments it ran with
    metrics.jsonl       one JSON object per log/eval event (train loss, teacher weights, eval)
    checkpoint-*/       Trainer checkpoints (model, optimizer, scheduler, RNG) for --resume
    model/              the final model, tokenizer and model card (README.md), written atomically
    eval_results.json   final held-out MLM loss, perplexity, accuracy, parameter count
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lexkd.data.collators import MaskedLMCollator
from lexkd.mlm.data import MLMData
from lexkd.mlm.teachers import Teacher
from lexkd.mlm.trainer import (
    DistillationArguments,
    MultiTeacherDistillationTrainer,
)
from lexkd.models.masked_lm import MaskedPositionMLM, count_parameters
from lexkd.utils.cli import args_with  # also imported from here by the MLM scripts
from lexkd.utils.io import (
    save_model_atomically,
    write_json_atomically,
    write_text_atomically,
)
from lexkd.utils.model_card import model_card
from lexkd.utils.runs import MetricsJsonlCallback, TrainingClock, check_resume_settings, start_run

logger = logging.getLogger(__name__)


def train_masked_lm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    data: MLMData,
    args: DistillationArguments,
    *,
    teachers: Sequence[Teacher] = (),
    teacher_cache=None,
    resume: bool = False,
    extra_config: dict | None = None,
) -> dict:
    """Train a masked LM (plain MLM with ``alpha=0``, multi-teacher distillation otherwise).

    Writes the run folder described in this module's docstring into ``args.output_dir``; the
    final ``model/`` folder appears only when training finished.

    Args:
        model: the student (any ``AutoModelForMaskedLM``).
        data: from :func:`prepare_mlm_data`.
        args: :class:`lexkd.mlm.trainer.DistillationArguments`.
        teachers: run at every step; needed when ``args.alpha > 0`` and no ``teacher_cache``.
        teacher_cache: a :class:`lexkd.mlm.cache.TeacherCache` (checked against ``args``,
            the tokenizer and ``data.train``): the student trains on the cache's statically masked
            rows and top-k targets, and no teacher runs. With ``alpha=0`` it trains on the same
            rows from the gold tokens only.
        resume: continue from the last checkpoint in ``args.output_dir``.
        extra_config: more settings to record in ``run_config.json`` (corpus, model sizes, ...).

    Returns:
        The final evaluation: ``loss``, ``perplexity``, ``accuracy``, ``masked_tokens``,
        ``parameters``, ``train_runtime_s`` (wall seconds of training, periodic evaluations included),
        ``train_cpu_s`` (this process's CPU seconds in training, all threads, evaluations excluded), ``steps``.

    Raises:
        FileNotFoundError: ``resume`` with no checkpoint in the run folder.
        TeacherCacheError: a cache built for another tokenizer, settings or corpus.
    """
    output_dir = Path(args.output_dir)
    train_dataset, collator, teacher_names = data.train, None, [t.name for t in teachers]
    if teacher_cache is not None:
        teacher_cache.check(tokenizer, args, data.train)
        args = args_with(args, remove_unused_columns=False)  # the collator needs the cache's columns
        train_dataset, collator = teacher_cache.dataset, teacher_cache.collator(tokenizer)
        teacher_names = teacher_cache.teacher_names if args.alpha > 0 else []
    config = _run_config(args, teacher_names, data, teacher_cache, extra_config)
    if resume:  # before anything is changed in the run folder
        check_resume_settings(output_dir / "run_config.json", config)
    checkpoint = start_run(output_dir, args, resume=resume)
    if args.should_save:  # only one process writes the run folder's files
        write_json_atomically(config, output_dir / "run_config.json")
    trainer = MultiTeacherDistillationTrainer(
        model=MaskedPositionMLM(model),
        args=args,
        train_dataset=train_dataset,
        eval_dataset=data.validation,
        # Per-process masking seed: processes mask different examples with different draws.
        data_collator=collator or MaskedLMCollator(tokenizer, mlm_probability=args.mlm_probability,
                                                   seed=args.seed + 1000 * args.process_index),
        processing_class=tokenizer,
        teachers=teachers if teacher_cache is None else (),
        cached_teachers=teacher_cache.teacher_labels if teacher_cache is not None and args.alpha > 0 else (),
        callbacks=[MetricsJsonlCallback(output_dir / "metrics.jsonl"), clock := TrainingClock(checkpoint)],
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    runtime = clock.seconds
    final = trainer.evaluate()
    results = {k.removeprefix("eval_"): v for k, v in final.items()}
    results.update(parameters=count_parameters(model), train_runtime_s=round(runtime, 1),
                   train_cpu_s=round(trainer.train_cpu_seconds, 1), steps=trainer.state.global_step)
    if trainer.is_world_process_zero():
        model.config.lexkd = {"alpha": args.alpha, "weighting": args.weighting, "temperature": args.temperature,
                              "teachers": teacher_names}
        card = masked_lm_card(output_dir.name, args, teacher_names, results, data, extra_config)
        save_model_atomically(model, tokenizer, output_dir / "model", model_card=card)
        write_json_atomically(results, output_dir / "eval_results.json")
        _write_run_report(output_dir, args, teacher_names, results)
    trainer.accelerator.wait_for_everyone()  # no process reads model/ before it is complete
    return results


def _run_config(args: DistillationArguments, teacher_names, data: MLMData, teacher_cache, extra_config) -> dict:
    return {"training": args.to_dict(), "teachers": list(teacher_names), "data": data.stats,
            "teacher_cache": str(teacher_cache.path) if teacher_cache is not None else None, **(extra_config or {})}


def finished_stage(output_dir: str | Path, args: DistillationArguments, teachers: Sequence[Teacher], data: MLMData,
                   teacher_cache=None, extra_config: dict | None = None) -> dict | None:
    """The results of a run folder whose training finished with these settings, for a job's ``--resume``
    (None when ``output_dir/model`` is not complete: the stage still has to train or continue).

    The held-out scores come from ``eval_results.json``, or, when the run stopped between saving
    ``model/`` and writing them, from scoring ``model/`` again.

    Raises:
        ValueError: the finished run was made with settings that change the result (as a resume would be refused).
    """
    from transformers import AutoTokenizer

    from lexkd.mlm.evaluation import evaluate_model
    from lexkd.models.masked_lm import load_masked_lm
    from lexkd.utils.runs import is_complete_model

    output_dir = Path(output_dir)
    if not is_complete_model(output_dir / "model"):
        return None
    names = [t.name for t in teachers]  # as train_masked_lm records them
    if teacher_cache is not None:
        names = teacher_cache.teacher_names if args.alpha > 0 else []
    check_resume_settings(output_dir / "run_config.json", _run_config(args, names, data, teacher_cache, extra_config))
    if (output_dir / "eval_results.json").is_file():
        return json.loads((output_dir / "eval_results.json").read_text())
    model = load_masked_lm(str(output_dir / "model"), role="finished student")
    tokenizer = AutoTokenizer.from_pretrained(output_dir / "model")
    return {**evaluate_model(model, data.validation, tokenizer), "parameters": count_parameters(model)}


def masked_lm_card(name: str, args: DistillationArguments, teachers: Sequence[str], results: dict, data: MLMData,
                   extra_config: dict | None = None) -> str:
    """The model card (``model/README.md``) of a student or teacher trained by :func:`train_masked_lm`."""
    extra = extra_config or {}
    student = extra.get("student") or {}
    corpus = (extra.get("corpus") or {}).get("corpus", "-")
    if student.get("student"):
        base = str(student["student"])
    elif student.get("student_init_from"):
        base = f"layers {student.get('student_init_layers') or 'every other'} of {student['student_init_from']}"
    elif student:
        base = (f"random initialisation, BERT {student.get('student_layers')} layers x {student.get('student_hidden_size')} "
                "(no pretrained weights)")
    else:
        base = extra.get("base_model")
    training = {"objective": "multi-teacher distillation (Wahle, arXiv 2301.08130)" if teachers else "MLM on gold tokens only"}
    if teachers:
        training.update({"weighting rule": args.weighting, "weight temperature (tau)": args.weight_temperature,
                         "alpha": args.alpha, "temperature (T)": args.temperature})
    if args.hidden_loss_weight > 0:
        training["hidden-state term"] = hidden_term_summary(args)
    training.update({"steps": results.get("steps"), "batch size per device": args.per_device_train_batch_size,
                     "learning rate": args.learning_rate, "masking probability": args.mlm_probability,
                     "corpus": corpus, **data.stats, "seed": args.seed})
    shown = {"held-out MLM loss": results.get("loss"), "perplexity": results.get("perplexity"),
             "masked-token accuracy": results.get("accuracy"), "masked tokens": results.get("masked_tokens"),
             "parameters": results.get("parameters")}
    return model_card(name, summary=f"A masked language model trained by lexkd ({training['objective']}).",
                      base_model=base, teachers=teachers, training=training, results=shown, tags=["fill-mask"],
                      pipeline_tag="fill-mask",
                      result_notes="Held-out MLM loss in nats per masked token on the job's held-out documents, "
                                   "with fixed masks (the same for every model of the job).")


def hidden_term_summary(args: DistillationArguments) -> str:
    """One line on the hidden-state term, for the model card and the reports."""
    return (f"weight {args.hidden_loss_weight}, {args.hidden_distance} distance, layer map {args.hidden_layer_map}, "
            "a learned projection per teacher")


def _write_run_report(output_dir: Path, args: DistillationArguments, teachers: Sequence[str], results: dict) -> None:
    """The run folder's learning_curves.png and report.md."""
    from lexkd.utils.reporting import markdown_table, plot_learning_curves, read_metrics

    plot_learning_curves({output_dir.name: read_metrics(output_dir / "metrics.jsonl")},
                         output_dir / "learning_curves.png", title=output_dir.name)
    kind = "multi-teacher distillation" if teachers else "masked-LM training on gold labels"
    lines = [f"# {output_dir.name}: {kind}", "",
             markdown_table([results], ["loss", "perplexity", "accuracy", "masked_tokens", "parameters", "steps",
                                        "train_runtime_s"]), "",
             "Held-out MLM loss in nats per masked token; accuracy over the fixed held-out masks.", ""]
    if teachers:
        lines += [f"Teachers: {', '.join(teachers)}; weighting {args.weighting}, alpha {args.alpha}, "
                  f"T {args.temperature}, tau {args.weight_temperature}.", ""]
    if args.hidden_loss_weight > 0:
        lines += [f"Hidden-state term: {hidden_term_summary(args)} (logged as hidden_loss).", ""]
    lines += ["![learning curves](learning_curves.png)", "", "Settings: `run_config.json`; log: `metrics.jsonl`.", ""]
    write_text_atomically("\n".join(lines), output_dir / "report.md")
