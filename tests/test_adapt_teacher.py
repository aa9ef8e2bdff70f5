"""Fitting an MLM head on a head-less encoder: what trains, what stays, and a checkpoint that loads as a teacher."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_texts
from transformers import BertConfig, BertForMaskedLM, BertModel

from lexkd.data.corpora import split_documents
from lexkd.mlm.adapt import adapt_teacher, freeze_for_adaptation
from lexkd.mlm.data import prepare_mlm_data
from lexkd.mlm.teachers import load_teachers
from lexkd.mlm.trainer import DistillationArguments


@pytest.fixture
def encoder(tmp_path, tokenizer):
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=64), add_pooling_layer=False)
    model.save_pretrained(tmp_path / "encoder")
    tokenizer.save_pretrained(tmp_path / "encoder")
    return model, str(tmp_path / "encoder")


def run_args(folder):
    return DistillationArguments(output_dir=str(folder), max_steps=4, per_device_train_batch_size=8, learning_rate=5e-3,
                                 logging_steps=2, save_steps=100, report_to="none", use_cpu=True, disable_tqdm=True,
                                 seed=3, alpha=0.0)


@pytest.mark.parametrize("mode, changed_layers", [("head", []), ("top", [2]), ("all", [0, 1, 2])])
def test_only_what_the_mode_names_is_trained_and_the_result_loads_as_a_teacher(tmp_path, tokenizer, encoder, mode,
                                                                             changed_layers):
    original, path = encoder
    train, val = split_documents([[t] for t in make_texts(120, seed=5)], 0.2, seed=1)
    data = prepare_mlm_data(train, val, tokenizer, max_seq_length=16)
    results = adapt_teacher(path, tokenizer, data, run_args(tmp_path / "run"), mode=mode, top_layers=1)
    (teacher,) = load_teachers([str(tmp_path / "run" / "model")])  # has its head now: not refused
    adapted = teacher.model.bert
    for index in range(3):
        same = all(torch.equal(a, b) for a, b in zip(adapted.encoder.layer[index].state_dict().values(),
                                                     original.encoder.layer[index].state_dict().values(), strict=True))
        assert same == (index not in changed_layers), (mode, index)
    assert results["after"]["loss"] < results["before"]["loss"]  # the head learnt something on 4 steps
    assert json.loads((tmp_path / "run" / "adaptation.json").read_text())["mode"] == mode
    assert f"mode {mode}" in (tmp_path / "run" / "model" / "README.md").read_text()


def test_freezing_counts_and_bad_modes(tokenizer):
    model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3,
                                       num_attention_heads=2, intermediate_size=64))
    head_only = freeze_for_adaptation(model, "head")
    transform = model.cls.predictions.transform
    assert head_only == sum(p.numel() for p in transform.parameters()) + model.cls.predictions.bias.numel()
    assert freeze_for_adaptation(model, "top", 1) == head_only + sum(p.numel() for p in model.bert.encoder.layer[2].parameters())
    with pytest.raises(ValueError, match="valid: head, top, all"):
        freeze_for_adaptation(model, "middle")
    with pytest.raises(ValueError, match=r"--top_layers must be in \[1, 3\]"):
        freeze_for_adaptation(model, "top", 4)


def test_keep_layers_cuts_the_top_layers_and_the_checkpoint_has_the_rest(tmp_path, tokenizer, encoder):
    original, path = encoder
    train, val = split_documents([[t] for t in make_texts(120, seed=5)], 0.2, seed=1)
    data = prepare_mlm_data(train, val, tokenizer, max_seq_length=16)
    results = adapt_teacher(path, tokenizer, data, run_args(tmp_path / "run"), mode="top", top_layers=1, keep_layers=2)
    (teacher,) = load_teachers([str(tmp_path / "run" / "model")])
    layers = teacher.model.bert.encoder.layer
    assert len(layers) == 2 and teacher.model.config.num_hidden_layers == 2
    assert all(torch.equal(a, b) for a, b in zip(layers[0].state_dict().values(),
                                                 original.encoder.layer[0].state_dict().values(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(layers[1].state_dict().values(),
                                                     original.encoder.layer[1].state_dict().values(), strict=True))
    assert results["keep_layers"] == 2 and results["train_tokens"] == 4 * 8 * 16 and results["train_cpu_seconds"] > 0
    assert "bottom 2 layers kept" in (tmp_path / "run" / "model" / "README.md").read_text()


def test_keep_layers_out_of_range(tokenizer):
    from lexkd.mlm.adapt import keep_bottom_layers

    model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3,
                                       num_attention_heads=2, intermediate_size=64))
    for bad in (0, 4):
        with pytest.raises(ValueError, match=r"--keep_layers must be in \[1, 3\]"):
            keep_bottom_layers(model, bad)
