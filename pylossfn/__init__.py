"""pylossfn: torch.nn's loss functions and their gradients for NumPy.

>>> import numpy as np, pylossfn as lf
>>> crit = lf.CrossEntropyLoss()
>>> loss, grad = crit.forward_backward(np.zeros((2, 3)), np.array([0, 2]))
>>> grad.shape
(2, 3)
"""
from __future__ import annotations

from . import _core, functional, modules
from .modules import *  # noqa: F403 - the loss classes, listed once in modules.__all__

__version__ = "0.1.0"


def set_num_threads(n: int) -> int:
    """Let the kernels use up to ``n`` threads (``n >= 1``); returns the count in effect.

    The count is capped at 64 (and is 1 in a build without threads).  Large
    sums are cut into units fixed by the shape alone, so results are bitwise
    identical for every thread count.  The default is ``PYLOSSFN_NUM_THREADS``
    from the environment, else the number of CPUs this process may run on.
    Raises ValueError for ``n < 1``.

    >>> import pylossfn as lf
    >>> before = lf.get_num_threads()
    >>> lf.set_num_threads(2)
    2
    >>> lf.set_num_threads(before) == before
    True
    """
    return _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the kernels may use (see :func:`set_num_threads`).

    >>> import pylossfn as lf
    >>> lf.get_num_threads() >= 1
    True
    """
    return _core.get_num_threads()


__all__ = ["functional", "get_num_threads", "set_num_threads", *modules.__all__]
