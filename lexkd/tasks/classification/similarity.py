"""The embedding-similarity detector: cosine of mean-pooled sentence embeddings, one threshold tuned on training pairs.

``--model cosine:PATH`` in ``scripts/eval_plagiarism.py`` and ``scripts/finetune_glue.py`` (pair tasks): every
text is embedded by the encoder at ``PATH`` (any ``AutoModel`` checkpoint: a folder or a hub id), as the mean of
its last hidden states over the non-padding tokens, L2-normalised (the pooling of sentence-transformers'
paraphrase models such as all-MiniLM-L6-v2 and all-mpnet-base-v2; Reimers & Gurevych 2019). A pair's score is
the cosine of its two embeddings. Nothing is trained: the decision threshold (and which label high similarity
means) is the one with the best macro F1 on the training pairs (:func:`tune_threshold`); regression tasks (STS-B)
take the cosine itself as the prediction (Pearson and Spearman do not depend on its scale). This is the
zero-training reference a user would try first with a paraphrase encoder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import datasets
import numpy as np
import torch
from sklearn.metrics import f1_score
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from lexkd.data.tokenization import TOKENIZER_FILES, has_tokenizer
from lexkd.models.masked_lm import count_parameters
from lexkd.tasks.classification.loading import model_source
from lexkd.tasks.classification.result import RunResult, evaluation_splits
from lexkd.tasks.classification.spec import TaskSpec, compute_metrics
from lexkd.utils.hub import hub_load_error

logger = logging.getLogger(__name__)

COSINE_PREFIX = "cosine:"


class SentenceEncoderError(ValueError):
    """A ``cosine:`` model that is not a text encoder (an encoder-decoder, no hidden states, no tokenizer)."""


def is_cosine_reference(name: str) -> bool:
    """Whether ``name`` asks for the embedding-similarity detector (``cosine:PATH``)."""
    return str(name).startswith(COSINE_PREFIX)


def cosine_encoder(name: str) -> str:
    """The encoder of a ``cosine:PATH`` reference. Raises: ValueError: nothing after the prefix."""
    path = str(name)[len(COSINE_PREFIX):]
    if not path:
        raise ValueError("--model cosine: needs an encoder after the colon, e.g. cosine:models/all-MiniLM-L6-v2.")
    return path


def load_sentence_encoder(path: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The encoder (``AutoModel``, eval mode) and tokenizer at ``path``.

    Raises:
        FileNotFoundError: a local path that is not a saved model folder.
        SentenceEncoderError: an encoder-decoder or a checkpoint without a tokenizer, naming the path.
        OSError: a hub id that cannot be loaded (:func:`lexkd.utils.hub.hub_load_error`).
    """
    source = model_source(path)
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as error:
        raise hub_load_error(path, error) from None
    except ValueError as error:  # a config.json of no known model type
        raise SentenceEncoderError(f"cosine:{path} is not an encoder transformers can load ({error}).") from None
    if getattr(config, "is_encoder_decoder", False):
        raise SentenceEncoderError(
            f"cosine:{path} is an encoder-decoder ({config.model_type}); the similarity detector needs a text encoder "
            "such as all-MiniLM-L6-v2, all-mpnet-base-v2 or a lexkd student (their folder, or a hub id).")
    if not has_tokenizer(str(source)):
        raise SentenceEncoderError(f"cosine:{path} has no tokenizer files ({', '.join(TOKENIZER_FILES)}); save the "
                                   "encoder with its tokenizer (tokenizer.save_pretrained into the same folder).")
    tokenizer = AutoTokenizer.from_pretrained(source)
    try:
        model = AutoModel.from_pretrained(source)
    except OSError as error:
        raise hub_load_error(path, error) from None
    return model.eval(), tokenizer


@torch.inference_mode()
def sentence_embeddings(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], *,
                        batch_size: int = 64, max_seq_length: int = 128, desc: str = "Embedding") -> np.ndarray:
    """``(N, H)`` unit-norm mean-pooled embeddings of ``texts`` (padding excluded), float32.

    Raises:
        SentenceEncoderError: the model gives no ``last_hidden_state`` of shape ``(B, T, H)``.
    """
    out = []
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, leave=False):
        batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                          max_length=max_seq_length, return_tensors="pt")
        states = getattr(model(**batch), "last_hidden_state", None)
        if states is None or states.dim() != 3:
            raise SentenceEncoderError(f"{type(model).__name__} gives no (batch, tokens, width) last_hidden_state to "
                                       "pool; pass a text encoder.")
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)  # (B, T, 1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # (B, H)
        out.append(torch.nn.functional.normalize(pooled.float(), dim=-1))
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.hidden_size), dtype=np.float32)


