"""Shared helpers for the pylossfn test suite.

The oracles are computed inside the tests: torch 2.13 (CPU) values and autograd
gradients in the same dtype, float64 finite differences, or float64 reference
formulas. No expected number is pasted into a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

torch.set_num_threads(1)

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]

# ---------------------------------------------------------------------------
# Layouts: the same values, laid out in memory in every adversarial way.
# ---------------------------------------------------------------------------

LAYOUTS = [
    "contiguous",
    "fortran",  # column-major; a transposed view of a C array
    "swapaxes",  # axes 0 and 1 swapped in memory, viewed back
    "strided",  # every axis sliced with step 2 out of a larger buffer
    "negative",  # every axis with a negative stride
    "byteswapped",  # non-native byte order
    "readonly",  # write-protected buffer
    "list",  # nested Python lists, converted as np.asarray would
]


def in_layout(a, layout):
    """Return ``a`` (an ndarray) re-laid out as ``layout``; values are identical."""
    a = np.asarray(a)
    if layout == "contiguous":
        return a.copy(order="C")
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "swapaxes":
        if a.ndim < 2:
            return in_layout(a, "strided")
        return np.swapaxes(np.ascontiguousarray(np.swapaxes(a, 0, 1)), 0, 1)
    if layout == "strided":
        if a.ndim == 0:
            return a.copy()
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        assert view.shape == a.shape
        return view
    if layout == "negative":
        if a.ndim == 0:
            return a.copy()
        flipped = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
        return flipped[tuple(slice(None, None, -1) for _ in a.shape)]
    if layout == "byteswapped":
        out = a.astype(a.dtype.newbyteorder("S"))
        return out
    if layout == "readonly":
        out = a.copy()
        out.flags.writeable = False
        return out
    if layout == "list":
        return a.tolist()
    raise AssertionError(layout)


def all_layouts(a):
    """Yield ``(name, array)`` for ``a`` in every layout, with identical values."""
    for name in LAYOUTS:
        yield name, in_layout(a, name)


def layout_ok(layout, dtype):
    """Lists become float64 under np.asarray, so the list layout is float64-only."""
    return layout != "list" or np.dtype(dtype) == np.float64


DTYPE_LAYOUTS = [(d, lay) for d in DTYPES for lay in LAYOUTS if layout_ok(lay, d)]


@pytest.fixture(params=LAYOUTS)
def layout(request):
    return request.param


@pytest.fixture
def rng(request):
    # A per-test seed that is stable across runs but differs between tests.
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# Tolerances and comparison
# ---------------------------------------------------------------------------

BASE_TOL = {
    np.dtype(np.float32): (1e-5, 1e-6),
    np.dtype(np.float64): (1e-10, 1e-12),
}


def assert_close(got, expected, dtype, *, kind="value", err_msg=""):
    """Compare with torch-like tolerances.

    ``kind="value"``: atol = base * max(1, max|expected|) (loss values).
    ``kind="grad"``: atol = base * max|expected| (gradients are often all ~1/N).
    """
    rtol, atol = BASE_TOL[np.dtype(dtype)]
    exp = np.asarray(expected, dtype=np.float64)
    got64 = np.asarray(got).astype(np.float64)
    finite = np.abs(exp[np.isfinite(exp)])
    m = float(finite.max()) if finite.size else 0.0
    scale = max(1.0, m) if kind == "value" else m
    np.testing.assert_allclose(
        got64, exp, rtol=rtol, atol=atol * scale + 1e-300, equal_nan=True, err_msg=err_msg
    )


def check_loss_and_grad(loss, grad, want_loss, want_grad, dtype, reduction):
    """A loss and its single gradient against an oracle's: dtypes, shapes, values."""
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.shape == want_loss.shape
    else:
        assert np.ndim(loss) == 0
    assert grad.shape == want_grad.shape
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype, kind="grad")


def native(a):
    """A C-contiguous native-byte-order copy usable with torch.from_numpy."""
    a = np.asarray(a)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a.copy(order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)


