"""Helpers shared by the test modules: layouts, tolerances, the faces of a loss,
error-message checks.

A plain module, imported by name (``from helpers import ...``), and free of torch
and scikit-learn so that the torch-free tier (``-m "not torch and not sklearn"``)
can use it on Pythons where torch does not exist.  The torch oracles live in
``oracle.py``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]

# ---------------------------------------------------------------------------
# Layouts: the same values, laid out in memory in every adversarial way.  The
# one list of the suite: the oracle tests run each loss on every layout, and
# test_layouts (ndarray layouts only) compares each bit for bit with the
# contiguous call.
# ---------------------------------------------------------------------------

LAYOUTS = [
    "contiguous",
    "fortran",  # column-major
    "swapaxes",  # axes 0 and 1 swapped in memory, viewed back
    "transposed",  # every axis reversed in memory, viewed back
    "strided",  # every axis sliced with step 2 out of a larger buffer
    "negative",  # every axis with a negative stride
    "byteswapped",  # non-native byte order
    "misaligned",  # data one byte off its alignment
    "readonly",  # write-protected buffer
    "list",  # nested Python lists, converted as np.asarray would
]
# the layouts that are ndarrays of the same dtype (not "list")
ARRAY_LAYOUTS = [name for name in LAYOUTS if name != "list"]


def in_layout(a, layout):
    """Return ``a`` (an ndarray) re-laid out as ``layout``; values are identical."""
    a = np.asarray(a)
    if layout == "contiguous":
        return a.copy(order="C")
    if layout == "fortran":
        return a.copy(order="F")  # (np.asfortranarray would turn 0-d into 1-d)
    if layout == "swapaxes":
        if a.ndim < 2:
            return in_layout(a, "strided")
        return np.swapaxes(np.ascontiguousarray(np.swapaxes(a, 0, 1)), 0, 1)
    if layout == "transposed":
        return a.T.copy(order="C").T
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
    if layout == "misaligned":
        raw = np.empty(a.nbytes + 1, np.uint8)
        out = raw[1:].view(a.dtype).reshape(a.shape)
        out[...] = a
        assert a.dtype.itemsize == 1 or a.size == 0 or not out.flags.aligned
        return out
    if layout == "readonly":
        out = a.copy()
        out.flags.writeable = False
        return out
    if layout == "list":
        return a.tolist()
    raise AssertionError(layout)


def broadcast_rows(a):
    """Every row equal to the first one, as a stride-0 view (np.broadcast_to):
    not a layout of the same values, so its callers compare it with a contiguous
    copy of itself."""
    a = np.asarray(a)
    return np.broadcast_to(a[:1], a.shape) if a.ndim else a


def all_layouts(a):
    """Yield ``(name, array)`` for ``a`` in every layout, with identical values."""
    for name in LAYOUTS:
        yield name, in_layout(a, name)


def layout_ok(layout, dtype):
    """Lists become float64 under np.asarray, so the list layout is float64-only."""
    return layout != "list" or np.dtype(dtype) == np.float64


DTYPE_LAYOUTS = [(d, lay) for d in DTYPES for lay in LAYOUTS if layout_ok(lay, d)]


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
    """A C-contiguous native-byte-order copy usable with torch.from_numpy (the one
    conversion of the suite's oracles)."""
    a = np.asarray(a)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a.copy(order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)


FACES = ["functional", "module_call", "module_forward", "fused"]


def run_ours(loss, x, t, *, grad_output=None, faces=FACES, **kw):
    """Run pylossfn (the loss_table row `loss`) through each face.
    Returns {face: (loss, grad or None)}."""
    out = {}
    for face in faces:
        if face == "functional":
            out[face] = (loss.fn(x, t, **kw), None)
        elif face == "module_call":
            crit = loss.cls(**kw)
            val = crit(x, t)
            g = crit.backward() if grad_output is None else crit.backward(grad_output)
            out[face] = (val, g)
        elif face == "module_forward":
            crit = loss.cls(**kw)
            val = crit.forward(x, t)
            g = crit.backward(grad_output=grad_output)
            out[face] = (val, g)
        elif face == "fused":
            crit = loss.cls(**kw)
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


# ---------------------------------------------------------------------------
# Metric references that scikit-learn lacks
# ---------------------------------------------------------------------------


def one_error_reference(y_true, y_score, sample_weight=None):
    """One-error by brute force, sample by sample and label by label: a sample is
    wrong when any label scored at its maximum is not true (ties count against)."""
    errors = []
    for t, s in zip(np.asarray(y_true).tolist(), np.asarray(y_score).tolist()):
        top = max(s)
        errors.append(float(any(not t[k] for k in range(len(s)) if s[k] == top)))
    return float(np.average(errors, weights=sample_weight))


def ulp(v, dtype):
    """The spacing of the half dtype (float16, else bfloat16) at |v| (its smallest
    subnormal's near 0): the unit of the half tests' tolerance and of
    benchmarks/bench_all.py's max diff."""
    emin, mant = (-14, 10) if np.dtype(dtype) == np.float16 else (-126, 7)
    a = np.abs(np.asarray(v, np.float64))
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.maximum(a, 2.0**emin)))
    return 2.0 ** (e - mant)


def load_tool(name):
    """tools/<name>.py of the checkout as a module: the generators whose output the
    tests compare with the checked-in files (the stub, the API pages)."""
    path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
