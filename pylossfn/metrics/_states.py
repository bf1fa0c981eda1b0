"""Streaming (mergeable) metric states: update batch by batch, merge workers."""

# Part of the pylossfn.metrics package, which re-exports the public names (see
# __init__.py); like the rest of it, this module imports nothing beyond numpy and
# two stdlib modules, and its annotations are strings.


import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._inputs import (
    _AVERAGES,
    _asarray,
    _check_average,
    _check_zero_division,
    _indicator,
    _sample_weight,
)
from ._ranking import (
    _coverage_rows,
    _lrap_rows,
    _one_error_rows,
    _ranking_inputs,
    _ranking_loss_rows,
)
from ._setwise import _prf_finish, _warn_prf

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
