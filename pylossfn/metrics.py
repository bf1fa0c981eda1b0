"""Accuracy and multi-label classification metrics, in plain NumPy.

Two families live here.

*From scores, torch style.* :func:`binary_accuracy`, :func:`accuracy`,
:func:`top_k_accuracy`, :func:`multilabel_predictions`,
:func:`multiclass_predictions` and :func:`one_hot` take the raw outputs of a
model (``logits``) the way ``torch.nn`` losses do: the class dimension is
axis 1 when ``logits.ndim >= 2`` and axis 0 for a 1-D input; class targets are
integer indices in ``[0, C)``.  Accuracies over nothing (an empty batch) are
``nan``, as a torch mean over nothing is.

*Set-wise and ranking metrics, scikit-learn style.* :func:`subset_accuracy`,
:func:`hamming_loss`, :func:`precision_score`, :func:`recall_score`,
:func:`f1_score`, :func:`average_precision_score`,
:func:`label_ranking_average_precision_score`, :func:`coverage_error` and
:func:`label_ranking_loss` keep the signatures, defaults and numbers of their
``sklearn.metrics`` namesakes (scikit-learn 1.9); :func:`one_error`, which
scikit-learn lacks, follows their conventions.  Targets are either 1-D class
labels (binary or multiclass) or 2-D label-indicator arrays of 0/1 values of
shape ``(n_samples, n_labels)``.  As in scikit-learn, a 2-D array with a single
column is a *column vector*: it is read as 1-D labels, so with one label
``average='macro'`` averages over the two classes 0 and 1.

Conventions shared by every function:

- Inputs are array-likes, converted as :func:`numpy.asarray` would.  Scores may
  be bool, integer or floating; NaN scores raise :class:`ValueError` (they have
  no rank), while ``+-inf`` are ranked like any other value.
- Undefined values (a precision with no predicted samples, an average
  precision with no positive samples, ...) follow scikit-learn's value and emit
  an :class:`UndefinedMetricWarning`, a :class:`UserWarning` subclass.
- Bad input raises :class:`ValueError` (values, shapes) or :class:`TypeError`
  (dtypes) whose message starts with the function's name and names the
  argument; class indices outside ``[0, C)`` raise :class:`IndexError`.
- Scalar results are Python floats; per-label results are float64 arrays.
"""

