"""The NLG side of lexkd.losses: JS split into terms, token CE, and f-DISTILL's step-wise losses."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from lexkd.losses import (
    f_distill_loss,
    forward_kl,
    jensen_shannon,
    reverse_kl,
    token_cross_entropy,
    total_variation,
)


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 4, 7, generator=g) * 2, torch.randn(2, 4, 7, generator=g) * 2


def test_js_terms_add_up_and_match_the_definition(logits):
    student, teacher = logits
    beta = 0.3
    both = jensen_shannon(student, teacher, beta=beta)
    split = jensen_shannon(student, teacher, beta=beta, terms="student") + jensen_shannon(
        student, teacher, beta=beta, terms="teacher"
    )
    torch.testing.assert_close(both, split)
    # From the definition, with probabilities: m = beta q + (1 - beta) p.
    q, p = F.softmax(student, -1), F.softmax(teacher, -1)
    m = beta * q + (1 - beta) * p
    by_hand = (beta * (q * (q / m).log()).sum(-1) + (1 - beta) * (p * (p / m).log()).sum(-1)).mean()
    torch.testing.assert_close(both, by_hand)
    # TRL's GKD weighs the teacher by its beta: lexkd's js(beta) = GKD's jsd(1 - beta).
    gkd_beta = 1 - beta
    m_gkd = (1 - gkd_beta) * q + gkd_beta * p
    gkd = (gkd_beta * (p * (p / m_gkd).log()).sum(-1) + (1 - gkd_beta) * (q * (q / m_gkd).log()).sum(-1)).mean()
    torch.testing.assert_close(both, gkd)


def test_js_normalised_limits_are_the_two_kls(logits):
    student, teacher = logits
    # The limits are approached slowly (the error is O(beta log beta)): check that the error
    # shrinks towards 0 and is small at beta = 1e-4 (float32 bounds how far this can go).
    errors = []
    for small in (1e-2, 1e-3, 1e-4):
        big = 1 - small
        reverse = jensen_shannon(student, teacher, beta=small) / (small * big) - reverse_kl(student, teacher)
        forward = jensen_shannon(student, teacher, beta=big) / (small * big) - forward_kl(student, teacher)
        errors.append((abs(reverse.item()), abs(forward.item())))
    assert errors[0][0] > errors[1][0] > errors[2][0] and errors[0][1] > errors[1][1] > errors[2][1]
    assert errors[2][0] < 0.01 * reverse_kl(student, teacher) and errors[2][1] < 0.01 * forward_kl(student, teacher)


def test_js_rejects_unknown_terms(logits):
    with pytest.raises(ValueError, match="terms"):
        jensen_shannon(*logits, terms="mixture")


def test_reverse_kl_value_and_gradient_by_hand(logits):
    student, teacher = (x.double() for x in logits)
    student.requires_grad_(True)
    by_hand_student = student.detach().clone().requires_grad_(True)
    reverse_kl(student, teacher).backward()
    q = F.softmax(by_hand_student, -1)
    by_hand = (q * (F.log_softmax(by_hand_student, -1) - F.log_softmax(teacher, -1))).sum(-1).mean()
    by_hand.backward()
    torch.testing.assert_close(reverse_kl(student, teacher).double(), by_hand.detach())
    torch.testing.assert_close(student.grad, by_hand_student.grad, rtol=1e-4, atol=1e-6)


def test_token_cross_entropy_ignores_minus_100_and_matches_f_cross_entropy(logits):
    student, _ = logits
    labels = torch.tensor([[1, 2, -100, 3], [4, -100, -100, 0]])
    expected = F.cross_entropy(student.reshape(-1, 7), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(token_cross_entropy(student, labels), expected)
    torch.testing.assert_close(
        token_cross_entropy(student, labels, num_items_in_batch=10), expected * 5 / 10
    )
    with pytest.raises(ValueError, match="do not match"):
        token_cross_entropy(student, labels[:, :3])


def _toy_autoregressive(seed: int, vocab: int = 3):
    """A tiny autoregressive model: a table of next-token logits for every prefix of length < 3."""
    g = torch.Generator().manual_seed(seed)
    prefixes = [p for n in range(3) for p in itertools.product(range(vocab), repeat=n)]
    return {p: torch.randn(vocab, generator=g, dtype=torch.float64) * 1.5 for p in prefixes}


def _sequence_prob(table, seq):
    prob = 1.0
    for t in range(len(seq)):
        prob *= F.softmax(table[seq[:t]], -1)[seq[t]].item()
    return prob


def _stepwise_logits(table, seq):
    return torch.stack([table[seq[:t]] for t in range(len(seq))]).unsqueeze(0)  # (1, T, V)


@pytest.mark.parametrize("divergence,sampler", [("kl", "teacher"), ("rkl", "student")])
def test_stepwise_kl_equals_sequence_level_kl_by_enumeration(divergence, sampler):
    """f-DISTILL's step-wise KL and RKL are exact: sum over all 27 sequences of length 3."""
    teacher, student = _toy_autoregressive(0), _toy_autoregressive(1)
    sequences = list(itertools.product(range(3), repeat=3))
    p = {y: _sequence_prob(teacher, y) for y in sequences}
    q = {y: _sequence_prob(student, y) for y in sequences}
    if divergence == "kl":
        sequence_level = sum(p[y] * (torch.tensor(p[y] / q[y]).log()) for y in sequences)
    else:
        sequence_level = sum(q[y] * (torch.tensor(q[y] / p[y]).log()) for y in sequences)
    sampling = p if sampler == "teacher" else q
    stepwise = 0.0
    for y in sequences:
        args = (_stepwise_logits(student, y), _stepwise_logits(teacher, y), torch.ones(1, 3, dtype=torch.bool))
        kwargs = {"on_teacher_samples": args} if sampler == "teacher" else {"on_student_samples": args}
        stepwise += sampling[y] * 3 * f_distill_loss(divergence, **kwargs).double()  # mean over 3 steps -> sum
    torch.testing.assert_close(stepwise, sequence_level.double(), rtol=1e-6, atol=1e-9)


