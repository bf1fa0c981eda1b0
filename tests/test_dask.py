"""Losses, gradients and metrics on dask arrays, on a real distributed cluster.

A module-scoped ``distributed.LocalCluster`` with two worker processes runs
every graph.  Each expected value is computed in the test: by the NumPy path of
pylossfn on the same (computed) data, by scikit-learn, or by a float64
reference; nothing is pasted.  Chunks are uneven along rows and columns.
"""

import subprocess
import sys
import warnings

import dask
import dask.array as da
import distributed
import numpy as np
import pytest
from loss_table import LOSSES as TABLE
from loss_table import (
    grad_output_of,
    option_names,
    scramble,
    scramble_options,
    valid_inputs,
    valid_options,
)

import pylossfn as lf
import pylossfn.functional as F
import pylossfn.metrics as M
from pylossfn import _core, _dask

pytestmark = [pytest.mark.dask, pytest.mark.sklearn]

TOL = {np.float32: dict(rtol=2e-6, atol=1e-7), np.float64: dict(rtol=1e-11, atol=1e-13)}


@pytest.fixture(scope="module", autouse=True)
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        memory_limit="1GiB",
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def test_runs_on_the_cluster(client):
    assert len(client.scheduler_info()["workers"]) == 2
    x = da.ones((10, 3), chunks=(4, 2))
    loss = F.mse_loss(x, x * 0)
    # the graph runs on the workers, not in this process
    fut = client.compute(loss)
    assert float(fut.result()) == 1.0
    assert client.who_has(fut)[fut.key]


def test_constants_and_laziness():
    assert (_dask._LOSS, _dask._GRAD) == (_core.WANT_LOSS, _core.WANT_GRAD)
    x = da.zeros((4, 2), chunks=2)
    assert isinstance(lf.BCEWithLogitsLoss()(x, x), da.Array)
    assert _dask.any_dask([np.zeros(2), x]) and not _dask.any_dask([np.zeros(2), [1.0]])