import numbers
import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Annotations are strings (this module imports nothing beyond numpy and two
# stdlib modules, not even typing), so they cost nothing at run time on any
# Python >= 3.9; a bare np.ndarray means "any dtype".

__all__ = [
    "MultilabelConfusion",
    "RankingStats",
    "UndefinedMetricWarning",
    "accuracy",
    "average_precision_score",
    "binary_accuracy",
    "coverage_error",
    "f1_score",
    "hamming_loss",
    "label_ranking_average_precision_score",
    "label_ranking_loss",
    "multiclass_predictions",
    "multilabel_predictions",
    "one_error",
    "one_hot",
    "precision_score",
    "recall_score",
    "subset_accuracy",
    "top_k_accuracy",
]

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


# ----------------------------------------------------------------------------
# Torch-style metrics on logits.
# ----------------------------------------------------------------------------


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


def binary_accuracy(logits: "ArrayLike", target: "ArrayLike", threshold: float = 0.5) -> float:
    r"""Fraction of binary (or multi-label) decisions taken from logits that are right.

    .. math::
        \mathrm{acc} = \frac{1}{M}\sum_{i=1}^{M}
            \big[\,[\sigma(x_i) > \tau] = y_i\,\big]

    over all ``M`` elements, with :math:`\sigma` the logistic sigmoid computed
    in the logits' floating dtype (integers are promoted to float64).  For the
    default ``threshold=0.5`` this is exactly
    ``(torch.round(torch.sigmoid(logits)) == target).float().mean()``: rounding
    is half-to-even, so ``sigmoid(0) = 0.5`` rounds to 0 and a logit of exactly
    0 predicts the negative class.  The same strict ``>`` is used for every
    threshold (as Keras' ``binary_accuracy`` does), so ``threshold=0`` predicts
    1 unless the sigmoid underflows to 0, and ``threshold=1`` always predicts 0.

    Parameters
    ----------
    logits : array_like, any shape
        Raw scores (before the sigmoid), bool, integer or floating; no NaN.
    target : array_like, same shape as ``logits``
        0/1 values (bool, integer or floating).
    threshold : float in [0, 1], default 0.5
        Probability above which an element is predicted positive.

    Returns
    -------
    float
        Accuracy in [0, 1]; ``nan`` for empty inputs.

    Examples
    --------
    >>> binary_accuracy([[2.0, -1.0], [0.0, 3.0]], [[1, 0], [1, 1]])
    0.75
    >>> binary_accuracy([-0.5, 0.5], [1, 1], threshold=0.3)
    1.0
    """
    fn = "binary_accuracy"
    x = _floating(_scores(logits, "logits", fn))
    t = _indicator(_asarray(target, "target", fn), "target", fn)
    if t.shape != x.shape:
        raise ValueError(f"{fn}: target has shape {t.shape} but logits has shape {x.shape}")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"{fn}: threshold must be a real number, got {type(threshold).__name__}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"{fn}: threshold must be in [0, 1], got {threshold!r}")
    if x.size == 0:
        return float("nan")
    pred = _sigmoid(np.atleast_1d(x)) > threshold
    return float(np.count_nonzero(pred == np.atleast_1d(t)) / x.size)


def accuracy(logits: "ArrayLike", labels: "ArrayLike") -> float:
    r"""Multiclass accuracy of the arg-max class.

    .. math::
        \mathrm{acc} = \frac{1}{N}\sum_{n} \big[\operatorname{argmax}_c x_{n,c} = y_n\big]

    The class axis follows torch: axis 1 for ``logits.ndim >= 2``, axis 0 for a
    single 1-D sample.  Ties go to the lowest class index (``np.argmax`` and
    ``torch.argmax`` both do this); note that :func:`top_k_accuracy` breaks
    ties the other way, as scikit-learn does.

    Parameters
    ----------
    logits : array_like, shape (C,), (N, C) or (N, C, d1, ..., dk)
        Class scores (any real dtype; no NaN).
    labels : array_like of int, shape (), (N,) or (N, d1, ..., dk)
        Class indices in ``[0, C)``, any integer dtype.

    Returns
    -------
    float
        Accuracy in [0, 1]; ``nan`` when there are no samples.

    Examples
    --------
    >>> accuracy([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]], [1, 2])
    0.5
    """
    fn = "accuracy"
    x = _class_logits(logits, fn)
    t = _class_index_target(labels, x.shape, fn)
    if t.size == 0:
        return float("nan")
    pred = np.argmax(x, axis=_class_axis(x.ndim))
    return float(np.count_nonzero(pred == t) / t.size)


def top_k_accuracy(logits: "ArrayLike", labels: "ArrayLike", k: int = 5) -> float:
    r"""Fraction of samples whose true class is among the ``k`` highest scores.

    .. math::
        \mathrm{acc@k} = \frac{1}{N}\sum_n \big[\,r_n < k\,\big],\quad
        r_n = \#\{c : x_{n,c} > x_{n,y_n}\}
              + \#\{c > y_n : x_{n,c} = x_{n,y_n}\}

    Ties are broken as ``sklearn.metrics.top_k_accuracy_score`` breaks them:
    among equal scores the *higher* class index ranks first (scikit-learn
    reverses a stable ascending sort), so a true class tied with a class of
    higher index may fall out of the top ``k``.  The result therefore equals
    ``top_k_accuracy_score(labels, logits, k=k, labels=range(C))`` whenever
    scikit-learn accepts those inputs (it needs ``C >= 3``).  No sort is
    done: the rank is counted in O(N C).

    Parameters
    ----------
    logits : array_like, shape (C,), (N, C) or (N, C, d1, ..., dk)
        Class scores on axis 1 (axis 0 for 1-D); no NaN.
    labels : array_like of int, shape (), (N,) or (N, d1, ..., dk)
        Class indices in ``[0, C)``.
    k : int >= 1, default 5
        Number of top classes considered.  ``k >= C`` gives 1.0 and, as in
        scikit-learn, an :class:`UndefinedMetricWarning`.

    Returns
    -------
    float
        Top-k accuracy in [0, 1]; ``nan`` when there are no samples.

    Examples
    --------
    >>> scores = [[0.5, 0.2, 0.2, 0.1], [0.3, 0.4, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]]
    >>> top_k_accuracy(scores, [0, 2, 0], k=2)
    0.3333333333333333
    >>> top_k_accuracy(scores, [0, 2, 0], k=3)
    0.6666666666666666
    """
    fn = "top_k_accuracy"
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{fn}: k must be an integer, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"{fn}: k must be >= 1, got {k}")
    x = _class_logits(logits, fn)
    t = _class_index_target(labels, x.shape, fn)
    axis = _class_axis(x.ndim)
    n_classes = x.shape[axis]
    if k >= n_classes:
        warnings.warn(
            f"{fn}: k ({k}) greater than or equal to the number of classes ({n_classes}) "
            "will result in a perfect score and is therefore meaningless.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    if t.size == 0:
        return float("nan")
    te = np.expand_dims(t, axis)
    s_true = np.take_along_axis(x, te, axis=axis)
    classes = np.arange(n_classes).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    rank = np.count_nonzero(x > s_true, axis=axis)
    rank += np.count_nonzero((x == s_true) & (classes > te), axis=axis)
    return float(np.count_nonzero(rank < k) / t.size)


# ----------------------------------------------------------------------------
# Scores -> labels.
# ----------------------------------------------------------------------------


def multilabel_predictions(logits: "ArrayLike", threshold: "ArrayLike" = 0.0) -> "NDArray[np.int64]":
    r"""Multi-label (or binary) decisions from logits: ``(logits > threshold)`` as int64.

    .. math:: \hat y_{n,l} = [\,x_{n,l} > t_l\,]

    With the default ``threshold=0.0`` a label is predicted when its sigmoid
    probability exceeds 0.5 (a logit of exactly 0 is negative, as in
    :func:`binary_accuracy`).  The comparison is made in logit space, so for
    logits so close to 0 that the sigmoid rounds to exactly 0.5 (below about
    3e-8 in float32, 1e-16 in float64) this predicts 1 where
    ``round(sigmoid(x))`` and :func:`binary_accuracy` predict 0.

    Parameters
    ----------
    logits : array_like, any shape
        Raw scores; no NaN.
    threshold : float or array_like, default 0.0
        Threshold in logit space; an array (for example one threshold per
        label, shape ``(L,)``) must broadcast to ``logits.shape``.

    Returns
    -------
    ndarray of int64, shape of ``logits``
        0/1 predictions, ready for :func:`precision_score` and friends.

    Examples
    --------
    >>> multilabel_predictions([[1.5, -0.2, 0.0], [-3.0, 0.1, 2.0]])
    array([[1, 0, 0],
           [0, 1, 1]])
    >>> multilabel_predictions([[1.5, -0.2, 0.0]], threshold=[2.0, -1.0, -1.0])
    array([[0, 1, 1]])
    """
    fn = "multilabel_predictions"
    x = _scores(logits, "logits", fn)
    thr = _scores(threshold, "threshold", fn)
    try:
        shape = np.broadcast_shapes(x.shape, thr.shape)
    except ValueError:
        shape = None
    if shape != x.shape:
        raise ValueError(
            f"{fn}: threshold of shape {thr.shape} does not broadcast to logits of shape {x.shape}"
        )
    return (x > thr).astype(np.int64)


def multiclass_predictions(logits: "ArrayLike") -> "NDArray[np.int64]":
    r"""Predicted class indices: arg-max over the class axis, as int64.

    .. math:: \hat y_n = \operatorname{argmax}_c x_{n,c}

    The class axis is 1 for ``logits.ndim >= 2`` and 0 for 1-D input (torch's
    convention); ties go to the lowest index, as in :func:`accuracy`.

    Parameters
    ----------
    logits : array_like, shape (C,), (N, C) or (N, C, d1, ..., dk)
        Class scores; no NaN.

    Returns
    -------
    ndarray of int64, shape (), (N,) or (N, d1, ..., dk)
        Class indices.

    Examples
    --------
    >>> multiclass_predictions([[0.1, 2.0, -1.0], [3.0, 0.0, 3.0]])
    array([1, 0])
    """
    x = _class_logits(logits, "multiclass_predictions")
    return np.argmax(x, axis=_class_axis(x.ndim)).astype(np.int64)


def one_hot(labels: "ArrayLike", num_classes: int = -1) -> "NDArray[np.int64]":
    r"""One-hot encoding of integer class indices, as ``torch.nn.functional.one_hot``.

    .. math:: o_{\ldots,c} = [\,y_{\ldots} = c\,]

    Parameters
    ----------
    labels : array_like of int, any shape
        Class indices in ``[0, num_classes)``.
    num_classes : int, default -1
        Number of classes; -1 infers ``labels.max() + 1`` (an error for empty
        ``labels``, as in torch).

    Returns
    -------
    ndarray of int64, shape ``labels.shape + (num_classes,)``

    Examples
    --------
    >>> one_hot([0, 2, 1], 3)
    array([[1, 0, 0],
           [0, 0, 1],
           [0, 1, 0]])
    """
    fn = "one_hot"
    t = _asarray(labels, "labels", fn)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: labels must hold integer class indices, got dtype {t.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"{fn}: num_classes must be an integer, got {type(num_classes).__name__}")
    if num_classes < -1:
        raise ValueError(f"{fn}: num_classes must be -1 (infer) or >= 0, got {num_classes}")
    if t.size and t.min() < 0:
        i = _first(t < 0) if t.ndim else ()
        raise IndexError(
            f"{fn}: labels has the negative class {t.min() if not t.ndim else t[i]} at index {i}"
        )
    if num_classes == -1:
        if t.size == 0:
            raise ValueError(f"{fn}: cannot infer num_classes from empty labels; pass num_classes")
        num_classes = int(t.max()) + 1
    elif t.size and t.max() >= num_classes:
        bad = t >= num_classes
        i = _first(bad) if t.ndim else ()
        raise IndexError(
            f"{fn}: labels has class {t[i]} at index {i}, but num_classes is {num_classes}"
        )
    return (t[..., None] == np.arange(num_classes)).astype(np.int64)


# ----------------------------------------------------------------------------
# Set-wise metrics (sklearn.metrics semantics).
# ----------------------------------------------------------------------------


def subset_accuracy(
    y_true: "ArrayLike", y_pred: "ArrayLike", *, normalize: bool = True,
    sample_weight: "ArrayLike | None" = None,
) -> float:
    r"""Subset accuracy: a sample counts only if *all* its labels are right.

    Same numbers as ``sklearn.metrics.accuracy_score``:

    .. math::
        \mathrm{acc} = \frac{\sum_n w_n\,[\hat Y_n = Y_n]}{\sum_n w_n}

    where for 2-D label indicators :math:`[\hat Y_n = Y_n]` requires the whole
    row to match, and for 1-D class labels it is plain accuracy.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n_samples,) or (n_samples, n_labels)
        Class labels, or 0/1 label indicators (bool, int or float).
    normalize : bool, default True
        If False, return the (weighted) number of correct samples instead.
    sample_weight : array_like, shape (n_samples,), default None
        Per-sample weights.

    Returns
    -------
    float

    Examples
    --------
    >>> subset_accuracy([[1, 0, 1], [0, 1, 0]], [[1, 0, 1], [0, 1, 1]])
    0.5
    >>> subset_accuracy([0, 1, 2, 2], [0, 2, 2, 2], normalize=False)
    3.0
    """
    fn = "subset_accuracy"
    kind, _, yt, yp = _check_targets(y_true, y_pred, fn)
    w = _sample_weight(sample_weight, yt.shape[0], fn)
    correct = ~np.any(yt != yp, axis=1) if kind == "multilabel" else yt == yp
    if normalize:
        return _weighted_mean(correct, w, fn)
    return float(np.count_nonzero(correct) if w is None else np.dot(correct, w))


def hamming_loss(
    y_true: "ArrayLike", y_pred: "ArrayLike", *, sample_weight: "ArrayLike | None" = None
) -> float:
    r"""Fraction of labels that are wrong, as ``sklearn.metrics.hamming_loss``.

    .. math::
        \mathrm{HL} = \frac{1}{L\,\sum_n w_n}\sum_n w_n
            \sum_{l=1}^{L} [\hat y_{n,l} \ne y_{n,l}]

    with ``L = 1`` for 1-D class labels (then it is ``1 - accuracy``).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n_samples,) or (n_samples, n_labels)
        Class labels, or 0/1 label indicators.
    sample_weight : array_like, shape (n_samples,), default None

    Returns
    -------
    float
        In [0, 1]; lower is better.

    Examples
    --------
    >>> hamming_loss([[0, 1], [1, 1]], [[0, 0], [0, 0]])
    0.75
    """
    fn = "hamming_loss"
    kind, _, yt, yp = _check_targets(y_true, y_pred, fn)
    w = _sample_weight(sample_weight, yt.shape[0], fn)
    if kind == "multilabel":
        wrong = np.count_nonzero(yt != yp, axis=1) / yt.shape[1]
    else:
        wrong = yt != yp
    return _weighted_mean(wrong, w, fn)


def _warn_prf(average: "str | None", modifier: str, msg_start: str, result_size: int) -> None:
    # scikit-learn's wording, so that messages can be compared one to one.
    axis0, axis1 = ("label", "sample") if average == "samples" else ("sample", "label")
    where = "due to" if result_size == 1 else f"in {axis1}s with"
    warnings.warn(
        f"{msg_start} ill-defined and being set to 0.0 {where} no {modifier} {axis0}s. "
        "Use `zero_division` parameter to control this behavior.",
        UndefinedMetricWarning,
        stacklevel=6,  # user -> precision_score -> _prf -> _prf_finish -> _divide -> here
    )


def _divide(
    num: "ArrayLike", den: "np.ndarray", metric: str, modifier: str, average: "str | None",
    warn: bool, zero_value: float,
) -> "NDArray[np.float64]":
    mask = den == 0
    result = np.asarray(num, dtype=np.float64) / np.where(mask, 1, den).astype(np.float64)
    if mask.any():
        result[mask] = zero_value
        if warn:
            _warn_prf(average, modifier, f"{metric.capitalize()} is", result.shape[0])
    return result


def _nanaverage(a: "NDArray[np.float64]", weights: "ArrayLike | None") -> float:
    """Mean ignoring NaN (the zero_division=np.nan entries); scikit-learn's rule.

    If the remaining weights sum to zero the plain mean is used.
    """
    keep = ~np.isnan(a)
    if a.size == 0 or not keep.any():
        return np.nan
    a = a[keep]
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)[keep]
        total = w.sum()
        if total != 0:
            return float(np.dot(a, w) / total)
    return float(np.mean(a))


