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
JS_TERMS = ("both", "student", "teacher")


def _check(temperature: float, reduction: str) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if reduction not in REDUCTIONS:
        raise ValueError(f"Unknown reduction {reduction!r}; valid reductions: {', '.join(REDUCTIONS)}.")


def _log_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    logits = logits.float()
    return F.log_softmax(logits if temperature == 1.0 else logits / temperature, dim=-1)


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


SAMPLE_SOURCES = ("teacher", "student", "mix")
"""Where f-DISTILL's step-wise losses take their sequences from (``--sample_source``)."""

PAPER_SAMPLE_SOURCE = {"kl": "teacher", "rkl": "student", "js": "mix", "tvd": "mix"}
"""The sequences f-DISTILL (Wen et al., ACL 2023) uses for each divergence."""


def f_distill_loss(
    divergence: str,
    *,
    on_teacher_samples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    on_student_samples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
    num_items: dict[str, int | torch.Tensor] | None = None,
) -> torch.Tensor:
    """Step-wise f-divergence loss of f-DISTILL (Wen, Li, Du, Mou; ACL 2023, arXiv 2307.15190).

    A sequence-level divergence between teacher ``p`` and student ``q`` is replaced by sums of
    per-token divergences between ``p_t = p(. | y_<t, x)`` and ``q_t`` along sampled sequences:

    - ``kl``:  ``E_{y~p} sum_t KL(p_t || q_t)`` (teacher samples; exact by the chain rule);
    - ``rkl``: ``E_{y~q} sum_t KL(q_t || p_t)`` (student samples; exact by the chain rule);
    - ``js``:  ``beta E_{y~q} sum_t KL(q_t || m_t) + (1 - beta) E_{y~p} sum_t KL(p_t || m_t)``,
      ``m_t = beta q_t + (1 - beta) p_t``: each term on its own model's samples;
    - ``tvd``: ``0.5 E_{y~q} sum_t TVD_t + 0.5 E_{y~p} sum_t TVD_t``,
      ``TVD_t = 0.5 sum_v |p_t,v - q_t,v|``.

    With only one set of sequences given, the whole divergence is taken on it (e.g. ``js`` on
    teacher samples only). ``kl`` and ``rkl`` take exactly one set. Losses are per-token means
    (``batchmean``), not multiplied by ``T**2``.

    Args:
        divergence: ``kl``, ``rkl``, ``js`` or ``tvd``.
        on_teacher_samples: ``(student_logits, teacher_logits, mask)`` computed on teacher-
            sampled targets; logits ``(batch_size, seq_len, vocab_size)``, mask
            ``(batch_size, seq_len)`` bool.
        on_student_samples: the same on student-sampled targets.
        beta: the student's weight in the JS mixture, in (0, 1) for ``js``.
        temperature: T > 0 applied to both models' logits.
        num_items: ``{"teacher": N_t, "student": N_s}``, token counts over the accumulated
            batch for each set (gradient accumulation), or ``None`` for micro-batch means.

    Returns:
        A scalar in nats (TVD: probability mass).

    Raises:
        ValueError: an unknown divergence, no sequences, two sets for ``kl``/``rkl``, or beta
            outside (0, 1) for ``js``.
    """
    get_divergence(divergence)
    given = {name: value for name, value in (("teacher", on_teacher_samples), ("student", on_student_samples))
             if value is not None}
    if not given:
        raise ValueError("f_distill_loss needs on_teacher_samples, on_student_samples or both.")
    if divergence in ("kl", "rkl") and len(given) == 2:
        raise ValueError(f"{divergence!r} is defined on one set of sequences (f-DISTILL uses "
                         f"{PAPER_SAMPLE_SOURCE[divergence]} samples); pass only one.")
    if divergence == "js" and not 0.0 < beta < 1.0:
        raise ValueError(f"beta must be in (0, 1) for js (0 and 1 make the divergence vanish), got {beta}.")
    num_items = num_items or {}

    def term(source: str, **kwargs) -> torch.Tensor:
        student_logits, teacher_logits, mask = given[source]
        return DIVERGENCES[divergence](
            student_logits, teacher_logits, mask, temperature=temperature,
            num_items_in_batch=num_items.get(source), **kwargs,
        )

    if len(given) == 1:
        (source,) = given
        return term(source, beta=beta) if divergence == "js" else term(source)
    if divergence == "js":
        return term("student", beta=beta, terms="student") + term("teacher", beta=beta, terms="teacher")
    return 0.5 * term("student") + 0.5 * term("teacher")  # tvd


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
