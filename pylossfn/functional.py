"""torch.nn.functional's losses and activations for NumPy arrays.

Every function takes NumPy arrays (float32 or float64, any strides) or
array-likes, computes in the input's dtype in the C core, and returns what
torch returns: a NumPy scalar of the input's dtype for ``reduction="mean"`` /
``"sum"``, an ndarray of torch's shape for ``"none"``.  Arguments are
positional exactly as far as torch's positional order means the same thing
here: from torch's deprecated ``size_average`` / ``reduce`` on (after
``weight`` in the weighted losses) they are keyword-only.

For gradients use the module classes (``pylossfn.BCEWithLogitsLoss`` ...):
``crit.backward()`` or the fused ``crit.forward_backward()``.

>>> import numpy as np, pylossfn.functional as F
>>> x = np.array([[2.0, 0.0], [0.0, 2.0]], dtype=np.float32)
>>> loss = F.cross_entropy(x, np.array([0, 1]))
>>> loss.dtype, round(float(loss), 6)
(dtype('float32'), 0.126928)
>>> F.cross_entropy(x, np.array([0, 1]), reduction="none").shape
(2,)
"""
from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple

import numpy as np

from . import _core, _dask
from ._functional_multilabel import *  # noqa: F401,F403 (its losses are this module's)
from ._rows import ADAPTED as _ADAPTED
from ._rows import HEADS as _HEADS
from ._rows import ROWS as _ROWS
from ._rows import from_row as _from_row

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import DTypeLike

    from ._typing import ArrayLike, FloatArray, KLReduction, LossValue, Reduction

    #: the (shape, dtype) of each operand before broadcasting, or None (see _operands)
    _Shapes = Optional[Sequence[Tuple[Tuple[int, ...], np.dtype[Any]]]]

#: the activations, the distances and the fused heads, then the losses
__all__ = [
    "sigmoid",
    "logsigmoid",
    "softmax",
    "log_softmax",
    "pairwise_distance",
    "cosine_similarity",
    "cosine_distance",
    *_HEADS,  # the fused classifier heads: the "head" of a row of the core's table
    "sparsemax",  # noqa: F405 (_simplex's, star-imported below)
    *_ROWS,  # every loss of the core's table
]

# A loss function below is torch's signature and a docstring, nothing more: its
# body is made from its row of the core's table by _from_row (pylossfn._rows).


@_from_row
def binary_cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, *,
    reduction: Reduction = "mean", label_smoothing: float = 0.0,
) -> LossValue:
    """Binary cross-entropy between probabilities ``input`` and ``target``.

    ``l = -w * (y * max(log x, -100) + (1 - y) * max(log(1 - x), -100))``,
    as ``torch.nn.functional.binary_cross_entropy`` (the log is clamped at
    -100 so that x = 0 or 1 gives a finite loss).

    Shapes: ``input`` any shape with values in [0, 1]; ``target`` the same
    shape, in [0, 1] (float, or integer / bool labels); ``weight`` broadcasts
    to ``input``.  Returns a scalar of the input's dtype (``"mean"``,
    ``"sum"``) or an array of the input's shape (``"none"``).  Raises
    ValueError for an input or target outside [0, 1] (nan included).

    ``label_smoothing`` ``e`` in [0, 1] replaces the target ``y`` by
    ``y * (1 - e) + e / 2`` (as Keras' ``binary_crossentropy``; torch has no
    such option).

    >>> import numpy as np, pylossfn.functional as F
    >>> p = np.array([0.9, 0.2], dtype=np.float32)
    >>> float(F.binary_cross_entropy(p, np.array([1.0, 0.0], dtype=np.float32)))  # doctest: +ELLIPSIS
    0.164252...
    """


