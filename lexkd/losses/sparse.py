"""KL to a top-k target with a tail bucket (the teacher target cache's targets), with a closed-form backward
shared with the gold cross-entropy (see :mod:`lexkd.losses`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lexkd.losses._base import _check, _reduce


def sparse_kl_divergence(
    student_logits: torch.Tensor,
    target_ids: torch.Tensor,
    target_probs: torch.Tensor,
    tail_mass: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Forward KL from a top-k target: ``KL(q_K || p_K)`` over the top-k tokens plus one tail bucket.

    A cached target keeps, per position, the k most probable tokens ``K`` of the combined
    teacher target ``q`` with their probabilities, and the mass outside them
    ``r = 1 - sum_{v in K} q_v``. The tail is treated as one outcome: with ``p = softmax(z / T)``
    and ``p_tail = sum_{v not in K} p_v``,

        KL_K(q || p) = sum_{v in K} q_v (log q_v - log p_v) + r (log r - log p_tail).

    This is the KL between the two distributions coarsened to the k + 1 outcomes
    ``K + {tail}``. By the chain rule of KL, the dense ``KL(q || p)`` equals
    ``KL_K(q || p) + r * KL(q(.|tail) || p(.|tail))``, so ``KL_K`` is a lower bound that is exact
    when the teacher's and the student's distributions inside the tail have the same shape,
    and in particular when ``k = vocab_size`` (then there is no tail and ``tail_mass``, a
    rounding residue, is ignored). The student is told how much mass
    the teacher leaves outside its top-k, not how to spread it: the gold-label term and the
    student itself decide that.

    Args:
        student_logits: ``(..., vocab_size)`` raw student logits.
        target_ids: ``(..., k)`` token ids of the target's top-k (distinct per position).
        target_probs: ``(..., k)`` their probabilities under the (tempered) target.
        tail_mass: ``(...)`` mass outside the top-k; ``None`` uses ``1 - target_probs.sum(-1)``
            (clamped at 0).
        mask, temperature, reduction, num_items_in_batch: as :func:`kl_divergence_from_probs`.

    Returns:
        A scalar, or ``(...)`` for ``reduction="none"``; units: nats.

    Raises:
        ValueError: on a temperature <= 0, an unknown reduction, mismatched shapes, or
            ``k > vocab_size``.
    """
    _check(temperature, reduction)
    _check_sparse_target(student_logits, target_ids, target_probs)
    logits = student_logits.float()
    _, per_position = _sparse_distillation_terms(logits if temperature == 1.0 else logits / temperature, None,
                                                 target_ids, target_probs, tail_mass)
    return _reduce(per_position, mask, reduction, num_items_in_batch)


def _check_sparse_target(student_logits: torch.Tensor, target_ids: torch.Tensor, target_probs: torch.Tensor) -> None:
    if target_ids.shape != target_probs.shape or target_ids.shape[:-1] != student_logits.shape[:-1]:
        raise ValueError(
            f"target_ids {tuple(target_ids.shape)} and target_probs {tuple(target_probs.shape)} must share "
            f"one shape (..., k) whose leading dimensions are those of student_logits {tuple(student_logits.shape)}."
        )
    if target_ids.shape[-1] > student_logits.shape[-1]:
        raise ValueError(f"k = {target_ids.shape[-1]} exceeds the vocabulary size {student_logits.shape[-1]}.")


