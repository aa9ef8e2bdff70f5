"""The one Evaluator interface: MLM, classification (and, in their own tests, NLG and WSD) evaluators."""

from __future__ import annotations

import json

import pytest
import torch
from sklearn.metrics import accuracy_score
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification

from lexkd.data.collators import mask_once
from lexkd.data.tokenization import tokenize_texts
from lexkd.evaluation import Evaluator
from lexkd.mlm.evaluation import MaskedLMEvaluator
from lexkd.tasks.classification.evaluation import ClassificationEvaluator
from lexkd.tasks.glue.data import get_task


def tiny_config(tokenizer, **changes):
    return BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, **changes)


def test_masked_lm_evaluator_is_the_cross_entropy_at_the_masked_positions(tokenizer, texts, tmp_path):
    torch.manual_seed(0)
    model = BertForMaskedLM(tiny_config(tokenizer)).eval()
    held_out = mask_once(tokenize_texts(texts[:20], tokenizer, max_seq_length=16, line_by_line=True), tokenizer, seed=3)
    evaluator = MaskedLMEvaluator(held_out, tokenizer, batch_size=7)
    metrics = evaluator(model, tmp_path)
    losses, correct = [], 0
    with torch.no_grad():
        for row in held_out:
            ids, labels = torch.tensor([row["input_ids"]]), torch.tensor(row["labels"])
            logits = model(input_ids=ids).logits[0]  # (T, V), the full head at every position
            masked = labels != -100
            losses.append(torch.nn.functional.cross_entropy(logits[masked], labels[masked], reduction="sum"))
            correct += int((logits[masked].argmax(-1) == labels[masked]).sum())
    count = sum(sum(label != -100 for label in row["labels"]) for row in held_out)
    assert metrics["masked_tokens"] == count
    assert metrics["loss"] == pytest.approx(float(sum(losses)) / count, rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(correct / count)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["primary_metric"] == "loss" and written["greater_is_better"] is False
    assert written["loss"] == pytest.approx(metrics["loss"])
    assert evaluator.is_better({"loss": 1.0}, {"loss": 2.0}) and not evaluator.is_better({"loss": 3.0}, {"loss": 2.0})
    with pytest.raises(ValueError, match="mask_once"):
        MaskedLMEvaluator(tokenize_texts(texts[:3], tokenizer, max_seq_length=16, line_by_line=True), tokenizer)


def test_classification_evaluator_scores_the_models_own_predictions(tokenizer, texts):
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(tokenizer, num_labels=2)).eval()
    encoded = tokenize_texts(texts[:30], tokenizer, max_seq_length=16, line_by_line=True)
    labels = [i % 2 for i in range(30)]
    evaluator = ClassificationEvaluator(encoded, labels, get_task("sst2"), tokenizer, batch_size=4)
    metrics = evaluator(model)
    with torch.no_grad():
        expected = [int(model(input_ids=torch.tensor([ids])).logits.argmax(-1)) for ids in encoded["input_ids"]]
    assert evaluator.last_predictions.tolist() == expected
    assert evaluator.primary_metric == "accuracy" and metrics["accuracy"] == pytest.approx(accuracy_score(labels, expected))
    with pytest.raises(ValueError, match="one label per row"):
        ClassificationEvaluator(encoded, labels[:3], get_task("sst2"), tokenizer)


def test_an_evaluator_without_its_primary_metric_is_an_error():
    class Broken(Evaluator):
        primary_metric = "f1"

        def compute(self, model, output_dir=None):
            return {"accuracy": 1.0}

    with pytest.raises(KeyError, match="returned no 'f1'"):
        Broken()(None)
    assert Broken().is_better({"f1": 0.1}, {"f1": float("nan")}) and not Broken().is_better({}, {"f1": 0.1})
