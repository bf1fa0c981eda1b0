"""float16 and bfloat16 (ml_dtypes') through every loss, activation, fused head
and a Dask call (issue 21).

The oracle is torch's float32 autograd on the same values: the test rounds its
data to the half dtype, widens it back to float32 and hands that to torch;
ours must then lie within one rounding of the half dtype (one unit in its last
place, at the larger of the two values) of torch's float32 result, plus the
float32 oracle's own error (a few float32 epsilons of the array's scale, for
the elements where cancellation leaves an absolute error).  Hessian diagonals
come from torch.autograd.functional.hessian in float32.  The binding's
conversions are checked over every 16-bit pattern against NumPy's float16
casts and ml_dtypes' bfloat16 casts; torch's own bfloat16 CPU losses are
compared too, with its intermediate roundings explained where they differ.
"""

import ml_dtypes
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import in_layout, ulp
from loss_table import ACTIVATIONS, CORE_ROWS, LOSSES, ROWS, valid_inputs, valid_options, widened
from oracle import _float_target, torch_call, torch_fn

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch

BF16 = np.dtype(ml_dtypes.bfloat16)
HALVES = (np.dtype(np.float16), BF16)
HALF_IDS = ["f16", "bf16"]
F32_EPS = float(np.finfo(np.float32).eps)
# torch refuses a class weight of another precision than the input's, and so do
# we at construction (test_binding's module_db case): the rows whose weight is
# checked float32 or float64 (the class weights) take float32 weights
CLASS_WEIGHT_ROWS = {row.name for row in LOSSES if any(
    a["kind"] == "float" and a["check"] == "float32_or_float64"
    for a in CORE_ROWS[row.fname]["args"])}


def assert_one_rounding(got, want, dtype, what, slack=8):
    """got (the half dtype) within one rounding of the float32 oracle want."""
    assert np.asarray(got).dtype == dtype, (what, np.asarray(got).dtype)
    g = np.asarray(got).astype(np.float64)
    w = np.asarray(want, np.float64)
    assert g.shape == w.shape, (what, g.shape, w.shape)
    scale = float(np.max(np.abs(w[np.isfinite(w)]), initial=0.0))
    tol = np.maximum(ulp(w, dtype), ulp(g, dtype)) + slack * F32_EPS * scale
    same = (g == w) | (np.isnan(g) & np.isnan(w))
    bad = ~same & ~(np.abs(g - w) <= tol)
    assert not bad.any(), (f"{what}: {int(bad.sum())} of {bad.size} beyond one {dtype} "
                           f"rounding; got {g[bad][:5]}, want {w[bad][:5]}")


def halved(a, dtype):
    """A float array rounded to the half dtype (NumPy's / ml_dtypes' cast)."""
    return a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a


def half_case(row, dtype, seed=5):
    """(our inputs, our options, the oracle's inputs, the oracle's options): every
    float array rounded to the half dtype (class weights stay float32); the
    oracle gets the same values in float32."""
    rng = np.random.default_rng(seed)
    inputs = tuple(halved(a, dtype) for a in valid_inputs(row, np.float32, rng))
    opts = valid_options(row, np.float32, rng)
    if row.name not in CLASS_WEIGHT_ROWS:
        opts = {k: halved(v, dtype) for k, v in opts.items()}
    return (inputs, opts, tuple(widened(a) for a in inputs),
            {k: widened(v) for k, v in opts.items()})


def as_tuple(a):
    return a if isinstance(a, tuple) else (a,)


CASES = [(row, dt, red) for row in LOSSES for dt in HALVES for red in row.reductions]
CASE_IDS = [f"{r.name}-{d.name}-{red}" for r, d, red in CASES]


