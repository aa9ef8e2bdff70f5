"""Raganato-format reading/writing, key files, and SemCor NAF conversion (fixtures built here)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from conftest import RAGANATO_DATA as DATA
from conftest import RAGANATO_KEYS as KEYS
from conftest import FakeWordNet, write

from lexkd.lexical.wordnet import Sense, WordNetNotFoundError
from lexkd.tasks.wsd.raganato import (
    WSDCorpus,
    WSDFormatError,
    WSDInstance,
    WSDSentence,
    WSDToken,
    convert_semcor_naf,
    read_key_file,
    read_raganato,
    write_key_file,
    write_raganato,
)


@pytest.fixture
def tiny(tmp_path):
    return write(tmp_path / "tiny.data.xml", DATA), write(tmp_path / "tiny.gold.key.txt", KEYS)


def test_read_raganato_fields(tiny):
    corpus = read_raganato(*tiny)
    assert corpus.name == "tiny"
    assert list(corpus.sentences) == ["d000.s000", "d000.s001", "d001.s000"]
    assert [x.id for x in corpus.instances] == [
        "d000.s000.t000", "d000.s000.t001", "d000.s001.t000", "d001.s000.t000"]
    close = corpus.instances[1]
    assert close == WSDInstance("d000.s000.t001", "d000.s000", 2, "close", "VERB", "closed",
                                ("close%2:35:00::", "close%2:41:00::"))
    sentence = corpus.sentence_of(close)
    assert sentence.tokens[close.index].instance_id == close.id
    assert sentence.tokens[0] == WSDToken("The", "the", "DET", None)
    assert corpus.instances[2].text == "pointed out" and corpus.instances[2].lemma == "point_out"
    assert corpus.pos_of()["d001.s000.t000"] == "ADV"
    assert corpus.gold()["d000.s000.t000"] == ("bank%1:14:00::",)


def test_read_without_keys_and_name(tiny):
    corpus = read_raganato(tiny[0], name="other")
    assert corpus.name == "other"
    assert all(x.gold_keys == () for x in corpus.instances)


def test_round_trip(tiny, tmp_path):
    corpus = read_raganato(*tiny)
    out_xml, out_key = tmp_path / "out" / "x.data.xml", tmp_path / "out" / "x.gold.key.txt"
    write_raganato(corpus, out_xml, out_key)
    again = read_raganato(out_xml, out_key, name="tiny")
    assert again.sentences == corpus.sentences and again.instances == corpus.instances
    assert out_key.read_text() == KEYS
    assert "<text id=\"d001\">" in out_xml.read_text()
    assert sorted(p.name for p in out_xml.parent.iterdir()) == ["x.data.xml", "x.gold.key.txt"]


def test_write_raganato_needs_keys_for_gold(tiny, tmp_path):
    corpus = read_raganato(tiny[0])
    with pytest.raises(ValueError, match="have no gold key"):
        write_raganato(corpus, tmp_path / "a.data.xml", tmp_path / "a.key")


def test_malformed_xml_names_file_line_column(tmp_path):
    bad = write(tmp_path / "bad.data.xml", DATA.replace("</sentence>\n<sentence id=\"d000.s001\">",
                                                        "</sentenc>", 1))
    with pytest.raises(WSDFormatError, match=r"bad\.data\.xml: malformed XML at line 9, column"):
        read_raganato(bad)


def test_missing_files(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.data.xml"):
        read_raganato(tmp_path / "nope.data.xml")
    with pytest.raises(FileNotFoundError, match="nope.key"):
        read_raganato(tiny[0], tmp_path / "nope.key")


def test_key_ids_not_in_data(tiny, tmp_path):
    key = write(tmp_path / "k.txt", KEYS + "d009.s000.t000 x%1:00:00::\n")
    with pytest.raises(WSDFormatError, match=r"1 ids are not instances .*d009\.s000\.t000"):
        read_raganato(tiny[0], key)


def test_missing_keys_error_or_counted_skip(tiny, tmp_path):
    key = write(tmp_path / "k.txt", "".join(KEYS.splitlines(keepends=True)[1:]))
    with pytest.raises(WSDFormatError, match=r"1 instances .* have no key .*d000\.s000\.t000.*allow_missing_keys"):
        read_raganato(tiny[0], key)
    corpus = read_raganato(tiny[0], key, allow_missing_keys=True)
    assert corpus.skipped["missing_gold_key"] == 1
    assert [x.id for x in corpus.instances][0] == "d000.s000.t001"
    assert corpus.sentences["d000.s000"].tokens[1] == WSDToken("bank", "bank", "NOUN", None)


@pytest.mark.parametrize("old, new, message", [
    ('id="d000.s001.t000"', 'id="d000.s000.t000"', "duplicate instance id 'd000.s000.t000'"),
    ('<sentence id="d000.s001">', '<sentence id="d000.s000">', "duplicate sentence id"),
    ('lemma="quickly" pos="ADV"', 'lemma="quickly" pos="X"', "instance 'd001.s000.t000' has pos 'X'"),
    ('<instance id="d000.s001.t000" lemma="point_out"', '<instance lemma="point_out"',
     "lacks an id, lemma or pos"),
])
def test_bad_data(tmp_path, old, new, message):
    assert old in DATA
    path = write(tmp_path / "b.data.xml", DATA.replace(old, new, 1))
    with pytest.raises(WSDFormatError, match=message):
        read_raganato(path)


def test_read_key_file_errors(tmp_path):
    assert read_key_file(write(tmp_path / "a", "x k1 k2 k1\n\ny\tk3\n")) == {"x": ("k1", "k2"), "y": ("k3",)}
    with pytest.raises(WSDFormatError, match=r"line 2: duplicate id 'x' \(first on line 1\)"):
        read_key_file(write(tmp_path / "b", "x k1\nx k2\n"))
    with pytest.raises(WSDFormatError, match=r"line 1: 'x' has no sense key"):
        read_key_file(write(tmp_path / "c", "x\n"))


def test_write_key_file(tmp_path):
    path = tmp_path / "sub" / "answers.key"
    write_key_file({"b": "k1", "a": ["k2", "k3"]}, path)
    assert path.read_text() == "b k1\na k2 k3\n"
    assert os.listdir(path.parent) == ["answers.key"]  # no temporary file left behind
    for bad in ({"a": []}, {"a": "two keys"}, {"a b": "k"}):
        with pytest.raises(ValueError, match="answer for"):
            write_key_file(bad, tmp_path / "bad.key")
    assert not (tmp_path / "bad.key").exists()


def test_corpus_built_by_hand():
    sentence = WSDSentence("s1", (WSDToken("bank", "bank", "NOUN", "i1"),))
    corpus = WSDCorpus("hand", {"s1": sentence}, [WSDInstance("i1", "s1", 0, "bank", "NOUN", "bank", ())])
    assert corpus.sentence_of(corpus.instances[0]) is sentence
    with pytest.raises(KeyError, match="no sentence 's9'"):
        corpus.sentence_of(WSDInstance("i2", "s9", 0, "bank", "NOUN", "bank", ()))


# --------------------------------------------------------------------------- SemCor NAF

def naf_term(tid, wid, lemma, pos, lexical_keys=()):
    refs = "".join(f'<externalRef reference="{k}" resource="WordNet-eng30" reftype="lexical_key"/>'
                   for k in lexical_keys)
    refs = f"<externalReferences>{refs}</externalReferences>" if refs else ""
    targets = "".join(f'<target id="{w}"/>' for w in wid.split())
    return f'<term id="{tid}" pos="{pos}" lemma="{lemma}" type="open"><span>{targets}</span>{refs}</term>'


def naf_document(words, terms):
    text = "".join(f'<wf id="w{i}" offset="0" sent="{sent}" para="1">{word}</wf>'
                   for i, (word, sent) in enumerate(words))
    return f"<?xml version='1.0' encoding='UTF-8'?><NAF><text>{text}</text><terms>{''.join(terms)}</terms></NAF>"


DOC1 = naf_document(
    [("The", 1), ("Fulton_County_Grand_Jury", 1), ("said", 1), ("only", 1), (",", 1), ("n't", 2), ("men", 2)],
    [naf_term("t0", "w0", "the", "DT"),
     naf_term("t1", "w1", "group", "NNP", ["1:03:00::"]),
     naf_term("t2", "w2", "say", "VB", ["2:32:00::"]),
     naf_term("t3", "w3", "only", "JJ", ["5:00:00:single(a):00"]),
     naf_term("t5", "w5", "n't", "RB", ["4:02:00::"]),
     naf_term("t6", "w6", "man", "NNS", ["1:18:00::"])])
DOC2 = naf_document([("Ran", 1), ("off", 1)], [naf_term("t0", "w0 w1", "run_off", "VB", ["2:38:00::"])])
VALID_KEYS = {"group%1:03:00::", "say%2:32:00::", "only%5:00:00:single:00", "man%1:18:00::", "run_off%2:38:00::"}


@pytest.fixture
def fake_wordnet() -> FakeWordNet:
    """A WordNet (in place of conftest's) that knows VALID_KEYS only, all of synset x.n.01."""
    return FakeWordNet.from_senses({(key.split("%")[0], "n"): [Sense(key, "x.n.01", "", (), 0)] for key in VALID_KEYS})


def make_archive(path: Path) -> Path:
    with tarfile.open(path, "w:xz") as archive:
        for name, text in [("README.md", "readme"), ("wsd_corpora/semcor3.0/brown1/br-a01.naf", DOC1),
                           ("wsd_corpora/semcor3.0/brownv/br-b02.naf", DOC2)]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_convert_semcor_fixture(tmp_path, fake_wordnet):
    archive = make_archive(tmp_path / "semcor.tar.xz")
    stats = convert_semcor_naf(archive, tmp_path / "out.data.xml", tmp_path / "out.gold.key.txt",
                               wordnet=fake_wordnet)
    assert stats["documents"] == 2 and stats["sentences"] == 3 and stats["tokens"] == 9
    assert stats["instances"] == 4
    assert stats["skipped"] == {"unknown_sense_key": 1, "multi_token_term": 1}
    assert stats["repaired"] == {"syntactic_marker": 1}
    assert stats["top_unknown_keys"] == {"n't%4:02:00::": 1}
    assert stats["instance_pos"] == {"NOUN": 2, "VERB": 1, "ADJ": 1}
    corpus = read_raganato(tmp_path / "out.data.xml", tmp_path / "out.gold.key.txt")
    assert corpus.gold() == {"d000.s000.t000": ("group%1:03:00::",), "d000.s000.t001": ("say%2:32:00::",),
                             "d000.s000.t002": ("only%5:00:00:single:00",),
                             "d000.s001.t000": ("man%1:18:00::",)}
    first = corpus.sentences["d000.s000"].tokens
    assert first[1] == WSDToken("Fulton County Grand Jury", "group", "NOUN", "d000.s000.t000")
    assert first[0].pos == "DET" and first[4] == WSDToken(",", ",", ".", None)
    assert corpus.sentences["d000.s001"].tokens[0] == WSDToken("n't", "n't", "ADV", None)
    assert [t.pos for t in corpus.sentences["d001.s000"].tokens] == ["X", "X"]  # no term covers them
    assert 'source="brown1/br-a01"' in (tmp_path / "out.data.xml").read_text()


def test_convert_semcor_folder_and_errors(tmp_path, fake_wordnet):
    folder = tmp_path / "naf" / "brown1"
    folder.mkdir(parents=True)
    write(folder / "br-a01.naf", DOC1)
    stats = convert_semcor_naf(tmp_path / "naf", tmp_path / "o.data.xml", tmp_path / "o.key", wordnet=fake_wordnet)
    assert stats["documents"] == 1 and stats["instances"] == 4
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_semcor_naf(tmp_path / "absent.tar.xz", tmp_path / "x.xml", tmp_path / "x.key", wordnet=fake_wordnet)
    write(folder / "br-a02.naf", DOC1[:200])
    with pytest.raises(WSDFormatError, match=r"br-a02\.naf: malformed XML at line 1"):
        convert_semcor_naf(tmp_path / "naf", tmp_path / "y.data.xml", tmp_path / "y.key", wordnet=fake_wordnet)
    assert not (tmp_path / "y.data.xml").exists()  # nothing half-written


# --------------------------------------------------------------------------- real data

@pytest.mark.slow
def test_real_semeval2007(shared_data):
    folder = shared_data / "wsd" / "raganato2017" / "semeval2007"
    corpus = read_raganato(folder / "semeval2007.data.xml", folder / "semeval2007.gold.key.txt")
    assert len(corpus.instances) == 455 and len(corpus.sentences) == 135
    assert {x.pos for x in corpus.instances} == {"NOUN", "VERB"}
    assert all(corpus.sentence_of(x).tokens[x.index].instance_id == x.id for x in corpus.instances)


@pytest.mark.slow
def test_real_semcor_first_document(shared_data, tmp_path):
    source = shared_data / "wsd" / "semcor3.0_naf.tar.xz"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    with tarfile.open(source, "r|*") as archive:  # the first document only: fast
        member = next(m for m in archive if m.name.endswith(".naf"))
        (tmp_path / "naf").mkdir()
        (tmp_path / "naf" / "first.naf").write_bytes(archive.extractfile(member).read())
    try:
        from lexkd.lexical.wordnet import get_wordnet

        wordnet = get_wordnet()
    except WordNetNotFoundError as err:
        pytest.skip(f"WordNet 3.0 is not installed: {err}")
    stats = convert_semcor_naf(tmp_path / "naf", tmp_path / "s.data.xml", tmp_path / "s.key", wordnet=wordnet)
    corpus = read_raganato(tmp_path / "s.data.xml", tmp_path / "s.key")
    assert stats["documents"] == 1 and len(corpus.instances) == stats["instances"] > 500
    assert stats["skipped"]["unknown_sense_key"] < 0.1 * stats["instances"]
    assert corpus.instances[0].lemma == "group" and corpus.instances[0].gold_keys == ("group%1:03:00::",)
