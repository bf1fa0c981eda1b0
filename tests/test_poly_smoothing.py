"""BCE label smoothing and Poly-1 BCE with logits (issue 22) against torch.

The oracles run here, in the input's dtype: torch's own ``binary_cross_entropy``
and ``binary_cross_entropy_with_logits`` on the smoothed target ``y (1 - e) + e / 2``
(the contract's definition), and torch's BCE-with-logits term plus
``epsilon * weight * (1 - p_t)`` for Poly-1 (``oracle.poly_binary_cross_entropy_with_logits``);
values and gradients by autograd, the Hessian's diagonal and ``hvp`` by
``torch.func.hessian`` of the same functions.  Every face: the function, the
class (forward, backward, forward_backward with ``hessian=True``, ``hessian()``,
``hvp(v)``), ``out=``, threads, dask and the boosting objectives; both dtypes,
every reduction, ``weight`` / ``pos_weight`` broadcast from ``[C]``, ``[N, 1]``,
``[1, C]`` and full shapes.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_close
from oracle import poly_binary_cross_entropy_with_logits as torch_poly
from oracle import smoothed_target

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch

N, C = 5, 4
DTYPES = (np.float32, np.float64)
REDUCTIONS = ("none", "mean", "sum")
KINDS = ("bce", "bcel", "poly")
# (weight shape, pos_weight shape), broadcasting to [N, C]
BROADCASTS = [(None, None), ((C,), None), ((N, 1), (C,)), ((N, C), (1, C)), ((1, C), (N, C))]
# the option of each kind: label_smoothing for BCE / BCE with logits, epsilon for Poly-1
SETTINGS = {"bce": (0.1, 0.5, 1.0), "bcel": (0.05, 0.3, 1.0), "poly": (1.0, -1.0, 2.5, 0.0)}


def make_inputs(kind, dtype, shape=(N, C), seed=0):
    rng = np.random.default_rng(seed)
    if kind == "bce":
        x = rng.uniform(0.03, 0.97, shape)
    else:
        x = rng.normal(0.0, 2.5, shape)
    y = rng.uniform(0.0, 1.0, shape)
    y.reshape(-1)[::3] = 1.0  # hard labels among the soft ones
    y.reshape(-1)[1::4] = 0.0
    return x.astype(dtype), y.astype(dtype)


def make_options(kind, setting, shapes, dtype, seed=1):
    rng = np.random.default_rng(seed)
    wshape, pshape = shapes
    opts = {}
    if wshape is not None:
        opts["weight"] = rng.uniform(0.3, 2.0, wshape).astype(dtype)
    if kind != "bce" and pshape is not None:
        opts["pos_weight"] = rng.uniform(0.5, 3.0, pshape).astype(dtype)
    opts["epsilon" if kind == "poly" else "label_smoothing"] = setting
    return opts


def criterion(kind, reduction, opts):
    cls = {"bce": lf.BCELoss, "bcel": lf.BCEWithLogitsLoss, "poly": lf.PolyBCEWithLogitsLoss}
    return cls[kind](reduction=reduction, **opts)


def function(kind):
    return {"bce": F.binary_cross_entropy, "bcel": F.binary_cross_entropy_with_logits,
            "poly": F.poly_binary_cross_entropy_with_logits}[kind]


def torch_loss(kind, x, y, reduction, opts):
    """The oracle's loss of tensors x, y with the options of ``opts`` (arrays as tensors)."""
    t = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    if kind == "poly":
        return torch_poly(x, y, reduction=reduction, **t)
    ys = smoothed_target(y, t.pop("label_smoothing"))
    if kind == "bce":
        return TF.binary_cross_entropy(x, ys, reduction=reduction, **t)
    return TF.binary_cross_entropy_with_logits(x, ys, reduction=reduction, **t)


def grad_output_for(reduction, dtype, seed=2):
    rng = np.random.default_rng(seed)
    if reduction == "none":
        return rng.uniform(-1.5, 1.5, (N, C)).astype(dtype)
    return dtype(0.7)


def torch_expected(kind, x, y, reduction, opts, go):
    """(loss, gradient, Hessian's diagonal, full Hessian as an [xn, xn] matrix) of
    sum(go * loss) by autograd and torch.func.hessian."""
    tx, ty = torch.from_numpy(x.copy()), torch.from_numpy(y)
    tgo = torch.as_tensor(np.asarray(go))

    def total(v):
        return (torch_loss(kind, v, ty, reduction, opts) * tgo).sum()

    loss = torch_loss(kind, tx, ty, reduction, opts).numpy()
    xg = tx.clone().requires_grad_(True)
    grad = torch.autograd.grad(total(xg), xg)[0].numpy()
    hess = torch.func.hessian(total)(tx).reshape(x.size, x.size).numpy()
    return loss, grad, np.diagonal(hess).reshape(x.shape).copy(), hess


CASES = [(kind, dtype, red, setting, shapes) for kind in KINDS for dtype in DTYPES
         for red in REDUCTIONS for setting in SETTINGS[kind] for shapes in BROADCASTS]


