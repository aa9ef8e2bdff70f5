"""Command-line settings of the MLM path: which teachers (or how to train them here), the student, the
teacher target cache. Every field is a flag of the MLM scripts (``--help`` prints its ``help``)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
