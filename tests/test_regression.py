"""Regression / element-wise losses: L1, MSE, smooth L1, Huber, soft margin, KL,
Poisson NLL, Gaussian NLL, hinge embedding, margin ranking, multi-label soft margin.

Oracles, all computed here: torch 2.13 values and autograd gradients in the
same dtype (every reduction, option, dtype, layout and broadcast), float64
central finite differences of pylossfn's own loss, and float64 reference
formulas where torch itself overflows.
"""

import warnings
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import LAYOUTS, assert_close, in_layout, layout_ok, native

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]


def seed(*parts):
    """A per-case seed that, unlike hash(), is the same in every process."""
    return zlib.crc32(repr(parts).encode())


def data(rng, shape, kind):
    if kind == "real":
        return rng.normal(0.0, 1.5, shape)
    if kind == "pos":
        return rng.uniform(0.1, 3.0, shape)
    if kind == "sign":
        return np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    if kind == "prob":
        return rng.uniform(0.0, 1.0, shape)
    if kind == "logprob":
        return np.log(rng.uniform(0.05, 1.0, shape))
    if kind == "count":
        return rng.poisson(2.0, shape).astype(np.float64)
    if kind == "label":
        return (rng.random(shape) < 0.4).astype(np.float64)
    raise AssertionError(kind)


class Spec:
    """One loss: its name in both libraries, its arrays and its options."""

    def __init__(self, fname, cls, kinds, diff, variants, names=None):
        self.fname = fname  # pylossfn.functional == torch.nn.functional name
        self.cls = cls  # pylossfn == torch.nn class name
        self.kinds = kinds  # data kind of each array argument
        self.diff = diff  # indices of the differentiable arrays
        self.variants = variants  # option dicts (keywords of both the function and class)

    def make(self, rng, shape, dtype, variant):
        kinds = list(self.kinds)
        if self.fname == "kl_div" and variant.get("log_target"):
            kinds[1] = "logprob"
        if self.fname == "poisson_nll_loss" and not variant.get("log_input", True):
            kinds[0] = "pos"
        return [data(rng, shape, k).astype(dtype) for k in kinds]


SPECS = {
    "l1": Spec("l1_loss", "L1Loss", ["real", "real"], [0], [{}]),
    "mse": Spec("mse_loss", "MSELoss", ["real", "real"], [0], [{}]),
    "smooth_l1": Spec(
        "smooth_l1_loss", "SmoothL1Loss", ["real", "real"], [0],
        [{}, {"beta": 0.5}, {"beta": 0.0}, {"beta": 3.0}],
    ),
    "huber": Spec("huber_loss", "HuberLoss", ["real", "real"], [0], [{}, {"delta": 0.3}]),
    "soft_margin": Spec("soft_margin_loss", "SoftMarginLoss", ["real", "sign"], [0], [{}]),
    "kl": Spec(
        "kl_div", "KLDivLoss", ["logprob", "prob"], [0], [{}, {"log_target": True}]
    ),
    "poisson": Spec(
        "poisson_nll_loss", "PoissonNLLLoss", ["real", "count"], [0],
        [{}, {"full": True}, {"log_input": False}, {"log_input": False, "full": True,
                                                    "eps": 1e-3}],
    ),
    "gaussian": Spec(
        "gaussian_nll_loss", "GaussianNLLLoss", ["real", "real", "pos"], [0, 2],
        [{}, {"full": True}, {"eps": 0.5}],
    ),
    "hinge": Spec(
        "hinge_embedding_loss", "HingeEmbeddingLoss", ["real", "sign"], [0],
        [{}, {"margin": 0.4}],
    ),
    "ranking": Spec(
        "margin_ranking_loss", "MarginRankingLoss", ["real", "real", "sign"], [0, 1],
        [{}, {"margin": 0.3}],
    ),
    "mlsm": Spec(
        "multilabel_soft_margin_loss", "MultiLabelSoftMarginLoss", ["real", "label"], [0],
        [{}, {"weight": "per_label"}],
    ),
}

CASES = [(name, i) for name, spec in SPECS.items() for i in range(len(spec.variants))]


