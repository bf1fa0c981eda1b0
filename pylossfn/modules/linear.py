"""Fused classifier heads: a linear layer and its loss, for huge label spaces."""
from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core, _dask, _dask_heads, _heads
from .._convert import is_half
from .._typing import ArrayLike, FloatArray, Reduction
from ._base import Loss, as_option_array

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

__all__ = ["Linear", "LinearCrossEntropyLoss", "LinearBCEWithLogitsLoss"]

_LOSS, _GRAD, _HESS = _core.WANT_LOSS, _core.WANT_GRAD, _core.WANT_HESS
_HVP = _HESS | _core.WANT_HVP  # the Hessian slot holds H v, as the core's losses ask it


class Linear:
    """The linear layer a fused head owns: ``logits = input @ weight.T + bias``.

    ``weight`` ``[out_features, in_features]`` and ``bias`` ``[out_features]``
    (or None) are plain writable ndarrays, initialized as ``torch.nn.Linear``
    does (uniform in ``±1/sqrt(in_features)``) from
    ``numpy.random.default_rng(seed)``; assign new arrays to replace them.
    ``weight_grad`` / ``bias_grad`` hold the gradients of the head's last
    ``backward`` / ``forward_backward`` (None before).  A pickle or
    ``copy.deepcopy`` carries the parameters, not their gradients, as torch's
    ``Parameter`` does.

    >>> import numpy as np, pylossfn as lf
    >>> layer = lf.Linear(4, 3, bias=True, seed=0)
    >>> layer.weight.shape, layer.bias.shape, layer.weight.dtype
    ((3, 4), (3,), dtype('float32'))
    >>> bool(np.all(np.abs(layer.weight) <= 0.5))
    True
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = False,
                 dtype: DTypeLike = np.float32, seed: Any = None) -> None:
        in_features = operator.index(in_features)
        out_features = operator.index(out_features)
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: in_features and out_features must be >= 1, got "
                             f"{in_features} and {out_features}")
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64) and not is_half(dt):
            raise TypeError(f"Linear: dtype must be float32 or float64 (or float16, bfloat16), "
                            f"got {dt}")
        rng = np.random.default_rng(seed)
        bound = 1.0 / math.sqrt(in_features)
        self.weight: FloatArray = rng.uniform(-bound, bound, (out_features, in_features)
                                              ).astype(dt)
        self.bias: FloatArray | None = (rng.uniform(-bound, bound, out_features).astype(dt)
                                        if bias else None)
        self.weight_grad: FloatArray | None = None
        self.bias_grad: FloatArray | None = None

    def __getstate__(self) -> dict[str, Any]:
        # the gradients are of the last call, not configuration (torch drops .grad too)
        return {**self.__dict__, "weight_grad": None, "bias_grad": None}

    def __repr__(self) -> str:
        c, d = self.weight.shape
        return f"Linear(in_features={d}, out_features={c}, bias={self.bias is not None})"


class _Head(Loss[FloatArray]):
    """What the two heads share: the owned layer, the chunking, the gradients."""

    linear: Linear
    chunk_size: Any
    def _init_head(self, in_features: int, num_classes: int, bias: bool, dtype: DTypeLike,
                   reduction: Reduction, seed: Any) -> None:
        """What both constructors set first: the reduction and the owned layer."""
        super().__init__(reduction)
        self.linear = Linear(in_features, num_classes, bias=bias, dtype=dtype, seed=seed)
        self.bias = bias
        self.dtype = np.dtype(dtype)
        self.seed = seed

    def _owned(self) -> tuple[Any, ...]:
        """The layer the criterion owns now: ``out=`` must not overlap it, even
        in a backward whose forward call captured another layer."""
        return (self.linear.weight, self.linear.bias)

    #: the head's function in pylossfn._heads (lce or lbce), which every call runs:
    #: its arguments are the options' order (_option_values) after the layer's
    _head_fn: Any

    def _run(self, want: int, grad_output: Any, inputs: tuple[Any, ...], out: Any = None,
             config: tuple[Any, ...] | None = None, v: Any = None) -> Any:
        _, code, (linear_weight, linear_bias, *options) = (self._config() if config is None
                                                           else config)
        res = self._head_fn(want, grad_output, out, code, inputs[0], linear_weight, inputs[1],
                            linear_bias, *options, fname=type(self).__name__, v=v,
                            owned=self._owned())
        return self._store(want, res)

    def _call(self, what: str, want: int, grad_output: Any, inputs: tuple[Any, ...],
              out: Any = None, config: tuple[Any, ...] | None = None
              ) -> tuple[Any, tuple[Any, ...]]:
        # every entry method's way in (hvp's inputs are a forward's): checked once
        if len(inputs) != 2:
            raise TypeError(f"{type(self).__name__} takes (input, target), got {len(inputs)} "
                            "arrays")
        return super()._call(what, want, grad_output, inputs, out, config)

    def _lazy(self, what: str, want: int, grad_output: Any, inputs: tuple[Any, ...],
              out: Any, config: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        # dask arrays go to row blocks of the same tiles (pylossfn._dask_heads)
        res, config = _dask_heads.run(self._head_fn, self, what, want, grad_output, inputs,
                                      out, config)
        return self._store(want, res), config

    def _store(self, want: int, res: Any) -> Any:
        """A head's result as a loss's: d_input in the gradient's place, the
        layer's gradients stored on ``linear``."""
        n = bool(want & _LOSS) + bool(want & _GRAD) + bool(want & (_HESS | _HVP))
        parts = list(res) if n > 1 else [res]
        if want & _GRAD:
            i = int(bool(want & _LOSS))
            grads = parts[i]
            self.linear.weight_grad, self.linear.bias_grad = grads[1], grads[2]
            parts[i] = grads[0]
        return tuple(parts) if n > 1 else parts[0]

    def hvp(self, v: ArrayLike | tuple[ArrayLike, ...],
            grad_output: ArrayLike | None = None) -> FloatArray:
        """The exact product of the full Hessian in the input (``W.T H_z W``
        per row, coupled through the softmax for cross-entropy) with ``v``
        of the input's shape, for the last forward call, as :meth:`Loss.hvp`.

        >>> import numpy as np, pylossfn as lf
        >>> crit = lf.LinearBCEWithLogitsLoss(2, 3, reduction="sum", dtype=np.float64)
        >>> crit.linear.weight = np.eye(3, 2)
        >>> _ = crit(np.zeros((1, 2)), np.array([[0]]))
        >>> crit.hvp(np.array([[1.0, 0.0]]))  # sigmoid'(0) = 0.25 on class 0
        array([[0.25, 0.  ]])
        """
        inputs, config = self._last_call("hvp")
        if _dask.any_dask(inputs):
            return self._call("hvp", _HVP, grad_output, inputs, config=config)[0]  # refused
        x = inputs[0]
        linear_weight, linear_bias = config[2][:2]
        _, _, _, _, dtype = _heads._head(type(self).__name__, x, linear_weight, linear_bias)
        (vv,) = self._hvp_operands(v, np.empty(np.shape(x), dtype))
        return self._run(_HVP, grad_output, inputs, None, config, vv)

    def _validate(self) -> None:
        _heads._check_chunk(self.chunk_size, type(self).__name__)

    def __repr__(self) -> str:
        # the layer's sizes first (required, as in torch), then the changed options
        c, d = self.linear.weight.shape
        rest = super().__repr__().split("(", 1)[1][:-1]
        head = f"in_features={d}, num_classes={c}"
        return f"{type(self).__name__}({head}{', ' + rest if rest else ''})"


