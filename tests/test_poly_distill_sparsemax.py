"""Issue 22's losses on the simplex: Poly-1 cross-entropy, distillation, sparsemax.

Oracles, all run here: optax through JAX in float64 where optax has the loss
(``poly_loss_cross_entropy``, ``projection_simplex``, ``multiclass_sparsemax_loss``:
values, ``jax.grad``, ``jax.hessian``), torch autograd of the formula
otherwise (weights, ignore_index, smoothing, K-dim inputs, distillation), and
``torch.func.hessian`` for the Hessian's diagonal and its product with a vector.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from helpers import assert_close
from oracle import distillation_loss as torch_distill
from oracle import poly_cross_entropy as torch_poly
from oracle import sparsemax_loss as torch_sparsemax_loss

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch

jax.config.update("jax_enable_x64", True)

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("none", "mean", "sum")


def _faces(crit, inputs, go, v):
    """(loss, grad, hess, hvp) through the class: the fused pass with the
    Hessian, then backward / hessian / hvp after a forward call (the same)."""
    loss, grad, hess = crit.forward_backward(*inputs, grad_output=go, hessian=True)
    loss2 = crit(*inputs)
    np.testing.assert_array_equal(loss2, loss)
    np.testing.assert_array_equal(crit.backward(go), grad)
    np.testing.assert_array_equal(crit.hessian(go), hess)
    return loss, grad, hess, crit.hvp(v, go)


def _torch_second_order(f, x, v):
    """diag(H) and H v of the scalar f at x (torch.func.hessian, float64)."""
    xt = torch.from_numpy(np.asarray(x, np.float64))
    H = torch.func.hessian(f)(xt).reshape(xt.numel(), xt.numel())
    hv = H @ torch.from_numpy(np.asarray(v, np.float64)).reshape(-1)
    return H.diagonal().reshape(xt.shape).numpy(), hv.reshape(xt.shape).numpy()


def _torch_value_grad(f, x):
    xt = torch.from_numpy(np.asarray(x)).requires_grad_(True)
    out = f(xt)
    out.backward()
    return out.detach().numpy(), xt.grad.numpy()


def _scalar(loss_fn, reduction, go):
    """The scalar whose derivatives backward / hessian give: the reduced loss
    times grad_output, or sum(grad_output * loss) for "none"."""
    gt = torch.from_numpy(np.asarray(go, np.float64))

    def f(x):
        loss = loss_fn(x)
        return (gt.to(loss.dtype) * loss).sum()
    return f


def _check(dtype, ours, value, grad, hess, hv):
    loss, g, h, hvp = ours
    assert np.asarray(loss).dtype == dtype and g.dtype == dtype and h.dtype == dtype
    assert hvp.dtype == dtype
    assert_close(loss, value, dtype)
    assert_close(g, grad, dtype, kind="grad")
    assert_close(h, hess, dtype, kind="grad")
    assert_close(hvp, hv, dtype, kind="grad")


# ---------------------------------------------------------------------------
# Poly-1 cross-entropy
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("probs", [False, True], ids=["index", "probs"])
@pytest.mark.parametrize("epsilon", [1.0, 2.0, -1.0, 0.0])
def test_poly_matches_optax(epsilon, probs, rng):
    """Unweighted, unsmoothed: optax's poly_loss_cross_entropy per sample, its
    gradient and full Hessian (jax.hessian) in float64."""
    N, C = 5, 7
    x = rng.normal(0, 2, (N, C))
    if probs:
        t = rng.dirichlet(np.ones(C), N)
        labels = t
    else:
        t = rng.integers(0, C, N)
        labels = np.eye(C)[t]
    v = rng.normal(size=(N, C))

    def total(z):
        return optax.losses.poly_loss_cross_entropy(z, labels, epsilon=epsilon).sum()
    per = np.asarray(optax.losses.poly_loss_cross_entropy(x, labels, epsilon=epsilon))
    H = np.asarray(jax.hessian(total)(jnp.asarray(x))).reshape(N * C, N * C)
    crit = lf.PolyCrossEntropyLoss(epsilon=epsilon, reduction="sum")
    ours = _faces(crit, (x, t), None, v)
    _check(np.float64, ours, per.sum(), np.asarray(jax.grad(total)(x)),
           H.diagonal().reshape(N, C), (H @ v.ravel()).reshape(N, C))
    np.testing.assert_allclose(F.poly_cross_entropy(x, t, epsilon, reduction="none"), per,
                               rtol=1e-12)


def _poly_case(rng, dtype, shape, probs, weighted, ignore, ls):
    x = rng.normal(0, 2, shape).astype(dtype)
    C = shape[1] if len(shape) > 1 else shape[0]
    axis = 1 if len(shape) > 1 else 0
    batch = shape[:axis] + shape[axis + 1:]
    if probs:
        t = rng.dirichlet(np.ones(C), int(np.prod(batch, dtype=int)))
        t = np.moveaxis(t.reshape(batch + (C,)), -1, axis).astype(dtype)
    else:
        t = rng.integers(0, C, batch)
        if ignore:
            t.flat[::3] = 2
    opts = dict(epsilon=1.5, weight=rng.uniform(0.5, 2, C).astype(dtype) if weighted else None,
                ignore_index=2 if ignore else -100, label_smoothing=ls)
    return x, t, opts


POLY_CASES = [
    # shape, probability targets, weight, ignore_index, label_smoothing
    ((6, 5), False, False, False, 0.0),
    ((6, 5), False, True, False, 0.0),
    ((6, 5), False, True, True, 0.0),
    ((6, 5), False, True, True, 0.2),
    ((6, 5), False, False, False, 0.3),
    ((6, 5), True, False, False, 0.0),
    ((6, 5), True, True, False, 0.15),
    ((3, 4, 2, 3), False, True, True, 0.1),
    ((3, 4, 5), True, True, False, 0.1),
    ((5,), False, True, False, 0.1),
]


@pytest.mark.parametrize("case", POLY_CASES, ids=[str(c) for c in POLY_CASES])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_poly_matches_torch_formula(case, reduction, dtype, rng):
    """Weights, ignore_index, label smoothing, probability targets and K-dim
    inputs against torch's cross_entropy plus the Poly term (autograd), and
    torch.func.hessian for the diagonal and the Hessian-vector product."""
    shape, probs, weighted, ignore, ls = case
    x, t, opts = _poly_case(rng, dtype, shape, probs, weighted, ignore, ls)
    crit = lf.PolyCrossEntropyLoss(reduction=reduction, **opts)
    go = rng.uniform(0.5, 1.5, np.shape(F.poly_cross_entropy(x, t, reduction="none", **opts)))
    go = go.astype(dtype) if reduction == "none" else dtype(0.7)
    v = rng.normal(size=shape).astype(dtype)
    tt = torch.from_numpy(t)
    wt = None if opts["weight"] is None else torch.from_numpy(opts["weight"])
    topts = dict(opts, weight=wt)

    def loss_fn(z):
        w = None if wt is None else wt.to(z.dtype)
        return torch_poly(z, tt.to(z.dtype) if probs else tt, reduction=reduction,
                          **dict(topts, weight=w))
    value, grad = _torch_value_grad(_scalar(loss_fn, reduction, go), x)
    hess, hv = _torch_second_order(_scalar(loss_fn, reduction, go), x, v)
    ours = _faces(crit, (x, t), go, v)
    value = loss_fn(torch.from_numpy(x)).detach().numpy()
    _check(dtype, ours, value, grad, hess, hv)
    np.testing.assert_array_equal(F.poly_cross_entropy(x, t, reduction=reduction, **opts),
                                  ours[0])


def test_poly_is_cross_entropy_at_epsilon_zero(rng):
    x = rng.normal(size=(8, 6))
    t = rng.integers(0, 6, 8)
    w = rng.uniform(0.5, 2, 6)
    ce = lf.CrossEntropyLoss(weight=w, label_smoothing=0.1).forward_backward(x, t)
    poly = lf.PolyCrossEntropyLoss(0.0, weight=w, label_smoothing=0.1).forward_backward(x, t)
    assert_close(poly[0], ce[0], np.float64)
    assert_close(poly[1], ce[1], np.float64, kind="grad")


def test_poly_mean_over_nothing_is_nan():
    x = np.zeros((3, 4))
    t = np.full(3, -100)
    loss, grad = lf.PolyCrossEntropyLoss().forward_backward(x, t)
    assert np.isnan(loss)
    assert float(F.poly_cross_entropy(x, t, reduction="sum")) == 0.0


# ---------------------------------------------------------------------------
# Distillation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_distillation_matches_torch_formula(temperature, reduction, dtype, rng):
    """T^2 kl_div(log_softmax(s / T), softmax(t / T)) by autograd, and
    torch.func.hessian; the teacher gets no gradient."""
    N, C = 5, 6
    x = rng.normal(0, 2, (N, C)).astype(dtype)
    z = rng.normal(0, 3, (N, C)).astype(dtype)
    v = rng.normal(size=(N, C)).astype(dtype)
    go = (rng.uniform(0.5, 1.5, (N, C)).astype(dtype) if reduction == "none" else dtype(1.3))
    zt = torch.from_numpy(z)

    def loss_fn(s):
        return torch_distill(s, zt.to(s.dtype), temperature, reduction)
    crit = lf.DistillationLoss(temperature, reduction)
    ours = _faces(crit, (x, z), go, v)
    value = loss_fn(torch.from_numpy(x)).numpy()
    _, grad = _torch_value_grad(_scalar(loss_fn, reduction, go), x)
    hess, hv = _torch_second_order(_scalar(loss_fn, reduction, go), x, v)
    _check(dtype, ours, value, grad, hess, hv)
    assert isinstance(ours[1], np.ndarray) and ours[1].shape == x.shape
    np.testing.assert_array_equal(F.distillation_loss(x, z, temperature, reduction), ours[0])


def test_distillation_default_is_batchmean_and_zero_at_the_teacher(rng):
    x = rng.normal(size=(4, 7))
    crit = lf.DistillationLoss(temperature=3.0)
    assert crit.reduction == "batchmean"
    loss, grad = crit.forward_backward(x, x.copy())
    assert abs(float(loss)) < 1e-14 and np.abs(grad).max() < 1e-15
    # the T^2 factor: the gradient is T (p - q) / N, of the same scale for every T
    z = rng.normal(size=(4, 7))
    for T in (1.0, 10.0):
        g = lf.DistillationLoss(T).forward_backward(x, z)[1]
        p, q = F.softmax(x / T, 1), F.softmax(z / T, 1)
        assert_close(g, T * (p - q) / 4, np.float64, kind="grad")


# ---------------------------------------------------------------------------
# sparsemax and its loss
# ---------------------------------------------------------------------------

def _sparse_rows(rng, N, C):
    x = rng.normal(0, 1, (N, C))
    x[0] = 0.0  # all equal: 1 / C each
    x[1, :] = 5.0
    x[1, 0] = 5.5  # a tie below the top
    x[2, :3] = 2.0  # three tied at the top
    x[2, 3:] = -1.0
    x[3] = np.arange(C) * 1e-3  # a dense support
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_sparsemax_matches_optax(dim, dtype, rng):
    x = _sparse_rows(rng, 6, 5).astype(dtype)
    proj = jax.vmap(optax.projections.projection_simplex, in_axes=1 if dim == 0 else 0,
                    out_axes=1 if dim == 0 else 0)
    want = np.asarray(proj(jnp.asarray(x, jnp.float64)))
    got = F.sparsemax(x, dim)
    assert got.dtype == dtype and got.shape == x.shape
    assert_close(got, want, dtype, kind="grad")
    np.testing.assert_allclose(got.astype(np.float64).sum(dim), 1.0,
                               rtol=1e-6 if dtype == np.float32 else 1e-14)
    if dim != 0:
        # an all-equal row: 1 / C, correctly rounded
        np.testing.assert_array_equal(got[0], np.full(5, 1 / 5, dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_sparsemax_loss_matches_optax(reduction, dtype, rng):
    """optax's multiclass_sparsemax_loss: value, jax.grad and jax.hessian
    (diagonal and product), ties and all-equal rows included."""
    N, C = 6, 5
    x = _sparse_rows(rng, N, C).astype(dtype)
    t = rng.integers(0, C, N)
    t[2] = 1  # one of the tied top classes
    v = rng.normal(size=(N, C)).astype(dtype)
    go = rng.uniform(0.5, 1.5, N) if reduction == "none" else np.float64(0.8)
    scale = {"none": 1.0, "sum": 1.0, "mean": 1.0 / N}[reduction]

    def total(z):
        per = optax.losses.multiclass_sparsemax_loss(z, jnp.asarray(t))
        return (jnp.asarray(go) * per).sum() * scale
    x64 = jnp.asarray(x, jnp.float64)
    per = np.asarray(optax.losses.multiclass_sparsemax_loss(x64, jnp.asarray(t)))
    value = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
    H = np.asarray(jax.hessian(total)(x64)).reshape(N * C, N * C)
    crit = lf.SparsemaxLoss(reduction=reduction)
    ours = _faces(crit, (x, t), np.asarray(go, dtype), v)
    _check(dtype, ours, value, np.asarray(jax.grad(total)(x64)), H.diagonal().reshape(N, C),
           (H @ v.astype(np.float64).ravel()).reshape(N, C))
    # the gradient is sparsemax(x) - onehot(t), scaled
    want = (F.sparsemax(x, 1) - np.eye(C, dtype=dtype)[t]) * np.asarray(go, dtype).reshape(
        -1, 1) * scale if reduction == "none" else (F.sparsemax(x, 1) - np.eye(C)[t]) * go * scale
    assert_close(ours[1], want, dtype, kind="grad")


def test_sparsemax_loss_torch_formula_second_order(rng):
    """The sort-based torch formula and torch.func.hessian agree with the kernel too."""
    x = _sparse_rows(rng, 5, 4)
    t = rng.integers(0, 4, 5)
    v = rng.normal(size=x.shape)
    tt = torch.from_numpy(t)

    def f(z):
        return torch_sparsemax_loss(z, tt, "mean")
    hess, hv = _torch_second_order(f, x, v)
    crit = lf.SparsemaxLoss()
    crit(x, t)
    assert_close(crit.hessian(), hess, np.float64, kind="grad")
    assert_close(crit.hvp(v), hv, np.float64, kind="grad")


def test_sparsemax_loss_is_zero_at_a_confident_target():
    x = np.array([[5.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    loss = F.sparsemax_loss(x, np.array([0, 1]), reduction="none")
    assert loss[0] == 0.0
    assert_close(loss[1], 0.5 * (1 - 1 / 3) + 0.0, np.float64)  # uniform p, x_c = x_t


# ---------------------------------------------------------------------------
# Every face: out=, threads, float32 / float64, Dask, errors before a call
# ---------------------------------------------------------------------------

def _each(rng, N, C, dtype):
    x = rng.normal(0, 2, (N, C)).astype(dtype)
    t = rng.integers(0, C, N)
    return (
        (lf.PolyCrossEntropyLoss(2.0, weight=rng.uniform(0.5, 2, C).astype(dtype),
                                 ignore_index=1, label_smoothing=0.1), (x, t)),
        (lf.PolyCrossEntropyLoss(0.5), (x, rng.dirichlet(np.ones(C), N).astype(dtype))),
        (lf.DistillationLoss(3.0), (x, rng.normal(0, 2, (N, C)).astype(dtype))),
        (lf.SparsemaxLoss(), (x, t)),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_out_buffer_receives_the_gradient(dtype, rng):
    for crit, inputs in _each(rng, 7, 5, dtype):
        want = crit.forward_backward(*inputs)[1]
        out = np.full(inputs[0].shape, np.nan, dtype)
        loss, g = crit.forward_backward(*inputs, out=out)
        assert g is out
        np.testing.assert_array_equal(out, want)
        out2 = np.empty_like(out)
        assert crit.backward(out=out2) is out2
        np.testing.assert_array_equal(out2, want)
        with pytest.raises(TypeError, match="out must have the input's dtype"):
            crit.backward(out=np.empty(out.shape, np.int64))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_threads_give_the_same_bits(dtype, rng):
    """Above the pool's threshold (65536 elements): 1 and 2 threads, identical."""
    before = lf.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            lf.set_num_threads(n)
            res = []
            for crit, inputs in _each(np.random.default_rng(7), 400, 301, dtype):
                res.append(crit.forward_backward(*inputs, hessian=True))
            res.append((F.sparsemax(_each(np.random.default_rng(7), 400, 301, dtype)[0][1][0],
                                    1),))
            results.append(res)
    finally:
        lf.set_num_threads(before)
    for a, b in zip(*results):
        for u, w in zip(a, b):
            np.testing.assert_array_equal(u, w)


