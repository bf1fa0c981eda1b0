"""Numerical accuracy: large float32 reductions, float64 reference formulas (property
tests with hypothesis) and float64 central finite differences of the gradients."""

import zlib

import numpy as np
import pytest
from helpers import REDUCTIONS, run_ours
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loss_table import BCE, BCEL, CE, NLL

pytestmark = pytest.mark.torch


def _F():
    import pylossfn.functional as F

    return F


# ---------------------------------------------------------------------------
# float64 reference formulas (torch's documented definitions)
# ---------------------------------------------------------------------------


def _reduce(per, reduction, denom=None):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    if denom is None:
        return per.mean() if per.size else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return per.sum() / denom


def ref_bce(x, t, weight=None, reduction="mean"):
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    with np.errstate(divide="ignore"):
        per = -(t * np.maximum(np.log(x), -100.0) + (1 - t) * np.maximum(np.log1p(-x), -100.0))
    if weight is not None:
        per = per * np.asarray(weight, np.float64)
    return _reduce(per, reduction)


def ref_bce_logits(x, t, weight=None, reduction="mean", pos_weight=None):
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    softplus_neg = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0.0)  # -log sigmoid(x)
    lw = 1.0 if pos_weight is None else 1.0 + (np.asarray(pos_weight, np.float64) - 1.0) * t
    per = (1 - t) * x + lw * softplus_neg
    if weight is not None:
        per = per * np.asarray(weight, np.float64)
    return _reduce(np.broadcast_to(per, x.shape).copy(), reduction)


def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True) if x.size else x
    z = x - m
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def ref_class_loss(logp, t, weight, ignore_index, reduction, label_smoothing):
    """NLL (+ label smoothing) on log-probabilities ``logp`` with class targets ``t``."""
    axis = 0 if logp.ndim == 1 else 1
    C = logp.shape[axis]
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    t = np.asarray(t).astype(np.int64)
    keep = t != ignore_index
    safe_t = np.where(keep, t, 0)
    picked = np.take_along_axis(logp, np.expand_dims(safe_t, axis), axis=axis).squeeze(axis)
    wt = np.where(keep, w[safe_t], 0.0)
    nll = -wt * picked
    shape_w = (-1,) + (1,) * (logp.ndim - axis - 1)
    smooth = np.where(keep, -(logp * w.reshape(shape_w)).sum(axis=axis), 0.0)
    eps = label_smoothing
    per = (1 - eps) * nll + eps / C * smooth
    return _reduce(per, reduction, denom=wt.sum())


def ref_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean",
                      label_smoothing=0.0):
    x = np.asarray(x, np.float64)
    axis = 0 if x.ndim == 1 else 1
    logp = _log_softmax(x, axis)
    t = np.asarray(t)
    if t.dtype.kind == "f":  # class probabilities
        C = x.shape[axis]
        p = t.astype(np.float64) * (1 - label_smoothing) + label_smoothing / C
        w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
        per = -(logp * p * w.reshape((-1,) + (1,) * (x.ndim - axis - 1))).sum(axis=axis)
        return _reduce(per, reduction)
    return ref_class_loss(logp, t, weight, ignore_index, reduction, label_smoothing)


def ref_nll(x, t, weight=None, ignore_index=-100, reduction="mean"):
    return ref_class_loss(np.asarray(x, np.float64), t, weight, ignore_index, reduction, 0.0)


def _close(got, ref, rtol, mag=None, reduction="none"):
    """assert_allclose with atol = rtol * (size of the terms that were combined).

    ``mag``: elementwise magnitude of the terms that make up each loss element (a
    float32 result cannot be more accurate than eps * |largest term|); by default
    max(1, |ref|).
    """
    ref = np.asarray(ref, np.float64)
    fin = np.abs(ref[np.isfinite(ref)])
    scale = max(1.0, float(fin.max()) if fin.size else 0.0)
    if mag is not None and np.size(mag):
        mag = np.asarray(mag, np.float64)
        scale = max(scale, float(mag.sum() if reduction == "sum" else mag.max()))
    np.testing.assert_allclose(np.asarray(got, np.float64), ref, rtol=rtol,
                               atol=rtol * scale, equal_nan=True)


