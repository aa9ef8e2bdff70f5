"""The WSD scorer: hand-computed cases, and equality with the official Scorer.java (slow)."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest

from lexkd.tasks.wsd.scoring import (
    format_report,
    java_percent,
    read_scorer_key_file,
    score,
    score_files,
)

GOLD = {"a": ["k1"], "b": ["k2", "k3"], "c": ["k4"], "d": ["k5"]}


def test_fractional_credit_unanswered_and_ignored():
    # a right (1), b one of two keys right (1/2), c wrong, d unanswered, e not in gold.
    result = score({"a": "k1", "b": ["k3", "x"], "c": "k9", "e": "k1"}, GOLD)
    assert result["correct"] == 1.5 and result["answered"] == 3 and result["unanswered"] == 1
    assert result["instances"] == 4 and result["ignored_answers"] == 1
    assert result["precision"] == 0.5 and result["recall"] == 0.375
    assert result["f1"] == pytest.approx(2 * 0.5 * 0.375 / 0.875)
    assert (result["P"], result["R"], result["F1"]) == (50.0, 37.5, 42.9)


def test_any_gold_key_is_right_and_answer_keys_are_a_set():
    result = score({"a": ["k1", "k1"], "b": "k2", "c": "k4", "d": ("k5",)}, GOLD)
    assert result["precision"] == result["recall"] == result["f1"] == 1.0
    assert score({"b": ["k2", "k3"]}, GOLD)["correct"] == 1.0  # both keys right: full credit


def test_nothing_answered_is_nan_like_java():
    result = score({"zzz": "k1", "a": []}, GOLD)
    assert math.isnan(result["precision"]) and math.isnan(result["f1"]) and result["recall"] == 0.0
    assert format_report(result) == "P=\tNaN%\nR=\t0.0%\nF1=\tNaN%\n"
    assert score({"a": "bad"}, GOLD)["f1"] == 0.0  # P = R = 0: F1 is 0, not NaN


def test_per_pos():
    pos_of = {"a": "NOUN", "b": "NOUN", "c": "VERB", "d": "VERB"}
    result = score({"a": "k1", "b": "k9", "c": "k4"}, GOLD, pos_of=pos_of)
    assert result["per_pos"]["NOUN"]["precision"] == 0.5 and result["per_pos"]["NOUN"]["recall"] == 0.5
    assert result["per_pos"]["VERB"]["precision"] == 1.0 and result["per_pos"]["VERB"]["recall"] == 0.5
    with pytest.raises(ValueError, match="no part of speech for 1 gold ids .*d"):
        score({}, GOLD, pos_of={"a": "NOUN", "b": "NOUN", "c": "VERB"})
    with pytest.raises(ValueError, match="gold is empty"):
        score({}, {})


@pytest.mark.parametrize("fraction, printed", [
    (221 / 400, "55.3"),   # 55.25 exactly: Java rounds half-up, Python's "%.1f" gives 55.2
    (0.15 / 100, "0.2"),   # 0.15 is 0.1499999... in binary: Java rounds its decimal form "0.15"
    (2 / 3, "66.7"), (0.0, "0.0"), (1.0, "100.0"), (math.nan, "NaN"),
])
def test_java_percent(fraction, printed):
    assert java_percent(fraction) == printed


def test_read_like_scorer_java(tmp_path):
    path = tmp_path / "sys.key"
    path.write_text("a k1\nb\nb k2  k3\n\nc\tk4\na k9\r\nd k5 \n", encoding="utf-8")
    keys, incomplete = read_scorer_key_file(path)
    # duplicated ids merge; a double space is an empty key; a tab is no separator.
    assert keys == {"a": {"k1", "k9"}, "b": {"k2", "", "k3"}, "d": {"k5"}}
    assert incomplete == [2, 4, 5]
    result = score_files(write_gold(tmp_path), path)
    assert result["incomplete_lines"] == {"gold": [], "system": [2, 4, 5]}
    assert result["correct"] == pytest.approx(0.5 + 2 / 3 + 1.0)  # a: 1 of 2, b: 2 of 3, d


def write_gold(tmp_path: Path) -> Path:
    path = tmp_path / "gold.key"
    path.write_text("".join(f"{k} {' '.join(v)}\n" for k, v in GOLD.items()), encoding="utf-8")
    return path


def test_score_files_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.key"):
        score_files(tmp_path / "absent.key", tmp_path / "absent.key")
    empty = tmp_path / "empty.key"
    empty.write_text("lonely\n")
    with pytest.raises(ValueError, match="no 'id key' line"):
        score_files(empty, write_gold(tmp_path))


# --------------------------------------------------------------------------- Scorer.java


@pytest.fixture(scope="module")
def scorer_java(tmp_path_factory, request):
    """Scorer.java compiled into a temporary folder (skips without a JDK or the file)."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK: javac/java not found (Debian: apt-get install default-jdk-headless)")
    shared = request.getfixturevalue("shared_data")
    source = shared / "wsd" / "raganato2017" / "Scorer.java"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    folder = tmp_path_factory.mktemp("scorer")
    shutil.copy(source, folder / "Scorer.java")
    subprocess.run(["javac", "Scorer.java"], cwd=folder, check=True, capture_output=True, timeout=120)
    return folder


