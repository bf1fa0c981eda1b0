"""Overlap losses coupled over the batch: Dice, Tversky and the generalized Dice.

Each class's loss compares sums over the batch (or over the spatial axes of
each sample) of the probabilities and the target, so every element's gradient
depends on the whole batch, as for ``SoftF1Loss``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from .._typing import ArrayLike, FloatArray, Reduction
from ._base import Loss, as_option_array

__all__ = ["DiceLoss", "GeneralizedDiceLoss"]


class DiceLoss(Loss[FloatArray]):
    """Dice loss (Milletari et al., 2016) and the Tversky loss, from logits.

    Per class c (and sample n with ``per_sample``), over the batch and
    spatial axes (the spatial axes alone with ``per_sample``):
    ``I = sum p t``, ``P = sum p``, ``T = sum t`` and
    ``l = 1 - (I + smooth) / (I + alpha (P - I) + beta (T - I) + smooth)``,
    times ``weight[c]``; ``dd/dp = -(t D - N e) / D ** 2`` with ``N = I + smooth``,
    ``D`` the denominator and ``e = (1 - alpha - beta) t + alpha``, then
    through the sigmoid (``"multilabel"``, ``"binary"``) or the softmax over
    axis 1 (``"multiclass"``).  ``alpha = beta = 0.5`` is Dice (over the
    batch, multilabel, the soft-F1 with smoothing).

    Shapes: input ``[N, C, *]`` (``"binary"``: ``[N, *]``); target of the
    input's shape, or for ``"multiclass"`` class indices ``[N, *]``;
    ``weight`` ``[C]``.  ``"none"`` gives the ``[C]`` terms (``[N, C]`` with
    ``per_sample``), ``"mean"`` their average.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.DiceLoss(smooth=0.0)
    >>> loss, grad = crit.forward_backward(np.zeros((2, 1)), np.array([[1.0], [0.0]]))
    >>> float(loss), grad.ravel()
    (0.5, array([-0.1875,  0.0625]))
    """

    def __init__(
        self, mode: str = "multilabel", *, smooth: float = 1.0, alpha: float = 0.5,
        beta: float = 0.5, weight: ArrayLike | None = None, per_sample: bool = False,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.mode = mode
        self.smooth = smooth
        self.alpha = alpha
        self.beta = beta
        self.weight = as_option_array(weight, "DiceLoss", "weight")
        self.per_sample = per_sample
        self._validate()

    _impl = staticmethod(F._dice_loss)

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        return _dice_hvp(self, v[0], grad_output, self.mode, self.alpha, self.beta,
                         self.weight, False)


class GeneralizedDiceLoss(Loss[FloatArray]):
    """Generalized Dice loss (Sudre et al., 2017), as optax's
    ``multiclass_generalized_dice_loss``.

    Multiclass Dice (softmax over axis 1) with class weights
    ``w_c = 1 / (T_c ** 2 + 1e-7)`` from the target's sums over the whole
    batch, normalized to sum to C: per class (and sample with ``per_sample``),
    ``l = w_c (1 - (2 I + 2 smooth) / (P + T + 2 smooth))`` with ``I = sum p t``,
    ``P = sum p``, ``T = sum t``.  The weights depend on the target alone, so
    the gradient treats them as constants.

    Shapes: input ``[N, C, *]``; target class indices ``[N, *]`` or
    probabilities of the input's shape.  ``"none"`` gives the weighted
    ``[C]`` terms (``[N, C]`` with ``per_sample``).

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.GeneralizedDiceLoss(smooth=0.0)
    >>> float(crit(np.array([[20.0, 0.0], [0.0, 20.0]]), np.array([0, 1]))) < 1e-8
    True
    """

    def __init__(
        self, *, smooth: float = 1.0, per_sample: bool = False, reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.smooth = smooth
        self.per_sample = per_sample
        self._validate()

    _impl = staticmethod(F._generalized_dice_loss)

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        return _dice_hvp(self, v[0], grad_output, "multiclass", 0.5, 0.5, None, True)


def _dice_probs(crit: Any, mode: str) -> tuple[Any, Any, Any]:
    """(x, p, t) of the last forward call as float64 [N, C, S]."""
    x = np.asarray(crit._saved[0], np.float64)
    t = np.asarray(crit._saved[1])
    x3 = x.reshape(x.shape[0], 1 if mode == "binary" else x.shape[1], -1)
    if mode == "multiclass":
        e = np.exp(x3 - x3.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        if t.dtype.kind in "iu":  # class indices -> one-hot
            t = (t.reshape(x3.shape[0], 1, -1) == np.arange(x3.shape[1])[:, None])
    else:
        p = 1.0 / (1.0 + np.exp(-x3))
    return x3, p, np.asarray(t, np.float64).reshape(x3.shape)


def _dice_hvp(crit: Any, v: Any, grad_output: Any, mode: str, alpha: float, beta: float,
              weight: Any, generalized: bool) -> Any:
    # per term, with N = I + smooth, D the denominator, e = (1 - alpha - beta) t
    # + alpha: d2d/dp_i dp_j = (t_i e_j + t_j e_i) / D^2 - 2 N e_i e_j / D^3 over
    # the elements of the term, then the sigmoid's or the softmax's chain rule
    x3, p, t = _dice_probs(crit, mode)
    axes = (2,) if crit.per_sample else (0, 2)
    num = (p * t).sum(axes, keepdims=True) + crit.smooth
    inter = num - crit.smooth
    den = inter + alpha * (p.sum(axes, keepdims=True) - inter) + beta * (
        t.sum(axes, keepdims=True) - inter) + crit.smooth
    w = np.full(x3.shape[1], 1.0)
    if generalized:
        w = 1.0 / (t.sum((0, 2)) ** 2 + 1e-7)
        w = w / w.sum() * len(w)
    elif weight is not None:
        w = np.asarray(weight, np.float64)
    terms = num.size
    g = np.asarray(crit._loss_scale(grad_output, terms), np.float64)
    g = g.reshape(num.shape) if g.ndim else g
    G = g * w[:, None]
    e = (1.0 - alpha - beta) * t + alpha
    r = G * (alpha * num / den**2 + t * ((1.0 - alpha - beta) * num / den**2 - 1.0 / den))

    def hp(z: Any) -> Any:  # the Hessian in p times z
        ez, tz = (e * z).sum(axes, keepdims=True), (t * z).sum(axes, keepdims=True)
        return G * ((t * ez + e * tz) / den**2 - 2.0 * num * e * ez / den**3)

    vv = v.astype(np.float64).reshape(x3.shape)
    if mode != "multiclass":
        q = p * (1.0 - p)
        hv = q * hp(q * vv) + r * q * (1.0 - 2.0 * p) * vv
    else:
        vm = vv - (p * vv).sum(1, keepdims=True)
        y = hp(p * vm)
        rho = (p * r).sum(1, keepdims=True)
        hv = p * (y - (p * y).sum(1, keepdims=True)) + p * (
            r * vm - (r * p * vm).sum(1, keepdims=True) - rho * vm)
    return hv.reshape(v.shape).astype(v.dtype)
