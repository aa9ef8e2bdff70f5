#!/usr/bin/env python
"""Benchmark: multi-teacher MLM distillation against the plain-MLM floor and TextBrewer, in one run.

Set-up (made once in OUTPUT_DIR and reused): the bert-base-uncased WordPiece vocabulary (30,522
tokens), a text corpus split by document, two BERT-style teachers trained here on it, a teacher
cache of their top-k targets, and the held-out split masked once. Then every method of
:mod:`harness` (beside this script) trains the same student (2 layers, 128 wide by default) on the same
batches, each in its own process, and the script prints a table and writes OUTPUT_DIR/bench.json
and bench.md. TextBrewer is the `textbrewer` package from PyPI; install it without letting pip
replace torch:  pip install textbrewer -c constraints.txt  (a file holding `torch==2.13.0`).

Example:
    python benchmarks/bench_distill.py                       # everything, the defaults below
    python benchmarks/bench_distill.py --methods floor cached online --steps 100
    python benchmarks/bench_distill.py --output_dir runs/bench-real --methods floor cached online \
        --teachers runs/adaptation-study/minilm-all/model runs/adaptation-study/mpnet-top2/model
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    METHODS,
    BenchConfig,
    prepare,
    run_in_process,
    summarize,
    write_summary,
)

from lexkd.mlm.cache import META_NAME
from lexkd.utils.cli import parse_args, run_cli
from lexkd.utils.paths import shared_data_dir

SHARED = shared_data_dir()


@dataclass
class BenchArguments:
    output_dir: str = field(default="runs/bench", metadata={"help": "Where the set-up is kept and the results written."})
    corpus: str = field(default=str(SHARED / "text" / "wikitext-2"), metadata={"help": "Text corpus (see lexkd.data.corpora.load_corpus)."})
    vocab_file: str = field(default=str(SHARED / "vocab" / "bert-base-uncased" / "vocab.txt"),
                            metadata={"help": "WordPiece vocabulary file (one token per line)."})
    max_documents: int | None = field(default=None, metadata={"help": "Read at most this many documents."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per sequence."})
    teachers: list[str] = field(default_factory=list, metadata={
        "help": "Teacher folders (masked LMs with the --vocab_file vocabulary, or one that maps onto it by token "
                "string, e.g. an adapted all-mpnet-base-v2). Default: two small BERT teachers trained here."})
    teacher_steps: int = field(default=600, metadata={"help": "Training steps of each teacher trained here (reused later)."})
    methods: list[str] = field(default_factory=lambda: list(METHODS), metadata={"help": f"Methods to run, of: {', '.join(METHODS)}."})
    steps: int = field(default=300, metadata={"help": "Training steps of floor, online and cached (held-out loss compared)."})
    reference_steps: int = field(default=50, metadata={"help": "Training steps of the slow references: hf_full_head, naive, textbrewer."})
    top_k: int = field(default=32, metadata={"help": "Target tokens kept per masked position in the cache."})
    num_maskings: int = field(default=3, metadata={"help": "Static maskings of each sequence in the cache (its rows = "
                                                          "sequences x maskings; the timed methods need (steps + 1) x batch_size)."})
    batch_size: int = field(default=32, metadata={"help": "Sequences per step."})
    student_layers: int = field(default=2, metadata={"help": "Student layers."})
    student_hidden_size: int = field(default=128, metadata={"help": "Student hidden size."})
    warmup: int = field(default=5, metadata={"help": "Untimed steps at the start of each method."})
    window: int = field(default=10, metadata={"help": "Steps per timed window (throughput = median over windows)."})
    seed: int = field(default=0, metadata={"help": "Seed of the student's initialisation, the batch order and the masks."})
    teacher_dtype: str = field(default="float32", metadata={
        "help": "Precision the teachers run in, on-line and while the cache is built: float32, bfloat16, float16 "
                "or int8 (as --teacher_dtype of scripts/pretrain_multiteacher.py)."})


def main(argv=None) -> int:
    (args,) = parse_args((BenchArguments,), argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown or "floor" not in args.methods:
        raise ValueError(f"--methods must include 'floor' (the reference of every ratio) and only: {', '.join(METHODS)}; "
                         f"got unknown {unknown}." if unknown else "--methods must include 'floor'.")
    root = Path(args.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    tokenizer_dir, teachers, data, build = prepare(args, root)
    rows = json.loads((root / "cache" / META_NAME).read_text())["totals"]["rows"]
    needed = (max(args.steps, args.reference_steps) + 1) * args.batch_size
    if rows < needed:
        raise ValueError(f"The cache has {rows} rows ({len(data.train)} sequences x {args.num_maskings} maskings); "
                         f"{max(args.steps, args.reference_steps)} steps of {args.batch_size} need {needed}: raise "
                         f"--num_maskings or lower --steps.")
    config = BenchConfig(cache_dir=str(root / "cache"), teachers=teachers, tokenizer=str(tokenizer_dir),
                         eval_dir=str(root / "eval"), student_layers=args.student_layers,
                         student_hidden_size=args.student_hidden_size, batch_size=args.batch_size,
                         warmup=args.warmup, window=args.window, seed=args.seed, teacher_dtype=args.teacher_dtype)
    results = []
    for name in [m for m in METHODS if m in args.methods]:
        steps = args.reference_steps if name in ("hf_full_head", "naive", "textbrewer") else args.steps
        logging.info("Benchmarking %s for %d steps", name, steps)
        results.append(run_in_process(name, config, steps))
        logging.info("%s", results[-1])
    meta = json.loads((root / "cache" / META_NAME).read_text())
    summary = summarize(results, meta, build)
    summary["settings"] = {**vars(args), "data": data.stats, "teachers": teachers}
    write_summary(summary, root)
    print((root / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