def _multilabel_columns(labels: "ArrayLike", n_labels: int, fn: str) -> "np.ndarray":
    cols = _asarray(labels, "labels", fn)
    if cols.ndim != 1 or cols.size == 0:
        raise ValueError(
            f"{fn}: labels must be a non-empty 1-D list of column indices, got shape {cols.shape}"
        )
    if cols.dtype.kind not in "iu":
        raise TypeError(
            f"{fn}: labels must be integer column indices for multilabel targets, "
            f"got dtype {cols.dtype}"
        )
    bad = (cols < 0) | (cols >= n_labels)
    if bad.any():
        raise ValueError(
            f"{fn}: all labels must be in [0, {n_labels}) for multilabel targets, "
            f"got {cols[_first(bad)]}"
        )
    return cols


def _select_labels_1d(labels: "ArrayLike", present: "np.ndarray", fn: str) -> "np.ndarray":
    sel = _labels_1d(_asarray(labels, "labels", fn), "labels", fn)
    if sel.ndim != 1 or sel.size == 0:
        raise ValueError(f"{fn}: labels must be a non-empty 1-D array-like, got shape {sel.shape}")
    if (sel.dtype.kind == "U") != (present.dtype.kind == "U"):
        raise TypeError(
            f"{fn}: labels ({sel.dtype}) and the targets ({present.dtype}) mix strings and numbers"
        )
    return sel


def _prf(
    fn: str, y_true: "ArrayLike", y_pred: "ArrayLike", *, beta: float, labels: "ArrayLike | None",
    pos_label: "float | str", average: "str | None", sample_weight: "ArrayLike | None",
    zero_division: "str | float", warn_for: "tuple[str, ...]",
) -> "tuple":
    """Precision, recall and F-beta as sklearn's precision_recall_fscore_support."""
    zero_value = _check_zero_division(zero_division, fn)
    _check_average(average, fn, _AVERAGES + ("binary",))
    kind, present, yt, yp = _check_targets(y_true, y_pred, fn)
    w = _sample_weight(sample_weight, yt.shape[0], fn)

    if average == "binary":
        if kind != "binary":
            options = [a for a in _AVERAGES if not (kind == "multiclass" and a == "samples")]
            raise ValueError(
                f"{fn}: target is {kind} but average='binary'; "
                f"choose another average setting, one of {options}"
            )
        # an absent pos_label is allowed only when one class is present (then
        # its scores are undefined), as in scikit-learn
        mismatch = isinstance(pos_label, str) != (present.dtype.kind == "U")
        if not _contains(present, pos_label) and (present.size >= 2 or mismatch):
            raise ValueError(
                f"{fn}: pos_label={pos_label!r} is not a valid label, "
                f"it should be one of {present.tolist()}"
            )
        labels = [pos_label]
    elif pos_label not in (None, 1):
        warnings.warn(
            f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
            f"(got {average!r}). You may use labels=[pos_label] to specify a single "
            "positive class.",
            UserWarning,
            stacklevel=3,
        )

    if kind == "multilabel":
        if labels is not None:
            cols = _multilabel_columns(labels, yt.shape[1], fn)
            yt, yp = yt[:, cols], yp[:, cols]
        both = yt & yp
        if average == "samples":
            tp, ps, ts = (np.count_nonzero(a, axis=1) for a in (both, yp, yt))
            if w is not None:
                tp, ps, ts = tp * w, ps * w, ts * w
        elif w is None:
            tp, ps, ts = (np.count_nonzero(a, axis=0) for a in (both, yp, yt))
        else:
            tp, ps, ts = (w @ a for a in (both, yp, yt))
    else:
        if average == "samples":
            raise ValueError(
                f"{fn}: samplewise metrics are not available outside of multilabel classification"
            )
        sel = present if labels is None else _select_labels_1d(labels, present, fn)
        every = np.union1d(present, sel)  # sorted codebook
        ti, pi = np.searchsorted(every, yt), np.searchsorted(every, yp)
        hit = ti == pi
        tp = np.bincount(ti[hit], weights=None if w is None else w[hit], minlength=every.size)
        ps = np.bincount(pi, weights=w, minlength=every.size)
        ts = np.bincount(ti, weights=w, minlength=every.size)
        idx = np.searchsorted(every, sel)
        tp, ps, ts = tp[idx], ps[idx], ts[idx]

    return _prf_finish(tp, ps, ts, average, w, beta, zero_division, zero_value, warn_for)


def _prf_finish(
    tp: "np.ndarray", ps: "np.ndarray", ts: "np.ndarray", average: "str | None",
    w: "NDArray[np.float64] | None", beta: float, zero_division: "str | float",
    zero_value: float, warn_for: "tuple[str, ...]",
) -> "tuple":
    """Precision, recall and F-beta from per-label (or per-sample) counts.

    Shared by :func:`_prf` and :class:`MultilabelConfusion`, so that the
    streaming state divides and averages exactly as the functions do.
    """
    if average == "micro":
        tp, ps, ts = (np.atleast_1d(a.sum()) for a in (tp, ps, ts))

    warn = zero_division == "warn"
    precision = _divide(
        tp, ps, "precision", "predicted", average, warn and "precision" in warn_for, zero_value
    )
    recall = _divide(tp, ts, "recall", "true", average, warn and "recall" in warn_for, zero_value)
    beta2 = beta * beta
    f_score = _divide(
        (1 + beta2) * np.asarray(tp, dtype=np.float64),
        beta2 * np.asarray(ts, dtype=np.float64) + ps,
        "f-score",
        "true nor predicted",
        average,
        warn and "f-score" in warn_for,
        zero_value,
    )
    if average is None:
        return precision, recall, f_score
    weights = ts if average == "weighted" else (w if average == "samples" else None)
    return tuple(_nanaverage(a, weights) for a in (precision, recall, f_score))


