"""Tests for lexkd.data.corpora (fast tests use tiny files in tmp_path; slow ones use shared data)."""

from __future__ import annotations

import io
import json
import re
import sys
import tarfile
import time
import types
import zipfile
from pathlib import Path

import pytest
from conftest import FakeWordNet

from lexkd.data.corpora import (
    SEPARATORS,
    EmptyCorpusError,
    corpus_stats,
    flatten,
    load_corpus,
    split_documents,
)
from lexkd.utils.paths import shared_data_dir

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_data_dir()
TEXT = SHARED / "text"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


SAMPLE = "Alpha  one\nalpha two\n\n\nBeta\tthree\n  \nGamma\n"


# --------------------------------------------------------------------------- .txt rules


def test_line_separator(tmp_path):
    docs = load_corpus(write(tmp_path / "a.txt", SAMPLE), document_separator="line")
    assert docs == [["Alpha one"], ["alpha two"], ["Beta three"], ["Gamma"]]


def test_blank_line_separator(tmp_path):
    docs = load_corpus(write(tmp_path / "a.txt", SAMPLE), document_separator="blank_line")
    assert docs == [["Alpha one alpha two"], ["Beta three"], ["Gamma"]]


def test_file_separator(tmp_path):
    docs = load_corpus(write(tmp_path / "a.txt", SAMPLE), document_separator="file")
    assert docs == [["Alpha one alpha two", "Beta three", "Gamma"]]


def test_auto_uses_blank_lines_when_present_else_lines(tmp_path):
    assert load_corpus(write(tmp_path / "a.txt", SAMPLE)) == load_corpus(
        tmp_path / "a.txt", document_separator="blank_line"
    )
    docs = load_corpus(write(tmp_path / "b.txt", "one\r\ntwo\r\nthree\r\n"))
    assert docs == [["one"], ["two"], ["three"]]


WIKI = (
    " \n = First Article = \n \n Intro with <unk> . \n"
    " \n = = Section = = \n \n Body text . \n"
    " x \n = 1 k = \n y \n"  # an equation between text lines, not a heading
    " \n = Second = \n \n More text . \n"
)


def test_wikitext_auto_detected_and_explicit(tmp_path):
    path = write(tmp_path / "wiki.txt", WIKI)
    expected = [
        ["First Article", "Intro with <unk> .", "Section", "Body text .", "x", "= 1 k =", "y"],
        ["Second", "More text ."],
    ]
    assert load_corpus(path) == expected
    assert load_corpus(path, document_separator="wikitext") == expected


def test_unknown_separator(tmp_path):
    with pytest.raises(ValueError, match="blank_line") as info:
        load_corpus(write(tmp_path / "a.txt", SAMPLE), document_separator="paragraph")
    assert all(sep in str(info.value) for sep in SEPARATORS)


def test_folder_recursive_sorted_txt_only(tmp_path):
    write(tmp_path / "b.txt", "second")
    write(tmp_path / "sub" / "a.txt", "third")
    write(tmp_path / "a.txt", "first")
    write(tmp_path / "notes.md", "ignored")
    assert load_corpus(tmp_path) == [["first"], ["second"], ["third"]]


def test_max_documents(tmp_path):
    path = write(tmp_path / "a.txt", SAMPLE)
    assert load_corpus(path, document_separator="line", max_documents=2) == [
        ["Alpha one"],
        ["alpha two"],
    ]
    with pytest.raises(ValueError, match="max_documents"):
        load_corpus(path, max_documents=0)


def test_several_sources_in_order_with_max_documents_over_all(tmp_path):
    a = write(tmp_path / "a.txt", "one\ntwo\n")
    b = write(tmp_path / "b.txt", "three\n")
    assert load_corpus([a, b], document_separator="line") == [["one"], ["two"], ["three"]]
    assert load_corpus([b, a], document_separator="line") == [["three"], ["one"], ["two"]]
    assert load_corpus([a, b], document_separator="line", max_documents=1) == [["one"]]
    empty = write(tmp_path / "empty.txt", "\n")
    with pytest.raises(EmptyCorpusError, match="empty.txt"):
        load_corpus([a, empty])
    with pytest.raises(ValueError, match="at least one"):
        load_corpus([])


