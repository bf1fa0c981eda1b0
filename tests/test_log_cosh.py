"""LogCossLoss / F.log_cosh_loss against optax (through JAX, in float64) and
torch's autograd and Hessians of the formula.  The table-driven suites
(tests/loss_table.py's row) cover its other faces: errors, layouts, threads,
memory, properties, Dask, half precision, out=."""
import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import optax
import pytest
import torch

import pylossfn as lf
import pylossfn.functional as F

pytestmark = pytest.mark.torch  # torch's tier (optax, JAX and mpmath come with it)

jax.config.update("jax_enable_x64", True)

REDUCE = {"none": lambda a: a, "mean": jnp.mean, "sum": jnp.sum}


def _optax(x, y, reduction):
    """optax's log_cosh (float64) and its gradient in x, by jax.grad."""
    def f(xx):
        return REDUCE[reduction](optax.losses.log_cosh(xx, jnp.asarray(y)))
    value = f(jnp.asarray(x))
    if reduction == "none":
        grad = jax.vmap(jax.grad(lambda a, b: optax.losses.log_cosh(a, b)))(
            jnp.ravel(jnp.broadcast_to(x, value.shape)),
            jnp.ravel(jnp.broadcast_to(y, value.shape))).reshape(value.shape)
        return np.asarray(value), np.asarray(grad)
    return np.asarray(value), np.asarray(jax.grad(f)(jnp.asarray(x)))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0])
def test_values_and_gradients_match_optax(reduction, scale):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 9)) * scale
    y = rng.standard_normal((64, 9)) * scale
    want, want_grad = _optax(x, y, reduction)
    crit = lf.LogCoshLoss(reduction=reduction)
    loss, grad = crit.forward_backward(x, y, grad_output=np.ones_like(want))
    # optax's own formula loses up to the rounding of log 2 per element to
    # cancellation near d = 0 (ours takes the series there): it adds up in a sum
    atol = 4 * np.finfo(float).eps * (x.size if reduction == "sum" else 1)
    np.testing.assert_allclose(loss, want, rtol=1e-13, atol=atol)
    np.testing.assert_allclose(F.log_cosh_loss(x, y, reduction), want, rtol=1e-13, atol=atol)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=atol / x.size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_magnitude_against_mpmath(dtype):
    """Relative accuracy from 1e-30 to 1e30, both sides of the series' switch
    at 1/4: against log cosh and tanh in 120 digits (mpmath)."""
    mp.mp.dps = 120
    mags = np.concatenate([np.geomspace(1e-30, 1e30, 121), [0.25, np.nextafter(0.25, 0)],
                           np.linspace(0.2, 0.3, 41)])
    d = np.concatenate([mags, -mags]).astype(dtype)
    loss, grad, hess = lf.LogCoshLoss(reduction="none").forward_backward(
        d, np.zeros_like(d), grad_output=np.ones_like(d), hessian=True)
    ref = [mp.log(mp.cosh(mp.mpf(float(v)))) for v in d]
    ref_t = [mp.tanh(mp.mpf(float(v))) for v in d]
    ulp = np.finfo(dtype).eps
    np.testing.assert_allclose(loss, np.array([float(r) for r in ref], dtype), rtol=16 * ulp,
                               atol=np.finfo(dtype).tiny)
    np.testing.assert_allclose(grad, np.array([float(t) for t in ref_t], dtype), rtol=4 * ulp,
                               atol=np.finfo(dtype).tiny)
    ref_h = [mp.sech(mp.mpf(float(v))) ** 2 for v in d]  # 1 - tanh^2, without cancelling
    np.testing.assert_allclose(hess, np.array([float(h) for h in ref_h], dtype),
                               rtol=8 * ulp, atol=np.finfo(dtype).tiny)


def test_broadcast_target_and_its_folded_gradient():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((5, 1, 4)), rng.standard_normal((3, 1))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y, requires_grad=True)
    ref = torch.log(torch.cosh(xt - yt)).mean()
    ref.backward()
    loss, grad = lf.LogCoshLoss().forward_backward(x, y)  # no shape warning: torch has none
    np.testing.assert_allclose(loss, ref.item(), rtol=1e-13)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_differences_stay_finite(dtype):
    # cosh overflows past |d| ~ 89 (float32) / 710 (float64); log cosh is |d| - log 2 there
    d = np.array([-1e30, -800.0, -90.0, 90.0, 800.0, 1e30], dtype)
    loss = F.log_cosh_loss(d, np.zeros_like(d), reduction="none")
    ref = np.abs(d.astype(np.float64)) - np.log(2.0)  # float64 reference formula
    np.testing.assert_allclose(loss, ref, rtol=np.finfo(dtype).eps)
    _, grad = lf.LogCoshLoss(reduction="sum").forward_backward(d, np.zeros_like(d))
    np.testing.assert_array_equal(grad, np.sign(d))


def test_nan_and_inf_propagate_as_torch_formula():
    x = np.array([np.nan, np.inf, -np.inf, 0.0])
    loss, grad = lf.LogCoshLoss(reduction="none").forward_backward(x, np.zeros(4),
                                                                   grad_output=np.ones(4))
    assert np.isnan(loss[0]) and np.isnan(grad[0])
    np.testing.assert_array_equal(loss[1:], [np.inf, np.inf, 0.0])
    xt = torch.tensor(x[1:], requires_grad=True)
    torch.tanh(xt).sum()  # d/dx log cosh x = tanh x: +-1 at +-inf, 0 at 0
    np.testing.assert_array_equal(grad[1:], np.tanh(x[1:]))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hessian_and_hvp_match_torch_func_hessian(reduction, dtype):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 5)).astype(dtype)
    y = rng.standard_normal((6, 5)).astype(dtype)
    v = rng.standard_normal((6, 5)).astype(dtype)
    red = torch.mean if reduction == "mean" else torch.sum
    yt = torch.tensor(y, dtype=torch.float64)
    H = torch.func.hessian(lambda a: red(torch.log(torch.cosh(a - yt))))(
        torch.tensor(x, dtype=torch.float64)).reshape(30, 30).numpy()
    crit = lf.LogCoshLoss(reduction=reduction)
    _, _, hess = crit.forward_backward(x, y, hessian=True)
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hess.ravel(), np.diag(H), **tol)
    crit(x, y)
    np.testing.assert_allclose(crit.hessian().ravel(), np.diag(H), **tol)
    np.testing.assert_allclose(crit.hvp(v).ravel(), H @ v.ravel().astype(np.float64), **tol)
    assert crit.hvp(v).dtype == dtype
