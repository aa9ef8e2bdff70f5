"""Plagiarism data: PAN/MSRP pair readers, the machine-paraphrase reader, the WordNet spinner and
the corpus generator (tiny files written here and a stand-in WordNet; real WordNet and the shared
data in tests marked slow)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import SPINNER_DOCUMENTS, spinner_wordnet
from nltk.tokenize import PunktSentenceTokenizer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from lexkd.tasks.plagiarism import spinning
from lexkd.tasks.plagiarism.data import (
    NotLatin1Error,
    parse_paragraph_name,
    read_machine_paraphrase,
    read_msrp,
    read_pan_pairs,
    split_by_group,
    to_latin1,
)
from lexkd.tasks.plagiarism.spinning import (
    MANIFEST_NAME,
    content_word_spans,
    spin_text,
    synonyms,
    write_machine_paraphrase_corpus,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEXKD_SHARED_DATA", REPO.parent / "shared" / "data"))


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def fake_wn():
    """The spinner's stand-in WordNet (conftest.SPINNER_LEXICON)."""
    return spinner_wordnet()


@pytest.fixture(scope="module")
def real_wn():
    from lexkd.lexical.wordnet import WordNetNotFoundError, get_wordnet

    try:
        return get_wordnet()
    except WordNetNotFoundError as err:
        pytest.skip(f"WordNet 3.0 is not installed: {err}")


