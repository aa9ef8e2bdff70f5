"""Train a BERT-style masked-LM teacher on a corpus (gold labels only), for use with
scripts/pretrain_multiteacher.py where no pretrained teacher is available.

Example:
    python scripts/train_teacher.py --output_dir runs/teachers/big --layers 4 --hidden_size 256 \
        --heads 4 --seed 1 --max_steps 2000 --tokenizer runs/quickstart/tokenizer
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoTokenizer

from lexkd.data.arguments import CorpusArguments
from lexkd.data.corpora import flatten, load_split_corpus
from lexkd.data.tokenization import load_or_train_tokenizer
from lexkd.mlm.data import prepare_mlm_data
from lexkd.mlm.job import TeacherSpec, train_teacher
from lexkd.mlm.trainer import DistillationArguments
from lexkd.utils.cli import parse_args, run_cli


@dataclass
class TeacherArguments:
    layers: int = field(default=4, metadata={"help": "Transformer layers of the teacher."})
    hidden_size: int = field(default=256, metadata={"help": "Hidden size of the teacher."})
    heads: int = field(default=4, metadata={"help": "Attention heads of the teacher."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in --output_dir."})


DEFAULTS = {"output_dir": "runs/teacher", "max_steps": 1000, "per_device_train_batch_size": 32,
            "learning_rate": 5e-4, "warmup_steps": 50, "logging_steps": 10, "eval_strategy": "steps",
            "eval_steps": 200, "save_steps": 200, "save_total_limit": 2, "report_to": "none"}


def main(argv=None) -> int:
    corpus_args, teacher_args, train_args = parse_args((CorpusArguments, TeacherArguments, DistillationArguments), argv, DEFAULTS)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train_docs, val_docs = load_split_corpus(corpus_args.corpus, validation_fraction=corpus_args.validation_fraction,
                                             seed=corpus_args.split_seed, **corpus_args.corpus_kwargs())
    if corpus_args.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(corpus_args.tokenizer)
    else:
        tokenizer, _ = load_or_train_tokenizer(Path(train_args.output_dir) / "tokenizer", flatten(train_docs),
                                               vocab_size=corpus_args.vocab_size)
    data = prepare_mlm_data(train_docs, val_docs, tokenizer, max_seq_length=corpus_args.max_seq_length,
                            line_by_line=corpus_args.line_by_line, mlm_probability=train_args.mlm_probability,
                            eval_masking_seed=corpus_args.eval_masking_seed,
                            max_eval_sequences=corpus_args.max_eval_sequences)
    spec = TeacherSpec(Path(train_args.output_dir).name, teacher_args.layers, teacher_args.hidden_size,
                       teacher_args.heads, train_args.seed)
    model_dir, trained = train_teacher(spec, tokenizer, data, train_args, resume=teacher_args.resume)
    print(f"Teacher {'trained and saved' if trained else 'already complete'} at {model_dir}")
    return 0



def cli() -> None:
    """Console entry point (``pip install`` puts it on the PATH; see ``[project.scripts]``)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
