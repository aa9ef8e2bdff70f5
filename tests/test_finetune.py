"""Fine-tuning from a BertForPreTraining checkpoint, classic runs, outputs and the script (tiny models built here)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
import huggingface_hub.constants
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import run_named_script, write_glue_fixture
from matplotlib.colors import to_hex
from PIL import Image
from sklearn.metrics import accuracy_score
from transformers import BertForPreTraining, TrainingArguments

from lexkd.data.sampling import subsample
from lexkd.tasks.classification.finetune import (
    evaluate_classic,
    finetune_classifier,
    load_classifier,
    resolve_task,
    task_from_columns,
    tokenize_dataset,
    write_run_outputs,
)
from lexkd.tasks.classification.spec import TaskSpec
from lexkd.tasks.glue.data import TASKS
from lexkd.utils import reporting
from lexkd.utils.hub import hub_load_error, model_label
from lexkd.utils.reporting import (
    ROLE_COLOURS,
    plot_results,
    results_figure,
    row_role,
    update_results_table,
)

GOOD = ["the big dog ran", "a big red tree", "the young cat sat", "the big house", "a green tree", "the big river"]
BAD = ["the old dog sat", "a small bank", "the old cat", "a small mat", "the old red house", "a small bird"]
# Held out: none of these is in GOOD + BAD; 'big' (positive) and 'old'/'small' (negative) still separate them.
HELD_OUT_GOOD = ["big bird", "a big mat", "big big cat"]
HELD_OUT_BAD = ["old bird", "a small river", "small small tree"]


def single_data() -> datasets.DatasetDict:
    spec = TASKS["sst2"]
    features = datasets.Features({"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=list(
        spec.label_names))})
    rows = {"sentence": GOOD + BAD, "label": [1] * 6 + [0] * 6}
    held_out = {"sentence": HELD_OUT_GOOD + HELD_OUT_BAD, "label": [1] * 3 + [0] * 3}
    return datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=features),
                                 "validation": datasets.Dataset.from_dict(held_out, features=features)})


def tsv_accuracy(path: Path, split: str = "validation") -> float:
    """scikit-learn's accuracy of the gold and predicted labels written in ``predictions.tsv``."""
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["split"] == split]
    assert rows, f"no {split} rows in {path}"
    return accuracy_score([r["label"] for r in rows], [r["prediction"] for r in rows])


def pair_data(labels, dtype="int64", splits=("validation",)) -> datasets.DatasetDict:
    rows = {"sentence1": GOOD + BAD, "sentence2": BAD + GOOD, "label": list(labels)}
    dataset = datasets.Dataset.from_dict(rows).cast_column("label", datasets.Value(dtype))
    return datasets.DatasetDict({"train": dataset, **{split: dataset.select(range(4)) for split in splits}})


def training_args(tmp_path, **changes) -> TrainingArguments:
    values = {"output_dir": str(tmp_path / "run"), "max_steps": 2, "per_device_train_batch_size": 4,
              "learning_rate": 1e-3, "report_to": "none", "save_strategy": "no", "use_cpu": True,
              "disable_tqdm": True, **changes}
    return TrainingArguments(**values)


def test_classifier_from_a_pretraining_checkpoint_keeps_encoder_and_pooler(student_checkpoint):
    original = BertForPreTraining.from_pretrained(student_checkpoint)
    model = load_classifier(str(student_checkpoint), "mnli")
    assert torch.equal(model.bert.pooler.dense.weight, original.bert.pooler.dense.weight)
    assert torch.equal(model.bert.encoder.layer[1].output.dense.weight,
                       original.bert.encoder.layer[1].output.dense.weight)
    assert model.classifier.weight.shape == (3, 32) and model.config.id2label[1] == "neutral"
    _, new_weights = load_classifier(str(student_checkpoint), "sst2", with_new_weights=True)
    assert new_weights == ["classifier.bias", "classifier.weight"]  # the pooler is not new
    regressor = load_classifier(str(student_checkpoint), "stsb")
    assert regressor.config.problem_type == "regression" and regressor.classifier.weight.shape == (1, 32)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_classifier(str(tmp_path / "no" / "model"), "sst2")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_classifier(str(tmp_path / "empty"), "sst2")


