"""Argument checks, float32 log-softmax and the reductions shared by every loss (see :mod:`lexkd.losses`)."""

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