def test_core_never_imports_dask():
    code = (
        "import sys, pylossfn, pylossfn.functional, pylossfn.metrics, pylossfn._dask;"
        "print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"pylossfn\[dask\]"):
        _dask._da()


# ----------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------

ROWS = (5, 12, 1, 19)  # N = 37, uneven
COLS = (4, 5)  # C = 9


def _logits(rng, dtype, shape=(37, 9)):
    return rng.normal(0, 2, shape).astype(dtype)


def _prob(rng, dtype, shape=(37, 9)):
    return rng.uniform(0.02, 0.98, shape).astype(dtype)


def _bits(rng, dtype, shape=(37, 9)):
    return (rng.random(shape) < 0.4).astype(dtype)


def _case_inputs(name, rng, dtype):
    """(crit, numpy inputs, chunks per input) for one loss."""
    N, C = 37, 9
    cls = rng.integers(0, C, N)
    if name == "BCEWithLogitsLoss":
        crit = lf.BCEWithLogitsLoss(
            weight=rng.uniform(0.5, 2, (1, C)).astype(dtype),
            pos_weight=rng.uniform(0.5, 3, C).astype(dtype),
        )
        return crit, [_logits(rng, dtype), _bits(rng, dtype)], [(ROWS, COLS), ((20, 17), (9,))]
    if name == "BCELoss":
        crit = lf.BCELoss(weight=rng.uniform(0.5, 2, C).astype(dtype))
        return crit, [_prob(rng, dtype), _prob(rng, dtype)], [(ROWS, COLS), (ROWS, COLS)]
    if name == "CrossEntropyLoss":
        t = cls.copy()
        t[[3, 4, 20]] = -1
        crit = lf.CrossEntropyLoss(weight=rng.uniform(0.5, 2, C).astype(dtype), ignore_index=-1,
                                   label_smoothing=0.1)
        return crit, [_logits(rng, dtype), t], [(ROWS, COLS), ((10, 27),)]
    if name == "CrossEntropyLoss-kd":
        t = rng.integers(0, 4, (N, 3))
        t[:5, 0] = -100
        crit = lf.CrossEntropyLoss(weight=rng.uniform(0.5, 2, 4).astype(dtype))
        return crit, [_logits(rng, dtype, (N, 4, 3)), t], [(ROWS, (2, 2), (1, 2)), (ROWS, (3,))]
    if name == "CrossEntropyLoss-prob":
        p = _prob(rng, dtype)
        p /= p.sum(1, keepdims=True)
        crit = lf.CrossEntropyLoss(label_smoothing=0.05)
        return crit, [_logits(rng, dtype), p], [(ROWS, COLS), (ROWS, (9,))]
    if name == "NLLLoss":
        t = cls.copy()
        t[7] = -100
        crit = lf.NLLLoss(weight=rng.uniform(0.5, 2, C).astype(dtype))
        return crit, [np.log(_prob(rng, dtype)), t], [(ROWS, COLS), ((30, 7),)]
    elementwise = {
        "MSELoss": (lf.MSELoss(), _logits, _logits),
        "L1Loss": (lf.L1Loss(), _logits, _logits),
        "SmoothL1Loss": (lf.SmoothL1Loss(beta=0.5), _logits, _logits),
        "HuberLoss": (lf.HuberLoss(delta=0.7), _logits, _logits),
        "SoftMarginLoss": (lf.SoftMarginLoss(), _logits,
                           lambda r, d: (2 * _bits(r, d) - 1).astype(d)),
        "KLDivLoss": (lf.KLDivLoss(log_target=True), _logits, _logits),
        "PoissonNLLLoss": (lf.PoissonNLLLoss(full=True), _logits,
                           lambda r, d: r.poisson(2.0, (37, 9)).astype(d)),
        "HingeEmbeddingLoss": (lf.HingeEmbeddingLoss(margin=0.5), _logits,
                               lambda r, d: (2 * _bits(r, d) - 1).astype(d)),
        "SigmoidFocalLoss": (lf.SigmoidFocalLoss(), _logits, _bits),
        "AsymmetricLoss": (lf.AsymmetricLoss(), _logits, _bits),
    }
    if name in elementwise:
        crit, mx, mt = elementwise[name]
        return crit, [mx(rng, dtype), mt(rng, dtype)], [(ROWS, COLS), ((37,), (3, 6))]
    if name == "MarginRankingLoss":
        y = (2 * _bits(rng, dtype, (N,)) - 1).astype(dtype)
        crit = lf.MarginRankingLoss(margin=0.3)
        return crit, [_logits(rng, dtype, (N,)), _logits(rng, dtype, (N,)), y], [(ROWS,)] * 3
    rows = {
        "ZLPRLoss": (lf.ZLPRLoss(), _bits),
        "MultiLabelSoftMarginLoss": (
            lf.MultiLabelSoftMarginLoss(weight=rng.uniform(0.5, 2, C).astype(dtype)), _bits),
        "MultiMarginLoss": (
            lf.MultiMarginLoss(p=2, margin=0.8, weight=rng.uniform(0.5, 2, C).astype(dtype)),
            lambda r, d: cls),
        "MultiLabelMarginLoss": (
            lf.MultiLabelMarginLoss(),
            lambda r, d: np.where(np.arange(C) < r.integers(0, C, (N, 1)),
                                  r.integers(0, C, (N, C)), -1)),
    }
    if name in rows:
        crit, mt = rows[name]
        t = mt(rng, dtype)
        return crit, [_logits(rng, dtype), t], [(ROWS, COLS), (ROWS,) + (((9,),) if t.ndim == 2 else ())]
    if name == "CosineEmbeddingLoss":
        y = np.where(rng.random(N) < 0.5, 1, -1)
        crit = lf.CosineEmbeddingLoss(margin=0.2)
        return crit, [_logits(rng, dtype), _logits(rng, dtype), y], [(ROWS, COLS), (ROWS, COLS), (ROWS,)]
    if name == "TripletMarginLoss":
        crit = lf.TripletMarginLoss(margin=0.5, swap=True)
        return crit, [_logits(rng, dtype) for _ in range(3)], [(ROWS, COLS)] * 3
    if name == "SoftF1Loss":
        return lf.SoftF1Loss(), [_logits(rng, dtype), _bits(rng, dtype)], [(ROWS, COLS)] * 2
    if name == "GaussianNLLLoss":
        var = rng.uniform(0.1, 2, (N, C)).astype(dtype)
        crit = lf.GaussianNLLLoss()
        return crit, [_logits(rng, dtype), _logits(rng, dtype), var], [(ROWS, COLS)] * 3
    if name == "CTCLoss":
        T, S = 12, 4
        x = _logits(rng, dtype, (T, 6, 5))
        lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
        tg = rng.integers(1, 5, (6, S))
        return lf.CTCLoss(), [lp.astype(dtype), tg, np.full(6, T), rng.integers(1, S + 1, 6)], \
            [((5, 7), (2, 4), (5,)), ((3, 3), (4,)), ((6,),), ((6,),)]
    raise AssertionError(name)


LOSSES = [
    "BCEWithLogitsLoss", "BCELoss", "CrossEntropyLoss", "CrossEntropyLoss-kd",
    "CrossEntropyLoss-prob", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "SoftMarginLoss", "KLDivLoss", "PoissonNLLLoss", "HingeEmbeddingLoss", "SigmoidFocalLoss",
    "AsymmetricLoss", "MarginRankingLoss", "ZLPRLoss", "MultiLabelSoftMarginLoss",
    "MultiMarginLoss", "MultiLabelMarginLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
    "SoftF1Loss", "GaussianNLLLoss", "CTCLoss",
]


def _to_dask(a, chunks):
    return da.from_array(np.asarray(a), chunks=chunks)


def _assert_chunks(grad, inputs):
    grads = grad if isinstance(grad, tuple) else (grad,)
    for g, a in zip(grads, inputs):
        assert g.chunks == a.chunks


def _check_all(pairs):
    """Compute every lazy value in one round trip, then compare each with its oracle."""
    computed = dask.compute(*[lazy for lazy, _, _ in pairs])
    for got, (_, expected, dtype) in zip(computed, pairs):
        if isinstance(expected, tuple):
            for g, e in zip(got, expected):
                _compare(g, e, dtype)
        else:
            _compare(got, expected, dtype)


def _compare(got, expected, dtype):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # KLDivLoss's
@pytest.mark.parametrize("name", LOSSES)
def test_loss_class(name):
    """Every reduction and dtype: loss, fused gradient and backward() after a lazy forward."""
    pairs = []
    for dtype in (np.float32, np.float64):
        for reduction in ("mean", "sum", "none"):
            rng = np.random.default_rng(abs(hash((name, reduction))) % 2**32)
            crit, inputs, chunks = _case_inputs(name, rng, dtype)
            crit.reduction = reduction
            lazy_inputs = [_to_dask(a, c) for a, c in zip(inputs, chunks)]
            loss0 = crit(*inputs)
            go = np.float64(0.7) if reduction != "none" else rng.uniform(0.5, 1.5, np.shape(loss0))
            go = go.astype(dtype)
            loss0, grad0 = crit.forward_backward(*inputs, grad_output=go)
            loss, grad = crit.forward_backward(*lazy_inputs, grad_output=go)
            assert isinstance(loss, da.Array)
            assert loss.shape == np.shape(loss0)
            _assert_chunks(grad, lazy_inputs)
            crit(*lazy_inputs)
            g = crit.backward(go)
            _assert_chunks(g, lazy_inputs)
            pairs += [(loss, loss0, dtype), (grad, grad0, dtype), (g, grad0, dtype)]
    _check_all(pairs)


FUNCTIONS = [
    ("binary_cross_entropy_with_logits",
     lambda r, d: ([_logits(r, d), _bits(r, d)],
                   dict(weight=r.uniform(0.5, 2, (37, 1)).astype(d),
                        pos_weight=r.uniform(0.5, 2, 9).astype(d)))),
    ("binary_cross_entropy", lambda r, d: ([_prob(r, d), _bits(r, d)], {})),
    ("cross_entropy",
     lambda r, d: ([_logits(r, d), np.where(r.random(37) < 0.2, -100, r.integers(0, 9, 37))],
                   dict(weight=r.uniform(0.5, 2, 9).astype(d)))),
    ("nll_loss", lambda r, d: ([np.log(_prob(r, d)), r.integers(0, 9, 37)], dict(ignore_index=3))),
    ("mse_loss", lambda r, d: ([_logits(r, d), _logits(r, d)],
                               dict(weight=r.uniform(0, 2, (37, 9)).astype(d)))),
    ("l1_loss", lambda r, d: ([_logits(r, d), _logits(r, d)], {})),
    ("huber_loss", lambda r, d: ([_logits(r, d), _logits(r, d)],
                                 dict(delta=0.5, weight=r.uniform(0, 2, (37, 9)).astype(d)))),
    ("kl_div", lambda r, d: ([_logits(r, d), _prob(r, d)], dict(reduction="batchmean"))),
    ("multilabel_categorical_crossentropy", lambda r, d: ([_logits(r, d), _bits(r, d)], {})),
    ("sigmoid_focal_loss", lambda r, d: ([_logits(r, d), _bits(r, d)], dict(reduction="mean"))),
    ("soft_f1_loss", lambda r, d: ([_logits(r, d), _bits(r, d)], {})),
]


@pytest.mark.parametrize("name,make", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_loss_function(name, make):
    pairs = []
    for dtype in (np.float32, np.float64):
        for reduction in ("mean", "sum", "none", None):
            rng = np.random.default_rng(len(name))
            inputs, kwargs = make(rng, dtype)
            if reduction is not None:
                if kwargs.get("reduction") == "batchmean" and reduction == "mean":
                    reduction = "batchmean"
                kwargs["reduction"] = reduction
            fn = getattr(F, name)
            expected = fn(*inputs, **kwargs)
            lazy = [_to_dask(inputs[0], (ROWS, COLS))] + [
                _to_dask(a, ((20, 17),) + ((3, 6),) * (np.ndim(a) - 1)) for a in inputs[1:]
            ]
            lazy_kwargs = dict(kwargs)
            if "weight" in kwargs and np.ndim(kwargs["weight"]) == 2:  # a dask weight
                lazy_kwargs["weight"] = _to_dask(kwargs["weight"], (11, 4))
            got = fn(*lazy, **lazy_kwargs)
            assert isinstance(got, da.Array)
            pairs.append((got, expected, dtype))
    _check_all(pairs)


def test_mean_uses_the_global_normalizer_when_one_chunk_is_all_ignored():
    rng = np.random.default_rng(7)
    N, C = 400, 5
    x = rng.normal(size=(N, C))
    t = rng.integers(0, C, N)
    t[:300] = -100  # every ignored target sits in the first chunk
    t[300] = -100
    w = rng.uniform(0.1, 3, C)
    crit = lf.CrossEntropyLoss(weight=w)
    expected, g0 = crit.forward_backward(x, t)
    X, T = _to_dask(x, ((301, 99), (5,))), _to_dask(t, ((301, 99),))
    loss, grad = crit.forward_backward(X, T)
    np.testing.assert_allclose(loss.compute(), expected, rtol=1e-12)
    np.testing.assert_allclose(grad.compute(), g0, rtol=1e-12, atol=1e-15)
    # a mean of chunk means would be far off (and nan: the first chunk has no target)
    chunk_means = [crit(x[:301], t[:301]), crit(x[301:], t[301:])]
    assert np.isnan(np.mean(chunk_means))
    sizes_weighted = (301 * 0 + 99 * chunk_means[1]) / 400
    assert abs(sizes_weighted - expected) > 0.5 * abs(expected)


def test_float32_sum_of_ten_million_elements():
    shape, chunks = (5000, 2000), (1250, 700)
    X = da.random.default_rng(0).standard_normal(shape, chunks=chunks).astype(np.float32) * 3
    T = (da.random.default_rng(1).random(shape, chunks=chunks) < 0.3).astype(np.float32)
    loss = F.binary_cross_entropy_with_logits(X, T, reduction="sum")
    mean = lf.BCEWithLogitsLoss()(X, T)
    assert loss.dtype == np.float32
    x, t = (a.astype(np.float64) for a in distributed.get_client().compute([X, T], sync=True))
    reference = F.binary_cross_entropy_with_logits(x, t, reduction="sum")
    assert x.size >= 10**7
    assert abs(float(loss.compute()) - reference) <= 1e-6 * abs(reference)
    assert abs(float(mean.compute()) - reference / x.size) <= 1e-6 * abs(reference / x.size)


def test_dask_weight_and_dask_grad_output():
    rng = np.random.default_rng(3)
    x, t = rng.normal(size=(37, 9)), _bits(rng, np.float64)
    go = rng.normal(size=(37, 9))
    crit = lf.MSELoss(reduction="none")
    _, g0 = crit.forward_backward(x, t, grad_output=go)
    _, g = crit.forward_backward(_to_dask(x, (ROWS, COLS)), t, grad_output=_to_dask(go, (9, 9)))
    np.testing.assert_allclose(g.compute(), g0, rtol=1e-13)
    crit = lf.CrossEntropyLoss()
    scale = da.from_array(np.float64(2.5))
    _, g0 = crit.forward_backward(x, t.argmax(1), grad_output=2.5)
    _, g = crit.forward_backward(_to_dask(x, (ROWS, COLS)), t.argmax(1), grad_output=scale)
    np.testing.assert_allclose(g.compute(), g0, rtol=1e-13)


def test_out_is_refused_for_dask():
    crit = lf.BCEWithLogitsLoss()
    X = da.zeros((4, 2), chunks=2)
    with pytest.raises(TypeError, match="out= is not supported for dask"):
        crit.forward_backward(X, X, out=np.zeros((4, 2)))


def test_errors_surface_at_compute():
    X = da.from_array(np.zeros((6, 3)), chunks=3)
    loss = F.cross_entropy(X, da.from_array(np.array([0, 1, 2, 7, 0, 1]), chunks=3))
    with pytest.raises(IndexError, match="class 7"):
        loss.compute()


# ----------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------

N, L = 83, 7
ML_ROWS, ML_COLS = (10, 40, 1, 32), (3, 4)


@pytest.fixture(scope="module")
def ml():
    rng = np.random.default_rng(11)
    yt = (rng.random((N, L)) < 0.3).astype(np.int64)
    yp = (rng.random((N, L)) < 0.3).astype(np.int64)
    yt[:, -1] = 0
    yp[:4] = 0
    ys = rng.integers(0, 5, (N, L)).astype(np.float64) + rng.normal(0, 0.1, (N, L)) * (
        rng.random((N, L)) < 0.5
    )
    w = rng.uniform(0, 2, N)
    return yt, yp, ys, w


def _lazy(a, chunks=None):
    if chunks is None:  # uneven rows; uneven columns when there are L of them
        chunks = (ML_ROWS, ML_COLS if np.shape(a)[1:2] == (L,) else -1)
    return da.from_array(a, chunks=chunks[: np.ndim(a)])


def _same(got, expected):
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray)
    else:
        assert isinstance(got, float)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15, equal_nan=True)


