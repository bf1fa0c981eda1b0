"""Property tests against torch: random shapes (0-4 dims, zero-size ones),
dtypes, values with nan/inf, layouts and options.  Every call either equals
torch (loss and gradient) or raises a documented exception where torch also
refuses.

float16 and bfloat16 (ml_dtypes', where installed) go through the same
strategies and checks (test_half_*): the values are drawn in float32 and
rounded once to the half dtype, and torch's float32 autograd on those values,
widened back, is the oracle; ours (computed in float32, results in the half
dtype) must lie within one rounding of the half dtype of it (_close_half).

Profiles: PYLOSSFN_HYPOTHESIS=ci (what .ci/run selects: derandomized, 2000
examples per loss, 250 per loss in half precision) or the default "dev"
(fewer examples, random).
"""
import dataclasses
import math
import os
import re
import warnings

import numpy as np
import pytest
import torch
from helpers import ARRAY_LAYOUTS, in_layout, native
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from loss_table import (
    ACTIVATIONS,
    CORE_LOSSES,
    EXTRA_LOSSES,
    HALF_DTYPES,
    flat,
    half_finfo,
    is_half,
    option_dtype,
    widened,
)
from oracle import torch_call, torch_fn

import pylossfn.functional as F

pytestmark = pytest.mark.torch

