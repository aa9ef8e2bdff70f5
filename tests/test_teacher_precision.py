"""Teachers in reduced precision (--teacher_dtype): bfloat16 / float16 casts and int8 dynamic quantization."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from lexkd.losses import kl_divergence_from_probs
from lexkd.mlm.teachers import combine_teachers, load_teachers
from lexkd.models.masked_lm import masked_lm_logits


@pytest.fixture
def teacher_folder(tmp_path, tokenizer):
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=128)).save_pretrained(tmp_path / "teacher")
    tokenizer.save_pretrained(tmp_path / "teacher")
    return str(tmp_path / "teacher")


def target(teacher, tokenizer, texts):
    batch = tokenizer(texts[:8], padding=True, return_tensors="pt")
    masked = batch["attention_mask"].bool()
    with torch.inference_mode():
        logits = masked_lm_logits(teacher.model, batch["input_ids"], masked, batch["attention_mask"])
    return combine_teachers([logits], rule="entropy")[0]  # (N, V) float32


@pytest.mark.parametrize("dtype, tolerance", [("bfloat16", 5e-3), ("float16", 1e-4), ("int8", 5e-3)])
def test_reduced_precision_targets_stay_close_to_float32(teacher_folder, tokenizer, texts, dtype, tolerance):
    (reference,) = load_teachers([teacher_folder])
    (reduced,) = load_teachers([teacher_folder], dtype=dtype)
    assert reduced.dtype == dtype
    if dtype == "int8":
        assert any("quantized" in type(m).__module__ for m in reduced.model.modules())
    else:
        assert next(reduced.model.parameters()).dtype == getattr(torch, dtype)
    q32, q = target(reference, tokenizer, texts), target(reduced, tokenizer, texts)
    assert q.dtype == torch.float32 and torch.allclose(q.sum(-1), torch.ones(len(q)), atol=1e-5)
    kl = float(kl_divergence_from_probs(torch.log(q).nan_to_num(neginf=-100.0), q32))  # KL(q32 || q), nats per position
    assert not torch.equal(q, q32) and abs(kl) < tolerance  # really another precision, and a faithful one


def test_unknown_dtype_and_int8_off_cpu_are_clear_errors(teacher_folder):
    with pytest.raises(ValueError, match="valid: float32, bfloat16, float16, int8"):
        load_teachers([teacher_folder], dtype="fp8")
    with pytest.raises(ValueError, match="CPU only"):
        load_teachers([teacher_folder], device="cuda", dtype="int8")
