"""Embedding losses: compare rows of features (pairs or triplets), not classes.

These losses have several differentiable inputs, so ``backward()`` returns a
tuple of gradients in argument order: ``(d_input1, d_input2)`` for
``CosineEmbeddingLoss``, ``(d_anchor, d_positive, d_negative)`` for the
triplet losses.  Inputs that were broadcast get their gradient summed back to
their own shape.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._typing import FloatArray, Reduction
from ._base import Loss

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
