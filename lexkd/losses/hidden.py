"""Hidden-state distillation: the student's hidden states against a teacher's, layer by layer.

``L = sum_{(s, t) in layer_map} mean_positions d(P_s h_s, h_t)`` where ``h_s`` is the student's
layer-``s`` output ``(batch_size, seq_len, student_hidden)``, ``h_t`` the teacher's layer-``t`` output
``(batch_size, seq_len, teacher_hidden)``, ``P_s`` a learned linear projection when the widths differ
(TinyBERT's ``W_h``, Jiao et al. 2020, eq. 8) and the identity otherwise, and ``d`` either

- ``"cosine"``: ``1 - cos(P h_s, h_t)`` per position (DistilBERT's cosine embedding loss, Sanh et al. 2019), or
- ``"mse"``: ``mean_k (P h_s - h_t)_k^2`` per position (TinyBERT's hidden-state MSE, eq. 8, averaged over the
  hidden dimension).

Positions are those ``mask`` keeps (padding excluded); reductions as in :mod:`lexkd.losses`
(``num_items_in_batch`` makes gradient accumulation leave the loss unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lexkd.losses._base import REDUCTIONS, _reduce

__all__ = ["HIDDEN_DISTANCES", "HiddenStateProjector", "hidden_state_loss", "uniform_layer_map"]

HIDDEN_DISTANCES = ("cosine", "mse")


def hidden_state_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    distance: str = "cosine",
    reduction: str = "batchmean",
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """``d(student_hidden, teacher_hidden)`` per position, reduced (see the module docstring).

    Args:
        student_hidden: ``(batch_size, seq_len, hidden)``, already projected to the teacher's width.
        teacher_hidden: ``(batch_size, seq_len, hidden)``; no gradient flows into it.
        mask: ``(batch_size, seq_len)`` bool, the positions that count (e.g. the attention mask).
        distance: ``"cosine"`` or ``"mse"``.

    Returns:
        A scalar (``batchmean``, ``sum``) or ``(batch_size, seq_len)`` (``none``), float32.

    Raises:
        ValueError: an unknown distance or reduction, or shapes that differ.
    """
    if distance not in HIDDEN_DISTANCES:
        raise ValueError(f"Unknown hidden-state distance {distance!r}; valid: {', '.join(HIDDEN_DISTANCES)}.")
    if reduction not in REDUCTIONS:
        raise ValueError(f"Unknown reduction {reduction!r}; valid reductions: {', '.join(REDUCTIONS)}.")
    if student_hidden.shape != teacher_hidden.shape:
        raise ValueError(f"Student hidden states {tuple(student_hidden.shape)} and teacher's "
                         f"{tuple(teacher_hidden.shape)} differ: project the student's first (HiddenStateProjector).")
    s, t = student_hidden.float(), teacher_hidden.detach().float()
    if distance == "cosine":
        per_position = 1.0 - F.cosine_similarity(s, t, dim=-1)  # (B, T)
    else:
        per_position = (s - t).pow(2).mean(dim=-1)  # (B, T)
    return _reduce(per_position, mask, reduction, num_items_in_batch)


class HiddenStateProjector(nn.Module):
    """Learned linear maps from student layers to teacher widths, one per pair of ``layer_map``.

    Args:
        layer_map: ``[(student_layer, teacher_layer), ...]`` (hidden-state indices: 0 = embeddings).
        student_hidden, teacher_hidden: the two widths; with equal widths the maps are identities
            (no parameter), otherwise ``nn.Linear(student_hidden, teacher_hidden)``.

    Call: ``projector(student_states, teacher_states, mask, distance=..., num_items_in_batch=...)``
    with the models' ``hidden_states`` tuples -> the sum over the map of :func:`hidden_state_loss`.

    Raises:
        ValueError: an empty map or a layer index outside the given tuples (on call).
    """

    def __init__(self, layer_map: Sequence[tuple[int, int]], student_hidden: int, teacher_hidden: int):
        super().__init__()
        if not layer_map:
            raise ValueError("The hidden-state layer map is empty: give (student_layer, teacher_layer) pairs.")
        self.layer_map = [(int(s), int(t)) for s, t in layer_map]
        self.maps = nn.ModuleList(
            nn.Identity() if student_hidden == teacher_hidden else nn.Linear(student_hidden, teacher_hidden)
            for _ in self.layer_map
        )

    def forward(self, student_states: Sequence[torch.Tensor], teacher_states: Sequence[torch.Tensor],
                mask: torch.Tensor | None = None, *, distance: str = "cosine",
                num_items_in_batch: int | torch.Tensor | None = None) -> torch.Tensor:
        total = None
        for (s, t), projection in zip(self.layer_map, self.maps, strict=True):
            if not (0 <= s < len(student_states) and 0 <= t < len(teacher_states)):
                raise ValueError(f"Layer pair ({s}, {t}) outside the student's {len(student_states)} and the "
                                 f"teacher's {len(teacher_states)} hidden states (0 = embeddings).")
            term = hidden_state_loss(projection(student_states[s]), teacher_states[t], mask, distance=distance,
                                     num_items_in_batch=num_items_in_batch)
            total = term if total is None else total + term
        return total


def uniform_layer_map(student_layers: int, teacher_layers: int) -> list[tuple[int, int]]:
    """TinyBERT's uniform mapping: student layer ``m`` (1-based) learns from teacher layer ``m * N / M``.

    Returns ``[(m, m * teacher_layers // student_layers) for m in 1..student_layers]`` (hidden-state
    indices, 0 = embeddings, excluded).

    Raises:
        ValueError: a student deeper than its teacher, or a non-positive depth.
    """
    if not 0 < student_layers <= teacher_layers:
        raise ValueError(f"A uniform layer map needs 0 < student layers ({student_layers}) <= teacher layers "
                         f"({teacher_layers}).")
    return [(m, m * teacher_layers // student_layers) for m in range(1, student_layers + 1)]
