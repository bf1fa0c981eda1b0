"""BCELoss / BCEWithLogitsLoss against torch 2.13 (values and autograd gradients)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import (
    DTYPE_LAYOUTS,
    DTYPES,
    GO_CASES,
    LAYOUTS,
    REDUCTIONS,
    all_layouts,
    assert_close,
    in_layout,
    make_grad_output,
    run_ours,
)
from loss_table import BCE, BCEL
from oracle import check_against_torch, torch_fn, torch_ref

pytestmark = pytest.mark.torch

BINARY = {"bce": BCE, "bcel": BCEL}

SHAPES = {
    "0d": (),
    "1d": (7,),
    "2d": (5, 4),
    "kdim": (3, 4, 2, 3),
    "empty": (0, 4),
    "empty_kdim": (2, 0, 3),
}


def make_input(loss, rng, shape, dtype):
    if loss is BCE:
        return rng.uniform(0.02, 0.98, shape).astype(dtype)
    return rng.normal(0.0, 3.0, shape).astype(dtype)


def make_target(rng, shape, dtype, kind="soft"):
    if kind == "hard":
        return rng.integers(0, 2, shape).astype(dtype)
    t = rng.uniform(0.0, 1.0, shape)
    # a few exact 0s and 1s too
    if t.size:
        flat = t.reshape(-1)
        flat[:: 3] = 0.0
        flat[1:: 5] = 1.0
    return t.astype(dtype)


@pytest.mark.parametrize("target_kind", ["soft", "hard"])
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(BINARY))
def test_matches_torch(name, dtype, reduction, shape, target_kind, rng):
    loss = BINARY[name]
    x = make_input(loss, rng, SHAPES[shape], dtype)
    t = make_target(rng, SHAPES[shape], dtype, target_kind)
    check_against_torch(loss, x, t, reduction=reduction)


def test_default_reduction_is_mean(rng):

    for loss in BINARY.values():
        x = make_input(loss, rng, (6, 3), np.float64)
        t = make_target(rng, (6, 3), np.float64)
        exp, _ = torch_ref(loss, x, t, reduction="mean")
        assert_close(loss.fn(x, t), exp, np.float64)
        assert_close(loss.cls()(x, t), exp, np.float64)


# (input shape, weight shape): torch broadcasts weight to the target's shape.
WEIGHT_CASES = [
    ((5, 4), (4,)),  # [C]
    ((5, 4), (5, 1)),  # [N, 1]
    ((5, 4), (5, 4)),  # full shape
    ((5, 4), (1, 4)),
    ((5, 4), ()),  # scalar weight
    ((3, 4, 2, 3), (4, 1, 1)),  # [C, 1, 1] for [N, C, H, W]
    ((3, 4, 2, 3), (3,)),  # last axis
    ((3, 4, 2, 3), (3, 1, 1, 1)),  # [N, 1, 1, 1]
    ((7,), (7,)),
    ((0, 4), (4,)),  # empty batch
]


@pytest.mark.parametrize(
    "xshape,wshape", WEIGHT_CASES, ids=[f"{a}-{b}" for a, b in WEIGHT_CASES]
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(BINARY))
def test_weight_broadcasting(name, dtype, reduction, xshape, wshape, rng):
    loss = BINARY[name]
    x = make_input(loss, rng, xshape, dtype)
    t = make_target(rng, xshape, dtype)
    w = rng.uniform(0.1, 3.0, wshape).astype(dtype)
    check_against_torch(loss, x, t, weight=w, reduction=reduction)


POS_WEIGHT_CASES = [
    ((5, 4), (4,)),  # [C], the usual per-class case
    ((5, 4), (5, 4)),  # full shape
    ((5, 4), (1,)),
    ((5, 4), ()),
    ((3, 4, 2, 3), (4, 1, 1)),  # [C, 1, 1] for [N, C, H, W]
    ((3, 4, 2, 3), (3,)),
    ((7,), (7,)),
    ((0, 4), (4,)),
]


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_w", "w"])
@pytest.mark.parametrize(
    "xshape,pshape", POS_WEIGHT_CASES, ids=[f"{a}-{b}" for a, b in POS_WEIGHT_CASES]
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_pos_weight(dtype, reduction, xshape, pshape, with_weight, rng):
    x = make_input(BCEL, rng, xshape, dtype)
    t = make_target(rng, xshape, dtype)
    pw = rng.uniform(0.2, 4.0, pshape).astype(dtype)
    kw = dict(pos_weight=pw, reduction=reduction)
    if with_weight:
        kw["weight"] = rng.uniform(0.1, 2.0, xshape[-1:]).astype(dtype)
    check_against_torch(BCEL, x, t, **kw)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "dtype,layout", DTYPE_LAYOUTS, ids=[f"{np.dtype(d).name}-{lay}" for d, lay in DTYPE_LAYOUTS]
)
@pytest.mark.parametrize("name", list(BINARY))
def test_layouts(name, dtype, layout, reduction, rng):
    loss = BINARY[name]
    shape = (4, 3, 5)
    x = make_input(loss, rng, shape, dtype)
    t = make_target(rng, shape, dtype)
    w = rng.uniform(0.1, 2.0, (3, 1)).astype(dtype)
    kw = dict(weight=w, reduction=reduction)
    if loss is BCEL:
        kw["pos_weight"] = rng.uniform(0.5, 3.0, (3, 1)).astype(dtype)
    lkw = {k: (in_layout(v, layout) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    check_against_torch(
        loss,
        in_layout(x, layout),
        in_layout(t, layout),
        oracle_x=x,
        oracle_t=t,
        **lkw,
    )


@pytest.mark.parametrize("layout", ["contiguous", "fortran", "negative", "byteswapped"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(BINARY))
def test_layout_mixed(name, dtype, layout, rng):
    """Only the input is re-laid out; target and weight stay contiguous."""
    loss = BINARY[name]
    shape = (6, 5)
    x = make_input(loss, rng, shape, dtype)
    t = make_target(rng, shape, dtype)
    check_against_torch(loss, in_layout(x, layout), t, oracle_x=x, reduction="none")
    check_against_torch(loss, x, in_layout(t, layout), oracle_t=t, reduction="sum")




@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 3), (7,)], ids=["2d", "kdim", "1d"])
@pytest.mark.parametrize("reduction,kind", GO_CASES, ids=[f"{r}-{k}" for r, k in GO_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(BINARY))
def test_grad_output(name, dtype, reduction, kind, shape, rng):
    loss = BINARY[name]
    x = make_input(loss, rng, shape, dtype)
    t = make_target(rng, shape, dtype)
    go = make_grad_output(rng, kind, shape, dtype)
    kw = dict(reduction=reduction, weight=rng.uniform(0.1, 2.0, shape[-1:]).astype(dtype))
    check_against_torch(loss, x, t, grad_output=go, oracle_x=x, **kw)


@pytest.mark.parametrize("tdtype", [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(BINARY))
def test_integer_and_bool_targets(name, dtype, reduction, tdtype, rng):
    """Decision beyond torch: int/bool targets are cast to the input dtype."""
    loss = BINARY[name]
    x = make_input(loss, rng, (6, 3), dtype)
    t = rng.integers(0, 2, (6, 3)).astype(tdtype)
    kw = dict(reduction=reduction)
    if loss is BCEL:
        kw["pos_weight"] = rng.uniform(0.5, 3.0, (3,)).astype(dtype)
    check_against_torch(loss, x, t, oracle_t=t.astype(dtype), **kw)


def test_list_target_with_float32_input(rng):
    """A list target is converted like np.asarray; the computation stays float32."""
    for loss in BINARY.values():
        x = make_input(loss, rng, (4, 3), np.float32)
        t = rng.integers(0, 2, (4, 3)).astype(np.float32)
        check_against_torch(loss, x, t.tolist(), oracle_t=t, reduction="none")
        check_against_torch(loss, x, t.astype(int).tolist(), oracle_t=t, reduction="mean")


@pytest.mark.parametrize("name", list(BINARY))
def test_positional_weight(name, rng):
    """weight is the third positional argument of the function, the first of the class."""

    loss = BINARY[name]
    x = make_input(loss, rng, (5, 4), np.float64)
    t = make_target(rng, (5, 4), np.float64)
    w = rng.uniform(0.1, 2.0, (4,))
    exp, grad = torch_ref(loss, x, t, weight=w)
    assert_close(loss.fn(x, t, w), exp, np.float64)
    crit = loss.cls(w)
    assert_close(crit(x, t), exp, np.float64)
    assert_close(crit.backward(), grad, np.float64, kind="grad")


# ---------------------------------------------------------------------------
# BCE: log clamped at -100, backward denominator clamped at 1e-12
# ---------------------------------------------------------------------------


def bce_reference_f64(x, t, w=None):
    """torch's documented formula: -w (t * max(log x, -100) + (1-t) * max(log(1-x), -100))."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    with np.errstate(divide="ignore"):
        lx = np.maximum(np.log(x), -100.0)
        l1x = np.maximum(np.log1p(-x), -100.0)
    out = -(t * lx + (1 - t) * l1x)
    return out if w is None else out * w


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_w", "w"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_bce_clamp_at_0_and_1(dtype, reduction, with_weight, rng):
    # every combination of input in {0, 1, tiny, 1-tiny, 0.5} and target in {0, 1, 0.5, 0.25}
    xs = np.array([0.0, 1.0, 1e-30, 1 - 1e-7, 0.5], dtype=dtype)
    ts = np.array([0.0, 1.0, 0.5, 0.25], dtype=dtype)
    x, t = (a.reshape(-1).copy() for a in np.meshgrid(xs, ts, indexing="ij"))
    kw = dict(reduction=reduction)
    w = None
    if with_weight:
        w = rng.uniform(0.5, 2.0, x.shape).astype(dtype)
        kw["weight"] = w
    results, exp_val, exp_grad = check_against_torch(BCE, x, t, **kw)
    # values are finite (clamped log) and match the float64 reference formula
    ref = bce_reference_f64(x, t, w)
    ref = {"none": ref, "mean": ref.mean(), "sum": ref.sum()}[reduction]
    for face, (val, g) in results.items():
        assert np.all(np.isfinite(val)), face
        assert_close(val, ref, dtype, err_msg=face)
        if g is not None:
            assert np.all(np.isfinite(g)), face


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_bce_clamp_exact_values(dtype):
    """Input exactly 0 or 1: loss is 100 * (mismatched mass), gradient uses eps=1e-12.

    Note: torch's backward clamps x * (1 - x) at its EPSILON constant, which is the
    float 1e-12f (9.99999996e-13) even for float64 inputs; the oracle is torch, so the
    float64 gradient at x = 0 or 1 is (x - y) / 9.99999996e-13, not (x - y) / 1e-12.
    """
    x = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=dtype)
    t = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 0.5], dtype=dtype)
    results, exp_val, exp_grad = check_against_torch(BCE, x, t, reduction="none")
    # the oracle itself must show the clamp, or this test proves nothing
    assert_close(exp_val, bce_reference_f64(x, t), dtype)
    assert np.abs(exp_grad).max() > 1e11