def _both(fn, *args, **kwargs):
    """(the NumPy path's result and warnings, the dask path's)."""
    lazy_args = [_lazy(a) if isinstance(a, np.ndarray) else a for a in args]
    lazy_kwargs = {k: (_lazy(v, ((25, 58),)) if isinstance(v, np.ndarray) and k == "sample_weight"
                       else v) for k, v in kwargs.items()}
    out = []
    for a, k in ((args, kwargs), (lazy_args, lazy_kwargs)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = fn(*a, **k)
        out.append((value, sorted({(c.category.__name__, str(c.message)) for c in caught})))
    return out


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted", "samples"])
def test_prf_multilabel(ml, average, weighted):
    from sklearn import metrics as skm

    yt, yp, _, w = ml
    sw = w if weighted else None
    for name, zero_division in (("precision_score", "warn"), ("recall_score", "warn"),
                                ("f1_score", "warn"), ("recall_score", np.nan),
                                ("precision_score", 1.0)):
        (expected, warned), (got, lazy_warned) = _both(
            getattr(M, name), yt, yp, average=average, zero_division=zero_division,
            sample_weight=sw,
        )
        _same(got, expected)
        assert lazy_warned == warned
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = getattr(skm, name)(yt, yp, average=average, zero_division=zero_division,
                                    sample_weight=sw)
        np.testing.assert_allclose(got, sk, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("average", [None, "binary", "micro", "macro", "weighted"])
def test_prf_1d(ml, average):
    for labels, weighted in (("int", False), ("str", True)):
        rng = np.random.default_rng(5)
        t, p = rng.integers(0, 2 if average == "binary" else 4, (2, N))
        if labels == "str":
            names = np.array(["ant", "bee", "cat", "dog"])
            t, p = names[t], names[p]
        kwargs = dict(average=average, sample_weight=ml[3] if weighted else None)
        if labels == "str" and average == "binary":
            kwargs["pos_label"] = "bee"
        for fn in (M.precision_score, M.f1_score):
            (expected, warned), (got, lazy_warned) = _both(fn, t, p, **kwargs)
            _same(got, expected)
            assert lazy_warned == warned


@pytest.mark.parametrize("weighted", [False, True])
def test_hamming_and_subset_accuracy(ml, weighted):
    yt, yp, _, w = ml
    sw = w if weighted else None
    for args in ((yt, yp), (yt[:, 0] + 2 * yt[:, 1], yp[:, 0] + 2 * yp[:, 1])):
        for fn, kw in ((M.hamming_loss, {}), (M.subset_accuracy, {}),
                       (M.subset_accuracy, {"normalize": False})):
            (expected, _), (got, _) = _both(fn, *args, sample_weight=sw, **kw)
            _same(got, expected)


def test_prf_labels_subset(ml):
    yt, yp, _, _ = ml
    (expected, _), (got, _) = _both(M.f1_score, yt, yp, average="macro", labels=[5, 0, 2],
                                    zero_division=0)
    _same(got, expected)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "name",
    ["label_ranking_average_precision_score", "coverage_error", "label_ranking_loss", "one_error"],
)
def test_ranking_metrics(ml, name, weighted):
    from helpers import one_error_reference
    from sklearn import metrics as skm

    yt, _, ys, w = ml
    sw = w if weighted else None
    (expected, _), (got, _) = _both(getattr(M, name), yt, ys, sample_weight=sw)
    _same(got, expected)
    oracle = one_error_reference if name == "one_error" else getattr(skm, name)
    np.testing.assert_allclose(got, oracle(yt, ys, sample_weight=sw), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted", "samples"])
def test_average_precision(ml, average, weighted):
    from sklearn import metrics as skm

    yt, _, ys, w = ml
    sw = w if weighted else None
    (expected, warned), (got, lazy_warned) = _both(
        M.average_precision_score, yt, ys, average=average, sample_weight=sw
    )
    _same(got, expected)
    assert lazy_warned == warned
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = skm.average_precision_score(yt, ys, average=average, sample_weight=sw)
    np.testing.assert_allclose(got, sk, rtol=1e-12)


def test_average_precision_1d(ml):
    yt, _, ys, w = ml
    for args in ((yt[:, 0], ys[:, 0]), (yt[:, 0] + 2 * yt[:, 1], ys[:, :4])):
        (expected, _), (got, _) = _both(M.average_precision_score, *args, sample_weight=w)
        _same(got, expected)


def test_accuracies(ml):
    _, _, ys, _ = ml
    rng = np.random.default_rng(2)
    labels = rng.integers(0, L, N)
    target = (rng.random((N, L)) < 0.5).astype(np.int64)
    for fn, args, kw in (
        (M.binary_accuracy, (ys - 2, target), {}),
        (M.binary_accuracy, (ys - 2, target), {"threshold": 0.3}),
        (M.accuracy, (ys, labels), {}),
        (M.top_k_accuracy, (ys, labels), {"k": 3}),
        (M.top_k_accuracy, (ys, labels), {"k": L}),  # the k >= C warning
    ):
        (expected, warned), (got, lazy_warned) = _both(fn, *args, **kw)
        _same(got, expected)
        assert lazy_warned == warned
    logits3 = rng.normal(size=(N, 4, 3))
    lab3 = rng.integers(0, 4, (N, 3))
    got = M.accuracy(_lazy(logits3, (ML_ROWS, (2, 2), (1, 2))), _lazy(lab3, (ML_ROWS, (3,))))
    _same(got, M.accuracy(logits3, lab3))


def test_prediction_helpers_are_lazy(ml):
    _, _, ys, _ = ml
    thr = np.linspace(-1, 1, L)
    for fn, args, kw in (
        (M.multilabel_predictions, (ys - 2,), {}),
        (M.multilabel_predictions, (ys - 2,), {"threshold": thr}),
        (M.multiclass_predictions, (ys,), {}),
        (M.one_hot, (np.arange(N) % 5,), {}),
        (M.one_hot, (np.arange(N) % 5,), {"num_classes": 6}),
    ):
        expected = fn(*args, **kw)
        got = fn(*[_lazy(a) for a in args], **kw)
        assert isinstance(got, da.Array)
        thr_before = thr.copy()
        thr += 0.5  # the lazy result keeps the threshold it was built with
        np.testing.assert_array_equal(got.compute(), expected)
        thr[:] = thr_before


def test_metric_errors_match_numpy(ml):
    yt, yp, _, _ = ml
    with pytest.raises(ValueError, match="average='binary'"):
        M.f1_score(_lazy(yt), _lazy(yp))
    bad = yt.copy()
    bad[50, 2] = 3
    with pytest.raises(ValueError, match="only 0 and 1"):
        M.hamming_loss(_lazy(bad), _lazy(yp))


def test_example_dask_train_matches_numpy(client, capsys):
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "dask_train.py"
    example = runpy.run_path(str(path))
    report = example["main"](["--steps", "3", "--eval-rows", "120000"], client=client)
    for name in ("multi-label, BCEWithLogitsLoss", "multi-class, CrossEntropyLoss"):
        assert report[name] <= 1e-10, name
    assert 0.5 < report["micro_f1"] < 1.0
    assert "micro-F1" in capsys.readouterr().out


def test_unbatched_and_higher_rank_row_losses_in_one_task():
    rng = np.random.default_rng(9)
    cases = [
        (lf.ZLPRLoss, rng.normal(size=(5, 4, 6)), _bits(rng, np.float64, (5, 4, 6)), 2),
        (lf.CrossEntropyLoss, rng.normal(size=5), np.array(2), 2),
        (lf.MultiMarginLoss, rng.normal(size=5), np.array(1), 3),
    ]
    pairs = []
    for cls, x, t, chunk in cases:
        for reduction in ("none", "mean", "sum"):
            crit = cls(reduction=reduction)
            loss0, grad0 = crit.forward_backward(x, t)
            X = _to_dask(x, chunk)
            loss, grad = crit.forward_backward(X, t)
            assert grad.chunks == X.chunks
            pairs += [(loss, loss0, np.float64), (grad, grad0, np.float64)]
    _check_all(pairs)


@pytest.mark.filterwarnings("ignore:mse_loss. using a target shape:UserWarning")
def test_broadcast_inputs_dask_class_weights_and_bad_classes():
    rng = np.random.default_rng(13)
    x, t = rng.normal(size=(37, 9)), rng.normal(size=(37, 1))
    w = rng.uniform(0.5, 2, 9)
    labels = rng.integers(0, 9, 37)
    pairs = []
    for reduction in ("none", "mean", "sum"):
        crit = lf.MSELoss(reduction=reduction)  # the target broadcasts along the columns
        loss0, grad0 = crit.forward_backward(x, t)
        loss, grad = crit.forward_backward(_to_dask(x, (ROWS, COLS)), _to_dask(t, (ROWS, 1)))
        assert grad.chunks == (ROWS, COLS)
        expected = F.cross_entropy(x, labels, weight=w, reduction=reduction)
        got = F.cross_entropy(_to_dask(x, (ROWS, COLS)), labels, weight=_to_dask(w, 4),
                              reduction=reduction)
        pairs += [(loss, loss0, np.float64), (grad, grad0, np.float64),
                  (got, expected, np.float64)]
    _check_all(pairs)
    bad = labels.copy()
    bad[30] = 9
    loss = lf.CrossEntropyLoss(weight=w)(_to_dask(x, (ROWS, COLS)), _to_dask(bad, 10))
    with pytest.raises(IndexError, match="class 9"):
        loss.compute()


def test_second_order_refuses_dask_arrays():
    """Hessians are NumPy-only for now: a clear NotImplementedError, not a
    silent compute or a wrong graph."""
    x = da.from_array(np.zeros((4, 3)), chunks=2)
    t = da.from_array(np.ones((4, 3)), chunks=2)
    crit = lf.BCEWithLogitsLoss()
    with pytest.raises(NotImplementedError, match=r"BCEWithLogitsLoss\.forward_backward\(\): "
                                                  r"Hessians of dask arrays"):
        crit.forward_backward(x, t, hessian=True)
    crit(x, t)
    with pytest.raises(NotImplementedError, match=r"BCEWithLogitsLoss\.hessian\(\): Hessians"):
        crit.hessian()
    with pytest.raises(NotImplementedError, match=r"BCEWithLogitsLoss\.hvp\(\): Hessians"):
        crit.hvp(np.zeros((4, 3)))


# ----------------------------------------------------------------------------
# A lazy result keeps the options it was built with (issue 18)
# ----------------------------------------------------------------------------


def _in_threes(a):
    a = np.asarray(a)
    return da.from_array(a, chunks=tuple(min(n, 3) for n in a.shape))


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # KLDivLoss's
@pytest.mark.parametrize("row", TABLE, ids=repr)
def test_lazy_results_keep_the_options_they_were_built_with(row):
    """Build, then change every option behind the graph's back (write into the
    option arrays, assign new values, change the reduction), then compute: the
    NumPy result with the options the call was made with.  For the lazy forward
    and the backward() after it (options changed in between too), the fused
    call and the function."""
    pairs = []
    for dtype in (np.float32, np.float64):
        for reduction in row.reductions:
            rng = np.random.default_rng(8)
            shape = row.shape if row.family == "ctc" else (8, 5)
            inputs = valid_inputs(row, dtype, shape=shape)

            def options():
                return dict(valid_options(row, dtype, shape=shape), reduction=reduction)

            go = grad_output_of(row, reduction, inputs, options(), rng, dtype)
            loss0, grad0 = row.cls(**options()).forward_backward(*inputs, grad_output=go)
            lazy = [_in_threes(a) for a in inputs]
            crit = row.cls(**options())
            loss = crit(*lazy)
            scramble(crit, option_names(crit), row.reductions)
            grad = crit.backward(go)
            scramble(crit, option_names(crit), row.reductions)
            fused = row.cls(**options())
            fused_loss, fused_grad = fused.forward_backward(*lazy, grad_output=go)
            scramble(fused, option_names(fused), row.reductions)
            kwargs = options()
            fn_loss = row.fn(*lazy, **kwargs)
            scramble_options(kwargs)
            pairs += [(loss, loss0, dtype), (grad, grad0, dtype), (fused_loss, loss0, dtype),
                      (fused_grad, grad0, dtype),
                      (fn_loss, row.fn(*inputs, **options()), dtype)]
    _check_all(pairs)


def test_lazy_function_copies_list_and_array_options():
    """The function's options are the caller's objects: written after the call
    (a list item, an array in place), the lazy value does not change."""
    rng = np.random.default_rng(21)
    x, t, y = rng.normal(size=(37, 9)), rng.integers(0, 9, 37), _bits(rng, np.float64)
    w = list(rng.uniform(0.5, 2, 9))
    pw = rng.uniform(0.5, 3, 9)
    expected = F.cross_entropy(x, t, weight=np.array(w), label_smoothing=0.2)
    expected_bce = F.binary_cross_entropy_with_logits(x, y, pos_weight=pw.copy())
    X = _to_dask(x, (ROWS, COLS))
    loss = F.cross_entropy(X, t, weight=w, label_smoothing=0.2)
    bce = F.binary_cross_entropy_with_logits(X, y, pos_weight=pw)
    w[0] = 100.0
    pw *= 3
    _check_all([(loss, expected, np.float64), (bce, expected_bce, np.float64)])


def test_tokenize_hashes_the_configuration_not_the_saved_state():
    """dask tokenizes a criterion (pure tasks, graph names) by pickling it: after
    a large forward call the token is the configuration's, and it costs nothing."""
    rng = np.random.default_rng(5)
    crit = lf.CrossEntropyLoss(weight=rng.uniform(0.5, 2, 1000), label_smoothing=0.1)
    token = dask.base.tokenize(crit)
    x = rng.standard_normal((4096, 1000)).astype(np.float32)
    crit.forward_backward(x, rng.integers(0, 1000, 4096))
    assert dask.base.tokenize(crit) == token
    crit.label_smoothing = 0.2
    assert dask.base.tokenize(crit) != token


def test_huge_int_target_with_dask_input_fails_when_built():
    X = da.from_array(np.zeros((3, 4)), chunks=2)
    with pytest.raises(IndexError, match=rf"^cross_entropy: target holds the integer {2**70} "
                                         "at index 1"):
        F.cross_entropy(X, [0, 2**70, 1])
    with pytest.raises(IndexError, match=rf"^NLLLoss: target holds the integer {-(2**70)}"):
        lf.NLLLoss()(X, [0, -(2**70), 1])


# ----------------------------------------------------------------------------
# Dask as a layer over the table (issue 19): every row of _core.LOSSES
# ----------------------------------------------------------------------------

_CORE_ROWS = [r for r in _core.LOSSES if not r["plain"]]
_BY_FNAME = {row.fname: row for row in TABLE}


def _block_tasks(lazy):
    """The number of per-block core calls in a lazy value's graph."""
    graph = lazy.__dask_graph__()
    return sum(len(layer) for name, layer in graph.layers.items()
               if name.startswith("block_call-"))


@pytest.mark.parametrize("core_row", _CORE_ROWS, ids=lambda r: r["fname"])
def test_every_table_row_has_a_rule_and_runs_on_dask(core_row):
    """Derived from _core.LOSSES, so a new row is covered without an edit here:
    its rule, then the lazy forward, backward() and function on small arrays
    (uneven chunks of 3 along every axis), each against the NumPy path."""
    rule = _dask.RULES[core_row["fname"]]
    assert rule.split in ("elementwise", "class_index", "rows", "whole")
    assert rule.ngrad == core_row["ngrad"]
    assert core_row["fname"] in _BY_FNAME, "a loss of the table without a row in loss_table.py"
    row = _BY_FNAME[core_row["fname"]]
    assert rule.grads == row.diff  # the inputs its gradients are of
    pairs = []
    for reduction in row.reductions:
        rng = np.random.default_rng(17)
        shape = row.shape if row.family == "ctc" else (8, 5)
        inputs = valid_inputs(row, np.float64, shape=shape)
        opts = dict(valid_options(row, np.float64, shape=shape), reduction=reduction)
        go = grad_output_of(row, reduction, inputs, opts, rng, np.float64)
        crit = row.cls(**opts)
        assert _dask._rule_of(crit) is rule
        loss0, grad0 = crit.forward_backward(*inputs, grad_output=go)
        lazy = [_in_threes(a) for a in inputs]
        loss = crit(*lazy)
        grad = crit.backward(go)
        assert isinstance(loss, da.Array) and loss.shape == np.shape(loss0)
        _assert_chunks(grad, lazy)
        if rule.split in ("class_index", "rows") or (
                rule.split == "elementwise" and len({np.shape(a) for a in inputs}) == 1):
            # a split that cuts (a 2-d batch; element-wise inputs that do not broadcast
            # against each other): the core runs once per block, not in one task
            assert _block_tasks(grad if rule.ngrad == 1 else grad[0]) > 1
        pairs += [(loss, loss0, np.float64), (grad, grad0, np.float64),
                  (row.fn(*lazy, **opts), row.fn(*inputs, **opts), np.float64)]
    _check_all(pairs)


def test_gaussian_gradient_of_a_variance_shaped_unlike_the_target():
    """The second gradient is of var (the third array): in one task its shape is
    var's, (N,) or (N, 1) against an (N, C) target."""
    rng = np.random.default_rng(6)
    x, t = rng.normal(size=(10, 4)), rng.normal(size=(10, 4))
    pairs = []
    for var in (rng.uniform(0.5, 2, 10), rng.uniform(0.5, 2, (10, 1))):
        for reduction in ("none", "mean", "sum"):
            crit = lf.GaussianNLLLoss(reduction=reduction)
            loss0, grads0 = crit.forward_backward(x, t, var)
            lazy = [_in_threes(a) for a in (x, t, var)]
            loss, grads = crit.forward_backward(*lazy)
            assert grads[1].chunks == lazy[2].chunks
            pairs += [(loss, loss0, np.float64), (grads, grads0, np.float64)]
    _check_all(pairs)


def test_a_row_without_a_rule_fails_at_import():
    row = next(r for r in _core.LOSSES if r["fname"] == "mse_loss")
    for broken in (dict(row["dask"], split=None), dict(row["dask"], mean="core"),
                   dict(row["dask"], none="sideways")):
        with pytest.raises(SystemError, match="mse_loss has no usable Dask rule"):
            _dask._rule(dict(row, dask=broken))
    # the rows without a split are the functions that take no reduction
    assert {r["fname"] for r in _core.LOSSES if r["dask"]["split"]} == set(_dask.RULES)
    assert all(r["plain"] for r in _core.LOSSES if not r["dask"]["split"])


def test_the_core_gives_the_class_index_divisor():
    """WANT_NORM: the mean's divisor of a class-index call, which Dask sums
    over blocks (the float64 reference: the class weights of the kept targets)."""
    rng = np.random.default_rng(4)
    x, t, w = rng.normal(size=(9, 4)), rng.integers(0, 4, 9), rng.uniform(0.5, 2, 4)
    t[[1, 5]] = -1
    norm = _core.WANT_NORM
    divisor = _core.cross_entropy(x, t, w, -1, 0.1, 1, norm, None)
    assert divisor == pytest.approx(float(np.sum(w[t[t != -1]])), rel=1e-15)
    total = F.cross_entropy(x, t, w, ignore_index=-1, label_smoothing=0.1, reduction="sum")
    mean = F.cross_entropy(x, t, w, ignore_index=-1, label_smoothing=0.1)
    assert mean == pytest.approx(total / divisor, rel=1e-15)
    assert _core.nll_loss(x, t, None, -1, 1, norm, None) == np.count_nonzero(t != -1)
    probs = rng.dirichlet(np.ones(4), size=9)
    assert _core.cross_entropy(x, probs, None, -100, 0.0, 1, norm, None) == x.shape[0]
    with pytest.raises(IndexError, match="class 4 at index 2"):
        _core.nll_loss(x, np.where(np.arange(9) == 2, 4, t), None, -1, 1, norm, None)
    with pytest.raises(ValueError, match="smooth_l1_loss: `want` asks for a divisor"):
        _core.smooth_l1_loss(x, x, 1.0, 1, norm, None)
    with pytest.raises(ValueError, match="cross_entropy: `want` asks for a divisor"):
        _core.cross_entropy(x, t, w, -1, 0.0, 2, norm, None)  # a sum has none
    with pytest.raises(ValueError, match="cross_entropy: `want` asks for a divisor"):
        _core.cross_entropy(x, t, w, -1, 0.0, 1, norm | _core.WANT_LOSS, None)


def test_the_core_gives_the_weighted_mean_divisor():
    """WANT_NORM of the losses whose mean divides by their weights' sum (L1, MSE):
    the divisor Dask sums over blocks, against the float64 reference."""
    rng = np.random.default_rng(5)
    x, y, w = rng.normal(size=(7, 3)), rng.normal(size=(7, 3)), rng.uniform(0.1, 3, (7, 3))
    norm = _core.WANT_NORM
    for fn in (_core.mse_loss, _core.l1_loss):
        assert fn(x, y, w, 1, norm, None) == pytest.approx(float(np.sum(w)), rel=1e-15)
        assert fn(x, y, None, 1, norm, None) == x.size
    weighted = F.mse_loss(da.from_array(x, chunks=(3, 2)), da.from_array(y, chunks=(3, 2)),
                          weight=da.from_array(w, chunks=(3, 2))).compute()
    assert weighted == pytest.approx(float(np.sum(w * (x - y) ** 2) / np.sum(w)), rel=1e-13)


# -- the fused classifier heads: row blocks of the same tiles (pylossfn._dask_heads)

HEADS = {
    # name -> (class, its options, a target of N rows for C classes)
    "lce_index": (lf.LinearCrossEntropyLoss,
                  lambda rng, C: dict(weight=rng.uniform(0.5, 2.0, C), label_smoothing=0.1),
                  lambda rng, N, C: np.where(rng.random(N) < 0.2, -100, rng.integers(0, C, N))),
    "lce_probs": (lf.LinearCrossEntropyLoss, lambda rng, C: {},
                  lambda rng, N, C: rng.dirichlet(np.ones(C), N)),
    "lbce": (lf.LinearBCEWithLogitsLoss, lambda rng, C: dict(pos_weight=rng.uniform(1, 3, C)),
             lambda rng, N, C: np.where(rng.random((N, 4)) < 0.3, -1, rng.integers(0, C, (N, 4)))),
}


def _head_case(name, reduction, dtype=np.float64, N=29, D=6, C=13, seed=0):
    rng = np.random.default_rng(seed)
    cls, options, target = HEADS[name]
    crit = cls(D, C, bias=True, dtype=dtype, reduction=reduction, seed=seed, **options(rng, C))
    x = rng.normal(size=(N, D)).astype(dtype)
    t = target(rng, N, C)
    go = None
    if reduction == "none":
        go = rng.normal(size=(N, C) if name == "lbce" else N).astype(dtype)
    return crit, x, t, go


def _head_numpy(crit, x, t, go):
    loss, g = crit.forward_backward(x, t, grad_output=go)
    return loss, g, crit.linear.weight_grad, crit.linear.bias_grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(HEADS))
def test_fused_head_on_dask_equals_numpy(name, reduction):
    # the oracle: the NumPy path of the same head (itself checked against torch's reference
    # path in test_linear_head.py) on the same values; uneven row chunks, the input's columns
    # cut too (made whole), target and grad_output chunked otherwise
    crit, x, t, go = _head_case(name, reduction)
    expected = _head_numpy(crit, x, t, go)
    lazy_go = None if go is None else da.from_array(go, chunks=5)
    loss, g = crit.forward_backward(da.from_array(x, chunks=(7, 4)), da.from_array(t, chunks=11),
                                    grad_output=lazy_go)
    assert isinstance(loss, da.Array) and isinstance(crit.linear.weight_grad, da.Array)
    assert g.chunks[0] == (7, 7, 7, 7, 1)
    got = dask.compute(loss, g, crit.linear.weight_grad, crit.linear.bias_grad)
    for a, b in zip(got, expected):
        _compare(a, b, np.float64)
    # backward after a lazy forward, and the function face
    loss2 = crit(da.from_array(x, chunks=(10, 6)), t)
    (g2,) = dask.compute(crit.backward(lazy_go))
    _compare(g2, expected[1], np.float64)
    fn = (F.linear_binary_cross_entropy_with_logits if name == "lbce" else F.linear_cross_entropy)
    kw = {k: getattr(crit, k) for k in ("weight", "label_smoothing", "pos_weight")
          if hasattr(crit, k)}
    lazy = fn(da.from_array(x, chunks=(8, 6)), crit.linear.weight, t,
              linear_bias=crit.linear.bias, reduction=reduction, **kw)
    _compare(lazy.compute(), expected[0], np.float64)
    _compare(loss2.compute(), expected[0], np.float64)


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["lce_index", "lbce"])
def test_fused_head_on_dask_in_half_precision(name, half):
    # blocks compute in float32 and the results are narrowed where the NumPy path narrows:
    # within one rounding of the half dtype of it (the loss: a float64 tree of float32 block
    # sums, the NumPy path one float64 sum)
    from helpers import ulp

    dtype = np.dtype(half) if half == "float16" else np.dtype(pytest.importorskip(
        "ml_dtypes").bfloat16)
    crit, x, t, _ = _head_case(name, "mean", dtype=dtype)
    expected = _head_numpy(crit, x, t, None)
    got = dask.compute(*crit.forward_backward(da.from_array(x, chunks=(6, 6)), t),
                       crit.linear.weight_grad, crit.linear.bias_grad)
    for a, b in zip(got, expected):
        assert np.asarray(a).dtype == dtype
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert np.all(np.abs(a64 - b64) <= ulp(b64, dtype)), (a64, b64)


