"""Ranking metrics (sklearn.metrics semantics) and average precision."""

# Part of the pylossfn.metrics package, which re-exports the public names (see
# __init__.py); like the rest of it, this module imports nothing beyond numpy and
# two stdlib modules, and its annotations are strings.

import warnings
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._inputs import (
    _AVERAGES,
    UndefinedMetricWarning,
    _asarray,
    _check_average,
    _column_to_1d,
    _contains,
    _indicator,
    _labels_1d,
    _sample_weight,
    _scores,
    _weighted_mean,
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


def _ranking_metric(name: str, rows: "Callable[..., np.ndarray]", doc: str
                    ) -> "Callable[..., float]":
    """A per-sample ranking metric: the (weighted) mean of ``rows(Y, S)``."""

    def metric(
        y_true: "ArrayLike", y_score: "ArrayLike", *, sample_weight: "ArrayLike | None" = None
    ) -> float:
        return _per_sample_mean(rows, name, y_true, y_score, sample_weight)

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = doc
    return metric


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


label_ranking_average_precision_score = _ranking_metric(
    "label_ranking_average_precision_score", _lrap_rows, _ranking_doc(
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
))


def _coverage_rows(Y: "NDArray[np.bool_]", S: "np.ndarray") -> "np.ndarray":
    """Per-sample coverage (see :func:`coverage_error`)."""
    lowest_true = np.where(Y, S, np.inf).min(axis=1, initial=np.inf)
    covered = np.count_nonzero(S >= lowest_true[:, None], axis=1)
    return np.where(Y.any(axis=1), covered, 0)


coverage_error = _ranking_metric(
    "coverage_error", _coverage_rows, _ranking_doc(
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
))


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


label_ranking_loss = _ranking_metric(
    "label_ranking_loss", _ranking_loss_rows, _ranking_doc(
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
))


def _one_error_rows(Y: "NDArray[np.bool_]", S: "np.ndarray") -> "NDArray[np.float64]":
    """Per-sample one-error (see :func:`one_error`): 1 if a top-scored label is false."""
    top = S == S.max(axis=1, keepdims=True)
    return np.any(top & ~Y, axis=1).astype(np.float64)


one_error = _ranking_metric(
    "one_error", _one_error_rows, _ranking_doc(
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
))


