"""GLUE task presets, loaders and metrics: tiny fixtures in the real files' layouts, written here."""

from __future__ import annotations

import math
import random

import datasets
import numpy as np
import pytest
from conftest import write_glue_archive, write_glue_fixture

from lexkd.tasks.classification.readers import (
    parse_column_mapping,
    read_archive_members,
    read_delimited,
)
from lexkd.tasks.classification.spec import TaskSpec
from lexkd.tasks.classification.spec import compute_metrics as spec_metrics
from lexkd.tasks.glue import data as nlu
from lexkd.tasks.glue.data import (
    MRPC_DEV_SIZE,
    TASKS,
    carve_dev_split,
    get_task,
    load_files,
    load_hub,
    load_local,
    load_task_data,
)

# --------------------------------------------------------------------------- metrics against hand-computed values


def compute_metrics(task, predictions, labels):
    """The metrics of a GLUE task by name, or of a spec."""
    return spec_metrics(get_task(task), predictions, labels)


def test_accuracy_f1_and_matthews_by_hand():
    predictions, labels = [1, 0, 1, 1], [1, 0, 0, 1]  # tp 2, tn 1, fp 1, fn 0
    mrpc = compute_metrics("mrpc", predictions, labels)
    assert list(mrpc) == ["accuracy", "f1"]
    assert mrpc["accuracy"] == pytest.approx(0.75)
    assert mrpc["f1"] == pytest.approx(0.8)  # precision 2/3, recall 1
    cola = compute_metrics("cola", predictions, labels)
    assert cola == {"matthews_correlation": pytest.approx((2 * 1 - 1 * 0) / math.sqrt(3 * 2 * 2 * 1))}
    for task in ("sst2", "rte", "wnli", "qnli", "qqp"):
        assert compute_metrics(task, predictions, labels)["accuracy"] == pytest.approx(0.75)


