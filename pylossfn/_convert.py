"""Conversion of non-ndarray arguments, called by the C core.

The core takes exact ``np.ndarray`` objects itself; everything else (lists,
NumPy scalars, Python numbers, ndarray subclasses, objects with
``__array__``) comes here first, as ``np.asarray`` would convert it, with
errors that name the argument.  Exceptions raised by a user's ``__array__``
pass through unchanged.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

# NumPy < 1.24 turns a ragged list into an object array with this warning
# where later NumPy raises ValueError: both are the ragged-input error here
_RaggedWarning: type[Warning] = getattr(
    getattr(np, "exceptions", np), "VisibleDeprecationWarning", Warning
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["as_array", "compute_dtype", "is_half", "widened"]


def as_array(obj: ArrayLike | None, fname: str, name: str) -> NDArray[Any]:
    """Return ``obj`` as an ndarray, or raise naming ``fname`` and ``name``.

    As ``np.asarray(obj)``, but None, strings and masked arrays are refused,
    a ragged list's error names the argument, and Python integers beyond
    int64 are an IndexError (see :func:`_check_integers`).

    >>> from pylossfn._convert import as_array
    >>> as_array([[1, 2]], "f", "x").shape
    (1, 2)
    >>> as_array(None, "f", "x")
    Traceback (most recent call last):
    ...
    TypeError: f: x must be an array, got None
    """
    if obj is None:
        raise TypeError(f"{fname}: {name} must be an array, got None")
    if isinstance(obj, np.ma.MaskedArray):
        # np.asarray would silently drop the mask, and with it the user's intent
        raise TypeError(
            f"{fname}: {name} is a masked array; pass np.ma.filled({name}) or select the "
            "unmasked elements explicitly"
        )
    if isinstance(obj, (list, tuple)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", _RaggedWarning)
                arr = np.asarray(obj)
        except (ValueError, _RaggedWarning) as exc:  # ragged nesting
            raise ValueError(f"{fname}: {name} could not be converted to an array: {exc}") from None
    elif isinstance(obj, (str, bytes)):
        raise TypeError(f"{fname}: {name} must be a numeric array, got {type(obj).__name__}")
    else:
        arr = np.asarray(obj)
    if arr.dtype.kind in "fO" and isinstance(obj, (int, list, tuple)):
        _check_integers(obj, fname, name)
    return arr


def _leaves(obj: Any) -> Any:
    """The scalars of a nested list, in order (lazily: a float list stops at once)."""
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _leaves(item)
    else:
        yield obj


def _check_integers(obj: Any, fname: str, name: str) -> None:
    """IndexError for Python integers that NumPy could only hold as objects or floats.

    NumPy holds an integer beyond uint64 as an object, and one beyond int64
    among smaller ones as a rounded float64: no class index, label or length
    can be that large, so the call fails here, naming the value and where it
    is, before any memory is touched (rather than with a dtype error, or a
    float target read as class probabilities).
    """
    if not all(isinstance(v, (int, np.integer)) for v in _leaves(obj)):
        return  # floats or other objects: the caller's dtype checks decide
    for i, v in enumerate(_leaves(obj)):
        if not -(2**63) <= v < 2**63:
            index = tuple(int(k) for k in np.unravel_index(i, np.shape(obj)))
            where = f" at index {index[0] if len(index) == 1 else index}" if index else ""
            raise IndexError(f"{fname}: {name} holds the integer {v}{where}, which does not fit "
                             "in int64: no class index, label or length can be that large "
                             "(pass floats for real values)")


def is_half(dtype: Any) -> bool:
    """Whether ``dtype`` is float16 or ml_dtypes' bfloat16 (computed in float32).

    bfloat16 is recognized by its descriptor, as the C core does, so that
    ml_dtypes stays optional: a 2-byte user dtype ('V' kind) named bfloat16.

    >>> import numpy as np
    >>> is_half(np.float16), is_half(np.float32), is_half(np.dtype("V2"))
    (True, False, False)
    """
    dt = np.dtype(dtype)
    return dt == np.float16 or (dt.kind == "V" and dt.itemsize == 2 and dt.name == "bfloat16")


def widened(a: Any) -> Any:
    """``a`` as float32 when it is a half array (NumPy's cast: exact), else ``a``."""
    return a.astype(np.float32) if isinstance(a, np.ndarray) and is_half(a.dtype) else a


def compute_dtype(dtype: Any) -> Any:
    """The dtype a call of ``dtype`` runs in: float32 for a half dtype (as the C core does)."""
    return np.dtype(np.float32) if is_half(dtype) else dtype
