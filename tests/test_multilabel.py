"""Multi-label losses: sigmoid focal, asymmetric (ASL), ZLPR, soft-F1.

Oracles, all computed here: torch autograd (float64) of each loss's reference
formula, written out below from its defining source (torchvision's
``sigmoid_focal_loss``, Alibaba-MIIL/ASL's ``AsymmetricLoss`` with the focusing
weight differentiated, Su's ``multilabel_categorical_crossentropy``, the macro
soft-F1 of soft counts), and float64 central finite differences of pylossfn's
own loss.  The float32 results are held to the float64 oracle evaluated at the
float32-rounded inputs.
"""

import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from multilabel_reference import ref_asl, ref_focal, ref_soft_f1, ref_su, ref_zlpr

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]
RTOL = {np.float32: 2e-5, np.float64: 1e-10}


# name -> (function(x, y, reduction), class(reduction), reference, default shape)
LOSSES = {
    "focal": (
        lambda x, y, r: F.sigmoid_focal_loss(x, y, reduction=r),
        lambda r: lf.SigmoidFocalLoss(reduction=r),
        ref_focal,
        (7, 5),
    ),
    "asl": (
        lambda x, y, r: F.asymmetric_loss(x, y, reduction=r),
        lambda r: lf.AsymmetricLoss(reduction=r),
        ref_asl,
        (7, 5),
    ),
    "zlpr": (
        lambda x, y, r: F.multilabel_categorical_crossentropy(x, y, reduction=r),
        lambda r: lf.ZLPRLoss(reduction=r),
        ref_zlpr,
        (7, 5),
    ),
    "softf1": (
        lambda x, y, r: F.soft_f1_loss(x, y, reduction=r),
        lambda r: lf.SoftF1Loss(reduction=r),
        ref_soft_f1,
        (9, 4),
    ),
}


def reduce(loss, reduction):
    return {"none": lambda v: v, "mean": torch.mean, "sum": torch.sum}[reduction](loss)


def oracle(ref, x, y, reduction, grad_output=None):
    """(loss, grad) of reduce(ref(x, y)) by float64 torch autograd."""
    xt = torch.tensor(np.asarray(x, np.float64), requires_grad=True)
    yt = torch.tensor(np.asarray(y, np.float64))
    loss = reduce(ref(xt, yt), reduction)
    go = (
        torch.ones_like(loss)
        if grad_output is None
        else torch.tensor(np.asarray(grad_output, np.float64))
    )
    loss.backward(go)
    return loss.detach().numpy(), xt.grad.numpy()


