"""Loading any checkpoint as a sequence classifier, its tokenizer, and tokenising a task's splits for it.

Used by fine-tuning (:mod:`lexkd.tasks.classification.finetune`) and by task distillation's teachers
(:mod:`lexkd.tasks.classification.distillation`).
"""

from __future__ import annotations

from pathlib import Path

import datasets
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from lexkd.models.masked_lm import check_local_model
from lexkd.tasks.classification.spec import TaskSpec
from lexkd.tasks.glue.data import get_task
from lexkd.utils.hub import hub_load_error, is_local_reference


def model_source(name: str) -> Path | str:
    """What ``from_pretrained`` gets for ``name``: the folder (``~`` expanded) or the hub id.

    Raises:
        FileNotFoundError: a local path with no saved model (:func:`lexkd.models.masked_lm.check_local_model`).
    """
    check_local_model(name, role="model")
    return Path(name).expanduser() if is_local_reference(name) else name


def load_classifier(model_name_or_path: str, task: TaskSpec | str, *,
                    with_new_weights: bool = False) -> PreTrainedModel | tuple[PreTrainedModel, list[str]]:
    """``AutoModelForSequenceClassification`` for the task from any checkpoint (folder or hub id).

    ``num_labels`` and the label names come from the task; regression tasks get
    ``problem_type="regression"`` (one output, MSE loss). From a ``BertForPreTraining``
    checkpoint (lexkd's students) the encoder and pooler load and the classifier layer is new;
    from a ``BertForMaskedLM`` (lexkd's teachers) the pooler is new too. New weights are
    initialised from the current torch seed.

    Returns:
        the model, or ``(model, names of the newly initialised weights)`` with ``with_new_weights``.

    Raises:
        FileNotFoundError: a local path with no saved model (:func:`lexkd.models.masked_lm.check_local_model`).
        OSError: a hub id that cannot be loaded.
    """
    spec, name = get_task(task), str(model_name_or_path)
    kwargs = {"num_labels": spec.num_labels,
              "problem_type": "regression" if spec.is_regression else "single_label_classification"}
    if not spec.is_regression:
        kwargs["id2label"] = dict(enumerate(spec.label_names))
        kwargs["label2id"] = {label: i for i, label in enumerate(spec.label_names)}
    source = model_source(name)
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(source, output_loading_info=True, **kwargs)
    except OSError as error:
        raise hub_load_error(name, error) from None
    return (model, sorted(info["missing_keys"])) if with_new_weights else model


def load_tokenizer(model_name_or_path: str) -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer (``AutoTokenizer``). Raises: FileNotFoundError, OSError as :func:`load_classifier`."""
    name = str(model_name_or_path)
    source = model_source(name)
    try:
        return AutoTokenizer.from_pretrained(source)
    except OSError as error:
        raise hub_load_error(name, error) from None


def tokenize_dataset(dataset_dict: datasets.DatasetDict, tokenizer: PreTrainedTokenizerBase, task: TaskSpec,
                     *, max_seq_length: int = 128, segment_ids: bool | None = None) -> datasets.DatasetDict:
    """``input_ids``, ``attention_mask`` (and ``token_type_ids``) plus ``label`` for every split.

    Pairs are encoded as pairs (``tokenizer(first, second)``: ``[CLS] a [SEP] b [SEP]``),
    truncated longest-first to ``max_seq_length`` tokens; padding is left to the collator.
    ``segment_ids=True`` asks for ``token_type_ids`` (0 for a, 1 for b) even from tokenizers that
    leave them out by default, as lexkd's own WordPiece tokenizers do; ``None`` keeps the
    tokenizer's default.
    """
    def encode(batch):
        return tokenizer(*[batch[column] for column in task.text_columns], truncation=True, max_length=max_seq_length,
                         return_token_type_ids=segment_ids)

    return dataset_dict.map(encode, batched=True, remove_columns=list(task.text_columns), desc="Tokenizing")


def uses_segment_ids(model: PreTrainedModel) -> bool:
    """Whether the model has a learned segment embedding (``type_vocab_size`` >= 2, as BERT)."""
    return getattr(model.config, "type_vocab_size", 0) >= 2
