"""Torch-style metrics on logits, and scores -> labels."""

# Part of the pylossfn.metrics package, which re-exports the public names (see
# __init__.py); like the rest of it, this module imports nothing beyond numpy and
# two stdlib modules, and its annotations are strings.

import numbers
import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._inputs import (
    UndefinedMetricWarning,
    _asarray,
    _class_axis,
    _class_index_target,
    _class_logits,
    _first,
    _floating,
    _indicator,
    _scores,
    _sigmoid,
)

# ----------------------------------------------------------------------------
# Torch-style metrics on logits.
# ----------------------------------------------------------------------------


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
