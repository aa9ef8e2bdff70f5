"""Task-specific distillation: the loss at alpha 0 and 1, the teacher-logit cache, label-set checks, the run."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import run_named_script, write_glue_fixture
from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

from lexkd.mlm.teachers import combine_teachers
from lexkd.tasks.classification import distillation as task_kd
from lexkd.tasks.classification.distillation import (
    TEACHER_LOGITS,
    TaskDistillationArguments,
    TaskDistillationTrainer,
    TeacherLabelMismatchError,
    teacher_logits,
)
from lexkd.tasks.classification.finetune import finetune_classifier
from lexkd.tasks.glue.data import TASKS

SST2 = TASKS["sst2"]
GOOD = ["the big dog ran", "a big red tree", "the young cat sat", "the big house", "a green tree", "the big river"]
BAD = ["the old dog sat", "a small bank", "the old cat", "a small mat", "the old red house", "a small bird"]


def sst2_data() -> datasets.DatasetDict:
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(SST2.label_names))})
    train = datasets.Dataset.from_dict({"sentence": GOOD + BAD, "label": [1] * 6 + [0] * 6}, features=features)
    return datasets.DatasetDict({"train": train, "validation": train.select(range(0, 12, 3))})


def save_classifier(folder: Path, tokenizer, *, labels=SST2.label_names, seed: int = 0, hidden_size: int = 32) -> str:
    """A tiny BertForSequenceClassification with a (random but saved, so 'trained') head for ``labels``."""
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=2 * hidden_size, max_position_embeddings=64, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # confident, different teachers
        model.classifier.weight.mul_(20.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def teachers(tmp_path_factory, tokenizer) -> list[str]:
    root = tmp_path_factory.mktemp("task-teachers")
    return [save_classifier(root / f"teacher-{i}", tokenizer, seed=i) for i in range(2)]


def trainer_for(tmp_path, tokenizer, **settings) -> TaskDistillationTrainer:
    torch.manual_seed(7)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2)
    args = TrainingArguments(output_dir=str(tmp_path / "run"), report_to="none", use_cpu=True, save_strategy="no")
    kd = TaskDistillationArguments(teacher=["a", "b"], **settings)
    model = BertForSequenceClassification(config).eval()  # no dropout: the identities are exact
    return TaskDistillationTrainer(model=model, args=args, distillation=kd, teacher_labels=["a", "b"])


def batch(tokenizer, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    encoded = tokenizer(GOOD[:3] + BAD[:3], padding=True, return_tensors="pt")
    return {**encoded, "labels": torch.tensor([1, 1, 1, 0, 0, 0]),
            TEACHER_LOGITS: 3 * torch.randn(6, 2, 2, generator=generator)}  # (B, K, C)


def test_task_kd_loss_is_the_cross_entropy_at_alpha_zero(tmp_path, tokenizer):
    trainer = trainer_for(tmp_path, tokenizer, alpha=0.0, temperature=2.0)
    inputs = batch(tokenizer)
    loss = trainer.compute_loss(trainer.model, dict(inputs))
    logits = trainer.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    torch.testing.assert_close(loss, F.cross_entropy(logits, inputs["labels"]))


@pytest.mark.parametrize("weighting", ["entropy", "gold_prob"])
def test_task_kd_loss_is_the_weighted_teacher_kl_at_alpha_one(tmp_path, tokenizer, weighting):
    temperature = 2.0
    trainer = trainer_for(tmp_path, tokenizer, alpha=1.0, temperature=temperature, weighting=weighting)
    inputs = batch(tokenizer)
    loss = trainer.compute_loss(trainer.model, dict(inputs))
    student = trainer.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    teacher = inputs[TEACHER_LOGITS].transpose(0, 1)  # (K, B, C)
    own = teacher.softmax(-1)  # the weights come from the teachers' untempered confidence
    if weighting == "entropy":
        scores = (own * own.log()).sum(-1)
    else:
        scores = own.gather(-1, inputs["labels"].view(1, -1, 1).expand(2, -1, 1)).squeeze(-1)
    weights = scores.softmax(0)  # (K, B)
    target = (weights.unsqueeze(-1) * (teacher / temperature).softmax(-1)).sum(0)  # (B, C)
    kl = (target * (target.log() - F.log_softmax(student / temperature, -1))).sum(-1).mean()
    torch.testing.assert_close(loss, temperature**2 * kl)
    # the same two functions as the MLM side, with N = batch and V = classes
    q, _ = combine_teachers(teacher, rule=weighting, temperature=temperature, labels=inputs["labels"])
    torch.testing.assert_close(q, target)


def test_gradient_accumulation_gives_the_update_of_the_whole_batch(tmp_path, tokenizer):
    inputs = batch(tokenizer)
    whole = trainer_for(tmp_path, tokenizer, alpha=0.5)
    whole.compute_loss(whole.model, dict(inputs), num_items_in_batch=torch.tensor(6)).backward()
    split = trainer_for(tmp_path, tokenizer, alpha=0.5)
    for part in (slice(0, 2), slice(2, 6)):
        split.compute_loss(split.model, {k: v[part] for k, v in inputs.items()}, num_items_in_batch=torch.tensor(6)).backward()
    for (name, a), (_, b) in zip(whole.model.named_parameters(), split.model.named_parameters(), strict=True):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-4, msg=name)


def test_teacher_logits_are_cached_and_reused_not_recomputed(tmp_path, tokenizer, teachers, monkeypatch):
    train = sst2_data()["train"]
    first, records = teacher_logits(teachers, train, SST2, max_seq_length=32, cache_dir=tmp_path / "cache")
    assert first.shape == (12, 2, 2) and not any(r["reused"] for r in records)
    assert not np.allclose(first[:, 0], first[:, 1])  # two different teachers, one column each
    calls = []
    real = task_kd._logits
    monkeypatch.setattr(task_kd, "_logits", lambda *a, **k: calls.append(a) or real(*a, **k))
    again, records = teacher_logits(teachers, train, SST2, max_seq_length=32, cache_dir=tmp_path / "cache")
    assert calls == [] and all(r["reused"] for r in records)
    np.testing.assert_array_equal(again, first)
    # other texts (a subsample) or another max_seq_length: another key, computed
    teacher_logits(teachers[:1], train.select(range(6)), SST2, max_seq_length=32, cache_dir=tmp_path / "cache")
    teacher_logits(teachers[:1], train, SST2, max_seq_length=16, cache_dir=tmp_path / "cache")
    assert len(calls) == 2
    assert len(list((tmp_path / "cache").iterdir())) == 4


def test_a_teacher_for_another_label_set_is_refused(tmp_path, tokenizer):
    three = save_classifier(tmp_path / "three", tokenizer, labels=("a", "b", "c"))
    renamed = save_classifier(tmp_path / "renamed", tokenizer, labels=("not_equivalent", "equivalent"))
    train = sst2_data()["train"]
    with pytest.raises(TeacherLabelMismatchError, match=r"3 labels \(a, b, c\).*'sst2' has 2: negative, positive"):
        teacher_logits([three], train, SST2, cache_dir=tmp_path / "cache")
    with pytest.raises(TeacherLabelMismatchError, match="not_equivalent, equivalent"):
        teacher_logits([renamed], train, SST2, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_teacher_without_a_fine_tuned_head_is_refused(tmp_path, tokenizer, student_checkpoint):
    with pytest.raises(TeacherLabelMismatchError, match="no fine-tuned classification head"):
        teacher_logits([str(student_checkpoint)], sst2_data()["train"], SST2, cache_dir=tmp_path / "cache")


def test_bad_distillation_settings_and_regression_are_clear_errors(tmp_path, tokenizer, teachers):
    for change, message in (({"alpha": 1.5}, "--alpha must be in"), ({"temperature": float("inf")}, "--temperature"),
                            ({"weighting": "loudest"}, "Unknown weighting rule")):
        with pytest.raises(ValueError, match=message):
            TaskDistillationArguments(teacher=teachers, **change)
    stsb = datasets.Dataset.from_dict({"sentence1": GOOD, "sentence2": BAD, "label": [1.0] * 6})
    with pytest.raises(ValueError, match="regression task"):
        teacher_logits(teachers, stsb, TASKS["stsb"], cache_dir=tmp_path / "cache")


def test_distilled_fine_tuning_runs_logs_and_records_the_teachers(tmp_path, tokenizer, teachers, student_checkpoint):
    data = sst2_data()
    args = TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=3, per_device_train_batch_size=4,
                             learning_rate=1e-3, logging_steps=1, report_to="none", save_strategy="no", use_cpu=True,
                             disable_tqdm=True)
    kd = TaskDistillationArguments(teacher=teachers, alpha=0.7, temperature=2.0,
                                   teacher_logits_dir=str(tmp_path / "cache"))
    result = finetune_classifier(str(student_checkpoint), data, "sst2", args, max_seq_length=32, distillation=kd)
    record = result.details["distillation"]
    assert record["teachers"] == teachers and record["alpha"] == 0.7
    assert sum(record["mean_teacher_weights"].values()) == pytest.approx(1.0, abs=1e-3)
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in logs if "kd_loss" in r]
    assert len(steps) == 3 and all({"mlm_loss", "teacher_weight/teacher-0", "teacher_weight/teacher-1"} <= set(r)
                                   for r in steps)
    # the logged loss is the mix of its logged parts: alpha T^2 KD + (1 - alpha) CE
    for r in steps:
        assert r["loss"] == pytest.approx(0.7 * 4 * r["kd_loss"] + 0.3 * r["mlm_loss"], rel=1e-3)
    # the student starts where plain fine-tuning starts: same seed, same first gold cross-entropy
    plain = TrainingArguments(**{**args.to_dict(), "output_dir": str(tmp_path / "plain")})
    finetune_classifier(str(student_checkpoint), data, "sst2", plain, max_seq_length=32,
                        distillation=TaskDistillationArguments(teacher=teachers, alpha=0.0,
                                                               teacher_logits_dir=str(tmp_path / "cache")))
    zero = json.loads((tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()[0])
    assert zero["mlm_loss"] == pytest.approx(steps[0]["mlm_loss"], rel=1e-5)


def test_script_distils_from_a_teacher_and_labels_the_row(tmp_path, tokenizer, teachers, student_checkpoint, capsys):
    glue = write_glue_fixture(tmp_path / "glue")
    sst2_teachers = teachers
    code = run_named_script("finetune_glue", [
        "--task", "sst2", "--model", str(student_checkpoint), "--data", str(glue), "--teacher", *sst2_teachers,
        "--alpha", "0.5", "--max_steps", "2", "--max_train_examples", "16", "--max_eval_examples", "8",
        "--teacher_logits_dir", str(tmp_path / "cache"), "--results_root", str(tmp_path / "results"),
        "--output_dir", str(tmp_path / "runs" / "{label}"), "--max_seq_length", "32"])
    assert code == 0, capsys.readouterr().err
    table = (tmp_path / "results" / "sst2" / "results.md").read_text()
    assert "student+kd-teacher-0+teacher-1" in table
    metrics = json.loads(next((tmp_path / "runs").glob("*/metrics.json")).read_text())
    assert metrics["settings"]["distillation"]["teachers"] == sst2_teachers
    code = run_named_script("finetune_glue", ["--task", "sst2", "--model", "tfidf-logreg", "--data", str(glue),
                                              "--teacher", *sst2_teachers])
    assert code != 0 and "is a baseline that trains no network" in capsys.readouterr().err


def transfer_batch(tokenizer) -> dict:
    inputs = batch(tokenizer)
    inputs["labels"] = torch.tensor([1, 1, -100, 0, 0, -100])  # rows 2 and 5: transfer rows, no gold label
    return inputs


def test_transfer_rows_count_in_the_kd_term_only(tmp_path, tokenizer):
    """KD averaged over all 6 rows, the gold cross-entropy over the 4 labelled ones (Hinton et al.'s transfer set)."""
    alpha, temperature = 0.4, 2.0
    trainer = trainer_for(tmp_path, tokenizer, alpha=alpha, temperature=temperature)
    inputs = transfer_batch(tokenizer)
    trainer._rows_in_batch = torch.tensor(6)
    loss = trainer.compute_loss(trainer.model, dict(inputs), num_items_in_batch=torch.tensor(4))
    student = trainer.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    target, _ = combine_teachers(inputs[TEACHER_LOGITS].transpose(0, 1), rule="entropy", temperature=temperature)
    kl = (target * (target.log() - F.log_softmax(student / temperature, -1))).sum(-1).mean()  # over 6 rows
    gold = inputs["labels"] != -100
    ce = F.cross_entropy(student[gold], inputs["labels"][gold])  # over 4 rows
    torch.testing.assert_close(loss, alpha * temperature**2 * kl + (1 - alpha) * ce)


def test_transfer_rows_keep_gradient_accumulation_invariance(tmp_path, tokenizer):
    inputs = transfer_batch(tokenizer)
    whole = trainer_for(tmp_path, tokenizer, alpha=0.5)
    whole._rows_in_batch = torch.tensor(6)
    whole.compute_loss(whole.model, dict(inputs), num_items_in_batch=torch.tensor(4)).backward()
    split = trainer_for(tmp_path, tokenizer, alpha=0.5)
    split._rows_in_batch = torch.tensor(6)
    for part in (slice(0, 3), slice(3, 6)):  # both halves hold a transfer row
        split.compute_loss(split.model, {k: v[part] for k, v in inputs.items()},
                           num_items_in_batch=torch.tensor(4)).backward()
    for (name, a), (_, b) in zip(whole.model.named_parameters(), split.model.named_parameters(), strict=True):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-4, msg=name)