def shared(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (set LEXKD_SHARED_DATA)")
    return path


# ------------------------------------------------------------------ PAN pairs and MSRP


def write_pan(folder: Path, split: str, s1: str, s2: str, labels: str) -> None:
    write(folder / f"pan-{split}_s1.txt", s1)
    write(folder / f"pan-{split}_s2.txt", s2)
    write(folder / f"pan-{split}.labels", labels)


def test_read_pan_pairs_by_folder_split_and_by_prefix(tmp_path):
    write_pan(tmp_path, "train", "The cat sat.\r\nA dog ran.\r\n", "A cat was sitting.\r\nThe sky is blue.\r\n", "1\r\n0\r\n")
    write_pan(tmp_path, "test", "One.\nTwo.\nThree.", "Uno.\nDos.\nTres.", "1\n1\n0")
    train = read_pan_pairs(tmp_path)
    assert train.column_names == ["source", "suspicious", "label"]
    assert train["source"] == ["The cat sat.", "A dog ran."]
    assert train["suspicious"] == ["A cat was sitting.", "The sky is blue."]
    assert train["label"] == [1, 0] and train.features["label"].names == ["non-paraphrase", "paraphrase"]
    assert read_pan_pairs(tmp_path, split="test")["label"] == [1, 1, 0]  # no final newline: still 3 lines
    assert read_pan_pairs(tmp_path / "pan-test")["source"] == ["One.", "Two.", "Three."]


def test_pan_line_count_mismatch_names_every_file_and_count(tmp_path):
    write_pan(tmp_path, "train", "a\nb\nc\n", "a\nb\n", "1\n0\n1\n")
    with pytest.raises(ValueError) as err:
        read_pan_pairs(tmp_path)
    message = str(err.value)
    assert "pan-train_s1.txt 3" in message and "pan-train_s2.txt 2" in message and "pan-train.labels 3" in message


@pytest.mark.parametrize("labels, where", [("1\n2\n", "line 2: label '2'"), ("1\nyes\n", "line 2: label 'yes'")])
def test_pan_label_outside_0_1_names_file_line_value(tmp_path, labels, where):
    write_pan(tmp_path, "train", "a\nb\n", "c\nd\n", labels)
    with pytest.raises(ValueError, match=f"pan-train.labels: {where} is not 0 or 1"):
        read_pan_pairs(tmp_path)


def test_pan_empty_missing_and_undecodable_files_are_named(tmp_path):
    write_pan(tmp_path, "train", "a\n", "", "1\n")
    with pytest.raises(ValueError, match=r"pan-train_s2.txt: the file is empty"):
        read_pan_pairs(tmp_path)
    write(tmp_path / "pan-train_s2.txt", b"ok\n")
    write(tmp_path / "pan-train_s1.txt", b"fine\n\xff\xfe bad\n")
    write(tmp_path / "pan-train.labels", b"1\n1\n")
    with pytest.raises(ValueError, match=r"pan-train_s1.txt: line 2 is not valid utf-8"):
        read_pan_pairs(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"pan-test_s1.txt"):
        read_pan_pairs(tmp_path, split="test")


MSRP = (
    "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    '1\t702876\t702977\tAmrozi called him "the witness".\tHe was "the witness", Amrozi said.\n'
    "0\t2108705\t2108831\tYucaipa owned Dominick's.\tYucaipa bought it in 1995.\n"
)


def test_read_msrp_keeps_quotes_as_text(tmp_path):
    data = read_msrp(write(tmp_path / "msr_paraphrase_train.txt", MSRP))
    assert data["label"] == [1, 0]
    assert data["source"][0] == 'Amrozi called him "the witness".'  # QUOTE_NONE: quotes are text
    assert data["suspicious"][1] == "Yucaipa bought it in 1995."


@pytest.mark.parametrize("bad_row, message", [
    ("1\t1\t2\tonly four fields\n",
     r"line 4: expected 5 fields \(Quality, #1 ID, #2 ID, #1 String, #2 String\), found 4"),
    ("7\t1\t2\tA.\tB.\n", r"line 4: label '7' is not 0 or 1"),
    ("1\t1\t2\t\tB.\n", r"line 4: empty sentence"),
    ("1\t1\t2\tA.\t \n", r"line 4: empty sentence"),
    ("\n1\t1\t2\tA.\tB.\n", r"line 4: blank line between rows"),
    ("1\t1\t2\tA \xe9\tB.\n", r"line 4: text cannot be decoded as UTF-8"),
])
def test_msrp_bad_rows_name_file_and_line(tmp_path, bad_row, message):
    path = write(tmp_path / "msrp.txt", MSRP.encode() + bad_row.encode("latin-1"))
    with pytest.raises(ValueError, match=rf"msrp\.txt, {message}"):
        read_msrp(path)


def test_msrp_crlf_and_trailing_blank_lines(tmp_path):
    data = read_msrp(write(tmp_path / "m.txt", MSRP.replace("\n", "\r\n") + "\r\n\r\n"))
    assert data["label"] == [1, 0] and data["suspicious"][0] == 'He was "the witness", Amrozi said.'


def test_msrp_wrong_header_empty_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"a\.txt, line 1: expected the header \['Quality', '#1 ID'"):
        read_msrp(write(tmp_path / "a.txt", "label\ts1\ts2\n1\tx\ty\n"))
    with pytest.raises(ValueError, match=r"b\.txt is empty"):
        read_msrp(write(tmp_path / "b.txt", "\n"))
    with pytest.raises(ValueError, match=r"c\.txt has no data rows"):
        read_msrp(write(tmp_path / "c.txt", MSRP.splitlines()[0] + "\n"))
    with pytest.raises(FileNotFoundError, match=r"d\.txt: no such file"):
        read_msrp(tmp_path / "d.txt")


def test_split_by_group_is_deterministic_and_never_splits_a_group(tmp_path):
    lines = [f"source {i // 3}" for i in range(30)]  # 10 groups of 3 pairs
    write_pan(tmp_path, "train", "\n".join(lines), "\n".join(f"s{i}" for i in range(30)), "\n".join("01"[i % 2] for i in range(30)))
    pairs = read_pan_pairs(tmp_path)
    first, again = split_by_group(pairs, "source", 0.2, seed=7), split_by_group(pairs, "source", 0.2, seed=7)
    assert first["test"]["suspicious"] == again["test"]["suspicious"]
    assert len(first["test"]) == 6 and len(first["train"]) == 24  # 2 of 10 groups, whole
    assert not set(first["train"]["source"]) & set(first["test"]["source"])
    assert sorted(list(first["train"]["suspicious"]) + list(first["test"]["suspicious"])) == sorted(pairs["suspicious"])
    others = [split_by_group(pairs, "source", 0.2, seed=s)["test"]["source"] for s in range(5)]
    assert len({tuple(t) for t in others}) > 1  # the seed matters
    with pytest.raises(ValueError, match="no column 'document'"):
        split_by_group(pairs, "document")
    with pytest.raises(ValueError, match="at least 2 distinct"):
        split_by_group(pairs.select([0, 1]), "source")