def pair_cosines(model, tokenizer, first: Sequence[str], second: Sequence[str], **kwargs) -> np.ndarray:
    """``(N,)`` cosine of each pair's two embeddings (:func:`sentence_embeddings`), in [-1, 1]."""
    a = sentence_embeddings(model, tokenizer, first, desc="Embedding first texts", **kwargs)
    b = sentence_embeddings(model, tokenizer, second, desc="Embedding second texts", **kwargs)
    return (a * b).sum(-1)


def tune_threshold(scores, labels, *, max_candidates: int = 512) -> dict:
    """The threshold on ``scores`` with the best macro F1 (scikit-learn) on ``(scores, labels)``.

    Candidates are the midpoints between consecutive distinct scores (at most ``max_candidates``, evenly
    spaced over them), plus one below and one above every score; both polarities are tried (high score
    -> label 1, or -> label 0). Ties go to the first candidate in increasing order.

    Args:
        scores: ``(N,)`` similarity scores. labels: ``(N,)`` binary labels 0/1.

    Returns:
        ``{"threshold", "high_label", "train_macro_f1"}``: predict ``high_label`` when score >= threshold.

    Raises:
        ValueError: empty input, different lengths, or labels other than 0 and 1.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if scores.size == 0 or scores.shape != labels.shape:
        raise ValueError(f"tune_threshold needs as many labels as scores (got {scores.size} and {labels.size}).")
    if not set(np.unique(labels).tolist()) <= {0, 1}:
        raise ValueError(f"tune_threshold needs binary labels 0/1; got {sorted(set(labels.tolist()))}.")
    distinct = np.unique(scores)
    midpoints = (distinct[1:] + distinct[:-1]) / 2
    if midpoints.size > max_candidates:
        midpoints = midpoints[np.linspace(0, midpoints.size - 1, max_candidates).round().astype(int)]
    candidates = np.concatenate([[distinct[0] - 1e-6], midpoints, [distinct[-1] + 1e-6]])
    best = None
    for high_label in (1, 0):
        for threshold in candidates:
            predicted = np.where(scores >= threshold, high_label, 1 - high_label)
            f1 = f1_score(labels, predicted, average="macro", labels=[0, 1], zero_division=0)
            if best is None or f1 > best["train_macro_f1"]:
                best = {"threshold": float(threshold), "high_label": high_label, "train_macro_f1": float(f1)}
    return best


def evaluate_cosine(name: str, dataset_dict: datasets.DatasetDict, task: TaskSpec, *, max_seq_length: int = 128,
                    batch_size: int = 64):
    """Score every split but ``train`` with the similarity detector ``cosine:PATH`` (module docstring).

    Returns:
        a :class:`lexkd.tasks.classification.result.RunResult` of kind ``"baseline: cosine similarity"``.

    Raises:
        ValueError: a single-text task, more than two classes, or no ``train`` split (classification).
        SentenceEncoderError, FileNotFoundError, OSError: as :func:`load_sentence_encoder`.
    """
    if not task.is_pair:
        raise ValueError(f"cosine: compares two texts; task {task.name!r} has one text column. Use a pair task "
                         "(pairs, msrp, mrpc, stsb, ...).")
    if not task.is_regression and task.num_labels != 2:
        raise ValueError(f"cosine: decides between two labels by a threshold; {task.name!r} has {task.num_labels}.")
    if not task.is_regression and "train" not in dataset_dict:
        raise ValueError("cosine: tunes its threshold on the 'train' split, which is missing.")
    path = cosine_encoder(name)
    model, tokenizer = load_sentence_encoder(path)
    first, second = task.text_columns

    def scores(split):
        rows = dataset_dict[split]
        return pair_cosines(model, tokenizer, rows[first], rows[second], batch_size=batch_size,
                            max_seq_length=max_seq_length)

    start = time.perf_counter()
    details = {"encoder": path, "parameters": count_parameters(model),
               "parameters_without_embeddings": count_parameters(model, embeddings=False), "pooling": "mean, L2-normalised",
               "max_seq_length": max_seq_length}
    train_examples = 0
    if not task.is_regression:
        tuned = tune_threshold(scores("train"), dataset_dict["train"]["label"])
        details.update(tuned, high_label_name=task.label_names[tuned["high_label"]])
        train_examples = len(dataset_dict["train"])
    train_time = time.perf_counter() - start
    metrics, predictions = {}, {}
    for split in evaluation_splits(dataset_dict):
        cosine = scores(split)
        if task.is_regression:
            predictions[split] = cosine
        else:
            high = details["high_label"]
            predictions[split] = np.where(cosine >= details["threshold"], high, 1 - high)
        metrics[split] = compute_metrics(task, predictions[split], list(dataset_dict[split]["label"]))
        logger.info("cosine:%s %s %s: %s", path, task.name, split, metrics[split])
    return RunResult(task, name, "baseline: cosine similarity", metrics, predictions, train_examples,
                     {s: len(dataset_dict[s]) for s in predictions}, round(train_time, 2),
                     round(time.perf_counter() - start - train_time, 2), details)
