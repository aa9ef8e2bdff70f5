"""Tests for lexkd.lexical.wordnet_lmf: WN-LMF files through the ``wn`` package, with the API of
the NLTK backend. The WN-LMF files are written here; the round trip from WordNet 3.0 is slow."""

from __future__ import annotations

import gzip
import json
import os
import socket
from pathlib import Path

import pytest

from lexkd.lexical.wordnet import (
    LemmaNotInSynsetError,
    Sense,
    SenseCountUnavailableError,
    UnknownSenseKeyError,
    UnknownSynsetError,
    WordNet,
    WordNetNotFoundError,
    get_wordnet,
)
from lexkd.lexical.wordnet_lmf import LMFWordNet, NotWordNetLMFError, lmf_data_dir

wn = pytest.importorskip("wn")

USER_CACHE = os.environ.get("LEXKD_CACHE")
DC = {"1.0": "http://purl.org/dc/elements/1.1/", "1.1": "https://globalwordnet.github.io/schemas/dc/"}
RIVER, MONEY, DFI = "bank%1:17:01::", "bank%1:14:00::", "depository_financial_institution%1:14:00::"
TILT, BANK_WITH = "tiny-bank-v-1", "bank%2:40:00::"  # the verb's first sense has no WordNet key


def lmf_text(version: str = "1.1", *, counts: bool = True, river_gloss: str = "sloping land",
             lexicon: str = "tiny") -> str:
    """A WN-LMF file: bank (n, 2 senses; v, 2 senses) and depository financial institution (n).

    The three sense-key rules of the backend appear once each: OEWN-style ids
    (``tiny-bank__1.17.01..``), a ``dc:identifier`` (``tiny-s3``) and a plain id (``tiny-bank-v-1``).
    WN-LMF 1.0 has no ``members`` nor ``lexfile`` attributes.
    """
    v11 = version != "1.0"
    count = (lambda n: f"<Count>{n}</Count>") if counts else (lambda n: "")
    lexfile = (lambda name: f' lexfile="{name}"') if v11 else (lambda name: "")
    members = ' members="tiny-s3 tiny-bank__1.14.00.."' if v11 else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE LexicalResource SYSTEM "http://globalwordnet.github.io/schemas/WN-LMF-{version}.dtd">
<LexicalResource xmlns:dc="{DC[version]}">
  <Lexicon id="{lexicon}" label="Tiny" language="en" email="a@b.c" license="https://example.org" version="1.0">
    <LexicalEntry id="{lexicon}-bank-n">
      <Lemma writtenForm="bank" partOfSpeech="n"/>
      <Sense id="{lexicon}-bank__1.17.01.." synset="{lexicon}-1-n">{count(25)}</Sense>
      <Sense id="{lexicon}-bank__1.14.00.." synset="{lexicon}-2-n">{count(20)}{count(1)}</Sense>
    </LexicalEntry>
    <LexicalEntry id="{lexicon}-dfi-n">
      <Lemma writtenForm="depository financial institution" partOfSpeech="n"/>
      <Sense id="{lexicon}-s3" synset="{lexicon}-2-n" dc:identifier="{DFI}"/>
    </LexicalEntry>
    <LexicalEntry id="{lexicon}-bank-v">
      <Lemma writtenForm="Bank" partOfSpeech="v"/>
      <Sense id="{lexicon}-bank-v-1" synset="{lexicon}-3-v"/>
      <Sense id="{lexicon}-bank__2.40.00.." synset="{lexicon}-4-v">{count(3)}</Sense>
    </LexicalEntry>
    <Synset id="{lexicon}-1-n" ili="" partOfSpeech="n"{lexfile("noun.object")}>
      <Definition>{river_gloss}</Definition>
      <Example>they pulled the canoe up on the bank</Example>
    </Synset>
    <Synset id="{lexicon}-2-n" ili="" partOfSpeech="n"{members}{lexfile("noun.group")}>
      <Definition>a financial institution</Definition>
      <Example>he cashed a check at the bank</Example>
      <Example>that bank holds the mortgage</Example>
    </Synset>
    <Synset id="{lexicon}-3-v" ili="" partOfSpeech="v"{lexfile("verb.motion")}>
      <Definition>tip laterally</Definition>
    </Synset>
    <Synset id="{lexicon}-4-v" ili="" partOfSpeech="v"{lexfile("verb.possession")}>
      <Definition>do business with a bank</Definition>
      <Example>Where do you bank in this town?</Example>
    </Synset>
  </Lexicon>
