import pytest
import torch
import torch.nn.functional as F

from lexkd.losses import (
    DIVERGENCES,
    forward_kl,
    get_divergence,
    jensen_shannon,
    kl_divergence_from_probs,
    multi_teacher_mlm_loss,
    reverse_kl,
    total_variation,
)


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 5, 11, generator=g) * 2, torch.randn(3, 5, 11, generator=g) * 2


@pytest.mark.parametrize("name", list(DIVERGENCES))
def test_zero_for_identical_distributions(name, logits):
    student, _ = logits
    assert get_divergence(name)(student, student.clone()).abs() < 1e-6


@pytest.mark.parametrize("name", list(DIVERGENCES))
def test_positive_for_different_distributions(name, logits):
    student, teacher = logits
    assert get_divergence(name)(student, teacher) > 1e-3


def test_forward_kl_matches_f_kl_div(logits):
    student, teacher = logits
    t = 2.0
    expected = F.kl_div(  # KL(teacher || student): input = student log-probs, target = teacher probs
        F.log_softmax(student / t, -1).reshape(-1, 11), F.softmax(teacher / t, -1).reshape(-1, 11), reduction="batchmean"
    )
    assert torch.allclose(forward_kl(student, teacher, temperature=t), expected, atol=1e-6)


def test_reverse_kl_is_forward_kl_with_roles_swapped(logits):
    student, teacher = logits
    assert torch.allclose(reverse_kl(student, teacher), forward_kl(teacher, student), atol=1e-6)
    assert not torch.allclose(reverse_kl(student, teacher), forward_kl(student, teacher), atol=1e-3)


def test_js_symmetric_at_half_and_limits(logits):
    student, teacher = logits
    assert torch.allclose(jensen_shannon(student, teacher), jensen_shannon(teacher, student), atol=1e-6)
    assert jensen_shannon(student, teacher, beta=0.0) == 0 and jensen_shannon(student, teacher, beta=1.0) == 0
    # JS_beta / (beta (1 - beta)) -> KL(student || teacher) as beta -> 0 and KL(teacher || student) as beta -> 1.
    beta = 1e-4
    assert torch.allclose(jensen_shannon(student, teacher, beta=beta) / (beta * (1 - beta)), reverse_kl(student, teacher), rtol=1e-2)
    beta = 1 - 1e-4
    assert torch.allclose(jensen_shannon(student, teacher, beta=beta) / (beta * (1 - beta)), forward_kl(student, teacher), rtol=1e-2)
    with pytest.raises(ValueError, match="beta"):
        jensen_shannon(student, teacher, beta=1.5)


def test_tvd_symmetric_and_bounded(logits):
    student, teacher = logits
    value = total_variation(student, teacher, reduction="none")
    assert torch.allclose(value, total_variation(teacher, student, reduction="none"))
    assert (value >= 0).all() and (value <= 1).all()


def test_mask_and_reductions(logits):
    student, teacher = logits
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[0, 1] = mask[2, 4] = True
    per = forward_kl(student, teacher, reduction="none")
    assert per.shape == (3, 5)
    expected = (per[0, 1] + per[2, 4]) / 2
    assert torch.allclose(forward_kl(student, teacher, mask), expected)
    assert torch.allclose(forward_kl(student, teacher, mask, reduction="sum"), per[0, 1] + per[2, 4])
    # Unmasked positions do not count: changing them changes nothing.
    changed = teacher.clone()
    changed[1] += 5
    assert torch.allclose(forward_kl(student, changed, mask), expected)


def test_gradient_accumulation_invariance(logits):
    """Two half-batches divided by the total count give the full-batch loss and gradient."""
    student, teacher = logits
    mask = torch.rand(3, 5, generator=torch.Generator().manual_seed(1)) > 0.4
    full_s = student.clone().requires_grad_()
    forward_kl(full_s, teacher, mask).backward()
    acc_s = student.clone().requires_grad_()
    n = mask.sum()
    total = sum(forward_kl(acc_s[i : i + 1], teacher[i : i + 1], mask[i : i + 1], num_items_in_batch=n) for i in range(3))
    total.backward()
    assert torch.allclose(total, forward_kl(student, teacher, mask))
    assert torch.allclose(full_s.grad, acc_s.grad, atol=1e-7)


def test_bad_arguments(logits):
    student, teacher = logits
    with pytest.raises(ValueError, match="temperature"):
        forward_kl(student, teacher, temperature=0)
    with pytest.raises(ValueError, match="reduction"):
        forward_kl(student, teacher, reduction="mean")
    with pytest.raises(ValueError, match="valid divergences"):
        get_divergence("hellinger")


def test_kl_from_probs_matches_kl_div_and_zero_at_target():
    g = torch.Generator().manual_seed(2)
    student = torch.randn(7, 13, generator=g)
    target = torch.softmax(torch.randn(7, 13, generator=g), -1)
    expected = F.kl_div(F.log_softmax(student / 3, -1), target, reduction="batchmean")  # KL(target || student)
    assert torch.allclose(kl_divergence_from_probs(student, target, temperature=3.0), expected, atol=1e-6)
    # Zero when the student's tempered distribution equals the target.
    assert kl_divergence_from_probs(target.log() * 3.0, target, temperature=3.0).abs() < 1e-5


def test_multi_teacher_loss_formula():
    g = torch.Generator().manual_seed(3)
    student = torch.randn(2, 4, 9, generator=g)
    target = torch.softmax(torch.randn(2, 4, 9, generator=g), -1)
    labels = torch.tensor([[-100, 3, -100, 5], [1, -100, -100, -100]])
    mask = labels != -100
    alpha, t = 0.3, 2.0
    loss, parts = multi_teacher_mlm_loss(student, target, labels, alpha=alpha, temperature=t)
    kd = F.kl_div(F.log_softmax(student[mask] / t, -1), target[mask], reduction="batchmean")
    ce = F.cross_entropy(student[mask], labels[mask])
    assert torch.allclose(loss, alpha * t * t * kd + (1 - alpha) * ce, atol=1e-6)
    assert torch.allclose(parts["mlm_loss"], ce) and torch.allclose(parts["kd_loss"], kd, atol=1e-6)
    # alpha = 0 is plain MLM and needs no target.
    loss0, _ = multi_teacher_mlm_loss(student, None, labels, alpha=0.0, temperature=t)
    assert torch.allclose(loss0, ce)
    with pytest.raises(ValueError, match="alpha"):
        multi_teacher_mlm_loss(student, target, labels, alpha=1.2, temperature=t)
    with pytest.raises(ValueError, match="target_probs"):
        multi_teacher_mlm_loss(student, None, labels, alpha=0.5, temperature=t)