# ---------------------------------------------------------------------------
# The four losses: our two faces and torch's oracle
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss:
    fname: str  # pylossfn.functional / torch.nn.functional name
    cls: str  # pylossfn / torch.nn class name
    target: str  # "float" (BCE family) or "class" (CE/NLL)

    @property
    def torch_fn(self):
        return getattr(TF, self.fname)


BCE = Loss("binary_cross_entropy", "BCELoss", "float")
BCEL = Loss("binary_cross_entropy_with_logits", "BCEWithLogitsLoss", "float")
CE = Loss("cross_entropy", "CrossEntropyLoss", "class")
NLL = Loss("nll_loss", "NLLLoss", "class")
LOSSES = {"bce": BCE, "bcel": BCEL, "ce": CE, "nll": NLL}


def _lf():
    import pylossfn

    return pylossfn


def _F():
    import pylossfn.functional

    return pylossfn.functional


def torch_ref(loss, x, t, *, grad_output=None, **kw):
    """torch value and autograd gradient, computed in x's dtype.

    Returns ``(loss ndarray, grad ndarray)``.
    """
    xn = native(x)
    dtype = xn.dtype
    tt = torch.from_numpy(xn).requires_grad_(True)
    tn = native(t)
    if loss.target == "float" or tn.dtype.kind == "f":
        tgt = torch.from_numpy(tn.astype(dtype))
    else:
        tgt = torch.from_numpy(tn.astype(np.int64))
    tkw = {}
    for k, v in kw.items():
        if k in ("weight", "pos_weight") and v is not None:
            tkw[k] = torch.from_numpy(native(v).astype(dtype))
        else:
            tkw[k] = v
    out = loss.torch_fn(tt, tgt, **tkw)
    if grad_output is None:
        go = torch.ones_like(out)
    else:
        go = torch.from_numpy(native(np.asarray(grad_output, dtype=dtype)))
        go = go.expand(out.shape) if go.dim() == 0 else go
    out.backward(go)
    grad = tt.grad if tt.grad is not None else torch.zeros_like(tt)
    return out.detach().numpy().copy(), grad.numpy().copy()


FACES = ["functional", "module_call", "module_forward", "fused"]


def run_ours(loss, x, t, *, grad_output=None, faces=FACES, **kw):
    """Run pylossfn through each face. Returns {face: (loss, grad or None)}."""
    F = _F()
    lf = _lf()
    out = {}
    for face in faces:
        if face == "functional":
            out[face] = (getattr(F, loss.fname)(x, t, **kw), None)
        elif face == "module_call":
            crit = getattr(lf, loss.cls)(**kw)
            val = crit(x, t)
            g = crit.backward() if grad_output is None else crit.backward(grad_output)
            out[face] = (val, g)
        elif face == "module_forward":
            crit = getattr(lf, loss.cls)(**kw)
            val = crit.forward(x, t)
            g = crit.backward(grad_output=grad_output)
            out[face] = (val, g)
        elif face == "fused":
            crit = getattr(lf, loss.cls)(**kw)
            if grad_output is None:
                val, g = crit.forward_backward(x, t)
            else:
                val, g = crit.forward_backward(x, t, grad_output=grad_output)
            out[face] = (val, g)
        else:
            raise AssertionError(face)
    return out


def check_loss_type(val, dtype, shape, reduction):
    dtype = np.dtype(dtype)
    if reduction == "none":
        assert isinstance(val, (np.ndarray, np.floating)), type(val)
        if np.ndim(val) != 0:
            assert isinstance(val, np.ndarray), type(val)
        assert np.shape(val) == tuple(shape), (np.shape(val), shape)
    else:
        assert isinstance(val, (np.floating, np.ndarray)), type(val)
        assert np.ndim(val) == 0, np.shape(val)
        float(val)
        val.item()
    # byte order is not part of the contract: compare the scalar type
    assert np.asarray(val).dtype.type == dtype.type, (np.asarray(val).dtype, dtype)