</LexicalResource>
"""


def write_lmf(path: Path, version: str = "1.1", **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(lmf_text(version, **kwargs), encoding="utf-8")
    return path


@pytest.fixture(scope="module", autouse=True)
def lexkd_cache(tmp_path_factory) -> Path:
    """One lexkd cache, so one wn database, for this module (creating a database takes ~0.7 s)."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEXKD_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def nltk_wordnet(lexkd_cache) -> WordNet:
    """The installed WordNet 3.0, staged in the user's lexkd cache (not this module's), or a skip."""
    with pytest.MonkeyPatch.context() as patch:
        if USER_CACHE is None:
            patch.delenv("LEXKD_CACHE")
        else:
            patch.setenv("LEXKD_CACHE", USER_CACHE)
        try:
            return get_wordnet()
        except WordNetNotFoundError as err:
            pytest.skip(f"WordNet 3.0 is not installed: {err}")


@pytest.fixture(params=["1.0", "1.1"])
def tiny(request, tmp_path) -> LMFWordNet:
    return LMFWordNet(write_lmf(tmp_path / f"tiny-{request.param}.xml", request.param))


# --------------------------------------------------------------------------- the API


def test_synsets_of_a_lemma_in_sense_order_as_nltk_does(tiny):
    assert tiny.synsets("bank", "n") == ["tiny-1-n", "tiny-2-n"]
    assert tiny.synsets("bank", "NOUN") == tiny.synsets("BANK", "n") == tiny.synsets(" bank ", "n")
    assert tiny.synsets("bank") == ["tiny-1-n", "tiny-2-n", "tiny-3-v", "tiny-4-v"]  # nouns first
    assert tiny.synsets("bank", "v") == ["tiny-3-v", "tiny-4-v"]  # the entry's lemma is "Bank"
    assert tiny.synsets("depository financial institution") == ["tiny-2-n"]
    assert tiny.synsets("Depository_Financial_Institution", "n") == ["tiny-2-n"]
    assert tiny.synsets("banks") == [] and tiny.synsets("bank", "r") == [] and tiny.synsets("") == []
    with pytest.raises(ValueError, match="'X'"):
        tiny.synsets("bank", "X")


def test_synset_facts(tiny):
    assert tiny.gloss("tiny-1-n") == "sloping land"
    assert tiny.examples("tiny-2-n") == ["he cashed a check at the bank", "that bank holds the mortgage"]
    assert tiny.examples("tiny-3-v") == []
    assert tiny.pos("tiny-4-v") == "v"
    assert tiny.lemma_names("tiny-3-v") == ["Bank"]
    names = tiny.lemma_names("tiny-2-n")
    if tiny.source.endswith("1.1.xml"):  # the synset's members attribute orders them
        assert names == ["depository_financial_institution", "bank"]
        assert tiny.lexname("tiny-1-n") == "noun.object" and tiny.lexname("tiny-4-v") == "verb.possession"
    else:
        assert sorted(names) == ["bank", "depository_financial_institution"]
        assert tiny.lexname("tiny-1-n") == ""  # WN-LMF 1.0 has no lexfile
    assert tiny.gloss("bank.n.02") == "a financial institution"  # NLTK's alias form
    assert tiny.gloss("bank.v.01") == "tip laterally"
    for name in ("nope", "bank.n.03", "tiny-1-x", 7):
        with pytest.raises(UnknownSynsetError, match="Synset ids"):
            tiny.gloss(name)