def test_corpus_arguments_take_one_source_or_several():
    from lexkd.data.arguments import CorpusArguments
    from lexkd.utils.cli import parse_args

    assert CorpusArguments(corpus="x.txt").corpus == ["x.txt"]
    (args,) = parse_args((CorpusArguments,), ["--corpus", "a.txt", "b.zip"])
    assert args.corpus == ["a.txt", "b.zip"] and args.corpus_label == "a.txt, b.zip"
    assert parse_args((CorpusArguments,), [])[0].corpus == ["wordnet"]


# --------------------------------------------------------------------------- jsonl


def test_jsonl(tmp_path):
    lines = [
        json.dumps({"text": "Hello   world.\nSecond line.", "id": 1}),
        "",
        json.dumps({"text": ["para one", "  ", "para two"]}),
        json.dumps({"text": "   "}),
        json.dumps({"body": "x", "text": "custom"}),
    ]
    path = write(tmp_path / "c.jsonl", "\n".join(lines) + "\n")
    assert load_corpus(path) == [
        ["Hello world.", "Second line."],
        ["para one", "para two"],
        ["custom"],
    ]


def test_jsonl_missing_field_names_file_line_and_keys(tmp_path):
    path = write(tmp_path / "c.jsonl", '{"text": "ok"}\n{"body": "x", "id": 2}\n')
    with pytest.raises(ValueError) as info:
        load_corpus(path)
    message = str(info.value)
    assert "c.jsonl" in message and "line 2" in message
    assert "body" in message and "id" in message and "'text'" in message


def test_jsonl_malformed_line(tmp_path):
    path = write(tmp_path / "c.jsonl", '{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(ValueError, match=r"c\.jsonl: line 2 is not valid JSON"):
        load_corpus(path)


# --------------------------------------------------------------------------- errors


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError) as info:
        load_corpus(missing)
    assert str(missing) in str(info.value)
    assert "wordnet" in str(info.value) and "hf:" in str(info.value)


@pytest.mark.parametrize("content", ["", " \n\n\t\n"])
def test_empty_corpus(tmp_path, content):
    path = write(tmp_path / "empty.txt", content)
    with pytest.raises(EmptyCorpusError, match="empty.txt"):
        load_corpus(path)
    assert issubclass(EmptyCorpusError, ValueError)


def test_empty_folder(tmp_path):
    with pytest.raises(EmptyCorpusError):
        load_corpus(tmp_path)


def test_undecodable_names_file_and_line(tmp_path):
    path = write(tmp_path / "latin.txt", "ok\nstill ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.txt: line 3 is not valid utf-8"):
        load_corpus(path)
    assert load_corpus(path, encoding="latin-1", document_separator="line")[-1] == ["café"]


def test_the_encoding_error_names_the_flag_every_corpus_script_has(tmp_path):
    from lexkd.data.arguments import CorpusArguments
    from lexkd.data.corpora import load_split_corpus
    from lexkd.utils.cli import parse_args

    path = write(tmp_path / "latin.txt", "\n".join(f"line {i} caf\xe9" for i in range(8)).encode("latin-1"))
    (args,) = parse_args((CorpusArguments,), ["--corpus", str(path), "--document_separator", "line"])
    with pytest.raises(ValueError, match="pass --encoding"):
        load_split_corpus(args.corpus, validation_fraction=0.25, seed=1, **args.corpus_kwargs())
    (args,) = parse_args((CorpusArguments,), ["--corpus", str(path), "--document_separator", "line", "--encoding", "latin-1"])
    train, val = load_split_corpus(args.corpus, validation_fraction=0.25, seed=1, **args.corpus_kwargs())
    assert len(train) + len(val) == 8 and "café" in train[0][0] + val[0][0]


