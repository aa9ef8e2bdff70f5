"""Command-line arguments of the MLM scripts, as dataclasses parsed by ``HfArgumentParser``.

Every field's ``help`` is shown by ``--help``. ``--config FILE.yaml`` sets defaults from a YAML
file (keys are the flag names without dashes); flags given on the command line override them.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from transformers import HfArgumentParser


@dataclass
class CorpusArguments:
    """Where the text comes from and how it becomes MLM sequences."""

    corpus: str = field(
        default="wordnet",
        metadata={"help": "Text source: 'wordnet' (all WordNet 3.0 glosses and examples, built in), a .txt/.jsonl "
                  "file or folder, an archive of ../shared/data/text (.tar.xz, NLTK .zip), or 'hf:NAME' for a "
                  "Hugging Face dataset."},
    )
    text_field: str = field(default="text", metadata={"help": "Text column of a .jsonl file or HF dataset."})
    document_separator: str = field(
        default="auto", metadata={"help": "How .txt files split into documents: auto, line, blank_line, file, wikitext."}
    )
    hf_config: str | None = field(default=None, metadata={"help": "Config name of an 'hf:' dataset."})
    hf_split: str = field(default="train", metadata={"help": "Split of an 'hf:' dataset."})
    max_documents: int | None = field(default=None, metadata={"help": "Read at most this many documents."})
    validation_fraction: float = field(
        default=0.02, metadata={"help": "Share of documents held out for evaluation (split by document)."}
    )
    split_seed: int = field(default=42, metadata={"help": "Seed of the train/validation document split."})
    max_seq_length: int = field(default=64, metadata={"help": "Tokens per training sequence."})
    line_by_line: bool = field(
        default=False, metadata={"help": "One sequence per paragraph (padded) instead of packing text into full blocks."}
    )
    max_eval_sequences: int | None = field(
        default=512, metadata={"help": "Evaluate on at most this many held-out sequences (all if unset)."}
    )
    eval_masking_seed: int = field(default=1234, metadata={"help": "Seed of the fixed masks of the held-out split."})
    tokenizer: str | None = field(
        default=None,
        metadata={"help": "Tokenizer folder or hub id. Default: the first teacher's; with no teacher, a WordPiece "
                  "tokenizer trained on the corpus and saved to OUTPUT_DIR/tokenizer."},
    )
    vocab_size: int = field(default=8192, metadata={"help": "Vocabulary size of a tokenizer trained on the corpus."})

    def corpus_kwargs(self) -> dict:
        return {"text_field": self.text_field, "document_separator": self.document_separator,
                "hf_config": self.hf_config, "hf_split": self.hf_split, "max_documents": self.max_documents}


@dataclass
class StudentArguments:
    """The student: built from a size, or initialised from a checkpoint."""

    student: str | None = field(
        default=None, metadata={"help": "Initialise the student from this checkpoint (folder or hub id) instead of a config."}
    )
    student_layers: int = field(default=2, metadata={"help": "Transformer layers of a student built from a config."})
    student_hidden_size: int = field(default=128, metadata={"help": "Hidden size of a student built from a config."})
    student_heads: int = field(default=2, metadata={"help": "Attention heads of a student built from a config."})
    student_intermediate_size: int | None = field(
        default=None, metadata={"help": "Feed-forward width (default 4 x hidden size)."}
    )


@dataclass
class TeacherArguments:
    """Which teachers to distil from, or how to train them here when none is given."""

    teachers: list[str] = field(
        default_factory=list,
        metadata={"help": "Teacher checkpoints (folders or hub ids), any AutoModelForMaskedLM sharing one vocabulary. "
                  "Default: train two BERT-style teachers on the corpus (OUTPUT_DIR/teachers), reused on later runs."},
    )
    teacher_cache: str | None = field(
        default=None,
        metadata={"help": "Train from this teacher cache (scripts/build_teacher_cache.py) instead of running teachers at "
                  "every step; it must have been built with this run's corpus flags, tokenizer, --weighting, "
                  "--temperature, --weight_temperature and --mlm_probability."},
    )
    allow_unpinned_teacher: bool = field(
        default=False,
        metadata={"help": "Train from a --teacher_cache even if a teacher it was built from is a hub model whose commit "
                  "was unknown (it may hold another version's targets than the hub has now). Without it, such a cache "
                  "is refused."},
    )
    teacher_max_steps: int = field(default=1000, metadata={"help": "Training steps of each teacher trained here."})
    teacher_learning_rate: float = field(default=1e-3, metadata={"help": "Learning rate of teachers trained here."})


def args_with(args, **changes):
    """A copy of the arguments dataclass ``args`` (e.g. a ``TrainingArguments`` subclass) with
    ``changes`` applied, validated again by its ``__post_init__``.

    Raises:
        TypeError: a name in ``changes`` that is not one of the dataclass's init fields.
        ValueError: from ``__post_init__``, for a changed value out of range.
    """
    names = {f.name for f in dataclasses.fields(args) if f.init}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise TypeError(f"{type(args).__name__} has no field {', '.join(unknown)}; its fields are the script's flags.")
    return dataclasses.replace(args, **changes)


def parse_args(dataclass_types: tuple, argv: list[str] | None = None, defaults: dict | None = None):
    """Parse the command line into the dataclasses, with ``--config FILE.yaml`` and script defaults.

    Precedence: command line > YAML config > ``defaults`` (the script's) > field defaults.

    Raises:
        SystemExit: (argparse) an unknown flag or bad value, with usage; a missing or malformed
            config file, or unknown keys in it, with the valid flag names.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(dataclass_types)
    parser.add_argument("--config", type=str, default=None, help="YAML file of flag defaults (flag names as keys).")
    config_path = parser.parse_known_args(argv)[0].config
    merged = dict(defaults or {})
    if config_path is not None:
        merged.update(_read_config(parser, config_path))
    known = {action.dest for action in parser._actions}
    parser.set_defaults(**{k: v for k, v in merged.items() if k in known})
    namespace = parser.parse_args(argv)
    del namespace.config
    outputs = []
    for dtype in dataclass_types:
        names = {f for f in dtype.__dataclass_fields__ if dtype.__dataclass_fields__[f].init}
        outputs.append(dtype(**{k: v for k, v in vars(namespace).items() if k in names}))
    return tuple(outputs)


def _read_config(parser: HfArgumentParser, path: str) -> dict:
    if not Path(path).is_file():
        parser.error(f"--config {path}: no such file.")
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as error:
        parser.error(f"--config {path}: not valid YAML ({error}).")
    if not isinstance(values, dict):
        parser.error(f"--config {path}: expected a mapping of flag names to values.")
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(values) - known)
    if unknown:
        parser.error(f"--config {path}: unknown keys {unknown}; see --help for the valid flag names.")
    return values