def resolve(variant, shape, dtype, rng):
    """The variant's options, with a per-label weight drawn for MultiLabelSoftMargin."""
    out = dict(variant)
    if out.get("weight") == "per_label":
        out["weight"] = rng.uniform(0.2, 2.0, shape[-1]).astype(dtype)
    return out


def to_torch(a, dtype=None):
    a = native(np.asarray(a))
    return torch.from_numpy(a if dtype is None else a.astype(dtype))


def torch_oracle(spec, arrays, opts, reduction, grad_output=None):
    """torch's loss and autograd gradients of the differentiable arrays, in their dtype."""
    ts = []
    for j, a in enumerate(arrays):
        t = to_torch(a)
        ts.append(t.requires_grad_(True) if j in spec.diff else t)
    topts = {k: (to_torch(v) if isinstance(v, np.ndarray) else v) for k, v in opts.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = getattr(TF, spec.fname)(*ts, reduction=reduction, **topts)
    np_dtype = np.asarray(arrays[0]).dtype.newbyteorder("=")
    go = torch.ones_like(loss) if grad_output is None else to_torch(grad_output, np_dtype)
    loss.backward(go.expand(loss.shape) if go.dim() == 0 else go)
    grads = [ts[j].grad if ts[j].grad is not None else torch.zeros_like(ts[j]) for j in spec.diff]
    return loss.detach().numpy(), [g.numpy() for g in grads]


def ours(spec, arrays, opts, reduction, grad_output=None):
    """(loss, [grads]) of the fused pass; checks the other faces give the same."""
    crit = getattr(lf, spec.cls)(reduction=reduction, **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss, grad = crit.forward_backward(*arrays, grad_output=grad_output)
        np.testing.assert_array_equal(
            getattr(F, spec.fname)(*arrays, reduction=reduction, **opts), loss
        )
        np.testing.assert_array_equal(crit(*arrays), loss)
        again = crit.backward(grad_output)
    grads = list(grad) if len(spec.diff) > 1 else [grad]
    assert isinstance(grad, tuple) == (len(spec.diff) > 1)
    for g, h in zip(grads, list(again) if len(spec.diff) > 1 else [again]):
        np.testing.assert_array_equal(g, h)
    return loss, grads


def check(spec, arrays, opts, reduction, grad_output=None, oracle_arrays=None):
    dtype = np.asarray(arrays[0]).dtype.type
    want_loss, want_grads = torch_oracle(
        spec, arrays if oracle_arrays is None else oracle_arrays, opts, reduction, grad_output
    )
    loss, grads = ours(spec, arrays, opts, reduction, grad_output)
    assert np.asarray(loss).dtype.type == dtype
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.shape == want_loss.shape
    else:
        assert np.ndim(loss) == 0
        float(loss)
    assert_close(loss, want_loss, dtype, kind="value")
    for j, g, w in zip(spec.diff, grads, want_grads):
        assert isinstance(g, np.ndarray) and g.dtype.type == dtype
        assert g.shape == np.shape(arrays[j])
        assert_close(g, w, dtype, kind="grad")
    return loss, grads


def loss_shape_of(spec, shape):
    return shape[:-1] if spec.fname == "multilabel_soft_margin_loss" else shape


# ---------------------------------------------------------------------------
# Values and gradients against torch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, variant", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_go", [False, True])
def test_matches_torch(name, variant, dtype, reduction, with_go):
    spec = SPECS[name]
    rng = np.random.default_rng(seed(name, variant, reduction, with_go))
    shape = (6, 5)
    arrays = spec.make(rng, shape, dtype, spec.variants[variant])
    opts = resolve(spec.variants[variant], shape, dtype, rng)
    go = None
    if with_go:
        go = (
            rng.normal(size=loss_shape_of(spec, shape)).astype(dtype)
            if reduction == "none"
            else float(rng.uniform(-2, 2))
        )
    check(spec, arrays, opts, reduction, go)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 4), (7,)])
def test_kl_batchmean(dtype, log_target, shape):
    spec = SPECS["kl"]
    rng = np.random.default_rng(seed("batchmean", log_target, shape))
    arrays = spec.make(rng, shape, dtype, {"log_target": log_target})
    check(spec, arrays, {"log_target": log_target}, "batchmean", 1.3)