settings.register_profile(
    "ci", derandomize=True, max_examples=2000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    # random locally, to keep exploring; fixed under CI (CI=true), where the
    # sanitized run uses this profile and must not depend on the draw
    "dev", max_examples=150, deadline=None, derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile(os.environ.get("PYLOSSFN_HYPOTHESIS", "dev"))
# the half dtypes' runs: an eighth of the examples (250 per loss in CI), at
# least 50, to keep their time within a minute
HALF_PROFILE = settings(PROFILE, max_examples=max(PROFILE.max_examples // 8, 50))

DOCUMENTED = (ValueError, IndexError, TypeError)
# refusals of ours that torch does not share, each documented in API.md / the issue
DIVERGENCES = (
    r"ignore_index=-?\d+ is not supported with class-probability targets",
    # torch takes a 1-D target of size 1 for a 1-D (unbatched) input; the issue says no
    r"target has shape \(1,\), but input of shape \(\d+,\) needs a target of shape \(\)",
)

# _SEEDED: the ci profile's derandomized seed is a digest of the inner test's
# source, its decorators included; the shared bodies of the float32 / float64
# and half runs keep the text they had (`@PROFILE`, a parameter there) so that
# the float32 / float64 runs keep their examples.
dtypes = st.sampled_from([np.float32, np.float64])
half_dtypes = st.sampled_from(HALF_DTYPES)
layouts = st.sampled_from(["none"] + ARRAY_LAYOUTS)
reductions = st.sampled_from(["none", "mean", "sum"])


def _floats(dtype, lo=None, hi=None, special=True):
    width = 32 if dtype == np.float32 else 64
    base = st.floats(lo if lo is not None else -30, hi if hi is not None else 30,
                     width=width, allow_nan=False, allow_infinity=False)
    if not special:
        # tame values (weights, targets, grad_output): no subnormals, whose
        # reciprocal (a mean's 1 / total_weight) overflows in both libraries
        # in different orders
        return st.floats(lo if lo is not None else -30, hi if hi is not None else 30,
                         width=width, allow_nan=False, allow_infinity=False,
                         allow_subnormal=False)
    return st.one_of(base, base, base, st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))


def _array(draw, dtype, shape, lo=None, hi=None, special=True):
    if is_half(dtype):  # drawn in float32, rounded once (as a half tensor is made)
        return _array(draw, np.float32, shape, lo, hi, special).astype(dtype)
    return draw(hnp.arrays(dtype, shape, elements=_floats(dtype, lo, hi, special)))


def _layout(draw, a):
    name = draw(layouts)
    if name == "byteswapped" and isinstance(a, np.ndarray) and a.dtype.kind == "V":
        return a  # (ml_dtypes' bfloat16 has no byte order to swap)
    return a if name == "none" or not isinstance(a, np.ndarray) else in_layout(a, name)


def _broadcastable(draw, shape):
    """A shape that broadcasts to `shape` (a suffix, some dims 1), or rarely
    one that does not (same rank, a wrong size)."""
    k = draw(st.integers(0, len(shape)))
    sub = list(shape[len(shape) - k:])
    for i in range(len(sub)):
        if draw(st.booleans()):
            sub[i] = 1
    if sub and draw(st.integers(0, 9)) == 0:
        sub[-1] += 1
    return tuple(sub)


@st.composite
def binary_calls(draw, row, dtypes=dtypes):
    dtype = draw(dtypes)
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
    if row.probability_input:
        x = _array(draw, dtype, shape, 0.0, 1.0, special=False)
        if x.size and draw(st.integers(0, 9)) == 0:  # outside [0, 1]: both refuse
            x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from(
                [np.nan, -0.5, 1.5, np.inf]))
    else:
        x = _array(draw, dtype, shape)
    tshape = shape if draw(st.integers(0, 19)) else _broadcastable(draw, shape) + (2,)
    y = _array(draw, dtype, tshape, 0.0, 1.0, special=False)
    opts = {"reduction": draw(reductions)}
    if draw(st.booleans()):
        opts["weight"] = _array(draw, dtype, _broadcastable(draw, shape), -2, 2, special=False)
    if row.has("pos_weight") and draw(st.booleans()):
        opts["pos_weight"] = _array(draw, dtype, _broadcastable(draw, shape), 0, 4,
                                    special=False)
    return dtype, opts, (x, y)


@st.composite
def class_calls(draw, row, dtypes=dtypes):
    dtype = draw(dtypes)
    C = draw(st.integers(0, 4))
    unbatched = draw(st.integers(0, 5)) == 0
    N = draw(st.integers(0, 4))
    spatial = tuple(draw(st.lists(st.integers(0, 3), min_size=0, max_size=2)))
    shape = (C,) if unbatched else (N, C) + spatial
    x = _array(draw, dtype, shape)
    opts = {"reduction": draw(reductions)}
    if row.has("ignore_index"):
        opts["ignore_index"] = draw(st.sampled_from([-100, -1, 0, 2]))
    # (not with C = 0: torch multiplies by label_smoothing / C = inf, and a sum
    # over an empty batch becomes nan; ours stays 0, the sum over nothing)
    if row.has("label_smoothing") and C > 0 and draw(st.booleans()):
        opts["label_smoothing"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        opts["weight"] = _array(draw, option_dtype(row, "weight", dtype), (C,), 0, 3,
                                special=False)
    if row.probability_target and draw(st.integers(0, 3)) == 0:
        y = _array(draw, dtype, shape, 0.0, 1.0, special=False)
    else:
        tshape = () if unbatched else (N,) + spatial
        if draw(st.integers(0, 19)) == 0:
            tshape = tshape + (1,)
        tdtype = draw(st.sampled_from([np.int64, np.int32, np.int16, np.uint8]))
        lo = -1 if np.dtype(tdtype).kind == "i" else 0
        hi = C if draw(st.integers(0, 9)) == 0 else max(C - 1, 0)  # sometimes out of range
        y = draw(hnp.arrays(tdtype, tshape, elements=st.integers(lo, hi)))
        if "ignore_index" in opts and y.size and draw(st.booleans()):
            mask = draw(hnp.arrays(bool, tshape))
            if opts["ignore_index"] >= lo or np.dtype(tdtype).kind == "i":
                y = np.where(mask, np.asarray(opts["ignore_index"]).astype(tdtype), y)
    return dtype, opts, (x, y)


def _close(got, want, dtype, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert got.dtype == dtype, (what, got.dtype)
    if is_half(dtype):
        return _close_half(got, want, dtype, what)
    rtol = 2e-5 if dtype == np.float32 else 1e-11
    finite = want[np.isfinite(want)]
    scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, equal_nan=True,
                               err_msg=what)


def _close_half(got, want, dtype, what):
    """A half result against torch's float32 one on the same values: within
    one rounding of the half dtype (its epsilon, relative: float16 2**-10,
    bfloat16 2**-7), beside what _close grants the float32 result (2e-5 of
    the result's scale, at least 1: cancellation's absolute error, which also
    covers the half's subnormal spacing); a float32 value past the half
    dtype's largest, less that tolerance, may round to an infinity of its sign."""
    info = half_finfo(dtype)
    eps, big = float(info.eps), float(info.max)
    g, w = got.astype(np.float64), want.astype(np.float64)
    finite = w[np.isfinite(w)]
    scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
    tol = eps * np.abs(w) + 2e-5 * scale
    with np.errstate(invalid="ignore"):
        ok = (g == w) | (np.isnan(g) & np.isnan(w)) | (np.abs(g - w) <= tol)
        ok |= np.isinf(g) & (np.sign(g) == np.sign(w)) & (np.abs(w) + tol >= big)
    assert ok.all(), (f"{what}: {int((~ok).sum())} of {ok.size} beyond one {np.dtype(dtype).name} "
                      f"rounding of torch's float32; got {g[~ok][:5]}, want {w[~ok][:5]}")


def _grad_output(draw, row, dtype, opts, inputs):
    if opts["reduction"] != "none":
        return draw(st.one_of(st.none(), st.floats(-3, 3).map(lambda v: np.asarray(v, dtype))))
    x = inputs[0]
    if row.family == "binary":
        shape = x.shape
    else:
        shape = () if x.ndim <= 1 else (x.shape[0],) + x.shape[2:]
    return _array(draw, dtype, shape, -3, 3, special=False)


@pytest.mark.parametrize("row", CORE_LOSSES, ids=repr)
def test_matches_torch(row):
    _core_property(row, PROFILE, dtypes)


@pytest.mark.parametrize("row", CORE_LOSSES, ids=repr)
def test_half_matches_torch(row):
    """float16 and bfloat16: the same strategies, values rounded to the half dtype."""
    _core_property(row, HALF_PROFILE, half_dtypes)


def _core_property(row, PROFILE, dtypes):  # (PROFILE: see _SEEDED)
    strategy = (binary_calls if row.family == "binary" else class_calls)(row, dtypes)

    @PROFILE
    @given(st.data())
    def check(data):
        dtype, opts, inputs = data.draw(strategy)
        go = _grad_output(data.draw, row, dtype, opts, inputs)
        # our layouts on our side; torch gets native contiguous copies
        ours = tuple(_layout(data.draw, a) for a in inputs)
        our_opts = {k: _layout(data.draw, v) for k, v in opts.items()}
        _check_pair(row, dtype, opts, inputs, our_opts, ours, go)

    check()


def _wide_call(opts, inputs, go):
    """A call's options, inputs and grad_output as torch's float32 oracle takes
    them: every half array widened (the same values)."""
    return ({k: widened(v) for k, v in opts.items()}, tuple(widened(a) for a in inputs),
            widened(go))


def _check_pair(row, dtype, opts, inputs, our_opts, ours, go):
    try:
        loss, grads = torch_call(row, *_wide_call(opts, inputs, go))
        want, torch_error = (loss, grads[0]), None
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        want, torch_error = None, e
    try:
        got = row.cls(**our_opts).forward_backward(*ours, grad_output=go)
        forward = row.fn(*ours, **our_opts)
    except DOCUMENTED as e:
        if torch_error is None and not any(re.search(p, str(e)) for p in DIVERGENCES):
            raise AssertionError(f"we refuse ({e!r}) what torch accepts") from e
        return
    if torch_error is not None:
        x = inputs[0]
        # torch cannot reshape an empty K-d class input ("size mismatch"); we can
        assert row.family == "class" and x.ndim > 2 and x.shape[1] == 0, \
            f"torch refuses ({torch_error!r}) what we accept"
        return
    want_grad = want[1]
    if row.name == "CrossEntropyLoss" and np.asarray(inputs[1]).dtype.kind in "iu":
        # Documented divergence: an ignored sample's gradient is 0 here; torch's
        # log_softmax backward makes it 0 * softmax, nan when its logits are not finite.
        want_grad = _zero_ignored(inputs[0], inputs[1], opts.get("ignore_index", -100),
                                  want_grad)
    _close(got[0], want[0], dtype, "loss")
    _close(forward, want[0], dtype, "loss (functional)")
    _close(got[1], want_grad, dtype, "grad")


def _zero_ignored(x, t, ignore_index, grad):
    grad = grad.copy()
    t = np.asarray(t)
    if x.ndim == 1:
        if t == ignore_index:
            grad[...] = 0
        return grad
    ignored = np.expand_dims(t == ignore_index, 1)
    return np.where(np.broadcast_to(ignored, grad.shape), 0, grad).astype(grad.dtype)


@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
def test_activation_matches_torch(act):
    _activation_property(act, settings(PROFILE, max_examples=max(PROFILE.max_examples // 4, 50)),
                         dtypes)


@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
def test_half_activation_matches_torch(act):
    _activation_property(act, settings(HALF_PROFILE, max_examples=HALF_PROFILE.max_examples // 2),
                         half_dtypes)


def _activation_property(act, profile, dtypes):
    @profile
    @given(st.data())
    def check(data):
        dtype = data.draw(dtypes)
        shape = tuple(data.draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
        x = _array(data.draw, dtype, shape, -100, 100)
        kw = {}
        if act.needs_dim:
            rank = max(len(shape), 1)
            kw["dim"] = data.draw(st.integers(-rank, rank - 1))
        got = act.fn(_layout(data.draw, x), **kw)
        want = torch_fn(act)(torch.from_numpy(native(widened(x))), **kw).numpy()
        _close(got, want, dtype, act.name)

    check()


def test_profile_examples():
    """The CI profile runs at least 2000 examples per loss."""
    assert settings.get_profile("ci").max_examples >= 2000
    assert settings.get_profile("ci").derandomize
    assert math.isfinite(PROFILE.max_examples)


# -- every other loss ----------------------------------------------------------

_REFERENCE = {"SigmoidFocalLoss", "AsymmetricLoss", "ZLPRLoss", "SoftF1Loss"}
_STABLE = {"SigmoidFocalLoss", "AsymmetricLoss", "ZLPRLoss", "SoftF1Loss", "SoftMarginLoss"}
_SHAPE = st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple)
_TARGETS = {  # the target's domain: (low, high, kind)
    "SigmoidFocalLoss": "labels", "AsymmetricLoss": "labels", "ZLPRLoss": "labels",
    "SoftF1Loss": "labels", "KLDivLoss": "labels", "MultiLabelSoftMarginLoss": "labels",
    "SoftMarginLoss": "signs", "HingeEmbeddingLoss": "signs", "MarginRankingLoss": "signs",
    "PoissonNLLLoss": "counts",
}
_OPTIONS = {
    "SigmoidFocalLoss": {"alpha": st.sampled_from([-1.0, 0.25, 0.9]),
                         "gamma": st.sampled_from([0.0, 0.5, 2.0])},
    "AsymmetricLoss": {"gamma_neg": st.sampled_from([0.0, 4.0]),
                       "gamma_pos": st.sampled_from([0.0, 1.0]),
                       "clip": st.sampled_from([0.0, 0.05]), "eps": st.sampled_from([1e-8, 0.1])},
    "SoftF1Loss": {"eps": st.sampled_from([1e-16, 1e-3])},
    "SmoothL1Loss": {"beta": st.sampled_from([0.0, 0.5, 1.0, 3.0])},
    "HuberLoss": {"delta": st.sampled_from([0.5, 1.0, 3.0])},
    "KLDivLoss": {"log_target": st.booleans()},
    "PoissonNLLLoss": {"log_input": st.booleans(), "full": st.booleans()},
    "GaussianNLLLoss": {"full": st.booleans(), "eps": st.sampled_from([1e-6, 0.5])},
    "HingeEmbeddingLoss": {"margin": st.sampled_from([0.0, 1.0, 2.5])},
    "MarginRankingLoss": {"margin": st.sampled_from([0.0, 0.5])},
    "CosineEmbeddingLoss": {"margin": st.sampled_from([-0.5, 0.0, 0.5])},
    "TripletMarginLoss": {"margin": st.sampled_from([0.5, 1.0]),
                          "p": st.sampled_from([0.0, 1.0, 1.5, 2.0, 3.0, np.inf]),
                          "eps": st.sampled_from([0.0, 1e-6]), "swap": st.booleans()},
    "TripletMarginWithDistanceLoss": {"margin": st.sampled_from([0.5, 1.0]),
                                      "swap": st.booleans()},
    "MultiMarginLoss": {"p": st.sampled_from([1, 2]), "margin": st.sampled_from([0.0, 1.0])},
    "CTCLoss": {"blank": st.sampled_from([0, 1]), "zero_infinity": st.booleans()},
}


def _target(draw, row, dtype, shape):
    kind = _TARGETS.get(row.name, "real")
    if kind == "labels":
        return _array(draw, dtype, shape, 0.0, 1.0, special=False)
    if kind == "signs":
        return draw(hnp.arrays(dtype, shape, elements=st.sampled_from([-1.0, 1.0])))
    if kind == "counts":
        return draw(hnp.arrays(dtype, shape, elements=st.integers(0, 5).map(float)))
    return _array(draw, dtype, shape)


@st.composite
def elementwise_calls(draw, row, dtypes=dtypes):
    dtype = draw(dtypes)
    shape = draw(_SHAPE)
    if row.name == "SoftF1Loss":
        shape = shape[:2] or (draw(st.integers(0, 3)),)
    elif row.name in ("ZLPRLoss", "MultiLabelSoftMarginLoss") and not shape:
        shape = (draw(st.integers(0, 3)),)
    # ±inf only where the result is defined the same way in both: these losses
    # are computed stably here (documented), where torch or the naive
    # reference formula gives nan or inf
    # (the reference formulas lose accuracy at large logits: test_multilabel
    # checks those against float64 limits; here they stay moderate)
    lim = 8 if row.name in _REFERENCE else None
    x = _array(draw, dtype, shape, -lim if lim else None, lim, special=row.name not in _STABLE)
    if row.name in _STABLE and x.size and draw(st.integers(0, 9)) == 0:
        x.flat[0] = np.nan
    if row.name == "KLDivLoss" or row.name == "PoissonNLLLoss":
        x = _array(draw, dtype, shape, -5, 5)
    opts = {k: draw(v) for k, v in _OPTIONS.get(row.name, {}).items()}
    opts["reduction"] = draw(st.sampled_from(row.reductions))
    if row.name == "MarginRankingLoss":
        return dtype, opts, (x, _array(draw, dtype, shape), _target(draw, row, dtype, shape))
    tshape = shape
    # (not for MultiLabelSoftMarginLoss: an input broadcast along the labels
    # is divided by its own size in torch, by the broadcast size here; open)
    if (row.target_rule == "broadcast" and row.name != "MultiLabelSoftMarginLoss"
            and draw(st.integers(0, 4)) == 0):
        tshape = _broadcastable(draw, shape)
    y = _target(draw, row, dtype, tshape)
    if row.name == "KLDivLoss" and opts["log_target"]:
        y = np.log(widened(y) + 1e-3).astype(dtype)
    if row.name == "GaussianNLLLoss":
        var = _array(draw, dtype, shape, 0.0, 4.0, special=False)
        return dtype, opts, (x, y, var)
    if row.name == "MultiLabelSoftMarginLoss" and draw(st.booleans()):
        opts["weight"] = _array(draw, dtype, shape[-1:], 0, 2, special=False)
    return dtype, opts, (x, y)


@st.composite
def rows_calls(draw, row, dtypes=dtypes):
    dtype = draw(dtypes)
    n, d = draw(st.integers(0, 3)), draw(st.integers(0, 4))
    unbatched = draw(st.integers(0, 5)) == 0
    shape = (d,) if unbatched else (n, d)
    opts = {k: draw(v) for k, v in _OPTIONS.get(row.name, {}).items()}
    opts["reduction"] = draw(reductions)
    if row.name == "TripletMarginWithDistanceLoss":
        opts["distance_function"] = draw(st.sampled_from([None, F.cosine_distance]))
    k = 2 if row.name == "CosineEmbeddingLoss" else 3
    # finite values and nan, no ±inf: torch's norm subgradients at an infinite
    # coordinate differ from ours (open)
    inputs = tuple(_array(draw, dtype, shape, -5, 5, special=False) for _ in range(k))
    if draw(st.integers(0, 9)) == 0 and inputs[0].size:
        inputs[draw(st.integers(0, k - 1))].flat[0] = np.nan
    if row.name == "CosineEmbeddingLoss":
        inputs += (draw(hnp.arrays(dtype, shape[:-1], elements=st.sampled_from([-1.0, 1.0]))),)
    return dtype, opts, inputs


@st.composite
def margin_calls(draw, row, dtypes=dtypes):
    dtype = draw(dtypes)
    opts = {k: draw(v) for k, v in _OPTIONS.get(row.name, {}).items()}
    opts["reduction"] = draw(reductions)
    # (no empty batch with "mean": torch returns uninitialised memory there,
    # documented in MultiLabelMarginLoss's docstring; ours is nan)
    n = draw(st.integers(1 if opts["reduction"] == "mean" else 0, 3))
    c = draw(st.integers(1, 4))
    unbatched = draw(st.integers(0, 5)) == 0
    shape = (c,) if unbatched else (n, c)
    x = _array(draw, dtype, shape)
    hi = c if draw(st.integers(0, 9)) == 0 else c - 1  # sometimes out of range
    if row.name == "MultiMarginLoss":
        t = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, hi)))
        if draw(st.booleans()):
            opts["weight"] = _array(draw, dtype, (c,), 0, 2, special=False)
    else:
        t = draw(hnp.arrays(np.int64, shape, elements=st.integers(-1, hi)))
    return dtype, opts, (x, t)


@st.composite
def ctc_calls(draw, row, dtypes=dtypes):
    dtype = draw(dtypes)
    T, n, c, s = (draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(2, 4)),
                  draw(st.integers(0, 3)))
    opts = {k: draw(v) for k, v in _OPTIONS["CTCLoss"].items()}
    opts["reduction"] = draw(reductions)
    x = draw(hnp.arrays(np.float64, (T, n, c), elements=st.floats(-5, 5)))
    lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(dtype)
    blank = opts["blank"]
    t = draw(hnp.arrays(np.int64, (n, s), elements=st.sampled_from(
        [k for k in range(c) if k != blank])))
    tl = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, s)))
    il = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, T)))
    return dtype, opts, (lp, t, il, tl)


