"""Second order: ``forward_backward(..., hessian=True)``, ``hessian()`` and
``hvp()`` of every loss of loss_table against torch's autograd Hessian
(``torch.autograd.functional.hessian`` in float64 of the row's torch oracle,
or of the reference formula for the losses torch lacks), for every option the
table exercises, every reduction, both dtypes and ``grad_output`` scaling;
central differences of the engine's own gradient; the refusals (before a
forward call, CTC, a bad ``v``); inputs never written.
"""
import numpy as np
import pytest
import torch
from loss_table import LOSSES, ROWS, loss_shape, valid_inputs, valid_options
from oracle import _float_target, torch_fn

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch

HESS_ROWS = [row for row in LOSSES if row.name != "CTCLoss"]
CASES = [(row, dtype, red) for row in HESS_ROWS for dtype in (np.float32, np.float64)
         for red in row.reductions]


def _reduce(loss, reduction):
    return {"none": lambda v: v, "mean": torch.mean, "sum": torch.sum}[reduction](loss)


def ref_multi_margin(x, t, p=1, margin=1.0, weight=None, reduction="mean"):
    """torch's multi_margin_loss as a formula (torch has no double backward
    for it): sum_{c != t} w[t] max(0, margin - x_t + x_c)^p / C per row."""
    x2 = x.reshape(-1, x.shape[-1])
    t2 = t.reshape(-1)
    z = (margin - x2.gather(1, t2[:, None]) + x2).clamp(min=0)
    keep = torch.ones_like(x2).scatter(1, t2[:, None], 0.0)
    loss = (z**p * keep).sum(1) / x2.shape[1]
    if weight is not None:
        loss = loss * weight[t2]
    return _reduce(loss.reshape(t.shape), reduction)


def ref_multilabel_margin(x, t, reduction="mean"):
    """torch's multilabel_margin_loss as a formula (no double backward in torch)."""
    x2, t2 = x.reshape(-1, x.shape[-1]), t.reshape(-1, x.shape[-1])
    losses = []
    for xi, ti in zip(x2, t2):
        k = int((ti < 0).nonzero()[0]) if (ti < 0).any() else len(ti)
        targets = ti[:k]
        others = torch.ones_like(xi, dtype=torch.bool)
        others[targets] = False
        li = xi.sum() * 0
        for j in targets:
            li = li + (1 - xi[j] + xi[others]).clamp(min=0).sum()
        losses.append(li / x2.shape[1])
    return _reduce(torch.stack(losses).reshape(t.shape[:-1]), reduction)


# torch's own function, except where torch cannot differentiate it twice
TWICE = {"MultiMarginLoss": ref_multi_margin, "MultiLabelMarginLoss": ref_multilabel_margin}


def _tensor_args(row, inputs):
    """The torch arguments that are data (None where differentiable), float64."""
    fixed = []
    for i, a in enumerate(inputs):
        a = np.asarray(a)
        if i in row.diff:
            fixed.append(None)
        elif a.dtype.kind == "f" or _float_target(row, i):
            fixed.append(torch.from_numpy(a.astype(np.float64)))
        else:
            fixed.append(torch.from_numpy(a.astype(np.int64)))
    return fixed


def torch_hessian(row, opts, inputs, grad_output):
    """The full Hessian of sum(grad_output * loss) in the differentiable inputs,
    as blocks H[i][j] reshaped to (size_i, size_j), in float64."""
    fixed = _tensor_args(row, inputs)
    kw = {k: torch.from_numpy(np.asarray(v, np.float64)) if isinstance(v, np.ndarray) else v
          for k, v in opts.items()}
    go = torch.as_tensor(np.asarray(1.0 if grad_output is None else grad_output, np.float64))
    fn = TWICE.get(row.name) or torch_fn(row)

    def f(*diff):
        args = list(fixed)
        for i, d in zip(row.diff, diff):
            args[i] = d
        return (fn(*args, **kw) * go).sum()

    xs = tuple(torch.from_numpy(np.asarray(inputs[i], np.float64)) for i in row.diff)
    H = torch.autograd.functional.hessian(f, xs)
    return [[H[i][j].reshape(xs[i].numel(), xs[j].numel()).numpy() for j in range(len(xs))]
            for i in range(len(xs))]