def test_kl_batchmean_of_0d_input_is_the_sum():
    x, y = np.float64(-0.7), np.float64(0.4)
    want, _ = torch_oracle(SPECS["kl"], [np.array(x), np.array(y)], {}, "batchmean")
    got = F.kl_div(np.array(x), np.array(y), reduction="batchmean")
    assert_close(got, want, np.float64)


def test_kl_mean_warns_as_torch():
    x, y = np.log(np.full((2, 3), 1 / 3)), np.full((2, 3), 1 / 3)
    with pytest.warns(UserWarning) as theirs:
        TF.kl_div(torch.from_numpy(x), torch.from_numpy(y))
    with pytest.warns(UserWarning) as mine:
        F.kl_div(x, y)
    assert [str(w.message) for w in mine] == [str(w.message) for w in theirs]
    crit = lf.KLDivLoss()
    with pytest.warns(UserWarning, match="batchmean"):
        crit(x, y)
    # backward replays no forward, so it does not warn again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crit.backward()
        F.kl_div(x, y, reduction="batchmean")
        lf.KLDivLoss(reduction="sum").forward_backward(x, y)


def test_kl_reduction_validation():
    with pytest.raises(ValueError, match="batchmean"):
        F.kl_div(np.zeros(2), np.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="batchmean"):
        lf.KLDivLoss(reduction="batch")
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(np.zeros(2), np.zeros(2), reduction="batchmean")


# ---------------------------------------------------------------------------
# Layouts, dtypes of targets, inputs left untouched
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_and_inputs_untouched(name, dtype):
    spec = SPECS[name]
    rng = np.random.default_rng(seed("layout", name))
    shape = (5, 4, 3)
    base = spec.make(rng, shape, dtype, {})
    want_loss, want_grads = torch_oracle(spec, base, {}, "sum", None)
    for layout in LAYOUTS:
        if not layout_ok(layout, dtype):
            continue
        arrays = [in_layout(a, layout) for a in base]
        before = [np.array(a, copy=True) for a in arrays]
        for reduction in ("sum", "none"):
            crit = getattr(lf, spec.cls)(reduction=reduction)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loss, grad = crit.forward_backward(*arrays)
            grads = list(grad) if len(spec.diff) > 1 else [grad]
            if reduction == "sum":
                assert_close(loss, want_loss, dtype, err_msg=layout)
                for g, w in zip(grads, want_grads):
                    assert_close(g, w, dtype, kind="grad", err_msg=layout)
            else:
                assert_close(np.sum(loss, dtype=np.float64), want_loss, dtype, err_msg=layout)
        for a, b in zip(arrays, before):
            np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("name", ["l1", "mse", "hinge", "ranking", "mlsm", "soft_margin"])
def test_integer_and_bool_targets(name):
    spec = SPECS[name]
    rng = np.random.default_rng(seed("int", name))
    arrays = spec.make(rng, (4, 3), np.float64, {})
    t = len(spec.kinds) - 1
    as_int = list(arrays)
    as_int[t] = np.rint(arrays[t]).astype(np.int32)
    as_float = list(arrays)
    as_float[t] = as_int[t].astype(np.float64)
    check(spec, as_int, {}, "mean", oracle_arrays=as_float)


def test_grad_output_layouts():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    go = rng.normal(size=(4, 6))
    for layout in ("strided", "negative", "fortran"):
        check(SPECS["huber"], [x, y], {}, "none", in_layout(go, layout))
    go_rows = rng.normal(size=4)
    check(SPECS["mlsm"], [x, (y > 0).astype(float)], {}, "none", in_layout(go_rows, "negative"))


# ---------------------------------------------------------------------------
# Broadcasting, as torch
# ---------------------------------------------------------------------------

