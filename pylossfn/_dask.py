"""Dask arrays through the losses: lazy graphs of per-block calls of the C core.

A layer over the table: each loss's row of ``_core.LOSSES`` says how its call
may be cut (``row["dask"]``, from the spec flags ``LF_SPLIT_`` / ``LF_MEAN_`` /
``LF_NONE_`` of ``csrc/binding/binding.h``), so nothing here names a loss.
Each face hands a dask call over once, at its entry: a criterion's
``Loss._call`` (:func:`run`) and every table function of
``pylossfn.functional`` (:func:`lazy_aware`).  Nothing here imports dask until
such a call arrives, so the core keeps NumPy as its only run-time dependency.

A loss is evaluated per block by the same C core, with ``reduction="sum"``;
the block sums are float64 partials added in a tree (``dask.array``
reductions), and a ``"mean"`` divides by the *global* divisor computed in the
same graph, never by averaging chunk means.  A gradient is the per-block core
gradient of the ``"sum"`` loss with ``grad_output`` scaled by ``1 / divisor``.

The split (``row["dask"]["split"]``):

``elementwise``  any chunks along any axis; the weights (``cut``) broadcast
                 against the input and are cut with it.
``class_index``  the class axis (1) is made whole, the batch and extra axes
                 keep their chunks.
``rows``         a sample's loss couples its row: every axis but the first
                 is made whole.
``whole``        the batch is coupled: one task.

The mean's divisor (``mean``): ``elements`` of the ``"none"`` loss (``N``
for ``batchmean``), the sum of the ``weights`` or the ``core``'s own -- both asked
of the core per block (``WANT_NORM``: the block's weights summed, the class
weights of the targets not ignored) --, or the loss's
``own`` rule (one task).  ``none`` names the ``"none"`` loss's shape rule
(:data:`_NONE_SHAPES`), needed where one task computes it; ``core`` when the
options decide it (Dice's ``per_sample`` and ``mode``): the core answers a
``WANT_SHAPE`` call on zero-stride stand-ins of the arrays.

The metrics' Dask support is :mod:`pylossfn._dask_metrics`, the fused classifier
heads' :mod:`pylossfn._dask_heads` (row blocks of their tiles).
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
import string
import sys
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from . import _core, _rows
from ._convert import as_array, compute_dtype, is_half, widened

_F64 = np.dtype(np.float64)

_LOSS, _GRAD, _HESS, _NORM = _core.WANT_LOSS, _core.WANT_GRAD, _core.WANT_HESS, _core.WANT_NORM
_SHAPE = _core.WANT_SHAPE


def any_dask(args: Iterable[Any]) -> bool:
    """Whether any of ``args`` is a ``dask.array.Array`` (without importing dask)."""
    if "dask.array" not in sys.modules:
        # no dask array can exist before dask.array is imported: every NumPy call
        # pays one dict lookup, not a loop over its arguments
        return False
    for a in args:
        if type(a).__module__.startswith("dask.array"):
            return True
    return False


def _da() -> Any:
    try:
        import dask.array as da
    except ImportError:
        raise ImportError(
            "pylossfn: dask arrays need dask and distributed; install the extra with "
            "pip install 'pylossfn[dask]'"
        ) from None
    return da


def _delayed() -> Any:
    _da()
    import dask

    return dask.delayed


def _compute(x: Any) -> Any:
    _da()
    import dask

    return dask.compute(x)[0]


def _as_dask(a: Any) -> Any:
    da = _da()
    return a if any_dask([a]) else da.asarray(np.asarray(a))


# ----------------------------------------------------------------------------
# The rules, from the table
# ----------------------------------------------------------------------------

#: the shape of a "none" loss from its inputs' shapes (a loss computed in one task)
_NONE_SHAPES: dict[str, Callable[[list[tuple[int, ...]]], tuple[int, ...]]] = {
    "broadcast": lambda s: tuple(np.broadcast_shapes(*s)),
    "input_target": lambda s: tuple(np.broadcast_shapes(s[0], s[1])),
    "rows": lambda s: s[0][:-1],
    "classes": lambda s: s[0][:1] + s[0][2:] if len(s[0]) > 1 else (),
    "labels": lambda s: s[0][-1:],
    "batch": lambda s: s[0][1:2] if len(s[0]) == 3 else (),
}
#: the mean rules and "none" shapes each split can follow
_MEANS = {
    "elementwise": ("elements", "weights"),
    "class_index": ("elements", "core"),
    "rows": ("elements",),
    "whole": ("elements", "own"),
}
_NONES = {
    "elementwise": ("broadcast",),
    "class_index": ("classes",),
    "rows": ("rows", "broadcast"),  # a loss per row, or per element of coupled rows
    "whole": (*_NONE_SHAPES, "core"),  # "core": the options decide (WANT_SHAPE)
}


class Rule(NamedTuple):
    """How Dask cuts one loss: its row of ``_core.LOSSES``."""

    name: str  # the core's function
    fname: str  # pylossfn.functional's (the private twin is "_" + fname)
    split: str
    mean: str
    none: str
    cut: tuple[str, ...]  # the weights cut with the input
    inputs: tuple[str, ...]  # the arrays, in order
    ngrad: int
    grads: tuple[int, ...]  # the inputs the ngrad gradients are of, by position
    batchmean: bool


def _rule(row: Any) -> Rule:
    d, split = row["dask"], row["dask"]["split"]
    inputs = tuple(_rows.row_arrays(row))  # (a SystemError for an array after an option)
    # the gradients are of the arrays in order, the target aside (data, as in torch)
    grads = tuple(i for i, name in enumerate(inputs) if name != "target")[:row["ngrad"]]
    if d["mean"] not in _MEANS.get(split, ()) or d["none"] not in _NONES.get(split, ()) or (
        d["mean"] == "weights" and "weight" not in d["cut"]
    ) or len(grads) != row["ngrad"]:
        # a spec without a usable rule fails here, at import, not when a dask array arrives
        raise SystemError(
            f"pylossfn: {row['fname']} has no usable Dask rule (split {split!r}, mean "
            f"{d['mean']!r}, none {d['none']!r}): give its spec an LF_SPLIT_ flag"
        )
    return Rule(row["name"], row["fname"], split, d["mean"], d["none"], tuple(d["cut"]),
                inputs, row["ngrad"], grads, row["batchmean"])


#: every loss of the table (the rows that take a reduction), by function name
RULES: dict[str, Rule] = {fname: _rule(row) for fname, row in _rows.ROWS.items()}


# ----------------------------------------------------------------------------
# The faces: what a lazy call needs from a criterion or a function
# ----------------------------------------------------------------------------


class _Criterion:
    """A class's call: its core protocol (``_impl``) and the options it keeps.

    Holds the criterion's class (workers import it, and its ``_impl``, the
    caller made from the row) and a config, never the criterion, so a graph is
    fixed when it is built.
    """

    def __init__(self, crit: Any, rule: Rule, config: tuple[Any, ...]):
        self.name = type(crit).__name__
        self.rule = rule
        self.cls = type(crit)
        self.names = tuple(crit._options)
        self.reduction, self.code, self.values = config

    def option(self, name: str) -> Any:
        return self.values[self.names.index(name)] if name in self.names else None

    def given(self) -> dict[str, Any]:
        """The options the call sets, by the face's names."""
        return dict(zip(self.names, self.values))

    def call(self, want: int, grad_output: Any, reduction: str | None, cut: dict[str, Any],
             *inputs: Any) -> Any:
        """``_impl`` on ``inputs`` with ``reduction`` (None: the call's own) and
        the weights of ``cut`` in place of the call's."""
        code = self.code if reduction is None else _rows.reduction_code(reduction, self.name)
        values = tuple(cut.get(n, v) for n, v in zip(self.names, self.values))
        return self.cls._impl(want, grad_output, None, code, *inputs, *values)


