"""WSD baselines on tiny corpora built here; a fake WordNet keeps most tests fast."""

from __future__ import annotations

import pytest
from conftest import FakeWordNet

from lexkd.lexical.wordnet import Sense
from lexkd.tasks.wsd.baselines import BASELINES, WordExpert, WSDSystem, ims_features
from lexkd.tasks.wsd.raganato import WSDCorpus, WSDInstance, WSDSentence, WSDToken

RIVER, MONEY = "bank%1:17:01::", "bank%1:14:00::"
SENSES = {
    ("bank", "NOUN"): {"bank.n.01": RIVER, "depository_financial_institution.n.01": MONEY},
    ("run", "VERB"): {"run.v.01": "run%2:38:00::", "scat.v.01": "run%2:38:04::"},
    ("quickly", "ADV"): {"quickly.r.01": "quickly%4:02:00::"},
}


@pytest.fixture
def fake_wordnet() -> FakeWordNet:
    """SENSES as a WordNet (in place of conftest's): each (lemma, POS)'s synsets in order, with their keys."""
    return FakeWordNet.from_senses(
        {lemma_pos: [Sense(key, synset, "", (), 0) for synset, key in keys.items()] for lemma_pos, keys in SENSES.items()})


def make_corpus(rows, name="tiny") -> WSDCorpus:
    """rows: (sentence text, target position, lemma, POS, gold key or None)."""
    sentences, instances = {}, []
    for n, (text, index, lemma, pos, key) in enumerate(rows):
        sid, iid = f"d000.s{n:03d}", f"d000.s{n:03d}.t000"
        tokens = [WSDToken(word, word.lower(), "NOUN", None) for word in text.split()]
        tokens[index] = WSDToken(tokens[index].text, lemma, pos, iid)
        sentences[sid] = WSDSentence(sid, tuple(tokens))
        instances.append(WSDInstance(iid, sid, index, lemma, pos, tokens[index].text, (key,) if key else ()))
    return WSDCorpus(name, sentences, instances)


TRAIN = make_corpus(
    [("the river bank was muddy", 2, "bank", "NOUN", RIVER)] * 5
    + [("the bank lent them money", 1, "bank", "NOUN", MONEY)] * 7
    + [("they run home", 1, "run", "VERB", "run%2:38:04::")] * 2
    + [("he ran quickly", 2, "quickly", "ADV", "quickly%4:02:00::"),
       ("a bank", 1, "bank", "NOUN", "bank%9:99:99::")]  # not a sense of bank: skipped
)
TEST = make_corpus([
    ("a river bank flooded", 2, "bank", "NOUN", RIVER),
    ("the bank lent us cash", 1, "bank", "NOUN", MONEY),
    ("we run", 1, "run", "VERB", "run%2:38:04::"),
    ("she moved quickly", 2, "quickly", "ADV", "quickly%4:02:00::"),
    ("an unknown glorp", 2, "glorp", "NOUN", None),
    ("odd tag", 1, "tag", "X", None),
])


def test_registry():
    assert set(BASELINES) == {"first_sense", "mfs", "lesk", "word_expert"}
    for name, cls in BASELINES.items():
        assert issubclass(cls, WSDSystem) and cls.name == name


def test_first_sense_and_counted_skips(fake_wordnet):
    system = BASELINES["first_sense"](fake_wordnet).fit()
    answers = system.predict(TEST)
    assert answers == {"d000.s000.t000": RIVER, "d000.s001.t000": RIVER,
                       "d000.s002.t000": "run%2:38:00::", "d000.s003.t000": "quickly%4:02:00::"}
    assert system.skipped == {"no_wordnet_senses": 1, "unknown_pos": 1}


