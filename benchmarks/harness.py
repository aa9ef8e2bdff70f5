"""Side-by-side speed of multi-teacher MLM distillation set-ups (driven by benchmarks/bench_distill.py).

Every method trains the same freshly initialised student (same seed) on the same batches in the
same order: the rows of one teacher cache (its static masks), read in a fixed order. What
differs is how the loss is computed:

- ``floor``: plain MLM, the student's output layer at masked positions only (lexkd's
  ``MaskedPositionMLM``, alpha = 0): distillation cannot be cheaper than this.
- ``hf_full_head``: plain MLM as ``BertForMaskedLM(labels=...)`` does it (output layer at every
  position), through ``transformers.Trainer``.
- ``online``: lexkd's on-line distillation, teachers run at every step with masked-position heads.
- ``cached``: lexkd's distillation from the teacher cache (top-k targets, no teacher runs).
- ``naive``: on-line distillation computing every model's full output at every position, then
  keeping the masked positions.
- ``textbrewer``: TextBrewer's ``MultiTeacherDistiller`` set up as its documentation shows
  (``BertForMaskedLM`` teachers and student, adaptors returning ``logits``, ``logits_mask`` and
  the hard-label ``losses``; TextBrewer averages the teachers' logits).

Step times come from timestamps taken once per optimizer step (a ``TrainerCallback`` for the
Trainer-based methods, the data iterator for TextBrewer's own loop), so they include data
collation and the optimizer. Throughput is masked tokens per second, the median over windows
of ``window`` steps after ``warmup`` steps. Each method runs in its own process, so its peak
resident memory (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path

import datasets
import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast, Trainer, TrainerCallback

from lexkd.data.corpora import load_split_corpus
from lexkd.losses import multi_teacher_mlm_loss
from lexkd.mlm.cache import META_NAME
from lexkd.mlm.data import prepare_mlm_data
from lexkd.mlm.job import TeacherSpec, train_teacher
from lexkd.mlm.teachers import combine_teachers
from lexkd.mlm.trainer import (
    CACHED_TARGET_KEYS,
    DistillationArguments,
    MultiTeacherDistillationTrainer,
)
from lexkd.models.masked_lm import MaskedPositionMLM
from lexkd.utils.io import atomic_directory, save_pretrained_atomically, write_text_atomically

METHODS = ("floor", "hf_full_head", "online", "cached", "naive", "textbrewer")


@dataclasses.dataclass
class BenchConfig:
    """One benchmark run's settings, shared by every method (plain JSON, passed to the worker processes)."""

    cache_dir: str
    teachers: list[str]
    tokenizer: str
    eval_dir: str
    student_layers: int = 2
    student_hidden_size: int = 128
    student_heads: int = 2
    batch_size: int = 32
    learning_rate: float = 5e-4
    alpha: float = 0.5
    temperature: float = 1.0
    weighting: str = "entropy"
    warmup: int = 5
    window: int = 10
    seed: int = 0
    teacher_dtype: str = "float32"


class StepTimes(TrainerCallback):
    """Timestamps (``time.perf_counter``) at the end of every optimizer step; the first is the start."""

    def __init__(self):
        self.stamps: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.stamps = [time.perf_counter()]

    def on_step_end(self, args, state, control, **kwargs):
        self.stamps.append(time.perf_counter())


def throughput(stamps: list[float], masked_per_step: list[int], *, warmup: int, window: int) -> dict:
    """Masked tokens per second: median (and spread) over windows of ``window`` steps after ``warmup``.

    Args:
        stamps: ``steps + 1`` timestamps in seconds (start, then the end of each step).
        masked_per_step: masked tokens of each step's batch.

    Raises:
        ValueError: fewer steps than ``warmup + window``.
    """
    steps = len(stamps) - 1
    if steps < warmup + window:
        raise ValueError(f"{steps} timed steps: need at least warmup + window = {warmup + window}.")
    rates = []
    for start in range(warmup, steps - window + 1, window):
        seconds = stamps[start + window] - stamps[start]
        rates.append(sum(masked_per_step[start:start + window]) / seconds)
    return {"masked_tokens_per_s": statistics.median(rates), "min": min(rates), "max": max(rates), "windows": len(rates),
            "s_per_step": statistics.median((stamps[i + 1] - stamps[i]) for i in range(warmup, steps))}


