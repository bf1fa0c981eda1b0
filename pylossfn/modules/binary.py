"""Binary losses: one independent probability (or logit) per element."""
from __future__ import annotations

from .._typing import ArrayLike, FloatArray, Reduction
from ._base import Loss, as_option_array

__all__ = ["BCELoss", "BCEWithLogitsLoss", "PolyBCEWithLogitsLoss"]


class BCELoss(Loss[FloatArray]):
    """Binary cross-entropy on probabilities, as ``torch.nn.BCELoss``.

    ``l = -w * (y * max(log x, -100) + (1 - y) * max(log(1 - x), -100))``;
    ``dl/dx = w * (x - y) / max((1 - x) * x, 1e-12)``.

    Shapes: input any shape with values in [0, 1], target the same shape,
    ``weight`` broadcasting to the input.  Prefer :class:`BCEWithLogitsLoss`
    on logits: it is stabler and as fast.  ``label_smoothing`` ``e`` in
    [0, 1] replaces the target ``y`` by ``y * (1 - e) + e / 2``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.BCELoss()
    >>> loss, grad = crit.forward_backward(np.array([0.5, 0.8]), np.array([1.0, 1.0]))
    >>> grad
    array([-1.   , -0.625])
    """

    def __init__(
        self, weight: ArrayLike | None = None, *, reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        self.label_smoothing = label_smoothing
        self._validate()


class BCEWithLogitsLoss(Loss[FloatArray]):
    """Sigmoid + binary cross-entropy, stable, as ``torch.nn.BCEWithLogitsLoss``.

    ``l = w * ((1 - y) * x + (1 + (pw - 1) * y) * softplus(-x))``;
    ``dl/dx = w * ((1 + (pw - 1) * y) * sigmoid(x) - pw * y)``.

    The multi-label loss: each of the C labels of a sample is its own
    yes/no question.  Shapes: input (logits) ``[N, C]`` or any shape, target
    the same shape (0/1 or soft labels), ``weight`` and ``pos_weight``
    broadcasting to the input (``pos_weight`` ``[C]`` > 1 boosts recall).
    ``label_smoothing`` ``e`` in [0, 1] replaces the target ``y`` by
    ``y * (1 - e) + e / 2``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.BCEWithLogitsLoss(pos_weight=np.full(2, 3.0))
    >>> loss, grad = crit.forward_backward(np.zeros((1, 2)), np.array([[1.0, 0.0]]))
    >>> grad
    array([[-0.75,  0.25]])
    """

    def __init__(
        self, weight: ArrayLike | None = None, *, reduction: Reduction = "mean",
        pos_weight: ArrayLike | None = None, label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        self.pos_weight = as_option_array(pos_weight, type(self).__name__, "pos_weight")
        self.label_smoothing = label_smoothing
        self._validate()


class PolyBCEWithLogitsLoss(Loss[FloatArray]):
    """Poly-1 binary cross-entropy on logits (Leng et al., ICLR 2022).

    ``l = w * ((1 - y) * x + (1 + (pw - 1) * y) * softplus(-x) + epsilon * (1 - p_t))``
    with ``p_t = y * sigmoid(x) + (1 - y) * (1 - sigmoid(x))``: the
    :class:`BCEWithLogitsLoss` term plus ``epsilon`` times the first term of
    its Taylor series in ``1 - p_t``;
    ``dl/dx = w * ((1 + (pw - 1) * y) * sigmoid(x) - pw * y
    + epsilon * sigmoid(x) * sigmoid(-x) * (1 - 2 * y))``.

    Shapes: input (logits) any shape, target the same shape (labels in
    [0, 1]), ``weight`` and ``pos_weight`` broadcasting to the input.
    ``epsilon`` must be finite (the paper's Poly-1 uses values in [-1, 2]).

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.PolyBCEWithLogitsLoss(epsilon=1.0, reduction="sum")
    >>> loss, grad = crit.forward_backward(np.zeros(2), np.array([1.0, 0.0]))
    >>> grad
    array([-0.75,  0.75])
    """

    def __init__(
        self, epsilon: float = 1.0, weight: ArrayLike | None = None,
        reduction: Reduction = "mean", pos_weight: ArrayLike | None = None,
    ) -> None:
        super().__init__(reduction)
        self.epsilon = epsilon
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        self.pos_weight = as_option_array(pos_weight, type(self).__name__, "pos_weight")
        self._validate()
