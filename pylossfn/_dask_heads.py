"""Dask arrays through the fused classifier heads: the same tiles, per row block.

A head couples nothing across rows, so a lazy call cuts ``input`` and
``target`` along the batch axis (features, classes and labels whole, the
input's row chunks kept) and runs each block through :mod:`pylossfn._heads`
with ``reduction="sum"`` (or ``"none"``): one task gives a block's loss
partial, its rows of ``d_input`` and its shares of ``d_weight`` / ``d_bias``;
the shares are added in a tree.  As for the losses of the core's table
(:mod:`pylossfn._dask`), a mean divides by the *global* divisor, computed
first in the same graph from the targets alone (the summed class weights of
the targets not ignored, the rows for probability targets, ``N x C`` for the
multi-label head), and a block's gradient is that of its sum scaled by
``grad_output / divisor``.  The layer, the options and NumPy operands are
copied into the graph when it is built: what it computes is fixed then.

A half head's blocks are computed in float32 (the partial sums and the
parameter shares too) and narrowed where the NumPy path narrows: ``d_input``
per block, the loss and the parameter gradients once, after their sums.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
from typing import Any, Callable, Sequence

import numpy as np

from . import _core, _heads
from ._convert import as_array, compute_dtype, is_half
from ._dask import _as_dask, _da, _delayed, _refuse_out, any_dask, refuse_second_order

_LOSS, _GRAD = _core.WANT_LOSS, _core.WANT_GRAD
_NONE, _SUM, _MEAN = _core.REDUCE_NONE, _core.REDUCE_SUM, _core.REDUCE_MEAN


def _lce_norm(fname: str, C: int, options: tuple[Any, ...], t: np.ndarray) -> float:
    """A row block's share of linear_cross_entropy's mean divisor: its rows
    for probability targets, else the class weights of the targets not
    ignored (cross-entropy's rule, asked of the core by pylossfn._heads)."""
    weight, ignore_index = options[0], options[1]
    if t.ndim == 2:
        return float(t.shape[0])
    wt = None if weight is None else np.asarray(weight)
    return _heads._lce_index_target(fname, t, t.shape[0], C, False, None, ignore_index, wt)[2]


def _lbce_norm(fname: str, C: int, options: tuple[Any, ...], t: np.ndarray) -> float:
    """The multi-label head's: every (row, class) element."""
    return float(t.shape[0]) * C


#: each head's mean divisor, by its function in pylossfn._heads
_NORMS: dict[Callable[..., Any], Callable[..., float]] = {
    _heads.lce: _lce_norm, _heads.lbce: _lbce_norm}


# -- the functions that run in the workers -------------------------------------


def _block(head: Callable[..., Any], fname: str, want: int, code: int, layer: tuple[Any, ...],
           options: tuple[Any, ...], x: np.ndarray, t: np.ndarray, go: Any) -> tuple[Any, ...]:
    """One row block through the head: (loss, d_input, d_weight, d_bias), the
    items ``want`` does not ask for None.  ``code`` is "sum" or "none"."""
    W, b = layer
    res = head(want, go, None, code, x, W, t, b, *options, fname=fname)
    parts = list(res) if want == _LOSS | _GRAD else [res]
    loss = parts.pop(0) if want & _LOSS else None
    grads = parts.pop(0) if want & _GRAD else (None, None, None)
    if loss is not None and code != _NONE:
        loss = float(loss)
    return (loss, *grads)


def _item(k: int, block: tuple[Any, ...], dtype: Any) -> Any:
    a = block[k]
    return a if dtype is None else np.asarray(a).astype(dtype, copy=False)


def _total(norm: Any, dtype: Any, *parts: float) -> Any:
    """The reduced loss: the blocks' partial sums added in float64, divided
    by the global divisor for a mean (``norm``; None for a sum)."""
    total = np.float64(math.fsum(parts))
    if norm is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / np.float64(norm)
    return np.asarray(total).astype(dtype)


def _scale(go: Any, norm: Any) -> float:
    """A reduced loss's gradient scale: grad_output / divisor."""
    g = 1.0 if go is None else float(np.asarray(go).reshape(()))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(g) / np.float64(1.0 if norm is None else norm))


def _add(dtype: Any, *items: Any) -> Any:
    """A tree node of the parameter gradients' sum (None for an absent bias),
    narrowed to ``dtype`` at the root."""
    if items[0] is None:
        return None
    total = items[0].copy()
    for a in items[1:]:
        total += a
    return total if dtype is None else total.astype(dtype)


# -- building the graph ---------------------------------------------------------


