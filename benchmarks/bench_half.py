"""Half precision against float32 and torch's bfloat16, for the losses that read
half arrays themselves (MSE, BCE with logits, cross-entropy, NLL).

forward + gradient (``forward_backward``, mean), 2 threads for us and torch,
the best of a few calls, our three dtypes and torch's two in turn; run it with
``PYLOSSFN_ISA=avx2`` as well.  Needs torch and ml_dtypes (the ``bench`` extra).

    python benchmarks/bench_half.py [--sizes 4096x1000,8192x5000]
"""
import argparse
import time

import ml_dtypes
import numpy as np
import torch

import pylossfn as lf

BF16 = ml_dtypes.bfloat16
TORCH = {"MSELoss": torch.nn.functional.mse_loss,
         "BCEWithLogitsLoss": torch.nn.functional.binary_cross_entropy_with_logits,
         "CrossEntropyLoss": torch.nn.functional.cross_entropy,
         "NLLLoss": torch.nn.functional.nll_loss}


def best(f, reps):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts) * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="4096x1000,8192x5000")
    args = p.parse_args()
    torch.set_num_threads(2)
    lf.set_num_threads(2)
    rng = np.random.default_rng(0)
    for size in args.sizes.split(","):
        n, c = (int(v) for v in size.split("x"))
        reps = 7 if n * c <= 4_096_000 else 3
        x32 = rng.standard_normal((n, c), dtype=np.float32)
        y32 = rng.uniform(0, 1, (n, c)).astype(np.float32)
        lab = rng.integers(0, c, n)
        for name, fn in TORCH.items():
            by_index = name in ("CrossEntropyLoss", "NLLLoss")
            crit = getattr(lf, name)()
            row = {}
            for dname, dt in (("f32", np.float32), ("bf16", BF16), ("f16", np.float16)):
                x = x32.astype(dt)
                t = lab if by_index else y32.astype(dt)
                row[dname] = best(lambda x=x, t=t, c=crit: c.forward_backward(x, t), reps)
            for dname, tdt in (("torch_f32", torch.float32), ("torch_bf16", torch.bfloat16)):
                xt = torch.from_numpy(x32).to(tdt)
                tt = torch.from_numpy(lab) if by_index else torch.from_numpy(y32).to(tdt)

                def step(xt=xt, tt=tt, fn=fn):
                    xx = xt.detach().requires_grad_()
                    fn(xx, tt).backward()
                row[dname] = best(step, reps)
            print(f"{name:18s} {size}: " + "  ".join(f"{k} {v:8.3f} ms" for k, v in row.items())
                  + f"  | f32/bf16 {row['f32'] / row['bf16']:.2f}"
                  f"  f32/f16 {row['f32'] / row['f16']:.2f}"
                  f"  torch bf16/ours bf16 {row['torch_bf16'] / row['bf16']:.2f}", flush=True)


if __name__ == "__main__":
    main()
