"""Helpers shared by the test modules: layouts, tolerances, the faces of a loss,
error-message checks.

A plain module, imported by name (``from helpers import ...``), and free of torch
and scikit-learn so that the torch-free tier (``-m "not torch and not sklearn"``)
can use it on Pythons where torch does not exist.  The torch oracles live in
``oracle.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

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
        import torch.nn.functional as TF  # the oracle: only the torch tier asks for it

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
