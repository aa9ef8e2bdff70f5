"""Plagiarism detection as tasks: PAN held-out split, MSRP, machine-paraphrase train/test data and
the leakage check, and scripts/eval_plagiarism.py end to end (tiny files and a tiny BERT built here)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from conftest import SPINNER_DOCUMENTS, run_named_script, spinner_wordnet
from sklearn.metrics import accuracy_score, f1_score

from lexkd.tasks.plagiarism.spinning import write_machine_paraphrase_corpus
from lexkd.tasks.plagiarism.tasks import (
    PAN_CARVED_TEST,
    PAN_OWN_TEST,
    TASKS,
    corpus_identity,
    get_plagiarism_task,
    load_machine_paraphrase_data,
    load_pairs_data,
    load_plagiarism_data,
    pairs_test_split,
    same_corpus,
)

REPO = Path(__file__).resolve().parents[1]
WORDS = "the a cat dog bird sat ran on under mat house tree river bank red green small big old young".split()
OTHER_DOCUMENTS = [  # a second "source text", in the stand-in WordNet's vocabulary
    ["The red valley lay below the old river, and a house stood there."],
    ["Every old house near the river was painted red by the smith."],
    ["A valley of red earth, an old river and one house remained."],
    ["The river bent around the old valley where the red house was."],
]


# --------------------------------------------------------------------------- fixtures written here


def write_pan(folder: Path, sources: int = 20, per_source: int = 3, seed: int = 0, split: str = "train") -> Path:
    """``sources`` source sentences, each in ``per_source`` pairs: a reordering (label 1) or another
    random sentence (label 0), alternating; written as PAN's ``split`` files."""
    rng = random.Random(seed)
    s1, s2, labels = [], [], []
    for i in range(sources):
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 9))] + [f"s{i}" if split == "train" else f"{split}{i}"]
        for j in range(per_source):
            label = (i + j) % 2
            other = words[::-1] if label else [rng.choice(WORDS) for _ in range(len(words))]
            s1.append(" ".join(words))
            s2.append(" ".join(other))
            labels.append(str(label))
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in ((f"pan-{split}_s1.txt", s1), (f"pan-{split}_s2.txt", s2), (f"pan-{split}.labels", labels)):
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def write_paragraph(root: Path, document: str, paragraph: int, text: str = "the cat sat on the mat") -> None:
    """An original and its "spun" copy of one paragraph, in the og/ mg/ layout."""
    for folder, tag, words in (("og", "ORIG", text), ("mg", "SPUN", text.replace("cat", "feline"))):
        path = root / folder / f"{document}-{tag}-{paragraph}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(words.encode("iso-8859-1"))


def generated(tmp_path: Path, name: str, documents=SPINNER_DOCUMENTS, source: str = "text A", seed: int = 3) -> dict:
    return write_machine_paraphrase_corpus(documents, tmp_path / name, 0.5, seed, wordnet=spinner_wordnet(), min_words=5,
                                           max_words=30, test_fraction=0.34, source=source)


# --------------------------------------------------------------------------- tasks and data


def test_task_specs_score_macro_f1_first():
    assert TASKS["pairs"].text_columns == ("source", "suspicious") and TASKS["pairs"].is_pair
    assert TASKS["machine-paraphrase"].text_columns == ("text",)
    assert TASKS["machine-paraphrase"].label_names == ("original", "machine-paraphrased")
    for spec in TASKS.values():
        assert spec.metrics == ("macro_f1", "accuracy") and spec.primary_metric == "macro_f1"
    assert get_plagiarism_task("Machine_Paraphrase") is TASKS["machine-paraphrase"]
    with pytest.raises(ValueError, match="Unknown task 'nli'; valid tasks: pairs, machine-paraphrase"):
        get_plagiarism_task("nli")


