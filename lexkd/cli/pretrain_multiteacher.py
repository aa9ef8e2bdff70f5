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
    python scripts/pretrain_multiteacher.py --teacher_cache runs/cache --output_dir runs/from-cache
    accelerate launch scripts/pretrain_multiteacher.py --teachers bert-base-uncased bert-large-uncased ...
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lexkd.data.arguments import CorpusArguments
from lexkd.mlm.arguments import StudentArguments, TeacherArguments
from lexkd.mlm.cache_reader import TeacherCache
from lexkd.mlm.job import (
    args_with,
    evaluate_teachers,
    make_student,
    prepare_job,
    student_tokenizer_default,
)
from lexkd.mlm.trainer import DistillationArguments
from lexkd.mlm.training import finished_stage, hidden_term_summary, train_masked_lm
from lexkd.utils.cli import parse_args, run_cli
from lexkd.utils.io import write_json_atomically, write_text_atomically
from lexkd.utils.reporting import (
    mean_of,
    multiteacher_report,
    plot_learning_curves,
    read_metrics,
    result_row,
)
from lexkd.utils.runs import is_interrupted

logger = logging.getLogger(__name__)


@dataclass
class JobArguments:
    baseline: bool = field(
        default=True, metadata={"help": "Also train the same student on gold labels only (alpha = 0), same steps and data order."}
    )
    resume: bool = field(default=False, metadata={
        "help": "Continue an interrupted job in OUTPUT_DIR: each teacher or student with a checkpoint but no final "
                "model continues from its last checkpoint, finished ones are reused, the rest start."})


DEFAULTS = {"output_dir": "runs/quickstart", "max_steps": 500, "per_device_train_batch_size": 32,
            "learning_rate": 1e-3, "warmup_steps": 40, "weight_decay": 0.01, "logging_steps": 10,
            "eval_strategy": "steps", "eval_steps": 100, "save_steps": 200, "save_total_limit": 2,
            "report_to": "none"}
ARGUMENTS = (JobArguments, TeacherArguments, CorpusArguments, StudentArguments, DistillationArguments)


def main(argv=None) -> int:
    start = time.perf_counter()
    job, teacher_args, corpus_args, student_args, train_args = parse_args(ARGUMENTS, argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = Path(train_args.output_dir)
    students = {"student-distilled": train_args}
    if job.baseline:
        students["student-mlm"] = args_with(train_args, alpha=0.0, hidden_loss_weight=0.0)
    if job.resume and not root.is_dir():  # fail before any work when there is nothing to resume
        raise FileNotFoundError(f"Cannot resume: the job folder {str(root)!r} does not exist. Start without --resume.")
    if teacher_args.teacher_cache and train_args.hidden_loss_weight > 0:
        raise ValueError("--hidden_loss_weight > 0 needs the teachers' hidden states, and a teacher cache holds none: "
                         "run the teachers at every step (--teachers instead of --teacher_cache) or set "
                         "--hidden_loss_weight 0.")

    cache = TeacherCache.open(teacher_args.teacher_cache) if teacher_args.teacher_cache else None
    student_tokenizer_default(corpus_args, student_args)
    tokenizer, data, teachers = prepare_job(teacher_args, corpus_args, train_args, resume=job.resume, teacher_cache=cache)
    if train_args.should_save:  # once the input is valid: a command that fails leaves the old record
        write_json_atomically({"job": vars(job), "teachers": vars(teacher_args), "corpus": vars(corpus_args),
                               "student": vars(student_args), "training": train_args.to_dict()}, root / "run_config.json")
    results = evaluate_teachers(teachers, data, tokenizer)
    rows = [result_row(label, "teacher", scores) for label, scores in results.items()]
    curves = {}
    for name, args in students.items():
        run_args = args_with(args, output_dir=str(root / name))
        distilled = args.alpha > 0 or args.hidden_loss_weight > 0
        role = f"student, alpha={args.alpha}" + (f", {args.weighting}" if args.alpha > 0 else "")
        role += f", hidden-state term {args.hidden_loss_weight}" if args.hidden_loss_weight > 0 else ""
        role += "" if distilled else " (gold labels only)"
        extra = {"corpus": vars(corpus_args), "student": vars(student_args)}
        stage_teachers = teachers if distilled else ()
        finished = finished_stage(root / name, run_args, stage_teachers, data, cache, extra) if job.resume else None
        if finished is not None:
            logger.info("Reusing the finished %s (%s)", name, root / name / "model")
            results[name] = finished
        else:
            resume = job.resume and is_interrupted(root / name)  # else a stage that never reached a checkpoint starts
            results[name] = train_masked_lm(make_student(student_args, tokenizer), tokenizer, data, run_args,
                                            teachers=stage_teachers, teacher_cache=cache, resume=resume,
                                            extra_config=extra)
        rows.append(result_row(name, role, results[name]))
        curves[name] = read_metrics(root / name / "metrics.jsonl")

    if not train_args.should_save:  # with several processes, the first one writes the report
        return 0
    plot = plot_learning_curves(curves, root / "learning_curves.png", title="Distilled vs gold-only student")
    teacher_names = cache.teacher_names if cache is not None else [t.name for t in teachers]
    settings = {"corpus": corpus_args.corpus_label, **data.stats, "teachers": ", ".join(teacher_names),
                "teacher cache": teacher_args.teacher_cache or "none (teachers run at every step)",
                "weighting": train_args.weighting, "weight temperature": train_args.weight_temperature,
                "alpha": train_args.alpha, "temperature": train_args.temperature, "steps": train_args.max_steps,
                "batch size": train_args.per_device_train_batch_size, "learning rate": train_args.learning_rate}
    if train_args.hidden_loss_weight > 0:
        settings["hidden-state term"] = hidden_term_summary(train_args)
    command = ("python scripts/pretrain_multiteacher.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    wall = time.perf_counter() - start
    report = multiteacher_report(
        rows=rows, settings=settings, teacher_weights=mean_of(curves["student-distilled"], "teacher_weight/"),
        distilled=results["student-distilled"], baseline=results.get("student-mlm"), plot=plot.name,
        command=command, wall_time_s=wall)
    write_json_atomically({"results": results, "settings": settings, "wall_time_s": wall}, root / "results.json")
    write_text_atomically(report, root / "report.md")
    print(report)
    print(f"\nReport written to {root / 'report.md'}")
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
