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

__all__ = ["HIDDEN_DISTANCES", "HiddenStateProjector", "hidden_layer_map", "hidden_state_loss", "parse_layer_map",
           "uniform_layer_map"]

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
    with the models' ``hidden_states`` tuples -> the sum over the map of :func:`hidden_state_loss`;
    the same as ``projector.loss(projector.project(student_states), teacher_states, mask, ...)`` (the
    projection alone runs in the student's forward under DistributedDataParallel, the loss after).

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

    def _check_layers(self, student_count: int | None, teacher_count: int | None) -> None:
        for s, t in self.layer_map:
            for side, index, count in (("student", s, student_count), ("teacher", t, teacher_count)):
                if count is not None and not 0 <= index < count:
                    raise ValueError(f"Layer pair ({s}, {t}) outside the {side}'s {count} hidden states "
                                     "(0 = embeddings).")

    def project(self, student_states: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The student states of the map's pairs, projected: one ``(batch_size, seq_len, teacher_hidden)`` per pair."""
        self._check_layers(len(student_states), None)
        return [projection(student_states[s]) for (s, _), projection in zip(self.layer_map, self.maps, strict=True)]

    def loss(self, projected: Sequence[torch.Tensor], teacher_states: Sequence[torch.Tensor],
             mask: torch.Tensor | None = None, *, distance: str = "cosine",
             num_items_in_batch: int | torch.Tensor | None = None) -> torch.Tensor:
        """The sum over the map of :func:`hidden_state_loss` of :meth:`project`'s output and the teacher's states."""
        self._check_layers(None, len(teacher_states))
        total = None
        for student_hidden, (_, t) in zip(projected, self.layer_map, strict=True):
            term = hidden_state_loss(student_hidden, teacher_states[t], mask, distance=distance,
                                     num_items_in_batch=num_items_in_batch)
            total = term if total is None else total + term
        return total

    def forward(self, student_states: Sequence[torch.Tensor], teacher_states: Sequence[torch.Tensor],
                mask: torch.Tensor | None = None, *, distance: str = "cosine",
                num_items_in_batch: int | torch.Tensor | None = None) -> torch.Tensor:
        self._check_layers(len(student_states), len(teacher_states))
        return self.loss(self.project(student_states), teacher_states, mask, distance=distance,
                         num_items_in_batch=num_items_in_batch)


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


def parse_layer_map(spec: str) -> list[tuple[int, int]] | None:
    """A layer map as the command line gives it: ``"uniform"`` -> None (:func:`uniform_layer_map`, made
    per teacher from the depths), ``"1:2,2:4"`` -> ``[(1, 2), (2, 4)]`` (hidden-state indices, 0 = embeddings).

    Raises:
        ValueError: anything else (the message shows the expected form).
    """
    if spec.strip() == "uniform":
        return None
    pairs = []
    for item in spec.split(","):
        student, colon, teacher = item.strip().partition(":")
        if not (colon and student.strip().isdecimal() and teacher.strip().isdecimal()):
            raise ValueError(f"--hidden_layer_map {spec!r} is malformed at {item.strip()!r}: give 'uniform' or "
                             "student:teacher pairs of hidden-state indices (0 = embeddings), e.g. '1:2,2:4'.")
        pairs.append((int(student), int(teacher)))
    return pairs


def hidden_layer_map(spec: str, student_layers: int, teacher_layers: int) -> list[tuple[int, int]]:
    """The layer map ``spec`` (see :func:`parse_layer_map`) for a student and a teacher of these depths.

    Raises:
        ValueError: a malformed ``spec``, ``"uniform"`` with a student deeper than the teacher, or a
            pair outside ``0..student_layers`` / ``0..teacher_layers``.
    """
    pairs = parse_layer_map(spec)
    if pairs is None:
        return uniform_layer_map(student_layers, teacher_layers)
    outside = [(s, t) for s, t in pairs if s > student_layers or t > teacher_layers]
    if outside:
        raise ValueError(f"Layer pairs {outside} outside the student's hidden states 0..{student_layers} and the "
                         f"teacher's 0..{teacher_layers} (0 = embeddings, then one per layer).")
    return pairs
