"""What ``scripts/distill_seq2seq.py`` does, as library calls: data, teacher, pseudo-targets,
training rows per method, one student run, and the results table (:func:`run_seq2seq_job`).

Under ``accelerate launch`` / ``torchrun`` every process runs the job and trains; the files of an
output root (models, predictions, metrics, results rows) are written by the main process only,
while the others wait for it.

Layout of an output root (default ``runs/nlg/<task>``)::

    teacher-<hash>/model          the fine-tuned teacher (reused when its settings match)
    cache/<teacher>-<key>/        teacher pseudo-targets (lexkd.seq2seq.pseudo_targets), reused across methods
    <label>/model                 each student; <label>/metrics.json, predictions.tsv
    copy-baseline/, results.jsonl, results.md
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from transformers import (
    AutoConfig,
    DataCollatorForSeq2Seq,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from lexkd.data.sampling import subsample
from lexkd.losses import PAPER_SAMPLE_SOURCE
from lexkd.models.masked_lm import check_local_model
from lexkd.models.seq2seq import (
    GenerationSettings,
    build_bert2bert,
    check_same_tokenizer,
    load_seq2seq,
    load_seq2seq_tokenizer,
)
from lexkd.seq2seq.data import load_nlg_data, tokenize_pairs
from lexkd.seq2seq.metrics import GenerationEvaluator, copy_baseline_scores
from lexkd.seq2seq.pseudo_targets import load_or_generate
from lexkd.seq2seq.trainer import (
    TEACHER_METHODS,
    Seq2SeqDistillationArguments,
    Seq2SeqDistillationTrainer,
)
from lexkd.utils.cli import args_with
from lexkd.utils.fingerprints import is_pinned, model_fingerprint, refuse_unpinned_reuse
from lexkd.utils.hub import model_label
from lexkd.utils.io import save_model_atomically, write_json_atomically
from lexkd.utils.model_card import model_card
from lexkd.utils.reporting import update_results_table
from lexkd.utils.runs import TrainingClock, last_checkpoint
from lexkd.utils.runs import resume_checkpoint as resume_checkpoint_in

logger = logging.getLogger(__name__)


@dataclass
class NLGDataArguments:
    """Which task and data; every field is a ``scripts/distill_seq2seq.py`` flag."""

    task: str = field(default="shakespeare", metadata={
        "help": "shakespeare (../shared/data/nlg/shakespeare), definitions (WordNet 3.0: lemma : example -> gloss), "
                "files (--train_source_file ... --validation_target_file), or a hub dataset name (with "
                "--source_column and --target_column)."})
    direction: str = field(default="modern2original", metadata={
        "help": "shakespeare: modern2original (modern English -> Shakespeare) or original2modern."})
    train_source_file: str | None = field(default=None, metadata={"help": "files: training sources, one per line."})
    train_target_file: str | None = field(default=None, metadata={"help": "files: training targets, aligned."})
    validation_source_file: str | None = field(default=None, metadata={"help": "files: validation sources."})
    validation_target_file: str | None = field(default=None, metadata={"help": "files: validation targets."})
    source_column: str | None = field(default=None, metadata={"help": "hub dataset: the source column."})
    target_column: str | None = field(default=None, metadata={"help": "hub dataset: the target column."})
    dataset_config: str | None = field(default=None, metadata={"help": "hub dataset: its config name."})
    labeled_examples: int | None = field(default=None, metadata={
        "help": "Keep only the first N training pairs labelled; the other training sources become unlabelled "
                "inputs for pseudo-targets (Calderon et al.'s labelled/unlabelled setting)."})
    unlabeled_file: str | None = field(default=None, metadata={
        "help": "Extra unlabelled inputs, one per line, for seqkd, pseudo_targets and joint_teaching."})
    max_eval_examples: int | None = field(default=None, metadata={
        "help": "Evaluate on N validation pairs only (quick runs): a random sample fixed by seed 0, the same for "
                "every run, and unlike the first N it covers a sorted split (definitions are in WordNet order: "
                "nouns, verbs, then adjectives and adverbs)."})
    max_source_length: int = field(default=64, metadata={"help": "Source tokens kept (> 0)."})
    max_target_length: int = field(default=64, metadata={
        "help": "Target tokens kept in training, and the longest generated target (> 0)."})

    def __post_init__(self):
        for name in ("max_source_length", "max_target_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}.")
        for name in ("labeled_examples", "max_eval_examples"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}.")


@dataclass
class NLGModelArguments:
    """Student, teacher, pseudo-targets and evaluation decoding."""

    student: str = field(default="runs/quickstart/student-distilled/model", metadata={
        "help": "The student: a BERT-style checkpoint (warm-started as bert2bert, cross-attention added) or any "
                "seq2seq checkpoint (T5, BART, a saved bert2bert), folder or hub id."})
    teacher: str | None = field(default=None, metadata={
        "help": "A seq2seq teacher sharing the student's tokenizer. Default: fine-tune one from --teacher_init "
                "on the task (OUTPUT_ROOT/teacher-<hash>), reused on later runs."})
    teacher_init: str = field(default="runs/quickstart/teachers/teacher-large/model", metadata={
        "help": "Checkpoint the teacher is fine-tuned from when --teacher is not given: a BERT-style checkpoint "
                "(warm-started as bert2bert, cross-attention new) or a seq2seq one sharing the student's tokenizer "
                "(e.g. a teacher folder's model, to train it further with another schedule or data)."})
    teacher_max_steps: int = field(default=3000, metadata={"help": "Training steps of the teacher fine-tuned here."})
    teacher_learning_rate: float = field(default=5e-4, metadata={"help": "Learning rate of that teacher."})
    teacher_cross_attention_learning_rate: float | None = field(default=None, metadata={
        "help": "Learning rate of that teacher's new cross-attention (see --cross_attention_learning_rate); "
                "unset: --teacher_learning_rate for all its weights."})
    teacher_copy_targets: bool = field(default=False, metadata={
        "help": "Also train that teacher on each labelled target copied to itself (target -> target pairs, "
                "doubling its training pairs; Currey et al. 2017's copied monolingual data): it learns to keep "
                "what the target side keeps. The students are not given these pairs."})
    num_pseudo_targets: int = field(default=4, metadata={
        "help": "Pseudo-targets sampled per input from the teacher (pseudo_targets, joint_teaching, f_distill)."})
    pt_top_p: float = field(default=0.95, metadata={"help": "Nucleus mass of teacher sampling, in (0, 1]."})
    pt_top_k: int = field(default=50, metadata={"help": "Top-k of teacher sampling (0 = off)."})
    pt_temperature: float = field(default=1.0, metadata={"help": "Temperature of teacher sampling (> 0)."})
    seqkd_num_beams: int = field(default=4, metadata={"help": "Beam size of the teacher's seqkd targets."})
    pt_seed: int = field(default=0, metadata={"help": "Seed of teacher sampling (part of the cache key)."})
    generation_batch_size: int = field(default=64, metadata={"help": "Inputs per generate() call."})
    eval_num_beams: int = field(default=4, metadata={"help": "Beam size of evaluation decoding."})
    eval_length_penalty: float = field(default=1.0, metadata={
        "help": "Length penalty of evaluation beam search: beam scores are log-probabilities divided by "
                "length ** this (> 1 favours longer outputs, < 1 shorter); recorded with the row's decoding settings."})
    output_root: str = field(default="runs/nlg/{task}", metadata={
        "help": "Teacher, cache, one folder per student and results.md go here ({task} is filled in)."})
    label: str | None = field(default=None, metadata={
        "help": "The run's name in the results table and its folder (default: method[-divergence[-source]]; "
                "with --eval_only, the student's folder name)."})
    allow_unpinned_teacher: bool = field(default=False, metadata={
        "help": "Reuse a teacher folder or pseudo-target cache made from a hub model (--teacher or --teacher_init) whose "
                "commit is unknown (no snapshot in the local Hugging Face cache): it may come from another version "
                "than the hub has now. Without it, such a folder is refused."})
    teacher_only: bool = field(default=False, metadata={
        "help": "Fine-tune the teacher (from --teacher_init, with the --teacher_* settings), add its row and stop: no "
                "student is trained. --student still gives the tokenizer every later student shares. A teacher "
                "already in OUTPUT_ROOT with these settings is reused, not trained again."})
    eval_only: bool = field(default=False, metadata={
        "help": "Evaluate --student as given, with no training, and add its row (e.g. a saved teacher or student on "
                "another validation split or sample; --output_root keeps such rows apart)."})

    def __post_init__(self):
        if self.teacher_only and (self.eval_only or self.teacher is not None):
            raise ValueError("--teacher_only fine-tunes a teacher from --teacher_init; it cannot go with "
                             f"{'--eval_only' if self.eval_only else '--teacher (a teacher given as it is)'}.")


def load_data(data_args: NLGDataArguments) -> tuple[datasets.DatasetDict, list[str], str]:
    """The train/validation pairs, the unlabelled inputs, and a description of the source.

    Raises:
        ValueError / FileNotFoundError: from the loaders (:func:`lexkd.seq2seq.data.load_nlg_data`).
    """
    files = {}
    if data_args.task == "files":
        files = {"train_files": (data_args.train_source_file, data_args.train_target_file),
                 "validation_files": (data_args.validation_source_file, data_args.validation_target_file)}
        if None in files["train_files"] + files["validation_files"]:
            raise ValueError("--task files needs --train_source_file, --train_target_file, "
                             "--validation_source_file and --validation_target_file.")
    data = load_nlg_data(data_args.task, direction=data_args.direction, source_column=data_args.source_column,
                         target_column=data_args.target_column, config_name=data_args.dataset_config, **files)
    unlabeled: list[str] = []
    if data_args.labeled_examples is not None and data_args.labeled_examples < len(data["train"]):
        unlabeled = list(data["train"]["source"][data_args.labeled_examples:])
        data["train"] = data["train"].select(range(data_args.labeled_examples))
    if data_args.unlabeled_file is not None:
        path = Path(data_args.unlabeled_file)
        if not path.is_file():
            raise FileNotFoundError(f"--unlabeled_file {path}: no such file.")
        unlabeled += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if data_args.max_eval_examples is not None:
        data["validation"] = subsample(datasets.DatasetDict(validation=data["validation"]),
                                       max_eval_examples=data_args.max_eval_examples)["validation"]
    source = data_args.task + (f" ({data_args.direction})" if data_args.task == "shakespeare" else "")
    return data, unlabeled, source


def load_student(name_or_path: str, tokenizer: PreTrainedTokenizerBase | None = None, *,
                 role: str = "student") -> PreTrainedModel:
    """A seq2seq checkpoint as it is, or a BERT-style checkpoint warm-started as bert2bert
    (:func:`lexkd.models.seq2seq.build_bert2bert`, whose errors it raises); ``role`` names the
    model in errors (``student``, ``teacher``).

    Raises:
        VocabularyMismatchError: a seq2seq checkpoint whose own tokenizer differs from ``tokenizer``.
    """
    config = AutoConfig.from_pretrained(name_or_path)
    if getattr(config, "is_encoder_decoder", False):
        if tokenizer is not None:  # its targets become the other model's labels: one vocabulary
            check_same_tokenizer(tokenizer, load_seq2seq_tokenizer(name_or_path), teacher_name=str(name_or_path))
        return load_seq2seq(name_or_path, role=role)
    return build_bert2bert(name_or_path, tokenizer=tokenizer)


def eval_only_label(student: str) -> str:
    """The results-table name of an evaluated checkpoint: its folder's name, or the folder above
    for lexkd's ``.../<run>/model`` layout; ``/`` of hub ids becomes ``--``."""
    return model_label(student).replace("/", "--")


