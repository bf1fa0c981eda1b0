"""BCE-with-logits + micro-F1 over a large array: NumPy in one process against a dask cluster.

The data (logits and 0/1 targets, float32) are generated once; the NumPy path
evaluates them in this process, the dask path on a ``distributed.LocalCluster``
with 1 and then 2 single-threaded worker processes, on the same values generated
in the workers' memory beforehand from the same seeds (so neither side pays for
generating or shipping the data).  Each figure is the best of ``--repeat`` runs; throughput is
matrix elements (logits) per second for loss + micro-F1 together.

    python benchmarks/bench_dask.py [--rows 400000] [--labels 100] [--repeat 3]

It prints a Markdown table (the "Dask" section of BENCHMARKS.md).
"""
import argparse
import os
import time

import numpy as np

import pylossfn.functional as F
import pylossfn.metrics as M


def best_of(repeat, fn):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def main(argv=None):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=400_000)
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--chunk-rows", type=int, default=25_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    shape, chunks = (args.rows, args.labels), (args.chunk_rows, args.labels)

    rng = da.random.default_rng(0)
    X = (rng.standard_normal(shape, chunks=chunks) * 2).astype(np.float32)
    T = (rng.random(shape, chunks=chunks) < 0.1).astype(np.float32)
    x, t = dask.compute(X, T, scheduler="threads")

    def numpy_eval():
        return float(F.binary_cross_entropy_with_logits(x, t)), M.f1_score(
            t, x > 0, average="micro"
        )

    rows = []
    t_np, ref = best_of(args.repeat, numpy_eval)
    n = x.size
    rows.append(("NumPy, 1 process", t_np, ref))
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as c, \
                Client(c) as client:
            Xp, Tp = client.persist([X, T])  # generated on the workers: the same values

            def dask_eval(Xp=Xp, Tp=Tp):
                loss = F.binary_cross_entropy_with_logits(Xp, Tp)
                return float(loss.compute()), M.f1_score(Tp, Xp > 0, average="micro")

            elapsed, value = best_of(args.repeat, dask_eval)
            assert abs(value[0] - ref[0]) <= 1e-6 * abs(ref[0]) and value[1] == ref[1]
            rows.append((f"dask, LocalCluster {workers} worker(s)", elapsed, value))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"BCE-with-logits (mean) + micro-F1 over {args.rows} x {args.labels} float32 "
          f"({args.chunk_rows}-row chunks); best of {args.repeat}; "
          f"1-minute load average {load:.2f}, {os.cpu_count()} CPUs\n")
    print("| engine | time | throughput | loss | micro-F1 |")
    print("| --- | --- | --- | --- | --- |")
    for name, elapsed, (loss, f1) in rows:
        print(f"| {name} | {elapsed * 1e3:.0f} ms | {n / elapsed / 1e6:.1f} M elements/s "
              f"| {loss:.7f} | {f1:.6f} |")


if __name__ == "__main__":
    main()
