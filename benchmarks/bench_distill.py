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
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    METHODS,
    BenchConfig,
    build_cache_in_process,
    run_in_process,
    summarize,
    write_summary,
)
from transformers import BertTokenizerFast

from lexkd.mlm.cache import META_NAME
from lexkd.mlm.job import TeacherSpec, load_split_corpus, prepare_mlm_data, train_teacher
from lexkd.mlm.trainer import DistillationArguments
from lexkd.utils.cli import parse_args, run_cli
from lexkd.utils.io import save_pretrained_atomically, write_text_atomically

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BENCH_TEACHERS = (TeacherSpec("teacher-a", layers=4, hidden_size=256, heads=4, seed=1),
                  TeacherSpec("teacher-b", layers=2, hidden_size=256, heads=4, seed=2))


@dataclass
class BenchArguments:
    output_dir: str = field(default="runs/bench", metadata={"help": "Where the set-up is kept and the results written."})
    corpus: str = field(default=str(SHARED / "text" / "wikitext-2"), metadata={"help": "Text corpus (see lexkd.data.corpora.load_corpus)."})
    vocab_file: str = field(default=str(SHARED / "vocab" / "bert-base-uncased" / "vocab.txt"),
                            metadata={"help": "WordPiece vocabulary file (one token per line)."})
    max_documents: int | None = field(default=None, metadata={"help": "Read at most this many documents."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per sequence."})
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


def prepare(args: BenchArguments, root: Path):
    """Tokenizer, data, teachers and cache of the benchmark (reused when already in ``root``)."""
    if not Path(args.vocab_file).is_file():
        raise FileNotFoundError(f"No vocabulary file at {args.vocab_file!r}: pass --vocab_file.")
    tokenizer_dir = root / "tokenizer"
    if not (tokenizer_dir / "tokenizer_config.json").is_file():
        save_pretrained_atomically(BertTokenizerFast(vocab=args.vocab_file, do_lower_case=True), tokenizer_dir)
    tokenizer = BertTokenizerFast.from_pretrained(tokenizer_dir)
    entries = sum(1 for line in open(args.vocab_file, encoding="utf-8") if line.strip())
    if len(tokenizer) != entries:
        raise ValueError(f"The tokenizer in {tokenizer_dir} has {len(tokenizer)} tokens but {args.vocab_file} lists "
                         f"{entries}: delete {tokenizer_dir} and run again.")
    train_docs, val_docs = load_split_corpus(args.corpus, validation_fraction=0.02, seed=42, max_documents=args.max_documents)
    data = prepare_mlm_data(train_docs, val_docs, tokenizer, max_seq_length=args.max_seq_length, max_eval_sequences=512)
    for name, split in (("train", data.train), ("eval", data.validation)):
        if not (root / name / "dataset_info.json").is_file():
            shutil.rmtree(root / f".{name}.tmp", ignore_errors=True)
            split.save_to_disk(str(root / f".{name}.tmp"))
            (root / f".{name}.tmp").replace(root / name)
    teachers = []
    for spec in BENCH_TEACHERS:
        teacher_args = DistillationArguments(
            output_dir=str(root / "teachers" / spec.name), max_steps=args.teacher_steps, per_device_train_batch_size=32,
            learning_rate=5e-4, warmup_steps=50, logging_steps=50, save_steps=200, save_total_limit=1,
            report_to="none", use_cpu=True, alpha=0.0)
        folder, _ = train_teacher(spec, tokenizer, data, teacher_args)
        teachers.append(str(folder))
    build_path, meta_path = root / "cache_build.json", root / "cache" / META_NAME
    wanted = {"top_k": args.top_k, "num_maskings": args.num_maskings, "masking_seed": args.seed}
    built = json.loads(meta_path.read_text())["config"] if meta_path.is_file() else None
    stale = built is not None and any(built.get(key) != value for key, value in wanted.items())
    if stale:
        logging.info("Rebuilding %s: it was built with %s, this run asks for %s", root / "cache",
                     {key: built.get(key) for key in wanted}, wanted)
    if built is None or stale or not build_path.is_file():
        build = build_cache_in_process(teachers=teachers, tokenizer=str(tokenizer_dir), train_dir=str(root / "train"),
                                       cache_dir=str(root / "cache"), top_k=args.top_k, num_maskings=args.num_maskings,
                                       weighting="entropy", temperature=1.0, seed=args.seed, overwrite=stale)
        write_text_atomically(json.dumps(build), build_path)
    return tokenizer_dir, teachers, data, json.loads(build_path.read_text())


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
                         warmup=args.warmup, window=args.window, seed=args.seed)
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
