"""pylossfn.boosting: the objectives train the real XGBoost, LightGBM and CatBoost.

Two kinds of oracle, both run here:

- the libraries themselves: with ``hessian="builtin"`` a pylossfn objective
  (BCEWithLogitsLoss, CrossEntropyLoss) trains the model of the library's own
  built-in objective (binary logistic, softmax), from zero base margins, with
  sample weights, natively and through the scikit-learn estimators; the
  matching metrics equal the libraries' own logloss metrics;
- torch autograd in float64: the gradient and the Hessian (diagonal, or the
  K x K block of an object) of ``sum_i w_i loss_i``, against which the
  adapters' arrays are checked *as the libraries call them* (recorded during
  training), in each library's layout and sign.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
import oracle as ref
from multilabel_reference import ref_asl, ref_focal, ref_zlpr

import pylossfn as lf
from pylossfn import boosting

pytestmark = [pytest.mark.boosting, pytest.mark.torch]

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
cb = pytest.importorskip("catboost")

F32 = np.finfo(np.float32).eps
N, D, K = 240, 5, 3
ROUNDS = 8


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(N, D))
    yb = (X[:, 0] + 0.7 * rng.normal(size=N) > 0.3).astype(np.float64)
    yc = np.argmax(X[:, :K] + 0.7 * rng.normal(size=(N, K)), axis=1).astype(np.float64)
    ym = (X[:, :K] + rng.normal(size=(N, K)) > 0.8).astype(np.float64)
    w = rng.uniform(0.3, 3.0, size=N)
    return X, yb, yc, ym, w


def assert_f32_equal(got, want):
    """Equal to float32 rounding (XGBoost keeps margins and gradients in float32)."""
    want = np.asarray(want, dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=16 * F32 * max(1.0, np.abs(want).max()))


# -- the float64 autograd oracle -------------------------------------------------


def torch_loss(crit, x, t):
    """crit's per-sample losses (reduction="none") in torch."""
    if isinstance(crit, lf.CrossEntropyLoss):
        w = None if crit.weight is None else torch.from_numpy(np.asarray(crit.weight, np.float64))
        return TF.cross_entropy(x, t.long(), weight=w, reduction="none",
                                label_smoothing=crit.label_smoothing)
    if isinstance(crit, lf.BCEWithLogitsLoss):
        opt = {k: None if getattr(crit, k) is None
               else torch.from_numpy(np.asarray(getattr(crit, k), np.float64))
               for k in ("weight", "pos_weight")}
        return TF.binary_cross_entropy_with_logits(x, t, reduction="none", **opt)
    if isinstance(crit, lf.MSELoss):
        return (x - t) ** 2
    if isinstance(crit, lf.PolyCrossEntropyLoss):
        return ref.poly_cross_entropy(x, t.long(), epsilon=crit.epsilon, reduction="none")
    if isinstance(crit, lf.SparsemaxLoss):
        return ref.sparsemax_loss(x, t.long(), reduction="none")
    if isinstance(crit, lf.LogCoshLoss):
        return torch.log(torch.cosh(x - t))
    if isinstance(crit, lf.SigmoidFocalLoss):
        return ref_focal(x, t, alpha=crit.alpha, gamma=crit.gamma)
    if isinstance(crit, lf.AsymmetricLoss):
        return ref_asl(x, t, gamma_neg=crit.gamma_neg, gamma_pos=crit.gamma_pos,
                       clip=crit.clip, eps=crit.eps)
    if isinstance(crit, lf.ZLPRLoss):
        return ref_zlpr(x, t)
    if isinstance(crit, lf.DistillationLoss):  # Hinton et al.'s T^2 KL(q || p), per class
        temp = crit.temperature
        q = torch.softmax(t / temp, dim=1)
        return temp ** 2 * q * (torch.log_softmax(t / temp, dim=1)
                                - torch.log_softmax(x / temp, dim=1))
    raise AssertionError(type(crit))


