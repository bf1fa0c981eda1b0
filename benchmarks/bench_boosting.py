"""Training time of XGBoost and LightGBM: built-in objective, pylossfn objective,
and the NumPy objective people write by hand.

Two losses:

- softmax cross-entropy over K classes: XGBoost ``multi:softprob`` / LightGBM
  ``multiclass`` (built in), :func:`pylossfn.boosting.xgboost_objective` /
  ``lightgbm_objective`` of ``CrossEntropyLoss`` with ``hessian="builtin"`` (the same
  model), and a NumPy softmax objective with the library's Hessian;
- binary focal loss (alpha = 0.25, gamma = 2): no library has it built in, so the
  built-in row is ``binary:logistic`` / ``binary`` (the cost of a tree round with no
  Python at all); pylossfn's ``SigmoidFocalLoss``; the analytic NumPy focal
  gradient and Hessian as it is written by hand (checked against pylossfn's on the
  first call).

Each figure is the best of ``--repeat`` trainings, single-threaded
(``nthread`` / ``num_threads`` = 1, pylossfn at 1 thread); "objective" is the time
spent inside the Python objective alone.  Ratios are to the built-in objective's
training time.

    python benchmarks/bench_boosting.py [--rows 10000] [--rounds 20] [--repeat 3]

It prints a Markdown table (the "Gradient boosting" section of BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import pylossfn as lf
from pylossfn import boosting

ALPHA, GAMMA = 0.25, 2.0


class Timed:
    """Wraps an objective and adds up the time spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __deepcopy__(self, memo):  # LightGBM copies its params; keep counting here
        return self

    def __call__(self, *args):
        t0 = time.perf_counter()
        out = self.fn(*args)
        self.seconds += time.perf_counter() - t0
        return out


# -- the hand-written NumPy objectives -------------------------------------------


def numpy_softmax(predt, labels, factor, floor):
    """grad p - onehot, hess max(factor p (1 - p), floor) of the softmax CE."""
    z = predt - predt.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    grad = p.copy()
    grad[np.arange(len(labels)), labels.astype(np.int64)] -= 1.0
    hess = np.maximum(factor * p * (1.0 - p), floor)
    return grad, hess


def numpy_focal(predt, labels):
    """Analytic focal-loss derivatives, written the usual way: through the signed
    margin z = x (2y - 1), q = sigmoid(z) = p_t, with a log guard."""
    s = 2.0 * labels - 1.0
    q = 1.0 / (1.0 + np.exp(-predt * s))
    a = np.where(labels > 0.5, ALPHA, 1.0 - ALPHA)
    logq = np.log(np.maximum(q, 1e-12))
    om = 1.0 - q
    grad = s * a * (GAMMA * q * om ** GAMMA * logq - om ** (GAMMA + 1.0))
    hess = a * q * om ** GAMMA * (GAMMA * om * logq - GAMMA ** 2 * q * logq
                                  + (2.0 * GAMMA + 1.0) * om)
    return grad, hess


# -- the runs ---------------------------------------------------------------------


def best_of(repeat, train):
    best, obj_s = float("inf"), 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        obj = train()
        t = time.perf_counter() - t0
        if t < best:
            best, obj_s = t, (obj.seconds if obj is not None else 0.0)
    return best, obj_s