BROADCASTS = {
    # name: list of shapes of the array arguments, in order
    "l1": [[(4, 5), (1, 5)], [(4, 1), (4, 5)], [(5,), (3, 5)], [(), (2, 3)]],
    "mse": [[(4, 5), (5,)], [(1, 5), (4, 1)]],
    "smooth_l1": [[(4, 5), (4, 1)], [(3, 1, 2), (4, 2)]],
    "huber": [[(4, 5), (1, 1)], [(4, 1), (1, 5)]],
    "soft_margin": [[(4, 5), (5,)], [(4, 5), (4, 1)]],
    "kl": [[(4, 5), (1, 5)], [(1, 5), (4, 5)]],
    "poisson": [[(4, 5), (5,)], [(4, 1), (4, 5)]],
    "hinge": [[(4, 5), (4, 1)], [(4, 1), (4, 5)]],
    "ranking": [[(4, 1), (1, 5), (4, 5)], [(4, 5), (4, 5), (1, 1)], [(3, 1), (3, 1), (3, 4)]],
    "mlsm": [[(4, 5), (5,)], [(1, 5), (3, 5)], [(4, 3, 5), (3, 5)]],
    "gaussian": [[(4, 5), (1, 5), (4, 5)], [(4, 5), (2, 4, 5), (4, 1)], [(4, 1), (4, 5), (4, 1)]],
}


@pytest.mark.parametrize(
    "name, shapes", [(n, s) for n, ss in BROADCASTS.items() for s in ss]
)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_broadcasting(name, shapes, reduction):
    spec = SPECS[name]
    rng = np.random.default_rng(seed("bc", name, shapes))
    arrays = [data(rng, s, k) for s, k in zip(shapes, spec.kinds)]
    go = None
    if reduction == "none":
        want_loss, _ = torch_oracle(spec, arrays, {}, "none")
        go = rng.normal(size=want_loss.shape)
    check(spec, arrays, {}, reduction, go)