_PRF_PARAMS = """
    Parameters
    ----------
    y_true, y_pred : array_like, shape (n_samples,) or (n_samples, n_labels)
        1-D class labels (bool, int, integral float or str; an ``(n, 1)``
        column counts as 1-D) or 2-D 0/1 label indicators.
    labels : array_like, default None
        Labels to report and average over, in order: class values for 1-D
        targets (absent ones count zero samples), column indices for
        indicators.  Default: every label present in either input, sorted.
        Ignored when ``average='binary'``.
    pos_label : int, float, bool or str, default 1
        The class reported when ``average='binary'``; otherwise ignored (a
        value other than 1 then gives a ``UserWarning``, as in scikit-learn).
    average : {'binary', 'micro', 'macro', 'weighted', 'samples'} or None, default 'binary'
        ``'binary'``: only ``pos_label``, for binary 1-D targets.
        ``'micro'``: pool the counts of every label, then divide.
        ``'macro'``: unweighted mean of the per-label scores.
        ``'weighted'``: mean weighted by support (true count) per label.
        ``'samples'``: per-sample scores over labels, then their (weighted)
        mean; multilabel only.  ``None``: the per-label scores.
    sample_weight : array_like, shape (n_samples,), default None
    zero_division : {'warn', 0, 1, np.nan}, default 'warn'
        Value of an undefined ratio (a zero denominator).  ``'warn'`` gives 0
        and an :class:`UndefinedMetricWarning`; ``np.nan`` entries are left
        out of the averages (all NaN gives NaN).

    Returns
    -------
    float, or ndarray of float64 with shape (n_labels,) when ``average=None``
"""


def precision_score(
    y_true: "ArrayLike",
    y_pred: "ArrayLike",
    *,
    labels: "ArrayLike | None" = None,
    pos_label: "float | str" = 1,
    average: "str | None" = "binary",
    sample_weight: "ArrayLike | None" = None,
    zero_division: "str | float" = "warn",
) -> "float | NDArray[np.float64]":
    fn = "precision_score"
    return _prf(
        fn,
        y_true,
        y_pred,
        beta=1.0,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
        warn_for=("precision",),
    )[0]


precision_score.__doc__ = (
    r"""Precision ``tp / (tp + fp)``, as ``sklearn.metrics.precision_score``.

    .. math::
        P_l = \frac{\sum_n w_n\,[\hat y_{n,l}=1 \wedge y_{n,l}=1]}
                   {\sum_n w_n\,[\hat y_{n,l}=1]}

    per label ``l`` (one-vs-rest for 1-D multiclass labels), then averaged as
    ``average`` says.  Undefined when nothing is predicted for a label.
"""
    + _PRF_PARAMS
    + """
    Examples
    --------
    >>> y_true = [[1, 0, 1], [0, 1, 1], [1, 0, 0]]
    >>> y_pred = [[1, 1, 1], [0, 1, 0], [0, 0, 0]]
    >>> precision_score(y_true, y_pred, average='micro')
    0.75
    >>> precision_score(y_true, y_pred, average=None)
    array([1. , 0.5, 1. ])
    >>> precision_score([0, 1, 1, 0], [0, 1, 0, 1])  # average='binary', pos_label=1
    0.5
    """
)


def recall_score(
    y_true: "ArrayLike",
    y_pred: "ArrayLike",
    *,
    labels: "ArrayLike | None" = None,
    pos_label: "float | str" = 1,
    average: "str | None" = "binary",
    sample_weight: "ArrayLike | None" = None,
    zero_division: "str | float" = "warn",
) -> "float | NDArray[np.float64]":
    fn = "recall_score"
    return _prf(
        fn,
        y_true,
        y_pred,
        beta=1.0,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
        warn_for=("recall",),
    )[1]


recall_score.__doc__ = (
    r"""Recall ``tp / (tp + fn)``, as ``sklearn.metrics.recall_score``.

    .. math::
        R_l = \frac{\sum_n w_n\,[\hat y_{n,l}=1 \wedge y_{n,l}=1]}
                   {\sum_n w_n\,[y_{n,l}=1]}

    per label ``l``, then averaged as ``average`` says.  Undefined when a label
    has no true samples (or, with ``average='samples'``, a sample has no true
    labels).
"""
    + _PRF_PARAMS
    + """
    Examples
    --------
    >>> y_true = [[1, 0, 1], [0, 1, 1], [1, 0, 0]]
    >>> y_pred = [[1, 1, 1], [0, 1, 0], [0, 0, 0]]
    >>> recall_score(y_true, y_pred, average='macro')
    0.6666666666666666
    >>> recall_score(y_true, y_pred, average='samples')
    0.5
    """
)


def f1_score(
    y_true: "ArrayLike",
    y_pred: "ArrayLike",
    *,
    labels: "ArrayLike | None" = None,
    pos_label: "float | str" = 1,
    average: "str | None" = "binary",
    sample_weight: "ArrayLike | None" = None,
    zero_division: "str | float" = "warn",
) -> "float | NDArray[np.float64]":
    fn = "f1_score"
    return _prf(
        fn,
        y_true,
        y_pred,
        beta=1.0,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
        warn_for=("f-score",),
    )[2]


f1_score.__doc__ = (
    r"""F1 score, the harmonic mean of precision and recall, as ``sklearn.metrics.f1_score``.

    .. math::
        F_l = \frac{2\,tp_l}{2\,tp_l + fp_l + fn_l}

    per label (computed from the counts, so it is defined whenever the label
    was predicted or true), then averaged as ``average`` says (a macro-F1 is the
    mean of per-label F1s, not the F1 of the mean precision and recall).
    Undefined only when ``tp + fp + fn = 0``.
"""
    + _PRF_PARAMS
    + """
    Examples
    --------
    >>> y_true = [[1, 0, 1], [0, 1, 1], [1, 0, 0]]
    >>> y_pred = [[1, 1, 1], [0, 1, 0], [0, 0, 0]]
    >>> f1_score(y_true, y_pred, average='micro')
    0.6666666666666666
    >>> f1_score([[0, 1], [0, 1]], [[0, 1], [0, 0]], average=None, zero_division=1.0)
    array([1.        , 0.66666667])
    """
)


# ----------------------------------------------------------------------------
# Ranking metrics.
# ----------------------------------------------------------------------------


def _tie_last(sorted_scores: "np.ndarray") -> "NDArray[np.intp]":
    """Index (along the last axis) of the last member of each element's tie group.

    ``sorted_scores`` is sorted along its last axis; equal neighbours form a
    group and every member points at the group's last position, found with a
    reversed running minimum so that no Python loop runs over samples.
    """
    m = sorted_scores.shape[-1]
    is_last = np.ones(sorted_scores.shape, dtype=bool)
    is_last[..., :-1] = sorted_scores[..., 1:] != sorted_scores[..., :-1]
    last = np.where(is_last, np.arange(m), m)
    return np.minimum.accumulate(last[..., ::-1], axis=-1)[..., ::-1]


def _ap_rows(
    y: "NDArray[np.bool_]", s: "np.ndarray", w: "NDArray[np.float64] | None"
) -> "tuple[NDArray[np.float64], NDArray[np.bool_]]":
    """Step-wise (uninterpolated) average precision of every row.

    ``y`` (R, m) bool, ``s`` (R, m) scores, ``w`` (m,) weights or None.
    AP = sum_t (R_t - R_{t-1}) P_t over distinct thresholds t in decreasing
    order, i.e. every positive contributes the precision measured at the end
    of its tie group.  Rows without positives get 0 (scikit-learn's value).
    """
    order = np.argsort(-s, axis=1, kind="stable")
    ys = np.take_along_axis(y, order, axis=1)
    last = _tie_last(np.take_along_axis(s, order, axis=1))
    if w is None:
        pos = ys.astype(np.float64)
        seen = np.broadcast_to(np.arange(1, y.shape[1] + 1, dtype=np.float64), y.shape)
    else:
        ws = w[order]
        pos = np.where(ys, ws, 0.0)
        seen = np.cumsum(ws, axis=1)
    tps = np.cumsum(pos, axis=1)
    tp_end = np.take_along_axis(tps, last, axis=1)
    seen_end = np.take_along_axis(seen, last, axis=1)
    precision = np.divide(tp_end, seen_end, out=np.zeros_like(tp_end), where=seen_end != 0)
    total = tps[:, -1]
    gain = np.sum(pos * precision, axis=1)
    ap = np.divide(gain, total, out=np.zeros_like(gain), where=total != 0)
    return np.maximum(ap, 0.0), total == 0


