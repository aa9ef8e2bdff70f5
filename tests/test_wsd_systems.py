"""WSD systems by name and their evaluation (lexkd.tasks.wsd.systems, scripts/eval_wsd.py): tiny Raganato files written here."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
from conftest import FIXTURE_XML, run_named_script, write
from conftest import RAGANATO_DATA as DATA
from conftest import RAGANATO_KEYS as KEYS
from transformers import TrainingArguments

from lexkd.tasks.wsd.raganato import read_key_file, read_raganato
from lexkd.tasks.wsd.scoring import score_files
from lexkd.tasks.wsd.systems import evaluate_system, gold_key_for, make_system


@pytest.fixture
def tiny(tmp_path):
    return write(tmp_path / "tiny.data.xml", DATA), write(tmp_path / "tiny.gold.key.txt", KEYS)


def test_gold_key_given_wins_else_the_one_beside_the_data(tiny, tmp_path, caplog):
    data, gold = tiny
    caplog.set_level(logging.INFO, logger="lexkd.tasks.wsd.systems")
    assert gold_key_for(data) == str(gold)
    assert f"{gold} (found beside {data})" in caplog.text
    other = write(tmp_path / "other.key.txt", KEYS)
    assert gold_key_for(data, other) == str(other)
    assert f"{other} (given)" in caplog.text
    alone = write(tmp_path / "alone.data.xml", DATA)
    caplog.clear()
    assert gold_key_for(alone) is None
    assert "not scored" in caplog.text and str(alone) in caplog.text


class FixedAnswers:
    """A stand-in WSD system: fixed answers, one counted skip."""

    skipped = Counter(no_wordnet_senses=1)

    def predict(self, corpus):
        return {"d000.s000.t000": "bank%1:14:00::", "d000.s000.t001": "close%2:30:00::",  # right, wrong
                "d000.s001.t000": "point_out%2:32:00::"}  # right; quickly unanswered


def test_evaluate_system_writes_the_key_file_and_scores_it_as_scorer_java(tiny, tmp_path):
    data, gold = tiny
    result = evaluate_system(FixedAnswers(), read_raganato(data, gold), tmp_path / "out.key", gold_key_file=gold)
    assert read_key_file(tmp_path / "out.key") == {i: (k,) for i, k in FixedAnswers().predict(None).items()}
    assert (result["instances"], result["answered"], result["skipped"]) == (4, 3, {"no_wordnet_senses": 1})
    assert result["key_file"] == str(tmp_path / "out.key") and result["gold_key_file"] == str(gold)
    scores = result["scores"]
    assert (scores["correct"], scores["P"], scores["R"], scores["F1"]) == (2, 66.7, 50.0, 57.1)
    assert scores["per_pos"]["VERB"]["correct"] == 1 and scores["per_pos"]["ADV"]["answered"] == 0
    rescored = score_files(gold, tmp_path / "out.key", pos_of=read_raganato(data).pos_of())
    rescored.pop("incomplete_lines")
    assert json.dumps(scores, sort_keys=True) == json.dumps(rescored, sort_keys=True)  # NaN (ADV's P) equal as text


def test_evaluate_system_without_gold_keys_writes_answers_only(tiny, tmp_path):
    data, gold = tiny
    result = evaluate_system(FixedAnswers(), read_raganato(data), tmp_path / "out.key")
    assert "scores" not in result and result["gold_key_file"] is None and result["answered"] == 3
    with pytest.raises(ValueError, match="has no gold keys although"):
        evaluate_system(FixedAnswers(), read_raganato(data), tmp_path / "out.key", gold_key_file=gold)


def test_make_system_refuses_contradictory_settings(tiny, tmp_path):
    data, gold = tiny
    train = read_raganato(data, gold)
    with pytest.raises(ValueError, match="--scorer nsp"):
        make_system(str(tmp_path / "ckpt"), train=train, scorer="nsp")
    with pytest.raises(ValueError, match="needs TrainingArguments"):
        make_system(str(tmp_path / "ckpt"), train=train)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_system(str(tmp_path / "ckpt"), train=train, train_args=args)
    with pytest.raises(ValueError, match="needs a training corpus"):
        make_system("mfs", wordnet=object())


# --------------------------------------------------------------------------- eval_wsd.py (real WordNet)


@pytest.fixture(scope="module")
def real_wordnet():
    from lexkd.lexical.wordnet import WordNetNotFoundError, get_wordnet

    try:
        return get_wordnet()
    except WordNetNotFoundError as error:
        pytest.skip(f"WordNet is not installed: {error}")


FIXTURE_GOLD = """d000.s000.t000 bank%1:17:01::
d000.s000.t001 river%1:17:00::
d000.s001.t000 dog%1:05:00::
d000.s001.t001 run%2:38:04::
d000.s001.t002 bank%1:14:00::
"""


@pytest.fixture
def wsd_files(tmp_path):
    (tmp_path / "toy.data.xml").write_text(FIXTURE_XML)
    (tmp_path / "toy.gold.key.txt").write_text(FIXTURE_GOLD)
    return tmp_path / "toy.data.xml", tmp_path / "toy.gold.key.txt"


@pytest.mark.slow
@pytest.mark.parametrize("model, extra", [
    ("first_sense", []),
    ("CKPT", ["--scorer", "nsp"]),
    ("CKPT", ["--train", "DATA", "--train_gold", "GOLD", "--max_steps", "2", "--output_dir", "OUT"]),
])
def test_eval_wsd_writes_key_file_and_scores(real_wordnet, student_checkpoint, wsd_files, tmp_path, capsys, model,
                                             extra):
    data, gold = wsd_files
    names = {"CKPT": str(student_checkpoint), "DATA": str(data), "GOLD": str(gold), "OUT": str(tmp_path / "lmgc")}
    argv = ["--model", names.get(model, model), "--data", str(data), "--gold", str(gold),
            "--output", str(tmp_path / "out.key"), "--results", str(tmp_path / "res.json")]
    assert run_named_script("eval_wsd", argv + [names.get(x, x) for x in extra]) == 0
    result = json.loads((tmp_path / "res.json").read_text())
    assert json.dumps(result, indent=2) in capsys.readouterr().out  # printed last, after the Trainer's logs
    keys = dict(line.split(" ", 1) for line in (tmp_path / "out.key").read_text().splitlines())
    assert set(keys) == {"d000.s000.t000", "d000.s000.t001", "d000.s001.t000", "d000.s001.t001"}  # xyzzy: no sense
    assert result["skipped"] == {"no_senses": 1} or result["skipped"] == {"no_wordnet_senses": 1}
    assert result["gold_key_file"] == str(gold)
    scores = result["scores"]
    assert scores["instances"] == 5 and scores["answered"] == 4
    # The printed scores are Scorer.java's on the written key file against the gold key file.
    rescored = score_files(gold, tmp_path / "out.key", pos_of=read_raganato(data).pos_of())
    assert rescored.pop("incomplete_lines") == {"gold": [], "system": []}
    assert scores == rescored
    assert {"NOUN", "VERB"} <= scores["per_pos"].keys()
    if model == "first_sense":
        assert scores["correct"] == 3  # first senses of bank, river, dog are gold; run's is not
    if "--train" in extra:
        assert result["system"] == "classifier" and (tmp_path / "lmgc" / "model" / "config.json").is_file()


@pytest.mark.slow
def test_eval_wsd_refuses_classifier_scoring_of_a_pretraining_checkpoint(real_wordnet, student_checkpoint, wsd_files,
                                                                       tmp_path, capsys):
    data, gold = wsd_files
    argv = ["--model", str(student_checkpoint), "--scorer", "classifier", "--data", str(data), "--output", str(tmp_path / "k")]
    assert run_named_script("eval_wsd", argv) == 2
    assert "not an LMGC classifier" in capsys.readouterr().err


def eval_first_sense(tmp_path, data, *extra):
    argv = ["--model", "first_sense", "--data", str(data), "--output", str(tmp_path / "out.key"),
            "--results", str(tmp_path / "res.json"), *extra]
    assert run_named_script("eval_wsd", argv) == 0
    return json.loads((tmp_path / "res.json").read_text())


@pytest.mark.slow
def test_eval_wsd_scores_with_the_gold_key_found_beside_the_data(real_wordnet, wsd_files, tmp_path, caplog):
    data, gold = wsd_files
    caplog.set_level(logging.INFO, logger="lexkd.tasks.wsd.systems")
    result = eval_first_sense(tmp_path, data)  # no --gold: toy.gold.key.txt lies beside toy.data.xml
    assert result["gold_key_file"] == str(gold)
    assert f"Scoring against the gold key file {gold} (found beside {data})" in caplog.text
    assert result["scores"]["correct"] == 3  # first senses of bank, river, dog are gold; run's is not
    assert result["scores"]["F1"] == score_files(gold, tmp_path / "out.key")["F1"]

    other = tmp_path / "other.key.txt"  # an explicit --gold wins: here bank's gold is its second sense
    other.write_text(FIXTURE_GOLD.replace("bank%1:17:01::", "bank%1:14:00::", 1))
    caplog.clear()
    result = eval_first_sense(tmp_path, data, "--gold", str(other))
    assert result["gold_key_file"] == str(other) and result["scores"]["correct"] == 2
    assert f"Scoring against the gold key file {other} (given)" in caplog.text

    (tmp_path / "alone").mkdir()  # no key file beside the data and none given: answers written, not scored
    alone = tmp_path / "alone" / "toy.data.xml"
    alone.write_text(FIXTURE_XML)
    caplog.clear()
    result = eval_first_sense(tmp_path, alone)
    assert result["gold_key_file"] is None and "scores" not in result and result["answered"] == 4
    assert "not scored" in caplog.text


def test_the_gold_key_is_found_beside_the_data(tmp_path):
    from lexkd.tasks.wsd.raganato import default_key_file

    data = tmp_path / "semcor.data.xml"
    data.write_text("<corpus/>")
    assert default_key_file(data) is None  # no key file there yet
    (tmp_path / "semcor.gold.key.txt").write_text("")
    assert default_key_file(str(data)) == str(tmp_path / "semcor.gold.key.txt")
    assert default_key_file(tmp_path / "other.xml") is None


@pytest.mark.slow
def test_eval_wsd_has_the_allow_missing_keys_flag_its_error_names(real_wordnet, wsd_files, tmp_path, capsys):
    data, gold = wsd_files
    partial = tmp_path / "partial.key.txt"
    partial.write_text("".join(FIXTURE_GOLD.splitlines(keepends=True)[:3]))  # two instances unkeyed
    argv = ["--model", "first_sense", "--data", str(data), "--gold", str(partial), "--output", str(tmp_path / "out.key")]
    assert run_named_script("eval_wsd", argv) == 2
    assert "pass --allow_missing_keys (scripts/eval_wsd.py)" in capsys.readouterr().err
    assert run_named_script("eval_wsd", argv + ["--allow_missing_keys"]) == 0
    assert len((tmp_path / "out.key").read_text().splitlines()) == 3  # the keyed instances only


def test_a_mistyped_baseline_is_suggested_not_looked_up_on_the_hub(monkeypatch):
    import lexkd.tasks.wsd.systems as systems

    monkeypatch.setattr(systems.LMGCSystem, "from_pretrained", lambda *a, **k: pytest.fail("asked the hub"))
    with pytest.raises(ValueError, match="did you mean 'first_sense'"):
        make_system("firstsense")


def test_an_undecodable_key_file_is_named_with_its_line(tmp_path):
    from lexkd.tasks.wsd.corpus import WSDFormatError

    path = tmp_path / "bad.key.txt"
    path.write_bytes(b"d000.s000.t000 bank%1:17:01::\nd000.s000.t001 caf\xe9%1:13:00::\n")
    with pytest.raises(WSDFormatError, match=r"bad.key.txt, line 2: not UTF-8"):
        read_key_file(path)
