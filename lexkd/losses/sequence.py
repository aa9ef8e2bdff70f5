"""f-DISTILL's step-wise sequence-level divergences (Wen et al., ACL 2023; see :mod:`lexkd.losses`)."""

from __future__ import annotations

import torch

from lexkd.losses.divergences import DIVERGENCES, get_divergence

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