class _Functional:
    """A call of a :mod:`pylossfn.functional` function (loss only), its keywords
    the options; it names the function, which workers import."""

    def __init__(self, rule: Rule, options: dict[str, Any]):
        self.name = rule.fname
        self.rule = rule
        self.options = options
        self.reduction = options.get("reduction", "mean")

    def option(self, name: str) -> Any:
        return self.options.get(name)

    def given(self) -> dict[str, Any]:
        """The options the call sets, by the face's names."""
        return {k: v for k, v in self.options.items() if k != "reduction"}

    def call(self, want: int, grad_output: Any, reduction: str | None, cut: dict[str, Any],
             *inputs: Any) -> Any:
        from . import functional

        assert want == _LOSS  # the functions have no gradient
        fn = inspect.unwrap(getattr(functional, self.name))
        return fn(*inputs, **{**self.options, **cut,
                              **({} if reduction is None else {"reduction": reduction})})


def _rule_of(crit: Any) -> Rule:
    """A criterion's row, found by the name the class gives it (``_row``)."""
    rule = RULES.get(getattr(type(crit), "_row", None) or "")
    if rule is None:
        raise NotImplementedError(
            f"{type(crit).__name__}: dask arrays are not supported; compute them first")
    return rule


# -- the functions that run in the workers -------------------------------------


