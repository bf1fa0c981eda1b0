"""Second order without torch (the torch-free tier runs these): hvp is the
derivative of the engine's own gradient (central differences, float64) for
every loss, reduction and grad_output; the refusals (before a forward call,
CTC, a bad ``v``, dask is test_dask's); zeros where piecewise linear; ``out=``
stays the gradient's; empty inputs; the fused heads against their own
gradient.  torch's Hessians are test_hessian's (the fused heads':
test_linear_head's).
"""
import numpy as np
import pytest
from loss_table import LOSSES, ROWS, loss_shape, valid_inputs, valid_options

import pylossfn as lf
from pylossfn import _core

HESS_ROWS = [row for row in LOSSES if row.name != "CTCLoss"]
FD_CASES = [(row, red) for row in HESS_ROWS for red in row.reductions]


def _as_tuple(a):
    return a if isinstance(a, tuple) else (a,)


@pytest.mark.parametrize("row,reduction", FD_CASES,
                         ids=[f"{r.name}-{red}" for r, red in FD_CASES])
def test_hvp_is_the_derivative_of_the_gradient(row, reduction):
    """Central differences of the engine's gradient along v, in float64,
    with a grad_output that is not 1; the diagonal is the hvp of the unit
    vectors' sum only where the Hessian is diagonal, so it is checked
    through hvp(v) and through e_k for a few k."""
    rng = np.random.default_rng(21)
    opts = dict(valid_options(row, np.float64, rng), reduction=reduction)
    inputs = list(valid_inputs(row, np.float64, rng))
    shape = loss_shape(row, reduction, inputs, opts)
    go = rng.uniform(0.5, 2, shape) if reduction == "none" else np.float64(1.5)
    crit = row.cls(**opts)
    crit(*inputs)
    step = 1e-5

    def fd(vs):
        def grad_at(sign):
            moved = list(inputs)
            for i, v in zip(row.diff, vs):
                moved[i] = inputs[i] + sign * step * v
            return _as_tuple(row.cls(**opts).forward_backward(*moved, grad_output=go)[1])
        return [(gp - gm) / (2 * step) for gp, gm in zip(grad_at(1), grad_at(-1))]

    def close(got, want):
        scale = max(max(float(np.abs(w).max(initial=0)) for w in want), 1.0)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 * scale)

    vs = tuple(rng.standard_normal(np.shape(inputs[i])) for i in row.diff)
    close(_as_tuple(crit.hvp(vs if len(vs) > 1 else vs[0], go)), fd(vs))
    # the diagonal: entry k of H e_k, for the first elements of each input
    hess = _as_tuple(crit.hessian(go))
    for q, i in enumerate(row.diff):
        for k in range(min(3, np.size(inputs[i]))):
            e = [np.zeros(np.shape(inputs[j])) for j in row.diff]
            e[q].flat[k] = 1.0
            col = fd(e)[q]
            np.testing.assert_allclose(hess[q].flat[k], col.flat[k], rtol=1e-5,
                                       atol=1e-6 * max(np.abs(col).max(initial=0), 1.0))


@pytest.mark.parametrize("row", HESS_ROWS, ids=[r.name for r in HESS_ROWS])
def test_before_forward(row):
    crit = row.cls(**valid_options(row, np.float64))
    with pytest.raises(RuntimeError, match=rf"{row.name}\.hessian\(\) was called before any"):
        crit.hessian()
    with pytest.raises(RuntimeError, match=rf"{row.name}\.hvp\(\) was called before any"):
        crit.hvp(np.zeros(3))


def test_ctc_refuses():
    row = ROWS["CTCLoss"]
    crit = row.cls(**valid_options(row, np.float64))
    inputs = valid_inputs(row, np.float64)
    for call in (lambda: crit.forward_backward(*inputs, hessian=True),
                 lambda: crit.hessian(), lambda: crit.hvp(inputs[0])):
        with pytest.raises(NotImplementedError,
                           match=r"CTCLoss\.\w+\(\): no Hessian: .*alignment"):
            call()
    crit(*inputs)  # after a forward call too
    with pytest.raises(NotImplementedError, match=r"CTCLoss\.hessian\(\)"):
        crit.hessian()
    # the core itself refuses (no zeros by mistake through pylossfn._core)
    with pytest.raises(NotImplementedError, match=r"ctc_loss: no Hessian"):
        crit._run(_core.WANT_HESS, None, tuple(inputs))  # the caller made from its row