def run_label(args: Seq2SeqDistillationArguments) -> str:
    """``method``, or ``f_distill-<divergence>`` plus ``-<source>`` when not the paper's."""
    if args.method != "f_distill":
        return args.method
    source = args.effective_sample_source
    return f"f_distill-{args.divergence}" + ("" if source == PAPER_SAMPLE_SOURCE[args.divergence] else f"-{source}")


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def evaluator_for(model, tokenizer, validation: datasets.Dataset, model_args: NLGModelArguments,
                  data_args: NLGDataArguments) -> GenerationEvaluator:
    """Beam-search evaluation (``--eval_num_beams``, ``--eval_length_penalty``) up to ``--max_target_length``
    new tokens."""
    settings = GenerationSettings(max_new_tokens=data_args.max_target_length, num_beams=model_args.eval_num_beams,
                                  length_penalty=model_args.eval_length_penalty)
    return GenerationEvaluator(validation, tokenizer, settings.to_generation_config(model),
                               batch_size=model_args.generation_batch_size,
                               max_source_length=data_args.max_source_length)


def collator(tokenizer) -> DataCollatorForSeq2Seq:
    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)


def train_or_load_teacher(model_args, data_args, data, tokenizer, train_args, output_root: Path, source: str):
    """The teacher: ``--teacher`` loaded and checked, or fine-tuned here (``sft``) and reused.

    Returns:
        ``(teacher, fingerprint, label, report)``; ``report`` is the teacher's results row when
        it was trained (or evaluated) in this call, else None.

    Raises:
        VocabularyMismatchError: a teacher whose tokenizer differs from the student's.
        FileExistsError: a teacher folder made with other settings.
    """
    if model_args.teacher is not None:
        teacher = load_seq2seq(model_args.teacher, role="teacher")
        check_same_tokenizer(tokenizer, load_seq2seq_tokenizer(model_args.teacher), teacher_name=model_args.teacher)
        return teacher, model_fingerprint(model_args.teacher, teacher), Path(model_args.teacher).name, None
    settings = {"init": _init_fingerprint(model_args.teacher_init), "steps": model_args.teacher_max_steps,
                "learning_rate": model_args.teacher_learning_rate, "seed": train_args.seed,
                "batch_size": train_args.per_device_train_batch_size,
                "data": _hash([data["train"]["source"], data["train"]["target"]]),
                "max_lengths": [data_args.max_source_length, data_args.max_target_length]}
    if model_args.teacher_cross_attention_learning_rate is not None:  # absent: one rate (older folders keep their key)
        settings["cross_attention_learning_rate"] = model_args.teacher_cross_attention_learning_rate
    if model_args.teacher_copy_targets:  # absent: gold pairs only (older folders keep their key)
        settings["copy_targets"] = True
    if train_args.bf16 or train_args.fp16:  # mixed precision is part of what the teacher is (absent: float32)
        settings["mixed_precision"] = "bf16" if train_args.bf16 else "fp16"
    folder = output_root / f"teacher-{_hash(settings)}"
    meta_path = folder / "teacher_meta.json"
    if (folder / "model" / "config.json").is_file() and meta_path.is_file():
        if json.loads(meta_path.read_text())["settings"] != settings:
            raise FileExistsError(f"{folder} holds a teacher made with other settings; delete it or pass --teacher.")
        refuse_unpinned_reuse([settings["init"]], what=f"The teacher in {folder}", rebuild=f"delete {folder}",
                              allow=model_args.allow_unpinned_teacher)
        logger.info("Reusing the teacher in %s", folder / "model")
        path = folder / "model"
        return load_seq2seq(path, role="teacher"), model_fingerprint(path), folder.name, None
    teacher_args = args_with(train_args, method="sft", output_dir=str(folder / "run"),
                             max_steps=model_args.teacher_max_steps, learning_rate=model_args.teacher_learning_rate,
                             cross_attention_learning_rate=model_args.teacher_cross_attention_learning_rate)
    logger.info("Fine-tuning a teacher from %s for %d steps", model_args.teacher_init, model_args.teacher_max_steps)
    teacher = load_student(model_args.teacher_init, tokenizer, role="teacher")  # a seq2seq one: tokenizer checked
    pairs = data["train"]
    if model_args.teacher_copy_targets:
        copies = datasets.Dataset.from_dict({"source": pairs["target"], "target": pairs["target"]})
        pairs = datasets.concatenate_datasets([pairs.select_columns(["source", "target"]), copies])
    rows = tokenize_pairs(pairs, tokenizer, max_source_length=data_args.max_source_length,
                          max_target_length=data_args.max_target_length,
                          decoder_start_token_id=teacher.config.decoder_start_token_id)
    checkpoint = last_checkpoint(teacher_args.output_dir)
    clock = TrainingClock(checkpoint)
    trainer = Seq2SeqDistillationTrainer(model=teacher, args=teacher_args, train_dataset=rows,
                                         data_collator=collator(tokenizer), processing_class=tokenizer,
                                         callbacks=[clock])
    trainer.train(resume_from_checkpoint=checkpoint)
    train_time = clock.seconds

    def save_and_evaluate():
        report = evaluate_and_record(teacher, tokenizer, data, model_args, data_args, output_root,
                                     label="teacher", kind="teacher (sft)", source=source, train_time_s=train_time,
                                     settings={"init": model_args.teacher_init, **settings},
                                     train_examples=len(rows))
        save_model_atomically(teacher, tokenizer, folder / "model", model_card=seq2seq_card(
            folder.name, "A seq2seq teacher fine-tuned by lexkd on the task's gold targets.", model_args.teacher_init,
            [], {"task": data_args.task, "steps": trainer.state.global_step, **settings}, report))
        write_json_atomically({"settings": settings, "train_time_s": round(train_time, 1)}, meta_path)
        shutil.rmtree(folder / "run", ignore_errors=True)
        return report

    report = on_main_process(train_args, save_and_evaluate)
    return teacher, model_fingerprint(folder / "model"), folder.name, report


