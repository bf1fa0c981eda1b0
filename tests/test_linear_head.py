"""The fused classifier heads against torch 2.13: LinearCrossEntropyLoss vs the
reference path of F.linear_cross_entropy, LinearBCEWithLogitsLoss vs F.linear +
binary_cross_entropy_with_logits (float64 autograd); the Hessian in the input
(diagonal and hvp) against torch.autograd.functional; chunk shapes; errors
before work; peak memory far below the logits."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch

N, D, C = 23, 5, 37
# chunk sizes: default, a budget in logits, (rows, classes) dividing and not
# dividing N / C, one row, one class, whole rows with several row chunks
CHUNKS = [None, 100, 2000, (23, 37), (5, 37), (7, 11), (23, 10), (1, 1), (6, 37)]
RED = ["mean", "sum", "none"]
TOL = {np.float64: 1e-10, np.float32: 2e-4}


def data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D))
    w = rng.standard_normal((C, D))
    b = rng.standard_normal(C)
    return rng, x.astype(dtype), w.astype(dtype), b.astype(dtype)


def close(got, want, dtype, scale=1.0):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def torch_lce(x, w, b, target, go, **kw):
    """Reference path in float64 autograd: value and the three gradients."""
    X = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    W = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    B = None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(target)
    if t.dtype.is_floating_point:
        t = t.double()
    kw = {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) else v
          for k, v in kw.items()}
    loss = TF.linear_cross_entropy(X, W, t, linear_bias=B, **kw)
    (loss * torch.tensor(go, dtype=torch.float64)).sum().backward()
    return (loss.detach().numpy(), X.grad.numpy(), W.grad.numpy(),
            None if B is None else B.grad.numpy())


def torch_lbce(x, w, b, Y, go, **kw):
    X = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    W = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    B = None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=True)
    kw = {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) else v
          for k, v in kw.items()}
    loss = TF.binary_cross_entropy_with_logits(TF.linear(X, W, B), torch.tensor(Y), **kw)
    (loss * torch.tensor(go, dtype=torch.float64)).sum().backward()
    return (loss.detach().numpy(), X.grad.numpy(), W.grad.numpy(),
            None if B is None else B.grad.numpy())


def check_head(crit, x, w, b, target, ref, red, dtype, rng, loss_shape):
    crit.linear.weight = w
    crit.linear.bias = b
    go = rng.random(loss_shape).astype(dtype) + 0.5 if red == "none" else dtype(1.7)
    loss, dx = crit.forward_backward(x, target, grad_output=go)
    want = ref(np.asarray(go, np.float64))
    close(loss, want[0], dtype)
    close(dx, want[1], dtype)
    close(crit.linear.weight_grad, want[2], dtype)
    if b is None:
        assert crit.linear.bias_grad is None
    else:
        close(crit.linear.bias_grad, want[3], dtype)
    assert loss.dtype == dtype and dx.dtype == dtype
    assert crit.linear.weight_grad.dtype == dtype
    # forward then backward agrees with the fused call
    close(crit(x, target), loss, dtype)
    close(crit.backward(go), dx, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", CHUNKS, ids=str)
@pytest.mark.parametrize("red", RED)
@pytest.mark.parametrize("opts", ["plain", "bias", "weight_ls_ignore", "ignore7_ls"])
def test_lce_class_targets(dtype, chunk, red, opts):
    rng, x, w, b = data(dtype)
    t = rng.integers(0, C, N)
    kw = {}
    if opts == "weight_ls_ignore":
        kw = {"weight": (rng.random(C) + 0.5).astype(dtype), "label_smoothing": 0.2}
        t[::5] = -100
    elif opts == "ignore7_ls":
        kw = {"ignore_index": 7, "label_smoothing": 0.05}
        t[::3] = 7
    bias = b if opts != "plain" else None
    crit = lf.LinearCrossEntropyLoss(D, C, bias=bias is not None, dtype=dtype, reduction=red,
                                     chunk_size=chunk, **kw)
    check_head(crit, x, w, bias, t,
               lambda go: torch_lce(x, w, bias, t, go, reduction=red, **kw),
               red, dtype, rng, (N,))
    # the functional form gives the same value
    close(F.linear_cross_entropy(x, w, t, linear_bias=bias, reduction=red, chunk_size=chunk,
                                 **kw), crit(x, t), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", [None, (7, 11), (23, 10), (6, 37)], ids=str)
@pytest.mark.parametrize("red", RED)
def test_lce_probability_targets(dtype, chunk, red):
    rng, x, w, b = data(dtype, 1)
    p = rng.random((N, C))
    p = (p / p.sum(1, keepdims=True)).astype(dtype)
    kw = {"weight": (rng.random(C) + 0.5).astype(dtype), "label_smoothing": 0.1}
    crit = lf.LinearCrossEntropyLoss(D, C, bias=True, dtype=dtype, reduction=red,
                                     chunk_size=chunk, **kw)
    check_head(crit, x, w, b, p, lambda go: torch_lce(x, w, b, p, go, reduction=red, **kw),
               red, dtype, rng, (N,))


@pytest.mark.parametrize("chunk", [None, (1, 5)], ids=str)
def test_lce_unbatched(chunk):
    rng, x, w, b = data(np.float64, 2)
    crit = lf.LinearCrossEntropyLoss(D, C, bias=True, dtype=np.float64, chunk_size=chunk)
    check_head(crit, x[0], w, b, np.array(4),
               lambda go: torch_lce(x[0], w, b, np.array(4), go), "mean", np.float64, rng, ())


def multi_hot(target, n_classes):
    Y = np.zeros((target.shape[0], n_classes))
    for i, row in enumerate(target):
        for v in row:
            if v == -1:
                break
            Y[i, v] = 1.0
    return Y


def label_targets(rng, P=6):
    t = rng.integers(0, C, (N, P))
    t[rng.random((N, P)) < 0.3] = -1   # padding, anywhere: reading stops at the first -1
    t[0] = [3, 3, 36, 0, -1, 5]        # a repeat, both ends of the range, junk after -1
    t[1] = -1                          # no positive label
    return t


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", CHUNKS, ids=str)
@pytest.mark.parametrize("red", RED)
@pytest.mark.parametrize("opts", ["plain", "bias_pos_weight"])
def test_lbce(dtype, chunk, red, opts):
    rng, x, w, b = data(dtype, 3)
    t = label_targets(rng)
    Y = multi_hot(t, C)
    kw = {"pos_weight": (rng.random(C) * 3).astype(dtype)} if opts != "plain" else {}
    bias = b if opts != "plain" else None
    crit = lf.LinearBCEWithLogitsLoss(D, C, bias=bias is not None, dtype=dtype, reduction=red,
                                      chunk_size=chunk, **kw)
    check_head(crit, x, w, bias, t, lambda go: torch_lbce(x, w, bias, Y, go, reduction=red, **kw),
               red, dtype, rng, (N, C))
    close(F.linear_binary_cross_entropy_with_logits(x, w, t, linear_bias=bias, reduction=red,
                                                    chunk_size=chunk, **kw),
          crit(x, t), dtype)


def unaligned(a):
    """A copy of ``a`` at an odd byte offset: an unaligned, C-contiguous array (as
    ``np.frombuffer`` at an offset gives, or dask's workers when they unpickle)."""
    a = np.asarray(a)
    buf = np.frombuffer(bytearray(a.nbytes + 1), a.dtype, a.size, offset=1).reshape(a.shape)
    buf[...] = a
    assert not buf.flags.aligned or a.itemsize == 1
    return buf


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unaligned_operands(dtype):
    # every array a tile kernel reads may arrive unaligned: the heads copy what the
    # kernels need aligned instead of failing (their checks refused it, naming a tile)
    rng, x, w, b = data(dtype, 5)
    cw = (rng.random(C) + 0.5).astype(dtype)
    probs = rng.dirichlet(np.ones(C), N).astype(dtype)
    go = rng.standard_normal(N).astype(dtype)
    u = unaligned

    def check(crit, target, go, ref):
        crit.linear.weight, crit.linear.bias = u(w), u(b)
        loss, g = crit.forward_backward(u(x), u(target), grad_output=u(go))
        for got, want in zip((loss, g, crit.linear.weight_grad, crit.linear.bias_grad), ref):
            close(got, want, dtype)

    for target in (rng.integers(0, C, N), probs):
        check(lf.LinearCrossEntropyLoss(D, C, bias=True, dtype=dtype, weight=u(cw),
                                        reduction="none"),
              target, go, torch_lce(x, w, b, target, go, weight=cw, reduction="none"))
    t = label_targets(rng)
    pw = (rng.random(C) * 3).astype(dtype)
    gof = rng.standard_normal((N, C)).astype(dtype)
    check(lf.LinearBCEWithLogitsLoss(D, C, bias=True, dtype=dtype, pos_weight=u(pw),
                                     reduction="none"),
          t, gof, torch_lbce(x, w, b, multi_hot(t, C), gof, pos_weight=pw, reduction="none"))


SECOND_CHUNKS = [None, (23, 37), (7, 11), (23, 10), (1, 1), (6, 37)]


def torch_second(loss_fn, x, go, v):
    """torch's Hessian diagonal and Hessian-vector product (float64 autograd)
    of ``sum(go * loss_fn(X))`` in X."""
    X = torch.tensor(x, dtype=torch.float64)
    g = torch.tensor(go, dtype=torch.float64)

    def f(X):
        return (loss_fn(X) * g).sum()

    H = torch.autograd.functional.hessian(f, X, vectorize=True)
    n = X.numel()
    diag = torch.diagonal(H.reshape(n, n)).reshape(X.shape).numpy()
    hv = torch.autograd.functional.hvp(f, X, torch.tensor(v, dtype=torch.float64))[1]
    return diag, hv.numpy()


def check_second(crit, x, target, ref_loss, red, dtype, rng, loss_shape):
    """hessian=True, hessian() and hvp() against torch, scaled by grad_output."""
    go = rng.random(loss_shape).astype(dtype) + 0.5 if red == "none" else dtype(1.7)
    v = rng.standard_normal(x.shape).astype(dtype)
    diag, hv = torch_second(ref_loss, x, np.asarray(go, np.float64), v)
    loss, dx, hess = crit.forward_backward(x, target, grad_output=go, hessian=True)
    assert hess.dtype == dtype and hess.shape == x.shape
    scale = float(np.abs(hv).max())
    close(hess, diag, dtype, scale)
    close(crit.hessian(go), hess, dtype, scale)
    got = crit.hvp(v, go)
    assert got.dtype == dtype and got.shape == x.shape
    close(got, hv, dtype, scale)
    assert np.abs(diag).max() > 0 and np.abs(hv).max() > 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", SECOND_CHUNKS, ids=str)
@pytest.mark.parametrize("red", RED)
@pytest.mark.parametrize("opts", ["plain", "bias", "weight_ls_ignore", "ignore7_ls", "probs"])
def test_lce_second_order(dtype, chunk, red, opts):
    """Diagonal and full Hessian-vector product of linear + cross_entropy in
    the input against torch.autograd.functional (hessian / hvp)."""
    rng, x, w, b = data(dtype, 4)
    t = rng.integers(0, C, N)
    kw = {}
    if opts == "weight_ls_ignore":
        kw = {"weight": (rng.random(C) + 0.5).astype(dtype), "label_smoothing": 0.2}
        t[::5] = -100
    elif opts == "ignore7_ls":
        kw = {"ignore_index": 7, "label_smoothing": 0.05}
        t[::3] = 7
    elif opts == "probs":
        t = rng.random((N, C))
        t = (t / t.sum(1, keepdims=True)).astype(dtype)
        kw = {"weight": (rng.random(C) + 0.5).astype(dtype), "label_smoothing": 0.1}
    bias = b if opts != "plain" else None
    crit = lf.LinearCrossEntropyLoss(D, C, bias=bias is not None, dtype=dtype, reduction=red,
                                     chunk_size=chunk, **kw)
    crit.linear.weight, crit.linear.bias = w, bias
    W = torch.tensor(w, dtype=torch.float64)
    B = None if bias is None else torch.tensor(bias, dtype=torch.float64)
    T = torch.tensor(t, dtype=torch.float64) if t.dtype.kind == "f" else torch.tensor(t)
    tkw = {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) else v
           for k, v in kw.items()}
    check_second(crit, x, t,
                 lambda X: TF.cross_entropy(TF.linear(X, W, B), T, reduction=red, **tkw),
                 red, dtype, rng, (N,))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", SECOND_CHUNKS, ids=str)