def test_pairs_are_tokenized_as_pairs_and_truncated(tokenizer):
    assert "token_type_ids" not in tokenizer("the cat", "a dog")  # lexkd's WordPiece tokenizers leave them out
    encoded = tokenize_dataset(pair_data([0, 1] * 6), tokenizer, TASKS["rte"], max_seq_length=8, segment_ids=True)
    first = encoded["train"][0]
    assert set(first) == {"input_ids", "token_type_ids", "attention_mask", "label"}
    assert 1 in first["token_type_ids"] and first["input_ids"].count(tokenizer.sep_token_id) == 2
    assert max(len(ids) for ids in encoded["train"]["input_ids"]) <= 8
    single = tokenize_dataset(single_data(), tokenizer, TASKS["sst2"], segment_ids=True)["train"][0]
    assert set(single["token_type_ids"]) == {0}


def test_finetune_classifier_trains_and_evaluates_every_split(student_checkpoint, tmp_path):
    data = pair_data([0, 1, 2] * 4, splits=("validation", "validation_mismatched"))
    spec = TaskSpec("nli", ("sentence1", "sentence2"), TASKS["mnli"].label_names, ("accuracy",))
    result = finetune_classifier(str(student_checkpoint), data, spec, training_args(tmp_path), save_model=True)
    assert result.kind == "fine-tuned" and result.details["steps"] == 2 and result.train_examples == 12
    assert result.details["segment_ids"]  # BERT gets segment ids for pairs
    assert set(result.metrics) == {"validation", "validation_mismatched"}
    assert result.predictions["validation"].shape == (4,) and set(result.predictions["validation"]) <= {0, 1, 2}
    expected = np.mean(result.predictions["validation"] == np.array([0, 1, 2, 0]))
    assert result.metrics["validation"]["accuracy"] == pytest.approx(expected)
    assert (tmp_path / "run" / "model" / "config.json").is_file()
    assert (tmp_path / "run" / "metrics.jsonl").is_file()


def test_finetune_regression_and_columns_only(student_checkpoint, tmp_path):
    data = pair_data(np.linspace(0, 5, 12), dtype="float32")
    result = finetune_classifier(str(student_checkpoint), data, ["sentence1", "sentence2"], training_args(tmp_path))
    assert result.task.is_regression and set(result.metrics["validation"]) == {"pearson", "spearman"}
    assert result.predictions["validation"].dtype.kind == "f"
    with pytest.raises(ValueError, match="max_seq_length 256 exceeds the model's 128 position embeddings"):
        finetune_classifier(str(student_checkpoint), data, "stsb", training_args(tmp_path), max_seq_length=256)


def test_task_from_columns_and_resolve_task():
    assert task_from_columns(["text"], datasets.Dataset.from_dict({"text": ["a"], "label": [2]})).label_names == (
        "0", "1", "2")
    assert task_from_columns(["text"], datasets.Dataset.from_dict({"text": ["a"], "label": [0.5]})).is_regression
    with pytest.raises(ValueError, match="lacks column"):
        resolve_task("sst2", pair_data([0, 1] * 6))


def test_classic_run_and_outputs(tmp_path):
    data = single_data()
    assert not set(data["validation"]["sentence"]) & set(data["train"]["sentence"])  # a held-out split
    result = evaluate_classic("tfidf-logreg", data, "sst2")
    assert result.kind == "classic"
    report = write_run_outputs(result, data, tmp_path / "out", results_root=tmp_path / "results", data="toy",
                               command="python x", wall_time_s=1.5)
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    accuracy = saved["metrics"]["validation"]["accuracy"]
    assert accuracy == pytest.approx(tsv_accuracy(tmp_path / "out" / "predictions.tsv"))
    assert accuracy == 1.0  # generalises on the separable toy task (word 'big' vs 'old'/'small')
    assert saved == json.loads(json.dumps(report))
    assert saved["model"] == "tfidf-logreg" and saved["task"] == "sst2" and saved["command"] == "python x"
    assert saved["train_examples"] == 12 and saved["eval_examples"] == {"validation": 6} and saved["wall_time_s"] == 1.5
    lines = (tmp_path / "out" / "predictions.tsv").read_text().splitlines()
    assert lines[0] == "split\tindex\tlabel\tprediction\tsentence" and len(lines) == 7
    assert lines[1] == "validation\t0\tpositive\tpositive\tbig bird"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary files left


