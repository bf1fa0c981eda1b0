#!/usr/bin/env python
"""Side-by-side speed of pylossfn against torch and plain NumPy.

For each loss, dtype and shape this script times one fused
``crit.forward_backward(x, t)`` through a pylossfn module object, torch's
forward + ``backward()`` and the stable NumPy formula a user would write for the
loss and its gradient. Before timing, it checks once that the three agree.
It also measures this machine's memory bandwidth and exp/log cost, and reports
how far each large case is from a simple roofline.

Usage::

    python benchmarks/bench.py                      # full run, about 3-5 minutes
    python benchmarks/bench.py --quick              # smaller sizes and fewer reps, < 1 minute
    python benchmarks/bench.py --threads 1 --out BENCHMARKS.md

The thread count is ``--threads``, else ``$PYLOSSFN_NUM_THREADS``, else the
number of CPUs this process may run on. It goes to ``torch.set_num_threads`` and
to pylossfn through ``PYLOSSFN_NUM_THREADS`` (set before pylossfn is imported).

Anything pylossfn lacks or gets wrong is reported (``n/a`` with the reason,
or ``MISMATCH``), never a crash. A disagreement between torch and the NumPy
reference is a bug in this script and stops it.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import platform
import statistics
import sys
import time
import traceback
import zlib

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FULL_SHAPES = [(1, 2), (32, 10), (256, 100), (1024, 1000), (4096, 1000), (8192, 5000)]
QUICK_SHAPES = [(1, 2), (32, 10), (256, 100), (1024, 1000), (4096, 1000)]
DTYPES = (np.float32, np.float64)
LARGE_NUMEL = 1_000_000  # from here on a case is bandwidth/compute bound: show its roofline

# Agreement tolerances: |a - b| <= atol * max|b| + rtol * |b| for gradients,
# relative error for the scalar loss.
TOL = {
    np.float32: dict(loss_rtol=1e-5, grad_rtol=1e-4, grad_atol=1e-6),
    np.float64: dict(loss_rtol=1e-10, grad_rtol=1e-9, grad_atol=1e-12),
}


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #


class Timer:
    """Adaptive ``perf_counter_ns`` timer reporting the median time per call.

    A warm-up (skipped when the caller already knows a call takes longer than
    the target) gives an estimate of one call. Calls are then grouped ``inner``
    at a time so that one sample lasts at least ``sample_s`` (timer resolution
    and loop overhead become negligible), and enough samples are taken to
    fill ``target_s``, with at least ``min_samples``.

    ``many`` times several functions with their samples interleaved round-robin,
    so that a slow spell of this (shared, virtual) machine hits all of them alike
    and their ratios stay meaningful.
    """

    def __init__(self, target_s, sample_s, min_samples, max_samples=50):
        self.target_ns = target_s * 1e9
        self.sample_ns = sample_s * 1e9
        self.min_samples = min_samples
        self.max_samples = max_samples

    def plan(self, fn, hint_ns=None):
        """Warm up ``fn``; return (inner calls per sample, samples to take, samples taken).

        A call of at least 4x the target (hundreds of ms) that already ran once
        reuses that run as its first sample: at such sizes every call allocates
        and faults in fresh output pages anyway, so the first call is not
        colder than the next ones, and the full run stays within minutes.
        """
        if hint_ns is not None and hint_ns >= 4 * self.target_ns:
            return 1, 2, [float(hint_ns)]
        if hint_ns is not None and hint_ns >= self.target_ns / 2:
            est = float(hint_ns)  # slow call that already ran once: no warm-up
        else:
            fn()  # first call: may allocate, fault pages in, fill caches
            budget = self.target_ns / 5
            calls, start = 0, time.perf_counter_ns()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter_ns() - start
                if elapsed >= budget or calls >= 100_000:
                    break
            est = max(elapsed / calls, 1.0)
        inner = max(1, math.ceil(self.sample_ns / est))
        samples = round(self.target_ns / (inner * est))
        if est > self.target_ns / 3:
            samples = 3  # calls of 50 ms and more: 3 is enough for a median
        samples = min(max(samples, self.min_samples), self.max_samples)
        return inner, samples, []

    @staticmethod
    def sample(fn, inner):
        rng = range(inner)
        t0 = time.perf_counter_ns()
        for _ in rng:
            fn()
        return (time.perf_counter_ns() - t0) / inner

    def many(self, fns):
        """fns: {name: (fn, hint_ns)} -> {name: median ns per call}."""
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            plans = {k: self.plan(fn, hint) for k, (fn, hint) in fns.items()}
            times = {k: plans[k][2] for k in fns}
            for i in range(max(p[1] for p in plans.values())):
                for k, (fn, _) in fns.items():
                    if i < plans[k][1]:
                        times[k].append(self.sample(fn, plans[k][0]))
            return {k: statistics.median(v) for k, v in times.items()}
        finally:
            if gc_was_enabled:
                gc.enable()

    def __call__(self, fn, hint_ns=None):
        """Median ns per call of ``fn()``. ``hint_ns``: a known single-call time."""
        return self.many({0: (fn, hint_ns)})[0]


def timed_once(fn):
    t0 = time.perf_counter_ns()
    out = fn()
    return out, time.perf_counter_ns() - t0


# --------------------------------------------------------------------------- #
# Machine description and roofs
# --------------------------------------------------------------------------- #


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def physical_cores():
    try:
        cores = set()
        phys = core = None
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                elif not line.strip() and core is not None:
                    cores.add((phys, core))
                    phys = core = None
        if core is not None:
            cores.add((phys, core))
        return len(cores) or None
    except OSError:
        return None


def cache_sizes():
    """{level: bytes} for data/unified caches of cpu0, from sysfs."""
    out = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for d in sorted(os.listdir(base)):
            if not d.startswith("index"):
                continue
            p = os.path.join(base, d)
            with open(os.path.join(p, "type")) as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(os.path.join(p, "level")) as f:
                level = int(f.read())
            with open(os.path.join(p, "size")) as f:
                s = f.read().strip()
            mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1], 1)
            out[level] = int(s.rstrip("KMG")) * mult
    except (OSError, ValueError):
        pass
    return out


def loadavg():
    """1-minute load average, or None where /proc/loadavg is missing."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def fmt_bytes(n):
    for unit, s in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= s:
            return f"{n / s:.4g} {unit}"
    return f"{n} B"