@pytest.mark.parametrize("red", RED)
@pytest.mark.parametrize("opts", ["plain", "bias_pos_weight"])
def test_lbce_second_order(dtype, chunk, red, opts):
    """The multi-label head's Hessian in the input against torch: the
    multi-hot target from the padded indices (a repeated label counts once)."""
    rng, x, w, b = data(dtype, 5)
    t = label_targets(rng)
    Y = torch.tensor(multi_hot(t, C))
    kw = {"pos_weight": (rng.random(C) * 3).astype(dtype)} if opts != "plain" else {}
    bias = b if opts != "plain" else None
    crit = lf.LinearBCEWithLogitsLoss(D, C, bias=bias is not None, dtype=dtype, reduction=red,
                                      chunk_size=chunk, **kw)
    crit.linear.weight, crit.linear.bias = w, bias
    W = torch.tensor(w, dtype=torch.float64)
    B = None if bias is None else torch.tensor(bias, dtype=torch.float64)
    tkw = {k: torch.tensor(v, dtype=torch.float64) for k, v in kw.items()}
    check_second(crit, x, t,
                 lambda X: TF.binary_cross_entropy_with_logits(TF.linear(X, W, B), Y,
                                                               reduction=red, **tkw),
                 red, dtype, rng, (N, C))


