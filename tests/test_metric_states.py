"""The streaming metric states against scikit-learn on the concatenated batches.

Every expected value is computed here by scikit-learn from the same random
data; the states see the data in batches of uneven sizes, merged in several
orders.
"""

import itertools
import warnings

import numpy as np
import pytest
from helpers import one_error_reference
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning as SkUndefinedMetricWarning

import pylossfn.metrics as M

pytestmark = pytest.mark.sklearn

AVERAGES = [None, "micro", "macro", "weighted", "samples"]
ZERO_DIVISIONS = ["warn", 0, 1.0, np.nan]
SPLITS = [(0, 1, 8, 9, 40), (0, 17, 40), (0, 40)]


def _data(seed, n=40, L=7, weighted=False):
    rng = np.random.default_rng(seed)
    yt = (rng.random((n, L)) < 0.3).astype(np.int64)
    yp = (rng.random((n, L)) < 0.3).astype(np.int64)
    yt[:, -1] = 0  # a label never true: undefined recalls
    yp[:3] = 0  # samples with no prediction: undefined sample precisions
    w = rng.uniform(0.0, 2.0, n) if weighted else None
    return yt, yp, w


def _batches(yt, yp, w, cuts):
    for a, b in zip(cuts[:-1], cuts[1:]):
        yield yt[a:b], yp[a:b], None if w is None else w[a:b]


def _confusion(yt, yp, w, cuts, order=None):
    states = []
    for t, p, wb in _batches(yt, yp, w, cuts):
        s = M.MultilabelConfusion()
        s.update(t, p, sample_weight=wb)
        states.append(s)
    order = range(len(states)) if order is None else order
    total = M.MultilabelConfusion()
    for i in order:
        total.merge(states[i])
    return total


def _sk(fn, yt, yp, w, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = fn(yt, yp, sample_weight=w, **kw)
    return value, any(issubclass(c.category, SkUndefinedMetricWarning) for c in caught)


def _ours(method, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = method(**kw)
    return value, any(issubclass(c.category, M.UndefinedMetricWarning) for c in caught)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cuts", SPLITS)
@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_prf_matches_sklearn(weighted, cuts, average, zero_division):
    yt, yp, w = _data(0, weighted=weighted)
    state = _confusion(yt, yp, w, cuts)
    for name in ("precision_score", "recall_score", "f1_score"):
        expected, sk_warned = _sk(
            getattr(skm, name), yt, yp, w, average=average, zero_division=zero_division
        )
        got, warned = _ours(getattr(state, name), average=average, zero_division=zero_division)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0, equal_nan=True)
        assert warned == sk_warned, name


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cuts", SPLITS)
def test_hamming_subset_and_counts(weighted, cuts):
    yt, yp, w = _data(1, weighted=weighted)
    state = _confusion(yt, yp, w, cuts)
    assert state.hamming_loss() == pytest.approx(skm.hamming_loss(yt, yp, sample_weight=w), rel=1e-12)
    assert state.subset_accuracy() == pytest.approx(
        skm.accuracy_score(yt, yp, sample_weight=w), rel=1e-12
    )
    assert state.subset_accuracy(normalize=False) == pytest.approx(
        skm.accuracy_score(yt, yp, sample_weight=w, normalize=False), rel=1e-12
    )
    mcm = skm.multilabel_confusion_matrix(yt, yp, sample_weight=w)  # [[tn, fp], [fn, tp]]
    np.testing.assert_allclose(state.tn, mcm[:, 0, 0], rtol=1e-12)
    np.testing.assert_allclose(state.fp, mcm[:, 0, 1], rtol=1e-12)
    np.testing.assert_allclose(state.fn, mcm[:, 1, 0], rtol=1e-12)
    np.testing.assert_allclose(state.tp, mcm[:, 1, 1], rtol=1e-12)
    assert state.n_samples == len(yt)


def test_merge_order_independent():
    yt, yp, w = _data(2, weighted=True)
    cuts = SPLITS[0]
    ref = _confusion(yt, yp, w, cuts).compute(zero_division=0)
    for order in itertools.permutations(range(len(cuts) - 1)):
        got = _confusion(yt, yp, w, cuts, order=order).compute(zero_division=0)
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k] == pytest.approx(ref[k], rel=1e-13), k


def test_compute_keys_match_functions():
    yt, yp, _ = _data(3)
    out = _confusion(yt, yp, None, SPLITS[1]).compute(zero_division=0)
    assert out["f1_macro"] == pytest.approx(M.f1_score(yt, yp, average="macro", zero_division=0))
    assert out["recall_samples"] == pytest.approx(
        M.recall_score(yt, yp, average="samples", zero_division=0)
    )
    assert out["hamming_loss"] == pytest.approx(M.hamming_loss(yt, yp))


def test_confusion_errors():
    s = M.MultilabelConfusion()
    with pytest.raises(ValueError, match="no samples"):
        s.f1_score()
    s.update([[1, 0]], [[1, 1]])
    with pytest.raises(ValueError, match="expected 2 labels"):
        s.update([[1, 0, 1]], [[1, 1, 1]])
    with pytest.raises(ValueError, match="all pass sample_weight or all omit"):
        s.update([[1, 0]], [[1, 1]], sample_weight=[2.0])
    with pytest.raises(ValueError, match="only 0 and 1"):
        s.update([[2, 0]], [[1, 1]])
    with pytest.raises(ValueError, match="average"):
        s.f1_score(average="binary")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cuts", SPLITS)
def test_ranking_stats_match_sklearn(weighted, cuts):
    rng = np.random.default_rng(4)
    n, L = 40, 6
    yt = (rng.random((n, L)) < 0.3).astype(np.int64)
    yt[0] = 1  # all labels true
    yt[1] = 0  # none true
    ys = rng.integers(0, 4, (n, L)).astype(np.float64)  # ties on purpose
    w = rng.uniform(0.0, 2.0, n) if weighted else None
    states = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        s = M.RankingStats()
        s.update(yt[a:b], ys[a:b], sample_weight=None if w is None else w[a:b])
        states.append(s)
    total = M.RankingStats()
    for s in reversed(states):
        total.merge(s)
    got = total.compute()
    oracles = {"one_error": one_error_reference}  # scikit-learn has no one-error
    assert set(got) == {"label_ranking_average_precision_score", "coverage_error",
                        "label_ranking_loss", "one_error"}
    for name in got:
        expected = oracles.get(name, getattr(skm, name, None))(yt, ys, sample_weight=w)
        assert got[name] == pytest.approx(expected, rel=1e-12), name
        assert getattr(total, name)() == got[name]


def test_ranking_stats_errors():
    s = M.RankingStats()
    with pytest.raises(ValueError, match="no samples"):
        s.compute()
    s.update([[1, 0]], [[0.3, 0.2]], sample_weight=[0.0])
    with pytest.raises(ValueError, match="sums to zero"):
        s.coverage_error()
    with pytest.raises(ValueError, match="all pass sample_weight or all omit"):
        s.update([[1, 0]], [[0.3, 0.2]])