_STRATEGIES = {"elementwise-pair": elementwise_calls, "rows": rows_calls, "margin": margin_calls,
               "ctc": ctc_calls, "binary": binary_calls}


def _extra_grad_output(draw, row, dtype, opts, inputs):
    if opts["reduction"] != "none":
        return draw(st.one_of(st.none(), st.floats(-3, 3).map(lambda v: np.asarray(v, dtype))))
    kw = {k: v for k, v in opts.items() if k != "reduction"}
    try:
        shape = np.shape(row.fn(*inputs, reduction="none", **kw))
    except DOCUMENTED:
        shape = ()
    return _array(draw, dtype, shape, -3, 3, special=False)


# Losses whose property run (ci profile) still finds divergences from torch,
# each an open bug or an undocumented divergence to settle; not yet in the
# property table (they are in every other reliability table).
PENDING = {
    "CosineEmbeddingLoss": (
        "float32 rows of tiny norm: gradient terms of 1 / norm cancel in other orders; a hinge "
        "z = cos - margin = 0 within float32 rounding (x1 = [1, 1, 1, 1], x2 = [1, 0, 0, 0], "
        "margin 0.5): torch's float32 cosine lands on the kink and passes the gradient, ours "
        "(in double, its 1e-12 eps kept) lands just below it"),
    "TripletMarginLoss": (
        "norms in float32's underflow range (p=1.5, coordinates of 1e-38): torch's float32 "
        "p-norm underflows to 0 and its subgradient is 0; ours, summed in double, is not"),
    "TripletMarginWithDistanceLoss": (
        "cosine distance to a zero row (norm clamped to eps), swap tie: gradient terms of 1e8 "
        "cancel to 7e-9 in our order, to 0 in torch's ((x / c1) / c2); hinges at 0 within "
        "rounding (anchor = positive, negative = 0, margin 1), as the cosine embedding loss's"),
}