def _warn_no_positive(fn: str, no_pos: "NDArray[np.bool_]", what: str) -> None:
    k = int(np.count_nonzero(no_pos))
    if k:
        warnings.warn(
            f"{fn}: no positive class found in y_true for {k} of {no_pos.size} {what}; "
            "recall is undefined there and their average precision is set to 0.",
            UndefinedMetricWarning,
            stacklevel=4,  # the user's call: average_precision_score -> _ap_* -> here
        )


def average_precision_score(
    y_true: "ArrayLike", y_score: "ArrayLike", *, average: "str | None" = "macro",
    pos_label: "float | str" = 1, sample_weight: "ArrayLike | None" = None,
) -> "float | NDArray[np.float64]":
    r"""Average precision (AP) from scores, as ``sklearn.metrics.average_precision_score``.

    .. math::
        \mathrm{AP} = \sum_t (R_t - R_{t-1})\,P_t

    over the distinct score thresholds ``t`` in decreasing order (the
    uninterpolated step-wise sum, not a trapezoid).  Tied scores form a single
    threshold, so all positives of a tie group share the precision measured
    after the whole group; sample order never matters.  A label (or sample,
    for ``average='samples'``) without positives has AP 0 and emits an
    :class:`UndefinedMetricWarning`.

    Parameters
    ----------
    y_true : array_like, shape (n_samples,) or (n_samples, n_labels)
        Binary labels (positive = ``pos_label``), multiclass labels (scored
        one-vs-rest against the sorted unique classes, which must match the
        columns of ``y_score``), or 0/1 label indicators.  An ``(n, 1)``
        column counts as 1-D.
    y_score : array_like, shape (n_samples,) or (n_samples, n_labels)
        Scores, higher meaning more likely positive (logits, probabilities,
        decision values); no NaN.
    average : {'micro', 'macro', 'weighted', 'samples'} or None, default 'macro'
        ``'micro'``: one AP over all (sample, label) pairs.
        ``'macro'``: mean of per-label APs.
        ``'weighted'``: mean of per-label APs weighted by support (0.0 if no
        label has a positive).
        ``'samples'``: mean of per-sample APs over labels.
        ``None``: the per-label APs.  Ignored for binary ``y_true``.
    pos_label : int, float, bool or str, default 1
        Positive class of binary ``y_true``; must be 1 otherwise.
    sample_weight : array_like, shape (n_samples,), default None

    Returns
    -------
    float, or ndarray of float64 with shape (n_labels,) when ``average=None``

    Examples
    --------
    >>> average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.8333333333333333
    >>> y_true = [[1, 0], [0, 1], [1, 1]]
    >>> y_score = [[0.9, 0.2], [0.5, 0.5], [0.3, 0.5]]
    >>> average_precision_score(y_true, y_score, average=None)
    array([0.83333333, 1.        ])
    """
    fn = "average_precision_score"
    _check_average(average, fn, _AVERAGES)
    yt = _column_to_1d(_asarray(y_true, "y_true", fn))
    ys = _scores(y_score, "y_score", fn)
    if yt.ndim not in (1, 2):
        raise ValueError(
            f"{fn}: y_true must be 1-D labels or 2-D label indicators, got shape {yt.shape}"
        )
    if yt.shape[0] == 0:
        raise ValueError(f"{fn}: empty input, at least one sample is required")
    if yt.ndim == 1:
        yt = _labels_1d(yt, "y_true", fn)
        present = np.unique(yt)
        if present.size <= 2:  # binary: average is ignored, as in scikit-learn
            return _ap_binary(yt, ys, present, pos_label, sample_weight, fn)
    if pos_label != 1:
        kind = "multiclass" if yt.ndim == 1 else "multilabel-indicator"
        raise ValueError(f"{fn}: pos_label is fixed to 1 for {kind} y_true, got {pos_label!r}")
    Y = yt[:, None] == present[None, :] if yt.ndim == 1 else _indicator(yt, "y_true", fn)
    if ys.shape != Y.shape:
        raise ValueError(
            f"{fn}: y_score must have shape {Y.shape} (n_samples, n_labels), got {ys.shape}"
        )
    return _ap_averaged(Y, ys, _sample_weight(sample_weight, Y.shape[0], fn), average, fn)


def _ap_binary(
    yt: np.ndarray, ys: np.ndarray, present: np.ndarray, pos_label: "float | str",
    sample_weight: "ArrayLike | None", fn: str,
) -> float:
    """Average precision of binary labels (``average`` does not apply)."""
    if present.size == 2 and not _contains(present, pos_label):
        raise ValueError(
            f"{fn}: pos_label={pos_label!r} is not a valid label, "
            f"it should be one of {present.tolist()}"
        )
    ys = _column_to_1d(ys)
    if ys.shape != yt.shape:
        raise ValueError(
            f"{fn}: y_true is binary with shape {yt.shape}, "
            f"so y_score must have that shape, got {ys.shape}"
        )
    w = _sample_weight(sample_weight, yt.shape[0], fn)
    positive = (
        (yt == pos_label) if _contains(present, pos_label) else np.zeros(yt.shape, bool)
    )
    ap, no_pos = _ap_rows(positive[None], ys[None], w)
    _warn_no_positive(fn, no_pos, "label")
    return float(ap[0])


def _ap_averaged(
    Y: np.ndarray, ys: np.ndarray, w: "NDArray[np.float64] | None", average: "str | None",
    fn: str,
) -> "float | NDArray[np.float64]":
    """Average precision of label indicators Y [n_samples, n_labels], averaged as asked."""
    if average == "micro":
        ap, no_pos = _ap_rows(
            Y.reshape(1, -1), ys.reshape(1, -1), None if w is None else np.repeat(w, Y.shape[1])
        )
        _warn_no_positive(fn, no_pos, "label")
        return float(ap[0])
    if average == "samples":
        ap, no_pos = _ap_rows(Y, ys, None)
        _warn_no_positive(fn, no_pos, "samples")
        if w is None:
            return float(np.mean(ap))
        ap[w == 0] = 0.0
        return _weighted_mean(ap, w, fn)
    support = None
    if average == "weighted":
        support = Y.sum(axis=0, dtype=np.float64) if w is None else w @ Y
        if np.isclose(support.sum(), 0.0):
            return 0.0
    ap, no_pos = _ap_rows(Y.T, ys.T, w)
    _warn_no_positive(fn, no_pos, "labels")
    if average is None:
        return ap
    if support is None:
        return float(np.mean(ap))
    ap[support == 0] = 0.0
    return float(np.average(ap, weights=support))


def _ranking_inputs(
    y_true: "ArrayLike", y_score: "ArrayLike", sample_weight: "ArrayLike | None", fn: str
) -> "tuple[NDArray[np.bool_], np.ndarray, NDArray[np.float64] | None]":
    yt = _asarray(y_true, "y_true", fn)
    if yt.ndim != 2:
        raise ValueError(
            f"{fn}: y_true must be a 2-D label-indicator array (n_samples, n_labels), "
            f"got shape {yt.shape}"
        )
    Y = _indicator(yt, "y_true", fn)
    S = _scores(y_score, "y_score", fn)
    if S.shape != Y.shape:
        raise ValueError(f"{fn}: y_true has shape {Y.shape} but y_score has shape {S.shape}")
    if Y.shape[0] == 0:
        raise ValueError(f"{fn}: empty input, at least one sample is required")
    return Y, S, _sample_weight(sample_weight, Y.shape[0], fn)


def _per_sample_mean(
    rows: "object", fn: str, y_true: "ArrayLike", y_score: "ArrayLike",
    sample_weight: "ArrayLike | None",
) -> float:
    """The (weighted) mean over samples of ``rows(Y, S)``: every per-sample ranking metric."""
    Y, S, w = _ranking_inputs(y_true, y_score, sample_weight, fn)
    return _weighted_mean(rows(Y, S), w, fn)  # type: ignore[operator]


def _ranking_doc(head: str, y_true: str, returns: str, examples: str) -> str:
    """The docstring of a per-sample ranking metric: their parameters are the same."""
    indent = "\n        "
    return (
        f"{head}\n    Parameters\n    ----------\n"
        f"    y_true : array_like, shape (n_samples, n_labels){indent}"
        f"{indent.join(y_true.splitlines())}\n"
        "    y_score : array_like, shape (n_samples, n_labels)\n        Scores; no NaN.\n"
        "    sample_weight : array_like, shape (n_samples,), default None\n\n"
        f"    Returns\n    -------\n    float\n        {returns}\n\n"
        f"    Examples\n    --------{examples}    "
    )


