"""The hidden-state term in MultiTeacherDistillationTrainer: identity, accumulation, resume, checkpoints, errors."""

import copy
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import TrainerCallback

from lexkd.data.collators import MaskedLMCollator, mask_once
from lexkd.lexical.lmgc_m import LexicalPretrainingArguments
from lexkd.mlm.data import prepare_mlm_data
from lexkd.mlm.teachers import Teacher
from lexkd.mlm.trainer import (
    HIDDEN_PROJECTORS_NAME,
    DistillationArguments,
    MultiTeacherDistillationTrainer,
)
from lexkd.mlm.training import train_masked_lm
from lexkd.models.masked_lm import MaskedPositionMLM, build_student

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import pretrain_multiteacher  # noqa: E402


def hidden_args(output_dir, **changes):
    values = dict(output_dir=str(output_dir), max_steps=6, per_device_train_batch_size=4, learning_rate=1e-3,
                  logging_steps=2, eval_strategy="no", save_steps=3, report_to="none", use_cpu=True,
                  disable_tqdm=True, seed=7, alpha=0.5, weighting="entropy", temperature=2.0, hidden_loss_weight=0.5)
    values.update(changes)
    return DistillationArguments(**values)


def tiny_model(tokenizer, *, layers=2, width=24, seed=0, dropout=True):
    model = build_student(len(tokenizer), num_hidden_layers=layers, hidden_size=width, num_attention_heads=2, seed=seed)
    if dropout:
        return model
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.0
    without = type(model)(model.config)
    without.load_state_dict(model.state_dict())
    return without


def trainer_for(student, args, teachers=(), **kwargs):
    return MultiTeacherDistillationTrainer(model=MaskedPositionMLM(student), args=args, teachers=teachers, **kwargs)


@pytest.fixture(scope="module")
def data(tokenizer, texts):
    # One text per sequence, none cut: micro-batches of different lengths, padded differently.
    docs = [[t] for t in texts]
    return prepare_mlm_data(docs[:250], docs[250:], tokenizer, max_seq_length=32, line_by_line=True)


@pytest.fixture(scope="module")
def teachers(tokenizer):
    """Two teachers of other widths and depths than the student (24 wide, 2 layers)."""
    return [Teacher("t32", tiny_model(tokenizer, layers=2, width=32, seed=10).eval(), tokenizer),
            Teacher("t48", tiny_model(tokenizer, layers=3, width=48, seed=11).eval(), tokenizer)]


def a_batch(tokenizer, data, size=8):
    batch = MaskedLMCollator(tokenizer, seed=0)([data.train[i] for i in range(size)])
    assert not batch["attention_mask"].all()  # there is padding to leave out
    return batch


