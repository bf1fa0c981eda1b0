"""Embedding losses and distances: cosine embedding, triplet margin (with distance),
pairwise_distance, cosine_similarity.

Oracles, all computed here: torch 2.13 values and autograd gradients in the
same dtype, and float64 central finite differences of pylossfn's own loss.
"""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import DTYPE_LAYOUTS, DTYPES, REDUCTIONS, assert_close, in_layout, native

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch


def t_of(a, dtype=None, grad=False):
    a = native(a)
    if dtype is not None:
        a = a.astype(dtype)
    t = torch.from_numpy(a)
    return t.requires_grad_(True) if grad else t


def torch_oracle(fn, inputs, others, go=None, **kw):
    """(loss, grads) of torch fn(*inputs, *others, **kw) by autograd."""
    ts = [t_of(x, grad=True) for x in inputs]
    out = fn(*ts, *[t_of(o) for o in others], **kw)
    g = torch.ones_like(out) if go is None else t_of(np.asarray(go, out.detach().numpy().dtype))
    out.backward(g)
    grads = [t.grad.numpy() if t.grad is not None else np.zeros(t.shape) for t in ts]
    return out.detach().numpy(), grads


def grad_output_for(rng, reduction, shape, dtype):
    if reduction == "none":
        return rng.uniform(-2, 2, shape).astype(dtype)
    return dtype(rng.uniform(-2, 2))


def check(loss, grads, want_loss, want_grads, dtype, reduction):
    assert np.asarray(loss).dtype == dtype
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.shape == want_loss.shape
    else:
        assert np.ndim(loss) == 0
    assert_close(loss, want_loss, dtype)
    assert isinstance(grads, tuple) and len(grads) == len(want_grads)
    for g, w in zip(grads, want_grads):
        assert g.dtype == dtype and g.shape == w.shape
        assert_close(g, w, dtype, kind="grad")


def fd_grads(f, arrays, h=1e-6):
    """Central differences of the scalar f(*arrays) with respect to each array."""
    out = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            hi = [x.copy() for x in arrays]
            lo = [x.copy() for x in arrays]
            hi[k][idx] += h
            lo[k][idx] -= h
            g[idx] = (float(f(*hi)) - float(f(*lo))) / (2 * h)
        out.append(g)
    return out


# ---------------------------------------------------------------------------
# TripletMarginLoss
# ---------------------------------------------------------------------------

