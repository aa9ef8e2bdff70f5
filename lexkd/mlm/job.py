"""Building blocks of the MLM pretraining jobs (teachers and distilled students).

``scripts/train_teacher.py`` and ``scripts/pretrain_multiteacher.py`` are thin ``main()``s over
these functions. Each run writes to its own folder::

    run_config.json     the arguments it ran with
    metrics.jsonl       one JSON object per log/eval event (train loss, teacher weights, eval)
    checkpoint-*/       Trainer checkpoints (model, optimizer, scheduler, RNG) for --resume
    model/              the final model and tokenizer (save_pretrained), written atomically
    eval_results.json   final held-out MLM loss, perplexity, accuracy, parameter count
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lexkd.data.collators import MaskedLMCollator
from lexkd.data.corpora import flatten, load_split_corpus
from lexkd.mlm.data import MLMData, prepare_mlm_data
from lexkd.mlm.evaluation import evaluate_model
from lexkd.mlm.teachers import Teacher
from lexkd.mlm.trainer import (
    DistillationArguments,
    MultiTeacherDistillationTrainer,
)
from lexkd.models.masked_lm import MaskedPositionMLM, count_parameters
from lexkd.utils.cli import args_with  # also imported from here by the MLM scripts
from lexkd.utils.io import (
    save_model_atomically,
    write_json_atomically,
    write_text_atomically,
)
from lexkd.utils.model_card import model_card
from lexkd.utils.runs import MetricsJsonlCallback, is_complete_model, is_interrupted, start_run

logger = logging.getLogger(__name__)
















def train_masked_lm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    data: MLMData,
    args: DistillationArguments,
    *,
    teachers: Sequence[Teacher] = (),
    teacher_cache=None,
    resume: bool = False,
    extra_config: dict | None = None,
) -> dict:
    """Train a masked LM (plain MLM with ``alpha=0``, multi-teacher distillation otherwise).

    Writes the run folder described in this module's docstring into ``args.output_dir``; the
    final ``model/`` folder appears only when training finished.

    Args:
        model: the student (any ``AutoModelForMaskedLM``).
        data: from :func:`prepare_mlm_data`.
        args: :class:`lexkd.mlm.trainer.DistillationArguments`.
        teachers: run at every step; needed when ``args.alpha > 0`` and no ``teacher_cache``.
        teacher_cache: a :class:`lexkd.mlm.cache.TeacherCache` (checked against ``args``,
            the tokenizer and ``data.train``): the student trains on the cache's statically masked
            rows and top-k targets, and no teacher runs. With ``alpha=0`` it trains on the same
            rows from the gold tokens only.
        resume: continue from the last checkpoint in ``args.output_dir``.
        extra_config: more settings to record in ``run_config.json`` (corpus, model sizes, ...).

    Returns:
        The final evaluation: ``loss``, ``perplexity``, ``accuracy``, ``masked_tokens``,
        ``parameters``, ``train_runtime_s``.

    Raises:
        FileNotFoundError: ``resume`` with no checkpoint in the run folder.
        TeacherCacheError: a cache built for another tokenizer, settings or corpus.
    """
    output_dir = Path(args.output_dir)
    train_dataset, collator, teacher_names = data.train, None, [t.name for t in teachers]
    if teacher_cache is not None:
        teacher_cache.check(tokenizer, args, data.train)
        args = args_with(args, remove_unused_columns=False)  # the collator needs the cache's columns
        train_dataset, collator = teacher_cache.dataset, teacher_cache.collator(tokenizer)
        teacher_names = teacher_cache.teacher_names if args.alpha > 0 else []
    checkpoint = start_run(output_dir, args, resume=resume)
    if args.should_save:  # only one process writes the run folder's files
        config = {"training": args.to_dict(), "teachers": teacher_names, "data": data.stats,
                  "teacher_cache": str(teacher_cache.path) if teacher_cache is not None else None, **(extra_config or {})}
        write_json_atomically(config, output_dir / "run_config.json")
    trainer = MultiTeacherDistillationTrainer(
        model=MaskedPositionMLM(model),
        args=args,
        train_dataset=train_dataset,
        eval_dataset=data.validation,
        # Per-process masking seed: processes mask different examples with different draws.
        data_collator=collator or MaskedLMCollator(tokenizer, mlm_probability=args.mlm_probability,
                                                   seed=args.seed + 1000 * args.process_index),
        processing_class=tokenizer,
        teachers=teachers if teacher_cache is None else (),
        cached_teachers=teacher_cache.teacher_labels if teacher_cache is not None and args.alpha > 0 else (),
        callbacks=[MetricsJsonlCallback(output_dir / "metrics.jsonl")],
    )
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    runtime = time.perf_counter() - start
    final = trainer.evaluate()
    results = {k.removeprefix("eval_"): v for k, v in final.items()}
    results.update(parameters=count_parameters(model), train_runtime_s=round(runtime, 1), steps=trainer.state.global_step)
    if trainer.is_world_process_zero():
        model.config.lexkd = {"alpha": args.alpha, "weighting": args.weighting, "temperature": args.temperature,
                              "teachers": teacher_names}
        card = masked_lm_card(output_dir.name, args, teacher_names, results, data, extra_config)
        save_model_atomically(model, tokenizer, output_dir / "model", model_card=card)
        write_json_atomically(results, output_dir / "eval_results.json")
        _write_run_report(output_dir, args, teacher_names, results)
    trainer.accelerator.wait_for_everyone()  # no process reads model/ before it is complete
    return results


def masked_lm_card(name: str, args: DistillationArguments, teachers: Sequence[str], results: dict, data: MLMData,
                   extra_config: dict | None = None) -> str:
    """The model card (``model/README.md``) of a student or teacher trained by :func:`train_masked_lm`."""
    extra = extra_config or {}
    student = extra.get("student") or {}
    corpus = (extra.get("corpus") or {}).get("corpus", "-")
    if student.get("student"):
        base = str(student["student"])
    elif student.get("student_init_from"):
        base = f"layers {student.get('student_init_layers') or 'every other'} of {student['student_init_from']}"
    elif student:
        base = (f"random initialisation, BERT {student.get('student_layers')} layers x {student.get('student_hidden_size')} "
                "(no pretrained weights)")
    else:
        base = extra.get("base_model")
    training = {"objective": "multi-teacher distillation (Wahle, arXiv 2301.08130)" if teachers else "MLM on gold tokens only"}
    if teachers:
        training.update({"weighting rule": args.weighting, "weight temperature (tau)": args.weight_temperature,
                         "alpha": args.alpha, "temperature (T)": args.temperature})
    training.update({"steps": results.get("steps"), "batch size per device": args.per_device_train_batch_size,
                     "learning rate": args.learning_rate, "masking probability": args.mlm_probability,
                     "corpus": corpus, **data.stats, "seed": args.seed})
    shown = {"held-out MLM loss": results.get("loss"), "perplexity": results.get("perplexity"),
             "masked-token accuracy": results.get("accuracy"), "masked tokens": results.get("masked_tokens"),
             "parameters": results.get("parameters")}
    return model_card(name, summary=f"A masked language model trained by lexkd ({training['objective']}).",
                      base_model=base, teachers=teachers, training=training, results=shown, tags=["fill-mask"],
                      pipeline_tag="fill-mask",
                      result_notes="Held-out MLM loss in nats per masked token on the job's held-out documents, "
                                   "with fixed masks (the same for every model of the job).")






def _write_run_report(output_dir: Path, args: DistillationArguments, teachers: Sequence[str], results: dict) -> None:
    """The run folder's learning_curves.png and report.md."""
    from lexkd.utils.reporting import markdown_table, plot_learning_curves, read_metrics

    plot_learning_curves({output_dir.name: read_metrics(output_dir / "metrics.jsonl")},
                         output_dir / "learning_curves.png", title=output_dir.name)
    kind = "multi-teacher distillation" if teachers else "masked-LM training on gold labels"
    lines = [f"# {output_dir.name}: {kind}", "",
             markdown_table([results], ["loss", "perplexity", "accuracy", "masked_tokens", "parameters", "steps",
                                        "train_runtime_s"]), "",
             "Held-out MLM loss in nats per masked token; accuracy over the fixed held-out masks.", ""]
    if teachers:
        lines += [f"Teachers: {', '.join(teachers)}; weighting {args.weighting}, alpha {args.alpha}, "
                  f"T {args.temperature}, tau {args.weight_temperature}.", ""]
    lines += ["![learning curves](learning_curves.png)", "", "Settings: `run_config.json`; log: `metrics.jsonl`.", ""]
    write_text_atomically("\n".join(lines), output_dir / "report.md")




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
        args: training arguments; ``alpha`` is forced to 0 and ``seed`` to ``spec.seed``.

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
    teacher_args = args_with(args, alpha=0.0, seed=spec.seed)
    train_masked_lm(model, tokenizer, data, teacher_args, resume=resume,
                    extra_config={"teacher": dataclasses.asdict(spec)})
    return model_dir, True


