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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("batchmean", "sum", "none")


def _check(temperature: float, reduction: str) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if reduction not in REDUCTIONS:
        raise ValueError(f"Unknown reduction {reduction!r}; valid reductions: {', '.join(REDUCTIONS)}.")


def _log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.log_softmax(logits.float() / temperature, dim=-1)


def _reduce(
    per_position: torch.Tensor,
    mask: torch.Tensor | None,
    reduction: str,
    num_items_in_batch: int | torch.Tensor | None,
) -> torch.Tensor:
    """Reduce a ``(...)`` tensor of per-position losses over the positions ``mask`` keeps."""
    if mask is not None:
        if mask.shape != per_position.shape:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)} but the logits give positions of shape "
                f"{tuple(per_position.shape)}."
            )
        per_position = per_position.masked_fill(~mask.bool(), 0.0)
    if reduction == "none":
        return per_position
    total = per_position.sum()
    if reduction == "sum":
        return total
    if num_items_in_batch is not None:
        return _divide(total, num_items_in_batch)
    return _divide(total, mask.sum() if mask is not None else per_position.numel())


def _divide(total: torch.Tensor, count: int | torch.Tensor) -> torch.Tensor:
    # An empty batch (no masked position) gives 0 rather than NaN: it carries no signal.
    if isinstance(count, torch.Tensor):
        return total / count.to(total.device).clamp(min=1)
    return total / max(int(count), 1)


def kl_divergence_from_probs(
    student_logits: torch.Tensor,
    target_probs: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Forward KL ``KL(q || p_student)`` from a target *distribution* ``q``.

    ``KL(q || p) = sum_v q_v (log q_v - log p_v)`` with ``p = softmax(student_logits / T)``;
    terms with ``q_v = 0`` contribute 0. This is the multi-teacher loss of Wahle (arXiv
    2301.08130), where ``q`` is the confidence-weighted mixture of the teachers' tempered
    distributions (built by :func:`lexkd.teachers.combine_teachers`).

    Args:
        student_logits: ``(..., vocab_size)`` raw student logits.
        target_probs: ``(..., vocab_size)`` probabilities summing to 1 over the last dimension
            (already tempered: the temperature here applies to the student only).
        mask: ``(...)`` bool, the positions that count.
        temperature: T > 0 dividing the student logits.
        reduction: ``"batchmean"``, ``"sum"`` or ``"none"``.
        num_items_in_batch: denominator for ``"batchmean"`` under gradient accumulation.

    Returns:
        A scalar, or ``(...)`` for ``reduction="none"``; units: nats.

    Raises:
        ValueError: on a temperature <= 0, an unknown reduction, or mismatched shapes.
    """
    _check(temperature, reduction)
    if student_logits.shape != target_probs.shape:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and target_probs "
            f"{tuple(target_probs.shape)} must have the same shape."
        )
    student_log_probs = _log_probs(student_logits, temperature)
    target = target_probs.float()
    # F.kl_div(input, target) computes KL(target || input) with input given as log-probs:
    # here KL(q || p_student).
    per_position = F.kl_div(student_log_probs, target, reduction="none").sum(-1)
    return _reduce(per_position, mask, reduction, num_items_in_batch)


def forward_kl(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Forward KL ``KL(p_teacher || p_student)``, the word-level KD loss (Hinton et al. 2015).

    ``sum_v p_t,v (log p_t,v - log p_s,v)`` with ``p = softmax(logits / T)``; mode-covering for
    the student. f-DISTILL (Wen et al., ACL 2023) Eq. for f(t) = t log t.

    Args/Returns/Raises: as :func:`kl_divergence_from_probs`, with ``teacher_logits`` of the
    same shape as ``student_logits``.
    """
    _check(temperature, reduction)
    teacher_log_probs = _log_probs(teacher_logits, temperature)
    student_log_probs = _log_probs(student_logits, temperature)
    # F.kl_div(input, target, log_target=True) = KL(target || input): KL(teacher || student).
    per_position = F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True).sum(-1)
    return _reduce(per_position, mask, reduction, num_items_in_batch)


