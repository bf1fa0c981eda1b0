"""Regression and element-wise losses: torch.nn's L1 ... MultiLabelSoftMargin.

Each class keeps torch's name, keywords and defaults; ``backward`` gives the
gradient that torch's autograd gives, subgradients included.  Arguments are
positional as far as torch's positional order means the same thing; from
torch's deprecated ``size_average`` / ``reduce`` on they are keyword-only.

Operands broadcast together as in torch (a UserWarning from L1, MSE, smooth
L1 and Huber when the target's shape differs from the input's); the gradient
of an input that was broadcast is summed back to the input's shape.
"""
from __future__ import annotations

from .._typing import ArrayLike, FloatArray, KLReduction, Reduction
from ._base import Loss, as_option_array

__all__ = [
    "L1Loss",
    "MSELoss",
    "LogCoshLoss",
    "SmoothL1Loss",
    "HuberLoss",
    "SoftMarginLoss",
    "KLDivLoss",
    "PoissonNLLLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "MultiLabelSoftMarginLoss",
    "MarginRankingLoss",
]


class L1Loss(Loss[FloatArray]):
    """Mean absolute error, as ``torch.nn.L1Loss``.

    ``l = |x - y|``; ``dl/dx = sign(x - y)`` (0 where ``x = y``, as torch).

    Shapes: input any shape; target broadcasting with it (a UserWarning when
    the shapes differ, as torch's); ``"none"`` returns the broadcast shape.

    >>> import numpy as np, pylossfn as lf
    >>> loss, grad = lf.L1Loss().forward_backward(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 5.0]))
    >>> float(loss), grad
    (1.0, array([ 0.33333333,  0.        , -0.33333333]))
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self._validate()


class MSELoss(Loss[FloatArray]):
    """Mean squared error, as ``torch.nn.MSELoss``.

    ``l = (x - y) ** 2``; ``dl/dx = 2 (x - y)``.  Shapes as :class:`L1Loss`.

    >>> import numpy as np, pylossfn as lf
    >>> loss, grad = lf.MSELoss().forward_backward(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    >>> float(loss), grad
    (2.5, array([ 1., -2.]))
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self._validate()


class LogCoshLoss(Loss[FloatArray]):
    """Log-cosh loss, ``log(cosh(x - y))``: a smooth Huber loss (Keras, optax).

    With ``d = x - y``: ``l = |d| + log1p(exp(-2 |d|)) - log 2``;
    ``dl/dx = tanh(d)``; ``d2l/dx2 = 1 - tanh(d) ** 2``.  Shapes as
    :class:`MSELoss` (no shape warning).

    >>> import numpy as np, pylossfn as lf
    >>> x, y = np.array([0.5, -3.0]), np.zeros(2)
    >>> loss, grad = lf.LogCoshLoss(reduction="sum").forward_backward(x, y)
    >>> bool(np.isclose(loss, np.log(np.cosh(x)).sum())), bool(np.allclose(grad, np.tanh(x)))
    (True, True)
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self._validate()


class SmoothL1Loss(Loss[FloatArray]):
    """Smooth L1 loss, as ``torch.nn.SmoothL1Loss``.

    With ``d = x - y``, ``z = |d|``: ``l = 0.5 z ** 2 / beta`` if ``z < beta``
    else ``z - 0.5 beta``; ``dl/dx = clip(d / beta, -1, 1)``.  ``beta >= 0``
    (default 1); ``beta = 0`` is :class:`L1Loss`.  Shapes as :class:`L1Loss`.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.SmoothL1Loss(reduction="sum", beta=2.0)
    >>> loss, grad = crit.forward_backward(np.array([1.0, 5.0]), np.zeros(2))
    >>> float(loss), grad
    (4.25, array([0.5, 1. ]))
    """

    def __init__(self, *, reduction: Reduction = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta
        self._validate()


class HuberLoss(Loss[FloatArray]):
    """Huber loss, as ``torch.nn.HuberLoss``.

    With ``d = x - y``, ``z = |d|``: ``l = 0.5 z ** 2`` if ``z < delta`` else
    ``delta (z - 0.5 delta)``; ``dl/dx = clip(d, -delta, delta)``.
    ``delta > 0`` (default 1).  Shapes as :class:`L1Loss`.  torch's positional
    order ``(reduction, delta)`` is kept.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.HuberLoss(reduction="sum", delta=2.0)
    >>> loss, grad = crit.forward_backward(np.array([1.0, 5.0]), np.zeros(2))
    >>> float(loss), grad
    (8.5, array([1., 2.]))
    """

    def __init__(self, reduction: Reduction = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta
        self._validate()


class SoftMarginLoss(Loss[FloatArray]):
    """Two-class logistic loss, as ``torch.nn.SoftMarginLoss``.

    ``l = log(1 + exp(-y x))`` for ``y`` in {-1, 1};
    ``dl/dx = -y sigmoid(-y x)``.  Stable for any logit.

    Shapes: input any shape; target broadcasting to the input's shape (the
    input is not broadcast, as in torch); ``"none"`` returns the input's shape.

    >>> import numpy as np, pylossfn as lf
    >>> loss, grad = lf.SoftMarginLoss().forward_backward(np.zeros(2), np.array([1.0, -1.0]))
    >>> grad
    array([-0.25,  0.25])
    """

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self._validate()


class KLDivLoss(Loss[FloatArray]):
    """Kullback-Leibler divergence, as ``torch.nn.KLDivLoss``.

    ``input`` holds log-probabilities: ``l = y (log y - x)`` (0 where
    ``y = 0``) and ``dl/dx = -y``; with ``log_target=True``
    ``l = exp(y) (y - x)`` and ``dl/dx = -exp(y)``.  ``reduction`` may also be
    ``"batchmean"`` (the sum over ``input.shape[0]``, the true KL divergence);
    ``"mean"`` (the default, as in torch) divides by the number of elements
    and warns as torch does.

    Shapes: input any shape; target broadcasting with it; ``"none"`` returns
    the broadcast shape.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.KLDivLoss(reduction="batchmean")
    >>> loss, grad = crit.forward_backward(np.log(np.array([[0.5, 0.5]])), np.array([[0.25, 0.75]]))
    >>> round(float(loss), 6), grad
    (0.130812, array([[-0.25, -0.75]]))
    """

    def __init__(self, *, reduction: KLReduction = "mean", log_target: bool = False) -> None:
        super().__init__(reduction)
        self.log_target = log_target
        self._validate()


class PoissonNLLLoss(Loss[FloatArray]):
    """Poisson negative log-likelihood, as ``torch.nn.PoissonNLLLoss``.

    ``log_input=True``: ``l = exp(x) - y x``, ``dl/dx = exp(x) - y``;
    otherwise ``l = x - y log(x + eps)``, ``dl/dx = 1 - y / (x + eps)``.
    ``full=True`` adds Stirling's term ``y log y - y + 0.5 log(2 pi y)`` where
    ``y > 1`` (it does not depend on ``x``).

    Shapes: input any shape; target broadcasting with it; ``"none"`` returns
    the broadcast shape.

    >>> import numpy as np, pylossfn as lf
    >>> loss, grad = lf.PoissonNLLLoss().forward_backward(np.zeros(2), np.array([1.0, 3.0]))
    >>> float(loss), grad
    (1.0, array([ 0., -1.]))
    """

    def __init__(
        self, log_input: bool = True, full: bool = False, *, eps: float = 1e-8,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps
        self._validate()


class GaussianNLLLoss(Loss[tuple[FloatArray, FloatArray]]):
    """Gaussian negative log-likelihood, as ``torch.nn.GaussianNLLLoss``.

    ``crit(input, target, var)``: ``l = 0.5 (log v + (x - y) ** 2 / v)`` with
    ``v = max(var, eps)`` (``+ 0.5 log(2 pi)`` with ``full=True``).
    ``backward()`` returns ``(d_input, d_var)``: ``d_input = (x - y) / v``,
    ``d_var = 0.5 (1 / v - (x - y) ** 2 / v ** 2)``, taken at the clamped
    ``v`` as torch does (its clamp is outside autograd).

    Shapes: input any shape; target broadcasting with it; ``var`` the input's
    shape, the input's shape without the last dim, one dim of size 1 where
    they differ, or a number (``d_var`` is then a 0-d array).

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.GaussianNLLLoss(reduction="sum")
    >>> loss, (d_input, d_var) = crit.forward_backward(np.array([1.0]), np.array([0.0]), np.array([2.0]))
    >>> d_input, d_var
    (array([0.5]), array([0.125]))
    """

    def __init__(
        self, *, full: bool = False, eps: float = 1e-6, reduction: Reduction = "mean",
    ) -> None:
        super().__init__(reduction)
        self.full = full
        self.eps = eps
        self._validate()


class HingeEmbeddingLoss(Loss[FloatArray]):
    """Hinge embedding loss, as ``torch.nn.HingeEmbeddingLoss``.

    ``l = x`` where ``y = 1``, ``max(0, margin - x)`` where ``y = -1`` (other
    target values add both, as torch); the gradient of the hinge is -1 where
    ``margin - x >= 0``.  ``input`` is typically a distance.

    Shapes: input any shape; target broadcasting with it; ``"none"`` returns
    the broadcast shape.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.HingeEmbeddingLoss(reduction="sum")
    >>> loss, grad = crit.forward_backward(np.array([0.3, 0.3, 2.0]), np.array([1.0, -1.0, -1.0]))
    >>> float(loss), grad
    (1.0, array([ 1., -1.,  0.]))
    """

    def __init__(self, margin: float = 1.0, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin
        self._validate()


class MultiLabelSoftMarginLoss(Loss[FloatArray]):
    """Multi-label one-versus-all logistic loss, as ``torch.nn.MultiLabelSoftMarginLoss``.

    Per sample over its C labels (the last axis):
    ``l = sum_c w_c (softplus(-x_c) + (1 - y_c) x_c) / C``, the label-mean of
    BCE-with-logits; ``dl/dx_c = w_c (sigmoid(x_c) - y_c) / C``.

    Shapes: input ``[N, C]`` (or ``[..., C]``, or ``[C]``); target
    broadcasting with it; ``weight`` (typically ``[C]``) broadcasting to the
    input.  ``"none"`` gives one loss per sample, ``shape[:-1]``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.MultiLabelSoftMarginLoss()
    >>> loss, grad = crit.forward_backward(np.zeros((1, 2)), np.array([[1.0, 0.0]]))
    >>> grad
    array([[-0.25,  0.25]])
    """

    def __init__(self, weight: ArrayLike | None = None, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        self._validate()


class MarginRankingLoss(Loss[tuple[FloatArray, FloatArray]]):
    """Margin ranking loss, as ``torch.nn.MarginRankingLoss``.

    ``crit(input1, input2, target)``: ``l = max(0, -y (x1 - x2) + margin)``.
    ``backward()`` returns ``(d_input1, d_input2)`` = ``(-y, y)`` where the
    hinge is active (``>= 0``, as torch's clamp), else 0.

    Shapes: the three arrays have the same number of dims and broadcast
    together; ``"none"`` returns the broadcast shape.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.MarginRankingLoss(margin=0.5, reduction="sum")
    >>> x1, x2, y = np.array([1.0, 1.0]), np.array([0.75, 2.0]), np.array([1.0, 1.0])
    >>> loss, (d1, d2) = crit.forward_backward(x1, x2, y)
    >>> float(loss), d1, d2
    (1.75, array([-1., -1.]), array([1., 1.]))
    """

    def __init__(self, margin: float = 0.0, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin
        self._validate()