def oracle(crit, margins, labels, weights=None):
    """grad, diagonal Hessian and per-object K x K blocks of sum_i w_i loss_i."""
    x0 = torch.from_numpy(np.asarray(margins, np.float64).copy())
    t = torch.from_numpy(np.asarray(labels, np.float64).reshape(
        (-1,) if boosting._kind(crit) == "class_index" else x0.shape).copy())
    w = None if weights is None else torch.from_numpy(np.asarray(weights, np.float64))

    def total(x):
        loss = torch_loss(crit, x, t)
        if w is not None:
            loss = loss * (w.reshape((-1,) + (1,) * (loss.ndim - 1)))
        return loss.sum()

    x = x0.clone().requires_grad_(True)
    grad = torch.autograd.grad(total(x), x)[0].numpy()
    h = torch.autograd.functional.hessian(total, x0).numpy()
    n = x0.shape[0]
    if x0.ndim == 1:
        return grad, np.diagonal(h).copy(), None
    k = x0.shape[1]
    blocks = np.stack([h[i, :, i, :] for i in range(n)])
    diag = np.stack([np.diagonal(blocks[i]) for i in range(n)])
    assert blocks.shape == (n, k, k)
    return grad, diag, blocks


class Recorder:
    """Wraps an objective; keeps what the library passed and what came back."""

    def __init__(self, obj):
        self.obj, self.calls = obj, []

    def __deepcopy__(self, memo):  # LightGBM and CatBoost copy their params
        return self

    def __call__(self, *args, **kwargs):
        out = self.obj(*args, **kwargs)
        self.calls.append((np.array(args[0], copy=True), out))
        return out


# -- XGBoost ---------------------------------------------------------------------

XGB = dict(tree_method="hist", max_depth=3, eta=0.3, nthread=1, seed=0)


@pytest.mark.parametrize("task", ["binary", "softmax", "multilabel"])
@pytest.mark.parametrize("weighted", [False, True])
def test_xgboost_builtin_hessian_reproduces_the_builtin_model(data, task, weighted):
    X, yb, yc, ym, w = data
    y, crit, params, base = {
        "binary": (yb, lf.BCEWithLogitsLoss(), {"objective": "binary:logistic"}, np.zeros(N)),
        "softmax": (yc, lf.CrossEntropyLoss(), {"objective": "multi:softprob", "num_class": K},
                    np.zeros((N, K))),
        "multilabel": (ym, lf.BCEWithLogitsLoss(), {"objective": "binary:logistic",
                                                   "multi_strategy": "multi_output_tree"},
                       np.zeros((N, K))),
    }[task]
    dtrain = xgb.DMatrix(X, label=y, weight=w if weighted else None, base_margin=base)
    params = dict(XGB, **params)
    builtin = xgb.train(params, dtrain, ROUNDS)
    custom_params = {k: v for k, v in params.items() if k != "objective"}
    obj = Recorder(boosting.xgboost_objective(crit, hessian="builtin"))
    custom = xgb.train(custom_params, dtrain, ROUNDS, obj=obj)
    want = builtin.predict(dtrain, output_margin=True)
    got = custom.predict(dtrain, output_margin=True)
    assert got.shape == want.shape == base.shape
    assert np.abs(want).max() > 0.5  # the model learnt something
    assert_f32_equal(got, want)
    # what XGBoost handed over and got back: (n,) or (n, K) margins, gradients alike
    predt, (grad, hess) = obj.calls[-1]
    assert predt.shape == grad.shape == hess.shape == base.shape
    og, oh, _ = oracle(crit, predt, y, w if weighted else None)
    assert_f32_equal(grad, og)
    if task == "softmax":  # XGBoost's softmax Hessian: 2 p (1 - p) w
        oh = 2 * oh
    assert_f32_equal(hess, oh)


