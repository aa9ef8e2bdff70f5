"""WSD systems by name and their evaluation (lexkd.tasks.wsd.systems): a tiny Raganato file written here."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
from test_wsd_data import DATA, KEYS, write
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
