"""Offline teacher targets: the top-k loss, building/loading caches, and training from one."""

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_texts, save_tiny_bert
from transformers import DataCollatorForLanguageModeling

from lexkd.data.tokenization import tokenize_texts, train_wordpiece_tokenizer
from lexkd.losses import kl_divergence_from_probs, multi_teacher_mlm_loss, sparse_kl_divergence
from lexkd.mlm.cache import (
    BUILD_NAME,
    META_NAME,
    TeacherCacheError,
    build_teacher_cache,
    mask_sequence,
)
from lexkd.mlm.cache_reader import CachedTargetCollator, check_cache_settings, load_teacher_cache
from lexkd.mlm.teachers import load_teachers, teacher_targets
from lexkd.mlm.trainer import (
    CACHED_TARGET_KEYS,
    DistillationArguments,
    MultiTeacherDistillationTrainer,
)
from lexkd.models.masked_lm import MaskedPositionMLM, build_student

# Settings of the module's cache: non-default temperatures, so that mix-ups show (a small weight
# temperature, because the tiny random teachers are almost equally (un)confident).
SETTINGS = dict(rule="entropy", temperature=2.0, weight_temperature=0.02, mlm_probability=0.15)
SHAPE = dict(num_maskings=2, masking_seed=0, batch_size=16, shard_size=40)


# ---------------------------------------------------------------------------------------------
# Reference values computed by hand, in float64


def dense_kl(z, q, temperature):
    """KL(q || softmax(z / T)) per row."""
    log_p = torch.log_softmax(z.double() / temperature, -1)
    q = q.double()
    return torch.where(q > 0, q * (q.clamp_min(1e-300).log() - log_p), torch.zeros_like(q)).sum(-1)


def coarse_kl(z, ids, q_top, tail, temperature):
    """KL between q and softmax(z / T) coarsened to the outcomes ``ids`` + one tail bucket, per row."""
    p = torch.softmax(z.double() / temperature, -1)
    p_top = p.gather(-1, ids)
    p_tail = p.scatter(-1, ids, 0.0).sum(-1)
    q_top, tail = q_top.double(), tail.double()
    return (q_top * (q_top / p_top).log()).sum(-1) + torch.where(tail > 0, tail * (tail / p_tail).log(), 0.0)


def reduce(per_row, mask, reduction):
    per_row = torch.where(mask, per_row, torch.zeros_like(per_row))
    if reduction == "none":
        return per_row
    return per_row.sum() if reduction == "sum" else per_row.sum() / mask.sum()


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


def random_problem(rng, n=7, v=12):
    z = torch.randn(n, v, generator=rng) * 2
    q = torch.softmax(torch.randn(n, v, generator=rng) * 2, -1)
    mask = torch.tensor([True, False, True, True, False, True, True])[:n]
    return z, q, mask


def random_subsets(rng, n, v, k):
    """k distinct ids per row, in a random order."""
    return torch.argsort(torch.rand(n, v, generator=rng), dim=-1)[:, :k]


