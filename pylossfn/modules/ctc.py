"""Connectionist temporal classification: CTCLoss."""
from __future__ import annotations

from .._typing import FloatArray, Reduction
from ._base import Loss

__all__ = ["CTCLoss"]


class CTCLoss(Loss[FloatArray]):
    """Connectionist temporal classification loss, as ``torch.nn.CTCLoss``.

    ``l = -log p(target | log_probs)``, summed over every alignment by the
    alpha recursion in log space; ``blank`` (default 0) is the class index of
    the blank.  ``"mean"`` divides each loss by its target length (at least
    1), then averages over the batch; ``zero_infinity`` zeroes infinite
    losses and their gradients.

    ``backward()`` returns torch's gradient with respect to ``log_probs``:
    ``exp(log_probs) - exp(log(sum of alpha * beta over the target's
    positions of class c) + loss - log_probs)`` for ``t < input_length``, 0
    after it.  It is the gradient for logits fed through ``log_softmax``; its
    extra ``exp(log_probs)`` term vanishes in log_softmax's backward.

    Shapes: log_probs ``[T, N, C]`` (or ``[T, C]``); targets ``[N, S]``
    padded or ``[sum(target_lengths)]`` concatenated; input_lengths,
    target_lengths ``N`` integers.  ``forward(log_probs, targets,
    input_lengths, target_lengths)``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.CTCLoss(reduction="sum")
    >>> lp = np.log(np.full((2, 1, 2), 0.5))
    >>> loss, grad = crit.forward_backward(lp, np.array([[1]]), [2], [1])
    >>> grad[:, 0]
    array([[ 0.16666667, -0.16666667],
           [ 0.16666667, -0.16666667]])
    """

    def __init__(
        self, blank: int = 0, reduction: Reduction = "mean", zero_infinity: bool = False,
    ) -> None:
        super().__init__(reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity
        self._validate()