def main(argv=None):
    import lightgbm as lgb
    import xgboost as xgb

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    load0 = os.getloadavg()[0]
    lf.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, d, k = args.rows, args.features, args.classes
    X = rng.normal(size=(n, d)).astype(np.float32)
    yc = np.argmax(X[:, :k] + rng.normal(size=(n, k)), axis=1).astype(np.float64)
    yb = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=n) > 1.5).astype(np.float64)

    xgb_base = dict(tree_method="hist", max_depth=6, eta=0.2, nthread=1, seed=0)
    lgb_base = dict(num_leaves=31, learning_rate=0.2, num_threads=1, verbose=-1, seed=0,
                    boost_from_average=False, deterministic=True)

    # sanity: the hand-written focal objective and pylossfn's agree
    x0 = rng.normal(scale=3, size=n)
    g1, h1 = numpy_focal(x0, yb)
    g2, h2 = boosting.xgboost_objective(lf.SigmoidFocalLoss(alpha=ALPHA, gamma=GAMMA))(yb, x0)
    assert np.allclose(g1, g2, rtol=1e-6, atol=1e-9) and np.allclose(h1, h2, rtol=1e-6, atol=1e-9)

    rows = []

    def xgb_run(y, params, obj=None, base_shape=None):
        dtrain = xgb.DMatrix(X, label=y, base_margin=np.zeros(base_shape))

        def train():
            o = None if obj is None else Timed(obj())
            xgb.train(params, dtrain, args.rounds, obj=o)
            return o
        return best_of(args.repeat, train)

    def lgb_run(y, params, obj=None):
        def train():
            o = None if obj is None else Timed(obj())
            ps = dict(params) if o is None else dict(params, objective=o)
            lgb.train(ps, lgb.Dataset(X, label=y), args.rounds)
            return o
        return best_of(args.repeat, train)

    # softmax, K classes
    sm = dict(xgb_base, num_class=k)
    factor_l = k / (k - 1.0)
    xgb_soft = [
        ("built-in multi:softprob", xgb_run(yc, dict(sm, objective="multi:softprob"),
                                           base_shape=(n, k))),
        ("pylossfn CrossEntropyLoss", xgb_run(yc, sm, lambda: boosting.xgboost_objective(
            lf.CrossEntropyLoss(), hessian="builtin"), (n, k))),
        ("NumPy by hand", xgb_run(yc, sm, lambda: (
            lambda predt, dm: numpy_softmax(predt, dm.get_label(), 2.0, 1e-16)), (n, k))),
    ]
    lm = dict(lgb_base, num_class=k)
    lgb_soft = [
        ("built-in multiclass", lgb_run(yc, dict(lm, objective="multiclass"))),
        ("pylossfn CrossEntropyLoss", lgb_run(yc, lm, lambda: boosting.lightgbm_objective(
            lf.CrossEntropyLoss(), hessian="builtin"))),
        ("NumPy by hand", lgb_run(yc, lm, lambda: (
            lambda predt, ds: numpy_softmax(predt, ds.get_label(), factor_l, 0.0)))),
    ]
    focal = lf.SigmoidFocalLoss(alpha=ALPHA, gamma=GAMMA)
    xgb_focal = [
        ("built-in binary:logistic", xgb_run(yb, dict(xgb_base, objective="binary:logistic"),
                                            base_shape=(n,))),
        ("pylossfn SigmoidFocalLoss", xgb_run(yb, xgb_base, lambda: boosting.xgboost_objective(
            focal), (n,))),
        ("NumPy focal by hand", xgb_run(yb, xgb_base, lambda: (
            lambda predt, dm: numpy_focal(predt.astype(np.float64), dm.get_label())), (n,))),
    ]
    lgb_focal = [
        ("built-in binary", lgb_run(yb, dict(lgb_base, objective="binary"))),
        ("pylossfn SigmoidFocalLoss", lgb_run(yb, lgb_base, lambda: boosting.lightgbm_objective(
            focal))),
        ("NumPy focal by hand", lgb_run(yb, lgb_base, lambda: (
            lambda predt, ds: numpy_focal(predt, ds.get_label())))),
    ]
    for lib, task, runs in (("XGBoost", f"softmax, K={k}", xgb_soft),
                            ("LightGBM", f"softmax, K={k}", lgb_soft),
                            ("XGBoost", "focal (binary)", xgb_focal),
                            ("LightGBM", "focal (binary)", lgb_focal)):
        base = runs[0][1][0]
        for name, (t, obj_s) in runs:
            rows.append((lib, task, name, t, obj_s, t / base))

    print(f"{n} rows x {d} features, {args.rounds} rounds, 1 thread, best of {args.repeat}; "
          f"xgboost {xgb.__version__}, lightgbm {lgb.__version__}; 1-minute load average "
          f"{load0:.1f} at start, {os.getloadavg()[0]:.1f} at end\n")
    print("| library | loss | objective | train s | in objective s | vs built-in |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for lib, task, name, t, obj_s, ratio in rows:
        print(f"| {lib} | {task} | {name} | {t:.3f} | {obj_s:.3f} | {ratio:.2f}x |")
    return rows


if __name__ == "__main__":
    main()
