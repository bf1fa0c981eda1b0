"""The base of every loss class: keep the last inputs, backward(), forward_backward()."""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from .. import _core, _dask
from .._convert import as_array
from ..functional import _reduction_code

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .._typing import ArrayLike, FloatArray, LossValue

__all__ = ["Loss"]

_LOSS = _core.WANT_LOSS
_GRAD = _core.WANT_GRAD
_BOTH = _LOSS | _GRAD

#: what ``backward`` returns: one array, or a tuple with one per differentiable input
_G = TypeVar("_G")


class Loss(Generic[_G]):
    """A loss with torch.nn's calling convention and gradients without autograd.

    ``crit(*inputs)`` (or ``crit.forward``) returns the loss and remembers the
    inputs; ``crit.backward(grad_output=None)`` returns d loss / d input for
    that call; ``crit.forward_backward(*inputs, grad_output=None)`` returns
    ``(loss, grad)`` from one pass of the C core.

    The inputs are kept by reference, not copied: modify them in place
    between ``forward`` and ``backward`` and ``backward`` sees the new values.

    ``backward`` and ``forward_backward`` take ``out=``: an ndarray of the
    input's shape and dtype (C-contiguous, not overlapping the inputs) that
    receives the gradient instead of a new array, so that a training loop
    can reuse one buffer; it is never written when the call raises.  The
    four core losses (BCE, BCE with logits, cross-entropy, NLL) take it.

    ``repr()`` shows the options that differ from their defaults, as torch's
    ``extra_repr`` does: ``BCELoss()``, ``CrossEntropyLoss(label_smoothing=0.1)``.

    Subclasses implement ``_run(want, grad_output, *inputs, out=None)`` as
    one call into ``pylossfn._core``.  ``Loss[G]`` is generic in the type of
    the gradient ``G``: an ndarray, or a tuple of them for the losses with
    several differentiable inputs.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.MSELoss(reduction="sum")
    >>> crit
    MSELoss(reduction='sum')
    >>> float(crit(np.array([1.0, 2.0]), np.array([0.0, 0.0])))
    5.0
    >>> crit.backward()
    array([2., 4.])
    """

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction
        self._saved: tuple[Any, ...] | None = None

    @property
    def reduction(self) -> str:
        """The reduction string (validated when set)."""
        return self._reduction

    @reduction.setter
    def reduction(self, value: str) -> None:
        # validated now, so that a typo fails where it is written
        self._reduction_code = _reduction_code(value, type(self).__name__)
        self._reduction = value

    def _run(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        # (want, grad_output, *inputs, out=None) -> loss, grad or (loss, grad)
        raise NotImplementedError

    def __call__(self, *inputs: ArrayLike) -> LossValue:
        return self.forward(*inputs)

    def forward(self, *inputs: ArrayLike) -> LossValue:
        """The loss of ``inputs`` (remembered for ``backward``)."""
        if _dask.any_dask(inputs):  # dask arrays: a lazy graph (pylossfn._dask)
            loss: LossValue = _dask.run(self, _LOSS, None, inputs)
        else:
            loss = self._run(_LOSS, None, *inputs)
        self._saved = inputs
        return loss

    def backward(
        self, grad_output: ArrayLike | None = None, *, out: FloatArray | None = None,
    ) -> _G:
        """Gradient of the last forward call, scaled by ``grad_output``
        (written to ``out`` when given)."""
        if self._saved is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before any forward call"
            )
        if _dask.any_dask(self._saved):  # dask arrays: a lazy graph (pylossfn._dask)
            return _dask.run(self, _GRAD, grad_output, self._saved, out)
        if out is None:
            return self._run(_GRAD, grad_output, *self._saved)
        return self._run(_GRAD, grad_output, *self._saved, out=self._out_arg(out))

    def forward_backward(
        self, *inputs: ArrayLike, grad_output: ArrayLike | None = None,
        out: FloatArray | None = None,
    ) -> tuple[LossValue, _G]:
        """``(loss, grad)`` in one fused pass of the C core (the gradient
        written to ``out`` when given)."""
        # the per-call cost is the point here: no more Python than one call
        if _dask.any_dask(inputs):  # dask arrays: a lazy graph (pylossfn._dask)
            result = _dask.run(self, _BOTH, grad_output, inputs, out)
        elif out is None:
            result = self._run(_BOTH, grad_output, *inputs)
        else:
            result = self._run(_BOTH, grad_output, *inputs, out=self._out_arg(out))
        self._saved = inputs
        return result

    #: whether ``_run`` takes ``out=`` (a gradient buffer)
    _supports_out = False

    def _out_arg(self, out: FloatArray) -> FloatArray:
        if not self._supports_out:
            raise TypeError(
                f"{type(self).__name__}: out= is not supported by this loss; "
                "omit it to get a new gradient array"
            )
        return out

    def __repr__(self) -> str:
        # like torch's extra_repr: only the options that differ from the defaults
        params = inspect.signature(type(self).__init__).parameters
        parts = []
        for name, p in params.items():
            if name == "self" or p.default is inspect.Parameter.empty:
                continue
            value = getattr(self, name)
            if isinstance(value, np.ndarray) or p.default is not None and value != p.default:
                parts.append(f"{name}={value!r}")
            elif p.default is None and value is not None:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def as_option_array(value: ArrayLike | None, owner: str, name: str) -> NDArray[Any] | None:
    """A weight-like constructor option, kept as an ndarray (or None).

    Converted as the core converts arguments, so that a masked array is
    refused (np.asarray would drop its mask) and errors name ``name``.
    """
    return None if value is None else as_array(value, owner, name)
