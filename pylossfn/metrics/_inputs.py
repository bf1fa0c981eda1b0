"""Input normalisation shared by the metrics, and their warning class."""

# Part of the pylossfn.metrics package, which re-exports the public names (see
# __init__.py); like the rest of it, this module imports nothing beyond numpy and
# two stdlib modules, and its annotations are strings.

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

_AVERAGES = (None, "micro", "macro", "weighted", "samples")


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for the given data and was set by convention.

    Raised, for example, when ``zero_division='warn'`` and a precision has no
    predicted samples (the value is then 0.0), mirroring
    ``sklearn.exceptions.UndefinedMetricWarning``.

    >>> import warnings
    >>> from pylossfn.metrics import UndefinedMetricWarning, precision_score
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     precision_score([0, 1], [0, 0])
    0.0
    >>> caught[0].category is UndefinedMetricWarning
    True
    """

# ----------------------------------------------------------------------------
# Input normalisation.  Every helper takes the public function's name (fn) so
# that messages say where the bad value came from.
# ----------------------------------------------------------------------------


def _asarray(x: "ArrayLike", name: str, fn: str) -> "np.ndarray":
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists, mostly
        raise ValueError(f"{fn}: {name} must be a rectangular array-like ({exc})") from None
    if a.dtype.kind == "O":
        raise TypeError(f"{fn}: {name} must hold numbers, got dtype object")
    return a


def _numeric(x: "ArrayLike", name: str, fn: str) -> "np.ndarray":
    """Real numeric array (bool, int or float); complex/str/object are refused."""
    a = _asarray(x, name, fn)
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"{fn}: {name} must be a real numeric array (bool, int or float), got dtype {a.dtype}"
        )
    return a


def _first(mask: "NDArray[np.bool_]") -> "int | tuple[int, ...]":
    """(index, ...) of the first True in ``mask`` as a tuple or int, for messages."""
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return idx[0] if len(idx) == 1 else idx


def _scores(x: "ArrayLike", name: str, fn: str) -> "np.ndarray":
    """Real scores; NaN has no rank, so it is refused (+-inf is fine)."""
    a = _numeric(x, name, fn)
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        if nan.any():
            where = f" at index {_first(nan)}" if a.ndim else ""
            raise ValueError(f"{fn}: {name} contains NaN{where}")
    return a


def _indicator(a: "np.ndarray", name: str, fn: str) -> "NDArray[np.bool_]":
    """0/1 label-indicator values -> bool array."""
    if a.dtype.kind == "b":
        return a
    if a.dtype.kind not in "iuf":
        raise TypeError(
            f"{fn}: {name} must hold 0/1 label indicators (bool, int or float), "
            f"got dtype {a.dtype}"
        )
    bad = (a != 0) & (a != 1)
    if bad.any():
        i = _first(bad)
        raise ValueError(
            f"{fn}: {name} must contain only 0 and 1 (label indicator format), "
            f"found {a[i]} at index {i}"
        )
    return a != 0


def _labels_1d(a: "np.ndarray", name: str, fn: str) -> "np.ndarray":
    """1-D class labels: bool/int, integral floats or strings."""
    kind = a.dtype.kind
    if kind == "b":
        return a.astype(np.int64)
    if kind in "iuU":
        return a
    if kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            raise ValueError(
                f"{fn}: {name} contains {a[_first(bad)]} at index {_first(bad)}; "
                "class labels must be finite"
            )
        bad = a != np.trunc(a)
        if bad.any():
            raise ValueError(
                f"{fn}: {name} has the non-integer value {a[_first(bad)]} at index "
                f"{_first(bad)}; continuous targets are not class labels"
            )
        return a
    raise TypeError(
        f"{fn}: {name} must hold class labels (bool, int, float or str), got dtype {a.dtype}"
    )


def _column_to_1d(a: "np.ndarray") -> "np.ndarray":
    # scikit-learn reads an (n, 1) array as a column vector of labels.
    return a.ravel() if a.ndim == 2 and a.shape[1] == 1 else a


def _sample_weight(w: "ArrayLike | None", n: int, fn: str) -> "NDArray[np.float64] | None":
    if w is None:
        return None
    a = _numeric(w, "sample_weight", fn)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{fn}: sample_weight must have shape ({n},), got {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{fn}: sample_weight must be finite")
    return a


def _weighted_mean(values: "np.ndarray", w: "NDArray[np.float64] | None", fn: str) -> float:
    if w is None:
        return float(np.mean(values))
    total = w.sum()
    if total == 0:
        raise ValueError(f"{fn}: sample_weight sums to zero, the average is undefined")
    return float(np.dot(values, w) / total)


def _contains(arr: "np.ndarray", value: "object") -> bool:
    """``value in arr`` without numpy's str/number comparison pitfalls."""
    if isinstance(value, (str, bytes)) != (arr.dtype.kind == "U"):
        return False
    try:
        return bool(np.any(arr == value))
    except (TypeError, ValueError):
        return False


