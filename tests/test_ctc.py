"""CTCLoss: torch 2.13 values and autograd gradients computed here, and float64
central finite differences through log_softmax (torch's CTC gradient is the
gradient for the logits of a log_softmax; see CTCLoss's docstring).
"""
import numpy as np
import pytest
from helpers import DTYPE_LAYOUTS, DTYPES, REDUCTIONS, in_layout
from helpers import check_loss_and_grad as check
from loss_table import ROWS
from oracle import torch_call

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch


def log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def make_case(rng, T=12, N=5, C=6, S=4, blank=0, dtype=np.float64):
    lp = log_softmax(rng.normal(size=(T, N, C)) * 1.5).astype(dtype)
    classes = [c for c in range(C) if c != blank]
    il = rng.integers(T // 2, T + 1, N)
    il[0] = T
    tl = rng.integers(0, S + 1, N)
    tl[0], tl[1] = S, 0
    targets = rng.choice(classes, size=(N, S))
    targets[0, 1] = targets[0, 0]  # a repeated label needs a blank between
    # one impossible alignment: more labels than frames
    il[-1], tl[-1] = 2, S
    return lp, targets, il, tl


def concat(targets, tl):
    return np.concatenate([targets[b, : tl[b]] for b in range(len(tl))])


def oracle(lp, targets, il, tl, go=None, **kw):
    value, (grad,) = torch_call(ROWS["CTCLoss"], kw, (lp, targets, il, tl), go)
    return value, grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("form", ["padded", "concatenated"])
def test_ctc_matches_torch(dtype, reduction, zero_infinity, form):
    rng = np.random.default_rng(17)
    lp, targets, il, tl = make_case(rng, dtype=dtype)
    if not zero_infinity:
        il[-1] = len(lp)  # keep every loss finite (an infinite one makes nan gradients)
    tg = targets if form == "padded" else concat(targets, tl)
    go = rng.uniform(-2, 2, len(il)).astype(dtype) if reduction == "none" else dtype(0.8)
    kw = dict(blank=0, reduction=reduction, zero_infinity=zero_infinity)
    want_loss, want_grad = oracle(lp, tg, il, tl, go, **kw)
    crit = lf.CTCLoss(**kw)
    loss, grad = crit.forward_backward(lp, tg, il, tl, grad_output=go)
    check(loss, grad, want_loss, want_grad, dtype, reduction)
    np.testing.assert_array_equal(F.ctc_loss(lp, tg, il, tl, **kw), loss)
    np.testing.assert_array_equal(crit(lp, tg, il, tl), loss)
    np.testing.assert_array_equal(crit.backward(go), grad)


def test_ctc_infinite_loss_without_zero_infinity():
    rng = np.random.default_rng(5)
    lp, targets, il, tl = make_case(rng)
    want_loss, want_grad = oracle(lp, targets, il, tl, reduction="none")
    loss, grad = lf.CTCLoss(reduction="none").forward_backward(lp, targets, il, tl)
    assert np.isinf(loss[-1]) and np.isinf(want_loss[-1])
    np.testing.assert_allclose(loss[:-1], want_loss[:-1], rtol=1e-12)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(want_grad))
    ok = ~np.isnan(want_grad)
    np.testing.assert_allclose(grad[ok], want_grad[ok], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("blank", [0, 3, 5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_ctc_blank_and_lengths(blank, dtype):
    rng = np.random.default_rng(blank)
    lp, targets, il, tl = make_case(rng, blank=blank, dtype=dtype)
    il[-1] = len(lp)
    il[2] = 0
    tl[2] = 0  # an empty input with an empty target: loss 0
    for lengths in ((il, tl), (list(il), tuple(tl)), (il.astype(np.int32), tl.astype(np.uint8))):
        want_loss, want_grad = oracle(lp, targets, il, tl, blank=blank, reduction="sum")
        loss, grad = lf.CTCLoss(blank=blank, reduction="sum").forward_backward(
            lp, targets.astype(np.int16), *lengths
        )
        check(loss, grad, want_loss, want_grad, dtype, "sum")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_unbatched(reduction):
    rng = np.random.default_rng(8)
    lp = log_softmax(rng.normal(size=(7, 4)))
    for tg, il, tl in [(np.array([1, 2, 2]), 7, 3), (np.array([[3, 1, 0, 0]]), [6], [2]),
                       (np.array([], np.int64), np.array(5), np.array(0))]:
        want_loss, want_grad = oracle(lp, tg, np.reshape(il, -1), np.reshape(tl, -1),
                                      reduction=reduction)
        loss, grad = lf.CTCLoss(reduction=reduction).forward_backward(lp, tg, il, tl)
        check(loss, grad, want_loss, want_grad, np.float64, reduction)


@pytest.mark.parametrize("dtype, layout", DTYPE_LAYOUTS)
def test_ctc_layouts(dtype, layout):
    rng = np.random.default_rng(12)
    lp, targets, il, tl = make_case(rng, T=8, N=3, C=5, S=3, dtype=dtype)
    il[-1] = 8
    want_loss, want_grad = oracle(lp, targets, il, tl)
    lpl = in_layout(lp, layout)
    loss, grad = lf.CTCLoss().forward_backward(lpl, in_layout(targets, layout), il, tl)
    check(loss, grad, want_loss, want_grad, dtype, "mean")
    np.testing.assert_array_equal(np.asarray(lpl), lp)


def test_ctc_finite_differences():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 2, 4))
    targets = np.array([[1, 1, 2], [3, 2, 0]])
    il, tl = [6, 5], [3, 2]
    crit = lf.CTCLoss(reduction="sum")
    lp = log_softmax(logits)
    _, g = crit.forward_backward(lp, targets, il, tl)
    # through log_softmax: torch's gradient is the gradient for the logits
    g_logits = g - np.exp(lp) * g.sum(axis=-1, keepdims=True)
    fd = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        hi, lo = logits.copy(), logits.copy()
        hi[idx] += 1e-6
        lo[idx] -= 1e-6
        fd[idx] = (crit(log_softmax(hi), targets, il, tl) - crit(log_softmax(lo), targets, il,
                                                                 tl)) / 2e-6
    np.testing.assert_allclose(g_logits, fd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)
    # and with respect to log_probs themselves, once the exp(lp) term is removed
    live = np.arange(6)[:, None] < np.array(il)[None, :]
    g_true = g - np.where(live[..., None], np.exp(lp), 0.0)
    fd = np.zeros_like(lp)
    for idx in np.ndindex(lp.shape):
        hi, lo = lp.copy(), lp.copy()
        hi[idx] += 1e-6
        lo[idx] -= 1e-6
        fd[idx] = (crit(hi, targets, il, tl) - crit(lo, targets, il, tl)) / 2e-6
    np.testing.assert_allclose(g_true, fd, rtol=1e-6, atol=1e-7)


def test_ctc_errors():
    rng = np.random.default_rng(0)
    lp = log_softmax(rng.normal(size=(5, 2, 4)))
    tg = np.array([[1, 2, 3], [1, 0, 0]])
    with pytest.raises(ValueError, match="blank"):
        F.ctc_loss(lp, tg, [5, 3], [2, 1], blank=4)
    with pytest.raises(ValueError, match="blank"):
        F.ctc_loss(lp, tg, [5, 3], [2, 1], blank=-1)
    with pytest.raises(ValueError, match=r"input_lengths\[1\] is 6"):
        F.ctc_loss(lp, tg, [5, 6], [2, 1])
    with pytest.raises(ValueError, match=r"input_lengths\[1\] is -1"):
        F.ctc_loss(lp, tg, [5, -1], [2, 1])
    with pytest.raises(ValueError, match=r"target_lengths\[0\] is -1"):
        F.ctc_loss(lp, tg, [5, 3], [-1, 1])
    with pytest.raises(ValueError, match="target_lengths"):
        F.ctc_loss(lp, tg, [5, 3], [2, 1, 1])
    with pytest.raises(ValueError, match="input_lengths"):
        F.ctc_loss(lp, tg, [[5, 3]], [2, 1])
    with pytest.raises(ValueError, match="targets"):
        F.ctc_loss(lp, tg, [5, 3], [4, 1])  # padded targets too short
    with pytest.raises(ValueError, match="targets"):
        F.ctc_loss(lp, np.array([1, 2, 3, 1]), [5, 3], [2, 1])  # concatenated: 3 expected
    with pytest.raises(IndexError, match=r"class 7 at index \(0, 2\)"):
        F.ctc_loss(lp, np.array([[1, 2, 7], [1, 0, 0]]), [5, 3], [3, 1])
    with pytest.raises(IndexError, match="class -2 at index 1"):
        F.ctc_loss(lp, np.array([1, -2, 3]), [5, 3], [2, 1])
    # padding beyond a target's length is never read, as in torch
    F.ctc_loss(lp, np.array([[1, 2, 99], [1, -5, -5]]), [5, 3], [2, 1])
    with pytest.raises(TypeError, match="targets"):
        F.ctc_loss(lp, tg.astype(float), [5, 3], [2, 1])
    with pytest.raises(TypeError, match="input_lengths"):
        F.ctc_loss(lp, tg, [5.0, 3.0], [2, 1])
    with pytest.raises(TypeError, match="log_probs"):
        F.ctc_loss(lp.astype(int), tg, [5, 3], [2, 1])
    with pytest.raises(ValueError, match="empty"):
        F.ctc_loss(np.zeros((0, 2, 4)), tg, [0, 0], [0, 0])
    with pytest.raises(ValueError, match="log_probs"):
        F.ctc_loss(np.zeros(4), tg, [1], [1])
    with pytest.raises(ValueError, match="reduction"):
        lf.CTCLoss(reduction="mean_by_length")
    with pytest.raises(ValueError, match="grad_output"):
        lf.CTCLoss(reduction="none").forward_backward(lp, tg, [5, 3], [2, 1], grad_output=1.0)
