"""Conversion of non-ndarray arguments, called by the C core.

The core takes exact ``np.ndarray`` objects itself; everything else (lists,
NumPy scalars, Python numbers, ndarray subclasses, objects with
``__array__``) comes here first, as ``np.asarray`` would convert it, with
errors that name the argument.  Exceptions raised by a user's ``__array__``
pass through unchanged.
"""
import numpy as np

__all__ = ["as_array"]


def as_array(obj, fname, name):
    """Return ``obj`` as an ndarray, or raise naming ``fname`` and ``name``."""
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
            return np.asarray(obj)
        except ValueError as exc:  # ragged nesting
            raise ValueError(f"{fname}: {name} could not be converted to an array: {exc}") from None
    if isinstance(obj, (str, bytes)):
        raise TypeError(f"{fname}: {name} must be a numeric array, got {type(obj).__name__}")
    return np.asarray(obj)
