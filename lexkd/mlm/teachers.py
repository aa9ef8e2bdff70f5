"""Teachers: loading, vocabulary checks, confidence weights and the combined multi-teacher target.

For each masked position ``i``, teacher ``k`` gives ``p_k(.|x) = softmax(z_k / T)``. A named
weighting rule scores each teacher's confidence ``s_k(i)`` in its own prediction, measured on
its untempered distribution ``softmax(z_k)`` (the temperature is a device to soften the target;
at T > 1 weak teachers look alike and every rule drifts towards ``uniform``); the weights are
``w_k(i) = softmax_k(s_k(i) / tau)`` (``tau``: the weight temperature), and the target is

    q(i) = sum_k w_k(i) p_k(i)                      (Wahle, arXiv 2301.08130)

Combining teachers happens here, never inside a loss (style guide, convention 4).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import torch
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from lexkd.data.tokenization import VocabularyMismatchError, check_vocabularies  # noqa: F401  (raised for teachers)
from lexkd.data.vocabulary_map import VocabularyMap, check_segmentation, vocabulary_map
from lexkd.models.masked_lm import load_masked_lm, masked_lm_logits
from lexkd.utils.hub import model_label

logger = logging.getLogger(__name__)


def _uniform(teacher_probs: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """s_k = 0 for every teacher: w_k = 1/K, the plain average (as TextBrewer does)."""
    return torch.zeros(teacher_probs.shape[:2], device=teacher_probs.device)


def _max_prob(teacher_probs: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """s_k = max_v p_k(v): the teacher's probability of its own top prediction."""
    return teacher_probs.amax(dim=-1)