def test_the_student_returns_its_hidden_states_from_the_same_forward(tokenizer, data):
    student = MaskedPositionMLM(tiny_model(tokenizer, dropout=False))
    batch = a_batch(tokenizer, data)
    plain = student(**batch)
    outputs = student(**batch, output_hidden_states=True)
    assert plain.keys() == {"logits", "labels"} and "projected_hidden_states" not in outputs  # no projector yet
    torch.testing.assert_close(outputs["logits"], plain["logits"], rtol=0, atol=0)
    own = student.model.bert(batch["input_ids"], attention_mask=batch["attention_mask"],
                             output_hidden_states=True).hidden_states
    assert len(outputs["hidden_states"]) == 3  # embeddings + 2 layers
    for got, want in zip(outputs["hidden_states"], own, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("distance", ["cosine", "mse"])
@pytest.mark.parametrize("layer_map", ["0:0,1:1,2:2", "uniform"])
def test_hidden_term_is_zero_when_the_student_is_its_teacher(tmp_path, tokenizer, data, distance, layer_map):
    student = tiny_model(tokenizer, dropout=False)
    twin = Teacher("twin", copy.deepcopy(student).eval(), tokenizer)
    other = Teacher("other", tiny_model(tokenizer, seed=5, dropout=False).eval(), tokenizer)
    batch = a_batch(tokenizer, data)
    logged = []
    for teacher in (twin, other):
        trainer = trainer_for(student, hidden_args(tmp_path, hidden_distance=distance, hidden_layer_map=layer_map),
                              [teacher])
        (projector,) = trainer.model.hidden_projectors
        assert all(isinstance(m, nn.Identity) for m in projector.maps)  # same width: no learned map
        trainer.model.train()  # no dropout: the student computes what the teacher computes
        trainer.compute_loss(trainer.model, dict(batch))
        logged.append(trainer.window_averages()["hidden_loss"])
    assert logged[0] == pytest.approx(0.0, abs=1e-5)
    assert logged[1] > 1e-3  # another teacher is not matched


def sgd_step(tmp_path, name, tokenizer, rows, teachers, batch, accumulation, **changes):
    student = tiny_model(tokenizer, dropout=False)
    args = hidden_args(tmp_path / name, max_steps=1, per_device_train_batch_size=batch,
                       gradient_accumulation_steps=accumulation, optim="sgd", learning_rate=0.5,
                       lr_scheduler_type="constant", save_strategy="no", max_grad_norm=0.0,
                       train_sampling_strategy="sequential", **changes)
    trainer = trainer_for(student, args, teachers, train_dataset=rows, data_collator=MaskedLMCollator(tokenizer))
    before = copy.deepcopy(trainer.model.hidden_projectors.state_dict())
    trainer.train()
    return student.state_dict(), before, trainer.model.hidden_projectors.state_dict()


@pytest.mark.parametrize("distance", ["cosine", "mse"])
def test_gradient_accumulation_gives_the_same_update_with_the_hidden_term(tmp_path, tokenizer, data, teachers, distance):
    """batch 8 x 1 == batch 4 x 2 accumulated (SGD: Adam would hide a scale error), padding differing per micro-batch."""
    rows = mask_once(data.train, tokenizer, seed=3)
    lengths = [len(ids) for ids in rows["input_ids"]]
    short, long = ([i for i, n in enumerate(lengths) if keep(n)][:4] for keep in (lambda n: n <= 9, lambda n: n >= 15))
    rows = rows.select(short + long)  # in order: micro-batches padded to <= 9 and >= 15 tokens, the whole batch to >= 15
    one, initial, one_projectors = sgd_step(tmp_path, "one", tokenizer, rows, teachers, 8, 1, hidden_distance=distance,
                                            hidden_loss_weight=2.0)
    two, _, two_projectors = sgd_step(tmp_path, "two", tokenizer, rows, teachers, 4, 2, hidden_distance=distance,
                                      hidden_loss_weight=2.0)
    for name, tensor in one.items():
        torch.testing.assert_close(two[name], tensor, atol=1e-6, rtol=0, msg=name)
    for name, tensor in one_projectors.items():
        torch.testing.assert_close(two_projectors[name], tensor, atol=1e-6, rtol=0, msg=name)
        assert not torch.allclose(tensor, initial[name], atol=1e-4), name  # the projectors took the step
    without, _, _ = sgd_step(tmp_path, "without", tokenizer, rows, teachers, 8, 1, hidden_loss_weight=0.0)
    assert not torch.allclose(without["bert.encoder.layer.0.output.dense.weight"],
                              one["bert.encoder.layer.0.output.dense.weight"], atol=1e-6)  # the term moved the student


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, tokenizer, data, teachers):
    """Six steps with the hidden term, checkpoints at 3 and 6: (student, run folder)."""
    run = tmp_path_factory.mktemp("hidden") / "full"
    student = tiny_model(tokenizer)
    train_masked_lm(student, tokenizer, data, hidden_args(run), teachers=teachers)
    return student, run