PS = [2.0, 1.0, 3.0, 1.5, 0.5, float("inf"), 0.0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_matches_torch(dtype, reduction, p, swap):
    rng = np.random.default_rng(int(p * 10) if np.isfinite(p) else 99)
    a, pos, neg = (rng.normal(size=(9, 5)).astype(dtype) for _ in range(3))
    go = grad_output_for(rng, reduction, (9,), dtype)
    kw = dict(margin=1.3, p=p, eps=1e-6, swap=swap)
    want_loss, want_grads = torch_oracle(
        TF.triplet_margin_loss, (a, pos, neg), (), go=go, reduction=reduction, **kw
    )
    crit = lf.TripletMarginLoss(**kw, reduction=reduction)
    loss, grads = crit.forward_backward(a, pos, neg, grad_output=go)
    check(loss, grads, want_loss, want_grads, dtype, reduction)
    np.testing.assert_array_equal(F.triplet_margin_loss(a, pos, neg, **kw, reduction=reduction), loss)
    np.testing.assert_array_equal(crit(a, pos, neg), loss)
    for g, w in zip(crit.backward(go), grads):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("shape", [(6,), (2, 3, 4), (1, 1), (0, 4), (3, 0)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_shapes(shape, reduction):
    rng = np.random.default_rng(len(shape))
    a, pos, neg = (rng.normal(size=shape) for _ in range(3))
    want_loss, want_grads = torch_oracle(
        TF.triplet_margin_loss, (a, pos, neg), (), reduction=reduction
    )
    loss, grads = lf.TripletMarginLoss(reduction=reduction).forward_backward(a, pos, neg)
    check(loss, grads, want_loss, want_grads, np.float64, reduction)


def test_triplet_broadcast_and_mixed_dtypes():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 4))
    pos = rng.normal(size=(1, 4))
    neg = rng.normal(size=(5, 4)).astype(np.float32)
    want_loss, want_grads = torch_oracle(TF.triplet_margin_loss, (a, pos, neg), (), swap=True)
    loss, grads = lf.TripletMarginLoss(swap=True).forward_backward(a, pos, neg)
    assert_close(loss, want_loss, np.float64)
    assert [g.shape for g in grads] == [(5, 4), (1, 4), (5, 4)]
    assert [g.dtype for g in grads] == [np.float64, np.float64, np.float32]
    for g, w in zip(grads, want_grads):
        assert_close(g, w, np.float32, kind="grad")


@pytest.mark.parametrize("dtype, layout", DTYPE_LAYOUTS)
def test_triplet_layouts(dtype, layout):
    rng = np.random.default_rng(5)
    arrays = [rng.normal(size=(4, 6)).astype(dtype) for _ in range(3)]
    want_loss, want_grads = torch_oracle(
        TF.triplet_margin_loss, arrays, (), reduction="none", p=3.0
    )
    laid = [in_layout(x, layout) for x in arrays]
    before = [np.array(x, copy=True) for x in laid]
    loss, grads = lf.TripletMarginLoss(p=3.0, reduction="none").forward_backward(*laid)
    check(loss, grads, want_loss, want_grads, dtype, "none")
    for x, b in zip(laid, before):
        np.testing.assert_array_equal(np.asarray(x), b)


def test_triplet_subgradients_at_ties():
    # hinge exactly at 0: torch's clamp_min passes the gradient
    a = np.zeros((1, 2))
    pos = np.array([[0.5, 0.0]])
    neg = np.array([[1.5, 0.0]])
    for swap in (False, True):
        want_loss, want_grads = torch_oracle(
            TF.triplet_margin_loss, (a, pos, neg), (), eps=0.0, swap=swap
        )
        loss, grads = lf.TripletMarginLoss(eps=0.0, swap=swap).forward_backward(a, pos, neg)
        check(loss, grads, want_loss, want_grads, np.float64, "mean")
        assert np.any(grads[1] != 0)
    # swap tie: d(a, n) == d(p, n) when a == p; minimum splits the gradient
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 4))
    neg = rng.normal(size=(3, 4)) * 0.1 + a
    want_loss, want_grads = torch_oracle(TF.triplet_margin_loss, (a, a.copy(), neg), (), swap=True)
    loss, grads = lf.TripletMarginLoss(swap=True).forward_backward(a, a.copy(), neg)
    check(loss, grads, want_loss, want_grads, np.float64, "mean")
    # p = inf with tied maxima; p-norms of a zero difference
    a = np.array([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0]])
    z = np.zeros((2, 3))
    for p in PS:
        want_loss, want_grads = torch_oracle(
            TF.triplet_margin_loss, (a, z, z + 3), (), p=p, eps=0.0
        )
        loss, grads = lf.TripletMarginLoss(p=p, eps=0.0).forward_backward(a, z, z + 3)
        check(loss, grads, want_loss, want_grads, np.float64, "mean")