# ---------------------------------------------------------------------------------------------
# 1. The top-k loss


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
def test_sparse_kl_with_all_ids_equals_dense_kl(rng, temperature, reduction):
    z, q, mask = random_problem(rng)
    ids = random_subsets(rng, *z.shape, z.shape[1])  # k = V, permuted
    sparse = sparse_kl_divergence(z, ids, q.gather(-1, ids), mask=mask, temperature=temperature, reduction=reduction)
    dense = kl_divergence_from_probs(z, q, mask, temperature=temperature, reduction=reduction)
    expected = reduce(dense_kl(z, q, temperature), mask, reduction)
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=0)
    torch.testing.assert_close(sparse.double(), expected, atol=1e-5, rtol=0)
    # A rounding residue passed as tail mass is ignored when there is no tail.
    with_tail = sparse_kl_divergence(z, ids, q.gather(-1, ids), torch.full((z.shape[0],), 1e-3), mask,
                                     temperature=temperature, reduction=reduction)
    torch.testing.assert_close(with_tail, sparse, atol=1e-7, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sparse_kl_gradient_with_all_ids_equals_dense_gradient(rng, temperature):
    z, q, mask = random_problem(rng)
    ids = random_subsets(rng, *z.shape, z.shape[1])
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    sparse_kl_divergence(z1, ids, q.gather(-1, ids), mask=mask, temperature=temperature).backward()
    kl_divergence_from_probs(z2, q, mask, temperature=temperature).backward()
    assert z1.grad.abs().max() > 1e-3
    torch.testing.assert_close(z1.grad, z2.grad, atol=1e-6, rtol=0)
    assert torch.all(z1.grad[~mask] == 0)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
def test_sparse_kl_top_k_is_coarsened_kl_and_lower_bound(rng, temperature, reduction):
    z, q, mask = random_problem(rng)
    ids = random_subsets(rng, *z.shape, 4)
    q_top = q.gather(-1, ids)
    tail = 1.0 - q_top.sum(-1)
    expected = coarse_kl(z, ids, q_top, tail, temperature)
    for tail_mass in (tail, None):  # None: 1 - sum of the top-k
        got = sparse_kl_divergence(z, ids, q_top, tail_mass, mask, temperature=temperature, reduction=reduction)
        torch.testing.assert_close(got.double(), reduce(expected, mask, reduction), atol=1e-5, rtol=0)
    # Chain rule of KL: the coarsened KL never exceeds the dense one, and is below it here.
    per_row = sparse_kl_divergence(z, ids, q_top, tail, temperature=temperature, reduction="none")
    dense = kl_divergence_from_probs(z, q, temperature=temperature, reduction="none")
    assert torch.all(per_row <= dense + 1e-6)
    assert torch.all(per_row < dense - 1e-4)


def test_sparse_kl_top_k_gradient_matches_hand_computed_gradient(rng):
    z, q, mask = random_problem(rng)
    ids = random_subsets(rng, *z.shape, 3)
    q_top = q.gather(-1, ids)
    z1, z2 = z.clone().requires_grad_(), z.double().clone().requires_grad_()
    sparse_kl_divergence(z1, ids, q_top, 1.0 - q_top.sum(-1), mask, temperature=2.0).backward()
    reduce(coarse_kl(z2, ids, q_top, 1.0 - q_top.sum(-1), 2.0), mask, "batchmean").backward()
    torch.testing.assert_close(z1.grad.double(), z2.grad, atol=1e-6, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sparse_kl_is_exact_when_tails_have_the_same_shape(rng, temperature):
    z, _, mask = random_problem(rng)
    n, v, k = *z.shape, 4
    ids = random_subsets(rng, n, v, k)
    p = torch.softmax(z.double() / temperature, -1)
    tail = torch.rand(n, generator=rng, dtype=torch.float64) * 0.4 + 0.1
    top = torch.rand(n, k, generator=rng, dtype=torch.float64) + 0.1
    top = top / top.sum(-1, keepdim=True) * (1 - tail).unsqueeze(-1)
    p_outside = p.scatter(-1, ids, 0.0)
    q = (p_outside / p_outside.sum(-1, keepdim=True) * tail.unsqueeze(-1)).scatter(-1, ids, top)  # tail ∝ student's
    torch.testing.assert_close(q.sum(-1), torch.ones(n, dtype=torch.float64))
    sparse = sparse_kl_divergence(z, ids, top.float(), tail.float(), mask, temperature=temperature)
    dense = kl_divergence_from_probs(z, q.float(), mask, temperature=temperature)
    assert dense > 1e-2
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sparse_kl_of_own_coarsened_distribution_is_zero(rng, temperature):
    z, _, _ = random_problem(rng)
    ids = random_subsets(rng, *z.shape, 5)
    p = torch.softmax(z / temperature, -1)
    tail = p.scatter(-1, ids, 0.0).sum(-1)
    per_row = sparse_kl_divergence(z, ids, p.gather(-1, ids), tail, temperature=temperature, reduction="none")
    torch.testing.assert_close(per_row, torch.zeros_like(per_row), atol=1e-6, rtol=0)
    other = sparse_kl_divergence(z + torch.randn(z.shape, generator=rng), ids, p.gather(-1, ids), tail,
                                 temperature=temperature, reduction="none")
    assert torch.all(other > 1e-4)


def test_multi_teacher_loss_with_top_k_target(rng):
    z, q, _ = random_problem(rng)
    labels = torch.tensor([3, -100, 0, 11, -100, 7, 5])
    ids = q.topk(5, dim=-1).indices
    q_top = q.gather(-1, ids)
    tail = 1.0 - q_top.sum(-1)
    alpha, temperature = 0.3, 2.0
    loss, parts = multi_teacher_mlm_loss(z, q_top, labels, alpha=alpha, temperature=temperature,
                                         target_ids=ids, tail_mass=tail)
    kept = labels != -100
    kd = coarse_kl(z, ids, q_top, tail, temperature)[kept].mean()
    ce = -torch.log_softmax(z.double(), -1)[kept].gather(-1, labels[kept].unsqueeze(-1)).mean()
    torch.testing.assert_close(parts["kd_loss"].double(), kd, atol=1e-5, rtol=0)
    torch.testing.assert_close(parts["mlm_loss"].double(), ce, atol=1e-5, rtol=0)
    torch.testing.assert_close(loss.double(), alpha * temperature**2 * kd + (1 - alpha) * ce, atol=1e-5, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_multi_teacher_loss_with_top_k_target_at_each_temperature(rng, temperature):
    # T = 1 takes the path that shares one log-softmax between the two terms.
    z, q, _ = random_problem(rng)
    labels = torch.tensor([3, -100, 0, 11, -100, 7, 5])
    ids = q.topk(5, dim=-1).indices
    q_top = q.gather(-1, ids)
    tail = 1.0 - q_top.sum(-1)
    z = z.clone().requires_grad_(True)
    loss, _ = multi_teacher_mlm_loss(z, q_top, labels, alpha=0.5, temperature=temperature, target_ids=ids, tail_mass=tail,
                                     num_items_in_batch=9)
    kept = labels != -100
    kd = coarse_kl(z, ids, q_top, tail, temperature)[kept].sum() / 9
    ce = -torch.log_softmax(z.double(), -1)[kept].gather(-1, labels[kept].unsqueeze(-1)).sum() / 9
    expected = 0.5 * temperature**2 * kd + 0.5 * ce
    torch.testing.assert_close(loss.double(), expected, atol=1e-5, rtol=0)
    (grad,) = torch.autograd.grad(loss, z)
    (expected_grad,) = torch.autograd.grad(expected, z)
    torch.testing.assert_close(grad.double(), expected_grad.double(), atol=1e-5, rtol=0)


def test_sparse_kl_with_a_peaked_student_uses_the_exact_tail(rng):
    # The student puts almost all its mass on K: 1 - sum_K p underflows in float32 arithmetic,
    # and the tail log-probability must come from the tail logits themselves.
    z, q, _ = random_problem(rng)
    ids = q.topk(5, dim=-1).indices
    z = z.scatter(-1, ids, 30.0)  # p_tail ~ exp(-30) * V
    q_top = q.gather(-1, ids)
    tail = 1.0 - q_top.sum(-1)
    got = sparse_kl_divergence(z, ids, q_top, tail, reduction="none")
    torch.testing.assert_close(got.double(), coarse_kl(z, ids, q_top, tail, 1.0), atol=1e-4, rtol=1e-5)


def test_sparse_kl_gradient_with_a_peaked_student_matches_float64_reference(rng):
    # Peaked rows (p_tail < 1e-4) take the exact tail in the closed-form backward too; the
    # others the tail from 1 - sum_K p. Both against autograd through the float64 reference.
    z, q, mask = random_problem(rng)
    ids = q.topk(5, dim=-1).indices
    z = z.clone()
    z[::2] = z[::2].scatter(-1, ids[::2], 12.0)  # rows 0, 2, 4, 6: p_tail ~ 1e-5
    q_top = q.gather(-1, ids)
    tail = 1.0 - q_top.sum(-1)
    z1, z2 = z.clone().requires_grad_(), z.double().clone().requires_grad_()
    sparse_kl_divergence(z1, ids, q_top, tail, mask).backward()
    reduce(coarse_kl(z2, ids, q_top, tail, 1.0), mask, "batchmean").backward()
    assert z1.grad.abs().max() > 1e-2
    torch.testing.assert_close(z1.grad.double(), z2.grad, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("peaked", [False, True])
def test_closed_form_backward_passes_gradcheck(rng, peaked):
    # The fused gold cross-entropy + top-k KL against finite differences, in float64, with
    # ignored labels, gold ids inside and outside K, and a zero tail mass on one row.
    from lexkd.losses import _SparseDistillationLoss

    n, v, k = 6, 10, 3
    z = torch.randn(n, v, generator=rng, dtype=torch.float64)
    ids = random_subsets(rng, n, v, k)
    if peaked:
        z = z.scatter(-1, ids, 9.0)
    q_top = torch.softmax(torch.randn(n, k, generator=rng, dtype=torch.float64), -1) * 0.8
    tail = 1.0 - q_top.sum(-1)
    tail[1] = 0.0
    labels = torch.tensor([ids[0, 1].item(), -100, 4, ids[3, 0].item(), 7, -100])
    weights = torch.rand(2, n, generator=rng, dtype=torch.float64)

    def loss(logits):
        ce, kl = _SparseDistillationLoss.apply(logits, labels, ids, q_top, tail)
        return (weights[0] * ce + weights[1] * kl).sum()

    assert torch.autograd.gradcheck(loss, (z.clone().requires_grad_(),), eps=1e-6, atol=1e-6)


def test_gold_only_loss_equals_cross_entropy_in_value_and_gradient(rng):
    # alpha = 0 (the floor, the gold-only baseline) runs the closed-form backward with no target.
    z, _, _ = random_problem(rng)
    labels = torch.tensor([3, -100, 0, 11, -100, 7, 5])
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    loss, parts = multi_teacher_mlm_loss(z1, None, labels, alpha=0.0, temperature=1.0, num_items_in_batch=9)
    expected = torch.nn.functional.cross_entropy(z2, labels, ignore_index=-100, reduction="sum") / 9
    torch.testing.assert_close(loss, expected, atol=1e-6, rtol=0)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(z1.grad, z2.grad, atol=1e-7, rtol=0)
    assert torch.all(z1.grad[labels == -100] == 0)


def test_closed_form_backward_returns_the_logits_dtype(rng):
    z, q, _ = random_problem(rng)
    ids = q.topk(4, dim=-1).indices
    labels = torch.tensor([3, -100, 0, 11, -100, 7, 5])
    z16 = z.to(torch.bfloat16).requires_grad_()
    loss, _ = multi_teacher_mlm_loss(z16, q.gather(-1, ids), labels, alpha=0.5, temperature=1.0, target_ids=ids)
    loss.backward()
    assert z16.grad.dtype == torch.bfloat16 and torch.isfinite(z16.grad.float()).all()


def test_sparse_kl_rejects_bad_shapes(rng):
    z, q, _ = random_problem(rng)
    n, v = z.shape
    too_many = torch.arange(v + 1).expand(n, -1)
    with pytest.raises(ValueError, match="exceeds the vocabulary"):
        sparse_kl_divergence(z, too_many, torch.full((n, v + 1), 1.0 / (v + 1)))
    ids = q.topk(4, dim=-1).indices
    with pytest.raises(ValueError, match="share"):
        sparse_kl_divergence(z, ids, q.gather(-1, ids)[:, :3])
    with pytest.raises(ValueError, match="share"):
        sparse_kl_divergence(z, ids[:-1], q.gather(-1, ids)[:-1])


# ---------------------------------------------------------------------------------------------
# Fixtures: two tiny teachers, the corpus, one cache


@pytest.fixture(scope="module")
def teachers(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("teachers")
    return load_teachers([str(save_tiny_bert(root / f"t{i}" / "model", tokenizer, seed=i)) for i in (1, 2)])


@pytest.fixture(scope="module")
def dataset(texts, tokenizer):
    return tokenize_texts(texts, tokenizer, max_seq_length=32)


@pytest.fixture(scope="module")
def cache_path(tmp_path_factory, teachers, tokenizer, dataset):
    path = tmp_path_factory.mktemp("cache") / "cache"
    build_teacher_cache(teachers, tokenizer, dataset, path, top_k=len(tokenizer), **SETTINGS, **SHAPE)
    return path


@pytest.fixture(scope="module")
def loaded(cache_path):
    return load_teacher_cache(cache_path)


def build(teachers, tokenizer, dataset, path, **changes):
    values = dict(top_k=len(tokenizer), **SETTINGS, **SHAPE)
    values.update(changes)
    return build_teacher_cache(teachers, tokenizer, dataset, path, **values)


def rows_by_key(data):
    return {(int(row["masking"]), int(row["sequence_index"])): row for row in data}


def collate(tokenizer, meta, rows):
    return CachedTargetCollator(tokenizer, top_k=meta["config"]["top_k"], num_teachers=len(meta["config"]["teachers"]))(rows)


def make_masker(tokenizer):
    masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=SETTINGS["mlm_probability"])
    masker.generator = torch.Generator()
    return masker


def file_stats(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


# ---------------------------------------------------------------------------------------------
# 2. Round trip


def test_cached_targets_equal_online_teacher_targets(loaded, teachers, tokenizer):
    data, meta = loaded
    rows = [data[i] for i in range(0, len(data), 19)]  # both maskings
    batch = collate(tokenizer, meta, rows)
    n = int((batch["labels"] != -100).sum())
    assert batch["target_ids"].shape == (n, len(tokenizer)) and batch["teacher_weights"].shape == (2, n) and n > 20
    q, weights = teacher_targets(teachers, batch, rule=SETTINGS["rule"], temperature=SETTINGS["temperature"],
                                 weight_temperature=SETTINGS["weight_temperature"])
    dense = torch.zeros_like(q).scatter(-1, batch["target_ids"], batch["target_probs"])
    torch.testing.assert_close(dense, q, atol=1e-3, rtol=0)
    torch.testing.assert_close(batch["teacher_weights"], weights, atol=1e-3, rtol=0)
    assert weights.std() > 1e-3  # the weights are not all 1/2: the comparison sees the rule
    torch.testing.assert_close(batch["target_probs"].sum(-1) + batch["tail_mass"], torch.ones(n))


def test_top_k_cache_keeps_the_k_most_probable_tokens(tmp_path, teachers, tokenizer, dataset):
    small = dataset.select(range(12))
    build(teachers, tokenizer, small, tmp_path / "c", top_k=5, num_maskings=1)
    data, meta = load_teacher_cache(tmp_path / "c")
    batch = collate(tokenizer, meta, list(data))
    q, _ = teacher_targets(teachers, batch, rule=SETTINGS["rule"], temperature=SETTINGS["temperature"],
                           weight_temperature=SETTINGS["weight_temperature"])
    top = q.topk(5, dim=-1)
    assert batch["target_ids"].shape == (q.shape[0], 5)
    torch.testing.assert_close(batch["target_probs"].sort(-1).values, top.values.sort(-1).values, atol=1e-3, rtol=0)
    torch.testing.assert_close(q.gather(-1, batch["target_ids"]), batch["target_probs"], atol=1e-3, rtol=0)
    torch.testing.assert_close(batch["tail_mass"], 1.0 - top.values.sum(-1), atol=1e-5, rtol=0)
    assert batch["tail_mass"].min() > 0.05


def test_cached_rows_hold_gold_labels_and_their_masking(loaded, dataset, tokenizer):
    data, meta = loaded
    masker = make_masker(tokenizer)
    picked = [data[i] for i in (0, 1, 57, len(dataset) + 3, len(data) - 1)]
    batch = collate(tokenizer, meta, picked)
    for i, row in enumerate(picked):
        masking, index = int(row["masking"]), int(row["sequence_index"])
        original = torch.tensor(dataset[index]["input_ids"])
        special = torch.tensor(dataset[index]["special_tokens_mask"], dtype=torch.bool)
        expected_inputs, expected_labels = mask_sequence(masker, dataset[index]["input_ids"],
                                                         dataset[index]["special_tokens_mask"], seed=0,
                                                         masking=masking, index=index)
        masked = batch["labels"][i] != -100
        assert masked.any()
        assert torch.equal(batch["input_ids"][i], expected_inputs)
        assert torch.equal(batch["labels"][i], expected_labels)
        assert torch.equal(batch["labels"][i][masked], original[masked])  # gold ids
        assert torch.equal(batch["input_ids"][i][~masked], original[~masked])
        assert not (masked & special).any()
        assert (batch["input_ids"][i][masked] == tokenizer.mask_token_id).any()


def test_every_sequence_is_masked_num_maskings_times_differently(loaded, dataset, tokenizer):
    data, meta = loaded
    assert len(data) == SHAPE["num_maskings"] * len(dataset) == meta["totals"]["rows"]
    rows = rows_by_key(data)
    assert set(rows) == {(m, s) for m in range(SHAPE["num_maskings"]) for s in range(len(dataset))}
    for s in range(len(dataset)):
        assert not np.array_equal(rows[0, s]["input_ids"], rows[1, s]["input_ids"])
    patterns = {tuple(rows[0, s]["masked_positions"].tolist()) for s in range(len(dataset))}
    assert len(patterns) > 0.9 * len(dataset)  # and the sequences of one masking differ from each other
    masked = sum(len(row["masked_positions"]) for row in rows.values())
    maskable = SHAPE["num_maskings"] * sum(len(x) - sum(m) for x, m in zip(dataset["input_ids"], dataset["special_tokens_mask"], strict=True))
    assert 0.10 < masked / maskable < 0.20


def test_masks_do_not_depend_on_batch_or_shard_size(tmp_path, loaded, teachers, tokenizer, dataset):
    small = dataset.select(range(24))
    build(teachers, tokenizer, small, tmp_path / "a", batch_size=16, shard_size=10)
    build(teachers, tokenizer, small, tmp_path / "b", batch_size=5, shard_size=24)
    (a, meta_a), (b, _) = load_teacher_cache(tmp_path / "a"), load_teacher_cache(tmp_path / "b")
    assert len(meta_a["shards"]) == 2 * 3
    full = rows_by_key(loaded[0])
    rows_a, rows_b = rows_by_key(a), rows_by_key(b)
    assert set(rows_a) == set(rows_b) == {(m, s) for m in range(2) for s in range(24)}
    for key, row in rows_a.items():
        for other in (rows_b[key], full[key]):  # the module cache has other shards over the whole corpus
            for column in ("input_ids", "masked_positions", "gold_ids"):
                assert np.array_equal(row[column], other[column]), (key, column)
    batch_a = collate(tokenizer, meta_a, [rows_a[k] for k in sorted(rows_a)])
    batch_b = collate(tokenizer, meta_a, [rows_b[k] for k in sorted(rows_a)])
    dense_a = torch.zeros(batch_a["target_ids"].shape).scatter(-1, batch_a["target_ids"], batch_a["target_probs"])
    dense_b = torch.zeros(batch_b["target_ids"].shape).scatter(-1, batch_b["target_ids"], batch_b["target_probs"])
    torch.testing.assert_close(dense_a, dense_b, atol=1e-3, rtol=0)


def test_meta_totals_match_the_shards(loaded, cache_path, dataset, tokenizer):
    data, meta = loaded
    blocks = math.ceil(len(dataset) / SHAPE["shard_size"])
    names = [f"m{m:02d}-{b:05d}" for m in range(SHAPE["num_maskings"]) for b in range(blocks)]
    assert [s["name"] for s in meta["shards"]] == names
    assert sorted(p.name for p in (cache_path / "shards").iterdir()) == names
    on_disk = 0
    for shard in meta["shards"]:
        folder = cache_path / "shards" / shard["name"]
        files = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
        assert shard["files"] == files
        on_disk += sum(files.values())
        block = int(shard["name"][-5:])
        assert shard["rows"] == min(SHAPE["shard_size"], len(dataset) - block * SHAPE["shard_size"])
    masked = sum(len(row["gold_ids"]) for row in data)
    totals = meta["totals"]
    assert totals["rows"] == len(data) == sum(s["rows"] for s in meta["shards"])
    assert totals["masked_positions"] == masked == sum(s["masked_positions"] for s in meta["shards"])
    assert totals["bytes"] == on_disk
    assert totals["dense_fp16_bytes"] == masked * len(tokenizer) * 2
    for row in (data[0], data[len(data) - 1]):
        n = len(row["masked_positions"])
        assert len(row["target_ids"]) == len(row["target_probs"]) == n * len(tokenizer)
        assert len(row["tail_mass"]) == n and len(row["teacher_weights"]) == 2 * n
    assert meta["config"]["num_sequences"] == len(dataset) and meta["config"]["vocab_size"] == len(tokenizer)


def test_rebuilding_the_same_cache_reuses_it(cache_path, loaded, teachers, tokenizer, dataset):
    before = file_stats(cache_path)
    meta = build(teachers, tokenizer, dataset, cache_path)
    assert meta == loaded[1]
    assert file_stats(cache_path) == before


# ---------------------------------------------------------------------------------------------
# 3. Settings that do not match


@pytest.fixture(scope="module")
def other_tokenizer():
    return train_wordpiece_tokenizer(make_texts(seed=5), vocab_size=60, min_frequency=1)


@pytest.mark.parametrize(("change", "name"), [
    ({"rule": "uniform"}, "weighting"),
    ({"temperature": 1.0}, "temperature"),
    ({"weight_temperature": 1.0}, "weight_temperature"),
    ({"mlm_probability": 0.2}, "mlm_probability"),
    ({"tokenizer": "other"}, "tokenizer"),
])
def test_check_cache_settings_names_the_differing_setting(loaded, tokenizer, other_tokenizer, change, name):
    meta = loaded[1]
    check_cache_settings(meta, tokenizer=tokenizer, **SETTINGS)  # the cache's own settings pass
    values = {**SETTINGS, "tokenizer": tokenizer, **change}
    if values["tokenizer"] == "other":
        values["tokenizer"] = other_tokenizer
    with pytest.raises(TeacherCacheError, match=rf"\b{name}: cache") as error:
        check_cache_settings(meta, path="the/cache", **values)
    assert "the/cache" in str(error.value)
    assert str(error.value).count(": cache ") == 1  # only the differing setting is named


def test_build_refuses_a_complete_cache_with_other_settings(tmp_path, teachers, tokenizer, dataset):
    small, path = dataset.select(range(6)), tmp_path / "c"
    build(teachers, tokenizer, small, path)
    before = file_stats(path)
    with pytest.raises(TeacherCacheError, match="weighting"):
        build(teachers, tokenizer, small, path, rule="uniform")
    with pytest.raises(TeacherCacheError, match="top_k"):
        build(teachers, tokenizer, small, path, top_k=3)
    assert file_stats(path) == before
    meta = build(teachers, tokenizer, small, path, rule="uniform", overwrite=True)
    assert meta["config"]["weighting"] == "uniform"
    assert load_teacher_cache(path)[1] == meta


def test_build_refuses_an_interrupted_build_of_another_cache(tmp_path, teachers, tokenizer, dataset):
    small, path = dataset.select(range(6)), tmp_path / "c"
    build(teachers, tokenizer, small, path)
    (path / META_NAME).unlink()
    with pytest.raises(TeacherCacheError, match="interrupted.*temperature"):
        build(teachers, tokenizer, small, path, temperature=3.0)
    assert build(teachers, tokenizer, small, path, temperature=3.0, overwrite=True)["config"]["temperature"] == 3.0


@pytest.mark.parametrize("overwrite", [False, True])
def test_build_refuses_a_folder_that_is_not_a_cache(tmp_path, teachers, tokenizer, dataset, overwrite):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(TeacherCacheError, match="not a teacher cache"):
        build(teachers, tokenizer, dataset.select(range(4)), tmp_path / "c", overwrite=overwrite)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("top_k", [0, "vocab+1"])
def test_build_rejects_top_k_outside_the_vocabulary(tmp_path, teachers, tokenizer, dataset, top_k):
    top_k = len(tokenizer) + 1 if top_k == "vocab+1" else top_k
    with pytest.raises(ValueError, match="top_k"):
        build(teachers, tokenizer, dataset.select(range(4)), tmp_path / "c", top_k=top_k)
    assert not (tmp_path / "c").exists()


def test_build_rejects_an_empty_dataset(tmp_path, teachers, tokenizer, dataset):
    with pytest.raises(ValueError, match="no training sequence"):
        build(teachers, tokenizer, dataset.select([]), tmp_path / "c")
    assert not (tmp_path / "c").exists()


# ---------------------------------------------------------------------------------------------
# 4. Interrupted and damaged caches


def interrupt(path: Path, missing: str) -> Path:
    """Make ``path`` look like a build killed while writing shard ``missing``."""
    (path / META_NAME).unlink()
    shutil.rmtree(path / "shards" / missing)
    tmp = path / "shards" / f".tmp-{missing}-12345"
    tmp.mkdir()
    (tmp / "data-00000-of-00001.arrow").write_bytes(b"half written")
    return tmp


def assert_same_rows(data, reference):
    assert len(data) == len(reference)
    assert data.column_names == reference.column_names
    for i in range(len(reference)):
        got, want = data[i], reference[i]
        for column in reference.column_names:
            assert np.array_equal(got[column], want[column]), (i, column)


def test_interrupted_build_is_refused_then_resumed(tmp_path, cache_path, loaded, teachers, tokenizer, dataset):
    path = tmp_path / "c"
    shutil.copytree(cache_path, path)
    tmp = interrupt(path, "m01-00001")
    with pytest.raises(TeacherCacheError, match="incomplete"):
        load_teacher_cache(path)
    kept = {p.name: file_stats(p) | {".": (p.stat().st_ino, p.stat().st_mtime_ns)}
            for p in (path / "shards").iterdir() if not p.name.startswith(".")}
    assert len(kept) == 5
    build(teachers, tokenizer, dataset, path)
    assert not tmp.exists() and not list((path / "shards").glob(".tmp-*"))
    for name, stats in kept.items():
        folder = path / "shards" / name
        assert file_stats(folder) | {".": (folder.stat().st_ino, folder.stat().st_mtime_ns)} == stats, name
    data, meta = load_teacher_cache(path)
    assert meta["totals"]["rows"] == loaded[1]["totals"]["rows"]
    assert meta["totals"]["masked_positions"] == loaded[1]["totals"]["masked_positions"]
    assert_same_rows(data, loaded[0])


def test_resume_with_another_shard_size_is_refused(tmp_path, cache_path, teachers, tokenizer, dataset):
    path = tmp_path / "c"
    shutil.copytree(cache_path, path)
    interrupt(path, "m00-00002")  # sequences 80-105 of masking 0
    with pytest.raises(TeacherCacheError, match="shard_size"):
        build(teachers, tokenizer, dataset, path, shard_size=50)
    build(teachers, tokenizer, dataset, path)  # the recorded layout resumes
    data, _ = load_teacher_cache(path)
    assert sorted(rows_by_key(data)) == [(m, s) for m in range(2) for s in range(len(dataset))]


def test_truncated_shard_is_refused(tmp_path, cache_path):
    path = tmp_path / "c"
    shutil.copytree(cache_path, path)
    arrow = next((path / "shards" / "m00-00001").glob("*.arrow"))
    os.truncate(arrow, arrow.stat().st_size - 7)
    with pytest.raises(TeacherCacheError, match="m00-00001.*truncated"):
        load_teacher_cache(path)


def test_missing_shard_is_refused(tmp_path, cache_path):
    path = tmp_path / "c"
    shutil.copytree(cache_path, path)
    shutil.rmtree(path / "shards" / "m01-00002")
    with pytest.raises(TeacherCacheError, match="m01-00002.*missing"):
        load_teacher_cache(path)


@pytest.mark.parametrize("damage", ["zeros", "nan"])
def test_a_shard_changed_in_place_fails_its_checksum(tmp_path, cache_path, damage):
    """Same size, other bytes (issue 17 item 6: zeroed bytes crashed mid-run, NaN bytes trained a NaN model)."""
    path = tmp_path / "c"
    shutil.copytree(cache_path, path)
    arrow = next((path / "shards" / "m00-00001").glob("*.arrow"))
    data = bytearray(arrow.read_bytes())
    middle = len(data) // 2
    patch = bytes(4000) if damage == "zeros" else np.full(1000, np.nan, dtype=np.float32).tobytes()
    data[middle - 2000: middle + 2000] = patch[: len(data[middle - 2000: middle + 2000])]
    arrow.write_bytes(bytes(data))
    assert arrow.stat().st_size == len(data)
    with pytest.raises(TeacherCacheError, match=r"m00-00001 of the teacher cache .* is damaged: .*SHA-256.*again"):
        load_teacher_cache(path)


def test_building_again_rebuilds_only_the_damaged_or_missing_shards(tmp_path, cache_path, teachers, tokenizer, dataset):
    path = tmp_path / "c"
    shutil.copytree(cache_path, path)
    arrow = next((path / "shards" / "m00-00001").glob("*.arrow"))
    os.truncate(arrow, arrow.stat().st_size - 7)
    shutil.rmtree(path / "shards" / "m01-00002")
    intact = path / "shards" / "m00-00000"
    stamp = {p.name: p.stat().st_mtime_ns for p in intact.iterdir()}
    meta = build(teachers, tokenizer, dataset, path)
    assert {p.name: p.stat().st_mtime_ns for p in intact.iterdir()} == stamp  # kept as it was
    rebuilt, _ = load_teacher_cache(path)  # verifies every checksum
    original, original_meta = load_teacher_cache(cache_path)
    assert meta["totals"] == original_meta["totals"]
    for key in ("input_ids", "gold_ids", "target_ids", "target_probs"):
        assert all(np.array_equal(a, b) for a, b in zip(rebuilt[key], original[key], strict=True)), key


def test_missing_or_foreign_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_teacher_cache(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TeacherCacheError, match="not a teacher cache"):
        load_teacher_cache(tmp_path / "empty")
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / BUILD_NAME).write_text("{}")
    with pytest.raises(TeacherCacheError, match="incomplete"):
        load_teacher_cache(tmp_path / "started")


# ---------------------------------------------------------------------------------------------
# 5. Training from the cache


def distill_args(output_dir, **changes):
    values = dict(output_dir=str(output_dir), max_steps=3, per_device_train_batch_size=4, learning_rate=1e-3,
                  logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=0,
                  remove_unused_columns=False, alpha=0.5, weighting=SETTINGS["rule"],
                  temperature=SETTINGS["temperature"], weight_temperature=SETTINGS["weight_temperature"],
                  mlm_probability=SETTINGS["mlm_probability"])
    values.update(changes)
    return DistillationArguments(**values)


def student(tokenizer):
    return MaskedPositionMLM(build_student(len(tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2, seed=3))


def cached_trainer(tmp_path, tokenizer, loaded, model=None, **changes):
    data, meta = loaded
    return MultiTeacherDistillationTrainer(
        model=model if model is not None else student(tokenizer), args=distill_args(tmp_path / "run", **changes), train_dataset=data,
        data_collator=CachedTargetCollator(tokenizer, top_k=meta["config"]["top_k"], num_teachers=2),
        cached_teachers=["t1", "t2"])


def test_trainer_runs_from_the_cache(tmp_path, tokenizer, loaded):
    trainer = cached_trainer(tmp_path, tokenizer, loaded)
    before = trainer.model.model.bert.embeddings.word_embeddings.weight.detach().clone()
    trainer.train()
    assert trainer.state.global_step == 3
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 3
    for entry in logs:
        assert math.isfinite(entry["loss"]) and entry["kd_loss"] > 0 and math.isfinite(entry["mlm_loss"])
        assert entry["teacher_weight/t1"] + entry["teacher_weight/t2"] == pytest.approx(1.0, abs=1e-2)
    assert not torch.equal(trainer.model.model.bert.embeddings.word_embeddings.weight, before)


def test_cached_loss_equals_online_teacher_loss(tmp_path, tokenizer, loaded, teachers):
    data, meta = loaded
    model = student(tokenizer).eval()
    cached = cached_trainer(tmp_path, tokenizer, loaded, model=model)
    online = MultiTeacherDistillationTrainer(model=model, args=distill_args(tmp_path / "online"), teachers=teachers)
    batch = collate(tokenizer, meta, [data[i] for i in range(0, len(data), 13)])
    plain = {k: v for k, v in batch.items() if k not in CACHED_TARGET_KEYS}
    model.eval()
    with torch.no_grad():
        from_cache = cached.compute_loss(model, dict(batch))
        from_teachers = online.compute_loss(model, dict(plain))
        gold_only = cached.compute_loss(model, dict(plain))  # eval batch without targets: CE on gold
        outputs = model(**{k: plain[k] for k in ("input_ids", "attention_mask", "labels")})
    ce = F.cross_entropy(outputs["logits"], outputs["labels"])
    assert from_teachers > ce * 0.01 and not torch.isclose(from_teachers, ce)
    torch.testing.assert_close(from_cache, from_teachers, atol=1e-3, rtol=0)
    torch.testing.assert_close(gold_only, ce, atol=1e-6, rtol=0)


def test_trainer_needs_exactly_one_source_of_targets(tmp_path, tokenizer, loaded, teachers):
    with pytest.raises(ValueError, match="teacher cache"):
        MultiTeacherDistillationTrainer(model=student(tokenizer), args=distill_args(tmp_path / "a"))
    with pytest.raises(ValueError, match="not both"):
        MultiTeacherDistillationTrainer(model=student(tokenizer), args=distill_args(tmp_path / "b"),
                                        teachers=teachers, cached_teachers=["t1", "t2"])


def test_cache_fed_trainer_refuses_a_training_batch_without_targets(tmp_path, tokenizer, loaded):
    data, meta = loaded
    trainer = cached_trainer(tmp_path, tokenizer, loaded)
    batch = collate(tokenizer, meta, [data[i] for i in range(4)])
    trainer.model.train()
    with pytest.raises(ValueError, match="CachedTargetCollator"):
        trainer.compute_loss(trainer.model, {k: v for k, v in batch.items() if k not in CACHED_TARGET_KEYS})


def test_a_malformed_cache_meta_is_named(tmp_path, cache_path):
    from lexkd.mlm.cache import TeacherCacheError
    from lexkd.mlm.cache_reader import TeacherCache

    damaged = tmp_path / "damaged"
    shutil.copytree(cache_path, damaged)
    (damaged / META_NAME).write_text('{"config": {"top_k": 3')  # torn
    with pytest.raises(TeacherCacheError, match=rf"{META_NAME} is not valid JSON.*Rebuild it"):
        TeacherCache.open(damaged)