def test_classic_metrics_are_computed_on_the_evaluated_split_labels():
    data = single_data()
    flipped = data["validation"].map(lambda row: {"label": 1 - row["label"]})  # the same texts, labels swapped
    result = evaluate_classic("tfidf-logreg", datasets.DatasetDict(train=data["train"], validation=data["validation"],
                                                                   test=flipped), "sst2")
    assert list(result.predictions["test"]) == list(result.predictions["validation"])
    assert (result.metrics["validation"]["accuracy"], result.metrics["test"]["accuracy"]) == (1.0, 0.0)


def row(model, value, data="local", train=100, kind="classic"):
    return {"task": "rte", "model": model, "kind": kind, "data": data, "train_examples": train,
            "primary_metric": "accuracy", "metrics": {"validation": {"accuracy": value}}, "train_time_s": 1.0,
            "wall_time_s": 2.0, "date": "2026-01-01T00:00:00+00:00"}


def test_results_table_compares_models_and_replaces_a_rerun(tmp_path, monkeypatch):
    drawn = []
    figure = reporting.results_figure
    monkeypatch.setattr(reporting, "results_figure", lambda rows, title="": drawn.append((rows, title)) or figure(
        rows, title))
    update_results_table(tmp_path, row("student", 0.55))
    update_results_table(tmp_path, {**row("tfidf-logreg", 0.60), "eval_examples": {"validation": 1218, "test": 5}})
    update_results_table(tmp_path, {**row("student", 0.58, train=50), "eval_examples": 1000})  # its own row
    rows = update_results_table(tmp_path, row("student", 0.65))  # same model, data, size: replaced
    assert [(r["model"], r["train_examples"], r["metrics"]["validation"]["accuracy"]) for r in rows] == [
        ("tfidf-logreg", 100, 0.60), ("student", 50, 0.58), ("student", 100, 0.65)]
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3
    table = [line for line in (tmp_path / "results.md").read_text().splitlines() if line.startswith("| ")]
    assert table[0].startswith("| model | kind | data | train examples | eval examples | validation accuracy |")
    assert [line.split(" | ")[0] for line in table[1:]] == ["| student", "| tfidf-logreg", "| student"]  # best first
    assert [line.split(" | ")[4] for line in table[1:]] == ["-", "validation 1,218, test 5", "1,000"]
    assert "0.6500" in table[1]
    assert len(drawn) == 4 and drawn[-1] == (rows, "rte: results")  # the chart is redrawn from every row
    with Image.open(tmp_path / "results.png") as image:
        assert image.format == "PNG"


def test_results_chart_has_one_bar_per_row_best_on_top_coloured_by_role():
    rows = [row("copy-baseline", 0.20, kind="baseline"), row("tfidf-svm", 0.50), row("failed", float("nan")),
            row("teacher", 0.90, kind="teacher (sft)"), row("student", 0.70, kind="student (f_distill)"),
            row("bert", 0.60, kind="fine-tuned")]
    assert [row_role(r["kind"]) for r in rows] == ["baseline", "baseline", "baseline", "teacher", "model", "model"]
    fig = results_figure(rows, title="rte: results")
    try:
        (ax,) = fig.axes
        bars = ax.patches
        assert [b.get_width() for b in bars] == pytest.approx([0.20, 0.50, 0.60, 0.70, 0.90])  # no bar for nan
        assert [b.get_y() + b.get_height() / 2 for b in bars] == pytest.approx([0, 1, 2, 3, 4])  # bottom to top
        assert [t.get_text() for t in ax.get_yticklabels()] == ["copy-baseline", "tfidf-svm", "bert", "student",
                                                                 "teacher"]
        roles = ["baseline", "baseline", "model", "model", "teacher"]
        assert [to_hex(b.get_facecolor()) for b in bars] == [to_hex(ROLE_COLOURS[r]) for r in roles]
        assert ax.get_xlabel() == "validation accuracy" and ax.get_title() == "rte: results"
    finally:
        plt.close(fig)