# ---------------------------------------------------------------------------
# BCEWithLogits: huge logits stay finite
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_pos_weight", [False, True], ids=["no_pw", "pw"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_bce_logits_extreme(dtype, reduction, with_pos_weight, rng):
    xs = np.array([-1e4, 1e4, -1e3, 1e3, -100.0, 100.0, -30.0, 30.0, -1e-8, 0.0], dtype=dtype)
    ts = np.array([0.0, 1.0, 0.5, 0.1], dtype=dtype)
    x, t = (a.reshape(-1).copy() for a in np.meshgrid(xs, ts, indexing="ij"))
    kw = dict(reduction=reduction)
    if with_pos_weight:
        kw["pos_weight"] = rng.uniform(0.5, 4.0, x.shape).astype(dtype)
    results, _, _ = check_against_torch(BCEL, x, t, **kw)
    for face, (val, g) in results.items():
        assert np.all(np.isfinite(val)), face
        if g is not None:
            assert np.all(np.isfinite(g)), face


# ---------------------------------------------------------------------------
# Module protocol
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(BINARY))
def test_forward_backward_equals_forward_then_backward(name, dtype, reduction, rng):
    loss = BINARY[name]
    x = make_input(loss, rng, (5, 4), dtype)
    t = make_target(rng, (5, 4), dtype)
    w = rng.uniform(0.1, 2.0, (4,)).astype(dtype)
    for go in (None, 1.5 if reduction != "none" else rng.uniform(-2, 2, (5, 4)).astype(dtype)):
        res = run_ours(loss, x, t, weight=w, reduction=reduction, grad_output=go,
                       faces=["module_forward", "fused"])
        (v1, g1), (v2, g2) = res["module_forward"], res["fused"]
        assert_close(v2, v1, dtype)
        assert_close(g2, g1, dtype, kind="grad")
        assert np.asarray(v2).dtype == np.asarray(v1).dtype
        assert g2.dtype == g1.dtype and g2.shape == g1.shape