def _tree(parts: Sequence[Any], dtype: Any, width: int = 8) -> Any:
    """The delayed sum of ``parts``, ``width`` at a time, narrowed to ``dtype``."""
    add = _delayed()(_add, pure=True)
    level = list(parts)
    while len(level) > width:
        level = [add(None, *level[i:i + width]) for i in range(0, len(level), width)]
    return add(dtype, *level)


def _operand(a: Any, fname: str, name: str) -> Any:
    """A small operand of the graph (the layer, class weights): a private NumPy
    copy (a dask one computed first), so that later writes change nothing."""
    if a is None:
        return None
    if any_dask([a]):
        from ._dask import _compute

        a = _compute(a)
    return np.array(as_array(a, fname, name), copy=True)


def _check(head: Callable[..., Any], fname: str, code: int, x: Any, t: Any, go: Any,
           layer: tuple[Any, ...], options: tuple[Any, ...]) -> tuple[np.dtype[Any], int]:
    """Every check the NumPy path makes before its work that the shapes and
    dtypes decide, on a stand-in of one row (the targets' values are checked
    in the blocks): the result dtype and the class count."""
    if x.ndim not in (1, 2):
        raise ValueError(f"{fname}: input must be [in_features] or [N, in_features], "
                         f"got shape {x.shape}")
    batched = x.ndim == 2
    if batched and (t.ndim == 0 or t.shape[0] != x.shape[0]):
        raise ValueError(f"{fname}: target must have {x.shape[0]} rows for input shape "
                         f"{x.shape}, got shape {t.shape}")
    x1 = np.zeros((1,) + x.shape[1:] if batched else x.shape, x.dtype)
    t1 = np.zeros((1,) + t.shape[1:] if batched else t.shape, t.dtype)
    loss = head(_LOSS, None, None, _SUM, x1, layer[0], t1, layer[1], *options, fname=fname)
    C = np.shape(layer[0])[0]
    if go is not None and code != _NONE and (np.size(go) != 1 or np.ndim(go) > 1):
        raise ValueError(f"{fname}: grad_output must be a scalar for a reduced loss, got shape "
                         f"{tuple(np.shape(go))}")
    if go is not None and code == _NONE:
        shape: tuple[int, ...] = (x.shape[0],) if batched else ()
        shape += (C,) if head is _heads.lbce else ()
        if tuple(np.shape(go)) != shape:
            raise ValueError(f"{fname}: grad_output must have the loss's shape {shape}, got "
                             f"{tuple(np.shape(go))}")
    return np.asarray(loss).dtype, C


def _grad_outputs(head: Callable[..., Any], want: int, code: int, go: Any, norm: Any,
                  rows: tuple[int, ...], C: int, work: Any) -> list[Any]:
    """Each row block's grad_output: None without a gradient, grad_output /
    divisor for a reduced loss (one task), else the block of grad_output (ones
    when None) in the blocks' compute dtype ``work``."""
    if not want & _GRAD:
        return [None] * len(rows)
    if code != _NONE:
        return [_delayed()(_scale)(go, norm)] * len(rows)
    shape = (sum(rows),) + ((C,) if head is _heads.lbce else ())
    whole = {i: -1 for i in range(1, len(shape))}
    g = (_da().ones(shape, chunks=(rows,) + shape[1:], dtype=work) if go is None
         else _as_dask(go).reshape(shape).rechunk({0: rows, **whole}).astype(work))
    return list(g.to_delayed().ravel())


def _option_names(head: Callable[..., Any]) -> list[str]:
    """``head``'s options, in its order: its parameters after linear_bias."""
    names = list(inspect.signature(head).parameters)
    return names[names.index("linear_bias") + 1:names.index("fname")]


