"""The divergences between two distributions over the vocabulary: KL from probabilities, forward KL, reverse KL,
Jensen-Shannon(beta), total variation, and the gold token cross-entropy (see :mod:`lexkd.losses` for shapes and
reductions)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lexkd.losses._base import JS_TERMS, _check, _log_probs, _reduce


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
    distributions (built by :func:`lexkd.mlm.teachers.combine_teachers`).

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
    terms: str = "both",
) -> torch.Tensor:
    """Generalised Jensen-Shannon divergence with mixture weight ``beta``.

    ``JS_beta = beta * KL(p_s || m) + (1 - beta) * KL(p_t || m)``, with the mixture
    ``m = beta * p_s + (1 - beta) * p_t``. ``beta = 0.5`` gives the symmetric JS divergence of
    f-DISTILL (Wen et al., ACL 2023); the limits ``beta -> 0`` and ``beta -> 1`` give 0
    (the mixture equals one side), and ``JS_beta / (beta * (1 - beta))`` tends to the reverse
    KL ``KL(p_s || p_t)`` as beta -> 0 (then ``KL(p_t || m) = O(beta**2)``) and to the forward
    KL ``KL(p_t || p_s)`` as beta -> 1.

    f-DISTILL estimates the two terms on different sequences (the student term on student
    samples, the teacher term on teacher samples); ``terms`` picks them:
    ``"student"`` = ``beta * KL(p_s || m)``, ``"teacher"`` = ``(1 - beta) * KL(p_t || m)``,
    ``"both"`` = their sum at the same positions. TRL's GKD weights the *teacher* by its beta:
    lexkd's ``beta`` is ``1 - beta_GKD``.

    Args:
        beta: mixture weight of the student, in [0, 1].
        terms: ``"both"``, ``"student"`` or ``"teacher"``.
        Others as :func:`forward_kl`.

    Raises:
        ValueError: beta outside [0, 1], an unknown ``terms``, plus the errors of :func:`forward_kl`.
    """
    _check(temperature, reduction)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}.")
    if terms not in JS_TERMS:
        raise ValueError(f"Unknown terms {terms!r}; valid: {', '.join(JS_TERMS)}.")
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
    per_position = torch.zeros(student_log_probs.shape[:-1], device=student_logits.device)
    if terms in ("both", "student"):
        per_position = per_position + beta * F.kl_div(
            mixture_log_probs, student_log_probs, reduction="none", log_target=True
        ).sum(-1)
    if terms in ("both", "teacher"):
        per_position = per_position + (1 - beta) * F.kl_div(
            mixture_log_probs, teacher_log_probs, reduction="none", log_target=True
        ).sum(-1)
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


def token_cross_entropy(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of the student against gold (or pseudo-target) token ids, at T = 1.

    ``-log p_s(y_t)`` per position, positions whose label is -100 ignored; with
    ``"batchmean"`` divided by the number of counted positions or by ``num_items_in_batch``.

    Args:
        student_logits: ``(..., vocab_size)``.
        labels: ``(...)`` token ids, -100 where ignored.

    Returns:
        A scalar (nats per token), or ``labels.shape`` for ``reduction="none"``.

    Raises:
        ValueError: an unknown reduction or shapes that do not match.
    """
    _check(1.0, reduction)
    if student_logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} do not match labels {tuple(labels.shape)}."
        )
    per_position = F.cross_entropy(
        student_logits.float().reshape(-1, student_logits.shape[-1]), labels.reshape(-1),
        ignore_index=-100, reduction="none",
    ).view(labels.shape)
    return _reduce(per_position, labels != -100, reduction, num_items_in_batch)


