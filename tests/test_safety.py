"""What a hostile user tries beside races (test_races.py): sizes whose products
overflow, ``out=`` that overlaps itself or anything the call reads, and Ctrl-C
in a long call.  Every case must end in the documented exception, never a
crash, a hang or a wrong answer (issue 18).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from loss_table import LOSSES, valid_inputs, valid_options
from numpy.lib.stride_tricks import as_strided

import pylossfn as lf
import pylossfn.functional as F

BROADCASTING = [r for r in LOSSES if r.target_rule == "broadcast" or
                (r.family == "rows" and r.target_rule != "same")]


def _huge(a, shape):
    """A zero-stride view of a's first element with `shape` (costs nothing)."""
    flat = np.ascontiguousarray(a).reshape(-1)[:1]
    return as_strided(flat, shape, (0,) * len(shape), writeable=False)


# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shapes", [
    ((2**32, 1), (1, 2**32)),          # 2**64: wrapped to 0 (returned 0.0, mean nan)
    ((2**33 + 1, 1), (1, 2**31)),      # wrapped to 2**31 (returned 2.1e9, true 1.8e19)
    ((2**32 + 1, 1), (1, 2**32 - 1)),  # 2**64 - 1: wrapped to -1 (ran forever)
], ids=["2^64", "2^64+2^31", "2^64-1"])
@pytest.mark.parametrize("row", BROADCASTING, ids=repr)
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_broadcast_size_overflow_is_a_value_error(row, shapes, reduction):
    args = valid_inputs(row, np.float64)
    first, rest = shapes
    huge = [_huge(a, rest if i == 1 else first) for i, a in enumerate(args)]
    kw = {k: v for k, v in valid_options(row, np.float64).items()
          if k not in ("reduction", "weight", "pos_weight")}
    with pytest.raises(ValueError, match=r"element count does not fit in a 64-bit size"):
        row.fn(*huge, reduction=reduction, **kw)


def test_ctc_target_lengths_whose_sum_wraps():
    lp = np.log(np.full((5, 4, 3), 1 / 3))
    lengths = np.array([2**62, 2**62, 2**62, 2**62 + 1])  # sums (wrapping) to 1
    with pytest.raises(ValueError, match=r"sum of target_lengths .* does not fit"):
        F.ctc_loss(lp, np.array([1]), np.full(4, 5), lengths)


def test_ctc_impossible_lattice_names_its_size():
    # a zero-stride log_probs makes T huge for free: the lattices cannot exist
    lp = _huge(np.log(np.full(3, 1 / 3)), (2**40, 1, 3))
    with pytest.raises((ValueError, MemoryError), match=r"lattice"):
        F.ctc_loss(lp, np.ones((1, 2**21), np.int64)[:, :4], np.array([2**40]),
                   np.array([4]))


# ---------------------------------------------------------------------------
# out=
# ---------------------------------------------------------------------------

def _grad_like(row, args):
    return [args[i] for i in row.diff]


def _outs(row, make):
    """`out` for a call of row: one array, or a tuple (one per gradient)."""
    args = valid_inputs(row, np.float64)
    outs = [make(g) for g in _grad_like(row, args)]
    return args, outs[0] if len(outs) == 1 else tuple(outs)


@pytest.mark.parametrize("row", LOSSES, ids=repr)
def test_out_that_overlaps_itself_is_refused(row):
    """A writeable zero-stride out (every element the same memory) would receive
    a meaningless gradient."""
    args, out = _outs(row, lambda g: as_strided(np.zeros(max(g.size, 1)), g.shape,
                                                (0,) * g.ndim))
    crit = row.cls(**valid_options(row, np.float64))
    # (losses whose kernels need a C-contiguous out refuse it as non-contiguous)
    with pytest.raises(ValueError, match="out must not overlap itself|C-contiguous"):
        crit.forward_backward(*args, out=out)


@pytest.mark.parametrize("row", LOSSES, ids=repr)
def test_out_aliasing_a_saved_input_is_refused(row):
    args = valid_inputs(row, np.float64)
    crit = row.cls(**valid_options(row, np.float64))
    crit(*args)
    saved = _grad_like(row, args)
    out = saved[0] if len(saved) == 1 else tuple(saved)
    before = [np.array(a, copy=True) for a in args]
    with pytest.raises(ValueError, match="share memory"):
        crit.backward(out=out)
    for a, b in zip(args, before):  # nothing was written
        np.testing.assert_array_equal(a, b)


