"""Gloss/context pairs: marking, grouping, counted skips, tokenisation (a stand-in WordNet, and the real one when slow)."""

from __future__ import annotations

import pytest
from conftest import WSD_SENSES, make_wsd_corpus

from lexkd.data.tokenization import train_wordpiece_tokenizer
from lexkd.lexical.glosses import (
    candidate_groups,
    format_gloss,
    mark_target,
    target_pairs,
    tokenize_pairs,
    tokenize_sentence,
)


def test_mark_target_quotes_the_word_and_gives_its_span():
    context, span = mark_target(["He", "sat", "on", "the", "bank", "."], 4)
    assert context == 'He sat on the " bank " .'
    assert context[span[0] : span[1]] == '" bank "'
    first, span = mark_target(["Banks", "close"], 0)
    assert first == '" Banks " close' and span == (0, 9)
    with pytest.raises(IndexError, match="outside"):
        mark_target(["a"], 3)


def test_target_pairs_one_per_candidate_gold_labelled_one():
    pairs = target_pairs(["the", "river", "bank"], 2, WSD_SENSES[("bank", "n")], lemma="bank", instance_id="i",
                         gold_keys=["BANK%1:17:01::"])
    assert [p.sense_key for p in pairs] == [s.sense_key for s in WSD_SENSES[("bank", "n")]]
    assert [p.label for p in pairs] == [1, 0, 0]
    assert pairs[1].gloss == "bank : a place that keeps money"
    assert {p.context for p in pairs} == {'the river " bank "'}
    assert format_gloss("living_room", "a room") == "living room : a room"


def test_candidate_groups_groups_by_instance_and_counts_skips(fake_wordnet):
    corpus = make_wsd_corpus([
        (["the", "river", "bank"], 2, "bank", "NOUN", ["bank%1:17:01::"]),     # kept
        (["a", "dog", "ran"], 1, "dog", "NOUN", ["dog%1:05:00::"]),              # kept, 1 candidate
        (["zorp", "it"], 0, "zorp", "VERB", ["zorp%2:00:00::"]),                 # no senses
        (["the", "bank"], 1, "bank", "NOUN", []),                                 # no gold (training)
        (["the", "bank"], 1, "bank", "NOUN", ["bank%1:06:00::"]),                # gold not a candidate
        (["the", "bank"], 1, "bank", "PRON", ["bank%1:17:01::"]),                # unknown POS
    ])
    groups = candidate_groups(corpus, wordnet=fake_wordnet)
    assert [len(g) for g in groups] == [3, 1]
    assert all(len({p.instance_id for p in g}) == 1 for g in groups)
    stats = groups.stats
    assert (stats.instances, stats.groups, stats.pairs, stats.positives) == (6, 2, 4, 2)
    assert (stats.no_senses, stats.no_gold, stats.gold_not_candidate, stats.unknown_pos) == (1, 1, 1, 1)
    assert stats.as_dict()["skipped"] == 4 and "zorp/VERB: no_senses" in stats.skipped_examples
    # For prediction, gold keys decide nothing: only instances without candidates are skipped.
    predicting = candidate_groups(corpus, training=False, wordnet=fake_wordnet)
    assert len(predicting) == 4 and predicting.stats.skipped == 2


@pytest.fixture(scope="module")
def tokenizer():
    texts = ['the " river " bank : sloping land beside a river , a place that keeps money'] * 5
    texts += ["he sat on the bank of the river and the dog ran to the house with money"] * 5
    return train_wordpiece_tokenizer(texts, vocab_size=100, min_frequency=1)


def test_tokenize_pairs_gives_segments_labels_and_groups(tokenizer, fake_wordnet):
    groups = candidate_groups(make_wsd_corpus([(["the", "river", "bank"], 2, "bank", "NOUN", ["bank%1:17:01::"]),
                                           (["a", "dog", "ran"], 1, "dog", "NOUN", ["dog%1:05:00::"])]),
                              wordnet=fake_wordnet)
    data = tokenize_pairs(groups, tokenizer, max_length=64)
    assert len(data) == 4
    assert data["label"] == [1, 0, 0, 1] and data["group"] == [0, 0, 0, 1]
    row = data[0]
    sep = tokenizer.sep_token_id
    first_sep = row["input_ids"].index(sep)
    assert set(row["token_type_ids"][: first_sep + 1]) == {0} and set(row["token_type_ids"][first_sep + 1 :]) == {1}
    assert tokenizer.decode(row["input_ids"], skip_special_tokens=True).startswith('the river " bank "')


@pytest.mark.parametrize("index, sides", [(41, ("the", "house")), (0, ("the",)), (81, ("house",))])
def test_long_context_is_cut_around_the_target_not_at_its_end(tokenizer, fake_wordnet, index, sides):
    words = ["the"] * 40 + ["riverside", "housing"] + ["house"] * 40  # riverside, housing: several word pieces
    words[index] = "bank"
    groups = candidate_groups(make_wsd_corpus([(words, index, "bank", "NOUN", ["bank%1:17:01::"])]), wordnet=fake_wordnet)
    data = tokenize_pairs(groups, tokenizer, max_length=32)
    for row in data:
        assert len(row["input_ids"]) <= 32
        text = tokenizer.decode(row["input_ids"], skip_special_tokens=True)
        assert '" bank "' in text and all(word in text for word in sides)  # a window on the target
        assert ": " in text  # the gloss kept its start
    with pytest.raises(ValueError, match="max_length"):
        tokenize_pairs(groups, tokenizer, max_length=8)


def test_tokenize_sentence_splits_clitics_and_punctuation():
    assert tokenize_sentence("The bank's state-of-the-art vault.") == ["The", "bank", "'s", "state-of-the-art", "vault", "."]


@pytest.mark.slow
def test_bank_noun_pairs_from_real_wordnet():
    from lexkd.lexical.wordnet import WordNetNotFoundError, get_wordnet

    try:
        wordnet = get_wordnet()
    except WordNetNotFoundError as error:
        pytest.skip(f"WordNet is not installed: {error}")
    senses = wordnet.senses("bank", "NOUN")
    gold = "bank%1:14:00::"  # depository financial institution
    corpus = make_wsd_corpus([(["I", "went", "to", "the", "bank", "to", "pay"], 4, "bank", "NOUN", [gold])])
    (group,) = candidate_groups(corpus, wordnet=wordnet)
    assert len(group) == len(senses) == 10
    assert [p.sense_key for p in group if p.label == 1] == [gold]
    assert all(p.gloss.startswith("bank : ") for p in group)