def test_second_order_unbatched():
    """An unbatched input: [in_features] results, as torch's in the 1-d input."""
    rng, x, w, b = data(np.float64, 6)
    crit = lf.LinearCrossEntropyLoss(D, C, bias=True, dtype=np.float64, chunk_size=(1, 5))
    crit.linear.weight, crit.linear.bias = w, b
    W, B = torch.tensor(w), torch.tensor(b)
    check_second(crit, x[0], np.array(4),
                 lambda X: TF.cross_entropy(TF.linear(X, W, B), torch.tensor(4)),
                 "mean", np.float64, rng, ())


def test_linear_init_like_torch():
    crit = lf.LinearCrossEntropyLoss(16, 1000, bias=True, seed=5)
    lin = crit.linear
    assert lin.weight.shape == (1000, 16) and lin.bias.shape == (1000,)
    assert lin.weight.dtype == np.float32 and lin.weight.flags.writeable
    bound = 1 / np.sqrt(16)
    for a in (lin.weight, lin.bias):
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound
        assert abs(float(a.mean())) < 0.05 * bound * 10
    # torch.nn.Linear's init has the same bounds
    t = torch.nn.Linear(16, 1000)
    with torch.no_grad():
        assert float(t.weight.abs().max()) <= bound and float(t.bias.abs().max()) <= bound
    again = lf.LinearCrossEntropyLoss(16, 1000, bias=True, seed=5)
    np.testing.assert_array_equal(again.linear.weight, lin.weight)
    assert lf.LinearBCEWithLogitsLoss(4, 3).linear.bias is None
    assert lf.LinearCrossEntropyLoss(4, 3).linear.weight_grad is None