def measure_roofs(torch, threads, quick):
    """Copy bandwidth (read + written bytes / time) and per-element exp/log cost."""
    timer = Timer(0.05 if quick else 0.15, 0.002, 3)
    roofs = {}
    for label, nbytes in (("dram", 256 << 20), ("cache", 4 << 20)):
        src = np.ones(nbytes // 8)
        dst = np.empty_like(src)
        t_np = timer(lambda dst=dst, src=src: np.copyto(dst, src))
        bw_np = 2 * nbytes / (t_np * 1e-9)
        bw_torch = None
        if torch is not None and threads > 1:
            # NumPy copies on one thread; with several threads the kernels may
            # get more bandwidth, so take torch's parallel copy_ too.
            ts, td = torch.from_numpy(src), torch.from_numpy(dst)
            t_t = timer(lambda td=td, ts=ts: td.copy_(ts))
            bw_torch = 2 * nbytes / (t_t * 1e-9)
        roofs[label] = dict(
            nbytes=nbytes,
            numpy=bw_np,
            torch=bw_torch,
            used=max(bw_np, bw_torch or 0.0),
        )
        del src, dst
    # Transcendental cost per element, one thread, NumPy's (SIMD where it has
    # them) ufuncs writing into a preallocated array. On a large array (2^22
    # elements, beyond L2) it includes memory traffic: an upper bound. On an
    # L2-resident one (2^15) it is close to the arithmetic cost alone; that one
    # is used for the roofline, which must be a lower bound on the time.
    rng = np.random.default_rng(1)
    for dt in DTYPES:
        entry = {}
        for size_label, n in (("large", 1 << 22), ("l2", 1 << 15)):
            a = rng.uniform(-4.0, 4.0, n).astype(dt)
            pos = np.abs(a) + dt(0.5)
            small = np.exp(-np.abs(a))
            out = np.empty_like(a)
            for name, fn, arg in (("exp", np.exp, a), ("log", np.log, pos),
                                  ("log1p", np.log1p, small)):
                ns = timer(lambda fn=fn, arg=arg, out=out: fn(arg, out=out)) / n
                entry[name if size_label == "l2" else f"{name}_large"] = ns
        roofs[np.dtype(dt).name] = entry
    return roofs


# --------------------------------------------------------------------------- #
# NumPy references: the stable formulas a user would write (reduction="mean")
# --------------------------------------------------------------------------- #


def np_bce_with_logits(x, t):
    n = x.size
    e = np.exp(-np.abs(x))
    loss = np.mean(np.maximum(x, 0) - x * t + np.log1p(e))
    sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))  # stable sigmoid(x)
    grad = (sig - t) / n
    return loss, grad


