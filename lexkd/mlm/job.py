"""The main job's building blocks: the teachers trained here (reused when complete), the student, the
job's data and teachers (:func:`prepare_job`), and the teachers' held-out scores. Training one model is
:func:`lexkd.mlm.training.train_masked_lm`; ``lexkd.cli.pretrain_multiteacher`` composes them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lexkd.data.corpora import flatten, load_split_corpus
from lexkd.data.tokenization import has_tokenizer
from lexkd.mlm.data import MLMData, prepare_mlm_data
from lexkd.mlm.evaluation import evaluate_model
from lexkd.mlm.teachers import Teacher
from lexkd.mlm.trainer import (
    DistillationArguments,
)
from lexkd.mlm.training import train_masked_lm
from lexkd.models.masked_lm import count_parameters
from lexkd.utils.cli import args_with  # also imported from here by the MLM scripts
from lexkd.utils.runs import is_complete_model, is_interrupted

logger = logging.getLogger(__name__)




























@dataclass(frozen=True)
class TeacherSpec:
    """Size and seed of a BERT-style teacher trained here when no pretrained teacher is available."""

    name: str
    layers: int
    hidden_size: int
    heads: int
    seed: int


DEFAULT_TEACHERS = (
    TeacherSpec("teacher-large", layers=3, hidden_size=256, heads=4, seed=1),
    TeacherSpec("teacher-small", layers=2, hidden_size=192, heads=3, seed=2),
)
"""The embedded default's two teachers: they differ in size and seed, and share corpus and tokenizer."""


def train_teacher(
    spec: TeacherSpec,
    tokenizer: PreTrainedTokenizerBase,
    data: MLMData,
    args: DistillationArguments,
    *,
    resume: bool = False,
) -> tuple[Path, bool]:
    """Train a BERT-style MLM teacher on gold labels, or reuse the finished one in ``args.output_dir``.

    Args:
        spec: teacher size and seed.
        args: training arguments; ``alpha`` and ``hidden_loss_weight`` are forced to 0 and ``seed`` to ``spec.seed``.

    Returns:
        ``(model_folder, trained)``: ``OUTPUT_DIR/model`` and whether it was trained now.

    Raises:
        lexkd.mlm.teachers.VocabularyMismatchError: a finished teacher exists there but was trained
            with another tokenizer (delete the folder, or point --output_dir elsewhere).
    """
    from lexkd.data.tokenization import check_vocabularies
    from lexkd.models.masked_lm import build_student

    model_dir = Path(args.output_dir) / "model"
    if is_complete_model(model_dir):
        from transformers import AutoTokenizer

        check_vocabularies(tokenizer, {str(model_dir): AutoTokenizer.from_pretrained(model_dir)})
        logger.info("Reusing teacher %s from %s", spec.name, model_dir)
        return model_dir, False
    model = build_student(len(tokenizer), num_hidden_layers=spec.layers, hidden_size=spec.hidden_size,
                          num_attention_heads=spec.heads, pad_token_id=tokenizer.pad_token_id, seed=spec.seed)
    teacher_args = args_with(args, alpha=0.0, hidden_loss_weight=0.0, seed=spec.seed)
    train_masked_lm(model, tokenizer, data, teacher_args, resume=resume,
                    extra_config={"teacher": dataclasses.asdict(spec)})
    return model_dir, True


def _check_student_vocabulary(source: str, tokenizer: PreTrainedTokenizerBase) -> None:
    """The job's data must be tokenised with the vocabulary the student's embeddings were trained on."""
    from transformers import AutoTokenizer

    from lexkd.data.tokenization import VocabularyMismatchError

    if not has_tokenizer(source):  # a checkpoint without tokenizer files: nothing to compare
        return
    own = AutoTokenizer.from_pretrained(source)
    if own.get_vocab() != tokenizer.get_vocab():
        raise VocabularyMismatchError(
            f"The student {source!r} was trained with another vocabulary ({len(own)} tokens) than the job's tokenizer "
            f"({len(tokenizer)} tokens, from --tokenizer or the first teacher): pass --tokenizer {source}, so that the "
            "data is tokenised as the student's embeddings expect (teachers numbering the same tokens differently "
            "are mapped onto it).")


def student_tokenizer_default(corpus_args, student_args) -> None:
    """Without ``--tokenizer``, a student started from a checkpoint (``--student``, ``--student_init_from``) that
    has tokenizer files brings its tokenizer: the data must be tokenised as its embeddings expect (teachers
    numbering the same tokens otherwise are then mapped onto it). Sets ``corpus_args.tokenizer`` in place."""
    source = student_args.student or student_args.student_init_from
    if corpus_args.tokenizer or not source or not has_tokenizer(source):
        return  # (no tokenizer files: the first teacher's, as before)
    logger.info("Tokenizer: the student's own (%s)", source)
    corpus_args.tokenizer = str(source)


def make_student(student_args, tokenizer: PreTrainedTokenizerBase, *, seed: int = 42) -> PreTrainedModel:
    """The student of :class:`lexkd.utils.cli.StudentArguments`: from a checkpoint, or built from its size."""
    from transformers import AutoConfig

    from lexkd.models.masked_lm import build_student, load_masked_lm, student_from_layers

    source = student_args.student or student_args.student_init_from
    if source:
        _check_student_vocabulary(source, tokenizer)
    if student_args.student:
        return load_masked_lm(student_args.student, role="student")
    if student_args.student_init_from:
        source_layers = AutoConfig.from_pretrained(student_args.student_init_from).num_hidden_layers
        width = student_args.student_hidden_size if student_args.student_hidden_size != 128 else None  # 128: the default
        return student_from_layers(student_args.student_init_from, student_args.init_layers(source_layers),
                                   hidden_size=width, seed=seed)
    return build_student(len(tokenizer), num_hidden_layers=student_args.student_layers,
                         hidden_size=student_args.student_hidden_size, num_attention_heads=student_args.student_heads,
                         intermediate_size=student_args.student_intermediate_size,
                         pad_token_id=tokenizer.pad_token_id, seed=seed)