def _block_call(face: Any, reduction: str, want: int, n_in: int, opt_names: tuple[str, ...],
                post: Callable[[Any], Any], *blocks: Any) -> Any:
    inputs = blocks[:n_in]
    cut = dict(zip(opt_names, blocks[n_in:n_in + len(opt_names)]))
    rest = blocks[n_in + len(opt_names):]
    go = rest[0] if rest else None
    return post(face.call(want, go, reduction, cut, *inputs))


def _partial_call(crit: Any, *args: Any) -> Any:
    # a half block's partial sum is taken in float32 (the sum is rounded once)
    return _block_call(crit, *args[:5], *(widened(b) for b in args[5:]))


def _post_partial(ndim: int, result: Any) -> np.ndarray:
    # a block's float32 sum becomes a float64 partial of the tree sum
    return np.full((1,) * ndim, float(result), dtype=np.float64)


def _post_identity(result: Any) -> Any:
    return result


def _post_grad(k: int | None, result: Any) -> Any:
    return result if k is None else result[k]


def _core_norm(core: str, options: tuple[Any, ...], ndim: int, *blocks: Any) -> np.ndarray:
    """A block's share of the mean's divisor, from the core (WANT_NORM)."""
    total = getattr(_core, core)(*blocks, *options, 1, _NORM, None)
    return np.full((1,) * ndim, float(total), dtype=np.float64)


def _weight_norm(face: Any, ndim: int, w: np.ndarray, *blocks: Any) -> np.ndarray:
    """A block's share of the mean's divisor, the sum of its weights: from the core
    (WANT_NORM), which divides a whole call's mean by the same rule."""
    options = _row_option_values(face, weight=w)
    total = getattr(_core, face.rule.name)(*blocks, *options, 1, _NORM, None)
    return np.full((1,) * ndim, float(total), dtype=np.float64)


def _divide(total: np.ndarray, norm: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.float64(total) / np.float64(norm)).astype(dtype)


def _scale(go: Any, norm: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.float64(1.0 if go is None else go) / np.float64(norm))


def _whole_call(face: Any, want: int, go: Any, k: int | None, *inputs: Any) -> Any:
    result = face.call(want, go, None, {}, *inputs)
    return result if k is None else result[k]


# -- planning -------------------------------------------------------------------


class _Plan:
    """How to cut one call: an index per input and option, the loss's index."""

    def __init__(self) -> None:
        self.inds: list[str] = []
        self.opts: list[tuple[str, Any, str]] = []  # (name, dask array, index)
        self.out_ind = ""
        self.norm: Any = None  # float, or a dask 0-d array


def _blockwise_pairs(arrays: Iterable[Any], inds: Iterable[str]) -> list[Any]:
    args: list[Any] = []
    for a, ind in zip(arrays, inds):
        args += [a, ind]
    return args


def _in_one_task(rule: Rule, inputs: list[Any]) -> bool:
    x, split = inputs[0], rule.split
    # (element-wise inputs that broadcast against each other: their gradients are
    # folded back to the smaller shape, which a block cannot do; one task can)
    return split == "whole" or x.ndim == 0 or (x.ndim == 1 and split != "elementwise") or (
        split == "rows" and x.ndim > 2
    ) or (split == "elementwise" and len({a.shape for a in inputs}) > 1)


