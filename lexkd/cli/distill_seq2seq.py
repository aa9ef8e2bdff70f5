"""Distil a seq2seq student from a seq2seq teacher with one of six methods, and score it.

Methods (``--method``; details in ``lexkd/seq2seq/trainer.py``):
    sft             fine-tuning on gold targets (no KD)
    word_kd         T^2 * KL(teacher || student) per token on gold targets
    seqkd           training on the teacher's beam-search output (Kim & Rush 2016)
    pseudo_targets  word-level KD on gold and on --num_pseudo_targets teacher samples per input
                    (Calderon et al., ACL 2023)
    joint_teaching  as pseudo_targets, with the student's own samples on --student_share of the steps
    f_distill       f-DISTILL's --divergence kl / rkl / js / tvd on teacher samples, student samples or
                    both (--sample_source; Wen et al., ACL 2023)

The student is a BERT-style checkpoint warm-started as an encoder-decoder (cross-attention added)
or any seq2seq checkpoint. Without ``--teacher``, a teacher is first fine-tuned from
``--teacher_init`` on the task and reused by later runs; its pseudo-targets are generated once
and stored (OUTPUT_ROOT/cache), shared by every method. Each run evaluates on the validation
split with beam search (BLEU and chrF from sacrebleu, ROUGE-1/2/L from rouge-score, after the
tokenizer's normalisation: lowercase for the shared vocabulary) and adds a row to
OUTPUT_ROOT/results.md, next to the teacher's and the copy baseline's (output = input).

Examples:
    python scripts/distill_seq2seq.py --method sft --max_steps 1000
    python scripts/distill_seq2seq.py --method f_distill --divergence js --beta 0.85
    python scripts/distill_seq2seq.py --method pseudo_targets --labeled_examples 7000
    python scripts/distill_seq2seq.py --task definitions --method word_kd
    python scripts/distill_seq2seq.py --task definitions --eval_only --student runs/nlg/definitions/sft/model
    python scripts/distill_seq2seq.py --task files --train_source_file a.src --train_target_file a.tgt \\
        --validation_source_file b.src --validation_target_file b.tgt --student t5-small --teacher t5-base
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from pathlib import Path

from lexkd.seq2seq.job import NLGDataArguments, NLGModelArguments, run_seq2seq_job
from lexkd.seq2seq.trainer import Seq2SeqDistillationArguments
from lexkd.utils.cli import parse_args, run_cli

# CPU-friendly defaults; every flag overrides them. {output_root} and {label} are filled in.
DEFAULTS = {"output_dir": "{output_root}/{label}", "per_device_train_batch_size": 32, "learning_rate": 5e-4,
            "max_steps": 1000, "warmup_steps": 0.05, "weight_decay": 0.01, "logging_steps": 50,
            "save_strategy": "steps", "save_steps": 500, "save_total_limit": 1, "report_to": "none",
            "eval_strategy": "no"}


def main(argv=None) -> int:
    wall_start = time.perf_counter()
    data_args, model_args, train_args = parse_args(
        (NLGDataArguments, NLGModelArguments, Seq2SeqDistillationArguments), argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = ("python scripts/distill_seq2seq.py " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    row = run_seq2seq_job(data_args, model_args, train_args, command=command, wall_start=wall_start)
    if row is not None:  # the main process
        trained = "" if model_args.eval_only else f"; train {row['train_time_s']:.0f} s"
        results = Path(row["output_dir"]).parent / "results.md"
        print(f"{row['model']}: {row['metrics']['validation']}{trained}; results {results}")
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
