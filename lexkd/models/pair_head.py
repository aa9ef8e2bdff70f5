"""The sentence-pair (next-sentence) head of BERT-style pretraining models.

A ``BertForPreTraining`` carries two heads on one encoder: the MLM head (``cls.predictions``)
and the next-sentence head (``cls.seq_relationship``, ``Linear(hidden, 2)`` on the pooled
``[CLS]`` vector). lexkd's students are such models (:func:`lexkd.models.masked_lm.build_student`),
so the next-sentence head can match a context with a WordNet gloss (LMGC-M training, WSD scoring)
without any added parameter.

Label convention, BERT's own: next-sentence label 0 = "B follows A", used here for "the gloss
is a gold sense of the target" (:data:`NSP_MATCH_LABEL`); 1 = not.

:class:`MaskedPositionPreTraining` is the training wrapper of LMGC-M: one encoder pass gives the
MLM logits at masked positions (through :data:`lexkd.models.masked_lm.MASKED_HEADS`) and the
next-sentence logits.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

from lexkd.models.masked_lm import MASKED_HEADS, MaskedPositionMLM

__all__ = ["NSP_MATCH_LABEL", "MaskedPositionPreTraining", "nsp_head", "nsp_logits"]

NSP_MATCH_LABEL = 0
"""BERT's next-sentence label for "B follows A", used for "the gloss is a gold sense"."""


def nsp_head(model: nn.Module) -> nn.Linear:
    """The next-sentence-prediction layer of a ``BertForPreTraining``-style model.

    Found by structure (``model.cls.seq_relationship``, a 2-output ``nn.Linear``, and a pooler
    on ``model.base_model``), so the BERT family's pretraining models all qualify.

    Raises:
        ValueError: the model has no such head or no pooler; the message says to start from a
            ``BertForPreTraining`` checkpoint.
    """
    head = getattr(getattr(model, "cls", None), "seq_relationship", None)
    pooler = getattr(getattr(model, "base_model", None), "pooler", None)
    if not isinstance(head, nn.Linear) or head.out_features != 2 or pooler is None:
        raise ValueError(
            f"{type(model).__name__} has no next-sentence-prediction head (cls.seq_relationship) with a pooler, "
            "which gloss matching uses so that no parameter is added. Start from a BertForPreTraining checkpoint: "
            "lexkd's students and teachers are (lexkd.models.masked_lm.build_student), and hub BERT checkpoints load as "
            "one with AutoModelForPreTraining. A BERT saved as BertForMaskedLM can be converted with "
            "BertForPreTraining.from_pretrained(path).save_pretrained(new_path): its next-sentence head then "
            "starts untrained, and LMGC-M trains it."
        )
    return head


def nsp_logits(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Next-sentence logits, without computing the MLM output layer.

    Args:
        input_ids, attention_mask, token_type_ids: ``(batch_size, seq_len)`` (the last two may be None).

    Returns:
        ``(batch_size, 2)`` logits; column :data:`NSP_MATCH_LABEL` is "the gloss matches".

    Raises:
        ValueError: the model has no next-sentence head (:func:`nsp_head`).
    """
    head = nsp_head(model)
    pooled = model.base_model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).pooler_output
    return head(pooled)  # (B, H) -> (B, 2)


def _masked_head(model: PreTrainedModel):
    """The :data:`~lexkd.models.masked_lm.MASKED_HEADS` function of the model's type.

    Raises:
        ValueError: the table has no entry for the type (naming it and the known types).
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    head = MASKED_HEADS.get(model_type)
    if head is None:
        raise ValueError(
            f"LMGC-M has no masked-position MLM head for model type {model_type!r} ({type(model).__name__}); "
            f"lexkd.models.masked_lm.MASKED_HEADS knows: {', '.join(sorted(MASKED_HEADS))}. Add the type's head "
            "there (a function (model, hidden (N, H)) -> logits (N, V)), or start from a BertForPreTraining checkpoint."
        )
    return head


class MaskedPositionPreTraining(MaskedPositionMLM):
    """:class:`lexkd.models.masked_lm.MaskedPositionMLM` that also returns the next-sentence logits.

    One encoder pass gives both: the MLM head of the model's type
    (:data:`lexkd.models.masked_lm.MASKED_HEADS`) runs at masked positions only, the
    next-sentence head (:func:`nsp_head`) on the pooled ``[CLS]`` vector.

    ``forward(input_ids, labels, attention_mask, token_type_ids, next_sentence_label)`` (all
    ``(batch_size, seq_len)`` but the label, ``(batch_size,)`` and unused here) returns
    ``{"logits": (N, V), "labels": (N,), "nsp_logits": (B, 2)}`` for the ``N`` positions whose
    label is not -100.

    Raises:
        ValueError: (on construction) a model without a next-sentence head (see :func:`nsp_head`),
            or of a type with no entry in ``MASKED_HEADS``.
    """

    def __init__(self, model: PreTrainedModel):
        nsp_head(model)
        _masked_head(model)
        super().__init__(model)

    def forward(self, input_ids, labels, attention_mask=None, token_type_ids=None, next_sentence_label=None):
        masked = labels != -100  # (B, T)
        outputs = self.model.base_model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        hidden = outputs.last_hidden_state  # (B, T, H)
        logits = _masked_head(self.model)(self.model, hidden[masked])  # (N, H) -> (N, V)
        return {"logits": logits, "labels": labels[masked], "nsp_logits": nsp_head(self.model)(outputs.pooler_output)}
