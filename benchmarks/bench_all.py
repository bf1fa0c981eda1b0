#!/usr/bin/env python
"""Every loss of pylossfn against torch, JAX and NumPy, and against a physical limit.

For each loss of ``tests/loss_table.py`` (plus ``CrossEntropyLoss`` with
``label_smoothing=0.1``), each dtype and each size ``N x C`` this times one
forward + gradient with ``reduction="mean"`` (``"batchmean"`` for KL):

========  ==================================================================
ours      ``crit.forward_backward(*inputs, out=grads)`` (gradients written in
          preallocated arrays, as a training loop would)
torch     torch 2.13 CPU, same thread count: ``loss = f(*tensors);
          loss.backward()`` (grads reset to None first)
jax       ``jax.jit(jax.value_and_grad(f, argnums))`` on device arrays, with
          ``block_until_ready``; ``f`` is optax's loss where optax has it, else
          the same formula in ``jax.numpy``
numpy     the loss and its gradient written by hand, for the simple ones
========  ==================================================================

and ``limit``, a physical model of the fastest any implementation could be
on this machine: the bytes that must move (each full-size input read once,
each gradient written once, counted twice for the write-allocate read) at the
bandwidth this script measures for a buffer of that footprint (``membw.c``, a
triad ``a[i] = b[i] + s c[i]`` in C, compiled and run here with the same thread
count), plus the transcendental functions per element at the fastest vector
exp and log on the machine -- the engine's (``pylossfn.functional.sigmoid``
and ``logsigmoid``), NumPy's SIMD ``np.exp`` / ``np.log`` (the floor), torch's
and XLA's -- each on an L1/L2-resident array (the slope between two small
sizes, so that call overhead cancels).  The limit ignores per-call overhead, so
small sizes are far from it.

Ratios: ``torch/ours`` and ``jax/ours`` (> 1: ours faster) and ``ours/limit``
(1 = at the limit).  Before timing, each loss value of ours is compared with
torch's (and JAX's with torch's): a disagreement is marked ``MISMATCH``.

Usage::

    python benchmarks/bench_all.py --quick               # 32x10, 256x100; float32
    python benchmarks/bench_all.py --sizes 4096x1000 --dtypes float32
    python benchmarks/bench_all.py --out BENCHMARKS.md   # everything
    python benchmarks/bench_all.py --losses MSELoss,HuberLoss --no-jax

Needs the ``bench`` extra (``pip install .[bench]``: torch, jax, optax); a
missing library leaves its column out.  The machine should be otherwise idle:
the report records the load average before and after.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

ALL_SIZES = [(32, 10), (256, 100), (4096, 1000), (8192, 5000)]
QUICK_SIZES = [(32, 10), (256, 100)]

# --------------------------------------------------------------------------- #
# The physical limit
# --------------------------------------------------------------------------- #

MEMBW_C = r"""
#include <stddef.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                          return t.tv_sec + 1e-9 * t.tv_nsec; }
/* seconds per triad pass a[i] = b[i] + s c[i] over n doubles, best of reps */
double triad(double *a, const double *b, const double *c, size_t n, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 1.5 * c[i];
        double t = now() - t0;
        if (t < best) best = t;
        __asm__ volatile("" ::: "memory");
    }
    return best;
}
"""


def _membw_lib():
    d = tempfile.mkdtemp(prefix="lf_membw")
    src, so = os.path.join(d, "membw.c"), os.path.join(d, "membw.so")
    with open(src, "w") as f:
        f.write(MEMBW_C)
    subprocess.run(["cc", "-O2", "-fPIC", "-shared", "-o", so, src], check=True)
    lib = ctypes.CDLL(so)
    lib.triad.restype = ctypes.c_double
    lib.triad.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_size_t, ctypes.c_int]
    return lib


def triad_bandwidth(lib, footprint, threads):
    """Bytes/s of a triad whose three arrays total `footprint` bytes (4 x the
    array size moves: 2 reads, 1 write, 1 write-allocate read), split over
    `threads` threads (ctypes releases the GIL)."""
    n = max(256, int(footprint / 24 / threads))
    arrs = [[np.ones(n) for _ in range(3)] for _ in range(threads)]
    reps = max(3, min(2000, int(2e8 / (n * 24 * threads))))
    out = [0.0] * threads

    def run(k):
        a, b, c = arrs[k]
        out[k] = lib.triad(a.ctypes.data, b.ctypes.data, c.ctypes.data, n, reps)

    best = 0.0
    for _ in range(3):
        ths = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        best = max(best, 32 * n * threads / max(out))
    return best


def _slope_ns(make_call, dtype, positive=False, sizes=(1024, 8192)):
    """ns per element of ``make_call(x)()`` from the slope between two
    cache-resident sizes (the call's own overhead cancels)."""
    times = []
    for n in sizes:
        x = np.random.default_rng(0).standard_normal(n).astype(dtype)
        call = make_call(np.abs(x) + 0.5 if positive else x)
        k = max(20, 2_000_000 // n)
        times.append(min(_time_calls(call, k) for _ in range(5)))
    return max((times[1] - times[0]) / (sizes[1] - sizes[0]) * 1e9, 1e-3)


def engine_transcendental_ns(lf, dtype):
    """ns per element of one exp (sigmoid) and of exp + log1p (logsigmoid) in
    the engine, from the slope between two cache-resident sizes."""
    import pylossfn.functional as F
    e = _slope_ns(lambda x: lambda: F.sigmoid(x), dtype)
    both = _slope_ns(lambda x: lambda: F.logsigmoid(x), dtype)
    return e, max(both - e, 1e-3)


def peer_transcendental_ns(dtype, torch=None, jax=None):
    """{source: (exp ns, log ns)} per element, one thread's worth, of the
    vector exp and log the machine's other libraries have: NumPy's SIMD
    ``np.exp`` / ``np.log`` (into ``out=``), torch's (Sleef, ``out=``, one
    thread) and XLA's (``jit(jnp.exp)``, a device array, waited for)."""
    def ncall(fn):
        def make(x):
            o = np.empty_like(x)
            return lambda: fn(x, out=o)
        return make
    res = {"numpy": (_slope_ns(ncall(np.exp), dtype),
                     _slope_ns(ncall(np.log), dtype, positive=True))}
    if torch is not None:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            def tcall(fn):
                def make(x):
                    t = torch.from_numpy(x)
                    o = torch.empty_like(t)
                    return lambda: fn(t, out=o)
                return make
            res["torch"] = (_slope_ns(tcall(torch.exp), dtype),
                            _slope_ns(tcall(torch.log), dtype, positive=True))
        finally:
            torch.set_num_threads(before)
    if jax is not None and (dtype != np.float64 or jax.config.jax_enable_x64):
        import jax.numpy as jnp

        def jcall(fn):
            f = jax.jit(fn)

            def make(x):
                d = jax.device_put(x)
                return lambda: f(d).block_until_ready()
            return make
        # sizes where the work outweighs the dispatch's jitter (a few µs)
        big = (16384, 131072)
        res["jax"] = (_slope_ns(jcall(jnp.exp), dtype, sizes=big),
                      _slope_ns(jcall(jnp.log), dtype, positive=True, sizes=big))
    return res


def _time_calls(fn, k):
    fn()
    t0 = time.perf_counter()
    for _ in range(k):
        fn()
    return (time.perf_counter() - t0) / k


class Limit:
    """The physical model: memory traffic at the measured triad bandwidth, and
    transcendentals at the fastest vector exp / log found on the machine (the
    engine's, NumPy's SIMD ones as a floor, torch's and XLA's): a slow exp of
    ours must not raise the limit it is measured against."""

    def __init__(self, lf, threads, torch=None, jax=None):
        self.lib = _membw_lib()
        self.threads = threads
        self.bw = {}
        self.bw1 = {}
        self.exp_ns = {}
        self.log_ns = {}
        self.sources = {}  # dtype -> {source: (exp ns, log ns)}
        for dt in (np.float32, np.float64):
            src = {"pylossfn": engine_transcendental_ns(lf, dt)}
            src.update(peer_transcendental_ns(dt, torch, jax))
            self.sources[dt] = src
            self.exp_ns[dt] = min(v[0] for v in src.values())
            self.log_ns[dt] = min(v[1] for v in src.values())

    def bandwidth(self, footprint):
        key = 1 << max(12, int(math.log2(max(footprint, 1))))
        if key not in self.bw:
            # a single small triad is faster on one thread
            self.bw[key] = max(triad_bandwidth(self.lib, key, 1),
                               triad_bandwidth(self.lib, key, self.threads)
                               if key >= (1 << 20) else 0.0)
        return self.bw[key]

    def bandwidth_one(self, key):
        """Triad bandwidth of a `key`-byte footprint on one thread."""
        if key not in self.bw1:
            self.bw1[key] = triad_bandwidth(self.lib, key, 1)
        return self.bw1[key]

    def seconds(self, spec, n, dt):
        item = np.dtype(dt).itemsize
        reads = spec.reads * n * item
        writes = spec.writes * n * item
        moved = reads + 2 * writes
        mem = moved / self.bandwidth(reads + writes)
        wide = _wide(dt)  # a half dtype's transcendentals are float32's
        trans = n * (spec.exps * self.exp_ns[wide] + spec.logs * self.log_ns[wide]) * 1e-9
        return mem + trans / self.threads


# --------------------------------------------------------------------------- #
# The losses
# --------------------------------------------------------------------------- #


class Spec:
    """One benchmarked loss: how to build it and its physical model (full-size
    arrays read and written per element, exps and logs per element)."""

    def __init__(self, name, row, opts=None, reads=2, writes=1, exps=0, logs=0,
                 jax_fn=None, np_fn=None, label=None, make=None):
        self.name, self.row, self.opts = name, row, opts or {}
        self.reads, self.writes, self.exps, self.logs = reads, writes, exps, logs
        self.jax_fn, self.np_fn, self.make = jax_fn, np_fn, make
        self.label = label or name


def _is_half(dt):
    return np.dtype(dt).itemsize == 2


def _wide(dt):
    """The dtype a half dtype's inputs are drawn in (and its limit's rates)."""
    return np.float32 if _is_half(dt) else dt


def _inputs(spec, shape, dt):
    from loss_table import valid_inputs
    rng = np.random.default_rng(12345)
    inputs = spec.make(rng, _wide(dt), shape) if spec.make else valid_inputs(
        spec.row, _wide(dt), rng, shape=shape)
    if not _is_half(dt):
        return inputs
    # a half row: the float32 case's values, every float array rounded to dt
    return [a.astype(dt) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in inputs]


def _soft_targets(rng, dt, shape):
    """Logits and a probability row per sample (softmax of random scores)."""
    x = rng.standard_normal(shape).astype(dt)
    e = np.exp(rng.standard_normal(shape))
    return x, (e / e.sum(1, keepdims=True)).astype(dt)


def _ctc_make(rng, dt, shape):
    from loss_table import _ctc_args
    n, c = shape
    t = min(n, 50)
    return _ctc_args(rng, dt, (t, max(1, n // t), c))


def _jax_defs():
    """name -> f(*inputs) in jax.numpy / optax (mean reduction)."""
    import jax
    import jax.numpy as jnp
    import optax

    def lsig(x):
        return jax.nn.log_sigmoid(x)

    def smooth_l1(x, y):
        d = jnp.abs(x - y)
        return jnp.where(d < 1.0, 0.5 * d * d, d - 0.5).mean()

    def asl(x, y, gn=4.0, gp=1.0, clip=0.05, eps=1e-8):
        s = jax.nn.sigmoid(x)
        v = jnp.minimum(1 - s + clip, 1.0)
        lp = y * jnp.log(jnp.maximum(s, eps))
        ln = (1 - y) * jnp.log(jnp.maximum(v, eps))
        pt = s * y + v * (1 - y)
        w = jnp.power(1 - pt, gp * y + gn * (1 - y))
        return (-(lp + ln) * w).mean()

    def zlpr(x, y):
        # soft labels: log(1 + sum (1 - y) e^x) + log(1 + sum y e^-x) per row
        z = jnp.zeros(x.shape[:-1] + (1,), x.dtype)
        o = jnp.ones_like(z)
        return (jax.nn.logsumexp(jnp.concatenate([z, x], -1), -1,
                                 b=jnp.concatenate([o, 1 - y], -1))
                + jax.nn.logsumexp(jnp.concatenate([z, -x], -1), -1,
                                   b=jnp.concatenate([o, y], -1))).mean()

    def soft_f1(x, y, eps=1e-8):
        p = jax.nn.sigmoid(x)
        tp = (p * y).sum(0)
        return (1 - 2 * tp / ((p + y).sum(0) + eps)).mean()

    def dice(p, y, smooth=1.0, w=None):
        # over the batch (the classes' columns), alpha = beta = 1/2
        inter = (p * y).sum(0)
        d = 1 - (inter + smooth) / (0.5 * (p.sum(0) + y.sum(0)) + smooth)
        return (d if w is None else d * w).mean()

    def generalized_dice(x, y):
        w = 1.0 / (y.sum(0) ** 2 + 1e-7)
        return dice(jax.nn.softmax(x, -1), y, w=w / w.sum() * len(w))

    def poly_bce(x, y, eps=1.0):
        p = jax.nn.sigmoid(x)
        pt = y * p + (1 - y) * (1 - p)
        return (optax.sigmoid_binary_cross_entropy(x, y) + eps * (1 - pt)).mean()

    def sparsemax_loss(x, t):
        # optax's multiclass_sparsemax_loss (its custom JVP fails for float32 under
        # jax_enable_x64): the sort-based threshold, then sum p (x - x_t) + (1 - |p|^2) / 2
        zs = -jnp.sort(-x, -1)
        k = jnp.arange(1, x.shape[1] + 1, dtype=x.dtype)
        css = jnp.cumsum(zs, -1) - 1
        kz = (zs - css / k > 0).sum(-1, keepdims=True)
        tau = jnp.take_along_axis(css, kz - 1, -1) / kz.astype(x.dtype)
        p = jnp.maximum(x - tau, 0)
        xt = jnp.take_along_axis(x, t[:, None], 1)
        return ((p * (x - xt)).sum(-1) + (1 - (p * p).sum(-1)) / 2).mean()

    def distill(x, t, temp=1.0):
        q = jax.nn.softmax(t / temp, -1)
        kl = (q * (jax.nn.log_softmax(t / temp, -1) - jax.nn.log_softmax(x / temp, -1))).sum()
        return temp * temp * kl / x.shape[0]

    def triplet(a, p, n, margin=1.0, eps=1e-6):
        dap = jnp.sqrt(jnp.sum((a - p + eps) ** 2, -1))
        dan = jnp.sqrt(jnp.sum((a - n + eps) ** 2, -1))
        return jnp.maximum(dap - dan + margin, 0).mean()

    def cosine(a, b, y, margin=0.0, eps=1e-8):
        cos = (a * b).sum(-1) / jnp.sqrt(jnp.maximum((a * a).sum(-1) * (b * b).sum(-1),
                                                      eps * eps))
        return jnp.where(y > 0, 1 - cos, jnp.maximum(cos - margin, 0)).mean()

    def multi_margin(x, t):
        xy = jnp.take_along_axis(x, t[:, None], 1)
        m = jnp.maximum(1.0 - xy + x, 0)
        m = jnp.where(jnp.arange(x.shape[1])[None, :] == t[:, None], 0, m)
        return (m.sum(1) / x.shape[1]).mean()

    def gaussian(x, y, v, eps=1e-6):
        v = jnp.maximum(v, eps)
        return (0.5 * (jnp.log(v) + (x - y) ** 2 / v)).mean()

    return {
        "BCELoss": lambda p, y: -(y * jnp.maximum(jnp.log(p), -100)
                                  + (1 - y) * jnp.maximum(jnp.log1p(-p), -100)).mean(),
        "BCEWithLogitsLoss": lambda x, y: optax.sigmoid_binary_cross_entropy(x, y).mean(),
        "CrossEntropyLoss": lambda x, t: optax.softmax_cross_entropy_with_integer_labels(
            x, t).mean(),
        "CrossEntropyLoss(ls=0.1)": lambda x, t: optax.softmax_cross_entropy(
            x, optax.smooth_labels(jax.nn.one_hot(t, x.shape[1], dtype=x.dtype), 0.1)).mean(),
        "CrossEntropyLoss(probs)": lambda x, t: optax.softmax_cross_entropy(x, t).mean(),
        "NLLLoss": lambda x, t: -jnp.take_along_axis(x, t[:, None], 1).mean(),
        "PolyCrossEntropyLoss": lambda x, t: optax.losses.poly_loss_cross_entropy(
            x, jax.nn.one_hot(t, x.shape[1], dtype=x.dtype), epsilon=1.0).mean(),
        "PolyBCEWithLogitsLoss": poly_bce,
        "DistillationLoss": distill,
        "SparsemaxLoss": sparsemax_loss,
        "LogCoshLoss": lambda x, y: optax.losses.log_cosh(x, y).mean(),
        "SigmoidFocalLoss": lambda x, y: optax.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0).mean(),
        "AsymmetricLoss": asl,
        "ZLPRLoss": zlpr,
        "SoftF1Loss": soft_f1,
        "DiceLoss": lambda x, y: dice(jax.nn.sigmoid(x), y),
        "GeneralizedDiceLoss": generalized_dice,
        "L1Loss": lambda x, y: jnp.abs(x - y).mean(),
        "MSELoss": lambda x, y: optax.squared_error(x, y).mean(),
        "SmoothL1Loss": smooth_l1,
        "HuberLoss": lambda x, y: optax.huber_loss(x, y, delta=1.0).mean(),
        "SoftMarginLoss": lambda x, y: jax.nn.softplus(-y * x).mean(),
        "KLDivLoss": lambda x, y: optax.kl_divergence(x, y).mean(),
        "PoissonNLLLoss": lambda x, y: (jnp.exp(x) - y * x).mean(),
        "GaussianNLLLoss": gaussian,
        "HingeEmbeddingLoss": lambda x, y: jnp.where(y > 0, x, jnp.maximum(1.0 - x, 0)).mean(),
        "MarginRankingLoss": lambda a, b, y: jnp.maximum(-y * (a - b), 0).mean(),
        "MultiLabelSoftMarginLoss": lambda x, y: (-(y * lsig(x) + (1 - y) * lsig(-x))
                                                  ).mean(-1).mean(),
        "CosineEmbeddingLoss": cosine,
        "TripletMarginLoss": triplet,
        "TripletMarginWithDistanceLoss": triplet,
        "MultiMarginLoss": multi_margin,
    }


def _np_defs():
    """name -> (loss, grad) by hand in NumPy, for the simple element-wise losses."""
    def l1(x, y):
        d = x - y
        return np.abs(d).mean(), np.sign(d) / d.size

    def mse(x, y):
        d = x - y
        return (d * d).mean(), d * (2 / d.size)

    def huber(x, y):
        d = x - y
        a = np.abs(d)
        return np.where(a < 1, 0.5 * d * d, a - 0.5).mean(), np.clip(d, -1, 1) / d.size

    def soft_margin(x, y):
        z = -y * x
        e = np.exp(-np.abs(z))
        sig = np.where(z >= 0, 1, e) / (1 + e)
        return (np.maximum(z, 0) + np.log1p(e)).mean(), -y * sig / x.size

    def bce_logits(x, y):
        e = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1, e) / (1 + e)
        return ((1 - y) * x + np.maximum(-x, 0) + np.log1p(e)).mean(), (sig - y) / x.size

    def poisson(x, y):
        ex = np.exp(x)
        return (ex - y * x).mean(), (ex - y) / x.size

    def log_cosh(x, y):
        d = x - y
        a = np.abs(d)
        return (a + np.log1p(np.exp(-2 * a)) - np.log(2)).mean(), np.tanh(d) / d.size

    return {"L1Loss": l1, "MSELoss": mse, "LogCoshLoss": log_cosh, "HuberLoss": huber,
            "SmoothL1Loss": huber, "SoftMarginLoss": soft_margin, "BCEWithLogitsLoss": bce_logits,
            "PoissonNLLLoss": poisson}


def build_specs(lf):
    from loss_table import ROWS
    s = []

    def add(name, **kw):
        s.append(Spec(name, ROWS[name.split("(")[0]], **kw))

    # (reads, writes, exps, logs): full-size arrays read / written, per element
    add("BCELoss", logs=2)
    add("BCEWithLogitsLoss", exps=1, logs=1)
    add("PolyBCEWithLogitsLoss", exps=1, logs=1)
    add("CrossEntropyLoss", reads=1, exps=1)
    add("CrossEntropyLoss(ls=0.1)", opts={"label_smoothing": 0.1}, reads=1, exps=1)
    # soft targets (mixup, distillation): a probability row per sample, read in full
    add("CrossEntropyLoss(probs)", reads=2, exps=1, make=_soft_targets)
    # one element read per row (not counted); the gradient is written in full
    add("NLLLoss", reads=0)
    add("PolyCrossEntropyLoss", reads=1, exps=1)
    add("SparsemaxLoss", reads=1)
    # two softmax rows (student and teacher): both read, one gradient written
    add("DistillationLoss", opts={"reduction": "batchmean"}, reads=2, exps=2)
    add("SigmoidFocalLoss", opts={"alpha": 0.25, "gamma": 2.0}, exps=1, logs=1)
    add("AsymmetricLoss", opts={"reduction": "mean"}, exps=1, logs=3)
    add("ZLPRLoss", exps=2)
    add("SoftF1Loss", exps=1)
    add("DiceLoss", exps=1)
    add("GeneralizedDiceLoss", exps=2)
    add("L1Loss")
    add("MSELoss")
    add("LogCoshLoss", exps=1, logs=1)
    add("SmoothL1Loss")
    add("HuberLoss")
    add("SoftMarginLoss", exps=1, logs=1)
    add("KLDivLoss", opts={"reduction": "batchmean"}, logs=1)
    add("PoissonNLLLoss", exps=1)
    add("GaussianNLLLoss", reads=3, writes=2, logs=1)
    add("HingeEmbeddingLoss")
    add("MarginRankingLoss", reads=3, writes=2)
    add("MultiLabelSoftMarginLoss", exps=1, logs=1)
    add("CosineEmbeddingLoss", reads=2, writes=2)
    add("TripletMarginLoss", reads=3, writes=3)
    add("TripletMarginWithDistanceLoss", reads=3, writes=3)
    add("MultiMarginLoss", reads=1)
    add("MultiLabelMarginLoss", reads=1)
    add("CTCLoss", reads=1, make=_ctc_make, exps=0)
    return s


# --------------------------------------------------------------------------- #
# Runners
# --------------------------------------------------------------------------- #


def _opts(spec):
    o = {"reduction": "mean"}
    o.update(spec.opts)
    return o


def ours_runner(spec, inputs):
    crit = spec.row.cls(**_opts(spec))
    outs = tuple(np.empty_like(inputs[i]) for i in spec.row.diff)
    out = outs if len(outs) > 1 else outs[0]
    first = crit.forward_backward(*inputs, out=out)
    return (lambda: crit.forward_backward(*inputs, out=out)), float(first[0])


def torch_runner(torch, spec, inputs, leaves_out=None):
    """(run, its first loss value); with leaves_out, a list that receives the
    tensors whose gradients run() computes."""
    from oracle import torch_fn
    row = spec.row
    dt = inputs[0].dtype
    half = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(dt.name)

    def tensor(a):
        if half is None:
            return torch.from_numpy(np.ascontiguousarray(a, dt))
        # torch cannot take ml_dtypes' bfloat16: through float32 (exact)
        return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(half)
    tensors = []
    for i, a in enumerate(inputs):
        if i in row.diff:
            tensors.append(tensor(a).requires_grad_(True))
        elif a.dtype.kind == "f" or _is_half(a.dtype):
            tensors.append(tensor(a))
        else:
            tensors.append(torch.from_numpy(a.astype(np.int64)))
    opts = _opts(spec)
    fn = torch_fn(row)
    leaves = [tensors[i] for i in row.diff]
    if leaves_out is not None:
        leaves_out.extend(leaves)

    def run():
        for t in leaves:
            t.grad = None
        loss = fn(*tensors, **opts)
        loss.backward()
        return loss

    return run, float(run().detach())


def jax_runner(jax, fdef, spec, inputs):
    argnums = spec.row.diff
    g = jax.jit(jax.value_and_grad(fdef, argnums=argnums))
    dev = [jax.device_put(a) for a in inputs]

    def run():
        return jax.block_until_ready(g(*dev))

    return run, float(run()[0])


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #


SETTLE_S = 0.03  # pause before each sample (see time_many)
WARM_S = 0.02    # then untimed calls for at least this long


def time_many(fns, budget_s, max_samples):
    """Median seconds per call of each fn, samples interleaved round-robin so
    that a slow spell of the shared machine hits all of them alike.

    Each sample starts after a pause and WARM_S of untimed calls: a library's
    worker threads spin after their last job (libgomp, which torch uses, for
    up to ~15 ms by default; pylossfn's pool ~0.2 ms), and on 2 cores the
    spinning threads of the previous library would otherwise take a core from
    the next one -- a training loop calls one library, not four in turn; the
    warm-up then gives each library the steady state it has in such a loop."""
    inner = []
    for fn in fns:
        t = _time_calls(fn, 1)
        inner.append(max(1, int(2e-3 / max(t, 1e-9))))
    samples = [[] for _ in fns]
    deadline = time.perf_counter() + budget_s
    k = 0
    while k < 3 or (k < max_samples and time.perf_counter() < deadline):
        for i, fn in enumerate(fns):
            time.sleep(SETTLE_S)
            _warm(fn)
            samples[i].append(_time_calls_raw(fn, inner[i]))
        k += 1
    return [statistics.median(s) for s in samples]


def _warm(fn):
    """Untimed calls for WARM_S (at least one): after the pause the cores of
    this VM run their first milliseconds slowly (a 1.7 ms cross-entropy call
    measured 2.0-3.5 ms for its first three calls after a 30 ms pause, with no
    other library loaded), which one untimed call does not cover."""
    t0 = time.perf_counter()
    fn()
    while time.perf_counter() - t0 < WARM_S:
        fn()


def _time_calls_raw(fn, k):
    t0 = time.perf_counter()
    for _ in range(k):
        fn()
    return (time.perf_counter() - t0) / k


def _sparsemax_reference(x, t):
    """The sparsemax loss (mean) and its gradient (p - onehot(t)) / N in float64.
    torch's autograd through the sort-based sparsemax (tests/oracle.py) differs
    from that gradient where an input ties the threshold exactly (p = 0 there
    either way, the loss smooth): half inputs, with 8 or 11 mantissa bits, make
    such ties common (bfloat16 256x100: 0.0107 for the true 0)."""
    x = np.asarray(x, np.float64)
    N, C = x.shape
    rows = np.arange(N)
    z = -np.sort(-x, axis=1)
    cs = np.cumsum(z, axis=1)
    k = ((1 + np.arange(1, C + 1) * z) > cs).sum(axis=1)  # the support's size
    p = np.maximum(x - ((cs[rows, k - 1] - 1) / k)[:, None], 0.0)
    loss = np.mean((p * (x - x[rows, t][:, None])).sum(axis=1) + (1 - (p * p).sum(axis=1)) / 2)
    g = p
    g[rows, t] -= 1.0
    return [loss, g / N]


def half_error(torch, spec, inputs):
    """The largest difference of our half loss and gradients from torch's float32
    autograd on the same values (the sparsemax loss: the float64 formula), in
    units of the half dtype's spacing at the reference (a correctly rounded
    result is within 0.5).  Near zero the unit is
    at least 8 float32 epsilons of the array's largest value: there the float32
    reference itself is noise of that size."""
    from helpers import ulp
    dt = inputs[0].dtype
    wide = [a.astype(np.float32) if isinstance(a, np.ndarray) and _is_half(a.dtype) else a
            for a in inputs]
    if spec.name == "SparsemaxLoss" and not spec.opts:
        want = _sparsemax_reference(*wide)
    else:
        leaves = []
        run, _ = torch_runner(torch, spec, wide, leaves)
        want = [run().detach().numpy()] + [t.grad.numpy() for t in leaves]
    res = spec.row.cls(**_opts(spec)).forward_backward(*inputs)
    got = [res[0]] + list(res[1] if isinstance(res[1], tuple) else (res[1],))
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g).astype(np.float64), np.asarray(w, np.float64)
        ok = np.isfinite(g) & np.isfinite(w)
        scale = float(np.max(np.abs(w[ok]), initial=0.0))
        unit = np.maximum(ulp(w[ok], dt), 8 * np.finfo(np.float32).eps * scale)
        worst = max(worst, float(np.max(np.abs(g[ok] - w[ok]) / unit, initial=0.0)))
    return worst


def _close(a, b, dt):
    tol = 3e-2 if _is_half(dt) else 2e-3 if dt == np.float32 else 1e-7
    return abs(a - b) <= tol * max(abs(b), 1e-3)


def run_all(args, lf, torch, jax, specs, limit):
    rows = []
    jdefs = _jax_defs() if jax else {}
    ndefs = _np_defs()
    for (n, c) in args.sizes:
        for dt in args.dtypes:
            for spec in specs:
                rec = {"loss": spec.label, "size": f"{n}x{c}", "dtype": np.dtype(dt).name}
                try:
                    inputs = _inputs(spec, (n, c), dt)
                except Exception as e:  # noqa: BLE001
                    rec["note"] = f"inputs: {e}"
                    rows.append(rec)
                    continue
                names, fns = [], []
                try:
                    f, v_ours = ours_runner(spec, inputs)
                    names.append("ours")
                    fns.append(f)
                except Exception as e:  # noqa: BLE001
                    rec["note"] = f"ours: {type(e).__name__}: {e}"
                    rows.append(rec)
                    continue
                v_torch = None
                if torch is not None:
                    try:
                        f, v_torch = torch_runner(torch, spec, inputs)
                        names.append("torch")
                        fns.append(f)
                        if not _close(v_ours, v_torch, dt):
                            rec["mismatch"] = f"ours {v_ours:.6g} torch {v_torch:.6g}"
                    except Exception as e:  # noqa: BLE001
                        rec["torch_note"] = f"{type(e).__name__}: {e}"[:80]
                    if _is_half(dt):
                        try:
                            rec["half_err"] = half_error(torch, spec, inputs)
                        except Exception as e:  # noqa: BLE001
                            rec["torch_note"] = f"accuracy: {type(e).__name__}: {e}"[:80]
                jf = jdefs.get(spec.label)
                if jf is not None and spec.name != "CTCLoss":
                    try:
                        f, v_jax = jax_runner(jax, jf, spec, inputs)
                        if v_torch is not None and not _close(v_jax, v_torch, dt):
                            rec["jax_note"] = f"jax value {v_jax:.6g} != torch {v_torch:.6g}"
                        else:
                            names.append("jax")
                            fns.append(f)
                    except Exception as e:  # noqa: BLE001
                        rec["jax_note"] = f"{type(e).__name__}: {e}"[:80]
                if args.threads_used > 1 and n * c >= 1_000_000:
                    ours_f = fns[0]

                    def one_thread(f=ours_f, t=args.threads_used):
                        lf.set_num_threads(1)
                        try:
                            f()
                        finally:
                            lf.set_num_threads(t)
                    names.append("ours_1t")
                    fns.append(one_thread)
                nf = ndefs.get(spec.label)
                if nf is not None and not spec.opts and not _is_half(dt):
                    names.append("numpy")
                    fns.append(lambda nf=nf, i=inputs: nf(*i))
                gc.collect()
                gc.disable()
                try:
                    numel = n * c
                    big = numel * np.dtype(dt).itemsize >= 8 << 20
                    times = time_many(fns, args.budget * (0.4 if big else 1),
                                      args.max_samples if not big else args.big_samples)
                finally:
                    gc.enable()
                for nm, t in zip(names, times):
                    rec[nm] = t
                numel = int(np.prod(inputs[0].shape))
                rec["limit"] = limit.seconds(spec, numel, dt) if limit else None
                rows.append(rec)
                log(rec)
                del fns, inputs
                gc.collect()
    return rows


def log(rec):
    def r(a, b):
        return f"{rec[a] / rec[b]:.2f}" if a in rec and b in rec and rec[b] else "-"
    print(f"{rec['loss']:30s} {rec['size']:>10s} {rec['dtype']:8s} "
          f"ours {us(rec.get('ours'))} torch/ours {r('torch', 'ours')} "
          f"jax/ours {r('jax', 'ours')} ours/limit {r('ours', 'limit')} "
          f"threads/1 {r('ours_1t', 'ours')}"
          + (f"  MISMATCH {rec['mismatch']}" if "mismatch" in rec else ""), flush=True)


def us(t):
    if t is None:
        return "-"
    t *= 1e6
    return f"{t:.1f}" if t < 1000 else f"{t:,.0f}"


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #


def report(meta, rows, limit, args):
    L = []
    L.append("# pylossfn benchmarks: every loss\n")
    L.append(f"Generated by `python benchmarks/bench_all.py {' '.join(args.argv)}` "
             f"on {meta['date']}.\n")
    L.append(f"- CPU: {meta['cpu']}; {meta['threads']} thread(s) for pylossfn and torch "
             f"(JAX/XLA uses its own pool); engine ISA: {meta['isa']}")
    L.append(f"- pylossfn {meta['lf']}, torch {meta['torch']}, jax {meta['jax']}, "
             f"optax {meta['optax']}, NumPy {meta['numpy']}, Python {meta['python']}")
    L.append(f"- load average (1 min) before {meta['load0']}, after {meta['load1']} "
             "(shared machine: other processes competed for the CPUs)\n")
    L.append("Times are medians of interleaved samples, in microseconds per forward + "
             "gradient (`reduction='mean'`, KL `'batchmean'`). Ratios > 1 mean pylossfn is "
             "faster; `ours/limit` is 1 at the physical limit (see below).\n")
    if limit:
        L.append("## The limit model\n")
        L.append("Triad bandwidth measured here (C loop `a = b + s c`, 4 bytes moved per byte "
                 "of `a`, counting the write-allocate read), by footprint:\n")
        L.append(f"| footprint | GB/s | GB/s on 1 thread | {limit.threads} threads / 1 |\n"
                 "| ---: | ---: | ---: | ---: |")
        for k in sorted(limit.bw):
            one = limit.bandwidth_one(k)
            L.append(f"| {fmt_bytes(k)} | {limit.bw[k] / 1e9:.1f} | {one / 1e9:.1f} | "
                     f"{limit.bw[k] / one:.2f} |")
        L.append("\nThe last column bounds the thread speed-up (`Nt/1t` in the results) of a "
                 "loss whose time is memory traffic.\n")
        L.append("")
        L.append("Transcendentals, ns per element on one thread (cache-resident slope; "
                 "pylossfn: exp by `sigmoid`, log as `logsigmoid` - `sigmoid`; the others "
                 "`exp` and `log` into `out=`); the limit takes the fastest of each:\n")
        L.append("| dtype | " + " | ".join(f"{k} exp | {k} log" for k in
                                           limit.sources[np.float32]) + " | t_exp | t_log |")
        L.append("| --- |" + " ---: |" * (2 * len(limit.sources[np.float32]) + 2))
        for dt in (np.float32, np.float64):
            cells = []
            for k in limit.sources[np.float32]:
                e, lg = limit.sources[dt].get(k, (None, None))
                cells += [f"{e:.3f}" if e else "-", f"{lg:.3f}" if lg else "-"]
            L.append(f"| {np.dtype(dt).name} | " + " | ".join(cells) +
                     f" | {limit.exp_ns[dt]:.3f} | {limit.log_ns[dt]:.3f} |")
        L.append("\nlimit = (bytes read + 2 x bytes written) / bandwidth(footprint) + "
                 "elements x (exps x t_exp + logs x t_log) / threads.\n")
    L.append("## All results\n")
    L.append("| loss | size | dtype | ours µs | torch µs | jax µs | numpy µs | limit µs | "
             f"torch/ours | jax/ours | ours/limit | {meta['threads']}t/1t |")
    L.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    notes = []
    for r in rows:
        def rat(a, b, r=r):
            return f"{r[a] / r[b]:.2f}" if r.get(a) and r.get(b) else "-"
        flag = " **MISMATCH**" if "mismatch" in r else ""
        L.append(f"| {r['loss']}{flag} | {r['size']} | {r['dtype']} | {us(r.get('ours'))} | "
                 f"{us(r.get('torch'))} | {us(r.get('jax'))} | {us(r.get('numpy'))} | "
                 f"{us(r.get('limit'))} | {rat('torch', 'ours')} | {rat('jax', 'ours')} | "
                 f"{rat('ours', 'limit')} | {rat('ours_1t', 'ours')} |")
        for k in ("note", "torch_note", "jax_note", "mismatch"):
            if k in r:
                notes.append(f"- {r['loss']} {r['size']} {r['dtype']}: {k}: {r[k]}")
    L.append("")
    L.append("## Worst ratio per loss\n")
    L.append("Over every size and dtype run: the lowest torch/ours and jax/ours, the highest "
             "ours/limit at >= 1M elements, and where each occurs.\n")
    L.append("| loss | min torch/ours | at | min jax/ours | at | max ours/limit (>= 1M) | at | "
             f"min {meta['threads']}t/1t | at |")
    L.append("| --- | ---: | --- | ---: | --- | ---: | --- | ---: | --- |")
    for name in dict.fromkeys(r["loss"] for r in rows):
        rs = [r for r in rows if r["loss"] == name and r.get("ours")]
        cols = []
        for a, b, fn, filt in (("torch", "ours", min, None), ("jax", "ours", min, None),
                               ("ours", "limit", max, "big"), ("ours_1t", "ours", min, None)):
            cand = [(r[a] / r[b], f"{r['size']} {r['dtype']}") for r in rs
                    if r.get(a) and r.get(b) and (filt is None or _numel(r) >= 1_000_000)]
            if cand:
                v, at = fn(cand)
                cols += [f"{v:.2f}", at]
            else:
                cols += ["-", ""]
        L.append(f"| {name} | " + " | ".join(cols) + " |")
    L.extend(_half_table(rows))
    if notes:
        L.append("\n## Notes\n")
        L.extend(notes)
    return "\n".join(L) + "\n"


def _half_table(rows):
    """Each half row against the float32 row of the same loss and size: ours
    float32 / ours half (> 1: the half call is faster), torch's half / ours
    half, and our largest difference from torch's float32 (half_error)."""
    by = {(r["loss"], r["size"], r["dtype"]): r for r in rows if r.get("ours")}
    halves = [r for r in rows if r.get("ours") and r["dtype"] in ("bfloat16", "float16")]
    if not halves:
        return []
    L = ["\n## Half precision\n",
         "Ours in the half dtype against ours in float32 on the same values (`f32/half`, "
         "> 1: the half call is faster) and against torch's own half CPU kernels "
         "(`torch half/ours half`); `max diff`: our largest difference (loss and "
         "gradients) from torch's float32 autograd on the same values, in units of the "
         "half dtype's spacing there (correct rounding: 0.5).\n",
         "| loss | size | dtype | ours µs | ours f32 µs | f32/half | torch half µs | "
         "torch half/ours half | max diff |",
         "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in halves:
        f = by.get((r["loss"], r["size"], "float32"), {})
        ratio = f"{f['ours'] / r['ours']:.2f}" if f.get("ours") else "-"
        tr = f"{r['torch'] / r['ours']:.2f}" if r.get("torch") else "-"
        err = f"{r['half_err']:.2f}" if r.get("half_err") is not None else "-"
        L.append(f"| {r['loss']} | {r['size']} | {r['dtype']} | {us(r['ours'])} | "
                 f"{us(f.get('ours'))} | {ratio} | {us(r.get('torch'))} | {tr} | {err} |")
    return L


def _numel(r):
    n, c = r["size"].split("x")
    return int(n) * int(c)


def fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} TiB"


def forward_check(args, specs):
    """Ours only: the forward call (``crit(*inputs)``, a validation loss) against
    forward + gradient, per loss, size and dtype.  A forward call that costs more
    than FORWARD_SLACK times the forward + gradient is a kernel variant that lost
    its vectorization (focal and ASL did, 4-10x, unseen by the main table, which
    times forward + gradient); the cases over it are listed at the end."""
    slow = []
    for shape in args.sizes:
        for dt in args.dtypes:
            for spec in specs:
                inputs = _inputs(spec, shape, dt)
                fb, _ = ours_runner(spec, inputs)
                crit = spec.row.cls(**_opts(spec))
                t_fwd, t_fb = time_many([lambda: crit(*inputs), fb], args.budget,
                                        args.max_samples)
                ratio = t_fwd / t_fb
                name = f"{spec.label:<32s}{shape[0]}x{shape[1]:<6d} {np.dtype(dt).name:<9s}"
                print(f"{name} forward {us(t_fwd)} us  forward+grad {us(t_fb)} us  "
                      f"ratio {ratio:.2f}{'  <- slow' if ratio > FORWARD_SLACK else ''}",
                      flush=True)
                if ratio > FORWARD_SLACK:
                    slow.append(name.strip())
    print(f"forward calls over {FORWARD_SLACK}x their forward + gradient: "
          f"{len(slow)}" + "".join(f"\n  {n}" for n in slow))
    return 1 if slow else 0


#: how much longer than forward + gradient a forward call may take (--forward-check)
FORWARD_SLACK = 1.5


def parse_sizes(s):
    return [tuple(int(v) for v in p.split("x")) for p in s.split(",")]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="32x10 and 256x100, float32")
    p.add_argument("--sizes", type=parse_sizes, default=None)
    p.add_argument("--dtypes", default=None,
                   help="float32,float64 (default); float16 and bfloat16 add half rows")
    p.add_argument("--losses", default=None, help="comma-separated names (labels)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--budget", type=float, default=0.3, help="seconds per case (small sizes)")
    p.add_argument("--max-samples", type=int, default=15)
    p.add_argument("--big-samples", type=int, default=5,
                   help="samples at sizes of >= 8 MiB per array")
    p.add_argument("--no-jax", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-limit", action="store_true")
    p.add_argument("--out", default=None, help="write the Markdown report here")
    p.add_argument("--forward-check", action="store_true",
                   help="ours only: each forward call against its forward + gradient "
                        "(exit 1 if one takes over 1.5x as long)")
    args = p.parse_args(argv)
    args.argv = argv
    if args.sizes is None:
        args.sizes = QUICK_SIZES if args.quick else ALL_SIZES
    if args.dtypes is None:
        args.dtypes = "float32" if args.quick else "float32,float64"
    args.dtypes = [_dtype(d) for d in args.dtypes.split(",")]
    threads = args.threads or int(os.environ.get("PYLOSSFN_NUM_THREADS", 0)) or len(
        os.sched_getaffinity(0))
    args.threads_used = threads
    os.environ["PYLOSSFN_NUM_THREADS"] = str(threads)
    import pylossfn as lf
    lf.set_num_threads(threads)
    torch = jax = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            torch = None
    if not args.no_jax:
        try:
            import jax
            jax.config.update("jax_enable_x64", True)
        except ImportError:
            jax = None
    specs = build_specs(lf)
    if args.losses:
        want = set(args.losses.split(","))
        specs = [s for s in specs if s.label in want or s.name in want]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu(), "threads": threads, "isa": lf._core._build_info().get("isa", "?"),
        "lf": getattr(lf, "__version__", "?"),
        "torch": getattr(torch, "__version__", "-"), "jax": getattr(jax, "__version__", "-"),
        "optax": _version("optax"), "numpy": np.__version__,
        "python": platform.python_version(), "load0": f"{os.getloadavg()[0]:.2f}",
    }
    if args.forward_check:
        return forward_check(args, specs)
    limit = None if args.no_limit else Limit(lf, threads, torch, jax)
    rows = run_all(args, lf, torch, jax, specs, limit)
    meta["load1"] = f"{os.getloadavg()[0]:.2f}"
    text = report(meta, rows, limit, args)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote {args.out}")
    else:
        print(text)


def _dtype(name):
    """float32, float64, float16, or bfloat16 (ml_dtypes', the bench extra)."""
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16).type
    return np.dtype(name).type


def _version(mod):
    try:
        return __import__(mod).__version__
    except ImportError:
        return "-"


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    sys.exit(main())
