"""NLG data: parallel files, Shakespeare and definition presets, hub pairs, tokenisation.

Tiny files are written here; tests marked ``slow`` read ``../shared/data`` or WordNet and skip
when they are absent.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from conftest import FakeWordNet
from transformers import DataCollatorForSeq2Seq

from lexkd.seq2seq import data as nlg
from lexkd.seq2seq.data import (
    definition_pairs,
    definition_split_of,
    load_hf_pairs,
    load_nlg_data,
    load_parallel_files,
    load_shakespeare,
    pick_lemma,
    tokenize_pairs,
)


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def shakespeare_dir(tmp_path: Path) -> Path:
    for split in ("train", "valid"):
        write(tmp_path / f"{split}.modern.nltktok", f"you are a dog .\n{split} is old .\n")
        write(tmp_path / f"{split}.original.nltktok", f"thou art a cur .\n{split} be old .\n")
    return tmp_path


# --------------------------------------------------------------------------- parallel files


def test_parallel_files_strip_line_ends(tmp_path):
    source = write(tmp_path / "src.txt", "the cat sat\r\na dog ran\r\n")
    target = write(tmp_path / "tgt.txt", "le chat\nun chien")  # no final newline
    data = load_parallel_files(source, target)
    assert data.column_names == ["source", "target"]
    assert data["source"] == ["the cat sat", "a dog ran"]
    assert data["target"] == ["le chat", "un chien"]


def test_parallel_files_errors(tmp_path):
    good = write(tmp_path / "good.txt", "a\nb\n")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_parallel_files(tmp_path / "missing.txt", good)
    with pytest.raises(ValueError, match=r"empty.txt is empty"):
        load_parallel_files(good, write(tmp_path / "empty.txt", ""))
    three = write(tmp_path / "three.txt", "a\nb\nc\n")
    with pytest.raises(ValueError, match=r"good.txt has 2 lines but .*three.txt has 3"):
        load_parallel_files(good, three)
    with pytest.raises(ValueError, match=r"blank.txt:2: blank line"):
        load_parallel_files(write(tmp_path / "blank.txt", "a\n  \n"), good)
    with pytest.raises(ValueError, match=r"latin1.txt:2: bytes that are not UTF-8"):
        load_parallel_files(good, write(tmp_path / "latin1.txt", b"a\ncaf\xe9\n"))


# --------------------------------------------------------------------------- Shakespeare


def test_shakespeare_direction_swaps_sides(shakespeare_dir):
    forward = load_shakespeare("train", data_dir=shakespeare_dir)
    backward = load_shakespeare("valid", data_dir=shakespeare_dir, direction="original2modern")
    assert forward[0] == {"source": "you are a dog .", "target": "thou art a cur ."}
    assert backward[1] == {"source": "valid be old .", "target": "valid is old ."}
    assert load_shakespeare("validation", data_dir=shakespeare_dir)["source"][1] == "valid is old ."


def test_shakespeare_errors_and_default_dir(shakespeare_dir, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="modern2original, original2modern"):
        load_shakespeare("train", data_dir=shakespeare_dir, direction="sideways")
    with pytest.raises(ValueError, match="train, valid"):
        load_shakespeare("test", data_dir=shakespeare_dir)
    with pytest.raises(FileNotFoundError, match="LEXKD_SHARED_DATA"):
        load_shakespeare("train", data_dir=tmp_path / "nowhere")
    monkeypatch.setenv("LEXKD_SHARED_DATA", str(tmp_path))
    assert nlg.default_shakespeare_dir() == tmp_path / "nlg" / "shakespeare"


# --------------------------------------------------------------------------- definitions


def test_pick_lemma():
    assert pick_lemma(["stroll", "walk"], "We walked home") == "walk"
    assert pick_lemma(["stop", "halt"], "He stopped the car") == "stop"
    assert pick_lemma(["run"], "She ran away") == "run"  # irregular: falls back to the first lemma
    assert pick_lemma(["go", "look_up"], "Look  up the word") == "look up"
    assert pick_lemma(["a", "walk"], "an apple walk") == "walk"  # "a" is not a prefix match of "an"


def test_definition_pairs_from_a_small_wordnet():
    glosses = [f"gloss number {i}" for i in range(40)]
    fake = FakeWordNet(
        {
            "walk.v.01": (["walk"], glosses[0], ["We walked home", "Walk!"]),
            "bank.n.01": (["bank"], glosses[1], []),  # no examples: no pairs
            **{
                f"thing.n.{i:02d}": (["thing", "object"], glosses[i], [f"an object {i}"])
                for i in range(2, 40)
            },
            "twin.n.01": (["twin"], glosses[5], ["a twin"]),  # shares the gloss of thing.n.05
        }
    )
    splits = {
        split: definition_pairs(split, wordnet=fake) for split in ("train", "validation", "test")
    }
    assert sum(len(s) for s in splits.values()) == 2 + 38 + 1
    found = {row["synset"]: row for s in splits.values() for row in s}
    assert found["thing.n.07"] == {
        "source": "object : an object 7",
        "target": "gloss number 7",
        "synset": "thing.n.07",
    }
    walk = [row["source"] for s in splits.values() for row in s if row["synset"] == "walk.v.01"]
    assert walk == ["walk : We walked home", "walk : Walk!"]
    for split, data in splits.items():
        assert data.column_names == ["source", "target", "synset"]
        assert all(definition_split_of(gloss) == split for gloss in data["target"])
    with pytest.raises(ValueError, match="train, validation, test"):
        definition_pairs("valid", wordnet=fake)


def test_definition_split_is_stable_and_about_90_5_5():
    assert definition_split_of("x", "salt") == definition_split_of("x", "salt")
    counts = {"train": 0, "validation": 0, "test": 0}
    for i in range(2000):
        counts[definition_split_of(f"gloss {i}")] += 1
    assert (
        1700 < counts["train"] < 1900
        and 50 < counts["validation"] < 150
        and 50 < counts["test"] < 150
    )


# ----------------------------------------------------------------------- HF datasets and dispatch


def test_hf_pairs_from_a_saved_folder(tmp_path, monkeypatch):
    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {"en": ["a b", "c"], "fr": ["x y", "z"], "id": [1, 2]}
            )
            for split in ("train", "validation")
        }
    ).save_to_disk(str(folder))
    pairs = load_hf_pairs(str(folder), source_column="en", target_column="fr", split="train")
    assert pairs.column_names == ["source", "target"] and pairs["target"] == ["x y", "z"]
    with pytest.raises(ValueError, match="available columns: en, fr, id"):
        load_hf_pairs(str(folder), source_column="de", target_column="fr", split="train")
    both = load_nlg_data(str(folder), source_column="en", target_column="fr")
    assert set(both) == {"train", "validation"}

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(OSError, match=r"'someone/pairs' \(config 'de-en'\).*no network"):
        load_hf_pairs(
            "someone/pairs",
            source_column="de",
            target_column="en",
            split="train",
            config_name="de-en",
        )


def test_load_nlg_data_presets(tmp_path, shakespeare_dir):
    data = load_nlg_data("shakespeare", data_dir=shakespeare_dir, direction="original2modern")
    assert set(data) == {"train", "validation"} and data["train"]["source"][0] == "thou art a cur ."
    files = (shakespeare_dir / "train.modern.nltktok", shakespeare_dir / "train.original.nltktok")
    assert len(load_nlg_data("files", train_files=files, validation_files=files)["validation"]) == 2
    with pytest.raises(ValueError, match="train_files and validation_files"):
        load_nlg_data("files", train_files=files)
    with pytest.raises(ValueError, match="shakespeare, definitions, files"):
        load_nlg_data("poetry")


# --------------------------------------------------------------------------- tokenisation


def test_tokenize_pairs_drops_start_only_when_asked(tokenizer):
    pairs = datasets.Dataset.from_dict(
        {"source": ["the cat sat on the mat"], "target": ["a dog ran"]}
    )
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    bert2bert = tokenize_pairs(
        pairs, tokenizer, max_source_length=32, max_target_length=32, decoder_start_token_id=cls
    )
    assert bert2bert.column_names == ["input_ids", "attention_mask", "labels"]
    plain = tokenizer("a dog ran")["input_ids"]  # [CLS] a dog ran [SEP]
    assert bert2bert[0]["labels"] == plain[1:]
    assert bert2bert[0]["input_ids"][0] == cls
    kept = tokenize_pairs(pairs, tokenizer, max_source_length=32, max_target_length=32)
    assert kept[0]["labels"] == plain
    other_start = tokenize_pairs(
        pairs,
        tokenizer,
        max_source_length=32,
        max_target_length=32,
        decoder_start_token_id=tokenizer.pad_token_id,
    )  # T5-like: unchanged
    assert other_start[0]["labels"] == plain
    assert plain[-1] == sep


def test_tokenize_pairs_truncation_keeps_sep_and_source_only_has_no_labels(tokenizer):
    long = "the cat sat on the mat with a dog under the old tree"
    pairs = datasets.Dataset.from_dict({"source": [long], "target": [long]})
    sep = tokenizer.sep_token_id
    short = tokenize_pairs(
        pairs,
        tokenizer,
        max_source_length=5,
        max_target_length=4,
        decoder_start_token_id=tokenizer.cls_token_id,
    )[0]
    assert len(short["input_ids"]) == 5 and short["input_ids"][-1] == sep
    assert len(short["labels"]) == 4 and short["labels"][-1] == sep
    assert short["labels"][:3] == tokenizer(long)["input_ids"][1:4]
    unlabelled = tokenize_pairs(
        pairs.remove_columns("target"), tokenizer, max_source_length=8, max_target_length=8
    )
    assert unlabelled.column_names == ["input_ids", "attention_mask"]
    for lengths in ((0, 4), (4, -1)):
        with pytest.raises(ValueError, match="must be > 0"):
            tokenize_pairs(
                pairs, tokenizer, max_source_length=lengths[0], max_target_length=lengths[1]
            )


def test_seq2seq_collator_pads_labels_with_minus_100(tokenizer):
    pairs = datasets.Dataset.from_dict(
        {
            "source": ["the cat", "a big red dog sat on the mat"],
            "target": ["a dog sat on the old mat", "red"],
        }
    )
    features = tokenize_pairs(
        pairs,
        tokenizer,
        max_source_length=16,
        max_target_length=16,
        decoder_start_token_id=tokenizer.cls_token_id,
    )
    batch = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)(list(features))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    labels, short = batch["labels"], features[1]["labels"]
    assert labels.shape == (2, len(features[0]["labels"]))
    assert labels[1, : len(short)].tolist() == short
    assert (labels[1, len(short) :] == -100).all()
    assert batch["input_ids"][0, batch["attention_mask"][0] == 0].eq(tokenizer.pad_token_id).all()


# --------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_shakespeare_sizes(shared_data):
    folder = shared_data / "nlg" / "shakespeare"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    assert len(load_shakespeare("train", data_dir=folder)) == 18_395
    valid = load_shakespeare("valid", data_dir=folder)
    assert len(valid) == 1_218
    assert valid[0]["source"].startswith("Now , you lie there")


@pytest.mark.slow
def test_definition_splits_are_disjoint():
    from lexkd.lexical.wordnet import get_wordnet

    try:
        wordnet = get_wordnet()
    except Exception as error:  # WordNetNotFoundError, WordNetVersionError, ImportError
        pytest.skip(f"WordNet 3.0 unavailable: {error}")
    splits = {
        split: definition_pairs(split, wordnet=wordnet) for split in ("train", "validation", "test")
    }
    synsets = {split: set(data["synset"]) for split, data in splits.items()}
    glosses = {split: set(data["target"]) for split, data in splits.items()}
    assert all(len(data) > 0 for data in splits.values())
    for first, second in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not synsets[first] & synsets[second]
        assert not glosses[first] & glosses[second]
    rows = {
        (row["synset"], row["source"]): row["target"] for data in splits.values() for row in data
    }
    assert rows[("walk.v.01", "walk : We walked instead of driving")].startswith(
        "use one's feet to advance"
    )