def _init_fingerprint(name_or_path: str) -> str:
    """The fingerprint of ``--teacher_init``; a hub id not yet in the local cache gets its config
    downloaded first, so that the teacher trained from it is keyed by the commit it starts from."""
    fingerprint = model_fingerprint(name_or_path)
    if not is_pinned(fingerprint):
        try:
            AutoConfig.from_pretrained(name_or_path)  # puts a snapshot of the hub model in the local cache
        except OSError:
            return fingerprint  # unreachable: stays unpinned (a teacher of it is reused only if allowed)
        fingerprint = model_fingerprint(name_or_path)
    return fingerprint


def pseudo_target_rows(cache: datasets.Dataset, encoded_sources: datasets.Dataset) -> datasets.Dataset:
    """Training rows (``input_ids``, ``attention_mask``, ``labels``) from cached pseudo-targets."""
    inputs, masks = encoded_sources["input_ids"], encoded_sources["attention_mask"]

    def join(batch):
        return {"input_ids": [inputs[i] for i in batch["source_index"]],
                "attention_mask": [masks[i] for i in batch["source_index"]], "labels": batch["target_ids"]}

    return cache.map(join, batched=True, remove_columns=cache.column_names, desc="Pseudo-target rows")


def training_rows(args: Seq2SeqDistillationArguments, model_args: NLGModelArguments, data_args: NLGDataArguments,
                  data: datasets.DatasetDict, unlabeled: list[str], tokenizer, teacher, teacher_fingerprint: str,
                  teacher_label: str, cache_dir: Path, decoder_start_token_id: int) -> tuple[datasets.Dataset, dict]:
    """The rows each method trains on (see :mod:`lexkd.seq2seq.trainer`) and what the cache cost.

    - ``sft``, ``word_kd``, f_distill on student samples only: the gold pairs;
    - ``seqkd``: the teacher's beam output for every labelled and unlabelled input;
    - ``pseudo_targets``, ``joint_teaching``: the gold pairs plus ``num_pseudo_targets`` teacher
      samples per labelled and unlabelled input;
    - ``f_distill`` on teacher samples or a mix: the teacher samples.
    """
    gold = tokenize_pairs(data["train"], tokenizer, max_source_length=data_args.max_source_length,
                          max_target_length=data_args.max_target_length, decoder_start_token_id=decoder_start_token_id)
    needs_cache = args.method in ("seqkd", "pseudo_targets", "joint_teaching") or (
        args.method == "f_distill" and args.effective_sample_source in ("teacher", "mix"))
    if not needs_cache:
        return gold, {}
    sources = list(data["train"]["source"]) + (unlabeled if args.method != "f_distill" else [])
    if args.method == "seqkd":
        settings = GenerationSettings(max_new_tokens=data_args.max_target_length, num_beams=model_args.seqkd_num_beams)
    else:
        settings = GenerationSettings(
            max_new_tokens=data_args.max_target_length, do_sample=True, top_p=model_args.pt_top_p,
            top_k=model_args.pt_top_k, temperature=model_args.pt_temperature,
            num_return_sequences=model_args.num_pseudo_targets, seed=model_args.pt_seed)
    started = time.perf_counter()
    cache, folder = load_or_generate(
        teacher, tokenizer, sources, settings, cache_dir=cache_dir, teacher_fingerprint=teacher_fingerprint,
        teacher_label=teacher_label, max_source_length=data_args.max_source_length,
        batch_size=model_args.generation_batch_size, allow_unpinned_teacher=model_args.allow_unpinned_teacher)
    encoded = tokenize_pairs(datasets.Dataset.from_dict({"source": sources}), tokenizer,
                             max_source_length=data_args.max_source_length,
                             max_target_length=data_args.max_target_length)
    rows = pseudo_target_rows(cache, encoded)
    if args.method in ("pseudo_targets", "joint_teaching"):
        rows = datasets.concatenate_datasets([gold, rows.cast(gold.features)])
    meta = json.loads((folder / "lexkd_pseudo_targets.json").read_text())
    info = {"pseudo_target_cache": str(folder), "pseudo_target_rows": len(cache),
            "pseudo_target_truncated_share": meta["truncated_share"], "pseudo_target_generation_s": meta["seconds"],
            "cache_read_s": round(time.perf_counter() - started, 1), "pseudo_target_settings": settings.to_dict()}
    return rows, info


