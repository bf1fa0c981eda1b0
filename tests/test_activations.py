"""sigmoid / logsigmoid / softmax / log_softmax against torch 2.13."""

import numpy as np
import pytest
import torch
from helpers import DTYPE_LAYOUTS, DTYPES, assert_close, in_layout, native
from loss_table import ACTIVATIONS
from oracle import torch_fn

pytestmark = pytest.mark.torch

# each activation's oracle, as loss_table names it
ELEMENTWISE = {a.name: torch_fn(a) for a in ACTIVATIONS if not a.needs_dim}
ALONG_DIM = {a.name: torch_fn(a) for a in ACTIVATIONS if a.needs_dim}

SHAPES = [(), (7,), (4, 5), (2, 3, 4), (2, 3, 2, 3), (0, 3), (3, 0)]
SHAPE_IDS = ["0d", "1d", "2d", "3d", "4d", "empty0", "empty1"]


def _F():
    import pylossfn.functional as F

    return F


def torch_elementwise(name, x):
    return ELEMENTWISE[name](torch.from_numpy(native(x))).numpy()


def torch_along(name, x, dim):
    return ALONG_DIM[name](torch.from_numpy(native(x)), dim).numpy()


def check_result(got, x, expected, dtype):
    x = np.asarray(x)
    assert isinstance(got, (np.ndarray, np.floating)), type(got)
    if x.ndim:
        assert isinstance(got, np.ndarray), type(got)
    assert np.shape(got) == x.shape, (np.shape(got), x.shape)
    assert np.asarray(got).dtype.type == np.dtype(dtype).type
    if isinstance(x, np.ndarray) and x.size and isinstance(got, np.ndarray):
        assert not np.shares_memory(got, x)
    assert_close(got, expected, dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise(name, dtype, shape, rng):
    x = rng.normal(0, 5, shape).astype(dtype)
    before = x.copy()
    got = getattr(_F(), name)(x)
    check_result(got, x, torch_elementwise(name, x), dtype)
    np.testing.assert_array_equal(x, before)


EXTREMES = [-np.inf, -1e4, -1000.0, -700.0, -100.0, -88.0, -80.0, -50.0, -20.0, -1.0,
            -1e-8, -0.0, 0.0, 1e-8, 1.0, 20.0, 50.0, 80.0, 88.0, 100.0, 700.0, 1000.0,
            1e4, np.inf, np.nan]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_extremes(name, dtype):
    x = np.array(EXTREMES, dtype=dtype)
    got = getattr(_F(), name)(x)
    exp = torch_elementwise(name, x)
    check_result(got, x, exp, dtype)
    # nan stays nan, everything else is not nan
    assert np.array_equal(np.isnan(got), np.isnan(x))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_relative_accuracy_in_tails(name, dtype):
    """Relative accuracy where the value is tiny (sigmoid(-x), logsigmoid(+x)).

    Expected: float64 reference formulas, exp/log1p in the safe form.
    """
    lim = 80.0 if dtype == np.float32 else 700.0
    x = np.linspace(-lim, lim, 301).astype(dtype)
    x64 = x.astype(np.float64)
    if name == "sigmoid":
        ref = np.where(x64 >= 0, 1 / (1 + np.exp(-np.abs(x64))),
                       np.exp(-np.abs(x64)) / (1 + np.exp(-np.abs(x64))))
    else:
        ref = np.minimum(x64, 0) - np.log1p(np.exp(-np.abs(x64)))
    got = np.asarray(getattr(_F(), name)(x), dtype=np.float64)
    rtol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)


@pytest.mark.parametrize(
    "dtype,layout", DTYPE_LAYOUTS, ids=[f"{np.dtype(d).name}-{lay}" for d, lay in DTYPE_LAYOUTS]
)
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_layouts(name, dtype, layout, rng):
    x = rng.normal(0, 5, (3, 4, 5)).astype(dtype)
    got = getattr(_F(), name)(in_layout(x, layout))
    check_result(got, x, torch_elementwise(name, x), dtype)


def _dims(shape):
    n = len(shape)
    return [d for d in range(-n, n)]


SOFTMAX_CASES = [(s, d) for s in SHAPES if len(s) >= 1 for d in _dims(s)]