def test_pan_held_out_split_keeps_each_source_on_one_side_and_is_deterministic(tmp_path, monkeypatch):
    pan = write_pan(tmp_path / "pan")
    parts, source = load_pairs_data(pan, test_fraction=0.2, split_seed=7)
    again, _ = load_pairs_data(pan / "pan-train", test_fraction=0.2, split_seed=7)  # the prefix form
    assert (len(parts["train"]), len(parts["test"])) == (48, 12)  # 4 of 20 sources, with their 3 pairs each
    assert not set(parts["train"]["source"]) & set(parts["test"]["source"])
    assert len(set(parts["test"]["source"])) == 4
    for split in ("train", "test"):
        assert parts[split]["suspicious"] == again[split]["suspicious"]
    assert set(parts["test"]["label"]) == {0, 1} and parts["test"].features["label"].names[1] == "paraphrase"
    other, _ = load_pairs_data(pan, test_fraction=0.2, split_seed=8)
    assert set(other["test"]["source"]) != set(parts["test"]["source"])  # the seed matters
    assert source == f"pan: {pan} (held out 0.2 of source sentences, seed 7)"
    monkeypatch.setenv("LEXKD_SHARED_DATA", str(tmp_path / "shared"))
    write_pan(tmp_path / "shared" / "paraphrase" / "pan_plagiarism_pairs", sources=10)
    default, source = load_pairs_data()
    assert len(default["train"]) + len(default["test"]) == 30 and len(default["test"]) == 3
    assert str(tmp_path / "shared") in source


def test_pan_folder_with_its_own_test_files_is_tested_on_them(tmp_path, caplog):
    pan = write_pan(tmp_path / "pan")
    assert pairs_test_split(pan) == PAN_CARVED_TEST  # train files only, as in ../shared/data
    write_pan(pan, sources=5, seed=1, split="test")
    assert pairs_test_split(pan) == PAN_OWN_TEST
    with caplog.at_level("INFO", logger="lexkd.tasks.plagiarism.tasks"):
        parts, source = load_pairs_data(pan, test_fraction=0.2, split_seed=7)
    assert (len(parts["train"]), len(parts["test"])) == (60, 15)  # all of train; all of PAN's test
    s1 = (pan / "pan-test_s1.txt").read_text().splitlines()
    assert parts["test"]["source"] == s1 and parts["test"]["suspicious"] == (pan / "pan-test_s2.txt").read_text(
        ).splitlines()
    assert parts["test"]["label"] == [int(v) for v in (pan / "pan-test.labels").read_text().split()]
    assert parts["train"]["source"] == (pan / "pan-train_s1.txt").read_text().splitlines()
    assert source == f"pan: {pan} (PAN's own test split)"
    assert any("PAN's own test split" in record.getMessage() for record in caplog.records)
    carved, _ = load_pairs_data(pan / "pan-train", test_fraction=0.2, split_seed=7)  # a prefix: one set of files
    assert (len(carved["train"]), len(carved["test"])) == (48, 12)
    (pan / "pan-test.labels").unlink()
    message = r"holds pan-test_s1\.txt, pan-test_s2\.txt but not pan-test\.labels: give all three files"
    with pytest.raises(ValueError, match=message):
        load_pairs_data(pan)


def test_msrp_pairs_keep_their_own_split(tmp_path):
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    rows = "".join(f"{i % 2}\t{i}\t{i + 100}\tA cat {i} sat.\tA cat {i} was sitting.\n" for i in range(5))
    (tmp_path / "train.txt").write_text(header + rows)
    (tmp_path / "test.txt").write_text(header + rows.splitlines(keepends=True)[0] + rows.splitlines(keepends=True)[1])
    parts, source = load_pairs_data(f"msrp:{tmp_path / 'train.txt'},{tmp_path / 'test.txt'}")
    assert (len(parts["train"]), len(parts["test"])) == (5, 2) and parts["test"]["label"] == [0, 1]
    assert source.startswith("msrp: ") and "test.txt" in source
    with pytest.raises(ValueError, match="expected msrp:TRAIN_FILE,TEST_FILE"):
        load_pairs_data(f"msrp:{tmp_path / 'train.txt'}")


