"""Class-balance weights from the targets: the ``weight`` / ``pos_weight`` a loss takes.

torch's ``BCEWithLogitsLoss`` documentation tells users to set ``pos_weight`` to
negatives / positives by hand; scikit-learn's ``compute_class_weight("balanced")``
and the effective number of samples (Cui et al., CVPR 2019) are the usual rules for
``CrossEntropyLoss(weight=...)``.  One function gives all three.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._convert import as_array

__all__ = ["class_weights"]

_METHODS = ("inverse_frequency", "effective_number", "neg_pos")


def class_weights(target: Any, method: str = "inverse_frequency", beta: float = 0.999,
                  num_classes: int | None = None) -> np.ndarray:
    r"""One weight per class (or per label) from the training targets.

    For class-index targets (any integer shape, e.g. ``(N,)`` or ``(N, d1, ...)``;
    ``n`` targets in all, ``n_c`` of class ``c``, ``C`` classes):

    - ``"inverse_frequency"``: :math:`w_c = n / (C\, n_c)`, scikit-learn's
      ``compute_class_weight("balanced")``: a class seen twice as often weighs half.
    - ``"effective_number"``: :math:`w_c \propto (1 - \beta) / (1 - \beta^{n_c})`
      (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR
      2019), normalized so that the weights sum to ``C``; ``beta`` in ``[0, 1)``
      (0 gives equal weights, values near 1 approach inverse frequency).

    For multi-hot targets ``(N, C)`` (values in ``[0, 1]``, soft labels allowed):

    - ``"neg_pos"``: :math:`w_c = (N - n_c) / n_c` with :math:`n_c = \sum_i t_{ic}`,
      the ``pos_weight`` that torch's ``BCEWithLogitsLoss`` documentation recommends.

    A class (or label) that never occurs gets weight 0.  ``num_classes`` sets ``C`` for
    index targets (default: the largest index + 1).  Returns a float64 array ``(C,)``;
    pass it as ``weight=`` (or ``pos_weight=``), cast to the input's dtype if you like.

    Raises ``ValueError`` for an unknown ``method``, a ``beta`` outside ``[0, 1)``, a
    ``"neg_pos"`` target that is not 2-D or has values outside ``[0, 1]``; ``TypeError``
    for float targets with an index method; ``IndexError`` for a negative index or one
    ``>= num_classes``.

    >>> import numpy as np, pylossfn as lf
    >>> lf.class_weights(np.array([0, 0, 0, 1]))
    array([0.66666667, 2.        ])
    >>> lf.class_weights(np.array([0, 0, 0, 1]), "effective_number", beta=0.5)
    array([0.72727273, 1.27272727])
    >>> lf.class_weights(np.array([[1, 0], [1, 1], [0, 0], [1, 0]]), "neg_pos")
    array([0.33333333, 3.        ])
    """
    fname = "class_weights"
    if method not in _METHODS:
        raise ValueError(f"{fname}: method must be one of {', '.join(map(repr, _METHODS))}, "
                         f"got {method!r}")
    t = as_array(target, fname, "target")
    if method == "neg_pos":
        return _neg_pos(fname, t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fname}: target must hold integer class indices for method="
                        f"{method!r}, got dtype {t.dtype}")
    counts = _class_counts(fname, t.reshape(-1), num_classes)
    C, n = counts.size, float(counts.sum())
    present = counts > 0
    w = np.zeros(C)
    if method == "inverse_frequency":
        w[present] = n / (C * counts[present])
        return w
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise TypeError(f"{fname}: beta must be a real number, got {beta!r}") from None
    if not 0.0 <= b < 1.0:
        raise ValueError(f"{fname}: beta must be in [0, 1), got {beta!r}")
    # (1 - b) / (1 - b**n_c), with -expm1(n_c log b) for 1 - b**n_c: exact for b near 1
    w[present] = -np.expm1(np.log(b)) / -np.expm1(counts[present] * np.log(b)) if b > 0 else 1.0
    total = w.sum()
    return w * (C / total) if total > 0 else w


def _class_counts(fname: str, t: np.ndarray, num_classes: int | None) -> np.ndarray:
    """n_c for c in [0, C), refusing indices outside it (one bincount pass; the
    offending index is looked for only when there is one)."""
    C = None
    if num_classes is not None:
        import operator
        try:
            C = operator.index(num_classes)
        except TypeError:
            raise TypeError(f"{fname}: num_classes must be an integer, got "
                            f"{type(num_classes).__name__}") from None
        if C < 0:
            raise ValueError(f"{fname}: num_classes must be >= 0, got {C}")
    flat = t if t.dtype.kind == "i" and t.dtype.itemsize <= 8 else t.astype(np.int64)
    try:
        counts = np.bincount(flat, minlength=C or 0)
    except ValueError:  # a negative index
        i = int(np.argmin(flat))
        raise IndexError(f"{fname}: target has class {int(flat[i])} at flat index {i}; class "
                         "indices must be >= 0") from None
    if C is not None and counts.size > C:
        i = int(np.argmax(flat))
        raise IndexError(f"{fname}: target has class {int(flat[i])} at flat index {i}, but "
                         f"num_classes is {C}")
    return counts.astype(np.float64)


def _neg_pos(fname: str, t: np.ndarray) -> np.ndarray:
    if t.ndim != 2:
        raise ValueError(f"{fname}: method='neg_pos' takes multi-hot targets (N, C), got shape "
                         f"{t.shape}")
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{fname}: target must be numeric, got dtype {t.dtype}")
    # min and max in the target's own dtype (no float64 copy): nan fails the test
    if t.size and not (float(t.min()) >= 0 and float(t.max()) <= 1):
        raise ValueError(f"{fname}: multi-hot targets must lie in [0, 1] (nan excluded)")
    pos = t.sum(axis=0, dtype=np.float64)
    w = np.zeros(t.shape[1])
    present = pos > 0
    w[present] = (t.shape[0] - pos[present]) / pos[present]
    return w