def test_sense_keys_follow_the_three_documented_rules(tiny):
    assert tiny.sense_key("bank", "tiny-1-n") == RIVER  # decoded from the sense id
    assert tiny.sense_key("Depository Financial Institution", "tiny-2-n") == DFI  # dc:identifier
    assert tiny.sense_key("bank", "tiny-3-v") == TILT  # neither: the LMF sense id
    assert tiny.sense_key("bank", "tiny-4-v") == BANK_WITH
    assert sorted(tiny.sense_keys("tiny-2-n")) == sorted([DFI, MONEY])
    for key, synset in [(RIVER, "tiny-1-n"), (MONEY, "tiny-2-n"), (DFI, "tiny-2-n"), (TILT, "tiny-3-v"),
                        (BANK_WITH, "tiny-4-v"), ("BANK%1:17:01::", "tiny-1-n"), ("tiny-bank__1.17.01..", "tiny-1-n")]:
        assert tiny.synset_from_sense_key(key) == synset
    with pytest.raises(LemmaNotInSynsetError, match=r"'money'.*\['Bank'\]"):
        tiny.sense_key("money", "tiny-3-v")
    for key in ("bank%1:17:09::", "dog%1:05:00::", "bank", "", "TINY-BANK-V-1", None):
        with pytest.raises(UnknownSenseKeyError, match="sense_key"):
            tiny.synset_from_sense_key(key)


def test_counts_and_senses(tiny):
    assert tiny.lemma_count(RIVER) == 25
    assert tiny.lemma_count(MONEY) == 21  # two Count elements are summed
    assert tiny.lemma_count(DFI) == 0 and tiny.lemma_count(TILT) == 0  # no Count: never tagged
    with pytest.raises(UnknownSenseKeyError):
        tiny.lemma_count("bank%1:17:09::")
    assert tiny.senses("bank", "n") == [
        Sense(RIVER, "tiny-1-n", "sloping land", ("they pulled the canoe up on the bank",), 25),
        Sense(MONEY, "tiny-2-n", "a financial institution",
              ("he cashed a check at the bank", "that bank holds the mortgage"), 21),
    ]
    assert [s.sense_key for s in tiny.senses("bank")] == [RIVER, MONEY, TILT, BANK_WITH]
    assert tiny.senses("zorp") == []


def test_all_synsets_by_pos_then_file_order(tiny):
    assert list(tiny.all_synsets()) == ["tiny-1-n", "tiny-2-n", "tiny-3-v", "tiny-4-v"]
    assert list(tiny.all_synsets("VERB")) == ["tiny-3-v", "tiny-4-v"]
    assert list(tiny.all_synsets("a")) == []
    with pytest.raises(ValueError, match="'X'"):
        tiny.all_synsets("X")  # at the call, not on iteration


def test_without_count_elements_counts_raise_as_without_cntlist(tmp_path):
    wordnet = LMFWordNet(write_lmf(tmp_path / "nocounts.xml", counts=False))
    with pytest.raises(SenseCountUnavailableError, match=r"tiny:1\.0.*no <Count>"):
        wordnet.lemma_count(RIVER)
    with pytest.raises(SenseCountUnavailableError):
        wordnet.senses("bank")
    assert wordnet.senses("zorp") == []  # as NLTK: no sense, nothing to count
    with pytest.raises(UnknownSenseKeyError):  # the key is checked first, as NLTK does
        wordnet.lemma_count("zorp%1:05:00::")
    assert wordnet.synsets("bank", "n") == ["tiny-1-n", "tiny-2-n"]


def test_conftest_fake_wordnet_answers_as_the_lmf_backend(tmp_path):
    from conftest import FakeSynset, FakeWordNet

    lmf = LMFWordNet(write_lmf(tmp_path / "tiny.xml"))
    fake = FakeWordNet(
        {"tiny-1-n": FakeSynset(("bank",), "sloping land", ("they pulled the canoe up on the bank",), "n", "noun.object"),
         "tiny-2-n": FakeSynset(("depository_financial_institution", "bank"), "a financial institution",
                                ("he cashed a check at the bank", "that bank holds the mortgage"), "n", "noun.group"),
         "tiny-3-v": FakeSynset(("Bank",), "tip laterally", (), "v", "verb.motion"),
         "tiny-4-v": FakeSynset(("Bank",), "do business with a bank", ("Where do you bank in this town?",), "v",
                                "verb.possession")},
        keys={("bank", "tiny-1-n"): RIVER, ("bank", "tiny-2-n"): MONEY, ("depository_financial_institution", "tiny-2-n"): DFI,
              ("bank", "tiny-3-v"): TILT, ("bank", "tiny-4-v"): BANK_WITH},
        counts={RIVER: 25, MONEY: 21, BANK_WITH: 3})
    for pos in (None, "n", "NOUN", "v", "a", "s", "r"):
        assert list(fake.all_synsets(pos)) == list(lmf.all_synsets(pos))
        for lemma in ("bank", "Depository financial institution", "zorp"):
            assert fake.synsets(lemma, pos) == lmf.synsets(lemma, pos) and fake.senses(lemma, pos) == lmf.senses(lemma, pos)
    for synset in lmf.all_synsets():
        for method in ("gloss", "examples", "lemma_names", "pos", "lexname", "sense_keys"):
            assert getattr(fake, method)(synset) == getattr(lmf, method)(synset), (method, synset)
        for key in lmf.sense_keys(synset):
            assert fake.synset_from_sense_key(key) == lmf.synset_from_sense_key(key) == synset
            assert fake.lemma_count(key) == lmf.lemma_count(key)
    for wordnet in (fake, lmf):
        with pytest.raises(UnknownSynsetError):
            wordnet.gloss("tiny-9-n")
        with pytest.raises(LemmaNotInSynsetError):
            wordnet.sense_key("money", "tiny-1-n")
        with pytest.raises(UnknownSenseKeyError):
            wordnet.lemma_count("zorp%1:05:00::")
        with pytest.raises(ValueError):
            wordnet.synsets("bank", "X")