@pytest.mark.parametrize("row,dtype,reduction", CASES, ids=CASE_IDS)
def test_loss_and_gradient_against_torch_float32(row, dtype, reduction):
    inputs, opts, o_inputs, o_opts = half_case(row, dtype)
    crit = row.cls(**opts, reduction=reduction)
    copies = [np.array(a, copy=True) for a in inputs]
    loss, grad = crit.forward_backward(*inputs)
    want_loss, want_grads = torch_call(row, dict(o_opts, reduction=reduction), o_inputs)
    if reduction != "none":
        assert isinstance(loss, np.generic) and np.asarray(loss).shape == ()
    assert_one_rounding(loss, want_loss, dtype, f"{row.name} loss")
    for g, w, i in zip(as_tuple(grad), want_grads, row.diff):
        assert g.shape == inputs[i].shape
        assert_one_rounding(g, w, dtype, f"{row.name} gradient of input {i}")
    # the other faces give the same bits
    assert np.array_equal(np.asarray(crit(*inputs)), np.asarray(loss), equal_nan=True)
    for g, g2 in zip(as_tuple(crit.backward()), as_tuple(grad)):
        assert np.array_equal(g, g2, equal_nan=True)
    f = np.asarray(row.fn(*inputs, **opts, reduction=reduction))
    assert f.dtype == dtype and np.array_equal(f, np.asarray(loss), equal_nan=True)
    for a, b in zip(inputs, copies):  # inputs never written
        assert np.array_equal(a, b, equal_nan=True)


def _torch_hessian_diagonal(row, opts, inputs, reduction, i):
    """The diagonal of the Hessian of the reduced loss in input i, float32."""
    tensors = []
    for j, a in enumerate(inputs):
        if a.dtype.kind == "f" or _float_target(row, j):
            tensors.append(torch.from_numpy(np.asarray(a, np.float32)))
        else:
            tensors.append(torch.from_numpy(a.astype(np.int64)))
    kw = {k: torch.from_numpy(np.asarray(v, np.float32)) if isinstance(v, np.ndarray) else v
          for k, v in opts.items()}
    from test_hessian import TWICE  # torch's own function cannot go twice for these two
    fn = TWICE.get(row.name) or torch_fn(row)

    def f(x):
        args = list(tensors)
        args[i] = x
        return fn(*args, **kw, reduction=reduction).sum()

    H = torch.autograd.functional.hessian(f, tensors[i])
    n = tensors[i].numel()
    return np.diagonal(H.reshape(n, n).numpy()).reshape(tensors[i].shape)


HESS_CASES = [(r, d, red) for r, d, red in CASES if r.name != "CTCLoss"]


@pytest.mark.parametrize("row,dtype,reduction", HESS_CASES,
                         ids=[f"{r.name}-{d.name}-{red}" for r, d, red in HESS_CASES])
def test_hessian_diagonal_against_torch(row, dtype, reduction):
    inputs, opts, o_inputs, o_opts = half_case(row, dtype, seed=5)
    crit = row.cls(**opts, reduction=reduction)
    _, grad, hess = crit.forward_backward(*inputs, hessian=True)
    for h, i in zip(as_tuple(hess), row.diff):
        want = _torch_hessian_diagonal(row, o_opts, o_inputs, reduction, i)
        assert_one_rounding(h, want, dtype, f"{row.name} Hessian diagonal of input {i}",
                            slack=64)
    # hvp: a float32 twin of the call, narrowed once
    vs = tuple(np.ones(inputs[i].shape, dtype) for i in row.diff)
    hv = as_tuple(crit.hvp(vs if len(vs) > 1 else vs[0]))
    twin = row.cls(**{k: widened(v) for k, v in opts.items()}, reduction=reduction)
    twin(*(widened(a) for a in inputs))
    want = as_tuple(twin.hvp(tuple(v.astype(np.float32) for v in vs) if len(vs) > 1
                             else vs[0].astype(np.float32)))
    for got, w in zip(hv, want):
        assert got.dtype == dtype
        assert np.array_equal(got, w.astype(dtype), equal_nan=True)


# -- out=, layouts, dtypes of targets and weights, refusals ---------------------