def _entropy(teacher_probs: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """s_k = -H(p_k) = sum_v p_k(v) log p_k(v): peaked (low-entropy) teachers weigh more."""
    return (teacher_probs * teacher_probs.clamp_min(1e-12).log()).sum(dim=-1)


def _gold_prob(teacher_probs: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """s_k = p_k(y): the probability the teacher gives the original (gold) token y (prediction weighting)."""
    if labels is None:
        raise ValueError("The 'gold_prob' weighting rule needs the gold labels of the masked positions.")
    index = labels.view(1, -1, 1).expand(teacher_probs.shape[0], -1, 1)  # (K, N, 1)
    return teacher_probs.gather(-1, index).squeeze(-1)


WEIGHTING_RULES: dict[str, Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]] = {
    "uniform": _uniform,
    "max_prob": _max_prob,
    "entropy": _entropy,
    "gold_prob": _gold_prob,
}
"""Teacher confidence scores by rule name: ``(K, N, V)`` probabilities, ``(N,)`` gold ids -> ``(K, N)``."""


def check_weighting_rule(rule: str) -> None:
    """Raise ``ValueError`` naming the valid rules when ``rule`` is unknown."""
    if rule not in WEIGHTING_RULES:
        raise ValueError(f"Unknown weighting rule {rule!r}; valid rules: {', '.join(WEIGHTING_RULES)}.")


def teacher_weights(
    teacher_probs: torch.Tensor,
    rule: str,
    labels: torch.Tensor | None = None,
    *,
    weight_temperature: float = 1.0,
) -> torch.Tensor:
    """Per-position teacher weights ``w_k(i) = softmax_k(s_k(i) / tau)``.

    Args:
        teacher_probs: ``(K, N, V)`` tempered teacher distributions at N masked positions.
        rule: one of :data:`WEIGHTING_RULES` (``uniform``, ``max_prob``, ``entropy``, ``gold_prob``).
        labels: ``(N,)`` gold token ids (needed by ``gold_prob``).
        weight_temperature: tau > 0; small tau approaches picking the most confident teacher,
            large tau approaches the uniform average.

    Returns:
        ``(K, N)`` weights, each column summing to 1.

    Raises:
        ValueError: unknown rule, tau <= 0, or ``gold_prob`` without labels.
    """
    check_weighting_rule(rule)
    if not weight_temperature > 0:
        raise ValueError(f"weight_temperature must be > 0, got {weight_temperature}.")
    scores = WEIGHTING_RULES[rule](teacher_probs, labels)  # (K, N)
    return torch.softmax(scores / weight_temperature, dim=0)


def combine_teachers(
    teacher_logits: Sequence[torch.Tensor] | torch.Tensor,
    *,
    rule: str,
    temperature: float = 1.0,
    weight_temperature: float = 1.0,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The confidence-weighted multi-teacher target ``q(i) = sum_k w_k(i) softmax(z_k(i) / T)``.

    Args:
        teacher_logits: K tensors ``(N, V)`` (or one ``(K, N, V)`` tensor) of teacher logits at
            the same N masked positions.
        rule, weight_temperature, labels: as :func:`teacher_weights`; the confidence scores are
            computed on the teachers' own distributions ``softmax(z_k)`` (T = 1).
        temperature: T > 0 applied to every teacher's logits for the target.

    Returns:
        ``(target_probs, weights)``: ``(N, V)`` float32 distributions and ``(K, N)`` weights.

    Raises:
        ValueError: no teachers, mismatched shapes, T <= 0, or the errors of :func:`teacher_weights`.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if len(teacher_logits) == 0:
        raise ValueError("combine_teachers needs at least one teacher.")
    logits = teacher_logits if isinstance(teacher_logits, torch.Tensor) else torch.stack(list(teacher_logits))
    logits = logits.float()
    own_probs = torch.softmax(logits, dim=-1)  # (K, N, V) the teachers' confidence, T = 1
    weights = teacher_weights(own_probs, rule, labels, weight_temperature=weight_temperature)  # (K, N)
    teacher_probs = own_probs if temperature == 1.0 else torch.softmax(logits / temperature, dim=-1)
    target_probs = (weights.unsqueeze(-1) * teacher_probs).sum(dim=0)  # (N, V)
    return target_probs, weights


TEACHER_DTYPES = ("float32", "bfloat16", "float16", "int8")
"""Precisions a teacher can run in (``--teacher_dtype``); int8 is dynamic quantization of its linear layers (CPU)."""


@dataclass
class Teacher:
    """A loaded teacher: its name (path or hub id), model (eval mode, frozen), tokenizer, precision, and the
    map of the student's token ids onto its own (None when they share one vocabulary)."""

    name: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    dtype: str = "float32"
    vocabulary_map: VocabularyMap | None = None
    """Set by :func:`match_vocabularies` when the teacher numbers the student's tokens differently."""

    @property
    def label(self) -> str:
        """Short name for logs and reports (:func:`lexkd.utils.hub.model_label`): ``x`` for a folder
        ``.../x/model`` or ``.../x``, a hub id as given."""
        return model_label(self.name)


def load_teachers(names: Sequence[str], *, device: torch.device | str = "cpu", dtype: str = "float32") -> list[Teacher]:
    """Load teachers from local folders or hub ids, frozen in eval mode on ``device``, in precision ``dtype``.

    ``dtype``: ``float32``; ``bfloat16`` / ``float16`` (weights and activations; the combined targets
    are still computed in float32); ``int8``: dynamic quantization of every ``nn.Linear``
    (``torch.ao.quantization.quantize_dynamic``, int8 weights, activations quantized on the fly;
    CPU only, as torch supports it).

    Raises:
        ValueError: an empty list, an unknown ``dtype``, or ``int8`` on a non-CPU device.
        FileNotFoundError / OSError: a teacher that cannot be found (see :func:`load_masked_lm`).
        MissingMLMHeadError: a teacher checkpoint without a masked-LM head (an encoder alone).
    """
    if not names:
        raise ValueError("No teacher given: pass at least one teacher path or hub id.")
    if dtype not in TEACHER_DTYPES:
        raise ValueError(f"Unknown --teacher_dtype {dtype!r}; valid: {', '.join(TEACHER_DTYPES)}.")
    if dtype == "int8" and torch.device(device).type != "cpu":
        raise ValueError(f"--teacher_dtype int8 (dynamic quantization) runs on the CPU only, not on {device}; "
                         "use bfloat16 or float16 on GPUs.")
    teachers = []
    for name in names:
        model = load_masked_lm(name, role=f"teacher {name!r}", require_head=True)
        model.eval().requires_grad_(False).to(device)
        model = _in_precision(model, dtype)
        teachers.append(Teacher(name=name, model=model, tokenizer=AutoTokenizer.from_pretrained(name), dtype=dtype))
    return teachers


def match_vocabularies(tokenizer: PreTrainedTokenizerBase, teachers: Sequence[Teacher], sample_texts: Sequence[str] = ()
                       ) -> list[Teacher]:
    """Check each teacher's vocabulary against the student's ``tokenizer``; map it where it can be mapped.

    A teacher with the student's vocabulary (same strings at the same ids) is used as it is. A teacher
    whose vocabulary holds the same token strings under other ids (all-mpnet-base-v2 against a BERT
    vocabulary) gets a :class:`lexkd.data.vocabulary_map.VocabularyMap` (``teacher.vocabulary_map``) after
    checking that it segments ``sample_texts`` (a sample of the corpus) as the student's tokenizer does.

    Returns:
        ``teachers`` (the same objects, maps set).

    Raises:
        VocabularyMismatchError: a teacher whose vocabulary maps only in part, that segments a sample text
            differently (naming the text), or whose output layer has fewer rows than its vocabulary.
    """
    for teacher in teachers:
        if teacher.tokenizer.get_vocab() == tokenizer.get_vocab():
            check_vocabularies(tokenizer, {teacher.name: teacher.tokenizer}, {teacher.name: teacher.model})
            continue
        mapping = vocabulary_map(tokenizer, teacher.tokenizer, teacher.name)
        check_vocabularies(teacher.tokenizer, {teacher.name: teacher.tokenizer}, {teacher.name: teacher.model})
        checked = check_segmentation(tokenizer, teacher.tokenizer, sample_texts, mapping, teacher.name)
        teacher.vocabulary_map = mapping
        logger.info("Teacher %s numbers the student's %d tokens differently: its ids are mapped by token string "
                    "(same segmentation on %d corpus texts).", teacher.label, len(tokenizer), checked)
    return list(teachers)


def corpus_sample(texts: Sequence[str], size: int = 2000) -> list[str]:
    """``size`` texts evenly spaced over ``texts`` (all of them when fewer), for :func:`match_vocabularies`."""
    step = max(1, len(texts) // size)
    return list(texts[::step][:size])


def _in_precision(model: PreTrainedModel, dtype: str) -> PreTrainedModel:
    if dtype in ("bfloat16", "float16"):
        return model.to(getattr(torch, dtype))
    if dtype == "int8":
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


@torch.inference_mode()
def _teacher_target(teachers, batch, masked, gold, rule, temperature, weight_temperature, output_hidden_states=False):
    outputs = [
        masked_lm_logits(t.model, batch["input_ids"], masked, batch.get("attention_mask"), batch.get("token_type_ids"),
                         vocabulary_map=t.vocabulary_map, output_hidden_states=output_hidden_states)
        for t in teachers
    ]
    logits = [output[0] for output in outputs] if output_hidden_states else outputs
    target_probs, weights = combine_teachers(logits, rule=rule, temperature=temperature,
                                             weight_temperature=weight_temperature, labels=gold)
    return target_probs, weights, [output[1] for output in outputs] if output_hidden_states else None


def teacher_targets(
    teachers: Sequence[Teacher],
    batch: dict[str, torch.Tensor],
    *,
    rule: str,
    temperature: float,
    weight_temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the teachers (eval mode, ``torch.inference_mode``) on a masked batch and combine them.

    Each teacher computes its output layer at the masked positions only.

    Args:
        batch: ``input_ids``, ``labels`` (``(B, T)``, -100 where not masked), optional
            ``attention_mask`` and ``token_type_ids``.

    Returns:
        ``(target_probs (N, V), weights (K, N))`` as ordinary tensors usable in autograd.
    """
    masked = batch["labels"] != -100
    gold = batch["labels"][masked]
    target_probs, weights, _ = _teacher_target(teachers, batch, masked, gold, rule, temperature, weight_temperature)
    # Tensors made under inference_mode cannot be saved for backward; the student's loss saves
    # the target, so hand out ordinary copies.
    return target_probs.clone(), weights.clone()


def teacher_targets_and_hidden_states(
    teachers: Sequence[Teacher],
    batch: dict[str, torch.Tensor],
    *,
    rule: str,
    temperature: float,
    weight_temperature: float = 1.0,
    layers: Sequence[Collection[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[torch.Tensor | None, ...]]]:
    """:func:`teacher_targets` plus each teacher's hidden states, from the same teacher forward pass.

    Args:
        layers: for each teacher, the hidden-state indices wanted (0 = embeddings); ``None``: all.

    Returns:
        ``(target_probs (N, V), weights (K, N), hidden_states)``: ``hidden_states[k]`` is teacher
        ``k``'s tuple of ``(B, T, H_k)`` states (embeddings, then each layer), ordinary tensors usable
        in autograd at the wanted indices and ``None`` at the others (copying only what is used).
    """
    masked = batch["labels"] != -100
    gold = batch["labels"][masked]
    target_probs, weights, states = _teacher_target(teachers, batch, masked, gold, rule, temperature,
                                                    weight_temperature, output_hidden_states=True)
    wanted = [None] * len(teachers) if layers is None else list(layers)
    if len(wanted) != len(teachers):
        raise ValueError(f"layers lists {len(wanted)} teachers' hidden-state indices for {len(teachers)} teachers.")
    hidden_states = [tuple(h.clone() if keep is None or i in keep else None for i, h in enumerate(teacher_states))
                     for teacher_states, keep in zip(states, wanted, strict=True)]
    return target_probs.clone(), weights.clone(), hidden_states
