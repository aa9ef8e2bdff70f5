"""A checkpoint without a masked-LM head (an encoder alone, e.g. a sentence-embedding model) is refused as a teacher."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertModel,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaModel,
)

from lexkd.mlm.teachers import load_teachers
from lexkd.models.masked_lm import MissingMLMHeadError, load_masked_lm


def bert_config(tokenizer):
    return BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64)


def save(model, tokenizer, folder):
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_an_encoder_without_its_head_is_refused_as_a_teacher(tmp_path, tokenizer):
    torch.manual_seed(0)
    encoder = save(BertModel(bert_config(tokenizer), add_pooling_layer=False), tokenizer, tmp_path / "encoder")
    with pytest.raises(MissingMLMHeadError, match=r"teacher .*encoder.* has no masked-LM head.*cls\.predictions"):
        load_teachers([encoder])
    # as a student's starting point the same folder is fine: its head is trained anyway
    assert isinstance(load_masked_lm(encoder, role="student"), BertForMaskedLM)


def test_checkpoints_with_their_head_load_as_teachers(tmp_path, tokenizer):
    torch.manual_seed(0)
    mlm = BertForMaskedLM(bert_config(tokenizer))
    pretraining = BertForPreTraining(bert_config(tokenizer))
    teachers = load_teachers([save(mlm, tokenizer, tmp_path / "mlm"), save(pretraining, tokenizer, tmp_path / "pt")])
    assert [type(t.model).__name__ for t in teachers] == ["BertForMaskedLM", "BertForPreTraining"]
    # the loaded head is the saved one, not a fresh initialisation
    assert torch.equal(teachers[0].model.cls.predictions.transform.dense.weight, mlm.cls.predictions.transform.dense.weight)


def test_a_roberta_encoder_without_lm_head_is_refused_and_with_it_loads(tmp_path, tokenizer):
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=70, pad_token_id=tokenizer.pad_token_id)
    encoder = save(RobertaModel(config, add_pooling_layer=False), tokenizer, tmp_path / "roberta-encoder")
    with pytest.raises(MissingMLMHeadError, match=r"lm_head\."):
        load_masked_lm(encoder, role="teacher", require_head=True)
    full = save(RobertaForMaskedLM(config), tokenizer, tmp_path / "roberta-mlm")
    assert isinstance(load_masked_lm(full, role="teacher", require_head=True), RobertaForMaskedLM)