class OrderedRows(torch.utils.data.IterableDataset):
    """The cache's rows in their stored order, optionally without the cached targets (so every
    method reads the same batches and the Trainer's sampler cannot reorder them)."""

    def __init__(self, dataset: datasets.Dataset, *, with_targets: bool):
        columns = ["input_ids", "masked_positions", "gold_ids"]
        columns += list(CACHED_TARGET_KEYS) if with_targets else []
        self.dataset = dataset.select_columns(columns)

    def __iter__(self):
        for start in range(0, len(self.dataset), 256):
            batch = self.dataset[start:start + 256]
            for i in range(len(batch["input_ids"])):
                yield {key: values[i] for key, values in batch.items()}


def _full_logits(model, inputs) -> torch.Tensor:
    """``(B, T, V)`` logits at every position (``BertForMaskedLM`` or ``BertForPreTraining``)."""
    outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    return outputs.logits if hasattr(outputs, "logits") else outputs.prediction_logits


class FullHeadDistillationTrainer(MultiTeacherDistillationTrainer):
    """The naive on-line version: every model's output layer at every position, then the masked rows."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        masked = inputs["labels"] != -100  # (B, T)
        student_logits = _full_logits(model.model, inputs)  # (B, T, V)
        with torch.no_grad():
            teacher_logits = [_full_logits(t.model, inputs) for t in self.teachers]  # K x (B, T, V)
            target, _ = combine_teachers([z.flatten(0, 1) for z in teacher_logits], rule=self.args.weighting,
                                         temperature=self.args.temperature,
                                         labels=inputs["labels"].flatten().clamp_min(0))  # gold_prob: any id off the mask
        loss, _ = multi_teacher_mlm_loss(student_logits[masked], target.view(*masked.shape, -1)[masked],
                                         inputs["labels"][masked], alpha=self.args.alpha, temperature=self.args.temperature,
                                         num_items_in_batch=num_items_in_batch)
        return loss


def _student(config: BenchConfig, tokenizer) -> BertForMaskedLM:
    """The benchmark's student: the same BERT-style initialisation (seeded) for every method."""
    bert = BertConfig(vocab_size=len(tokenizer), hidden_size=config.student_hidden_size,
                      num_hidden_layers=config.student_layers, num_attention_heads=config.student_heads,
                      intermediate_size=4 * config.student_hidden_size, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return BertForMaskedLM(bert)


def _training_args(config: BenchConfig, output_dir: str, steps: int, **changes) -> DistillationArguments:
    settings = dict(
        output_dir=output_dir, max_steps=steps, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, lr_scheduler_type="constant", logging_steps=10**9, save_strategy="no",
        report_to="none", disable_tqdm=True, seed=config.seed, use_cpu=True, remove_unused_columns=False,
        alpha=config.alpha, temperature=config.temperature, weighting=config.weighting,
        # accelerate would otherwise dispatch an iterable dataset's batches by slicing every tensor
        # to the batch size along dim 0, cutting the (num_masked, k) targets.
        accelerator_config={"dispatch_batches": False})
    return DistillationArguments(**{**settings, **changes})


class _TimedBatches:
    """Wraps a data loader; stamps the time each batch is requested (the end of the previous step)."""

    def __init__(self, loader):
        self.loader, self.stamps = loader, []

    def __iter__(self):
        for batch in self.loader:
            self.stamps.append(time.perf_counter())
            yield batch


def _run_textbrewer(config, student, teachers, rows, collator, steps, output_dir) -> list[float]:
    from textbrewer import DistillationConfig, MultiTeacherDistiller, TrainingConfig

    def adaptor_teacher(batch, outputs):
        return {"logits": (outputs.logits,), "logits_mask": (batch["labels"] != -100,)}

    def adaptor_student(batch, outputs):
        return {"logits": (outputs.logits,), "logits_mask": (batch["labels"] != -100,), "losses": (outputs.loss,)}

    loader = _TimedBatches(torch.utils.data.DataLoader(rows, batch_size=config.batch_size, collate_fn=collator))
    distiller = MultiTeacherDistiller(
        TrainingConfig(device="cpu", output_dir=output_dir, ckpt_steps=10**9),
        DistillationConfig(temperature=config.temperature, kd_loss_type="ce", kd_loss_weight=config.alpha,
                           hard_label_weight=1.0 - config.alpha),
        model_T=teachers, model_S=student, adaptor_T=adaptor_teacher, adaptor_S=adaptor_student)
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.learning_rate)
    # TextBrewer stops after `steps` optimizer steps; the stamps mark the start of each step.
    distiller.train(optimizer, loader, num_steps=steps + 1)
    return loader.stamps[: steps + 1]


