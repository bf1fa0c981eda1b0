"""Embedding losses: compare rows of features (pairs or triplets), not classes.

These losses have several differentiable inputs, so ``backward()`` returns a
tuple of gradients in argument order: ``(d_input1, d_input2)`` for
``CosineEmbeddingLoss``, ``(d_anchor, d_positive, d_negative)`` for the
triplet losses.  Inputs that were broadcast get their gradient summed back to
their own shape.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import functional as F
from .._typing import FloatArray, Reduction
from ._base import Loss, _sum_to

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CosineEmbeddingLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss"]


class CosineEmbeddingLoss(Loss[tuple[FloatArray, FloatArray]]):
    """Cosine embedding loss, as ``torch.nn.CosineEmbeddingLoss``.

    With ``cos = x1 . x2 / sqrt((|x1|^2 + e) (|x2|^2 + e))`` per row (``e`` torch's
    float32 constant 1e-12):
    ``l = 1 - cos`` for ``y = 1``, ``max(0, cos - margin)`` for ``y = -1``
    (0 for any other target value);
    ``dcos/dx1 = x2 / sqrt(...) - cos * x1 / (|x1|^2 + 1e-12)``.  At
    ``cos = margin`` the gradient of a ``y = -1`` row is taken (torch's
    subgradient).

    Shapes: input1, input2 ``[N, D]`` (or ``[D]`` with a 0-d target),
    broadcasting; target ``[N]`` of 1 / -1.  ``backward()`` returns
    ``(d_input1, d_input2)``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.CosineEmbeddingLoss()
    >>> loss, (g1, g2) = crit.forward_backward(np.array([[1.0, 1.0]]), np.array([[0.0, 2.0]]),
    ...                                        np.array([1]))
    >>> round(float(loss), 6), g1.round(6)
    (0.292893, array([[ 0.353553, -0.353553]]))
    """

    def __init__(self, margin: float = 0.0, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin
        self._validate()

    _row = "cosine_embedding_loss"

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        # the loss is linear in cos on each side of its hinge: k times the
        # Hessian of cos in (x1, x2), k = dl/dcos
        x1, x2, y = (np.asarray(a, np.float64) for a in self._saved)  # type: ignore[union-attr]
        shapes = (x1.shape, x2.shape)
        a, b = (np.atleast_2d(x) for x in np.broadcast_arrays(x1, x2))
        va, vb = (np.broadcast_to(np.atleast_2d(w.astype(np.float64)), a.shape) for w in v)
        eps = float(np.float32(1e-12))  # torch's constant, a float
        m1 = (a * a).sum(-1, keepdims=True) + eps
        m2 = (b * b).sum(-1, keepdims=True) + eps
        den = np.sqrt(m1 * m2)
        cos = (a * b).sum(-1, keepdims=True) / den
        y = np.broadcast_to(y.reshape(-1, 1) if y.ndim else y, cos.shape)
        k = np.where(y == 1, -1.0, np.where((y == -1) & ~(cos - self.margin < 0), 1.0, 0.0))
        scale = self._loss_scale(grad_output, a.shape[0] if max(x1.ndim, x2.ndim) > 1 else 1)
        k = k * (np.reshape(scale, (-1, 1)) if np.ndim(scale) else scale)
        ha, hb = _cos_hvp(a, b, va, vb, cos, den, m1, m2)
        ha, hb = k * ha, k * hb
        if max(x1.ndim, x2.ndim) < 2:
            ha, hb = ha[0], hb[0]
        return (_sum_to(ha, shapes[0]).astype(v[0].dtype),
                _sum_to(hb, shapes[1]).astype(v[1].dtype))


class TripletMarginLoss(Loss[tuple[FloatArray, FloatArray, FloatArray]]):
    """Triplet margin loss, as ``torch.nn.TripletMarginLoss``.

    ``l = max(0, margin + d(a, p) - d(a, n))`` with
    ``d(x, y) = ||x - y + eps||_p`` over the last axis (``p >= 0``, inf
    allowed); with ``swap``, ``d(a, n)`` becomes ``min(d(a, n), d(p, n))``.
    The subgradients are torch's: the hinge passes its gradient at 0, a tie
    in the swap splits it evenly, and the norms follow torch's
    ``norm_backward``.

    Shapes: anchor, positive, negative ``[N, D]`` (or ``[D]``), broadcasting
    with equal numbers of dimensions.  ``backward()`` returns
    ``(d_anchor, d_positive, d_negative)``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.TripletMarginLoss(eps=0.0)
    >>> a, pos, neg = np.zeros((1, 2)), np.array([[0.0, 1.0]]), np.array([[2.0, 0.0]])
    >>> loss, (ga, gp, gn) = crit.forward_backward(a, pos, neg)
    >>> float(loss), ga        # at the hinge (0) the gradient passes, as in torch
    (0.0, array([[ 1., -1.]]))
    """

    def __init__(
        self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False, *,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap
        self._validate()

    _row = "triplet_margin_loss"

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        return _triplet_hvp(self, v, grad_output, 0, float(self.p), float(self.eps))


class TripletMarginWithDistanceLoss(Loss[tuple[FloatArray, FloatArray, FloatArray]]):
    """Triplet margin loss with a chosen distance, as ``torch.nn.TripletMarginWithDistanceLoss``.

    ``l = max(0, margin + d(a, p) - d(a, n))`` (``swap`` as in
    :class:`TripletMarginLoss`).  ``distance_function`` is None
    (``pairwise_distance``, p = 2, eps = 1e-6),
    ``pylossfn.functional.pairwise_distance``,
    ``pylossfn.functional.cosine_distance`` (``1 - cosine_similarity`` over
    the last axis), or a ``functools.partial`` of one of them with keyword
    options; any other callable raises TypeError, since only the distances
    the C core implements can be differentiated without autograd.
    ``margin > 0``.

    Shapes: anchor, positive, negative ``[N, D]`` (or ``[D]``), broadcasting
    with equal numbers of dimensions.  ``backward()`` returns
    ``(d_anchor, d_positive, d_negative)``.

    >>> import numpy as np, pylossfn as lf, pylossfn.functional as F
    >>> crit = lf.TripletMarginWithDistanceLoss(distance_function=F.cosine_distance)
    >>> a, pos, neg = np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([[1.0, -1.0]])
    >>> loss, (ga, gp, gn) = crit.forward_backward(a, pos, neg)
    >>> round(float(loss), 6), ga.round(6)
    (1.0, array([[ 0.      , -1.414214]]))
    """

    def __init__(
        self, *, distance_function: Callable[..., Any] | None = None, margin: float = 1.0,
        swap: bool = False, reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.distance_function = distance_function
        self.margin = margin
        self.swap = swap
        self._validate()  # an unknown callable is refused here already

    _row = "triplet_margin_with_distance_loss"

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        kind, p, eps = F._distance_kind(self.distance_function, type(self).__name__)
        return _triplet_hvp(self, v, grad_output, kind, float(p), float(eps))


def _cos_hvp(a: Any, b: Any, va: Any, vb: Any, cos: Any, den: Any, m1: Any, m2: Any) -> Any:
    """The product of the Hessian of cos = a.b / den (den = sqrt(m1 m2),
    m_k the squared norms) in (a, b) with (va, vb), row by row."""
    def dot(x: Any, y: Any) -> Any:
        return (x * y).sum(-1, keepdims=True)

    ga, gb = b / den - cos * a / m1, a / den - cos * b / m2
    ava, bvb = dot(a, va), dot(b, vb)
    haa = -b * ava / (den * m1) - a * dot(ga, va) / m1 - cos * va / m1 + 2 * cos * a * ava / m1**2
    hab = vb / den - b * bvb / (den * m2) - a * dot(gb, vb) / m1
    hbb = -a * bvb / (den * m2) - b * dot(gb, vb) / m2 - cos * vb / m2 + 2 * cos * b * bvb / m2**2
    hba = va / den - a * ava / (den * m1) - b * dot(ga, va) / m2
    return haa + hab, hba + hbb


def _triplet_hvp(crit: Any, v: tuple[Any, ...], grad_output: Any, kind: int, p: float,
                 eps: float) -> Any:
    """Hessian-vector product of the triplet losses: the hinge's 0 / 1 times
    the distances' Hessians (each depends on one pair of rows)."""
    xs = [np.asarray(x, np.float64) for x in crit._saved]
    shapes = [x.shape for x in xs]
    rows = [np.atleast_2d(x) for x in np.broadcast_arrays(*xs)]
    vs = [np.broadcast_to(np.atleast_2d(w.astype(np.float64)), r.shape) for w, r in zip(v, rows)]

    def dot(x: Any, y: Any) -> Any:
        return (x * y).sum(-1, keepdims=True)

    def dist(x: Any, y: Any) -> Any:
        if kind == 0:
            d = np.abs(x - y + eps)
            if p == 0:
                return (d != 0).sum(-1, keepdims=True).astype(np.float64)
            if np.isinf(p):
                return d.max(-1, keepdims=True)
            return (d**p).sum(-1, keepdims=True) ** (1 / p)
        c1 = np.maximum(np.sqrt(dot(x, x)), eps)
        c2 = np.maximum(np.sqrt(dot(y, y)), eps)
        return 1 - dot(x, y) / (c1 * c2)

    def dist_hvp(x: Any, y: Any, vx: Any, vy: Any) -> Any:
        if kind == 0:
            if p in (0.0, 1.0) or np.isinf(p):
                return np.zeros_like(vx), np.zeros_like(vy)
            d = x - y + eps
            n = (np.abs(d) ** p).sum(-1, keepdims=True) ** (1 / p)
            w = vx - vy
            safe = np.where(n == 0, 1.0, n)
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.sign(d) * np.abs(d) ** (p - 1) * safe ** (1 - p)
                hw = (p - 1) * (np.abs(d) ** (p - 2) * safe ** (1 - p) * w - g * dot(g, w) / safe)
            hw = np.where(n == 0, 0.0, hw)
            return hw, -hw
        c1 = np.maximum(np.sqrt(dot(x, x)), eps)
        c2 = np.maximum(np.sqrt(dot(y, y)), eps)
        den = c1 * c2
        hx, hy = _cos_hvp(x, y, vx, vy, dot(x, y) / den, den, c1 * c1, c2 * c2)
        return -hx, -hy

    a, pos, neg = rows
    dp, dn = dist(a, pos), dist(a, neg)
    w_neg = np.ones_like(dn)
    ds = dn
    if crit.swap:
        ds = dist(pos, neg)
        w_neg = np.where(ds < dn, 0.0, np.where(ds == dn, 0.5, 1.0))
    z = crit.margin + dp - np.where(w_neg == 0, ds, dn)
    scale = crit._loss_scale(grad_output, a.shape[0] if xs[0].ndim > 1 else 1)
    k = np.where(z < 0, 0.0, 1.0) * (np.reshape(scale, (-1, 1)) if np.ndim(scale) else scale)
    out = [np.zeros_like(r) for r in rows]
    for (i, j), kk in (((0, 1), k), ((0, 2), -k * w_neg), ((1, 2), -k * (1 - w_neg))):
        if (i, j) == (1, 2) and not crit.swap:
            continue
        hi, hj = dist_hvp(rows[i], rows[j], vs[i], vs[j])
        out[i] += kk * hi
        out[j] += kk * hj
    if all(len(s) < 2 for s in shapes):
        out = [o[0] for o in out]
    return tuple(_sum_to(o, s).astype(w.dtype) for o, s, w in zip(out, shapes, v))
