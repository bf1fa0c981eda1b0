"""The base of every loss class: keep the last inputs, backward(), forward_backward()."""
from __future__ import annotations

import inspect
import operator
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

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
_CHECK = 0  # want nothing: the core validates the options only

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
    input's shape and dtype (writeable, not overlapping the inputs; the
    class-index, row and CTC losses also want it C-contiguous) that receives
    the gradient instead of a new array, so that a training loop can reuse
    one buffer; it is never written when the call raises.  Losses with
    several gradients take a tuple with one buffer per gradient.

    ``repr()`` shows the options that differ from their defaults, as torch's
    ``extra_repr`` does: ``BCELoss()``, ``CrossEntropyLoss(label_smoothing=0.1)``.

    A subclass names its implementation, ``_impl``: the private function of
    :mod:`pylossfn.functional` that the public function calls too,
    ``_impl(want, grad_output, out, reduction_code, *arrays, *options)``, so
    that each core function's positional protocol is written once; the
    options are the attributes named as ``_impl``'s parameters after the
    arrays (read from its signature).  Its constructor ends with
    ``self._validate()``: the options go through the C core's checks (a
    validate-only call) when the criterion is built, as torch validates its
    modules.  ``Loss[G]`` is generic in the type
    of the gradient ``G``: an ndarray, or a tuple of them for the losses with
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

    #: the private implementation in pylossfn.functional (see the class docstring)
    _impl: Callable[..., Any]
    #: the number of array arguments of ``_impl`` and the names of its options,
    #: both read from its signature: the attributes of those names are its options
    _narrays = 0
    _options: tuple[str, ...] = ()
    _option_values: Callable[[Any], tuple[Any, ...]] = staticmethod(lambda self: ())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        impl = cls.__dict__.get("_impl")
        if impl is None:
            return
        params = list(inspect.signature(impl.__func__).parameters.values())[4:]
        cls._narrays = sum(p.default is p.empty for p in params)
        cls._options = tuple(p.name for p in params[cls._narrays:])
        if len(cls._options) > 1:
            cls._option_values = operator.attrgetter(*cls._options)
        elif cls._options:
            one = operator.attrgetter(cls._options[0])
            cls._option_values = staticmethod(lambda self: (one(self),))

    def _run(self, want: int, grad_output: Any, *inputs: Any, out: Any = None) -> Any:
        """loss, grad or (loss, grad) of ``inputs``, as ``want`` asks."""
        return self._impl(want, grad_output, out, self._reduction_code, *inputs,
                          *self._option_values(self))

    def _validate(self) -> None:
        """Checks the options through the core (a call with no arrays)."""
        self._run(_CHECK, None, *(None,) * self._narrays)

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
        self, grad_output: ArrayLike | None = None, *,
        out: FloatArray | tuple[FloatArray, ...] | None = None,
    ) -> _G:
        """Gradient of the last forward call, scaled by ``grad_output``
        (written to ``out`` when given)."""
        if self._saved is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before any forward call"
            )
        if _dask.any_dask(self._saved):  # dask arrays: a lazy graph (pylossfn._dask)
            return _dask.run(self, _GRAD, grad_output, self._saved, out)
        return self._run(_GRAD, grad_output, *self._saved, out=out)

    def forward_backward(
        self, *inputs: ArrayLike, grad_output: ArrayLike | None = None,
        out: FloatArray | tuple[FloatArray, ...] | None = None,
    ) -> tuple[LossValue, _G]:
        """``(loss, grad)`` in one fused pass of the C core (the gradient
        written to ``out`` when given)."""
        # the per-call cost is the point here: no more Python than one call
        if _dask.any_dask(inputs):  # dask arrays: a lazy graph (pylossfn._dask)
            result = _dask.run(self, _BOTH, grad_output, inputs, out)
        else:
            result = self._run(_BOTH, grad_output, *inputs, out=out)
        self._saved = inputs
        return result

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
