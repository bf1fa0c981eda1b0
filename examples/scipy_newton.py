"""Multinomial logistic regression by Newton's method: SciPy's trust-ncg on pylossfn.

The model is ``Z = X W + b`` with the softmax cross-entropy, and the L2 penalty of
scikit-learn's ``LogisticRegression(C=C)`` (the intercept is not penalised)::

    f(W, b) = sum_i CE(Z_i, y_i) + ||W||^2 / (2 C)

pylossfn gives the loss, ``G = dCE/dZ`` and the exact Hessian-vector product
``H_Z V`` (the softmax coupling included) of the logits; the chain rule through
the linear layer is two NumPy matrix products:

    grad_W = X^T G + W / C                    grad_b = sum_i G_i
    (H v)_W = X^T H_Z (X V_W + v_b) + V_W / C   (H v)_b = sum_i H_Z (X V_W + v_b)_i

``scipy.optimize.minimize(method="trust-ncg", jac=True, hessp=...)`` takes those
and lands on scikit-learn's coefficients.  Run ``python examples/scipy_newton.py``.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize

import pylossfn as lf


def objective(X, y, C=1.0):
    """``(fun, hessp, unpack)`` for ``minimize(fun, theta0, jac=True, hessp=hessp)``,
    with ``theta`` the flattened ``(W, b)`` and ``unpack(theta) -> (W, b)``."""
    n, d = X.shape
    k = int(y.max()) + 1
    crit = lf.CrossEntropyLoss(reduction="sum")
    lam = 1.0 / C
    at = {"theta": None}  # where crit's last forward call was

    def unpack(theta):
        return theta[: d * k].reshape(d, k), theta[d * k:]

    def fun(theta):
        W, b = unpack(theta)
        loss, G = crit.forward_backward(X @ W + b, y)
        at["theta"] = theta.copy()
        grad = np.concatenate([(X.T @ G + lam * W).ravel(), G.sum(axis=0)])
        return float(loss) + 0.5 * lam * float(np.sum(W * W)), grad

    def hessp(theta, v):
        if at["theta"] is None or not np.array_equal(at["theta"], theta):
            W, b = unpack(theta)  # hvp is of the last forward call: make it this one
            crit(X @ W + b, y)
            at["theta"] = theta.copy()
        Vw, vb = unpack(v)
        HZ = crit.hvp(X @ Vw + vb)
        return np.concatenate([(X.T @ HZ + lam * Vw).ravel(), HZ.sum(axis=0)])

    return fun, hessp, unpack


def fit(X, y, C=1.0, gtol=1e-6):
    """(W, b, scipy result) of the penalised multinomial logistic regression.

    ``gtol`` bounds the gradient norm at the solution; much below 1e-7 the predicted
    decrease of a Newton step falls under the rounding of the loss itself."""
    fun, hessp, unpack = objective(X, y, C)
    k = int(y.max()) + 1
    res = minimize(fun, np.zeros((X.shape[1] + 1) * k), method="trust-ncg", jac=True,
                   hessp=hessp, options={"gtol": gtol, "maxiter": 200})
    W, b = unpack(res.x)
    return W, b, res


def main():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    C = 0.5
    t0 = time.perf_counter()
    W, b, res = fit(X, y, C=C)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk = LogisticRegression(C=C, solver="newton-cg", tol=1e-12, max_iter=1000).fit(X, y)
    t_sk = time.perf_counter() - t0
    # the softmax is invariant to a shift of every class's intercept: compare centred
    db = np.abs((b - b.mean()) - (sk.intercept_ - sk.intercept_.mean())).max()
    dW = np.abs(W - sk.coef_.T).max()
    print(f"trust-ncg on pylossfn: {res.nit} Newton steps, {res.nfev} loss/gradient calls, "
          f"{res.nhev} Hessian-vector products, {t_ours * 1e3:.1f} ms; |grad| = "
          f"{np.abs(res.jac).max():.1e}")
    print(f"scikit-learn LogisticRegression(newton-cg): {t_sk * 1e3:.1f} ms")
    print(f"max |W - coef_| = {dW:.1e}, max |b - intercept_| (centred) = {db:.1e}")
    return W, b, res, sk


def plot(W, sk):
    """Each coefficient of the Newton fit against scikit-learn's: on the diagonal."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
    lim = np.abs(W).max() * 1.1
    ax.plot([-lim, lim], [-lim, lim], color="0.8", lw=1)
    for k in range(W.shape[1]):
        ax.plot(sk.coef_[k], W[:, k], "o", ms=5, label=f"class {k}")
    ax.set_xlabel("scikit-learn LogisticRegression coef_")
    ax.set_ylabel("trust-ncg on pylossfn")
    ax.set_title("Coefficients, one point each")
    ax.legend(fontsize=9)
    return fig


if __name__ == "__main__":
    W, _, _, sk = main()
    plot(W, sk)