def test_fused_head_on_dask_unbatched_and_one_block():
    crit, x, t, _ = _head_case("lce_index", "mean")
    expected = crit.forward_backward(x[0], t[1])
    loss, g = dask.compute(*crit.forward_backward(da.from_array(x[0]), t[1]))
    _compare(loss, expected[0], np.float64)
    _compare(g, expected[1], np.float64)
    crit, x, t, go = _head_case("lbce", "none")
    expected = crit.forward_backward(x[0], t[0], grad_output=go[0])
    got = dask.compute(*crit.forward_backward(da.from_array(x[0]), t[0], grad_output=go[0]))
    assert got[0].shape == expected[0].shape == (13,)
    for a, b in zip(got, expected):
        _compare(a, b, np.float64)


def test_fused_head_lazy_result_keeps_its_layer_and_options():
    # the graph holds copies: writing into the layer, replacing it, or changing an option
    # after building changes nothing it computes (nor a later backward of that forward)
    crit, x, t, _ = _head_case("lce_index", "mean")
    expected = _head_numpy(crit, x, t, None)
    loss = crit(da.from_array(x, chunks=(7, 6)), t)
    crit.linear.weight[...] = 0.0
    crit.linear.bias = None
    crit.weight[...] = 5.0
    crit.label_smoothing = 0.0
    g = crit.backward()
    got = dask.compute(loss, g, crit.linear.weight_grad, crit.linear.bias_grad)
    for a, b in zip(got, expected):
        _compare(a, b, np.float64)
    # the function copies its arrays too
    rng = np.random.default_rng(3)
    W = rng.normal(size=(13, 6))
    ref = F.linear_cross_entropy(x, W, t)
    lazy = F.linear_cross_entropy(da.from_array(x, chunks=9), W, t)
    W[...] = 0.0
    _compare(lazy.compute(), ref, np.float64)


