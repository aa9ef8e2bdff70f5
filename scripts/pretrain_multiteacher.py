#!/usr/bin/env python
"""Multi-teacher MLM distillation: the main job of lexkd (Wahle, arXiv 2301.08130).

For each masked token, the teachers' tempered distributions are combined into one target, each
teacher weighted by its own confidence at that position; the student learns from that target and
the gold token: alpha * T^2 * KL(q || p_student^T) + (1 - alpha) * CE(gold).

With no arguments (the embedded default) it runs end to end on a CPU: WordNet glosses and
examples -> WordPiece tokenizer -> two BERT-style teachers (trained here if missing, reused
after) -> a distilled student -> a same-size student trained on gold labels only for the same
steps and data order -> OUTPUT_DIR/report.md with a results table and learning curves.

Examples:
    python scripts/pretrain_multiteacher.py
    python scripts/pretrain_multiteacher.py --teachers path/to/t1 path/to/t2 --corpus my.txt --output_dir runs/x
    python scripts/pretrain_multiteacher.py --config configs/quickstart.yaml --weighting gold_prob
    accelerate launch scripts/pretrain_multiteacher.py --teachers bert-base-uncased bert-large-uncased ...
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoTokenizer

from lexkd.arguments import CorpusArguments, StudentArguments, parse_args, run_cli
from lexkd.corpora import flatten
from lexkd.modeling import build_student, check_local_model, count_parameters, load_masked_lm
from lexkd.pretraining import (
    DEFAULT_TEACHERS,
    args_with,
    evaluate_model,
    load_split_corpus,
    prepare_mlm_data,
    resume_checkpoint,
    train_masked_lm,
    train_teacher,
    write_json_atomically,
    write_text_atomically,
)
from lexkd.reporting import (
    mean_of,
    multiteacher_report,
    plot_learning_curves,
    read_metrics,
    result_row,
)
from lexkd.teachers import check_vocabularies, load_teachers
from lexkd.tokenization import load_or_train_tokenizer
from lexkd.trainer import DistillationArguments

logger = logging.getLogger("pretrain_multiteacher")


@dataclass
class JobArguments:
    teachers: list[str] = field(
        default_factory=list,
        metadata={"help": "Teacher checkpoints (folders or hub ids), any AutoModelForMaskedLM sharing one vocabulary. "
                  "Default: train two BERT-style teachers on the corpus (OUTPUT_DIR/teachers), reused on later runs."},
    )
    teacher_max_steps: int = field(default=800, metadata={"help": "Training steps of each teacher trained here."})
    teacher_learning_rate: float = field(default=1e-3, metadata={"help": "Learning rate of teachers trained here."})
    baseline: bool = field(
        default=True, metadata={"help": "Also train the same student on gold labels only (alpha = 0), same steps and data order."}
    )
    resume: bool = field(default=False, metadata={"help": "Continue the students from their last checkpoints in OUTPUT_DIR."})


DEFAULTS = {"output_dir": "runs/quickstart", "max_steps": 600, "per_device_train_batch_size": 32,
            "learning_rate": 1e-3, "warmup_steps": 40, "weight_decay": 0.01, "logging_steps": 10,
            "eval_strategy": "steps", "eval_steps": 100, "save_steps": 200, "save_total_limit": 2,
            "report_to": "none", "disable_tqdm": False}


def get_teachers(job, corpus_args, train_args, root, train_docs, val_docs):
    """Tokenizer, teacher folders and data: from the given teachers, or trained here."""
    if job.teachers:
        tokenizer = AutoTokenizer.from_pretrained(corpus_args.tokenizer or job.teachers[0])
        data = _data(train_docs, val_docs, tokenizer, corpus_args, train_args)
        return tokenizer, list(job.teachers), data
    if corpus_args.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(corpus_args.tokenizer)
    else:
        tokenizer, trained = load_or_train_tokenizer(root / "tokenizer", flatten(train_docs), vocab_size=corpus_args.vocab_size)
        logger.info("%s tokenizer in %s (%d tokens)", "Trained" if trained else "Reusing", root / "tokenizer", len(tokenizer))
    data = _data(train_docs, val_docs, tokenizer, corpus_args, train_args)
    folders = []
    for spec in DEFAULT_TEACHERS:
        teacher_args = args_with(train_args, output_dir=str(root / "teachers" / spec.name), max_steps=job.teacher_max_steps,
                                 learning_rate=job.teacher_learning_rate)
        folder, trained = train_teacher(spec, tokenizer, data, teacher_args)
        logger.info("%s %s (%s)", "Trained" if trained else "Reusing", spec.name, folder)
        folders.append(str(folder))
    return tokenizer, folders, data


def _data(train_docs, val_docs, tokenizer, corpus_args, train_args):
    return prepare_mlm_data(train_docs, val_docs, tokenizer, max_seq_length=corpus_args.max_seq_length,
                            line_by_line=corpus_args.line_by_line, mlm_probability=train_args.mlm_probability,
                            eval_masking_seed=corpus_args.eval_masking_seed, max_eval_sequences=corpus_args.max_eval_sequences)


def make_student(student_args, tokenizer):
    if student_args.student:
        return load_masked_lm(student_args.student, role="student")
    return build_student(len(tokenizer), num_hidden_layers=student_args.student_layers,
                         hidden_size=student_args.student_hidden_size, num_attention_heads=student_args.student_heads,
                         intermediate_size=student_args.student_intermediate_size, pad_token_id=tokenizer.pad_token_id,
                         seed=42)


def main(argv=None) -> int:
    start = time.perf_counter()
    job, corpus_args, student_args, train_args = parse_args(
        (JobArguments, CorpusArguments, StudentArguments, DistillationArguments), argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = Path(train_args.output_dir)
    students = {"student-distilled": train_args}
    if job.baseline:
        students["student-mlm"] = args_with(train_args, alpha=0.0)
    for name in job.teachers:  # fail before any work on a teacher path that does not exist
        check_local_model(name, role=f"teacher {name!r}")
    if job.resume:  # fail before any work when there is nothing to resume
        for name in students:
            if not (root / name / "model").is_dir():
                resume_checkpoint(root / name)

    train_docs, val_docs = load_split_corpus(corpus_args.corpus, validation_fraction=corpus_args.validation_fraction,
                                             seed=corpus_args.split_seed, **corpus_args.corpus_kwargs())
    tokenizer, teacher_names, data = get_teachers(job, corpus_args, train_args, root, train_docs, val_docs)
    teachers = load_teachers(teacher_names, device=train_args.device)
    check_vocabularies(tokenizer, {t.name: t.tokenizer for t in teachers}, {t.name: t.model for t in teachers})
    logger.info("Data: %s", data.stats)

    rows, results = [], {}
    for teacher in teachers:
        scores = evaluate_model(teacher.model, data.validation, tokenizer, desc=f"Evaluating {teacher.name}")
        scores["parameters"] = count_parameters(teacher.model)
        results[teacher.label] = scores
        rows.append(result_row(teacher.label, "teacher", scores))
    curves = {}
    for name, args in students.items():
        run_args = args_with(args, output_dir=str(root / name))
        resume = job.resume and not (root / name / "model").is_dir()
        role = f"student, alpha={args.alpha}" + (f", {args.weighting}" if args.alpha > 0 else " (gold labels only)")
        results[name] = train_masked_lm(make_student(student_args, tokenizer), tokenizer, data, run_args,
                                        teachers=teachers if args.alpha > 0 else (), resume=resume,
                                        extra_config={"corpus": vars(corpus_args), "student": vars(student_args)})
        rows.append(result_row(name, role, results[name]))
        curves[name] = read_metrics(root / name / "metrics.jsonl")

    plot = plot_learning_curves(curves, root / "learning_curves.png", title="Distilled vs gold-only student")
    settings = {"corpus": corpus_args.corpus, **data.stats, "teachers": ", ".join(teacher_names),
                "weighting": train_args.weighting, "weight temperature": train_args.weight_temperature,
                "alpha": train_args.alpha, "temperature": train_args.temperature, "steps": train_args.max_steps,
                "batch size": train_args.per_device_train_batch_size, "learning rate": train_args.learning_rate}
    command = "python scripts/pretrain_multiteacher.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    wall = time.perf_counter() - start
    report = multiteacher_report(
        rows=rows, settings=settings, teacher_weights=mean_of(curves["student-distilled"], "teacher_weight/"),
        distilled=results["student-distilled"], baseline=results.get("student-mlm"), plot=plot.name,
        command=command.strip(), wall_time_s=wall)
    write_json_atomically({"results": results, "settings": settings, "wall_time_s": wall}, root / "results.json")
    write_text_atomically(report, root / "report.md")
    print(report)
    print(f"\nReport written to {root / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
