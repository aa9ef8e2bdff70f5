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
    student_init_from: str | None = field(default=None, metadata={
        "help": "Initialise the student from chosen layers of this pretrained BERT-type encoder (DistilBERT-style: "
                "embeddings, the --student_init_layers layers and the MLM head where the checkpoint has one)."})
    student_init_layers: str | None = field(default=None, metadata={
        "help": "With --student_init_from: the source layers to copy, comma-separated, e.g. 0,2,4 (default: every "
                "other layer from 0). --student_layers/--student_heads/--student_intermediate_size then come from "
                "the source, and --student_hidden_size, if set to other than its default, must equal the source's width."})

    def __post_init__(self):
        if self.student_init_layers is not None and self.student_init_from is None:
            raise ValueError("--student_init_layers needs --student_init_from (the encoder whose layers are copied).")
        if self.student_init_from is not None and self.student is not None:
            raise ValueError("Give --student (a whole checkpoint) or --student_init_from (chosen layers), not both.")

    def init_layers(self, num_source_layers: int) -> list[int]:
        """The source layers to copy: ``--student_init_layers`` parsed, else every other layer from 0.

        Raises:
            ValueError: an entry that is not an integer.
        """
        if self.student_init_layers is None:
            return list(range(0, num_source_layers, 2))
        try:
            return [int(part) for part in self.student_init_layers.split(",") if part.strip()]
        except ValueError:
            raise ValueError(f"--student_init_layers {self.student_init_layers!r}: expected integers like 0,2,4.") from None


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
    teacher_dtype: str = field(default="float32", metadata={
        "help": "Precision the teachers run in: float32, bfloat16, float16, or int8 (dynamic quantization of their "
                "linear layers, CPU only). The combined targets are computed in float32 either way."})
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
    teacher_dtype: str = field(default="float32", metadata={
        "help": "Precision the teachers run in while the cache is built: float32, bfloat16, float16 or int8 (CPU). "
                "Recorded in the cache's settings."})
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