def _mapped(teachers, tokenizer):
    """The teachers with their vocabulary checked against the student's (a teacher numbering the same tokens
    differently, such as all-mpnet-base-v2 against BERT's vocabulary, is mapped), as the jobs do."""
    from lexkd.mlm.teachers import match_vocabularies

    return match_vocabularies(tokenizer, teachers)


def run_method(name: str, config: BenchConfig, steps: int) -> dict:
    """Train the benchmark's student ``steps`` steps with one method; time it and score it.

    Returns:
        ``{"method", "steps", "masked_tokens_per_s", "min", "max", "windows", "s_per_step",
        "peak_rss_mb", "heldout_loss", "heldout_accuracy"}``.

    Raises:
        ValueError: an unknown method, or a cache with fewer rows than ``steps`` batches.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from lexkd.mlm.cache_reader import TeacherCache
    from lexkd.mlm.evaluation import evaluate_model
    from lexkd.mlm.teachers import load_teachers

    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; valid methods: {', '.join(METHODS)}.")
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer)
    cache = TeacherCache.open(config.cache_dir)
    needed = (steps + 1) * config.batch_size
    if len(cache.dataset) < needed:
        raise ValueError(f"The cache has {len(cache.dataset)} rows; {steps} steps of {config.batch_size} need {needed}.")
    rows = cache.dataset.shuffle(seed=config.seed).select(range(needed))
    masked_per_step = [sum(len(g) for g in rows[i:i + config.batch_size]["gold_ids"]) for i in range(0, needed, config.batch_size)]
    collator = cache.collator(tokenizer)
    student = _student(config, tokenizer)
    if name == "textbrewer":  # as its users load them: plain masked LMs
        teachers = [AutoModelForMaskedLM.from_pretrained(path).eval() for path in config.teachers]
    else:
        teachers = (_mapped(load_teachers(config.teachers, dtype=config.teacher_dtype), tokenizer)
                    if name in ("online", "naive") else [])
    timer = StepTimes()
    with tempfile.TemporaryDirectory() as tmp:
        ordered = OrderedRows(rows, with_targets=name == "cached")
        if name == "textbrewer":
            stamps = _run_textbrewer(config, student, teachers, ordered, collator, steps, tmp)
        elif name == "hf_full_head":
            trainer = Trainer(model=student, args=_training_args(config, tmp, steps), train_dataset=ordered,
                              data_collator=collator, callbacks=[timer])
            trainer.train()
            stamps = timer.stamps
        else:
            alpha = 0.0 if name == "floor" else config.alpha
            trainer_class = FullHeadDistillationTrainer if name == "naive" else MultiTeacherDistillationTrainer
            trainer = trainer_class(model=MaskedPositionMLM(student), args=_training_args(config, tmp, steps, alpha=alpha),
                                    train_dataset=ordered, data_collator=collator, callbacks=[timer],
                                    teachers=teachers, cached_teachers=cache.teacher_labels if name == "cached" else ())
            trainer.train()
            stamps = timer.stamps
    scores = evaluate_model(student, datasets.load_from_disk(config.eval_dir), tokenizer)
    return {"method": name, "steps": steps, **throughput(stamps, masked_per_step, warmup=config.warmup, window=config.window),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "heldout_loss": scores["loss"], "heldout_accuracy": scores["accuracy"]}


def _worker(name: str, config: dict, steps: int, queue) -> None:
    torch.set_num_threads(torch.get_num_threads())
    try:
        queue.put(run_method(name, BenchConfig(**config), steps))
    except Exception as error:  # reported by the parent with the method's name
        queue.put({"method": name, "error": f"{type(error).__name__}: {error}"})


def run_in_process(name: str, config: BenchConfig, steps: int) -> dict:
    """:func:`run_method` in a fresh process (spawned), so its peak memory is its own.

    Raises:
        RuntimeError: the method failed (its error message) or the process died.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_worker, args=(name, dataclasses.asdict(config), steps, queue))
    process.start()
    result = queue.get()
    process.join()
    if "error" in result:
        raise RuntimeError(f"Benchmark method {name!r} failed: {result['error']}")
    return result


