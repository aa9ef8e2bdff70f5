"""Run reports: learning-curve plots from ``metrics.jsonl``, Markdown tables, and the results
tables of a task (``results.jsonl``, ``results.md`` and the bar chart ``results.png``) that every
downstream script (GLUE, plagiarism, seq2seq) keeps with :func:`update_results_table`."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

from lexkd.utils.io import file_lock, write_atomically, write_text_atomically

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Read a ``metrics.jsonl`` file (one JSON object per line).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a malformed line, naming the file and line number.
    """
    records = []
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not a JSON object ({error.msg}).") from None
    return records


def series(records: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    """Steps and values of ``key`` in the records that have it."""
    points = [(r["step"], r[key]) for r in records if key in r]
    return [p[0] for p in points], [p[1] for p in points]


def mean_of(records: Sequence[dict], prefix: str) -> dict[str, float]:
    """Mean over records of every key starting with ``prefix`` (e.g. the teacher weights)."""
    sums: dict[str, list[float]] = {}
    for record in records:
        for key, value in record.items():
            if key.startswith(prefix):
                sums.setdefault(key.removeprefix(prefix), []).append(value)
    return {key: sum(values) / len(values) for key, values in sums.items()}


def plot_learning_curves(runs: Mapping[str, Sequence[dict]], path: str | os.PathLike, title: str = "") -> Path:
    """Plot the gold-token MLM loss (training) and held-out MLM loss of several runs on one figure.

    The training panel shows ``mlm_loss`` (cross-entropy on the gold token), which is comparable
    across runs whatever their ``alpha``; the total loss is not.

    Args:
        runs: label -> records of its ``metrics.jsonl``.
        path: PNG file to write (atomically).
    """
    fig, (train_ax, eval_ax) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for label, records in runs.items():
        steps, values = series(records, "mlm_loss")
        if steps:
            train_ax.plot(steps, values, label=label, alpha=0.85)
        steps, values = series(records, "eval_loss")
        if steps:
            eval_ax.plot(steps, values, marker="o", label=label)
    train_ax.set(title="Training: gold-token MLM loss", xlabel="step", ylabel="cross-entropy (nats)")
    eval_ax.set(title="Held-out MLM loss", xlabel="step", ylabel="cross-entropy (nats)")
    for ax in (train_ax, eval_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save_figure(fig, path)


def _save_figure(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` to the PNG ``path`` atomically and close it."""
    try:
        return write_atomically(path, lambda handle: fig.savefig(handle, format="png", dpi=110), binary=True)
    finally:
        plt.close(fig)


def primary_value(row: Mapping[str, object]) -> float | None:
    """A results row's primary metric on its first evaluated split, or None when absent or not finite."""
    values = next(iter(row.get("metrics", {}).values()), {})
    value = values.get(row.get("primary_metric"))
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


ROLE_COLOURS = {"baseline": "tab:gray", "teacher": "tab:orange", "model": "tab:blue"}
"""Bar colour of each role in :func:`results_figure`."""


def row_role(kind: str) -> str:
    """The role of a results row from its ``kind``: ``"baseline"`` for kinds starting with ``baseline``
    and for ``classic`` (the TF-IDF baselines of the fine-tuning scripts), ``"teacher"`` for kinds
    starting with ``teacher``, else ``"model"`` (students, fine-tuned and evaluated checkpoints)."""
    kind = str(kind)
    if kind.startswith("baseline") or kind == "classic":
        return "baseline"
    return "teacher" if kind.startswith("teacher") else "model"


def results_figure(rows: Sequence[Mapping[str, object]], title: str = ""):
    """The bar chart of a task's results table as a matplotlib ``Figure`` (close it when done).

    One horizontal bar per row with a finite primary metric (:func:`primary_value`), bars from
    bottom to top in increasing value (best at the top), labelled with the row's ``model``,
    coloured by :func:`row_role` (:data:`ROLE_COLOURS`); the x label names the split(s) and metric(s).

    Raises:
        ValueError: no row has a finite value of its primary metric (nothing to plot).
    """
    points = []
    for row in rows:
        value = primary_value(row)
        if value is not None:
            split = next(iter(row["metrics"]))
            points.append((value, str(row["model"]), row_role(str(row.get("kind", ""))),
                           f"{split} {row['primary_metric']}"))
    if not points:
        raise ValueError("No results row has a finite primary metric: nothing to plot.")
    points.sort()
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.35 * len(points)), constrained_layout=True)
    bars = ax.barh(range(len(points)), [p[0] for p in points], color=[ROLE_COLOURS[p[2]] for p in points])
    ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=8)
    ax.set_yticks(range(len(points)), [p[1] for p in points])
    ax.set_xlabel(" / ".join(sorted({p[3] for p in points})))
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.12)
    if title:
        ax.set_title(title)
    return fig


def plot_results(rows: Sequence[Mapping[str, object]], path: str | os.PathLike, title: str = "") -> Path:
    """Write the bar chart of a task's results table (:func:`results_figure`) to the PNG ``path``, atomically.

    Args:
        rows: rows of a ``results.jsonl`` (keys ``model``, ``kind``, ``primary_metric`` and ``metrics``:
            split -> metric -> value).

    Raises:
        ValueError: no row has a finite value of its primary metric (nothing to plot).
    """
    return _save_figure(results_figure(rows, title), path)


def markdown_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """A GitHub Markdown table of ``rows`` (one line each) under the header ``columns``.

    Cells are ``row.get(column)``: floats shown with 4 significant digits, ints with thousands
    separators, ``None`` (or a missing key) as ``-``, anything else as ``str``; no final newline.
    """

    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)




# --------------------------------------------------------------------------- results tables (results.jsonl, .md, .png)

RESULT_KEY = ("model", "data", "train_examples")
"""The fields that identify a results row: a re-run with the same values replaces it."""


def _sort_value(row: Mapping[str, object]) -> float:
    value = primary_value(row)
    return math.inf if value is None else -value


def _eval_examples_cell(count: int | Mapping[str, int] | None) -> str:
    """``1,218``, or ``validation 872, test 1,821`` for counts per split; ``-`` when unknown."""
    if count is None:
        return "-"
    if isinstance(count, Mapping):
        return ", ".join(f"{split} {n:,}" for split, n in count.items())
    return f"{count:,}"


def _parameters_cell(row: Mapping[str, object]) -> str | None:
    total, body = row.get("parameters"), row.get("parameters_without_embeddings")
    if total is None:
        return None
    return f"{total / 1e6:.1f}M ({body / 1e6:.1f}M)" if body is not None else f"{total / 1e6:.1f}M"


def results_markdown(rows: Sequence[Mapping[str, object]], task: str) -> str:
    """The results table of a task as Markdown (a title, a note and a :func:`markdown_table`).

    One row per run, best primary metric (:func:`primary_value`, on the first evaluated split)
    first, rows without one last; metric columns (``"SPLIT METRIC"``, 4 decimals) are the union
    over rows, ``-`` where absent. ``eval examples`` tells rows scored on different samples of a
    split apart.
    """
    columns = []
    for row in rows:
        columns += [(s, m) for s, values in row["metrics"].items() for m in values if (s, m) not in columns]
    metric_names = [f"{s} {m}" for s, m in columns]
    header = ["model", "kind", "data", "train examples", "eval examples", *metric_names,
              "parameters (without embeddings)", "train time (s)", "train CPU (s)", "wall time (s)", "date"]
    cells = []
    for row in sorted(rows, key=_sort_value):
        values = {name: f"{row['metrics'][s][m]:.4f}" if m in row["metrics"].get(s, {}) else None
                  for name, (s, m) in zip(metric_names, columns, strict=True)}
        cells.append({"model": row["model"], "kind": row["kind"], "data": row["data"],
                      "train examples": f"{row['train_examples']:,}",
                      "eval examples": _eval_examples_cell(row.get("eval_examples")), **values,
                      "parameters (without embeddings)": _parameters_cell(row),
                      "train time (s)": f"{row['train_time_s']:.1f}",
                      "train CPU (s)": f"{row['train_cpu_s']:.1f}" if row.get("train_cpu_s") is not None else None,
                      "wall time (s)": f"{row.get('wall_time_s') or 0:.1f}", "date": row["date"][:16]})
    intro = [f"# {task}: results", "",
             f"Every model run on {task}, one row per (model, data, training examples); a re-run replaces its "
             "row. Sorted by the primary metric of the first evaluated split, best first. "
             "Rows: `results.jsonl`; each run's folder holds `metrics.json` and `predictions.tsv`.", ""]
    return "\n".join(intro) + "\n" + markdown_table(cells, header) + "\n"


def update_results_table(task_dir: str | os.PathLike, row: dict) -> list[dict]:
    """Add ``row`` to ``task_dir/results.jsonl`` (replacing the row with the same :data:`RESULT_KEY`:
    model, data and training examples) and regenerate ``results.md`` (:func:`results_markdown`)
    and, when a row has a finite primary metric, the bar chart ``results.png`` (:func:`plot_results`),
    all atomically and under a lock.

    Returns:
        all rows of the table, in the file's order.

    Raises:
        ValueError: a malformed line in an existing ``results.jsonl`` (line named).
    """
    task_dir = Path(task_dir)
    path = task_dir / "results.jsonl"
    with file_lock(task_dir, ".results.lock"):
        rows = []
        if path.is_file():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                try:
                    rows += [json.loads(line)] if line.strip() else []
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg}).") from None
        key = tuple(row[k] for k in RESULT_KEY)
        rows = [r for r in rows if tuple(r.get(k) for k in RESULT_KEY) != key] + [row]
        write_text_atomically("".join(json.dumps(r) + "\n" for r in rows), path)
        write_text_atomically(results_markdown(rows, row["task"]), task_dir / "results.md")
        if any(primary_value(r) is not None for r in rows):
            plot_results(rows, task_dir / "results.png", title=f"{row['task']}: results")
    return rows


# --------------------------------------------------------------------------- the multi-teacher report

REPORT_COLUMNS = ("model", "role", "parameters", "held-out MLM loss", "perplexity", "masked-token accuracy", "train time (s)")


def result_row(model: str, role: str, results: Mapping[str, object]) -> dict:
    """One row of the report table from an ``eval_results.json``-style dict."""
    return {"model": model, "role": role, "parameters": results.get("parameters"),
            "held-out MLM loss": results.get("loss"), "perplexity": results.get("perplexity"),
            "masked-token accuracy": results.get("accuracy"), "train time (s)": results.get("train_runtime_s")}


def multiteacher_report(
    *,
    rows: Sequence[Mapping[str, object]],
    settings: Mapping[str, object],
    teacher_weights: Mapping[str, float],
    distilled: Mapping[str, object] | None,
    baseline: Mapping[str, object] | None,
    plot: str | None,
    command: str,
    wall_time_s: float,
) -> str:
    """The ``report.md`` of a multi-teacher distillation run.

    Args:
        rows: table rows from :func:`result_row` (teachers, then students).
        settings: the run's settings shown as a two-column table.
        teacher_weights: teacher name -> mean weight over training.
        distilled, baseline: final results of the distilled student and of the same-size
            student trained on gold labels only (alpha = 0), compared in the summary.
        plot: relative path of the learning-curve PNG.
    """
    lines = ["# Multi-teacher MLM distillation report", "", f"Command: `{command}`", "",
             f"Wall time (whole job): {wall_time_s / 60:.1f} min", "", "## Held-out masked-LM results", "",
             "All models are scored on the same held-out documents with the same fixed masks.", "",
             markdown_table(rows, REPORT_COLUMNS), ""]
    if distilled and baseline:
        d_loss, b_loss = distilled["loss"], baseline["loss"]
        d_acc, b_acc = distilled["accuracy"], baseline["accuracy"]
        verdict = "lower" if d_loss < b_loss else "higher"
        lines += ["## What distillation did", "",
                  f"At the same size, steps and data order, the distilled student's held-out MLM loss is "
                  f"{d_loss:.4f} against {b_loss:.4f} for gold-only training ({verdict} by "
                  f"{abs(d_loss - b_loss):.4f} nats, {100 * (d_loss - b_loss) / b_loss:+.1f}%), and its "
                  f"masked-token accuracy {100 * d_acc:.2f}% against {100 * b_acc:.2f}%.", ""]
    if teacher_weights:
        lines += ["## Mean teacher weight during distillation", "",
                  markdown_table([{"teacher": k, "mean weight": v} for k, v in teacher_weights.items()],
                                 ("teacher", "mean weight")), ""]
    if plot:
        lines += ["## Learning curves", "", f"![learning curves]({plot})", ""]
    lines += ["## Settings", "", markdown_table([{"setting": k, "value": v} for k, v in settings.items()],
                                                ("setting", "value")), ""]
    return "\n".join(lines)
