"""bert2bert warm start, loading, and generated targets for sequence-level KD (tiny models, CPU)."""

from __future__ import annotations

import copy
import logging
import warnings

import huggingface_hub
import pytest
import torch
from torch import nn
from transformers import (
    BertConfig,
    BertForPreTraining,
    BertModel,
    EncoderDecoderModel,
    GenerationConfig,
    MPNetConfig,
    MPNetForMaskedLM,
    T5Config,
    T5ForConditionalGeneration,
)

from lexkd.data.tokenization import VocabularyMismatchError, train_wordpiece_tokenizer
from lexkd.models.seq2seq import (
    GenerationSettings,
    build_bert2bert,
    check_same_tokenizer,
    decoder_input_ids_from_labels,
    generate_targets,
    load_seq2seq,
    set_special_tokens,
)


@pytest.fixture(scope="module")
def bert2bert(student_checkpoint) -> EncoderDecoderModel:
    return build_bert2bert(student_checkpoint)


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory, tokenizer):
    """A second tiny BertForPreTraining with a different hidden size, same tokenizer."""
    torch.manual_seed(1)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=48, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=96, max_position_embeddings=128)
    folder = tmp_path_factory.mktemp("teacher") / "model"
    BertForPreTraining(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def batch(tokenizer):
    texts = ["the cat sat on the mat", "a dog ran"]
    return tokenizer(texts, return_tensors="pt", padding=True, return_token_type_ids=False)


def biased(model: EncoderDecoderModel, token_id: int, amount: float) -> EncoderDecoderModel:
    """A copy whose decoder LM head bias pushes ``token_id`` up (amount > 0) or down."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.decoder.cls.predictions.bias[token_id] += amount
    return model


def test_bert2bert_only_cross_attention_is_new(bert2bert, student_checkpoint):
    checkpoint = BertForPreTraining.from_pretrained(student_checkpoint).state_dict()
    new = []
    for key, value in bert2bert.state_dict().items():
        source = key.removeprefix("encoder.").removeprefix("decoder.")
        source = source if source.startswith("cls.") else "bert." + source.removeprefix("bert.")
        if source in checkpoint:
            assert torch.equal(value, checkpoint[source]), key
        else:
            new.append(key)
    assert new and all("crossattention" in key for key in new)
    assert bert2bert.encoder.pooler is None
    word = checkpoint["bert.embeddings.word_embeddings.weight"]
    assert torch.equal(bert2bert.encoder.embeddings.word_embeddings.weight, word)
    assert torch.equal(bert2bert.decoder.get_output_embeddings().weight, word)
    assert torch.equal(bert2bert.decoder.cls.predictions.transform.dense.weight,
                       checkpoint["cls.predictions.transform.dense.weight"])
    assert not bert2bert.training and not any(m.training for m in bert2bert.modules())


def test_special_ids_reach_config_and_generation_config(bert2bert, tokenizer):
    for config in (bert2bert.config, bert2bert.generation_config):
        assert config.decoder_start_token_id == tokenizer.cls_token_id
        assert config.eos_token_id == tokenizer.sep_token_id
        assert config.pad_token_id == tokenizer.pad_token_id
    assert bert2bert.config.vocab_size == len(tokenizer)


def test_set_special_tokens_keeps_existing_ids(tokenizer):
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32,
                                             num_layers=1, num_heads=2, decoder_start_token_id=0))
    t5.generation_config.eos_token_id = None  # missing here only: filled from config, not tokenizer
    set_special_tokens(t5, tokenizer)  # T5's own ids (start = pad = 0, eos = 1) are kept
    for config in (t5.config, t5.generation_config):
        assert (config.decoder_start_token_id, config.pad_token_id, config.eos_token_id) == (0, 0, 1)


def test_teacher_with_other_hidden_size(student_checkpoint, teacher_checkpoint, tokenizer, batch):
    teacher = build_bert2bert(teacher_checkpoint)
    assert teacher.config.encoder.hidden_size == 48 and not hasattr(teacher, "enc_to_dec_proj")
    mixed = build_bert2bert(student_checkpoint, teacher_checkpoint)  # 32 -> 48 needs a projection
    assert mixed.enc_to_dec_proj.in_features == 32
    check_same_tokenizer(tokenizer, tokenizer, teacher_name=str(teacher_checkpoint))
    labels, _ = generate_targets(teacher, batch["input_ids"], batch["attention_mask"],
                                 GenerationSettings(max_new_tokens=3))
    assert labels.shape[0] == 2


def test_checkpoint_without_mlm_head_raises(tmp_path, tokenizer):
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(tmp_path / "plain")
    tokenizer.save_pretrained(tmp_path / "plain")
    with pytest.raises(ValueError, match=r"cls\.predictions.*MLM head"):
        build_bert2bert(tmp_path / "plain")


def test_an_architecture_without_a_decoder_form_is_refused_before_loading(tmp_path, tokenizer, student_checkpoint):
    # MPNet (all-mpnet-base-v2) has an MLM head but no causal-LM class in transformers.
    config = MPNetConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=64)
    MPNetForMaskedLM(config).save_pretrained(tmp_path / "mpnet")
    tokenizer.save_pretrained(tmp_path / "mpnet")
    with pytest.raises(ValueError, match=r"mpnet.*cannot be a decoder.*'mpnet'.*adapt_teacher"):
        build_bert2bert(student_checkpoint, tmp_path / "mpnet")


def test_missing_paths_and_hub_failure(tmp_path, monkeypatch, student_checkpoint):
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        build_bert2bert(tmp_path / "no-such-folder")
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        build_bert2bert(student_checkpoint, tmp_path / "no-such-folder")
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        load_seq2seq(tmp_path / "no-such-folder")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # fail fast
    with pytest.raises(OSError, match="'lexkd-test-org/no-such-model'.*hub did not serve it"):
        load_seq2seq("lexkd-test-org/no-such-model")


def test_load_seq2seq_refuses_a_bert_checkpoint(student_checkpoint):
    with pytest.raises(ValueError, match="pass it as --teacher_init instead of --teacher.*build_bert2bert"):
        load_seq2seq(student_checkpoint)


def test_save_and_load_round_trip(bert2bert, tmp_path, batch, tokenizer):
    bert2bert.save_pretrained(tmp_path / "b2b")
    loaded = load_seq2seq(tmp_path / "b2b")
    assert isinstance(loaded, EncoderDecoderModel) and loaded.encoder.pooler is None
    assert not loaded.training
    assert loaded.generation_config.decoder_start_token_id == tokenizer.cls_token_id
    assert loaded.config.eos_token_id == tokenizer.sep_token_id
    decoder_input_ids = torch.tensor([[tokenizer.cls_token_id, 7, 8], [tokenizer.cls_token_id, 9, 0]])
    inputs = dict(batch, decoder_input_ids=decoder_input_ids)
    with torch.no_grad():
        assert torch.equal(bert2bert(**inputs).logits, loaded(**inputs).logits)


def test_truncated_rows_and_start_token_stripped(bert2bert, batch):
    token = 50  # an ordinary word piece, never [CLS] or [SEP]
    model = biased(bert2bert, token, 100.0)
    for max_new_tokens in (1, 2):
        labels, truncated = generate_targets(model, batch["input_ids"], batch["attention_mask"],
                                             GenerationSettings(max_new_tokens=max_new_tokens))
        assert labels.shape == (2, max_new_tokens) and labels.dtype == torch.long
        assert (labels == token).all()  # no [CLS] column left in front
        assert truncated.tolist() == [True, True]


def test_eos_found_is_kept_as_the_last_label(bert2bert, batch, tokenizer):
    model = biased(bert2bert, tokenizer.sep_token_id, 100.0)
    labels, truncated = generate_targets(model, batch["input_ids"], batch["attention_mask"],
                                         GenerationSettings(max_new_tokens=5))
    assert labels.tolist() == [[tokenizer.sep_token_id], [tokenizer.sep_token_id]]
    assert truncated.tolist() == [False, False]


class FixedOutput(nn.Module):
    """A stand-in seq2seq model whose generate() returns fixed rows, to check label making."""

    def __init__(self, sequences):
        super().__init__()
        self.layer = nn.Linear(1, 1)
        self.config = BertConfig()
        self.generation_config = GenerationConfig(decoder_start_token_id=2, pad_token_id=0,
                                                  eos_token_id=3)
        self.sequences = torch.tensor(sequences)

    def generate(self, input_ids, attention_mask, generation_config):
        assert not self.training and not self.layer.training and not torch.is_grad_enabled()
        assert generation_config.max_new_tokens == 4
        return self.sequences


def test_labels_ignore_everything_after_the_first_eos():
    model = FixedOutput([[2, 5, 3, 0, 0], [2, 5, 6, 3, 3], [2, 5, 6, 7, 8], [2, 3, 0, 0, 0]])
    model.train()
    labels, truncated = generate_targets(model, torch.ones(4, 2, dtype=torch.long), None,
                                         GenerationSettings(max_new_tokens=4))
    assert labels.tolist() == [[5, 3, -100, -100], [5, 6, 3, -100], [5, 6, 7, 8], [3, -100, -100, -100]]
    assert truncated.tolist() == [False, False, True, False]
    assert model.training and model.layer.training  # previous mode restored


def test_sampling_several_sequences_with_a_seed(bert2bert, batch, tokenizer):
    settings = GenerationSettings(max_new_tokens=4, do_sample=True, num_return_sequences=3, seed=7)
    model = biased(bert2bert, tokenizer.sep_token_id, -100.0)  # no [SEP]: every row is 4 tokens
    model.train()
    rng = torch.get_rng_state()
    first, truncated = generate_targets(model, batch["input_ids"], batch["attention_mask"], settings)
    assert torch.equal(torch.get_rng_state(), rng)
    second, _ = generate_targets(model, batch["input_ids"], batch["attention_mask"], settings)
    assert first.shape == (6, 4) and truncated.shape == (6,) and torch.equal(first, second)
    other, _ = generate_targets(model, batch["input_ids"], batch["attention_mask"],
                                GenerationSettings(max_new_tokens=4, do_sample=True, num_return_sequences=3,
                                                   seed=8))
    assert not torch.equal(first, other)
    assert all(m.training for m in model.modules())


def test_beam_search_returns_num_return_sequences_rows(bert2bert, batch):
    settings = GenerationSettings(max_new_tokens=3, num_beams=3, num_return_sequences=2)
    labels, truncated = generate_targets(bert2bert, batch["input_ids"], batch["attention_mask"], settings)
    assert labels.shape[0] == 4 and truncated.shape == (4,) and (labels[:, 0] != -100).all()


def test_generation_reuses_the_decoder_cache_with_the_same_output(bert2bert, batch):
    # Checkpoints saved from MLM models carry use_cache=False; generating without the cache
    # recomputes every prefix. The generation config turns it on; the output must not change.
    import copy

    model = copy.deepcopy(bert2bert)
    model.config.use_cache = model.generation_config.use_cache = False
    settings = GenerationSettings(max_new_tokens=5, num_beams=2)
    config = settings.to_generation_config(model)
    assert config.use_cache is True
    with torch.no_grad():
        cached = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], generation_config=config)
        config.use_cache = False
        uncached = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], generation_config=config)
    assert torch.equal(cached, uncached)


def test_t5_start_token_is_stripped_too():
    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=40, d_model=16, d_kv=8, d_ff=32, num_layers=1,
                                             num_heads=2, decoder_start_token_id=0)).eval()
    input_ids = torch.randint(2, 40, (2, 5))
    settings = GenerationSettings(max_new_tokens=3)
    sequences = t5.generate(input_ids=input_ids, generation_config=settings.to_generation_config(t5))
    labels, _ = generate_targets(t5, input_ids, None, settings)
    assert (sequences[:, 0] == 0).all() and torch.equal(labels[:, 0], sequences[:, 1])


def test_decoder_input_ids_from_labels(bert2bert, tokenizer):
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    labels = torch.tensor([[7, 8, 9, sep], [9, sep, -100, -100]])
    assert decoder_input_ids_from_labels(bert2bert, labels).tolist() == [[cls, 7, 8, 9],
                                                                         [cls, 9, sep, pad]]
    with pytest.raises(TypeError, match="encoder-decoder"):
        decoder_input_ids_from_labels(bert2bert.encoder, labels)


def test_different_vocabulary_is_refused(tokenizer, student_checkpoint):
    other = train_wordpiece_tokenizer(["zebra quokka yak " * 3, "ibis okapi newt"], vocab_size=200,
                                      min_frequency=1)
    with pytest.raises(VocabularyMismatchError, match="'teacher-x'"):
        check_same_tokenizer(tokenizer, other, teacher_name="teacher-x")
    big = train_wordpiece_tokenizer([f"word{i} token{i}" for i in range(300)], vocab_size=400,
                                    min_frequency=1)
    assert len(big) > len(tokenizer)
    with pytest.raises(VocabularyMismatchError, match="embeddings"):
        build_bert2bert(student_checkpoint, tokenizer=big)


@pytest.mark.parametrize("field, value", [("max_new_tokens", 0), ("top_p", 0), ("temperature", 0),
                                          ("num_beams", 0), ("top_k", -1), ("num_return_sequences", 2)])
def test_invalid_generation_settings(field, value):
    with pytest.raises(ValueError, match=rf"GenerationSettings\.{field} must be .*got {value}"):
        GenerationSettings(**{field: value})


def test_generation_config_is_explicit_and_quiet(bert2bert, tokenizer, caplog):
    model = copy.deepcopy(bert2bert)
    # A checkpoint's own generation_config.json may carry sampling and beam flags.
    model.generation_config.temperature, model.generation_config.top_k = 0.7, 5
    model.generation_config.length_penalty = 2.0
    greedy = GenerationSettings(max_new_tokens=30)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        config = greedy.to_generation_config(model)
        generate_targets(model, torch.tensor([[tokenizer.cls_token_id, 50, tokenizer.sep_token_id]]),
                         None, GenerationSettings(max_new_tokens=2))
    assert not [r for r in caplog.records if "generation flags" in r.getMessage()]
    assert config.max_new_tokens == 30 and not config.do_sample
    assert config.decoder_start_token_id == tokenizer.cls_token_id
    assert (config.eos_token_id, config.pad_token_id) == (tokenizer.sep_token_id, tokenizer.pad_token_id)
    sampling = GenerationSettings(do_sample=True, top_k=0, top_p=0.9, temperature=0.5)
    config = sampling.to_generation_config(model)
    assert (config.top_k, config.top_p, config.temperature) == (0, 0.9, 0.5)
    assert GenerationSettings(**sampling.to_dict()) == sampling