OUT_ROWS = [r for r in LOSSES if r.name != "CTCLoss"] + [ROWS["CTCLoss"]]


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("row", OUT_ROWS, ids=repr)
def test_out_of_the_half_dtype(row, dtype):
    inputs, opts, _, _ = half_case(row, dtype)
    crit = row.cls(**opts)
    loss, grad = crit.forward_backward(*inputs)
    bufs = tuple(np.full(inputs[i].shape, np.nan, dtype) for i in row.diff)
    out = bufs if len(bufs) > 1 else bufs[0]
    loss2, grad2 = crit.forward_backward(*inputs, out=out)
    assert np.array_equal(np.asarray(loss2), np.asarray(loss), equal_nan=True)
    for b, g2, g in zip(bufs, as_tuple(grad2), as_tuple(grad)):
        assert g2 is b and np.array_equal(b, g, equal_nan=True)
    # a buffer of the float32 the call computes in is still the wrong dtype
    wrong = tuple(np.zeros(inputs[i].shape, np.float32) for i in row.diff)
    with pytest.raises(TypeError, match=rf"out must have the input's dtype {dtype.name}, "
                                        r"got float32"):
        crit.forward_backward(*inputs, out=wrong if len(wrong) > 1 else wrong[0])
    for w in wrong:
        assert not w.any()  # never written when the call raises


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_strided_out_and_hessian_fold(dtype):
    # a strided half out, and a broadcast target whose gradient is folded
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 4)).astype(dtype)
    var = rng.uniform(0.5, 2, (5, 1)).astype(dtype)
    t = rng.standard_normal((5, 4)).astype(np.float64)
    crit = lf.GaussianNLLLoss()
    big = (np.zeros((10, 8), dtype), np.zeros((5, 1), dtype))
    out = (big[0][::2, ::2], big[1])
    loss, grads = crit.forward_backward(x, t, var, out=out)
    twin = lf.GaussianNLLLoss()
    l32, g32 = twin.forward_backward(x.astype(np.float32), t, var.astype(np.float32))
    assert loss.dtype == dtype and loss == np.float32(l32).astype(dtype)
    for g, o, w in zip(grads, out, g32):
        assert g is o and np.array_equal(g, w.astype(dtype))
    assert not big[0][1::2].any()


# (ml_dtypes' bfloat16 has no byte order to swap)
HALF_LAYOUTS = [(d, lay) for d in HALVES for lay in ("fortran", "transposed", "strided",
                                                     "negative", "byteswapped", "misaligned",
                                                     "readonly")
                if not (lay == "byteswapped" and d == BF16)]


@pytest.mark.parametrize("dtype,layout", HALF_LAYOUTS,
                         ids=[f"{d.name}-{lay}" for d, lay in HALF_LAYOUTS])
def test_layouts_give_the_same_bits(dtype, layout):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 5, 4)).astype(dtype)
    y = rng.uniform(0, 1, (6, 5, 4)).astype(dtype)
    for crit in (lf.BCEWithLogitsLoss(reduction="none"), lf.MSELoss()):
        want = crit.forward_backward(x, y)
        got = crit.forward_backward(in_layout(x, layout), in_layout(y, layout))
        for a, b in zip(want, got):
            assert np.asarray(b).dtype == dtype
            assert np.array_equal(np.asarray(a), np.asarray(b))
    t = rng.integers(0, 5, (6, 4))
    want = lf.CrossEntropyLoss().forward_backward(x, t)
    got = lf.CrossEntropyLoss().forward_backward(in_layout(x, layout), t)
    assert want[0] == got[0] and np.array_equal(want[1], got[1])


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_targets_and_weights_of_any_float_dtype(dtype):
    # half, float32 and float64 targets / weights holding the same values are
    # the same call: each is converted to the compute type (float32)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((7, 3)).astype(dtype)
    y = rng.uniform(0, 1, (7, 3)).astype(dtype)
    w = rng.uniform(0.5, 2, 3).astype(dtype)
    want = lf.BCEWithLogitsLoss(weight=w, pos_weight=w).forward_backward(x, y)
    for other in (np.float16, BF16, np.float32, np.float64):
        if other != dtype and np.any(y.astype(other).astype(dtype) != y):
            continue  # float16 cannot hold every bfloat16 value exactly
        crit = lf.BCEWithLogitsLoss(weight=w.astype(other), pos_weight=w.astype(other))
        got = crit.forward_backward(x, y.astype(other))
        assert got[0].dtype == dtype and got[0] == want[0]
        assert np.array_equal(got[1], want[1])
    # mixed differentiable inputs promote as torch does: float32 wins over half
    a, b, s = x[:4], x[3:], np.ones(4)
    loss, (ga, gb) = lf.CosineEmbeddingLoss().forward_backward(a, b.astype(np.float32), s)
    assert loss.dtype == np.float32 and ga.dtype == dtype and gb.dtype == np.float32
    assert lf.CosineEmbeddingLoss()(a, b, s).dtype == dtype


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss", "PolyCrossEntropyLoss"])
def test_class_weight_half_with_half_input(name, dtype):
    # torch takes a class weight of its input's precision, half with half, and
    # refuses another: a half weight goes with a half input (the same numbers
    # as its float32 widening), never with a float32 or float64 one
    cls = getattr(lf, name)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5)).astype(dtype)
    t = rng.integers(0, 5, 6)
    w = rng.uniform(0.5, 2.0, 5).astype(dtype)
    got = cls(weight=w).forward_backward(x, t)
    want = cls(weight=w.astype(np.float32)).forward_backward(x, t)
    assert got[0].dtype == dtype and got[1].dtype == dtype
    assert got[0] == want[0] and np.array_equal(got[1], want[1])
    with pytest.raises(TypeError, match=r"weight must be a float32 or float64 array \(half "
                       r"only with a half input\)"):
        cls(weight=w)(x.astype(np.float32), t)