@_from_row
def binary_cross_entropy_with_logits(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, *,
    reduction: Reduction = "mean", pos_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
) -> LossValue:
    """Sigmoid + binary cross-entropy in one numerically stable step.

    ``l = w * ((1 - y) * x + (1 + (pw - 1) * y) * softplus(-x))``, which is
    ``-w * (pw * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x)))``
    without overflow for any logit (±1e4 included), as
    ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Shapes: ``input`` (logits) any shape; ``target`` the same shape;
    ``weight`` and ``pos_weight`` broadcast to ``input`` (``pos_weight`` is
    typically ``[C]``, one per label).  This is the multi-label loss: one
    independent sigmoid per label.  ``label_smoothing`` ``e`` in [0, 1]
    replaces the target ``y`` by ``y * (1 - e) + e / 2`` (Keras' option).

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, -1.0]]); y = np.array([[1.0, 0.0]])
    >>> round(float(F.binary_cross_entropy_with_logits(x, y)), 6)
    0.220095
    """



@_from_row
def poly_binary_cross_entropy_with_logits(
    input: ArrayLike, target: ArrayLike, epsilon: float = 1.0,
    weight: ArrayLike | None = None, reduction: Reduction = "mean",
    pos_weight: ArrayLike | None = None,
) -> LossValue:
    """Poly-1 binary cross-entropy on logits (Leng et al., ICLR 2022).

    Per element, the ``binary_cross_entropy_with_logits`` term plus
    ``epsilon * w * (1 - p_t)``, with ``p_t = y * sigmoid(x) + (1 - y) *
    (1 - sigmoid(x))`` the probability given to the target:
    ``l = w * ((1 - y) * x + (1 + (pw - 1) * y) * softplus(-x) + epsilon * (1 - p_t))``.
    ``1 - p_t`` is formed as ``sigmoid(x) * (1 - y) + sigmoid(-x) * y``, with
    no cancellation; ``epsilon = 0`` is BCE with logits, ``epsilon < 0``
    (down to -1) flattens the loss near ``p_t = 1``.

    Shapes: ``input`` (logits) any shape; ``target`` the same shape (labels
    in [0, 1]); ``weight`` and ``pos_weight`` broadcast to ``input``
    (``pos_weight`` weighs the positive log term only, as in torch).
    ``epsilon`` must be finite.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, -1.0]]); y = np.array([[1.0, 0.0]])
    >>> round(float(F.poly_binary_cross_entropy_with_logits(x, y)), 6)
    0.414167
    """


@_from_row
def cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, *,
    ignore_index: int = -100, reduction: Reduction = "mean", label_smoothing: float = 0.0,
) -> LossValue:
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


@_from_row
def nll_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, *,
    ignore_index: int = -100, reduction: Reduction = "mean",
) -> LossValue:
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


def sigmoid(input: ArrayLike) -> FloatArray:
    """``1 / (1 + exp(-x))`` element-wise, without overflow.

    Shapes: any; the result has the input's shape and (floating) dtype.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.sigmoid(np.array([0.0, 1e4, -1e4]))
    array([0.5, 1. , 0. ])
    """
    return _core.sigmoid(input)


