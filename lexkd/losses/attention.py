"""Attention-relation distillation: the student's self-attention distributions against a teacher's.

MiniLM's self-attention distribution transfer (Wang et al. 2020, eq. 6) on one layer: for each head ``h`` and
query position ``i``, ``KL(A^t_{h,i} || A^s_{h,i})`` between the teacher's and the student's attention
distributions over the key positions, averaged over heads; the per-query values are then reduced over the
query positions ``mask`` keeps (padding excluded), as in :mod:`lexkd.losses`. Student and teacher must have
the same number of heads (MiniLM's condition; their widths may differ, since only the ``(T, T)`` maps are
compared).
"""

from __future__ import annotations

import torch

from lexkd.losses._base import REDUCTIONS, _reduce

__all__ = ["attention_relation_loss"]


def attention_relation_loss(
    student_attention: torch.Tensor,
    teacher_attention: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over heads of ``KL(teacher || student)`` attention per query position, reduced.

    Args:
        student_attention: ``(batch_size, heads, queries, keys)`` attention probabilities (rows sum to 1).
        teacher_attention: the same shape; no gradient flows into it.
        mask: ``(batch_size, queries)`` bool, the query positions that count.

    Returns:
        A scalar (``batchmean``, ``sum``) or ``(batch_size, queries)`` (``none``), float32.

    Raises:
        ValueError: shapes that differ (the message names the head counts), a tensor that is not 4-D, or an
            unknown reduction.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"Unknown reduction {reduction!r}; valid reductions: {', '.join(REDUCTIONS)}.")
    if student_attention.dim() != 4 or student_attention.shape != teacher_attention.shape:
        raise ValueError(f"Attention maps must both be (batch, heads, queries, keys) of one shape; got student "
                         f"{tuple(student_attention.shape)} and teacher {tuple(teacher_attention.shape)} (the "
                         "student and the teacher need the same number of heads).")
    s, t = student_attention.float(), teacher_attention.detach().float()
    kl = (t * (t.clamp_min(1e-12).log() - s.clamp_min(1e-12).log())).sum(-1)  # (B, H, Q)
    return _reduce(kl.mean(1), mask, reduction, num_items_in_batch)