def _check_average(average: "object", fn: str, allowed: "tuple[str | None, ...]") -> None:
    if not (average is None or isinstance(average, str)) or average not in allowed:
        raise ValueError(f"{fn}: average must be one of {allowed}, got {average!r}")


def _check_targets(
    y_true: "ArrayLike", y_pred: "ArrayLike", fn: str
) -> "tuple[str, np.ndarray, np.ndarray, np.ndarray]":
    """Classify a (y_true, y_pred) pair as scikit-learn's ``_check_targets`` does.

    Returns ``(kind, present, yt, yp)`` with kind in {'binary', 'multiclass',
    'multilabel'}; ``present`` is the sorted union of labels (column indices for
    multilabel); multilabel targets come back as bool arrays.
    """
    yt = _asarray(y_true, "y_true", fn)
    yp = _asarray(y_pred, "y_pred", fn)
    for a, name in ((yt, "y_true"), (yp, "y_pred")):
        if a.ndim not in (1, 2):
            raise ValueError(
                f"{fn}: {name} must be 1-D class labels or a 2-D label-indicator array, "
                f"got shape {a.shape}"
            )
    yt, yp = _column_to_1d(yt), _column_to_1d(yp)
    if yt.ndim != yp.ndim:
        raise ValueError(
            f"{fn}: cannot mix 1-D class labels and 2-D multilabel indicators "
            f"(y_true has shape {yt.shape}, y_pred has shape {yp.shape})"
        )
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"{fn}: y_true has {yt.shape[0]} samples but y_pred has {yp.shape[0]}")
    if yt.shape[0] == 0:
        raise ValueError(f"{fn}: empty input, at least one sample is required")
    if yt.ndim == 2:
        if yt.shape != yp.shape:
            raise ValueError(f"{fn}: y_true has shape {yt.shape} but y_pred has shape {yp.shape}")
        return (
            "multilabel",
            np.arange(yt.shape[1]),
            _indicator(yt, "y_true", fn),
            _indicator(yp, "y_pred", fn),
        )
    yt, yp = _labels_1d(yt, "y_true", fn), _labels_1d(yp, "y_pred", fn)
    if (yt.dtype.kind == "U") != (yp.dtype.kind == "U"):
        raise TypeError(
            f"{fn}: cannot mix string and numeric labels (y_true {yt.dtype}, y_pred {yp.dtype})"
        )
    present = np.union1d(yt, yp)
    return ("binary" if present.size <= 2 else "multiclass"), present, yt, yp


def _check_zero_division(zero_division: "object", fn: str) -> float:
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, numbers.Real):
        if zero_division in (0, 1):
            return float(zero_division)
        if np.isnan(float(zero_division)):
            return np.nan
    else:
        raise TypeError(
            f"{fn}: zero_division must be 'warn', 0, 1 or np.nan, "
            f"got {type(zero_division).__name__}"
        )
    raise ValueError(f"{fn}: zero_division must be 'warn', 0, 1 or np.nan, got {zero_division!r}")


def _sigmoid(x: "NDArray[np.floating]") -> "NDArray[np.floating]":
    """Logistic function in x's floating dtype, without overflow warnings."""
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out


def _floating(a: "np.ndarray") -> "NDArray[np.floating]":
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _class_axis(ndim: int) -> int:
    return 0 if ndim == 1 else 1


def _class_index_target(
    labels: "ArrayLike", logits_shape: "tuple[int, ...]", fn: str, logits_name: str = "logits",
    name: str = "labels",
) -> "np.ndarray":
    """Integer class targets of ``logits_shape`` without its class axis, in [0, C)."""
    t = _asarray(labels, name, fn)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {name} must hold integer class indices, got dtype {t.dtype}")
    axis = _class_axis(len(logits_shape))
    expected = logits_shape[:axis] + logits_shape[axis + 1 :]
    if t.shape != expected:
        raise ValueError(
            f"{fn}: {name} must have shape {expected} for {logits_name} of shape {logits_shape} "
            f"(classes on axis {axis}), got {t.shape}"
        )
    n_classes = logits_shape[axis]
    bad = (t < 0) | (t >= n_classes)
    if bad.any():
        if t.ndim:
            i = _first(bad)
            raise IndexError(
                f"{fn}: {name} has class {t[i]} at index {i}, "
                f"but {logits_name} has {n_classes} classes"
            )
        raise IndexError(f"{fn}: {name} is class {t}, but {logits_name} has {n_classes} classes")
    return t


def _class_logits(logits: "ArrayLike", fn: str) -> "np.ndarray":
    x = _scores(logits, "logits", fn)
    if x.ndim == 0:
        raise ValueError(
            f"{fn}: logits must have a class axis (1-D (C,) or (N, C, ...)), got a scalar"
        )
    if x.shape[_class_axis(x.ndim)] == 0:
        raise ValueError(f"{fn}: logits has shape {x.shape}, with no classes")
    return x