def prepare_job(teacher_args, corpus_args, train_args: DistillationArguments, *, resume: bool = False, teacher_cache=None):
    """Corpus, tokenizer, tokenised data and loaded teachers of a distillation job.

    Given teachers supply the tokenizer (unless ``--tokenizer`` is set); otherwise a tokenizer is
    trained (or reused) in ``OUTPUT_DIR/tokenizer`` and the :data:`DEFAULT_TEACHERS` are trained
    (or reused) in ``OUTPUT_DIR/teachers``, unless no stage needs a teacher (``alpha`` 0 and no
    hidden-state term: a gold-only run trains none). Teachers' vocabularies are checked against the
    tokenizer's. With ``resume``, a default teacher interrupted after a checkpoint continues
    from it (see :func:`is_interrupted`). With a ``teacher_cache``
    (:class:`lexkd.mlm.cache.TeacherCache`) no teacher is loaded or trained, the tokenizer
    defaults to the first cached teacher's, and the cache is checked against the tokenizer, the
    distillation settings and the training sequences.

    Returns:
        ``(tokenizer, data, teachers)`` (``teachers`` empty with a cache).

    Raises:
        FileNotFoundError, EmptyCorpusError, VocabularyMismatchError, OSError: bad input.
        ValueError: both teachers and a cache. TeacherCacheError: a cache made for another run.
        UnpinnedModelError: a cache of a hub teacher of unknown commit without
            ``teacher_args.allow_unpinned_teacher``.
    """
    from transformers import AutoTokenizer

    from lexkd.data.tokenization import load_or_train_tokenizer
    from lexkd.mlm.teachers import corpus_sample, load_teachers, match_vocabularies
    from lexkd.models.masked_lm import check_local_model

    root = Path(train_args.output_dir)
    if teacher_cache is not None and teacher_args.teachers:
        raise ValueError("Pass either --teachers (run at every step) or --teacher_cache (their cached targets), not both.")
    if teacher_cache is not None:  # before any work
        teacher_cache.check_pinned(allow_unpinned_teacher=teacher_args.allow_unpinned_teacher)
    for name in teacher_args.teachers:  # fail before any work on a teacher path that does not exist
        check_local_model(name, role=f"teacher {name!r}")
    train_docs, val_docs = load_split_corpus(corpus_args.corpus, validation_fraction=corpus_args.validation_fraction,
                                             seed=corpus_args.split_seed, **corpus_args.corpus_kwargs())
    sources = teacher_args.teachers or (teacher_cache.teacher_names if teacher_cache is not None else [])
    if corpus_args.tokenizer or sources:
        tokenizer = AutoTokenizer.from_pretrained(corpus_args.tokenizer or sources[0])
    else:
        with train_args.main_process_first(desc="training the tokenizer"):  # the others then load it
            tokenizer, trained = load_or_train_tokenizer(root / "tokenizer", flatten(train_docs),
                                                         vocab_size=corpus_args.vocab_size)
        logger.info("%s tokenizer in %s (%d tokens)", "Trained" if trained else "Reusing", root / "tokenizer", len(tokenizer))
    data = prepare_mlm_data(train_docs, val_docs, tokenizer, max_seq_length=corpus_args.max_seq_length,
                            line_by_line=corpus_args.line_by_line, mlm_probability=train_args.mlm_probability,
                            eval_masking_seed=corpus_args.eval_masking_seed,
                            max_eval_sequences=corpus_args.max_eval_sequences)
    if teacher_cache is not None:
        teacher_cache.check(tokenizer, train_args, data.train)
        logger.info("Data: %s; teacher targets from the cache %s", data.stats, teacher_cache.path)
        return tokenizer, data, []
    names = list(teacher_args.teachers)
    if not names and train_args.alpha == 0 and train_args.hidden_loss_weight == 0:
        logger.info("Data: %s; alpha is 0 and no hidden-state term: no teacher is needed, none is trained", data.stats)
        return tokenizer, data, []
    if not names:
        for spec in DEFAULT_TEACHERS:
            spec_args = args_with(train_args, output_dir=str(root / "teachers" / spec.name),
                                  max_steps=teacher_args.teacher_max_steps, learning_rate=teacher_args.teacher_learning_rate)
            folder, trained = train_teacher(spec, tokenizer, data, spec_args,
                                            resume=resume and is_interrupted(spec_args.output_dir))
            logger.info("%s %s (%s)", "Trained" if trained else "Reusing", spec.name, folder)
            names.append(str(folder))
    teachers = load_teachers(names, device=train_args.device, dtype=teacher_args.teacher_dtype)
    match_vocabularies(tokenizer, teachers, corpus_sample(flatten(train_docs)))
    logger.info("Data: %s", data.stats)
    return tokenizer, data, teachers


def evaluate_teachers(teachers: Sequence[Teacher], data: MLMData, tokenizer) -> dict[str, dict]:
    """Held-out MLM scores and parameter count of each teacher, by its label."""
    results = {}
    for teacher in teachers:
        scores = evaluate_model(teacher.model, data.validation, tokenizer, desc=f"Evaluating {teacher.label}",
                                vocabulary_map=teacher.vocabulary_map)
        results[teacher.label] = {**scores, "parameters": count_parameters(teacher.model)}
    return results