def test_subsample_draws_a_disjoint_unlabelled_transfer_set():
    from lexkd.data.sampling import TRANSFER_SPLIT, subsample

    data = sst2_data()
    out = subsample(data, max_train_examples=5, seed=3, transfer_examples=4)
    assert len(out["train"]) == 5 and len(out[TRANSFER_SPLIT]) == 4
    assert "label" not in out[TRANSFER_SPLIT].column_names
    assert not set(out["train"]["sentence"]) & set(out[TRANSFER_SPLIT]["sentence"])
    assert out["train"]["sentence"] == subsample(data, max_train_examples=5, seed=3)["train"]["sentence"]
    with pytest.raises(ValueError, match="12 rows, so 7 are left"):
        subsample(data, max_train_examples=5, transfer_examples=8)
    with pytest.raises(ValueError, match="--max_train_examples"):
        subsample(data, transfer_examples=2)


def test_transfer_settings_are_checked(teachers):
    with pytest.raises(ValueError, match="needs --teacher"):
        TaskDistillationArguments(transfer_examples=4)
    with pytest.raises(ValueError, match="gold_prob"):
        TaskDistillationArguments(teacher=teachers, transfer_examples=4, weighting="gold_prob")
    with pytest.raises(ValueError, match=">= 0"):
        TaskDistillationArguments(teacher=teachers, transfer_examples=-1)


