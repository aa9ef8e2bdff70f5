"""Fine-tune and evaluate a checkpoint on a GLUE task, or run a classic baseline on it.

``--model`` is any checkpoint (a folder written by ``save_pretrained``, e.g. lexkd's students
and teachers, or a hub id), fine-tuned here as a sequence classifier (a regressor for STS-B)
with ``transformers.Trainer``; or a classic baseline by name: ``tfidf-logreg``, ``tfidf-svm``
(TF-IDF word and character n-grams, pair features for pair tasks; ridge for STS-B).

Every split but ``train`` is evaluated with the task's official metric (CoLA Matthews
correlation; SST-2, QNLI, RTE, WNLI accuracy; MRPC, QQP accuracy and F1; STS-B Pearson and
Spearman; MNLI accuracy on matched and, from the hub, mismatched). Outputs: OUTPUT_DIR
(default ``runs/glue/{task}/{label}``) gets ``predictions.tsv`` and ``metrics.json``, and the
run becomes a row of ``RESULTS_ROOT/TASK/results.jsonl`` and ``results.md``, which compare every
model run on the task (a re-run of the same model, data and training size replaces its row).

Data (``--data``): ``local``, the copies in ``$LEXKD_GLUE_DIR`` (default ``../shared/data/glue``)
read in place (see ``lexkd/tasks/glue/data.py`` for each preset's files and splits); ``hub``
(``nyu-mll/glue``); a folder laid out like ``../shared/data/glue``; ``auto`` (default): local
when that folder exists, else the hub. Or your own files: ``--train_file``,
``--validation_file`` (.tsv, .csv, .json, .jsonl) with ``--columns`` (and ``--validation_columns``
when the validation file's header differs).

Examples:
    python scripts/finetune_glue.py --task rte --model runs/quickstart/student-distilled/model
    python scripts/finetune_glue.py --task mrpc --model tfidf-logreg
    python scripts/finetune_glue.py --task sst2 --model bert-base-uncased --data hub --learning_rate 2e-5
    python scripts/finetune_glue.py --task stsb --model runs/quickstart/teachers/teacher-large/model \\
        --max_train_examples 500 --max_steps 50
    python scripts/finetune_glue.py --task sst2 --model runs/quickstart/student-distilled/model \\
        --teacher runs/glue/sst2/minilm/model --alpha 0.5 --temperature 2     # task distillation
    python scripts/finetune_glue.py --task sst2 --model tfidf-svm --train_file train.csv \\
        --validation_file dev.csv --columns sentence=text,label=polarity
    python scripts/finetune_glue.py --task sst2 --model tfidf-svm --train_file train.tsv \\
        --validation_file dev.tsv --columns sentence=text,label=polarity --validation_columns sentence=review,label=gold
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from dataclasses import dataclass, field

from transformers import TrainingArguments

from lexkd.data.sampling import subsample
from lexkd.tasks.classification.classic import CLASSIC_MODELS
from lexkd.tasks.classification.distillation import TaskDistillationArguments
from lexkd.tasks.classification.finetune import (
    FINETUNING_DEFAULTS,
    check_model_reference,
    run_and_report,
)
from lexkd.tasks.glue.data import TASKS, get_task, load_task_data
from lexkd.utils.cli import parse_args, run_cli


@dataclass
class GlueArguments:
    task: str = field(metadata={"help": f"GLUE task: {', '.join(TASKS)}."})
    model: str = field(metadata={
        "help": f"Checkpoint to fine-tune (folder or hub id), a classic baseline ({', '.join(CLASSIC_MODELS)}), or "
                "cosine:ENCODER, the embedding-similarity detector of pair tasks (cosine of mean-pooled embeddings "
                "of ENCODER, a folder or hub id, with a threshold tuned on the training pairs; nothing trained)."})
    data: str = field(default="auto", metadata={
        "help": "Where the task's data comes from: local (the copies in $LEXKD_GLUE_DIR, default "
                "../shared/data/glue), hub (nyu-mll/glue), a folder laid out like ../shared/data/glue, or auto "
                "(local when that folder exists, else hub). Ignored with --train_file/--validation_file."})
    train_file: str | None = field(default=None, metadata={
        "help": "Your own training file (.tsv: tab, no quoting; .csv; .json; .jsonl), with --validation_file."})
    validation_file: str | None = field(default=None, metadata={"help": "Your own validation file (see --train_file)."})
    columns: str | None = field(default=None, metadata={
        "help": "Column mapping of your files, TASK_COLUMN=FILE_COLUMN,... e.g. sentence=text,label=polarity "
                "(task columns: the hub's names, e.g. sentence1,sentence2,label; unnamed ones keep their name). "
                "Labels: class names or ids. Used for --validation_file too, unless --validation_columns."})
    validation_columns: str | None = field(default=None, metadata={
        "help": "Column mapping of --validation_file when its header differs from --train_file's (same syntax as "
                "--columns, which it replaces for that file). Default: the --columns mapping."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example (pairs truncated longest first)."})
    max_train_examples: int | None = field(default=None, metadata={
        "help": "Train on at most this many random examples (--seed), for quick runs."})
    max_eval_examples: int | None = field(default=None, metadata={
        "help": "Evaluate on at most this many random examples of each split, for quick runs."})
    results_root: str = field(default="runs/glue", metadata={
        "help": "Results tables go to RESULTS_ROOT/TASK/results.jsonl and results.md."})
    label: str | None = field(default=None, metadata={
        "help": "The model's name in the results table (default: its folder name, or the parent's when the "
                "folder is 'model'; the id for hub models). Also fills {label} in --output_dir."})
    save_model: bool = field(default=False, metadata={"help": "Save the fine-tuned model to OUTPUT_DIR/model."})


# CPU-friendly defaults; every TrainingArguments flag can override them. {task} and {label} in
# --output_dir are filled in after parsing.
DEFAULTS = {"output_dir": "runs/glue/{task}/{label}", **FINETUNING_DEFAULTS}


def main(argv=None) -> int:
    start = time.perf_counter()
    args, distillation, train_args = parse_args((GlueArguments, TaskDistillationArguments, TrainingArguments), argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = get_task(args.task)
    check_model_reference(args.model)
    for teacher in distillation.teacher:
        check_model_reference(teacher)
    data, source = load_task_data(spec, args.data, train_file=args.train_file,
                                  validation_file=args.validation_file, columns=args.columns,
                                  validation_columns=args.validation_columns)
    data = subsample(data, max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples,
                     seed=train_args.seed, transfer_examples=distillation.transfer_examples)
    logging.info("%s data from %s: %s", spec.name, source, {split: len(rows) for split, rows in data.items()})
    command = ("python scripts/finetune_glue.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    run_and_report(args.model, data, spec, train_args, source=source, results_root=args.results_root, label=args.label,
                   max_seq_length=args.max_seq_length, save_model=args.save_model, command=command, start_time=start,
                   distillation=distillation,
                   settings={"max_train_examples": args.max_train_examples, "max_eval_examples": args.max_eval_examples})
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