def test_projectors_train_are_checkpointed_and_stay_out_of_the_final_model(full_run):
    student, run = full_run
    at_3, at_6 = (load_file(run / f"checkpoint-{step}" / HIDDEN_PROJECTORS_NAME) for step in (3, 6))
    # One Linear per pair of each teacher's uniform map (2 student layers -> 2 pairs each).
    assert sorted(at_6) == [f"{k}.maps.{j}.{p}" for k in range(2) for j in range(2) for p in ("bias", "weight")]
    assert at_6["0.maps.0.weight"].shape == (32, 24) and at_6["1.maps.0.weight"].shape == (48, 24)
    assert all(not torch.equal(at_3[name], at_6[name]) for name in at_6)  # trained between the checkpoints
    model_dir = run / "model"
    assert not (model_dir / HIDDEN_PROJECTORS_NAME).exists()
    saved = load_file(model_dir / "model.safetensors")
    assert not [name for name in saved if "hidden_projectors" in name or ".maps." in name]
    assert set(saved) <= set(student.state_dict())  # the final model is the plain student
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_logs = [r for r in records if "loss" in r and "eval_loss" not in r]
    assert train_logs and all(r["hidden_loss"] > 0 for r in train_logs)
    for r in train_logs:  # the logged loss is the logged parts' mix: 0.5 T^2 kd + 0.5 mlm + 0.5 hidden
        assert r["loss"] == pytest.approx(0.5 * 4 * r["kd_loss"] + 0.5 * r["mlm_loss"] + 0.5 * r["hidden_loss"], abs=2e-3)
    assert "| hidden-state term | weight 0.5, cosine distance, layer map uniform" in (model_dir / "README.md").read_text()
    assert "Hidden-state term: weight 0.5" in (run / "report.md").read_text()


def test_resume_reaches_bit_identical_student_and_projectors(tmp_path, tokenizer, data, teachers, full_run,
                                                             monkeypatch):
    full, full_dir = full_run
    import lexkd.mlm.training as training

    original = training.MultiTeacherDistillationTrainer

    class Interrupted(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback(StopAt(3))

    monkeypatch.setattr(training, "MultiTeacherDistillationTrainer", Interrupted)
    train_masked_lm(tiny_model(tokenizer), tokenizer, data, hidden_args(tmp_path / "part"), teachers=teachers)
    monkeypatch.setattr(training, "MultiTeacherDistillationTrainer", original)
    assert (tmp_path / "part" / "checkpoint-3").is_dir() and not (tmp_path / "part" / "checkpoint-6").exists()
    torch.manual_seed(999)  # the RNG state must come from the checkpoint, not from here
    resumed = tiny_model(tokenizer, seed=123)  # weights must come from the checkpoint
    train_masked_lm(resumed, tokenizer, data, hidden_args(tmp_path / "part"), teachers=teachers, resume=True)
    for name, tensor in full.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    full_projectors = load_file(full_dir / "checkpoint-6" / HIDDEN_PROJECTORS_NAME)
    resumed_projectors = load_file(tmp_path / "part" / "checkpoint-6" / HIDDEN_PROJECTORS_NAME)
    assert full_projectors.keys() == resumed_projectors.keys()
    for name, tensor in full_projectors.items():
        assert torch.equal(tensor, resumed_projectors[name]), name


def test_resume_refuses_a_checkpoint_without_or_with_other_projectors(tmp_path, tokenizer, teachers, full_run):
    _, run = full_run
    checkpoint = tmp_path / "checkpoint-3"
    shutil.copytree(run / "checkpoint-3", checkpoint)
    other_map = trainer_for(tiny_model(tokenizer), hidden_args(tmp_path, hidden_layer_map="1:1,2:2"), teachers)
    with pytest.raises(ValueError, match=r"layer maps \[\[\[1, 1\], \[2, 2\]\], \[\[1, 1\], \[2, 3\]\]\].*--hidden_layer_map"):
        other_map._load_from_checkpoint(str(checkpoint))
    (checkpoint / HIDDEN_PROJECTORS_NAME).unlink()
    same = trainer_for(tiny_model(tokenizer), hidden_args(tmp_path), teachers)
    with pytest.raises(FileNotFoundError, match="no hidden_projectors.safetensors"):
        same._load_from_checkpoint(str(checkpoint))


def test_two_teachers_of_other_widths_and_depths_each_train_their_own_projector(tmp_path, tokenizer, data, teachers):
    trainer = trainer_for(tiny_model(tokenizer), hidden_args(tmp_path), teachers)
    projectors = trainer.model.hidden_projectors
    assert [p.layer_map for p in projectors] == [[(1, 1), (2, 2)], [(1, 1), (2, 3)]]  # uniform, per teacher depth
    assert [(m.in_features, m.out_features) for p in projectors for m in p.maps] == [(24, 32)] * 2 + [(24, 48)] * 2
    # The optimizer the trainer makes holds them.
    trainer.create_optimizer()
    held = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert all(id(p) in held for p in projectors.parameters())
    trainer.model.train()
    trainer.compute_loss(trainer.model, dict(a_batch(tokenizer, data))).backward()
    for projector in projectors:
        assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in projector.maps)