def reverse_kl(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Reverse KL ``KL(p_student || p_teacher)``: mode-seeking for the student.

    ``sum_v p_s,v (log p_s,v - log p_t,v)``; f-DISTILL (Wen et al., ACL 2023), f(t) = -log t.

    Args/Returns/Raises: as :func:`forward_kl`.
    """
    _check(temperature, reduction)
    teacher_log_probs = _log_probs(teacher_logits, temperature)
    student_log_probs = _log_probs(student_logits, temperature)
    # F.kl_div(input, target, log_target=True) = KL(target || input): KL(student || teacher).
    per_position = F.kl_div(teacher_log_probs, student_log_probs, reduction="none", log_target=True).sum(-1)
    return _reduce(per_position, mask, reduction, num_items_in_batch)


def jensen_shannon(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Generalised Jensen-Shannon divergence with mixture weight ``beta``.

    ``JS_beta = beta * KL(p_s || m) + (1 - beta) * KL(p_t || m)``, with the mixture
    ``m = beta * p_s + (1 - beta) * p_t``. ``beta = 0.5`` gives the symmetric JS divergence of
    f-DISTILL (Wen et al., ACL 2023); the limits ``beta -> 0`` and ``beta -> 1`` give 0
    (the mixture equals one side), and ``JS_beta / (beta * (1 - beta))`` tends to the reverse
    KL ``KL(p_s || p_t)`` as beta -> 0 (then ``KL(p_t || m) = O(beta**2)``) and to the forward
    KL ``KL(p_t || p_s)`` as beta -> 1.

    Args:
        beta: mixture weight of the student, in [0, 1].
        Others as :func:`forward_kl`.

    Raises:
        ValueError: beta outside [0, 1], plus the errors of :func:`forward_kl`.
    """
    _check(temperature, reduction)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}.")
    teacher_log_probs = _log_probs(teacher_logits, temperature)
    student_log_probs = _log_probs(student_logits, temperature)
    if beta == 0.0 or beta == 1.0:
        per_position = torch.zeros(student_log_probs.shape[:-1], device=student_logits.device)
        return _reduce(per_position, mask, reduction, num_items_in_batch)
    # log m = logsumexp(log beta + log p_s, log(1 - beta) + log p_t), stable in float32.
    mixture_log_probs = torch.logsumexp(
        torch.stack(
            [student_log_probs + torch.log(torch.tensor(beta)), teacher_log_probs + torch.log(torch.tensor(1 - beta))]
        ),
        dim=0,
    )
    # F.kl_div(input=log m, target=log p, log_target=True) = KL(p || m).
    kl_student = F.kl_div(mixture_log_probs, student_log_probs, reduction="none", log_target=True).sum(-1)
    kl_teacher = F.kl_div(mixture_log_probs, teacher_log_probs, reduction="none", log_target=True).sum(-1)
    per_position = beta * kl_student + (1 - beta) * kl_teacher
    return _reduce(per_position, mask, reduction, num_items_in_batch)


def total_variation(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Total variation distance ``0.5 * sum_v |p_t,v - p_s,v|`` (f-DISTILL, f(t) = 0.5|t - 1|).

    Symmetric, bounded in [0, 1] per position. Args/Returns/Raises: as :func:`forward_kl`.
    """
    _check(temperature, reduction)
    teacher_probs = _log_probs(teacher_logits, temperature).exp()
    student_probs = _log_probs(student_logits, temperature).exp()
    per_position = 0.5 * (teacher_probs - student_probs).abs().sum(-1)
    return _reduce(per_position, mask, reduction, num_items_in_batch)


DIVERGENCES = {
    "kl": forward_kl,
    "rkl": reverse_kl,
    "js": jensen_shannon,
    "tvd": total_variation,
}
"""Divergences between student and teacher logits, by name (``--divergence``)."""


def get_divergence(name: str):
    """Return the divergence function called ``name``.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if name not in DIVERGENCES:
        raise ValueError(f"Unknown divergence {name!r}; valid divergences: {', '.join(DIVERGENCES)}.")
    return DIVERGENCES[name]


def multi_teacher_mlm_loss(
    student_logits: torch.Tensor,
    target_probs: torch.Tensor | None,
    labels: torch.Tensor,
    *,
    alpha: float,
    temperature: float,
    num_items_in_batch: int | torch.Tensor | None = None,
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
            ``alpha == 0`` (plain MLM training).
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
    # CE at T = 1 against the gold token; ignore_index keeps -100 out of the sum.
    ce_sum = F.cross_entropy(
        student_logits.float().reshape(-1, student_logits.shape[-1]), labels.reshape(-1),
        ignore_index=-100, reduction="sum",
    )
    mlm_loss = _divide(ce_sum, num_items_in_batch if num_items_in_batch is not None else mask.sum())
    parts = {"mlm_loss": mlm_loss.detach()}
    if alpha == 0.0:
        return mlm_loss, parts
    if target_probs is None:
        raise ValueError("alpha > 0 needs target_probs (the combined teacher distribution).")
    kd_loss = kl_divergence_from_probs(
        student_logits, target_probs, mask, temperature=temperature, num_items_in_batch=num_items_in_batch
    )
    parts["kd_loss"] = kd_loss.detach()
    loss = alpha * temperature**2 * kd_loss + (1.0 - alpha) * mlm_loss
    return loss, parts
