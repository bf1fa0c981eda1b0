"""CrossEntropyLoss / NLLLoss against torch 2.13 (values and autograd gradients)."""

import numpy as np
import pytest
from helpers import (
    DTYPE_LAYOUTS,
    DTYPES,
    GO_CASES,
    REDUCTIONS,
    assert_close,
    in_layout,
    make_grad_output,
    run_ours,
)
from loss_table import CE, NLL
from oracle import check_against_torch, torch_ref

pytestmark = pytest.mark.torch

CLASSIFICATION = {"ce": CE, "nll": NLL}
C = 5

# family: (input shape, class-target shape)
SHAPES = {
    "2d": ((6, C), (6,)),
    "k1": ((3, C, 4), (3, 4)),
    "kdim": ((3, C, 2, 3), (3, 2, 3)),
    "unbatched": ((C,), ()),
    "empty": ((0, C), (0,)),
    "empty_kdim": ((2, C, 0), (2, 0)),
}
SHAPE_IDS = list(SHAPES)


def make_input(loss, rng, shape, dtype):
    z = rng.normal(0.0, 2.0, shape)
    if loss is NLL and len(shape) >= 1 and z.size:
        # log-probabilities along the class axis, as NLLLoss expects (any float works)
        axis = 0 if len(shape) == 1 else 1
        z = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return z.astype(dtype)


def make_classes(rng, tshape, ignore, n_classes=C):
    """Class targets plus the ignore_index keyword (if any) for an ignore scenario."""
    t = rng.integers(0, n_classes, tshape).astype(np.int64)
    kw = {}
    flat = t.reshape(-1)
    if ignore == "none":
        pass
    elif ignore == "default":  # default ignore_index=-100, some entries ignored
        if flat.size > 1:
            flat[1::3] = -100
    elif ignore == "valid_class":  # a real class is ignored
        kw["ignore_index"] = 1
        if flat.size > 1:
            flat[::4] = 1
    elif ignore == "out_of_range":  # an index >= C used as the ignore marker
        kw["ignore_index"] = 100
        if flat.size > 1:
            flat[::3] = 100
    else:
        raise AssertionError(ignore)
    return t, kw


IGNORES = ["none", "default", "valid_class", "out_of_range"]
SMOOTHINGS = [0.0, 0.25, 1.0]