# Where torch's value is not a value: its margin losses over an empty batch
# return uninitialised memory for sum and mean (documented in the guide's
# differences page).  The oracle there is the rule of every other loss: an
# empty sum is 0, an empty mean nan.
EMPTY_BATCH_UNINITIALISED = {"MultiMarginLoss", "MultiLabelMarginLoss"}


def _documented_loss(row, opts, inputs, want):
    reduction = opts.get("reduction", "mean")
    if (row.name in EMPTY_BATCH_UNINITIALISED and reduction != "none"
            and np.ndim(inputs[0]) == 2 and np.shape(inputs[0])[0] == 0):
        return (np.asarray(0.0 if reduction == "sum" else np.nan, want[0].dtype),) + want[1:]
    return want


OTHER_ROWS = [r for r in EXTRA_LOSSES if r.name not in PENDING]


@pytest.mark.parametrize("row", OTHER_ROWS, ids=repr)
def test_other_losses_match_torch(row):
    _other_property(row, PROFILE, dtypes)


@pytest.mark.parametrize("row", OTHER_ROWS, ids=repr)
def test_half_other_losses_match_torch(row):
    """float16 and bfloat16: the same strategies, values rounded to the half dtype."""
    _other_property(row, HALF_PROFILE, half_dtypes)


def _other_property(row, PROFILE, dtypes):  # (PROFILE: see _SEEDED)
    strategy = _STRATEGIES[row.family](row, dtypes)

    @PROFILE
    @given(st.data())
    def check(data):
        dtype, opts, inputs = data.draw(strategy)
        go = _extra_grad_output(data.draw, row, dtype, opts, inputs)
        ours = tuple(_layout(data.draw, a) for a in inputs)
        our_opts = {k: _layout(data.draw, v) for k, v in opts.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _check_extra(row, dtype, opts, inputs, our_opts, ours, go)

    check()


# The oracles of rows whose reference formula is rewritten for this table: the
# same function without a cancellation that only the reference suffers from
# (ASL's 1 - p_t rounds to 0 for a tiny target at x = -3, and autograd's pow
# derivative there is 0 * inf = nan where ours is -0, the limit)
FACTORED = {"AsymmetricLoss": "oracle.asymmetric_loss_factored"}


def _check_extra(row, dtype, opts, inputs, our_opts, ours, go):
    oracle = dataclasses.replace(row, oracle=FACTORED[row.name]) if row.name in FACTORED else row
    try:
        want = _documented_loss(row, opts, inputs,
                                torch_call(oracle, *_wide_call(opts, inputs, go)))
        torch_error = None
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        want, torch_error = None, e
    try:
        got = flat(row.cls(**our_opts).forward_backward(*ours, grad_output=go))
        forward = row.fn(*ours, **our_opts)
    except DOCUMENTED as e:
        if torch_error is None and not any(re.search(p, str(e)) for p in EXTRA_DIVERGENCES):
            raise AssertionError(f"we refuse ({e!r}) what torch accepts") from e
        return
    assert torch_error is None, f"torch refuses ({torch_error!r}) what we accept"
    _close(got[0], want[0], dtype, "loss")
    _close(forward, want[0], dtype, "loss (functional)")
    assert len(got) == 1 + len(want[1])
    for i, (g, w) in enumerate(zip(got[1:], want[1])):
        _close(g, w, dtype, f"grad {i}")


# refusals of ours that torch (or the reference formula) does not share
EXTRA_DIVERGENCES = ()