HEAD_CASES = [(cls, red, chunk) for cls in (lf.LinearCrossEntropyLoss, lf.LinearBCEWithLogitsLoss)
              for red in ("mean", "sum", "none") for chunk in (None, (2, 3), (5, 4))]


def _head_case(cls, reduction, chunk, rng):
    """A head with every option set (bias, weight / ignore_index /
    label_smoothing or pos_weight), float64 inputs and a grad_output != 1."""
    N, D, C = 5, 4, 7
    if cls is lf.LinearCrossEntropyLoss:
        crit = cls(D, C, bias=True, dtype=np.float64, reduction=reduction, chunk_size=chunk,
                   weight=rng.uniform(0.5, 2, C), ignore_index=2, label_smoothing=0.2, seed=3)
        t = np.array([0, 2, 6, 3, 1])  # row 1 ignored
        shape = (N,)
    else:
        crit = cls(D, C, bias=True, dtype=np.float64, reduction=reduction, chunk_size=chunk,
                   pos_weight=rng.uniform(0.5, 3, C), seed=3)
        t = np.array([[0, 3, 3], [-1, -1, -1], [6, -1, 2], [1, 2, 5], [4, -1, -1]])
        shape = (N, C)
    go = rng.uniform(0.5, 2, shape) if reduction == "none" else np.float64(1.5)
    return crit, rng.standard_normal((N, D)), t, go


@pytest.mark.parametrize("cls,reduction,chunk", HEAD_CASES,
                         ids=[f"{c.__name__}-{r}-{k}" for c, r, k in HEAD_CASES])
def test_fused_heads_hvp_is_the_derivative_of_the_gradient(cls, reduction, chunk):
    """The fused heads' hvp against central differences of their own
    gradient in the input; the diagonal (hessian() and hessian=True) against
    hvp of the unit vectors; chunk shapes that do and don't divide N x C."""
    rng = np.random.default_rng(5)
    crit, x, t, go = _head_case(cls, reduction, chunk, rng)
    loss, grad, hess = crit.forward_backward(x, t, grad_output=go, hessian=True)
    np.testing.assert_allclose(grad, crit.backward(go), rtol=1e-14, atol=0)
    step = 1e-5

    def fd(v):
        gp = crit.forward_backward(x + step * v, t, grad_output=go)[1]
        gm = crit.forward_backward(x - step * v, t, grad_output=go)[1]
        crit(x, t)
        return (gp - gm) / (2 * step)

    v = rng.standard_normal(x.shape)
    hv = crit.hvp(v, go)
    assert hv.shape == x.shape and hv.dtype == np.float64
    np.testing.assert_allclose(hv, fd(v), rtol=1e-6, atol=1e-8)
    assert np.any(hv != 0)
    np.testing.assert_allclose(crit.hessian(go), hess, rtol=1e-14, atol=0)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            e = np.zeros(x.shape)
            e[i, j] = 1.0
            np.testing.assert_allclose(hess[i, j], crit.hvp(e, go)[i, j], rtol=1e-10,
                                       atol=1e-14)
    if cls is lf.LinearCrossEntropyLoss:  # the ignored row: no curvature
        assert not hess[1].any() and not hv[1].any()
    assert np.all(hess >= 0)  # W.T H_z W with H_z positive semidefinite, go > 0


