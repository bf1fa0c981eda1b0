"""Losses on the probability simplex beyond torch.nn: Poly-1, distillation, sparsemax."""
from __future__ import annotations

from .._typing import ArrayLike, FloatArray, KLReduction, Reduction
from ._base import Loss, as_option_array

__all__ = ["PolyCrossEntropyLoss", "DistillationLoss", "SparsemaxLoss"]


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