def _build_worker(kwargs: dict, queue) -> None:
    from transformers import AutoTokenizer

    from lexkd.mlm.cache import build_teacher_cache
    from lexkd.mlm.teachers import load_teachers

    try:
        start = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(kwargs["tokenizer"])
        teachers = load_teachers(kwargs["teachers"], dtype=kwargs.get("teacher_dtype", "float32"))
        build_teacher_cache(_mapped(teachers, tokenizer), tokenizer,
                            datasets.load_from_disk(kwargs["train_dir"]), kwargs["cache_dir"], top_k=kwargs["top_k"],
                            num_maskings=kwargs["num_maskings"], rule=kwargs["weighting"],
                            temperature=kwargs["temperature"], masking_seed=kwargs["seed"],
                            overwrite=kwargs.get("overwrite", False))
        queue.put({"seconds": round(time.perf_counter() - start, 1),
                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
    except Exception as error:
        queue.put({"error": f"{type(error).__name__}: {error}"})


def build_cache_in_process(**kwargs) -> dict:
    """Build the benchmark's teacher cache in a fresh process: ``{"seconds", "peak_rss_mb"}`` of the build.

    Keyword args: ``teachers``, ``tokenizer``, ``train_dir`` (a saved tokenised corpus),
    ``cache_dir``, ``top_k``, ``num_maskings``, ``weighting``, ``temperature``, ``seed``,
    ``teacher_dtype`` (float32 when absent) and ``overwrite`` (replace a cache built with other settings).

    Raises:
        RuntimeError: the build failed (its error message).
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_build_worker, args=(kwargs, queue))
    process.start()
    result = queue.get()
    process.join()
    if "error" in result:
        raise RuntimeError(f"Building the teacher cache failed: {result['error']}")
    return result


def summarize(results: list[dict], cache_meta: dict, build: dict) -> dict:
    """Ratios to the floor, the cache's size, and the benchmark's four targets (met or not)."""
    by = {r["method"]: r for r in results}
    floor = by["floor"]["masked_tokens_per_s"]
    for r in results:
        r["ratio_to_floor"] = r["masked_tokens_per_s"] / floor
    totals = cache_meta["totals"]
    targets = {}
    if "cached" in by:
        targets["cached >= 0.85 x floor"] = by["cached"]["ratio_to_floor"] >= 0.85
    if {"online", "textbrewer"} <= set(by):
        targets["online >= 5 x textbrewer"] = by["online"]["masked_tokens_per_s"] >= 5 * by["textbrewer"]["masked_tokens_per_s"]
    if {"online", "naive"} <= set(by):
        targets["online >= 2 x naive"] = by["online"]["masked_tokens_per_s"] >= 2 * by["naive"]["masked_tokens_per_s"]
    targets["cache <= 1/100 of dense fp16"] = totals["fraction_of_dense_fp16"] <= 0.01
    if {"online", "cached"} <= set(by):
        gap = abs(by["cached"]["heldout_loss"] - by["online"]["heldout_loss"]) / by["online"]["heldout_loss"]
        targets[f"cached held-out loss within 2% of online ({gap:.2%})"] = gap <= 0.02
    return {"results": results, "cache": {**totals, "build": build}, "targets": targets}


def markdown(summary: dict) -> str:
    """The benchmark table (one row per method) and the targets, as markdown."""
    lines = ["| method | steps | masked tokens/s (median) | x floor | s/step | peak RSS (MB) | held-out MLM loss | accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summary["results"]:
        lines.append(f"| {r['method']} | {r['steps']} | {r['masked_tokens_per_s']:,.0f} ({r['min']:,.0f}-{r['max']:,.0f}) | "
                     f"{r['ratio_to_floor']:.2f} | {r['s_per_step']:.3f} | {r['peak_rss_mb']:,.0f} | "
                     f"{r['heldout_loss']:.3f} | {r['heldout_accuracy']:.3f} |")
    c = summary["cache"]
    lines += ["", f"Cache: {c['bytes'] / 2**20:.1f} MiB for {c['masked_positions']:,} masked positions = "
              f"{c['bytes_per_masked_position']:.0f} bytes each, {c['fraction_of_dense_fp16']:.4%} of full fp16 "
              f"teacher distributions ({c['dense_fp16_bytes'] / 2**30:.2f} GiB); built in {c['build']['seconds']:.0f} s "
              f"(peak RSS {c['build']['peak_rss_mb']:,.0f} MB).", "", "| target | met |", "|---|---|"]
    lines += [f"| {name} | {'yes' if met else 'no'} |" for name, met in summary["targets"].items()]
    return "\n".join(lines) + "\n"


def write_summary(summary: dict, output_dir: Path) -> None:
    """``bench.json`` and ``bench.md`` in ``output_dir``, each written atomically."""
    from lexkd.utils.io import write_json_atomically, write_text_atomically

    write_json_atomically(summary, output_dir / "bench.json")
    write_text_atomically(markdown(summary), output_dir / "bench.md")


BENCH_TEACHERS = (TeacherSpec("teacher-a", layers=4, hidden_size=256, heads=4, seed=1),
                  TeacherSpec("teacher-b", layers=2, hidden_size=256, heads=4, seed=2))


def prepare(args, root: Path):
    """Tokenizer, data, teachers and cache of the benchmark (reused when already in ``root``).

    Args:
        args: the script's ``BenchArguments`` (vocab_file, corpus, max_documents, max_seq_length,
            teachers (given teacher folders; none: two trained here for teacher_steps), top_k,
            num_maskings, seed).
        root: the benchmark's folder.

    Returns:
        ``(tokenizer_dir, teacher folders, MLMData, the cache build's record)``.

    Raises:
        FileNotFoundError: no vocabulary file; ValueError: a kept tokenizer of another size.
    """
    if not Path(args.vocab_file).is_file():
        raise FileNotFoundError(f"No vocabulary file at {args.vocab_file!r}: pass --vocab_file.")
    tokenizer_dir = root / "tokenizer"
    if not (tokenizer_dir / "tokenizer_config.json").is_file():
        save_pretrained_atomically(BertTokenizerFast(vocab=args.vocab_file, do_lower_case=True), tokenizer_dir)
    tokenizer = BertTokenizerFast.from_pretrained(tokenizer_dir)
    entries = sum(1 for line in open(args.vocab_file, encoding="utf-8") if line.strip())
    if len(tokenizer) != entries:
        raise ValueError(f"The tokenizer in {tokenizer_dir} has {len(tokenizer)} tokens but {args.vocab_file} lists "
                         f"{entries}: delete {tokenizer_dir} and run again.")
    train_docs, val_docs = load_split_corpus(args.corpus, validation_fraction=0.02, seed=42, max_documents=args.max_documents)
    data = prepare_mlm_data(train_docs, val_docs, tokenizer, max_seq_length=args.max_seq_length, max_eval_sequences=512)
    for name, split in (("train", data.train), ("eval", data.validation)):
        if not (root / name / "dataset_info.json").is_file():
            with atomic_directory(root / name) as tmp:
                split.save_to_disk(str(tmp))
    teachers = list(args.teachers)
    for spec in BENCH_TEACHERS if not teachers else ():
        teacher_args = DistillationArguments(
            output_dir=str(root / "teachers" / spec.name), max_steps=args.teacher_steps, per_device_train_batch_size=32,
            learning_rate=5e-4, warmup_steps=50, logging_steps=50, save_steps=200, save_total_limit=1,
            report_to="none", use_cpu=True, alpha=0.0)
        folder, _ = train_teacher(spec, tokenizer, data, teacher_args)
        teachers.append(str(folder))
    build_path, meta_path = root / "cache_build.json", root / "cache" / META_NAME
    wanted = {"top_k": args.top_k, "num_maskings": args.num_maskings, "masking_seed": args.seed}
    built = json.loads(meta_path.read_text())["config"] if meta_path.is_file() else None
    dtype = getattr(args, "teacher_dtype", "float32")
    stale = built is not None and (any(built.get(key) != value for key, value in wanted.items())
                                   or [t["name"] for t in built["teachers"]] != teachers
                                   or any(t.get("dtype", "float32") != dtype for t in built["teachers"]))
    if stale:
        logging.info("Rebuilding %s: it was built with %s, this run asks for %s", root / "cache",
                     {key: built.get(key) for key in wanted}, wanted)
    if built is None or stale or not build_path.is_file():
        build = build_cache_in_process(teachers=teachers, tokenizer=str(tokenizer_dir), train_dir=str(root / "train"),
                                       cache_dir=str(root / "cache"), top_k=args.top_k, num_maskings=args.num_maskings,
                                       weighting="entropy", temperature=1.0, seed=args.seed, overwrite=stale,
                                       teacher_dtype=dtype)
        write_text_atomically(json.dumps(build), build_path)
    return tokenizer_dir, teachers, data, json.loads(build_path.read_text())