def test_float32_agrees_with_float64(rng):
    for (c32, in32), (c64, in64) in zip(_each(np.random.default_rng(3), 50, 40, np.float32),
                                        _each(np.random.default_rng(3), 50, 40, np.float64)):
        l32, g32 = c32.forward_backward(*in32)
        l64, g64 = c64.forward_backward(*(a.astype(np.float64) if a.dtype.kind == "f" else a
                                          for a in in32))
        assert_close(l32, l64, np.float32)
        assert_close(g32, g64, np.float32, kind="grad")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_dask_equals_numpy(reduction, rng):
    da = pytest.importorskip("dask.array")
    for crit, inputs in _each(rng, 11, 6, np.float64):
        red = "batchmean" if reduction == "mean" and isinstance(crit, lf.DistillationLoss) \
            else reduction
        crit.reduction = red
        loss, grad = crit.forward_backward(*inputs)
        lazy = [da.from_array(a, chunks=4) for a in inputs]
        dl, dg = crit.forward_backward(*lazy)
        np.testing.assert_allclose(dl.compute(), loss, rtol=1e-12)
        np.testing.assert_allclose(dg.compute(), grad, rtol=1e-12, atol=1e-15)
        assert dg.chunks == lazy[0].chunks
    x = rng.normal(size=(9, 4))
    z = rng.normal(size=(9, 4))
    lazy = F.distillation_loss(da.from_array(x, chunks=(3, 4)), z, 2.0, "mean")
    np.testing.assert_allclose(lazy.compute(), F.distillation_loss(x, z, 2.0, "mean"),
                               rtol=1e-12)