# ------------------------------------------------------------------ machine-paraphrase reader


def test_read_machine_paraphrase_zenodo_layout(tmp_path):
    train = tmp_path / "spinbot" / "corpus" / "paragraphs" / "wikipedia_paragraphs_train"
    write(train / "og" / "4115833-ORIG-15.txt", "Caf\xe9 culture spread.\n".encode("iso-8859-1"))
    write(train / "mg" / "4115833-SPUN-15.txt", "Caf\xe9 civilization dispersed.".encode("iso-8859-1"))
    write(train / "mg" / "232530-SPUN-13.txt", b"Another spun paragraph.")
    write(tmp_path / "spinbot" / "corpus" / "paragraphs" / "arxiv_paragraph" / "og" / "1001.0001-ORIG-2.txt", b"An arXiv one.")
    write(train / "README.txt", b"not in og/ or mg/: ignored")
    write(tmp_path / ".partial" / "og" / "9-ORIG-1.txt", b"a hidden, unfinished folder: ignored")
    data = read_machine_paraphrase(tmp_path)
    rows = {Path(p).name: (t, y, d) for p, t, y, d in zip(data["path"], data["text"], data["label"], data["document"], strict=True)}
    assert rows == {
        "1001.0001-ORIG-2.txt": ("An arXiv one.", 0, "1001.0001"),
        "232530-SPUN-13.txt": ("Another spun paragraph.", 1, "232530"),
        "4115833-SPUN-15.txt": ("Café civilization dispersed.", 1, "4115833"),
        "4115833-ORIG-15.txt": ("Café culture spread.", 0, "4115833"),
    }
    assert data.features["label"].names == ["original", "machine-paraphrased"]
    assert len(read_machine_paraphrase(train)) == 3  # one set


def test_parse_paragraph_name():
    assert parse_paragraph_name("4115833-ORIG-15.txt") == (0, "4115833")
    assert parse_paragraph_name("my-doc-SPUN-3.txt") == (1, "my-doc")
    assert parse_paragraph_name("abc_SPUN.txt") == (1, "abc")
    assert parse_paragraph_name("ORIG_7.txt") == (0, "ORIG_7")
    for name in ("4115833-15.txt", "a-ORIG-SPUN-1.txt", "x-orig-1.txt"):
        with pytest.raises(ValueError, match="cannot tell original"):
            parse_paragraph_name(name)


@pytest.mark.parametrize("relative, data, message", [
    ("set/og/12-15.txt", b"text", r"12-15.txt: file name '12-15.txt' has neither ORIG nor SPUN"),
    ("set/mg/12-ORIG-1.txt", b"text", r"12-ORIG-1.txt: the name says original but the file is in mg/"),
    ("set/og/12-SPUN-1.txt", b"text", r"12-SPUN-1.txt: the name says machine-paraphrased but the file is in og/"),
    ("set/og/12-ORIG-1.txt", b"te\x00xt", r"12-ORIG-1.txt: contains NUL bytes"),
    ("set/og/12-ORIG-1.txt", b" \n ", r"12-ORIG-1.txt: the file is empty"),
])
def test_machine_paraphrase_errors_name_the_file(tmp_path, relative, data, message):
    write(tmp_path / relative, data)
    with pytest.raises(ValueError, match=message):
        read_machine_paraphrase(tmp_path)