def case_id(case):
    kind, dtype, red, setting, (ws, ps) = case
    return f"{kind}-{np.dtype(dtype).name}-{red}-{setting}-w{ws}-pw{ps}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_every_face_against_torch(case):
    """value, gradient, Hessian diagonal and hvp of every face against the oracle."""
    kind, dtype, reduction, setting, shapes = case
    x, y = make_inputs(kind, dtype)
    opts = make_options(kind, setting, shapes, dtype)
    go = grad_output_for(reduction, dtype)
    loss, grad, diag, hess = torch_expected(kind, x, y, reduction, opts, go)
    fn_value = function(kind)(x, y, reduction=reduction, **opts)
    assert_close(fn_value, loss, dtype, err_msg="function")
    crit = criterion(kind, reduction, opts)
    assert_close(crit(x, y), loss, dtype, err_msg="forward")
    assert_close(crit.backward(go), grad, dtype, kind="grad", err_msg="backward")
    assert_close(crit.hessian(go), diag, dtype, kind="grad", err_msg="hessian()")
    v = np.random.default_rng(3).normal(size=x.shape).astype(dtype)
    assert_close(crit.hvp(v, go), (hess @ v.reshape(-1)).reshape(x.shape), dtype,
                 kind="grad", err_msg="hvp")
    value, g, h = crit.forward_backward(x, y, grad_output=go, hessian=True)
    assert_close(value, loss, dtype, err_msg="forward_backward")
    assert_close(g, grad, dtype, kind="grad", err_msg="forward_backward grad")
    assert_close(h, diag, dtype, kind="grad", err_msg="forward_backward hess")
    for got in (fn_value, value, g, h):
        assert np.asarray(got).dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_out_writes_the_gradient_in_place(kind, dtype):
    x, y = make_inputs(kind, dtype)
    opts = make_options(kind, SETTINGS[kind][0], ((C,), (C,)), dtype)
    crit = criterion(kind, "sum", opts)
    _, grad = crit.forward_backward(x, y)
    buf = np.full(x.shape, 7.0, dtype)
    _, got = crit.forward_backward(x, y, out=buf)
    assert got is buf
    np.testing.assert_array_equal(buf, grad)
    buf2 = np.empty_like(buf)
    assert crit.backward(out=buf2) is buf2
    np.testing.assert_array_equal(buf2, grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_threads_give_the_same_bits(kind, dtype):
    """Above the thread threshold (and several work units), every thread count
    gives the same bits, which agree with the oracle."""
    shape = (64, 1000)
    x, y = make_inputs(kind, dtype, shape)
    rng = np.random.default_rng(4)
    opts = {"epsilon" if kind == "poly" else "label_smoothing": SETTINGS[kind][0],
            "weight": rng.uniform(0.5, 2, shape[-1]).astype(dtype)}
    before = lf.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            lf.set_num_threads(n)
            results.append(criterion(kind, "mean", opts).forward_backward(x, y, hessian=True))
    finally:
        lf.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    loss = torch_loss(kind, torch.from_numpy(x), torch.from_numpy(y), "mean", opts).item()
    assert_close(results[0][0], loss, dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_smoothing_is_the_smoothed_target_exactly(kind):
    """Smoothing inside the kernel is the target y * (1 - e) + e / 2 formed in
    the dtype (what torch does with a Python float), to the bit; e = 0 is the
    unsmoothed loss, and Poly-1 with epsilon = 0 is BCE with logits."""
    for dtype in DTYPES:
        x, y = make_inputs(kind, dtype)
        if kind == "poly":
            got = F.poly_binary_cross_entropy_with_logits(x, y, 0.0, reduction="none")
            want = F.binary_cross_entropy_with_logits(x, y, reduction="none")
            np.testing.assert_array_equal(got, want)
            continue
        fn = function(kind)
        for e in (0.0, 0.1, 1.0):
            ys = y * dtype(1.0 - e) + dtype(e / 2)
            got = criterion(kind, "none", {"label_smoothing": e}).forward_backward(
                x, y, hessian=True)
            want = criterion(kind, "none", {}).forward_backward(x, ys, hessian=True)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(fn(x, y, reduction="none", label_smoothing=e),
                                          fn(x, ys, reduction="none"))


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), float("inf")])
@pytest.mark.parametrize("kind", ["bce", "bcel"])
def test_label_smoothing_outside_unit_interval_is_refused_at_construction(kind, value):
    name = "binary_cross_entropy" if kind == "bce" else "binary_cross_entropy_with_logits"
    with pytest.raises(ValueError, match=rf"{name}: label_smoothing must be in \[0, 1\]"):
        criterion(kind, "mean", {"label_smoothing": value})
    x, y = make_inputs(kind, np.float64)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        function(kind)(x, y, label_smoothing=value)


