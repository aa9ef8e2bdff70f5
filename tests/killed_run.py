"""A small distillation that kills itself (``os._exit(9)``, as kill -9 would) at a chosen point.

Run by tests/test_kill_and_resume.py in a subprocess: ``python killed_run.py SETUP RUN POINT``. SETUP holds the
tokenizer, the tokenised data (``train/``, ``validation/``, ``stats.json``) and the teachers (``t0/``, ``t1/``), and,
for the cached variant, where the cache goes. POINT is one of :data:`POINTS`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

POINTS = ("between_checkpoints", "inside_checkpoint_write", "inside_final_save", "inside_metrics_append",
          "inside_cache_shard_write")


def run_args(output_dir, **changes):
    from lexkd.mlm.trainer import DistillationArguments

    values = dict(output_dir=str(output_dir), max_steps=6, per_device_train_batch_size=4, learning_rate=1e-3,
                  logging_steps=1, eval_strategy="steps", eval_steps=3, save_steps=3, report_to="none", use_cpu=True,
                  disable_tqdm=True, seed=7, alpha=0.5, weighting="entropy", temperature=2.0)
    values.update(changes)
    return DistillationArguments(**values)


def load_setup(setup: Path):
    import datasets
    from transformers import AutoTokenizer

    from lexkd.mlm.data import MLMData
    from lexkd.mlm.teachers import load_teachers

    tokenizer = AutoTokenizer.from_pretrained(setup / "tokenizer")
    data = MLMData(train=datasets.load_from_disk(str(setup / "train")),
                   validation=datasets.load_from_disk(str(setup / "validation")),
                   stats=json.loads((setup / "stats.json").read_text()))
    return tokenizer, data, load_teachers([str(setup / "t0"), str(setup / "t1")])


def student(tokenizer):
    from lexkd.models.masked_lm import build_student

    return build_student(len(tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2, seed=0)


def build_cache(setup: Path, teachers, tokenizer, data):
    from lexkd.mlm.cache import build_teacher_cache

    return build_teacher_cache(teachers, tokenizer, data.train, setup / "cache", rule="entropy", temperature=2.0,
                               num_maskings=2, top_k=16, masking_seed=0, batch_size=16, shard_size=40)


def die() -> None:
    sys.stdout.flush()
    os._exit(9)


def arm(point: str) -> None:
    """Patch the code so that the process dies at ``point``."""
    import transformers

    import lexkd.mlm.cache as cache
    import lexkd.mlm.training as training
    from lexkd.utils import runs
    from lexkd.utils.io import atomic_directory

    if point == "between_checkpoints":
        class Die(transformers.TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == 4:
                    die()

        original_init = training.MultiTeacherDistillationTrainer.__init__

        def init(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            self.add_callback(Die())

        training.MultiTeacherDistillationTrainer.__init__ = init
    elif point == "inside_checkpoint_write":  # model and optimizer of checkpoint-6 written, not its trainer state
        original = transformers.Trainer._save_rng_state

        def save_rng_state(self, output_dir):
            if self.state.global_step == 6:
                die()
            return original(self, output_dir)

        transformers.Trainer._save_rng_state = save_rng_state
    elif point == "inside_final_save":
        def save_model_atomically(model, tokenizer, directory, *, model_card=None):
            with atomic_directory(directory) as tmp:
                model.save_pretrained(tmp)
                die()

        training.save_model_atomically = save_model_atomically
    elif point == "inside_metrics_append":
        original_on_log = runs.MetricsJsonlCallback.on_log

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.global_step == 5 and logs and "loss" in logs:
                with open(self.path, "a") as handle:
                    handle.write(json.dumps({"step": state.global_step, **logs})[:17])  # half a line
                die()
            return original_on_log(self, args, state, control, logs=logs, **kwargs)

        runs.MetricsJsonlCallback.on_log = on_log
    elif point == "inside_cache_shard_write":
        original_write = cache._write_shard
        written = []

        def write_shard(columns, features, folder, name):
            if len(written) == 2:  # the third shard: its files written under the temporary name, not renamed
                import datasets

                with atomic_directory(folder / name) as tmp:
                    datasets.Dataset.from_dict(columns, features=features).save_to_disk(str(tmp))
                    die()
            written.append(name)
            return original_write(columns, features, folder, name)

        cache._write_shard = write_shard
    else:
        raise ValueError(f"unknown point {point!r}; valid: {', '.join(POINTS)}")


def main(setup: str, run: str, point: str) -> int:
    from lexkd.mlm.cache_reader import TeacherCache
    from lexkd.mlm.training import train_masked_lm

    setup_path = Path(setup)
    tokenizer, data, teachers = load_setup(setup_path)
    arm(point)
    if point == "inside_cache_shard_write":
        build_cache(setup_path, teachers, tokenizer, data)
        cache = TeacherCache.open(setup_path / "cache")
        train_masked_lm(student(tokenizer), tokenizer, data, run_args(run), teacher_cache=cache)
    else:
        train_masked_lm(student(tokenizer), tokenizer, data, run_args(run), teachers=teachers)
    return 0  # not reached when the point is reached


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