def test_utf8_bom_and_control_characters_removed(tmp_path):
    path = write(tmp_path / "bom.txt", "\ufeffFirst\x03 line\nSecond\n".encode())
    assert load_corpus(path) == [["First line"], ["Second"]]


def test_jsonl_line_must_be_object(tmp_path):
    path = write(tmp_path / "c.jsonl", '{"text": "ok"}\n["not", "an", "object"]\n')
    with pytest.raises(ValueError, match=r"c\.jsonl: line 2 is not a JSON object"):
        load_corpus(path)


# --------------------------------------------------------------------------- archives


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:xz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_tar_xz_generic_members(tmp_path):
    path = make_tar(
        tmp_path / "c.tar.xz",
        {
            "corpus/README": b"about this corpus",
            "corpus/a.txt": b"Para one\nline two\n\nPara two\n",
            "corpus/b": b"Only paragraph",
            "corpus/image.png": b"\x89PNG\x00\x00",
            "corpus/.hidden.txt": b"hidden",
        },
    )
    assert load_corpus(path) == [["Para one line two", "Para two"], ["Only paragraph"]]
    assert load_corpus(path, document_separator="line") == [
        ["Para one"],
        ["line two"],
        ["Para two"],
        ["Only paragraph"],
    ]


def test_tar_gz_reuters_layout(tmp_path):
    story = (
        b"ACME &lt;ACM> SEES HIGHER PROFIT\n"
        b"  Acme Corp said profit\n  would rise.\n"
        b"      It gave no figures.\n  \n\n"
    )
    path = make_tar(
        tmp_path / "r.tar.gz",
        {
            "nltk_data/corpora/reuters/README": b"readme",
            "nltk_data/corpora/reuters/cats.txt": b"test/1 earn",
            "nltk_data/corpora/reuters/stopwords": b"a\nthe\n",
            "nltk_data/corpora/reuters/test/1": story,
            "nltk_data/corpora/reuters/training/2": b"TITLE ONLY\n",
        },
        mode="w:gz",
    )
    assert load_corpus(path) == [
        [
            "ACME <ACM> SEES HIGHER PROFIT",
            "Acme Corp said profit would rise.",
            "It gave no figures.",
        ],
        ["TITLE ONLY"],
    ]


BROWN = (
    b"\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' was/bedz found/vbn ./.\n"
    b"\n\n\tMr./np Allen/np Jr./np ,/, 1-1/2/cd miles/nns (/( about/rb )/) away/rb ./.\n"
    b"\n\n\tHe/pps met/vbd Allen/np Jr./np ./.\n"
)


def test_zip_brown_tags_stripped(tmp_path):
    path = make_zip(
        tmp_path / "brown.zip",
        {"brown/": b"", "brown/cats.txt": b"ca01 news", "brown/README": b"x", "brown/ca01": BROWN},
    )
    assert load_corpus(path) == [
        [
            'The jury said "no evidence" was found.',
            "Mr. Allen Jr., 1-1/2 miles (about) away.",
            "He met Allen Jr.",
        ]
    ]


def test_zip_nltk_package_rules_and_legacy_encoding(tmp_path):
    path = make_zip(
        tmp_path / "packages.zip",
        {
            "state_union/2000-X.txt": b"TITLE\n \nParagraph one.\nParagraph \xa1two.\n",
            "abc/rural.txt": b"Story one\nSentence.\n\nStory two\nSentence two.\n",
        },
    )
    assert load_corpus(path) == [
        ["Story one", "Sentence."],
        ["Story two", "Sentence two."],
        ["TITLE", "Paragraph one.", "Paragraph \xa1two."],
    ]


def test_zip_unknown_package_is_strict_utf8(tmp_path):
    path = make_zip(tmp_path / "x.zip", {"mine/a.txt": b"ok\n\xff\n"})
    with pytest.raises(ValueError, match=r"x\.zip!mine/a\.txt: line 2"):
        load_corpus(path)


# --------------------------------------------------------------------------- Hugging Face


class FakeDataset:
    def __init__(self, rows):
        self.rows = rows
        self.column_names = list(rows[0]) if rows else []

    def __iter__(self):
        return iter(self.rows)