def _plan(face: Any, inputs: list[Any]) -> tuple[str, _Plan, list[Any]]:
    rule = face.rule
    plan = _Plan()
    if _in_one_task(rule, inputs):
        return "whole", plan, inputs
    plan_split = {"elementwise": _plan_elementwise, "class_index": _plan_class_index,
                  "rows": _plan_rows}[rule.split]
    cut = plan_split(face, plan, inputs)
    if face.reduction == "batchmean":
        plan.norm = float(inputs[0].shape[0])
    elif plan.norm is None:  # the elements (or, without a weight, "weights")
        plan.norm = float(math.prod(_NONE_SHAPES[rule.none]([a.shape for a in cut])))
    return rule.split, plan, cut


def _plan_elementwise(face: Any, plan: _Plan, inputs: list[Any]) -> list[Any]:
    da = _da()
    letters = string.ascii_lowercase
    shape = np.broadcast_shapes(*(a.shape for a in inputs))
    nd = len(shape)
    plan.inds = [letters[nd - a.ndim:nd] for a in inputs]
    plan.out_ind = letters[:nd]
    ref = max(inputs, key=lambda a: a.ndim)
    for opt in face.rule.cut:
        value = face.option(opt)
        if value is None:
            continue
        w = np.asarray(value) if not any_dask([value]) else value
        w = w.reshape((1,) * (nd - w.ndim) + tuple(w.shape))
        chunks = tuple(
            (1,) if w.shape[ax] == 1 else ref.chunks[ax - (nd - ref.ndim)] for ax in range(nd)
        )
        plan.opts.append((opt, _as_dask(w).rechunk(chunks), letters[:nd]))
    if face.rule.mean == "weights" and face.option("weight") is not None:
        w_arr, w_ind = next((a, i) for n, a, i in plan.opts if n == "weight")
        partial = da.blockwise(
            functools.partial(_weight_norm, face, nd), plan.out_ind, w_arr, w_ind,
            *_blockwise_pairs(inputs, plan.inds),
            dtype=np.float64, adjust_chunks=dict.fromkeys(plan.out_ind, 1),
        )
        plan.norm = partial.sum(dtype=np.float64)
    return inputs


def _plan_class_index(face: Any, plan: _Plan, inputs: list[Any]) -> list[Any]:
    da = _da()
    letters = string.ascii_lowercase
    x, t = inputs[0].rechunk({1: -1}), inputs[1]
    extra = letters[2:x.ndim]  # the d1..dk axes; 'a' batch, 'b' classes
    probs = t.ndim == x.ndim  # class probabilities, cut as the input
    plan.inds = ["ab" + extra, ("ab" if probs else "a") + extra]
    t = t.rechunk({1: -1}) if probs else t
    plan.out_ind = "a" + extra
    if face.rule.mean == "core":  # each block's divisor from the core, summed
        rule = face.rule
        options = _row_option_values(face)
        partial = da.blockwise(
            functools.partial(_core_norm, rule.name, options, len(plan.out_ind)),
            plan.out_ind, x, plan.inds[0], t, plan.inds[1],
            dtype=np.float64, adjust_chunks=dict.fromkeys(plan.out_ind, 1), concatenate=True,
        )
        plan.norm = partial.sum(dtype=np.float64)
    return [x, t] + list(inputs[2:])


def _plan_rows(face: Any, plan: _Plan, inputs: list[Any]) -> list[Any]:
    letters = string.ascii_lowercase
    cut = [a.rechunk({ax: -1 for ax in range(1, a.ndim)}) if a.ndim > 1 else a for a in inputs]
    plan.inds = ["a" + letters[1:a.ndim] for a in cut]
    plan.out_ind = "a" if face.rule.none == "rows" else plan.inds[0]
    return cut


# -- the lazy call ----------------------------------------------------------------