@pytest.mark.parametrize("name", ["l1", "mse", "smooth_l1", "huber"])
def test_size_warning_as_torch(name):
    spec = SPECS[name]
    x, y = np.zeros((3, 1)), np.zeros((1, 4))
    with pytest.warns(UserWarning, match="different to the input"):
        getattr(TF, spec.fname)(torch.from_numpy(x), torch.from_numpy(y))
    with pytest.warns(UserWarning, match=r"target shape \(1, 4\).*input shape \(3, 1\)"):
        getattr(F, spec.fname)(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(F, spec.fname)(x, np.zeros((3, 1)))
        F.kl_div(x, y, reduction="sum")  # torch does not warn there either


def test_soft_margin_does_not_broadcast_the_input():
    with pytest.raises(RuntimeError):
        TF.soft_margin_loss(torch.zeros(4, 1), torch.ones(4, 5))
    with pytest.raises(ValueError, match=r"soft_margin_loss: target of shape \(4, 5\)"):
        F.soft_margin_loss(np.zeros((4, 1)), np.ones((4, 5)))


@pytest.mark.parametrize(
    "name, shapes",
    [("l1", [(4, 5), (3, 5)]), ("ranking", [(4, 5), (2, 5), (4, 5)]),
     ("gaussian", [(4, 5), (3, 5), (4, 5)]), ("mlsm", [(4, 5), (4,)])],
)
def test_shapes_that_do_not_broadcast(name, shapes):
    spec = SPECS[name]
    arrays = [np.ones(s) for s in shapes]
    with pytest.raises((RuntimeError, ValueError)), warnings.catch_warnings():  # torch too
        warnings.simplefilter("ignore")
        getattr(TF, spec.fname)(*[torch.from_numpy(a) for a in arrays])
    with pytest.raises(ValueError, match=f"{spec.fname}: .*do not broadcast"):
        getattr(F, spec.fname)(*arrays)


def test_margin_ranking_needs_equal_ndim():
    a, b, y = np.zeros(3), np.zeros(3), np.ones(())
    with pytest.raises(RuntimeError):
        TF.margin_ranking_loss(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(y))
    with pytest.raises(ValueError, match="same number of dimensions"):
        F.margin_ranking_loss(a, b, y)


# ---------------------------------------------------------------------------
# Gaussian NLL: var's shapes, its clamp, its sign
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ishape, vshape",
    [((10, 2, 3), (10, 2)), ((10, 2, 3), (10, 2, 1)), ((4, 3, 5, 5), (4, 1, 5, 5)),
     ((4, 3), (1, 3)), ((5,), ()), ((5,), (1,)), ((0, 3), (0,))],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_var_shapes(ishape, vshape, dtype):
    rng = np.random.default_rng(seed("var", ishape, vshape))
    x, y = rng.normal(size=ishape).astype(dtype), rng.normal(size=ishape).astype(dtype)
    var = rng.uniform(0.2, 2.0, vshape).astype(dtype)
    check(SPECS["gaussian"], [x, y, var], {}, "mean", 0.7)


@pytest.mark.parametrize("ishape, vshape", [((4, 3), (1, 1)), ((4, 3), (3,)), ((4, 3), (4, 2))])
def test_gaussian_var_of_incorrect_size(ishape, vshape):
    x, var = np.zeros(ishape), np.ones(vshape)
    with pytest.raises(ValueError, match="var is of incorrect size"):
        TF.gaussian_nll_loss(torch.from_numpy(x), torch.from_numpy(x), torch.from_numpy(var))
    with pytest.raises(ValueError, match="var of shape"):
        F.gaussian_nll_loss(x, x, var)


def test_gaussian_scalar_var():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    for reduction in REDUCTIONS:
        want = TF.gaussian_nll_loss(torch.from_numpy(x), torch.from_numpy(y), 1.7,
                                    reduction=reduction)
        assert_close(F.gaussian_nll_loss(x, y, 1.7, reduction=reduction), want.numpy(),
                     np.float64)
    # d_var of a number: the sum of the element-wise gradients (torch: var tensor of that value)
    v = torch.full((3, 4), 1.7, dtype=torch.float64, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_(True)
    TF.gaussian_nll_loss(xt, torch.from_numpy(y), v).backward()
    loss, (dx, dv) = lf.GaussianNLLLoss().forward_backward(x, y, 1.7)
    assert isinstance(dv, np.ndarray) and dv.shape == ()
    assert_close(dx, xt.grad.numpy(), np.float64, kind="grad")
    assert_close(dv, v.grad.sum().numpy(), np.float64, kind="grad")


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_clamp_passes_the_gradient(dtype):
    # var below eps (and -0.0) is clamped without cutting its gradient, as torch does
    x = np.array([1.0, 1.0, 0.5, -2.0], dtype)
    y = np.zeros(4, dtype)
    var = np.array([1e-9, -0.0, 0.0, 3.0], dtype)
    check(SPECS["gaussian"], [x, y, var], {"eps": 1e-3}, "sum")
    check(SPECS["gaussian"], [x, y, var], {}, "none")


def test_gaussian_negative_and_nan_var():
    x = np.zeros(3)
    with pytest.raises(ValueError, match=r"var has negative entry -0\.5 at flat index 1"):
        F.gaussian_nll_loss(x, x, np.array([1.0, -0.5, 1.0]))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="negative"):
        lf.GaussianNLLLoss().forward_backward(x, x, np.array([-1.0, 1.0, 1.0]))
    var = np.array([np.nan, 1.0, 2.0])
    check(SPECS["gaussian"], [np.ones(3), np.zeros(3), var], {}, "none")


# ---------------------------------------------------------------------------
# Weighted L1 / MSE / Huber (torch.nn.functional's `weight`), MultiLabelSoftMargin
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fname", ["l1_loss", "mse_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_functional(fname, reduction, dtype):
    rng = np.random.default_rng(seed("w", fname, reduction))
    x, y = rng.normal(size=(5, 4)).astype(dtype), rng.normal(size=(5, 4)).astype(dtype)
    w = rng.uniform(0.0, 2.0, (5, 4)).astype(dtype)
    want = getattr(TF, fname)(torch.from_numpy(x), torch.from_numpy(y), reduction=reduction,
                              weight=torch.from_numpy(w))
    got = getattr(F, fname)(x, y, reduction=reduction, weight=w)
    assert_close(got, want.numpy(), dtype)
    with pytest.raises(ValueError, match="weight has shape"):
        getattr(F, fname)(x, y, weight=w[0])


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), (3, 0), (0, 4)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_shapes(shape, reduction):
    rng = np.random.default_rng(seed("mlsm", shape))
    x = rng.normal(size=shape)
    y = (rng.random(shape) < 0.5).astype(float)
    w = rng.uniform(0.5, 2.0, shape[-1:])
    check(SPECS["mlsm"], [x, y], {"weight": w}, reduction)


def test_multilabel_soft_margin_rejects_0d():
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.multilabel_soft_margin_loss(np.float64(1.0), np.float64(1.0))


