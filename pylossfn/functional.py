"""torch.nn.functional's losses and activations for NumPy arrays.

Every function takes NumPy arrays (float32 or float64, any strides) or
array-likes, computes in the input's dtype in the C core, and returns what
torch returns: a NumPy scalar of the input's dtype for ``reduction="mean"`` /
``"sum"``, an ndarray of torch's shape for ``"none"``.  Arguments after
``weight`` are keyword-only: torch's deprecated ``size_average`` / ``reduce``
sit between them in torch's positional order, so a positional call could not
mean the same thing here.

For gradients use the module classes (``pylossfn.BCEWithLogitsLoss`` ...):
``crit.backward()`` or the fused ``crit.forward_backward()``.
"""
import warnings

import numpy as np

from . import _core

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
    "sigmoid",
    "logsigmoid",
    "softmax",
    "log_softmax",
    "sigmoid_focal_loss",
    "asymmetric_loss",
    "multilabel_categorical_crossentropy",
    "soft_f1_loss",
]

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}
_LOSS = _core.WANT_LOSS


def _reduction_code(reduction, fname):
    """The core's code for a reduction string; ValueError for anything else."""
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(
            f"{fname}: reduction must be one of 'none', 'mean' or 'sum', got {reduction!r}"
        ) from None


def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):
    """Binary cross-entropy between probabilities ``input`` and ``target``.

    ``l = -w * (y * max(log x, -100) + (1 - y) * max(log(1 - x), -100))``,
    as ``torch.nn.functional.binary_cross_entropy`` (the log is clamped at
    -100 so that x = 0 or 1 gives a finite loss).

    Shapes: ``input`` any shape with values in [0, 1]; ``target`` the same
    shape, in [0, 1] (float, or integer / bool labels); ``weight`` broadcasts
    to ``input``.  Returns a scalar of the input's dtype (``"mean"``,
    ``"sum"``) or an array of the input's shape (``"none"``).  Raises
    ValueError for an input or target outside [0, 1] (nan included).

    >>> import numpy as np, pylossfn.functional as F
    >>> p = np.array([0.9, 0.2], dtype=np.float32)
    >>> float(F.binary_cross_entropy(p, np.array([1.0, 0.0], dtype=np.float32)))  # doctest: +ELLIPSIS
    0.164252...
    """
    fname = "binary_cross_entropy"
    return _core.binary_cross_entropy(
        input, target, weight, _reduction_code(reduction, fname), _LOSS, None
    )


def binary_cross_entropy_with_logits(
    input, target, weight=None, *, reduction="mean", pos_weight=None
):
    """Sigmoid + binary cross-entropy in one numerically stable step.

    ``l = w * ((1 - y) * x + (1 + (pw - 1) * y) * softplus(-x))``, which is
    ``-w * (pw * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x)))``
    without overflow for any logit (±1e4 included), as
    ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Shapes: ``input`` (logits) any shape; ``target`` the same shape;
    ``weight`` and ``pos_weight`` broadcast to ``input`` (``pos_weight`` is
    typically ``[C]``, one per label).  This is the multi-label loss: one
    independent sigmoid per label.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, -1.0]]); y = np.array([[1.0, 0.0]])
    >>> round(float(F.binary_cross_entropy_with_logits(x, y)), 6)
    0.220095
    """
    fname = "binary_cross_entropy_with_logits"
    return _core.bce_with_logits(
        input, target, weight, pos_weight, _reduction_code(reduction, fname), _LOSS, None
    )


