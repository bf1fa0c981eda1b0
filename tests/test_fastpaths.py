"""The kernels agree with torch on every memory layout they special-case.

Unit-stride operands take the vectorized fast paths; strided, transposed,
reversed and broadcast (stride 0) ones go through block buffers or the
generic walker.  Each is compared with torch on the same values, for the
four losses and both dtypes, including a size above the threading
threshold.  ``out=`` (a caller's gradient buffer) is checked here too.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pylossfn as lf

pytestmark = pytest.mark.torch

TOL = {np.float32: (1e-5, 1e-6), np.float64: (1e-10, 1e-12)}
DTYPES = [np.float32, np.float64]
SHAPES = [(37, 23), (512, 300)]  # the second is above the threading threshold


def _layouts(a, rng):
    """(name, view) pairs holding the values of `a` in different layouts."""
    yield "contiguous", a
    big = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
    big[:, ::2] = a
    yield "strided", big[:, ::2]
    yield "fortran", np.asfortranarray(a)
    rev = a[::-1, ::-1].copy()
    yield "reversed", rev[::-1, ::-1]


def _close(got, want, dtype, what):
    rtol, atol = TOL[dtype]
    want = np.asarray(want, dtype=np.float64)
    scale = float(np.abs(want).max()) if want.size else 0.0
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol,
                               atol=atol * max(scale, 1.0), err_msg=what)


def _torch_fb(fn, x, *args, grad_output=None, **kw):
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    loss = fn(xt, *args, **kw)
    loss.backward(None if grad_output is None else torch.tensor(grad_output))
    return loss.detach().numpy(), xt.grad.numpy()


def _t(a):
    return None if a is None else torch.tensor(np.ascontiguousarray(a))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_bce_with_logits_layouts(shape, dtype):
    rng = np.random.default_rng(0)
    x0 = (rng.standard_normal(shape) * 5).astype(dtype)
    y0 = rng.random(shape).astype(dtype)
    pw = rng.uniform(0.5, 3, shape[1]).astype(dtype)  # broadcasts over rows: stride 0
    w = rng.uniform(0.5, 2, (shape[0], 1)).astype(dtype)  # broadcasts over columns
    for name, x in _layouts(x0, rng):
        for yname, y in [("y", y0), ("y-bcast", np.broadcast_to(y0[:1], shape))]:
            crit = lf.BCEWithLogitsLoss(weight=w, pos_weight=pw)
            loss, grad = crit.forward_backward(x, y)
            tl, tg = _torch_fb(TF.binary_cross_entropy_with_logits, x, _t(y), weight=_t(w),
                               pos_weight=_t(pw))
            _close(loss, tl, dtype, f"{name}/{yname} loss")
            _close(grad, tg, dtype, f"{name}/{yname} grad")
    # reduction none with a strided grad_output
    go = rng.random((shape[0], 2 * shape[1])).astype(dtype)[:, ::2]
    crit = lf.BCEWithLogitsLoss(reduction="none")
    loss, grad = crit.forward_backward(x0.T, y0.T, grad_output=go.T)
    tl, tg = _torch_fb(TF.binary_cross_entropy_with_logits, x0.T, _t(y0.T), reduction="none",
                       grad_output=np.ascontiguousarray(go.T))
    _close(loss, tl, dtype, "none loss")
    _close(grad, tg, dtype, "none grad")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_bce_layouts(shape, dtype):
    rng = np.random.default_rng(1)
    p0 = rng.uniform(0, 1, shape).astype(dtype)
    p0.flat[::97] = 0.0  # the log clamp at -100 and the 1e-12 gradient clamp
    p0.flat[1::89] = 1.0
    y0 = rng.random(shape).astype(dtype)
    w = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    for name, p in _layouts(p0, rng):
        loss, grad = lf.BCELoss(weight=w, reduction="sum").forward_backward(p, y0)
        tl, tg = _torch_fb(TF.binary_cross_entropy, p, _t(y0), weight=_t(w), reduction="sum")
        _close(loss, tl, dtype, f"{name} loss")
        _close(grad, tg, dtype, f"{name} grad")


@pytest.mark.parametrize("shape", SHAPES + [(64, 5000)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_layouts(shape, dtype, ls):
    rng = np.random.default_rng(2)
    x0 = (rng.standard_normal(shape) * 4).astype(dtype)
    t0 = rng.integers(0, shape[1], shape[0])
    t0[::5] = -100
    w = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    layouts = list(_layouts(x0, rng)) + [("bcast", np.broadcast_to(x0[:1], shape))]
    for name, x in layouts:
        for wname, ww in [("w", w), ("w-strided", np.repeat(w, 2)[::2]), ("no-w", None)]:
            crit = lf.CrossEntropyLoss(weight=ww, label_smoothing=ls)
            loss, grad = crit.forward_backward(x, t0)
            tl, tg = _torch_fb(TF.cross_entropy, x, _t(t0), weight=_t(ww), label_smoothing=ls)
            _close(loss, tl, dtype, f"{name}/{wname} loss")
            _close(grad, tg, dtype, f"{name}/{wname} grad")
    # spatial [N, C, d] input (class stride != 1) and a broadcast target
    x3 = (rng.standard_normal((8, 5, 7))).astype(dtype)
    t3 = np.broadcast_to(rng.integers(0, 5, (1, 7)), (8, 7))
    loss, grad = lf.CrossEntropyLoss(label_smoothing=ls).forward_backward(x3, t3)
    tl, tg = _torch_fb(TF.cross_entropy, x3, _t(t3), label_smoothing=ls)
    _close(loss, tl, dtype, "spatial loss")
    _close(grad, tg, dtype, "spatial grad")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_nll_layouts(shape, dtype):
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal(shape).astype(dtype)
    t0 = rng.integers(0, shape[1], shape[0])
    w = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    for name, x in _layouts(x0, rng):
        loss, grad = lf.NLLLoss(weight=w).forward_backward(x, t0)
        tl, tg = _torch_fb(TF.nll_loss, x, _t(t0), weight=_t(w))
        _close(loss, tl, dtype, f"{name} loss")
        _close(grad, tg, dtype, f"{name} grad")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_out_buffer(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 10)).astype(dtype)
    y = rng.random((16, 10)).astype(dtype)
    t = rng.integers(0, 10, 16)
    for crit, target in [(lf.BCEWithLogitsLoss(), y), (lf.CrossEntropyLoss(), t),
                         (lf.NLLLoss(), t)]:
        want_loss, want_grad = crit.forward_backward(x, target)
        out = np.full_like(x, np.nan)
        loss, grad = crit.forward_backward(x, target, out=out)
        assert grad is out
        assert loss == want_loss
        np.testing.assert_array_equal(out, want_grad)
        out2 = np.full_like(x, np.nan)
        assert crit.backward(out=out2) is out2
        np.testing.assert_array_equal(out2, want_grad)


def test_out_buffer_is_validated():
    x = np.zeros((4, 3), np.float32)
    y = np.zeros((4, 3), np.float32)
    crit = lf.BCEWithLogitsLoss()
    with pytest.raises(TypeError, match="out must have the input's dtype"):
        crit.forward_backward(x, y, out=np.empty((4, 3)))
    with pytest.raises(ValueError, match="out has shape"):
        crit.forward_backward(x, y, out=np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match="share memory"):
        crit.forward_backward(x, y, out=x)
    ro = np.empty((4, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        crit.forward_backward(x, y, out=ro)
    with pytest.raises(ValueError, match="C-contiguous"):
        lf.CrossEntropyLoss().forward_backward(x, np.zeros(4, np.int64),
                                               out=np.empty((3, 4), np.float32).T)
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        crit.forward_backward(x, y, out=[[0.0] * 3] * 4)


@pytest.mark.parametrize("level", range(lf._core._set_isa(-1) + 1),
                         ids=lambda v: ["base", "avx2", "avx512"][v])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_every_kernel_variant_agrees_with_torch(level, dtype):
    """The AVX-512, AVX2 and baseline builds of each kernel, one by one."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((33, 41)) * 6).astype(dtype)
    p = rng.uniform(0, 1, x.shape).astype(dtype)
    y = rng.random(x.shape).astype(dtype)
    t = rng.integers(0, 41, 33)
    cases = [
        (lf.BCEWithLogitsLoss(), TF.binary_cross_entropy_with_logits, x, y, {}),
        (lf.BCELoss(), TF.binary_cross_entropy, p, y, {}),
        (lf.CrossEntropyLoss(label_smoothing=0.1), TF.cross_entropy, x, t,
         dict(label_smoothing=0.1)),
        (lf.NLLLoss(), TF.nll_loss, x, t, {}),
    ]
    try:
        assert lf._core._set_isa(level) == level
        for crit, fn, inp, target, kw in cases:
            loss, grad = crit.forward_backward(inp, target)
            tl, tg = _torch_fb(fn, inp, _t(target), **kw)
            _close(loss, tl, dtype, f"{type(crit).__name__} loss")
            _close(grad, tg, dtype, f"{type(crit).__name__} grad")
    finally:
        lf._core._set_isa(-1)