def evaluate_and_record(model, tokenizer, data, model_args, data_args, output_root: Path, *, label: str, kind: str,
                        source: str, train_time_s: float, settings: dict, train_examples: int,
                        wall_start: float | None = None) -> dict:
    """Generate on validation, write ``OUTPUT_ROOT/label/{predictions.tsv,metrics.json}`` and the
    results row (``results.jsonl``, ``results.md``)."""
    evaluator = evaluator_for(model, tokenizer, data["validation"], model_args, data_args)
    scores = evaluator(model, output_root / label)
    metrics = {k: round(v, 4) for k, v in scores.items() if isinstance(v, int | float) and k != "num_examples"}
    row = {"task": output_root.name, "model": label, "kind": kind, "data": source,
           "train_examples": train_examples, "eval_examples": scores["num_examples"], "primary_metric": "bleu",
           "metrics": {"validation": {k: metrics[k] for k in ("bleu", "chrf", "rouge1", "rouge2", "rougeL")}},
           "train_time_s": round(train_time_s, 1), "eval_time_s": round(scores["seconds"], 1),
           "wall_time_s": None if wall_start is None else round(time.perf_counter() - wall_start, 1),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "output_dir": str(output_root / label),
           "settings": {**settings, "decoding": {"num_beams": model_args.eval_num_beams,
                                                  "length_penalty": model_args.eval_length_penalty,
                                                  "max_new_tokens": data_args.max_target_length}}}
    update_results_table(output_root, row)
    return row