def fake_datasets(monkeypatch, rows):
    calls = []

    def load_dataset(name, config=None, **kwargs):
        calls.append((name, config, kwargs))
        return FakeDataset(rows)

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    return calls


def test_hf_rows_are_documents(monkeypatch):
    calls = fake_datasets(monkeypatch, [{"body": "One.\nTwo."}, {"body": ""}, {"body": "Three"}])
    docs = load_corpus("hf:some/name", hf_config="cfg", hf_split="validation", text_field="body")
    assert docs == [["One.", "Two."], ["Three"]]
    assert calls == [("some/name", "cfg", {"split": "validation"})]


def test_hf_data_files_passed(monkeypatch):
    calls = fake_datasets(monkeypatch, [{"text": "a"}])
    load_corpus("hf:json", data_files="x.jsonl", hf_kwargs={"cache_dir": "/tmp/c"})
    assert calls == [
        ("json", None, {"split": "train", "data_files": "x.jsonl", "cache_dir": "/tmp/c"})
    ]


def test_hf_missing_column_lists_columns(monkeypatch):
    fake_datasets(monkeypatch, [{"sentence": "a", "label": 1}])
    with pytest.raises(ValueError, match=r"no column 'text'; columns: sentence, label"):
        load_corpus("hf:glue")


def test_hf_wikitext_rows_grouped_into_articles(monkeypatch):
    rows = [
        "",
        " = A = \n",
        "",
        " Text a . \n",
        "",
        " = = Sub = = \n",
        "",
        " More a . \n",
        "",
        " = B = \n",
        "",
        " Text b . \n",
    ]
    fake_datasets(monkeypatch, [{"text": r} for r in rows])
    expected = [["A", "Text a .", "Sub", "More a ."], ["B", "Text b ."]]
    assert load_corpus("hf:wikitext", hf_config="wikitext-2-raw-v1") == expected


def test_hf_json_real_loader(tmp_path):
    datasets = pytest.importorskip("datasets")
    del datasets
    path = write(tmp_path / "d.jsonl", '{"text": "first doc"}\n{"text": "second doc"}\n')
    docs = load_corpus(
        "hf:json", data_files=str(path), hf_kwargs={"cache_dir": str(tmp_path / "cache")}
    )
    assert docs == [["first doc"], ["second doc"]]


# --------------------------------------------------------------------------- WordNet (fake)


def test_wordnet_with_fake(monkeypatch):
    fake = FakeWordNet({
        "dog.n.01": ((), "a domesticated  canid", ["the dog barked"]),
        "run.v.01": ((), "move fast", []),
        "empty.a.01": ((), "", []),
    })
    monkeypatch.setattr("lexkd.lexical.wordnet.get_wordnet", lambda: fake)
    assert load_corpus("wordnet") == [["a domesticated canid", "the dog barked"], ["move fast"]]


# --------------------------------------------------------------------------- split / stats


DOCS = [[f"doc {i}", f"para {i}"] for i in range(100)]


def test_split_deterministic_and_partition():
    train, val = split_documents(DOCS, validation_fraction=0.1, seed=7)
    assert (train, val) == split_documents(DOCS, validation_fraction=0.1, seed=7)
    assert len(val) == 10 and len(train) == 90
    ids = [id(d) for d in train + val]
    assert len(set(ids)) == 100 and set(ids) == {id(d) for d in DOCS}
    assert split_documents(DOCS, validation_fraction=0.1, seed=8)[1] != val
    assert train == [d for d in DOCS if d in train]  # original order kept


def test_split_known_value_independent_of_hash_seed():
    # random.Random(int) is hash-seed independent: pin the result
    val = split_documents([[str(i)] for i in range(10)], validation_fraction=0.2, seed=42)[1]
    assert val == [["3"], ["7"]]


