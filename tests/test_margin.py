"""Multi-class hinge losses: MultiMarginLoss and MultiLabelMarginLoss.

Oracles, all computed here: torch 2.13 values and autograd gradients in the
same dtype, and float64 central finite differences of pylossfn's own loss.
"""
import numpy as np
import pytest
from helpers import DTYPE_LAYOUTS, DTYPES, REDUCTIONS, in_layout
from helpers import check_loss_and_grad as check
from loss_table import ROWS
from oracle import torch_ref

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch


MULTI_MARGIN, MULTILABEL_MARGIN = ROWS["MultiMarginLoss"], ROWS["MultiLabelMarginLoss"]


def oracle(row, x, t, go=None, **kw):
    return torch_ref(row, x, t, grad_output=go, **kw)


def go_for(rng, reduction, shape, dtype):
    return rng.uniform(-2, 2, shape).astype(dtype) if reduction == "none" else dtype(1.7)


def labels(rng, N, C):
    """Multi-label targets: a few distinct classes per row, -1, then junk padding."""
    t = rng.integers(0, C, size=(N, C))
    for n in range(N):
        k = rng.integers(0, C + 1)
        t[n, :k] = rng.permutation(C)[:k]
        if k < C:
            t[n, k] = -1
    return t


# ---------------------------------------------------------------------------
# MultiMarginLoss
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_multi_margin_matches_torch(dtype, reduction, p, weighted, margin):
    rng = np.random.default_rng(p * 10 + weighted)
    x = rng.normal(size=(11, 6)).astype(dtype)
    t = rng.integers(0, 6, size=11)
    w = rng.uniform(0.2, 2.0, 6).astype(dtype) if weighted else None
    go = go_for(rng, reduction, (11,), dtype)
    kw = dict(p=p, margin=margin, weight=w, reduction=reduction)
    want_loss, want_grad = oracle(MULTI_MARGIN, x, t, go, **kw)
    crit = lf.MultiMarginLoss(p, margin, w, reduction=reduction)
    loss, grad = crit.forward_backward(x, t, grad_output=go)
    check(loss, grad, want_loss, want_grad, dtype, reduction)
    np.testing.assert_array_equal(F.multi_margin_loss(x, t, p, margin, w, reduction=reduction), loss)
    np.testing.assert_array_equal(crit(x, t), loss)
    np.testing.assert_array_equal(crit.backward(go), grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multi_margin_shapes(reduction):
    rng = np.random.default_rng(1)
    cases = [
        (rng.normal(size=5), np.array(2)),
        (rng.normal(size=5), np.array([4])),
        (np.array(0.7), np.array(0)),
        (rng.normal(size=(1, 3)), np.array([1])),
    ]
    for x, t in cases:
        want_loss, want_grad = oracle(MULTI_MARGIN, x, t, reduction=reduction)
        loss, grad = lf.MultiMarginLoss(reduction=reduction).forward_backward(x, t)
        check(loss, grad, want_loss, want_grad, np.float64, reduction)
    # an empty batch: torch's mean reads uninitialised memory; ours is nan
    x = np.zeros((0, 4))
    t = np.zeros(0, np.int64)
    assert np.isnan(F.multi_margin_loss(x, t))
    assert F.multi_margin_loss(x, t, reduction="sum") == 0
    assert F.multi_margin_loss(x, t, reduction="none").shape == (0,)
    assert lf.MultiMarginLoss().forward_backward(x, t)[1].shape == (0, 4)


def test_multi_margin_hinge_edge_and_fd():
    # z = 0 exactly: no loss and no gradient, as torch tests z > 0
    x = np.array([[1.0, 0.0, 0.5, 2.0]])
    t = np.array([0])
    for p in (1, 2):
        want_loss, want_grad = oracle(MULTI_MARGIN, x, t, p=p)
        loss, grad = lf.MultiMarginLoss(p=p).forward_backward(x, t)
        check(loss, grad, want_loss, want_grad, np.float64, "mean")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4))
    t = rng.integers(0, 4, 5)
    w = rng.uniform(0.5, 2, 4)
    crit = lf.MultiMarginLoss(p=2, margin=0.7, weight=w, reduction="sum")
    _, grad = crit.forward_backward(x, t)
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += 1e-6
        lo[idx] -= 1e-6
        fd[idx] = (crit(hi, t) - crit(lo, t)) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype, layout", DTYPE_LAYOUTS)
def test_margin_layouts(dtype, layout):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 5)).astype(dtype)
    t = rng.integers(0, 5, 6)
    w = rng.uniform(0.5, 2, 5).astype(dtype)
    want_loss, want_grad = oracle(MULTI_MARGIN, x, t, weight=w, reduction="none")
    xl, tl, wl = in_layout(x, layout), in_layout(t.astype(np.int32), layout), in_layout(w, layout)
    loss, grad = lf.MultiMarginLoss(weight=wl, reduction="none").forward_backward(xl, tl)
    check(loss, grad, want_loss, want_grad, dtype, "none")
    tm = labels(rng, 6, 5)
    want_loss, want_grad = oracle(MULTILABEL_MARGIN, x, tm, reduction="none")
    loss, grad = lf.MultiLabelMarginLoss(reduction="none").forward_backward(
        xl, in_layout(tm, layout)
    )
    check(loss, grad, want_loss, want_grad, dtype, "none")
    np.testing.assert_array_equal(np.asarray(xl), x)


