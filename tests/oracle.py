"""The torch oracle: torch 2.13 (CPU) values and autograd gradients computed in the
test, in the input's dtype.  One helper for every loss of loss_table
(`torch_call`); `torch_fn` resolves a row's oracle name.  Importing this module
imports torch, so every test module that imports it carries
``pytestmark = pytest.mark.torch``.
"""

from __future__ import annotations

import functools
import importlib
import math

import numpy as np
import torch
import torch.nn.functional as TF
from helpers import FACES, assert_close, check_grad_type, check_loss_type, native, run_ours
from multilabel_reference import ref_asl, ref_focal, ref_soft_f1, ref_zlpr

import pylossfn.functional as F

torch.set_num_threads(1)


def torch_fn(row):
    """The callable a loss_table row (or activation row) names as its oracle."""
    module, _, name = row.oracle.rpartition(".")
    return getattr(importlib.import_module(module), name)


# -- the oracles of the losses torch lacks (or takes differently) ---------------

def _reduce(loss, reduction):
    return {"none": lambda v: v, "mean": torch.mean, "sum": torch.sum}[reduction](loss)


def _reference(ref):
    """A torch oracle from an element-wise reference formula."""
    def oracle(x, y, reduction="mean", **kw):
        return _reduce(ref(x, y.to(x.dtype), **kw), reduction)
    return oracle


sigmoid_focal_loss = _reference(ref_focal)
asymmetric_loss = _reference(ref_asl)
asymmetric_loss_factored = _reference(functools.partial(ref_asl, factored=True))
zlpr_loss = _reference(ref_zlpr)
soft_f1_loss = _reference(ref_soft_f1)


def poly_binary_cross_entropy_with_logits(x, y, epsilon=1.0, weight=None, reduction="mean",
                                          pos_weight=None):
    """Poly-1 BCE (Leng et al. 2022) as its formula: torch's BCE-with-logits
    term plus epsilon * weight * (1 - p_t), p_t = y s + (1 - y)(1 - s)."""
    y = y.to(x.dtype)
    bce = TF.binary_cross_entropy_with_logits(x, y, weight=weight, pos_weight=pos_weight,
                                              reduction="none")
    s = torch.sigmoid(x)
    pt = y * s + (1 - y) * (1 - s)
    poly = epsilon * (1 - pt) if weight is None else epsilon * weight * (1 - pt)
    return _reduce(bce + poly, reduction)


def smoothed_target(y, label_smoothing):
    """BCE's label smoothing as the contract states it: y (1 - e) + e / 2."""
    return y * (1 - label_smoothing) + label_smoothing / 2
def dice_terms(x, t, mode="multilabel", smooth=1.0, alpha=0.5, beta=0.5, weight=None,
               per_sample=False, generalized=False):
    """The Dice / Tversky terms of the contract as a torch formula: [C], or [N, C]."""
    if mode == "multiclass":
        p = torch.softmax(x, 1)
        if not t.dtype.is_floating_point:  # class indices -> one-hot on axis 1
            t = TF.one_hot(t.long(), x.shape[1]).movedim(-1, 1).to(x.dtype)
    else:
        p = torch.sigmoid(x)
        if mode == "binary":
            p, t = p.unsqueeze(1), t.unsqueeze(1)
    t = t.to(x.dtype)
    p = p.flatten(2) if p.dim() > 2 else p.unsqueeze(2)
    t = t.reshape(p.shape)
    axes = (2,) if per_sample else (0, 2)
    inter, psum, tsum = (p * t).sum(axes), p.sum(axes), t.sum(axes)
    d = 1 - (inter + smooth) / (inter + alpha * (psum - inter) + beta * (tsum - inter) + smooth)
    if generalized:
        w = 1.0 / (t.sum((0, 2)) ** 2 + 1e-7)
        d = d * (w / w.sum() * len(w))
    elif weight is not None:
        d = d * weight
    return d