def test_machine_paraphrase_from_two_corpora_has_the_right_labels_and_sizes(tmp_path):
    first, second = generated(tmp_path, "a"), generated(tmp_path, "b", OTHER_DOCUMENTS, source="text B")
    parts, source = load_machine_paraphrase_data(tmp_path / "a", tmp_path / "b")
    assert len(parts["train"]) == first["counts"]["files"] == 16  # all of a: train/ and test/
    assert len(parts["test"]) == second["counts"]["files"] == 8
    for split in ("train", "test"):
        rows = parts[split]
        assert rows.features["label"].names == ["original", "machine-paraphrased"]
        assert rows["label"] == [int(Path(p).parent.name == "mg") for p in rows["path"]]
        assert sum(rows["label"]) * 2 == len(rows)  # one spun copy per original
    assert "00000" in set(parts["train"]["document"]) & set(parts["test"]["document"])  # ids collide: not compared
    assert not same_corpus(tmp_path / "a", tmp_path / "b")
    assert source == f"train: {tmp_path / 'a'}; test: {tmp_path / 'b'}"
    sides, _ = load_machine_paraphrase_data(tmp_path / "a" / "train", tmp_path / "a" / "test")  # one corpus, disjoint
    assert len(sides["train"]) + len(sides["test"]) == 16


def test_one_corpus_uses_its_sides_or_splits_by_document(tmp_path):
    manifest = generated(tmp_path, "a")
    parts, source = load_machine_paraphrase_data(corpus=tmp_path / "a")
    assert set(parts["test"]["document"]) == set(manifest["documents"]["test"])
    assert len(parts["train"]) == 2 * manifest["counts"]["train"]["paragraphs"]
    assert source.endswith("(its train/ and test/)")
    for document in range(10):  # a single set, as in Zenodo 3608000: split here by document
        for paragraph in range(2):
            write_paragraph(tmp_path / "set", f"doc{document}", paragraph)
    split, source = load_machine_paraphrase_data(corpus=tmp_path / "set", test_fraction=0.2, split_seed=1)
    assert (len(split["train"]), len(split["test"])) == (32, 8)
    assert not set(split["train"]["document"]) & set(split["test"]["document"])
    assert split["test"]["path"] == load_machine_paraphrase_data(corpus=tmp_path / "set", test_fraction=0.2,
                                                                 split_seed=1)[0]["test"]["path"]
    assert "held out 0.2 of documents, seed 1" in source


def test_a_document_on_both_sides_of_one_corpus_is_refused(tmp_path):
    corpus = tmp_path / "c"
    write_paragraph(corpus / "train", "7", 0)
    write_paragraph(corpus / "train", "8", 0)
    write_paragraph(corpus / "test", "7", 1)  # document 7 on both sides
    message = r"1 source document\(s\) have paragraphs in both train \(.*\) and test \(.*\) of the same corpus: 7\."
    with pytest.raises(ValueError, match=message):
        load_machine_paraphrase_data(corpus=corpus)
    with pytest.raises(ValueError, match=message):
        load_machine_paraphrase_data(corpus / "train", corpus / "test" / "og")  # sides and og/ of one folder
    write_paragraph(tmp_path / "zenodo" / "wikipedia_paragraph", "4115833", 15)
    write_paragraph(tmp_path / "zenodo" / "arxiv_paragraph", "1001.0001", 2)
    with pytest.raises(ValueError, match="of the same corpus: 4115833"):
        load_machine_paraphrase_data(tmp_path / "zenodo", tmp_path / "zenodo" / "wikipedia_paragraph")  # nested
    generated(tmp_path, "a")
    with pytest.raises(ValueError, match="of the same corpus"):
        load_machine_paraphrase_data(tmp_path / "a", tmp_path / "a" / "test")  # one inside the other
    generated(tmp_path, "a2", seed=9)  # the same source text spun again: the same documents
    assert corpus_identity(tmp_path / "a2" / "train") == corpus_identity(tmp_path / "a") == "source: text A"
    with pytest.raises(ValueError, match="of the same corpus"):
        load_machine_paraphrase_data(tmp_path / "a", tmp_path / "a2")


