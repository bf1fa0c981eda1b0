"""Reference counts and memory: 10^4 calls leave the reference count of
every argument unchanged, on success (contiguous and not) and on every error
path; 10^5 calls grow neither the traced heap nor the resident size by 64 KiB.
"""
import gc
import os
import sys
import tracemalloc

import numpy as np
import pytest
from error_cases import arguments, cases
from loss_table import (
    CORE_LOSSES,
    DTYPES,
    EXTRA_LOSSES,
    LOSSES,
    N,
    loss_shape,
    valid_inputs,
    valid_options,
)

pytestmark = pytest.mark.torch

CALLS = 10_000
GROWTH_CALLS = 100_000
GROWTH_LIMIT = 64 * 1024

SANITIZED = os.environ.get("PYLOSSFN_SANITIZED") == "1"


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap():
    """Move the objects that exist now (torch's, mostly) out of the
    collector's sight, so that the gc.collect() calls below stay cheap."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def _private(value):
    """A str equal to value but not the interned literal, whose reference
    count the interpreter also moves; other values unchanged."""
    return "".join(list(value)) if type(value) is str else value


def _tracked(objs):
    """The objects whose reference counts can be watched: not the ones the
    interpreter itself shares (None, bools, small ints)."""
    out = []
    for o in objs:
        if o is None or isinstance(o, bool) or (type(o) is int and -5 <= o <= 256):
            continue
        out.append(o)
        if isinstance(o, np.ndarray):
            out.append(o.dtype)
            if o.base is not None:
                out.append(o.base)
    # the dtype singletons the core casts to, a classic leak
    out += [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64),
            np.dtype(np.uint64)]
    return out


def _assert_refcounts_stable(fn, objs, exc=None):
    def once():
        if exc is None:
            fn()
        else:
            try:
                fn()
            except exc:
                pass
            else:
                raise AssertionError("the call did not raise")

    once()  # first-call caches (the converter import, ...)
    watched = _tracked(objs)
    gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    for _ in range(CALLS):
        once()
    gc.collect()
    after = [sys.getrefcount(o) for o in watched]
    leaks = [(repr(o)[:60], b, a) for o, b, a in zip(watched, before, after) if a != b]
    assert not leaks, leaks


def _noncontiguous(a):
    """a with the same values, through a strided, negative-stride view."""
    big = np.empty(a.shape + (2,), a.dtype)
    big[..., 0] = a
    return big[..., 0][::-1][::-1] if a.ndim else big[..., 0]


def _success_calls(row, dtype):
    for reduction in row.reductions:
        for layout in ("contiguous", "strided"):
            opts = dict(valid_options(row, dtype), reduction=_private(reduction))
            inputs = valid_inputs(row, dtype)
            if layout == "strided":
                inputs = tuple(_noncontiguous(a) for a in inputs)
                opts = {k: _noncontiguous(v) if isinstance(v, np.ndarray) else v
                        for k, v in opts.items()}
            go = np.full(loss_shape(row, reduction, inputs, opts), 0.5, dtype)
            yield f"{reduction}-{layout}", opts, inputs, go


def _success_step(row, dtype):
    """A function running call i of a rotation over every face, reduction and
    layout, and the objects it touches."""
    calls, objs = [], []
    for _, opts, inputs, go in _success_calls(row, dtype):
        crit = row.cls(**opts)
        crit(*inputs)
        objs += list(inputs) + list(opts.values()) + [go, crit]
        objs += [getattr(crit, k) for k in opts if k != "reduction"]
        calls += [
            lambda opts=opts, inputs=inputs: row.fn(*inputs, **opts),
            lambda crit=crit, inputs=inputs: crit(*inputs),
            lambda crit=crit, go=go: crit.backward(go),
            lambda crit=crit, inputs=inputs, go=go: crit.forward_backward(*inputs,
                                                                         grad_output=go),
        ]
    state = {"i": 0}

    def step():
        calls[state["i"] % len(calls)]()
        state["i"] += 1
    return step, objs


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("row", LOSSES, ids=repr)
def test_refcounts_success(row, dtype):
    """10^4 successful calls, spread over the four faces, three reductions,
    contiguous and strided arguments."""
    step, objs = _success_step(row, dtype)
    _assert_refcounts_stable(step, objs)


def _error_params():
    # one case per distinct error (exception and message pattern): the same
    # check with another bad value takes the same path.  Beyond the core four,
    # one per distinct error of each family: its losses share the checking code
    seen_in = {}
    for row in LOSSES:
        seen = set() if row.core else seen_in.setdefault(row.family, set())
        for case in cases(row, np.float64):
            key = (case.exc, case.match, case.reduction == "none")
            if key not in seen:
                seen.add(key)
                yield pytest.param(row, case, id=f"{row.name}-{case.id}")


@pytest.mark.parametrize("row, case", list(_error_params()))
def test_refcounts_error(row, case):
    """Every error path of the matrix, 10^4 times, through the fused call
    (which reads every argument, grad_output included)."""
    opts, inputs = arguments(row, np.float64, case)
    opts = {k: _private(v) for k, v in opts.items()}
    inputs = tuple(_private(v) for v in inputs)
    try:
        crit = row.cls(**opts)
    except case.exc:
        # refused by the constructor (reduction, ...): the function is the loop
        _assert_refcounts_stable(lambda: row.fn(*inputs, **opts), list(inputs) +
                                 list(opts.values()), case.exc)
        return
    objs = list(inputs) + list(opts.values()) + [case.grad_output, crit]
    _assert_refcounts_stable(
        lambda: crit.forward_backward(*inputs, grad_output=case.grad_output), objs, case.exc)


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mixed_calls(row, dtype):
    """A training loop's worth of calls: successes of every reduction and
    layout, and the errors a bad batch produces."""
    crits = []
    for _, opts, inputs, go in _success_calls(row, dtype):
        crits.append((row.cls(**opts), inputs, go))
    bad = []
    for case in cases(row, dtype)[::5]:
        if case.raised is None:
            opts, inputs = arguments(row, dtype, case)
            if "grad_output" in case.id:
                call = (lambda o=opts, i=inputs, g=case.grad_output:  # noqa: E731
                        row.cls(**o).forward_backward(*i, grad_output=g))
            else:
                call = lambda o=opts, i=inputs: row.fn(*i, **o)  # noqa: E731
            bad.append((call, case.exc))

    def step(i):
        crit, inputs, go = crits[i % len(crits)]
        crit.forward_backward(*inputs, grad_output=go)
        if i % 4 == 0:
            call, exc = bad[(i // 4) % len(bad)]
            try:
                call()
            except exc:
                pass
    return step


def _interleaved(rows, dtype):
    """One loop over several losses: call i goes to loss i % len(rows)."""
    steps = [_mixed_calls(row, dtype) for row in rows]

    def step(i):
        steps[i % len(steps)](i // len(steps))
    return step


GROWTH_PARAMS = [pytest.param((row,), id=row.name) for row in CORE_LOSSES] + [
    pytest.param(EXTRA_LOSSES, id="every-other-loss")]


@pytest.mark.parametrize("rows", GROWTH_PARAMS)
def test_memory_growth(rows):
    step = _interleaved(rows, np.float32)
    # warm up caches and the allocator's arenas (longer for many losses: each
    # has its own sizes of temporaries to settle)
    for i in range(GROWTH_CALLS // 10 if len(rows) == 1 else GROWTH_CALLS // 2):
        step(i)
    tracemalloc.start()
    try:
        for i in range(GROWTH_CALLS // 100):  # and tracemalloc's own tables
            step(i)
        gc.collect()
        heap0, _ = tracemalloc.get_traced_memory()
        rss0 = _rss()
        for i in range(GROWTH_CALLS):
            step(i)
        gc.collect()
        heap1, _ = tracemalloc.get_traced_memory()
        rss1 = _rss()
    finally:
        tracemalloc.stop()
    assert heap1 - heap0 < GROWTH_LIMIT, (heap0, heap1)
    if not SANITIZED:  # ASan's quarantine holds freed memory on purpose
        assert rss1 - rss0 < GROWTH_LIMIT, (rss0, rss1)


@pytest.mark.parametrize("row", CORE_LOSSES, ids=repr)  # a check of the measurement
def test_growth_check_can_fail(row):
    """The measurement sees a leak of a few bytes per call."""
    keep = []
    tracemalloc.start()
    try:
        heap0, _ = tracemalloc.get_traced_memory()
        inputs = valid_inputs(row, np.float32)
        for _ in range(GROWTH_CALLS // 10):
            keep.append(row.cls().forward(*inputs))
        heap1, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert heap1 - heap0 > GROWTH_LIMIT
    assert len(keep) == GROWTH_CALLS // 10 and N


def test_refcount_check_can_fail():
    """The check sees one reference kept per call."""
    a, keep = np.ones(3), []
    with pytest.raises(AssertionError):
        _assert_refcounts_stable(lambda: keep.append(a), [a])


def test_sanitized_build_is_the_one_imported():
    """Under `make sanitize` the ASan + UBSan build must be what runs (and
    outside it, the ordinary one): a suite that silently imported the other
    build would prove nothing."""
    from pylossfn import _core

    with open(_core.__file__, "rb") as f:
        image = f.read()
    assert (b"__asan_init" in image) == SANITIZED, _core.__file__
    assert (b"__ubsan_handle" in image) == SANITIZED, _core.__file__
    if SANITIZED:
        assert os.path.realpath(_core.__file__).startswith(os.path.realpath(os.getcwd()))
        with open("/proc/self/maps") as f:
            assert "libasan" in f.read()