class LinearCrossEntropyLoss(_Head):
    """A linear layer and softmax cross-entropy, as ``torch.nn.LinearCrossEntropyLoss``.

    With logits ``z = x @ linear.weight.T + linear.bias`` and ``logp = log_softmax(z)``,
    per sample ``l = (1 - ls) * (-w[t] * logp[t]) + ls / C * (-sum_c w[c] * logp[c])``:
    ``loss = cross_entropy(z, target)``
    with the options of :class:`CrossEntropyLoss`, computed in chunks so
    that the ``N x C`` logits never exist (see
    :func:`pylossfn.functional.linear_cross_entropy` and
    :doc:`/large_label_spaces`).  The criterion owns its layer, ``linear``
    (a :class:`Linear` seeded by ``seed``); ``backward`` /
    ``forward_backward`` return d loss / d input and store
    ``linear.weight_grad`` and ``linear.bias_grad``.  ``chunk_size`` is torch's
    ``options``: the most logits per chunk, or ``(rows, classes)``.

    Shapes: input ``[N, in_features]`` or ``[in_features]``; target ``[N]``
    class indices or ``[N, num_classes]`` probabilities; ``weight``
    ``[num_classes]``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.LinearCrossEntropyLoss(8, 1000, bias=True, seed=0)
    >>> x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    >>> loss, d_x = crit.forward_backward(x, np.array([3, 999, 0, 500]))
    >>> d_x.shape, crit.linear.weight_grad.shape, crit.linear.bias_grad.shape
    ((4, 8), (1000, 8), (1000,))
    """

    def __init__(
        self, in_features: int, num_classes: int, *, bias: bool = False,
        dtype: DTypeLike = np.float32, reduction: Reduction = "mean",
        weight: ArrayLike | None = None, ignore_index: int | None = None,
        label_smoothing: float = 0.0, chunk_size: int | tuple[int, int] | None = None,
        seed: Any = None,
    ) -> None:
        self._init_head(in_features, num_classes, bias, dtype, reduction, seed)
        self.weight = as_option_array(weight, type(self).__name__, "weight")
        if self.weight is not None and self.weight.shape != (num_classes,):
            raise ValueError(f"LinearCrossEntropyLoss: weight must have shape ({num_classes},),"
                             f" got {self.weight.shape}")
        self.ignore_index = ignore_index
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError("LinearCrossEntropyLoss: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.label_smoothing = label_smoothing
        self.chunk_size = chunk_size
        self._validate()

    # the options a forward call captures: the layer's arrays (by reference) among them
    _option_values = staticmethod(operator.attrgetter(
        "linear.weight", "linear.bias", "weight", "ignore_index", "label_smoothing",
        "chunk_size"))

    _head_fn = staticmethod(_heads.lce)


class LinearBCEWithLogitsLoss(_Head):
    """A linear layer and multi-label BCE-with-logits against sparse positive labels.

    With logits ``z = x @ linear.weight.T + linear.bias`` and the multi-hot ``y``,
    per label ``l = pos_weight[c] * y * softplus(-z) + (1 - y) * softplus(z)``, i.e.
    ``loss = binary_cross_entropy_with_logits(input @ linear.weight.T +
    linear.bias, Y, pos_weight=pos_weight)`` where the multi-hot ``Y`` is
    implied by ``target`` ``[N, P]``: each row's positive label indices,
    padded with -1 (see
    :func:`pylossfn.functional.linear_binary_cross_entropy_with_logits`).
    Neither the logits nor ``Y`` is built.  The layer, gradients and
    ``chunk_size`` are as in :class:`LinearCrossEntropyLoss`.

    Shapes: input ``[N, in_features]`` (or ``[in_features]`` with target ``[P]``);
    target ``[N, P]`` integers in ``[0, num_classes)`` or -1; ``pos_weight``
    broadcasting to ``[num_classes]``; ``"none"`` gives ``[N, num_classes]``.

    >>> import numpy as np, pylossfn as lf
    >>> crit = lf.LinearBCEWithLogitsLoss(8, 100_000, seed=0)
    >>> x = np.zeros((2, 8), np.float32)
    >>> loss, d_x = crit.forward_backward(x, np.array([[5, 17, -1], [99_999, -1, -1]]))
    >>> round(float(loss), 6)  # every logit is 0: log(2) per label
    0.693147
    >>> crit.linear.weight_grad.shape
    (100000, 8)
    """

    def __init__(
        self, in_features: int, num_classes: int, *, bias: bool = False,
        dtype: DTypeLike = np.float32, reduction: Reduction = "mean",
        pos_weight: ArrayLike | None = None,
        chunk_size: int | tuple[int, int] | None = None, seed: Any = None,
    ) -> None:
        self._init_head(in_features, num_classes, bias, dtype, reduction, seed)
        self.pos_weight = as_option_array(pos_weight, type(self).__name__, "pos_weight")
        self.chunk_size = chunk_size
        self._validate()

    _option_values = staticmethod(operator.attrgetter(
        "linear.weight", "linear.bias", "pos_weight", "chunk_size"))

    _head_fn = staticmethod(_heads.lbce)
