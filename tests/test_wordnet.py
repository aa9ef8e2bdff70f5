"""Tests for lexkd.lexical.wordnet.

Tests marked ``slow`` need an installed WordNet 3.0 (Debian ``wordnet-base`` +
``wordnet-sense-index``, or NLTK's ``wordnet`` download) and skip with the install
hint when it is absent.
"""

from __future__ import annotations

import inspect
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from lexkd.lexical.wordnet import (
    Sense,
    UnknownSenseKeyError,
    UnknownSynsetError,
    WordNet,
    WordNetNotFoundError,
    get_wordnet,
    normalize_pos,
)

NOUN_SYNSETS, VERB_SYNSETS, ADJ_SYNSETS, ADV_SYNSETS = 82115, 13767, 18156, 3621


@pytest.fixture(scope="module")
def wn() -> WordNet:
    """The installed WordNet 3.0, or a skip saying how to install it."""
    try:
        return get_wordnet()
    except WordNetNotFoundError as err:
        pytest.skip(f"WordNet 3.0 is not installed: {err}")


@pytest.fixture(scope="module")
def census(wn: WordNet) -> dict:
    """One pass over every synset: counts by POS, lexnames, glosses and examples."""
    by_pos, lexnames = Counter(), Counter()
    with_gloss = with_examples = example_sentences = 0
    for name in wn.all_synsets():
        by_pos[wn.pos(name)] += 1
        lexnames[wn.lexname(name)] += 1
        with_gloss += bool(wn.gloss(name))
        examples = wn.examples(name)
        with_examples += bool(examples)
        example_sentences += len(examples)
    return {
        "by_pos": by_pos,
        "lexnames": lexnames,
        "with_gloss": with_gloss,
        "with_examples": with_examples,
        "example_sentences": example_sentences,
    }


# ---------------------------------------------------------------- no WordNet needed


def test_lexnames_file_is_the_45_line_table():
    text = (resources.files("lexkd.lexical") / "lexnames").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 45
    category = {"noun": "1", "verb": "2", "adj": "3", "adv": "4"}
    for i, line in enumerate(lines):
        number, name, syntactic = line.split("\t")
        assert number == f"{i:02d}"
        assert category[name.split(".")[0]] == syntactic
    assert lines[0] == "00\tadj.all\t3"
    assert lines[5] == "05\tnoun.animal\t1"
    assert lines[38] == "38\tverb.motion\t2"
    assert lines[44] == "44\tadj.ppl\t3"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("n", "n"),
        ("s", "s"),
        ("NOUN", "n"),
        ("VERB", "v"),
        ("ADJ", "a"),
        ("ADV", "r"),
        ("adv", "r"),
    ],
)
def test_normalize_pos(given, expected):
    assert normalize_pos(given) == expected


def test_normalize_pos_unknown_names_pos_and_valid_ones():
    with pytest.raises(ValueError, match=r"'PRON'.*n, v, a, r, s, NOUN, VERB, ADJ, ADV"):
        normalize_pos("PRON")


def test_backends_and_the_test_stand_in_have_the_api_of_wordnet():
    from conftest import FakeWordNet

    from lexkd.lexical.wordnet_lmf import LMFWordNet

    public = sorted(name for name in dir(WordNet) if not name.startswith("_"))
    assert {"synsets", "gloss", "sense_key", "synset_from_sense_key", "lemma_count", "senses"} <= set(public)
    for cls in (LMFWordNet, FakeWordNet):
        assert set(public) <= set(dir(cls)), cls
        for name in public:
            if callable(getattr(WordNet, name)):
                expected = list(inspect.signature(getattr(WordNet, name)).parameters)
                assert list(inspect.signature(getattr(cls, name)).parameters) == expected, (cls, name)