def logsigmoid(input: ArrayLike) -> FloatArray:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`` element-wise.

    Shapes: any; the result has the input's shape and (floating) dtype.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.logsigmoid(np.array([0.0, -1e4]))
    array([-6.93147181e-01, -1.00000000e+04])
    """
    return _core.logsigmoid(input)


def _softmax_dim(input: ArrayLike, dim: int | None, fname: str) -> int:
    if dim is not None:
        return dim
    # torch's legacy implicit choice, with its warning
    warnings.warn(
        f"{fname}: implicit dimension choice is deprecated; pass dim explicitly",
        UserWarning,
        stacklevel=3,
    )
    return 0 if np.ndim(input) in (0, 1, 3) else 1


def _as_dtype(input: ArrayLike, dtype: DTypeLike | None) -> ArrayLike:
    return input if dtype is None else np.asarray(input, dtype=dtype)


def softmax(
    input: ArrayLike, dim: int | None = None, *, dtype: DTypeLike | None = None,
) -> FloatArray:
    """``exp(x - max) / sum(exp(x - max))`` along ``dim``.

    ``dtype`` casts the input first, as in torch.  ``dim=None`` follows
    torch's deprecated implicit choice (0 for 0-, 1- and 3-d input, else 1)
    and warns.  Shapes: any; the result has the input's shape.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.softmax(np.array([[0.0, np.log(3.0)]]), dim=1)
    array([[0.25, 0.75]])
    """
    dim = _softmax_dim(input, dim, "softmax")
    return _core.softmax(_as_dtype(input, dtype), dim)


def log_softmax(
    input: ArrayLike, dim: int | None = None, *, dtype: DTypeLike | None = None,
) -> FloatArray:
    """``(x - max) - log(sum(exp(x - max)))`` along ``dim``.

    ``dim`` and ``dtype`` as in :func:`softmax`.  Shapes: any; the result has
    the input's shape.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.log_softmax(np.array([0.0, 0.0]), dim=0)
    array([-0.69314718, -0.69314718])
    """
    dim = _softmax_dim(input, dim, "log_softmax")
    return _core.log_softmax(_as_dtype(input, dtype), dim)


# The multi-label and overlap losses on logits (focal, ASL, ZLPR, soft-F1, Dice)
# are written in pylossfn._functional_multilabel and re-exported above.


# --------------------------------------------------------------------------
# Embedding losses and distances: rows of D features, compared pairwise
# --------------------------------------------------------------------------


def pairwise_distance(
    x1: ArrayLike, x2: ArrayLike, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False,
) -> FloatArray:
    """``||x1 - x2 + eps||_p`` over the last axis, as ``torch.nn.functional.pairwise_distance``.

    ``eps`` is added to the difference (not to the norm), as torch does.
    ``p >= 0``: ``p = 0`` counts the non-zero differences, ``p = inf`` takes
    the largest.  ``x1`` and ``x2`` broadcast; the result has their shape
    without the last axis (kept as 1 with ``keepdim``).  Also a
    ``distance_function`` for :func:`triplet_margin_with_distance_loss`.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.pairwise_distance(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([3.0, 4.0]), eps=0.0)
    array([5.        , 3.60555128])
    """
    return _core.pairwise_distance(x1, x2, p, eps, keepdim)


def cosine_similarity(x1: ArrayLike, x2: ArrayLike, dim: int = 1, eps: float = 1e-8) -> FloatArray:
    """``sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps))`` along ``dim``.

    As ``torch.nn.functional.cosine_similarity`` (torch >= 2.0, each norm
    clamped separately).  ``x1`` and ``x2`` broadcast; the result drops ``dim``.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.cosine_similarity(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [-1.0, -1.0]]))
    array([ 1., -1.])
    """
    return _core.cosine_similarity(x1, x2, dim, eps)


def cosine_distance(x1: ArrayLike, x2: ArrayLike, eps: float = 1e-8) -> FloatArray:
    """``1 - cosine_similarity(x1, x2, dim=-1, eps)``: a distance for triplet losses.

    Not in torch; torch's documentation writes it as the lambda
    ``lambda x, y: 1.0 - F.cosine_similarity(x, y)``.  Pass this function
    (or a ``functools.partial`` of it with ``eps``) as the ``distance_function``
    of :func:`triplet_margin_with_distance_loss` to get gradients from C.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.cosine_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]]))
    array([1.])
    """
    return 1 - cosine_similarity(x1, x2, dim=-1, eps=eps)


@_from_row
def cosine_embedding_loss(
    input1: ArrayLike, input2: ArrayLike, target: ArrayLike, margin: float = 0.0, *,
    reduction: Reduction = "mean",
) -> LossValue:
    """Cosine embedding loss: pull pairs with ``y = 1`` together, push ``y = -1`` apart.

    With ``cos = x1 . x2 / sqrt((|x1|^2 + e) (|x2|^2 + e))`` per row
    (``e = float32(1e-12)`` in both dtypes, torch's constant):
    ``l = 1 - cos`` where ``y = 1``, ``max(0, cos - margin)`` where
    ``y = -1``, and 0 for any other target value, as
    ``torch.nn.functional.cosine_embedding_loss``.

    Shapes: ``input1``, ``input2`` ``[N, D]`` (or ``[D]`` with a 0-d target),
    broadcasting; ``target`` ``[N]`` of 1 / -1 (any real or integer dtype).
    ``"none"`` returns ``[N]``.  Gradients (``lf.CosineEmbeddingLoss``) are
    ``(d_input1, d_input2)``.

    >>> import numpy as np, pylossfn.functional as F
    >>> x1 = np.array([[1.0, 0.0], [1.0, 0.0]]); x2 = np.array([[1.0, 1.0], [1.0, 1.0]])
    >>> F.cosine_embedding_loss(x1, x2, np.array([1, -1]), reduction="none").round(6)
    array([0.292893, 0.707107])
    """


@_from_row
def triplet_margin_loss(
    anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike, margin: float = 1.0,
    p: float = 2.0, eps: float = 1e-6, swap: bool = False, *, reduction: Reduction = "mean",
) -> LossValue:
    """Triplet margin loss: the anchor nearer the positive than the negative by ``margin``.

    ``l = max(0, margin + d(a, p) - d(a, n))`` with
    ``d = pairwise_distance(., ., p, eps)`` over the last axis; with ``swap``
    (Balntas et al., 2016) ``d(a, n)`` becomes ``min(d(a, n), d(p, n))``.  As
    ``torch.nn.functional.triplet_margin_loss``; ``margin`` > 0, ``p`` >= 0.

    Shapes: ``[N, D]`` (or ``[D]``, or ``[..., D]``) for each of the three,
    broadcasting with the same number of dimensions.  ``"none"`` returns the
    shape without the last axis.  Gradients (``lf.TripletMarginLoss``) are
    ``(d_anchor, d_positive, d_negative)``.

    >>> import numpy as np, pylossfn.functional as F
    >>> a = np.zeros((1, 2)); pos = np.array([[0.0, 1.0]]); neg = np.array([[1.0, 0.0]])
    >>> round(float(F.triplet_margin_loss(a, pos, neg, eps=0.0)), 6)
    1.0
    """


_DISTANCE_OPTIONS = {"pairwise_distance": {"p", "eps"}, "cosine_distance": {"eps"}}


def _distance_args(
    distance_function: Callable[..., Any] | None, fname: str
) -> dict[str, Any]:
    """The core's ``distance`` (its kind), ``p`` and ``eps`` for a
    ``distance_function`` it knows (the adapter of ``_ADAPTED``)."""
    func: Any = distance_function
    kw: dict[str, Any] = {}
    if isinstance(func, functools.partial) and not func.args:
        func, kw = func.func, dict(func.keywords)
    if func is None or func is pairwise_distance:
        if set(kw) <= _DISTANCE_OPTIONS["pairwise_distance"]:
            return {"distance": 0, "p": kw.get("p", 2.0), "eps": kw.get("eps", 1e-6)}
    elif func is cosine_distance:
        if set(kw) <= _DISTANCE_OPTIONS["cosine_distance"]:
            return {"distance": 1, "p": 2.0, "eps": kw.get("eps", 1e-8)}
    raise TypeError(
        f"{fname}: distance_function must be None, pylossfn.functional.pairwise_distance or "
        "pylossfn.functional.cosine_distance (or a functools.partial of one of them with "
        "keyword options): an arbitrary callable cannot be differentiated without autograd, "
        f"got {distance_function!r}"
    )


# the triplet-with-distance faces take a distance function where the core takes
# p, eps and a distance code
_ADAPTED["distance_function"] = (("p", "eps", "distance"), _distance_args)


@_from_row
def triplet_margin_with_distance_loss(
    anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike, *,
    distance_function: Callable[..., Any] | None = None, margin: float = 1.0, swap: bool = False,
    reduction: Reduction = "mean",
) -> LossValue:
    """Triplet margin loss with a chosen distance, as torch's function of that name.

    ``l = max(0, margin + d(a, p) - d(a, n))`` (``min(d(a, n), d(p, n))`` for
    the negative distance with ``swap``), where ``d`` is
    ``distance_function``: None (``pairwise_distance`` with p = 2,
    eps = 1e-6, torch's default), :func:`pairwise_distance`,
    :func:`cosine_distance`, or a ``functools.partial`` of either with
    keyword options.  Other callables raise TypeError: the C core
    differentiates only the distances it implements.  ``margin`` > 0.

    Shapes: as :func:`triplet_margin_loss` (``[N, D]`` or ``[D]`` each,
    broadcasting with the same number of dimensions).  ``"none"`` returns the
    shape without the last axis.

    >>> import numpy as np, pylossfn.functional as F
    >>> a = np.array([[1.0, 0.0]]); pos = np.array([[1.0, 0.1]]); neg = np.array([[0.0, 1.0]])
    >>> loss = F.triplet_margin_with_distance_loss(a, pos, neg, distance_function=F.cosine_distance)
    >>> round(float(loss), 6)
    0.004963
    """


# --------------------------------------------------------------------------
# Multi-class hinge losses
# --------------------------------------------------------------------------


@_from_row
def multi_margin_loss(
    input: ArrayLike, target: ArrayLike, p: int = 1, margin: float = 1.0,
    weight: ArrayLike | None = None, *, reduction: Reduction = "mean",
) -> LossValue:
    """Multi-class hinge loss, as ``torch.nn.functional.multi_margin_loss``.

    Per sample with target class ``t``:
    ``l = sum_{c != t} w[t] * max(0, margin - x[t] + x[c]) ** p / C``,
    ``p`` 1 or 2.

    Shapes: ``input`` ``[N, C]`` or ``[C]``; ``target`` ``[N]`` (or ``()``)
    class indices of any integer dtype; ``weight`` ``[C]``.  ``"none"``
    returns the target's shape.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8]]); y = np.array([3])
    >>> round(float(F.multi_margin_loss(x, y)), 6)
    0.325
    """


@_from_row
def multilabel_margin_loss(
    input: ArrayLike, target: ArrayLike, *, reduction: Reduction = "mean",
) -> LossValue:
    """Multi-label hinge loss, as ``torch.nn.functional.multilabel_margin_loss``.

    ``target`` lists a sample's classes by index, ended by the first -1 (the
    rest is padding); ``J`` are those classes.  Per sample:
    ``l = sum_{j in J} sum_{c not in J} max(0, 1 - x[j] + x[c]) / C``.

    Shapes: ``input`` ``[N, C]`` or ``[C]``; ``target`` the same shape,
    integers in ``[-1, C)``.  ``"none"`` returns ``[N]`` (``()`` for 1-d).

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8]]); y = np.array([[3, 0, -1, 1]])
    >>> round(float(F.multilabel_margin_loss(x, y)), 6)
    0.85
    """


# --------------------------------------------------------------------------
# Connectionist temporal classification
# --------------------------------------------------------------------------


@_from_row
def ctc_loss(
    log_probs: ArrayLike, targets: ArrayLike, input_lengths: ArrayLike, target_lengths: ArrayLike,
    blank: int = 0, reduction: Reduction = "mean", zero_infinity: bool = False,
) -> LossValue:
    """Connectionist temporal classification loss, as ``torch.nn.functional.ctc_loss``.

    ``l = -log(sum over the alignments a of the target of prod_t p_t(a_t))``,
    by the alpha recursion in log space; ``blank`` (default 0) is the class
    index of the blank.  ``"mean"`` divides each loss by its target length
    (at least 1) and averages over the batch, as torch does;
    ``zero_infinity`` turns infinite losses (no valid alignment) into 0.

    Shapes: ``log_probs`` ``[T, N, C]`` (or ``[T, C]`` unbatched) of
    log-probabilities (typically ``log_softmax(x, 2)``); ``targets`` padded
    ``[N, S]`` or concatenated ``[sum(target_lengths)]`` class indices (any
    integer dtype); ``input_lengths`` and ``target_lengths`` ``N`` integers
    each.  ``"none"`` returns ``[N]`` (``()`` unbatched).

    >>> import numpy as np, pylossfn.functional as F
    >>> lp = np.log(np.full((2, 1, 2), 0.5))        # T = 2, N = 1, C = 2
    >>> round(float(F.ctc_loss(lp, np.array([[1]]), [2], [1], reduction="sum")), 6)
    0.287682
    """


# --------------------------------------------------------------------------
# Regression and element-wise losses
# --------------------------------------------------------------------------
#
# ``input`` and ``target`` broadcast together as in torch; the loss (for
# ``reduction="none"``) has the broadcast shape, and the mean divides by its
# size.  L1, MSE, smooth L1 and Huber warn, as torch does, when the target's
# shape differs from the input's.

@_from_row
def l1_loss(
    input: ArrayLike, target: ArrayLike, *, reduction: Reduction = "mean",
    weight: ArrayLike | None = None,
) -> LossValue:
    """Mean absolute error, as ``torch.nn.functional.l1_loss``.

    ``l = |x - y|`` (times ``weight``).  With ``weight`` (the input's shape),
    ``"mean"`` is ``sum(w * l) / sum(w)``, as in torch.

    Shapes: ``input`` any shape; ``target`` broadcasting with it (a UserWarning
    when the shapes differ, as torch's); ``"none"`` returns the broadcast shape.

    >>> import numpy as np, pylossfn.functional as F
    >>> float(F.l1_loss(np.array([1.0, 2.0]), np.array([0.0, 4.0])))
    1.5
    """


@_from_row
def mse_loss(
    input: ArrayLike, target: ArrayLike, *, reduction: Reduction = "mean",
    weight: ArrayLike | None = None,
) -> LossValue:
    """Mean squared error, as ``torch.nn.functional.mse_loss``.

    ``l = (x - y) ** 2`` (times ``weight``).  With ``weight`` (the input's
    shape), ``"mean"`` is ``sum(w * l) / sum(w)``, as in torch.  Shapes as
    :func:`l1_loss`.

    >>> import numpy as np, pylossfn.functional as F
    >>> float(F.mse_loss(np.array([1.0, 2.0]), np.array([0.0, 4.0])))
    2.5
    """


@_from_row
def log_cosh_loss(
    input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean",
) -> LossValue:
    """Log-cosh loss: ``l = log(cosh(x - y))``, as Keras' and optax's ``log_cosh``.

    Quadratic (``d ** 2 / 2``) for small ``d = x - y`` and linear
    (``|d| - log 2``) for large: a smooth Huber loss with a gradient,
    ``tanh(d)``, bounded by 1 and a Hessian, ``1 - tanh(d) ** 2``, that is
    never zero.  Computed as ``|d| + log1p(exp(-2 |d|)) - log 2``, so it stays
    finite where ``cosh`` overflows.  Shapes as :func:`mse_loss` (the
    operands broadcast; no warning, as torch has no such loss).

    >>> import numpy as np, pylossfn.functional as F
    >>> x, y = np.array([0.5, -1.0, 2.0]), np.zeros(3)
    >>> bool(np.isclose(F.log_cosh_loss(x, y), np.log(np.cosh(x - y)).mean()))
    True
    >>> round(float(F.log_cosh_loss(np.array([1000.0]), np.array([0.0]))), 4)  # 1000 - log 2
    999.3069
    """


@_from_row
def smooth_l1_loss(
    input: ArrayLike, target: ArrayLike, *, reduction: Reduction = "mean", beta: float = 1.0,
) -> LossValue:
    """Smooth L1 loss, as ``torch.nn.functional.smooth_l1_loss``.

    With ``z = |x - y|``: ``l = 0.5 * z ** 2 / beta`` if ``z < beta``, else
    ``z - 0.5 * beta``.  ``beta`` >= 0; ``beta = 0`` is :func:`l1_loss`, as in
    torch.  Shapes as :func:`l1_loss`.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.smooth_l1_loss(np.array([0.5, 3.0]), np.zeros(2), reduction="none")
    array([0.125, 2.5  ])
    """


@_from_row
def huber_loss(
    input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean", delta: float = 1.0,
    weight: ArrayLike | None = None,
) -> LossValue:
    """Huber loss, as ``torch.nn.functional.huber_loss``.

    With ``z = |x - y|``: ``l = 0.5 * z ** 2`` if ``z < delta``, else
    ``delta * (z - 0.5 * delta)`` (times ``weight``, of the input's shape;
    the mean stays over the elements).  ``delta`` > 0; ``delta = 1`` equals
    :func:`smooth_l1_loss` with ``beta = 1``.  Shapes as :func:`l1_loss`.
    torch's positional order (``reduction, delta, weight``) is kept.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.huber_loss(np.array([0.5, 3.0]), np.zeros(2), reduction="none", delta=2.0)
    array([0.125, 4.   ])
    """


@_from_row
def soft_margin_loss(
    input: ArrayLike, target: ArrayLike, *, reduction: Reduction = "mean",
) -> LossValue:
    """Two-class logistic loss, as ``torch.nn.functional.soft_margin_loss``.

    ``l = log(1 + exp(-y * x))`` for targets ``y`` in {-1, 1}, computed as a
    stable softplus (finite where torch's ``log1p(exp(.))`` overflows).

    Shapes: ``input`` any shape; ``target`` broadcasting to the input's
    shape (torch does not broadcast the input here).

    >>> import numpy as np, pylossfn.functional as F
    >>> round(float(F.soft_margin_loss(np.array([2.0, -1.0]), np.array([1.0, 1.0]))), 6)
    0.720095
    """


@_from_row
def kl_div(
    input: ArrayLike, target: ArrayLike, *, reduction: KLReduction = "mean",
    log_target: bool = False,
) -> LossValue:
    """Kullback-Leibler divergence, as ``torch.nn.functional.kl_div``.

    ``input`` holds log-probabilities.  ``l = y * (log y - x)`` (``0`` where
    ``y = 0``), or ``exp(y) * (y - x)`` with ``log_target=True``.
    ``reduction``: ``"batchmean"`` divides the sum by ``input.shape[0]`` (the
    true KL divergence per sample); ``"mean"`` divides by the number of
    elements and, as in torch, warns (UserWarning) that it is not the KL
    divergence.

    Shapes: ``input`` any shape; ``target`` broadcasting with it.

    >>> import numpy as np, pylossfn.functional as F
    >>> p = np.array([[0.25, 0.75]]); q = np.array([[0.5, 0.5]])
    >>> round(float(F.kl_div(np.log(q), p, reduction="batchmean")), 6)
    0.130812
    """


@_from_row
def poisson_nll_loss(
    input: ArrayLike, target: ArrayLike, log_input: bool = True, full: bool = False, *,
    eps: float = 1e-8, reduction: Reduction = "mean",
) -> LossValue:
    """Poisson negative log-likelihood, as ``torch.nn.functional.poisson_nll_loss``.

    ``l = exp(x) - y * x`` (``log_input=True``: ``input`` is the log-rate), or
    ``x - y * log(x + eps)``.  ``full=True`` adds Stirling's term
    ``y * log(y) - y + 0.5 * log(2 * pi * y)`` where ``y > 1``.

    Shapes: ``input`` any shape; ``target`` broadcasting with it.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.poisson_nll_loss(np.array([0.0, 1.0]), np.array([1.0, 2.0]), reduction="none")
    array([1.        , 0.71828183])
    """


@_from_row
def gaussian_nll_loss(
    input: ArrayLike, target: ArrayLike, var: ArrayLike, full: bool = False, eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> LossValue:
    """Gaussian negative log-likelihood, as ``torch.nn.functional.gaussian_nll_loss``.

    ``l = 0.5 * (log(v) + (x - y) ** 2 / v)`` with ``v = max(var, eps)``
    (plus ``0.5 * log(2 * pi)`` with ``full=True``).  The clamp is outside
    the gradient, as in torch: the gradient of ``var`` is taken at ``v``.

    Shapes: ``var`` has the input's shape, or the input's shape without its
    last dim, or the input's number of dims with exactly one dim of size 1
    where they differ (homoscedastic), or is a number.  ``target`` broadcasts
    with the input.  Raises ValueError for a negative ``var``.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.gaussian_nll_loss(np.array([1.0, 2.0]), np.array([0.0, 2.0]), np.array([1.0, 4.0]),
    ...                     reduction="none")
    array([0.5       , 0.69314718])
    """


@_from_row
def hinge_embedding_loss(
    input: ArrayLike, target: ArrayLike, margin: float = 1.0, *, reduction: Reduction = "mean",
) -> LossValue:
    """Hinge embedding loss, as ``torch.nn.functional.hinge_embedding_loss``.

    For targets in {1, -1}: ``l = x`` where ``y = 1`` and
    ``max(0, margin - x)`` where ``y = -1``.  (Other target values add both
    terms, as in torch.)  ``input`` is typically a distance.

    Shapes: ``input`` any shape; ``target`` broadcasting with it.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.hinge_embedding_loss(np.array([0.3, 0.3]), np.array([1.0, -1.0]), reduction="none")
    array([0.3, 0.7])
    """


@_from_row
def margin_ranking_loss(
    input1: ArrayLike, input2: ArrayLike, target: ArrayLike, margin: float = 0.0, *,
    reduction: Reduction = "mean",
) -> LossValue:
    """Margin ranking loss, as ``torch.nn.functional.margin_ranking_loss``.

    ``l = max(0, -y * (x1 - x2) + margin)``: ``y = 1`` asks for
    ``x1 > x2 + margin``, ``y = -1`` for the opposite.

    Shapes: ``input1``, ``input2`` and ``target`` have the same number of
    dims and broadcast together.  The gradient (from
    :class:`pylossfn.MarginRankingLoss`) is ``(d_input1, d_input2)``.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.margin_ranking_loss(np.array([1.0, 1.0]), np.array([0.0, 2.0]), np.array([1.0, 1.0]),
    ...                       reduction="none")
    array([0., 1.])
    """


@_from_row
def multilabel_soft_margin_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, *,
    reduction: Reduction = "mean",
) -> LossValue:
    """Multi-label one-versus-all logistic loss, as
    ``torch.nn.functional.multilabel_soft_margin_loss``.

    Per sample, over its C labels (the last axis):
    ``l = -sum_c w_c * (y_c * logsigmoid(x_c) + (1 - y_c) * logsigmoid(-x_c)) / C``:
    the mean over labels of BCE-with-logits.

    Shapes: ``input`` ``[N, C]`` (or ``[..., C]``, or ``[C]``); ``target``
    broadcasting with it; ``weight`` (typically ``[C]``) broadcasting to
    their shape.  ``"none"`` returns one loss per sample, ``shape[:-1]``.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, -1.0]]); y = np.array([[1.0, 0.0]])
    >>> F.multilabel_soft_margin_loss(x, y, reduction="none").round(6)
    array([0.220095])
    """


# the fused heads' functions and the losses on the simplex beyond torch.nn live in
# their own modules (this one's size); they are this module's functions all the same
from ._fused import *  # noqa: E402,F401,F403 (the heads, _fused.__all__, as above)
from ._simplex import *  # noqa: E402,F401,F403 (its losses are this module's, as above)

# every loss of the table accepts dask arrays, as its row says (pylossfn._dask); the
# activations, distances and fused heads are not rows of it
for _name in _dask.RULES:
    globals()[_name] = _dask.lazy_aware(globals()[_name])
del _name
