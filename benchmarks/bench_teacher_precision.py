#!/usr/bin/env python
"""Benchmark: teachers in reduced precision (``--teacher_dtype``) against float32: throughput and target fidelity.

For each precision, the teachers are loaded as :func:`lexkd.mlm.teachers.load_teachers` loads them for a job, run on
the same held-out batches (fixed masks), and their combined multi-teacher target ``q`` (the job's weighting rule
and temperature) is compared with the float32 target: mean ``KL(q_float32 || q_dtype)`` per masked position (nats),
how often the two targets' top token agree, and the largest change of a teacher weight. Throughput is masked
tokens per second of the teachers' forward passes (median over batches after ``--warmup`` untimed ones), wall
time; run it alone on the machine.

Example:
    python benchmarks/bench_teacher_precision.py --teachers runs/adapt/minilm/model runs/adapt/mpnet/model \\
        --tokenizer models/all-MiniLM-L6-v2 --corpus ../shared/data/text/wikitext-2 --output_dir runs/bench-precision
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoTokenizer

from lexkd.data.collators import MaskedLMCollator
from lexkd.data.corpora import flatten, load_split_corpus
from lexkd.mlm.data import prepare_validation_set
from lexkd.mlm.teachers import (
    TEACHER_DTYPES,
    corpus_sample,
    load_teachers,
    match_vocabularies,
    teacher_targets,
)
from lexkd.utils.cli import parse_args, run_cli
from lexkd.utils.io import write_json_atomically, write_text_atomically
from lexkd.utils.paths import shared_data_dir
from lexkd.utils.reporting import markdown_table


@dataclass
class PrecisionArguments:
    teachers: list[str] = field(metadata={"help": "Teacher folders or hub ids (masked LMs)."})
    tokenizer: str | None = field(default=None, metadata={"help": "The student's tokenizer (default: the first teacher's)."})
    corpus: list[str] = field(default_factory=lambda: [str(shared_data_dir() / "text" / "wikitext-2")],
                              metadata={"help": "Text source(s); the held-out documents are scored."})
    dtypes: list[str] = field(default_factory=lambda: list(TEACHER_DTYPES), metadata={"help": f"Precisions, of: {', '.join(TEACHER_DTYPES)}."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per sequence."})
    batches: int = field(default=12, metadata={"help": "Held-out batches scored per precision."})
    batch_size: int = field(default=32, metadata={"help": "Sequences per batch."})
    warmup: int = field(default=2, metadata={"help": "Untimed batches at the start of each precision."})
    weighting: str = field(default="entropy", metadata={"help": "Weighting rule of the combined target."})
    temperature: float = field(default=1.0, metadata={"help": "Temperature T of the combined target."})
    threads: int | None = field(default=None, metadata={"help": "torch threads (default: torch's)."})
    output_dir: str = field(default="runs/bench-precision", metadata={"help": "Where precision.json and precision.md go."})


def main(argv=None) -> int:
    (args,) = parse_args((PrecisionArguments,), argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    unknown = sorted(set(args.dtypes) - set(TEACHER_DTYPES))
    if unknown or "float32" not in args.dtypes:
        raise ValueError(f"--dtypes must include float32 (the reference) and only: {', '.join(TEACHER_DTYPES)}"
                         + (f"; unknown {unknown}" if unknown else "") + ".")
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.teachers[0])
    train_docs, val_docs = load_split_corpus(args.corpus, validation_fraction=0.02, seed=42)
    held_out = prepare_validation_set(val_docs, tokenizer, max_seq_length=args.max_seq_length,
                                      max_eval_sequences=args.batches * args.batch_size)
    loader = DataLoader(held_out, batch_size=args.batch_size, collate_fn=MaskedLMCollator(tokenizer))
    batches = [{k: v for k, v in b.items() if isinstance(v, torch.Tensor)} for b in loader][: args.batches]
    sample = corpus_sample(flatten(train_docs))
    reference, rows = None, []
    for dtype in ["float32"] + [d for d in args.dtypes if d != "float32"]:
        teachers = match_vocabularies(tokenizer, load_teachers(args.teachers, dtype=dtype), sample)
        targets, seconds, tokens = [], [], []
        for index, batch in enumerate(batches):
            start = time.perf_counter()
            q, weights = teacher_targets(teachers, batch, rule=args.weighting, temperature=args.temperature)
            if index >= args.warmup:
                seconds.append(time.perf_counter() - start)
                tokens.append(int((batch["labels"] != -100).sum()))
            targets.append((q, weights))
        rate = statistics.median(t / s for t, s in zip(tokens, seconds, strict=True))
        row = {"precision": dtype, "masked tokens / s": round(rate, 1)}
        if reference is None:
            reference = targets
            row.update({"mean KL(q_float32 to q), nats": 0.0, "top-1 agreement": 1.0, "largest teacher-weight change": 0.0})
        else:
            kl = agree = count = 0.0
            weight_change = 0.0
            for (q_ref, w_ref), (q, w) in zip(reference, targets, strict=True):
                # sum_v q_ref (log q_ref - log q), per masked position
                kl += (q_ref * (q_ref.clamp_min(1e-12).log() - q.clamp_min(1e-12).log())).sum().item()
                agree += (q_ref.argmax(-1) == q.argmax(-1)).sum().item()
                count += q_ref.shape[0]
                weight_change = max(weight_change, (w_ref - w).abs().max().item())
            row.update({"mean KL(q_float32 to q), nats": kl / count, "top-1 agreement": agree / count,
                        "largest teacher-weight change": weight_change})
        row["speed-up"] = round(rate / rows[0]["masked tokens / s"], 2) if rows else 1.0
        rows.append(row)
        logging.info("%s", row)
        del teachers
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {**vars(args), "masked_tokens": sum(int((b["labels"] != -100).sum()) for b in batches),
                "threads": torch.get_num_threads()}
    write_json_atomically({"rows": rows, "settings": settings}, out / "precision.json")
    text = "\n".join([
        "# Teachers in reduced precision against float32", "",
        f"Teachers: {', '.join(args.teachers)}; {settings['masked_tokens']:,} held-out masked tokens in "
        f"{len(batches)} batches of {args.batch_size} x {args.max_seq_length}; target: {args.weighting}, T={args.temperature}; "
        f"{settings['threads']} torch threads.", "", markdown_table(rows, list(rows[0])), ""])
    write_text_atomically(text, out / "precision.md")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