SMALL = {"float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
         "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
         "longdouble": np.dtype(np.longdouble)}


@pytest.mark.parametrize("name", list(SMALL))
def test_other_small_floats_refused(name):
    bad = np.zeros((2, 3), SMALL[name])
    good = np.zeros((2, 3), np.float16)
    name = SMALL[name].name  # longdouble is float128 here
    with pytest.raises(TypeError, match=rf"mse_loss: input must be a float32 or float64 "
                                        rf"array, got dtype {name}"):
        F.mse_loss(bad, good)
    with pytest.raises(TypeError, match=rf"sigmoid: input must be .* got dtype {name}"):
        F.sigmoid(bad)
    with pytest.raises(TypeError, match=r"linear_cross_entropy: input must be"):
        F.linear_cross_entropy(bad, np.zeros((4, 3), np.float16), np.zeros(2, np.int64))
    if bad.dtype.kind != "f":  # a target of a 'f' kind (longdouble, float8_e5m2) is
        # data, cast to the compute type as it always was
        with pytest.raises(TypeError, match=rf"binary_cross_entropy_with_logits: target must "
                                            rf"be a real .* array, got dtype {name}"):
            F.binary_cross_entropy_with_logits(good, bad)


# -- activations, fused heads, Dask ----------------------------------------------

ACT_CASES = [(a, d) for a in ACTIVATIONS for d in HALVES]


@pytest.mark.parametrize("act,dtype", ACT_CASES,
                         ids=[f"{a.name}-{d.name}" for a, d in ACT_CASES])
def test_activations(act, dtype):
    x = np.random.default_rng(2).normal(0, 4, (5, 6, 3)).astype(dtype)
    dims = (0, 1, -1) if act.needs_dim else (None,)
    for dim in dims:
        kw = {} if dim is None else {"dim": dim}
        got = act.fn(x, **kw)
        want = torch_fn(act)(torch.from_numpy(x.astype(np.float32)), *kw.values()).numpy()
        assert isinstance(got, np.ndarray) and got.shape == x.shape
        assert_one_rounding(got, want, dtype, f"{act.name} dim={dim}")