def test_results_plot_needs_a_finite_metric(tmp_path):
    nan_row = row("student", float("nan"))
    with pytest.raises(ValueError, match="finite primary metric"):
        plot_results([nan_row], tmp_path / "r.png")
    update_results_table(tmp_path, nan_row)  # a table of failed runs is still written, without a chart
    assert (tmp_path / "results.md").is_file() and not (tmp_path / "results.png").exists()


def test_subsample_and_model_label():
    data = single_data()
    small = subsample(data, max_train_examples=5, max_eval_examples=2, seed=3)
    assert (len(small["train"]), len(small["validation"])) == (5, 2)
    assert small["train"]["sentence"] == subsample(data, max_train_examples=5, seed=3)["train"]["sentence"]
    assert subsample(data, max_train_examples=100)["train"]["sentence"] == data["train"]["sentence"]
    assert model_label("runs/quickstart/student-distilled/model") == "student-distilled"
    assert model_label("runs/quickstart/teachers/teacher-large") == "teacher-large"
    assert model_label("bert-base-uncased") == "bert-base-uncased" and model_label("tfidf-svm") == "tfidf-svm"


def test_one_model_label_rule_for_tables_teachers_and_seq2seq(tmp_path):
    from lexkd.mlm.teachers import Teacher
    from lexkd.seq2seq.job import eval_only_label

    (tmp_path / "teacher-abc" / "model").mkdir(parents=True)
    cases = {"runs/quickstart/student-distilled/model": "student-distilled",
             "runs/quickstart/teachers/teacher-large": "teacher-large", f"{tmp_path}/teacher-abc/model/": "teacher-abc",
             "bert-base-uncased": "bert-base-uncased", "google/t5-small": "google/t5-small"}
    for name, label in cases.items():
        assert model_label(name) == label
        assert Teacher(name, None, None).label == label
        assert eval_only_label(name) == label.replace("/", "--")


def test_hub_load_error_names_the_model_the_reason_and_the_fix():
    error = hub_load_error("org/x", OSError("offline mode\nmore detail"), role="teacher 'x'")
    assert isinstance(error, OSError) and str(error) == (
        "Could not load the teacher 'x' 'org/x': it is not a local folder and the hub did not serve it "
        "(OSError: offline mode). Give a local path, or check the id and network.")
    assert "(ValueError: )" in str(hub_load_error("org/x", ValueError("")))  # an empty message is no IndexError


def _loaders():
    from lexkd.models.masked_lm import load_masked_lm
    from lexkd.models.seq2seq import load_seq2seq
    from lexkd.tasks.classification.finetune import load_tokenizer
    from lexkd.tasks.wsd.lmgc import load_lmgc_model

    return {"classifier": lambda name: load_classifier(name, "sst2"), "tokenizer": load_tokenizer,
            "masked LM": load_masked_lm, "seq2seq": load_seq2seq, "LMGC": load_lmgc_model}