def test_split_small_and_errors():
    train, val = split_documents([["a"], ["b"]], validation_fraction=0.01)
    assert len(train) == 1 and len(val) == 1
    train, val = split_documents([["a"], ["b"], ["c"]], validation_fraction=0.99)
    assert len(train) == 1 and len(val) == 2
    with pytest.raises(ValueError, match="at least 2"):
        split_documents([["a"]])
    for bad in (0, 1, -0.5, 1.5):
        with pytest.raises(ValueError, match=r"\(0, 1\)"):
            split_documents(DOCS, validation_fraction=bad)


def test_stats_and_flatten():
    docs = [["ab", "c"], ["def"]]
    assert corpus_stats(docs) == {"documents": 2, "paragraphs": 3, "characters": 6}
    assert flatten(docs) == ["ab", "c", "def"]


# --------------------------------------------------------------------------- shared data (slow)


def shared(name: str) -> Path:
    path = TEXT / name
    if not path.exists():
        pytest.skip(f"shared data file {path} is absent (set LEXKD_SHARED_DATA)")
    return path


def load_timed(path: Path, **kwargs):
    start = time.perf_counter()
    docs = load_corpus(path, **kwargs)
    print(f"{path.name}: {corpus_stats(docs)} in {time.perf_counter() - start:.2f}s")
    return docs


@pytest.mark.slow
def test_shared_gutenberg():
    docs = load_timed(shared("gutenberg.tar.xz"))
    # the archive holds README + 13 books (bible-kjv and 4 other NLTK books are absent)
    assert len(docs) == 13
    assert docs[0][0] == "[Emma by Jane Austen 1816]"
    assert not any("King James" in d[0] for d in docs)


@pytest.mark.slow
def test_shared_reuters():
    docs = load_timed(shared("reuters21578_aptemod.tar.xz"))
    assert len(docs) == 10_788
    assert docs[0][0] == "ASIAN EXPORTERS FEAR DAMAGE FROM U.S.-JAPAN RIFT"
    assert not any("&lt;" in p for p in flatten(docs))


@pytest.mark.slow
def test_shared_brown():
    docs = load_timed(shared("brown.zip"))
    assert len(docs) == 500
    assert sum(len(d) for d in docs) == 57_340  # = len(nltk brown.sents())
    tag = re.compile(r"\S/(?:at|nn|nns|np|in|jj|vbd|vbn|cc|rb|cs|dt|pps)(?:-tl|-hl|\$)?(?=\s|$)")
    assert not any(tag.search(p) for p in flatten(docs))
    assert docs[0][0].startswith("The Fulton County Grand Jury said Friday")


@pytest.mark.slow
def test_shared_wikitext_valid():
    docs = load_timed(shared("wikitext-2/valid.txt"))
    assert len(docs) == 60
    assert docs[0][0] == "Homarus gammarus"
    assert any("<unk>" in p for p in flatten(docs))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "n_docs"),
    [
        ("webtext.zip", 6),
        ("state_union.zip", 65),
        ("inaugural.zip", 59),
        ("movie_reviews.zip", 2000),
        ("abc.zip", 3189),
        ("tinyshakespeare.txt", 7222),
        ("wikitext-2/test.txt", 60),
    ],
)
def test_shared_other_corpora(name, n_docs):
    docs = load_timed(shared(name))
    assert len(docs) == n_docs
    train, val = split_documents(docs)
    assert len(train) + len(val) == n_docs and val


@pytest.mark.slow
def test_wordnet_corpus_real():
    try:
        from lexkd.lexical.wordnet import WordNetNotFoundError, get_wordnet
    except ImportError as err:
        pytest.skip(f"lexkd.lexical.wordnet not importable: {err}")
    try:
        get_wordnet()
    except WordNetNotFoundError as err:
        pytest.skip(f"WordNet not found: {err}")
    start = time.perf_counter()
    docs = load_corpus("wordnet")
    stats = corpus_stats(docs)
    print(
        f"wordnet: {stats}, examples={stats['paragraphs'] - stats['documents']}, "
        f"{time.perf_counter() - start:.2f}s"
    )
    assert len(docs) == 117_659
    assert stats["paragraphs"] - stats["documents"] > 40_000
