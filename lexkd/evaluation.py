"""One evaluation interface for every path of lexkd: MLM, WSD, GLUE-style classification, plagiarism, NLG.

An :class:`Evaluator` is built once with its data (held-out masked sequences, a WSD corpus with gold
keys, a labelled split, source/reference pairs) and then called on any model:
``metrics = evaluator(model, output_dir)``. It returns a flat ``dict`` of metrics, names the one
used for model choice (:attr:`~Evaluator.primary_metric`) and its direction
(:attr:`~Evaluator.greater_is_better`), and, given an ``output_dir``, writes ``metrics.json`` there
atomically (plus whatever per-example file the task has, e.g. ``predictions.tsv``). The shape follows
sentence-transformers' ``SentenceEvaluator``.

Evaluators: :class:`lexkd.mlm.evaluation.MaskedLMEvaluator` (held-out MLM loss, perplexity,
masked-token accuracy), :class:`lexkd.seq2seq.metrics.GenerationEvaluator` (BLEU, chrF, ROUGE),
:class:`lexkd.tasks.wsd.systems.WSDEvaluator` (P/R/F1 as ``Scorer.java``) and
:class:`lexkd.tasks.classification.evaluation.ClassificationEvaluator` (each task's official metrics).
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Mapping
from pathlib import Path

from lexkd.utils.io import write_json_atomically

__all__ = ["Evaluator"]


class Evaluator(abc.ABC):
    """Scores a model on data fixed at construction.

    Subclasses set :attr:`primary_metric` and :attr:`greater_is_better` and implement
    :meth:`compute`; calling the evaluator computes the metrics and, with ``output_dir``, writes
    them to ``output_dir/metrics.json``.
    """

    #: key of the metric used to compare models (e.g. ``"loss"``, ``"bleu"``, ``"F1"``)
    primary_metric: str = ""
    #: whether a larger primary metric is better
    greater_is_better: bool = True

    @abc.abstractmethod
    def compute(self, model, output_dir: Path | None = None) -> dict:
        """The metrics of ``model`` (a flat ``dict``; may also write per-example files to ``output_dir``)."""

    def __call__(self, model, output_dir: str | os.PathLike | None = None) -> dict:
        """Evaluate ``model``; with ``output_dir``, also write ``metrics.json`` there (atomically).

        Raises:
            KeyError: the metrics lack :attr:`primary_metric` (a defect of the subclass).
        """
        folder = Path(output_dir) if output_dir is not None else None
        metrics = self.compute(model, folder)
        if self.primary_metric not in metrics:
            raise KeyError(f"{type(self).__name__} returned no {self.primary_metric!r} (got: {', '.join(metrics)}).")
        if folder is not None:
            write_json_atomically({**metrics, **self.metadata(), "primary_metric": self.primary_metric,
                                   "greater_is_better": self.greater_is_better}, folder / "metrics.json")
        return metrics

    def metadata(self) -> dict:
        """What ``metrics.json`` records besides the metrics (e.g. the decoding settings); none by default."""
        return {}

    def primary_score(self, metrics: Mapping[str, object]) -> float:
        """The primary metric of ``metrics`` as a float (NaN when absent or not a number)."""
        value = metrics.get(self.primary_metric)
        return float(value) if isinstance(value, (int, float)) else math.nan

    def is_better(self, metrics: Mapping[str, object], than: Mapping[str, object]) -> bool:
        """Whether ``metrics`` beats ``than`` on the primary metric (NaN never beats anything)."""
        a, b = self.primary_score(metrics), self.primary_score(than)
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return a > b if self.greater_is_better else a < b