def test_options_are_keyword_only_where_torch_has_positions():
    x, y = make_inputs("bcel", np.float64)
    with pytest.raises(TypeError):
        F.binary_cross_entropy_with_logits(x, y, None, "mean", None, 0.1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        lf.BCELoss(None, "mean", 0.1)  # type: ignore[misc]
    # Poly-1 has no torch positions: the contract's order, positionally
    crit = lf.PolyBCEWithLogitsLoss(0.5, None, "sum", np.ones(C))
    assert (crit.epsilon, crit.reduction) == (0.5, "sum")
    assert repr(crit) == "PolyBCEWithLogitsLoss(epsilon=0.5, reduction='sum', " \
        "pos_weight=array([1., 1., 1., 1.]))"
    assert repr(lf.BCEWithLogitsLoss(label_smoothing=0.2)) == \
        "BCEWithLogitsLoss(label_smoothing=0.2)"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_poly_epsilon_must_be_finite(value):
    with pytest.raises(ValueError, match=r"epsilon must be finite"):
        lf.PolyBCEWithLogitsLoss(epsilon=value)
    x, y = make_inputs("poly", np.float64)
    with pytest.raises(ValueError, match=r"epsilon must be finite"):
        F.poly_binary_cross_entropy_with_logits(x, y, value)


def test_bce_domain_is_checked_on_the_target_before_smoothing():
    """A target outside [0, 1] stays an error with smoothing (smoothing would
    bring 1.2 inside [0, 1], silently), and so does a bad probability."""
    x, y = make_inputs("bce", np.float64)
    bad = y.copy()
    bad[1, 2] = 1.2
    crit = lf.BCELoss(label_smoothing=0.5)
    with pytest.raises(ValueError, match=r"target has 1.2 at flat index 6"):
        crit(x, bad)
    buf = np.full(x.shape, 3.0)
    with pytest.raises(ValueError, match=r"target has 1.2 at flat index 6"):
        crit.forward_backward(x, bad, out=buf)
    assert (buf == 3.0).all()  # never written when the call raises
    badx = x.copy()
    badx[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"input has nan at flat index 1"):
        crit.forward_backward(badx, y, hessian=True)


@pytest.mark.dask
@pytest.mark.parametrize("kind", KINDS)
def test_dask_inputs_compute_to_the_numpy_values(kind):
    da = pytest.importorskip("dask.array")
    x, y = make_inputs(kind, np.float64, (12, 6))
    opts = make_options(kind, SETTINGS[kind][1], ((6,), (6,)), np.float64)
    for reduction in REDUCTIONS:
        crit = criterion(kind, reduction, opts)
        loss, grad = crit.forward_backward(x, y)
        lazy = criterion(kind, reduction, opts)
        dl, dg = lazy.forward_backward(da.from_array(x, chunks=(5, 6)), da.from_array(y, 4))
        np.testing.assert_allclose(dl.compute(), loss, rtol=1e-12)
        np.testing.assert_allclose(dg.compute(), grad, rtol=1e-12, atol=1e-15)
        assert dg.chunks[0] == (5, 5, 2)
        fn = function(kind)(da.from_array(x, 5), y, reduction=reduction, **opts)
        np.testing.assert_allclose(fn.compute(), loss, rtol=1e-12)


@pytest.mark.boosting
@pytest.mark.parametrize("crit", [
    lf.PolyBCEWithLogitsLoss(epsilon=0.5, pos_weight=np.array([2.0, 0.5, 1.5])),
    lf.PolyBCEWithLogitsLoss(epsilon=-1.0),
    lf.BCEWithLogitsLoss(label_smoothing=0.2, weight=np.array([1.0, 2.0, 0.5])),
], ids=repr)
def test_boosting_objective_is_the_sum_over_samples(crit):
    """The XGBoost objective's gradient and Hessian are those of sum_i w_i loss_i
    (torch.func.hessian of the oracle, float64), whatever the reduction."""
    pytest.importorskip("xgboost")
    from pylossfn import boosting

    rng = np.random.default_rng(6)
    n, k = 40, 3
    margins = rng.normal(scale=2.0, size=(n, k))
    labels = (rng.uniform(size=(n, k)) > 0.6).astype(np.float64)
    w = rng.uniform(0.3, 3.0, n)
    grad, hess = boosting.xgboost_objective(crit)(labels, margins, sample_weight=w)
    kind = "poly" if isinstance(crit, lf.PolyBCEWithLogitsLoss) else "bcel"
    opts = {key: getattr(crit, key) for key in ("weight", "pos_weight")
            if getattr(crit, key) is not None}
    opts["epsilon" if kind == "poly" else "label_smoothing"] = getattr(
        crit, "epsilon" if kind == "poly" else "label_smoothing")
    go = np.repeat(w[:, None], k, axis=1)
    tx, ty = torch.from_numpy(margins), torch.from_numpy(labels)

    def total(v):
        return (torch_loss(kind, v, ty, "none", opts) * torch.from_numpy(go)).sum()

    xg = tx.clone().requires_grad_(True)
    want_g = torch.autograd.grad(total(xg), xg)[0].numpy()
    want_h = np.diagonal(torch.func.hessian(total)(tx).reshape(n * k, n * k)).reshape(n, k)
    tol = 16 * np.finfo(np.float32).eps
    np.testing.assert_allclose(grad, want_g, rtol=tol, atol=tol)
    np.testing.assert_allclose(hess, want_h, rtol=tol, atol=tol)