def _torch_head(x, w, b, target, kind, **kw):
    """torch's reference path in float32 autograd: value, d_input, d_weight, d_bias."""
    X, W, B = (torch.from_numpy(a.astype(np.float32)).requires_grad_() for a in (x, w, b))
    z = TF.linear(X, W, B)
    if kind == "ce":
        loss = TF.cross_entropy(z, torch.from_numpy(target), **kw)
    else:
        loss = TF.binary_cross_entropy_with_logits(z, torch.from_numpy(target), **kw)
    loss.sum().backward()
    return loss.detach().numpy(), X.grad.numpy(), W.grad.numpy(), B.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_fused_heads(dtype, reduction):
    rng = np.random.default_rng(9)
    N, D, C = 13, 6, 29
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((N, D), (C, D), (C,)))
    t = rng.integers(0, C, N)
    cw = rng.uniform(0.5, 2, C).astype(dtype)
    crit = lf.LinearCrossEntropyLoss(D, C, bias=True, dtype=dtype, reduction=reduction,
                                     weight=cw, label_smoothing=0.1, chunk_size=(5, 7))
    crit.linear.weight, crit.linear.bias = w, b
    out = np.zeros((N, D), dtype)
    loss, dx = crit.forward_backward(x, t, out=out)
    want = _torch_head(x, w, b, t, "ce", weight=torch.from_numpy(cw.astype(np.float32)),
                       label_smoothing=0.1, reduction=reduction)
    assert dx is out
    for got, ref, what in zip((loss, dx, crit.linear.weight_grad, crit.linear.bias_grad),
                              want, ("loss", "d_input", "d_weight", "d_bias")):
        assert_one_rounding(got, ref, dtype, f"linear_cross_entropy {what}", slack=32)
    Y = np.zeros((N, C), np.float32)
    pos = np.full((N, 3), -1)
    for r in range(N):
        labels = rng.choice(C, rng.integers(0, 4), replace=False)
        pos[r, :len(labels)] = labels
        Y[r, labels] = 1
    got = F.linear_binary_cross_entropy_with_logits(x, w, pos, linear_bias=b,
                                                    reduction=reduction)
    want = _torch_head(x, w, b, Y, "bce", reduction=reduction)
    assert_one_rounding(got, want[0], dtype, "linear_binary_cross_entropy_with_logits")
    with pytest.raises(TypeError, match=rf"out must have the gradient's dtype {dtype.name}"):
        crit.forward_backward(x, t, out=np.zeros((N, D), np.float32))


@pytest.mark.dask
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_dask_equals_numpy(dtype):
    import dask
    import dask.array as da

    rng = np.random.default_rng(10)
    x = rng.standard_normal((40, 7)).astype(dtype)
    y = rng.uniform(0, 1, (40, 7)).astype(dtype)
    t = rng.integers(0, 7, 40)
    with dask.config.set(scheduler="synchronous"):
        for crit, target in ((lf.CrossEntropyLoss(), t), (lf.BCEWithLogitsLoss(), y),
                             (lf.MSELoss(reduction="none"), y), (lf.L1Loss(reduction="sum"), y)):
            lazy = crit.forward_backward(da.from_array(x, chunks=(10, 7)),
                                         da.from_array(target, chunks=10))
            assert all(r.dtype == dtype for r in lazy)
            got = dask.compute(*lazy)
            want = crit.forward_backward(x, target)
            for g, w in zip(got, want):
                g = np.asarray(g)
                assert g.dtype == dtype and np.array_equal(g, np.asarray(w))


# -- the conversions, through the binding, over every bit pattern ------------------

def _all_patterns(dtype):
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(dtype)


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_conversions_over_every_bit_pattern(dtype):
    h = _all_patterns(dtype)
    zero = np.zeros_like(h)
    # widening then narrowing: |h| back exactly (l1 of (h, 0)), nans stay nans
    got = F.l1_loss(h, zero, reduction="none")
    with np.errstate(invalid="ignore"):
        want = np.abs(h.astype(np.float32)).astype(dtype)
    assert np.array_equal(got.view(np.uint16)[~np.isnan(want.astype(np.float32))],
                          want.view(np.uint16)[~np.isnan(want.astype(np.float32))])
    assert np.array_equal(np.isnan(got.astype(np.float32)), np.isnan(want.astype(np.float32)))
    # narrowing: |0 - t| for float32 t at every half value, every tie between
    # neighbours and the floats beside each; NumPy / ml_dtypes round the same
    v = h.astype(np.float32)
    v = v[np.isfinite(v) & ~np.signbit(v)]  # |0 - t| has no sign to compare
    v.sort()
    mids = ((v[:-1].astype(np.float64) + v[1:]) / 2).astype(np.float32)
    t = np.concatenate([v, mids, np.nextafter(mids, np.float32(0)),
                        np.nextafter(mids, np.float32(np.inf)), [np.float32(3.4e38)]])
    got = F.l1_loss(np.zeros(t.shape, dtype), t, reduction="none")
    with np.errstate(over="ignore"):  # 3.4e38 rounds to inf
        want = t.astype(dtype)
    assert np.array_equal(got.view(np.uint16), want.view(np.uint16))
    # and a reduced loss is a scalar of the half dtype, rounded once
    s = F.l1_loss(np.zeros(3, dtype), np.array([1.0, 2.0, 2.0 ** -9], np.float32),
                  reduction="sum")
    assert type(s) is dtype.type and s == np.float32(3 + 2.0 ** -9).astype(dtype)


