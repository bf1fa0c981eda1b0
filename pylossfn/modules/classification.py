"""Multi-class losses: one softmax (or log-probability row) over C classes."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from .._typing import ArrayLike, FloatArray, Reduction
from ._base import Loss, as_option_array

__all__ = ["CrossEntropyLoss", "NLLLoss"]


class CrossEntropyLoss(Loss[FloatArray]):
    """Softmax cross-entropy over classes, as ``torch.nn.CrossEntropyLoss``.

    The multi-class loss: exactly one of C classes is right.  With class
    indices, ``l = (1 - ls) * (-w[t] * logp[t]) + ls / C * (-sum_c w[c] logp[c])``
    and ``dl/dx_c = (1 - ls) * w[t] * (p_c - [c == t]) + ls / C * (p_c * sum(w) - w[c])``
    where ``p = softmax(x)``; the mean divides by the summed ``w[t]`` of the
    targets that are not ``ignore_index``.  A float target of the input's shape
    holds class probabilities instead (mean over samples).

    Shapes: input ``[N, C]``, ``[N, C, d1, ..., dk]`` or ``[C]``; target
    ``[N]``, ``[N, d1, ..., dk]`` or ``()`` (any integer dtype) or
    probabilities of the input's shape; ``weight`` ``[C]``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.CrossEntropyLoss(label_smoothing=0.1)
    >>> loss, grad = crit.forward_backward(np.zeros((1, 2)), np.array([1]))
    >>> grad
    array([[ 0.45, -0.45]])
    """

    def __init__(
        self, weight: ArrayLike | None = None, *, ignore_index: int = -100,
        reduction: Reduction = "mean", label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self._validate()

    _row = "cross_entropy"

    def _hvp(self, v: tuple[Any, ...], grad_output: Any) -> Any:
        # per sample the loss is k * logsumexp(x) minus a linear term, so
        # H v = k (p * v - p (p . v)) over the classes, with k the sample's
        # target weight times the gradient's scale (as the kernel's diagonal)
        x = np.asarray(self._saved[0])  # type: ignore[index]
        t = np.asarray(self._saved[1])  # type: ignore[index]
        axis = 0 if x.ndim == 1 else 1
        C = x.shape[axis]
        p = F.softmax(x, axis).astype(np.float64)
        w = np.ones(C, np.float64) if self.weight is None else self.weight.astype(np.float64)
        ls = float(self.label_smoothing)
        wshape = [1] * x.ndim
        wshape[axis] = C
        if t.dtype.kind == "f":  # class probabilities: the mean is over samples
            q = (1 - ls) * t.astype(np.float64) + (ls / C if C else 0.0)
            k = (w.reshape(wshape) * q).sum(axis)
            denom = float(k.size) if C else 0.0
        else:
            valid = t != self.ignore_index
            wt = np.where(valid, w[np.where(valid, t, 0)] if C else 0.0, 0.0)
            k = np.where(valid, (1 - ls) * wt + (ls / C * w.sum() if C else 0.0), 0.0)
            denom = float(wt.sum())
        if self.reduction == "none":
            if grad_output is not None:
                k = k * np.asarray(grad_output, np.float64)
        else:
            go = 1.0 if grad_output is None else float(np.asarray(grad_output))
            k = k * (go / denom if self.reduction == "mean" and denom else
                     go * np.nan if self.reduction == "mean" else go)
        vv = v[0].astype(np.float64)
        pv = (p * vv).sum(axis, keepdims=True)
        return (np.expand_dims(k, axis) * (p * vv - p * pv)).astype(v[0].dtype)


class NLLLoss(Loss[FloatArray]):
    """Negative log-likelihood of class indices, as ``torch.nn.NLLLoss``.

    ``l = -w[t] * input[t]``, ``dl/dinput[c] = -w[t] * [c == t]``; the mean
    divides by the summed ``w[t]`` of the targets that are not ``ignore_index``.
    Feed it ``log_softmax(x, 1)``; ``CrossEntropyLoss`` does both at once.

    Shapes: input ``[N, C]``, ``[N, C, d1, ..., dk]`` or ``[C]``; target
    ``[N]``, ``[N, d1, ..., dk]`` or ``()`` of any integer dtype.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.NLLLoss()
    >>> loss, grad = crit.forward_backward(np.log([[0.5, 0.5], [0.9, 0.1]]), np.array([0, 0]))
    >>> grad
    array([[-0.5,  0. ],
           [-0.5,  0. ]])
    """

    def __init__(
        self, weight: ArrayLike | None = None, *, ignore_index: int = -100,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        self.ignore_index = ignore_index
        self._validate()

    _row = "nll_loss"