def test_machine_paraphrase_undecodable_and_empty_corpus(tmp_path):
    path = write(tmp_path / "og" / "1-ORIG-1.txt", b"ok\ncaf\xe9")
    assert read_machine_paraphrase(tmp_path)["text"] == ["ok\ncafé"]  # ISO-8859-1: every byte decodes
    with pytest.raises(ValueError, match=rf"{path.name}: line 2 is not valid utf-8"):
        read_machine_paraphrase(tmp_path, encoding="utf-8")
    write(tmp_path / "empty" / "og" / "notes.md", b"no txt")
    with pytest.raises(ValueError, match="empty corpus"):
        read_machine_paraphrase(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        read_machine_paraphrase(tmp_path / "missing")


# ------------------------------------------------------------------ spinning (stand-in WordNet)

KNOWN = "The old house and the red river. The house by the river is old, and the river is red."


def test_synonyms_order_by_sense_count_and_filter(fake_wn):
    assert synonyms("house", fake_wn) == ("home", "dwelling", "firm")
    assert synonyms("Old", fake_wn) == ("aged", "ancient")  # count 8 before count 1; no capitalised lemma
    assert synonyms("garden", fake_wn) == ("plot",)  # no stop word, no hyphenated or multiword lemma
    assert synonyms("years", fake_wn) == ()
    assert synonyms("queen", fake_wn) == ("monarch",)  # not the slur sense's lemma


@pytest.mark.parametrize("ratio, expected", [(0.0, 0), (0.25, 2), (0.5, 5), (1.0, 9)])
def test_spin_replaces_the_ratio_of_content_words(fake_wn, ratio, expected):
    spun = spin_text(KNOWN, ratio, seed=1, wordnet=fake_wn)
    assert spun.content_words == 9  # old house red river house river old river red
    assert len(spun.replacements) == expected
    assert spun.ratio == pytest.approx(expected / 9)


def test_spin_changes_only_content_words_into_their_synonyms(fake_wn):
    text = "The old house stood in the valley for years, and the red river ran by it. Its owner was Smith."
    spun = spin_text(text, 1.0, seed=3, wordnet=fake_wn)
    before, after = text.split(), spun.text.split()
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == len(spun.replacements) == 5  # old house valley red river; not Smith, not years
    for b, a in changed:
        word, new = b.strip(".,"), a.strip(".,")
        assert word.lower() not in ENGLISH_STOP_WORDS and word.isalpha()
        assert new in synonyms(word, fake_wn)
    assert [r.original for r in spun.replacements] == ["old", "house", "valley", "red", "river"]
    assert "Smith" in spun.text  # capitalised inside a sentence: taken for a name


def test_spin_keeps_case_sentences_and_is_seeded(fake_wn):
    text = "House prices rose. RIVER levels fell, and Smith left. Old habits stay."
    spun = spin_text(text, 1.0, seed=0, wordnet=fake_wn)
    assert spun.text.split()[0] in {"Home", "Dwelling", "Firm"}
    assert spun.text.split()[3] in {"STREAM"}
    assert spun.text.split()[9] in {"Aged", "Ancient"}
    assert "Smith" in spun.text  # not sentence-initial: kept
    punkt = PunktSentenceTokenizer()
    assert len(punkt.tokenize(spun.text)) == len(punkt.tokenize(text)) == 3
    assert spin_text(text, 0.5, "x", fake_wn) == spin_text(text, 0.5, "x", fake_wn)
    outputs = {spin_text(KNOWN, 0.5, seed, fake_wn).text for seed in range(10)}
    assert len(outputs) > 1
    first_only = spin_text(KNOWN, 1.0, 5, fake_wn, max_candidates=1)
    assert {r.replacement.lower() for r in first_only.replacements} == {"aged", "home", "stream", "crimson"}


def test_stop_words_are_never_content_words():
    text = "Nobody else was there; they could hardly see anything, although the lamps were burning."
    assert [text[start:end] for start, end, _ in content_word_spans(text)] == ["hardly", "lamps", "burning"]
    assert content_word_spans("They would have been there, but could find nothing.") == []  # "find" is a stop word too
    with pytest.raises(ValueError, match="ratio"):
        spin_text(text, 1.5, 0, spinner_wordnet())


def test_to_latin1_rule_and_refusal():
    assert to_latin1("café – “quoted” ‘it’ … ā ﬁ") == ('café - "quoted" \'it\' ... a fi', 8)
    with pytest.raises(NotLatin1Error) as err:
        to_latin1("angle α and β, α")
    assert err.value.characters == ("α", "β")


# ------------------------------------------------------------------ corpus generator (stand-in WordNet)

def write_corpus(tmp_path, name="corpus", **kwargs):
    settings = {"ratio": 0.5, "seed": 3, "wordnet": spinner_wordnet(), "min_words": 5, "max_words": 30,
                "test_fraction": 0.34, "source": "test documents"} | kwargs
    return write_machine_paraphrase_corpus(SPINNER_DOCUMENTS, tmp_path / name, **settings)


def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_writes_the_layout_and_a_manifest(tmp_path):
    manifest = write_corpus(tmp_path)
    root = tmp_path / "corpus"
    assert json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8")) == manifest
    (original,) = root.glob("*/og/00000-ORIG-0.txt")  # <side>/og/<document>-ORIG-<paragraph>.txt
    assert (original.parent.parent / "mg" / "00000-SPUN-0.txt").is_file()
    assert original.parent.parent.name in {"train", "test"}
    skipped = manifest["skipped"]
    assert skipped["paragraphs_outside_word_range"] == 1  # "Short."
    assert skipped["paragraphs_unchanged"] == 1  # no word with a synonym
    assert skipped["paragraphs_not_latin1"] == 1 and skipped["not_latin1_characters"] == {"U+03B1 α": 1}
    assert manifest["latin1_transliterated_characters"] == 1  # the en dash
    counts = manifest["counts"]
    assert counts["paragraphs"] == 8 and counts["documents"] == 6 and counts["files"] == 16
    assert counts["train"]["paragraphs"] + counts["test"]["paragraphs"] == 8
    assert counts["train"]["documents"] == 4 and counts["test"]["documents"] == 2
    assert manifest["ratio"] == 0.5 and manifest["seed"] == 3 and manifest["source"] == "test documents"
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]  # no temporary folder left
    cafe = next(root.rglob("00002-ORIG-0.txt")).read_bytes()
    assert b"caf\xe9" in cafe  # ISO-8859-1 on disk


