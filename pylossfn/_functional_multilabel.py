"""The multi-label and overlap losses on logits, beyond torch.nn: focal, ASL,
ZLPR, soft-F1, Dice / Tversky and the generalized Dice.

Part of :mod:`pylossfn.functional`, which re-exports every name here; like
the rest of it, each loss is torch's (or its reference's) signature and a
docstring, its body made from its row of the core's table (``_from_row``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._rows import ADAPTED as _ADAPTED
from ._rows import ROWS as _ROWS
from ._rows import from_row as _from_row

if TYPE_CHECKING:
    from ._typing import ArrayLike, LossValue, Reduction


@_from_row
def sigmoid_focal_loss(
    input: ArrayLike, target: ArrayLike, alpha: float = 0.25, gamma: float = 2.0,
    reduction: Reduction = "none",
) -> LossValue:
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


@_from_row
def asymmetric_loss(
    input: ArrayLike, target: ArrayLike, *, gamma_neg: float = 4.0, gamma_pos: float = 1.0,
    clip: float | None = 0.05, eps: float = 1e-8, reduction: Reduction = "sum",
) -> LossValue:
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


@_from_row
def multilabel_categorical_crossentropy(
    input: ArrayLike, target: ArrayLike, *, reduction: Reduction = "mean",
) -> LossValue:
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


@_from_row
def soft_f1_loss(
    input: ArrayLike, target: ArrayLike, *, eps: float = 1e-16, reduction: Reduction = "mean",
) -> LossValue:
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


#: Dice's modes and the core's codes for them (the row's ``mode_code``)
_DICE_MODES = {"multilabel": 0, "multiclass": 1, "binary": 2}


def _mode_args(mode: Any, fname: str) -> dict[str, Any]:
    """The core's ``mode_code`` for a mode string; ValueError naming ``mode`` else."""
    try:
        return {"mode_code": _DICE_MODES[mode]}
    except (KeyError, TypeError):
        raise ValueError(f"{fname}: mode must be one of 'multilabel', 'multiclass' or "
                         f"'binary', got {mode!r}") from None


_ADAPTED["mode"] = (("mode_code",), _mode_args)


@_from_row
def dice_loss(
    input: ArrayLike, target: ArrayLike, mode: str = "multilabel", smooth: float = 1.0,
    alpha: float = 0.5, beta: float = 0.5, weight: ArrayLike | None = None,
    per_sample: bool = False, reduction: Reduction = "mean",
) -> LossValue:
    """Dice loss (Milletari et al., 2016) and its Tversky generalization, from logits.

    Per class c, with ``p`` the probabilities and ``t`` the target, sums
    ``I = sum p t``, ``P = sum p``, ``T = sum t`` over the batch and spatial
    axes (or over the spatial axes alone with ``per_sample``, one term per
    sample and class, optax's convention):
    ``d_c = 1 - (I + smooth) / (I + alpha (P - I) + beta (T - I) + smooth)``,
    times ``weight[c]`` if given.  ``alpha = beta = 0.5`` is Dice; other values
    are the Tversky loss (alpha weighs false positives, beta false negatives).

    ``mode``: ``"multilabel"`` (``p = sigmoid(input)``, target of the input's
    shape in [0, 1]), ``"multiclass"`` (``p = softmax(input, 1)``, target class
    indices ``[N, *]`` or probabilities of the input's shape) or ``"binary"``
    (input ``[N, *]``, ``p = sigmoid(input)``, one class).  Shapes: input
    ``[N, C, *]``.  ``"none"`` returns the terms, ``[C]`` (``[N, C]`` with
    ``per_sample``; C = 1 for ``"binary"``); ``"mean"`` / ``"sum"`` reduce them.
    ``smooth``, ``alpha``, ``beta`` finite and >= 0.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[3.0, -3.0], [-3.0, 3.0]]); y = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> F.dice_loss(x, y, reduction="none").round(6)
    array([0.023713, 0.023713])
    """


@_from_row
def generalized_dice_loss(
    input: ArrayLike, target: ArrayLike, smooth: float = 1.0, per_sample: bool = False,
    reduction: Reduction = "mean",
) -> LossValue:
    """Generalized Dice loss (Sudre et al., 2017), as optax's
    ``multiclass_generalized_dice_loss``.

    Multiclass Dice (``p = softmax(input, 1)``, ``alpha = beta = 0.5``) with
    the class weights ``w_c = 1 / (T_c^2 + 1e-7)``, ``T_c`` the target's sum
    of class c over the whole batch, normalized to sum to C: rare classes
    count as much as common ones.  The weights depend on the target alone, so
    they are constants of the gradient.

    Shapes: input ``[N, C, *]``; target class indices ``[N, *]`` or
    probabilities of the input's shape.  ``"none"`` returns the weighted
    terms, ``[C]`` (``[N, C]`` with ``per_sample``, optax's convention).

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, -1.0], [0.5, 0.0]]); t = np.array([0, 1])
    >>> round(float(F.generalized_dice_loss(x, t)), 6)
    0.171005
    """


#: the losses written here (names from the table: nothing here lists a loss)
__all__ = [name for name in _ROWS if name in globals()]