BAD_LCE = [
    # (args, kwargs, exception, words in the message)
    ((np.zeros((3, 4)), np.zeros((5, 3)), np.zeros(3, int)), {}, ValueError, "in_features"),
    ((np.zeros((3, 4)), np.zeros((5, 2, 4)), np.zeros(3, int)), {}, ValueError, "K-dimensional"),
    ((np.zeros((3, 4)), np.zeros(4), np.zeros(3, int)), {}, ValueError, "linear_weight"),
    ((np.zeros((2, 3, 4)), np.zeros((5, 4)), np.zeros(3, int)), {}, ValueError, "input"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros(2, int)), {}, ValueError, "target"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.array([0, 5, 1])), {}, IndexError, "target"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.array([0, -1, 1])), {}, IndexError, "target"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros(3)), {}, TypeError, "target"),
    ((np.zeros((3, 4), int), np.zeros((5, 4)), np.zeros(3, int)), {}, TypeError, "input"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros(3, int)), {"linear_bias": np.zeros(4)},
     ValueError, "linear_bias"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros(3, int)), {"weight": np.zeros(4)},
     ValueError, "weight"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros(3, int)), {"label_smoothing": 1.5},
     ValueError, "label_smoothing"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros(3, int)), {"reduction": "avg"},
     ValueError, "reduction"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros(3, int)), {"chunk_size": 0},
     ValueError, "chunk_size"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.full((3, 5), 0.2)), {"ignore_index": 1},
     ValueError, "ignore_index"),
]