def dice_loss(x, t, reduction="mean", **kw):
    return _reduce(dice_terms(x, t, **kw), reduction)


def generalized_dice_loss(x, t, reduction="mean", **kw):
    return _reduce(dice_terms(x, t, mode="multiclass", generalized=True, **kw), reduction)


def log_cosh_loss(x, y, reduction="mean"):
    """log(cosh(x - y)) in the contract's stable form, |d| + log1p(exp(-2|d|))
    - log 2, so that torch's autograd gives tanh(d) = +-1 at d = +-inf (the
    direct log(cosh(d)) gives inf / inf there)."""
    a = (x - y).abs()
    loss = a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def multilabel_soft_margin_loss(x, y, reduction="mean", weight=None):
    return TF.multilabel_soft_margin_loss(x, y, weight=weight, reduction=reduction)


def _torch_cosine_distance(x, y, eps=1e-8):
    return 1.0 - TF.cosine_similarity(x, y, dim=-1, eps=eps)


def triplet_margin_with_distance_loss(a, p, n, distance_function=None, **kw):
    # ours names its C distances; torch takes the same function in torch terms
    if distance_function is F.cosine_distance:
        kw["distance_function"] = _torch_cosine_distance
    elif distance_function not in (None, F.pairwise_distance):
        kw["distance_function"] = lambda x, y: TF.pairwise_distance(
            x, y, **distance_function.keywords)
    return TF.triplet_margin_with_distance_loss(a, p, n, **kw)


def ctc_loss(lp, targets, il, tl, **kw):
    return TF.ctc_loss(lp, targets, il, tl, **kw)


def _reduce_by(loss, reduction, denom):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / denom


def poly_cross_entropy(x, t, epsilon=1.0, weight=None, ignore_index=-100, reduction="mean",
                       label_smoothing=0.0):
    """Poly-1: torch's cross-entropy term plus epsilon w[t] (1 - p_t)."""
    axis = 0 if x.dim() == 1 else 1
    ce = TF.cross_entropy(x, t, weight=weight, ignore_index=ignore_index, reduction="none",
                          label_smoothing=label_smoothing)
    p = torch.softmax(x, axis)
    if t.is_floating_point():
        pt = (t * p).sum(axis)
        w = torch.ones_like(pt)
        denom = pt.numel() if x.shape[axis] else 0
    else:
        valid = t != ignore_index
        tt = torch.where(valid, t, torch.zeros_like(t))
        pt = p.gather(axis, tt.unsqueeze(axis)).squeeze(axis)
        w = torch.ones_like(pt) if weight is None else weight[tt]
        w = torch.where(valid, w, torch.zeros_like(w))
        denom = w.sum()
        if reduction == "mean":
            # torch's cross_entropy rule for a mean over no weight (every target
            # ignored): nan, with a zero gradient, not autograd's 0 / 0
            some = denom > 0
            s = (ce + epsilon * w * (1 - pt)).sum()
            return torch.where(some, s / torch.where(some, denom, torch.ones_like(denom)),
                               torch.full_like(s, float("nan")))
    return _reduce_by(ce + epsilon * w * (1 - pt), reduction, denom)


def distillation_loss(x, t, temperature=1.0, reduction="batchmean"):
    """T^2 kl_div(log_softmax(x / T), softmax(t / T)), terms [N, C]."""
    T = temperature
    terms = T ** 2 * TF.kl_div(torch.log_softmax(x / T, 1), torch.softmax(t / T, 1),
                               reduction="none")
    n = x.shape[0] * (x.shape[1] if reduction == "mean" else 1)
    return _reduce_by(terms, "mean" if reduction == "batchmean" else reduction, n)