def test_correlations_by_hand():
    stsb = compute_metrics("stsb", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert stsb["pearson"] == pytest.approx(3 / math.sqrt(2 * 42 / 9))  # centred: (-1,0,1).(-4/3,-1/3,5/3)
    assert stsb["spearman"] == pytest.approx(1.0)  # same ranks
    assert compute_metrics("stsb", [3.0, 1.0, 2.0], [1.0, 2.0, 3.0])["spearman"] == pytest.approx(1 - 6 * 6 / (3 * 8))
    assert math.isnan(compute_metrics("stsb", [2.0, 2.0, 2.0], [1.0, 2.0, 4.0])["pearson"])  # constant prediction
    assert compute_metrics("stsb", np.array([[1.0], [2.0], [3.0]]), [1.0, 2.0, 4.0]) == stsb  # (N, 1) regression output


def test_logits_are_argmaxed_and_macro_f1_by_hand():
    logits = np.array([[2.0, 0.1, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [9.0, 0.0, 0.0]])  # -> 0, 1, 2, 0
    assert compute_metrics("mnli", logits, [0, 1, 1, 0]) == {"accuracy": pytest.approx(0.75)}
    custom = TaskSpec("x", ("text",), ("a", "b"), ("macro_f1",))
    # class 0: P 1, R 1/2, F 2/3; class 1: P 2/3, R 1, F 4/5
    assert compute_metrics(custom, [0, 1, 1, 1], [0, 0, 1, 1])["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    with pytest.raises(ValueError, match="as many predictions as labels"):
        compute_metrics("sst2", [1, 0], [1])


def test_task_presets_and_unknown_task():
    assert set(TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"}
    assert get_task("SST-2") is TASKS["sst2"] and get_task("STS-B").is_regression
    assert TASKS["mnli"].num_labels == 3 and TASKS["rte"].is_pair and not TASKS["cola"].is_pair
    assert TASKS["rte"].label_names[0] == "entailment" and TASKS["wnli"].label_names[1] == "entailment"
    with pytest.raises(ValueError, match="Unknown task 'sst5'; valid tasks: cola, sst2, mrpc"):
        get_task("sst5")
    with pytest.raises(ValueError, match="unknown metrics"):
        TaskSpec("x", ("a",), ("n", "p"), ("bleu",))
    with pytest.raises(TypeError, match="needs a TaskSpec, got 'mrpc'.*get_task"):
        spec_metrics("mrpc", [1], [1])


# --------------------------------------------------------------------------- local presets on tiny fixtures

@pytest.fixture
def glue_dir(tmp_path):
    return write_glue_fixture(tmp_path / "glue")


PRESET_SIZES = {"sst2": {"train": 3, "validation": 2}, "cola": {"train": 3, "validation": 1},
                "mrpc": {"train": 12, "validation": MRPC_DEV_SIZE, "test": 3}, "stsb": {"train": 2, "validation": 1},
                "rte": {"train": 2, "validation": 1}, "wnli": {"train": 3, "validation": 1},
                "qnli": {"train": 2, "validation": 2}, "mnli": {"train": 3, "validation": 1},
                "qqp": {"train": 2, "validation": 1}}


@pytest.mark.parametrize("task", sorted(PRESET_SIZES))
def test_every_local_preset_reads_its_layout(glue_dir, task):
    data = load_local(task, glue_dir)
    spec = TASKS[task]
    assert {split: len(rows) for split, rows in data.items()} == PRESET_SIZES[task]
    for rows in data.values():
        assert rows.column_names == [*spec.text_columns, "label"]
        texts = [t for column in spec.text_columns for t in rows[column]]
        assert all(t and "\r" not in t and "\ufeff" not in t for t in texts)


def test_local_presets_map_texts_and_labels(glue_dir):
    sst2 = load_local("sst2", glue_dir)
    assert sst2["train"][2] == {"sentence": 'a "great" film', "label": 1}  # quotes are text; CRLF stripped
    assert sst2["validation"]["sentence"] == ["great", "awful"]  # dev's column is called "content"
    cola = load_local("cola", glue_dir)
    assert cola["train"]["label"] == [1, 0, 1] and cola["validation"][0] == {"sentence": "Sat cat the.", "label": 0}
    stsb = load_local("stsb", glue_dir)
    assert stsb["train"]["label"] == pytest.approx([3.8, 0.5]) and stsb["train"][0]["sentence1"] == 'A "quoted" man.'
    assert load_local("rte", glue_dir)["train"]["label"] == [0, 1]  # 0 = entailment, as on the hub
    wnli = load_local("wnli", glue_dir)
    assert wnli["train"]["sentence1"] == ["John is short.", "I stuck a pin.", "The carrot had a hole."]
    qnli = load_local("qnli", glue_dir)
    assert qnli["validation"]["label"] == [0, 1] and qnli["train"]["question"] == ["What?", "Who?"]
    mnli = load_local("mnli", glue_dir)
    assert mnli["train"]["label"] == [0, 2, 1] and mnli["train"].features["label"].names[1] == "neutral"
    assert load_local("qqp", glue_dir)["train"][0] == {"question1": "How?", "question2": "How so?", "label": 1}
    mrpc = load_local("mrpc", glue_dir)
    assert mrpc["test"][0] == {"sentence1": 'He said "yes" 900.', "sentence2": 'She said "no" 900.', "label": 0}


def test_mrpc_dev_split_is_deterministic_disjoint_and_independent_of_row_order(glue_dir):
    first, again = load_local("mrpc", glue_dir), load_local("mrpc", glue_dir)
    assert first["validation"]["sentence1"] == again["validation"]["sentence1"]
    train, dev = set(first["train"]["sentence1"]), set(first["validation"]["sentence1"])
    assert not train & dev and len(train | dev) == MRPC_DEV_SIZE + 12
    path = glue_dir / "MRPC" / "msr_paraphrase_train.txt"
    header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    random.Random(1).shuffle(rows)
    path.write_text(header + "".join(rows), encoding="utf-8")
    assert set(load_local("mrpc", glue_dir)["validation"]["sentence1"]) == dev


def test_carve_dev_split_uses_the_seed_and_refuses_bad_sizes():
    records = [(f"line {i}", {"id": str(i)}) for i in range(50)]
    train, dev = carve_dev_split(records, key=lambda r: r["id"], size=10, seed=0)
    assert len(dev) == 10 and len(train) == 40 and not {r["id"] for _, r in train} & {r["id"] for _, r in dev}
    assert [loc for loc, _ in train] == sorted((loc for loc, _ in train), key=lambda s: int(s.split()[1]))
    _, other = carve_dev_split(records, key=lambda r: r["id"], size=10, seed=1)
    assert {r["id"] for _, r in other} != {r["id"] for _, r in dev}
    with pytest.raises(ValueError, match="Cannot carve 50"):
        carve_dev_split(records, key=lambda r: r["id"], size=50, seed=0)


def test_qnli_without_the_archive_says_what_is_missing(glue_dir):
    (glue_dir / nlu.ARCHIVE_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="only QNLI's dev set") as error:
        load_local("qnli", glue_dir)
    assert nlu.ARCHIVE_NAME in str(error.value) and "QNLI/train.json" in str(error.value)
    assert "own train/validation files" in str(error.value) and "hub" in str(error.value)


def test_missing_preset_file_and_folder_are_named(glue_dir, tmp_path):
    (glue_dir / "RTE" / "dev.tsv").unlink()
    with pytest.raises(FileNotFoundError, match=r"RTE/dev\.tsv: no such file"):
        load_local("rte", glue_dir)
    with pytest.raises(FileNotFoundError, match="LEXKD_GLUE_DIR"):
        load_local("rte", tmp_path / "nowhere")


def test_bad_rows_in_a_preset_name_file_and_line(glue_dir):
    (glue_dir / "SST-2" / "dev.tsv").write_bytes(b"label\tcontent\n1\tgreat\n2\tawful\n")
    with pytest.raises(ValueError, match=r"SST-2/dev\.tsv, line 3: label '2' is not in the label set of sst2"):
        load_local("sst2", glue_dir)
    (glue_dir / "STS-B" / "dev.tsv").write_bytes(
        b"index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
        b"0\tm\tx\t2012\t3\tnone\tnone\tA bird.\tA bird.\t5.5\n")
    with pytest.raises(ValueError, match=r"dev\.tsv, line 2: label '5\.5' is not a score of stsb"):
        load_local("stsb", glue_dir)


# --------------------------------------------------------------------------- hub (monkeypatched: no network)


def test_hub_asks_for_nyu_glue_with_the_config_and_keeps_labelled_splits(monkeypatch):
    calls = []

    def fake_load_dataset(name, config):
        calls.append((name, config))
        rows = {"premise": ["A."], "hypothesis": ["B."], "label": [0], "idx": [0]}
        return datasets.DatasetDict({split: datasets.Dataset.from_dict(rows) for split in (
            "train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched")})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data = load_hub("mnli")
    assert calls == [("nyu-mll/glue", "mnli")]
    assert list(data) == ["train", "validation", "validation_mismatched"]
    assert data["train"].column_names == ["premise", "hypothesis", "label"]
    data, source = load_task_data("mnli", "hub")
    assert source == "hub: nyu-mll/glue/mnli" and calls[-1] == ("nyu-mll/glue", "mnli")


def test_hub_errors_are_clear(monkeypatch):
    def offline(name, config):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(OSError, match=r"Could not load nyu-mll/glue \(rte\) from the hub.*local preset"):
        load_hub("rte")
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config: datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"sentence": ["x"], "label": [0]}),
         "validation": datasets.Dataset.from_dict({"text": ["x"], "label": [0]})}))
    with pytest.raises(ValueError, match="validation: missing column.*sentence; columns found: text, label"):
        load_hub("sst2")


