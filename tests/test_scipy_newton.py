"""examples/scipy_newton.py: SciPy's trust-ncg on pylossfn's loss, gradient and hvp
fits multinomial logistic regression, landing on scikit-learn's coefficients."""
import runpy
from pathlib import Path

import numpy as np
import pytest

import pylossfn.functional as F

pytestmark = [pytest.mark.sklearn, pytest.mark.boosting]  # scipy: pylossfn[boosting]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "scipy_newton.py"


@pytest.fixture(scope="module")
def example():
    return runpy.run_path(str(EXAMPLE))


@pytest.mark.parametrize("C", [0.05, 1.0, 20.0])
def test_trust_ncg_lands_on_scikit_learns_logistic_regression(example, C):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    W, b, res = example["fit"](X, y, C=C)
    assert res.success, res.message
    assert res.nhev > 0  # the Hessian-vector products were used
    sk = LogisticRegression(C=C, solver="newton-cg", tol=1e-12, max_iter=10_000).fit(X, y)
    scale = max(1.0, np.abs(sk.coef_).max())
    np.testing.assert_allclose(W, sk.coef_.T, rtol=0, atol=1e-6 * scale)
    # the intercepts are defined up to one shift common to every class
    np.testing.assert_allclose(b - b.mean(), sk.intercept_ - sk.intercept_.mean(),
                               rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(F.softmax(X @ W + b, 1), sk.predict_proba(X), atol=1e-7)


def test_hessp_is_the_exact_hessian_vector_product(example):
    """The example's chain rule against finite differences of its gradient."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, 30)
    fun, hessp, _ = example["objective"](X, y, C=0.7)
    theta = rng.normal(size=(4 + 1) * 3)
    v = rng.normal(size=theta.shape)
    eps = 1e-6
    fd = (fun(theta + eps * v)[1] - fun(theta - eps * v)[1]) / (2 * eps)
    fun(theta + 0.1)  # hessp must not use the last forward call when it was elsewhere
    np.testing.assert_allclose(hessp(theta, v), fd, rtol=1e-6, atol=1e-7)


def test_example_runs_and_reports(example, capsys):
    example["main"]()
    out = capsys.readouterr().out
    assert "trust-ncg on pylossfn" in out and "max |W - coef_|" in out