def test_f_distill_mix_weights(logits):
    student, teacher = logits
    mask = torch.ones(2, 4, dtype=torch.bool)
    on_t = (student, teacher, mask)
    on_s = (student.flip(0), teacher.flip(0), mask)
    js = f_distill_loss("js", on_teacher_samples=on_t, on_student_samples=on_s, beta=0.85)
    torch.testing.assert_close(
        js, jensen_shannon(*on_s, beta=0.85, terms="student") + jensen_shannon(*on_t, beta=0.85, terms="teacher")
    )
    tvd = f_distill_loss("tvd", on_teacher_samples=on_t, on_student_samples=on_s)
    torch.testing.assert_close(tvd, 0.5 * total_variation(*on_s) + 0.5 * total_variation(*on_t))
    torch.testing.assert_close(f_distill_loss("kl", on_teacher_samples=on_t), forward_kl(*on_t))
    torch.testing.assert_close(f_distill_loss("rkl", on_student_samples=on_s), reverse_kl(*on_s))
    torch.testing.assert_close(f_distill_loss("js", on_teacher_samples=on_t, beta=0.4), jensen_shannon(*on_t, beta=0.4))


@pytest.mark.parametrize("divergence", ["kl", "rkl", "js", "tvd"])
def test_f_distill_gradient_accumulation_invariance(divergence, logits):
    """Two micro-batches with num_items over both give the loss of the whole batch."""
    student, teacher = logits
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    sets = {"kl": ("teacher",), "rkl": ("student",), "js": ("teacher", "student"), "tvd": ("teacher", "student")}[divergence]

    def loss(rows, num_items=None):
        kwargs = {f"on_{s}_samples": (student[rows], teacher[rows], mask[rows]) for s in sets}
        return f_distill_loss(divergence, beta=0.5, num_items=num_items, **kwargs)

    n = int(mask.sum())
    whole = loss(slice(0, 2))
    parts = loss(slice(0, 1), {s: n for s in sets}) + loss(slice(1, 2), {s: n for s in sets})
    torch.testing.assert_close(whole, parts)


def test_f_distill_bad_arguments(logits):
    student, teacher = logits
    on = (student, teacher, None)
    with pytest.raises(ValueError, match="Unknown divergence"):
        f_distill_loss("hellinger", on_teacher_samples=on)
    with pytest.raises(ValueError, match="needs"):
        f_distill_loss("kl")
    with pytest.raises(ValueError, match="one set"):
        f_distill_loss("kl", on_teacher_samples=on, on_student_samples=on)
    for beta in (0.0, 1.0, 1.2):
        with pytest.raises(ValueError, match="beta"):
            f_distill_loss("js", on_teacher_samples=on, beta=beta)
