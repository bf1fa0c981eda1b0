"""pylossfn: torch.nn's loss functions and their gradients for NumPy.

>>> import numpy as np, pylossfn as lf
>>> crit = lf.CrossEntropyLoss()
>>> loss, grad = crit.forward_backward(np.zeros((2, 3)), np.array([0, 2]))
>>> grad.shape
(2, 3)
"""
from . import functional, modules
from ._core import get_num_threads, set_num_threads
from .modules import *  # noqa: F403 - the loss classes, listed once in modules.__all__

__version__ = "0.1.0"

__all__ = ["functional", "get_num_threads", "set_num_threads", *modules.__all__]
