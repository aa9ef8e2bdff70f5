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
import shutil
import time
from pathlib import Path

from transformers import TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

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


def last_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest ``checkpoint-*`` folder in ``output_dir`` (by step), or None (no folder, no checkpoint)."""
    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


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

    With ``resume``, the last checkpoint (:func:`resume_checkpoint`); otherwise the folder is
    checked (:func:`clear_finished_run`) and a finished run's ``metrics.jsonl`` is removed (by the
    process that writes files), so a fresh run starts a fresh log.

    Raises:
        FileNotFoundError: ``resume`` and no checkpoint; FileExistsError: a fresh run over an interrupted one.
    """
    output_dir = Path(output_dir)
    if resume:
        return resume_checkpoint(output_dir)
    clear_finished_run(output_dir, args)
    if args.should_save and (output_dir / "metrics.jsonl").exists():
        (output_dir / "metrics.jsonl").unlink()
    return None
