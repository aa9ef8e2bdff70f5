"""WSD scoring with exactly the semantics of the unified framework's ``Scorer.java``.

``Scorer.java`` (Raganato, Camacho-Collados and Navigli 2017, a modification of the SemEval-2015
task 13 scorer) computes, over the ids of the gold file:

- an answer's keys form a *set*; an answer with ``n`` distinct keys of which ``k`` are gold
  keys earns ``k / n`` (fractional credit) and ``(n - k) / n`` of a wrong answer;
- answers for ids absent from the gold file are ignored (they count nowhere);
- ``P = right / (right + wrong)`` (the gold instances answered), ``R = right / |gold|``,
  ``F1 = 2PR / (P + R)``, or 0 when ``P + R == 0``. With no answered gold instance P is
  ``0 / 0`` = NaN in Java, and so is F1 (NaN + 0 is not 0); both are NaN here too;
- it prints ``P=\\t55.2%`` etc.: ``String.format("%.1f", x * 100)``, which rounds the
  shortest decimal form of the double half-up (55.25 -> 55.3, where Python's
  ``"%.1f"`` gives 55.2): see :func:`java_percent`.

Reading files (:func:`score_files`, :func:`read_scorer_key_file`): each line is split on
single spaces as Java's ``line.split(" ")`` does (trailing empty fields dropped; a tab or a
double space is *not* a separator, so ``"id\\tkey"`` is one field and ``"id  key"`` has an
empty key ``""``); a line with fewer than two fields is reported and skipped; an id on
several lines gets the union of their keys; keys are case-sensitive.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

__all__ = ["format_report", "java_percent", "read_scorer_key_file", "score", "score_files"]


def java_percent(fraction: float) -> str:
    """``String.format("%.1f", fraction * 100)`` as Java prints it (``"NaN"`` for NaN).

    Java formats the shortest decimal string that round-trips the double (what Python's
    ``repr`` gives) and rounds it half-up; Python's ``"%.1f"`` rounds the exact binary value
    half-even, which differs on ties such as 55.25.
    """
    value = fraction * 100
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return str(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _answer_set(value: str | Sequence[str]) -> set[str]:
    """An answer's distinct keys: a string is one key, a sequence several."""
    return {value} if isinstance(value, str) else set(value)


def _score(answers: Mapping[str, str | Sequence[str]], gold: Mapping[str, Sequence[str]]) -> dict:
    """P/R/F1 and counts of ``answers`` against ``gold`` (Scorer.java's ``score``)."""
    right = wrong = 0.0
    answered = ignored = 0
    for instance_id, value in answers.items():
        if instance_id not in gold:
            ignored += 1
            continue
        keys = _answer_set(value)
        if not keys:  # Scorer.java cannot read an empty answer: it is unanswered
            continue
        gold_keys = set(gold[instance_id])
        local_right = sum(1 for key in keys if key in gold_keys)
        right += local_right / len(keys)
        wrong += (len(keys) - local_right) / len(keys)
        answered += 1
    precision = right / (right + wrong) if answered else math.nan
    recall = right / len(gold)
    f1 = 0.0 if precision + recall == 0.0 else 2 * precision * recall / (precision + recall)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "P": float(java_percent(precision)),
        "R": float(java_percent(recall)),
        "F1": float(java_percent(f1)),
        "correct": right,
        "answered": answered,
        "unanswered": len(gold) - answered,
        "instances": len(gold),
        "ignored_answers": ignored,
    }


def score(answers: Mapping[str, str | Sequence[str]], gold: Mapping[str, Sequence[str]], *,
          pos_of: Mapping[str, str] | None = None) -> dict:
    """Score WSD answers as ``Scorer.java`` does (see the module docstring).

    Args:
        answers: instance id -> sense key, or several keys (fractional credit). Ids not in
            ``gold`` are ignored; ids absent (or with an empty sequence) are unanswered.
        gold: instance id -> gold sense keys (any of them is right).
        pos_of: instance id -> part of speech; adds ``per_pos``, the same scores over the
            gold instances of each POS.

    Returns:
        ``precision``, ``recall``, ``f1`` as fractions (NaN when nothing was answered, as in
        Java); ``P``, ``R``, ``F1``: the percentages Scorer.java prints (one decimal);
        ``correct`` (fractional), ``answered``, ``unanswered``, ``instances``,
        ``ignored_answers`` (answers for ids not in gold); and ``per_pos`` if asked.

    Raises:
        ValueError: ``gold`` is empty, or ``pos_of`` lacks some gold ids (a few are named).
    """
    if not gold:
        raise ValueError("gold is empty: nothing to score against (wrong gold key file?)")
    result = _score(answers, gold)
    if pos_of is not None:
        missing = [instance_id for instance_id in gold if instance_id not in pos_of]
        if missing:
            raise ValueError(f"pos_of has no part of speech for {len(missing)} gold ids "
                             f"(e.g. {', '.join(missing[:5])}); pass the gold corpus's pos_of()")
        groups: dict[str, set[str]] = {}
        for instance_id in gold:
            groups.setdefault(pos_of[instance_id], set()).add(instance_id)
        result["per_pos"] = {
            pos: _score({i: a for i, a in answers.items() if i in ids}, {i: gold[i] for i in ids})
            for pos, ids in sorted(groups.items())
        }
    return result


def read_scorer_key_file(path: str | os.PathLike) -> tuple[dict[str, set[str]], list[int]]:
    """Read a key file exactly as Scorer.java's ``readFile`` does.

    Returns:
        (id -> set of keys, numbers of the lines skipped as incomplete). Lines split on
        single spaces; an id on several lines gets the union of their keys.

    Raises:
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"key file {str(path)!r} does not exist; check the path")
    keys: dict[str, set[str]] = {}
    incomplete: list[int] = []
    with open(path, encoding="utf-8") as handle:  # universal newlines, as Java's readLine
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n").split(" ")
            while fields and fields[-1] == "":  # Java's split drops trailing empty strings
                fields.pop()
            if len(fields) < 2:
                incomplete.append(number)
                continue
            keys.setdefault(fields[0], set()).update(fields[1:])
    return keys, incomplete


def score_files(gold_key_path: str | os.PathLike, system_key_path: str | os.PathLike, *,
                pos_of: Mapping[str, str] | None = None) -> dict:
    """:func:`score` of two key files read as Scorer.java reads them.

    The result also has ``incomplete_lines``: ``{"gold": [...], "system": [...]}``, the line
    numbers Scorer.java reports as "not complete" and skips.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: the gold file has no complete line.
    """
    gold, gold_bad = read_scorer_key_file(gold_key_path)
    system, system_bad = read_scorer_key_file(system_key_path)
    if not gold:
        raise ValueError(f"gold key file {str(gold_key_path)!r} has no 'id key' line")
    result = score(system, gold, pos_of=pos_of)
    result["incomplete_lines"] = {"gold": gold_bad, "system": system_bad}
    return result


def format_report(result: Mapping) -> str:
    """The three lines Scorer.java prints for ``result`` (``P=\\t55.2%`` ...)."""
    return "".join(f"{label}=\t{java_percent(result[name])}%\n"
                   for label, name in (("P", "precision"), ("R", "recall"), ("F1", "f1")))
