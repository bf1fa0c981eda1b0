"""hvp() computed by the C kernels (``_core.WANT_HVP``) at the options that
change a coupled loss's Hessian: ignore_index, label smoothing, class
weights, probability targets, strided inputs, the triplet swap's ties,
multi-margin p = 2, the Gaussian NLL's full constant and eps clamp; large
batches on the thread pool against torch.autograd.functional.hvp; and the
core's mean divisor of the class-index losses (``_core.WANT_NORM``).
"""
import numpy as np
import pytest
import torch
from loss_table import ROWS
from test_hessian import assert_close_scaled, ref_multi_margin, torch_hessian

import pylossfn as lf
from pylossfn import _core

pytestmark = pytest.mark.torch

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]


def _go(reduction, shape, dtype, rng):
    if reduction != "none":
        return np.asarray(-0.75, dtype)
    return rng.uniform(-2, 2, shape).astype(dtype)


def _check_hvp(row, crit, opts, inputs, go, dtype, rng, what):
    """crit.hvp (after a forward call) against the torch Hessian's product."""
    crit(*inputs)
    H = torch_hessian(row, opts, inputs, go)
    vs = tuple(rng.standard_normal(np.shape(inputs[i])).astype(dtype) for i in row.diff)
    hv = crit.hvp(vs if len(vs) > 1 else vs[0], go)
    hv = hv if isinstance(hv, tuple) else (hv,)
    for k, i in enumerate(row.diff):
        want = sum(H[k][j] @ vs[j].astype(np.float64).ravel() for j in range(len(vs)))
        assert hv[k].dtype == dtype and hv[k].shape == np.shape(inputs[i])
        assert_close_scaled(hv[k], want.reshape(np.shape(inputs[i])), dtype, f"{what} {k}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
def test_cross_entropy_options(reduction, dtype, strided):
    """Class weights, ignore_index (ignored rows have no Hessian) and label
    smoothing, on the vectorized (unit-stride) and the strided row paths."""
    rng = np.random.default_rng(21)
    row = ROWS["CrossEntropyLoss"]
    x = rng.standard_normal((6, 5)).astype(dtype)
    if strided:
        x = np.asfortranarray(x)
    t = rng.integers(0, 5, 6)
    t[[1, 4]] = 2  # the ignored class
    w = rng.uniform(0.5, 2, 5).astype(dtype)
    opts = dict(weight=w, ignore_index=2, label_smoothing=0.15, reduction=reduction)
    go = _go(reduction, (6,), dtype, rng)
    _check_hvp(row, lf.CrossEntropyLoss(**opts), opts, (x, t), go, dtype, rng, "ce")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets_without_smoothing(reduction):
    rng = np.random.default_rng(22)
    row = ROWS["CrossEntropyLoss"]
    x = rng.standard_normal((5, 4))
    p = rng.dirichlet(np.ones(4), 5)
    opts = dict(weight=rng.uniform(0.5, 2, 4), reduction=reduction)
    go = _go(reduction, (5,), np.float64, rng)
    _check_hvp(row, lf.CrossEntropyLoss(**opts), opts, (x, p), go, np.float64, rng, "probs")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_margin_p2(reduction, dtype):
    """p = 2 with a margin and class weights: each active square couples
    x_c with the target's x_t."""
    rng = np.random.default_rng(23)
    row = ROWS["MultiMarginLoss"]
    x = rng.standard_normal((7, 4)).astype(dtype)
    t = rng.integers(0, 4, 7)
    opts = dict(p=2, margin=0.8, weight=rng.uniform(0.5, 2, 4).astype(dtype),
                reduction=reduction)
    go = _go(reduction, (7,), dtype, rng)
    crit = lf.MultiMarginLoss(**opts)
    crit(x, t)
    xt = torch.from_numpy(x.astype(np.float64))
    kw = dict(opts, weight=torch.from_numpy(opts["weight"].astype(np.float64)))
    gt = torch.as_tensor(np.asarray(go, np.float64))
    v = rng.standard_normal(x.shape).astype(dtype)
    want = torch.autograd.functional.hvp(
        lambda z: (ref_multi_margin(z, torch.from_numpy(t), **kw) * gt).sum(), xt,
        torch.from_numpy(v.astype(np.float64)))[1]
    assert_close_scaled(crit.hvp(v, go), want.numpy(), dtype, "multi-margin p=2")
    assert row.name == "MultiMarginLoss"


@pytest.mark.parametrize("p", [2.0, 3.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_swap_ties(p, reduction):
    """swap=True where d(a, n) == d(p, n) exactly (positive = -anchor,
    negative = 0, eps = 0): torch's minimum splits the hinge evenly between
    the two distances, and so does the kernel's Hessian."""
    rng = np.random.default_rng(24)
    row = ROWS["TripletMarginLoss"]
    a = rng.standard_normal((4, 3))
    pos, neg = -a, np.zeros((4, 3))
    pos[3] = a[3] + 0.5  # one row without a tie
    opts = dict(margin=10.0, p=p, eps=0.0, swap=True, reduction=reduction)
    go = _go(reduction, (4,), np.float64, rng)
    crit = lf.TripletMarginLoss(**opts)
    _check_hvp(row, crit, opts, (a, pos, neg), go, np.float64, rng, "triplet tie")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_full_and_eps_clamp(reduction, dtype):
    """full=True adds a constant; where var < eps it is clamped (the value
    only: torch clamps under no_grad), which the mixed term follows."""
    rng = np.random.default_rng(25)
    row = ROWS["GaussianNLLLoss"]
    x, t = (rng.standard_normal((5, 3)).astype(dtype) for _ in range(2))
    var = rng.uniform(0.05, 1.5, (5, 3)).astype(dtype)
    opts = dict(full=True, eps=0.4, reduction=reduction)
    assert (var < 0.4).any() and (var > 0.4).any()
    go = _go(reduction, (5, 3), dtype, rng)
    _check_hvp(row, lf.GaussianNLLLoss(**opts), opts, (x, t, var), go, dtype, rng, "gaussian")


@pytest.mark.parametrize("dtype", DTYPES)
def test_multilabel_strided_and_soft_labels(dtype):
    """ZLPR with soft labels and soft-F1 on a one-class [N] input, both on
    strided (transposed) inputs."""
    rng = np.random.default_rng(26)
    x = np.asfortranarray(rng.standard_normal((6, 4)).astype(dtype))
    y = rng.uniform(0, 1, (6, 4)).astype(dtype)
    row = ROWS["ZLPRLoss"]
    go = _go("none", (6,), dtype, rng)
    _check_hvp(row, lf.ZLPRLoss(reduction="none"), {"reduction": "none"}, (x, y), go, dtype,
               rng, "zlpr")
    row = ROWS["SoftF1Loss"]
    x1 = rng.standard_normal(9).astype(dtype)
    y1 = (rng.uniform(size=9) < 0.5).astype(dtype)
    _check_hvp(row, lf.SoftF1Loss(), {"reduction": "mean"}, (x1, y1), None, dtype, rng,
               "soft-f1")


def _torch_hvp(fn, inputs, vs):
    xs = tuple(torch.from_numpy(np.asarray(a, np.float64)) for a in inputs)
    vt = tuple(torch.from_numpy(np.asarray(v, np.float64)) for v in vs)
    return [h.numpy() for h in torch.autograd.functional.hvp(fn, xs, vt)[1]]


def test_large_batches_on_the_pool_match_torch_for_every_thread_count():
    """Work above the pool's threshold: the kernels' H v against torch's
    (double backward, no full Hessian), bitwise the same for 1 and 2 threads."""
    rng = np.random.default_rng(27)
    x = rng.standard_normal((3000, 40))
    t = rng.integers(0, 40, 3000)
    v = rng.standard_normal(x.shape)
    ce = lf.CrossEntropyLoss(label_smoothing=0.1)
    a, pos, neg = (rng.standard_normal((3000, 30)) for _ in range(3))
    va = tuple(rng.standard_normal(a.shape) for _ in range(3))
    tri = lf.TripletMarginLoss(p=3.0, swap=True)
    before = lf.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            lf.set_num_threads(n)
            ce(x, t)
            tri(a, pos, neg)
            results.append((ce.hvp(v), tri.hvp(va)))
    finally:
        lf.set_num_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for g1, g2 in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(g1, g2)
    tt = torch.from_numpy(t)
    want = _torch_hvp(lambda z: torch.nn.functional.cross_entropy(z, tt, label_smoothing=0.1),
                      (x,), (v,))
    assert_close_scaled(results[0][0], want[0], np.float64, "ce")
    want = _torch_hvp(lambda *z: torch.nn.functional.triplet_margin_loss(*z, p=3.0, swap=True),
                      (a, pos, neg), va)
    for got, w in zip(results[0][1], want):
        assert_close_scaled(got, w, np.float64, "triplet")


@pytest.mark.parametrize("fn", [_core.cross_entropy, _core.nll_loss])
def test_the_mean_divisor_comes_from_the_core(fn):
    """WANT_NORM: the summed class weight of the targets not ignored, the
    number every mean of these losses divides by (a float64 formula here)."""
    rng = np.random.default_rng(28)
    x = rng.standard_normal((8, 5, 2))
    t = rng.integers(0, 5, (8, 2))
    t[0, 1] = t[3, 0] = -3
    w = rng.uniform(0.5, 2, 5)
    extra = (0.1,) if fn is _core.cross_entropy else ()
    for weight in (None, w):
        got = fn(x, t, weight, -3, *extra, 1, _core.WANT_NORM, None)
        keep = t != -3
        want = float(keep.sum()) if weight is None else float(w[t[keep]].sum())
        assert isinstance(got, float)
        np.testing.assert_allclose(got, want, rtol=1e-15)
    with pytest.raises(IndexError, match="target has class 9"):
        fn(x, np.full((8, 2), 9), None, -100, *extra, 1, _core.WANT_NORM, None)


def test_want_norm_and_want_hvp_misuse():
    """WANT_NORM is the class-index and weighted-mean losses' alone, only by itself and
    with a mean; WANT_HVP needs WANT_HESS and a v."""
    x, t = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match="cross_entropy: `want` asks for a divisor it does not give"):
        _core.cross_entropy(x, t, None, -100, 0.0, 1, _core.WANT_NORM | 1, None)
    with pytest.raises(ValueError, match="huber_loss: `want` asks for a divisor it does not give"):
        _core.huber_loss(x, x, None, 1.0, 1, _core.WANT_NORM, None)
    with pytest.raises(ValueError, match="mse_loss: `want` asks for a divisor it does not give"):
        _core.mse_loss(x, x, None, 0, _core.WANT_NORM, None)
    with pytest.raises(ValueError, match="without WANT_HESS or v"):
        _core.mse_loss(x, x, None, 1, _core.WANT_HVP, None, x)
    with pytest.raises(ValueError, match="without WANT_HESS or v"):
        _core.mse_loss(x, x, None, 1, _core.WANT_HVP | _core.WANT_HESS, None)
    hv = _core.mse_loss(x, x + 1, None, 2, _core.WANT_HVP | _core.WANT_HESS, None, x + 3)
    np.testing.assert_array_equal(hv, np.full((2, 3), 6.0))  # d2/dx2 (x - y)^2 = 2


def test_rows_of_mixed_dtypes():
    """Embedding inputs keep their own dtypes: H v is computed in the common
    one (float64) and returned in each input's dtype."""
    rng = np.random.default_rng(29)
    row = ROWS["CosineEmbeddingLoss"]
    x1 = rng.standard_normal((5, 4)).astype(np.float32)
    x2 = rng.standard_normal((5, 4))
    y = np.where(rng.uniform(size=5) < 0.5, -1.0, 1.0)
    opts = dict(margin=-0.5, reduction="sum")
    crit = lf.CosineEmbeddingLoss(**opts)
    crit(x1, x2, y)
    vs = (rng.standard_normal(x1.shape).astype(np.float32), rng.standard_normal(x2.shape))
    h1, h2 = crit.hvp(vs)
    assert h1.dtype == np.float32 and h2.dtype == np.float64
    H = torch_hessian(row, opts, (x1, x2, y), None)
    for k, got in enumerate((h1, h2)):
        want = sum(H[k][j] @ vs[j].astype(np.float64).ravel() for j in range(2))
        assert_close_scaled(got, want.reshape(got.shape), np.float32, f"mixed {k}")


def test_v_of_the_inputs_size_but_another_shape_is_refused():
    """The core reads v by size, so Loss.hvp checks its shape: a transposed v
    (or a tuple where one array is due) is refused naming v, and a good v is
    never written."""
    crit = lf.CrossEntropyLoss()
    crit(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss\.hvp: v has shape \(3, 2\)"):
        crit.hvp(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"v has shape \(1, 2, 3\)"):
        crit.hvp((np.zeros((2, 3)),))
    v = np.arange(6.0).reshape(2, 3)
    before = v.copy()
    crit.hvp(v)
    np.testing.assert_array_equal(v, before)