def test_fine_tuning_with_a_transfer_set(tmp_path, tokenizer, teachers, student_checkpoint):
    from lexkd.data.sampling import subsample

    data = subsample(sst2_data(), max_train_examples=6, seed=0, transfer_examples=4)
    args = TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=3, per_device_train_batch_size=5,
                             learning_rate=1e-3, logging_steps=1, report_to="none", save_strategy="no", use_cpu=True,
                             disable_tqdm=True)
    kd = TaskDistillationArguments(teacher=teachers, alpha=0.5, temperature=2.0, transfer_examples=4,
                                   teacher_logits_dir=str(tmp_path / "cache"))
    result = finetune_classifier(str(student_checkpoint), data, "sst2", args, max_seq_length=32, distillation=kd)
    assert result.train_examples == 6 and result.details["transfer_examples"] == 4
    assert list(result.metrics) == ["validation"]  # the transfer set is not an evaluation split
    keys = [json.loads((d / "key.json").read_text()) for d in (tmp_path / "cache").iterdir()]
    assert {k["rows"] for k in keys} == {10}  # the teachers labelled gold and transfer rows
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in logs if "kd_loss" in r)
    with pytest.raises(ValueError, match="no --teacher labels it"):
        finetune_classifier(str(student_checkpoint), data, "sst2", args, max_seq_length=32)