@pytest.mark.parametrize("case", range(len(BAD_LCE)))
def test_lce_errors(case):
    args, kw, exc, word = BAD_LCE[case]
    with pytest.raises(exc, match=word):
        F.linear_cross_entropy(*args, **kw)


BAD_LBCE = [
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.array([[0], [5], [1]])), {}, IndexError, "target"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.array([[0], [-2], [1]])), {}, IndexError, "target"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.array([0, 1, 2])), {}, ValueError, "target"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros((3, 2))), {}, TypeError, "target"),
    ((np.zeros((3, 4)), np.zeros((5, 4)), np.zeros((3, 2), int)), {"pos_weight": np.ones(3)},
     ValueError, "pos_weight"),
]


@pytest.mark.parametrize("case", range(len(BAD_LBCE)))
def test_lbce_errors(case):
    args, kw, exc, word = BAD_LBCE[case]
    with pytest.raises(exc, match=word):
        F.linear_binary_cross_entropy_with_logits(*args, **kw)


def test_errors_leave_state_untouched():
    """A bad call raises before any work: no gradient stored, nothing written."""
    crit = lf.LinearCrossEntropyLoss(4, 5, dtype=np.float64, seed=0)
    w0 = crit.linear.weight.copy()
    out = np.full((3, 4), 7.0)
    with pytest.raises(IndexError, match="target has class 9 at index 2"):
        crit.forward_backward(np.zeros((3, 4)), np.array([0, 1, 9]), out=out)
    assert crit.linear.weight_grad is None
    np.testing.assert_array_equal(out, 7.0)
    np.testing.assert_array_equal(crit.linear.weight, w0)
    # ignored padding after the first -1 is never read, junk or not
    bce = lf.LinearBCEWithLogitsLoss(4, 5, dtype=np.float64)
    bce(np.zeros((1, 4)), np.array([[1, -1, 99]]))
    with pytest.raises(ValueError, match="chunk_size"):
        lf.LinearBCEWithLogitsLoss(4, 5, chunk_size=(0, 3))


def test_out_buffer():
    rng, x, w, b = data(np.float64, 4)
    t = rng.integers(0, C, N)
    crit = lf.LinearCrossEntropyLoss(D, C, dtype=np.float64, chunk_size=(7, 11))
    crit.linear.weight = w
    out = np.empty_like(x)
    loss, dx = crit.forward_backward(x, t, out=out)
    assert dx is out
    close(out, torch_lce(x, w, None, t, 1.0)[1], np.float64)


MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys, tracemalloc
    import numpy as np
    import pylossfn as lf
    N, D, C, kind, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:6]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D)).astype(np.float32)
    if kind == "ce":
        crit = lf.LinearCrossEntropyLoss(D, C, bias=True, seed=0)
        t = rng.integers(0, C, N)
    else:
        crit = lf.LinearBCEWithLogitsLoss(D, C, bias=True, seed=0)
        t = rng.integers(0, C, (N, 4))
    if mode == "hvp":
        loss = crit(x, t)
        v = rng.standard_normal((N, D)).astype(np.float32)
    tracemalloc.start()       # NumPy reports its data allocations to tracemalloc
    if mode == "grad":
        loss, dx = crit.forward_backward(x, t)
    elif mode == "hess":
        loss, dx, hess = crit.forward_backward(x, t, hessian=True)
    else:
        hv = crit.hvp(v)
    _, peak = tracemalloc.get_traced_memory()
    if mode == "hvp":
        grads = hv.nbytes
    else:
        grads = dx.nbytes + crit.linear.weight_grad.nbytes + crit.linear.bias_grad.nbytes
        grads += hess.nbytes if mode == "hess" else 0
    print(json.dumps({"peak": peak, "grads": grads, "loss": float(loss)}))
