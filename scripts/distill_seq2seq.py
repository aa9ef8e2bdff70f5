#!/usr/bin/env python
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

from lexkd.models.masked_lm import check_local_model
from lexkd.models.seq2seq import load_seq2seq_tokenizer
from lexkd.seq2seq.job import (
    NLGDataArguments,
    NLGModelArguments,
    collator,
    eval_only_label,
    evaluate_and_record,
    load_data,
    load_student,
    record_copy_baseline,
    run_label,
    train_or_load_teacher,
    training_rows,
)
from lexkd.seq2seq.trainer import (
    TEACHER_METHODS,
    Seq2SeqDistillationArguments,
    Seq2SeqDistillationTrainer,
)
from lexkd.utils.cli import args_with, parse_args, run_cli
from lexkd.utils.io import save_model_atomically

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
    needs_teacher = not model_args.eval_only and (train_args.method in TEACHER_METHODS or train_args.method == "seqkd")
    for name in [model_args.student] + ([model_args.teacher or model_args.teacher_init] if needs_teacher else []):
        check_local_model(name)  # fail on a missing folder before loading any data
    output_root = Path(model_args.output_root.replace("{task}", data_args.task.replace("/", "--")))
    label = model_args.label or (eval_only_label(model_args.student) if model_args.eval_only else run_label(train_args))
    train_args = args_with(train_args, output_dir=train_args.output_dir.replace("{output_root}", str(output_root))
                           .replace("{label}", label))

    tokenizer = load_seq2seq_tokenizer(model_args.student)
    data, unlabeled, source = load_data(data_args)
    logging.info("%s: %d train pairs, %d unlabelled inputs, %d validation pairs", source, len(data["train"]),
                 len(unlabeled), len(data["validation"]))
    student = load_student(model_args.student, tokenizer)
    record_copy_baseline(data, tokenizer, output_root, source)
    if model_args.eval_only:
        row = evaluate_and_record(student, tokenizer, data, model_args, data_args, output_root, label=label,
                                  kind="evaluated as given", source=source, train_time_s=0.0,
                                  settings={"command": command, "student": model_args.student}, train_examples=0,
                                  wall_start=wall_start)
        print(f"{label}: {row['metrics']['validation']}; results {output_root / 'results.md'}")
        return 0

    teacher = teacher_fingerprint = teacher_label = None
    if needs_teacher:
        teacher, teacher_fingerprint, teacher_label, _ = train_or_load_teacher(
            model_args, data_args, data, tokenizer, train_args, output_root, source)
    rows, cache_info = training_rows(
        train_args, model_args, data_args, data, unlabeled, tokenizer, teacher, teacher_fingerprint, teacher_label,
        output_root / "cache", student.config.decoder_start_token_id)
    logging.info("%s trains on %d rows", label, len(rows))

    trainer = Seq2SeqDistillationTrainer(
        model=student, args=train_args, train_dataset=rows, data_collator=collator(tokenizer),
        teacher=teacher if train_args.method in TEACHER_METHODS else None, processing_class=tokenizer)
    resume = train_args.resume_from_checkpoint
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=True if resume in ("true", "last") else resume)
    train_time = time.perf_counter() - started
    save_model_atomically(student, tokenizer, Path(train_args.output_dir) / "model")

    settings = {"command": command, "student": model_args.student, "teacher": teacher_label,
                "method": train_args.method, "divergence": train_args.divergence,
                "sample_source": train_args.effective_sample_source, "beta": train_args.beta,
                "temperature": train_args.temperature, "alpha": train_args.alpha,
                "student_share": train_args.student_share, "max_steps": train_args.max_steps,
                "batch_size": train_args.per_device_train_batch_size, "learning_rate": train_args.learning_rate,
                "seed": train_args.seed, "train_loss": result.training_loss, **cache_info}
    row = evaluate_and_record(student, tokenizer, data, model_args, data_args, output_root, label=label,
                              kind=f"student ({train_args.method})", source=source, train_time_s=train_time,
                              settings=settings, train_examples=len(rows), wall_start=wall_start)
    print(f"{label}: {row['metrics']['validation']}; train {train_time:.0f} s; results {output_root / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