def test_fused_head_on_dask_errors():
    crit, x, t, _ = _head_case("lce_index", "mean")
    X = da.from_array(x, chunks=(7, 6))
    # shapes, dtypes and options: when the graph is built, by the NumPy path's messages
    with pytest.raises(ValueError, match="same last dimension"):
        crit(X[:, :5], t)
    with pytest.raises(ValueError, match="target must have 29 rows"):
        crit(X, t[:20])
    with pytest.raises(TypeError, match="integer class indices"):
        crit(X, t.astype(np.float64))
    with pytest.raises(ValueError, match="ignore_index cannot be set"):
        F.linear_cross_entropy(X, crit.linear.weight, np.full((29, 13), 1 / 13), ignore_index=3)
    with pytest.raises(TypeError, match="out= is not supported for dask"):
        crit.forward_backward(X, t, out=np.empty_like(x))
    with pytest.raises(ValueError, match="grad_output must be a scalar for a reduced loss"):
        crit.forward_backward(X, t, grad_output=np.ones(29))
    with pytest.raises(ValueError, match="grad_output must have the loss's shape"):
        lf.LinearCrossEntropyLoss(6, 13, reduction="none").forward_backward(
            X.astype(np.float32), t, grad_output=np.ones(28, np.float32))
    # second order refused, as for every loss
    crit(X, t)
    for call in (crit.hessian, lambda: crit.hvp(x),
                 lambda: crit.forward_backward(X, t, hessian=True)):
        with pytest.raises(NotImplementedError, match="Hessians of dask arrays"):
            call()
    # the targets' values: when the graph computes (IndexError, as the NumPy path's)
    bad = t.copy()
    bad[17] = 13
    lazy = crit(X, da.from_array(bad, chunks=10))
    with pytest.raises(IndexError, match="class 13"):
        lazy.compute()