def sparsemax(x, dim=-1):
    """The sort-based sparsemax of Martins & Astudillo (2016), differentiable by autograd,
    computed in float64 (a float32 cumulative sum of equal large entries misses the
    exact 1/C by a float32 ulp of the sum) and returned in x's dtype."""
    if x.numel() == 0:
        return x.clone()
    if x.dim() == 0:  # one class
        return sparsemax(x.reshape(1), 0).reshape(())
    z = x.movedim(dim, -1).double()
    zs, _ = torch.sort(z, -1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cums = zs.cumsum(-1)
    support = (1 + k * zs > cums).to(z.dtype)
    ks = support.sum(-1, keepdim=True).clamp(min=1)
    # the sum over the support, gathered at its last element
    tau = (cums.gather(-1, ks.long() - 1) - 1) / ks
    # a nan or +inf entry, or no finite one, leaves the projection undefined: nan
    bad = (z.isnan() | z.isposinf()).any(-1, keepdim=True) | z.isneginf().all(-1, keepdim=True)
    p = torch.where(bad, torch.full_like(z, float("nan")), torch.clamp(z - tau, min=0))
    return p.movedim(-1, dim).to(x.dtype)


def sparsemax_loss(x, t, reduction="mean"):
    """optax's multiclass_sparsemax_loss in torch: sum_c p_c (x_c - x_t) + (1 - |p|^2) / 2."""
    x2 = x.reshape(-1, x.shape[-1]) if x.dim() else x.reshape(1, 1)
    t2 = t.reshape(-1)
    p = sparsemax(x2, -1)
    xt = x2.gather(1, t2.unsqueeze(1))
    x2, xt, p = x2.double(), xt.double(), p.double()
    loss = (p * (x2 - xt)).sum(1) + 0.5 * (1 - (p * p).sum(1))
    loss = loss.reshape(t.shape).to(x.dtype)
    return _reduce_by(loss, reduction, loss.numel())


# -- the one oracle helper ------------------------------------------------------

def _float_target(row, i):
    """Whether the row's torch oracle takes argument i, an integer array here,
    as floats of the input's dtype."""
    return row.family in ("binary", "elementwise-pair") or (row.family == "rows" and i == 2)


def torch_call(row, opts, inputs, grad_output=None, want_grad=True):
    """(loss, (grad of each differentiable input, ...)) from the row's torch
    oracle on the same arguments, as NumPy, in the first input's dtype: the
    differentiable inputs require a gradient; the other floating arrays and the
    array options (weights) are cast to that dtype, as torch needs; integer and
    bool arrays go as int64, or as floats where the oracle takes float targets."""
    dtype = native(inputs[0]).dtype
    tensors = []
    for i, a in enumerate(inputs):
        a = native(a)
        if i in row.diff:
            t = torch.from_numpy(a).requires_grad_(want_grad)
        elif a.dtype.kind == "f" or _float_target(row, i):
            t = torch.from_numpy(a.astype(dtype))
        else:
            t = torch.from_numpy(a.astype(np.int64))
        tensors.append(t)
    kw = {k: torch.from_numpy(native(v).astype(dtype)) if isinstance(v, np.ndarray) else v
          for k, v in opts.items()}
    loss = torch_fn(row)(*tensors, **kw)
    grads = ()
    if want_grad:
        go = None if grad_output is None else torch.as_tensor(native(grad_output),
                                                                dtype=loss.dtype)
        if go is None:
            go = torch.ones_like(loss)
        elif go.shape != loss.shape:
            go = go.expand(loss.shape)
        loss.backward(go)
        grads = tuple(tensors[i].grad.numpy() if tensors[i].grad is not None
                      else np.zeros(tensors[i].shape, dtype) for i in row.diff)
    return loss.detach().numpy(), grads


def torch_ref(loss, x, t, *, grad_output=None, **kw):
    """torch's value and gradient for the row `loss` on (x, t), in x's dtype.

    Returns ``(loss ndarray, grad ndarray)``.
    """
    value, grads = torch_call(loss, kw, (x, t), grad_output)
    return value.copy(), grads[0].copy()


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
        msg = f"{loss.name} face={face}"
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
