"""Data-parallel training on a dask array: the same weights as on one machine.

The MLP of ``train_mlp.py`` (x -> relu(x W1 + b1) W2 + b2), trained full-batch in
float64 twice on the same data:

  * on NumPy arrays, in this process;
  * on a dask array of the data cut into uneven row chunks, on a
    ``distributed.LocalCluster``: every worker runs the forward pass, the fused
    loss gradient and the backward pass of its shard, and the parameter
    gradients are summed over the shards.  The loss's mean divides by the
    *global* normalizer (the number of samples, or the summed class weights of
    the targets that are not ignored), computed in the same graph.

The two runs reach the same weights (to 1e-10 in float64).  Then an evaluation
of a synthetic prediction set, generated on the workers chunk by chunk, with the
metrics on dask arrays and the streaming ``MultilabelConfusion``.

    python examples/dask_train.py [--steps 30] [--workers 2] [--eval-rows 4000000]
"""
import argparse
import time

import numpy as np

import pylossfn as lf
import pylossfn.metrics as M


def make_data(seed, n=3000, n_features=20, n_labels=6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    W = rng.standard_normal((n_features, n_labels))
    Y = (X @ W + rng.standard_normal((n, n_labels)) > 1.0).astype(np.float64)
    y = np.argmax(X @ W, axis=1)
    y[rng.random(n) < 0.05] = -100  # ignored targets (ignore_index)
    return X, Y, y


def init_params(n_in, n_hidden, n_out, seed):
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((n_in, n_hidden)) * np.sqrt(2.0 / n_in),
        np.zeros(n_hidden),
        rng.standard_normal((n_hidden, n_out)) * np.sqrt(1.0 / n_hidden),
        np.zeros(n_out),
    ]


def loss_and_grads(params, X, T, crit):
    """Loss and parameter gradients; the same code for NumPy and dask ``X``."""
    W1, b1, W2, b2 = params
    pre = X @ W1 + b1
    H = np.maximum(pre, 0.0)
    logits = H @ W2 + b2
    loss, d_logits = crit.forward_backward(logits, T)  # lazy when X is a dask array
    d_h = (d_logits @ W2.T) * (pre > 0)
    return loss, [X.T @ d_h, d_h.sum(0), H.T @ d_logits, d_logits.sum(0)]


def train(X, T, crit, steps, lr=0.5, compute=None):
    params = init_params(X.shape[1], 32, 6, seed=1)
    losses = []
    for _ in range(steps):
        loss, grads = loss_and_grads(params, X, T, crit)
        if compute is not None:  # dask: one graph per step, run on the cluster
            loss, grads = compute(loss, grads)
        params = [p - lr * g for p, g in zip(params, grads)]
        losses.append(float(loss))
    return params, losses


def main(argv=None, client=None):
    import dask
    import dask.array as da

    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--eval-rows", type=int, default=4_000_000,
                        help="rows of the synthetic prediction set (50 labels)")
    parser.add_argument("--memory-limit", default="300MiB", help="per worker")
    args = parser.parse_args(argv)

    own = client is None
    if own:
        from distributed import Client, LocalCluster

        # ":0": any free port for the dashboard (8787 may be taken: a warning, not an error)
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               dashboard_address=":0", memory_limit=args.memory_limit)
        client = Client(cluster)
    try:
        X, Y, y = make_data(0)
        rows = (700, 1100, 1, 1199)  # uneven shards
        Xd = da.from_array(X, chunks=(rows, -1))
        report, curves = {}, {}
        for name, crit, T in (
            ("multi-label, BCEWithLogitsLoss", lf.BCEWithLogitsLoss(), Y),
            ("multi-class, CrossEntropyLoss", lf.CrossEntropyLoss(), y),
        ):
            t0 = time.perf_counter()
            ref, ref_losses = train(X, T, crit, args.steps)
            t1 = time.perf_counter()
            Td = da.from_array(T, chunks=(rows,) + ((-1,) if T.ndim == 2 else ()))
            got, losses = train(Xd, Td, crit, args.steps,
                                compute=lambda *a: dask.compute(*a))
            t2 = time.perf_counter()
            diff = max(float(np.max(np.abs(a - b))) for a, b in zip(got, ref))
            report[name] = diff
            curves[name] = (ref_losses, losses)
            print(f"{name}: loss {ref_losses[0]:.4f} -> {ref_losses[-1]:.4f}; "
                  f"max |weight difference| dask vs NumPy = {diff:.1e} "
                  f"(NumPy {t1 - t0:.2f} s, dask {t2 - t1:.2f} s)")

        # evaluation of a synthetic prediction set generated on the workers chunk by
        # chunk: each chunk is reduced to a MultilabelConfusion state and the states are
        # merged in a tree, so the set may be larger than a worker's memory limit
        n, L = args.eval_rows, 50
        rng = da.random.default_rng(3)
        truth = (rng.random((n, L), chunks=(50_000, L)) < 0.1).astype(np.int8)
        noise = rng.random((n, L), chunks=(50_000, L)) < 0.03
        pred = (truth ^ noise).astype(np.int8)
        t0 = time.perf_counter()
        micro = M.f1_score(truth, pred, average="micro")
        samples = M.f1_score(truth, pred, average="samples", zero_division=0)
        limit = client.run(lambda dask_worker: dask_worker.memory_manager.memory_limit)
        print(f"synthetic {n} x {L} predictions ({2 * truth.nbytes / 2**20:.0f} MiB of "
              f"labels; worker memory limit {min(limit.values()) / 2**20:.0f} MiB): "
              f"micro-F1 {micro:.4f}, samples-F1 {samples:.4f} "
              f"({time.perf_counter() - t0:.1f} s)")
        report["micro_f1"] = micro
        report["curves"] = curves
        return report
    finally:
        if own:
            client.close()
            cluster.close()


def plot(report):
    """The training loss of each run on NumPy and on the cluster: one curve, drawn twice."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), layout="constrained")
    for ax, (name, (ref, got)) in zip(axes, report["curves"].items()):
        ax.plot(ref, lw=4, alpha=0.4, label="NumPy, one process")
        ax.plot(got, "k--", lw=1.2, label="dask, on the cluster")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=9)
    return fig


if __name__ == "__main__":
    plot(main())
