"""Type aliases of the public signatures.

Annotations are never evaluated at run time (``from __future__ import
annotations`` everywhere); only ``Loss[FloatArray]``-style base classes use
these aliases at import time, so nothing here touches the hot path.
"""
from __future__ import annotations

from typing import Any, Literal, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ArrayLike",
    "FloatArray",
    "Grad",
    "KLReduction",
    "LossValue",
    "Reduction",
]

#: a floating ndarray of the input's dtype (float32 or float64)
FloatArray = NDArray[np.floating[Any]]

#: a loss: a NumPy scalar of the input's dtype ("mean", "sum") or an array ("none")
LossValue = Union[np.floating[Any], FloatArray]

#: a gradient: one array, or one per differentiable input
Grad = Union[FloatArray, Tuple[FloatArray, ...]]

Reduction = Literal["none", "mean", "sum"]
KLReduction = Literal["none", "batchmean", "sum", "mean"]