def lazy(head: Callable[..., Any], fname: str, want: int, grad_output: Any, code: int,
         input: Any, target: Any, layer: tuple[Any, Any], options: tuple[Any, ...]) -> Any:
    """The lazy counterpart of ``head(want, grad_output, None, code, input,
    layer[0], target, layer[1], *options)`` (pylossfn._heads.lce / lbce): the
    loss (a 0-d dask array for "mean" / "sum"), ``(d_input, d_weight,
    d_bias)`` as dask arrays (``d_input`` chunked like the input's rows), or
    both, as ``want`` asks (no second order: :func:`run` refuses it)."""
    da, delayed = _da(), _delayed()
    layer = (_operand(layer[0], fname, "linear_weight"), _operand(layer[1], fname, "linear_bias"))
    options = tuple(_operand(o, fname, name) if isinstance(o, np.ndarray) or any_dask([o])
                    else copy.deepcopy(o) for o, name in zip(options, _option_names(head)))
    x = _as_dask(input if any_dask([input]) else as_array(input, fname, "input"))
    t = _as_dask(target if any_dask([target]) else as_array(target, fname, "target"))
    for a in (x, t):
        if any(math.isnan(c) for cs in a.chunks for c in cs):
            raise ValueError(f"{fname}: dask arrays with unknown chunk sizes "
                             "(call compute_chunk_sizes())")
    go = grad_output if (want & _GRAD) else None
    odt, C = _check(head, fname, code, x, t, go, layer, options)
    half = is_half(odt)
    work = compute_dtype(odt)
    unbatched = x.ndim == 1
    x2 = (x.reshape(1, -1) if unbatched else x).rechunk({1: -1})
    rows = x2.chunks[0]
    t2 = t.reshape((1,) + t.shape) if unbatched else t
    t2 = t2.rechunk({0: rows, **{i: -1 for i in range(1, t2.ndim)}})
    if half:  # the blocks compute in float32; the results are narrowed as the NumPy path does
        x2 = x2.astype(work)
        layer = (layer[0].astype(work), None if layer[1] is None else layer[1].astype(work))
    xb, tb = x2.to_delayed().ravel(), t2.to_delayed().ravel()
    layer_d, options_d = delayed(layer, pure=True), delayed(options, pure=True)
    code_b = _NONE if code == _NONE else _SUM
    norm = None
    if code == _MEAN:
        share = functools.partial(_NORMS[head], fname, C, options)
        norm = delayed(math.fsum)([delayed(share, pure=True)(tb_i) for tb_i in tb])
    gos = _grad_outputs(head, want, code, go, norm, rows, C, work)
    run = delayed(_block, pure=True)
    blocks = [run(head, fname, want, code_b, layer_d, options_d, xb_i, tb_i, g_i)
              for xb_i, tb_i, g_i in zip(xb, tb, gos)]
    item = delayed(_item, pure=True)
    result: list[Any] = []
    if want & _LOSS:
        if code == _NONE:
            tail = (C,) if head is _heads.lbce else ()
            loss = da.concatenate([da.from_delayed(item(0, b, odt), (n,) + tail, odt)
                                   for b, n in zip(blocks, rows)])
            result.append(loss.reshape(tail) if unbatched else loss)
        else:
            total = delayed(_total)(norm, odt, *[item(0, b, None) for b in blocks])
            result.append(da.from_delayed(total, (), odt))
    if want & _GRAD:
        D = x2.shape[1]
        dx = da.concatenate([da.from_delayed(item(1, b, odt), (n, D), odt)
                             for b, n in zip(blocks, rows)])
        dw = da.from_delayed(_tree([item(2, b, None) for b in blocks], odt), (C, D), odt)
        db = (None if layer[1] is None else
              da.from_delayed(_tree([item(3, b, None) for b in blocks], odt), (C,), odt))
        result.append((dx.reshape(x.shape) if unbatched else dx, dw, db))
    return result[0] if len(result) == 1 else tuple(result)


def run(head: Callable[..., Any], crit: Any, what: str, want: int, grad_output: Any,
        inputs: tuple[Any, ...], out: Any, config: tuple[Any, ...]
        ) -> tuple[Any, tuple[Any, ...]]:
    """A fused head criterion's call with dask arrays (its ``_call``): the lazy
    result as ``head`` returns it, and the config the call keeps, a private
    copy (what the graph computes, and a later ``backward`` uses)."""
    name = type(crit).__name__
    refuse_second_order(name, what, want)
    _refuse_out(name, out)
    config = copy.deepcopy(config)
    _, code, (linear_weight, linear_bias, *options) = config
    return lazy(head, name, want, grad_output, code, inputs[0], inputs[1],
                (linear_weight, linear_bias), tuple(options)), config


def lazy_aware(head: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A fused head's function of :mod:`pylossfn.functional` (its arguments:
    input, linear_weight, target, then linear_bias, reduction and ``head``'s
    options by name), made lazy when any argument is a dask array."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        rest = _option_names(head)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not (any_dask(args) or any_dask(kwargs.values())):
                return fn(*args, **kwargs)
            from ._rows import reduction_code

            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            p = bound.arguments
            return lazy(head, fn.__name__, _LOSS, None, reduction_code(p["reduction"], fn.__name__),
                        p["input"], p["target"], (p["linear_weight"], p["linear_bias"]),
                        tuple(p[name] for name in rest))

        return call

    return wrap