def cross_entropy(
    input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    """Softmax cross-entropy over the class dimension (dim 1, or 0 unbatched).

    With class indices ``t`` and ``logp = log_softmax(input, 1)``:
    ``l = (1 - ls) * (-w[t] * logp[t]) + ls / C * (-sum_c w[c] * logp[c])``;
    the mean divides by the summed ``w[t]`` of the targets not equal to
    ``ignore_index`` (nan when there are none).  With class probabilities
    ``p`` (a float target of the input's shape):
    ``l = -sum_c w[c] * ((1 - ls) * p[c] + ls / C) * logp[c]`` and the mean
    divides by the number of samples.  As ``torch.nn.functional.cross_entropy``.

    Shapes: ``input`` ``[N, C]``, ``[N, C, d1, ..., dk]`` or ``[C]``;
    ``target`` ``[N]`` / ``[N, d1, ..., dk]`` / ``()`` of any integer dtype,
    or float of the input's shape; ``weight`` ``[C]``.  ``"none"`` returns the
    target's (batch) shape.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, 0.5, -1.0]]); t = np.array([0])
    >>> round(float(F.cross_entropy(x, t)), 6)
    0.241311
    """
    fname = "cross_entropy"
    return _core.cross_entropy(
        input,
        target,
        weight,
        ignore_index,
        _reduction_code(reduction, fname),
        label_smoothing,
        _LOSS,
        None,
    )


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class ``target`` under log-probabilities ``input``.

    ``l = -w[t] * input[t]`` per sample (0 where ``t == ignore_index``); the
    mean divides by the summed ``w[t]`` of the targets not ignored.  With
    ``input = log_softmax(x, 1)`` this is ``cross_entropy(x, t)``.  As
    ``torch.nn.functional.nll_loss``.

    Shapes: ``input`` ``[N, C]``, ``[N, C, d1, ..., dk]`` or ``[C]``;
    ``target`` ``[N]`` / ``[N, d1, ..., dk]`` / ``()``, any integer dtype.

    >>> import numpy as np, pylossfn.functional as F
    >>> logp = np.log(np.array([[0.7, 0.2, 0.1]])); t = np.array([1])
    >>> round(float(F.nll_loss(logp, t)), 6)
    1.609438
    """
    fname = "nll_loss"
    return _core.nll_loss(
        input, target, weight, ignore_index, _reduction_code(reduction, fname), _LOSS, None
    )


def sigmoid(input):
    """``1 / (1 + exp(-x))`` element-wise, without overflow.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.sigmoid(np.array([0.0, 1e4, -1e4]))
    array([0.5, 1. , 0. ])
    """
    return _core.sigmoid(input, False)


def logsigmoid(input):
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`` element-wise.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.logsigmoid(np.array([0.0, -1e4]))
    array([-6.93147181e-01, -1.00000000e+04])
    """
    return _core.sigmoid(input, True)


def _softmax_dim(input, dim, fname):
    if dim is not None:
        return dim
    # torch's legacy implicit choice, with its warning
    warnings.warn(
        f"{fname}: implicit dimension choice is deprecated; pass dim explicitly",
        UserWarning,
        stacklevel=3,
    )
    return 0 if np.ndim(input) in (0, 1, 3) else 1


def _as_dtype(input, dtype):
    return input if dtype is None else np.asarray(input, dtype=dtype)


def softmax(input, dim=None, *, dtype=None):
    """``exp(x - max) / sum(exp(x - max))`` along ``dim``.

    ``dtype`` casts the input first, as in torch.  ``dim=None`` follows
    torch's deprecated implicit choice (0 for 0-, 1- and 3-d input, else 1).

    >>> import numpy as np, pylossfn.functional as F
    >>> F.softmax(np.array([[0.0, np.log(3.0)]]), dim=1)
    array([[0.25, 0.75]])
    """
    dim = _softmax_dim(input, dim, "softmax")
    return _core.softmax(_as_dtype(input, dtype), dim, False)


def log_softmax(input, dim=None, *, dtype=None):
    """``(x - max) - log(sum(exp(x - max)))`` along ``dim``.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.log_softmax(np.array([0.0, 0.0]), dim=0)
    array([-0.69314718, -0.69314718])
    """
    dim = _softmax_dim(input, dim, "log_softmax")
    return _core.softmax(_as_dtype(input, dtype), dim, True)


# --------------------------------------------------------------------------
# Multi-label losses on logits (beyond torch.nn)
# --------------------------------------------------------------------------


def sigmoid_focal_loss(input, target, alpha=0.25, gamma=2.0, reduction="none"):
    """Focal loss on logits, as ``torchvision.ops.sigmoid_focal_loss``.

    With ``p = sigmoid(x)``, ``ce = binary_cross_entropy_with_logits(x, y)``
    per element and ``p_t = p * y + (1 - p) * (1 - y)``:
    ``l = alpha_t * ce * (1 - p_t) ** gamma``, where
    ``alpha_t = alpha * y + (1 - alpha) * (1 - y)``, or 1 when ``alpha < 0``.
    ``gamma = 0`` and ``alpha < 0`` give plain BCE-with-logits.  The cross
    entropy comes from log-sigmoid and ``1 - p_t`` is formed as
    ``p * (1 - y) + (1 - p) * y`` from two separately computed sigmoids, so
    logits of ±1e4 give finite values and gradients.

    Shapes: ``input`` (logits) any shape; ``target`` the same shape, labels
    in [0, 1] (float, or integer / bool 0/1).  The default reduction is
    ``"none"``, as in torchvision (:class:`pylossfn.SigmoidFocalLoss`
    defaults to ``"mean"``).  ``gamma`` must be >= 0.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([2.0, -1.0]); y = np.array([1.0, 0.0])
    >>> F.sigmoid_focal_loss(x, y).round(6)
    array([0.000451, 0.016994])
    """
    fname = "sigmoid_focal_loss"
    return _core.sigmoid_focal_loss(
        input, target, alpha, gamma, _reduction_code(reduction, fname), _LOSS, None
    )


def asymmetric_loss(
    input, target, *, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, eps=1e-8, reduction="sum"
):
    """Asymmetric loss (ASL, Ridnik et al., ICCV 2021) on logits.

    With ``p = sigmoid(x)`` and the shifted negative probability
    ``p_m = min(1 - p + clip, 1)`` (``1 - p`` when ``clip`` is 0 or None):
    ``l = -(y * log(max(p, eps)) + (1 - y) * log(max(p_m, eps))) * (1 - p_t) ** g``,
    ``p_t = p * y + p_m * (1 - y)``, ``g = gamma_pos * y + gamma_neg * (1 - y)``,
    as the reference ``AsymmetricLoss`` of Alibaba-MIIL/ASL, which returns the
    sum (the default here too).  The gradient is the exact derivative,
    focusing weight included (the reference's
    ``disable_torch_grad_focal_loss=False``).

    Shapes: ``input`` (logits) any shape; ``target`` the same shape, labels in
    [0, 1].  ``gamma_neg``, ``gamma_pos`` >= 0, ``clip`` in [0, 1),
    ``eps`` > 0.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, -1.0, 0.5]]); y = np.array([[1.0, 0.0, 0.0]])
    >>> round(float(F.asymmetric_loss(x, y)), 6)
    0.106951
    """
    fname = "asymmetric_loss"
    return _core.asymmetric_loss(
        input, target, gamma_neg, gamma_pos, clip, eps, _reduction_code(reduction, fname),
        _LOSS, None,
    )


def multilabel_categorical_crossentropy(input, target, *, reduction="mean"):
    """Multi-label categorical cross-entropy (Su, 2020), also called ZLPR.

    Per sample (the last axis holds the C labels):
    ``l = log(1 + sum_c (1 - y_c) exp(s_c)) + log(1 + sum_c y_c exp(-s_c))``.
    For 0/1 labels this is Su's ``log(1 + sum_neg e^s) + log(1 + sum_pos e^-s)``:
    every positive logit is pushed above 0 and every negative one below, so
    0 is the decision threshold and no per-label sigmoid is needed.  Soft
    labels in [0, 1] weight each logit into both sums.  Computed with
    log-sum-exp including the implicit 0 logit: stable for logits of ±1e4.

    Shapes: ``input`` ``[..., C]``; ``target`` the same shape.  ``"none"``
    returns ``input.shape[:-1]``; ``"mean"`` averages over samples.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, -1.0, 0.5]]); y = np.array([[1.0, 0.0, 1.0]])
    >>> F.multilabel_categorical_crossentropy(x, y, reduction="none").round(6)
    array([0.868219])
    """
    fname = "multilabel_categorical_crossentropy"
    return _core.multilabel_categorical_crossentropy(
        input, target, _reduction_code(reduction, fname), _LOSS, None
    )


def soft_f1_loss(input, target, *, eps=1e-16, reduction="mean"):
    """Macro soft-F1 cost from logits, over the batch.

    With ``p = sigmoid(x)`` and soft counts over the N samples of each class
    ``TP = sum p y``, ``FP = sum p (1 - y)``, ``FN = sum (1 - p) y``:
    ``cost_c = 1 - 2 TP / (2 TP + FP + FN + eps)``.  A differentiable
    surrogate of 1 - F1; it couples the samples of a batch.

    Shapes: ``input`` ``[N, C]`` (or ``[N]``, one class); ``target`` the same
    shape.  ``"none"`` returns the ``[C]`` per-class costs (``()`` for a 1-d
    input), ``"mean"`` averages them (macro), ``"sum"`` adds them.
    ``eps`` > 0.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[3.0, -3.0], [-3.0, 3.0]]); y = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> F.soft_f1_loss(x, y, reduction="none").round(6)
    array([0.047426, 0.047426])
    """
    fname = "soft_f1_loss"
    return _core.soft_f1_loss(input, target, eps, _reduction_code(reduction, fname), _LOSS, None)
