"""pylossfn.class_weights against scikit-learn ("balanced") and the float64 formulas."""
from __future__ import annotations

import numpy as np
import pytest

import pylossfn as lf

RNG = np.random.default_rng(7)


def _targets():
    yield RNG.integers(0, 5, 200)                          # every class present
    yield np.array([0, 0, 0, 3, 3, 1], np.uint8)            # class 2 absent
    yield RNG.integers(0, 4, (6, 3, 2)).astype(np.int16)   # K-dim targets
    yield np.array([7])


@pytest.mark.sklearn
@pytest.mark.parametrize("t", list(_targets()), ids=range(4))
def test_inverse_frequency_is_sklearn_balanced(t):
    from sklearn.utils.class_weight import compute_class_weight

    w = lf.class_weights(t)
    flat = t.reshape(-1)
    present = np.unique(flat)
    expected = compute_class_weight("balanced", classes=present, y=flat)
    # scikit-learn divides by the classes present; ours by all C = max + 1 of them
    np.testing.assert_allclose(w[present], expected * len(present) / w.size, rtol=1e-15)
    absent = np.setdiff1d(np.arange(w.size), present)
    assert w.dtype == np.float64 and (w[absent] == 0).all()


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.999, 0.999999])
@pytest.mark.parametrize("t", list(_targets()), ids=range(4))
def test_effective_number_formula(t, beta):
    w = lf.class_weights(t, "effective_number", beta=beta, num_classes=9)
    n = np.bincount(t.reshape(-1).astype(np.int64), minlength=9).astype(float)
    ref = np.array([(1 - beta) / (1 - beta**k) if k else 0.0 for k in n])
    ref *= 9 / ref.sum()
    np.testing.assert_allclose(w, ref, rtol=1e-9)
    assert np.isclose(w.sum(), 9)


def test_effective_number_tends_to_inverse_frequency():
    t = RNG.integers(0, 6, 500)
    inv = lf.class_weights(t)
    eff = lf.class_weights(t, "effective_number", beta=1 - 1e-12)
    np.testing.assert_allclose(eff / eff.sum(), inv / inv.sum(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, bool])
def test_neg_pos_is_negatives_over_positives(dtype):
    t = (RNG.random((50, 6)) < [0.5, 0.1, 0.02, 0.9, 0.0, 1.0]).astype(dtype)
    w = lf.class_weights(t, "neg_pos")
    pos = t.astype(float).sum(0)
    ref = np.where(pos > 0, (50 - pos) / np.where(pos > 0, pos, 1), 0.0)
    np.testing.assert_allclose(w, ref, rtol=1e-15)
    # the use it is for: a pos_weight of BCEWithLogitsLoss
    x = RNG.standard_normal(t.shape)
    assert np.isfinite(lf.BCEWithLogitsLoss(pos_weight=w)(x, t.astype(float)))


def test_feeds_cross_entropy_weight():
    y = RNG.integers(0, 4, 64)
    x = RNG.standard_normal((64, 4))
    w = lf.class_weights(y, num_classes=4)
    got = lf.CrossEntropyLoss(weight=w)(x, y)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    ref = -(w[y] * logp[np.arange(64), y]).sum() / w[y].sum()
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: lf.class_weights([0, 1], method="balanced"), ValueError, "method must be one of"),
    (lambda: lf.class_weights([0, 1], "effective_number", beta=1.0), ValueError, r"\[0, 1\)"),
    (lambda: lf.class_weights([0, 1], "effective_number", beta=-0.1), ValueError, r"\[0, 1\)"),
    (lambda: lf.class_weights([0, 1], "effective_number", beta="x"), TypeError, "beta"),
    (lambda: lf.class_weights([0.0, 1.0]), TypeError, "integer class indices"),
    (lambda: lf.class_weights([0, -1]), IndexError, "class -1 at flat index 1"),
    (lambda: lf.class_weights([0, 5], num_classes=3), IndexError, "class 5 at flat index 1"),
    (lambda: lf.class_weights([0, 1], num_classes=1.5), TypeError, "num_classes"),
    (lambda: lf.class_weights([0, 1, 0], "neg_pos"), ValueError, r"\(N, C\)"),
    (lambda: lf.class_weights([[0, 2]], "neg_pos"), ValueError, r"\[0, 1\]"),
    (lambda: lf.class_weights([[0, np.nan]], "neg_pos"), ValueError, r"\[0, 1\]"),
    (lambda: lf.class_weights(None), TypeError, "target must be an array"),
])
def test_errors_name_the_argument(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_empty_and_num_classes():
    assert lf.class_weights(np.array([], np.int64)).shape == (0,)
    w = lf.class_weights(np.array([], np.int64), num_classes=3)
    np.testing.assert_array_equal(w, np.zeros(3))
    np.testing.assert_array_equal(lf.class_weights(np.zeros((0, 4)), "neg_pos"), np.zeros(4))
