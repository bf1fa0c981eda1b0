"""pylossfn.metrics against scikit-learn, the oracle.

Every expected value is computed here by scikit-learn (or SciPy's expit for the
sigmoid) from the same random data; nothing is pasted.  Where scikit-learn
refuses an input that has a natural answer (a single label column for the
ranking losses, two classes for top-k), the input is padded so that
scikit-learn can answer the same question.
"""

import ast
import doctest
import inspect
import itertools
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import one_error_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning as SkUndefinedMetricWarning
from sklearn.preprocessing import OneHotEncoder

import pylossfn.metrics as M

pytestmark = pytest.mark.sklearn

# the package under test as installed (the runner copies tests/ away from the
# source tree): __init__.py and its private modules by topic
METRICS_PATH = Path(M.__file__).resolve()
METRICS_FILES = sorted(METRICS_PATH.parent.glob("*.py"))

SEEDS = (0, 1, 2)
ML_SHAPES = [(1, 4), (9, 1), (30, 2), (25, 6), (60, 40)]
AVERAGES = ["binary", None, "micro", "macro", "weighted", "samples"]
ZERO_DIVISIONS = ["warn", 0, 1.0, np.nan]
HYP = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def record(f, *args, **kwargs):
    """Call f; return (result or the exception raised, list of warnings)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            out = f(*args, **kwargs)
        except (ValueError, TypeError, IndexError) as exc:
            out = exc
    return out, rec


def messages(rec, category):
    return [str(w.message) for w in rec if issubclass(w.category, category)]


def assert_same(ours, theirs):
    if isinstance(theirs, Exception):
        assert isinstance(ours, ValueError), (
            f"scikit-learn raised {theirs!r}, we returned {ours!r}"
        )
        return
    assert not isinstance(ours, Exception), f"we raised {ours!r}, scikit-learn returned {theirs!r}"
    if np.ndim(theirs) == 0:
        assert isinstance(ours, float), type(ours)
    else:
        assert isinstance(ours, np.ndarray) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15, equal_nan=True)


def multilabel_data(seed, shape, density=0.35):
    """y_true, y_pred (int) with an empty row, a label never true and one never predicted."""
    rng = np.random.default_rng(seed)
    n, n_labels = shape
    y_true = (rng.random(shape) < density).astype(np.int64)
    y_pred = (rng.random(shape) < density).astype(np.int64)
    y_pred[: n // 2] |= y_true[: n // 2]  # some agreement
    if n > 2:
        y_true[0] = 0  # a sample with no true label
        y_pred[1] = 0  # a sample with no predicted label
    if n_labels > 2:
        y_true[:, 0] = 0  # a label with no positives
        y_pred[:, 1] = 0  # a label never predicted
    return y_true, y_pred


def tied_scores(rng, shape, levels=4):
    """Scores with many ties (a few distinct levels) or continuous, at random."""
    if levels:
        return rng.integers(0, levels, size=shape) / levels
    return rng.standard_normal(shape)


def forms(a):
    """The same 0/1 data as int, bool, float32 and a nested list."""
    return {"int": a, "bool": a.astype(bool), "float": a.astype(np.float32), "list": a.tolist()}


# ----------------------------------------------------------------------------
# precision / recall / f1
# ----------------------------------------------------------------------------

PRF = [
    (M.precision_score, skm.precision_score),
    (M.recall_score, skm.recall_score),
    (M.f1_score, skm.f1_score),
]


@pytest.mark.parametrize("average", AVERAGES, ids=str)
@pytest.mark.parametrize("shape", ML_SHAPES, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_prf_multilabel_matches_sklearn(seed, shape, average):
    y_true, y_pred = multilabel_data(seed, shape)
    for (ours_f, sk_f), zero_division in itertools.product(PRF, ZERO_DIVISIONS):
        ours, ours_w = record(ours_f, y_true, y_pred, average=average, zero_division=zero_division)
        theirs, sk_w = record(sk_f, y_true, y_pred, average=average, zero_division=zero_division)
        assert_same(ours, theirs)
        # the same undefined-metric warnings, word for word, in the same order
        assert messages(ours_w, M.UndefinedMetricWarning) == messages(
            sk_w, SkUndefinedMetricWarning
        )


@pytest.mark.parametrize("form", ["int", "bool", "float", "list"])
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted", "samples"], ids=str)
def test_prf_input_forms_and_sample_weight(form, average):
    y_true, y_pred = multilabel_data(5, (40, 5))
    w = np.random.default_rng(5).random(40)
    w[3] = 0.0  # zero-weighted sample
    yt, yp = forms(y_true)[form], forms(y_pred)[form]
    for ours_f, sk_f in PRF:
        for sw in (None, w, w.tolist()):
            ours, ours_w = record(ours_f, yt, yp, average=average, sample_weight=sw)
            theirs, sk_w = record(sk_f, y_true, y_pred, average=average, sample_weight=sw)
            assert_same(ours, theirs)
            assert messages(ours_w, M.UndefinedMetricWarning) == messages(
                sk_w, SkUndefinedMetricWarning
            )


@pytest.mark.parametrize("labels", [[0], [3, 1], [4, 0, 2, 1]], ids=str)
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted", "samples"], ids=str)
def test_prf_multilabel_label_subsets(labels, average):
    y_true, y_pred = multilabel_data(7, (30, 5))
    for ours_f, sk_f in PRF:
        ours, _ = record(ours_f, y_true, y_pred, labels=labels, average=average)
        theirs, _ = record(sk_f, y_true, y_pred, labels=labels, average=average)
        assert_same(ours, theirs)


@pytest.mark.parametrize("average", AVERAGES, ids=str)
@pytest.mark.parametrize("n_classes", [1, 2, 3, 6])
@pytest.mark.parametrize("seed", SEEDS)
def test_prf_1d_labels_match_sklearn(seed, n_classes, average):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, 25)
    y_pred = np.where(rng.random(25) < 0.5, y_true, rng.integers(0, n_classes, 25))
    if n_classes > 2:
        y_pred[y_pred == n_classes - 1] = 0  # a class never predicted
    for (ours_f, sk_f), zero_division in itertools.product(PRF, ZERO_DIVISIONS):
        ours, ours_w = record(ours_f, y_true, y_pred, average=average, zero_division=zero_division)
        theirs, sk_w = record(sk_f, y_true, y_pred, average=average, zero_division=zero_division)
        assert_same(ours, theirs)
        assert messages(ours_w, M.UndefinedMetricWarning) == messages(
            sk_w, SkUndefinedMetricWarning
        )


@pytest.mark.parametrize(
    "y_true, y_pred, kwargs",
    [
        ([2, 5, 5, 2, 5], [2, 5, 2, 2, 2], {"pos_label": 5}),
        ([0, 0, 0], [0, 0, 0], {}),  # pos_label absent everywhere: undefined
        ([0, 0, 0], [0, 1, 0], {}),
        ([True, False, True], [True, True, False], {}),
        ([1.0, 0.0, 1.0], [1, 1, 0], {}),
        (["cat", "dog", "cat"], ["cat", "cat", "cat"], {"pos_label": "cat"}),
        (["a", "b", "c", "a"], ["a", "c", "c", "b"], {"average": "macro"}),
        ([0, 1, 2, 2, 3], [0, 2, 2, 1, 3], {"average": "micro", "labels": [2, 1, 7]}),
        ([0, 1, 2, 2, 3], [0, 2, 2, 1, 3], {"average": None, "labels": [3, 0, 9]}),
        ([0, 1, 2, 2, 3], [0, 2, 2, 1, 3], {"average": "weighted", "labels": [1, 2]}),
        ([[1], [0], [1]], [[1], [1], [0]], {"average": "macro"}),  # a column is 1-D
        ([[1], [0], [1]], [[1], [1], [0]], {}),
        ([0, 1, 1], [[0], [1], [0]], {}),
        ([0, 1, 0], [0, 1, 1], {"average": "macro", "pos_label": 0}),  # warns: pos_label ignored
    ],
)
def test_prf_1d_special_cases(y_true, y_pred, kwargs):
    for ours_f, sk_f in PRF:
        ours, ours_w = record(ours_f, y_true, y_pred, **kwargs)
        theirs, sk_w = record(sk_f, y_true, y_pred, **kwargs)
        assert_same(ours, theirs)
        assert messages(ours_w, M.UndefinedMetricWarning) == messages(
            sk_w, SkUndefinedMetricWarning
        )
        assert bool(messages(ours_w, UserWarning)) == bool(messages(sk_w, UserWarning))


def test_prf_1d_sample_weight():
    rng = np.random.default_rng(3)
    y_true, y_pred, w = rng.integers(0, 4, 50), rng.integers(0, 4, 50), rng.random(50)
    for ours_f, sk_f in PRF:
        for average in [None, "micro", "macro", "weighted"]:
            assert_same(
                ours_f(y_true, y_pred, average=average, sample_weight=w),
                sk_f(y_true, y_pred, average=average, sample_weight=w),
            )


def test_zero_division_warning_category():
    assert issubclass(M.UndefinedMetricWarning, UserWarning)
    with pytest.warns(M.UndefinedMetricWarning, match="Precision is ill-defined"):
        assert M.precision_score([[0, 0], [1, 0]], [[0, 0], [0, 0]], average="micro") == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any other zero_division is silent
        assert (
            M.precision_score([[0, 0], [1, 0]], [[0, 0], [0, 0]], average="micro", zero_division=1)
            == 1.0
        )
        assert np.isnan(M.recall_score([[0, 0]], [[0, 1]], average="macro", zero_division=np.nan))


# ----------------------------------------------------------------------------
# subset accuracy / hamming loss
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["int", "bool", "float", "list"])
@pytest.mark.parametrize("shape", ML_SHAPES, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_subset_accuracy_and_hamming_match_sklearn(seed, shape, form):
    y_true, y_pred = multilabel_data(seed, shape, density=0.15)
    y_pred[::3] = y_true[::3]  # make some rows exactly right
    w = np.random.default_rng(seed).random(shape[0])
    yt, yp = forms(y_true)[form], forms(y_pred)[form]
    for sw in (None, w):
        assert_same(
            M.hamming_loss(yt, yp, sample_weight=sw),
            skm.hamming_loss(y_true, y_pred, sample_weight=sw),
        )
        for normalize in (True, False):
            assert_same(
                M.subset_accuracy(yt, yp, normalize=normalize, sample_weight=sw),
                skm.accuracy_score(y_true, y_pred, normalize=normalize, sample_weight=sw),
            )


def test_subset_accuracy_and_hamming_1d_labels():
    rng = np.random.default_rng(11)
    y_true, y_pred, w = rng.integers(0, 5, 40), rng.integers(0, 5, 40), rng.random(40)
    for yt, yp in [
        (y_true, y_pred),
        (y_true.astype(float), y_pred.tolist()),
        (y_true.astype(str), y_pred.astype(str)),
    ]:
        for sw in (None, w):
            assert_same(
                M.hamming_loss(yt, yp, sample_weight=sw),
                skm.hamming_loss(yt, yp, sample_weight=sw),
            )
            assert_same(
                M.subset_accuracy(yt, yp, sample_weight=sw),
                skm.accuracy_score(yt, yp, sample_weight=sw),
            )


# ----------------------------------------------------------------------------
# average precision
# ----------------------------------------------------------------------------


def _ap_warned(rec):
    return bool(messages(rec, UserWarning))


@pytest.mark.parametrize("levels", [0, 3, 10], ids=["continuous", "ties3", "ties10"])
@pytest.mark.parametrize("shape", ML_SHAPES, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_average_precision_matches_sklearn(seed, shape, levels):
    rng = np.random.default_rng(seed)
    y_true, _ = multilabel_data(seed, shape)
    y_score = tied_scores(rng, shape, levels)
    for average in [None, "micro", "macro", "weighted", "samples"]:
        ours, ours_w = record(M.average_precision_score, y_true, y_score, average=average)
        theirs, sk_w = record(skm.average_precision_score, y_true, y_score, average=average)
        assert_same(ours, theirs)
        # a label (or sample) without positives: value 0 and a warning in both
        assert _ap_warned(ours_w) == _ap_warned(sk_w)
        assert all(issubclass(w.category, M.UndefinedMetricWarning) for w in ours_w)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted", "samples"], ids=str)
def test_average_precision_sample_weight_and_forms(average):
    rng = np.random.default_rng(21)
    y_true, _ = multilabel_data(21, (40, 5))
    y_score = tied_scores(rng, (40, 5), 5).astype(np.float32)
    w = rng.random(40)
    for yt in forms(y_true).values():
        for sw in (None, w):
            ours, _ = record(
                M.average_precision_score, yt, y_score.tolist(), average=average, sample_weight=sw
            )
            theirs, _ = record(
                skm.average_precision_score, y_true, y_score, average=average, sample_weight=sw
            )
            assert_same(ours, theirs)


@pytest.mark.parametrize("seed", SEEDS)
def test_average_precision_binary_and_multiclass_1d(seed):
    rng = np.random.default_rng(seed)
    n = 60
    scores = tied_scores(rng, n, 6)
    w = rng.random(n)
    # binary with arbitrary label values and pos_label
    y = np.where(rng.random(n) < 0.4, 5, 2)
    for sw in (None, w):
        for pos_label in (2, 5):
            assert_same(
                M.average_precision_score(y, scores, pos_label=pos_label, sample_weight=sw),
                skm.average_precision_score(y, scores, pos_label=pos_label, sample_weight=sw),
            )
    assert_same(
        M.average_precision_score(y == 5, scores[:, None]),
        skm.average_precision_score(y == 5, scores),
    )
    # multiclass labels scored one-vs-rest
    y = rng.integers(0, 4, n)
    y_score = tied_scores(rng, (n, 4), 5)
    for average in [None, "micro", "macro", "weighted", "samples"]:
        assert_same(
            M.average_precision_score(y, y_score, average=average),
            skm.average_precision_score(y, y_score, average=average),
        )


def test_average_precision_no_positive_warns():
    theirs, sk_w = record(skm.average_precision_score, [0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.warns(M.UndefinedMetricWarning, match="no positive"):
        ours = M.average_precision_score([0, 0, 0], [0.1, 0.2, 0.3])
    assert ours == theirs and messages(sk_w, UserWarning)


# ----------------------------------------------------------------------------
# ranking metrics
# ----------------------------------------------------------------------------

RANKING = [
    (M.label_ranking_average_precision_score, skm.label_ranking_average_precision_score),
    (M.coverage_error, skm.coverage_error),
    (M.label_ranking_loss, skm.label_ranking_loss),
    (M.one_error, one_error_reference),  # scikit-learn has none: brute force
]


def _pad_single_label(y_true, y_score):
    """Add an irrelevant label scored below everything: scikit-learn then accepts
    the input, and coverage and ranking loss keep their single-label values."""
    low = y_score.min() - 1.0
    return (
        np.hstack([y_true, np.zeros_like(y_true)]),
        np.hstack([y_score, np.full_like(y_score, low, dtype=np.float64)]),
    )


@pytest.mark.parametrize("levels", [0, 2, 5], ids=["continuous", "ties2", "ties5"])
@pytest.mark.parametrize("shape", ML_SHAPES, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_ranking_metrics_match_sklearn(seed, shape, levels):
    rng = np.random.default_rng(seed)
    y_true, _ = multilabel_data(seed, shape, density=0.4)
    if shape[0] > 3:
        y_true[2] = 1  # a sample with every label true
    y_score = tied_scores(rng, shape, levels)
    w = rng.random(shape[0])
    for ours_f, sk_f in RANKING:
        for sw in (None, w):
            ours = ours_f(y_true, y_score, sample_weight=sw)
            if shape[1] == 1 and sk_f is not skm.label_ranking_average_precision_score:
                theirs = sk_f(*_pad_single_label(y_true, y_score), sample_weight=sw)
            else:
                theirs = sk_f(y_true, y_score, sample_weight=sw)
            assert_same(ours, theirs)


def test_ranking_metrics_input_forms():
    rng = np.random.default_rng(8)
    y_true, _ = multilabel_data(8, (20, 6))
    y_score = rng.integers(-3, 3, (20, 6))  # integer scores, with ties
    for ours_f, sk_f in RANKING:
        theirs = sk_f(y_true, y_score)
        for yt in forms(y_true).values():
            assert_same(ours_f(yt, y_score.tolist()), theirs)
            assert_same(ours_f(yt, y_score.astype(np.float32)), theirs)


def test_one_error_is_the_error_of_argmax_on_single_label_rows():
    # scikit-learn's view of it: with one true label per row and no ties, one-error is
    # the error rate of the top-scored label as a multi-class prediction
    rng = np.random.default_rng(21)
    n, n_labels = 200, 7
    y_true = M.one_hot(rng.integers(0, n_labels, n), n_labels)
    y_score = rng.standard_normal((n, n_labels)) + 1.5 * y_true
    w = rng.random(n)
    for sw in (None, w):
        expected = 1.0 - skm.accuracy_score(
            y_true.argmax(1), y_score.argmax(1), sample_weight=sw)
        assert 0.05 < expected < 0.95  # a case the metric can get wrong either way
        assert_same(M.one_error(y_true, y_score, sample_weight=sw), expected)


def test_one_error_ties_and_empty_rows():
    y_true = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]])
    y_score = np.array([[2.0, 2.0, 1.0], [2.0, 2.0, 1.0], [0.1, 0.5, 0.3], [0.0, 0.0, 0.0]])
    # a tie at the top of true labels only is right; one false label in it is wrong;
    # a sample with no true label is wrong
    assert M.one_error(y_true, y_score) == one_error_reference(y_true, y_score) == 0.5
    np.testing.assert_array_equal(
        [M.one_error(y_true[i:i + 1], y_score[i:i + 1]) for i in range(4)], [0, 1, 1, 0])


def test_ranking_metrics_single_label_sklearn_refuses():
    y_true, y_score = np.array([[1], [0], [1]]), np.array([[0.3], [0.2], [-1.0]])
    for f in (skm.coverage_error, skm.label_ranking_loss):
        with pytest.raises(ValueError):
            f(y_true, y_score)
    assert M.coverage_error(y_true, y_score) == y_true.mean()
    assert M.label_ranking_loss(y_true, y_score) == 0.0


# ----------------------------------------------------------------------------
# torch-style accuracies
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threshold", [0.5, 0.2, 0.9, 0.0, 1.0])
@pytest.mark.parametrize("shape", [(50,), (40, 1), (30, 7), (4, 3, 5)], ids=str)
def test_binary_accuracy_matches_sklearn(shape, threshold, dtype):
    rng = np.random.default_rng(len(shape))
    logits = (3 * rng.standard_normal(shape)).astype(dtype)
    logits.flat[::7] = 0  # sigmoid(0) = 0.5 exactly
    target = (rng.random(shape) < 0.5).astype(np.int64)
    predicted = expit(logits) > threshold  # expit stays in float32 for float32 input
    expected = skm.accuracy_score(target.ravel(), predicted.ravel())
    for t in forms(target).values():
        assert_same(M.binary_accuracy(logits, t, threshold), expected)
    assert_same(
        M.binary_accuracy(logits.tolist(), target, threshold),
        skm.accuracy_score(target.ravel(), (expit(logits.astype(np.float64)) > threshold).ravel()),
    )


def test_binary_accuracy_rounding_convention():
    # threshold 0.5 is round(sigmoid(x)) with round-half-to-even: sigmoid(0) -> 0
    target = np.array([0, 1, 1, 0])
    for x in (np.zeros(4), np.zeros(4, np.float32)):
        expected = skm.accuracy_score(target, np.round(expit(x)))
        assert M.binary_accuracy(x, target) == expected == np.mean(target == 0)
    # a tiny positive logit is 0.5 in float32 (predicted 0) but not in float64
    x = np.array([1e-9])
    assert M.binary_accuracy(x, [1]) == float(np.round(expit(x))[0]) == 1.0
    assert (
        M.binary_accuracy(x.astype(np.float32), [1])
        == float(np.round(expit(x.astype(np.float32)))[0])
        == 0.0
    )
    assert M.binary_accuracy(np.array([-800.0, 800.0]), [0, 1]) == 1.0  # no overflow trouble
    assert np.isnan(M.binary_accuracy(np.zeros((0, 3)), np.zeros((0, 3))))


@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((50, 6))
    labels = rng.integers(0, 6, 50)
    expected = skm.accuracy_score(labels, logits.argmax(axis=1))
    assert_same(M.accuracy(logits, labels), expected)
    assert_same(M.accuracy(logits.tolist(), labels.astype(np.uint8)), expected)
    # without ties, accuracy is top-1 accuracy
    assert_same(
        M.accuracy(logits, labels),
        skm.top_k_accuracy_score(labels, logits, k=1, labels=np.arange(6)),
    )
    # (N, C, d) puts classes on axis 1, as torch
    logits3 = rng.standard_normal((8, 4, 5))
    labels3 = rng.integers(0, 4, (8, 5))
    flat = np.moveaxis(logits3, 1, -1).reshape(-1, 4)
    assert_same(
        M.accuracy(logits3, labels3), skm.accuracy_score(labels3.ravel(), flat.argmax(axis=1))
    )
    # one 1-D sample with a scalar label
    assert M.accuracy(logits[0], labels[0]) == float(logits[0].argmax() == labels[0])


def test_accuracy_ties_go_to_lowest_index():
    logits = np.zeros((6, 3))
    labels = np.array([0, 1, 2, 0, 0, 2])
    assert M.accuracy(logits, labels) == skm.accuracy_score(labels, np.zeros(6, int))
    assert np.array_equal(M.multiclass_predictions(logits), np.zeros(6, int))
    assert np.isnan(M.accuracy(np.zeros((0, 3)), np.zeros(0, int)))


@pytest.mark.parametrize("levels", [0, 2, 4], ids=["continuous", "ties2", "ties4"])
@pytest.mark.parametrize("n_classes", [3, 5, 12])
@pytest.mark.parametrize("seed", SEEDS)
def test_top_k_accuracy_matches_sklearn(seed, n_classes, levels):
    rng = np.random.default_rng(seed)
    logits = tied_scores(rng, (60, n_classes), levels)
    labels = rng.integers(0, n_classes, 60)
    for k in range(1, n_classes + 2):
        ours, ours_w = record(M.top_k_accuracy, logits, labels, k=k)
        theirs, sk_w = record(
            skm.top_k_accuracy_score, labels, logits, k=k, labels=np.arange(n_classes)
        )
        assert_same(ours, theirs)
        assert bool(messages(ours_w, M.UndefinedMetricWarning)) == bool(
            messages(sk_w, SkUndefinedMetricWarning)
        )
    assert_same(
        M.top_k_accuracy(logits.tolist(), labels.tolist(), k=2),
        skm.top_k_accuracy_score(labels, logits, k=2, labels=np.arange(n_classes)),
    )


@pytest.mark.parametrize("n_classes", [1, 2])
def test_top_k_accuracy_few_classes_via_padding(n_classes):
    # scikit-learn reads two score columns as a binary problem and refuses them;
    # a padding class scored below everything leaves the top-k of the rest intact
    rng = np.random.default_rng(4)
    logits = tied_scores(rng, (40, n_classes), 3)
    labels = rng.integers(0, n_classes, 40)
    padded = np.hstack([logits, np.full((40, 3), logits.min() - 1)])
    for k in range(1, n_classes + 1):
        expected = skm.top_k_accuracy_score(labels, padded, k=k, labels=np.arange(n_classes + 3))
        ours, rec = record(M.top_k_accuracy, logits, labels, k=k)
        assert_same(ours, expected)
        assert bool(messages(rec, M.UndefinedMetricWarning)) == (k >= n_classes)


def test_top_k_accuracy_spatial_and_tie_rule():
    rng = np.random.default_rng(9)
    logits = rng.integers(0, 3, (6, 5, 4)).astype(float)  # (N, C, d), ties
    labels = rng.integers(0, 5, (6, 4))
    flat = np.moveaxis(logits, 1, -1).reshape(-1, 5)
    for k in (1, 2, 3):
        assert_same(
            M.top_k_accuracy(logits, labels, k=k),
            skm.top_k_accuracy_score(labels.ravel(), flat, k=k, labels=np.arange(5)),
        )
    # a single 1-D sample with a scalar label
    for k in (1, 2, 3):
        row, label = logits[0, :, 0], labels[0, 0]
        expected = skm.top_k_accuracy_score([label], row[None], k=k, labels=np.arange(5))
        assert M.top_k_accuracy(row, label, k=k) == expected
    # all tied: the highest class indices come first, as in scikit-learn
    labels = np.arange(4)
    assert M.top_k_accuracy(np.zeros((4, 4)), labels, k=1) == np.mean(labels == 3)


# ----------------------------------------------------------------------------
# scores -> labels helpers
# ----------------------------------------------------------------------------


def test_multilabel_predictions():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((20, 5))
    logits[0, 0] = 0.0
    pred = M.multilabel_predictions(logits)
    assert pred.dtype == np.int64 and pred.shape == logits.shape
    assert np.array_equal(pred, (logits > 0).astype(int))
    thr = np.linspace(-1, 1, 5)
    assert np.array_equal(
        M.multilabel_predictions(logits.tolist(), thr), (logits > thr).astype(int)
    )
    # away from the sigmoid's rounding at 0, the same decisions as binary_accuracy
    y = (rng.random((20, 5)) < 0.5).astype(int)
    assert_same(
        M.binary_accuracy(logits, y), 1 - skm.hamming_loss(y, M.multilabel_predictions(logits))
    )
    with pytest.raises(ValueError, match="threshold"):
        M.multilabel_predictions(logits, np.zeros(3))


def test_multiclass_predictions_and_one_hot():
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((7, 4, 3))
    pred = M.multiclass_predictions(logits)
    assert pred.dtype == np.int64 and pred.shape == (7, 3)
    assert np.array_equal(pred, logits.argmax(axis=1))
    assert M.multiclass_predictions(logits[0, :, 0]).shape == ()
    labels = rng.integers(0, 5, 30).astype(np.int16)
    enc = OneHotEncoder(categories=[np.arange(6)], sparse_output=False)
    expected = enc.fit_transform(labels.reshape(-1, 1))
    out = M.one_hot(labels, 6)
    assert out.dtype == np.int64 and np.array_equal(out, expected)
    assert np.array_equal(M.one_hot(labels), expected[:, : labels.max() + 1])
    assert M.one_hot(labels.reshape(5, 6), 6).shape == (5, 6, 6)
    assert M.one_hot(np.zeros(0, int), 3).shape == (0, 3)
    # f1 on one-hot encoded multiclass equals multiclass macro f1 over all classes
    y_pred = rng.integers(0, 5, 30)
    assert_same(
        M.f1_score(M.one_hot(labels, 5), M.one_hot(y_pred, 5), average="macro", zero_division=0),
        skm.f1_score(labels, y_pred, average="macro", labels=np.arange(5), zero_division=0),
    )


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (
            lambda: M.precision_score([[0, 2], [1, 0]], [[0, 1], [1, 0]], average="micro"),
            ValueError,
            "y_true.*0 and 1",
        ),
        (
            lambda: M.precision_score([[0, 1], [1, 0]], [[0, 1], [1, 0]]),
            ValueError,
            "average='binary'",
        ),
        (lambda: M.recall_score([0, 1], [0, 1], average="mean"), ValueError, "average"),
        (lambda: M.f1_score([0, 1], [0, 1], zero_division=2), ValueError, "zero_division"),
        (lambda: M.f1_score([0, 1], [0, 1], zero_division=None), TypeError, "zero_division"),
        (lambda: M.f1_score([0, 1, 2], [0, 1, 2], average="samples"), ValueError, "samplewise"),
        (lambda: M.f1_score([0, 1], [0, 1], pos_label=3), ValueError, "pos_label"),
        (lambda: M.f1_score([0, 1, 1], [0, 1], average="macro"), ValueError, "y_pred has 2"),
        (lambda: M.f1_score([[0, 1]], [0, 1], average="macro"), ValueError, "cannot mix"),
        (lambda: M.f1_score([0.5, 1.0], [0, 1]), ValueError, "y_true.*non-integer"),
        (lambda: M.f1_score(["a", "b"], [0, 1], average="macro"), TypeError, "string and numeric"),
        (lambda: M.f1_score([], [], average="macro"), ValueError, "empty"),
        (
            lambda: M.f1_score([[0, 1], [1, 0]], [[0, 1], [1, 0]], average="macro", labels=[2]),
            ValueError,
            "labels",
        ),
        (
            lambda: M.hamming_loss([[0, 1], [1, 0]], [[0, 1], [1]]),
            ValueError,
            "y_pred.*rectangular",
        ),
        (
            lambda: M.subset_accuracy([0, 1], [0, 1], sample_weight=[1.0]),
            ValueError,
            "sample_weight",
        ),
        (
            lambda: M.average_precision_score([[0, 1], [1, 0]], [[0.1, np.nan], [0.3, 0.2]]),
            ValueError,
            "y_score.*NaN",
        ),
        (lambda: M.average_precision_score([[0, 1], [1, 0]], [[0.1, 0.2]]), ValueError, "y_score"),
        (
            lambda: M.average_precision_score([0, 1, 1], [0.1, 0.2, 0.3], average="binary"),
            ValueError,
            "average",
        ),
        (lambda: M.average_precision_score([0, 2, 2], [0.1, 0.2, 0.3]), ValueError, "pos_label"),
        (lambda: M.average_precision_score([0, 1, 1], [[0.1, 0.9]] * 3), ValueError, "y_score"),
        (lambda: M.coverage_error([0, 1], [0.1, 0.2]), ValueError, "y_true.*2-D"),
        (lambda: M.label_ranking_loss([[0, 1]], [["a", "b"]]), TypeError, "y_score"),
        (lambda: M.label_ranking_loss([[0, 1]], [[1j, 2]]), TypeError, "y_score"),
        (lambda: M.binary_accuracy([0.1, 0.2], [0, 1, 1]), ValueError, "target"),
        (lambda: M.binary_accuracy([0.1, 0.2], [0, 0.5]), ValueError, "target"),
        (lambda: M.binary_accuracy([0.1, 0.2], [0, 1], threshold=1.5), ValueError, "threshold"),
        (lambda: M.binary_accuracy(["a"], [0]), TypeError, "logits"),
        (
            lambda: M.accuracy([[0.1, 0.2]], [2]),
            IndexError,
            "labels has class 2 at index 0, but logits has 2",
        ),
        (lambda: M.accuracy([[0.1, 0.2]], [-1]), IndexError, "labels"),
        (lambda: M.accuracy([[0.1, 0.2]], [1.0]), TypeError, "labels.*integer"),
        (lambda: M.accuracy([[0.1, 0.2]], [[1]]), ValueError, "labels must have shape"),
        (lambda: M.accuracy(1.0, 0), ValueError, "logits"),
        (lambda: M.top_k_accuracy([[0.1, 0.2]], [1], k=0), ValueError, "k"),
        (lambda: M.top_k_accuracy([[0.1, 0.2]], [1], k=1.5), TypeError, "k"),
        (lambda: M.top_k_accuracy([[0.1, np.nan]], [1]), ValueError, "logits.*NaN"),
        (lambda: M.one_hot([0, 3], 3), IndexError, "labels has class 3"),
        (lambda: M.one_hot([0, -1]), IndexError, "negative"),
        (lambda: M.one_hot([0.0, 1.0], 2), TypeError, "labels"),
        (lambda: M.one_hot(np.zeros(0, int)), ValueError, "num_classes"),
    ],
)
def test_bad_input_raises_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_inputs_are_not_modified_and_layouts_do_not_matter():
    rng = np.random.default_rng(13)
    y_true, y_pred = multilabel_data(13, (30, 6))
    y_score = tied_scores(rng, (30, 6), 4)
    w = rng.random(30)
    arrays = [y_true, y_pred, y_score, w]
    before = [a.copy() for a in arrays]

    def readonly(a):
        a = a.copy()
        a.flags.writeable = False
        return a

    odd = {  # the same values: column-major, negative strides, other byte order, read-only
        "F": [np.asfortranarray(a) for a in arrays],
        "neg": [np.ascontiguousarray(a[::-1])[::-1] for a in arrays],
        "swapped": [a.astype(a.dtype.newbyteorder()) for a in arrays],
        "readonly": [readonly(a) for a in arrays],
    }
    calls = [
        lambda yt, yp, s, w: M.f1_score(
            yt, yp, average="samples", sample_weight=w, zero_division=0
        ),
        lambda yt, yp, s, w: M.hamming_loss(yt, yp, sample_weight=w),
        lambda yt, yp, s, w: M.average_precision_score(yt, s, average=None, sample_weight=w),
        lambda yt, yp, s, w: M.label_ranking_average_precision_score(yt, s, sample_weight=w),
        lambda yt, yp, s, w: M.label_ranking_loss(yt, s, sample_weight=w),
        lambda yt, yp, s, w: M.coverage_error(yt, s, sample_weight=w),
        lambda yt, yp, s, w: M.top_k_accuracy(s, yt.argmax(1), k=2),
        lambda yt, yp, s, w: M.binary_accuracy(s - 0.5, yt),
    ]
    for call in calls:
        reference = call(*arrays)
        for layout in odd.values():
            np.testing.assert_array_equal(call(*layout), reference)
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------
# hypothesis properties
# ----------------------------------------------------------------------------

indicators = st.tuples(st.integers(1, 8), st.integers(2, 6)).flatmap(
    lambda shape: st.tuples(
        hnp.arrays(np.int8, shape, elements=st.integers(0, 1)),
        hnp.arrays(np.int8, shape, elements=st.integers(0, 1)),
        hnp.arrays(np.float64, shape, elements=st.integers(-2, 2).map(float)),  # ties galore
    )
)


@HYP
@given(
    indicators,
    st.sampled_from([None, "micro", "macro", "weighted", "samples"]),
    st.sampled_from(ZERO_DIVISIONS),
)
def test_property_setwise_metrics_equal_sklearn(data, average, zero_division):
    y_true, y_pred, _ = data
    for ours_f, sk_f in PRF:
        ours, ours_w = record(ours_f, y_true, y_pred, average=average, zero_division=zero_division)
        theirs, sk_w = record(sk_f, y_true, y_pred, average=average, zero_division=zero_division)
        assert_same(ours, theirs)
        assert messages(ours_w, M.UndefinedMetricWarning) == messages(
            sk_w, SkUndefinedMetricWarning
        )
    hl = M.hamming_loss(y_true, y_pred)
    acc = M.subset_accuracy(y_true, y_pred)
    assert 0.0 <= acc <= 1.0 - hl + 1e-12  # a fully right row has no wrong label


@HYP
@given(indicators)
def test_property_ranking_metrics_equal_sklearn_and_ignore_monotone_maps(data):
    y_true, _, y_score = data
    stretched = 3.0 * y_score + 7.0  # strictly increasing: same order, same ties
    for ours_f, sk_f in RANKING:
        theirs = sk_f(y_true, y_score)
        assert_same(ours_f(y_true, y_score), theirs)
        assert_same(ours_f(y_true, stretched), theirs)
    for average in (None, "micro", "macro", "weighted", "samples"):
        ours, _ = record(M.average_precision_score, y_true, y_score, average=average)
        theirs, _ = record(skm.average_precision_score, y_true, y_score, average=average)
        assert_same(ours, theirs)
    n_true = y_true.sum(axis=1)
    assert n_true.mean() - 1e-12 <= M.coverage_error(y_true, y_score) <= y_true.shape[1]
    assert 0.0 <= M.label_ranking_loss(y_true, y_score) <= 1.0
    assert 0.0 < M.label_ranking_average_precision_score(y_true, y_score) <= 1.0


@HYP
@given(
    st.integers(1, 10).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, (n, 4), elements=st.integers(-2, 2).map(float)),
            hnp.arrays(np.int64, n, elements=st.integers(0, 3)),
        )
    )
)
def test_property_top_k_monotone_and_equal_sklearn(data):
    logits, labels = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.UndefinedMetricWarning)
        warnings.simplefilter("ignore", SkUndefinedMetricWarning)
        values = [M.top_k_accuracy(logits, labels, k=k) for k in range(1, 5)]
        for k, value in enumerate(values, start=1):
            assert_same(value, skm.top_k_accuracy_score(labels, logits, k=k, labels=np.arange(4)))
    assert values == sorted(values) and values[-1] == 1.0


@HYP
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 6), st.integers(1, 5)),
        elements=st.floats(-30, 30, allow_subnormal=False),
    )
)
def test_property_binary_accuracy_is_rounded_sigmoid(logits):
    target = (np.arange(logits.size).reshape(logits.shape) % 2).astype(np.int64)
    ours = M.binary_accuracy(logits, target)
    if logits.size == 0:
        assert np.isnan(ours)
    else:
        assert_same(ours, float(np.mean(np.round(expit(logits)) == target)))


# ----------------------------------------------------------------------------
# the module itself
# ----------------------------------------------------------------------------


def test_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(M, M.__name__) if t.examples]
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted > 20
    for name in M.__all__:
        obj = getattr(M, name)
        if name == "UndefinedMetricWarning":
            continue
        doc = obj.__doc__
        assert ">>>" in doc and "Returns" in doc and ".. math::" in doc and "shape" in doc, name
        for param in inspect.signature(obj).parameters.values():  # each default is stated
            if param.default is not inspect.Parameter.empty:
                assert param.name in doc and "default" in doc, (name, param.name)


def test_module_depends_only_on_numpy():
    assert len(METRICS_FILES) > 1, METRICS_FILES
    imported = set()
    for path in METRICS_FILES:
        tree = ast.parse(path.read_text())
        imported |= {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        # relative imports stay inside the package, but for the lazy hand-over
        # of a dask call to pylossfn._dask_metrics
        imported |= {
            node.module.split(".")[0] if node.level == 0
            else "." if node.level == 1
            else ".." + (node.module or alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
    # (typing for the annotations of a function factory: NumPy imports it itself)
    assert imported <= {"numpy", "numbers", "typing", "warnings", ".", ".._dask_metrics"}, imported
    # loads on its own, as a package named m, without pylossfn's extension
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(METRICS_PATH)!r},\n"
        f"    submodule_search_locations=[{str(METRICS_PATH.parent)!r}])\n"
        "m = sys.modules['m'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        "assert isinstance(m.f1_score([0, 1, 1], [0, 1, 0]), float)\n"
        "assert not {'sklearn', 'torch', 'scipy', 'pylossfn'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