# -- torch's own half-precision CPU results ------------------------------------

TORCH_HALF = {np.dtype(np.float16): torch.float16, BF16: torch.bfloat16}
# torch 2.13 has no float16 / bfloat16 CPU kernel for these
TORCH_LACKS_HALF = {"MultiMarginLoss", "MultiLabelMarginLoss", "CTCLoss"}


def _torch_in_half(row, opts, inputs, dtype, reduction):
    """torch's loss and gradients computed in the half dtype itself, as float64."""
    tensors = []
    for j, a in enumerate(inputs):
        if a.dtype.kind == "f" or _float_target(row, j):
            t = torch.from_numpy(a.astype(np.float32)).to(TORCH_HALF[dtype])
            tensors.append(t.requires_grad_() if j in row.diff else t)
        else:
            tensors.append(torch.from_numpy(a.astype(np.int64)))
    kw = {k: torch.from_numpy(v.astype(np.float32)).to(TORCH_HALF[dtype])
          if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    loss = torch_fn(row)(*tensors, **kw, reduction=reduction)
    loss.backward(torch.ones_like(loss))
    return (loss.detach().double().numpy(),
            tuple(tensors[i].grad.double().numpy() for i in row.diff))


@pytest.mark.parametrize("row,dtype,reduction", CASES, ids=CASE_IDS)
def test_against_torch_in_half_precision(row, dtype, reduction):
    """Where torch computes the loss in the half dtype itself, ours differs from
    its result only as far as torch's own result is off the float32 one, plus
    our one rounding.  torch rounds intermediates to the half dtype where a
    loss is composed of several ops (BCE-with-logits' and focal's backward
    round sigmoid(x) before subtracting the target, distances round each norm,
    KL's "none" rounds exp(target)), which costs it tens of half ulps where
    the result cancels; its fused kernels (cross-entropy, NLL, MSE, L1,
    smooth L1) accumulate in float32 and round once, as we do, and agree to
    the last bit or one rounding."""
    inputs, opts, o_inputs, o_opts = half_case(row, dtype)
    if row.name in TORCH_LACKS_HALF:
        with pytest.raises((NotImplementedError, RuntimeError), match="not implemented"):
            _torch_in_half(row, o_opts, o_inputs, dtype, reduction)
        return
    t_loss, t_grads = _torch_in_half(row, o_opts, o_inputs, dtype, reduction)
    ref_loss, ref_grads = torch_call(row, dict(o_opts, reduction=reduction), o_inputs)
    loss, grad = row.cls(**opts, reduction=reduction).forward_backward(*inputs)
    pairs = [(loss, t_loss, ref_loss, "loss")]
    pairs += [(g, tg, rg, f"gradient {i}")
              for g, tg, rg, i in zip(as_tuple(grad), t_grads, ref_grads, row.diff)]
    for ours, theirs, ref, what in pairs:
        ours = np.asarray(ours).astype(np.float64)
        ref = np.asarray(ref, np.float64)
        scale = float(np.max(np.abs(ref[np.isfinite(ref)]), initial=0.0))
        allowed = np.abs(theirs - ref) + ulp(ref, dtype) + 8 * F32_EPS * scale
        off = ~(np.abs(ours - theirs) <= allowed) & ~(np.isnan(ours) & np.isnan(theirs))
        assert not off.any(), f"{row.name} {what}: {ours[off][:5]} vs torch {theirs[off][:5]}"


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_references_are_released(dtype):
    """1000 half calls (results, out=, a refused out) leave every refcount as it was."""
    import sys

    x = np.random.default_rng(12).standard_normal((6, 5)).astype(dtype)
    y, t, out = x[::-1].copy(), np.arange(6) % 5, np.empty((6, 5), dtype)
    crit = lf.CrossEntropyLoss()

    def calls():
        F.mse_loss(x, y, reduction="none")
        crit.forward_backward(x, t, out=out, hessian=True)
        F.softmax(x, 1)
        with pytest.raises(TypeError):
            crit.forward_backward(x, t, out=np.empty((6, 5), np.float32))

    calls()
    objs = (dtype, np.dtype(np.float32), x, y, out, t)
    before = [sys.getrefcount(o) for o in objs]
    for _ in range(1000):
        calls()
    assert [sys.getrefcount(o) for o in objs] == before