# ---------------------------------------------------------------------------
# Large float32 reductions: pairwise (or compensated) summation is required
# ---------------------------------------------------------------------------

BIG = 10_000_000


@pytest.fixture(scope="module")
def big_binary():
    rng = np.random.default_rng(2024)
    x = rng.normal(0.0, 2.0, BIG).astype(np.float32)
    t = (rng.random(BIG) < 0.3).astype(np.float32)
    return x, t


def test_float32_mean_over_1e7_elements_bce_with_logits(big_binary):
    x, t = big_binary
    F = _F()
    ref_mean = ref_bce_logits(x, t, reduction="mean")
    ref_sum = ref_bce_logits(x, t, reduction="sum")
    got_mean = F.binary_cross_entropy_with_logits(x, t)
    got_sum = F.binary_cross_entropy_with_logits(x, t, reduction="sum")
    assert np.asarray(got_mean).dtype == np.float32
    assert abs(float(got_mean) - ref_mean) <= 1e-6 * abs(ref_mean), (float(got_mean), ref_mean)
    assert abs(float(got_sum) - ref_sum) <= 1e-6 * abs(ref_sum), (float(got_sum), ref_sum)


def test_float32_weighted_mean_over_1e7_logits_cross_entropy():
    """Weighted mean = sum(w[t] * nll) / sum(w[t]): both sums run over 2.5e6 terms."""
    rng = np.random.default_rng(7)
    n, c = BIG // 4, 4
    x = rng.normal(0.0, 2.0, (n, c)).astype(np.float32)
    t = rng.integers(0, c, n)
    w = rng.uniform(0.5, 2.0, c).astype(np.float32)
    ref = ref_cross_entropy(x, t, weight=w)
    import pylossfn as lf

    crit = lf.CrossEntropyLoss(weight=w)
    loss, grad = crit.forward_backward(x, t)
    assert np.asarray(loss).dtype == np.float32
    assert abs(float(loss) - ref) <= 1e-6 * abs(ref), (float(loss), ref)
    # gradient rows: w[t] * (softmax - onehot) / sum(w[t]); spot-check a few rows
    rows = np.array([0, 1, 12345, n // 2, n - 1])
    x64 = x[rows].astype(np.float64)
    p = np.exp(_log_softmax(x64, 1))
    onehot = np.eye(c)[t[rows]]
    wsum = w.astype(np.float64)[t].sum()
    ref_g = w.astype(np.float64)[t[rows]][:, None] * (p - onehot) / wsum
    np.testing.assert_allclose(grad[rows], ref_g, rtol=1e-5, atol=1e-6 * np.abs(ref_g).max())


# ---------------------------------------------------------------------------
# Property tests against the float64 reference formulas
# ---------------------------------------------------------------------------

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def binary_case(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kw = dict(reduction=draw(st.sampled_from(REDUCTIONS)))
    if draw(st.booleans()) and shape:
        k = draw(st.integers(1, len(shape)))
        kw["weight"] = rng.uniform(0.1, 3.0, shape[-k:])
    return shape, rng, kw


@SETTINGS
@given(binary_case(), st.sampled_from([np.float32, np.float64]))
def test_bce_matches_reference(case, dtype):
    shape, rng, kw = case
    x = rng.uniform(0.0, 1.0, shape).astype(dtype)
    if x.size:
        x.reshape(-1)[::5] = rng.choice([0.0, 1.0])  # exact 0 / 1 exercise the clamp
    t = rng.uniform(0.0, 1.0, shape).astype(dtype)
    if "weight" in kw:
        kw["weight"] = kw["weight"].astype(dtype)
    got = _F().binary_cross_entropy(x, t, **kw)
    _close(got, ref_bce(x, t, **kw), 1e-5 if dtype == np.float32 else 1e-10)


@SETTINGS
@given(binary_case(), st.sampled_from([np.float32, np.float64]), st.booleans())
def test_bce_with_logits_matches_reference(case, dtype, with_pw):
    shape, rng, kw = case
    x = (rng.normal(0, 1, shape) * rng.choice([1.0, 10.0, 1e4])).astype(dtype)
    t = rng.uniform(0.0, 1.0, shape).astype(dtype)
    if "weight" in kw:
        kw["weight"] = kw["weight"].astype(dtype)
    if with_pw and shape:
        kw["pos_weight"] = rng.uniform(0.2, 5.0, shape[-1:]).astype(dtype)
    got = _F().binary_cross_entropy_with_logits(x, t, **kw)
    # (1 - t) * x and softplus(-x) cancel for large |x|: the error scales with |x|
    mag = np.abs(x.astype(np.float64)) * (1 + np.asarray(kw.get("pos_weight", 1.0)))
    mag = mag * np.asarray(kw.get("weight", 1.0))
    _close(got, ref_bce_logits(x, t, **kw), 1e-5 if dtype == np.float32 else 1e-10,
           mag=mag, reduction=kw["reduction"])


@st.composite
def class_case(draw, allow_probs):
    n = draw(st.integers(0, 4))
    c = draw(st.integers(1, 6))
    extra = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    unbatched = draw(st.booleans()) and not extra
    xshape = (c,) if unbatched else (n, c) + extra
    tshape = () if unbatched else (n,) + extra
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kw = dict(reduction=draw(st.sampled_from(REDUCTIONS)))
    if draw(st.booleans()):
        kw["weight"] = rng.uniform(0.1, 3.0, c)
    probs = allow_probs and draw(st.booleans())
    if probs:
        t = rng.uniform(0, 1, xshape)
    else:
        t = rng.integers(0, c, tshape)
        ig = draw(st.sampled_from(["none", "default", "class"]))
        if ig == "default":
            t = np.where(rng.random(tshape) < 0.3, -100, t)
        elif ig == "class":
            kw["ignore_index"] = int(rng.integers(0, c))
        t = t.astype(draw(st.sampled_from([np.int64, np.int32, np.int16, np.int8])))
    if allow_probs and draw(st.booleans()):
        kw["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    return xshape, t, rng, kw, probs


@SETTINGS
@given(class_case(allow_probs=True), st.sampled_from([np.float32, np.float64]))
def test_cross_entropy_matches_reference(case, dtype):
    xshape, t, rng, kw, probs = case
    x = (rng.normal(0, 3, xshape)).astype(dtype)
    if probs:
        t = t.astype(dtype)
    if "weight" in kw:
        kw["weight"] = kw["weight"].astype(dtype)
    got = _F().cross_entropy(x, t, **kw)
    _close(got, ref_cross_entropy(x, t, **kw), 1e-5 if dtype == np.float32 else 1e-10)


@SETTINGS
@given(class_case(allow_probs=False), st.sampled_from([np.float32, np.float64]))
def test_nll_matches_reference(case, dtype):
    xshape, t, rng, kw, _ = case
    x = rng.normal(0, 3, xshape).astype(dtype)
    if "weight" in kw:
        kw["weight"] = kw["weight"].astype(dtype)
    got = _F().nll_loss(x, t, **kw)
    _close(got, ref_nll(x, t, **kw), 1e-5 if dtype == np.float32 else 1e-10)


# ---------------------------------------------------------------------------
# Gradients against float64 central finite differences of the loss itself
# ---------------------------------------------------------------------------


def finite_difference(f, x, h=1e-6):
    g = np.zeros_like(x)
    flat_x = x.reshape(-1)
    flat_g = g.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        fp = f(x)
        flat_x[i] = old - h
        fm = f(x)
        flat_x[i] = old
        flat_g[i] = (fp - fm) / (2 * h)
    return g


def ref_value_f64(loss, x, t, kw):
    fn = {BCE: ref_bce, BCEL: ref_bce_logits, CE: ref_cross_entropy, NLL: ref_nll}[loss]
    return fn(x, t, **kw)


FD_CASES = [
    ("bce", (3, 4), dict()),
    ("bce", (3, 4), dict(weight=("u", (4,)))),
    ("bce", (2, 3, 2), dict(weight=("u", (3, 1)))),
    ("bcel", (3, 4), dict()),
    ("bcel", (3, 4), dict(weight=("u", (3, 1)), pos_weight=("u", (4,)))),
    ("bcel", (2, 3, 2), dict(pos_weight=("u", (3, 1)))),
    ("ce", (4, 5), dict()),
    ("ce", (4, 5), dict(weight=("u", (5,)), ignore_index=2, label_smoothing=0.3)),
    ("ce", (4, 5), dict(weight=("u", (5,)), label_smoothing=0.2, _ignored=-100)),
    ("ce", (2, 5, 3), dict(weight=("u", (5,)), label_smoothing=0.1, _ignored=-100)),
    ("ce", (5,), dict(weight=("u", (5,)), label_smoothing=0.4)),
    ("ce", (4, 5), dict(weight=("u", (5,)), label_smoothing=0.25, _probs=True)),
    ("ce", (2, 5, 2), dict(_probs=True, label_smoothing=1.0)),
    ("nll", (4, 5), dict()),
    ("nll", (4, 5), dict(weight=("u", (5,)), ignore_index=1)),
    ("nll", (2, 5, 3), dict(weight=("u", (5,)), _ignored=-100)),
]
LOSSES = {"bce": BCE, "bcel": BCEL, "ce": CE, "nll": NLL}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,shape,spec", FD_CASES,
                         ids=[f"{n}-{s}-{'+'.join(sorted(k)) or 'plain'}" for n, s, k in FD_CASES])
def test_gradient_matches_finite_differences(name, shape, spec, reduction):
    loss = LOSSES[name]
    rng = np.random.default_rng(zlib.crc32(repr((name, shape, reduction, spec)).encode()))
    kw = {"reduction": reduction}
    for k, v in spec.items():
        if not k.startswith("_"):
            kw[k] = rng.uniform(0.2, 2.0, v[1]) if isinstance(v, tuple) else v
    if loss is BCE:
        x = rng.uniform(0.05, 0.95, shape)
        t = rng.uniform(0, 1, shape)
    elif loss is BCEL:
        x = rng.normal(0, 2, shape)
        t = rng.uniform(0, 1, shape)
    else:
        x = rng.normal(0, 2, shape)
        if spec.get("_probs"):
            t = rng.uniform(0, 1, shape)
        else:
            tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
            t = rng.integers(0, shape[0 if len(shape) == 1 else 1], tshape)
            if "_ignored" in spec and t.ndim:
                t.reshape(-1)[::3] = spec["_ignored"]
            if "ignore_index" in kw and t.ndim:
                t.reshape(-1)[1] = kw["ignore_index"]
    # grad_output: a scalar for mean/sum, an array of the loss shape for none
    out_shape = np.shape(ref_value_f64(loss, x, t, {**kw, "reduction": "none"}))
    go = rng.uniform(-2, 2, out_shape) if reduction == "none" else 1.7
    fn = loss.fn

    def f(xx):
        return float(np.sum(np.asarray(go) * np.asarray(fn(xx, t, **kw), np.float64)))

    fd = finite_difference(f, x.copy())
    res = run_ours(loss, x, t, grad_output=go, faces=["module_call", "fused"], **kw)
    for face, (_, g) in res.items():
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8 * max(1.0, np.abs(fd).max()),
                                   err_msg=face)
    # and the forward value against the reference formula
    np.testing.assert_allclose(np.asarray(res["fused"][0], np.float64),
                               ref_value_f64(loss, x, t, kw), rtol=1e-10, atol=1e-12,
                               equal_nan=True)


# ---------------------------------------------------------------------------
# Reduction sizes around the pairwise-summation block edges, contiguous or not
# ---------------------------------------------------------------------------

SIZES = [1, 2, 3, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 4097,
         100_003]


@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("n", SIZES)
def test_reduction_sizes(n, strided):
    from helpers import assert_close, in_layout
    from oracle import torch_ref

    rng = np.random.default_rng(n)
    x = rng.normal(0, 2, n).astype(np.float32)
    t = rng.uniform(0, 1, n).astype(np.float32)
    xl = in_layout(x, "strided") if strided else x
    tl = in_layout(t, "negative") if strided else t
    F = _F()
    for reduction in ("mean", "sum"):
        got = F.binary_cross_entropy_with_logits(xl, tl, reduction=reduction)
        assert_close(got, ref_bce_logits(x, t, reduction=reduction), np.float32)
        assert_close(got, torch_ref(BCEL, x, t, reduction=reduction)[0], np.float32)
    # class targets: a [n, 3] problem, weighted mean
    z = rng.normal(0, 2, (n, 3)).astype(np.float32)
    c = rng.integers(0, 3, n)
    w = np.array([0.5, 1.0, 2.0], np.float32)
    zl = in_layout(z, "fortran") if strided else z
    got = F.cross_entropy(zl, c, w, label_smoothing=0.1)
    assert_close(got, ref_cross_entropy(z, c, weight=w, label_smoothing=0.1), np.float32)


# ---------------------------------------------------------------------------
# Broadcast (stride-0) inputs and concurrent calls
# ---------------------------------------------------------------------------


def test_stride_zero_inputs():
    """np.broadcast_to gives read-only arrays with stride 0: values as if materialized."""
    from oracle import check_against_torch

    rng = np.random.default_rng(3)
    row = rng.normal(0, 2, 5)
    x = np.broadcast_to(row, (6, 5))
    t = np.broadcast_to(rng.uniform(0, 1, (6, 1)), (6, 5))
    for reduction in REDUCTIONS:
        check_against_torch(BCEL, x, t, oracle_x=np.array(x), oracle_t=np.array(t),
                            reduction=reduction,
                            pos_weight=np.broadcast_to(np.float64(2.0), (5,)))
        check_against_torch(BCE, 1 / (1 + np.exp(-x)), t, oracle_t=np.array(t),
                            reduction=reduction)
        cls = np.broadcast_to(np.int64(3), (6,))
        check_against_torch(CE, x, cls, oracle_x=np.array(x), oracle_t=np.array(cls),
                            reduction=reduction, label_smoothing=0.2)
        check_against_torch(NLL, x, cls, oracle_x=np.array(x), oracle_t=np.array(cls),
                            reduction=reduction)


def test_concurrent_calls_agree_with_serial():
    """The C core may release the GIL: threads must not interfere with each other."""
    from concurrent.futures import ThreadPoolExecutor

    import pylossfn as lf

    rng = np.random.default_rng(11)
    jobs = []
    for i in range(8):
        n = 50_000 + 1000 * i
        jobs.append((rng.normal(0, 2, (n, 4)).astype(np.float32), rng.integers(0, 4, n)))

    def work(job):
        x, t = job
        crit = lf.CrossEntropyLoss(label_smoothing=0.05)
        loss, grad = crit.forward_backward(x, t)
        return float(loss), grad

    serial = [work(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=4) as ex:
        for _ in range(3):
            par = list(ex.map(work, jobs))
            for (l1, g1), (l2, g2) in zip(serial, par):
                assert l1 == l2
                np.testing.assert_array_equal(g1, g2)