def label_ranking_average_precision_score(
    y_true: "ArrayLike", y_score: "ArrayLike", *, sample_weight: "ArrayLike | None" = None
) -> float:
    return _per_sample_mean(_lrap_rows, "label_ranking_average_precision_score", y_true, y_score,
                            sample_weight)


label_ranking_average_precision_score.__doc__ = _ranking_doc(
    r"""Label ranking average precision (LRAP), as scikit-learn's.

    .. math::
        \mathrm{LRAP} = \frac{1}{\sum_n w_n}\sum_n \frac{w_n}{|Y_n|}
            \sum_{j \in Y_n} \frac{|\{k \in Y_n : s_{n,k} \ge s_{n,j}\}|}
                                  {|\{k : s_{n,k} \ge s_{n,j}\}|}

    with :math:`Y_n` the true labels of sample ``n``.  Ties count against the
    true label (a rank is the number of labels scored *at least* as high).
    A sample whose labels are all true or all false scores 1.
""",
    y_true="""0/1 label indicators (a single column is allowed; it scores 1).""",
    returns="In (0, 1]; higher is better.",
    examples="""
    >>> label_ranking_average_precision_score([[1, 0, 0], [0, 0, 1]],
    ...                                       [[0.75, 0.5, 1], [1, 0.2, 0.1]])
    0.41666666666666663
""",
)


def _lrap_rows(Y: "NDArray[np.bool_]", S: "np.ndarray") -> "NDArray[np.float64]":
    """Per-sample label ranking average precision (see the public function)."""
    order = np.argsort(-S, axis=1, kind="stable")
    ys = np.take_along_axis(Y, order, axis=1)
    last = _tie_last(np.take_along_axis(S, order, axis=1))
    true_above = np.take_along_axis(np.cumsum(ys, axis=1), last, axis=1)
    n_true = np.count_nonzero(Y, axis=1)
    per_label = np.where(ys, true_above / (last + 1.0), 0.0)
    trivial = (n_true == 0) | (n_true == Y.shape[1])
    return np.where(trivial, 1.0, per_label.sum(axis=1) / np.maximum(n_true, 1))


def coverage_error(
    y_true: "ArrayLike", y_score: "ArrayLike", *, sample_weight: "ArrayLike | None" = None
) -> float:
    return _per_sample_mean(_coverage_rows, "coverage_error", y_true, y_score,
                            sample_weight)


coverage_error.__doc__ = _ranking_doc(
    r"""Coverage error, as ``sklearn.metrics.coverage_error``.

    .. math::
        \mathrm{cov} = \frac{1}{\sum_n w_n}\sum_n w_n\,
            \big|\{k : s_{n,k} \ge \min_{j \in Y_n} s_{n,j}\}\big|

    how far down the ranking one must go to cover every true label (ties
    count fully); a sample with no true label contributes 0.  The best value is
    the mean number of true labels per sample.
""",
    y_true="""0/1 label indicators.  scikit-learn refuses a single column; here it
gives the natural value (the fraction of samples whose label is true).""",
    returns="In [0, n_labels]; lower is better.",
    examples="""
    >>> coverage_error([[1, 0, 0], [0, 1, 1]], [[1, 0, 0], [0, 1, 1]])
    1.5
""",
)


def _coverage_rows(Y: "NDArray[np.bool_]", S: "np.ndarray") -> "np.ndarray":
    """Per-sample coverage (see :func:`coverage_error`)."""
    lowest_true = np.where(Y, S, np.inf).min(axis=1, initial=np.inf)
    covered = np.count_nonzero(S >= lowest_true[:, None], axis=1)
    return np.where(Y.any(axis=1), covered, 0)


def label_ranking_loss(
    y_true: "ArrayLike", y_score: "ArrayLike", *, sample_weight: "ArrayLike | None" = None
) -> float:
    return _per_sample_mean(_ranking_loss_rows, "label_ranking_loss", y_true, y_score,
                            sample_weight)


label_ranking_loss.__doc__ = _ranking_doc(
    r"""Ranking loss, as ``sklearn.metrics.label_ranking_loss``.

    .. math::
        \mathrm{RL} = \frac{1}{\sum_n w_n}\sum_n \frac{w_n}{|Y_n|\,|\bar Y_n|}
            \big|\{(j, k) \in Y_n \times \bar Y_n : s_{n,k} \ge s_{n,j}\}\big|

    the fraction of (true, false) label pairs ordered wrongly; ties count as
    wrong.  Samples whose labels are all true or all false contribute 0.
""",
    y_true="""0/1 label indicators.  scikit-learn refuses a single column; here it
gives the natural value 0 (no pair to order).""",
    returns="In [0, 1]; lower is better.",
    examples="""
    >>> label_ranking_loss([[1, 0, 0], [0, 0, 1]], [[0.75, 0.5, 1], [1, 0.2, 0.1]])
    0.75
""",
)


def _ranking_loss_rows(Y: "NDArray[np.bool_]", S: "np.ndarray") -> "NDArray[np.float64]":
    """Per-sample ranking loss (see :func:`label_ranking_loss`)."""
    order = np.argsort(S, axis=1, kind="stable")
    ys = np.take_along_axis(Y, order, axis=1)
    last = _tie_last(np.take_along_axis(S, order, axis=1))
    # for each false label: how many true labels score at most as high
    true_below = np.take_along_axis(np.cumsum(ys, axis=1), last, axis=1)
    wrong_pairs = np.sum(np.where(ys, 0, true_below), axis=1)
    n_true = np.count_nonzero(Y, axis=1)
    pairs = n_true * (Y.shape[1] - n_true)
    return np.divide(wrong_pairs, pairs, out=np.zeros(Y.shape[0]), where=pairs != 0)


def one_error(
    y_true: "ArrayLike", y_score: "ArrayLike", *, sample_weight: "ArrayLike | None" = None
) -> float:
    return _per_sample_mean(_one_error_rows, "one_error", y_true, y_score,
                            sample_weight)


one_error.__doc__ = _ranking_doc(
    r"""One-error: how often the top-ranked label is not a true label.

    .. math::
        \mathrm{OE} = \frac{1}{\sum_n w_n}\sum_n w_n\,
            \big[\{k : s_{n,k} = \max_j s_{n,j}\} \not\subseteq Y_n\big]

    with :math:`Y_n` the true labels of sample ``n`` (Schapire & Singer, 2000;
    the multi-label tables of Zhang & Zhou report it).  Ties count against the
    sample, as in :func:`label_ranking_loss`: when several labels share the
    highest score, the sample is right only if all of them are true.  A sample
    with no true label is always wrong (its top label cannot be true).
""",
    y_true="""0/1 label indicators.""",
    returns="In [0, 1]; lower is better.",
    examples="""
    >>> one_error([[1, 0, 0], [0, 1, 1], [1, 1, 0], [1, 0, 1]],
    ...           [[0.9, 0.5, 0.1], [0.8, 0.1, 0.2], [0.7, 0.7, 0.1], [0.4, 0.4, 0.4]])
    0.5
""",
)


def _one_error_rows(Y: "NDArray[np.bool_]", S: "np.ndarray") -> "NDArray[np.float64]":
    """Per-sample one-error (see :func:`one_error`): 1 if a top-scored label is false."""
    top = S == S.max(axis=1, keepdims=True)
    return np.any(top & ~Y, axis=1).astype(np.float64)


# ----------------------------------------------------------------------------
# Streaming (mergeable) metric states: update batch by batch, merge workers.
# ----------------------------------------------------------------------------


def _batch_weight(sample_weight: "ArrayLike | None", n: int, fn: str) -> "NDArray[np.float64]":
    w = _sample_weight(sample_weight, n, fn)
    return np.ones(n) if w is None else w