def check_grad_type(g, x, dtype):
    assert isinstance(g, np.ndarray), type(g)
    assert g.shape == np.shape(np.asarray(x)), (g.shape, np.shape(x))
    assert g.dtype.type == np.dtype(dtype).type, (g.dtype, dtype)
    if isinstance(x, np.ndarray) and x.size:
        assert not np.shares_memory(g, x), "gradient aliases the input"


def _snapshot(obj):
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return None


def check_against_torch(
    loss,
    x,
    t,
    *,
    oracle_x=None,
    oracle_t=None,
    grad_output=None,
    faces=FACES,
    **kw,
):
    """Run every face of pylossfn and compare value, grad, types with torch.

    ``x``, ``t`` (and arrays in ``kw``) may be in any layout; the oracle uses
    ``oracle_x`` / ``oracle_t`` (default: x / t converted natively).
    """
    dtype = np.dtype(np.asarray(x).dtype.type)  # native byte order
    assert dtype in (np.float32, np.float64)
    ox = np.asarray(x) if oracle_x is None else oracle_x
    ot = np.asarray(t) if oracle_t is None else oracle_t
    okw = {k: (np.asarray(v) if isinstance(v, (list, np.ndarray)) else v) for k, v in kw.items()}
    ogo = None if grad_output is None else np.asarray(grad_output)
    exp_val, exp_grad = torch_ref(loss, ox, ot, grad_output=ogo, **okw)
    reduction = kw.get("reduction", "mean")

    before = {"x": _snapshot(x), "t": _snapshot(t)}
    before.update({k: _snapshot(v) for k, v in kw.items()})
    go_before = _snapshot(grad_output)

    results = run_ours(loss, x, t, grad_output=grad_output, faces=faces, **kw)
    for face, (val, g) in results.items():
        msg = f"{loss.fname} face={face}"
        check_loss_type(val, dtype, exp_val.shape, reduction)
        assert_close(val, exp_val, dtype, kind="value", err_msg=msg + " (loss)")
        if g is not None:
            check_grad_type(g, x, dtype)
            assert_close(g, exp_grad, dtype, kind="grad", err_msg=msg + " (grad)")

    # Inputs are never written.
    for name, snap in before.items():
        if snap is None:
            continue
        cur = x if name == "x" else t if name == "t" else kw[name]
        np.testing.assert_array_equal(cur, snap, err_msg=f"{name} was modified")
    if go_before is not None:
        np.testing.assert_array_equal(grad_output, go_before, err_msg="grad_output modified")
    return results, exp_val, exp_grad


GO_CASES = [
    ("mean", "python_float"),
    ("mean", "np_scalar"),
    ("mean", "0d_array"),
    ("sum", "python_float"),
    ("sum", "np_scalar"),
    ("sum", "0d_array"),
    ("none", "array"),
    ("none", "array_strided"),
    ("none", "array_negative"),
]


def make_grad_output(rng, kind, loss_shape, dtype):
    if kind == "python_float":
        return float(rng.uniform(-3, 3))
    if kind == "np_scalar":
        return np.dtype(dtype).type(rng.uniform(-3, 3))
    if kind == "0d_array":
        return np.array(rng.uniform(-3, 3), dtype=dtype)
    g = rng.uniform(-3, 3, loss_shape).astype(dtype)
    if kind == "array":
        return g
    if kind == "array_strided":
        return in_layout(g, "strided")
    if kind == "array_negative":
        return in_layout(g, "negative")
    raise AssertionError(kind)


# ---------------------------------------------------------------------------
# Error-message helpers
# ---------------------------------------------------------------------------


def has_number(msg, n):
    """True if the integer ``n`` appears in ``msg`` as a standalone number."""
    return re.search(rf"(?<![\d.]){re.escape(str(n))}(?![\d.])", msg) is not None


def has_position(msg, flat, multi=None):
    """True if ``msg`` names the flat position or the multi-index position."""
    if has_number(msg, flat):
        return True
    if multi is not None:
        pat = r"\D+".join(str(i) for i in multi)
        return re.search(rf"(?<!\d){pat}(?!\d)", msg) is not None
    return False