@pytest.mark.parametrize("shape,dim", SOFTMAX_CASES, ids=[f"{s}-dim{d}" for s, d in SOFTMAX_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ALONG_DIM))
def test_softmax_family(name, dtype, shape, dim, rng):
    x = rng.normal(0, 3, shape).astype(dtype)
    before = x.copy()
    f = getattr(_F(), name)
    exp = torch_along(name, x, dim)
    check_result(f(x, dim), x, exp, dtype)
    check_result(f(x, dim=dim), x, exp, dtype)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize(
    "dtype,layout", DTYPE_LAYOUTS, ids=[f"{np.dtype(d).name}-{lay}" for d, lay in DTYPE_LAYOUTS]
)
@pytest.mark.parametrize("name", list(ALONG_DIM))
def test_softmax_family_layouts(name, dtype, layout, dim, rng):
    x = rng.normal(0, 3, (3, 4, 5)).astype(dtype)
    got = getattr(_F(), name)(in_layout(x, layout), dim)
    check_result(got, x, torch_along(name, x, dim), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ALONG_DIM))
def test_softmax_family_extremes(name, dtype, rng):
    x = rng.normal(0, 1, (7, 5)).astype(dtype)
    x[0] = [1e4, -1e4, 0.0, 1e4, -1e4]
    x[1] = -1e4
    x[2] = 1e4
    x[3] = [3e4, 0.0, 0.0, 0.0, 0.0]
    x[4] = [-np.inf, 0.0, 1.0, -np.inf, 2.0]  # masked entries, as with attention masks
    x[5] = [88.0, 89.0, 90.0, 700.0 if dtype == np.float64 else 80.0, -700.0]
    x[6] = 0.0
    for dim in (1, -1, 0):
        got = getattr(_F(), name)(x, dim)
        exp = torch_along(name, x, dim)
        check_result(got, x, exp, dtype)
    got = getattr(_F(), name)(x, 1)
    assert not np.any(np.isnan(got))
    if name == "softmax":
        np.testing.assert_allclose(np.asarray(got, np.float64).sum(axis=1), 1.0,
                                   rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ALONG_DIM))
@pytest.mark.parametrize("C", [16, 37, 1000])
def test_softmax_family_long_rows(name, C, dtype, rng):
    """Rows long enough for the vectorized lanes (and a tail), with masked
    (-inf) entries and a huge spread, along the last axis (unit stride) and
    along axis 0 (strided): against torch."""
    x = rng.normal(0, 3, (6, C)).astype(dtype)
    x[1, ::3] = -np.inf
    x[2, C // 2] = 1e4
    x[3] = -1e4
    for dim in (1, 0):
        check_result(getattr(_F(), name)(x, dim), x, torch_along(name, x, dim), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ALONG_DIM))
def test_softmax_family_layout_same_bits(name, dtype, rng):
    """A strided row takes the unit-stride row's operations in its order
    (the lanes of the exp-sum, the padded last step included), so the two
    layouts give the same bits; C mod 16 != 0 puts classes in the tail."""
    F = _F()
    for C in (5, 17, 35, 100, 1000):
        # values of one scale: the tail's exps weigh as much as any in the sum
        x = rng.normal(0, 1, (64, C)).astype(dtype)
        want = getattr(F, name)(x, 1)
        got = getattr(F, name)(np.asfortranarray(x), 1)
        assert np.array_equal(got, want), C


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_log_softmax_consistent_with_softmax(dtype, rng):
    """exp(log_softmax) == softmax, checked against a float64 reference formula."""
    x = rng.normal(0, 4, (6, 9)).astype(dtype)
    x64 = x.astype(np.float64)
    m = x64.max(axis=1, keepdims=True)
    ref_log = x64 - m - np.log(np.exp(x64 - m).sum(axis=1, keepdims=True))
    F = _F()
    assert_close(F.log_softmax(x, 1), ref_log, dtype)
    assert_close(F.softmax(x, 1), np.exp(ref_log), dtype)
    assert_close(F.sigmoid(x), 1 / (1 + np.exp(-x64)), dtype)
    assert_close(F.logsigmoid(x), -np.logaddexp(0, -x64), dtype)


def test_lists_are_accepted(rng):
    F = _F()
    x = rng.normal(0, 2, (3, 4))
    for name in ELEMENTWISE:
        check_result(getattr(F, name)(x.tolist()), x, torch_elementwise(name, x), np.float64)
    for name in ALONG_DIM:
        check_result(getattr(F, name)(x.tolist(), 1), x, torch_along(name, x, 1), np.float64)