@pytest.mark.parametrize("crit,task", [
    (lf.BCEWithLogitsLoss(pos_weight=np.array([2.0, 0.5, 1.5])), "multilabel"),
    (lf.BCEWithLogitsLoss(weight=np.array([1.0, 2.0, 0.5])), "multilabel"),
    (lf.CrossEntropyLoss(weight=np.array([0.5, 2.0, 1.0]), label_smoothing=0.1), "softmax"),
    (lf.CrossEntropyLoss(), "softmax"),
    (lf.PolyCrossEntropyLoss(epsilon=2.0), "softmax"),
    (lf.SparsemaxLoss(), "softmax"),
])
def test_xgboost_exact_derivatives_against_autograd(data, crit, task):
    X, yb, yc, ym, w = data
    y = ym if task == "multilabel" else yc
    params = dict(XGB, num_target=K) if task == "multilabel" else dict(XGB, num_class=K)
    if task == "multilabel":
        params["multi_strategy"] = "multi_output_tree"
    obj = Recorder(boosting.xgboost_objective(crit))
    xgb.train(params, xgb.DMatrix(X, label=y, weight=w), 3, obj=obj)
    for predt, (grad, hess) in obj.calls:
        og, oh, _ = oracle(crit, predt, y, w)
        assert grad.shape == hess.shape == (N, K)
        assert_f32_equal(grad, og)
        assert_f32_equal(hess, oh)