def np_bce(p, t):
    n = p.size
    # torch clamps the logs at -100 and the backward denominator at 1e-12
    logp = np.maximum(np.log(p), -100)
    log1mp = np.maximum(np.log1p(-p), -100)
    loss = -np.mean(t * logp + (1 - t) * log1mp)
    grad = (p - t) / np.maximum(p * (1 - p), p.dtype.type(1e-12)) / n
    return loss, grad


def np_cross_entropy(x, y, label_smoothing=0.0):
    N, C = x.shape
    rows = np.arange(N)
    z = x - x.max(axis=1, keepdims=True)
    ez = np.exp(z)
    s = ez.sum(axis=1, keepdims=True)
    logp = z - np.log(s)  # log_softmax by log-sum-exp
    nll = -logp[rows, y]
    eps = label_smoothing
    if eps:
        loss = np.mean((1 - eps) * nll - (eps / C) * logp.sum(axis=1))
    else:
        loss = np.mean(nll)
    grad = ez / s  # softmax
    grad[rows, y] -= 1 - eps
    if eps:
        grad -= eps / C
    grad /= N
    return loss, grad


def np_nll(logp, y):
    N = logp.shape[0]
    rows = np.arange(N)
    loss = -np.mean(logp[rows, y])
    grad = np.zeros_like(logp)
    grad[rows, y] = -1.0 / N
    return loss, grad


# --------------------------------------------------------------------------- #
# Cases
# --------------------------------------------------------------------------- #


def sigmoid(x):
    # tanh form: stable for any x, and fewer passes than the exp/where form
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def log_softmax(x):
    z = x - x.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class Case:
    """One loss: data maker, the three implementations, and its roofline model."""

    def __init__(self, label, lf_name, lf_kwargs, torch_name, numpy_fn, make, bytes_fn, trans_fn,
                 model):
        self.label = label
        self.lf_name = lf_name
        self.lf_kwargs = lf_kwargs
        self.torch_name = torch_name
        self.numpy_fn = numpy_fn
        self.make = make  # (shape, dtype, rng) -> (x, t)
        self.bytes_fn = bytes_fn  # (shape, itemsize) -> bytes that must move
        self.trans_fn = trans_fn  # (shape, costs) -> ns of transcendentals on 1 thread
        self.model = model  # human description of both models


def make_binary(shape, dt, rng):
    x = rng.standard_normal(shape, dtype=dt)
    t = rng.integers(0, 2, shape).astype(dt)
    return x, t


def make_probs(shape, dt, rng):
    x, t = make_binary(shape, dt, rng)
    return sigmoid(x), t


def make_classes(shape, dt, rng):
    x = rng.standard_normal(shape, dtype=dt)
    y = rng.integers(0, shape[1], shape[0], dtype=np.int64)
    return x, y


def make_logprobs(shape, dt, rng):
    x, y = make_classes(shape, dt, rng)
    return log_softmax(x), y


def numel(shape):
    return math.prod(shape)


def ce_case(eps):
    kw = {"label_smoothing": eps} if eps else {}
    return Case(
        f"CrossEntropyLoss(ls={eps})",
        "CrossEntropyLoss",
        kw,
        "CrossEntropyLoss",
        lambda x, y: np_cross_entropy(x, y, eps),
        make_classes,
        lambda s, b: 2 * numel(s) * b + s[0] * 8,
        lambda s, c: numel(s) * c["exp"] + s[0] * c["log"],
        "read x (N·C), read int64 labels (N), write grad (N·C); "
        "N·C exp + N log (rows re-read from cache, not memory)",
    )


CASES = [
    Case(
        "BCEWithLogitsLoss",
        "BCEWithLogitsLoss",
        {},
        "BCEWithLogitsLoss",
        np_bce_with_logits,
        make_binary,
        lambda s, b: 3 * numel(s) * b,
        lambda s, c: numel(s) * (c["exp"] + c["log1p"]),
        "read x, read t (same dtype), write grad: 3·n·itemsize; "
        "n exp + n log1p (the sigmoid reuses exp(-|x|))",
    ),
    Case(
        "BCELoss",
        "BCELoss",
        {},
        "BCELoss",
        np_bce,
        make_probs,
        lambda s, b: 3 * numel(s) * b,
        lambda s, c: numel(s) * 2 * c["log"],
        "read p, read t, write grad: 3·n·itemsize; 2n log (log p, log(1-p))",
    ),
    ce_case(0.0),
    ce_case(0.1),
    Case(
        "NLLLoss",
        "NLLLoss",
        {},
        "NLLLoss",
        np_nll,
        make_logprobs,
        lambda s, b: numel(s) * b + s[0] * (8 + min(s[1] * b, 64)),
        lambda s, c: 0.0,
        "read labels (8·N), gather one element per row (one 64-byte line, "
        "N·min(C·itemsize, 64)), write grad (N·C); no transcendentals",
    ),
]