def make_student(student_args, tokenizer: PreTrainedTokenizerBase, *, seed: int = 42) -> PreTrainedModel:
    """The student of :class:`lexkd.utils.cli.StudentArguments`: from a checkpoint, or built from its size."""
    from transformers import AutoConfig

    from lexkd.models.masked_lm import build_student, load_masked_lm, student_from_layers

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
    (or reused) in ``OUTPUT_DIR/teachers``. Teachers' vocabularies are checked against the
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

    from lexkd.data.tokenization import check_vocabularies, load_or_train_tokenizer
    from lexkd.mlm.teachers import load_teachers
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
    if not names:
        for spec in DEFAULT_TEACHERS:
            spec_args = args_with(train_args, output_dir=str(root / "teachers" / spec.name),
                                  max_steps=teacher_args.teacher_max_steps, learning_rate=teacher_args.teacher_learning_rate)
            folder, trained = train_teacher(spec, tokenizer, data, spec_args,
                                            resume=resume and is_interrupted(spec_args.output_dir))
            logger.info("%s %s (%s)", "Trained" if trained else "Reusing", spec.name, folder)
            names.append(str(folder))
    teachers = load_teachers(names, device=train_args.device, dtype=teacher_args.teacher_dtype)
    check_vocabularies(tokenizer, {t.name: t.tokenizer for t in teachers}, {t.name: t.model for t in teachers})
    logger.info("Data: %s", data.stats)
    return tokenizer, data, teachers


def evaluate_teachers(teachers: Sequence[Teacher], data: MLMData, tokenizer) -> dict[str, dict]:
    """Held-out MLM scores and parameter count of each teacher, by its label."""
    results = {}
    for teacher in teachers:
        scores = evaluate_model(teacher.model, data.validation, tokenizer, desc=f"Evaluating {teacher.label}")
        results[teacher.label] = {**scores, "parameters": count_parameters(teacher.model)}
    return results
