"""Multi-class losses: one softmax (or log-probability row) over C classes."""
from __future__ import annotations

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