def test_auto_uses_the_local_folder_when_it_exists(glue_dir, monkeypatch):
    monkeypatch.setenv("LEXKD_GLUE_DIR", str(glue_dir))
    data, source = load_task_data("rte")
    assert source == f"local: {glue_dir}" and len(data["train"]) == 2
    monkeypatch.setenv("LEXKD_GLUE_DIR", str(glue_dir / "absent"))
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config: (_ for _ in ()).throw(ConnectionError("offline")))
    with pytest.raises(OSError, match="from the hub"):
        load_task_data("rte")


# --------------------------------------------------------------------------- user files and bad input


def test_user_files_in_every_format_with_a_column_mapping(tmp_path):
    (tmp_path / "train.tsv").write_text("polarity\ttext\npositive\tgood \"film\"\nnegative\tbad film\n")
    (tmp_path / "dev.csv").write_text('text,polarity\n"fine, really",1\nawful,0\n')
    data = load_files("sst2", tmp_path / "train.tsv", tmp_path / "dev.csv", "sentence=text,label=polarity")
    assert data["train"][0] == {"sentence": 'good "film"', "label": 1}  # label names or ids
    assert data["validation"]["sentence"] == ["fine, really", "awful"]
    (tmp_path / "train.jsonl").write_text('{"s1": "a", "s2": "b", "y": 4.5}\n\n{"s1": "c", "s2": "d", "y": 0}\n')
    (tmp_path / "dev.json").write_text('[{"s1": "e", "s2": "f", "y": "2.25"}]')
    data, source = load_task_data("stsb", train_file=str(tmp_path / "train.jsonl"),
                                  validation_file=str(tmp_path / "dev.json"),
                                  columns={"sentence1": "s1", "sentence2": "s2", "label": "y"})
    assert data["train"]["label"] == [4.5, 0.0] and data["validation"]["label"] == [2.25]
    assert source.startswith("files: ")
    assert parse_column_mapping(" sentence = text ,label=polarity") == {"sentence": "text", "label": "polarity"}
    with pytest.raises(ValueError, match="Bad column mapping 'sentence'"):
        parse_column_mapping("sentence")


