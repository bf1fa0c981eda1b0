"""pylossfn: torch.nn's loss functions and their gradients for NumPy.

>>> import numpy as np, pylossfn as lf
>>> crit = lf.CrossEntropyLoss()
>>> loss, grad = crit.forward_backward(np.zeros((2, 3)), np.array([0, 2]))
>>> grad.shape
(2, 3)
"""
from __future__ import annotations

import sys
from importlib import metadata as _metadata
from typing import TextIO

from . import _convert, _core

# the core converts what is not an ndarray with the package's converter, which
# the package hands it here, once: an extension importing its own package
# would be an import cycle
_core._set_converter(_convert.as_array)

from . import functional, modules  # noqa: E402 - after the converter is registered
from ._class_weights import class_weights
from .modules import *  # noqa: F403 - the loss classes, listed once in modules.__all__

try:
    # one source of truth: the version in pyproject.toml, as installed
    __version__: str = _metadata.version("pylossfn")
except _metadata.PackageNotFoundError:  # pragma: no cover - a tree that was never installed
    __version__ = "0+unknown"


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


def show_config(file: TextIO | None = None) -> None:
    """Print what a bug report needs: versions, compiler, kernel variant, threads.

    The version of pylossfn, of the Python running it, of the NumPy the
    extension was compiled against and of the NumPy it runs with, the
    compiler that built the C engine, the instruction set of the kernels
    chosen at run time for this CPU (``PYLOSSFN_ISA=base|avx2|avx512``
    caps it) and the thread count (:func:`set_num_threads`).

    >>> import io, pylossfn as lf
    >>> buf = io.StringIO()
    >>> lf.show_config(file=buf)
    >>> buf.getvalue().splitlines()[0] == f"pylossfn {lf.__version__}"
    True
    """
    import numpy as np

    info = _core._build_info()
    lines = [
        f"pylossfn {__version__}",
        f"  python:          {sys.version.split()[0]} ({sys.platform})",
        f"  numpy (build):   {info['numpy_build']}",
        f"  numpy (run):     {np.__version__}",
        f"  compiler:        {info['compiler']}",
        f"  instruction set: {info['isa']}",
        f"  threads:         {get_num_threads()}",
    ]
    print("\n".join(lines), file=sys.stdout if file is None else file)


__all__ = [
    "class_weights", "functional", "get_num_threads", "set_num_threads", "show_config",
    *modules.__all__,
]
