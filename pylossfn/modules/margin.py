"""Multi-class hinge losses: MultiMarginLoss and MultiLabelMarginLoss."""
from __future__ import annotations

from .._typing import ArrayLike, FloatArray, Reduction
from ._base import Loss, as_option_array

__all__ = ["MultiMarginLoss", "MultiLabelMarginLoss"]


class MultiMarginLoss(Loss[FloatArray]):
    """Multi-class hinge loss, as ``torch.nn.MultiMarginLoss``.

    Per sample with target ``t`` and ``z_c = margin - x[t] + x[c]``:
    ``l = sum_{c != t} w[t] * max(0, z_c) ** p / C``;
    ``dl/dx[c] = w[t] * (1 if p == 1 else 2 z_c) / C`` where ``z_c > 0``
    (0 at ``z_c = 0``, as torch), ``dl/dx[t] = -sum_c dl/dx[c]``.

    Shapes: input ``[N, C]`` or ``[C]``; target ``[N]`` (or ``()``) class
    indices; weight ``[C]``; ``p`` 1 or 2.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.MultiMarginLoss()
    >>> loss, grad = crit.forward_backward(np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3]))
    >>> grad
    array([[ 0.25,  0.25,  0.25, -0.75]])
    """

    def __init__(
        self, p: int = 1, margin: float = 1.0, weight: ArrayLike | None = None, *,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.p = p
        self.margin = margin
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        self._validate()  # p and weight are checked again by every call: they may be set later


class MultiLabelMarginLoss(Loss[FloatArray]):
    """Multi-label hinge loss, as ``torch.nn.MultiLabelMarginLoss``.

    ``target`` lists each sample's classes ``J`` by index, ended by the
    first -1.  ``l = sum_{j in J} sum_{c not in J} max(0, 1 - x[j] + x[c]) / C``;
    each active term adds ``1/C`` to ``dl/dx[c]`` and ``-1/C`` to
    ``dl/dx[j]``.  ``"mean"`` over an empty batch is nan (torch returns
    uninitialised memory there).

    Shapes: input ``[N, C]`` or ``[C]``; target the same shape, integers in
    ``[-1, C)``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.MultiLabelMarginLoss()
    >>> loss, grad = crit.forward_backward(np.array([[0.1, 0.2, 0.4, 0.8]]),
    ...                                    np.array([[3, 0, -1, 1]]))
    >>> grad
    array([[-0.5,  0.5,  0.5, -0.5]])
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self._validate()
