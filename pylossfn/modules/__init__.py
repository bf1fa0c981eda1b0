"""The loss classes, one module per family, re-exported by ``pylossfn``.

Each family module lists its classes once, in its ``__all__``; this package
re-exports them all (each loss class is the one its row of the core's table
names, ``"cls"``: nothing here names a loss).
"""
from . import (
    binary,
    classification,
    ctc,
    dice,
    embedding,
    linear,
    margin,
    multilabel,
    regression,
    simplex,
)
from ._base import Loss
from .binary import *  # noqa: F403
from .classification import *  # noqa: F403
from .ctc import *  # noqa: F403
from .dice import *  # noqa: F403
from .embedding import *  # noqa: F403
from .linear import *  # noqa: F403
from .margin import *  # noqa: F403
from .multilabel import *  # noqa: F403
from .regression import *  # noqa: F403
from .simplex import *  # noqa: F403

__all__ = ["Loss"]
__all__ += binary.__all__
__all__ += classification.__all__
__all__ += multilabel.__all__
__all__ += dice.__all__
__all__ += embedding.__all__
__all__ += margin.__all__
__all__ += ctc.__all__
__all__ += regression.__all__
__all__ += simplex.__all__
__all__ += linear.__all__