def test_not_found_on_empty_folder_gives_install_hint(tmp_path: Path):
    with pytest.raises(WordNetNotFoundError) as caught:
        WordNet(tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    assert str(tmp_path) in message
    assert "apt-get install wordnet-base wordnet-sense-index" in message
    assert "nltk.download('wordnet')" in message
    assert "LEXKD_WORDNET_DIR" in message


def test_not_found_via_env_var_is_exclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEXKD_WORDNET_DIR", str(tmp_path))
    with pytest.raises(WordNetNotFoundError, match="LEXKD_WORDNET_DIR"):
        WordNet()


# ---------------------------------------------------------------- installed WordNet


@pytest.mark.slow
def test_version_and_cached_accessor(wn: WordNet):
    assert wn.version == "3.0"
    assert get_wordnet() is wn


@pytest.mark.slow
def test_bank_noun_senses_in_wordnet_order(wn: WordNet):
    names = wn.synsets("bank", "n")
    assert names[:3] == ["bank.n.01", "depository_financial_institution.n.01", "bank.n.03"]
    assert len(names) == 10
    assert wn.gloss("bank.n.01").startswith("sloping land")
    assert wn.synsets("bank", "NOUN") == names
    assert all(isinstance(name, str) for name in names)


@pytest.mark.slow
def test_pos_handling(wn: WordNet):
    adjectives = wn.synsets("good", "ADJ")
    assert adjectives[0] == "good.a.01"
    assert {wn.pos(name) for name in adjectives} == {"a", "s"}  # 'a' includes satellites
    assert set(wn.synsets("good", "s")) == {n for n in adjectives if wn.pos(n) == "s"}
    everything = wn.synsets("bank")
    assert everything[: len(wn.synsets("bank", "n"))] == wn.synsets("bank", "n")
    with pytest.raises(ValueError, match="'X'"):
        wn.synsets("bank", "X")
    with pytest.raises(ValueError, match="'X'"):
        wn.all_synsets("X")


@pytest.mark.slow
def test_multiword_lemma_and_exact_lookup(wn: WordNet):
    assert wn.synsets("hot dog", "n") == wn.synsets("hot_dog", "n") != []
    assert wn.synsets("xyzzy") == []
    # exact lemma lookup: no morphological analysis
    assert "bank.n.01" not in wn.synsets("banks", "n")


@pytest.mark.slow
def test_synset_facts(wn: WordNet):
    assert wn.lexname("dog.n.01") == "noun.animal"
    assert wn.lexname("run.v.01") == "verb.motion"
    assert wn.pos("dog.n.01") == "n"
    assert "dog" in wn.lemma_names("dog.n.01")
    assert wn.examples("dog.n.01") == ["the dog barked all night"]
    with pytest.raises(UnknownSynsetError, match="zzzz.n.01"):
        wn.gloss("zzzz.n.01")


@pytest.mark.slow
def test_sense_key_round_trip(wn: WordNet):
    assert wn.synset_from_sense_key("dog%1:05:00::") == "dog.n.01"
    assert wn.sense_key("dog", "dog.n.01") == "dog%1:05:00::"
    assert "dog%1:05:00::" in wn.sense_keys("dog.n.01")
    assert wn.sense_key("bank", "bank.n.01") == "bank%1:17:01::"
    for key in wn.sense_keys("bank.n.01"):
        assert wn.synset_from_sense_key(key) == "bank.n.01"


@pytest.mark.slow
def test_case_variant_sense_keys(wn: WordNet):
    # earth.n.01 lists "Earth" and "earth" with different lexical ids; index.sense keeps
    # earth%1:17:00::, and NLTK's computed earth%1:17:02:: still resolves.
    assert wn.sense_keys("earth.n.01")[0] == "earth%1:17:00::"
    assert wn.sense_key("earth", "earth.n.01") == "earth%1:17:00::"
    assert wn.synset_from_sense_key("earth%1:17:02::") == "earth.n.01"
    assert wn.sense_keys("a.n.06") == ["a%1:10:00::"]


@pytest.mark.slow
@pytest.mark.parametrize("key", ["dog%1:05:09::", "xyzzy%1:05:00::", "dog", "dog%9:05:00::", ""])
def test_unknown_sense_key(wn: WordNet, key: str):
    with pytest.raises(UnknownSenseKeyError) as caught:
        wn.synset_from_sense_key(key)
    assert isinstance(caught.value, KeyError)
    assert repr(key) in str(caught.value)
    with pytest.raises(UnknownSenseKeyError):
        wn.lemma_count(key)


@pytest.mark.slow
def test_lemma_count(wn: WordNet):
    assert wn.lemma_count("dog%1:05:00::") > 0
    assert wn.lemma_count("be%2:42:03::") > 1000  # the most frequent sense in SemCor
    assert isinstance(wn.lemma_count("bank%1:17:01::"), int)


@pytest.mark.slow
def test_senses(wn: WordNet):
    senses = wn.senses("bank", "NOUN")
    assert [s.synset for s in senses] == wn.synsets("bank", "n")
    first = senses[0]
    assert isinstance(first, Sense)
    assert first.sense_key == "bank%1:17:01::"
    assert first.gloss.startswith("sloping land")
    assert isinstance(first.examples, tuple)
    assert first.count == wn.lemma_count("bank%1:17:01::") > 0


@pytest.mark.slow
def test_nltk_data_path_gained_our_staged_folder(wn: WordNet):
    import nltk

    if wn.staged_root is None:
        pytest.skip(f"WordNet was loaded from NLTK's own data folder ({wn.source}); nothing staged")
    registered = {Path(str(entry)).expanduser().resolve() for entry in nltk.data.path}
    assert Path(wn.staged_root).resolve() in registered
    corpus = Path(wn.staged_root) / "corpora" / "wordnet"
    # NLTK refuses symlinks and hard links, so the staged files are private copies.
    for file in corpus.iterdir():
        assert file.is_file() and not file.is_symlink()
        assert file.stat().st_nlink == 1
    assert (corpus / "lexnames").is_file()
    # The ordinary NLTK lookup finds it: nothing about NLTK's checks was changed.
    assert Path(str(nltk.data.find("corpora/wordnet", paths=[wn.staged_root]))) == corpus


@pytest.mark.slow
def test_all_synsets_counts(wn: WordNet, census: dict):
    by_pos = census["by_pos"]
    print(
        f"\nsynsets by pos: {dict(by_pos)}; with gloss: {census['with_gloss']}; "
        f"with examples: {census['with_examples']}; example sentences: "
        f"{census['example_sentences']}"
    )
    assert sum(by_pos.values()) == 117659
    assert by_pos["n"] == NOUN_SYNSETS
    assert by_pos["v"] == VERB_SYNSETS
    assert by_pos["a"] + by_pos["s"] == ADJ_SYNSETS
    assert by_pos["r"] == ADV_SYNSETS
    assert census["with_gloss"] == 117659
    assert 32_500 <= census["with_examples"] <= 34_000  # 32923 with Debian's WordNet 3.0
    assert 47_000 <= census["example_sentences"] <= 50_000  # 48339 with Debian's WordNet 3.0


@pytest.mark.slow
def test_lexnames_cover_all_lexicographer_files(census: dict):
    assert len(census["lexnames"]) == 45
    assert census["lexnames"]["noun.Tops"] > 0 and census["lexnames"]["adj.ppl"] > 0


@pytest.mark.slow
def test_all_synsets_order_is_fixed(wn: WordNet):
    names = wn.all_synsets()
    assert [next(names) for _ in range(3)] == [
        "entity.n.01",
        "physical_entity.n.01",
        "abstraction.n.06",
    ]
    assert next(iter(wn.all_synsets("a"))) == "able.a.01"
    assert sum(1 for _ in wn.all_synsets("ADV")) == ADV_SYNSETS
