"""Dask arrays through :mod:`pylossfn.metrics`: mergeable states reduced in a tree.

``pylossfn.metrics`` hands a call over to :func:`metric` when any array argument is
a ``dask.array.Array``.  Decomposable metrics reduce a mergeable state per
block (:class:`pylossfn.metrics.MultilabelConfusion`,
:class:`pylossfn.metrics.RankingStats`, counts) in a tree of
``dask.delayed`` merges; average precision is computed exactly per label on
blocks of whole label columns.  Metric calls compute and return the NumPy
path's type (floats, arrays); the prediction helpers return dask arrays.
(The losses' Dask layer is :mod:`pylossfn._dask`.)
"""
from __future__ import annotations

import functools
import inspect
import string
from typing import Any, Callable

import numpy as np

from ._dask import _as_dask, _compute, _da, _delayed, any_dask

def metric(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A ``pylossfn.metrics`` function called with a dask array."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    return _METRICS[fn.__name__](inspect.unwrap(fn), dict(bound.arguments))


def _merge_all(parts: list[Any]) -> Any:
    # into a fresh state: a task never mutates its inputs
    total = type(parts[0])()
    for p in parts:
        total.merge(p)
    return total


def _tree(parts: list[Any], merge: Callable[[list[Any]], Any] = _merge_all,
          split_every: int = 8) -> Any:
    """Merge delayed partial states pairwise-ish in a tree of ``dask.delayed`` tasks."""
    delayed = _delayed()
    parts = list(parts)
    while len(parts) > 1:
        parts = [
            delayed(merge, pure=True)(parts[i:i + split_every])
            for i in range(0, len(parts), split_every)
        ]
    return parts[0] if parts else None


def _row_blocks(arrays: list[Any], whole_columns: bool = True) -> list[list[Any]]:
    """Delayed row blocks of arrays that share axis 0 (columns made whole)."""
    ref = next(a for a in arrays if any_dask([a]))
    rows = ref.chunks[0]
    out = []
    for a in arrays:
        if a is None:
            out.append([None] * len(rows))
            continue
        a = _as_dask(a)
        a = a.rechunk({0: rows, **({ax: -1 for ax in range(1, a.ndim)} if whole_columns else {})})
        out.append(list(a.to_delayed().ravel()))
    return out


# -- element-wise outputs ---------------------------------------------------------


def _m_multilabel_predictions(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    da = _da()
    x = _as_dask(p["logits"])
    thr = p["threshold"]
    nd = x.ndim
    # a copy: the lazy result keeps the threshold it was built with
    t = thr if any_dask([thr]) else np.array(thr)
    if t.ndim > nd:
        return fn(np.zeros(x.shape[:0] + (0,) * nd), thr)  # the NumPy error
    t = t.reshape((1,) * (nd - t.ndim) + tuple(t.shape))
    t = _as_dask(t).rechunk(tuple((1,) if t.shape[a] == 1 else x.chunks[a] for a in range(nd)))
    ind = string.ascii_lowercase[:nd]
    return da.blockwise(fn, ind, x, ind, t, ind, dtype=np.int64)


def _m_multiclass_predictions(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    da = _da()
    x = _as_dask(p["logits"])
    if x.ndim <= 1:
        return da.from_delayed(_delayed()(fn)(x.rechunk(-1)), shape=(), dtype=np.int64)
    x = x.rechunk({1: -1})
    ind = string.ascii_lowercase[:x.ndim]
    return da.blockwise(fn, ind[:1] + ind[2:], x, ind, dtype=np.int64, concatenate=True)


def _m_one_hot(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    t = _as_dask(p["labels"])
    n = p["num_classes"]
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n == -1 and t.size:
        if t.dtype.kind in "iu":
            n = int(_compute(t.max())) + 1
    if n == -1 or isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        return fn(np.asarray(t[:0]) if t.ndim else np.asarray(t), n)  # the NumPy error
    return t.map_blocks(functools.partial(fn, num_classes=n), dtype=np.int64,
                        new_axis=t.ndim, chunks=t.chunks + ((n,),))


# -- counts -------------------------------------------------------------------------


def _count_block(fn: Callable[..., Any], size_of: int, kwargs: dict[str, Any], *blocks: Any
                 ) -> np.ndarray:
    import warnings

    size = blocks[size_of].size
    if size == 0:
        return np.zeros(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the client emits the warnings once
        acc = fn(*blocks, **kwargs)
    return np.array([round(acc * size), size], dtype=np.float64)


def _counts(parts: list[Any]) -> float:
    total = np.sum(_compute(parts), axis=0) if parts else np.zeros(2)
    return float("nan") if total[1] == 0 else float(total[0] / total[1])


def _m_binary_accuracy(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    x, t = _as_dask(p["logits"]), _as_dask(p["target"])
    if x.shape != t.shape or x.ndim == 0:
        return fn(_compute(x), _compute(t), p["threshold"])
    fn(np.zeros((0,)), np.zeros((0,)), p["threshold"])  # the threshold's checks
    t = t.rechunk(x.chunks)
    delayed = _delayed()
    parts = [
        delayed(_count_block)(fn, 0, {"threshold": p["threshold"]}, a, b)
        for a, b in zip(x.to_delayed().ravel(), t.to_delayed().ravel())
    ]
    return _counts(parts)


def _m_class_counts(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    x, t = _as_dask(p["logits"]), _as_dask(p["labels"])
    extra = {k: v for k, v in p.items() if k not in ("logits", "labels")}
    if x.ndim < 2 or t.ndim != x.ndim - 1:
        return fn(_compute(x), _compute(t), **extra)
    # the argument checks and the k >= C warning, from an empty batch
    fn(np.zeros((0,) + x.shape[1:2] + (0,) * (x.ndim - 2), x.dtype),
       np.zeros((0,) + (0,) * (x.ndim - 2), t.dtype), **extra)
    x = x.rechunk({1: -1})
    t = t.rechunk((x.chunks[0],) + x.chunks[2:])
    delayed = _delayed()
    parts = [
        delayed(_count_block)(fn, 1, extra, a, b)
        for a, b in zip(x.to_delayed().ravel(), t.to_delayed().ravel())
    ]
    return _counts(parts)


# -- set-wise metrics -----------------------------------------------------------------


class _PairCounts:
    """Weighted counts of the distinct (y_true, y_pred) pairs of 1-D labels.

    Every set-wise metric of 1-D labels is a function of these counts, so the
    NumPy function on the distinct pairs, weighted by their counts, gives the
    metric of all the samples.
    """

    def __init__(self, t: Any = None, p: Any = None, w: Any = None, weighted: bool = False):
        self.t, self.p, self.w, self.weighted = t, p, w, weighted

    def merge(self, other: _PairCounts) -> _PairCounts:
        if other.t is None:
            return self
        if self.t is None:
            self.t, self.p, self.w, self.weighted = other.t, other.p, other.w, other.weighted
            return self
        self.t, self.p, self.w = _compress(
            np.concatenate([self.t, other.t]), np.concatenate([self.p, other.p]),
            np.concatenate([self.w, other.w]),
        )
        return self


def _compress(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[Any, Any, Any]:
    tv, ti = np.unique(t, return_inverse=True)
    pv, pi = np.unique(p, return_inverse=True)
    code, inv = np.unique(ti.ravel() * len(pv) + pi.ravel(), return_inverse=True)
    return tv[code // len(pv)], pv[code % len(pv)], np.bincount(inv.ravel(), weights=w)


def _pairs_block(t: np.ndarray, p: np.ndarray, w: Any) -> _PairCounts:
    t, p = np.asarray(t), np.asarray(p)
    t = t.ravel() if t.ndim == 2 else t
    p = p.ravel() if p.ndim == 2 else p
    if t.size == 0:
        return _PairCounts()
    weights = np.ones(t.shape[0]) if w is None else np.asarray(w, np.float64)
    return _PairCounts(*_compress(t, p, weights), weighted=w is not None)


def _confusion_block(t: np.ndarray, p: np.ndarray, w: Any) -> Any:
    from .metrics import MultilabelConfusion

    s = MultilabelConfusion(t.shape[1])
    if t.shape[0]:
        s.update(t, p, sample_weight=w)
    return s


def _setwise(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    yt, yp, w = p["y_true"], p["y_pred"], p.get("sample_weight")
    yt, yp = _as_dask(yt), _as_dask(yp)
    w = None if w is None else _as_dask(w)
    name = fn.__name__
    multilabel = yt.ndim == 2 and yt.shape[1] != 1
    if yt.ndim not in (1, 2) or yt.shape != yp.shape or yt.shape[0] == 0 or (
        w is not None and w.shape != yt.shape[:1]
    ) or (multilabel and p.get("average") == "binary"):
        # shapes the NumPy function refuses: its error, from a small slice where possible
        return fn(*_compute((yt, yp)), **{k: v for k, v in p.items()
                                          if k not in ("y_true", "y_pred", "sample_weight")},
                  sample_weight=None if w is None else _compute(w))
    delayed = _delayed()
    if multilabel:
        labels = p.get("labels")
        if labels is not None and name in ("precision_score", "recall_score", "f1_score"):
            from .metrics._setwise import _multilabel_columns

            cols = _multilabel_columns(labels, yt.shape[1], name)
            yt, yp = yt[:, cols], yp[:, cols]
        tb, pb, wb = _row_blocks([yt, yp, w])
        state = _compute(_tree([delayed(_confusion_block)(a, b, c)
                                for a, b, c in zip(tb, pb, wb)]))
        if name == "hamming_loss":
            return state.hamming_loss()
        if name == "subset_accuracy":
            return state.subset_accuracy(normalize=p["normalize"])
        pos_label, average = p["pos_label"], p["average"]
        if pos_label not in (None, 1):
            import warnings

            warnings.warn(
                f"Note that pos_label (set to {pos_label!r}) is ignored when average != "
                f"'binary' (got {average!r}). You may use labels=[pos_label] to specify a "
                "single positive class.",
                UserWarning,
                stacklevel=4,
            )
        return getattr(state, name)(average=average, zero_division=p["zero_division"])
    tb, pb, wb = _row_blocks([yt, yp, w])
    pairs = _compute(_tree([delayed(_pairs_block)(a, b, c) for a, b, c in zip(tb, pb, wb)]))
    rest = {k: v for k, v in p.items() if k not in ("y_true", "y_pred", "sample_weight")}
    return fn(pairs.t, pairs.p, sample_weight=pairs.w, **rest)


# -- ranking metrics ----------------------------------------------------------------


def _ranking_block(t: np.ndarray, s: np.ndarray, w: Any) -> Any:
    from .metrics import RankingStats

    state = RankingStats()
    if t.shape[0]:
        state.update(t, s, sample_weight=w)
    return state


def _m_ranking(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    yt, ys, w = _as_dask(p["y_true"]), _as_dask(p["y_score"]), p["sample_weight"]
    if yt.ndim != 2 or ys.shape != yt.shape or yt.shape[0] == 0 or (
        w is not None and getattr(w, "shape", None) != yt.shape[:1]
    ):
        return fn(*_compute((yt, ys)), sample_weight=None if w is None else _compute(w))
    delayed = _delayed()
    tb, sb, wb = _row_blocks([yt, ys, w])
    state = _compute(_tree([delayed(_ranking_block)(a, b, c) for a, b, c in zip(tb, sb, wb)]))
    return getattr(state, fn.__name__)()


def _ap_columns(t: np.ndarray, s: np.ndarray, w: Any) -> np.ndarray:
    """Per-label AP and weighted positive count of a block of whole label columns."""
    from .metrics._inputs import _indicator, _scores
    from .metrics._ranking import _ap_rows

    fn = "average_precision_score"
    Y = _indicator(np.asarray(t), "y_true", fn)
    S = _scores(s, "y_score", fn)
    wv = None if w is None else np.asarray(w, np.float64)
    ap, _ = _ap_rows(Y.T, S.T, wv)
    support = Y.sum(axis=0, dtype=np.float64) if wv is None else wv @ Y
    return np.stack([ap, support])


def _ap_samples(t: np.ndarray, s: np.ndarray, w: Any) -> np.ndarray:
    from .metrics._inputs import _indicator, _scores
    from .metrics._ranking import _ap_rows

    fn = "average_precision_score"
    ap, no_pos = _ap_rows(_indicator(np.asarray(t), "y_true", fn), _scores(s, "y_score", fn), None)
    wv = np.ones(ap.shape[0]) if w is None else np.asarray(w, np.float64)
    ap[wv == 0] = 0.0
    return np.array([ap.sum(), float(np.dot(ap, wv)), wv.sum(), ap.size,
                     np.count_nonzero(no_pos)], dtype=np.float64)


def _m_average_precision(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    from .metrics._inputs import _AVERAGES, _check_average, _sample_weight
    from .metrics._ranking import _warn_no_positive

    name = "average_precision_score"
    yt, ys, w, average = _as_dask(p["y_true"]), _as_dask(p["y_score"]), p["sample_weight"], \
        p["average"]
    _check_average(average, name, _AVERAGES)
    distributed = (
        yt.ndim == 2 and yt.shape[1] > 1 and ys.shape == yt.shape and yt.shape[0] > 0
        and p["pos_label"] == 1 and average in (None, "macro", "weighted", "samples")
        and (w is None or getattr(w, "shape", None) == yt.shape[:1])
    )
    if not distributed:
        # binary, multiclass and micro AP need one global sort: gathered in the client
        return fn(*_compute((yt, ys)), average=average, pos_label=p["pos_label"],
                  sample_weight=None if w is None else _compute(w))
    if w is not None and not any_dask([w]):
        w = _sample_weight(w, yt.shape[0], name)
    delayed = _delayed()
    if average == "samples":
        tb, sb, wb = _row_blocks([yt, ys, w])
        total = np.sum(_compute([delayed(_ap_samples)(a, b, c) for a, b, c in zip(tb, sb, wb)]),
                       axis=0)
        no_pos = np.zeros(int(total[3]), bool)
        no_pos[: int(total[4])] = True
        _warn_no_positive(name, no_pos, "samples")
        if w is None:
            return float(total[0] / total[3])
        if total[2] == 0:
            raise ValueError(f"{name}: sample_weight sums to zero, the average is undefined")
        return float(total[1] / total[2])
    # whole columns (every row), cut along the labels
    yt, ys = yt.rechunk({0: -1}), ys.rechunk({0: -1, 1: yt.rechunk({0: -1}).chunks[1]})
    wd = None if w is None else _as_dask(w).rechunk(-1).to_delayed().ravel()[0]
    parts = [delayed(_ap_columns)(a, b, wd)
             for a, b in zip(yt.to_delayed().ravel(), ys.to_delayed().ravel())]
    ap, support = np.concatenate(_compute(parts), axis=1)
    _warn_no_positive(name, support == 0, "labels")
    if average is None:
        return ap
    if average == "macro":
        return float(np.mean(ap))
    if np.isclose(support.sum(), 0.0):
        return 0.0
    ap[support == 0] = 0.0
    return float(np.average(ap, weights=support))


_METRICS: dict[str, Callable[[Callable[..., Any], dict[str, Any]], Any]] = {
    "binary_accuracy": _m_binary_accuracy,
    "accuracy": _m_class_counts,
    "top_k_accuracy": _m_class_counts,
    "multilabel_predictions": _m_multilabel_predictions,
    "multiclass_predictions": _m_multiclass_predictions,
    "one_hot": _m_one_hot,
    "subset_accuracy": _setwise,
    "hamming_loss": _setwise,
    "precision_score": _setwise,
    "recall_score": _setwise,
    "f1_score": _setwise,
    "average_precision_score": _m_average_precision,
    "label_ranking_average_precision_score": _m_ranking,
    "coverage_error": _m_ranking,
    "label_ranking_loss": _m_ranking,
    "one_error": _m_ranking,
}
