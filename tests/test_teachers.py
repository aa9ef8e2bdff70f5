import math

import pytest
import torch

from lexkd.data.tokenization import (
    VocabularyMismatchError,
    check_vocabularies,
    train_wordpiece_tokenizer,
)
from lexkd.mlm.teachers import combine_teachers, load_teachers, teacher_weights
from lexkd.models.masked_lm import build_student, load_masked_lm, masked_lm_logits

# Two teachers, two masked positions, vocabulary of 3; gold tokens 0 and 2.
PROBS = torch.tensor(
    [
        [[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]],  # teacher A
        [[0.4, 0.4, 0.2], [0.1, 0.1, 0.8]],  # teacher B
    ]
)
GOLD = torch.tensor([0, 2])


def softmax2(a, b):
    return math.exp(a) / (math.exp(a) + math.exp(b))


def neg_entropy(p):
    return sum(x * math.log(x) for x in p)


@pytest.mark.parametrize(
    "rule, scores",
    [
        ("uniform", [(0.0, 0.0), (0.0, 0.0)]),
        ("max_prob", [(0.7, 0.4), (0.5, 0.8)]),
        ("gold_prob", [(0.7, 0.4), (0.5, 0.8)]),
        ("entropy", [(neg_entropy([0.7, 0.2, 0.1]), neg_entropy([0.4, 0.4, 0.2])),
                     (neg_entropy([0.2, 0.3, 0.5]), neg_entropy([0.1, 0.1, 0.8]))]),
    ],
)
@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_weighting_rules_against_hand_computed_values(rule, scores, tau):
    weights = teacher_weights(PROBS, rule, GOLD, weight_temperature=tau)
    for i, (a, b) in enumerate(scores):
        assert weights[0, i].item() == pytest.approx(softmax2(a / tau, b / tau), abs=1e-6)
        assert weights[1, i].item() == pytest.approx(1 - softmax2(a / tau, b / tau), abs=1e-6)


def test_gold_prob_differs_from_max_prob_when_teacher_is_wrong():
    probs = torch.tensor([[[0.9, 0.1]], [[0.4, 0.6]]])  # A is confident and wrong (gold = 1)
    gold = torch.tensor([1])
    assert teacher_weights(probs, "max_prob", gold)[0, 0] > 0.5
    assert teacher_weights(probs, "gold_prob", gold)[0, 0] < 0.5


def test_combined_target_is_weighted_mixture():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 6, generator=g)
    target, weights = combine_teachers(list(logits), rule="entropy", temperature=2.0)
    probs = torch.softmax(logits / 2.0, -1)
    expected = sum(weights[k].unsqueeze(-1) * probs[k] for k in range(3))
    assert torch.allclose(target, expected, atol=1e-6)
    assert torch.allclose(target.sum(-1), torch.ones(4))
    assert torch.allclose(weights.sum(0), torch.ones(4))


def test_weights_measure_confidence_at_temperature_one():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 7, generator=g) * 3
    target, weights = combine_teachers(logits, rule="max_prob", temperature=4.0)
    assert torch.allclose(weights, teacher_weights(torch.softmax(logits, -1), "max_prob"))
    assert torch.allclose(target, (weights.unsqueeze(-1) * torch.softmax(logits / 4.0, -1)).sum(0), atol=1e-6)


def test_uniform_is_plain_average():
    logits = torch.randn(2, 5, 7)
    target, _ = combine_teachers(logits, rule="uniform")
    assert torch.allclose(target, torch.softmax(logits, -1).mean(0), atol=1e-6)


def test_bad_rule_and_temperatures():
    with pytest.raises(ValueError, match="valid rules: uniform, max_prob, entropy, gold_prob"):
        teacher_weights(PROBS, "majority")
    with pytest.raises(ValueError, match="temperature"):
        combine_teachers(PROBS, rule="uniform", temperature=0.0)
    with pytest.raises(ValueError, match="weight_temperature"):
        teacher_weights(PROBS, "entropy", weight_temperature=-1)
    with pytest.raises(ValueError, match="gold labels"):
        teacher_weights(PROBS, "gold_prob")


def test_masked_position_head_equals_full_head(tokenizer):
    model = build_student(len(tokenizer), hidden_size=32, num_attention_heads=2, seed=3).eval()
    batch = tokenizer(["the cat sat on the mat", "a big dog ran to the river bank"], padding=True, return_tensors="pt")
    masked = torch.zeros_like(batch["input_ids"], dtype=torch.bool)
    masked[0, 2] = masked[1, 3] = masked[1, 5] = True
    with torch.no_grad():
        full = model(**batch).prediction_logits  # (B, T, V)
        sparse = masked_lm_logits(model, batch["input_ids"], masked, batch["attention_mask"])
    assert sparse.shape == (3, len(tokenizer))
    assert torch.allclose(sparse, full[masked], atol=1e-5)


def test_saved_student_keeps_its_heads_and_loads_as_masked_lm(tmp_path, tokenizer):
    from transformers import AutoModelForMaskedLM, BertForPreTraining

    model = build_student(len(tokenizer), hidden_size=32, num_attention_heads=2, seed=4).eval()
    model.save_pretrained(tmp_path / "s")
    reloaded = load_masked_lm(tmp_path / "s")
    assert isinstance(reloaded, BertForPreTraining)  # the sentence-pair head is kept
    as_mlm = AutoModelForMaskedLM.from_pretrained(tmp_path / "s").eval()
    ids = tokenizer(["the dog sat on the mat"], return_tensors="pt")["input_ids"]
    masked = torch.zeros_like(ids, dtype=torch.bool)
    masked[0, 2] = True
    with torch.no_grad():
        assert torch.allclose(masked_lm_logits(as_mlm, ids, masked), masked_lm_logits(model, ids, masked), atol=1e-5)


def test_vocabulary_mismatch_names_teacher_and_sizes(tokenizer, texts):
    other = train_wordpiece_tokenizer(texts, vocab_size=90, min_frequency=1)
    check_vocabularies(tokenizer, {"same": tokenizer})
    with pytest.raises(VocabularyMismatchError, match=rf"'other' has a vocabulary of {len(other)} tokens but the student's has {len(tokenizer)}"):
        check_vocabularies(tokenizer, {"same": tokenizer, "other": other})


def test_missing_teacher_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_teachers([str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_masked_lm(tmp_path / "empty")


def test_load_teachers_from_saved_folder(tmp_path, tokenizer):
    model = build_student(len(tokenizer), hidden_size=32, num_attention_heads=2)
    model.save_pretrained(tmp_path / "t")
    tokenizer.save_pretrained(tmp_path / "t")
    (teacher,) = load_teachers([str(tmp_path / "t")])
    assert not teacher.model.training and not any(p.requires_grad for p in teacher.model.parameters())
    check_vocabularies(tokenizer, {teacher.name: teacher.tokenizer}, {teacher.name: teacher.model})