@pytest.mark.parametrize("cls", [lf.LinearCrossEntropyLoss, lf.LinearBCEWithLogitsLoss])
def test_fused_heads_second_order_unbatched_float32_and_errors(cls):
    """An unbatched input gives [in_features] diagonals / products; float32
    follows the dtype; hvp before a forward call and a v of the wrong shape
    are refused naming them."""
    crit = cls(4, 6, seed=0)
    with pytest.raises(RuntimeError, match=rf"{cls.__name__}\.hvp\(\) was called before"):
        crit.hvp(np.zeros((3, 4)))
    with pytest.raises(RuntimeError, match=rf"{cls.__name__}\.hessian\(\) was called"):
        crit.hessian()
    x = np.random.default_rng(0).standard_normal(4).astype(np.float32)
    t = np.array(5) if cls is lf.LinearCrossEntropyLoss else np.array([1, 5])
    loss, grad, hess = crit.forward_backward(x, t, hessian=True)
    assert hess.shape == (4,) and hess.dtype == np.float32
    assert crit.hvp(np.ones(4)).shape == (4,)
    batched = cls(4, 6, seed=0, dtype=np.float64)
    _, _, hess2 = batched.forward_backward(x[None].astype(np.float64), t[None], hessian=True)
    np.testing.assert_allclose(hess, hess2[0], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.hvp: v has shape \(3,\)"):
        crit.hvp(np.zeros(3))


def test_hvp_bad_v():
    crit = lf.CrossEntropyLoss()
    crit(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss\.hvp: v has shape \(3,\), but the "
                                         r"input has shape \(2, 3\)"):
        crit.hvp(np.zeros(3))
    with pytest.raises(TypeError, match=r"hvp: v must be a real array"):
        crit.hvp(np.zeros((2, 3), complex))
    pair = lf.MarginRankingLoss()
    pair(np.zeros(3), np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match=r"MarginRankingLoss\.hvp: v must be a tuple of 2"):
        pair.hvp(np.zeros(3))
    with pytest.raises(ValueError, match=r"v\[1\] has shape \(2,\)"):
        pair.hvp((np.zeros(3), np.zeros(2)))


def test_hvp_takes_lists_and_returns_the_input_dtype():
    crit = lf.BCEWithLogitsLoss(reduction="sum")
    x = np.array([[0.0, 1.0]], np.float32)
    crit(x, np.array([[1.0, 0.0]], np.float32))
    hv = crit.hvp([[1, 2]])
    assert hv.dtype == np.float32
    np.testing.assert_array_equal(hv, crit.hessian() * np.array([[1, 2]], np.float32))


def test_piecewise_linear_zeros():
    """L1, hinge, ranking and the margin losses with p = 1: zeros, not errors."""
    rng = np.random.default_rng(2)
    for name in ("L1Loss", "HingeEmbeddingLoss", "MarginRankingLoss", "MultiLabelMarginLoss",
                 "KLDivLoss"):
        row = ROWS[name]
        crit = row.cls(**valid_options(row, np.float64, rng), reduction="sum")
        *_, hess = crit.forward_backward(*valid_inputs(row, np.float64, rng), hessian=True)
        for h in _as_tuple(hess):
            np.testing.assert_array_equal(h, np.zeros_like(h))
    crit = lf.MultiMarginLoss(p=1)
    *_, hess = crit.forward_backward(rng.standard_normal((4, 3)), np.array([0, 1, 2, 0]),
                                     hessian=True)
    np.testing.assert_array_equal(hess, np.zeros((4, 3)))


def test_out_is_the_gradient_buffer():
    crit = lf.MSELoss()
    x, t = np.arange(3.0), np.zeros(3)
    out = np.empty(3)
    loss, grad, hess = crit.forward_backward(x, t, out=out, hessian=True)
    assert grad is out and hess is not out
    np.testing.assert_array_equal(hess, np.full(3, 2 / 3))


def test_empty_inputs():
    """No classes (probability targets) or no samples: empty diagonals, and a
    mean over nothing is nan as for the gradient (the C harness found the
    no-class read)."""
    crit = lf.CrossEntropyLoss()
    loss, grad, hess = crit.forward_backward(np.zeros((2, 0)), np.zeros((2, 0)), hessian=True)
    assert hess.shape == (2, 0) and np.isnan(loss)
    assert crit.hvp(np.zeros((2, 0))).shape == (2, 0)
    crit = lf.BCEWithLogitsLoss()
    _, _, hess = crit.forward_backward(np.zeros((0, 3)), np.zeros((0, 3)), hessian=True)
    assert hess.shape == (0, 3)