class _SampleMean:
    """Mergeable pieces of ``_nanaverage(values, weights)`` over samples whose
    value is either defined or the ``zero_division`` placeholder."""

    __slots__ = ("def_wsum", "def_w", "def_sum", "def_n", "undef_w", "undef_n")

    def __init__(self) -> None:
        self.def_wsum = self.def_w = self.def_sum = self.undef_w = 0.0
        self.def_n = self.undef_n = 0

    def add(self, num: "np.ndarray", den: "np.ndarray", w: "np.ndarray") -> None:
        undefined = den == 0
        value = np.asarray(num, np.float64)[~undefined] / np.asarray(den, np.float64)[~undefined]
        self.def_wsum += float(np.dot(value, w[~undefined]))
        self.def_w += float(w[~undefined].sum())
        self.def_sum += float(value.sum())
        self.def_n += int(value.size)
        self.undef_w += float(w[undefined].sum())
        self.undef_n += int(np.count_nonzero(undefined))

    def merge(self, other: "_SampleMean") -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def mean(self, zero_value: float, weighted: bool) -> float:
        if np.isnan(zero_value):
            if self.def_n == 0:
                return np.nan
            if weighted and self.def_w != 0:
                return self.def_wsum / self.def_w
            return self.def_sum / self.def_n
        if weighted and self.def_w + self.undef_w != 0:
            return (self.def_wsum + zero_value * self.undef_w) / (self.def_w + self.undef_w)
        return (self.def_sum + zero_value * self.undef_n) / (self.def_n + self.undef_n)