def test_mfs(fake_wordnet):
    system = BASELINES["mfs"](fake_wordnet).fit(TRAIN)
    answers = system.predict(TEST)
    assert answers["d000.s000.t000"] == MONEY and answers["d000.s001.t000"] == MONEY  # 7 > 5
    assert answers["d000.s002.t000"] == "run%2:38:04::"  # not the first sense: learnt
    assert system.skipped["unknown_gold_key"] == 1 and system.skipped["no_wordnet_senses"] == 1
    with pytest.raises(ValueError, match="mfs needs a training corpus"):
        BASELINES["mfs"](fake_wordnet).fit(None)


def test_mfs_backs_off_to_first_sense(fake_wordnet):
    train = make_corpus([("the bank lent money", 1, "bank", "NOUN", MONEY)])
    system = BASELINES["mfs"](fake_wordnet).fit(train)
    answers = system.predict(TEST)
    assert answers["d000.s002.t000"] == "run%2:38:00::" and system.stats["backoff_first_sense"] == 2


def test_word_expert_learns_context(fake_wordnet):
    system = WordExpert(fake_wordnet).fit(TRAIN)
    assert set(system.experts) == {("bank", "NOUN")}
    assert system.single == {("run", "VERB"): "run%2:38:04::", ("quickly", "ADV"): "quickly%4:02:00::"}
    answers = system.predict(TEST)
    assert answers["d000.s000.t000"] == RIVER and answers["d000.s001.t000"] == MONEY
    assert answers["d000.s002.t000"] == "run%2:38:04::"
    assert system.skipped == {"unknown_gold_key": 1, "no_wordnet_senses": 1, "unknown_pos": 1}
    fresh = WordExpert(fake_wordnet).fit(make_corpus([("a bank", 1, "bank", "NOUN", RIVER)]))
    assert fresh.predict(TEST)["d000.s002.t000"] == "run%2:38:00::"  # unseen: first sense
    assert fresh.stats["backoff_first_sense"] == 2


def test_ims_features():
    tokens = TEST.sentences["d000.s001"].tokens  # the bank lent us cash
    features = ims_features(tokens, 1, stop_words={"us"})
    assert {"w=the", "w=lent", "w=cash"} <= set(features) and "w=us" not in features
    assert "w=bank" not in features
    assert features["c-1,-1=the"] == features["c1,2=lent us"] == features["c-3,-1=<s> <s> the"] == 1
    assert features["c-2,1=<s> the lent"] == 1 and features["p-2=<s>"] == 1 and features["p0=NOUN"] == 1
    assert len([f for f in features if f.startswith("c")]) == 11


# --------------------------------------------------------------------------- real WordNet


@pytest.fixture(scope="module")
def wordnet():
    from lexkd.lexical.wordnet import WordNetNotFoundError, get_wordnet

    try:
        return get_wordnet()
    except WordNetNotFoundError as err:
        pytest.skip(f"WordNet 3.0 is not installed: {err}")


def real_corpus() -> WSDCorpus:
    return make_corpus([
        ("a financial institution that accepts deposits is a bank", 8, "bank", "NOUN", None),
        ("a very nice glorpy thing", 3, "glorpy", "ADJ", None),
        ("a very nice day", 2, "nice", "ADJ", None),
    ])


@pytest.mark.slow
def test_first_sense_real_wordnet(wordnet):
    answers = BASELINES["first_sense"](wordnet).predict(real_corpus())
    assert answers == {"d000.s000.t000": "bank%1:17:01::", "d000.s002.t000": "nice%3:00:00::"}


@pytest.mark.slow
def test_lesk_real_wordnet(wordnet):
    system = BASELINES["lesk"](wordnet).fit()
    answers = system.predict(real_corpus())
    # "financial institution that accepts deposits" is the gloss of the second sense.
    assert wordnet.synset_from_sense_key(answers["d000.s000.t000"]) == "depository_financial_institution.n.01"
    assert "d000.s001.t000" not in answers and system.skipped == {"no_wordnet_senses": 1}
    assert answers["d000.s002.t000"].startswith("nice%")