# ---------------------------------------------------------------------------
# Edge cases: empty, subgradients, boundaries, nan
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty(name, reduction):
    spec = SPECS[name]
    arrays = [np.zeros((0, 3)) for _ in spec.kinds]
    if name == "gaussian":
        arrays[2] = np.ones((0, 3))
    loss, grads = check(spec, arrays, {}, reduction)
    if reduction == "mean":
        assert np.isnan(loss)
    elif reduction == "sum":
        assert loss == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_subgradients_and_boundaries(dtype):
    # exactly the points where torch picks a subgradient or a branch
    x = np.array([0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 3.0], dtype)
    y = np.zeros_like(x)
    for name, opts in [("l1", {}), ("smooth_l1", {}), ("smooth_l1", {"beta": 0.0}),
                       ("smooth_l1", {"beta": 2.0}), ("huber", {"delta": 2.0}),
                       ("huber", {}), ("mse", {})]:
        check(SPECS[name], [x, y], opts, "sum")
    # the hinge at margin - x = 0, and targets that are neither 1 nor -1
    check(SPECS["hinge"], [x, np.array([-1, -1, 1, -1, 0.5, 0, -1], dtype)], {}, "sum")
    check(SPECS["hinge"], [np.ones(3, dtype), -np.ones(3, dtype)], {}, "sum")
    # margin ranking at -y (x1 - x2) + margin = 0
    x1 = np.array([1.0, 0.0, 2.0], dtype)
    x2 = np.array([1.0, 0.3, 1.7], dtype)
    check(SPECS["ranking"], [x1, x2, np.array([1, -1, 1], dtype)], {"margin": 0.0}, "sum")
    check(SPECS["ranking"], [x1, x1 - 0.25, np.ones(3, dtype)], {"margin": 0.25}, "sum")
    # KL at a zero target (xlogy(0, 0) = 0), Poisson's Stirling mask at y <= 1
    check(SPECS["kl"], [np.array([-1.0, -2.0], dtype), np.array([0.0, 1.0], dtype)], {}, "sum")
    ypois = np.array([0.0, 1.0, 1.5, 2.0, 7.0], dtype)
    check(SPECS["poisson"], [np.ones(5, dtype), ypois], {"full": True}, "none")


@pytest.mark.parametrize("dtype", DTYPES)
def test_infinite_beta_and_delta(dtype):
    x = np.array([0.5, -3.0, np.inf, np.nan], dtype)
    y = np.zeros_like(x)
    check(SPECS["smooth_l1"], [x, y], {"beta": np.inf}, "none")
    check(SPECS["huber"], [x, y], {"delta": np.inf}, "none")


@pytest.mark.parametrize("name", list(SPECS))
def test_nan_propagates_as_torch(name):
    spec = SPECS[name]
    rng = np.random.default_rng(seed("nan", name))
    arrays = spec.make(rng, (2, 4), np.float64, {})
    arrays[0][0, 1] = np.nan
    arrays[1][1, 2] = np.nan
    check(spec, arrays, {}, "none")


@pytest.mark.parametrize("dtype", DTYPES)
def test_0d_inputs(dtype):
    for name in ("l1", "mse", "huber", "soft_margin", "kl", "poisson", "hinge", "ranking",
                 "gaussian"):
        spec = SPECS[name]
        arrays = [np.asarray(a[0, 0]) for a in spec.make(np.random.default_rng(1), (1, 1),
                                                          dtype, {})]
        for reduction in REDUCTIONS:
            check(spec, arrays, {}, reduction)


