"""DiceLoss (Dice / Tversky; multilabel, multiclass, binary) and GeneralizedDiceLoss.

Oracles, each run here: optax through JAX in float64 where optax has the loss
(per-sample Dice / Tversky with class weights, binary Dice, the generalized
Dice), the contract's formula under torch autograd for the rest (sums over
the batch, every mode and reduction, grad_output), torch.func.hessian for the
Hessian's diagonal and the Hessian-vector products.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from helpers import assert_close
from oracle import dice_terms

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch

jax.config.update("jax_enable_x64", True)

MODES = ("multilabel", "multiclass", "binary")
OPTIONS = {"smooth": 0.7, "alpha": 0.3, "beta": 0.8}


def _case(rng, mode, shape, dtype=np.float64, index=False):
    """Logits of `shape` and a target: class indices, or values in [0, 1]."""
    x = rng.standard_normal(shape).astype(dtype)
    if index:
        return x, rng.integers(0, shape[1], shape[:1] + shape[2:])
    return x, rng.uniform(0, 1, shape).astype(dtype)


def _torch_loss(x, t, reduction, go=None, generalized=False, **kw):
    """(loss, gradient) of the torch formula at (x, t), as NumPy."""
    xt = torch.from_numpy(x).requires_grad_(True)
    tt = torch.from_numpy(np.asarray(t))
    kw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    terms = dice_terms(xt, tt, generalized=generalized, **kw)
    loss = {"none": lambda d: d, "mean": torch.mean, "sum": torch.sum}[reduction](terms)
    loss.backward(torch.ones_like(loss) if go is None else torch.as_tensor(np.asarray(go)))
    return loss.detach().numpy(), xt.grad.numpy()


# -- optax, through JAX in float64 ----------------------------------------------

def _last(a):
    return jnp.moveaxis(jnp.asarray(a), 1, -1)  # optax keeps the classes last


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 6), (2, 3, 4, 5)])
def test_per_sample_tversky_matches_optax(shape, index):
    rng = np.random.default_rng(sum(shape))
    x, t = _case(rng, "multiclass", shape, index=index)
    w = rng.uniform(0.5, 2.0, shape[1])
    t_hot = np.moveaxis(np.eye(shape[1])[t], -1, 1) if index else t

    def optax_terms(x):
        return optax.losses.dice_loss(_last(x), _last(t_hot), class_weights=w,
                                      reduction="none", **OPTIONS)

    crit = lf.DiceLoss("multiclass", per_sample=True, weight=w, **OPTIONS)
    loss, grad = crit.forward_backward(x, t)
    # optax's "none" is [N, C] for one spatial axis set; its mean over both is ours
    np.testing.assert_allclose(F.dice_loss(x, t, "multiclass", per_sample=True, weight=w,
                                           reduction="none", **OPTIONS),
                               np.asarray(optax_terms(x)).reshape(shape[0], -1), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(loss, float(jnp.mean(optax_terms(x))), rtol=1e-12)
    want = jax.grad(lambda x: jnp.mean(optax_terms(x)))(jnp.asarray(x))
    np.testing.assert_allclose(grad, np.asarray(want), rtol=1e-10, atol=1e-15)


def test_binary_matches_optax():
    rng = np.random.default_rng(5)
    x, t = _case(rng, "binary", (6, 7))
    t = (t > 0.5).astype(np.float64)
    crit = lf.DiceLoss("binary", per_sample=True)
    loss, grad = crit.forward_backward(x, t)
    want = jax.value_and_grad(lambda x: jnp.mean(optax.losses.binary_dice_loss(x, t)))(
        jnp.asarray(x))
    np.testing.assert_allclose(loss, float(want[0]), rtol=1e-12)
    np.testing.assert_allclose(grad, np.asarray(want[1]), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("smooth", [1.0, 1e-3])
def test_generalized_matches_optax(smooth, index):
    rng = np.random.default_rng(11)
    shape = (4, 5, 6)
    x, t = _case(rng, "multiclass", shape, index=index)
    if index:
        t[:, :] = np.where(t == 4, 0, t)  # one class absent: its weight is 1 / 1e-7
    t_hot = np.moveaxis(np.eye(shape[1])[t], -1, 1) if index else t

    def optax_loss(x):
        return optax.losses.multiclass_generalized_dice_loss(_last(x), _last(t_hot),
                                                             smooth=smooth)

    crit = lf.GeneralizedDiceLoss(smooth=smooth, per_sample=True)
    loss, grad = crit.forward_backward(x, t)
    want = jax.value_and_grad(optax_loss)(jnp.asarray(x))
    np.testing.assert_allclose(loss, float(want[0]), rtol=1e-11)
    np.testing.assert_allclose(grad, np.asarray(want[1]), rtol=1e-9,
                               atol=1e-12 * np.abs(np.asarray(want[1])).max())


# -- the torch formula: every mode, reduction and face -----------------------------

def _shapes(mode):
    # S = 1, S < 8 and S > 8 not a multiple of 8 (the kernels' vector blocks)
    return [(6,), (5, 7), (3, 2, 4), (2, 19)] if mode == "binary" else [
        (5, 3), (4, 3, 5), (2, 3, 4, 5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_dice_against_torch(mode, per_sample, reduction, dtype):
    rng = np.random.default_rng(hash((mode, per_sample, reduction)) % 2**32)
    for shape in _shapes(mode):
        for index in ([False, True] if mode == "multiclass" else [False]):
            x, t = _case(rng, mode, shape, dtype, index)
            kw = dict(OPTIONS, mode=mode, per_sample=per_sample)
            if mode != "binary":
                kw["weight"] = rng.uniform(0.5, 2.0, shape[1]).astype(dtype)
            want = _torch_loss(x, t, "none", **kw)[0]
            go = rng.uniform(0.5, 1.5, want.shape).astype(dtype) if reduction == "none" \
                else dtype(0.7)
            want_loss, want_grad = _torch_loss(x, t, reduction, go, **kw)
            assert_close(F.dice_loss(x, t, reduction=reduction, **kw), want_loss, dtype)
            crit = lf.DiceLoss(reduction=reduction, **kw)
            assert_close(crit(x, t), want_loss, dtype)
            grad = crit.backward(go)
            assert grad.dtype == dtype and grad.shape == x.shape
            assert_close(grad, want_grad, dtype, kind="grad")
            out = np.empty_like(x)
            loss, g2 = crit.forward_backward(x, t, grad_output=go, out=out)
            assert g2 is out
            assert_close(loss, want_loss, dtype)
            np.testing.assert_array_equal(out, grad)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("per_sample", [False, True])
def test_generalized_against_torch(per_sample, reduction):
    rng = np.random.default_rng(3)
    for shape in [(6, 4), (3, 4, 5)]:
        for index in (False, True):
            x, t = _case(rng, "multiclass", shape, index=index)
            want = _torch_loss(x, t, reduction, generalized=True, mode="multiclass",
                               per_sample=per_sample)
            crit = lf.GeneralizedDiceLoss(per_sample=per_sample, reduction=reduction)
            loss, grad = crit.forward_backward(x, t, grad_output=np.ones(np.shape(want[0])))
            np.testing.assert_allclose(loss, want[0], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(grad, want[1], rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("shape", [(120, 600), (4, 5, 3001)])
@pytest.mark.parametrize("mode,index", [("multilabel", False), ("multiclass", False),
                                        ("multiclass", True)])
def test_large_against_torch(mode, index, shape):
    # rows wider than the kernels' chunks, on the threads of the pool
    rng = np.random.default_rng(12)
    x, t = _case(rng, mode, shape, index=index)
    before = lf.get_num_threads()
    try:
        lf.set_num_threads(2)
        for per_sample in (False, True):
            kw = dict(OPTIONS, mode=mode, per_sample=per_sample)
            want_loss, want_grad = _torch_loss(x, t, "sum", **kw)
            loss, grad = lf.DiceLoss(reduction="sum", **kw).forward_backward(x, t)
            np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
            np.testing.assert_allclose(grad, want_grad, rtol=1e-9,
                                       atol=1e-12 * np.abs(want_grad).max())
    finally:
        lf.set_num_threads(before)


# -- second order ------------------------------------------------------------------

def _hessian(x, t, reduction, go, generalized=False, **kw):
    """The full Hessian of the torch formula (reduced with grad_output) at x."""
    tt = torch.from_numpy(np.asarray(t))
    kw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    gt = torch.from_numpy(np.asarray(go, np.float64))

    def f(xx):
        terms = dice_terms(xx, tt, generalized=generalized, **kw)
        return (terms * gt).sum() / (terms.numel() if reduction == "mean" else 1)

    h = torch.func.hessian(f)(torch.from_numpy(x))
    return h.reshape(x.size, x.size).numpy()


SECOND = [(m, ps) for m in MODES for ps in (False, True)] + [("generalized", False),
                                                             ("generalized", True)]


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("mode,per_sample", SECOND)
def test_hessian_diagonal_and_hvp(mode, per_sample, reduction):
    rng = np.random.default_rng(7)
    shape = (4, 3) if mode == "binary" else (3, 3, 4)
    generalized = mode == "generalized"
    x, t = _case(rng, "multiclass", shape, index=mode in ("multiclass", "generalized"))
    if generalized:
        crit = lf.GeneralizedDiceLoss(per_sample=per_sample, reduction=reduction)
        kw = dict(mode="multiclass", per_sample=per_sample)
    else:
        kw = dict(OPTIONS, mode=mode, per_sample=per_sample)
        if mode != "binary":
            kw["weight"] = rng.uniform(0.5, 2.0, shape[1])
        crit = lf.DiceLoss(reduction=reduction, **kw)
    n_terms = np.shape(crit.__class__(**{**_opts(crit), "reduction": "none"})(x, t))
    go = rng.uniform(0.5, 1.5, n_terms) if reduction == "none" else 0.7
    H = _hessian(x, t, reduction, go if reduction == "none" else np.full(n_terms, go),
                 generalized=generalized, **kw)
    loss, grad, hess = crit.forward_backward(x, t, grad_output=go, hessian=True)
    np.testing.assert_allclose(hess.ravel(), np.diag(H), rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(crit.hessian(go), hess)
    for _ in range(2):
        v = rng.standard_normal(shape)
        np.testing.assert_allclose(crit.hvp(v, go).ravel(), H @ v.ravel(), rtol=1e-9,
                                   atol=1e-14)


@pytest.mark.parametrize("shape", [(3, 0), (3, 0, 5), (0, 0, 5)])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("mode,generalized",
                         [("multiclass", False), ("multilabel", False), ("multiclass", True)])
def test_no_classes(mode, per_sample, generalized, shape):
    """No classes: no terms, the formula's loss and an empty gradient, Hessian and
    H v.  Every pass of the kernel used to read class 0 of its rows (the
    sanitized suite caught it at [N, 0, S])."""
    x, t = np.zeros(shape), np.zeros(shape)
    for reduction in ("none", "mean", "sum"):
        if generalized:
            crit = lf.GeneralizedDiceLoss(per_sample=per_sample, reduction=reduction)
        else:
            crit = lf.DiceLoss(mode, per_sample=per_sample, reduction=reduction)
        want, want_grad = _torch_loss(x, t, reduction, generalized=generalized, mode=mode,
                                      per_sample=per_sample)
        loss, grad, hess = crit.forward_backward(x, t, hessian=True)
        assert_close(loss, want, np.float64)
        assert grad.shape == hess.shape == want_grad.shape == shape
        go = np.ones(np.shape(want))
        assert crit.hvp(np.ones(shape), go if reduction == "none" else None).shape == shape


@pytest.mark.parametrize("mode", ["multiclass", "multilabel"])
def test_hvp_probability_targets_float32_and_strided_v(mode):
    # the core's H v (WANT_HVP) with probability targets, in float32 (within
    # float32 of the float64 Hessian) and for a v that is not C-contiguous
    rng = np.random.default_rng(17)
    shape = (5, 4, 3)
    x, t = _case(rng, mode, shape)
    if mode == "multiclass":
        t = t / t.sum(1, keepdims=True)
    kw = dict(OPTIONS, mode=mode, weight=rng.uniform(0.5, 2.0, 4))
    H = _hessian(x, t, "mean", np.full(4, 0.9), **kw)
    crit = lf.DiceLoss(**kw)
    crit(x, t)
    v = np.asfortranarray(rng.standard_normal(shape))
    np.testing.assert_allclose(crit.hvp(v, 0.9).ravel(), H @ v.ravel(), rtol=1e-9, atol=1e-14)
    crit32 = lf.DiceLoss(**{**kw, "weight": kw["weight"].astype(np.float32)})
    crit32(x.astype(np.float32), t.astype(np.float32))
    hv32 = crit32.hvp(v.astype(np.float32), 0.9)
    assert hv32.dtype == np.float32
    np.testing.assert_allclose(hv32.ravel(), H @ v.ravel(), rtol=2e-4,
                               atol=2e-5 * np.abs(H @ v.ravel()).max())


@pytest.mark.parametrize("mode,per_sample", [("multilabel", False), ("multiclass", False),
                                             ("multiclass", True), ("binary", False)])
def test_hvp_same_bits_for_any_thread_count(mode, per_sample):
    # the batch-wide sums of H v are formed per fixed block of rows, combined in order
    rng = np.random.default_rng(12)
    shape = (3000, 40) if mode == "binary" else (700, 13, 17)
    x, t = _case(rng, mode, shape, np.float32, index=mode == "multiclass")
    v = rng.standard_normal(shape).astype(np.float32)
    crit = lf.DiceLoss(mode, per_sample=per_sample)
    crit(x, t)
    before = lf.get_num_threads()
    try:
        runs = []
        for n in (1, 2, 3):
            lf.set_num_threads(n)
            runs.append(crit.hvp(v))
    finally:
        lf.set_num_threads(before)
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)


def test_the_core_gives_the_none_shape_of_the_options():
    # WANT_SHAPE: the "none" shape that per_sample and mode decide, from zero-stride
    # stand-ins (no data read); a row whose shape is not the options' refuses it
    from pylossfn import _core

    x = np.broadcast_to(np.zeros(()), (6, 4, 5))
    for mode, per_sample, want in ((0, False, (4,)), (1, True, (6, 4)), (2, True, (6, 1)),
                                   (2, False, (1,))):
        assert _core.dice_loss(x, x, mode, 1.0, 0.5, 0.5, None, per_sample, 0,
                               _core.WANT_SHAPE, None) == want
    assert _core.generalized_dice_loss(x, x[:, 0], 1.0, True, 0, _core.WANT_SHAPE,
                                       None) == (6, 4)
    with pytest.raises(ValueError, match="asks for a shape it does not give"):
        _core.soft_f1_loss(x[0], x[0], 1e-6, 0, _core.WANT_SHAPE, None)
    with pytest.raises(ValueError, match="asks for a shape it does not give"):
        _core.dice_loss(x, x, 0, 1.0, 0.5, 0.5, None, False, 0,
                        _core.WANT_SHAPE | _core.WANT_LOSS, None)


@pytest.mark.dask
@pytest.mark.parametrize("mode,per_sample", [("multilabel", True), ("multiclass", False),
                                             ("binary", True), ("binary", False)])
def test_dask_none_shape_follows_the_options(mode, per_sample):
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(21)
    shape = (6, 5) if mode == "binary" else (6, 4, 5)
    x, t = _case(rng, mode, shape, index=mode == "multiclass")
    lx, lt = da.from_array(x, chunks=2), da.from_array(t, chunks=2)
    want = F.dice_loss(x, t, mode, per_sample=per_sample, reduction="none")
    got = F.dice_loss(lx, lt, mode, per_sample=per_sample, reduction="none")
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.compute(scheduler="synchronous"), want)
    crit = lf.DiceLoss(mode, per_sample=per_sample, reduction="none")
    go = rng.uniform(0.5, 1.5, want.shape)
    loss, grad = crit.forward_backward(x, t, grad_output=go)
    lazy_loss, lazy_grad = crit.forward_backward(lx, lt, grad_output=go)
    assert lazy_loss.shape == loss.shape
    np.testing.assert_array_equal(lazy_loss.compute(scheduler="synchronous"), loss)
    np.testing.assert_array_equal(lazy_grad.compute(scheduler="synchronous"), grad)


def _opts(crit):
    names = ("mode", "smooth", "alpha", "beta", "weight", "per_sample")
    return {k: getattr(crit, k) for k in names if hasattr(crit, k)}


# -- threads, dtypes, properties ---------------------------------------------------

@pytest.mark.parametrize("mode,per_sample", [("multilabel", False), ("multiclass", False),
                                             ("multiclass", True), ("binary", False)])
def test_same_bits_for_any_thread_count(mode, per_sample):
    rng = np.random.default_rng(2)
    shape = (3000, 40) if mode == "binary" else (700, 13, 17)
    x, t = _case(rng, mode, shape, np.float32, index=mode == "multiclass")
    crit = lf.DiceLoss(mode, per_sample=per_sample, reduction="none")
    before = lf.get_num_threads()
    try:
        runs = []
        for n in (1, 2, 3):
            lf.set_num_threads(n)
            runs.append(crit.forward_backward(x, t, grad_output=np.ones(
                (shape[0], 1 if mode == "binary" else 13) if per_sample else
                (1 if mode == "binary" else 13,), np.float32), hessian=True))
    finally:
        lf.set_num_threads(before)
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_float32_follows_float64():
    rng = np.random.default_rng(4)
    x, t = _case(rng, "multilabel", (4096, 50))
    crit = lf.DiceLoss(per_sample=False, alpha=0.2, beta=0.9)
    l64, g64 = crit.forward_backward(x, t)
    l32, g32 = crit.forward_backward(x.astype(np.float32), t.astype(np.float32))
    assert l32.dtype == np.float32 and g32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-6 * np.abs(g64).max())


def test_dice_over_the_batch_is_soft_f1():
    # alpha = beta = 1/2 and smooth = 0: 1 - 2 I / (P + T), SoftF1Loss's
    # 1 - 2 TP / (2 TP + FP + FN) with FP = P - I, FN = T - I (its eps > 0: tiny)
    rng = np.random.default_rng(8)
    x, t = _case(rng, "multilabel", (50, 6))
    dice = lf.DiceLoss(smooth=0.0, reduction="none")
    f1 = lf.SoftF1Loss(eps=1e-300, reduction="none")
    go = rng.uniform(0.5, 1.5, 6)
    for a, b in zip(dice.forward_backward(x, t, grad_output=go, hessian=True),
                    f1.forward_backward(x, t, grad_output=go, hessian=True)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-17)
    v = rng.standard_normal(x.shape)
    np.testing.assert_allclose(dice.hvp(v, go), f1.hvp(v, go), rtol=1e-10, atol=1e-17)


def test_index_targets_equal_one_hot():
    rng = np.random.default_rng(9)
    x, t = _case(rng, "multiclass", (4, 3, 5), index=True)
    hot = np.moveaxis(np.eye(3)[t], -1, 1)
    for per_sample in (False, True):
        a = lf.DiceLoss("multiclass", per_sample=per_sample).forward_backward(x, t)
        b = lf.DiceLoss("multiclass", per_sample=per_sample).forward_backward(x, hot)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-15)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-13, atol=1e-18)


# -- errors ------------------------------------------------------------------------

def test_errors():
    x, t = np.zeros((4, 3)), np.zeros((4, 3))
    with pytest.raises(ValueError, match="mode must be one of 'multilabel', 'multiclass' or"):
        lf.DiceLoss("soft")
    with pytest.raises(ValueError, match="mode must be one of"):
        F.dice_loss(x, t, mode=None)
    for name in ("smooth", "alpha", "beta"):
        with pytest.raises(ValueError, match=f"{name} must be finite and >= 0, got -1"):
            lf.DiceLoss(**{name: -1.0})
    with pytest.raises(ValueError, match="smooth must be finite and >= 0, got nan"):
        lf.GeneralizedDiceLoss(smooth=np.nan)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\) \(one per class\)"):
        F.dice_loss(x, t, weight=np.ones(4))
    with pytest.raises(ValueError, match="weight must be one-dimensional"):
        lf.DiceLoss(weight=np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"target has shape \(4, 2\), but it must have the "
                                         r"input's shape \(4, 3\)"):
        F.dice_loss(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"input must be \[N, C, \*\] \(classes on axis 1\)"):
        F.dice_loss(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"input must be \[N, \*\] \(mode \"binary\"\)"):
        F.dice_loss(np.zeros(()), np.zeros(()), "binary")
    with pytest.raises(IndexError, match=r"target has class 3 at index 2, but input has 3 "
                                         r"classes"):
        F.dice_loss(x, np.array([0, 1, 3, 0]), "multiclass")
    with pytest.raises(IndexError, match=r"target has class -1 at index \(1, 0\)"):
        lf.GeneralizedDiceLoss()(np.zeros((2, 3, 2)), np.array([[0, 1], [-1, 0]]))
    with pytest.raises(ValueError, match=r"needs class indices of shape \(4,\)"):
        F.generalized_dice_loss(x, np.zeros((4, 1), np.int64))
    with pytest.raises(TypeError, match="target must be a real"):
        F.dice_loss(x, t.astype(complex))
    with pytest.raises(TypeError, match="input must be a float32 or float64 array"):
        F.dice_loss(x.astype(np.int64), t)