@pytest.mark.parametrize("name", list(BINARY))
def test_backward_uses_most_recent_forward(name, rng):

    loss = BINARY[name]
    crit = loss.cls(reduction="sum")
    xa = make_input(loss, rng, (5, 4), np.float64)
    ta = make_target(rng, (5, 4), np.float64)
    xb = make_input(loss, rng, (3, 2), np.float64)
    tb = make_target(rng, (3, 2), np.float64)
    crit(xa, ta)
    crit(xb, tb)
    _, gb = torch_ref(loss, xb, tb, reduction="sum")
    assert_close(crit.backward(), gb, np.float64, kind="grad")
    # backward may be called again; a second call gives the same answer
    assert_close(crit.backward(), gb, np.float64, kind="grad")
    assert_close(crit.backward(2.0), 2.0 * gb, np.float64, kind="grad")
    # after forward_backward the state is that call's
    _, ga = torch_ref(loss, xa, ta, reduction="sum")
    crit.forward_backward(xa, ta)
    assert_close(crit.backward(), ga, np.float64, kind="grad")


def test_torch_oracle_sanity():
    """The oracle helper itself agrees with torch.nn modules (guards the harness)."""

    x = np.linspace(0.1, 0.9, 12).reshape(3, 4)
    t = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    v, g = torch_ref(BCE, x, t, reduction="sum")
    xt = torch.from_numpy(x.copy()).requires_grad_()
    ref = torch.nn.BCELoss(reduction="sum")(xt, torch.from_numpy(t))
    ref.backward()
    np.testing.assert_allclose(v, ref.item(), rtol=1e-14)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-14)
    assert TF.binary_cross_entropy is torch_fn(BCE)


