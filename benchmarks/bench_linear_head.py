"""Fused classifier heads: time and peak memory of forward + backward at huge C.

    python benchmarks/bench_linear_head.py                 # C = 32k, 128k, 512k; prints Markdown
    python benchmarks/bench_linear_head.py --classes 32768 --methods ours,torch_ref

Methods (N = 2048, D = 64, float32, bias, reduction "mean", all three gradients):

  ours         pylossfn.LinearCrossEntropyLoss.forward_backward (chunked, default chunk)
  torch_ref    torch.nn.functional.linear_cross_entropy(..., options=None), .backward()
  torch_chunk  the same with options=torch.nn.LinearCrossEntropyOptions()
  numpy        by hand: logits = X @ W.T + b, a stable softmax, G, three products
  ours_bce     pylossfn.LinearBCEWithLogitsLoss.forward_backward, 4 positive labels a row
  torch_bce    torch F.linear + binary_cross_entropy_with_logits on the dense multi-hot

Each (method, C) runs in its own process: inputs are made, a warm-up call runs
(64 rows; the full shape for torch's chunked op, whose first call per shape
costs ~10 s), the peak resident set is reset (Linux /proc/self/clear_refs) and
one full call is timed; "extra" is the peak resident set during the call minus
the resident set before it, i.e. memory above the inputs (gradients included:
d_weight alone is C x D x 4 bytes).
The reference paths at C = 512k need about 12 GiB and are left out unless
--big-reference is given.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import numpy as np
method = sys.argv[1]
N, D, C, threads = (int(a) for a in sys.argv[2:6])
rng = np.random.default_rng(0)
x = rng.standard_normal((N, D), dtype=np.float32)
w = (rng.standard_normal((C, D), dtype=np.float32) / 8)
b = (rng.standard_normal(C, dtype=np.float32) / 8)
t = rng.integers(0, C, N)
pos = rng.integers(0, C, (N, 4))

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

def reset_peak():
    # restart the peak resident set (Linux: clear_refs 5) so that warm-up
    # calls do not count; returns the resident set now
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return status("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def peak():
    try:
        return status("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

if method.startswith("ours"):
    import pylossfn as lf
    lf.set_num_threads(threads)
    if method == "ours":
        crit = lf.LinearCrossEntropyLoss(D, C, bias=True)
        tgt = t
    else:
        crit = lf.LinearBCEWithLogitsLoss(D, C, bias=True)
        tgt = pos
    crit.linear.weight = w; crit.linear.bias = b
    def run(n):
        loss, dx = crit.forward_backward(x[:n], tgt[:n])
        return float(loss)
elif method == "numpy":
    def run(n):
        X = x[:n]
        z = X @ w.T + b
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        s = z.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - np.log(z[np.arange(n), t[:n]])))
        z /= s
        z[np.arange(n), t[:n]] -= 1
        z /= n
        dx = z @ w; dw = z.T @ X; db = z.sum(0)
        return loss
else:
    import torch
    torch.set_num_threads(threads)
    F = torch.nn.functional
    X = torch.from_numpy(x).requires_grad_()
    W = torch.from_numpy(w).requires_grad_()
    B = torch.from_numpy(b).requires_grad_()
    T = torch.from_numpy(t)
    opts = torch.nn.LinearCrossEntropyOptions() if method == "torch_chunk" else None
    if method == "torch_bce":
        Y = torch.zeros(N, C)
        Y.scatter_(1, torch.from_numpy(pos), 1.0)
    def run(n):
        for p in (X, W, B):
            p.grad = None
        if method == "torch_bce":
            loss = F.binary_cross_entropy_with_logits(F.linear(X[:n], W, B), Y[:n])
        else:
            loss = F.linear_cross_entropy(X[:n], W, T[:n], linear_bias=B, options=opts)
        loss.backward()
        return float(loss)

# torch's chunked op pays ~10 s per new shape on its first call: warm it at the
# full shape; the others at 64 rows (BLAS threads, imports)
run(N if method == "torch_chunk" else 64)
before = reset_peak()
t0 = time.perf_counter()
loss = run(N)
sec = time.perf_counter() - t0
print(json.dumps({"sec": sec, "extra": peak() - before, "loss": loss}))
"""


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--N", type=int, default=2048)
    ap.add_argument("--D", type=int, default=64)
    ap.add_argument("--classes", default="32768,131072,524288")
    ap.add_argument("--methods", default="ours,torch_ref,torch_chunk,numpy,ours_bce,torch_bce")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--big-reference", action="store_true",
                    help="also run the materializing paths at C > 131072 (about 12 GiB)")
    args = ap.parse_args()
    classes = [int(c) for c in args.classes.split(",")]
    methods = args.methods.split(",")
    dense = {"torch_ref", "numpy", "torch_bce"}
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               # blocks >= 64 KiB are mmap'ed and go back to the OS when freed, so a
               # warm-up call's freed heap cannot hide the timed call's memory
               MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    print(f"N = {args.N}, D = {args.D}, float32, {args.threads} threads; "
          f"1-minute load average at start {load():.2f}\n")
    print("| C | method | seconds | extra memory (MiB) | logits N x C (MiB) | loss |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for C in classes:
        for m in methods:
            if m in dense and C > 131072 and not args.big_reference:
                print(f"| {C} | {m} | not run (needs ~3 x the {args.N * C * 4 >> 20} MiB "
                      "logits) | | | |")
                continue
            res = subprocess.run([sys.executable, "-c", CHILD, m, str(args.N), str(args.D),
                                  str(C), str(args.threads)],
                                 capture_output=True, text=True, env=env)
            if res.returncode != 0:
                print(f"| {C} | {m} | failed: {res.stderr.strip().splitlines()[-1]} | | | |")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"| {C} | {m} | {r['sec']:.2f} | {r['extra'] / 2**20:.0f} | "
                  f"{args.N * C * 4 / 2**20:.0f} | {r['loss']:.4f} |", flush=True)
    print(f"\n1-minute load average at end {load():.2f} (2 cores)")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