@pytest.mark.parametrize("p", [2.0, 1.5, 3.0])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_finite_differences(p, swap):
    rng = np.random.default_rng(11)
    arrays = [rng.normal(size=(4, 3)) for _ in range(3)]
    crit = lf.TripletMarginLoss(margin=2.0, p=p, swap=swap, reduction="sum")
    _, grads = crit.forward_backward(*arrays)
    for g, w in zip(grads, fd_grads(lambda *x: crit(*x), arrays)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# TripletMarginWithDistanceLoss
# ---------------------------------------------------------------------------


def torch_cosine_distance(x, y):
    return 1.0 - TF.cosine_similarity(x, y, dim=-1)


DISTANCES = {
    "none": (None, None),
    "pairwise": (F.pairwise_distance, TF.pairwise_distance),
    "partial_p1": (
        functools.partial(F.pairwise_distance, p=1.0, eps=1e-3),
        functools.partial(TF.pairwise_distance, p=1.0, eps=1e-3),
    ),
    "cosine": (F.cosine_distance, torch_cosine_distance),
    "cosine_eps": (
        functools.partial(F.cosine_distance, eps=0.5),
        lambda x, y: 1.0 - TF.cosine_similarity(x, y, dim=-1, eps=0.5),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dist", list(DISTANCES))
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_with_distance_matches_torch(dtype, reduction, dist, swap):
    ours, theirs = DISTANCES[dist]
    rng = np.random.default_rng(len(dist))
    arrays = [rng.normal(size=(7, 4)).astype(dtype) for _ in range(3)]
    arrays[1][0] *= 1e-3  # a small norm: the cosine clamp at eps = 0.5 bites
    go = grad_output_for(rng, reduction, (7,), dtype)
    want_loss, want_grads = torch_oracle(
        TF.triplet_margin_with_distance_loss, arrays, (), go=go, distance_function=theirs,
        margin=0.4, swap=swap, reduction=reduction,
    )
    crit = lf.TripletMarginWithDistanceLoss(
        distance_function=ours, margin=0.4, swap=swap, reduction=reduction
    )
    loss, grads = crit.forward_backward(*arrays, grad_output=go)
    check(loss, grads, want_loss, want_grads, dtype, reduction)
    fn = F.triplet_margin_with_distance_loss(
        *arrays, distance_function=ours, margin=0.4, swap=swap, reduction=reduction
    )
    np.testing.assert_array_equal(fn, loss)


NAN_ROWS = [  # (anchor, positive, negative, grad_output) rows with a nan or a zero weight
    ([0.0], [np.nan], [0.0], 1.0),  # hinge at nan: the negative's gradient 0
    ([np.nan, 0.0], [0.0, 0.0], [0.0, 0.0], 0.0),  # a zero grad_output times nan partials
    ([np.nan, 0.0], [0.0, 0.0], [1.0, 2.0], 1.0),  # a nan norm stays nan under the clamp
    ([1.0, 2.0], [np.inf, 0.0], [0.5, 0.5], 1.0),
    ([1.0, -2.0], [3.0, 1.0], [1.0, -2.0], 1.0),  # a finite row, hinge active
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", ["pairwise", "pairwise_p1", "cosine"])
@pytest.mark.parametrize("row", range(len(NAN_ROWS)))
def test_triplet_nan_rows_match_torch(row, dist, dtype):
    """torch's clamp_min passes no gradient at a nan hinge, and autograd then
    multiplies each distance's partials by that zero: nan where they are nan,
    0 elsewhere; its norm clamp keeps a nan norm nan."""
    a, p, n, go = NAN_ROWS[row]
    arrays = [np.array([v], dtype) for v in (a, p, n)]
    ours, theirs = {
        "pairwise": (None, None),
        "pairwise_p1": (functools.partial(F.pairwise_distance, p=1.0),
                        functools.partial(TF.pairwise_distance, p=1.0)),
        "cosine": (F.cosine_distance, lambda x, y: 1.0 - TF.cosine_similarity(x, y)),
    }[dist]
    gov = np.array([go], dtype)
    want_loss, want_grads = torch_oracle(
        TF.triplet_margin_with_distance_loss, arrays, (), go=gov, distance_function=theirs,
        margin=0.5, reduction="none")
    crit = lf.TripletMarginWithDistanceLoss(distance_function=ours, margin=0.5,
                                            reduction="none")
    loss, grads = crit.forward_backward(*arrays, grad_output=gov)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6, equal_nan=True)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, equal_nan=True)
        assert np.array_equal(np.isnan(g), np.isnan(w))


def test_cosine_distance_finite_differences():
    rng = np.random.default_rng(2)
    arrays = [rng.normal(size=(3, 4)) for _ in range(3)]
    crit = lf.TripletMarginWithDistanceLoss(
        distance_function=F.cosine_distance, margin=1.5, swap=True, reduction="sum"
    )
    _, grads = crit.forward_backward(*arrays)
    for g, w in zip(grads, fd_grads(lambda *x: crit(*x), arrays)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def test_distance_function_errors():
    x = np.zeros((2, 3))
    for bad in (lambda a, b: F.pairwise_distance(a, b), TF.pairwise_distance,
                functools.partial(F.pairwise_distance, keepdim=True), np.add):
        with pytest.raises(TypeError, match="distance_function"):
            F.triplet_margin_with_distance_loss(x, x, x, distance_function=bad)
        with pytest.raises(TypeError, match="distance_function"):
            lf.TripletMarginWithDistanceLoss(distance_function=bad)


# ---------------------------------------------------------------------------
# CosineEmbeddingLoss
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.4])
def test_cosine_embedding_matches_torch(dtype, reduction, margin):
    rng = np.random.default_rng(int(margin * 10) + 5)
    x1, x2 = (rng.normal(size=(12, 5)).astype(dtype) for _ in range(2))
    x1[3] = 0.0  # a zero vector: the 1e-12 keeps the cosine finite
    y = np.array([1, -1, 0, 1, -1, 1, -1, -1, 1, 1, -1, 0])
    go = grad_output_for(rng, reduction, (12,), dtype)
    want_loss, want_grads = torch_oracle(
        TF.cosine_embedding_loss, (x1, x2), (y,), go=go, margin=margin, reduction=reduction
    )
    crit = lf.CosineEmbeddingLoss(margin, reduction=reduction)
    loss, grads = crit.forward_backward(x1, x2, y, grad_output=go)
    check(loss, grads, want_loss, want_grads, dtype, reduction)
    np.testing.assert_array_equal(
        F.cosine_embedding_loss(x1, x2, y, margin, reduction=reduction), loss
    )


@pytest.mark.parametrize("target_dtype", [np.int8, np.int64, np.float32, np.float64, bool])
def test_cosine_embedding_targets_and_unbatched(target_dtype):
    rng = np.random.default_rng(4)
    x1, x2 = rng.normal(size=(2, 6))
    for y in (1, -1, 0.5) if target_dtype not in (bool,) else (True, False):
        yt = np.array(y).astype(target_dtype)
        if yt != y:
            continue
        want_loss, want_grads = torch_oracle(
            TF.cosine_embedding_loss, (x1, x2), (np.array(y, np.float64),), reduction="none"
        )
        loss, grads = lf.CosineEmbeddingLoss(reduction="none").forward_backward(x1, x2, yt)
        check(loss, grads, want_loss, want_grads, np.float64, "none")


def test_cosine_embedding_broadcast_layouts_empty():
    rng = np.random.default_rng(8)
    x1 = rng.normal(size=(1, 4))
    x2 = rng.normal(size=(3, 4))
    y = np.array([-1])
    want_loss, want_grads = torch_oracle(
        TF.cosine_embedding_loss, (x1, x2), (y,), margin=-1.0, reduction="none"
    )
    loss, grads = lf.CosineEmbeddingLoss(-1.0, reduction="none").forward_backward(x1, x2, y)
    check(loss, grads, want_loss, want_grads, np.float64, "none")
    for dtype, layout in DTYPE_LAYOUTS:
        a, b = (rng.normal(size=(5, 3)).astype(dtype) for _ in range(2))
        t = np.array([1, -1, 1, -1, -1])
        want_loss, want_grads = torch_oracle(TF.cosine_embedding_loss, (a, b), (t,))
        loss, grads = lf.CosineEmbeddingLoss().forward_backward(
            in_layout(a, layout), in_layout(b, layout), in_layout(t, layout)
        )
        check(loss, grads, want_loss, want_grads, dtype, "mean")
    for reduction in REDUCTIONS:
        e = np.zeros((0, 3))
        want_loss, want_grads = torch_oracle(
            TF.cosine_embedding_loss, (e, e), (np.zeros(0),), reduction=reduction
        )
        loss, grads = lf.CosineEmbeddingLoss(reduction=reduction).forward_backward(
            e, e, np.zeros(0)
        )
        check(loss, grads, want_loss, want_grads, np.float64, reduction)


def test_cosine_embedding_finite_differences():
    rng = np.random.default_rng(9)
    x1, x2 = rng.normal(size=(2, 6, 3))
    y = np.array([1, -1, -1, 1, -1, -1])
    crit = lf.CosineEmbeddingLoss(-0.2, reduction="sum")
    _, grads = crit.forward_backward(x1, x2, y)
    want = fd_grads(lambda a, b: crit(a, b, y), [x1, x2])
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# pairwise_distance and cosine_similarity
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", PS)
def test_pairwise_distance_matches_torch(dtype, p):
    rng = np.random.default_rng(13)
    for s1, s2 in [((5, 4), (5, 4)), ((5, 4), (4,)), ((2, 3, 4), (3, 4)), ((4,), (4,)), ((), ())]:
        x1 = rng.normal(size=s1).astype(dtype)
        x2 = rng.normal(size=s2).astype(dtype)
        for keepdim in (False, True):
            want = TF.pairwise_distance(t_of(x1), t_of(x2), p=p, eps=1e-3, keepdim=keepdim)
            got = F.pairwise_distance(x1, x2, p, 1e-3, keepdim)
            assert got.dtype == dtype and got.shape == tuple(want.shape), (s1, s2, keepdim)
            assert_close(got, want.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cosine_similarity_matches_torch(dtype):
    rng = np.random.default_rng(14)
    cases = [((5, 4), (5, 4), 1), ((5, 4), (4,), -1), ((2, 3, 4), (2, 3, 4), 0),
             ((2, 3, 4), (3, 1), 1), ((4,), (4,), 0)]
    for s1, s2, dim in cases:
        x1 = rng.normal(size=s1).astype(dtype)
        x2 = rng.normal(size=s2).astype(dtype)
        x1.flat[0:2] = 1e-9  # tiny norms somewhere: the eps clamp
        want = TF.cosine_similarity(t_of(x1), t_of(x2), dim=dim, eps=1e-8)
        got = F.cosine_similarity(x1, x2, dim=dim)
        assert got.dtype == dtype and got.shape == tuple(want.shape)
        assert_close(got, want.numpy(), dtype)
    with pytest.raises(IndexError, match="dim"):
        F.cosine_similarity(np.zeros(3), np.zeros(3))  # dim=1 on 1-d, as torch


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_embedding_errors():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="margin"):
        F.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(ValueError, match="margin"):
        lf.TripletMarginLoss(margin=-1.0)
    with pytest.raises(ValueError, match="margin"):
        lf.TripletMarginWithDistanceLoss(margin=0)
    with pytest.raises(ValueError, match="dimensions"):
        F.triplet_margin_loss(x, x[0], x)
    with pytest.raises(ValueError, match="broadcast"):
        F.triplet_margin_loss(x, np.zeros((2, 4)), x)
    with pytest.raises(ValueError, match="p"):
        F.triplet_margin_loss(x, x, x, p=-1.0)
    with pytest.raises(TypeError, match="anchor"):
        F.triplet_margin_loss(x.astype(int), x, x)
    with pytest.raises(TypeError, match="negative"):
        F.triplet_margin_loss(x, x, "abc")
    with pytest.raises(ValueError, match="reduction"):
        F.triplet_margin_loss(x, x, x, reduction="avg")
    with pytest.raises(ValueError, match="target"):
        F.cosine_embedding_loss(x, x, np.ones(4))
    with pytest.raises(ValueError, match="target"):
        F.cosine_embedding_loss(x, x, np.ones((3, 1)))
    with pytest.raises(ValueError, match="input1"):
        F.cosine_embedding_loss(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.ones(2))
    with pytest.raises(TypeError, match="target"):
        F.cosine_embedding_loss(x, x, np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="grad_output"):
        lf.CosineEmbeddingLoss().forward_backward(x, x, np.ones(3), grad_output=np.ones(3))
    with pytest.raises(ValueError, match="grad_output"):
        lf.TripletMarginLoss(reduction="none").forward_backward(x, x, x, grad_output=np.ones(4))
    with pytest.raises(RuntimeError):
        lf.TripletMarginLoss().backward()
