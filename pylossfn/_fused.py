"""The fused classifier heads' loss functions: a linear layer and its loss in one pass.

Part of :mod:`pylossfn.functional`, which re-exports every name here (kept
apart for that module's size).  Each is the ``head`` of a row of the core's
table (``_core.LOSSES``: cross-entropy's and BCE with logits'), the loss it
computes of a linear layer's logits: the heads run their tiles through
pylossfn._heads, so the logits never exist whole, over that row's rules (the
mean's divisor is the core's), and dask arrays through pylossfn._dask_heads
(row blocks of the same tiles).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import _core, _dask_heads, _heads
from ._rows import reduction_code as _reduction_code

if TYPE_CHECKING:
    from ._typing import ArrayLike, LossValue, Reduction

__all__ = ["linear_cross_entropy", "linear_binary_cross_entropy_with_logits"]

_LOSS = _core.WANT_LOSS


@_dask_heads.lazy_aware(_heads.lce)
def linear_cross_entropy(
    input: ArrayLike, linear_weight: ArrayLike, target: ArrayLike, *,
    linear_bias: ArrayLike | None = None, weight: ArrayLike | None = None,
    reduction: Reduction = "mean", ignore_index: int | None = None,
    label_smoothing: float = 0.0, chunk_size: int | tuple[int, int] | None = None,
) -> LossValue:
    """``cross_entropy(input @ linear_weight.T + linear_bias, target, ...)`` without the logits.

    As ``torch.nn.functional.linear_cross_entropy`` (torch 2.13): the value
    of the reference path, computed in chunks so that the ``N x C`` logit
    matrix never exists (peak extra memory about two chunks; see
    :doc:`/large_label_spaces`).  ``ignore_index`` None means -100 (and must
    be None with probability targets); ``weight``, ``label_smoothing`` and
    the reductions are those of :func:`cross_entropy`.  ``chunk_size`` (torch's
    ``options``) is the most logits one chunk holds, or a pair
    ``(rows, classes)``; None picks it from the cache size.

    Shapes: ``input`` ``[N, D]`` or ``[D]``; ``linear_weight`` ``[C, D]``
    (K-dimensional heads raise ValueError); ``linear_bias`` and ``weight``
    ``[C]``; ``target`` ``[N]`` / ``()`` integer classes or ``[N, C]`` /
    ``[C]`` float probabilities.  Raises IndexError for a class outside
    ``[0, C)`` that is not ``ignore_index``, before any work.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]]); w = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> loss = F.linear_cross_entropy(x, w, np.array([0, 2]))
    >>> bool(np.isclose(loss, F.cross_entropy(x @ w.T, np.array([0, 2]))))
    True
    """
    fname = "linear_cross_entropy"
    return _heads.lce(_LOSS, None, None, _reduction_code(reduction, fname), input, linear_weight,
                      target, linear_bias, weight, ignore_index, label_smoothing, chunk_size,
                      fname=fname)


@_dask_heads.lazy_aware(_heads.lbce)
def linear_binary_cross_entropy_with_logits(
    input: ArrayLike, linear_weight: ArrayLike, target: ArrayLike, *,
    linear_bias: ArrayLike | None = None, pos_weight: ArrayLike | None = None,
    reduction: Reduction = "mean", chunk_size: int | tuple[int, int] | None = None,
) -> LossValue:
    """Multi-label ``binary_cross_entropy_with_logits`` of a linear head, with sparse targets.

    ``target`` ``[N, P]`` holds each row's positive label indices padded
    with -1 (reading stops at a row's first -1, as in
    :func:`multilabel_margin_loss`; repeats count once).  The value equals
    ``binary_cross_entropy_with_logits(input @ linear_weight.T + linear_bias,
    Y, pos_weight=pos_weight)`` for the implied multi-hot ``Y`` ``[N, C]``
    (the mean is over ``N x C``), computed in chunks: neither the logits
    nor ``Y`` is ever built.  ``"none"`` returns the ``[N, C]`` element
    losses (the one output that is as large as the logits).  ``pos_weight``
    broadcasts to ``[C]``; ``chunk_size`` as in :func:`linear_cross_entropy`.

    Shapes: ``input`` ``[N, D]`` (or ``[D]`` with ``target`` ``[P]``);
    ``linear_weight`` ``[C, D]``; ``linear_bias`` ``[C]``.  Raises IndexError
    for a label outside ``[0, C)`` before the row's first -1.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[1.0, -1.0]]); w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> y = np.array([[0.0, 1.0, 1.0]])
    >>> loss = F.linear_binary_cross_entropy_with_logits(x, w, np.array([[2, 1, -1]]))
    >>> bool(np.isclose(loss, F.binary_cross_entropy_with_logits(x @ w.T, y)))
    True
    """
    fname = "linear_binary_cross_entropy_with_logits"
    return _heads.lbce(_LOSS, None, None, _reduction_code(reduction, fname), input,
                       linear_weight, target, linear_bias, pos_weight, chunk_size, fname=fname)