@pytest.mark.parametrize("loader", ["classifier", "tokenizer", "masked LM", "seq2seq", "LMGC"])
def test_every_loader_gives_the_one_hub_error(loader, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # fail fast, no network wait
    with pytest.raises(OSError, match=r"^Could not load the model 'lexkd-test-org/no-such-model': it is not a local "
                                      r"folder and the hub did not serve it \(\w+: .*\)\. Give a local path"):
        _loaders()[loader]("lexkd-test-org/no-such-model")


# --------------------------------------------------------------------------- the script


def run_script(argv):
    return run_named_script("finetune_glue", argv)


def test_script_runs_the_baseline_and_a_checkpoint_on_a_local_preset(student_checkpoint, tmp_path, capsys):
    glue = write_glue_fixture(tmp_path / "glue")
    common = ["--task", "rte", "--data", str(glue), "--results_root", str(tmp_path / "results"),
              "--output_dir", str(tmp_path / "runs" / "{task}" / "{label}")]
    assert run_script(common + ["--model", "tfidf-logreg"]) == 0
    assert run_script(common + ["--model", str(student_checkpoint), "--max_steps", "1", "--use_cpu", "true"]) == 0
    printed = capsys.readouterr().out
    assert '"model": "student"' in printed
    metrics = json.loads((tmp_path / "runs" / "rte" / "student" / "metrics.json").read_text())
    assert metrics["kind"] == "fine-tuned" and metrics["data"] == f"local: {glue}"
    assert metrics["settings"]["max_steps"] == 1 and metrics["command"].startswith("python scripts/finetune_glue.py")
    rows = [json.loads(line) for line in (tmp_path / "results" / "rte" / "results.jsonl").read_text().splitlines()]
    assert [r["model"] for r in rows] == ["tfidf-logreg", "student"]


def write_user_files(tmp_path):
    """A training CSV (``text,polarity``) and a held-out TSV with another header (``review<TAB>gold``)."""
    (tmp_path / "train.csv").write_text("text,polarity\n" + "".join(
        f"{t},{y}\n" for t, y in zip(GOOD + BAD, ["positive"] * 6 + ["negative"] * 6, strict=True)))
    (tmp_path / "dev.tsv").write_text("review\tgold\n" + "".join(
        f"{t}\t{y}\n" for t, y in zip(HELD_OUT_GOOD + HELD_OUT_BAD, [1, 1, 1, 0, 0, 0], strict=True)))
    return ["--task", "sst2", "--model", "tfidf-svm", "--train_file", str(tmp_path / "train.csv"),
            "--validation_file", str(tmp_path / "dev.tsv"), "--columns", "sentence=text,label=polarity",
            "--results_root", str(tmp_path / "results"), "--output_dir", str(tmp_path / "out")]


def test_script_with_user_files(tmp_path):
    argv = write_user_files(tmp_path) + ["--validation_columns", "sentence=review,label=gold"]
    assert run_script(argv) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["eval_examples"] == {"validation": 6}
    assert metrics["metrics"]["validation"]["accuracy"] == pytest.approx(tsv_accuracy(tmp_path / "out" / "predictions.tsv"))
    assert metrics["metrics"]["validation"]["accuracy"] == 1.0  # held out, separable (see HELD_OUT_GOOD)


def test_script_validation_file_with_another_header_needs_validation_columns(tmp_path, capsys):
    assert run_script(write_user_files(tmp_path)) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: {tmp_path / 'dev.tsv'}, line 2: missing column(s) 'sentence' (from 'text')")
    assert "give --validation_columns" in error and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--task", "sst5", "--model", "tfidf-logreg"], "Unknown task 'sst5'; valid tasks: cola, sst2"),
    (["--task", "rte", "--model", "tfidf-lr"], "Unknown classic baseline 'tfidf-lr'"),
    (["--task", "rte", "--model", "./no/such/model"], "does not exist"),
    (["--task", "rte", "--model", "tfidf-svm", "--train_file", "x.tsv"], "both a train file and a validation file"),
])
def test_script_bad_input_is_one_clear_line(argv, message, capsys):
    assert run_script(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("error: ") and message in error[-1]


def test_custom_task_spec_works_with_classic(tmp_path):
    spec = TaskSpec("toy", ("sentence1", "sentence2"), ("different", "same"), ("macro_f1", "accuracy"))
    result = evaluate_classic("tfidf-svm", pair_data([0, 1] * 6), spec)
    assert list(result.metrics["validation"]) == ["macro_f1", "accuracy"]


def test_parameters_are_reported_with_and_without_embeddings(student_checkpoint, tmp_path):
    from lexkd.models.masked_lm import count_parameters

    model = load_classifier(str(student_checkpoint), "sst2")
    embedding = model.bert.embeddings
    in_embeddings = sum(p.numel() for p in embedding.parameters())
    assert count_parameters(model) - count_parameters(model, embeddings=False) == in_embeddings > 0
    tied = BertForPreTraining.from_pretrained(student_checkpoint)  # decoder tied to the word embeddings
    assert count_parameters(tied) == sum(p.numel() for p in {id(p): p for p in tied.parameters()}.values())
    result = finetune_classifier(str(student_checkpoint), single_data(), "sst2", training_args(tmp_path))
    row = write_run_outputs(result, single_data(), tmp_path / "out", results_root=tmp_path / "results")
    assert row["parameters"] == count_parameters(model) and row["train_cpu_s"] > 0
    table = (tmp_path / "results" / "sst2" / "results.md").read_text()
    millions = f"{row['parameters'] / 1e6:.1f}M ({row['parameters_without_embeddings'] / 1e6:.1f}M)"
    assert "parameters (without embeddings)" in table and millions in table