def run_cli(main) -> int:
    """Run a script's ``main()``, turning expected input errors into one clear line and exit code 2.

    Expected errors are ``FileNotFoundError``, ``ValueError`` (bad values, empty corpora,
    vocabulary mismatches) and ``OSError`` (hub ids that cannot be loaded). Set
    ``LEXKD_TRACEBACK=1`` to see the full traceback.
    """
    import os

    try:
        return main()
    except (FileNotFoundError, FileExistsError, ValueError, OSError) as error:
        if os.environ.get("LEXKD_TRACEBACK"):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


@dataclass
class TeacherCacheArguments:
    """What scripts/build_teacher_cache.py stores; the distillation settings must match the training run's."""

    output_dir: str = field(metadata={"help": "The cache folder (created; an interrupted build there is resumed)."})
    teachers: list[str] = field(
        default_factory=list,
        metadata={"help": "Teacher checkpoints (folders or hub ids), any AutoModelForMaskedLM sharing one vocabulary."},
    )
    top_k: int = field(default=32, metadata={"help": "Target tokens kept per masked position (the rest is one tail mass)."})
    num_maskings: int = field(
        default=4, metadata={"help": "Maskings stored per sequence (static masking); training cycles through them."}
    )
    masking_seed: int = field(default=0, metadata={"help": "Seed of the masks (a mask depends only on it, the masking and the sequence)."})
    weighting: str = field(default="entropy", metadata={"help": "Teacher weighting rule (as in training: --weighting)."})
    temperature: float = field(default=1.0, metadata={"help": "Softmax temperature T of the target (as --temperature)."})
    weight_temperature: float = field(default=1.0, metadata={"help": "Temperature of the teacher weights (as --weight_temperature)."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of tokens masked (as --mlm_probability)."})
    batch_size: int = field(default=64, metadata={"help": "Sequences per teacher forward pass."})
    shard_size: int = field(default=8192, metadata={"help": "Sequences per shard (the unit written atomically and resumed)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a cache built with other settings in --output_dir."})
    allow_unpinned_teacher: bool = field(
        default=False,
        metadata={"help": "Reuse (or resume) the cache in --output_dir even if a teacher is a hub model whose commit is "
                  "unknown (the cache may hold another version's targets). Without it, such a cache is refused: "
                  "rebuild it with --overwrite."},
    )