def test_second_order_before_forward_raises():
    for crit in (lf.PolyCrossEntropyLoss(), lf.DistillationLoss(), lf.SparsemaxLoss()):
        for what in (crit.backward, crit.hessian):
            with pytest.raises(RuntimeError, match="before any forward call"):
                what()
        with pytest.raises(RuntimeError, match="before any forward call"):
            crit.hvp(np.zeros((2, 3)))


@pytest.mark.parametrize("kw,exc,match", [
    (dict(epsilon=float("nan")), ValueError, "epsilon must be a finite number"),
    (dict(label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0, 1\]"),
    (dict(reduction="batchmean"), ValueError, "reduction must be one of"),
])
def test_poly_options_checked_at_construction(kw, exc, match):
    with pytest.raises(exc, match=match):
        lf.PolyCrossEntropyLoss(**kw)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(temperature=0.0), ValueError, "temperature must be finite and > 0"),
    (dict(temperature=-1.0), ValueError, "temperature must be finite and > 0"),
    (dict(reduction="avg"), ValueError, "'none', 'batchmean', 'sum' or 'mean'"),
])
def test_distillation_options_checked_at_construction(kw, exc, match):
    with pytest.raises(exc, match=match):
        lf.DistillationLoss(**kw)


def test_sparsemax_dim_out_of_range():
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        F.sparsemax(np.zeros((2, 3)), 2)
