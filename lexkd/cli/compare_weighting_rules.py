"""Compare the teacher weighting rules at equal steps, data order and teachers.

One student per rule (uniform, max_prob, entropy, gold_prob by default), each from the same
initialisation, trained on the same batches and masks; then the held-out MLM loss and
masked-token accuracy of each, as OUTPUT_DIR/weighting/comparison.{md,json} and a plot. This is
how the default rule of scripts/pretrain_multiteacher.py is chosen. Teachers and tokenizer are
those of the main job (trained or reused in OUTPUT_DIR, or given with --teachers); a rule whose
run already finished is reused.

Example:
    python scripts/compare_weighting_rules.py                       # after the main job
    python scripts/compare_weighting_rules.py --rules entropy gold_prob --max_steps 1000
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lexkd.cli.pretrain_multiteacher import DEFAULTS  # the main job's settings
from lexkd.data.arguments import CorpusArguments
from lexkd.mlm.arguments import StudentArguments, TeacherArguments
from lexkd.mlm.job import args_with, make_student, prepare_job, student_tokenizer_default
from lexkd.mlm.teachers import WEIGHTING_RULES, check_weighting_rule
from lexkd.mlm.trainer import DistillationArguments
from lexkd.mlm.training import train_masked_lm
from lexkd.utils.cli import parse_args, run_cli
from lexkd.utils.io import write_json_atomically, write_text_atomically
from lexkd.utils.reporting import markdown_table, mean_of, plot_learning_curves, read_metrics


@dataclass
class CompareArguments:
    rules: list[str] = field(
        default_factory=lambda: list(WEIGHTING_RULES),
        metadata={"help": f"Weighting rules to compare (any of: {', '.join(WEIGHTING_RULES)})."},
    )


SETTINGS = ("alpha", "temperature", "weighting", "weight_temperature", "max_steps", "seed", "learning_rate",
            "per_device_train_batch_size", "gradient_accumulation_steps", "mlm_probability")


def _finished_with_same_settings(run: Path, args: DistillationArguments) -> bool:
    """A finished run in ``run`` trained with the same settings can be reused as it is."""
    if not ((run / "eval_results.json").is_file() and (run / "model").is_dir()):
        return False
    recorded = json.loads((run / "run_config.json").read_text())["training"]
    return all(recorded.get(name) == getattr(args, name) for name in SETTINGS)


def main(argv=None) -> int:
    compare, teacher_args, corpus_args, student_args, train_args = parse_args(
        (CompareArguments, TeacherArguments, CorpusArguments, StudentArguments, DistillationArguments), argv, DEFAULTS)
    for rule in compare.rules:
        check_weighting_rule(rule)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = Path(train_args.output_dir) / "weighting"
    student_tokenizer_default(corpus_args, student_args)
    tokenizer, data, teachers = prepare_job(teacher_args, corpus_args, train_args)
    rows, curves = [], {}
    for rule in compare.rules:
        run = root / rule
        if _finished_with_same_settings(run, args_with(train_args, weighting=rule)):
            results = json.loads((run / "eval_results.json").read_text())
        else:
            results = train_masked_lm(make_student(student_args, tokenizer), tokenizer, data,
                                      args_with(train_args, weighting=rule, output_dir=str(run)), teachers=teachers,
                                      extra_config={"corpus": vars(corpus_args), "student": vars(student_args)})
        curves[rule] = read_metrics(run / "metrics.jsonl")
        weights = mean_of(curves[rule], "teacher_weight/")
        rows.append({"rule": rule, "held-out MLM loss": results["loss"], "perplexity": results["perplexity"],
                     "masked-token accuracy": results["accuracy"], "train time (s)": results["train_runtime_s"],
                     **{f"mean weight {k}": v for k, v in weights.items()}})
    if not train_args.should_save:  # with several processes, the first one writes the comparison
        return 0
    columns = list(dict.fromkeys(k for row in rows for k in row))
    best = min(rows, key=lambda r: r["held-out MLM loss"])
    plot = plot_learning_curves(curves, root / "comparison.png", title="Teacher weighting rules")
    text = "\n".join([
        "# Teacher weighting rules at equal steps, data and teachers", "",
        f"Teachers: {', '.join(t.name for t in teachers)}; alpha={train_args.alpha}, T={train_args.temperature}, "
        f"tau={train_args.weight_temperature}, {train_args.max_steps} steps of {train_args.per_device_train_batch_size} "
        f"sequences of {corpus_args.max_seq_length} tokens; corpus: {corpus_args.corpus_label}.", "",
        markdown_table(rows, columns), "",
        f"Lowest held-out MLM loss: **{best['rule']}**.", "", f"![curves]({plot.name})", ""])
    write_json_atomically(rows, root / "comparison.json")
    write_text_atomically(text, root / "comparison.md")
    print(text)
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