class MultilabelConfusion:
    r"""Streaming per-label confusion counts of multi-label predictions.

    The state behind :func:`precision_score`, :func:`recall_score`,
    :func:`f1_score`, :func:`hamming_loss` and :func:`subset_accuracy` for 2-D
    0/1 label indicators, kept as sums that add up batch by batch
    (:meth:`update`) and worker by worker (:meth:`merge`): torchmetrics'
    ``update`` / ``compute`` for NumPy.  After any sequence of updates and
    merges the methods return the numbers the functions return on the
    concatenated batches (up to float rounding of the sums), with every
    ``average`` (``'samples'`` included: per-sample scores are folded into
    sums as they arrive) and every ``zero_division``.

    State, per label ``l`` (weighted by ``sample_weight``, 1 by default):
    ``tp``, ``fp``, ``fn``, ``tn``; per run: ``n_samples``, ``weight_sum``
    and the sums behind the sample averages.  Batches either all pass
    ``sample_weight`` or all omit it (as one concatenated call would).

    .. math::
        tp_l = \sum_n w_n\,[\hat y_{n,l} = 1 \wedge y_{n,l} = 1],\quad
        \mathrm{state}(A \cup B) = \mathrm{state}(A) + \mathrm{state}(B)

    Parameters
    ----------
    n_labels : int, default None
        Number of label columns; taken from the first batch when None.

    Returns
    -------
    MultilabelConfusion
        An empty state; :meth:`update` takes arrays of shape
        ``(n_samples, n_labels)``; the score methods return floats, or
        per-label float64 arrays for ``average=None``.

    Examples
    --------
    >>> import numpy as np
    >>> from pylossfn.metrics import MultilabelConfusion, f1_score
    >>> y_true = np.array([[1, 0, 1], [0, 1, 1], [1, 0, 0], [1, 1, 0]])
    >>> y_pred = np.array([[1, 1, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]])
    >>> a, b = MultilabelConfusion(), MultilabelConfusion()
    >>> a.update(y_true[:3], y_pred[:3])
    >>> b.update(y_true[3:], y_pred[3:])
    >>> a.merge(b).tp
    array([2., 2., 1.])
    >>> a.f1_score(average="micro") == f1_score(y_true, y_pred, average="micro")
    True
    >>> a.hamming_loss()
    0.25
    """

    _FN = "MultilabelConfusion"

    def __init__(self, n_labels: "int | None" = None) -> None:
        self.n_labels = n_labels
        self.n_samples = 0
        self.weight_sum = 0.0
        self.weighted: "bool | None" = None
        self.exact_match = 0.0  # weighted count of rows entirely right
        empty: "NDArray[np.float64]" = np.zeros(0)
        self.tp, self.fp, self.fn, self.tn = empty, empty, empty, empty
        self._samples = {m: _SampleMean() for m in ("precision", "recall", "f-score")}
        if n_labels is not None:
            self._allocate(n_labels)

    def _allocate(self, n_labels: int) -> None:
        self.n_labels = n_labels
        self.tp, self.fp, self.fn, self.tn = (np.zeros(n_labels) for _ in range(4))

    def _check_weighting(self, weighted: bool) -> None:
        if self.weighted is not None and self.weighted != weighted:
            raise ValueError(
                f"{self._FN}: batches must all pass sample_weight or all omit it"
            )
        self.weighted = weighted

    def update(
        self, y_true: "ArrayLike", y_pred: "ArrayLike", sample_weight: "ArrayLike | None" = None
    ) -> None:
        """Add a batch of 0/1 label indicators, shape ``(n_samples, n_labels)``."""
        fn = f"{self._FN}.update"
        yt, yp = _asarray(y_true, "y_true", fn), _asarray(y_pred, "y_pred", fn)
        if yt.ndim != 2 or yp.shape != yt.shape:
            raise ValueError(
                f"{fn}: y_true and y_pred must be 2-D label indicators of one shape, "
                f"got {yt.shape} and {yp.shape}"
            )
        if self.n_labels is None:
            self._allocate(yt.shape[1])
        if yt.shape[1] != self.n_labels:
            raise ValueError(f"{fn}: expected {self.n_labels} labels, got {yt.shape[1]}")
        yt, yp = _indicator(yt, "y_true", fn), _indicator(yp, "y_pred", fn)
        w = _batch_weight(sample_weight, yt.shape[0], fn)
        self._check_weighting(sample_weight is not None)
        both = yt & yp
        if sample_weight is None:  # integer counts: cheaper than float products, exact
            tp, ps, ts = (np.count_nonzero(a, axis=0) for a in (both, yp, yt))
            self.tp += tp
            self.fp += ps - tp
            self.fn += ts - tp
            self.tn += yt.shape[0] - ps - ts + tp
        else:
            self.tp += w @ both
            self.fp += w @ (yp & ~yt)
            self.fn += w @ (yt & ~yp)
            self.tn += w @ ~(yt | yp)
        self.n_samples += yt.shape[0]
        self.weight_sum += float(w.sum())
        self.exact_match += float(np.dot(~np.any(yt != yp, axis=1), w))
        # per-sample counts scaled by w, divided exactly as _prf does
        tp, ps, ts = (np.count_nonzero(a, axis=1) * w for a in (both, yp, yt))
        self._samples["precision"].add(tp, ps, w)
        self._samples["recall"].add(tp, ts, w)
        self._samples["f-score"].add(2.0 * tp, ts + ps, w)

    def merge(self, other: "MultilabelConfusion") -> "MultilabelConfusion":
        """Add ``other``'s counts to this state (in place) and return it."""
        if other.n_samples == 0:
            return self
        if self.n_samples == 0 and self.n_labels is None:
            self._allocate(other.n_labels)  # type: ignore[arg-type]
        if other.n_labels != self.n_labels:
            raise ValueError(
                f"{self._FN}.merge: states have {self.n_labels} and {other.n_labels} labels"
            )
        if other.weighted is not None:
            self._check_weighting(other.weighted)
        for name in ("tp", "fp", "fn", "tn"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.n_samples += other.n_samples
        self.weight_sum += other.weight_sum
        self.exact_match += other.exact_match
        for key, part in other._samples.items():
            self._samples[key].merge(part)
        return self

    def _check_nonempty(self, fn: str) -> None:
        if self.n_samples == 0:
            raise ValueError(f"{fn}: no samples were added, the metric is undefined")

    def _score(
        self, fn: str, which: int, average: "str | None", zero_division: "str | float"
    ) -> "float | NDArray[np.float64]":
        zero_value = _check_zero_division(zero_division, fn)
        _check_average(average, fn, _AVERAGES)
        self._check_nonempty(fn)
        metric = ("precision", "recall", "f-score")[which]
        if average == "samples":
            part = self._samples[metric]
            if part.undef_n and zero_division == "warn":
                modifier = ("predicted", "true", "true nor predicted")[which]
                _warn_prf("samples", modifier, f"{metric.capitalize()} is", self.n_samples)
            return float(part.mean(zero_value, bool(self.weighted)))
        tp = self.tp
        ps, ts = tp + self.fp, tp + self.fn
        return _prf_finish(
            tp, ps, ts, average, None, 1.0, zero_division, zero_value, (metric,)
        )[which]

    def precision_score(
        self, average: "str | None" = "micro", zero_division: "str | float" = "warn"
    ) -> "float | NDArray[np.float64]":
        """:func:`precision_score` of everything added (``average`` as there)."""
        return self._score(f"{self._FN}.precision_score", 0, average, zero_division)

    def recall_score(
        self, average: "str | None" = "micro", zero_division: "str | float" = "warn"
    ) -> "float | NDArray[np.float64]":
        """:func:`recall_score` of everything added (``average`` as there)."""
        return self._score(f"{self._FN}.recall_score", 1, average, zero_division)

    def f1_score(
        self, average: "str | None" = "micro", zero_division: "str | float" = "warn"
    ) -> "float | NDArray[np.float64]":
        """:func:`f1_score` of everything added (``average`` as there)."""
        return self._score(f"{self._FN}.f1_score", 2, average, zero_division)

    def hamming_loss(self) -> float:
        """:func:`hamming_loss` of everything added."""
        fn = f"{self._FN}.hamming_loss"
        self._check_nonempty(fn)
        if self.weight_sum == 0:
            raise ValueError(f"{fn}: sample_weight sums to zero, the average is undefined")
        return float((self.fp + self.fn).sum() / self.n_labels / self.weight_sum)

    def subset_accuracy(self, normalize: bool = True) -> float:
        """:func:`subset_accuracy` of everything added."""
        fn = f"{self._FN}.subset_accuracy"
        self._check_nonempty(fn)
        if not normalize:
            return float(self.exact_match)
        if self.weight_sum == 0:
            raise ValueError(f"{fn}: sample_weight sums to zero, the average is undefined")
        return float(self.exact_match / self.weight_sum)

    def compute(self, zero_division: "str | float" = "warn") -> "dict[str, float]":
        """The usual summary: micro / macro / samples F1, precision and recall,
        Hamming loss and subset accuracy, as a dict of floats."""
        out: "dict[str, float]" = {}
        for avg in ("micro", "macro", "samples"):
            out[f"precision_{avg}"] = self.precision_score(avg, zero_division)  # type: ignore[assignment]
            out[f"recall_{avg}"] = self.recall_score(avg, zero_division)  # type: ignore[assignment]
            out[f"f1_{avg}"] = self.f1_score(avg, zero_division)  # type: ignore[assignment]
        out["hamming_loss"] = self.hamming_loss()
        out["subset_accuracy"] = self.subset_accuracy()
        return out


class RankingStats:
    r"""Streaming sums of the per-sample ranking metrics.

    :func:`label_ranking_average_precision_score`, :func:`coverage_error`,
    :func:`label_ranking_loss` and :func:`one_error` are weighted means of
    per-sample values, so a state of weighted sums and the weight total is
    enough: :meth:`update` adds
    a batch, :meth:`merge` adds another state, :meth:`compute` (and the four
    methods) give the numbers of the functions on the concatenated batches.
    Batches either all pass ``sample_weight`` or all omit it.

    .. math::
        \mathrm{metric} = \frac{\sum_{\mathrm{batches}} \sum_n w_n\,v_n}
                                {\sum_{\mathrm{batches}} \sum_n w_n}

    Returns
    -------
    RankingStats
        An empty state; :meth:`update` takes ``y_true`` and ``y_score`` of
        shape ``(n_samples, n_labels)``; :meth:`compute` returns a dict of floats.

    Examples
    --------
    >>> from pylossfn.metrics import RankingStats, coverage_error
    >>> y_true = [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    >>> y_score = [[0.9, 0.5, 0.1], [0.2, 0.1, 0.8], [0.5, 0.6, 0.7]]
    >>> s = RankingStats()
    >>> s.update(y_true[:1], y_score[:1]); s.update(y_true[1:], y_score[1:])
    >>> s.coverage_error() == coverage_error(y_true, y_score)
    True
    >>> s.compute()["label_ranking_loss"]
    0.16666666666666666
    """

    _FN = "RankingStats"
    _ROWS = {
        "label_ranking_average_precision_score": _lrap_rows,
        "coverage_error": _coverage_rows,
        "label_ranking_loss": _ranking_loss_rows,
        "one_error": _one_error_rows,
    }

    def __init__(self) -> None:
        self.n_samples = 0
        self.weight_sum = 0.0
        self.weighted: "bool | None" = None
        self.sums = dict.fromkeys(self._ROWS, 0.0)  # sum of w * value
        self.plain_sums = dict.fromkeys(self._ROWS, 0.0)  # sum of value

    def update(
        self, y_true: "ArrayLike", y_score: "ArrayLike", sample_weight: "ArrayLike | None" = None
    ) -> None:
        """Add a batch: 0/1 indicators and scores of shape ``(n_samples, n_labels)``."""
        fn = f"{self._FN}.update"
        Y, S, w = _ranking_inputs(y_true, y_score, sample_weight, fn)
        weighted = w is not None
        if self.weighted is not None and self.weighted != weighted:
            raise ValueError(f"{fn}: batches must all pass sample_weight or all omit it")
        self.weighted = weighted
        w = np.ones(Y.shape[0]) if w is None else w
        for name, rows in self._ROWS.items():
            v = rows(Y, S).astype(np.float64)
            self.sums[name] += float(np.dot(v, w))
            self.plain_sums[name] += float(v.sum())
        self.n_samples += Y.shape[0]
        self.weight_sum += float(w.sum())

    def merge(self, other: "RankingStats") -> "RankingStats":
        """Add ``other``'s sums to this state (in place) and return it."""
        if other.n_samples == 0:
            return self
        if self.weighted is not None and self.weighted != other.weighted:
            raise ValueError(
                f"{self._FN}.merge: one state has sample weights and the other not"
            )
        self.weighted = other.weighted
        for name in self._ROWS:
            self.sums[name] += other.sums[name]
            self.plain_sums[name] += other.plain_sums[name]
        self.n_samples += other.n_samples
        self.weight_sum += other.weight_sum
        return self

    def _mean(self, name: str) -> float:
        fn = f"{self._FN}.{name}"
        if self.n_samples == 0:
            raise ValueError(f"{fn}: no samples were added, the metric is undefined")
        if not self.weighted:
            return self.plain_sums[name] / self.n_samples
        if self.weight_sum == 0:
            raise ValueError(f"{fn}: sample_weight sums to zero, the average is undefined")
        return self.sums[name] / self.weight_sum

    def label_ranking_average_precision_score(self) -> float:
        """:func:`label_ranking_average_precision_score` of everything added."""
        return self._mean("label_ranking_average_precision_score")

    def coverage_error(self) -> float:
        """:func:`coverage_error` of everything added."""
        return self._mean("coverage_error")

    def label_ranking_loss(self) -> float:
        """:func:`label_ranking_loss` of everything added."""
        return self._mean("label_ranking_loss")

    def one_error(self) -> float:
        """:func:`one_error` of everything added."""
        return self._mean("one_error")

    def compute(self) -> "dict[str, float]":
        """The four metrics as a dict keyed by the function names."""
        return {name: self._mean(name) for name in self._ROWS}


def _is_dask(values: "object") -> bool:
    # a dask.array.Array, recognised without importing dask
    return any(type(v).__module__.startswith("dask.array") for v in values)  # type: ignore[attr-defined]


def _dask_aware(fn: "object") -> "object":
    """``fn``, handed to ``pylossfn._dask_metrics`` when any argument is a dask array.

    (No functools here: the module imports nothing beyond numpy, numbers and
    warnings, and loads on its own.)
    """

    def call(*args: "object", **kwargs: "object") -> "object":
        if _is_dask(args) or _is_dask(kwargs.values()):
            from . import _dask_metrics

            return _dask_metrics.metric(fn, args, kwargs)  # type: ignore[arg-type]
        return fn(*args, **kwargs)  # type: ignore[operator]

    for attr in ("__module__", "__name__", "__qualname__", "__doc__", "__annotations__"):
        setattr(call, attr, getattr(fn, attr))
    setattr(call, "__wrapped__", fn)  # noqa: B010 (mypy: a function has no such attribute)
    setattr(call, "__kwdefaults__", getattr(fn, "__kwdefaults__"))  # noqa: B009, B010
    return call


for _name in __all__:
    if not isinstance(globals()[_name], type):  # the functions, not the classes
        globals()[_name] = _dask_aware(globals()[_name])
del _name