def _as_tuple(a):
    return a if isinstance(a, tuple) else (a,)


def _tol(dtype):
    return 1e-9 if dtype == np.float64 else 2e-4


def assert_close_scaled(got, want, dtype, what):
    """Equal to rounding, relative to the largest entry of the whole Hessian."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    tol = _tol(dtype)
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-12)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


def _grad_output(row, red, inputs, opts, dtype, rng):
    if red != "none":
        return np.asarray(1.75, dtype)
    return rng.uniform(-2, 2, loss_shape(row, red, inputs, opts)).astype(dtype)


@pytest.mark.parametrize("row,dtype,reduction", CASES,
                         ids=[f"{r.name}-{np.dtype(d).name}-{red}" for r, d, red in CASES])
@pytest.mark.parametrize("scaled", [False, True], ids=["go1", "go"])
def test_against_torch(row, dtype, reduction, scaled):
    rng = np.random.default_rng(11)
    opts = dict(valid_options(row, dtype, rng), reduction=reduction)
    inputs = valid_inputs(row, dtype, rng)
    go = _grad_output(row, reduction, inputs, opts, dtype, rng) if scaled else None
    copies = [np.array(a, copy=True) for a in inputs]
    crit = row.cls(**opts)

    loss, grad, hess = crit.forward_backward(*inputs, grad_output=go, hessian=True)
    ref_loss, ref_grad = crit.forward_backward(*inputs, grad_output=go)
    np.testing.assert_array_equal(loss, ref_loss)  # the same pass, the same values
    for g, r in zip(_as_tuple(grad), _as_tuple(ref_grad)):
        np.testing.assert_array_equal(g, r)
    hess = _as_tuple(hess)
    assert len(hess) == len(row.diff)
    for h, i in zip(hess, row.diff):
        assert isinstance(h, np.ndarray)
        assert h.shape == np.shape(inputs[i]) and h.dtype == dtype

    H = torch_hessian(row, {k: v for k, v in opts.items()}, inputs, go)
    for k, (h, i) in enumerate(zip(hess, row.diff)):
        want = np.diagonal(H[k][k]).reshape(np.shape(inputs[i]))
        assert_close_scaled(h, want, dtype, f"{row.name} diagonal of input {i}")

    # hessian() after the forward call: the same diagonal
    for h, h2 in zip(hess, _as_tuple(crit.hessian(go))):
        np.testing.assert_array_equal(h, h2)

    # hvp: the full Hessian's product, coupling included
    vs = tuple(rng.standard_normal(np.shape(inputs[i])).astype(dtype) for i in row.diff)
    hv = _as_tuple(crit.hvp(vs if len(vs) > 1 else vs[0], go))
    assert len(hv) == len(row.diff)
    for k, (got, i) in enumerate(zip(hv, row.diff)):
        want = sum(H[k][j] @ vs[j].astype(np.float64).ravel() for j in range(len(vs)))
        assert got.shape == np.shape(inputs[i]) and got.dtype == dtype
        assert_close_scaled(got, want.reshape(got.shape), dtype, f"{row.name} hvp of input {i}")

    for a, b in zip(inputs, copies):  # nothing written
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_probability_targets(reduction, dtype):
    rng = np.random.default_rng(5)
    row = ROWS["CrossEntropyLoss"]
    x = rng.standard_normal((4, 3, 2)).astype(dtype)
    p = rng.dirichlet(np.ones(3), (4, 2)).transpose(0, 2, 1).astype(dtype)
    w = rng.uniform(0.5, 2, 3).astype(dtype)
    opts = dict(weight=w, label_smoothing=0.2, reduction=reduction)
    go = _grad_output(row, reduction, (x, p), opts, dtype, rng)
    crit = lf.CrossEntropyLoss(**opts)
    _, _, hess = crit.forward_backward(x, p, grad_output=go, hessian=True)
    H = torch_hessian(row, opts, (x, p), go)[0][0]
    assert_close_scaled(hess, np.diagonal(H).reshape(x.shape), dtype, "diagonal")
    v = rng.standard_normal(x.shape).astype(dtype)
    assert_close_scaled(crit.hvp(v, go), (H @ v.astype(np.float64).ravel()).reshape(x.shape),
                        dtype, "hvp")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_spatial_and_unbatched(reduction):
    rng = np.random.default_rng(6)
    row = ROWS["CrossEntropyLoss"]
    for x, t in ((rng.standard_normal((3, 4, 2, 2)), rng.integers(0, 4, (3, 2, 2))),
                 (rng.standard_normal(5), np.array(2))):
        opts = dict(ignore_index=1, label_smoothing=0.1, reduction=reduction)
        go = _grad_output(row, reduction, (x, t), opts, np.float64, rng)
        crit = lf.CrossEntropyLoss(**opts)
        _, _, hess = crit.forward_backward(x, t, grad_output=go, hessian=True)
        H = torch_hessian(row, opts, (x, t), go)[0][0]
        assert_close_scaled(hess, np.diagonal(H).reshape(x.shape), np.float64, "diagonal")
        v = rng.standard_normal(x.shape)
        assert_close_scaled(crit.hvp(v, go), (H @ v.ravel()).reshape(x.shape), np.float64,
                            "hvp")


@pytest.mark.parametrize("var_shape", [(4,), (4, 1), (1, 3)])
def test_gaussian_nll_broadcast_var(var_shape):
    """var of the input's shape without its last dim, or with a 1 where they
    differ: the diagonal and the hvp summed back to var's shape."""
    rng = np.random.default_rng(8)
    row = ROWS["GaussianNLLLoss"]
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    var = rng.uniform(0.3, 2, var_shape)
    crit = lf.GaussianNLLLoss(reduction="mean")
    _, _, (hx, hv) = crit.forward_backward(x, t, var, hessian=True)
    H = torch_hessian(row, {"reduction": "mean"}, (x, t, var), None)
    assert_close_scaled(hx, np.diagonal(H[0][0]).reshape(x.shape), np.float64, "d2/dx2")
    assert_close_scaled(hv, np.diagonal(H[1][1]).reshape(var.shape), np.float64, "d2/dvar2")
    vx, vv = rng.standard_normal(x.shape), rng.standard_normal(var.shape)
    gx, gv = crit.hvp((vx, vv))
    assert_close_scaled(gx, (H[0][0] @ vx.ravel() + H[0][1] @ vv.ravel()).reshape(x.shape),
                        np.float64, "hvp x")
    assert_close_scaled(gv, (H[1][0] @ vx.ravel() + H[1][1] @ vv.ravel()).reshape(var.shape),
                        np.float64, "hvp var")


