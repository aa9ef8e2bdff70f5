"""BLEU's parts (n-gram precisions, brevity penalty, length ratio) of saved predictions, and of copying the input.

Usage: python benchmarks/bleu_parts.py TOKENIZER RUN_DIR/predictions.tsv [...]

Each ``predictions.tsv`` (header ``source reference hypothesis``, written by scripts/distill_seq2seq.py) is scored
as the job scores it (:func:`lexkd.seq2seq.metrics.normalize_for_metrics` with TOKENIZER, the models' shared
tokenizer, then :func:`lexkd.seq2seq.metrics.score_generations`); the copy baseline of the first file is printed too.
Runs evaluated since these parts were added also hold them in their ``metrics.json``.
"""

import argparse
import csv
import sys
from pathlib import Path

from transformers import AutoTokenizer

from lexkd.seq2seq.metrics import normalize_for_metrics, score_generations


def read(path: Path) -> tuple[list[str], list[str], list[str]]:
    if not path.is_file():
        sys.exit(f"{path}: no such file (a run folder's predictions.tsv).")
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0] != ["source", "reference", "hypothesis"] or len(rows) < 2:
        sys.exit(f"{path}: expected the header 'source reference hypothesis' and at least one row.")
    return tuple(list(column) for column in zip(*rows[1:], strict=True))


def line(name: str, scores: dict) -> str:
    precisions = " / ".join(f"{p:.1f}" for p in scores["bleu_precisions"])
    return (f"{name}: BLEU {scores['bleu']:.2f}  precisions {precisions}  brevity penalty "
            f"{scores['bleu_brevity_penalty']:.3f}  length ratio {scores['length_ratio']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tokenizer", help="The models' tokenizer (a model folder or hub id).")
    parser.add_argument("predictions", nargs="+", type=Path, help="predictions.tsv files.")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    for number, path in enumerate(args.predictions):
        sources, references, hypotheses = (normalize_for_metrics(c, tokenizer) for c in read(path))
        if number == 0:
            print(line("copy baseline", score_generations(sources, references)))
        print(line(str(path.parent), score_generations(hypotheses, references)))


if __name__ == "__main__":
    main()