# --------------------------------------------------------------------------- #
# Runners: each returns a zero-argument callable producing (loss, grad)
# --------------------------------------------------------------------------- #


def lf_runner(lf, case, x, t):
    crit = getattr(lf, case.lf_name)(**case.lf_kwargs)
    return lambda: crit.forward_backward(x, t)


def torch_runner(torch, case, x, t):
    crit = getattr(torch.nn, case.torch_name)(**case.lf_kwargs)
    xt = torch.from_numpy(x).requires_grad_(True)
    tt = torch.from_numpy(t)

    def run():
        xt.grad = None
        loss = crit(xt, tt)
        loss.backward()
        return loss, xt.grad

    return run


def to_result(out):
    """(loss, grad) from any implementation -> (float, ndarray)."""
    loss, grad = out
    if hasattr(loss, "detach"):
        loss, grad = loss.detach().numpy(), grad.numpy()
    loss = np.asarray(loss)
    if loss.shape != ():
        raise ValueError(f"loss has shape {loss.shape}, expected a scalar")
    return loss, np.asarray(grad)


def compare(a, b, dt):
    """Errors of result a against reference b, and whether they are within TOL."""
    (la, ga), (lb, gb) = a, b
    tol = TOL[dt]
    problems = []
    if la.dtype != np.dtype(dt):
        problems.append(f"loss dtype {la.dtype}")
    if ga.dtype != np.dtype(dt):
        problems.append(f"grad dtype {ga.dtype}")
    if ga.shape != gb.shape:
        problems.append(f"grad shape {ga.shape} != {gb.shape}")
        return math.inf, math.inf, problems
    lb64, la64 = float(lb), float(la)
    loss_err = abs(la64 - lb64) / max(abs(lb64), np.finfo(dt).tiny)
    if not math.isfinite(la64) or loss_err > tol["loss_rtol"]:
        problems.append(f"loss {la64!r} vs {lb64!r} (rel err {loss_err:.2e})")
    if gb.size == 0:
        return loss_err, 0.0, problems
    # In the arrays' own dtype: the difference of two close floats is exact,
    # and a float64 copy of a 41M-element array costs seconds per case.
    agb = np.abs(gb)
    scale = float(np.max(agb))
    diff = np.abs(ga - gb)
    grad_err = float(np.max(diff)) / scale if scale else float(np.max(diff))
    agb *= tol["grad_rtol"]
    agb += tol["grad_atol"] * scale
    bad = ~(diff <= agb)  # also catches NaN
    del agb, diff
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        problems.append(
            f"grad differs at {int(bad.sum())} of {bad.size} elements, "
            f"first at {tuple(int(k) for k in i)}: {float(ga[i])!r} vs {float(gb[i])!r} "
            f"(max |diff|/max|grad| {grad_err:.2e})"
        )
    return loss_err, grad_err, problems


def short_exc(e):
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    s = type(e).__name__ + (f": {msg}" if msg else "")
    return s if len(s) <= 160 else s[:157] + "..."


