"""Losses on the probability simplex beyond torch.nn: Poly-1, distillation, sparsemax."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from .._typing import ArrayLike, FloatArray, KLReduction, Reduction
from ..functional import _kl_reduction_code
from ._base import Loss, as_option_array

__all__ = ["PolyCrossEntropyLoss", "DistillationLoss", "SparsemaxLoss"]


def _softmax_hvp(p: Any, v: Any, axis: int) -> Any:
    """(diag(p) - p p^T) v along ``axis``: the Hessian of log-sum-exp times v."""
    return p * v - p * (p * v).sum(axis, keepdims=True)


class PolyCrossEntropyLoss(Loss[FloatArray]):
    """Poly-1 cross-entropy (Leng et al., ICLR 2022), as :func:`pylossfn.functional.poly_cross_entropy`.

    ``l = CE(x, t) + epsilon * w[t] * (1 - p_t)`` per sample, with
    :class:`CrossEntropyLoss`'s options (``weight``, ``ignore_index``,
    ``label_smoothing``, class-probability targets, ``[N, C, d1, ...]``
    inputs) and its mean.  With ``y`` the target row (one-hot or
    probabilities), ``p_y = sum_c y_c p_c`` and ``e = epsilon * w[t]``:
    ``dl/dx_c = dCE/dx_c - e * p_c * (y_c - p_y)``.

    Shapes: as :class:`CrossEntropyLoss`.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.PolyCrossEntropyLoss(epsilon=1.0)
    >>> loss, grad = crit.forward_backward(np.zeros((1, 2)), np.array([1]))
    >>> grad
    array([[ 0.75, -0.75]])
    """

    def __init__(
        self, epsilon: float = 1.0, weight: ArrayLike | None = None, ignore_index: int = -100,
        reduction: Reduction = "mean", label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self.epsilon = epsilon
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self._validate()

    _impl = staticmethod(F._poly_cross_entropy)

    def _targets(self, x: Any, t: Any, axis: int) -> tuple[Any, Any, Any, float]:
        """(y, k, e, mean divisor): the target rows (one-hot or probabilities)
        along ``axis``, the log-sum-exp factor and the Poly factor per sample."""
        C = x.shape[axis]
        w = np.ones(C) if self.weight is None else self.weight.astype(np.float64)
        ls = float(self.label_smoothing)
        shape = [1] * x.ndim
        shape[axis] = C
        if t.dtype.kind == "f":  # class probabilities: w = 1, mean over samples
            y = t.astype(np.float64)
            q = (1 - ls) * y + (ls / C if C else 0.0)
            k = (w.reshape(shape) * q).sum(axis)
            e = np.full(k.shape, float(self.epsilon))
            return y, k, e, float(k.size) if C else 0.0
        valid = t != self.ignore_index
        tt = np.where(valid, t, 0)
        wt = np.where(valid, w[tt] if C else 0.0, 0.0)
        y = (np.arange(C).reshape(shape) == np.expand_dims(tt, axis)) & np.expand_dims(valid, axis)
        k = np.where(valid, (1 - ls) * wt + (ls / C * w.sum() if C else 0.0), 0.0)
        return y.astype(np.float64), k, float(self.epsilon) * wt, float(wt.sum())

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        # per sample: k (diag(p) - p p^T) for the cross-entropy, and minus e
        # times the Hessian of p_y = y . p, p o (u o v - u (p . v)) - p ((p o u) . v)
        # with u = y - p_y
        x = np.asarray(self._saved[0])  # type: ignore[index]
        t = np.asarray(self._saved[1])  # type: ignore[index]
        axis = 0 if x.ndim == 1 else 1
        p = F.softmax(x, axis).astype(np.float64)
        y, k, e, denom = self._targets(x, t, axis)
        scale = self._loss_scale(grad_output, denom)
        vv = v[0].astype(np.float64)
        u = y - (y * p).sum(axis, keepdims=True)
        pv = (p * vv).sum(axis, keepdims=True)
        d2 = p * (u * vv - u * pv) - p * (p * u * vv).sum(axis, keepdims=True)
        hv = np.expand_dims(k, axis) * _softmax_hvp(p, vv, axis) - np.expand_dims(e, axis) * d2
        if np.ndim(scale):
            scale = np.expand_dims(scale, axis)
        return (hv * scale).astype(v[0].dtype)


class DistillationLoss(Loss[FloatArray]):
    """Knowledge distillation (Hinton et al., 2015), as :func:`pylossfn.functional.distillation_loss`.

    ``l = T**2 * sum_c q_c (log q_c - log p_c)``, with ``q = softmax(target / T)``
    from the teacher's logits and ``p = softmax(input / T)`` from the
    student's: ``T**2 * KL(q || p)``.  The gradient is the student's,
    ``T * (p - q)`` per sample.  ``reduction``:
    ``"batchmean"`` (the default, the sum over N), ``"mean"`` (over the N C
    terms), ``"sum"`` or ``"none"`` (the ``[N, C]`` terms).

    Shapes: ``input`` and ``target`` ``[N, C]``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.DistillationLoss(temperature=2.0)
    >>> loss, grad = crit.forward_backward(np.zeros((1, 2)), np.array([[0.0, 2 * np.log(3.0)]]))
    >>> grad
    array([[ 0.5, -0.5]])
    """

    def __init__(self, temperature: float = 1.0, reduction: KLReduction = "batchmean") -> None:
        super().__init__(reduction)
        self.temperature = temperature
        self._validate()

    @property
    def reduction(self) -> str:
        """The reduction string; ``"batchmean"`` (the default) is allowed here."""
        return self._reduction

    @reduction.setter
    def reduction(self, value: str) -> None:
        self._reduction_code = _kl_reduction_code(value, type(self).__name__)
        self._reduction = value

    _impl = staticmethod(F._distillation_loss)

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        # per row A (diag(p) - p p^T), A = sum_c g_c q_c (the T^2 cancels 1/T^2)
        x = np.asarray(self._saved[0], np.float64)  # type: ignore[index]
        z = np.asarray(self._saved[1], np.float64)  # type: ignore[index]
        T = float(self.temperature)
        p = F.softmax(x / T, 1)
        q = F.softmax(z / T, 1)
        if self.reduction == "none":
            g = 1.0 if grad_output is None else np.asarray(grad_output, np.float64)
        else:
            n = x.shape[0] * (x.shape[1] if self.reduction == "mean" else 1)
            g = self._loss_scale(grad_output, n) if self.reduction != "batchmean" else (
                (1.0 if grad_output is None else float(np.asarray(grad_output)))
                / n if n else np.nan)
        A = (g * q).sum(1, keepdims=True)
        return (A * _softmax_hvp(p, v[0].astype(np.float64), 1)).astype(v[0].dtype)


class SparsemaxLoss(Loss[FloatArray]):
    """The multi-class sparsemax loss, as :func:`pylossfn.functional.sparsemax_loss`.

    ``l = sum_c p_c (x_c - x_t) + (1 - |p|**2) / 2`` with ``p = sparsemax(x)``
    (optax's ``multiclass_sparsemax_loss``); ``dl/dx = p - onehot(t)``.  The
    Hessian is ``diag(s) - s s^T / |S|`` on the support ``S`` of ``p``
    (``s`` its indicator): 0 outside it.

    Shapes: input ``[N, C]`` or ``[C]``; target ``[N]`` or ``()`` class indices.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.SparsemaxLoss()
    >>> loss, grad = crit.forward_backward(np.array([[1.0, 2.0, 2.5]]), np.array([2]))
    >>> grad
    array([[ 0.  ,  0.25, -0.25]])
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self._validate()

    _impl = staticmethod(F._sparsemax_loss)

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        x = np.atleast_2d(np.asarray(self._saved[0]))  # type: ignore[index]
        s = (F.sparsemax(x, -1) > 0).astype(np.float64)
        vv = np.atleast_2d(v[0].astype(np.float64))
        scale = self._loss_scale(grad_output, x.shape[0])
        scale = np.reshape(scale, (-1, 1)) if np.ndim(scale) else scale
        hv = s * vv - s * (s * vv).sum(1, keepdims=True) / s.sum(1, keepdims=True)
        return (hv * scale).reshape(v[0].shape).astype(v[0].dtype)