""")


@pytest.mark.parametrize("mode", ["grad", "hess", "hvp"])
@pytest.mark.parametrize("kind", ["ce", "bce"])
def test_peak_memory_far_below_logits(kind, mode):
    """Peak NumPy allocation of a forward_backward (with hessian=True, or an
    hvp), in a fresh process, minus the arrays it returns: a small fraction
    of the N x C logits."""
    N_, D_, C_ = 1024, 16, 65536
    res = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(N_), str(D_), str(C_), kind,
                          mode], capture_output=True, text=True, check=True)
    got = json.loads(res.stdout)
    logits = N_ * C_ * 4   # 256 MiB in float32
    extra = got["peak"] - got["grads"]
    assert np.isfinite(got["loss"])
    assert extra < logits / 4, (extra, logits)


def test_repr_and_options():
    crit = lf.LinearCrossEntropyLoss(8, 100)
    assert repr(crit) == "LinearCrossEntropyLoss(in_features=8, num_classes=100)"
    crit = lf.LinearCrossEntropyLoss(8, 100, bias=True, label_smoothing=0.1, chunk_size=(4, 5))
    assert repr(crit) == ("LinearCrossEntropyLoss(in_features=8, num_classes=100, bias=True, "
                          "label_smoothing=0.1, chunk_size=(4, 5))")
    crit = lf.LinearBCEWithLogitsLoss(3, 7, reduction="sum", dtype=np.float64)
    assert repr(crit) == ("LinearBCEWithLogitsLoss(in_features=3, num_classes=7, "
                          "dtype=dtype('float64'), reduction='sum')")
    assert crit.linear.weight.dtype == np.float64
    assert repr(crit.linear) == "Linear(in_features=3, out_features=7, bias=False)"
    with pytest.raises(ValueError, match="reduction"):
        lf.LinearBCEWithLogitsLoss(3, 7, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        lf.LinearCrossEntropyLoss(3, 7, label_smoothing=2.0)
    with pytest.raises(ValueError, match="weight"):
        lf.LinearCrossEntropyLoss(3, 7, weight=np.ones(6))


def _module_db_samples():
    """torch's own ModuleInfo samples of nn.LinearCrossEntropyLoss with a flat head
    (out_features == (); K-dimensional heads are not carried and raise ValueError)."""
    try:
        from torch.testing._internal.common_modules import module_db
    except ImportError:  # pragma: no cover - expecttest is in the test extra
        return []
    out = []
    for info in module_db:
        if info.name != "nn.LinearCrossEntropyLoss":
            continue
        samples = info.module_inputs_func(info, device="cpu", dtype=torch.float64,
                                          requires_grad=True, training=True)
        for k, s in enumerate(samples):
            if s.constructor_input.kwargs.get("out_features", ()) == ():
                out.append(pytest.param(s, id=f"sample{k}"))
    return out


MODULE_DB = _module_db_samples()


def test_module_db_has_samples():
    assert len(MODULE_DB) >= 300


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", MODULE_DB)
def test_module_db_sample(sample, dtype):
    """Each torch sample: torch's module (float64, its own weights, its options),
    then ours with those weights copied in; value and all three gradients."""
    import warnings
    kw = dict(sample.constructor_input.kwargs)
    args = sample.constructor_input.args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        mod = torch.nn.LinearCrossEntropyLoss(*args, **kw)
        x, t = (a.detach().clone() for a in sample.forward_input.args)
        x.requires_grad_(True)
        loss = mod(x, t)
        go = torch.rand(loss.shape, dtype=torch.float64) + 0.5
        (loss * go).sum().backward()
    ours = lf.LinearCrossEntropyLoss(
        *args, bias=bool(kw.get("bias", False)), dtype=dtype, reduction=kw["reduction"],
        weight=None if kw.get("weight") is None else kw["weight"].detach().numpy().astype(dtype),
        ignore_index=kw.get("ignore_index"), label_smoothing=kw.get("label_smoothing", 0.0))
    ours.linear.weight = mod.linear.weight.detach().numpy().astype(dtype)
    if mod.linear.bias is not None:
        ours.linear.bias = mod.linear.bias.detach().numpy().astype(dtype)
    tn = t.numpy().astype(dtype) if t.is_floating_point() else t.numpy()
    god = go.numpy().astype(dtype) if kw["reduction"] == "none" else dtype(go.item())
    got, dx = ours.forward_backward(x.detach().numpy().astype(dtype), tn, grad_output=god)
    close(got, loss.detach().numpy(), dtype)
    close(dx, x.grad.numpy(), dtype)
    close(ours.linear.weight_grad, mod.linear.weight.grad.numpy(), dtype)
    if mod.linear.bias is not None:
        close(ours.linear.bias_grad, mod.linear.bias.grad.numpy(), dtype)