# --------------------------------------------------------------------------- #
# Main benchmark
# --------------------------------------------------------------------------- #


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_case(case, shape, dt, timer, lf, lf_error, torch, roofs, threads, cache_limit):
    row = dict(loss=case.label, dtype=np.dtype(dt).name, shape=shape, ours=None, torch=None,
               numpy=None, ours_note=None, err=None, roof=None, problems=[])
    rng = np.random.default_rng(zlib.crc32(f"{case.label} {shape} {np.dtype(dt).name}".encode()))
    x, t = case.make(shape, dt, rng)

    # numpy reference and torch: must agree, else this script is wrong
    np_run = lambda: case.numpy_fn(x, t)  # noqa: E731
    torch_run = torch_runner(torch, case, x, t)
    ref_np, t_np = timed_once(lambda: to_result(np_run()))
    ref_torch, t_torch = timed_once(lambda: to_result(torch_run()))
    _, _, probs = compare(ref_np, ref_torch, dt)
    assert not probs, f"bench bug: NumPy reference != torch for {case.label} {shape} {dt}: {probs}"

    ours_run, t_ours = None, None
    if lf is None:
        row["ours_note"] = lf_error
    else:
        try:
            ours_run = lf_runner(lf, case, x, t)
            res, t_ours = timed_once(lambda: to_result(ours_run()))
        except Exception as e:  # a missing or failing feature is data, not a crash
            row["ours_note"] = short_exc(e)
            ours_run = None
        else:
            loss_err, grad_err, probs = compare(res, ref_torch, dt)
            row["err"] = (loss_err, grad_err)
            row["problems"] = probs
            del res

    del ref_np, ref_torch
    gc.collect()

    fns = {"torch": (torch_run, t_torch), "numpy": (np_run, t_np)}
    if ours_run is not None:
        fns["ours"] = (ours_run, t_ours)
    try:
        row.update(timer.many(fns))
    except Exception as e:  # pylossfn failing on a later call than the first
        if ours_run is None:
            raise
        row["ours_note"] = "while timing: " + short_exc(e)
        del fns["ours"]
        row.update(timer.many(fns))

    if numel(shape) >= LARGE_NUMEL:
        itemsize = np.dtype(dt).itemsize
        nbytes = case.bytes_fn(shape, itemsize)
        where = "cache" if nbytes <= cache_limit else "dram"
        mem_ns = nbytes / roofs[where]["used"] * 1e9
        cpu_ns = case.trans_fn(shape, roofs[np.dtype(dt).name]) / threads
        row["roof"] = dict(ns=max(mem_ns, cpu_ns), mem_ns=mem_ns, cpu_ns=cpu_ns, where=where,
                           nbytes=nbytes)
    return row


def overhead_rows(lf, lf_error, torch, timer):
    """Bare-call cost at shape [1, 2], float32, in ns per call."""
    rows = []
    rng = np.random.default_rng(7)
    x2 = rng.standard_normal((1, 2), dtype=np.float32)
    tb = rng.integers(0, 2, (1, 2)).astype(np.float32)
    yc = np.array([1], dtype=np.int64)
    Ft = torch.nn.functional
    xt = torch.from_numpy(x2).requires_grad_(True)
    xt_nograd = torch.from_numpy(x2)
    tbt, yct = torch.from_numpy(tb), torch.from_numpy(yc)

    rows.append(("Python call of a no-op lambda (loop floor)", lambda: (lambda: None), None))
    for cname, fname, tgt, tgt_t in (
        ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", tb, tbt),
        ("CrossEntropyLoss", "cross_entropy", yc, yct),
    ):
        def lf_fb(cname=cname, tgt=tgt):
            crit = getattr(lf, cname)()
            return lambda: crit.forward_backward(x2, tgt)

        def lf_fwd(cname=cname, tgt=tgt):
            crit = getattr(lf, cname)()
            return lambda: crit(x2, tgt)

        def lf_bwd(cname=cname, tgt=tgt):
            crit = getattr(lf, cname)()
            crit(x2, tgt)
            return crit.backward

        def lf_fwd_bwd(cname=cname, tgt=tgt):
            crit = getattr(lf, cname)()
            return lambda: (crit(x2, tgt), crit.backward())

        def lf_func(fname=fname, tgt=tgt):
            import pylossfn.functional as F

            f = getattr(F, fname)
            return lambda: f(x2, tgt)

        def torch_fwd(fname=fname, tgt_t=tgt_t):
            f = getattr(Ft, fname)
            return lambda: f(xt_nograd, tgt_t)

        def torch_fb(cname=cname, tgt_t=tgt_t):
            crit = getattr(torch.nn, cname)()

            def run():
                xt.grad = None
                crit(xt, tgt_t).backward()

            return run

        rows += [
            (f"pylossfn `{cname}().forward_backward(x, t)`", lf_fb, "lf"),
            (f"pylossfn `{cname}()(x, t)` (module forward)", lf_fwd, "lf"),
            ("pylossfn `crit.backward()` after a forward", lf_bwd, "lf"),
            ("pylossfn `crit(x, t)` then `crit.backward()`", lf_fwd_bwd, "lf"),
            (f"pylossfn `functional.{fname}(x, t)` (forward)", lf_func, "lf"),
            (f"torch `F.{fname}(x, t)` (forward, no grad)", torch_fwd, None),
            (f"torch `{cname}()(x, t).backward()`", torch_fb, None),
        ]

    out = []
    for label, factory, needs in rows:
        if needs == "lf" and lf is None:
            out.append((label, None, lf_error))
            continue
        try:
            fn = factory()
            fn()
            out.append((label, timer(fn), None))
        except Exception as e:
            out.append((label, None, short_exc(e)))
    return out


