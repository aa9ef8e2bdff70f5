"""The run folder's lifecycle, shared by every training job (MLM, LMGC-M, LMGC, classification, seq2seq).

A run folder holds ``run_config.json``, ``metrics.jsonl`` (one JSON line per log), ``checkpoint-*/``
(transformers checkpoints with optimizer, scheduler and RNG state) and, once training finished,
``model/`` (written atomically, so a folder that looks complete is complete). A fresh run in a
folder with an interrupted run is refused (``--resume`` continues it); a fresh run in a finished
run's folder drops the old checkpoints and starts over.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from pathlib import Path

from transformers import TrainerCallback, TrainingArguments

logger = logging.getLogger(__name__)


class MetricsJsonlCallback(TrainerCallback):
    """Append every log event (training and evaluation) to ``metrics.jsonl`` as one JSON line."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as handle:
                handle.write(json.dumps({"step": state.global_step, "time": time.time(), **logs}) + "\n")


class TrainingClock(TrainerCallback):
    """Wall seconds of training summed over every process of a resumed run.

    Each checkpoint gets ``training_seconds.json`` (the seconds trained up to it, this process's and
    the earlier processes' together); a run resumed from a checkpoint starts its clock from there, so
    :attr:`seconds` is the time a run took however often it was stopped and resumed (the time between
    a checkpoint and a kill, trained again after the resume, counts twice, as it was spent twice).

    Args:
        resume_from: the checkpoint the run resumes from, or None for a fresh run. A checkpoint
            without the file (written before lexkd recorded it) counts as 0 s, with a warning, and
            :attr:`complete` is False.
    """

    FILE = "training_seconds.json"

    def __init__(self, resume_from: str | os.PathLike | None = None):
        self.before, self.complete, self._start = 0.0, True, None
        if resume_from is not None:
            path = Path(resume_from) / self.FILE
            if path.is_file():
                self.before = float(json.loads(path.read_text())["seconds"])
            else:
                self.complete = False
                logger.warning("%s has no %s: the reported train time counts this process only.",
                               resume_from, self.FILE)

    @property
    def seconds(self) -> float:
        """Seconds trained so far, earlier processes included."""
        return self.before + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            from lexkd.utils.io import write_json_atomically

            write_json_atomically({"seconds": round(self.seconds, 3), "complete": self.complete}, folder / self.FILE)


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` is not a complete transformers checkpoint (None when it is complete).

    ``Trainer`` writes the model, then optimizer, scheduler and RNG states, and ``trainer_state.json``
    last: a checkpoint is complete when that file parses and the files written before it exist.
    """
    folder = Path(folder)
    state = folder / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json (its write was interrupted)"
    try:
        json.loads(state.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "a torn trainer_state.json"
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("pytorch_model*.bin")):
        return "no model weights"
    missing = [name for name in ("optimizer.pt", "scheduler.pt") if not (folder / name).is_file()]
    if missing or not any(folder.glob("rng_state*.pth")):
        return f"no {', '.join(missing) or 'RNG state'}"
    return None


def _checkpoints_newest_first(output_dir: Path) -> list[Path]:
    pattern = re.compile(r"^checkpoint-(\d+)$")
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := pattern.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def last_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest *complete* ``checkpoint-*`` folder in ``output_dir`` (by step), or None.

    Newer checkpoints that are incomplete (a kill while one was written) are passed over, with a
    warning naming them and why (:func:`checkpoint_problem`).
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    for folder in _checkpoints_newest_first(output_dir):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        logger.warning("Passing over the incomplete checkpoint %s (%s): it was being written when the run stopped.",
                       folder, problem)
    return None


def checkpoint_step(checkpoint: str | os.PathLike) -> int:
    """The global step a complete checkpoint was saved at (from its ``trainer_state.json``)."""
    return int(json.loads((Path(checkpoint) / "trainer_state.json").read_text())["global_step"])


def trim_metrics(path: str | os.PathLike, step: int) -> int:
    """Before resuming from the checkpoint of ``step``: drop the ``metrics.jsonl`` records logged after it,
    and a torn last line (a kill while appending), rewriting the file atomically. Returns how many went.

    Raises:
        ValueError: a malformed line other than the last (the file is damaged; name and line given).
    """
    path = Path(path)
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines()
    kept, dropped = [], 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # torn by a kill mid-append
                dropped += 1
                continue
            raise ValueError(f"{path}:{number}: not a JSON object; the metrics log is damaged.") from None
        if record.get("step", 0) > step:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        from lexkd.utils.io import write_text_atomically

        write_text_atomically("".join(f"{line}\n" for line in kept), path)
        logger.info("%s: dropped %d records logged after the checkpoint of step %d", path, dropped, step)
    return dropped


def resume_checkpoint(output_dir: str | os.PathLike, *, flag: str = "--resume") -> str:
    """The last checkpoint in ``output_dir``, for ``--resume`` (or the job's ``flag``).

    Raises:
        FileNotFoundError: the folder does not exist or holds no ``checkpoint-*``.
    """
    checkpoint = last_checkpoint(output_dir)
    if checkpoint is None:
        why = "holds none: checkpoints are written every --save_steps" if Path(output_dir).is_dir() else "does not exist"
        raise FileNotFoundError(
            f"Cannot resume ({flag}): no checkpoint-* folder in the run folder {str(output_dir)!r} (it {why}). "
            f"Start without {flag}."
        )
    return checkpoint


def is_interrupted(output_dir: str | os.PathLike) -> bool:
    """Whether ``output_dir`` holds a run's ``checkpoint-*`` folders but no complete final model.

    A multi-stage job run with ``--resume`` continues such stages from their last checkpoint,
    starts the stages that never reached a checkpoint, and reuses the finished ones.
    """
    output_dir = Path(output_dir)
    return output_dir.is_dir() and any(output_dir.glob("checkpoint-*")) and not is_complete_model(output_dir / "model")


def clear_finished_run(output_dir: str | os.PathLike, args: TrainingArguments) -> None:
    """Before a fresh run: refuse an interrupted run's folder; drop a finished run's old checkpoints.

    Raises:
        FileExistsError: ``output_dir`` holds checkpoints but no final model (an interrupted run).
    """
    output_dir = Path(output_dir)
    checkpoints = sorted(output_dir.glob("checkpoint-*")) if output_dir.is_dir() else []
    if not checkpoints:
        return
    if not is_complete_model(output_dir / "model"):
        raise FileExistsError(
            f"{str(output_dir)!r} holds an interrupted run ({checkpoints[-1].name}, no final model): pass --resume "
            "to continue it, or delete the folder or choose another --output_dir to start over."
        )
    if args.should_save:
        logger.info("Starting over in %s: removing the finished run's old checkpoints", output_dir)
        for folder in checkpoints:
            shutil.rmtree(folder)


def is_complete_model(directory: str | os.PathLike) -> bool:
    """True when ``directory`` holds a finished ``model/`` folder (config, weights, tokenizer)."""
    directory = Path(directory)
    return (directory / "config.json").is_file() and (directory / "tokenizer_config.json").is_file() and any(
        directory.glob("model*.safetensors")
    )


def start_run(output_dir: str | os.PathLike, args: TrainingArguments, *, resume: bool) -> str | None:
    """Make a run folder ready for training and return the checkpoint to resume from (None: a fresh run).

    With ``resume``, the last complete checkpoint (:func:`resume_checkpoint`), and ``metrics.jsonl``
    is cut back to that checkpoint's step (:func:`trim_metrics`); otherwise the folder is
    checked (:func:`clear_finished_run`) and a finished run's ``metrics.jsonl`` is removed (by the
    process that writes files), so a fresh run starts a fresh log.

    Raises:
        FileNotFoundError: ``resume`` and no checkpoint; FileExistsError: a fresh run over an interrupted one.
    """
    output_dir = Path(output_dir)
    if resume:
        checkpoint = resume_checkpoint(output_dir)
        if args.should_save:
            trim_metrics(output_dir / "metrics.jsonl", checkpoint_step(checkpoint))
        return checkpoint
    clear_finished_run(output_dir, args)
    if args.should_save and (output_dir / "metrics.jsonl").exists():
        (output_dir / "metrics.jsonl").unlink()
    return None


# Settings that change how a run is logged, evaluated or checkpointed, not the weights it trains: a resume
# may change them. Every other recorded setting must equal the interrupted run's.
RESUME_SAFE_SETTINGS = frozenset({
    "output_dir", "logging_dir", "logging_steps", "logging_strategy", "logging_first_step", "logging_nan_inf_filter",
    "log_level", "log_level_replica", "log_on_each_node", "eval_steps", "eval_strategy", "eval_delay", "eval_on_start",
    "eval_accumulation_steps", "per_device_eval_batch_size", "save_steps", "save_strategy", "save_total_limit",
    "report_to", "disable_tqdm", "run_name", "resume_from_checkpoint", "overwrite_output_dir", "push_to_hub",
    "hub_model_id", "hub_strategy", "hub_token", "hub_private_repo", "hub_always_push", "hub_revision",
    "dataloader_num_workers", "dataloader_prefetch_factor", "dataloader_persistent_workers", "ddp_timeout",
    "max_eval_sequences", "validation_sequences", "eval_masking_seed", "resume", "baseline", "trackio_space_id",
    "project",
})


def settings_differences(recorded: dict, current: dict, *, safe=RESUME_SAFE_SETTINGS, prefix: str = "") -> list[str]:
    """``"name: old -> new"`` for every setting (nested keys joined by dots) that differs, except ``safe`` ones."""
    differences = []
    for key in sorted(set(recorded) | set(current), key=str):
        if key in safe:
            continue
        name = f"{prefix}{key}"
        old, new = recorded.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(old, dict) and isinstance(new, dict):
            differences += settings_differences(old, new, safe=safe, prefix=f"{name}.")
        elif json.dumps(old, default=str, sort_keys=True) != json.dumps(new, default=str, sort_keys=True):
            differences.append(f"{name}: {old!r} -> {new!r}")
    return differences


def _moved(value, old_root: str, new_root: str):
    """``value`` with paths under ``old_root`` rewritten under ``new_root`` (strings in nested dicts and lists)."""
    if isinstance(value, dict):
        return {k: _moved(v, old_root, new_root) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, old_root, new_root) for v in value]
    if isinstance(value, str) and (value == old_root or value.startswith(old_root + os.sep)):
        return new_root + value[len(old_root):]
    return value


def check_resume_settings(run_config: str | os.PathLike, current: dict) -> None:
    """Refuse to resume a run with settings that would change its result.

    Args:
        run_config: the interrupted run's ``run_config.json`` (absent: nothing to compare, a warning).
        current: the settings this command would record, in the same layout. When its
            ``training.output_dir`` differs from the recorded one, the job folder was moved: recorded paths
            under the old job folder are compared as paths under the new one.

    Raises:
        ValueError: naming every differing setting (old -> new) and the fix.
    """
    run_config = Path(run_config)
    if not run_config.is_file():
        logger.warning("%s is missing: the resumed run's settings cannot be checked against the interrupted run's.",
                       run_config)
        return
    recorded = json.loads(run_config.read_text())
    current = json.loads(json.dumps(current, default=str))  # the recorded form (tuples as lists, paths as str)
    old_dir = (recorded.get("training") or {}).get("output_dir")
    new_dir = (current.get("training") or {}).get("output_dir")
    if old_dir and new_dir and old_dir != new_dir:  # the job folder was moved (or copied) as a whole
        recorded = _moved(recorded, str(Path(old_dir).parent), str(Path(new_dir).parent))
    differences = settings_differences(recorded, current)
    if differences:
        shown = "; ".join(differences[:12]) + (f"; and {len(differences) - 12} more" if len(differences) > 12 else "")
        raise ValueError(
            f"Cannot resume the run in {str(run_config.parent)!r}: these settings differ from the interrupted run's "
            f"({run_config.name}): {shown}. Resume with the same settings, or start a new run in another --output_dir.")


class StopAtMaxStepsMixin:
    """A ``Trainer`` mixin: resuming from a checkpoint taken at the end of training trains no further step.

    A run that died after its last checkpoint (during its final evaluation or model save) resumes from a
    checkpoint at ``max_steps``; ``Trainer.train`` would then take one more step (and each further resume
    another). Here the checkpoint's weights and state are loaded and ``train`` returns at once, so that the
    job only evaluates, saves and reports.
    """

    def train(self, resume_from_checkpoint=None, **kwargs):
        from transformers import TrainerState
        from transformers.trainer_utils import TrainOutput

        checkpoint = resume_from_checkpoint
        if checkpoint is True:
            checkpoint = last_checkpoint(self.args.output_dir)
        if checkpoint:
            state = TrainerState.load_from_json(os.path.join(checkpoint, "trainer_state.json"))
            end = self.args.max_steps if self.args.max_steps > 0 else state.max_steps
            if end > 0 and state.global_step >= end:
                logger.info("The checkpoint %s is at the end of training (step %d of %d): nothing left to train.",
                            checkpoint, state.global_step, end)
                self._load_from_checkpoint(checkpoint)
                self.state = state
                return TrainOutput(state.global_step, float("nan"), {"train_runtime": 0.0})
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)


class NonFiniteTrainingError(ValueError):
    """A training loss or gradient became NaN or infinite: training stops before it spreads into the weights."""


class _GradientCheck(TrainerCallback):
    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        import torch

        grads = [p.grad for p in model.parameters() if p.grad is not None] if model is not None else []
        if grads and not bool(torch.stack([g.isfinite().all() for g in grads]).all()):
            raise NonFiniteTrainingError(
                f"Non-finite gradient at step {state.global_step + 1}: training stopped before the optimizer step, "
                "nothing of this step is saved. Lower the learning rate, check the inputs (a damaged cache?) and "
                "resume from the last checkpoint (--resume).")


class NonFiniteGuardMixin:
    """A ``Trainer`` mixin: stop with :class:`NonFiniteTrainingError` on a NaN/inf training loss (per micro-batch)
    or gradient (before each optimizer step), naming the step, instead of training a NaN model to the end."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_callback(_GradientCheck())

    def training_step(self, model, inputs, num_items_in_batch=None):
        import torch

        loss = super().training_step(model, inputs, num_items_in_batch)
        if not bool(torch.isfinite(loss).all()):
            raise NonFiniteTrainingError(
                f"Non-finite training loss ({loss.item()}) at step {self.state.global_step + 1}: training stopped, "
                "nothing of this step is saved. Check the settings (temperature, learning rate) and the inputs "
                "(a damaged teacher cache?), then resume from the last checkpoint (--resume).")
        return loss
