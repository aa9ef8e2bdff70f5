"""Hidden-state distillation loss: identities (zero for equal states, reference formulas, accumulation invariance)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lexkd.losses import HiddenStateProjector, hidden_state_loss, uniform_layer_map


def states(seed, shape=(3, 5, 8)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("distance", ["cosine", "mse"])
def test_zero_when_the_student_equals_the_teacher(distance):
    h = states(0)
    assert float(hidden_state_loss(h, h.clone(), distance=distance)) == pytest.approx(0.0, abs=1e-6)
    assert float(hidden_state_loss(h, states(1), distance=distance)) > 0.1


def test_matches_the_reference_formulas_over_kept_positions():
    s, t = states(0), states(1)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[0, 3:] = False  # padding
    cosine = (1 - F.cosine_similarity(s, t, dim=-1))[mask].mean()
    mse = ((s - t) ** 2).mean(-1)[mask].mean()
    assert torch.allclose(hidden_state_loss(s, t, mask), cosine)
    assert torch.allclose(hidden_state_loss(s, t, mask, distance="mse"), mse)
    # cosine is scale-free (DistilBERT's choice), MSE is not
    assert torch.allclose(hidden_state_loss(3 * s, t, mask), cosine)
    assert not torch.allclose(hidden_state_loss(3 * s, t, mask, distance="mse"), mse)


@pytest.mark.parametrize("distance", ["cosine", "mse"])
def test_gradient_accumulation_leaves_loss_and_gradient_unchanged(distance):
    s, t = states(0, (4, 6, 8)), states(1, (4, 6, 8))
    mask = torch.rand(4, 6, generator=torch.Generator().manual_seed(2)) > 0.3
    whole = s.clone().requires_grad_()
    hidden_state_loss(whole, t, mask, distance=distance).backward()
    parts = s.clone().requires_grad_()
    total = mask.sum()
    loss = sum(hidden_state_loss(parts[i:i + 2], t[i:i + 2], mask[i:i + 2], distance=distance, num_items_in_batch=total)
               for i in (0, 2))
    loss.backward()
    assert torch.allclose(loss, hidden_state_loss(s, t, mask, distance=distance), atol=1e-6)
    assert torch.allclose(parts.grad, whole.grad, atol=1e-7)
    assert float(t.sum()) == float(states(1, (4, 6, 8)).sum())  # the teacher's states are left alone


def test_projector_learns_a_map_only_when_widths_differ_and_sums_over_the_layer_map():
    student = [states(i, (2, 4, 6)) for i in range(3)]   # embeddings + 2 layers, width 6
    teacher = [states(10 + i, (2, 4, 8)) for i in range(5)]  # embeddings + 4 layers, width 8
    layer_map = uniform_layer_map(2, 4)
    assert layer_map == [(1, 2), (2, 4)]
    projector = HiddenStateProjector(layer_map, 6, 8)
    assert [type(m).__name__ for m in projector.maps] == ["Linear", "Linear"]
    expected = sum(hidden_state_loss(m(student[s]), teacher[t]) for (s, t), m in zip(layer_map, projector.maps, strict=True))
    assert torch.allclose(projector(student, teacher), expected)
    same = HiddenStateProjector([(1, 1)], 8, 8)
    assert sum(p.numel() for p in same.parameters()) == 0
    assert float(same([teacher[1], teacher[1]], teacher)) == pytest.approx(0.0, abs=1e-6)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="valid: cosine, mse"):
        hidden_state_loss(states(0), states(1), distance="l1")
    with pytest.raises(ValueError, match="HiddenStateProjector"):
        hidden_state_loss(states(0), states(1, (3, 5, 4)))
    with pytest.raises(ValueError, match="empty"):
        HiddenStateProjector([], 4, 4)
    with pytest.raises(ValueError, match=r"\(3, 1\) outside"):
        HiddenStateProjector([(3, 1)], 8, 8)([states(0)] * 2, [states(0)] * 2)
    with pytest.raises(ValueError, match="student layers"):
        uniform_layer_map(6, 3)