def import_pylossfn():
    """(module, None) or (None, reason). Falls back to the in-tree package."""
    try:
        import pylossfn

        if getattr(pylossfn, "__file__", None) is not None:
            return pylossfn, None
    except Exception:
        pass
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    for name in [m for m in sys.modules if m == "pylossfn" or m.startswith("pylossfn.")]:
        del sys.modules[name]
    try:
        import pylossfn
    except Exception as e:
        return None, "import pylossfn failed: " + short_exc(e)
    if getattr(pylossfn, "__file__", None) is None:
        where = list(pylossfn.__path__)
        return None, f"pylossfn is not built (empty namespace package at {where})"
    return pylossfn, None


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #


def us(ns):
    if ns is None:
        return "n/a"
    v = ns / 1000
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def build_report(meta, roofs, rows, overhead, notes):
    L = []
    L.append("# pylossfn benchmarks")
    L.append("")
    L.append(f"Generated {meta['date']} by `{meta['cmd']}` (total {meta['elapsed']:.0f} s).")
    L.append("")
    if meta["busy"]:
        L.append("> **Warning:** other processes were using the CPUs during this run (see the "
                 "load average below). Torch's thread pool suffers most from that; rerun on an "
                 "idle machine before drawing conclusions.")
        L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("| --- | --- |")
    for k, v in meta["machine"]:
        L.append(f"| {k} | {v} |")
    L.append("")
    L.append("## Roofs of this machine")
    L.append("")
    L.append("Copy bandwidth counts bytes read + bytes written per second (`np.copyto`, one "
             "thread; with more than one thread also torch's parallel `copy_`, the larger is "
             "used).")
    L.append("")
    L.append("| copy of | NumPy, 1 thread | torch, N threads | used |")
    L.append("| --- | --- | --- | --- |")
    for key, desc in (("dram", "memory"), ("cache", "cache-resident")):
        r = roofs[key]
        tb = f"{r['torch'] / 1e9:.1f} GB/s" if r["torch"] else "—"
        L.append(f"| {fmt_bytes(r['nbytes'])} ({desc}) | {r['numpy'] / 1e9:.1f} GB/s | {tb} | "
                 f"{r['used'] / 1e9:.1f} GB/s |")
    L.append("")
    L.append("Transcendental cost: NumPy ufunc with `out=`, one thread, ns per element. On a "
             "2^22-element array it includes memory traffic (an upper bound); on an L2-resident "
             "2^15-element array it is close to the arithmetic alone, and that is what the "
             "roofline uses.")
    L.append("")
    L.append("| dtype | exp (L2) | log (L2) | log1p (L2) | exp (2^22) | log (2^22) "
             "| log1p (2^22) |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for dt in DTYPES:
        c = roofs[np.dtype(dt).name]
        L.append(f"| {np.dtype(dt).name} | {c['exp']:.3f} | {c['log']:.3f} | {c['log1p']:.3f} | "
                 f"{c['exp_large']:.3f} | {c['log_large']:.3f} | {c['log1p_large']:.3f} |")
    L.append("")
    L.append("## Roofline model")
    L.append("")
    L.append(f"For cases with at least {LARGE_NUMEL:,} input elements: roofline = max(bytes that "
             "must move ÷ bandwidth, transcendentals × per-element cost ÷ threads). The "
             "bandwidth is the cache-resident one when those bytes fit in "
             f"{fmt_bytes(meta['cache_limit'])} "
             "(half the last-level cache), else the memory one. Write-allocate traffic is not "
             "counted. Bytes and transcendentals per `forward_backward` (mean reduction):")
    L.append("")
    for case in CASES:
        L.append(f"- **{case.label}**: {case.model}")
    L.append("")
    L.append("## `forward_backward`, reduction='mean': median µs per call")
    L.append("")
    L.append("*ours* = `pylossfn.<Loss>().forward_backward(x, t)`; *torch* = forward + "
             "`backward()` on a leaf tensor; *numpy* = the stable NumPy formulas in this script. "
             "`torch/ours` and `numpy/ours` above 1 mean pylossfn is faster. *err* = ours vs "
             "torch: relative error of the loss / max|grad diff| ÷ max|grad|. *roofline*: see "
             "above; (mem) or (exp/log) says which bound is the larger.")
    L.append("")
    L.append("| loss | dtype | shape | ours µs | torch µs | numpy µs | torch/ours | numpy/ours "
             "| roofline µs | ours/roofline | err |")
    L.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        roof = r["roof"]
        roof_s = "—"
        if roof:
            bound = "mem" if roof["mem_ns"] >= roof["cpu_ns"] else "exp/log"
            roof_s = f"{us(roof['ns'])} ({bound})"
        ours = us(r["ours"])
        if r["ours"] is None and r["ours_note"]:
            ours = f"n/a [{notes.index(r['ours_note']) + 1}]"
        if r["err"] is not None:
            err = f"{r['err'][0]:.0e} / {r['err'][1]:.0e}"
            if r["problems"]:
                err = "**MISMATCH** " + err
        else:
            err = "—"
        L.append(
            f"| {r['loss']} | {r['dtype']} | {r['shape'][0]}×{r['shape'][1]} | {ours} | "
            f"{us(r['torch'])} | {us(r['numpy'])} | {ratio(r['torch'], r['ours'])} | "
            f"{ratio(r['numpy'], r['ours'])} | {roof_s} | "
            f"{ratio(r['ours'], roof['ns']) if roof else '—'} | {err} |"
        )
    L.append("")
    L.append("## Bare-call overhead at shape [1, 2], float32: median ns per call")
    L.append("")
    L.append("| call | ns |")
    L.append("| --- | ---: |")
    for label, ns, note in overhead:
        cell = f"{ns:,.0f}" if ns is not None else f"n/a [{notes.index(note) + 1}]"
        L.append(f"| {label} | {cell} |")
    L.append("")
    if notes:
        L.append("Not available (n/a above):")
        L.append("")
        for i, n in enumerate(notes, 1):
            L.append(f"{i}. {n}")
        L.append("")
    L.append("## Numerical agreement")
    L.append("")
    tol = ", ".join(f"{np.dtype(d).name}: loss rel {v['loss_rtol']:g}, grad "
                    f"|diff| <= {v['grad_atol']:g}·max|g| + {v['grad_rtol']:g}·|g|"
                    for d, v in TOL.items())
    L.append(f"Checked once per case before timing, against torch ({tol}). The NumPy reference "
             "agreed with torch in every case (the script stops otherwise).")
    L.append("")
    bad = [r for r in rows if r["problems"]]
    if bad:
        L.append("pylossfn disagreed with torch in these cases:")
        L.append("")
        for r in bad:
            L.append(f"- {r['loss']} {r['dtype']} {r['shape'][0]}×{r['shape'][1]}: "
                     + "; ".join(r["problems"]))
    elif any(r["err"] is not None for r in rows):
        L.append("pylossfn agreed with torch in every case it ran.")
    else:
        L.append("pylossfn did not run in any case.")
    L.append("")
    return "\n".join(L)


def parse_shapes(s):
    out = []
    for part in s.split(","):
        a, b = part.lower().split("x")
        out.append((int(a), int(b)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="drop the 8192x5000 shape and use ~30 ms per measurement (< 1 minute)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for torch and pylossfn (default: $PYLOSSFN_NUM_THREADS, "
                         "else all usable CPUs)")
    ap.add_argument("--out", default=None, help="also write the Markdown report to this file")
    ap.add_argument("--shapes", type=parse_shapes, default=None,
                    help="comma-separated NxC shapes, e.g. 1x2,4096x1000")
    ap.add_argument("--losses", default=None,
                    help="comma-separated substrings selecting losses, e.g. BCE,NLL")
    ap.add_argument("--strict", action="store_true",
                    help="exit with status 1 if pylossfn disagrees with torch or is unavailable")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    load_start = loadavg()
    env_threads = os.environ.get("PYLOSSFN_NUM_THREADS")
    if args.threads is not None:
        threads = args.threads
    elif env_threads:
        try:
            threads = int(env_threads)
        except ValueError:
            ap.error(f"PYLOSSFN_NUM_THREADS={env_threads!r} is not an integer")
    else:
        threads = usable_cpus()
    if threads < 1:
        ap.error("--threads must be at least 1")
    os.environ["PYLOSSFN_NUM_THREADS"] = str(threads)  # before pylossfn is imported

    import torch

    torch.set_num_threads(threads)
    lf, lf_error = import_pylossfn()

    caches = cache_sizes()
    llc = caches[max(caches)] if caches else 32 << 20
    cache_limit = llc // 2

    shapes = args.shapes or (QUICK_SHAPES if args.quick else FULL_SHAPES)
    cases = CASES
    if args.losses:
        keys = [k.strip().lower() for k in args.losses.split(",")]
        cases = [c for c in CASES if any(k in c.label.lower() for k in keys)]

    log(f"threads={threads}; pylossfn: {lf.__file__ if lf else lf_error}")
    log("measuring bandwidth and exp/log cost ...")
    roofs = measure_roofs(torch, threads, args.quick)
    log(f"  memory {roofs['dram']['used'] / 1e9:.1f} GB/s, "
        f"cache {roofs['cache']['used'] / 1e9:.1f} GB/s")

    if args.quick:
        timer = Timer(target_s=0.03, sample_s=0.002, min_samples=3)
    else:
        timer = Timer(target_s=0.15, sample_s=0.01, min_samples=5)

    rows, notes = [], []
    for case in cases:
        for dt in DTYPES:
            for shape in shapes:
                t_case = time.perf_counter()
                row = run_case(case, shape, dt, timer, lf, lf_error, torch, roofs, threads,
                               cache_limit)
                if row["ours_note"] and row["ours_note"] not in notes:
                    notes.append(row["ours_note"])
                rows.append(row)
                log(f"  {case.label:28s} {row['dtype']:7s} {shape[0]:>5d}x{shape[1]:<5d} "
                    f"ours {us(row['ours']):>9s}  torch {us(row['torch']):>9s}  "
                    f"numpy {us(row['numpy']):>9s} µs  [{time.perf_counter() - t_case:.1f} s]"
                    + ("  MISMATCH" if row["problems"] else "")
                    + (f"  ({row['ours_note']})" if row["ours_note"] else ""))
                gc.collect()

    log("measuring bare-call overhead ...")
    otimer = Timer(target_s=0.05 if args.quick else 0.2, sample_s=0.002 if args.quick else 0.005,
                   min_samples=5)
    overhead = overhead_rows(lf, lf_error, torch, otimer)
    for _, _, note in overhead:
        if note and note not in notes:
            notes.append(note)

    lf_desc = "not importable"
    if lf is not None:
        version = getattr(lf, "__version__", "(no __version__)")
        lf_desc = f"{version} from `{os.path.dirname(lf.__file__)}`"
        for getter in ("get_num_threads", "num_threads"):
            if callable(getattr(lf, getter, None)):
                try:
                    lf_desc += f"; `pylossfn.{getter}()` = {getattr(lf, getter)()}"
                except Exception:
                    pass
    cores = physical_cores()
    load_end = loadavg()
    load_s = "unknown"
    busy = False
    if load_start is not None and load_end is not None:
        load_s = (f"{load_start:.2f} at start, {load_end:.2f} at end "
                  "(1-minute averages, this run included)")
        # This run keeps ~1 (NumPy) to `threads` (torch) CPUs busy; more than that
        # means other processes competed for the CPUs and the times are noisy.
        busy = load_start > 0.5 or load_end > threads + 0.5
    meta = dict(
        busy=busy,
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        cmd=" ".join(["python benchmarks/bench.py", *sys.argv[1:]]),
        elapsed=time.perf_counter() - start,
        cache_limit=cache_limit,
        machine=[
            ("CPU", cpu_model()),
            ("cores", f"{cores if cores else '?'} physical, {os.cpu_count()} logical, "
                      f"{usable_cpus()} usable by this process"),
            ("caches",
             ", ".join(f"L{k} {fmt_bytes(v)}" for k, v in sorted(caches.items())) or "?"),
            ("OS", f"{platform.system()} {platform.release()}"),
            ("Python", platform.python_version()),
            ("NumPy", np.__version__),
            ("torch",
             f"{torch.__version__} (`torch.get_num_threads()` = {torch.get_num_threads()})"),
            ("pylossfn", lf_desc),
            ("threads", f"{threads} (`PYLOSSFN_NUM_THREADS={threads}`, "
                        f"`torch.set_num_threads({threads})`)"),
            ("load average",
             load_s + (" **— the machine was busy: times are noisy**" if busy else "")),
            ("mode", "quick" if args.quick else "full"),
        ],
    )
    report = build_report(meta, roofs, rows, overhead, notes)
    print(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
        log(f"wrote {args.out}")
    log(f"done in {meta['elapsed']:.0f} s")
    if args.strict and (lf is None or notes or any(r["problems"] for r in rows)):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError:
        traceback.print_exc()
        sys.exit(2)
