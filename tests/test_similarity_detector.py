"""The embedding-similarity detector (--model cosine:PATH): threshold tuning, pooling, runs and bad input."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
from conftest import run_named_script, write_glue_fixture
from transformers import T5Config

from lexkd.tasks.classification.finetune import check_model_reference
from lexkd.tasks.classification.similarity import (
    SentenceEncoderError,
    evaluate_cosine,
    load_sentence_encoder,
    sentence_embeddings,
    tune_threshold,
)
from lexkd.tasks.glue.data import TASKS
from lexkd.tasks.plagiarism.tasks import TASKS as PLAGIARISM_TASKS

TEXTS = ["the big dog ran", "a small red tree", "the young cat sat on the mat", "money in the bank",
         "a bird flew over the river", "the old house", "green water", "the cat and the dog"]


def test_the_tuned_threshold_is_the_midpoint_that_separates_the_classes():
    tuned = tune_threshold([0.9, 0.1, 0.8, 0.3], [1, 0, 1, 0])
    assert tuned == {"threshold": pytest.approx(0.55), "high_label": 1, "train_macro_f1": 1.0}
    # labels where high similarity means class 0 (e.g. RTE's entailment = 0): the polarity is learnt
    flipped = tune_threshold([0.9, 0.1, 0.8, 0.3], [0, 1, 0, 1])
    assert flipped["high_label"] == 0 and flipped["threshold"] == pytest.approx(0.55)
    # overlapping classes: the cuts at 0.3 and 0.55 each misclassify one example (macro F1 (6/7 + 4/5) / 2),
    # every other cut does worse (0.45 misclassifies two); the tie goes to the lower cut
    mixed = tune_threshold([0.1, 0.2, 0.4, 0.5, 0.6, 0.9], [0, 0, 1, 0, 1, 1])
    assert mixed["threshold"] == pytest.approx(0.3) and mixed["high_label"] == 1
    assert mixed["train_macro_f1"] == pytest.approx((6 / 7 + 4 / 5) / 2)


def test_threshold_tuning_refuses_bad_labels():
    with pytest.raises(ValueError, match="binary labels"):
        tune_threshold([0.1, 0.5], [0, 2])
    with pytest.raises(ValueError, match="as many labels as scores"):
        tune_threshold([0.1, 0.5], [0])


def test_mean_pooling_ignores_padding(student_checkpoint):
    model, tokenizer = load_sentence_encoder(str(student_checkpoint))
    alone = sentence_embeddings(model, tokenizer, [TEXTS[0]])
    padded = sentence_embeddings(model, tokenizer, [TEXTS[0], TEXTS[2]])  # TEXTS[0] padded to TEXTS[2]'s length
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(padded, axis=1), 1.0, atol=1e-5)


def pair_split(indices, shift) -> datasets.Dataset:
    """Pairs (t, t) labelled 1 and (t, another text) labelled 0."""
    features = datasets.Features({"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(TASKS["mrpc"].label_names))})
    first = [TEXTS[i] for i in indices] * 2
    second = [TEXTS[i] for i in indices] + [TEXTS[(i + shift) % len(TEXTS)] for i in indices]
    return datasets.Dataset.from_dict({"sentence1": first, "sentence2": second,
                                       "label": [1] * len(indices) + [0] * len(indices)}, features=features)


def test_identical_pairs_are_told_from_different_ones_without_training(student_checkpoint):
    data = datasets.DatasetDict({"train": pair_split(range(5), 1), "validation": pair_split(range(5, 8), 2)})
    result = evaluate_cosine(f"cosine:{student_checkpoint}", data, TASKS["mrpc"])
    assert result.kind == "baseline: cosine similarity" and result.details["high_label_name"] == "equivalent"
    assert result.details["train_macro_f1"] == 1.0 and result.metrics["validation"]["accuracy"] == 1.0
    assert result.train_examples == 10 and result.details["parameters"] > 0


def test_regression_takes_the_cosine_itself(student_checkpoint):
    rows = pair_split(range(4), 1)
    data = datasets.DatasetDict({"validation": datasets.Dataset.from_dict({
        "sentence1": rows["sentence1"], "sentence2": rows["sentence2"], "label": [5.0] * 4 + [0.0, 1.0, 0.5, 2.0]})})
    result = evaluate_cosine(f"cosine:{student_checkpoint}", data, TASKS["stsb"])
    assert np.allclose(result.predictions["validation"][:4], 1.0, atol=1e-5)
    assert result.metrics["validation"]["pearson"] > 0.5


def test_cosine_on_what_is_not_an_encoder_is_a_clear_error(tmp_path, student_checkpoint):
    with pytest.raises(FileNotFoundError, match="cosine: encoder path './nowhere/model' does not exist"):
        check_model_reference("cosine:./nowhere/model")
    with pytest.raises(ValueError, match="needs an encoder after the colon"):
        check_model_reference("cosine:")
    seq2seq = tmp_path / "t5"
    T5Config(vocab_size=64, d_model=16, num_layers=1, num_heads=2, d_ff=32).save_pretrained(seq2seq)
    with pytest.raises(SentenceEncoderError, match="is an encoder-decoder"):
        load_sentence_encoder(str(seq2seq))
    bare = tmp_path / "no-tokenizer"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((student_checkpoint / name).read_bytes())
    with pytest.raises(SentenceEncoderError, match="has no tokenizer"):
        load_sentence_encoder(str(bare))
    single = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": TEXTS[:2], "label": [0, 1]})})
    with pytest.raises(ValueError, match="has one text column"):
        evaluate_cosine(f"cosine:{student_checkpoint}", single, PLAGIARISM_TASKS["machine-paraphrase"])


def test_script_runs_the_detector_and_names_its_row(tmp_path, student_checkpoint, capsys):
    glue = write_glue_fixture(tmp_path / "glue")
    code = run_named_script("finetune_glue", [
        "--task", "mrpc", "--model", f"cosine:{student_checkpoint}", "--data", str(glue),
        "--results_root", str(tmp_path / "results"), "--output_dir", str(tmp_path / "runs" / "{label}")])
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "results" / "mrpc" / "results.jsonl").read_text().splitlines()]
    assert [r["model"] for r in rows] == ["cosine:student"] and rows[0]["kind"] == "baseline: cosine similarity"
    assert (tmp_path / "runs" / "cosine-student" / "metrics.json").is_file()
