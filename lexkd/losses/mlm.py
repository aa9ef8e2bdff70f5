"""The multi-teacher MLM distillation loss: alpha T^2 KL(q || student) + (1 - alpha) CE(gold) over masked positions
(Wahle, arXiv 2301.08130; see :mod:`lexkd.losses`)."""

from __future__ import annotations

import torch

from lexkd.losses._base import _check, _reduce
from lexkd.losses.divergences import kl_divergence_from_probs, token_cross_entropy
from lexkd.losses.sparse import (
    _check_sparse_target,
    _sparse_distillation_terms,
    sparse_kl_divergence,
)


def multi_teacher_mlm_loss(
    student_logits: torch.Tensor,
    target_probs: torch.Tensor | None,
    labels: torch.Tensor,
    *,
    alpha: float,
    temperature: float,
    num_items_in_batch: int | torch.Tensor | None = None,
    target_ids: torch.Tensor | None = None,
    tail_mass: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The multi-teacher MLM distillation loss over masked positions.

    ``L = alpha * T**2 * KL(q || softmax(z_s / T)) + (1 - alpha) * CE(softmax(z_s), gold)``

    (Wahle, arXiv 2301.08130; the ``T**2`` keeps the soft-target gradients on the scale of the
    hard-target ones, Hinton et al. 2015). Both terms are averaged over masked positions (or
    summed and divided by ``num_items_in_batch``). Positions whose label is -100 do not count.

    Args:
        student_logits: ``(num_positions, vocab_size)`` student logits at masked positions, or
            ``(batch_size, seq_len, vocab_size)``.
        target_probs: combined teacher target ``q``, same shape; may be ``None`` when
            ``alpha == 0`` (plain MLM training). With ``target_ids``, the ``(..., k)``
            probabilities of a top-k target (from a teacher cache): the KD term is then
            :func:`sparse_kl_divergence`.
        target_ids: ``(..., k)`` token ids of a top-k target, or ``None`` for a dense target.
        tail_mass: ``(...)`` target mass outside the top-k (sparse targets only).
        labels: ``(num_positions,)`` or ``(batch_size, seq_len)`` gold token ids, -100 ignored.
        alpha: weight of the distillation term, in [0, 1].
        temperature: T > 0.

    Returns:
        ``(loss, parts)`` with ``parts = {"kd_loss": ..., "mlm_loss": ...}`` (detached).

    Raises:
        ValueError: alpha outside [0, 1], T <= 0, or ``target_probs=None`` with alpha > 0.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    _check(temperature, "batchmean")
    mask = labels != -100
    per_position_kd = None
    sparse = target_ids is not None and alpha > 0
    if (sparse and temperature == 1.0) or alpha == 0.0:
        # One log-softmax over the vocabulary serves both terms, with one closed-form (N, V) gradient
        # (also for the gold term alone, which does not depend on T: faster than autograd's
        # cross-entropy, same values).
        if sparse:
            _check_sparse_target(student_logits, target_ids, target_probs)
        else:
            target_ids = labels.new_zeros((*labels.shape, 0))
            target_probs, tail_mass = student_logits.new_zeros((*labels.shape, 0), dtype=torch.float32), None
        per_position_ce, per_position_kd = _sparse_distillation_terms(student_logits, labels, target_ids,
                                                                       target_probs, tail_mass)
        mlm_loss = _reduce(per_position_ce, mask, "batchmean", num_items_in_batch)
    else:
        mlm_loss = token_cross_entropy(student_logits, labels, num_items_in_batch=num_items_in_batch)
    parts = {"mlm_loss": mlm_loss.detach()}
    if alpha == 0.0:
        return mlm_loss, parts
    if target_probs is None:
        raise ValueError("alpha > 0 needs target_probs (the combined teacher distribution).")
    if per_position_kd is not None:
        kd_loss = _reduce(per_position_kd, mask, "batchmean", num_items_in_batch)
    elif target_ids is not None:
        kd_loss = sparse_kl_divergence(student_logits, target_ids, target_probs, tail_mass, mask,
                                       temperature=temperature, num_items_in_batch=num_items_in_batch)
    else:
        kd_loss = kl_divergence_from_probs(
            student_logits, target_probs, mask, temperature=temperature, num_items_in_batch=num_items_in_batch
        )
    parts["kd_loss"] = kd_loss.detach()
    loss = alpha * temperature**2 * kd_loss + (1.0 - alpha) * mlm_loss
    return loss, parts