# ---------------------------------------------------------------------------
# MultiLabelMarginLoss
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target_dtype", [np.int64, np.int8])
def test_multilabel_margin_matches_torch(dtype, reduction, target_dtype):
    rng = np.random.default_rng(21)
    x = rng.normal(size=(13, 7)).astype(dtype)
    t = labels(rng, 13, 7)
    t[0, :3] = [2, 2, -1]  # a repeated target counts twice, as in torch
    go = go_for(rng, reduction, (13,), dtype)
    want_loss, want_grad = oracle(MULTILABEL_MARGIN, x, t, go, reduction=reduction)
    crit = lf.MultiLabelMarginLoss(reduction=reduction)
    tt = t.astype(target_dtype)
    loss, grad = crit.forward_backward(x, tt, grad_output=go)
    check(loss, grad, want_loss, want_grad, dtype, reduction)
    np.testing.assert_array_equal(F.multilabel_margin_loss(x, tt, reduction=reduction), loss)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_shapes_and_edges(reduction):
    rng = np.random.default_rng(2)
    cases = [
        (rng.normal(size=5), np.array([3, 1, -1, 0, 4])),
        (rng.normal(size=4), np.array([-1, 0, 1, 2])),  # no targets at all
        (rng.normal(size=4), np.array([0, 1, 2, 3])),  # every class a target
        (np.array(0.3), np.array(0)),
        (np.array([[0.5, 1.5, 0.0]]), np.array([[0, -1, 0]])),  # z = 0 exactly
    ]
    for x, t in cases:
        want_loss, want_grad = oracle(MULTILABEL_MARGIN, x, t, reduction=reduction)
        loss, grad = lf.MultiLabelMarginLoss(reduction=reduction).forward_backward(x, t)
        check(loss, grad, want_loss, want_grad, np.float64, reduction)
    # an empty batch: torch returns uninitialised memory (seen under ASan);
    # ours is an empty sum, and a mean over nothing is nan
    x, t = np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    loss, grad = lf.MultiLabelMarginLoss(reduction=reduction).forward_backward(x, t)
    assert grad.shape == (0, 3)
    if reduction == "none":
        assert loss.shape == (0,)
    else:
        assert np.isnan(loss) if reduction == "mean" else loss == 0


@pytest.mark.parametrize("dtype,C", [(np.float32, 300), (np.float64, 300), (np.float64, 8193)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_long_rows(dtype, reduction, C):
    """Long rows, the sorted-target path (C <= 8192) and the direct one
    (C > 8192): many targets per row, repeated targets, tied scores
    (round to halves), and rows with inf / nan, which take the direct path.
    (The direct path adds a non-target's gradient one term at a time in the
    input's dtype, as torch does but not in torch's order: in float32 rows of
    thousands of targets drift apart by more than the tolerance.)"""
    rng = np.random.default_rng(C)
    N = 9 if C < 1000 else 3
    x = rng.normal(size=(N, C)).astype(dtype)
    x[::2] = np.round(x[::2] * 2) / 2
    t = np.full((N, C), -1, np.int64)
    for i in range(N):
        k = [0, 1, C // 2, C - 1, C][i % 5]
        t[i, :k] = rng.permutation(C)[:k]
    t[1, :4] = [5, 5, 7, 5]  # repeated targets count once per entry
    if C < 1000:
        x[3, 10] = np.inf
        x[4, 11] = -np.inf
        x[5, 12] = np.nan
    go = go_for(rng, reduction, (N,), dtype)
    want_loss, want_grad = oracle(MULTILABEL_MARGIN, x, t, go, reduction=reduction)
    loss, grad = lf.MultiLabelMarginLoss(reduction=reduction).forward_backward(
        x, t, grad_output=go)
    check(loss, grad, want_loss, want_grad, dtype, reduction)


def test_multilabel_margin_fd():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 5))
    t = labels(rng, 4, 5)
    crit = lf.MultiLabelMarginLoss(reduction="sum")
    _, grad = crit.forward_backward(x, t)
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += 1e-6
        lo[idx] -= 1e-6
        fd[idx] = (crit(hi, t) - crit(lo, t)) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_margin_errors():
    x = np.zeros((3, 4))
    with pytest.raises(IndexError, match="target has 4 at flat index 1"):
        F.multi_margin_loss(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match="-1"):
        F.multi_margin_loss(x, np.array([0, -1, 1]))
    with pytest.raises(IndexError, match="target has 9 at flat index 6"):
        F.multilabel_margin_loss(x, np.array([[0, -1, 1, 2], [1, 2, 9, -1], [0, 0, 0, 0]]))
    with pytest.raises(IndexError, match="target has -2"):  # checked after the -1 too
        F.multilabel_margin_loss(x, np.array([[0, -1, -2, 2], [1, 2, 3, -1], [0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="target"):
        F.multi_margin_loss(x, np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="target"):
        F.multilabel_margin_loss(x, np.zeros((3, 3), int))
    with pytest.raises(TypeError, match="target"):
        F.multi_margin_loss(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="input"):
        F.multi_margin_loss(x.astype(int), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="p"):
        F.multi_margin_loss(x, np.array([0, 1, 2]), p=3)
    with pytest.raises(ValueError, match="p"):
        lf.MultiMarginLoss(p=0)
    with pytest.raises(ValueError, match="weight"):
        F.multi_margin_loss(x, np.array([0, 1, 2]), weight=np.ones(3))
    with pytest.raises(ValueError, match="weight"):
        lf.MultiMarginLoss(weight=np.ones((1, 4)))
    with pytest.raises(ValueError, match="input"):
        F.multi_margin_loss(np.zeros((2, 3, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="input"):
        F.multilabel_margin_loss(np.zeros((2, 0)), np.zeros((2, 0), int))
    with pytest.raises(ValueError, match="reduction"):
        lf.MultiLabelMarginLoss(reduction="batchmean")