def test_cli_lists_the_hidden_state_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        pretrain_multiteacher.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--hidden_loss_weight", "--hidden_distance", "--hidden_layer_map"):
        assert flag in text, flag
    assert "cosine, mse" in text


@pytest.mark.parametrize("change, message", [
    ({"hidden_loss_weight": -0.1}, "--hidden_loss_weight must be finite and >= 0"),
    ({"hidden_loss_weight": float("nan")}, "--hidden_loss_weight must be finite"),
    ({"hidden_loss_weight": float("inf")}, "--hidden_loss_weight must be finite"),
    ({"hidden_distance": "l1"}, "--hidden_distance 'l1'; valid: cosine, mse"),
    ({"hidden_layer_map": "1-2"}, "--hidden_layer_map '1-2' is malformed"),
    ({"hidden_layer_map": "1:2,"}, "malformed at ''"),
    ({"hidden_layer_map": "-1:2"}, "malformed at '-1:2'"),
    ({"hidden_layer_map": "1:x"}, "give 'uniform' or student:teacher pairs"),
])
def test_bad_hidden_arguments(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        hidden_args(tmp_path, **change)


def test_hidden_term_without_online_teachers_is_a_clear_error(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="teacher cache holds none.*--teachers instead of --teacher_cache"):
        trainer_for(tiny_model(tokenizer), hidden_args(tmp_path), cached_teachers=["t0"])
    with pytest.raises(ValueError, match="needs at least one teacher run at every step"):
        trainer_for(tiny_model(tokenizer), hidden_args(tmp_path, alpha=0.0))
    trainer_for(tiny_model(tokenizer), hidden_args(tmp_path, alpha=0.0, hidden_loss_weight=0.0))  # off: no teacher needed
    # The main job refuses the combination before any work.
    argv = ["--output_dir", str(tmp_path / "job"), "--teacher_cache", str(tmp_path / "cache"), "--hidden_loss_weight", "1"]
    with pytest.raises(ValueError, match="teacher cache holds none"):
        pretrain_multiteacher.main(argv)
    assert not (tmp_path / "job").exists()
    with pytest.raises(ValueError, match="not supported by lexical pretraining"):
        LexicalPretrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, hidden_loss_weight=1.0)


def test_a_layer_map_that_does_not_fit_a_teacher_fails_at_construction(tmp_path, tokenizer, teachers):
    deep = tiny_model(tokenizer, layers=3)
    with pytest.raises(ValueError, match=r"teacher 't32' \(2 layers\) and the student \(3 layers\).*student layers \(3\) "
                                         r"<= teacher layers \(2\)"):
        trainer_for(deep, hidden_args(tmp_path), teachers)
    with pytest.raises(ValueError, match=r"teacher 't32' \(2 layers\).*\[\(1, 3\)\] outside .* teacher's 0\.\.2"):
        trainer_for(tiny_model(tokenizer), hidden_args(tmp_path, hidden_layer_map="1:3"), teachers)
    with pytest.raises(ValueError, match=r"\[\(3, 1\)\] outside the student's hidden states 0\.\.2"):
        trainer_for(tiny_model(tokenizer), hidden_args(tmp_path, hidden_layer_map="3:1"), teachers)
    trainer_for(tiny_model(tokenizer), hidden_args(tmp_path, hidden_layer_map="0:0,2:2"), teachers)  # fits both
