"""Overlap losses coupled over the batch: Dice, Tversky and the generalized Dice.

Each class's loss compares sums over the batch (or over the spatial axes of
each sample) of the probabilities and the target, so every element's gradient
depends on the whole batch, as for ``SoftF1Loss``.
"""
from __future__ import annotations

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
        self, mode: str = "multilabel", smooth: float = 1.0, alpha: float = 0.5,
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
        self, smooth: float = 1.0, per_sample: bool = False, reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.smooth = smooth
        self.per_sample = per_sample
        self._validate()
