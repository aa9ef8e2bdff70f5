"""Fine-tune and evaluate any checkpoint as a sequence classifier or regressor, run the classic
baselines on the same data, and write the outputs of a run.

:func:`finetune_classifier` loads any checkpoint with ``AutoModelForSequenceClassification``
(lexkd's students are ``BertForPreTraining`` checkpoints: encoder and pooler load, the classifier
layer is new; its teachers are ``BertForMaskedLM``: the pooler is new too; ``metrics.json``
lists the new weights), tokenizes single texts or pairs (as pairs, with segment ids for BERT),
trains with ``transformers.Trainer`` and ``DataCollatorWithPadding``, and evaluates every split
other than ``train`` with the task's metrics (:func:`lexkd.tasks.classification.spec.compute_metrics`).
:func:`evaluate_classic` does the same for the TF-IDF baselines (:mod:`lexkd.tasks.classification.classic`).

:func:`write_run_outputs` writes, atomically:

- ``OUTPUT_DIR/predictions.tsv``: ``split``, ``index``, ``label``, ``prediction`` (class names,
  or scores for regression) and the texts;
- ``OUTPUT_DIR/metrics.json``: model, task, data, metrics per split, sizes, times, settings and
  the command. It is written after the predictions: a run with a ``metrics.json`` is complete;
- ``RESULTS_ROOT/TASK/results.jsonl``: one row per (model label, data, training examples) over
  every run on the task (a re-run replaces its row), and ``results.md``, the same as a table
  regenerated at each write, best primary metric first, with the bar chart ``results.png``
  (:func:`lexkd.utils.reporting.update_results_table`).

Task specs and metrics are :mod:`lexkd.tasks.classification.spec`; model names in tables are
:func:`lexkd.utils.hub.model_label`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import datasets
import numpy as np
from transformers import (
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)

from lexkd.data.sampling import TRANSFER_SPLIT
from lexkd.models.masked_lm import check_local_model, count_parameters
from lexkd.tasks.classification.classic import CLASSIC_MODELS, fit_classic
from lexkd.tasks.classification.distillation import (
    TEACHER_LOGITS,
    TaskDistillationArguments,
    TaskDistillationTrainer,
    mean_teacher_weights,
    teacher_logits,
)
from lexkd.tasks.classification.evaluation import ClassificationEvaluator
from lexkd.tasks.classification.loading import (  # noqa: F401  (load_classifier, load_tokenizer: part of this module's API)
    load_classifier,
    load_tokenizer,
    tokenize_dataset,
    uses_segment_ids,
)
from lexkd.tasks.classification.result import RunResult, evaluation_splits
from lexkd.tasks.classification.similarity import (
    COSINE_PREFIX,
    cosine_encoder,
    evaluate_cosine,
    is_cosine_reference,
)
from lexkd.tasks.classification.spec import TaskSpec, compute_metrics
from lexkd.tasks.glue.data import get_task
from lexkd.utils.hub import model_label
from lexkd.utils.io import save_model_atomically, write_json_atomically, write_text_atomically
from lexkd.utils.model_card import model_card
from lexkd.utils.reporting import update_results_table
from lexkd.utils.runs import MetricsJsonlCallback

logger = logging.getLogger(__name__)


def task_from_columns(text_columns: Sequence[str], dataset: datasets.Dataset, *, name: str = "custom") -> TaskSpec:
    """A :class:`TaskSpec` for your own data, its labels read from ``dataset``'s ``label`` column.

    A ``ClassLabel`` gives the names; float labels make a regression (Pearson, Spearman);
    integer labels ``0..K-1`` get names ``"0".."K-1"``; classification uses accuracy and macro F1.

    Raises:
        ValueError: no ``label`` column, or negative integer labels.
    """
    if "label" not in dataset.column_names:
        raise ValueError(f"No 'label' column; columns found: {', '.join(dataset.column_names)}.")
    feature = dataset.features["label"]
    if isinstance(feature, datasets.ClassLabel):
        return TaskSpec(name, tuple(text_columns), tuple(feature.names), ("accuracy", "macro_f1"))
    if feature.dtype.startswith("float"):
        return TaskSpec(name, tuple(text_columns), None, ("pearson", "spearman"))
    labels = np.asarray(dataset["label"])
    if labels.size and labels.min() < 0:
        raise ValueError(f"Integer labels must be 0..K-1; found {labels.min()}.")
    classes = max(2, int(labels.max()) + 1) if labels.size else 2
    return TaskSpec(name, tuple(text_columns), tuple(str(i) for i in range(classes)), ("accuracy", "macro_f1"))


def resolve_task(task_spec_or_columns, dataset_dict: datasets.DatasetDict) -> TaskSpec:
    """A :class:`TaskSpec` from a spec, a task name, or a sequence of text column names
    (:func:`task_from_columns` on the train split).

    Raises:
        ValueError: an unknown task, or text columns missing from a split.
    """
    if isinstance(task_spec_or_columns, TaskSpec | str):
        spec = get_task(task_spec_or_columns)
    else:
        spec = task_from_columns(list(task_spec_or_columns), dataset_dict["train"])
    for split, dataset in dataset_dict.items():
        needed = spec.text_columns if split == TRANSFER_SPLIT else (*spec.text_columns, "label")  # unlabelled
        missing = [c for c in needed if c not in dataset.column_names]
        if missing:
            raise ValueError(f"Split {split!r} lacks column(s) {', '.join(missing)}; found {', '.join(dataset.column_names)}.")
    return spec


FINETUNING_DEFAULTS = {"num_train_epochs": 3, "per_device_train_batch_size": 32, "per_device_eval_batch_size": 128,
                       "learning_rate": 1e-4, "warmup_steps": 0.1, "weight_decay": 0.01, "eval_strategy": "no",
                       "save_strategy": "no", "logging_steps": 50, "report_to": "none"}
"""CPU-friendly ``TrainingArguments`` defaults of the fine-tuning scripts (every flag overrides them)."""


def check_model_reference(name: str) -> None:
    """Fail before any work on a misspelt baseline (a name starting with ``tfidf`` not in
    :data:`~lexkd.tasks.classification.classic.CLASSIC_MODELS`), a local model folder with no saved model,
    or ``cosine:`` with no encoder after it (the similarity detector, :mod:`lexkd.tasks.classification.similarity`).

    Raises:
        ValueError: an unknown baseline, listing the valid ones, or a bare ``cosine:``.
        FileNotFoundError: see :func:`lexkd.models.masked_lm.check_local_model`.
    """
    if is_cosine_reference(name):
        check_local_model(cosine_encoder(name), role="cosine: encoder")
        return
    if name.startswith("tfidf") and name not in CLASSIC_MODELS:
        raise ValueError(f"Unknown classic baseline {name!r}; valid: {', '.join(CLASSIC_MODELS)}.")
    if name not in CLASSIC_MODELS:
        check_local_model(name, role="model")


# --------------------------------------------------------------------------- fine-tuning


def finetune_classifier(model_name_or_path: str, dataset_dict: datasets.DatasetDict, task_spec_or_columns,
                        training_args: TrainingArguments, *, max_seq_length: int = 128,
                        tokenizer: PreTrainedTokenizerBase | None = None, save_model: bool = False,
                        distillation: TaskDistillationArguments | None = None) -> RunResult:
    """Fine-tune a checkpoint on ``dataset_dict["train"]`` and evaluate every other split.

    Args:
        model_name_or_path: a folder written by ``save_pretrained`` or a hub id.
        dataset_dict: ``train`` plus evaluation splits, with the task's text columns and ``label``.
        task_spec_or_columns: a :class:`TaskSpec`, a task name, or the text column names.
        training_args: ``transformers.TrainingArguments`` (epochs/steps, batch size, learning
            rate, seed, ...); logs go to ``OUTPUT_DIR/metrics.jsonl`` (replaced at each run).
        save_model: also save the fine-tuned model and tokenizer to ``OUTPUT_DIR/model`` (atomically).
        distillation: with teachers (``distillation.teacher``), task-specific distillation: the
            teachers' logits over the training split are computed (or read from their cache) first,
            then the student trains on gold labels plus their combined soft labels
            (:mod:`lexkd.tasks.classification.distillation`); the student's initialisation is the
            same as without teachers.

    Returns:
        a :class:`RunResult` with the official metrics and ``(N,)`` predictions of each split.

    Raises:
        FileNotFoundError, OSError: a model that cannot be loaded (:func:`load_classifier`).
        ValueError: an unknown task, missing columns, no ``train`` split, or ``max_seq_length``
            beyond the model's position embeddings; with teachers, a regression task.
        TeacherLabelMismatchError: a teacher fine-tuned for another label set.
    """
    if "train" not in dataset_dict:
        raise ValueError(f"No 'train' split to fine-tune on; splits: {', '.join(dataset_dict)}.")
    spec = resolve_task(task_spec_or_columns, dataset_dict)
    tokenizer = tokenizer or load_tokenizer(model_name_or_path)
    distilling = distillation is not None and distillation.enabled
    transfer = dataset_dict[TRANSFER_SPLIT] if TRANSFER_SPLIT in dataset_dict else None
    if transfer is not None and not distilling:
        raise ValueError("The data hold a transfer set (--transfer_examples) but no --teacher labels it: pass teachers "
                         "or drop --transfer_examples.")
    taught = dataset_dict["train"]  # the rows the teachers label: gold rows, then the transfer set
    if transfer is not None:
        columns = list(spec.text_columns)
        taught = datasets.concatenate_datasets([taught.select_columns(columns), transfer.select_columns(columns)])
    if distilling:  # before the student's seeded initialisation, which stays that of plain fine-tuning
        kd_start = time.perf_counter()
        soft, teacher_records = teacher_logits(
            distillation.teacher, taught, spec, max_seq_length=max_seq_length,
            cache_dir=distillation.teacher_logits_dir, batch_size=training_args.per_device_eval_batch_size,
            allow_unpinned_teacher=distillation.allow_unpinned_teacher)
        teacher_time = time.perf_counter() - kd_start
    set_seed(training_args.seed)  # the new classifier layer's initialisation
    model, new_weights = load_classifier(model_name_or_path, spec, with_new_weights=True)
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and max_seq_length > positions:
        raise ValueError(f"max_seq_length {max_seq_length} exceeds the model's {positions} position embeddings.")
    segment_ids = uses_segment_ids(model) or None  # BERT: pairs get segment ids 0/1
    encoded = tokenize_dataset(dataset_dict, tokenizer, spec, max_seq_length=max_seq_length, segment_ids=segment_ids)
    splits = evaluation_splits(dataset_dict)
    log_path = Path(training_args.output_dir) / "metrics.jsonl"
    log_path.unlink(missing_ok=True)
    train_set, trainer_class, extra = encoded["train"], Trainer, {}
    gold_labels = list(dataset_dict["train"]["label"])
    if transfer is not None:  # label -100: the gold term skips these rows, the KD term counts them
        keep = [c for c in train_set.column_names if c in ("input_ids", "attention_mask", "token_type_ids", "label")]
        gold_rows = train_set.select_columns(keep).cast_column("label", datasets.Value("int64"))
        transfer_rows = encoded[TRANSFER_SPLIT].add_column("label", [-100] * len(transfer)).select_columns(keep)
        transfer_rows = transfer_rows.cast(gold_rows.features)
        train_set = datasets.concatenate_datasets([gold_rows, transfer_rows])
        gold_labels += [-100] * len(transfer)
    if distilling:
        train_set = train_set.add_column(TEACHER_LOGITS, soft.tolist())
        trainer_class = TaskDistillationTrainer
        extra = {"distillation": distillation, "teacher_labels": [r["label"] for r in teacher_records]}
    trainer = trainer_class(model=model, args=training_args, train_dataset=train_set,
                            eval_dataset=encoded[splits[0]] if splits else None,
                            data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                            compute_metrics=lambda output: compute_metrics(spec, output.predictions, output.label_ids),
                            callbacks=[MetricsJsonlCallback(log_path)], **extra)
    start, cpu_start = time.perf_counter(), time.process_time()
    trained = trainer.train()
    train_time, train_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    metrics, predictions = {}, {}
    for split in splits:
        evaluator = ClassificationEvaluator(encoded[split], dataset_dict[split]["label"], spec, tokenizer,
                                            batch_size=training_args.per_device_eval_batch_size)
        metrics[split] = evaluator(trainer.model)
        predictions[split] = evaluator.last_predictions
        logger.info("%s %s: %s", spec.name, split, metrics[split])
    if save_model and trainer.is_world_process_zero():
        first = splits[0] if splits else None
        card = model_card(Path(training_args.output_dir).name, summary=f"A classifier fine-tuned by lexkd on {spec.name}.",
                          base_model=str(model_name_or_path),
                          training={"task": spec.name, "train examples": len(dataset_dict["train"]),
                                    "steps": trainer.state.global_step, "learning rate": training_args.learning_rate,
                                    "max sequence length": max_seq_length, "seed": training_args.seed},
                          results=metrics.get(first) if first else None,
                          result_notes=f"The task's official metrics on the {first} split." if first else "",
                          pipeline_tag="text-classification",
                          usage="Load with `AutoModelForSequenceClassification.from_pretrained` on this folder.")
        save_model_atomically(trainer.model, tokenizer, Path(training_args.output_dir) / "model", model_card=card)
    details = {"parameters": count_parameters(model),
               "parameters_without_embeddings": count_parameters(model, embeddings=False),
               "train_cpu_s": round(train_cpu, 1), "steps": trainer.state.global_step,
               "epochs": round(trainer.state.epoch or 0.0, 3), "train_loss": trained.training_loss,
               "max_seq_length": max_seq_length, "segment_ids": bool(segment_ids), "new_weights": new_weights}
    if distilling:
        details["distillation"] = {
            **distillation.settings(), "teacher_logits": teacher_records, "teacher_logits_time_s": round(teacher_time, 2),
            "mean_teacher_weights": mean_teacher_weights(soft, gold_labels, distillation,
                                                         [r["label"] for r in teacher_records])}
    if transfer is not None:
        details["transfer_examples"] = len(transfer)
    return RunResult(spec, str(model_name_or_path), "fine-tuned", metrics, predictions, len(dataset_dict["train"]),
                     {s: len(dataset_dict[s]) for s in splits}, round(train_time, 2),
                     round(time.perf_counter() - start - train_time, 2), details)


def evaluate_classic(name: str, dataset_dict: datasets.DatasetDict, task_spec_or_columns, *, seed: int = 0) -> RunResult:
    """Fit the classic baseline ``name`` on ``train`` and evaluate every other split, as
    :func:`finetune_classifier` does (see :func:`lexkd.tasks.classification.classic.fit_classic`).

    Raises:
        ValueError: an unknown baseline or task, missing columns, no ``train`` split.
    """
    if "train" not in dataset_dict:
        raise ValueError(f"No 'train' split to fit on; splits: {', '.join(dataset_dict)}.")
    spec = resolve_task(task_spec_or_columns, dataset_dict)

    def texts(split):
        columns = [list(dataset_dict[split][c]) for c in spec.text_columns]
        return columns[0], columns[1] if spec.is_pair else None

    start = time.perf_counter()
    first, second = texts("train")
    model = fit_classic(name, first, list(dataset_dict["train"]["label"]), texts_b=second, regression=spec.is_regression,
                        seed=seed)
    train_time = time.perf_counter() - start
    metrics, predictions = {}, {}
    for split in evaluation_splits(dataset_dict):
        predictions[split] = model.predict(*texts(split))
        metrics[split] = compute_metrics(spec, predictions[split], list(dataset_dict[split]["label"]))
    return RunResult(spec, name, "classic", metrics, predictions, len(dataset_dict["train"]),
                     {s: len(dataset_dict[s]) for s in predictions}, round(train_time, 2),
                     round(time.perf_counter() - start - train_time, 2),
                     {"estimator": type(model.estimator).__name__, "vocabulary": {
                         "word_ngrams": len(model.word_vectorizer.vocabulary_),
                         "char_ngrams": len(model.char_vectorizer.vocabulary_)}})


# --------------------------------------------------------------------------- outputs


def predictions_tsv(result: RunResult, dataset_dict: datasets.DatasetDict) -> str:
    """``split, index, label, prediction`` and the texts, one row per evaluated example (class
    names for classification, scores with 4 decimals for regression)."""
    spec = result.task
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(["split", "index", "label", "prediction", *spec.text_columns])

    def show(value):
        return f"{float(value):.4f}" if spec.is_regression else spec.label_names[int(value)]

    for split, predicted in result.predictions.items():
        columns = [list(dataset_dict[split][c]) for c in ("label", *spec.text_columns)]
        for index, (guess, gold, *texts) in enumerate(zip(predicted, *columns, strict=True)):
            writer.writerow([split, index, show(gold), show(guess), *texts])
    return buffer.getvalue()


def write_run_outputs(result: RunResult, dataset_dict: datasets.DatasetDict, output_dir: str | os.PathLike, *,
                      results_root: str | os.PathLike | None = None, label: str | None = None, data: str = "",
                      command: str = "", wall_time_s: float | None = None, settings: dict | None = None) -> dict:
    """Write ``predictions.tsv`` then ``metrics.json`` to ``output_dir`` and, with ``results_root``,
    the task's row in ``results_root/TASK/results.jsonl`` and ``results.md`` (module docstring).

    Args:
        label: the model's name in the table (default :func:`lexkd.utils.hub.model_label`).
        data: where the data came from (e.g. ``"local: ../shared/data/glue"``), part of the row's key.
        command, wall_time_s, settings: recorded in ``metrics.json`` and the row.

    Returns:
        the ``metrics.json`` content.
    """
    output_dir = Path(output_dir)
    write_text_atomically(predictions_tsv(result, dataset_dict), output_dir / "predictions.tsv")
    row = {"task": result.task.name, "model": label or model_label(result.model), "model_name_or_path": result.model,
           "kind": result.kind, "data": data, "train_examples": result.train_examples,
           "eval_examples": result.eval_examples, "primary_metric": result.task.primary_metric,
           "metrics": result.metrics, "train_time_s": result.train_time_s, "eval_time_s": result.eval_time_s,
           **{key: result.details[key] for key in ("parameters", "parameters_without_embeddings", "train_cpu_s")
              if key in result.details},
           "wall_time_s": None if wall_time_s is None else round(wall_time_s, 2),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "output_dir": str(output_dir),
           "command": command}
    report = {**row, "details": result.details, "settings": settings or {}}
    write_json_atomically(report, output_dir / "metrics.json")
    if results_root is not None:
        update_results_table(Path(results_root) / result.task.name, row)
    return report


def run_and_report(model: str, data: datasets.DatasetDict, task: TaskSpec, training_args: TrainingArguments, *,
                   source: str, results_root: str | os.PathLike, label: str | None = None,
                   max_seq_length: int = 128, save_model: bool = False, command: str = "",
                   start_time: float | None = None, settings: dict | None = None,
                   distillation: TaskDistillationArguments | None = None) -> dict | None:
    """What the fine-tuning scripts do once their data are loaded: run the classic baseline
    ``model`` (a name in :data:`~lexkd.tasks.classification.classic.CLASSIC_MODELS`), the similarity
    detector ``cosine:PATH`` (:func:`lexkd.tasks.classification.similarity.evaluate_cosine`), or fine-tune
    the checkpoint ``model``, then write the outputs (:func:`write_run_outputs`) and print a summary.

    ``training_args.output_dir`` may hold ``{task}`` and ``{label}``, filled in here. ``settings``
    are recorded with the run; the fine-tuning hyper-parameters are added for checkpoints. With
    teachers in ``distillation`` the run is task-specific distillation (:func:`finetune_classifier`),
    and the default label says so (``MODEL+kd-TEACHER1+TEACHER2``), so that its row does not replace
    the plain fine-tuning's in the results table.

    Returns:
        the ``metrics.json`` content, or None in processes other than the first (they write nothing).

    Raises:
        as :func:`evaluate_classic` and :func:`finetune_classifier`.
    """
    distilling = distillation is not None and distillation.enabled
    if distilling and (model in CLASSIC_MODELS or is_cosine_reference(model)):
        raise ValueError(f"--teacher distils into a neural student; {model!r} is a baseline that trains no network. "
                         "Drop --teacher or pass a checkpoint as --model.")
    if label is None and is_cosine_reference(model):
        label = COSINE_PREFIX + model_label(cosine_encoder(model))
    if label is None and distilling:
        label = model_label(model) + "+kd-" + "+".join(model_label(t) for t in distillation.teacher)
        if distillation.transfer_examples:  # its own row, beside distillation on the gold rows alone
            label += f"+transfer{distillation.transfer_examples}"
    label = label or model_label(model)
    output_dir = training_args.output_dir.replace("{task}", task.name).replace(
        "{label}", label.replace("/", "--").replace(":", "-"))
    settings = {"seed": training_args.seed, **(settings or {})}
    if model in CLASSIC_MODELS:
        result = evaluate_classic(model, data, task, seed=training_args.seed)
    elif is_cosine_reference(model):
        result = evaluate_cosine(model, data, task, max_seq_length=max_seq_length,
                                 batch_size=training_args.per_device_eval_batch_size)
        settings.update(max_seq_length=max_seq_length)
    else:
        training_args = dataclasses.replace(training_args, output_dir=output_dir)
        result = finetune_classifier(model, data, task, training_args, max_seq_length=max_seq_length,
                                     save_model=save_model, distillation=distillation)
        settings.update(max_seq_length=max_seq_length, learning_rate=training_args.learning_rate,
                        num_train_epochs=training_args.num_train_epochs, max_steps=training_args.max_steps,
                        batch_size=training_args.per_device_train_batch_size,
                        warmup_steps=training_args.warmup_steps, weight_decay=training_args.weight_decay,
                        **({"distillation": distillation.settings()} if distilling else {}))
    if not training_args.should_save:  # with several processes, the first one writes the outputs
        return None
    wall = None if start_time is None else time.perf_counter() - start_time
    report = write_run_outputs(result, data, output_dir, results_root=results_root, label=label, data=source,
                               command=command, wall_time_s=wall, settings=settings)
    print(json.dumps({"task": task.name, "model": label, "data": source, "metrics": report["metrics"],
                      "wall_time_s": report["wall_time_s"]}, indent=2))
    print(f"Outputs in {output_dir}; results table {Path(results_root) / task.name / 'results.md'}")
    return report
