"""Issue 17: resume that never mixes settings, never trusts a partial checkpoint, never duplicates the log."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import torch
from test_training import StopAt, tiny_args, tiny_model

import lexkd.mlm.training as training
from lexkd.mlm.training import train_masked_lm
from lexkd.utils.runs import checkpoint_problem, last_checkpoint, trim_metrics


@pytest.fixture(scope="module")
def data(tokenizer, texts):
    from lexkd.mlm.data import prepare_mlm_data

    docs = [[t] for t in texts]
    return prepare_mlm_data(docs[:250], docs[250:], tokenizer, max_seq_length=16)


@pytest.fixture(scope="module")
def teachers(tokenizer):
    from lexkd.mlm.teachers import Teacher

    return [Teacher(f"t{i}", tiny_model(tokenizer, seed=10 + i, layers=i + 1).eval(), tokenizer) for i in range(2)]


def interrupted_run(folder, tokenizer, data, teachers, monkeypatch, *, stop_at, **changes):
    """Train until ``stop_at`` (checkpoints every 3 steps), as a run killed there would leave its folder."""
    original = training.MultiTeacherDistillationTrainer

    class Interrupted(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback(StopAt(stop_at))

    monkeypatch.setattr(training, "MultiTeacherDistillationTrainer", Interrupted)
    try:
        train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(folder, **changes), teachers=teachers)
    except Exception:
        raise
    finally:
        monkeypatch.setattr(training, "MultiTeacherDistillationTrainer", original)
    shutil.rmtree(folder / "model")  # a killed run has no final model
    (folder / "eval_results.json").unlink()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tokenizer, data, teachers):
    folder = tmp_path_factory.mktemp("full") / "run"
    model = tiny_model(tokenizer)
    train_masked_lm(model, tokenizer, data, tiny_args(folder), teachers=teachers)
    return model.state_dict(), folder


def assert_same_weights(expected, model):
    got = model.state_dict()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name


# ---------------------------------------------------------------------------------------------- item 3


def test_resume_refuses_settings_that_change_the_result_and_names_them(tmp_path, tokenizer, data, teachers, monkeypatch):
    run = tmp_path / "run"
    interrupted_run(run, tokenizer, data, teachers, monkeypatch, stop_at=3)
    recorded = (run / "run_config.json").read_text()
    with pytest.raises(ValueError, match=r"training.alpha: 0.5 -> 0.1.*training.weighting: 'entropy' -> 'uniform'"):
        train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(run, alpha=0.1, weighting="uniform"),
                        teachers=teachers, resume=True)
    with pytest.raises(ValueError, match=r"teachers: \['t0', 't1'\] -> \['t0'\]"):
        train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(run), teachers=teachers[:1], resume=True)
    assert (run / "run_config.json").read_text() == recorded  # a refused resume changes nothing
    # logging and evaluation cadence may change
    model = tiny_model(tokenizer)
    train_masked_lm(model, tokenizer, data, tiny_args(run, logging_steps=1, eval_steps=2), teachers=teachers, resume=True)
    assert json.loads((run / "run_config.json").read_text())["training"]["logging_steps"] == 1


# ---------------------------------------------------------------------------------------------- item 5


def test_a_partial_newest_checkpoint_is_passed_over_and_the_resume_is_exact(tmp_path, tokenizer, data, teachers,
                                                                           monkeypatch, uninterrupted, caplog):
    run = tmp_path / "run"
    interrupted_run(run, tokenizer, data, teachers, monkeypatch, stop_at=3)
    (run / "checkpoint-6").mkdir()  # a kill while checkpoint-6 was written: the folder exists, nothing in it
    torn = run / "checkpoint-9"
    shutil.copytree(run / "checkpoint-3", torn)
    (torn / "trainer_state.json").write_text('{"global_step": 9, "log_hist')  # torn mid-write
    assert checkpoint_problem(run / "checkpoint-6").startswith("no trainer_state.json")
    assert checkpoint_problem(torn) == "a torn trainer_state.json" and checkpoint_problem(run / "checkpoint-3") is None
    caplog.set_level(logging.WARNING, logger="lexkd.utils.runs")
    assert last_checkpoint(run) == str(run / "checkpoint-3")
    assert "Passing over the incomplete checkpoint" in caplog.text and "checkpoint-9" in caplog.text
    shutil.rmtree(torn)
    model = tiny_model(tokenizer, seed=5)
    train_masked_lm(model, tokenizer, data, tiny_args(run), teachers=teachers, resume=True)
    assert_same_weights(uninterrupted[0], model)


# ---------------------------------------------------------------------------------------------- item 7


def test_resume_cuts_the_metrics_log_back_to_the_checkpoint_and_drops_a_torn_line(tmp_path, tokenizer, data, teachers,
                                                                                monkeypatch, uninterrupted):
    run = tmp_path / "run"
    interrupted_run(run, tokenizer, data, teachers, monkeypatch, stop_at=5)  # logged steps 4, 5 after checkpoint-3
    shutil.rmtree(run / "checkpoint-6", ignore_errors=True)
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 5, "loss": 1.2')  # a kill while appending
    model = tiny_model(tokenizer)
    train_masked_lm(model, tokenizer, data, tiny_args(run), teachers=teachers, resume=True)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (uninterrupted[1] / "metrics.jsonl").read_text().splitlines()]
    key = [(r["step"], tuple(sorted(k for k in r if k not in ("time",)))) for r in records]
    assert key == [(r["step"], tuple(sorted(k for k in r if k not in ("time",)))) for r in expected]
    assert_same_weights(uninterrupted[0], model)
    # (a logged training loss averages the steps since the previous log, so the first one after a resume from a
    # checkpoint between two logs covers fewer steps: the records match by step and keys, the weights exactly)


def test_trim_metrics_keeps_what_the_checkpoint_saw_and_refuses_a_damaged_middle(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 2, "loss": 1}\n{"step": 4, "loss": 0.9}\n{"step": 6, "loss": 0.8}\n{"step": 8, "lo')
    assert trim_metrics(path, 4) == 2  # step 6, and the torn last line
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [2, 4]
    path.write_text('{"step": 2}\nnot json\n{"step": 4}\n')
    with pytest.raises(ValueError, match="metrics.jsonl:2: not a JSON object"):
        trim_metrics(path, 4)


# ---------------------------------------------------------------------------------------------- items 4 and 8


def test_resume_reuses_a_finished_student_of_a_job_killed_in_the_next_stage(tmp_path, monkeypatch):
    from conftest import make_texts
    from test_training import job_argv, pretrain_multiteacher, same_weights

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(make_texts(200, seed=5)) + "\n")
    full = tmp_path / "full"
    assert pretrain_multiteacher.main(job_argv(full, corpus)) == 0
    root = tmp_path / "run"
    shutil.copytree(full, root, ignore=shutil.ignore_patterns("student-mlm", "report.md", "results.json"))
    stamp = (root / "student-distilled/model/model.safetensors").stat().st_mtime_ns
    checkpoints = sorted(p.name for p in (root / "student-distilled").glob("checkpoint-*"))
    assert pretrain_multiteacher.main(job_argv(root, corpus, "--resume")) == 0
    assert (root / "student-distilled/model/model.safetensors").stat().st_mtime_ns == stamp  # not trained again
    assert sorted(p.name for p in (root / "student-distilled").glob("checkpoint-*")) == checkpoints
    assert same_weights(root / "student-mlm" / "model", full / "student-mlm" / "model")
    assert (root / "report.md").read_text().count("student-distilled") >= 1

    # a finished student whose eval_results.json was never written (killed right after model/) is scored again
    shutil.rmtree(root / "student-mlm")
    (root / "student-distilled/eval_results.json").unlink()
    assert pretrain_multiteacher.main(job_argv(root, corpus, "--resume")) == 0
    assert json.loads((root / "results.json").read_text())

    # item 8: a command that fails on its input leaves the job's run_config.json as it was
    recorded = (root / "run_config.json").read_text()
    code = pretrain_multiteacher.run_cli(lambda: pretrain_multiteacher.main(
        job_argv(root, tmp_path / "no-such-corpus.txt", "--alpha", "0.2")))
    assert code == 2 and (root / "run_config.json").read_text() == recorded


# ---------------------------------------------------------------------------------------------- item 1


def test_resume_from_the_final_checkpoint_trains_no_further_step(tmp_path, tokenizer, data, teachers):
    constant = {"lr_scheduler_type": "constant"}  # any extra step would change the weights
    full = tiny_model(tokenizer)
    train_masked_lm(full, tokenizer, data, tiny_args(tmp_path / "full", **constant), teachers=teachers)
    run = tmp_path / "run"
    train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(run, **constant), teachers=teachers)
    for attempt in range(2):  # died during the final evaluation or model save, twice
        shutil.rmtree(run / "model")
        (run / "eval_results.json").unlink()
        checkpoints = sorted(p.name for p in run.glob("checkpoint-*"))
        resumed = tiny_model(tokenizer, seed=99)
        results = train_masked_lm(resumed, tokenizer, data, tiny_args(run, **constant), teachers=teachers, resume=True)
        assert results["steps"] == 6, attempt
        assert_same_weights(full.state_dict(), resumed)
        assert sorted(p.name for p in run.glob("checkpoint-*")) == checkpoints  # nothing rotated away
        assert (run / "model" / "config.json").is_file()


# ---------------------------------------------------------------------------------------------- item 2


def test_non_finite_settings_are_refused():
    for change, message in [({"temperature": float("inf")}, "temperature must be finite"),
                            ({"weight_temperature": float("nan")}, "weight_temperature must be finite"),
                            ({"alpha": float("nan")}, "alpha must be in"),
                            ({"learning_rate": float("inf")}, "learning_rate must be finite")]:
        with pytest.raises(ValueError, match=message):
            tiny_args("x", **change)


def test_a_non_finite_loss_stops_training_naming_the_step_and_saves_no_model(tmp_path, tokenizer, data):
    from lexkd.mlm.teachers import Teacher
    from lexkd.utils.runs import NonFiniteTrainingError

    broken = tiny_model(tokenizer, seed=3).eval()
    with torch.no_grad():
        broken.cls.predictions.bias.fill_(float("nan"))  # as a cache of NaN targets would give
    with pytest.raises(NonFiniteTrainingError, match="Non-finite training loss .* at step 1"):
        train_masked_lm(tiny_model(tokenizer), tokenizer, data, tiny_args(tmp_path / "run"),
                        teachers=[Teacher("nan", broken, tokenizer)])
    assert not (tmp_path / "run" / "model").exists() and not list((tmp_path / "run").glob("checkpoint-*"))


def test_a_non_finite_gradient_stops_training_before_the_optimizer_step(tmp_path, tokenizer, data, teachers):
    from lexkd.utils.runs import NonFiniteTrainingError

    student = tiny_model(tokenizer)
    student.bert.embeddings.LayerNorm.weight.register_hook(lambda grad: grad * float("nan"))
    before = student.bert.embeddings.word_embeddings.weight.detach().clone()
    with pytest.raises(NonFiniteTrainingError, match="Non-finite gradient at step 1"):
        train_masked_lm(student, tokenizer, data, tiny_args(tmp_path / "run"), teachers=teachers)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, before)  # the step was not taken
    assert not (tmp_path / "run" / "model").exists()


def test_a_model_with_non_finite_weights_is_never_saved(tmp_path, tokenizer):
    from lexkd.utils.io import NonFiniteModelError, save_model_atomically

    model = tiny_model(tokenizer)
    with torch.no_grad():
        model.bert.encoder.layer[0].output.dense.weight[0, :3] = float("nan")
    with pytest.raises(NonFiniteModelError, match="3 parameter values are NaN or infinite"):
        save_model_atomically(model, tokenizer, tmp_path / "model")
    assert list(tmp_path.iterdir()) == []
