"""Multi-label losses on logits beyond torch.nn: focal, asymmetric, ZLPR, soft-F1.

Each of the C labels of a sample is its own yes/no question; the input holds
one logit per label.  ``BCEWithLogitsLoss`` is the plain baseline.
"""
from __future__ import annotations

from .._typing import FloatArray, Reduction
from ._base import Loss

__all__ = ["SigmoidFocalLoss", "AsymmetricLoss", "ZLPRLoss", "SoftF1Loss"]


class SigmoidFocalLoss(Loss[FloatArray]):
    """Focal loss on logits (Lin et al., 2017), as ``torchvision.ops.sigmoid_focal_loss``.

    ``l = alpha_t * ce * (1 - p_t) ** gamma`` with ``p = sigmoid(x)``,
    ``ce = binary_cross_entropy_with_logits(x, y)``,
    ``p_t = p * y + (1 - p) * (1 - y)`` and
    ``alpha_t = alpha * y + (1 - alpha) * (1 - y)`` (1 when ``alpha < 0``);
    ``dl/dx = alpha_t * ((p - y) * (1 - p_t) ** gamma
    + gamma * ce * (1 - p_t) ** (gamma - 1) * p * (1 - p) * (1 - 2 y))``.

    Down-weights easy labels so the rare hard ones dominate.  Shapes: input
    (logits) any shape, target the same shape with labels in [0, 1].  The
    default reduction is ``"mean"``, as for every torch.nn loss
    (torchvision's function defaults to ``"none"``).

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.SigmoidFocalLoss(alpha=-1, gamma=0)   # plain BCE with logits
    >>> loss, grad = crit.forward_backward(np.zeros((1, 2)), np.array([[1.0, 0.0]]))
    >>> grad
    array([[-0.25,  0.25]])
    """

    def __init__(
        self, *, alpha: float = 0.25, gamma: float = 2.0, reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.alpha = alpha
        self.gamma = gamma
        self._validate()


class AsymmetricLoss(Loss[FloatArray]):
    """Asymmetric loss (ASL, Ridnik et al., ICCV 2021) on logits.

    ``l = -(y * log(max(p, eps)) + (1 - y) * log(max(p_m, eps))) * (1 - p_t) ** g``
    with ``p = sigmoid(x)``, the shifted negative probability
    ``p_m = min(1 - p + clip, 1)``, ``p_t = p * y + p_m * (1 - y)`` and the
    one-sided exponent ``g = gamma_pos * y + gamma_neg * (1 - y)``, as the
    reference ``AsymmetricLoss`` of Alibaba-MIIL/ASL.  ``backward`` gives the
    exact derivative, focusing weight included (the reference with
    ``disable_torch_grad_focal_loss=False``).

    Focuses hard negatives more than positives and discards easy negatives
    (``p < clip``) entirely.  Shapes: input (logits) any shape, target the
    same shape with labels in [0, 1].  The default reduction is ``"sum"``, as
    the reference returns.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.AsymmetricLoss()
    >>> loss, grad = crit.forward_backward(np.array([[2.0, -1.0]]), np.array([[1.0, 0.0]]))
    >>> grad.round(6)
    array([[-0.027536,  0.002618]])
    """

    def __init__(
        self, *, gamma_neg: float = 4.0, gamma_pos: float = 1.0, clip: float = 0.05,
        eps: float = 1e-8, reduction: Reduction = "sum",
    ) -> None:
        super().__init__(reduction)
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps
        self._validate()


class ZLPRLoss(Loss[FloatArray]):
    """Multi-label categorical cross-entropy (Su, 2020), also called ZLPR.

    Per sample, over the last axis of C labels:
    ``l = log(1 + sum_c (1 - y_c) e^{s_c}) + log(1 + sum_c y_c e^{-s_c})``;
    ``dl/ds_c = (1 - y_c) e^{s_c} / (1 + sum (1 - y) e^s)
    - y_c e^{-s_c} / (1 + sum y e^{-s})``.  For 0/1 labels this is Su's
    ``log(1 + sum_neg e^s) + log(1 + sum_pos e^-s)``: a softmax-style loss
    that ranks every positive logit above 0 and every negative below 0.

    Shapes: input ``[..., C]``, target the same shape (labels in [0, 1]);
    ``"none"`` gives ``input.shape[:-1]``, ``"mean"`` averages over samples.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.ZLPRLoss()
    >>> loss, grad = crit.forward_backward(np.zeros((1, 2)), np.array([[1.0, 0.0]]))
    >>> grad
    array([[-0.5,  0.5]])
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self._validate()


class SoftF1Loss(Loss[FloatArray]):
    """Macro soft-F1 cost from logits, over the batch.

    Per class c, with ``p = sigmoid(x)`` and soft counts over the N samples
    ``TP = sum p y``, ``FP = sum p (1 - y)``, ``FN = sum (1 - p) y``:
    ``cost_c = 1 - 2 TP / (2 TP + FP + FN + eps)``;
    ``dcost_c/dx_n = p (1 - p) (2 TP - 2 y_n B) / B ** 2`` where
    ``B = 2 TP + FP + FN + eps``.

    Shapes: input ``[N, C]`` (or ``[N]``, one class), target the same shape;
    ``"none"`` gives the ``[C]`` per-class costs, ``"mean"`` their average.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.SoftF1Loss()
    >>> loss, grad = crit.forward_backward(np.zeros((2, 1)), np.array([[1.0], [0.0]]))
    >>> float(loss), grad.ravel()
    (0.5, array([-0.1875,  0.0625]))
    """

    def __init__(self, *, eps: float = 1e-16, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.eps = eps
        self._validate()
