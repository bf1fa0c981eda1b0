"""The losses on the probability simplex beyond torch.nn: Poly-1, distillation, sparsemax.

Part of :mod:`pylossfn.functional`, which re-exports every name here (kept
apart for that module's size).  As there, a loss function is a signature and
a docstring: its body is made from its row of the core's table by
``_from_row`` (:mod:`pylossfn._rows`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import _core
from ._rows import from_row as _from_row

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, KLReduction, LossValue, Reduction

__all__ = ["poly_cross_entropy", "distillation_loss", "sparsemax", "sparsemax_loss"]


@_from_row
def poly_cross_entropy(
    input: ArrayLike, target: ArrayLike, epsilon: float = 1.0, weight: ArrayLike | None = None,
    ignore_index: int = -100, reduction: Reduction = "mean", label_smoothing: float = 0.0,
) -> LossValue:
    """Poly-1 cross-entropy (Leng et al., ICLR 2022): cross-entropy plus ``epsilon * (1 - p_t)``.

    Per sample, :func:`cross_entropy`'s term (``weight``, ``ignore_index`` and
    ``label_smoothing`` included) plus ``epsilon * w[t] * (1 - p_t)``, with
    ``p_t`` the softmax probability of the target class (for class
    probabilities ``y``: ``p_t = sum_c y_c softmax(x)_c``, before smoothing,
    and ``w = 1``).  ``"mean"`` divides by the summed ``w[t]`` of the targets
    not ignored (index targets) or by the number of samples (probabilities),
    as :func:`cross_entropy` does.  optax's ``poly_loss_cross_entropy`` is the
    unweighted, unsmoothed case.

    Shapes: as :func:`cross_entropy`: ``input`` ``[N, C]``,
    ``[N, C, d1, ..., dk]`` or ``[C]``; ``target`` class indices of the batch
    shape or float probabilities of the input's shape; ``weight`` ``[C]``.
    ``epsilon`` is any finite number (negative values too, as in the paper).

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[2.0, 0.5, -1.0]]); t = np.array([0])
    >>> round(float(F.poly_cross_entropy(x, t, epsilon=1.0)), 6)
    0.455714
    """


@_from_row
def distillation_loss(
    input: ArrayLike, target: ArrayLike, temperature: float = 1.0,
    reduction: KLReduction = "batchmean",
) -> LossValue:
    """Knowledge distillation (Hinton et al., 2015): the temperature-scaled KL divergence.

    ``input`` holds the student's logits, ``target`` the teacher's, both
    ``[N, C]``; with ``q = softmax(target / T)`` and ``p = softmax(input / T)``
    each term is ``T**2 * q_c * (log q_c - log p_c)`` (0 where ``q_c = 0``),
    which is ``T**2 * kl_div(log_softmax(input / T, 1), softmax(target / T, 1))``:
    the ``T**2`` keeps the gradient's scale independent of ``T``.
    ``reduction``: ``"batchmean"`` (the default) divides the sum by N,
    ``"mean"`` by N C, ``"sum"``; ``"none"`` returns the ``[N, C]`` terms.
    The gradient is with respect to the student alone,
    ``T * (p - q)`` per sample (the teacher is data).  ``temperature`` > 0.

    >>> import numpy as np, pylossfn.functional as F
    >>> s = np.array([[1.0, 0.0]]); t = np.array([[0.0, 1.0]])
    >>> round(float(F.distillation_loss(s, t, temperature=2.0)), 6)
    0.489837
    """


def sparsemax(input: ArrayLike, dim: int = -1) -> FloatArray:
    """sparsemax (Martins & Astudillo, 2016): the Euclidean projection onto the simplex along ``dim``.

    ``p_c = max(x_c - tau, 0)`` with ``tau`` such that ``sum_c p_c = 1``: like
    :func:`softmax` a probability vector, but with exact zeros (optax's
    ``projection_simplex``, ``jax.nn``'s ``sparsemax``).  Ties and equal
    entries share their mass evenly.  Shapes: any; the result has the input's
    shape and dtype.

    >>> import numpy as np, pylossfn.functional as F
    >>> F.sparsemax(np.array([[1.0, 2.0, 2.5], [0.0, 0.0, 0.0]]))
    array([[0.        , 0.25      , 0.75      ],
           [0.33333333, 0.33333333, 0.33333333]])
    """
    return _core.sparsemax(input, dim)


@_from_row
def sparsemax_loss(
    input: ArrayLike, target: ArrayLike, reduction: Reduction = "mean",
) -> LossValue:
    """The multi-class sparsemax loss (Martins & Astudillo, 2016), optax's ``multiclass_sparsemax_loss``.

    Per sample with ``p = sparsemax(x)`` and class ``t``:
    ``l = sum_c p_c (x_c - x_t) + (1 - sum_c p_c**2) / 2`` (the Fenchel-Young
    loss of the Gini entropy: 0 exactly when ``p`` is the one-hot of ``t``),
    with the gradient ``p - onehot(t)``.

    Shapes: ``input`` ``[N, C]`` or ``[C]``; ``target`` ``[N]`` (or ``()``)
    class indices of any integer dtype.  ``"none"`` returns ``[N]``.

    >>> import numpy as np, pylossfn.functional as F
    >>> x = np.array([[1.0, 2.0, 2.5], [3.0, 0.0, 0.0]]); t = np.array([2, 0])
    >>> F.sparsemax_loss(x, t, reduction="none")
    array([0.0625, 0.    ])
    """