@pytest.mark.parametrize("name,shapes,opts", [
    ("TripletMarginLoss", ((4, 3), (1, 3), (4, 3)), dict(margin=2.0, p=3.0, swap=True)),
    ("TripletMarginLoss", ((3,), (3,), (3,)), dict(margin=2.0)),
    ("TripletMarginWithDistanceLoss", ((4, 3), (4, 3), (1, 3)),
     dict(distance_function=F.cosine_distance, margin=1.5)),
    ("CosineEmbeddingLoss", ((3,), (3,), ()), dict(margin=-1.0)),
    ("CosineEmbeddingLoss", ((4, 3), (4, 3), (1,)), dict(margin=-1.0)),
])
def test_rows_broadcast_and_unbatched(name, shapes, opts):
    """Rows broadcast against each other (the hvp summed back to each input's
    shape) and unbatched [D] inputs."""
    rng = np.random.default_rng(4)
    row = ROWS[name]
    inputs = [rng.standard_normal(s) for s in shapes]
    if name == "CosineEmbeddingLoss":
        inputs[2] = np.where(rng.uniform(size=shapes[2]) < 0.5, -1.0, 1.0)
    crit = row.cls(**opts, reduction="sum")
    _, _, hess = crit.forward_backward(*inputs, hessian=True)
    H = torch_hessian(row, dict(opts, reduction="sum"), inputs, None)
    vs = tuple(rng.standard_normal(np.shape(inputs[i])) for i in row.diff)
    hv = crit.hvp(vs)
    for k, i in enumerate(row.diff):
        assert_close_scaled(hess[k], np.diagonal(H[k][k]).reshape(np.shape(inputs[i])),
                            np.float64, f"diagonal {k}")
        want = sum(H[k][j] @ vs[j].ravel() for j in range(len(vs)))
        assert_close_scaled(hv[k], want.reshape(np.shape(inputs[i])), np.float64, f"hvp {k}")