@pytest.mark.parametrize("content, columns, message", [
    (b"label\ttext\n1\tgood\n", None,
     r"train\.tsv, line 2: missing column\(s\) 'sentence'; columns found: label, text"),
    (b"polarity\ttext\n1\tgood\n", "sentence=text",
     r"line 2: missing column\(s\) 'label'; columns found: polarity, text"),
    (b"label\tsentence\n1\tgood\n7\tbad\n", None,
     r"train\.tsv, line 3: label '7' is not in the label set of sst2 \(0\.\.1 or negative, positive\)"),
    (b"label\tsentence\n1\tgood\nmeh\tbad\n", None, r"line 3: label 'meh' is not in the label set"),
    (b"", None, r"train\.tsv is empty"),
    (b"\n \n", None, r"train\.tsv is empty"),
    (b"label\tsentence\n", None, r"train\.tsv has no data rows"),
    (b"label\tsentence\n1\tok\n0\tbad \xff film\n", None, r"train\.tsv, line 3: text cannot be decoded as UTF-8"),
    (b"label\tsentence\n1\tok\textra\n", None, r"train\.tsv, line 2: expected 2 fields \(label, sentence\), found 3"),
    (b"label\tsentence\n1\tok\n\n0\tbad\n", None, r"train\.tsv, line 3: blank line between rows"),
    (b"label\tsentence\n1\tok\n", "sentense=text", r"Column mapping names \['sentense'\]"),
])
def test_bad_user_files_name_the_file_and_line(tmp_path, content, columns, message):
    (tmp_path / "train.tsv").write_bytes(content)
    (tmp_path / "dev.tsv").write_text("label\tsentence\n1\tgood\n")
    with pytest.raises(ValueError, match=message):
        load_files("sst2", tmp_path / "train.tsv", tmp_path / "dev.tsv", columns)


