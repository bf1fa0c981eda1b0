"""Multi-label losses on logits beyond torch.nn: focal, asymmetric, ZLPR, soft-F1.

Each of the C labels of a sample is its own yes/no question; the input holds
one logit per label.  ``BCEWithLogitsLoss`` is the plain baseline.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
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

    _row = "sigmoid_focal_loss"


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

    _row = "asymmetric_loss"


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

    _row = "multilabel_categorical_crossentropy"

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        # per row, with P_c = (1 - y_c) e^x_c / (1 + sum (1 - y) e^x) and
        # Q_c = y_c e^-x_c / (1 + sum y e^-x): H = diag(P + Q) - P P' - Q Q'
        x = np.asarray(self._saved[0], np.float64)  # type: ignore[index]
        y = np.asarray(self._saved[1], np.float64)  # type: ignore[index]
        vv = v[0].astype(np.float64)

        def share(z: Any, mass: Any) -> Any:
            zm = np.where(mass > 0, z, -np.inf)
            shift = np.maximum(0.0, zm.max(-1, keepdims=True, initial=0.0))
            with np.errstate(divide="ignore"):
                e = np.where(mass > 0, mass * np.exp(z - shift), 0.0)
            return e / (np.exp(-shift) + e.sum(-1, keepdims=True))

        P, Q = share(x, 1 - y), share(-x, y)
        k = np.asarray(self._loss_scale(grad_output, x[..., 0].size if x.ndim else 0))
        hv = (P + Q) * vv - P * (P * vv).sum(-1, keepdims=True) - Q * (Q * vv).sum(
            -1, keepdims=True)
        return (np.expand_dims(k, -1) * hv).astype(v[0].dtype)


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

    _row = "soft_f1_loss"

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        # per label, cost = 1 - A / B over the N rows: the Hessian couples
        # every pair of rows through A = 2 sum p y and B = sum (p + y) + eps
        x = np.asarray(self._saved[0])  # type: ignore[index]
        y = np.asarray(self._saved[1], np.float64)  # type: ignore[index]
        shape = x.shape
        p = F.sigmoid(x.astype(np.float64)).reshape(shape[0], -1)
        y = y.reshape(p.shape)
        vv = v[0].astype(np.float64).reshape(p.shape)
        d = p * (1 - p)
        A = 2 * (p * y).sum(0)
        B = (p + y).sum(0) + self.eps
        g = np.asarray(self._loss_scale(grad_output, p.shape[1])).reshape(-1)
        dv, ydv = (d * vv).sum(0), (y * d * vv).sum(0)
        diag = (A - 2 * y * B) / B**2 * (d * (1 - 2 * p) - 2 * d * d / B)
        r_nn = 4 * y * d * d / B**2 - 2 * A * d * d / B**3
        rv = 2 / B**2 * d * (y * dv + ydv) - 2 * A / B**3 * d * dv
        return (g * ((diag - r_nn) * vv + rv)).reshape(shape).astype(v[0].dtype)
