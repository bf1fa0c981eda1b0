"""The torch oracle: torch 2.13 (CPU) values and autograd gradients computed in the
test, in the input's dtype.  Importing this module imports torch, so every test
module that imports it carries ``pytestmark = pytest.mark.torch``.
"""

from __future__ import annotations

import numpy as np
import torch
from helpers import FACES, assert_close, check_grad_type, check_loss_type, native, run_ours

torch.set_num_threads(1)


def torch_ref(loss, x, t, *, grad_output=None, **kw):
    """torch value and autograd gradient, computed in x's dtype.

    Returns ``(loss ndarray, grad ndarray)``.
    """
    xn = native(x)
    dtype = xn.dtype
    tt = torch.from_numpy(xn).requires_grad_(True)
    tn = native(t)
    if loss.target == "float" or tn.dtype.kind == "f":
        tgt = torch.from_numpy(tn.astype(dtype))
    else:
        tgt = torch.from_numpy(tn.astype(np.int64))
    tkw = {}
    for k, v in kw.items():
        if k in ("weight", "pos_weight") and v is not None:
            tkw[k] = torch.from_numpy(native(v).astype(dtype))
        else:
            tkw[k] = v
    out = loss.torch_fn(tt, tgt, **tkw)
    if grad_output is None:
        go = torch.ones_like(out)
    else:
        go = torch.from_numpy(native(np.asarray(grad_output, dtype=dtype)))
        go = go.expand(out.shape) if go.dim() == 0 else go
    out.backward(go)
    grad = tt.grad if tt.grad is not None else torch.zeros_like(tt)
    return out.detach().numpy().copy(), grad.numpy().copy()


def _snapshot(obj):
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return None


def check_against_torch(
    loss,
    x,
    t,
    *,
    oracle_x=None,
    oracle_t=None,
    grad_output=None,
    faces=FACES,
    **kw,
):
    """Run every face of pylossfn and compare value, grad, types with torch.

    ``x``, ``t`` (and arrays in ``kw``) may be in any layout; the oracle uses
    ``oracle_x`` / ``oracle_t`` (default: x / t converted natively).
    """
    dtype = np.dtype(np.asarray(x).dtype.type)  # native byte order
    assert dtype in (np.float32, np.float64)
    ox = np.asarray(x) if oracle_x is None else oracle_x
    ot = np.asarray(t) if oracle_t is None else oracle_t
    okw = {k: (np.asarray(v) if isinstance(v, (list, np.ndarray)) else v) for k, v in kw.items()}
    ogo = None if grad_output is None else np.asarray(grad_output)
    exp_val, exp_grad = torch_ref(loss, ox, ot, grad_output=ogo, **okw)
    reduction = kw.get("reduction", "mean")

    before = {"x": _snapshot(x), "t": _snapshot(t)}
    before.update({k: _snapshot(v) for k, v in kw.items()})
    go_before = _snapshot(grad_output)

    results = run_ours(loss, x, t, grad_output=grad_output, faces=faces, **kw)
    for face, (val, g) in results.items():
        msg = f"{loss.fname} face={face}"
        check_loss_type(val, dtype, exp_val.shape, reduction)
        assert_close(val, exp_val, dtype, kind="value", err_msg=msg + " (loss)")
        if g is not None:
            check_grad_type(g, x, dtype)
            assert_close(g, exp_grad, dtype, kind="grad", err_msg=msg + " (grad)")

    # Inputs are never written.
    for name, snap in before.items():
        if snap is None:
            continue
        cur = x if name == "x" else t if name == "t" else kw[name]
        np.testing.assert_array_equal(cur, snap, err_msg=f"{name} was modified")
    if go_before is not None:
        np.testing.assert_array_equal(grad_output, go_before, err_msg="grad_output modified")
    return results, exp_val, exp_grad