def run_java(folder: Path, gold: Path, system: Path) -> str:
    done = subprocess.run(["java", "-cp", str(folder), "Scorer", str(gold), str(system)],
                          check=True, capture_output=True, text=True, timeout=60)
    return done.stdout


def system_files(gold: dict[str, tuple[str, ...]], tmp_path: Path) -> dict[str, Path]:
    """Key files exercising Scorer.java's corners, built from the gold keys."""
    ids = list(gold)
    variants = {
        "perfect": [f"{i} {gold[i][0]}" for i in ids],
        "unanswered": [f"{i} {gold[i][0]}" for n, i in enumerate(ids) if n % 5],
        "wrong": [f"{i} {'wrong%1:00:00::' if n % 3 == 0 else gold[i][0]}" for n, i in enumerate(ids)],
        "multi": [f"{i} {gold[i][0]} other%1:00:0{n % 3}::" if n % 2 else f"{i} {gold[i][-1]}"
                  for n, i in enumerate(ids)],
        "messy": (["not.in.gold x%1:00:00::", "lonely", ""] + [f"{i}  {gold[i][0]}" for i in ids[:50]]
                  + [f"{i} {gold[i][0]}" for i in ids[::7]] + [f"{i} bad%1:00:00::" for i in ids[::7]]
                  + [f"{i}\t{gold[i][0]}" for i in ids[100:120]]),
        "empty": ["lonely"],
    }
    paths = {}
    for name, lines in variants.items():
        paths[name] = tmp_path / f"{name}.key"
        paths[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def check_same_as_java(folder: Path, gold: Path, system: Path) -> None:
    printed = run_java(folder, gold, system)
    result = score_files(gold, system)
    java_lines = printed.splitlines()
    assert "\n".join(java_lines[-3:]) + "\n" == format_report(result), system.name
    reported = [int(line.split()[2]) for line in java_lines[:-3]]
    assert reported == result["incomplete_lines"]["gold"] + result["incomplete_lines"]["system"]


@pytest.mark.slow
def test_same_numbers_as_scorer_java(scorer_java, shared_data, tmp_path):
    gold_path = shared_data / "wsd" / "raganato2017" / "semeval2007" / "semeval2007.gold.key.txt"
    gold, _ = read_scorer_key_file(gold_path)
    gold = {i: tuple(sorted(k)) for i, k in gold.items()}
    for system in system_files(gold, tmp_path).values():
        check_same_as_java(scorer_java, gold_path, system)
    # A rounding tie: 221 of 400 right is 55.25%, printed 55.3 by Java.
    tie_gold, tie_system = tmp_path / "tie_gold.key", tmp_path / "tie_system.key"
    tie_gold.write_text("".join(f"i{n} k%1:00:00::\n" for n in range(400)))
    tie_system.write_text("".join(f"i{n} k%1:00:0{int(n >= 221)}::\n" for n in range(400)))
    check_same_as_java(scorer_java, tie_gold, tie_system)
    assert "55.3%" in run_java(scorer_java, tie_gold, tie_system)


@pytest.mark.slow
def test_first_sense_answers_same_as_scorer_java(scorer_java, shared_data, tmp_path):
    from lexkd.lexical.wordnet import WordNetNotFoundError
    from lexkd.tasks.wsd.baselines import FirstSense
    from lexkd.tasks.wsd.raganato import read_raganato, write_key_file

    folder = shared_data / "wsd" / "raganato2017" / "semeval2007"
    corpus = read_raganato(folder / "semeval2007.data.xml", folder / "semeval2007.gold.key.txt")
    try:
        answers = FirstSense().predict(corpus)
    except WordNetNotFoundError as err:
        pytest.skip(f"WordNet 3.0 is not installed: {err}")
    write_key_file(answers, tmp_path / "first_sense.key")
    check_same_as_java(scorer_java, folder / "semeval2007.gold.key.txt", tmp_path / "first_sense.key")
    assert score_files(folder / "semeval2007.gold.key.txt", tmp_path / "first_sense.key")["F1"] == 55.2