def _head(kind, dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(dtype)
    if kind == "lce":
        return lf.LinearCrossEntropyLoss(4, 5, dtype=dtype, seed=0), x, rng.integers(0, 5, 8)
    t = np.full((8, 2), -1)
    t[:, 0] = rng.integers(0, 5, 8)
    return lf.LinearBCEWithLogitsLoss(4, 5, dtype=dtype, seed=0, bias=True), x, t


@pytest.mark.parametrize("kind", ["lce", "lbce"])
def test_fused_head_out_rule(kind):
    crit, x, t = _head(kind)
    # the value with a private out, the oracle of "nothing changed"
    ref_loss, ref_dx = crit.forward_backward(x, t)
    ref_dw = crit.linear.weight_grad.copy()
    w0 = crit.linear.weight.copy()
    x0 = x.copy()
    for out in (x, x.reshape(2, 16).reshape(8, 4)):  # the input, and a view of it
        with pytest.raises(ValueError, match="share memory"):
            crit.forward_backward(x, t, out=out)
    # a layer whose weight is shaped like the gradient: out=weight is refused
    big, xb, tb = _head(kind)
    big.linear.weight = np.zeros((8, 4))
    if big.linear.bias is not None:
        big.linear.bias = np.zeros(8)
    with pytest.raises(ValueError, match="share memory"):
        big.forward_backward(xb, tb, out=big.linear.weight)
    crit(x, t)
    with pytest.raises(ValueError, match="share memory"):
        crit.backward(out=x)
    with pytest.raises(TypeError, match="dtype"):
        crit.forward_backward(x, t, out=np.empty(x.shape, np.float32))
    with pytest.raises(ValueError, match="shape"):
        crit.forward_backward(x, t, out=np.empty((8, 5)))
    with pytest.raises(ValueError, match="C-contiguous"):
        crit.forward_backward(x, t, out=as_strided(np.zeros(4), x.shape, (0, 8)))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(crit.linear.weight, w0)
    # a good out gives exactly the private answer, weight_grad included
    out = np.empty_like(x)
    loss, dx = crit.forward_backward(x, t, out=out)
    assert dx is out and loss == ref_loss
    np.testing.assert_array_equal(dx, ref_dx)
    np.testing.assert_array_equal(crit.linear.weight_grad, ref_dw)


# ---------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------

CTRL_C = textwrap.dedent(
    r"""
    import os, signal, sys, threading, time
    import numpy as np
    import pylossfn.functional as F
    from numpy.lib.stride_tricks import as_strided

    case = sys.argv[1]
    rng = np.random.default_rng(0)
    if case == "ctc":  # about 20 s uninterrupted on 2 threads
        T, N, C, S = 2000, 64, 500, 800
        lp = np.log(rng.dirichlet(np.ones(C), (T, N))).astype(np.float32)
        tg = rng.integers(1, C, (N, S))
        call = lambda: F.ctc_loss(lp, tg, np.full(N, T), np.full(N, S))
    else:  # 2**59 elements of a broadcast: years
        a = as_strided(np.ones(1), (2**30, 1), (0, 0))
        b = as_strided(np.zeros(1), (1, 2**29), (0, 0))
        call = lambda: F.mse_loss(a, b, reduction="sum")
    small = rng.standard_normal((300, 100)), rng.integers(0, 100, 300)
    before = F.cross_entropy(*small)
    t0 = time.monotonic()
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        call()
        print("no interrupt")
    except KeyboardInterrupt:
        print(f"interrupted {time.monotonic() - t0 - 0.5:.3f}")
    # the pool answers the next call, with the same bits
    print("same" if F.cross_entropy(*small) == before else "different")
    """
)


def _run_child(code, *args):
    """A script in a subprocess (a hang or a crash fails the case, not the session)."""
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code, *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYLOSSFN_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return proc.stdout.split()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to oneself is POSIX")
@pytest.mark.parametrize("case", ["ctc", "broadcast"])
def test_ctrl_c_stops_a_long_call(case):
    lines = _run_child(CTRL_C, case)
    assert lines[0] == "interrupted", lines
    assert float(lines[1]) < 1.0, f"Ctrl-C took {lines[1]} s to reach the call"
    assert lines[2] == "same", lines


HANDLERS = textwrap.dedent(
    r"""
    import os, signal, sys, threading, time
    import numpy as np
    import pylossfn.functional as F
    from numpy.lib.stride_tricks import as_strided

    case = sys.argv[1]
    a = as_strided(np.ones(1), (2**30, 1), (0, 0))  # 2**59 elements: years
    b = as_strided(np.zeros(1), (1, 2**29), (0, 0))
    # 2**32 elements: about 0.6 s on 2 AVX-512 cores, so the 0.05 s alarm lands inside the call
    small = as_strided(np.ones(1), (2**16, 1), (0, 0)), as_strided(np.zeros(1), (1, 2**16), (0, 0))
    x = np.linspace(-1, 1, 20000)

    class Stop(Exception):
        pass

    def raising(signum, frame):
        raise Stop

    def calls_small(signum, frame):  # a slow handler that calls a loss without the pool
        time.sleep(0.1)
        print("inner", F.mse_loss(np.ones(10), np.zeros(10)) == 1.0)

    def calls_large(signum, frame):  # a handler whose loss call releases the GIL itself
        print("inner", F.mse_loss(x, 0 * x) == np.mean(x * x))

    if case == "raising":
        signal.signal(signal.SIGALRM, raising)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            F.mse_loss(a, b, reduction="sum")
        except Stop:
            print("raised")
    elif case == "calls_small":  # the outer call finishes with its own answer
        signal.signal(signal.SIGALRM, calls_small)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        print("outer", F.mse_loss(*small, reduction="sum") == 2**32)
    elif case == "calls_large":  # Ctrl-C still reaches the outer call afterwards
        signal.signal(signal.SIGALRM, calls_large)
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        threading.Timer(0.6, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            F.mse_loss(a, b, reduction="sum")
        except KeyboardInterrupt:
            print("interrupted")
    elif case == "fork_from_thread":  # the forking thread is the child's main thread
        def child():
            pid = os.fork()
            if pid == 0:
                threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
                try:
                    F.mse_loss(a, b, reduction="sum")
                except KeyboardInterrupt:
                    os._exit(7)
                os._exit(1)
            for _ in range(100):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    print("child", os.waitstatus_to_exitcode(status) == 7)
                    return
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print("child hung")
        th = threading.Thread(target=child)
        th.start()
        th.join()
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="signals to oneself are POSIX")
@pytest.mark.parametrize("case, expected", [
    ("raising", ["raised"]),                      # whatever the handler raises comes out
    ("calls_small", ["inner", "True", "outer", "True"]),
    ("calls_large", ["inner", "True", "interrupted"]),
    ("fork_from_thread", ["child", "True"]),
])
def test_signal_handlers_during_a_long_call(case, expected):
    """The poll runs Python handlers in the middle of a kernel: a handler may raise,
    or call a loss itself (small or large), and a forked child answers Ctrl-C."""
    assert _run_child(HANDLERS, case) == expected


# ---------------------------------------------------------------------------
# Fuzzing the binding's length and broadcast arithmetic
# ---------------------------------------------------------------------------

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=300, deadline=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.too_slow])
EXTREMES = st.one_of(st.integers(-3, 12), st.sampled_from(
    [2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**62, 2**62 + 1, 2**63 - 1, -2**63]))


@FUZZ
@given(T=st.integers(1, 6), N=st.integers(1, 4), C=st.integers(2, 5), S=st.integers(0, 5),
       padded=st.booleans(), data=st.data())
def test_fuzz_ctc_lengths(T, N, C, S, padded, data):
    """Any int64 lengths: a loss, or ValueError / IndexError; nothing read out of bounds
    (the sanitized suite runs this too)."""
    il = np.array(data.draw(st.lists(EXTREMES, min_size=N, max_size=N)), np.int64)
    tl = np.array(data.draw(st.lists(EXTREMES, min_size=N, max_size=N)), np.int64)
    lp = np.log(np.full((T, N, C), 1.0 / C))
    n_targets = S * N if not padded else S
    targets = np.ones((N, S) if padded else (n_targets,), np.int64)
    try:
        loss = F.ctc_loss(lp, targets, il, tl, reduction="none")
    except (ValueError, IndexError):
        return
    assert loss.shape == (N,)
    # only lengths within the arrays can have been accepted
    assert (il >= 0).all() and (il <= T).all() and (tl >= 0).all()
    assert (tl <= S).all() if padded else tl.sum() == n_targets


DIMS = st.sampled_from([0, 1, 2, 3, 2**16, 2**31, 2**32 - 1, 2**32, 2**33 + 1, 2**62])


@FUZZ
@given(a=st.lists(DIMS, min_size=1, max_size=4), b=st.lists(DIMS, min_size=1, max_size=4),
       reduction=st.sampled_from(["none", "mean", "sum"]))
def test_fuzz_broadcast_counts(a, b, reduction):
    """Zero-stride operands of any shapes: a loss when the broadcast is small, a
    ValueError when the shapes do not broadcast or the count does not fit."""
    count = None
    try:
        shape = np.broadcast_shapes(tuple(a), tuple(b))
        count = 1
        for d in shape:
            count *= d
        # NumPy's limit, which the engine keeps: the nonzero dims' count in bytes
        too_big = 8 * int(np.prod([d for d in shape if d], dtype=object)) >= 2**63
    except ValueError:
        too_big = False
    # a count that fits but is large would take years: not a case for a unit test
    assume(count is None or count <= 10**6 or too_big)
    try:  # NumPy's own limit on an operand: its size in bytes must fit
        x = _huge(np.ones(1), tuple(a))
        t = _huge(np.zeros(1), tuple(b))
    except ValueError:
        assume(False)
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = F.mse_loss(x, t, reduction=reduction)
    except ValueError as e:
        assert count is None or too_big, (shape, e)
        return
    assert count is not None and count <= 10**6 and not too_big
    expected = {"none": None, "mean": 1.0 if count else np.nan, "sum": float(count)}[reduction]
    if reduction == "none":
        assert loss.shape == shape and (loss == 1.0).all()
    else:
        np.testing.assert_equal(float(loss), expected)
