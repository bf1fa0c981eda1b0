"""Extreme multi-label tagging in NumPy: 100,000 labels, sparse targets, a laptop's memory.

A synthetic tagging set: each of the 100k tags has a hidden direction, each item
carries 1-5 tags drawn from a Zipf-like popularity law and is described by the
sum of its tags' directions, seen through a fixed random projection, plus
noise.  The model is a tanh layer and a fused linear + BCE-with-logits head
(``pylossfn.LinearBCEWithLogitsLoss``): the targets stay as padded lists of tag
indices (``[N, 5]``, -1 padding) and the ``batch x 100k`` logits are never held,
so a step needs a few MiB on top of the parameters.  Adam by hand.

It prints the loss and the held-out precision@1 (is the top-scoring tag one of
the item's tags?) next to the popularity baseline (always the most frequent
tag), and the peak memory of the process.

    python examples/xml_tagging.py [--labels 100000] [--steps 30] [--batch 256]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

import pylossfn as lf


def make_data(n, n_labels, d_in, rng, dirs, proj, max_tags=5):
    """Items as (features [n, d_in], padded tag lists [n, max_tags])."""
    p = 1.0 / np.arange(1, n_labels + 1) ** 0.9
    cdf = np.cumsum(p / p.sum())
    draws = np.minimum(np.searchsorted(cdf, rng.random((n, max_tags))), n_labels - 1)
    k = rng.integers(1, max_tags + 1, n)
    keep = np.arange(max_tags) < k[:, None]      # 1-5 tags (a repeated draw counts once)
    tags = np.where(keep, draws, -1)
    z = (dirs[draws] * keep[:, :, None]).sum(1)
    x = z @ proj + 0.1 * rng.standard_normal((n, d_in)).astype(np.float32)
    return x.astype(np.float32), tags


class Adam:
    def __init__(self, params, lr):
        self.lr, self.t = lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params, grads, b1=0.9, b2=0.999, eps=1e-8):
        self.t += 1
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            np.multiply(g, g, out=g)  # g is not needed after this step
            g *= 1 - b2
            v += g
            np.sqrt(v, out=g)          # g becomes the step, in place
            g *= 1 / np.sqrt(c2)
            g += eps
            np.divide(m, g, out=g)
            g *= self.lr / c1
            p -= g


def precision_at_1(x, tags, A, crit):
    h = np.tanh(x @ A.T)
    top = np.empty(len(x), np.int64)
    W, b = crit.linear.weight, crit.linear.bias
    for i0 in range(0, len(x), 256):  # scores in row chunks, never all at once
        s = h[i0:i0 + 256] @ W.T + b
        top[i0:i0 + 256] = s.argmax(1)
    return float(np.mean((tags == top[:, None]).any(1)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    ap.add_argument("--labels", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    d_in, latent, hidden = 96, 32, 32
    dirs = rng.standard_normal((args.labels, latent)).astype(np.float32) / np.sqrt(latent)
    proj = rng.standard_normal((latent, d_in)).astype(np.float32)
    x_tr, t_tr = make_data(args.train, args.labels, d_in, rng, dirs, proj)
    x_te, t_te = make_data(1000, args.labels, d_in, rng, dirs, proj)

    A = (rng.uniform(-1, 1, (hidden, d_in)) / np.sqrt(d_in)).astype(np.float32)
    # "sum" over labels, averaged over the batch by hand: the mean over
    # batch x 100k labels would make every gradient 1e5 times smaller
    crit = lf.LinearBCEWithLogitsLoss(hidden, args.labels, bias=True, reduction="sum",
                                      seed=args.seed)
    crit.linear.bias[:] = -np.log(args.labels / 3.0)  # start at the tags' base rate
    params = [A, crit.linear.weight, crit.linear.bias]
    opt = Adam(params, lr=3e-3)
    counts = np.bincount(t_tr[t_tr >= 0], minlength=args.labels)
    baseline = float(np.mean((t_te == counts.argmax()).any(1)))
    history = []
    t0 = time.perf_counter()
    for step in range(args.steps + 1):
        if step % 10 == 0:
            p1 = precision_at_1(x_te, t_te, A, crit)
            history.append({"step": step, "p@1": p1})
            print(f"step {step:3d}  held-out precision@1 {p1:.3f}  "
                  f"(popularity baseline {baseline:.3f})")
        if step == args.steps:
            break
        idx = rng.integers(0, args.train, args.batch)
        xb, tb = x_tr[idx], t_tr[idx]
        pre = xb @ A.T
        h = np.tanh(pre)
        loss, d_h = crit.forward_backward(h, tb, grad_output=np.float32(1.0 / args.batch))
        d_pre = d_h * (1 - h * h)
        opt.step(params, [d_pre.T @ xb, crit.linear.weight_grad, crit.linear.bias_grad])
        history[-1].setdefault("losses", []).append(float(loss) / args.batch)
        if step % 10 == 0:
            print(f"          train loss per item (sum over {args.labels} labels) "
                  f"{float(loss) / args.batch:.3f}")
    sec = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 10 if sys.platform != "darwin"
                                                                 else 1 << 20)
    logits = args.batch * args.labels * 4 / 2**20
    print(f"{args.steps} steps in {sec:.1f} s; peak resident memory {rss:.0f} MiB "
          f"(one batch's logits alone would be {logits:.0f} MiB, their gradient as much again)")
    return {"history": history, "baseline": baseline, "seconds": sec}


def plot(res):
    """Held-out precision@1 along the training, and the popularity baseline."""
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in res["history"]]
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    ax.plot(steps, [h["p@1"] for h in res["history"]], "o-", label="fused linear + BCE head")
    ax.axhline(res["baseline"], color="0.5", ls="--", label="always the most frequent tag")
    ax.set_xlabel("step")
    ax.set_ylabel("held-out precision@1")
    ax.legend(fontsize=9)
    return fig


if __name__ == "__main__":
    plot(main())
