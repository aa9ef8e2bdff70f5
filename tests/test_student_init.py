"""A student initialised from chosen layers of a pretrained encoder (DistilBERT-style)."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertModel

from lexkd.mlm.arguments import StudentArguments
from lexkd.mlm.job import make_student
from lexkd.models.masked_lm import student_from_layers


@pytest.fixture
def source(tmp_path, tokenizer):
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4,
                                       num_attention_heads=2, intermediate_size=64, max_position_embeddings=64))
    model.save_pretrained(tmp_path / "source")
    tokenizer.save_pretrained(tmp_path / "source")
    return model, str(tmp_path / "source")


def test_the_chosen_layers_and_nothing_else_are_copied(source):
    model, path = source
    student = student_from_layers(path, [0, 2])
    assert student.config.num_hidden_layers == 2 and student.config.hidden_size == 32
    for target, index in enumerate([0, 2]):
        copied, original = student.bert.encoder.layer[target].state_dict(), model.bert.encoder.layer[index].state_dict()
        assert all(torch.equal(copied[k], original[k]) for k in original)
    other = model.bert.encoder.layer[1].state_dict()
    assert not torch.equal(student.bert.encoder.layer[1].state_dict()["attention.self.query.weight"],
                           other["attention.self.query.weight"])
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, model.bert.embeddings.word_embeddings.weight)
    assert torch.equal(student.cls.predictions.transform.dense.weight, model.cls.predictions.transform.dense.weight)
    assert student.config.lexkd_init == {"from": path, "layers": [0, 2]}


def test_make_student_takes_the_flags_and_defaults_to_every_other_layer(source, tokenizer):
    model, path = source
    student = make_student(StudentArguments(student_init_from=path), tokenizer)
    assert student.config.lexkd_init["layers"] == [0, 2]
    student = make_student(StudentArguments(student_init_from=path, student_init_layers="3,1"), tokenizer)
    assert torch.equal(student.bert.encoder.layer[0].output.dense.weight, model.bert.encoder.layer[3].output.dense.weight)


def test_bad_layer_choices_and_widths_are_clear_errors(source, tmp_path, tokenizer):
    _, path = source
    with pytest.raises(ValueError, match=r"\[4\] outside the 4 layers"):
        student_from_layers(path, [0, 4])
    with pytest.raises(ValueError, match="repeats a layer"):
        student_from_layers(path, [1, 1])
    with pytest.raises(ValueError, match="is empty"):
        student_from_layers(path, [])
    with pytest.raises(ValueError, match="--student_hidden_size 64 differs from the width 32"):
        student_from_layers(path, [0], hidden_size=64)
    with pytest.raises(ValueError, match="needs --student_init_from"):
        StudentArguments(student_init_layers="0,1")
    with pytest.raises(ValueError, match="expected integers"):
        StudentArguments(student_init_from=path, student_init_layers="a,b").init_layers(4)
    with pytest.raises(FileNotFoundError):
        student_from_layers(tmp_path / "nowhere", [0])


def test_an_encoder_without_head_gives_a_student_with_a_fresh_head(tmp_path, tokenizer):
    torch.manual_seed(1)
    encoder = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64), add_pooling_layer=False)
    encoder.save_pretrained(tmp_path / "encoder")
    student = student_from_layers(tmp_path / "encoder", [1])
    assert torch.equal(student.bert.encoder.layer[0].attention.self.key.weight, encoder.encoder.layer[1].attention.self.key.weight)


def test_a_student_source_with_another_vocabulary_than_the_job_tokenizer_is_refused(source, tokenizer, texts):
    from lexkd.data.tokenization import VocabularyMismatchError, train_wordpiece_tokenizer

    _, path = source
    other = train_wordpiece_tokenizer(texts, vocab_size=60, min_frequency=1)
    with pytest.raises(VocabularyMismatchError, match=f"pass --tokenizer {path}"):
        make_student(StudentArguments(student_init_from=path), other)
    with pytest.raises(VocabularyMismatchError, match="another vocabulary"):
        make_student(StudentArguments(student=path), other)


def test_without_tokenizer_flag_the_student_source_brings_its_tokenizer(source, tokenizer, texts, tmp_path):
    from lexkd.data.arguments import CorpusArguments
    from lexkd.mlm.job import student_tokenizer_default

    _, path = source
    corpus = CorpusArguments()
    student_tokenizer_default(corpus, StudentArguments(student_init_from=path))
    assert corpus.tokenizer == path  # not the first teacher's
    given = CorpusArguments(tokenizer="given")
    student_tokenizer_default(given, StudentArguments(student_init_from=path))
    assert given.tokenizer == "given"  # --tokenizer wins
    bare = tmp_path / "no-tokenizer"
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)).save_pretrained(bare)
    none = CorpusArguments()
    student_tokenizer_default(none, StudentArguments(student_init_from=str(bare)))
    assert none.tokenizer is None  # nothing to bring: the first teacher's, as before


def test_a_gold_only_job_without_teachers_trains_none(tmp_path):
    from conftest import make_texts

    from lexkd.data.arguments import CorpusArguments
    from lexkd.mlm.arguments import TeacherArguments
    from lexkd.mlm.job import prepare_job
    from lexkd.mlm.trainer import DistillationArguments

    (tmp_path / "corpus.txt").write_text("\n".join(make_texts(60, seed=4)) + "\n")
    corpus = CorpusArguments(corpus=str(tmp_path / "corpus.txt"), vocab_size=120, max_seq_length=16,
                             validation_fraction=0.25, max_eval_sequences=8)
    args = DistillationArguments(output_dir=str(tmp_path / "job"), alpha=0.0, report_to="none", use_cpu=True)
    tokenizer, data, teachers = prepare_job(TeacherArguments(), corpus, args)
    assert teachers == [] and len(data.train) > 0 and not (tmp_path / "job" / "teachers").exists()