def record_copy_baseline(data, tokenizer, output_root: Path, source: str) -> dict:
    """The copy baseline (output = input) as a results row, once per output root."""
    scores = copy_baseline_scores(data["validation"], tokenizer)
    row = {"task": output_root.name, "model": "copy-baseline", "kind": "baseline", "data": source, "train_examples": 0,
           "eval_examples": scores["num_examples"], "primary_metric": "bleu",
           "metrics": {"validation": {k: round(scores[k], 4) for k in ("bleu", "chrf", "rouge1", "rouge2", "rougeL")}},
           "train_time_s": 0.0, "eval_time_s": 0.0, "wall_time_s": None,
           "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "output_dir": "", "settings": {}}
    update_results_table(output_root, row)
    return row


def on_main_process(args, function, *fn_args, **fn_kwargs):
    """Run ``function`` on the main process only, then let every process go on together.

    Returns:
        ``function``'s result on the main process, None on the others.

    The other processes wait at a barrier, which times out after ``--ddp_timeout`` seconds
    (default 1800): raise it when an evaluation on the main process takes longer.
    """
    result = function(*fn_args, **fn_kwargs) if args.process_index == 0 else None
    if args.world_size > 1:
        args.distributed_state.wait_for_everyone()
    return result


def output_root_for(model_args: NLGModelArguments, data_args: NLGDataArguments) -> Path:
    """``--output_root`` with ``{task}`` filled in (``/`` of a hub dataset name becomes ``--``)."""
    return Path(model_args.output_root.replace("{task}", data_args.task.replace("/", "--")))


def resume_checkpoint(args: Seq2SeqDistillationArguments) -> str | None:
    """The checkpoint ``--resume_from_checkpoint`` names: ``true`` or ``last`` = the last
    ``checkpoint-*`` in ``--output_dir``, else the folder given; None when unset.

    Raises:
        FileNotFoundError: ``true``/``last`` with no checkpoint in ``--output_dir``, or a folder
            that does not exist.
    """
    value = args.resume_from_checkpoint
    if not value:
        return None
    if value in ("true", "last"):
        return resume_checkpoint_in(args.output_dir, flag=f"--resume_from_checkpoint {value}")
    if not Path(value).is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {value}: no such checkpoint folder.")
    return value


def _run_settings(command: str, model_args: NLGModelArguments, args: Seq2SeqDistillationArguments,
                  teacher_label: str | None, train_loss: float, cache_info: dict) -> dict:
    """The ``settings`` of a student's results row."""
    return {"command": command, "student": model_args.student, "teacher": teacher_label, "method": args.method,
            "divergence": args.divergence, "sample_source": args.effective_sample_source, "beta": args.beta,
            "temperature": args.temperature, "alpha": args.alpha, "student_share": args.student_share,
            "max_steps": args.max_steps, "batch_size": args.per_device_train_batch_size,
            "learning_rate": args.learning_rate, "seed": args.seed, "train_loss": train_loss, **cache_info}


def run_seq2seq_job(data_args: NLGDataArguments, model_args: NLGModelArguments, train_args: Seq2SeqDistillationArguments,
                    *, command: str = "", wall_start: float | None = None) -> dict | None:
    """One ``scripts/distill_seq2seq.py`` run: train a student with ``--method`` (or, with
    ``--eval_only``, score ``--student`` as given; with ``--teacher_only``, only fine-tune the teacher) and add
    its row to ``OUTPUT_ROOT/results.md``.

    Steps: check the model folders; load data, tokenizer and student; record the copy baseline;
    fine-tune or load the teacher (:func:`train_or_load_teacher`) when the method needs one; build
    the method's rows (:func:`training_rows`); train (resuming with ``--resume_from_checkpoint``);
    save ``OUTPUT_ROOT/<label>/model`` and evaluate it (:func:`evaluate_and_record`). ``{output_root}``
    and ``{label}`` in ``train_args.output_dir`` are filled in.

    Args:
        command: the command line, recorded with the results row.
        wall_start: ``time.perf_counter()`` at the start of the run, for the row's wall time.

    Returns:
        The results row on the main process, None on the others.

    Raises:
        FileNotFoundError: a missing model folder, data file or checkpoint.
        ValueError, OSError, VocabularyMismatchError, FileExistsError: bad input (see the steps).
    """
    needs_teacher = model_args.teacher_only or not model_args.eval_only and (
        train_args.method in TEACHER_METHODS or train_args.method == "seqkd")
    for name in [model_args.student] + ([model_args.teacher or model_args.teacher_init] if needs_teacher else []):
        check_local_model(name)  # fail on a missing folder before loading any data
    output_root = output_root_for(model_args, data_args)
    label = model_args.label or (eval_only_label(model_args.student) if model_args.eval_only else run_label(train_args))
    train_args = args_with(train_args, output_dir=train_args.output_dir.replace("{output_root}", str(output_root))
                           .replace("{label}", label))
    tokenizer = load_seq2seq_tokenizer(model_args.student)
    data, unlabeled, source = load_data(data_args)
    logger.info("%s: %d train pairs, %d unlabelled inputs, %d validation pairs", source, len(data["train"]),
                len(unlabeled), len(data["validation"]))
    student = None if model_args.teacher_only else load_student(model_args.student, tokenizer)
    on_main_process(train_args, record_copy_baseline, data, tokenizer, output_root, source)
    record = {"model_args": model_args, "data_args": data_args, "output_root": output_root, "label": label,
              "source": source, "wall_start": wall_start}
    if model_args.eval_only:
        return on_main_process(train_args, evaluate_and_record, student, tokenizer, data, kind="evaluated as given",
                               train_time_s=0.0, settings={"command": command, "student": model_args.student},
                               train_examples=0, **record)

    teacher = teacher_fingerprint = teacher_label = None
    if needs_teacher:
        teacher, teacher_fingerprint, teacher_label, report = train_or_load_teacher(
            model_args, data_args, data, tokenizer, train_args, output_root, source)
        if model_args.teacher_only:
            if report is None:
                logger.info("--teacher_only: %s already holds this teacher; nothing trained.", output_root / teacher_label)
            return report
    rows, cache_info = training_rows(
        train_args, model_args, data_args, data, unlabeled, tokenizer, teacher, teacher_fingerprint, teacher_label,
        output_root / "cache", student.config.decoder_start_token_id)
    logger.info("%s trains on %d rows", label, len(rows))
    checkpoint = resume_checkpoint(train_args)
    clock = TrainingClock(checkpoint)
    trainer = Seq2SeqDistillationTrainer(
        model=student, args=train_args, train_dataset=rows, data_collator=collator(tokenizer),
        teacher=teacher if train_args.method in TEACHER_METHODS else None, processing_class=tokenizer,
        callbacks=[clock])
    result = trainer.train(resume_from_checkpoint=checkpoint)
    train_time = clock.seconds
    settings = _run_settings(command, model_args, train_args, teacher_label, result.training_loss, cache_info)

    def save_and_evaluate():
        save_model_atomically(student, tokenizer, Path(train_args.output_dir) / "model", model_card=seq2seq_card(
            label, f"A seq2seq student distilled by lexkd (method {train_args.method}).", model_args.student,
            [teacher_label] if train_args.method in TEACHER_METHODS else [],
            {"task": data_args.task, "method": train_args.method, "steps": trainer.state.global_step, **settings}, None))
        return evaluate_and_record(student, tokenizer, data, kind=f"student ({train_args.method})",
                                   train_time_s=train_time, settings=settings, train_examples=len(rows), **record)

    return on_main_process(train_args, save_and_evaluate)


def seq2seq_card(name: str, summary: str, base_model: str | None, teachers: list[str], training: dict,
                 report: dict | None) -> str:
    """The model card of a seq2seq model folder (settings flattened to scalars; scores when known)."""
    shown = {k: v for k, v in training.items() if isinstance(v, (str, int, float, bool)) or v is None}
    scores = {k: report[k] for k in ("bleu", "chrf", "rougeL") if report and k in report} or None
    return model_card(name, summary=summary, base_model=base_model, teachers=teachers, training=shown, results=scores,
                      result_notes="Validation scores (sacrebleu BLEU and chrF, ROUGE-L F1) after lowercasing.",
                      pipeline_tag="text2text-generation",
                      usage="Load with `AutoModelForSeq2SeqLM.from_pretrained` and `AutoTokenizer.from_pretrained`.")