# --------------------------------------------------------------------------- loading


def test_file_is_added_once_and_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("LEXKD_CACHE", str(tmp_path / "own"))  # a database of its own
    calls = []
    add = wn.add_lexical_resource
    monkeypatch.setattr(wn, "add_lexical_resource", lambda *a, **k: calls.append(1) or add(*a, **k))
    path = write_lmf(tmp_path / "tiny.xml")
    first = LMFWordNet(path)
    assert LMFWordNet(path).gloss("tiny-1-n") == "sloping land" and len(calls) == 1
    assert first.data_directory == str(lmf_data_dir()) == str((tmp_path / "own" / "wn_data").resolve())
    write_lmf(path, river_gloss="a slope beside water")  # same lexicon id and version, new content
    assert LMFWordNet(path).gloss("tiny-1-n") == "a slope beside water" and len(calls) == 2
    manifest = json.loads((lmf_data_dir() / "lexkd-lmf-manifest.json").read_text())
    assert [entry["lexicons"] for entry in manifest["files"].values()] == [{"tiny:1.0": {"counts": True}}]


def test_gzip_file_and_a_file_with_two_lexicons(tmp_path):
    packed = tmp_path / "tiny.xml.gz"
    packed.write_bytes(gzip.compress(lmf_text().encode()))
    assert LMFWordNet(packed).synsets("bank", "n") == ["tiny-1-n", "tiny-2-n"]
    two = lmf_text(lexicon="other").split("<Lexicon ", 1)[1].rsplit("</LexicalResource>", 1)[0]
    both = write_lmf(tmp_path / "two.xml")
    both.write_text(both.read_text().replace("</LexicalResource>", "<Lexicon " + two + "</LexicalResource>"))
    with pytest.raises(ValueError, match=r"2 lexicons \['other:1\.0', 'tiny:1\.0'\]; pass lexicon="):
        LMFWordNet(both)
    assert LMFWordNet(both, lexicon="other").synsets("bank", "v") == ["other-3-v", "other-4-v"]
    with pytest.raises(ValueError, match="'third'"):
        LMFWordNet(both, lexicon="third")


