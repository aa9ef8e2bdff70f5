"""NLG metrics: hand-checked BLEU/ROUGE, normalisation, and the generation evaluator on a tiny
bert2bert model built here."""

from __future__ import annotations

import json
import math

import datasets
import pytest
import torch
from transformers import BertConfig, EncoderDecoderConfig, EncoderDecoderModel, GenerationConfig

from lexkd.seq2seq.metrics import (
    GenerationEvaluator,
    copy_baseline_scores,
    normalize_for_metrics,
    score_generations,
)

SCORES = ("bleu", "chrf", "rouge1", "rouge2", "rougeL")


def test_identical_texts_score_100():
    texts = ["the cat sat on the mat", "a dog ran under the old tree ."]
    scores = score_generations(texts, texts)
    for name in SCORES:
        assert scores[name] == pytest.approx(100.0)
    assert scores["num_examples"] == 2
    assert "tok:none" in scores["bleu_signature"] and "nc:6" in scores["chrf_signature"]


def test_partial_overlap_by_hand():
    scores = score_generations(["the cat sat on the mat"], ["the cat sat on a mat"])
    # unigrams: 5 of 6 match (the second "the" is unmatched)
    # bigrams: 3 of 5 (the cat, cat sat, sat on)
    assert scores["rouge1"] == pytest.approx(100 * 5 / 6)
    assert scores["rouge2"] == pytest.approx(100 * 3 / 5)
    # BLEU: precisions 5/6, 3/5, 2/4, 1/3, equal lengths (no brevity penalty)
    assert scores["bleu"] == pytest.approx(100 * math.prod([5 / 6, 3 / 5, 2 / 4, 1 / 3]) ** 0.25)
    assert scores["bleu_precisions"] == pytest.approx([100 * 5 / 6, 100 * 3 / 5, 100 * 2 / 4, 100 / 3])
    assert scores["bleu_brevity_penalty"] == 1.0 and scores["length_ratio"] == 1.0
    # a hypothesis 4 words long against 6: brevity penalty exp(1 - 6/4)
    short = score_generations(["the cat sat on"], ["the cat sat on a mat"])
    assert short["length_ratio"] == pytest.approx(4 / 6)
    assert short["bleu_brevity_penalty"] == pytest.approx(math.exp(1 - 6 / 4))
    assert short["bleu"] == pytest.approx(math.exp(1 - 6 / 4) * 100)  # every n-gram of it matches
    assert 0 < scores["chrf"] < 100


def test_score_errors():
    with pytest.raises(ValueError, match="got 2 hypotheses and 1 references"):
        score_generations(["a b", "c"], ["a b"])
    with pytest.raises(ValueError, match="at least one"):
        score_generations([], [])


def test_normalisation_matches_nltk_and_wordpiece_text_and_is_idempotent(tokenizer):
    reference, hypothesis = "Don 't go , Cat !", "don't go, cat!"
    first = normalize_for_metrics([reference, hypothesis], tokenizer)
    assert first == ["don ' t go , cat !", "don ' t go , cat !"]
    assert normalize_for_metrics(first, tokenizer) == first


def test_normalisation_without_backend_splits_on_whitespace():
    class SlowTokenizer:  # no backend_tokenizer
        pass

    assert normalize_for_metrics(["A  b\tc "], SlowTokenizer()) == ["A b c"]


def test_copy_baseline(tokenizer):
    data = datasets.Dataset.from_dict(
        {"source": ["The cat sat on the mat ."], "target": ["the cat sat on the mat ."]}
    )
    assert copy_baseline_scores(data, tokenizer)["bleu"] == pytest.approx(100.0)


def tiny_bert2bert(tokenizer) -> EncoderDecoderModel:
    torch.manual_seed(0)
    sizes = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**sizes), BertConfig(**sizes, is_decoder=True, add_cross_attention=True)
    )
    model = EncoderDecoderModel(config=config)
    ids = dict(
        decoder_start_token_id=tokenizer.cls_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    for settings in (model.config, model.generation_config):
        for key, value in ids.items():
            setattr(settings, key, value)
    return model


def test_generation_evaluator_end_to_end(tokenizer, tmp_path):
    model = tiny_bert2bert(tokenizer)
    model.train()
    data = datasets.Dataset.from_dict(
        {
            "source": ["the cat sat", "a dog ran on the mat", "red tree"],
            "target": ["the cat sat .", "a dog ran", "green tree"],
        }
    )
    generation = GenerationConfig(
        max_new_tokens=5,
        decoder_start_token_id=tokenizer.cls_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    evaluator = GenerationEvaluator(
        data, tokenizer, generation, batch_size=2, max_source_length=8, show_progress_bar=False
    )
    assert evaluator.primary_metric == "bleu" and evaluator.greater_is_better
    scores = evaluator(model, output_dir=tmp_path / "eval")
    assert model.training  # mode restored
    assert scores["num_examples"] == 3
    rows = (tmp_path / "eval" / "predictions.tsv").read_text().splitlines()
    assert rows[0] == "source\treference\thypothesis" and len(rows) == 4
    assert rows[2].split("\t")[:2] == ["a dog ran on the mat", "a dog ran"]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["generation_config"]["max_new_tokens"] == 5
    assert metrics["seconds"] > 0 and metrics["bleu"] == pytest.approx(scores["bleu"])
    hypotheses = evaluator.generate(model)
    assert len(hypotheses) == 3 and all(len(h.split()) <= 5 for h in hypotheses)
    assert [row.split("\t")[2] for row in rows[1:]] == hypotheses  # predictions.tsv holds what the model generates
    import sacrebleu

    expected = sacrebleu.corpus_bleu(normalize_for_metrics(hypotheses, tokenizer),
                                     [normalize_for_metrics(list(data["target"]), tokenizer)]).score
    assert scores["bleu"] == pytest.approx(expected)  # BLEU of exactly these hypotheses against these references


def test_generation_evaluator_errors(tokenizer):
    generation = GenerationConfig(max_new_tokens=5)
    with pytest.raises(ValueError, match="missing target"):
        GenerationEvaluator(datasets.Dataset.from_dict({"source": ["a"]}), tokenizer, generation)
    with pytest.raises(ValueError, match="batch_size 0"):
        GenerationEvaluator(
            datasets.Dataset.from_dict({"source": ["a"], "target": ["b"]}),
            tokenizer,
            generation,
            batch_size=0,
        )
