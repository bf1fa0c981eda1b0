"""pylossfn: torch.nn's loss functions and their gradients for NumPy.

>>> import numpy as np, pylossfn as lf
>>> crit = lf.CrossEntropyLoss()
>>> loss, grad = crit.forward_backward(np.zeros((2, 3)), np.array([0, 2]))
>>> grad.shape
(2, 3)

Kernels use up to ``get_num_threads()`` threads on large inputs (default:
``$PYLOSSFN_NUM_THREADS``, else every CPU the process may run on; change it
with ``set_num_threads(n)``).  Results are bitwise the same for every
thread count.
"""
from . import functional
from ._core import get_num_threads, set_num_threads
from .modules import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, NLLLoss

__version__ = "0.1.0"

__all__ = [
    "functional",
    "get_num_threads",
    "set_num_threads",
    "Loss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "NLLLoss",
]
