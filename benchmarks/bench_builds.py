#!/usr/bin/env python3
"""Two builds of pylossfn, timed alternately: did a change make a loss slower?

    python benchmarks/bench_builds.py --trees /path/to/old,/path/to/new [--forward] [--rounds 3]

Each tree is a checkout with its extension built in place (``python setup.py
build_ext --inplace``); every round runs each tree in its own process (old,
new, old, new, ...) with a pause between runs, times ``forward_backward`` (or
the forward call, ``--forward``) of 23 losses that every build since the
first four has (256x100 and 4096x1000, float32, 2 threads, the fastest call
within a small budget) and prints, per case, the median over the rounds and
the first tree's time over each other's.  ``PYLOSSFN_ISA=avx2`` forces the
AVX2 variant in both.  NumPy and each tree's pylossfn only: the cases are
made here, not from tests/loss_table.py, whose rows name losses an old build
lacks.  BENCHMARKS.md's "Before and after issue 19" was measured with it.

The noise of this machine is measured the same way: name the baseline twice
(a symlink to its checkout is a second tree), and "first / 2" is the spread
of one build against itself, in the same run, beside the change's ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SIZES = ((256, 100), (4096, 1000))


def cases(lf, N, C, dt):
    """{name: (criterion, inputs)} of an N x C batch for the package ``lf``."""
    r = np.random.default_rng(0)
    x = r.standard_normal((N, C)).astype(dt)
    y01 = (r.random((N, C)) < 0.3).astype(dt)
    pm = np.where(r.random((N, C)) < 0.5, -1, 1).astype(dt)
    idx = r.integers(0, C, N)
    prob = r.random((N, C)).astype(dt)
    prob /= prob.sum(1, keepdims=True)
    logp = np.log(prob).astype(dt)
    mlm = np.full((N, C), -1, np.int64)  # two labels a row, padded with -1
    mlm[:, 0], mlm[:, 1] = idx, (idx + 1) % C
    cnt = r.poisson(2.0, (N, C)).astype(dt)
    var = (r.random((N, C)) + 0.5).astype(dt)
    y = r.standard_normal((N, C)).astype(dt)
    sig = (1 / (1 + np.exp(-x))).astype(dt)
    D = max(8, C)
    a, p, n = (r.standard_normal((N, D)).astype(dt) for _ in range(3))
    yN = np.where(r.random(N) < 0.5, -1, 1).astype(dt)
    x1, x2 = r.standard_normal(N * C).astype(dt), r.standard_normal(N * C).astype(dt)
    yr = np.where(r.random(N * C) < 0.5, -1, 1).astype(dt)
    return {
        "BCEWithLogitsLoss": (lf.BCEWithLogitsLoss(), (x, y01)),
        "BCELoss": (lf.BCELoss(), (sig, y01)),
        "CrossEntropyLoss": (lf.CrossEntropyLoss(), (x, idx)),
        "NLLLoss": (lf.NLLLoss(), (logp, idx)),
        "MSELoss": (lf.MSELoss(), (x, y)),
        "L1Loss": (lf.L1Loss(), (x, y)),
        "SmoothL1Loss": (lf.SmoothL1Loss(), (x, y)),
        "HuberLoss": (lf.HuberLoss(), (x, y)),
        "KLDivLoss": (lf.KLDivLoss(reduction="batchmean"), (logp, prob)),
        "PoissonNLLLoss": (lf.PoissonNLLLoss(), (x, cnt)),
        "GaussianNLLLoss": (lf.GaussianNLLLoss(), (x, y, var)),
        "SoftMarginLoss": (lf.SoftMarginLoss(), (x, pm)),
        "MultiLabelSoftMarginLoss": (lf.MultiLabelSoftMarginLoss(), (x, y01)),
        "HingeEmbeddingLoss": (lf.HingeEmbeddingLoss(), (x, pm)),
        "MarginRankingLoss": (lf.MarginRankingLoss(), (x1, x2, yr)),
        "MultiMarginLoss": (lf.MultiMarginLoss(), (x, idx)),
        "MultiLabelMarginLoss": (lf.MultiLabelMarginLoss(), (x, mlm)),
        "CosineEmbeddingLoss": (lf.CosineEmbeddingLoss(), (a, p, yN)),
        "TripletMarginLoss": (lf.TripletMarginLoss(), (a, p, n)),
        "SigmoidFocalLoss": (lf.SigmoidFocalLoss(), (x, y01)),
        "AsymmetricLoss": (lf.AsymmetricLoss(), (x, y01)),
        "ZLPRLoss": (lf.ZLPRLoss(), (x, y01)),
        "SoftF1Loss": (lf.SoftF1Loss(), (x, y01)),
    }

def best(fn, budget):
    """The fastest of at least 5 calls within ``budget`` seconds (µs)."""
    fn()
    t_end, b, k = time.perf_counter() + budget, float("inf"), 0
    while k < 5 or (time.perf_counter() < t_end and k < 2000):
        t = time.perf_counter()
        fn()
        b = min(b, time.perf_counter() - t)
        k += 1
    return b * 1e6


def run_here(forward):
    """This process's tree: {case: µs} as JSON on stdout."""
    import pylossfn as lf
    lf.set_num_threads(2)
    out = {}
    for N, C in SIZES:
        for name, (crit, args) in cases(lf, N, C, np.float32).items():
            time.sleep(0.02)
            fn = crit if forward else crit.forward_backward
            out[f"{name} {N}x{C}"] = best(lambda fn=fn, args=args: fn(*args),
                                          0.3 if N > 256 else 0.15)
    print(json.dumps(out))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trees", required=True, help="comma-separated checkouts, first = baseline")
    ap.add_argument("--forward", action="store_true", help="the forward call alone")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pause", type=float, default=2.0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return run_here(args.forward)
    trees = args.trees.split(",")
    runs = {t: [] for t in trees}
    for _ in range(args.rounds):
        for tree in trees:
            env = {**os.environ, "PYTHONPATH": tree}
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--trees", tree]
            res = subprocess.run(cmd + (["--forward"] if args.forward else []), env=env,
                                 capture_output=True, text=True, check=True, cwd=tree)
            runs[tree].append(json.loads(res.stdout))
            time.sleep(args.pause)
    med = {t: {k: statistics.median(r[k] for r in runs[t]) for k in runs[t][0]} for t in trees}
    base = trees[0]
    print("| case | " + " | ".join(f"{os.path.basename(t.rstrip('/'))} µs" for t in trees)
          + " | " + " | ".join(f"first / {i + 2}" for i in range(len(trees) - 1)) + " |")
    print("| --- |" + " ---: |" * (2 * len(trees) - 1))
    for k in med[base]:
        cells = [f"{med[t][k]:.1f}" for t in trees]
        cells += [f"{med[base][k] / med[t][k]:.2f}" for t in trees[1:]]
        print(f"| {k} | " + " | ".join(cells) + " |")
    for i, t in enumerate(trees[1:]):
        r = [med[base][k] / med[t][k] for k in med[base]]
        geo = statistics.geometric_mean(r)
        print(f"first / {i + 2}: geomean {geo:.2f}, {sum(v > 1.05 for v in r)} of {len(r)}"
              f" above 1.05, {sum(v < 0.95 for v in r)} below 0.95 (min {min(r):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