@pytest.mark.parametrize("smoothing", SMOOTHINGS, ids=[f"ls{s}" for s in SMOOTHINGS])
@pytest.mark.parametrize("ignore", IGNORES)
@pytest.mark.parametrize("with_weight", [False, True], ids=["no_w", "w"])
@pytest.mark.parametrize("shape", SHAPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_cross_entropy_class_targets(dtype, reduction, shape, with_weight, ignore, smoothing, rng):
    xshape, tshape = SHAPES[shape]
    x = make_input(CE, rng, xshape, dtype)
    t, kw = make_classes(rng, tshape, ignore)
    if with_weight:
        kw["weight"] = rng.uniform(0.2, 2.0, C).astype(dtype)
    if smoothing:
        kw["label_smoothing"] = smoothing
    check_against_torch(CE, x, t, reduction=reduction, **kw)


@pytest.mark.parametrize("ignore", IGNORES)
@pytest.mark.parametrize("with_weight", [False, True], ids=["no_w", "w"])
@pytest.mark.parametrize("shape", SHAPE_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_nll_loss(dtype, reduction, shape, with_weight, ignore, rng):
    xshape, tshape = SHAPES[shape]
    x = make_input(NLL, rng, xshape, dtype)
    t, kw = make_classes(rng, tshape, ignore)
    if with_weight:
        kw["weight"] = rng.uniform(0.2, 2.0, C).astype(dtype)
    check_against_torch(NLL, x, t, reduction=reduction, **kw)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(CLASSIFICATION))
def test_nll_arbitrary_inputs(name, dtype, rng):
    """NLL does not require log-probabilities; CE handles any logits."""
    x = rng.normal(0, 5, (7, C)).astype(dtype)
    t = rng.integers(0, C, 7)
    for reduction in REDUCTIONS:
        check_against_torch(CLASSIFICATION[name], x, t, reduction=reduction,
                            weight=rng.uniform(0.1, 1.0, C).astype(dtype))


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_w", "w"])
@pytest.mark.parametrize("shape", ["2d", "kdim", "unbatched"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name,smoothing", [("ce", 0.0), ("ce", 0.3), ("nll", 0.0)])
def test_all_targets_ignored(name, smoothing, dtype, reduction, shape, with_weight, rng):
    """Every target ignored: mean is nan (0/0) exactly as in torch, sum is 0."""
    loss = CLASSIFICATION[name]
    xshape, tshape = SHAPES[shape]
    x = make_input(loss, rng, xshape, dtype)
    kw = {}
    if with_weight:
        kw["weight"] = rng.uniform(0.2, 2.0, C).astype(dtype)
    if smoothing:
        kw["label_smoothing"] = smoothing
    t = np.full(tshape, -100, dtype=np.int64)
    _, exp_val, _ = check_against_torch(loss, x, t, reduction=reduction, **kw)
    if reduction == "mean":
        assert np.isnan(exp_val)
    t = np.full(tshape, 3, dtype=np.int64)
    check_against_torch(loss, x, t, reduction=reduction, ignore_index=3, **kw)


PROB_SHAPES = ["2d", "k1", "kdim", "unbatched", "empty"]


def make_probs(rng, shape, kind, dtype):
    axis = 0 if len(shape) == 1 else 1
    if kind == "softmax":
        z = rng.normal(0, 2, shape)
        p = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True) if z.size else z
    elif kind == "onehot":
        cls = rng.integers(0, shape[axis], shape[:axis] + shape[axis + 1:])
        p = (np.expand_dims(cls, axis) == np.arange(shape[axis]).reshape(
            (-1,) + (1,) * (len(shape) - axis - 1))).astype(np.float64)
    elif kind == "unnormalized":  # torch does not require rows to sum to 1
        p = rng.uniform(0, 1, shape)
    else:
        raise AssertionError(kind)
    return p.astype(dtype)


@pytest.mark.parametrize("kind", ["softmax", "onehot", "unnormalized"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3, 1.0], ids=["ls0", "ls0.3", "ls1"])
@pytest.mark.parametrize("with_weight", [False, True], ids=["no_w", "w"])
@pytest.mark.parametrize("shape", PROB_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_cross_entropy_probability_targets(dtype, reduction, shape, with_weight, smoothing, kind, rng):
    xshape, _ = SHAPES[shape]
    x = make_input(CE, rng, xshape, dtype)
    p = make_probs(rng, xshape, kind, dtype)
    kw = {}
    if with_weight:
        kw["weight"] = rng.uniform(0.2, 2.0, C).astype(dtype)
    if smoothing:
        kw["label_smoothing"] = smoothing
    check_against_torch(CE, x, p, reduction=reduction, **kw)


@pytest.mark.parametrize("ignore_index", [-100, -1, -7])
def test_probability_targets_accept_negative_ignore_index(ignore_index, rng):
    x = make_input(CE, rng, (4, C), np.float64)
    p = make_probs(rng, (4, C), "softmax", np.float64)
    check_against_torch(CE, x, p, ignore_index=ignore_index, reduction="none")


SIGNED = [np.int8, np.int16, np.int32, np.int64]
UNSIGNED = [np.uint8, np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("tdtype", SIGNED + UNSIGNED, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(CLASSIFICATION))
def test_any_integer_target_dtype(name, tdtype, dtype, reduction, rng):
    loss = CLASSIFICATION[name]
    x = make_input(loss, rng, (3, C, 4), dtype)
    t = rng.integers(0, C, (3, 4))
    kw = dict(reduction=reduction, weight=rng.uniform(0.2, 2.0, C).astype(dtype))
    if np.issubdtype(tdtype, np.signedinteger):
        t[0, ::2] = -100  # default ignore_index
    else:
        kw["ignore_index"] = 2  # unsigned targets: ignore a real class
    check_against_torch(loss, x, t.astype(tdtype), oracle_t=t, **kw)


@pytest.mark.parametrize("tdtype", UNSIGNED, ids=lambda d: np.dtype(d).name)
def test_unsigned_target_with_default_ignore_index_ignores_nothing(tdtype, rng):
    """ignore_index=-100 cannot equal an unsigned target; nothing is ignored."""
    x = make_input(CE, rng, (6, C), np.float64)
    t = rng.integers(0, C, 6)
    check_against_torch(CE, x, t.astype(tdtype), oracle_t=t, reduction="none")


@pytest.mark.parametrize("shape", ["2d", "kdim"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "dtype,layout", DTYPE_LAYOUTS, ids=[f"{np.dtype(d).name}-{lay}" for d, lay in DTYPE_LAYOUTS]
)
@pytest.mark.parametrize("name", list(CLASSIFICATION))
def test_layouts(name, dtype, layout, reduction, shape, rng):
    loss = CLASSIFICATION[name]
    xshape, tshape = SHAPES[shape]
    x = make_input(loss, rng, xshape, dtype)
    t, kw = make_classes(rng, tshape, "default")
    w = rng.uniform(0.2, 2.0, C).astype(dtype)
    kw.update(reduction=reduction, weight=in_layout(w, layout))
    if loss is CE:
        kw["label_smoothing"] = 0.1
    check_against_torch(
        loss, in_layout(x, layout), in_layout(t, layout), oracle_x=x, oracle_t=t,
        **kw,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "dtype,layout", DTYPE_LAYOUTS, ids=[f"{np.dtype(d).name}-{lay}" for d, lay in DTYPE_LAYOUTS]
)
def test_layouts_probability_targets(dtype, layout, reduction, rng):
    x = make_input(CE, rng, (3, C, 2, 3), dtype)
    p = make_probs(rng, (3, C, 2, 3), "softmax", dtype)
    w = rng.uniform(0.2, 2.0, C).astype(dtype)
    check_against_torch(
        CE, in_layout(x, layout), in_layout(p, layout), oracle_x=x, oracle_t=p,
        weight=in_layout(w, layout), label_smoothing=0.2, reduction=reduction,
    )


@pytest.mark.parametrize("shape", ["2d", "kdim", "unbatched"])
@pytest.mark.parametrize("reduction,kind", GO_CASES, ids=[f"{r}-{k}" for r, k in GO_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(CLASSIFICATION))
def test_grad_output(name, dtype, reduction, kind, shape, rng):
    loss = CLASSIFICATION[name]
    xshape, tshape = SHAPES[shape]
    x = make_input(loss, rng, xshape, dtype)
    t, kw = make_classes(rng, tshape, "default")
    kw.update(reduction=reduction, weight=rng.uniform(0.2, 2.0, C).astype(dtype))
    if loss is CE:
        kw["label_smoothing"] = 0.15
    go = make_grad_output(rng, kind, tshape, dtype)
    check_against_torch(loss, x, t, grad_output=go, **kw)


@pytest.mark.parametrize("reduction,kind", GO_CASES, ids=[f"{r}-{k}" for r, k in GO_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_grad_output_probability_targets(dtype, reduction, kind, rng):
    x = make_input(CE, rng, (4, C, 3), dtype)
    p = make_probs(rng, (4, C, 3), "softmax", dtype)
    go = make_grad_output(rng, kind, (4, 3), dtype)
    check_against_torch(CE, x, p, grad_output=go, reduction=reduction, label_smoothing=0.1,
                        weight=rng.uniform(0.2, 2.0, C).astype(dtype))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_cross_entropy_huge_logits(dtype, reduction, smoothing, rng):
    """Logits of +-1e4 (log-sum-exp must subtract the max) stay finite and match torch."""
    x = rng.normal(0, 1, (6, C)).astype(dtype)
    x[0, 0], x[0, 1] = 1e4, -1e4
    x[1, :] = -1e4
    x[2, :] = 1e4
    x[3, 2] = 3e4
    x[4, :] = [1e4, -1e4, 1e4, -1e4, 0.0]
    t = np.array([1, 0, 3, 2, 1, 4])
    w = rng.uniform(0.5, 2.0, C).astype(dtype)
    results, _, _ = check_against_torch(CE, x, t, weight=w, label_smoothing=smoothing,
                                        reduction=reduction)
    for face, (val, g) in results.items():
        assert np.all(np.isfinite(val)), face
        if g is not None:
            assert np.all(np.isfinite(g)), face
    # probability targets too
    p = make_probs(rng, (6, C), "softmax", dtype)
    check_against_torch(CE, x, p, weight=w, label_smoothing=smoothing, reduction=reduction)


@pytest.mark.parametrize("n_classes", [1, 2, 3, 17, 130])
def test_class_counts(n_classes, rng):
    """Unusual class counts, including a single class and more than 127 (int8 limit)."""
    x = rng.normal(0, 2, (5, n_classes, 2))
    t = rng.integers(0, n_classes, (5, 2))
    w = rng.uniform(0.2, 2.0, n_classes)
    for loss in CLASSIFICATION.values():
        for reduction in REDUCTIONS:
            check_against_torch(loss, x, t, weight=w, reduction=reduction)
    check_against_torch(CE, x, t, label_smoothing=0.2, ignore_index=0)
    if n_classes > 127:
        check_against_torch(CE, x, t.astype(np.uint8), oracle_t=t)


def test_default_options(rng):

    x = make_input(CE, rng, (6, C), np.float64)
    t, _ = make_classes(rng, (6,), "default")
    for loss in CLASSIFICATION.values():
        exp, grad = torch_ref(loss, x, t)
        assert_close(loss.fn(x, t), exp, np.float64)
        crit = loss.cls()
        assert_close(crit(x, t), exp, np.float64)
        assert_close(crit.backward(), grad, np.float64, kind="grad")


@pytest.mark.parametrize("name", list(CLASSIFICATION))
def test_positional_weight(name, rng):

    loss = CLASSIFICATION[name]
    x = make_input(loss, rng, (6, C), np.float64)
    t = rng.integers(0, C, 6)
    w = rng.uniform(0.2, 2.0, C)
    exp, grad = torch_ref(loss, x, t, weight=w)
    assert_close(loss.fn(x, t, w), exp, np.float64)
    crit = loss.cls(w)
    assert_close(crit(x, t), exp, np.float64)
    assert_close(crit.backward(), grad, np.float64, kind="grad")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(CLASSIFICATION))
def test_forward_backward_equals_forward_then_backward(name, dtype, reduction, rng):
    loss = CLASSIFICATION[name]
    x = make_input(loss, rng, (4, C, 3), dtype)
    t, kw = make_classes(rng, (4, 3), "default")
    kw.update(weight=rng.uniform(0.2, 2.0, C).astype(dtype), reduction=reduction)
    if loss is CE:
        kw["label_smoothing"] = 0.1
    gos = [None, 0.75 if reduction != "none" else rng.uniform(-2, 2, (4, 3)).astype(dtype)]
    for go in gos:
        res = run_ours(loss, x, t, grad_output=go, faces=["module_forward", "fused"], **kw)
        (v1, g1), (v2, g2) = res["module_forward"], res["fused"]
        assert_close(v2, v1, dtype)
        assert_close(g2, g1, dtype, kind="grad")
        assert np.asarray(v2).dtype == np.asarray(v1).dtype
        assert g2.dtype == g1.dtype and g2.shape == g1.shape


@pytest.mark.parametrize("name", list(CLASSIFICATION))
def test_backward_uses_most_recent_forward(name, rng):

    loss = CLASSIFICATION[name]
    crit = loss.cls(reduction="mean")
    xa = make_input(loss, rng, (6, C), np.float64)
    ta = rng.integers(0, C, 6)
    xb = make_input(loss, rng, (2, C, 3), np.float64)
    tb = rng.integers(0, C, (2, 3))
    crit(xa, ta)
    crit(xb, tb)
    _, gb = torch_ref(loss, xb, tb)
    g = crit.backward()
    assert g.shape == xb.shape
    assert_close(g, gb, np.float64, kind="grad")
    assert_close(crit.backward(), gb, np.float64, kind="grad")
    _, ga = torch_ref(loss, xa, ta)
    crit.forward_backward(xa, ta)
    assert_close(crit.backward(), ga, np.float64, kind="grad")


# No classes at all: torch's smoothing term is ls / C times an empty sum, 0 / 0
# for a sum (found in review: we returned 0).  Class-index and probability
# targets, with and without a weight, every reduction.
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("shapes", [((4, 0, 0), (4, 0)), ((0, 0), (0,))], ids=["kdim", "2d"])
@pytest.mark.parametrize("weighted", [False, True])
def test_zero_classes(shapes, smoothing, reduction, weighted):
    x_shape, t_shape = shapes
    x = np.zeros(x_shape)
    kw = {"weight": np.ones(0)} if weighted else {}
    for target in (np.zeros(t_shape, np.int64), np.zeros(x_shape)):
        check_against_torch(
            CE, x, target, reduction=reduction, label_smoothing=smoothing, **kw
        )


# Every counted target has class weight 0: torch's mean divides its nll part
# 0 by a total weight of 0, so the mean is nan even when label smoothing adds
# a finite term (found by the property tests: we returned inf).
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("target", [[1], [1, 1], [1, -100]], ids=["unbatched", "all", "ignored"])
def test_mean_over_zero_total_weight(target, smoothing, dtype, rng):
    t = np.array(target[0]) if len(target) == 1 else np.array(target)
    x = rng.normal(size=(2,) if len(target) == 1 else (len(target), 2)).astype(dtype)
    check_against_torch(CE, x, t, weight=np.array([1.0, 0.0], dtype), label_smoothing=smoothing)


# A label smoothing that is 0 in float32 but not in double still turns on
# torch's smoothing term, whose 0 * inf makes a -inf logit's loss nan (found
# by the property tests: we returned inf).
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [1e-50, 1e-300])
def test_tiny_smoothing_with_infinite_logit(smoothing, reduction, dtype):
    x = np.array([[-np.inf, 0.0], [1.0, 2.0]], dtype)
    check_against_torch(CE, x, np.array([0, 1]), label_smoothing=smoothing, reduction=reduction)