def test_bad_json_and_other_file_errors(tmp_path):
    (tmp_path / "dev.tsv").write_text("label\tsentence\n1\tgood\n")
    (tmp_path / "train.jsonl").write_text('{"sentence": "a", "label": 1}\n{"sentence": "b", "label": \n')
    with pytest.raises(ValueError, match=r"train\.jsonl, line 2: not valid JSON"):
        load_files("sst2", tmp_path / "train.jsonl", tmp_path / "dev.tsv")
    (tmp_path / "train.json").write_text('[{"sentence": 3, "label": 1}]')
    with pytest.raises(ValueError, match=r"train\.json, record 0: column 'sentence' is not text"):
        load_files("sst2", tmp_path / "train.json", tmp_path / "dev.tsv")
    (tmp_path / "train.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type '.txt'"):
        load_files("sst2", tmp_path / "train.txt", tmp_path / "dev.tsv")
    with pytest.raises(FileNotFoundError, match=r"absent\.tsv: no such file"):
        load_files("sst2", tmp_path / "absent.tsv", tmp_path / "dev.tsv")
    with pytest.raises(ValueError, match="both a train file and a validation file"):
        load_task_data("sst2", train_file=str(tmp_path / "dev.tsv"))


def write_two_headers(tmp_path):
    """A train TSV with header ``text, polarity`` and a held-out TSV with ``review, gold``."""
    (tmp_path / "train.tsv").write_text("text\tpolarity\ngood film\tpositive\nbad film\tnegative\n")
    (tmp_path / "dev.tsv").write_text("review\tgold\nfine film\t1\nawful film\t0\ndull film\tnegative\n")
    return tmp_path / "train.tsv", tmp_path / "dev.tsv"


def test_validation_file_with_its_own_column_mapping(tmp_path):
    train, dev = write_two_headers(tmp_path)
    data = load_files("sst2", train, dev, "sentence=text,label=polarity",
                      validation_columns="sentence=review,label=gold")
    assert data["train"]["sentence"] == ["good film", "bad film"] and data["train"]["label"] == [1, 0]
    assert data["validation"]["sentence"] == ["fine film", "awful film", "dull film"]
    assert data["validation"]["label"] == [1, 0, 0]
    same, source = load_task_data("sst2", train_file=str(train), validation_file=str(dev),
                                  columns={"sentence": "text", "label": "polarity"},
                                  validation_columns={"sentence": "review", "label": "gold"})
    assert same["validation"]["sentence"] == data["validation"]["sentence"] and source == f"files: {train}, {dev}"
    # it replaces --columns for that file: label is then looked up as 'label'
    with pytest.raises(ValueError, match=r"dev\.tsv, line 2: missing column\(s\) 'label'; columns found: review, "
                                         r"gold\. This file's column mapping is --validation_columns\."):
        load_files("sst2", train, dev, "sentence=text,label=polarity", validation_columns="sentence=review")


def test_a_mapped_column_missing_from_one_file_names_the_file_the_column_and_the_flag(tmp_path):
    train, dev = write_two_headers(tmp_path)
    with pytest.raises(ValueError, match=r"dev\.tsv, line 2: missing column\(s\) 'sentence' \(from 'text'\), 'label' "
                                         r"\(from 'polarity'\); columns found: review, gold\. This file's column "
                                         r"mapping is --columns .*give --validation_columns"):
        load_files("sst2", train, dev, "sentence=text,label=polarity")  # the old behaviour: one mapping for both
    with pytest.raises(ValueError, match=r"train\.tsv, line 2: missing column\(s\) 'sentence' \(from 'review'\).*"
                                         r"This file's column mapping is --columns\."):
        load_files("sst2", train, dev, "sentence=review,label=polarity", validation_columns="sentence=review")
    with pytest.raises(ValueError, match=r"--columns and --validation_columns map the columns of your own files"):
        load_task_data("sst2", str(tmp_path), columns="sentence=text", validation_columns="sentence=review")


