"""Distillation losses: one copy of each divergence, shared by the MLM and NLG sides.

Every function takes logits whose last dimension is the vocabulary: ``(batch_size, seq_len,
vocab_size)`` or, for logits already gathered at masked positions, ``(num_positions,
vocab_size)``. ``mask`` (same shape without the vocabulary dimension, bool) says which positions
count; ``None`` counts every position. Log-softmax runs in float32 whatever the input dtype.

Reductions (convention 3 of the style guide):

- ``"batchmean"``: sum over counted positions divided by their number, or by
  ``num_items_in_batch`` when given (the number of counted positions in the whole accumulated
  batch, so that gradient accumulation does not change the loss);
- ``"sum"``: sum over counted positions;
- ``"none"``: one value per position, zero where the mask is False.

Temperature ``T`` divides the logits of both distributions before the softmax. The losses are
*not* multiplied by ``T**2``: the caller does that where the paper does (Hinton et al. 2015).

Modules: :mod:`~lexkd.losses.divergences` (KL, reverse KL, JS, TVD, cross-entropy),
:mod:`~lexkd.losses.sparse` (top-k targets with a tail bucket), :mod:`~lexkd.losses.sequence`
(f-DISTILL), :mod:`~lexkd.losses.mlm` (the multi-teacher MLM loss), :mod:`~lexkd.losses.hidden`
(hidden-state distillation), :mod:`~lexkd.losses.attention` (attention-relation distillation). Everything public is importable
from ``lexkd.losses``.
"""

from lexkd.losses._base import JS_TERMS, REDUCTIONS
from lexkd.losses.attention import attention_relation_loss
from lexkd.losses.divergences import (
    DIVERGENCES,
    forward_kl,
    get_divergence,
    jensen_shannon,
    kl_divergence_from_probs,
    reverse_kl,
    token_cross_entropy,
    total_variation,
)
from lexkd.losses.hidden import (
    HiddenStateProjector,
    hidden_layer_map,
    hidden_state_loss,
    parse_layer_map,
    uniform_layer_map,
)
from lexkd.losses.mlm import multi_teacher_mlm_loss
from lexkd.losses.sequence import PAPER_SAMPLE_SOURCE, SAMPLE_SOURCES, f_distill_loss
from lexkd.losses.sparse import _SparseDistillationLoss, sparse_kl_divergence

__all__ = [
    "DIVERGENCES", "HiddenStateProjector", "JS_TERMS", "PAPER_SAMPLE_SOURCE", "REDUCTIONS", "SAMPLE_SOURCES",
    "attention_relation_loss", "f_distill_loss",
    "forward_kl", "get_divergence", "hidden_layer_map", "hidden_state_loss", "jensen_shannon", "kl_divergence_from_probs",
    "multi_teacher_mlm_loss", "parse_layer_map", "reverse_kl", "sparse_kl_divergence", "token_cross_entropy",
    "total_variation", "uniform_layer_map", "_SparseDistillationLoss",
]