# ---------------------------------------------------------------------------
# Finite differences, stability, accuracy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, variant", CASES)
def test_finite_differences(name, variant):
    spec = SPECS[name]
    rng = np.random.default_rng(seed("fd", name, variant))
    shape = (3, 4)
    arrays = spec.make(rng, shape, np.float64, spec.variants[variant])
    opts = resolve(spec.variants[variant], shape, np.float64, rng)
    if name == "gaussian":
        # where var < eps the loss is flat in var, but torch's (and our) gradient is not
        arrays[2] += opts.get("eps", 1e-6)
    go = rng.normal(size=loss_shape_of(spec, shape))
    crit = getattr(lf, spec.cls)(reduction="none", **opts)
    _, grad = crit.forward_backward(*arrays, grad_output=go)
    grads = list(grad) if len(spec.diff) > 1 else [grad]
    h = 1e-6
    for j, g in zip(spec.diff, grads):
        fd = np.zeros_like(arrays[j])
        for i in np.ndindex(arrays[j].shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[j][i] += h
            minus[j][i] -= h
            fd[i] = np.sum(go * (crit(*plus) - crit(*minus))) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_margin_stable_where_torch_overflows(dtype):
    x = np.array([-1e4, -200.0, -50.0, 0.0, 50.0, 1e4], dtype)
    y = np.ones_like(x)
    z = (-y * x).astype(np.float64)
    want = np.logaddexp(0.0, z)  # float64 reference formula
    want_grad = -y * np.exp(-np.logaddexp(0.0, -z))  # -y sigmoid(z), without overflow
    loss, grad = lf.SoftMarginLoss(reduction="none").forward_backward(x, y)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    assert_close(loss, want, dtype)
    assert_close(grad, want_grad, dtype, kind="grad")


@pytest.mark.parametrize("name", ["mse", "l1", "mlsm"])
def test_float32_large_reductions(name):
    spec = SPECS[name]
    rng = np.random.default_rng(seed("big", name))
    shape = (1000, 1000)
    arrays = spec.make(rng, shape, np.float32, {})
    loss = getattr(F, spec.fname)(*arrays)
    with torch.no_grad():
        want = getattr(TF, spec.fname)(*[torch.from_numpy(a.astype(np.float64))
                                         for a in arrays])
    np.testing.assert_allclose(float(loss), want.item(), rtol=1e-6)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_options_validated():
    x = np.zeros(3)
    with pytest.raises(RuntimeError):
        TF.smooth_l1_loss(torch.zeros(3), torch.zeros(3), beta=-1.0)
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be >= 0"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError):
        TF.huber_loss(torch.zeros(3), torch.zeros(3), delta=0.0)
    with pytest.raises(ValueError, match="huber_loss: delta must be > 0"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="huber_loss: delta"):
        lf.HuberLoss(delta=-1.0)(x, x)
    with pytest.raises(TypeError, match="margin must be a real number"):
        F.hinge_embedding_loss(x, x, margin="1")
    with pytest.raises(ValueError, match="reduction"):
        lf.MSELoss(reduction="avg")


@pytest.mark.parametrize("name", list(SPECS))
def test_bad_arrays(name):
    spec = SPECS[name]
    good = spec.make(np.random.default_rng(0), (2, 3), np.float64, {})
    fn = getattr(F, spec.fname)
    ints = list(good)
    ints[0] = np.ones((2, 3), dtype=np.int64)
    first = "input1" if name == "ranking" else "input"
    with pytest.raises(TypeError, match=f"{spec.fname}: {first} must be a float32 or float64"):
        fn(*ints)
    cplx = list(good)
    cplx[1] = good[1].astype(np.complex128)
    with pytest.raises(TypeError, match=spec.fname):
        fn(*cplx)
    crit = getattr(lf, spec.cls)(reduction="sum")
    with pytest.raises(RuntimeError, match="before any forward"):
        crit.backward()
    with pytest.raises(ValueError, match="grad_output must be a scalar"):
        crit.forward_backward(*good, grad_output=np.ones(2))
    crit = getattr(lf, spec.cls)(reduction="none")
    with pytest.raises(ValueError, match="grad_output has shape"):
        crit.forward_backward(*good, grad_output=np.ones(5))


def test_class_signatures_follow_torch():
    import inspect

    for spec in SPECS.values():
        ours_params = inspect.signature(getattr(lf, spec.cls)).parameters
        theirs = inspect.signature(getattr(torch.nn, spec.cls)).parameters
        for name, p in ours_params.items():
            assert name in theirs, (spec.cls, name)
            assert p.default == theirs[name].default, (spec.cls, name)
        missing = set(theirs) - set(ours_params) - {"size_average", "reduce"}
        assert not missing, (spec.cls, missing)
    for spec in SPECS.values():
        ours_params = inspect.signature(getattr(F, spec.fname)).parameters
        theirs = inspect.signature(getattr(TF, spec.fname)).parameters
        for name, p in ours_params.items():
            assert name in theirs and p.default == theirs[name].default, (spec.fname, name)
        assert set(theirs) - set(ours_params) <= {"size_average", "reduce"}, spec.fname