def test_source_flags_belong_to_their_task(tmp_path):
    with pytest.raises(ValueError, match="--corpus: for --task machine-paraphrase"):
        load_plagiarism_data("pairs", corpus=str(tmp_path))
    with pytest.raises(ValueError, match="--data is for --task pairs"):
        load_plagiarism_data("machine-paraphrase", data=str(tmp_path))
    with pytest.raises(ValueError, match="needs a train and a test corpus"):
        load_plagiarism_data("machine-paraphrase", train_corpus=str(tmp_path))
    with pytest.raises(ValueError, match="not both"):
        load_plagiarism_data("machine-paraphrase", corpus=str(tmp_path), test_corpus=str(tmp_path))


# --------------------------------------------------------------------------- the script


def run_script(argv):
    return run_named_script("eval_plagiarism", argv)


def check_outputs(run: Path, kind: str, test_size: int) -> dict:
    """metrics.json holds macro F1 and accuracy, equal to those of predictions.tsv."""
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["kind"] == kind and list(metrics["metrics"]) == ["test"]
    assert list(metrics["metrics"]["test"]) == ["macro_f1", "accuracy"]
    assert metrics["eval_examples"] == {"test": test_size}
    with open(run / "predictions.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL))
    assert len(rows) == test_size
    gold, guess = [r["label"] for r in rows], [r["prediction"] for r in rows]
    assert metrics["metrics"]["test"]["macro_f1"] == pytest.approx(f1_score(gold, guess, average="macro"))
    assert metrics["metrics"]["test"]["accuracy"] == pytest.approx(accuracy_score(gold, guess))
    return metrics


def common_args(tmp_path):
    return ["--results_root", str(tmp_path / "results"), "--output_dir", str(tmp_path / "runs" / "{task}" / "{label}")]


FINETUNE = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--use_cpu", "true", "--disable_tqdm", "true"]


def test_script_pairs_with_the_baseline_and_a_checkpoint(student_checkpoint, tmp_path, capsys):
    pan = write_pan(tmp_path / "pan")
    argv = ["--task", "pairs", "--data", str(pan), "--test_fraction", "0.2", *common_args(tmp_path)]
    assert run_script(argv + ["--model", "tfidf-logreg"]) == 0
    assert run_script(argv + ["--model", str(student_checkpoint), *FINETUNE]) == 0
    assert '"model": "student"' in capsys.readouterr().out
    baseline = check_outputs(tmp_path / "runs" / "pairs" / "tfidf-logreg", "classic", 12)
    student = check_outputs(tmp_path / "runs" / "pairs" / "student", "fine-tuned", 12)
    assert student["details"]["steps"] == 2 and student["details"]["segment_ids"]  # pairs encoded as pairs
    assert baseline["train_examples"] == 48 and baseline["data"].startswith(f"pan: {pan}")
    rows = [json.loads(line) for line in (tmp_path / "results" / "pairs" / "results.jsonl").read_text().splitlines()]
    assert [r["model"] for r in rows] == ["tfidf-logreg", "student"]
    assert {r["primary_metric"] for r in rows} == {"macro_f1"}
    assert "| test macro_f1 | test accuracy |" in (tmp_path / "results" / "pairs" / "results.md").read_text()


@pytest.mark.parametrize("own_test", [False, True])
def test_script_pairs_records_which_test_split_it_used(own_test, tmp_path, caplog):
    pan = write_pan(tmp_path / "pan")
    if own_test:
        write_pan(pan, sources=5, seed=1, split="test")
    argv = ["--task", "pairs", "--data", str(pan), "--test_fraction", "0.2", "--model", "tfidf-logreg",
            *common_args(tmp_path)]
    with caplog.at_level("INFO"):
        assert run_script(argv) == 0
    metrics = check_outputs(tmp_path / "runs" / "pairs" / "tfidf-logreg", "classic", 15 if own_test else 12)
    expected = "PAN's own test split" if own_test else "carved from train by source sentence"
    assert metrics["settings"]["test_split"] == expected
    assert metrics["train_examples"] == (60 if own_test else 48)
    assert any(expected in record.getMessage() for record in caplog.records)
    with open(tmp_path / "runs" / "pairs" / "tfidf-logreg" / "predictions.tsv", newline="") as handle:
        tested = [row["source"] for row in csv.DictReader(handle, delimiter="\t")]
    train_sources = set((pan / "pan-train_s1.txt").read_text().splitlines())
    if own_test:
        assert tested == (pan / "pan-test_s1.txt").read_text().splitlines()
    else:
        assert set(tested) <= train_sources and len(set(tested)) == 4  # 4 of the 20 train sources


def test_script_machine_paraphrase_across_corpora(student_checkpoint, tmp_path):
    generated(tmp_path, "a")
    generated(tmp_path, "b", OTHER_DOCUMENTS, source="text B")
    argv = ["--task", "machine-paraphrase", "--train_corpus", str(tmp_path / "a"), "--test_corpus",
            str(tmp_path / "b"), *common_args(tmp_path)]
    assert run_script(argv + ["--model", "tfidf-logreg"]) == 0
    assert run_script(argv + ["--model", str(student_checkpoint), *FINETUNE, "--max_eval_examples", "6"]) == 0
    baseline = check_outputs(tmp_path / "runs" / "machine-paraphrase" / "tfidf-logreg", "classic", 8)
    check_outputs(tmp_path / "runs" / "machine-paraphrase" / "student", "fine-tuned", 6)
    assert baseline["train_examples"] == 16 and baseline["task"] == "machine-paraphrase"
    rows = (tmp_path / "results" / "machine-paraphrase" / "results.jsonl").read_text().splitlines()
    assert len(rows) == 2


BAD_INPUT = [
    (["--task", "summaries", "--model", "tfidf-logreg"],
     "Unknown task 'summaries'; valid tasks: pairs, machine-paraphrase"),
    (["--task", "pairs", "--model", "tfidf-logreg", "--data", "{tmp}/absent"], "absent: no such PAN folder"),
    (["--task", "pairs", "--model", "tfidf-lr", "--data", "{tmp}/pan"], "Unknown classic baseline 'tfidf-lr'"),
    (["--task", "pairs", "--model", "{tmp}/no/model", "--data", "{tmp}/pan"], "does not exist"),
    (["--task", "pairs", "--model", "tfidf-svm", "--data", "{tmp}/pan", "--test_fraction", "1.5"], "must be in (0, 1)"),
    (["--task", "machine-paraphrase", "--model", "tfidf-logreg", "--train_corpus", "{tmp}/absent", "--test_corpus",
      "{tmp}/c"], "absent: no such folder"),
    (["--task", "machine-paraphrase", "--model", "tfidf-logreg", "--train_corpus", "{tmp}/empty", "--test_corpus",
      "{tmp}/c"], "empty: empty corpus"),
    (["--task", "machine-paraphrase", "--model", "tfidf-logreg", "--corpus", "{tmp}/c"], "of the same corpus: 7."),
    (["--task", "machine-paraphrase", "--model", "tfidf-logreg", "--data", "{tmp}/pan"], "--data is for --task pairs"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUT)
def test_script_bad_input_is_one_error_line_and_exit_code_2(argv, message, tmp_path, capsys):
    write_pan(tmp_path / "pan")
    write_paragraph(tmp_path / "c" / "train", "7", 0)
    write_paragraph(tmp_path / "c" / "test", "7", 1)
    (tmp_path / "empty" / "og").mkdir(parents=True)
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv] + common_args(tmp_path)
    assert run_script(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert [line for line in error if line.startswith("error:")] == [error[-1]]
    assert message in error[-1]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()  # nothing partial