@pytest.mark.parametrize("crit", [
    lf.SigmoidFocalLoss(), lf.SigmoidFocalLoss(alpha=-1, gamma=1.5),
    lf.AsymmetricLoss(), lf.AsymmetricLoss(gamma_neg=2.0, gamma_pos=0.0, clip=0.0), lf.ZLPRLoss(),
], ids=repr)
def test_multilabel_objectives_against_autograd(data, crit):
    """focal, ASL and ZLPR through XGBoost's multi_output_tree (K labels per sample)
    and LightGBM (one label), in float64 margins too (the sklearn-style call)."""
    X, yb, yc, ym, w = data
    obj = Recorder(boosting.xgboost_objective(crit))
    params = dict(XGB, num_target=K, multi_strategy="multi_output_tree")
    xgb.train(params, xgb.DMatrix(X, label=ym, weight=w), 3, obj=obj)
    for predt, (grad, hess) in obj.calls:
        og, oh, _ = oracle(crit, predt, ym, w)
        assert grad.shape == hess.shape == (N, K) and grad.dtype == np.float32
        assert_f32_equal(grad, og)
        assert_f32_equal(hess, oh)
    x = np.random.default_rng(5).normal(scale=2.0, size=(N, K))
    grad, hess = boosting.xgboost_objective(crit)(ym, x, sample_weight=w)
    og, oh, _ = oracle(crit, x, ym, w)
    np.testing.assert_allclose(grad, og, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(hess, oh, rtol=1e-10, atol=1e-13)
    if isinstance(crit, lf.ZLPRLoss):
        return  # a loss of a whole label row: not a one-label LightGBM model
    obj = Recorder(boosting.lightgbm_objective(crit))
    lgb.train(dict(LGB, objective=obj), lgb.Dataset(X, label=yb, weight=w), 3)
    for predt, (grad, hess) in obj.calls:
        og, oh, _ = oracle(crit, predt, yb, w.astype(np.float32))
        np.testing.assert_allclose(grad, og, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(hess, oh, rtol=1e-10, atol=1e-13)


def _regressor_calls(crit, X, y, w):
    """XGBRegressor's calls of crit's objective (3 rounds, sample weights):
    (y_true, y_pred, sample_weight, (grad, hess)) each."""
    obj = boosting.xgboost_objective(crit)
    calls = []

    def spy(y_true, y_pred, sample_weight=None):
        out = obj(y_true, y_pred, sample_weight=sample_weight)
        calls.append((y_true, np.array(y_pred), sample_weight, out))
        return out

    xgb.XGBRegressor(objective=spy, n_estimators=3, max_depth=3, n_jobs=1).fit(
        X, y, sample_weight=w)
    assert len(calls) == 3
    return calls


def test_regression_objective_is_the_sum_whatever_the_reduction(data):
    """MSELoss (reduction "mean" by default) gives the derivatives of the weighted
    sum, 2 w (x - t) and 2 w, through XGBRegressor's scikit-learn call."""
    X, yb, yc, ym, w = data
    y = X[:, 0] + 0.1 * X[:, 1] ** 2
    for y_true, y_pred, sw, (grad, hess) in _regressor_calls(lf.MSELoss(), X, y, w):
        assert sw is not None and y_pred.shape == grad.shape == hess.shape == (N,)
        og, oh, _ = oracle(lf.MSELoss(), y_pred, y_true, sw)
        assert_f32_equal(grad, og)
        assert_f32_equal(hess, oh)
        np.testing.assert_allclose(oh, 2 * sw, rtol=1e-12)


def test_log_cosh_objective_is_a_robust_regression(data):
    """LogCoshLoss as XGBoost's objective: tanh(x - t) w and (1 - tanh^2) w, the
    float64 autograd's, on a target with outliers."""
    X, yb, yc, ym, w = data
    y = X[:, 0] + np.where(np.arange(N) % 17 == 0, 50.0, 0.0)
    for y_true, y_pred, sw, (grad, hess) in _regressor_calls(lf.LogCoshLoss(), X, y, w):
        og, oh, _ = oracle(lf.LogCoshLoss(), y_pred, y_true, sw)
        assert_f32_equal(grad, og)
        assert_f32_equal(hess, oh)


def test_xgboost_sklearn_interface(data):
    X, yb, yc, ym, w = data
    kw = dict(n_estimators=ROUNDS, max_depth=3, learning_rate=0.3, n_jobs=1, random_state=0,
              tree_method="hist")
    base = np.zeros((N, K))
    builtin = xgb.XGBClassifier(objective="multi:softprob", **kw).fit(
        X, yc, sample_weight=w, base_margin=base)
    obj = boosting.xgboost_objective(lf.CrossEntropyLoss(), hessian="builtin")
    metric = boosting.xgboost_metric(lf.CrossEntropyLoss())
    custom = xgb.XGBClassifier(objective=obj, eval_metric=metric, **kw).fit(
        X, yc, sample_weight=w, base_margin=base, eval_set=[(X, yc)],
        sample_weight_eval_set=[w], base_margin_eval_set=[base], verbose=False)
    assert_f32_equal(custom.predict(X, output_margin=True, base_margin=base),
                     builtin.predict(X, output_margin=True, base_margin=base))
    # the metric: the weighted mean cross-entropy of the margins, as torch computes it
    history = custom.evals_result()["validation_0"]["CrossEntropyLoss"]
    margins = custom.predict(X, output_margin=True, base_margin=base)
    loss = torch_loss(lf.CrossEntropyLoss(), torch.from_numpy(margins.astype(np.float64)),
                      torch.from_numpy(yc)).numpy()
    np.testing.assert_allclose(history[-1], (w * loss).sum() / w.sum(), rtol=1e-5)


def test_xgboost_metric_equals_the_builtin_logloss(data):
    X, yb, yc, ym, w = data
    dtrain = xgb.DMatrix(X, label=yb, weight=w, base_margin=np.zeros(N))
    builtin, custom = {}, {}
    xgb.train(dict(XGB, objective="binary:logistic", eval_metric="logloss"), dtrain, ROUNDS,
              evals=[(dtrain, "train")], evals_result=builtin, verbose_eval=False)
    xgb.train(dict(XGB, disable_default_eval_metric=1), dtrain, ROUNDS,
              obj=boosting.xgboost_objective(lf.BCEWithLogitsLoss(), hessian="builtin"),
              custom_metric=boosting.xgboost_metric(lf.BCEWithLogitsLoss(), name="ours"),
              evals=[(dtrain, "train")], evals_result=custom, verbose_eval=False)
    np.testing.assert_allclose(custom["train"]["ours"], builtin["train"]["logloss"], rtol=1e-5)


def test_min_hessian_floors_and_exact_differs_from_builtin(data):
    X, yb, yc, ym, w = data
    x = np.array([40.0, -40.0, 0.0], np.float32)
    t = np.array([1.0, 0.0, 1.0])
    _, h_exact = boosting.xgboost_objective(lf.BCEWithLogitsLoss())(t, x)
    _, h_builtin = boosting.xgboost_objective(lf.BCEWithLogitsLoss(), hessian="builtin")(t, x)
    _, h_floor = boosting.xgboost_objective(lf.BCEWithLogitsLoss(), min_hessian=0.01)(t, x)
    p = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert_f32_equal(h_exact, p * (1 - p))
    assert h_builtin[0] == np.float32(1e-16) and h_builtin[2] == np.float32(0.25)
    np.testing.assert_array_equal(h_floor, np.maximum(h_exact, np.float32(0.01)))


# -- LightGBM --------------------------------------------------------------------

LGB = dict(num_leaves=7, learning_rate=0.3, num_threads=1, verbose=-1, boost_from_average=False,
           deterministic=True, seed=0, min_data_in_leaf=5)


@pytest.mark.parametrize("task", ["binary", "softmax"])
@pytest.mark.parametrize("weighted", [False, True])
def test_lightgbm_builtin_hessian_reproduces_the_builtin_model(data, task, weighted):
    X, yb, yc, ym, w = data
    y, crit, params = {
        "binary": (yb, lf.BCEWithLogitsLoss(), {"objective": "binary"}),
        "softmax": (yc, lf.CrossEntropyLoss(), {"objective": "multiclass", "num_class": K}),
    }[task]
    weight = w if weighted else None
    builtin = lgb.train(dict(LGB, **params), lgb.Dataset(X, label=y, weight=weight), ROUNDS)
    obj = Recorder(boosting.lightgbm_objective(crit, hessian="builtin"))
    custom = lgb.train(dict(LGB, **dict(params, objective=obj)),
                       lgb.Dataset(X, label=y, weight=weight), ROUNDS)
    want = builtin.predict(X, raw_score=True)
    got = custom.predict(X, raw_score=True)
    assert np.abs(want).max() > 0.5
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    predt, (grad, hess) = obj.calls[-1]
    assert predt.shape == grad.shape == hess.shape == ((N, K) if task == "softmax" else (N,))
    # (LightGBM keeps weights in float32, and hands the objective those)
    og, oh, _ = oracle(crit, predt, y, None if weight is None else weight.astype(np.float32))
    np.testing.assert_allclose(grad, og, rtol=1e-12, atol=1e-12)
    if task == "softmax":  # LightGBM's multiclass Hessian: K / (K - 1) p (1 - p) w
        oh = K / (K - 1) * oh
    np.testing.assert_allclose(hess, oh, rtol=1e-12, atol=1e-12)


def test_lightgbm_sklearn_interface_and_metric(data):
    X, yb, yc, ym, w = data
    kw = dict(n_estimators=ROUNDS, num_leaves=7, learning_rate=0.3, n_jobs=1, verbose=-1,
              boost_from_average=False, deterministic=True, random_state=0, min_child_samples=5)
    builtin = lgb.LGBMClassifier(**kw).fit(X, yb, sample_weight=w)
    custom = lgb.LGBMClassifier(
        objective=boosting.lightgbm_objective(lf.BCEWithLogitsLoss(), hessian="builtin"), **kw
    ).fit(X, yb, sample_weight=w, eval_X=(X,), eval_y=(yb,), eval_sample_weight=[w],
          eval_metric=boosting.lightgbm_metric(lf.BCEWithLogitsLoss()))
    margins = custom.predict(X, raw_score=True)
    np.testing.assert_allclose(margins, builtin.predict(X, raw_score=True), rtol=0, atol=1e-9)
    # the metric: the weighted mean logloss of the margins, as torch computes it
    (ours,) = [r["BCEWithLogitsLoss"][-1] for r in custom.evals_result_.values()]
    loss = torch_loss(lf.BCEWithLogitsLoss(), torch.from_numpy(margins),
                      torch.from_numpy(yb)).numpy()
    np.testing.assert_allclose(ours, (w * loss).sum() / w.sum(), rtol=1e-9)


# -- CatBoost --------------------------------------------------------------------

CB = dict(iterations=ROUNDS, depth=3, learning_rate=0.3, thread_count=1, random_seed=0,
          boost_from_average=False, verbose=False, bootstrap_type="No", random_strength=0,
          leaf_estimation_method="Newton", leaf_estimation_iterations=1, boosting_type="Plain",
          allow_writing_files=False)  # no catboost_info/ in the working directory


class CatRecorder:
    """Records calc_ders_multi calls of a CatBoost objective."""

    def __init__(self, obj):
        self.obj, self.multi = obj, []

    def __deepcopy__(self, memo):
        return self

    def calc_ders_range(self, approxes, targets, weights):
        return self.obj.calc_ders_range(approxes, targets, weights)

    def calc_ders_multi(self, approx, target, weight):
        out = self.obj.calc_ders_multi(approx, target, weight)
        self.multi.append((list(approx), target, weight, out))
        return out


@pytest.mark.parametrize("task", ["binary", "softmax"])
@pytest.mark.parametrize("hessian", ["builtin", "exact"])
def test_catboost_reproduces_the_builtin_model(data, task, hessian):
    X, yb, yc, ym, w = data
    y, crit, name = {"binary": (yb, lf.BCEWithLogitsLoss(), "Logloss"),
                     "softmax": (yc, lf.CrossEntropyLoss(), "MultiClass")}[task]
    pool = cb.Pool(X, label=y, weight=w)
    builtin = cb.CatBoost(dict(CB, loss_function=name)).fit(pool)
    obj = CatRecorder(boosting.catboost_objective(crit, hessian=hessian))
    extra = {"classes_count": K} if task == "softmax" else {}
    custom = cb.CatBoost(dict(CB, loss_function=obj, eval_metric=name, **extra)).fit(pool)
    want = builtin.predict(X, prediction_type="RawFormulaVal")
    got = custom.predict(X, prediction_type="RawFormulaVal")
    assert np.abs(want).max() > 0.5
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    if task == "softmax":  # the full K x K Hessian, log-likelihood signed, times the weight
        assert len(obj.multi) >= N
        for approx, target, weight, (der1, der2) in obj.multi[-5:]:
            og, _, blocks = oracle(crit, np.array([approx]), [target], [weight])
            np.testing.assert_allclose(der1, -og[0], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(der2, -blocks[0], rtol=1e-12, atol=1e-14)


def test_catboost_multilabel(data):
    """BCE over K labels reproduces CatBoost's MultiLogloss; ZLPR's K x K Hessian
    (the row coupling) against autograd."""
    X, yb, yc, ym, w = data
    pool = cb.Pool(X, label=ym, weight=w)
    builtin = cb.CatBoost(dict(CB, loss_function="MultiLogloss")).fit(pool)
    obj = boosting.catboost_objective(lf.BCEWithLogitsLoss(), multi_label=True)
    assert isinstance(obj, cb.MultiTargetCustomObjective)
    custom = cb.CatBoost(dict(CB, loss_function=obj, eval_metric="MultiLogloss")).fit(pool)
    want = builtin.predict(X, prediction_type="RawFormulaVal")
    assert want.shape == (N, K) and np.abs(want).max() > 0.5
    np.testing.assert_allclose(custom.predict(X, prediction_type="RawFormulaVal"), want,
                               rtol=0, atol=1e-9)
    rng = np.random.default_rng(8)
    for crit in (lf.ZLPRLoss(), lf.SigmoidFocalLoss()):
        obj = boosting.catboost_objective(crit, multi_label=True)
        for i in range(4):
            approx, target = rng.normal(size=K), ym[i]
            der1, der2 = obj.calc_ders_multi(approx.tolist(), target.tolist(), w[i])
            og, _, blocks = oracle(crit, approx[None], target[None], w[i:i + 1])
            np.testing.assert_allclose(der1, -og[0], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(der2, -blocks[0], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="multi_label=True needs a multi-label loss"):
        boosting.catboost_objective(lf.CrossEntropyLoss(), multi_label=True)


def test_catboost_ders_range_and_sklearn_interface(data):
    X, yb, yc, ym, w = data
    obj = boosting.catboost_objective(lf.BCEWithLogitsLoss(pos_weight=np.array([2.5])))
    x = np.linspace(-4, 4, 9)
    t = (np.arange(9) % 2).astype(float)
    ders = obj.calc_ders_range(x.tolist(), t.tolist(), w[:9].tolist())
    og, oh, _ = oracle(lf.BCEWithLogitsLoss(pos_weight=np.array([2.5])), x, t, w[:9])
    np.testing.assert_allclose(np.array(ders), np.stack([-og, -oh], 1), rtol=1e-12)
    builtin = cb.CatBoostClassifier(loss_function="Logloss", **CB).fit(X, yb, sample_weight=w)
    custom = cb.CatBoostClassifier(
        loss_function=boosting.catboost_objective(lf.BCEWithLogitsLoss()),
        eval_metric=boosting.catboost_metric(lf.BCEWithLogitsLoss()), **CB,
    ).fit(X, yb, sample_weight=w, eval_set=(X, yb))
    np.testing.assert_allclose(custom.predict(X, prediction_type="RawFormulaVal"),
                               builtin.predict(X, prediction_type="RawFormulaVal"), atol=1e-9)
    # the metric object, evaluated by CatBoost, against the same weighted logloss in torch
    margins = custom.predict(X, prediction_type="RawFormulaVal")
    loss = torch_loss(lf.BCEWithLogitsLoss(), torch.from_numpy(margins),
                      torch.from_numpy(yb)).numpy()
    best = custom.get_best_score()["validation"]
    (value,) = best.values()
    history = custom.get_evals_result()["validation"]
    (curve,) = history.values()
    np.testing.assert_allclose(curve[-1], loss.mean(), rtol=1e-9)  # no weights in eval_set
    assert value == min(curve)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_distillation_objective_against_autograd(data, temperature):
    """A student boosted towards a teacher's logits: XGBoost's multi_output_tree with the
    teacher's (n, K) logits as labels, and CatBoost's K x K Hessian per object."""
    X, yb, yc, ym, w = data
    teacher = X[:, :K] @ np.random.default_rng(3).normal(size=(K, K))
    crit = lf.DistillationLoss(temperature)
    obj = Recorder(boosting.xgboost_objective(crit))
    params = dict(XGB, num_target=K, multi_strategy="multi_output_tree")
    xgb.train(params, xgb.DMatrix(X, label=teacher, weight=w), 3, obj=obj)
    assert len(obj.calls) == 3
    for predt, (grad, hess) in obj.calls:
        og, oh, _ = oracle(crit, predt, teacher, w)
        assert grad.shape == hess.shape == (N, K)
        assert_f32_equal(grad, og)
        assert_f32_equal(hess, oh)
    cobj = boosting.catboost_objective(lf.DistillationLoss(temperature), multi_label=True)
    rng = np.random.default_rng(9)
    for i in range(4):
        approx = rng.normal(size=K)
        der1, der2 = cobj.calc_ders_multi(approx.tolist(), teacher[i].tolist(), w[i])
        og, _, blocks = oracle(crit, approx[None], teacher[i:i + 1], w[i:i + 1])
        np.testing.assert_allclose(der1, -og[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(der2, -blocks[0], rtol=1e-12, atol=1e-14)


def test_the_objectives_are_the_rows_that_say_so():
    """Which losses are objectives is their row's "boosting"; every other loss class of
    the package raises TypeError naming it."""
    for name in lf.__all__:
        cls = getattr(lf, name)
        row = getattr(cls, "_row", None) if isinstance(cls, type) else None
        if row is None:
            continue
        kind = _core_rows()[row]["boosting"]
        try:
            crit = cls()
        except TypeError:  # a loss with a required argument (none is an objective)
            assert kind is None
            continue
        if kind is None:
            with pytest.raises(TypeError, match=f"crit {name} cannot be a boosting objective"):
                boosting.xgboost_objective(crit)
        else:
            assert boosting.xgboost_objective(crit).crit is crit


def _core_rows():
    from pylossfn import _core
    return {row["fname"]: row for row in _core.LOSSES}


# -- errors, and the NumPy-only import ---------------------------------------------


@pytest.mark.parametrize("factory", [boosting.xgboost_objective, boosting.lightgbm_objective,
                                     boosting.catboost_objective])
def test_clear_errors(factory):
    with pytest.raises(TypeError, match="crit CTCLoss"):
        factory(lf.CTCLoss())
    with pytest.raises(TypeError, match="crit MarginRankingLoss"):
        factory(lf.MarginRankingLoss())
    with pytest.raises(TypeError, match="crit SoftF1Loss"):
        factory(lf.SoftF1Loss())
    with pytest.raises(TypeError, match="crit DiceLoss"):  # coupled over the batch
        factory(lf.DiceLoss())
    with pytest.raises(TypeError, match="crit BCELoss"):  # probabilities, not margins
        factory(lf.BCELoss())
    with pytest.raises(TypeError, match="crit must be a pylossfn loss"):
        factory(torch.nn.BCEWithLogitsLoss())
    with pytest.raises(ValueError, match="hessian must be 'exact' or 'builtin', got 'diag'"):
        factory(lf.BCEWithLogitsLoss(), hessian="diag")
    with pytest.raises(ValueError, match="hessian='builtin'.*SigmoidFocalLoss"):
        factory(lf.SigmoidFocalLoss(), hessian="builtin")
    with pytest.raises(ValueError, match="min_hessian must be a number >= 0"):
        factory(lf.BCEWithLogitsLoss(), min_hessian=-1.0)


def test_bad_labels_name_the_problem():
    obj = boosting.xgboost_objective(lf.CrossEntropyLoss())
    with pytest.raises(ValueError, match="fractional"):
        obj(np.array([0.5, 1.0]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 class indices but the predictions have 2 rows"):
        obj(np.array([0.0, 1.0, 2.0]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="multi-label objective needs labels of shape"):
        boosting.xgboost_objective(lf.BCEWithLogitsLoss())(np.zeros(2), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 sample weights for 2 samples"):
        boosting.lightgbm_objective(lf.BCEWithLogitsLoss())(np.zeros(2), np.zeros(2), np.ones(3))
    with pytest.raises(IndexError):  # the core's own class check
        obj(np.array([0.0, 5.0]), np.zeros((2, 3)))


def test_imports_with_numpy_alone():
    code = (
        "import sys\n"
        "for name in ('xgboost', 'lightgbm', 'catboost', 'scipy', 'torch', 'sklearn'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np, pylossfn as lf\n"
        "from pylossfn import boosting\n"
        "g, h = boosting.xgboost_objective(lf.BCEWithLogitsLoss())(np.zeros(2), np.zeros(2))\n"
        "print(h.tolist())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[0.25, 0.25]"


def test_multilabel_catboost_objective_without_catboost_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['catboost'] = None\n"
        "import pylossfn as lf\n"
        "from pylossfn import boosting\n"
        "boosting.catboost_objective(lf.BCEWithLogitsLoss())  # one-dimensional: no import\n"
        "try:\n"
        "    boosting.catboost_objective(lf.ZLPRLoss())\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "pip install 'pylossfn[boosting]'" in r.stdout
