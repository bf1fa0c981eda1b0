"""Results are bitwise identical whatever the thread count.

Work is cut into units fixed by the shape (csrc/kernels/pool.c), so 1, 2
and 3 threads must give the same bits (loss, gradient and Hessian), for sizes on both sides of the
threading threshold and of the unit size.
"""
import threading

import numpy as np
import pytest
from loss_table import (
    HALF_DTYPES,
    LOSSES,
    ROWS,
    call,
    flat,
    loss_shape,
    option_dtype,
    valid_inputs,
    valid_options,
)

import pylossfn as lf
import pylossfn.functional as F

# around LF_PAR_MIN_WORK (65536) and LF_UNIT_ELEMS (16384), with long rows cut
# into pieces and short rows grouped into units
EW_SHAPES = [(65535,), (65536,), (65537,), (3, 40001), (1000, 70), (7, 3, 5000), (300000,)]
CLASS_SHAPES = [(100, 655), (100, 656), (20, 5000), (3000, 30), (40, 3, 700)]
# float32 and float64, and the half dtypes (bfloat16 where ml_dtypes is
# installed), computed in float32: the element-wise template's losses and
# cross-entropy (without Hessian) read and write the half arrays in their
# kernels, on the pool's units; the others widen first
DTYPES = [pytest.param(np.dtype(d), id=np.dtype(d).name)
          for d in (np.float32, np.float64) + HALF_DTYPES]


@pytest.fixture
def restore_threads():
    before = lf.get_num_threads()
    yield
    lf.set_num_threads(before)


RESULTS = ("loss", "gradient", "Hessian", "loss without Hessian", "gradient without Hessian")


def _runs(crit, *args, **kw):
    """For 1, 2 and 3 threads: the RESULTS of forward_backward with
    hessian=True, then without (a half cross-entropy's own half path)."""
    results = []
    for n in (1, 2, 3):
        assert lf.set_num_threads(n) == n
        loss, grad, hess = crit.forward_backward(*args, hessian=True, **kw)
        loss1, grad1 = crit.forward_backward(*args, **kw)
        results.append(tuple(np.asarray(r).tobytes() for r in (loss, grad, hess, loss1, grad1)))
    return results


def _assert_bitwise(results):
    first = results[0]
    for other in results[1:]:
        for what, got, want in zip(RESULTS, other, first):
            assert got == want, f"{what} differs between thread counts"