def test_read_delimited_keeps_quotes_as_text_in_tsv():
    records = read_delimited(b'a\tb\r\n"x\t"y"\r\n', "f.tsv")
    assert records == [("line 2", {"a": '"x', "b": '"y"'})]


def test_read_delimited_checks_a_fixed_header():
    records = read_delimited(b"\xef\xbb\xbfQuality \t#1 ID\n1\tx\n", "m.txt", header=("Quality", "#1 ID"))
    assert records == [("line 2", {"Quality": "1", "#1 ID": "x"})]  # BOM dropped, names stripped
    expected = r"m\.txt, line 1: expected the header \['Quality', '#1 ID'\], found \['a', 'b'\]"
    with pytest.raises(ValueError, match=expected):
        read_delimited(b"a\tb\n1\tx\n", "m.txt", header=("Quality", "#1 ID"))
    with pytest.raises(ValueError, match="not both"):
        read_delimited(b"a\tb\n", "m.txt", header=("a", "b"), fieldnames=("a", "b"))


def test_mrpc_preset_checks_the_msrp_header(glue_dir):
    (glue_dir / "MRPC" / "msr_paraphrase_test.txt").write_text("Quality\t#1 ID\t#2 ID\tS1\tS2\n1\t1\t2\ta\tb\n")
    with pytest.raises(ValueError, match=r"msr_paraphrase_test\.txt, line 1: expected the header \['Quality'"):
        load_local("mrpc", glue_dir)


def test_read_archive_members_by_path_suffix(tmp_path):
    write_glue_archive(tmp_path / "a.tar.xz", {"QNLI/train.json": b"{}", "QNLI/dev.json": b"[]"})
    members = read_archive_members(tmp_path / "a.tar.xz", ["glue_pretrain/QNLI/dev.json", "QNLI/train.json"])
    assert members == {"glue_pretrain/QNLI/dev.json": b"[]", "QNLI/train.json": b"{}"}
    with pytest.raises(FileNotFoundError, match=r"has no member \.\.\./MNLI/dev\.json"):
        read_archive_members(tmp_path / "a.tar.xz", ["MNLI/dev.json"])
    with pytest.raises(FileNotFoundError, match=r"b\.tar\.xz: no such file\. Get it\.$"):
        read_archive_members(tmp_path / "b.tar.xz", ["x"], hint="Get it.")


# --------------------------------------------------------------------------- the real files (slow)

REAL_SIZES = {"cola": (8551, 527), "sst2": (67349, 872), "mrpc": (3668, 408), "stsb": (5749, 1500),
              "rte": (2490, 277), "wnli": (635, 71), "qnli": (8999, 5463), "mnli": (8999, 1000), "qqp": (8999, 1000)}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(REAL_SIZES))
def test_real_local_presets(shared_data, task):
    glue = shared_data / "glue"
    if not glue.is_dir():
        pytest.skip(f"{glue} is absent")
    data = load_local(task, glue)
    assert (len(data["train"]), len(data["validation"])) == REAL_SIZES[task]
    if task == "mrpc":
        assert len(data["test"]) == 1725
        assert not set(zip(data["train"]["sentence1"], data["train"]["sentence2"], strict=True)) & set(
            zip(data["validation"]["sentence1"], data["validation"]["sentence2"], strict=True))
    spec = TASKS[task]
    for rows in data.values():
        assert all("\r" not in t for column in spec.text_columns for t in rows[column])
        if not spec.is_regression:
            assert set(rows["label"]) == set(range(spec.num_labels))  # every class occurs in every split