def test_wn_uses_lexkd_cache_never_the_users_folder_and_is_offline(tmp_path, lexkd_cache, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(wn, "download", no_network)
    user, before = tmp_path / "user_wn", wn.config.database_path.parent  # reading data_directory creates it
    wn.config.data_directory = user  # the folder the user's own wn code uses
    try:
        wordnet = get_wordnet(lmf=write_lmf(tmp_path / "offline.xml", lexicon="offline"))  # a new lexicon: added
        assert wordnet.senses("bank", "n")[1] == Sense(
            MONEY, "offline-2-n", "a financial institution",
            ("he cashed a check at the bank", "that bank holds the mortgage"), 21)
        assert wn.config.database_path == user / "wn.db" and not user.exists()
    finally:
        wn.config.data_directory = before
    manifest = json.loads((lexkd_cache / "wn_data" / "lexkd-lmf-manifest.json").read_text())
    assert any("offline:1.0" in entry["lexicons"] for entry in manifest["files"].values())


def test_get_wordnet_chooses_the_backend_explicitly(tmp_path):
    path = write_lmf(tmp_path / "tiny.xml")
    wordnet = get_wordnet(lmf=path)
    assert isinstance(wordnet, LMFWordNet) and get_wordnet(lmf=path) is wordnet
    assert wordnet.version == "1.0" and wordnet.lexicon == "tiny:1.0" and wordnet.source == str(path.resolve())
    assert wordnet.staged_root is None and "tiny:1.0" in repr(wordnet)
    with pytest.raises(ValueError, match="give one of them"):
        get_wordnet(tmp_path, lmf=path)
    with pytest.raises(ValueError, match="lmf="):
        get_wordnet(lexicon="tiny")
    with pytest.raises(WordNetNotFoundError, match=r"is a file.*get_wordnet\(lmf=path\)"):
        WordNet(path)


@pytest.mark.parametrize("content, why", [
    (None, "does not exist"),
    ("just text\n", "not a WN-LMF file"),
    ('<?xml version="1.0" encoding="UTF-8"?>\n<LexicalResource/>\n', "not a WN-LMF file"),
    (lmf_text().replace("</Lexicon>", ""), "not a WN-LMF file"),  # ill-formed XML
    (lmf_text().split("<Lexicon ")[0] + "</LexicalResource>\n", "no <Lexicon>"),
], ids=["missing", "text", "no-doctype", "ill-formed", "no-lexicon"])
def test_bad_files_raise_naming_the_file_and_the_fix(tmp_path, content, why):
    path = tmp_path / "bad.xml"
    if content is not None:
        path.write_text(content)
    error = FileNotFoundError if content is None else NotWordNetLMFError
    with pytest.raises(error) as caught:
        get_wordnet(lmf=path)  # never falls back to WordNet 3.0 through NLTK
    message = str(caught.value)
    assert str(path) in message and why in message
    assert ("english-wordnet-2024.xml.gz" in message) and (content is None or "DOCTYPE" in message)


# --------------------------------------------------------------------------- lexkd code taking a WordNet


def test_lmf_backend_feeds_gloss_pairs_and_the_first_sense_baseline(tmp_path):
    from lexkd.lexical.glosses import candidate_groups
    from lexkd.tasks.wsd.baselines import BASELINES
    from lexkd.tasks.wsd.raganato import WSDCorpus, WSDInstance, WSDSentence, WSDToken

    wordnet = get_wordnet(lmf=write_lmf(tmp_path / "tiny.xml"))
    words = ["he", "sat", "on", "the", "bank"]
    tokens = tuple(WSDToken(w, w, "NOUN" if i == 4 else "X", "d0.s0.t0" if i == 4 else None) for i, w in enumerate(words))
    corpus = WSDCorpus("toy", {"d0.s0": WSDSentence("d0.s0", tokens)},
                       [WSDInstance("d0.s0.t0", "d0.s0", 4, "bank", "NOUN", "bank", (MONEY,))])
    (group,) = candidate_groups(corpus, wordnet=wordnet)
    assert [(p.sense_key, p.gloss, p.label) for p in group] == [
        (RIVER, "bank : sloping land", 0), (MONEY, "bank : a financial institution", 1)]
    assert group[0].context == 'he sat on the " bank "'
    assert BASELINES["first_sense"](wordnet).fit().predict(corpus) == {"d0.s0.t0": RIVER}


# --------------------------------------------------------------------------- against WordNet 3.0


def _lmf_from_nltk(nltk_wn: WordNet, lemmas: list[str], path: Path) -> dict[str, str]:
    """Write the synsets of ``lemmas`` from WordNet 3.0 as WN-LMF 1.1; returns NLTK name -> Synset id.

    Each chosen lemma gets one entry per part of speech (satellites with adjectives, as in
    index.adj) with its senses in WordNet order; the synsets' other lemmas get entries with the
    senses in these synsets only. Keys alternate between OEWN-style ids and dc:identifier.
    """
    from xml.sax.saxutils import escape, quoteattr

    from wn.compat import sensekey

    def entry_pos(name):
        return "a" if nltk_wn.pos(name) == "s" else nltk_wn.pos(name)

    names = list(dict.fromkeys(name for lemma in lemmas for name in nltk_wn.synsets(lemma)))
    ids = {name: f"rt-s{i}" for i, name in enumerate(names)}
    entries: dict[tuple[str, str], list[str]] = {}
    for lemma in lemmas:
        for name in nltk_wn.synsets(lemma):
            entries.setdefault((lemma, entry_pos(name)), []).append(name)
    for name in names:
        for member in nltk_wn.lemma_names(name):
            if name not in entries.get((member.lower(), entry_pos(name)), []):
                entries.setdefault((member, entry_pos(name)), []).append(name)
    sense_ids, keys, xml = {}, set(), []
    for n, ((lemma, pos), synsets) in enumerate(entries.items()):
        xml.append(f'<LexicalEntry id="rt-e{n}"><Lemma writtenForm={quoteattr(lemma.replace("_", " "))} partOfSpeech="{pos}"/>')
        for name in synsets:
            key = nltk_wn.sense_key(lemma, name)
            assert key not in keys, f"{key} twice: choose lemmas without case variants"
            keys.add(key)
            by_id = len(sense_ids) % 2
            sid = f"rt-{sensekey.escape(key)}" if by_id else f"rt-k{len(sense_ids)}"
            count = nltk_wn.lemma_count(key)
            xml.append(f'<Sense id={quoteattr(sid)} synset="{ids[name]}"'
                       + ("" if by_id else f" dc:identifier={quoteattr(key)}") + ">"
                       + (f"<Count>{count}</Count>" if count else "") + "</Sense>")
            sense_ids[(lemma.lower(), name)] = sid
        xml.append("</LexicalEntry>")
    for name in names:
        members = " ".join(sense_ids[(member.lower(), name)] for member in nltk_wn.lemma_names(name))
        xml.append(f'<Synset id="{ids[name]}" ili="" partOfSpeech="{nltk_wn.pos(name)}" members="{members}" '
                   f'lexfile="{nltk_wn.lexname(name)}"><Definition>{escape(nltk_wn.gloss(name))}</Definition>'
                   + "".join(f"<Example>{escape(x)}</Example>" for x in nltk_wn.examples(name)) + "</Synset>")
    head = lmf_text().split("<LexicalEntry", 1)[0].replace('id="tiny"', 'id="rt"')
    path.write_text(head + "\n".join(xml) + "</Lexicon></LexicalResource>\n", encoding="utf-8")
    return ids


@pytest.mark.slow
def test_round_trip_from_wordnet_30_answers_as_nltk(tmp_path, nltk_wordnet):
    nltk_wn = nltk_wordnet
    lemmas = ["bank", "good", "dog", "run"]  # nouns, verbs, adjectives with satellites, adverbs
    ids = _lmf_from_nltk(nltk_wn, lemmas, tmp_path / "rt.xml")
    lmf = LMFWordNet(tmp_path / "rt.xml")
    for lemma in lemmas:
        for pos in (None, "n", "v", "a", "s", "r"):
            assert lmf.synsets(lemma, pos) == [ids[name] for name in nltk_wn.synsets(lemma, pos)], (lemma, pos)
            assert lmf.senses(lemma, pos) == [
                Sense(s.sense_key, ids[s.synset], s.gloss, s.examples, s.count) for s in nltk_wn.senses(lemma, pos)]
    for name, synset in ids.items():
        assert lmf.gloss(synset) == nltk_wn.gloss(name) and lmf.examples(synset) == nltk_wn.examples(name)
        assert lmf.pos(synset) == nltk_wn.pos(name) and lmf.lexname(synset) == nltk_wn.lexname(name)
        assert lmf.lemma_names(synset) == nltk_wn.lemma_names(name)
        assert lmf.sense_keys(synset) == nltk_wn.sense_keys(name)
        for key in nltk_wn.sense_keys(name):
            assert lmf.synset_from_sense_key(key) == synset and lmf.lemma_count(key) == nltk_wn.lemma_count(key)
        for member in nltk_wn.lemma_names(name):
            assert lmf.sense_key(member, synset) == nltk_wn.sense_key(member, name)
    assert lmf.gloss("bank.n.02") == nltk_wn.gloss("bank.n.02")  # the alias form picks the same sense
    assert sorted(lmf.all_synsets()) == sorted(ids.values())