def test_script_labels_a_transfer_run_apart(tmp_path, teachers, student_checkpoint, capsys):
    glue = write_glue_fixture(tmp_path / "glue")
    common = ["--task", "sst2", "--model", str(student_checkpoint), "--data", str(glue), "--teacher", *teachers,
              "--max_steps", "2", "--max_train_examples", "2", "--max_eval_examples", "8",
              "--teacher_logits_dir", str(tmp_path / "cache"), "--results_root", str(tmp_path / "results"),
              "--output_dir", str(tmp_path / "runs" / "{label}"), "--max_seq_length", "32"]
    assert run_named_script("finetune_glue", [*common, "--transfer_examples", "1"]) == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "runs" / "student+kd-teacher-0+teacher-1+transfer1" / "metrics.json").read_text())
    assert metrics["train_examples"] == 2 and metrics["details"]["transfer_examples"] == 1
    assert metrics["settings"]["distillation"]["transfer_examples"] == 1


def test_a_gold_only_micro_batch_of_a_transfer_batch_divides_kd_by_all_rows(tmp_path, tokenizer):
    inputs = transfer_batch(tokenizer)
    whole = trainer_for(tmp_path, tokenizer, alpha=0.5)
    whole._rows_in_batch = torch.tensor(6)
    whole.compute_loss(whole.model, dict(inputs), num_items_in_batch=torch.tensor(4)).backward()
    split = trainer_for(tmp_path, tokenizer, alpha=0.5)
    split._rows_in_batch = torch.tensor(6)
    for part in ([0, 1, 3, 4], [2, 5]):  # gold rows alone, then transfer rows alone
        split.compute_loss(split.model, {k: v[part] for k, v in inputs.items()},
                           num_items_in_batch=torch.tensor(4)).backward()
    for (name, a), (_, b) in zip(whole.model.named_parameters(), split.model.named_parameters(), strict=True):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-4, msg=name)