def run(crit: Any, what: str, want: int, grad_output: Any, inputs: tuple[Any, ...], out: Any,
        config: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """A criterion's call (``Loss._call``) with dask arrays: the lazy loss,
    gradient or ``(loss, grad)`` as ``want`` asks, and the config the call
    keeps, a private copy: what the graph computes, and what a later
    ``backward`` uses, is fixed when it is built."""
    name = type(crit).__name__
    refuse_second_order(name, what, want)
    rule = _rule_of(crit)
    _refuse_out(name, out)
    config = copy.deepcopy(config)
    return _lazy(_Criterion(crit, rule, config), want, grad_output, inputs), config


def refuse_second_order(name: str, what: str, want: int) -> None:
    """NotImplementedError for a Hessian (or H v) call with dask arrays."""
    if want & _HESS:
        raise NotImplementedError(f"{name}.{what}(): Hessians of dask arrays are not supported; "
                                  "compute the arrays first")


def _refuse_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(
            f"{name}: out= is not supported for dask arrays; the gradient is a new dask array")


def _lazy(face: Any, want: int, grad_output: Any, inputs: tuple[Any, ...]) -> Any:
    """The lazy counterpart of ``face.call(want, grad_output, None, {}, *inputs)``:
    the loss (a 0-d dask array for ``"mean"``/``"sum"``), the gradient (dask
    arrays chunked like the inputs), or ``(loss, grad)``."""
    da = _da()
    rule = face.rule
    if len(inputs) != len(rule.inputs):
        raise TypeError(f"{face.name} takes {len(rule.inputs)} arrays "
                        f"({', '.join(rule.inputs)}), got {len(inputs)}")
    # NumPy-side arguments are converted as the core converts them (errors name them)
    originals = [_as_dask(a if any_dask([a]) else as_array(a, face.name, arg))
                 for a, arg in zip(inputs, rule.inputs)]
    for a in originals:
        if any(math.isnan(c) for cs in a.chunks for c in cs):
            raise ValueError(
                f"{face.name}: dask arrays with unknown chunk sizes (call compute_chunk_sizes())"
            )
    dtype = next((a.dtype for a in originals if is_half(a.dtype) or a.dtype.kind == "f"), _F64)
    kind, plan, cut = _plan(face, originals)
    if kind == "elementwise" and face.reduction == "mean":
        # the blocks sum, so a warning the NumPy path gives for "mean" (KLDivLoss's)
        # comes from an empty call with it
        face.call(_LOSS, None, None, dict.fromkeys(rule.cut),
                  *[np.zeros((0,) * a.ndim, a.dtype) for a in originals])
    results = []
    if want & _LOSS:
        results.append(_lazy_loss(da, face, kind, plan, cut, dtype))
    if want & _GRAD:
        grads = [
            _lazy_grad(da, face, kind, plan, cut, originals, dtype, grad_output,
                       None if rule.ngrad == 1 else k)
            for k in range(rule.ngrad)
        ]
        results.append(grads[0] if rule.ngrad == 1 else tuple(grads))
    return results[0] if len(results) == 1 else tuple(results)


def _block_args(plan: _Plan, cut: list[Any]) -> list[Any]:
    return _blockwise_pairs(cut, plan.inds) + _blockwise_pairs(
        (a for _, a, _ in plan.opts), (i for _, _, i in plan.opts))


def _lazy_loss(da: Any, face: Any, kind: str, plan: _Plan, cut: list[Any], dtype: Any) -> Any:
    if kind == "whole":
        return _whole(da, face, _LOSS, None, cut, None, dtype)
    opt_names = tuple(n for n, _, _ in plan.opts)
    args = _block_args(plan, cut)
    if face.reduction == "none":
        return da.blockwise(
            functools.partial(_block_call, face, "none", _LOSS, len(cut), opt_names,
                              _post_identity),
            plan.out_ind, *args, dtype=dtype, concatenate=True,
        )
    partial = da.blockwise(
        functools.partial(_partial_call, face, "sum", _LOSS, len(cut), opt_names,
                          functools.partial(_post_partial, len(plan.out_ind))),
        plan.out_ind, *args, dtype=np.float64, concatenate=True,
        adjust_chunks=dict.fromkeys(plan.out_ind, 1),
    )
    total = partial.sum(dtype=np.float64)
    if face.reduction == "sum":
        return total.astype(dtype)
    return da.blockwise(
        functools.partial(_divide, dtype=dtype), "", total, "", _as_dask(plan.norm), "",
        dtype=dtype,
    )


def _lazy_grad(da: Any, face: Any, kind: str, plan: _Plan, cut: list[Any], originals: list[Any],
               dtype: Any, grad_output: Any, k: int | None) -> Any:
    i = face.rule.grads[0 if k is None else k]
    if kind == "whole":
        g = _whole(da, face, _GRAD, grad_output, cut, k, dtype, shape=originals[i].shape)
        return g.rechunk(originals[i].chunks)
    opt_names = tuple(n for n, _, _ in plan.opts)
    args = _block_args(plan, cut)
    if face.reduction == "none":
        block_red = "none"
        if grad_output is not None:
            args += [_as_dask(grad_output), plan.out_ind]
    else:
        block_red = "sum"
        go = _as_dask(np.float64(1.0) if grad_output is None else grad_output)
        if face.reduction != "sum":
            go = da.blockwise(_scale, "", go, "", _as_dask(plan.norm), "", dtype=np.float64)
        # a half call's scale stays float32: rounded to half, it would round twice
        args += [go.astype(compute_dtype(dtype)), ""]
    g = da.blockwise(
        functools.partial(_block_call, face, block_red, _GRAD, len(cut), opt_names,
                          functools.partial(_post_grad, k)),
        plan.inds[i], *args, dtype=dtype, concatenate=True,
    )
    if g.chunks != originals[i].chunks:
        g = g.rechunk(originals[i].chunks)
    return g


def _row_option_values(face: Any, **block: Any) -> tuple[Any, ...]:
    """The call's options as its row's core function takes them, in the row's
    order: the ones the call sets over the function's defaults, each made by
    its adapter where the face takes it in another form (``_rows.row_options``);
    ``block``: a block's own pieces of the options that are cut."""
    from . import functional

    fn = inspect.unwrap(getattr(functional, face.rule.fname))
    given = {n: p.default for n, p in inspect.signature(fn).parameters.items()
             if p.default is not p.empty}
    given.update(face.given())
    given.update(block)
    return _rows.row_options(_rows.ROWS[face.rule.fname], given)


def _core_none_shape(face: Any, cut: list[Any]) -> tuple[int, ...]:
    """The "none" shape the core gives for the call's options and these
    arrays' shapes (WANT_SHAPE, on zero-stride stand-ins: no data is read)."""
    options = _row_option_values(face)
    stand = [np.broadcast_to(np.zeros((), a.dtype), a.shape) for a in cut]
    return tuple(getattr(_core, face.rule.name)(
        *stand, *options, _core.REDUCE_NONE, _SHAPE, None))


def _whole(da: Any, face: Any, want: int, grad_output: Any, cut: list[Any], k: int | None,
           dtype: Any, shape: tuple[int, ...] | None = None) -> Any:
    """The call in one task (a batch-coupled loss, or inputs no split can cut)."""
    if shape is None:  # the loss
        shape = ()
        if face.reduction == "none" and face.rule.none == "core":
            shape = _core_none_shape(face, cut)
        elif face.reduction == "none":
            shape = tuple(_NONE_SHAPES[face.rule.none]([a.shape for a in cut]))
    task = _delayed()(_whole_call, pure=True)(
        face, want, grad_output, k, *[a.rechunk(-1) if a.ndim else a for a in cut],
    )
    return da.from_delayed(task, shape=shape, dtype=dtype)


# -- the functions' entry point -------------------------------------------------------


def lazy_aware(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, a loss function of :mod:`pylossfn.functional` (named as its row's
    ``fname``), made lazy when any argument is a dask array."""
    rule = RULES[fn.__name__]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if any_dask(args) or any_dask(kwargs.values()):
            return _functional(rule, fn, args, kwargs)
        return fn(*args, **kwargs)

    return call


def _functional(rule: Rule, fn: Callable[..., Any], args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    """A loss function called with a dask array: the lazy loss."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    values = tuple(params.pop(p) for p in rule.inputs)
    for p, v in params.items():
        if any_dask([v]) and p not in rule.cut:
            params[p] = np.asarray(_compute(v))  # a small option (class weights, ...)
    # the graph keeps the options of this call: a copy, so that writing into the
    # caller's weight array (or list) later does not change what it computes
    return _lazy(_Functional(rule, copy.deepcopy(params)), _LOSS, None, values)