def test_generator_splits_by_document_and_round_trips_through_the_reader(tmp_path):
    manifest = write_corpus(tmp_path)
    root = tmp_path / "corpus"
    train, test = read_machine_paraphrase(root / "train"), read_machine_paraphrase(root / "test")
    assert not set(train["document"]) & set(test["document"])
    assert set(test["document"]) == set(manifest["documents"]["test"])
    both = read_machine_paraphrase(root)
    assert len(both) == 16 and sum(both["label"]) == 8
    originals = {(d, Path(p).name.split("-")[-1]): t for p, t, d, y in zip(both["path"], both["text"], both["document"], both["label"], strict=True) if y == 0}
    for (doc, index), text in originals.items():
        assert text == to_latin1(SPINNER_DOCUMENTS[int(doc)][int(index.removesuffix(".txt"))])[0]
    spun = {(d, Path(p).name.split("-")[-1]): t for p, t, d, y in zip(both["path"], both["text"], both["document"], both["label"], strict=True) if y == 1}
    assert spun.keys() == originals.keys()
    for key, text in spun.items():
        assert text != originals[key] and len(text.split()) == len(originals[key].split())


def test_generator_is_deterministic_and_refuses_to_overwrite(tmp_path):
    write_corpus(tmp_path, "a")
    write_corpus(tmp_path, "b")
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    write_corpus(tmp_path, "c", seed=4)
    assert file_bytes(tmp_path / "a") != file_bytes(tmp_path / "c")
    with pytest.raises(FileExistsError, match="exists"):
        write_corpus(tmp_path, "a")
    write_corpus(tmp_path, "a", seed=4, overwrite=True)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "c")