def assert_close(got, want, dtype, scale=None):
    """rtol per dtype, with an absolute floor at rtol times the data's scale."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    rtol = RTOL[dtype]
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def seed(*parts):
    """A per-case seed that, unlike hash(), is the same in every process."""
    return zlib.crc32(repr(parts).encode())


def labels(rng, shape, kind):
    if kind == "hard":
        return (rng.random(shape) < 0.4).astype(np.float64)
    return rng.random(shape)


def make_go(rng, reduction, loss_shape):
    if reduction == "none":
        return rng.normal(size=loss_shape)
    return 1.7


# ---------------------------------------------------------------------------
# Values and gradients against the reference formulas
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
@pytest.mark.parametrize("with_go", [False, True])
def test_matches_reference(name, dtype, reduction, kind, with_go):
    fn, cls, ref, shape = LOSSES[name]
    rng = np.random.default_rng(seed(name, reduction, kind, with_go))
    x = (rng.normal(0.0, 2.5, shape)).astype(dtype)
    y = labels(rng, shape, kind).astype(dtype)
    want_loss, _ = oracle(ref, x, y, reduction)
    loss_shape = np.shape(want_loss)
    go = make_go(rng, reduction, loss_shape) if with_go else None
    _, want_grad = oracle(ref, x, y, reduction, go)
    go_ours = None if go is None else np.asarray(go, dtype)

    crit = cls(reduction)
    loss, grad = crit.forward_backward(x, y, grad_output=go_ours)
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
    assert grad.shape == x.shape
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.shape == loss_shape
    else:
        assert np.ndim(loss) == 0
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype, scale=max(1e-3, float(np.abs(want_grad).max())))
    # the function, forward then backward, and the fused pass agree exactly
    np.testing.assert_array_equal(fn(x, y, reduction), loss)
    np.testing.assert_array_equal(crit(x, y), loss)
    np.testing.assert_array_equal(crit.backward(go_ours), grad)


@pytest.mark.parametrize(
    "alpha, gamma", [(0.25, 2.0), (-1.0, 0.0), (0.6, 0.5), (0.25, 3.7), (-1.0, 1.0), (0.9, 4.0)]
)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_focal_parameters(alpha, gamma, kind):
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 3.0, (6, 5))
    y = labels(rng, x.shape, kind)
    go = rng.normal(size=x.shape)
    want_loss, want_grad = oracle(lambda a, b: ref_focal(a, b, alpha, gamma), x, y, "none", go)
    crit = lf.SigmoidFocalLoss(alpha=alpha, gamma=gamma, reduction="none")
    loss, grad = crit.forward_backward(x, y, grad_output=go)
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)
    np.testing.assert_array_equal(F.sigmoid_focal_loss(x, y, alpha, gamma), loss)


@pytest.mark.parametrize(
    "gamma_neg, gamma_pos, clip, eps",
    [
        (4.0, 1.0, 0.05, 1e-8),
        (2.0, 0.0, 0.0, 1e-8),
        (0.0, 0.0, None, 1e-8),
        (3.5, 0.5, 0.2, 1e-3),
        (1.0, 2.0, 0.5, 1e-8),
    ],
)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_asl_parameters(gamma_neg, gamma_pos, clip, eps, kind):
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 3.0, (6, 5))
    y = labels(rng, x.shape, kind)
    go = rng.normal(size=x.shape)
    opts = {"gamma_neg": gamma_neg, "gamma_pos": gamma_pos, "clip": clip, "eps": eps}
    want_loss, want_grad = oracle(lambda a, b: ref_asl(a, b, **opts), x, y, "none", go)
    crit = lf.AsymmetricLoss(reduction="none", **opts)
    loss, grad = crit.forward_backward(x, y, grad_output=go)
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)
    np.testing.assert_array_equal(F.asymmetric_loss(x, y, reduction="none", **opts), loss)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name, opts",
    [
        ("focal", {"alpha": 0.25, "gamma": 0.5}),
        ("focal", {"alpha": -1.0, "gamma": 3.0}),
        ("focal", {"alpha": 0.6, "gamma": 3.7}),
        ("asl", {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05, "eps": 1e-8}),
        ("asl", {"gamma_neg": 2.5, "gamma_pos": 0.0, "clip": 0.0, "eps": 1e-8}),
    ],
)
def test_focusing_weight_in_the_reduced_path(dtype, name, opts):
    # a reduced loss of contiguous operands takes the kernels' vectorized
    # copy, where m^gamma is exp(gamma log m): the reference, and the
    # per-element path, agree with it (hard and soft labels, large logits;
    # not those where sigmoid rounds to 0 or 1, where for gamma < 1 autograd
    # forms 0 * inf, see test_extreme_logits)
    rng = np.random.default_rng(seed("reduced-weight", name, repr(opts)))
    x = rng.normal(0.0, 4.0, (37, 29))
    x[0, :7] = [-30.0, -12.0, -5.0, 0.0, 5.0, 12.0, 30.0]
    y = labels(rng, x.shape, "hard")
    y[1::2] = rng.random((18, 29))
    x, y = x.astype(dtype), y.astype(dtype)
    ref = (lambda a, b: ref_focal(a, b, **opts)) if name == "focal" else (
        lambda a, b: ref_asl(a, b, **opts)
    )
    cls = lf.SigmoidFocalLoss if name == "focal" else lf.AsymmetricLoss
    want_loss, want_grad = oracle(ref, x, y, "sum")
    loss, grad = cls(reduction="sum", **opts).forward_backward(x, y)
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype, scale=max(1e-3, float(np.abs(want_grad).max())))
    none_loss, none_grad = cls(reduction="none", **opts).forward_backward(x, y)
    np.testing.assert_allclose(none_grad, grad, rtol=RTOL[dtype] / 100, atol=0)
    np.testing.assert_allclose(np.sum(none_loss, dtype=np.float64), loss, rtol=RTOL[dtype])


@pytest.mark.parametrize("gamma", [3.0, 2.5, 0.5])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_focal_weight_of_negative_base(gamma, reduction):
    # targets outside [0, 1] make 1 - p_t negative: torch's pow is finite for
    # an odd integer gamma and nan otherwise, and so is ours, in both paths
    x = np.array([[-2.0, 0.5, 3.0, -1.0, 1.5, -0.2, 0.7, 2.2, -3.1]])
    y = np.array([[1.5, -0.5, 2.0, -1.0, 0.3, 1.0, 0.0, 3.0, -2.0]])
    opts = {"alpha": 0.25, "gamma": gamma}
    want_loss, want_grad = oracle(lambda a, b: ref_focal(a, b, **opts), x, y, reduction)
    assert np.isnan(want_loss).any() == (gamma != 3.0)  # the oracle sees both cases
    loss, grad = lf.SigmoidFocalLoss(reduction=reduction, **opts).forward_backward(x, y)
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)


def test_asl_eps_clamps_both_logs():
    # logits where sigmoid(x) < eps and, with clip = 0, 1 - sigmoid(x) < eps:
    # the clamped logs are constant there, so only the weight's slope is left
    x = np.array([[-30.0, 30.0, -25.0, 25.0]])
    y = np.array([[1.0, 0.0, 0.3, 0.7]])
    opts = {"gamma_neg": 2.0, "gamma_pos": 1.0, "clip": 0.0, "eps": 1e-9}
    want_loss, want_grad = oracle(lambda a, b: ref_asl(a, b, **opts), x, y, "none")
    loss, grad = lf.AsymmetricLoss(reduction="none", **opts).forward_backward(x, y)
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)


def test_focal_gamma_zero_is_bce_with_logits():
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 4.0, (5, 6))
    y = rng.random(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    want = TF.binary_cross_entropy_with_logits(xt, torch.tensor(y))
    want.backward()
    loss, grad = lf.SigmoidFocalLoss(alpha=-1, gamma=0).forward_backward(x, y)
    assert_close(loss, want.item(), np.float64)
    assert_close(grad, xt.grad.numpy(), np.float64)


def test_zlpr_is_su_formula_on_hard_labels():
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 5.0, (8, 6))
    x[0] = [1e4, -1e4, 30.0, -30.0, 0.0, 2.0]
    y = labels(rng, x.shape, "hard")
    y[1] = 0.0  # a sample with no positive label
    y[2] = 1.0  # and one with no negative
    go = rng.normal(size=8)
    want_loss, want_grad = oracle(ref_su, x, y, "none", go)
    loss, grad = lf.ZLPRLoss(reduction="none").forward_backward(x, y, grad_output=go)
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)


def test_zlpr_leading_dims():
    # [..., C]: the last axis holds the labels, the loss has input.shape[:-1];
    # the transposed leading axes cannot be walked with one stride (a copy)
    rng = np.random.default_rng(9)
    base = rng.normal(0.0, 3.0, (3, 2, 5))
    x = base.transpose(1, 0, 2)
    y = labels(rng, x.shape, "soft")
    go = rng.normal(size=(2, 3))
    want_loss, want_grad = oracle(ref_zlpr, x, y, "none", go)
    loss, grad = lf.ZLPRLoss(reduction="none").forward_backward(x, y, grad_output=go)
    assert loss.shape == (2, 3)
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)
    # one unbatched sample: [C] -> a 0-d loss
    one = F.multilabel_categorical_crossentropy(x[0, 0], y[0, 0], reduction="none")
    assert one.shape == ()
    assert_close(one, want_loss[0, 0], np.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_f1_one_class(reduction):
    rng = np.random.default_rng(13)
    x = rng.normal(0.0, 2.0, 10)
    y = labels(rng, x.shape, "hard")
    want_loss, want_grad = oracle(ref_soft_f1, x, y, reduction)
    loss, grad = lf.SoftF1Loss(reduction=reduction).forward_backward(x, y)
    assert np.shape(loss) == ()
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)


def test_soft_f1_eps():
    rng = np.random.default_rng(17)
    x = rng.normal(0.0, 2.0, (6, 3))
    y = labels(rng, x.shape, "soft")
    want_loss, want_grad = oracle(lambda a, b: ref_soft_f1(a, b, 0.5), x, y, "none", [1, 2, 3])
    loss, grad = lf.SoftF1Loss(eps=0.5, reduction="none").forward_backward(
        x, y, grad_output=np.array([1.0, 2.0, 3.0])
    )
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_soft_f1_many_labels(dtype, order):
    # more labels than one work unit of the kernel holds (256), with a ragged
    # last unit, contiguous (the vectorized loops) and not: every label's
    # cost and gradient against the reference
    rng = np.random.default_rng(seed("softf1-many", order))
    x = rng.normal(0.0, 2.5, (150, 600)).astype(dtype)
    y = labels(rng, x.shape, "soft").astype(dtype)
    go = rng.normal(size=600)
    want_loss, want_grad = oracle(ref_soft_f1, x, y, "none", go)
    x, y = np.asarray(x, order=order), np.asarray(y, order=order)
    loss, grad = lf.SoftF1Loss(reduction="none").forward_backward(
        x, y, grad_output=go.astype(dtype)
    )
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype, scale=max(1e-3, float(np.abs(want_grad).max())))
    total = lf.SoftF1Loss(reduction="sum")(x, y)
    np.testing.assert_allclose(total, want_loss.sum(), rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_zlpr_long_rows(dtype):
    # rows longer than the kernel's summation block (128 labels), summed
    # by the vectorized loops (C order) and the strided ones (a view with a
    # label stride): both as the reference, and the same bits; a nan logit
    # makes its row's loss and gradient nan
    rng = np.random.default_rng(seed("zlpr-long", dtype.__name__))
    x = rng.normal(0.0, 3.0, (12, 300)).astype(dtype)
    y = labels(rng, x.shape, "soft").astype(dtype)
    y[::3] = labels(rng, (4, 300), "hard")
    go = rng.normal(size=12)
    want_loss, want_grad = oracle(ref_zlpr, x, y, "none", go)
    crit = lf.ZLPRLoss(reduction="none")
    loss, grad = crit.forward_backward(x, y, grad_output=go.astype(dtype))
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype, scale=max(1e-3, float(np.abs(want_grad).max())))
    xs, ys = np.zeros((12, 600), dtype), np.zeros((12, 600), dtype)
    xs[:, ::2], ys[:, ::2] = x, y
    loss_s, grad_s = crit.forward_backward(xs[:, ::2], ys[:, ::2], grad_output=go.astype(dtype))
    np.testing.assert_array_equal(loss_s, loss)
    np.testing.assert_array_equal(grad_s, grad)
    x[5, 200] = np.nan
    loss, grad = crit.forward_backward(x, y, grad_output=go.astype(dtype))
    assert np.isnan(loss[5]) and np.isnan(grad[5]).all()
    assert np.isfinite(np.delete(loss, 5)).all() and np.isfinite(np.delete(grad, 5, 0)).all()


def test_focal_targets_outside_unit_interval_follow_the_formula():
    # no domain check, as torchvision: the same formula, integer gamma
    x = np.array([[-2.0, 0.5, 3.0, -1.0]])
    y = np.array([[1.5, -0.5, 2.0, -1.0]])
    want_loss, want_grad = oracle(ref_focal, x, y, "sum")
    loss, grad = lf.SigmoidFocalLoss(reduction="sum").forward_backward(x, y)
    assert_close(loss, want_loss, np.float64)
    assert_close(grad, want_grad, np.float64)


# ---------------------------------------------------------------------------
# Finite differences (float64, pylossfn's own loss)
# ---------------------------------------------------------------------------

FD_LOSSES = {
    "focal": lambda r: lf.SigmoidFocalLoss(reduction=r),
    "focal_g05": lambda r: lf.SigmoidFocalLoss(alpha=0.7, gamma=0.5, reduction=r),
    "asl": lambda r: lf.AsymmetricLoss(reduction=r),
    "asl_noclip": lambda r: lf.AsymmetricLoss(gamma_neg=2.5, gamma_pos=0.0, clip=0.0, reduction=r),
    "zlpr": lambda r: lf.ZLPRLoss(reduction=r),
    "softf1": lambda r: lf.SoftF1Loss(reduction=r),
}


@pytest.mark.parametrize("name", list(FD_LOSSES))
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_finite_differences(name, kind):
    rng = np.random.default_rng(seed(name, kind))
    x = rng.normal(0.0, 2.0, (5, 4))
    y = labels(rng, x.shape, kind)
    crit = FD_LOSSES[name]("none")
    go = rng.normal(size=np.shape(crit(x, y)))
    _, grad = crit.forward_backward(x, y, grad_output=go)

    def f(v):
        return float(np.sum(go * crit(v, y)))

    num = np.empty_like(x)
    for i in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        num[i] = (f(xp) - f(xm)) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)
    # and the scalar reductions scale the same gradient
    s_grad = FD_LOSSES[name]("sum").forward_backward(x, y)[1]
    _, ones_grad = crit.forward_backward(x, y, grad_output=np.ones_like(go))
    np.testing.assert_allclose(s_grad, ones_grad, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# Extreme logits, large reductions, layouts, empties
# ---------------------------------------------------------------------------

EXTREME = np.array([-1e4, -100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 100.0, 1e4])


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_extreme_logits(name, dtype, kind):
    _, cls, ref, _ = LOSSES[name]
    rng = np.random.default_rng(21)
    x = np.tile(EXTREME, (4, 1)).astype(dtype)
    y = labels(rng, x.shape, kind).astype(dtype)
    y[0] = 1.0
    y[1] = 0.0
    go = rng.normal(size=np.shape(oracle(ref, x, y, "none")[0]))
    want_loss, want_grad = oracle(ref, x, y, "none", go)
    loss, grad = cls("none").forward_backward(x, y, grad_output=go.astype(dtype))
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype)


def test_float32_large_reductions():
    # a float32 sum over 1e6 elements keeps float32 accuracy (double pairwise sums)
    rng = np.random.default_rng(23)
    x = rng.normal(0.0, 2.0, (10**5, 10)).astype(np.float32)
    y = labels(rng, x.shape, "hard").astype(np.float32)
    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    for fn, _, ref, _ in LOSSES.values():
        want = reduce(ref(xt, yt), "mean").item()
        np.testing.assert_allclose(fn(x, y, "mean"), want, rtol=2e-6)


def layouts(a):
    """The same values as C order, Fortran order, and negative strides."""
    yield np.ascontiguousarray(a)
    yield np.asfortranarray(a)
    big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), a.dtype)
    view = big[::-2, ::-3]
    view[...] = a
    yield view


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_and_inputs_untouched(name, dtype):
    _, cls, _, shape = LOSSES[name]
    rng = np.random.default_rng(29)
    x0 = rng.normal(0.0, 2.0, shape).astype(dtype)
    y0 = labels(rng, shape, "soft").astype(dtype)
    crit = cls("none")
    go0 = rng.normal(size=np.shape(crit(x0, y0))).astype(dtype)
    want_loss, want_grad = crit.forward_backward(x0, y0, grad_output=go0)
    for x, y in zip(layouts(x0), layouts(y0)):
        go = go0[::-1].copy()[::-1]  # a negative-stride grad_output
        xc, yc = x.copy(), y.copy()
        loss, grad = crit.forward_backward(x, y, grad_output=go)
        np.testing.assert_allclose(loss, want_loss, rtol=RTOL[dtype] / 100, atol=0)
        np.testing.assert_allclose(grad, want_grad, rtol=RTOL[dtype] / 100, atol=0)
        np.testing.assert_array_equal(x, xc)
        np.testing.assert_array_equal(y, yc)
    # lists and integer / bool labels are taken as np.asarray would
    yb = y0 > 0.5
    np.testing.assert_array_equal(
        crit(x0.tolist() if dtype == np.float64 else x0, yb), crit(x0, yb.astype(dtype))
    )


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0, 4), (3, 0)])
def test_empty(name, reduction, shape):
    _, cls, ref, _ = LOSSES[name]
    x = np.zeros(shape)
    y = np.zeros(shape)
    want_loss, want_grad = oracle(ref, x, y, reduction)
    loss, grad = cls(reduction).forward_backward(x, y)
    np.testing.assert_array_equal(np.asarray(loss), want_loss)  # nan where torch's mean is nan
    assert grad.shape == want_grad.shape


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

X = np.zeros((3, 4))
Y = np.zeros((3, 4))


@pytest.mark.parametrize("name", list(LOSSES))
def test_common_errors(name):
    fn, cls, _, _ = LOSSES[name]
    with pytest.raises(ValueError, match="target has shape"):
        fn(X, Y[:, :2], "mean")
    with pytest.raises(ValueError, match="reduction"):
        fn(X, Y, "avg")
    with pytest.raises(ValueError, match="reduction"):
        cls("avg")
    with pytest.raises(TypeError, match="input must be a float32 or float64"):
        fn(X.astype(np.int64), Y, "mean")
    with pytest.raises(TypeError, match="target"):
        fn(X, Y.astype(np.complex128), "mean")
    with pytest.raises(TypeError, match="target"):
        fn(X, "labels", "mean")
    crit = cls("none")
    with pytest.raises(RuntimeError, match="before any forward"):
        crit.backward()
    crit(X, Y)
    with pytest.raises(ValueError, match="grad_output has shape"):
        crit.backward(np.ones(7))
    with pytest.raises(ValueError, match="grad_output must be a scalar"):
        cls("mean").forward_backward(X, Y, grad_output=np.ones(2))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: F.sigmoid_focal_loss(X, Y, gamma=-1.0), ValueError, "gamma must be"),
        (lambda: F.sigmoid_focal_loss(X, Y, gamma=float("nan")), ValueError, "gamma must be"),
        (lambda: F.sigmoid_focal_loss(X, Y, alpha=float("nan")), ValueError, "alpha must be"),
        (lambda: F.sigmoid_focal_loss(X, Y, alpha="a"), TypeError, "alpha must be a real"),
        (lambda: F.asymmetric_loss(X, Y, gamma_neg=-0.5), ValueError, "gamma_neg must be"),
        (lambda: F.asymmetric_loss(X, Y, gamma_pos=-1), ValueError, "gamma_pos must be"),
        (lambda: F.asymmetric_loss(X, Y, clip=1.0), ValueError, "clip must be in"),
        (lambda: F.asymmetric_loss(X, Y, clip=-0.1), ValueError, "clip must be in"),
        (lambda: F.asymmetric_loss(X, Y, eps=0.0), ValueError, "eps must be"),
        (lambda: F.asymmetric_loss(X, Y, eps=None), TypeError, "eps must be a real"),
        (lambda: F.soft_f1_loss(X, Y, eps=-1e-3), ValueError, "eps must be"),
        (
            lambda: F.soft_f1_loss(np.zeros((2, 3, 4)), np.zeros((2, 3, 4))),
            ValueError,
            r"\[N, C\] or \[N\]",
        ),
        (lambda: F.soft_f1_loss(np.float64(1.0), np.float64(1.0)), ValueError, r"\[N, C\]"),
        (
            lambda: F.multilabel_categorical_crossentropy(np.float64(1.0), np.float64(1.0)),
            ValueError,
            "at least 1 dimension",
        ),
    ],
)
def test_option_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_asl_clip_none_is_clip_zero_and_repr():
    rng = np.random.default_rng(31)
    x = rng.normal(size=(3, 4))
    y = labels(rng, x.shape, "hard")
    np.testing.assert_array_equal(
        F.asymmetric_loss(x, y, clip=None, reduction="none"),
        F.asymmetric_loss(x, y, clip=0.0, reduction="none"),
    )
    assert repr(lf.AsymmetricLoss(clip=0.1)) == "AsymmetricLoss(clip=0.1)"
    assert repr(lf.SigmoidFocalLoss()) == "SigmoidFocalLoss()"
