"""Accuracy of the engine's vectorized exp / log / log1p (csrc/kernels/vecmath.h).

The oracle is NumPy in extended precision (np.longdouble: 64-bit mantissa on
x86-64) rounded to the tested dtype, so it is a correctly rounded reference
for float32 and float64 alike.  Each kernel variant the CPU runs (AVX-512,
AVX2, baseline) is checked: they are compiled from the same source with
different vector widths and FMA use.
"""
import numpy as np
import pytest

from pylossfn import _core

EXP, LOG, LOG1P = 0, 1, 2
MAX_ULP = 2
LD = np.longdouble


def _isa_levels():
    best = _core._set_isa(-1)
    return list(range(best + 1))


@pytest.fixture(params=_isa_levels(), ids=lambda v: ["base", "avx2", "avx512"][v])
def isa(request):
    level = _core._set_isa(request.param)
    assert level == request.param
    yield level
    _core._set_isa(-1)


def _ulp_distance(a, b):
    """|a - b| in units in the last place, counting across zero; 0 for equal nans."""
    ity = np.int32 if a.dtype == np.float32 else np.int64
    ia, ib = a.view(ity).astype(np.int64), b.view(ity).astype(np.int64)
    sign = np.int64(np.iinfo(ity).min)
    ia = np.where(ia < 0, sign - ia, ia)
    ib = np.where(ib < 0, sign - ib, ib)
    dist = np.abs(ia - ib)
    both_nan = np.isnan(a) & np.isnan(b)
    return np.where(both_nan, 0, dist)


def _random_positive(dtype, n, rng):
    """Positive finite floats with uniformly random bit patterns: every binade,
    subnormals included."""
    if dtype == np.float32:
        bits = rng.integers(1, 0x7F800000, n, dtype=np.uint32)
    else:
        bits = rng.integers(1, 0x7FF0000000000000, n, dtype=np.uint64)
    return bits.view(dtype)


def _specials(dtype):
    fi = np.finfo(dtype)
    return np.array(
        [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, fi.tiny, fi.smallest_subnormal,
         fi.max, -fi.max, fi.eps, -fi.eps, 0.5, 2.0],
        dtype=dtype,
    )


def _check(f, x, oracle, isa):
    got = _core._vecmath(x, f)
    want = oracle(x.astype(LD)).astype(x.dtype)
    dist = _ulp_distance(got, want)
    worst = int(np.argmax(dist))
    assert dist[worst] <= MAX_ULP, (
        f"isa {isa}: f={f} x={x[worst]!r} got {got[worst]!r} want {want[worst]!r} "
        f"({dist[worst]} ulp)"
    )
    # the sign of zero and the nan / inf pattern must match too
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got) & (got > 0), np.isinf(want) & (want > 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp(dtype, isa):
    rng = np.random.default_rng(1)
    lo, hi = (-110.0, 95.0) if dtype == np.float32 else (-760.0, 720.0)
    x = np.concatenate([
        rng.uniform(lo, hi, 200_000).astype(dtype),
        rng.uniform(-2, 2, 50_000).astype(dtype),
        _random_positive(dtype, 20_000, rng) * dtype(-1),
        _random_positive(dtype, 20_000, rng),
        _specials(dtype),
    ])
    with np.errstate(over="ignore", under="ignore"):
        _check(EXP, x, np.exp, isa)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log(dtype, isa):
    rng = np.random.default_rng(2)
    x = np.concatenate([
        _random_positive(dtype, 200_000, rng),
        rng.uniform(0.5, 2.0, 50_000).astype(dtype),
        -_random_positive(dtype, 1000, rng),
        _specials(dtype),
    ])
    with np.errstate(divide="ignore", invalid="ignore"):
        _check(LOG, x, np.log, isa)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p(dtype, isa):
    rng = np.random.default_rng(3)
    x = np.concatenate([
        _random_positive(dtype, 100_000, rng),
        rng.uniform(0.0, 1.0, 50_000).astype(dtype),  # the range BCE-with-logits uses
        rng.uniform(-1.0, 0.0, 50_000).astype(dtype),
        -_random_positive(dtype, 1000, rng),
        np.array([-1.0, np.nextafter(dtype(-1), dtype(0))], dtype=dtype),
        _specials(dtype),
    ])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        _check(LOG1P, x, np.log1p, isa)