def test_generator_leaves_nothing_when_writing_fails(tmp_path, monkeypatch):
    def fail(self, directory):
        (Path(directory) / "train" / "og").mkdir(parents=True)
        (Path(directory) / "train" / "og" / "1-ORIG-0.txt").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(spinning._CorpusFolder, "save_pretrained", fail)
    with pytest.raises(OSError, match="disk full"):
        write_corpus(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_generator_needs_two_usable_documents_and_valid_settings(tmp_path):
    with pytest.raises(ValueError, match="need at least 2 to split"):
        write_machine_paraphrase_corpus(SPINNER_DOCUMENTS[:1] + [["Short."]], tmp_path / "x", wordnet=spinner_wordnet(), min_words=5)
    with pytest.raises(ValueError, match="ratio must be in"):
        write_corpus(tmp_path, ratio=0.0)
    with pytest.raises(ValueError, match="cannot be used in a file name"):
        write_corpus(tmp_path, document_ids=["a", "b", "ORIGINAL", "d", "e", "f"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "corpus").exists()


def test_script_writes_a_corpus_and_reports_counts(tmp_path, monkeypatch, capsys):
    import importlib
    import sys

    from lexkd.utils.cli import run_cli

    monkeypatch.setattr(spinning, "get_wordnet", spinner_wordnet)
    source = write(tmp_path / "docs.txt", "\n\n".join(" ".join(doc) for doc in SPINNER_DOCUMENTS))  # one document per block
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        script = importlib.import_module("make_machine_paraphrase")
    finally:
        sys.path.pop(0)
    argv = ["--corpus", str(source), "--output", str(tmp_path / "out"), "--min_words", "5", "--seed", "1"]
    assert run_cli(lambda: script.main(argv)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["documents"] == 5 and summary["skipped"]["documents_without_paragraphs"] == 1  # the one with α
    assert summary["train"]["documents"] + summary["test"]["documents"] == 5
    assert summary["files"] == len(read_machine_paraphrase(tmp_path / "out"))
    assert run_cli(lambda: script.main(argv)) == 2
    assert "exists" in capsys.readouterr().err


# ------------------------------------------------------------------ real WordNet and shared data (slow)


@pytest.mark.slow
def test_real_wordnet_replacements_are_synonyms_of_the_originals(real_wn):
    text = ("The committee reviewed the report carefully before the meeting. Several members raised serious "
            "doubts about the budget, and the chairman promised a quick answer to every question.")
    spun = spin_text(text, 0.6, seed=11, wordnet=real_wn)
    assert len(spun.replacements) == int(0.6 * spun.content_words + 0.5)
    for r in spun.replacements:
        assert r.original.lower() not in ENGLISH_STOP_WORDS
        lemmas = {lemma.lower() for s in real_wn.synsets(r.original.lower()) for lemma in real_wn.lemma_names(s)}
        assert r.replacement.lower() in lemmas and r.replacement.lower() != r.original.lower()
    assert "faggot" not in synonyms("queen", real_wn) and "king" in synonyms("queen", real_wn)


@pytest.mark.slow
def test_real_pan_pairs_and_msrp():
    pan = read_pan_pairs(shared("paraphrase", "pan_plagiarism_pairs"))
    assert len(pan) == 10000 and sum(pan["label"]) == 5000
    parts = split_by_group(pan, "source", 0.1, seed=42)
    assert len(parts["train"]) + len(parts["test"]) == 10000
    assert not set(parts["train"]["source"]) & set(parts["test"]["source"])
    assert len(read_msrp(shared("paraphrase", "msrp", "msr_paraphrase_train.txt"))) == 4076
    assert len(read_msrp(shared("paraphrase", "msrp", "msr_paraphrase_test.txt"))) == 1725


@pytest.mark.slow
def test_generator_on_real_text_round_trips(real_wn, tmp_path):
    from lexkd.data.corpora import load_corpus

    documents = load_corpus(shared("text", "wikitext-2"), max_documents=4)
    manifest = write_machine_paraphrase_corpus(documents, tmp_path / "wiki", 0.5, 42, wordnet=real_wn,
                                               max_paragraphs_per_document=5, test_fraction=0.25)
    data = read_machine_paraphrase(tmp_path / "wiki")
    assert len(data) == manifest["counts"]["files"] > 0
    assert 0.3 < manifest["counts"]["realised_ratio"] < 0.55
    assert len(manifest["documents"]["test"]) == 1
