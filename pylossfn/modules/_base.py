"""The base of every loss class: keep the last inputs, backward(), forward_backward()."""
from __future__ import annotations

import inspect
import operator
from typing import TYPE_CHECKING, Any, Callable, Generic, Literal, TypeVar, overload

import numpy as np

from .. import _core, _dask, _rows
from .. import functional as F
from .._convert import as_array, is_half
from .._rows import reduction_code as _reduction_code

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .._typing import ArrayLike, FloatArray, LossValue

__all__ = ["Loss"]

_LOSS = _core.WANT_LOSS
_GRAD = _core.WANT_GRAD
_BOTH = _LOSS | _GRAD
_HESS = _core.WANT_HESS
_ALL = _BOTH | _HESS
_HVP = _HESS | _core.WANT_HVP  # the Hessian slot holds H v (v where `out` goes)
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
    The options are captured by the forward call, as torch's graph captures
    them: ``backward``, ``hessian`` and ``hvp`` use the options (reduction,
    weights, smoothing, ...) that the forward call used, whatever is assigned
    to the criterion in between (an option array, like an input, is kept by
    reference).  A lazy (dask) result keeps copies of its option arrays too,
    so nothing done to the criterion after a call changes what it computes.

    A pickle (and ``copy.copy``, ``copy.deepcopy``, dask's ``tokenize``)
    carries the configuration, not the last forward call's inputs: an
    unpickled (or copied) criterion's ``backward`` raises ``RuntimeError``
    until it is called forward.

    ``backward`` and ``forward_backward`` take ``out=``: an ndarray of the
    input's shape and dtype (writeable, not overlapping the inputs; the
    class-index, row and CTC losses also want it C-contiguous) that receives
    the gradient instead of a new array, so that a training loop can reuse
    one buffer; it is never written when the call raises.  Losses with
    several gradients take a tuple with one buffer per gradient.

    Second order: ``forward_backward(*inputs, hessian=True)`` returns
    ``(loss, grad, hess)`` from the same one pass, ``hessian(grad_output=None)``
    the diagonal of the Hessian for the last forward call, and ``hvp(v)`` the
    exact product of the full Hessian with ``v`` (see the user guide's
    "Second order" section).

    ``repr()`` shows the options that differ from their defaults, as torch's
    ``extra_repr`` does: ``BCELoss()``, ``CrossEntropyLoss(label_smoothing=0.1)``.

    Each subclass is the face of a row of the C core's table (``_core.LOSSES``),
    the row whose ``"cls"`` is its name; ``_row`` is that row's function name
    (torch's), set when the class is made.  From the row come its
    caller ``_impl(want, grad_output, out, reduction_code, *arrays, *options)``,
    the number of arrays a call takes and the options: the constructor's
    parameters but ``reduction``, each an argument of the row (a row option
    that the class lacks, as torch's ``L1Loss`` lacks the function's
    ``weight``, is the function's default), whether ``"batchmean"`` is a
    reduction, and the checks.  Its constructor ends with
    ``self._validate()``: the options go through the C core's checks (a
    validate-only call) when the criterion is built, as torch validates its
    modules.  ``Loss[G]`` is generic in the type of the gradient ``G``: an
    ndarray, or a tuple of them for the losses with several differentiable
    inputs.

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
        #: the last forward call: (its inputs, the options it captured), one
        #: attribute so that it is replaced and read whole
        self._last: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # pickle, copy and dask's tokenize carry the configuration only: the saved
        # inputs of the last forward call can be far larger (and are not the model)
        return {**self.__dict__, "_last": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.pop("_saved", None)  # what earlier versions pickled: inputs
        self.__dict__.setdefault("_last", None)

    @property
    def _saved(self) -> tuple[Any, ...] | None:
        """The inputs of the last forward call, or None before any."""
        last = self._last
        return None if last is None else last[0]

    def _last_call(self, what: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """(inputs, config) of the last forward call, or the RuntimeError of ``what``."""
        last = self._last
        if last is None:
            raise RuntimeError(
                f"{type(self).__name__}.{what}() was called before any forward call")
        return last

    @property
    def reduction(self) -> str:
        """The reduction string (validated when set)."""
        return self._reduction

    @reduction.setter
    def reduction(self, value: str) -> None:
        # validated now, so that a typo fails where it is written
        self._reduction_code = _reduction_code(value, type(self).__name__, self._batchmean)
        self._reduction = value

    #: the row of _core.LOSSES this class is the face of, by its function's name
    #: (set by __init_subclass__ from the row that names the class)
    _row: str | None = None
    #: the caller of the row's core function, the number of arrays a call takes
    #: and the options, all made from the row (see the class docstring)
    _impl: Callable[..., Any]
    _narrays = 0
    _options: tuple[str, ...] = ()
    _option_values: Callable[[Any], tuple[Any, ...]] = staticmethod(lambda self: ())
    #: whether "batchmean" is a reduction (the row says)
    _batchmean = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the table names each loss's class (its row's "cls"); a subclass made
        # outside the package keeps its base's row unless it names one (_row)
        row = cls.__dict__.get("_row") or (_rows.ROW_OF_CLASS.get(cls.__name__)
                                           if cls.__module__.startswith("pylossfn.") else None)
        if row is None:
            return
        cls._row = row
        impl, cls._narrays, cls._options = _rows.class_caller(getattr(F, row), cls.__init__)
        cls._impl = staticmethod(impl)
        cls._batchmean = _rows.ROWS[row]["batchmean"]
        cls._no_hessian = _rows.ROWS[row]["no_hessian"]
        if len(cls._options) > 1:
            cls._option_values = operator.attrgetter(*cls._options)
        elif cls._options:
            one = operator.attrgetter(cls._options[0])
            cls._option_values = staticmethod(lambda self: (one(self),))

    def _config(self) -> tuple[Any, ...]:
        """The options a forward call captures: (reduction, its code, option values)."""
        return (self._reduction, self._reduction_code, self._option_values(self))

    def _run(self, want: int, grad_output: Any, inputs: tuple[Any, ...], out: Any = None,
             config: tuple[Any, ...] | None = None) -> Any:
        """loss, grad or (loss, grad) of ``inputs``, as ``want`` asks, with the
        options of ``config`` (default: the current ones).  Positional, the
        inputs a tuple: a call with a star and keywords costs every small call
        about 0.3 µs more."""
        _, code, options = self._config() if config is None else config
        return self._impl(want, grad_output, out, code, *inputs, *options)

    def _call(self, what: str, want: int, grad_output: Any, inputs: tuple[Any, ...],
              out: Any = None, config: tuple[Any, ...] | None = None
              ) -> tuple[Any, tuple[Any, ...]]:
        """The one way of the entry methods (``what``) into the core: the result
        of ``inputs`` with ``config`` (default: the current options) and the
        config the result keeps.  Dask arrays are handed over here, once, to a
        lazy graph that keeps a private copy of the options (pylossfn._dask)."""
        config = self._config() if config is None else config
        if _dask.any_dask(inputs):
            return self._lazy(what, want, grad_output, inputs, out, config)
        return self._run(want, grad_output, inputs, out, config), config

    def _lazy(self, what: str, want: int, grad_output: Any, inputs: tuple[Any, ...],
              out: Any, config: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        """A call with dask arrays (``_call``'s): the lazy result by the row's
        split rule and the private config it keeps (pylossfn._dask)."""
        return _dask.run(self, what, want, grad_output, inputs, out, config)

    def _validate(self) -> None:
        """Checks the options through the core (a call with no arrays)."""
        self._run(_CHECK, None, (None,) * self._narrays)

    def __call__(self, *inputs: ArrayLike) -> LossValue:
        return self.forward(*inputs)

    def forward(self, *inputs: ArrayLike) -> LossValue:
        """The loss of ``inputs`` (remembered, with the options, for ``backward``)."""
        loss, config = self._call("forward", _LOSS, None, inputs)
        self._last = (inputs, config)
        return loss

    def backward(
        self, grad_output: ArrayLike | None = None, *,
        out: FloatArray | tuple[FloatArray, ...] | None = None,
    ) -> _G:
        """Gradient of the last forward call, scaled by ``grad_output``
        (written to ``out`` when given)."""
        inputs, config = self._last_call("backward")
        return self._call("backward", _GRAD, grad_output, inputs, out, config)[0]

    @overload
    def forward_backward(
        self, *inputs: ArrayLike, grad_output: ArrayLike | None = None,
        out: FloatArray | tuple[FloatArray, ...] | None = None, hessian: Literal[False] = ...,
    ) -> tuple[LossValue, _G]: ...

    @overload
    def forward_backward(
        self, *inputs: ArrayLike, grad_output: ArrayLike | None = None,
        out: FloatArray | tuple[FloatArray, ...] | None = None, hessian: Literal[True],
    ) -> tuple[LossValue, _G, _G]: ...

    def forward_backward(
        self, *inputs: ArrayLike, grad_output: ArrayLike | None = None,
        out: FloatArray | tuple[FloatArray, ...] | None = None, hessian: bool = False,
    ) -> Any:
        """``(loss, grad)`` in one fused pass of the C core (the gradient
        written to ``out`` when given); with ``hessian=True``,
        ``(loss, grad, hess)`` from the same pass, ``hess`` as
        :meth:`hessian` returns it."""
        # the per-call cost is the point here: no more Python than one call
        if hessian:
            self._hessian_refused("forward_backward")
        result, config = self._call("forward_backward", _ALL if hessian else _BOTH, grad_output,
                                    inputs, out)
        self._last = (inputs, config)
        return result

    #: why the loss has no Hessian (``NotImplementedError``), or None: the row says
    _no_hessian: str | None = None

    def _hessian_refused(self, what: str) -> None:
        """NotImplementedError for a loss without a Hessian."""
        if self._no_hessian is not None:
            raise NotImplementedError(f"{type(self).__name__}.{what}(): {self._no_hessian}")

    def hessian(self, grad_output: ArrayLike | None = None) -> _G:
        """The diagonal of the Hessian of the last forward call's loss
        with respect to its (first) input, scaled by ``grad_output`` as
        ``backward`` scales the gradient; shaped and typed like the input.
        A tuple, one per differentiable input, for the losses whose gradient
        is a tuple.  Zeros where the loss is piecewise linear.

        >>> import numpy as np, pylossfn as lf
        >>> crit = lf.BCEWithLogitsLoss(reduction="sum")
        >>> _ = crit(np.zeros(2), np.array([1.0, 0.0]))
        >>> crit.hessian()
        array([0.25, 0.25])
        """
        self._hessian_refused("hessian")  # a loss without a Hessian says so first
        inputs, config = self._last_call("hessian")
        return self._call("hessian", _HESS, grad_output, inputs, config=config)[0]

    def hvp(self, v: ArrayLike | tuple[ArrayLike, ...],
            grad_output: ArrayLike | None = None) -> _G:
        """The exact product of the full Hessian of the last forward call's
        loss (as ``hessian``: reduced, scaled by ``grad_output``) with ``v``,
        shaped like the input: the coupling between the elements of a row or
        of a batch (softmax, ZLPR, soft-F1, distances) included.  ``v`` has the
        input's shape, or is a tuple with one array per differentiable input.

        >>> import numpy as np, pylossfn as lf
        >>> crit = lf.CrossEntropyLoss(reduction="sum")
        >>> _ = crit(np.zeros((1, 2)), np.array([0]))
        >>> crit.hvp(np.array([[1.0, 0.0]]))
        array([[ 0.25, -0.25]])
        """
        self._hessian_refused("hvp")  # a loss without a Hessian says so first
        inputs, config = self._last_call("hvp")
        # one pass: the core's kernels know each loss's coupling (softmax rows,
        # distances, batch counts), an element-wise one multiplies its diagonal,
        # and the core refuses a v of the wrong count or size
        try:
            hv = self._call("hvp", _HVP, grad_output, inputs, out=v, config=config)[0]
        except (TypeError, ValueError) as err:
            failed: Exception | None = err
        else:
            failed = None
        if failed is not None:
            # the diagonal's call raises what is wrong with the inputs or
            # grad_output, _hvp_operands what is wrong with v, by their names
            self._hvp_operands(v, self._call("hvp", _HESS, grad_output, inputs, config=config)[0])
            raise failed
        self._hvp_operands(v, hv)  # v's exact shapes and dtype kind (hv has the inputs')
        return hv

    def _hvp_operands(self, v: Any, diag: Any) -> tuple[NDArray[Any], ...]:
        """``v`` as one array per differentiable input, each of the input's
        shape, converted to its dtype (ValueError / TypeError naming ``v``)."""
        name = f"{type(self).__name__}.hvp"
        likes = diag if isinstance(diag, tuple) else (diag,)
        if isinstance(diag, tuple):
            if not isinstance(v, tuple) or len(v) != len(likes):
                raise TypeError(f"{name}: v must be a tuple of {len(likes)} arrays, one per "
                                "differentiable input")
            items = v
        else:
            items = (v,)
        out = []
        for i, (item, like) in enumerate(zip(items, likes)):
            arg = "v" if len(likes) == 1 else f"v[{i}]"
            arr = as_array(item, name, arg)
            if arr.dtype.kind not in "fiub" and not is_half(arr.dtype):
                raise TypeError(f"{name}: {arg} must be a real array, got dtype {arr.dtype}")
            if arr.shape != like.shape:
                raise ValueError(f"{name}: {arg} has shape {arr.shape}, but the input has "
                                 f"shape {like.shape}")
            out.append(arr.astype(like.dtype, copy=False))
        return tuple(out)

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