@pytest.mark.parametrize("shape", EW_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits(shape, dtype, restore_threads):
    rng = np.random.default_rng(len(shape) + shape[-1])
    x = rng.standard_normal(shape).astype(dtype) * 4
    y = rng.random(shape).astype(dtype)
    pw = rng.uniform(0.5, 2, shape[-1]).astype(dtype)
    _assert_bitwise(_runs(lf.BCEWithLogitsLoss(pos_weight=pw), x, y))
    _assert_bitwise(_runs(lf.BCEWithLogitsLoss(reduction="none"), x, y,
                          grad_output=rng.random(shape).astype(dtype)))


@pytest.mark.parametrize("shape", EW_SHAPES[:4], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce(shape, dtype, restore_threads):
    rng = np.random.default_rng(shape[-1])
    p = rng.uniform(0, 1, shape).astype(dtype)
    y = (rng.random(shape) < 0.5).astype(dtype)
    _assert_bitwise(_runs(lf.BCELoss(reduction="sum"), p, y))


@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_cross_entropy(shape, dtype, ls, restore_threads):
    rng = np.random.default_rng(shape[1])
    x = rng.standard_normal(shape).astype(dtype) * 3
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    t.flat[::7] = -100
    # (a class weight stays float32 in a half call)
    w = rng.uniform(0.5, 2, shape[1]).astype(option_dtype(ROWS["CrossEntropyLoss"], "weight", dtype))
    _assert_bitwise(_runs(lf.CrossEntropyLoss(weight=w, label_smoothing=ls), x, t))


@pytest.mark.parametrize("shape", CLASS_SHAPES[:3], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nll(shape, dtype, restore_threads):
    rng = np.random.default_rng(shape[1] + 1)
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    _assert_bitwise(_runs(lf.NLLLoss(), x, t))


def test_concurrent_callers_agree(restore_threads):
    """Two Python threads at once (the GIL is released): one of them finds the
    pool busy and computes alone; both must still get the same bits."""
    lf.set_num_threads(2)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(400_000).astype(np.float32)
    y = rng.random(400_000).astype(np.float32)
    crit = lf.BCEWithLogitsLoss()
    want_loss, want_grad = crit.forward_backward(x, y)
    bad = []

    def work():
        c = lf.BCEWithLogitsLoss()
        for _ in range(10):
            loss, grad = c.forward_backward(x, y)
            if loss.tobytes() != want_loss.tobytes() or grad.tobytes() != want_grad.tobytes():
                bad.append(1)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not bad


def test_set_num_threads_validates(restore_threads):
    with pytest.raises(ValueError, match="set_num_threads"):
        lf.set_num_threads(0)
    assert lf.set_num_threads(3) == 3
    assert lf.get_num_threads() == 3


@pytest.mark.parametrize("row", LOSSES, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_every_loss(row, dtype, reduction, restore_threads):
    """Every loss of the table, loss and every gradient, above the threading
    threshold (LF_PAR_MIN_WORK) with rows cut into several units: the same
    bits for 1, 2 and 3 threads, through forward_backward with and without
    out= (the contiguous fast path and the general one both run)."""
    shape = (120, 64, 30) if row.family == "ctc" else (400, 301)
    rng = np.random.default_rng(7)
    inputs = valid_inputs(row, dtype, rng, shape=shape)
    if reduction not in row.reductions:
        reduction = row.reductions[-1]
    for opts in ({"reduction": reduction},
                 dict(valid_options(row, dtype, rng, shape=shape), reduction=reduction)):
        go = None
        if reduction == "none":
            go = rng.uniform(0.5, 1.5, loss_shape(row, reduction, inputs, opts)).astype(dtype)
        results = []
        for n in (1, 2, 3):
            assert lf.set_num_threads(n) == n
            res = call(row, "forward_backward", opts, inputs, go)
            outs = tuple(np.empty_like(inputs[i]) for i in row.diff)
            crit = row.cls(**opts)
            res_out = flat(crit.forward_backward(*inputs, grad_output=go,
                                                 out=outs if len(outs) > 1 else outs[0]))
            results.append(tuple(np.asarray(r).tobytes() for r in res + res_out))
        for other in results[1:]:
            assert other == results[0], f"{row.name} {opts} differs between thread counts"


@pytest.mark.parametrize("shape", [(300, 301), (3, 40001), (70000, 3)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_distances(shape, dtype, restore_threads):
    """pairwise_distance and cosine_similarity run their rows on the pool:
    the same bits for 1, 2 and 3 threads, contiguous and strided."""
    rng = np.random.default_rng(shape[0])
    x1 = rng.standard_normal(shape).astype(dtype)
    x2 = rng.standard_normal(shape).astype(dtype)
    cases = [
        lambda a, b: F.pairwise_distance(a, b),
        lambda a, b: F.pairwise_distance(a, b, p=1.0),
        lambda a, b: F.pairwise_distance(a, b, p=3.0),
        lambda a, b: F.cosine_similarity(a, b),
    ]
    for fn in cases:
        for a, b in ((x1, x2), (x1[:, ::-1], np.asfortranarray(x2))):
            results = []
            for n in (1, 2, 3):
                assert lf.set_num_threads(n) == n
                results.append(np.asarray(fn(a, b)).tobytes())
            assert results[1] == results[0] and results[2] == results[0]


@pytest.mark.parametrize("shape", [(300, 301), (3, 40001), (40, 3, 700)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activations(shape, dtype, restore_threads):
    """sigmoid, logsigmoid (element-wise) and softmax, log_softmax (rows on
    the pool): the same bits for 1, 2 and 3 threads, over every axis."""
    rng = np.random.default_rng(shape[-1])
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    cases = [F.sigmoid, F.logsigmoid]
    for dim in range(len(shape)):
        cases += [lambda a, d=dim: F.softmax(a, dim=d), lambda a, d=dim: F.log_softmax(a, dim=d)]
    for fn in cases:
        results = []
        for n in (1, 2, 3):
            assert lf.set_num_threads(n) == n
            results.append(np.asarray(fn(x)).tobytes())
        assert results[1] == results[0] and results[2] == results[0]


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sigmoid", "logsigmoid"])
@pytest.mark.parametrize("shape,dim", [((400, 301), 1), ((100, 656), -1), ((20, 5000), 1),
                                       ((40, 3, 700), 1), ((301, 400), 0)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_long_rows(name, shape, dim, dtype, restore_threads):
    """The activations above the threading threshold: the same bits for 1, 2
    and 3 threads, for unit-stride rows (the vectorized path) and strided ones
    (dim=0, and the middle axis of a 3-d input)."""
    rng = np.random.default_rng(shape[-1])
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    f = getattr(F, name)
    results = []
    for n in (1, 2, 3):
        assert lf.set_num_threads(n) == n
        y = f(x, dim) if "softmax" in name else f(x)
        results.append(y.tobytes())
    assert results[1] == results[0] and results[2] == results[0], f"{name} differs"
