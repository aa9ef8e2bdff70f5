"""Issue 17's end-to-end check: a small distillation killed (os._exit, as kill -9) at five points, then resumed,
ends with weights bit-identical to an uninterrupted run's (tests/killed_run.py is the killed process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import save_tiny_bert

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import killed_run  # noqa: E402

from lexkd.mlm.cache_reader import TeacherCache  # noqa: E402
from lexkd.mlm.training import train_masked_lm  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tokenizer, texts):
    from lexkd.mlm.data import prepare_mlm_data

    folder = tmp_path_factory.mktemp("setup")
    tokenizer.save_pretrained(folder / "tokenizer")
    docs = [[t] for t in texts]
    data = prepare_mlm_data(docs[:250], docs[250:], tokenizer, max_seq_length=16)
    data.train.save_to_disk(str(folder / "train"))
    data.validation.save_to_disk(str(folder / "validation"))
    (folder / "stats.json").write_text(json.dumps(data.stats))
    for i in range(2):
        save_tiny_bert(folder / f"t{i}", tokenizer, seed=20 + i)
    return folder


def uninterrupted(setup: Path, folder: Path, *, cached: bool):
    tokenizer, data, teachers = killed_run.load_setup(setup)
    model = killed_run.student(tokenizer)
    if cached:
        killed_run.build_cache(setup, teachers, tokenizer, data)
        cache = TeacherCache.open(setup / "cache")
        train_masked_lm(model, tokenizer, data, killed_run.run_args(folder), teacher_cache=cache)
    else:
        train_masked_lm(model, tokenizer, data, killed_run.run_args(folder), teachers=teachers)
    return model.state_dict()


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory):
    return uninterrupted(setup, tmp_path_factory.mktemp("reference") / "run", cached=False)


@pytest.mark.slow
@pytest.mark.parametrize("point", killed_run.POINTS)
def test_killed_at_each_point_and_resumed_gives_the_uninterrupted_weights(point, setup, reference, tmp_path):
    import shutil

    if point == "inside_cache_shard_write":  # its own set-up: the reference trains from an intact cache
        setup_copy = tmp_path / "setup"
        shutil.copytree(setup, setup_copy, ignore=shutil.ignore_patterns("cache"))
        expected = uninterrupted(setup_copy, tmp_path / "cached-reference", cached=True)
        shutil.rmtree(setup_copy / "cache")
        setup = setup_copy
    else:
        expected = reference
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, str(HERE / "killed_run.py"), str(setup), str(run), point], env=env,
                            capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr[-2000:]

    tokenizer, data, teachers = killed_run.load_setup(setup)
    model = killed_run.student(tokenizer)
    args = killed_run.run_args(run)
    if point == "inside_cache_shard_write":
        assert not (setup / "cache" / "cache_meta.json").exists()  # an interrupted build, not a cache
        killed_run.build_cache(setup, teachers, tokenizer, data)  # the same command again resumes the build
        train_masked_lm(model, tokenizer, data, args, teacher_cache=TeacherCache.open(setup / "cache"))
    else:
        assert not (run / "model").exists()
        train_masked_lm(model, tokenizer, data, args, teachers=teachers, resume=True)
    got = model.state_dict()
    different = [name for name, tensor in expected.items() if not torch.equal(tensor, got[name])]
    assert not different, (point, different)
    assert not list(run.glob(".model.tmp-*"))  # the killed save's temporary was removed
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line) and "train_runtime" not in json.loads(line)]
    assert steps == sorted(set(steps)), steps  # no step logged twice
