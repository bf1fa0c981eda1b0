"""Set-wise metrics (sklearn.metrics semantics)."""

# Part of the pylossfn.metrics package, which re-exports the public names (see
# __init__.py); like the rest of it, this module imports nothing beyond numpy and
# three stdlib modules (typing, which NumPy imports anyway), and its annotations
# are strings.

import warnings
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._inputs import (
    _AVERAGES,
    UndefinedMetricWarning,
    _asarray,
    _check_average,
    _check_targets,
    _check_zero_division,
    _contains,
    _first,
    _labels_1d,
    _sample_weight,
    _weighted_mean,
)

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


def _prf_score(name: str, index: int, warn_for: str, head: str, examples: str
               ) -> "Callable[..., Any]":
    """One of precision / recall / F1 (``_prf``'s ``index``), scikit-learn's signature;
    its docstring is ``head``, the shared parameters, and ``examples`` on the shared
    labels."""

    def score(
        y_true: "ArrayLike",
        y_pred: "ArrayLike",
        *,
        labels: "ArrayLike | None" = None,
        pos_label: "float | str" = 1,
        average: "str | None" = "binary",
        sample_weight: "ArrayLike | None" = None,
        zero_division: "str | float" = "warn",
    ) -> "float | NDArray[np.float64]":
        return _prf(name, y_true, y_pred, beta=1.0, labels=labels, pos_label=pos_label,
                    average=average, sample_weight=sample_weight,
                    zero_division=zero_division, warn_for=(warn_for,))[index]

    score.__name__ = score.__qualname__ = name
    score.__doc__ = (head + _PRF_PARAMS + "\n    Examples\n    --------\n"
                     "    >>> y_true = [[1, 0, 1], [0, 1, 1], [1, 0, 0]]\n"
                     "    >>> y_pred = [[1, 1, 1], [0, 1, 0], [0, 0, 0]]" + examples + "    ")
    return score


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


precision_score = _prf_score(
    "precision_score", 0, "precision",
    r"""Precision ``tp / (tp + fp)``, as ``sklearn.metrics.precision_score``.

    .. math::
        P_l = \frac{\sum_n w_n\,[\hat y_{n,l}=1 \wedge y_{n,l}=1]}
                   {\sum_n w_n\,[\hat y_{n,l}=1]}

    per label ``l`` (one-vs-rest for 1-D multiclass labels), then averaged as
    ``average`` says.  Undefined when nothing is predicted for a label.
""", """
    >>> precision_score(y_true, y_pred, average='micro')
    0.75
    >>> precision_score(y_true, y_pred, average=None)
    array([1. , 0.5, 1. ])
    >>> precision_score([0, 1, 1, 0], [0, 1, 0, 1])  # average='binary', pos_label=1
    0.5
""")


recall_score = _prf_score(
    "recall_score", 1, "recall",
    r"""Recall ``tp / (tp + fn)``, as ``sklearn.metrics.recall_score``.

    .. math::
        R_l = \frac{\sum_n w_n\,[\hat y_{n,l}=1 \wedge y_{n,l}=1]}
                   {\sum_n w_n\,[y_{n,l}=1]}

    per label ``l``, then averaged as ``average`` says.  Undefined when a label
    has no true samples (or, with ``average='samples'``, a sample has no true
    labels).
""", """
    >>> recall_score(y_true, y_pred, average='macro')
    0.6666666666666666
    >>> recall_score(y_true, y_pred, average='samples')
    0.5
""")


f1_score = _prf_score(
    "f1_score", 2, "f-score",
    r"""F1 score, the harmonic mean of precision and recall, as ``sklearn.metrics.f1_score``.

    .. math::
        F_l = \frac{2\,tp_l}{2\,tp_l + fp_l + fn_l}

    per label (computed from the counts, so it is defined whenever the label
    was predicted or true), then averaged as ``average`` says (a macro-F1 is the
    mean of per-label F1s, not the F1 of the mean precision and recall).
    Undefined only when ``tp + fp + fn = 0``.
""", """
    >>> f1_score(y_true, y_pred, average='micro')
    0.6666666666666666
    >>> f1_score([[0, 1], [0, 1]], [[0, 1], [0, 0]], average=None, zero_division=1.0)
    array([1.        , 0.66666667])
""")