def test_layout_helper_properties(layout):
    """Guards the harness: each layout really is the memory layout it claims to be."""
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
    b = in_layout(a, layout)
    np.testing.assert_array_equal(np.asarray(b), a)
    if layout == "list":
        assert isinstance(b, list)
        return
    assert b.shape == a.shape
    if layout == "contiguous":
        assert b.flags.c_contiguous
    if layout in ("fortran", "swapaxes", "transposed", "strided", "negative"):
        assert not b.flags.c_contiguous
    if layout == "transposed":
        assert b.strides == tuple(reversed(np.ascontiguousarray(a.T).strides))
    if layout == "misaligned":
        assert not b.flags.aligned
    if layout == "fortran":
        assert b.flags.f_contiguous
    if layout == "negative":
        assert all(s < 0 for s in b.strides)
    if layout == "byteswapped":
        assert not b.dtype.isnative
    if layout == "readonly":
        assert not b.flags.writeable
    assert [name for name, _ in all_layouts(a)] == LAYOUTS


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(BINARY))
def test_same_values_in_every_layout_give_the_same_result(name, dtype, rng):
    loss = BINARY[name]
    x = make_input(loss, rng, (3, 4, 5), dtype)
    t = make_target(rng, (3, 4, 5), dtype)
    base = run_ours(loss, x, t, reduction="none", faces=["fused"])["fused"]
    for lay, xl in all_layouts(x):
        if lay == "list" and dtype == np.float32:
            continue
        v, g = run_ours(loss, xl, in_layout(t, lay), reduction="none", faces=["fused"])["fused"]
        assert_close(v, base[0], dtype, err_msg=lay)
        assert_close(g, base[1], dtype, kind="grad", err_msg=lay)