def _sparse_distillation_terms(
    logits: torch.Tensor,
    labels: torch.Tensor | None,
    target_ids: torch.Tensor,
    target_probs: torch.Tensor,
    tail_mass: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position gold cross-entropy and ``KL_K(q || p)`` of :func:`sparse_kl_divergence`, ``p = softmax(logits)``.

    Shapes: ``logits (..., V)``, ``labels (...)`` (-100 ignored; ``None``: no gold term),
    ``target_ids``/``target_probs`` ``(..., k)``, ``tail_mass (...)``; returns two ``(...)`` tensors
    in nats (the cross-entropy is 0 where the label is -100).
    """
    shape, vocab_size, k = target_ids.shape[:-1], logits.shape[-1], target_ids.shape[-1]
    flat_labels = (torch.full(shape, -100, dtype=torch.long, device=logits.device) if labels is None else labels).reshape(-1)
    rows = flat_labels.numel()
    tail = None if tail_mass is None else tail_mass.reshape(rows)
    cross_entropy, kl = _SparseDistillationLoss.apply(
        logits.reshape(rows, vocab_size), flat_labels, target_ids.reshape(rows, k).long(),
        target_probs.reshape(rows, k), tail)
    return cross_entropy.view(shape), kl.view(shape)


class _SparseDistillationLoss(torch.autograd.Function):
    """Gold cross-entropy and top-k KD from one log-softmax, with the gradient in closed form.

    Forward, per row ``i`` of ``z (N, V)`` with ``log p = log_softmax(z)``, gold ``g``, top-k ids
    ``K``, target probabilities ``q_K`` and tail mass ``r``:
    ``CE_i = -log p_g`` and ``KD_i = sum_K q (log q - log p) + r (log r - log p_tail)``.
    ``log p_tail = log(1 - sum_K p)`` summed in float64; where ``p_tail < 1e-4`` it is recomputed
    as the log-sum-exp of the log-probabilities outside ``K``.

    Backward, with upstream gradients ``a = dL/dCE_i``, ``b = dL/dKD_i`` and ``s = sum_K q + r``:

        dL/dz_j = (a + b s) p_j - a [j = g] - b q_j [j in K] - b r p_j / p_tail [j not in K]

    computed as one exp over the vocabulary and two scatters of ``(N, k)`` and ``(N, 1)`` values,
    where autograd would keep a separate ``(N, V)`` gradient per gathered term and add them.
    Entries in ``K`` are overwritten, not corrected, so the large ``r p_j / p_tail`` of a peaked row
    never cancels; peaked rows (``p_tail < 1e-4``) take ``p_j / p_tail = exp(log p_j - log p_tail)``.
    ``K`` must hold distinct ids per row (a cache's top-k does).
    """

    @staticmethod
    def forward(ctx, logits, labels, target_ids, target_probs, tail_mass):
        log_probs = F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)  # (N, V)
        target_probs = target_probs.to(log_probs.dtype)
        tail_mass = None if tail_mass is None else tail_mass.to(log_probs.dtype)
        ignored = labels == -100
        gold = labels.clamp_min(0).unsqueeze(1)  # (N, 1)
        cross_entropy = (-log_probs.gather(1, gold).squeeze(1)).masked_fill(ignored, 0.0)
        top_log_probs = log_probs.gather(1, target_ids)  # (N, k)
        kl = (torch.xlogy(target_probs, target_probs) - target_probs * top_log_probs).sum(-1)
        if 0 < target_ids.shape[1] < log_probs.shape[1]:
            tail = (1.0 - target_probs.sum(-1)).clamp_min(0.0) if tail_mass is None else tail_mass
            tail_prob = (1.0 - top_log_probs.double().exp().sum(-1)).clamp_min(0.0)  # (N,)
            tail_log_prob = tail_prob.clamp_min(1e-300).log().to(log_probs.dtype)
            peaked = tail_prob < 1e-4
            if peaked.any():
                exact = log_probs[peaked].scatter(1, target_ids[peaked], float("-inf")).logsumexp(-1)
                tail_log_prob = tail_log_prob.index_put((peaked,), exact)
            kl = kl + torch.xlogy(tail, tail) - tail * tail_log_prob
        else:  # k = V: no tail (a stored tail mass is rounding residue); k = 0: gold term only
            tail = torch.zeros_like(kl)
            tail_log_prob, peaked = torch.zeros_like(kl), torch.zeros_like(kl, dtype=torch.bool)
        ctx.save_for_backward(log_probs, ignored, gold, target_ids, target_probs, top_log_probs, tail, tail_log_prob, peaked)
        ctx.logits_dtype = logits.dtype
        return cross_entropy, kl

    @staticmethod
    def backward(ctx, grad_cross_entropy, grad_kl):
        log_probs, ignored, gold, target_ids, target_probs, top_log_probs, tail, tail_log_prob, peaked = ctx.saved_tensors
        a = grad_cross_entropy.masked_fill(ignored, 0.0)  # (N,)
        b = grad_kl
        c0 = a + b * (target_probs.sum(-1) + tail)  # coefficient of p_j everywhere
        tail_coef = b * tail  # coefficient of p_j / p_tail outside K
        flat = torch.where(peaked | (tail_coef == 0), torch.zeros_like(c0), tail_coef * torch.exp(-tail_log_prob))
        grad = log_probs.exp().mul_((c0 - flat).unsqueeze(1))  # (N, V)
        if peaked.any():
            rows = log_probs[peaked]
            log_tail = tail_log_prob[peaked].masked_fill(tail_coef[peaked] == 0, 0.0).unsqueeze(1)
            grad[peaked] = rows.exp() * c0[peaked].unsqueeze(1) - tail_coef[peaked].unsqueeze(1) * (rows - log_tail).exp()
        grad.scatter_(1, target_ids, top_log_probs.exp() * c0.unsqueeze(1) - b.unsqueeze(1) * target_probs)
        grad.scatter_add_(1, gold, -a.unsqueeze(1))
        return grad.to(ctx.logits_dtype), None, None, None, None


