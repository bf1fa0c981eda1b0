"""Dask arrays through the losses and the metrics: lazy graphs of per-block NumPy calls.

The entry points in ``functional.py``, ``modules/_base.py`` and ``metrics.py``
hand a call over to this module when any array argument is a
``dask.array.Array`` (:func:`any_dask`).  Nothing here imports dask until such a
call arrives, so the core keeps NumPy as its only run-time dependency.

Losses.  A loss is evaluated per block by the same C core, with
``reduction="sum"``; the block sums are float64 partials added in a tree
(``dask.array`` reductions), and a ``"mean"`` divides by the *global*
normalizer computed in the same graph (element count, the summed class
weights of the targets that are not ignored, the weight sum, ``N`` for
``batchmean`` and the per-row losses), never by averaging chunk means.  A
gradient is the per-block core gradient of the ``"sum"`` loss with
``grad_output`` scaled by ``1 / normalizer``.  How a loss may be cut is its
*kind* (see ``_KINDS``):

``elementwise``  any chunks along any axis; weight-like options that
                 broadcast against the input are cut with it.
``class_index``  cross-entropy / NLL: the class axis (1) is made whole, the
                 batch and extra axes keep their chunks.
``rows``         a sample's loss couples its row (ZLPR, margins, embeddings):
                 every axis but the first is made whole.
``whole``        couples the batch (soft-F1, CTC, Gaussian NLL): one task.

Metrics.  Decomposable metrics reduce a mergeable state per block
(:class:`pylossfn.metrics.MultilabelConfusion`,
:class:`pylossfn.metrics.RankingStats`, counts) in a tree of
``dask.delayed`` merges; average precision is computed exactly per label on
blocks of whole label columns.  Metric calls compute and return the NumPy
path's type (floats, arrays); the prediction helpers return dask arrays.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
import string
import sys
from typing import Any, Callable, Iterable

import numpy as np

from ._convert import as_array

_LOSS, _GRAD = 1, 2  # pylossfn._core.WANT_LOSS / WANT_GRAD (checked in the tests)


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


# ----------------------------------------------------------------------------
# Loss kinds
# ----------------------------------------------------------------------------

#: elementwise: (broadcast options, does "mean" divide by the sum of `weight`?)
_ELEMENTWISE = {
    "BCELoss": (("weight",), False),
    "binary_cross_entropy": (("weight",), False),
    "BCEWithLogitsLoss": (("weight", "pos_weight"), False),
    "binary_cross_entropy_with_logits": (("weight", "pos_weight"), False),
    "L1Loss": ((), False),
    "l1_loss": (("weight",), True),
    "MSELoss": ((), False),
    "mse_loss": (("weight",), True),
    "SmoothL1Loss": ((), False),
    "smooth_l1_loss": ((), False),
    "HuberLoss": ((), False),
    "huber_loss": (("weight",), False),  # its mean stays over the elements
    "SoftMarginLoss": ((), False),
    "soft_margin_loss": ((), False),
    "KLDivLoss": ((), False),
    "kl_div": ((), False),
    "PoissonNLLLoss": ((), False),
    "poisson_nll_loss": ((), False),
    "HingeEmbeddingLoss": ((), False),
    "hinge_embedding_loss": ((), False),
    "MarginRankingLoss": ((), False),
    "margin_ranking_loss": ((), False),
    "SigmoidFocalLoss": ((), False),
    "sigmoid_focal_loss": ((), False),
    "AsymmetricLoss": ((), False),
    "asymmetric_loss": ((), False),
}
_CLASS_INDEX = {"CrossEntropyLoss", "cross_entropy", "NLLLoss", "nll_loss",
                "PolyCrossEntropyLoss", "poly_cross_entropy"}
_ROWS = {
    "ZLPRLoss", "multilabel_categorical_crossentropy",
    "MultiLabelSoftMarginLoss", "multilabel_soft_margin_loss",
    "MultiMarginLoss", "multi_margin_loss",
    "MultiLabelMarginLoss", "multilabel_margin_loss",
    "CosineEmbeddingLoss", "cosine_embedding_loss",
    "TripletMarginLoss", "triplet_margin_loss",
    "TripletMarginWithDistanceLoss", "triplet_margin_with_distance_loss",
    "SparsemaxLoss", "sparsemax_loss", "DistillationLoss", "distillation_loss",
}
#: row losses whose "none" keeps one term per class ([N, C]): "mean" divides by N C
_ROW_TERMS = {"DistillationLoss", "distillation_loss"}
#: the batch-coupled losses, computed in one task; their "none" output shape
_WHOLE: dict[str, Callable[..., tuple[int, ...]]] = {
    "SoftF1Loss": lambda x, t: x.shape[-1:] if x.ndim else (),
    "soft_f1_loss": lambda x, t: x.shape[-1:] if x.ndim else (),
    "CTCLoss": lambda lp, *rest: lp.shape[1:2] if lp.ndim == 3 else (),
    "ctc_loss": lambda lp, *rest: lp.shape[1:2] if lp.ndim == 3 else (),
    "GaussianNLLLoss": lambda x, t, v: np.broadcast_shapes(x.shape, t.shape),
    "gaussian_nll_loss": lambda x, t, v: np.broadcast_shapes(x.shape, t.shape),
}
#: losses with several differentiable inputs: how many gradients they return
_N_GRADS = {
    "CosineEmbeddingLoss": 2, "TripletMarginLoss": 3, "TripletMarginWithDistanceLoss": 3,
    "MarginRankingLoss": 2, "GaussianNLLLoss": 2,
}


class _Functional:
    """A functional loss call as a loss object: ``_run(want=LOSS, None, *inputs)``.

    Lets the functions share the classes' block machinery; options (``weight``,
    ``reduction``, ...) are attributes, so blocks can replace them.
    """

    def __init__(self, name: str, inputs: tuple[str, ...], options: dict[str, Any]):
        self.name = name  # a name, not the function: workers import it
        self._inputs = inputs
        self.options = options

    @property
    def fn(self) -> Callable[..., Any]:
        from . import functional

        return inspect.unwrap(getattr(functional, self.name))

    @property
    def reduction(self) -> str:
        return self.options.get("reduction", "mean")

    def configured(self, reduction: str, **opts: Any) -> _Functional:
        return _Functional(self.name, self._inputs, {**self.options, **opts, "reduction": reduction})

    def _run(self, want: int, grad_output: Any, *inputs: Any) -> Any:
        assert want == _LOSS  # the functions have no gradient
        return self.fn(*inputs, **self.options)


def _input_names(crit: Any, n: int) -> list[str]:
    """The names of a call's ``n`` array arguments, for the errors."""
    if isinstance(crit, _Functional):
        return list(crit._inputs)
    return list(inspect.signature(crit._impl).parameters)[4:4 + n]


def _name(crit: Any) -> str:
    return crit.name if isinstance(crit, _Functional) else type(crit).__name__


def _option(crit: Any, name: str) -> Any:
    return crit.options.get(name) if isinstance(crit, _Functional) else getattr(crit, name, None)


def _configured(crit: Any, reduction: str, opts: dict[str, Any]) -> Any:
    """A copy of ``crit`` with another reduction and (block slices of) options."""
    if isinstance(crit, _Functional):
        return crit.configured(reduction, **opts)
    c = copy.copy(crit)  # the configuration (a copy carries no saved state)
    c.reduction = reduction
    for k, v in opts.items():
        setattr(c, k, v)
    return c


# -- the functions that run in the workers -------------------------------------


def _block_call(crit: Any, reduction: str, want: int, n_in: int, opt_names: tuple[str, ...],
                post: Callable[[Any], Any], *blocks: Any) -> Any:
    inputs = blocks[:n_in]
    opts = dict(zip(opt_names, blocks[n_in:n_in + len(opt_names)]))
    rest = blocks[n_in + len(opt_names):]
    go = rest[0] if rest else None
    return post(_configured(crit, reduction, opts)._run(want, go, *inputs))


def _post_partial(ndim: int, result: Any) -> np.ndarray:
    # a block's float32 sum becomes a float64 partial of the tree sum
    return np.full((1,) * ndim, float(result), dtype=np.float64)


def _post_identity(result: Any) -> Any:
    return result


def _post_grad(k: int | None, result: Any) -> Any:
    return result if k is None else result[k]


def _ce_norm(weight: Any, ignore_index: int, ndim: int, t: np.ndarray) -> np.ndarray:
    """Sum of the class weights of a block's targets that are not ignored."""
    keep = t != ignore_index
    if weight is None:
        total = float(np.count_nonzero(keep))
    else:
        w = np.asarray(weight, dtype=np.float64)
        tk = t[keep]
        # a class out of range is the loss block's error (with its message), not ours
        total = float(np.sum(w[tk[(tk >= 0) & (tk < w.shape[0])]]))
    return np.full((1,) * ndim, total, dtype=np.float64)


def _weight_norm(ndim: int, w: np.ndarray, *blocks: Any) -> np.ndarray:
    # the block's weight broadcast to the block's loss shape, summed
    shape = np.broadcast_shapes(*(b.shape for b in blocks))
    total = float(np.sum(np.broadcast_to(np.asarray(w, np.float64), shape)))
    return np.full((1,) * ndim, total, dtype=np.float64)


def _divide(total: np.ndarray, norm: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.float64(total) / np.float64(norm)).astype(dtype)


def _scale(go: Any, norm: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.float64(1.0 if go is None else go) / np.float64(norm))


def _whole_call(crit: Any, want: int, go: Any, k: int | None, *inputs: Any) -> Any:
    c = _configured(crit, crit.reduction, {})
    result = c._run(want, go, *inputs)
    return result if k is None else result[k]


# -- planning -------------------------------------------------------------------


class _Plan:
    """How to cut one call: an index per input and option, the loss's index."""

    def __init__(self) -> None:
        self.inds: list[str] = []
        self.opts: list[tuple[str, Any, str]] = []  # (name, dask array, index)
        self.out_ind = ""
        self.norm: Any = None  # float, or a dask 0-d array


def _as_dask(a: Any) -> Any:
    da = _da()
    return a if any_dask([a]) else da.asarray(np.asarray(a))


def _plan(crit: Any, inputs: list[Any]) -> tuple[str, _Plan, list[Any]]:
    da = _da()
    name = _name(crit)
    letters = string.ascii_lowercase
    plan = _Plan()
    x = inputs[0]
    if name in _WHOLE or x.ndim == 0 or (x.ndim == 1 and name not in _ELEMENTWISE) or (
        name in _ROWS and x.ndim > 2
    ) or (name in _ELEMENTWISE and len({a.shape for a in inputs}) > 1):
        # (element-wise inputs that broadcast against each other: their gradients are
        # folded back to the smaller shape, which a block cannot do; one task can)
        return "whole", plan, inputs
    reduction = crit.reduction
    if name in _ELEMENTWISE:
        option_names, weight_mean = _ELEMENTWISE[name]
        shape = np.broadcast_shapes(*(a.shape for a in inputs))
        nd = len(shape)
        plan.inds = [letters[nd - a.ndim:nd] for a in inputs]
        plan.out_ind = letters[:nd]
        ref = max(inputs, key=lambda a: a.ndim)
        for opt in option_names:
            value = _option(crit, opt)
            if value is None:
                continue
            w = np.asarray(value) if not any_dask([value]) else value
            w = w.reshape((1,) * (nd - w.ndim) + tuple(w.shape))
            chunks = tuple(
                (1,) if w.shape[ax] == 1 else ref.chunks[ax - (nd - ref.ndim)]
                for ax in range(nd)
            )
            plan.opts.append((opt, _as_dask(w).rechunk(chunks), letters[:nd]))
        if reduction == "batchmean":
            plan.norm = float(shape[0]) if nd else 1.0
        elif weight_mean and _option(crit, "weight") is not None:
            w_arr, w_ind = next((a, i) for n, a, i in plan.opts if n == "weight")
            args: list[Any] = [w_arr, w_ind]
            for a, ind in zip(inputs, plan.inds):
                args += [a, ind]
            partial = da.blockwise(
                functools.partial(_weight_norm, nd), plan.out_ind, *args,
                dtype=np.float64, adjust_chunks=dict.fromkeys(plan.out_ind, 1),
            )
            plan.norm = partial.sum(dtype=np.float64)
        else:
            plan.norm = float(math.prod(shape))
        return "elementwise", plan, inputs
    if name in _CLASS_INDEX:
        x = x.rechunk({1: -1})
        t = inputs[1]
        extra = letters[2:x.ndim]  # the d1..dk axes; 'a' batch, 'b' classes
        plan.inds = ["ab" + extra, ("ab" + extra) if t.ndim == x.ndim else ("a" + extra)]
        if t.ndim == x.ndim:
            t = t.rechunk({1: -1})
        plan.out_ind = "a" + extra
        if t.ndim == x.ndim:  # class probabilities: the mean is over the samples
            plan.norm = float(math.prod(t.shape) // max(t.shape[1], 1))
        else:
            partial = da.blockwise(
                functools.partial(
                    _ce_norm, _option(crit, "weight"), _option(crit, "ignore_index"),
                    len(plan.out_ind),
                ),
                plan.out_ind, t, plan.inds[1],
                dtype=np.float64, adjust_chunks=dict.fromkeys(plan.out_ind, 1),
            )
            plan.norm = partial.sum(dtype=np.float64)
        return "class_index", plan, [x, t] + list(inputs[2:])
    if name in _ROWS:
        cut = []
        for a in inputs:
            a = a.rechunk({ax: -1 for ax in range(1, a.ndim)}) if a.ndim > 1 else a
            cut.append(a)
        plan.inds = ["a" + letters[1:a.ndim] for a in cut]
        plan.out_ind = "a"
        plan.norm = float(x.shape[0])
        if name in _ROW_TERMS:
            plan.out_ind = "ab"
            plan.norm *= float(x.shape[1]) if reduction == "mean" else 1.0
        return "rows", plan, cut
    raise NotImplementedError(f"pylossfn: {name} has no dask implementation")


# -- the lazy call ----------------------------------------------------------------


def run(crit: Any, want: int, grad_output: Any, inputs: tuple[Any, ...], out: Any = None) -> Any:
    """The lazy counterpart of ``crit._run(want, grad_output, *inputs)``.

    Returns the loss (a 0-d dask array for ``"mean"``/``"sum"``), the
    gradient (dask arrays chunked like the inputs), or ``(loss, grad)``.
    The graph holds ``crit`` (and its option arrays) by reference, so the
    callers pass a private copy: what the graph computes is fixed when it
    is built (``Loss._lazy``, :func:`functional`).
    """
    da = _da()
    if out is not None:
        raise TypeError(
            f"{_name(crit)}: out= is not supported for dask arrays; the gradient is a new "
            "dask array"
        )
    # NumPy-side arguments are converted as the core converts them (errors name them)
    originals = [_as_dask(a if any_dask([a]) else as_array(a, _name(crit), arg))
                 for a, arg in zip(inputs, _input_names(crit, len(inputs)))]
    for a in originals:
        if any(math.isnan(c) for cs in a.chunks for c in cs):
            raise ValueError(
                f"{_name(crit)}: dask arrays with unknown chunk sizes (call compute_chunk_sizes())"
            )
    dtype = next((a.dtype for a in originals if a.dtype.kind == "f"), np.dtype(np.float64))
    name = _name(crit)
    n_grads = _N_GRADS.get(name, 1)
    kind, plan, cut = _plan(crit, originals)
    reduction = crit.reduction
    if name in ("KLDivLoss", "kl_div") and reduction == "mean" and kind != "whole":
        # the blocks sum, so the NumPy path's warning about "mean" comes from an empty call
        empty = np.zeros((0,) * originals[0].ndim, dtype)
        crit._run(_LOSS, None, empty, empty)
    results = []
    if want & _LOSS:
        results.append(_lazy_loss(da, crit, kind, plan, cut, dtype, reduction, grad_output))
    if want & _GRAD:
        grads = [
            _lazy_grad(da, crit, kind, plan, cut, originals, dtype, reduction, grad_output,
                       None if n_grads == 1 else k)
            for k in range(n_grads)
        ]
        results.append(grads[0] if n_grads == 1 else tuple(grads))
    return results[0] if len(results) == 1 else tuple(results)


def _block_args(plan: _Plan, cut: list[Any]) -> list[Any]:
    args: list[Any] = []
    for a, ind in zip(cut, plan.inds):
        args += [a, ind]
    for _, a, ind in plan.opts:
        args += [a, ind]
    return args


def _lazy_loss(da: Any, crit: Any, kind: str, plan: _Plan, cut: list[Any], dtype: Any,
               reduction: str, grad_output: Any) -> Any:
    if kind == "whole":
        return _whole(da, crit, _LOSS, None, cut, None, dtype)
    opt_names = tuple(n for n, _, _ in plan.opts)
    args = _block_args(plan, cut)
    if reduction == "none":
        return da.blockwise(
            functools.partial(_block_call, crit, "none", _LOSS, len(cut), opt_names,
                              _post_identity),
            plan.out_ind, *args, dtype=dtype, concatenate=True,
        )
    partial = da.blockwise(
        functools.partial(_block_call, crit, "sum", _LOSS, len(cut), opt_names,
                          functools.partial(_post_partial, len(plan.out_ind))),
        plan.out_ind, *args, dtype=np.float64, concatenate=True,
        adjust_chunks=dict.fromkeys(plan.out_ind, 1),
    )
    total = partial.sum(dtype=np.float64)
    if reduction == "sum":
        return total.astype(dtype)
    return da.blockwise(
        functools.partial(_divide, dtype=dtype), "", total, "", _as_dask(plan.norm), "",
        dtype=dtype,
    )


def _lazy_grad(da: Any, crit: Any, kind: str, plan: _Plan, cut: list[Any], originals: list[Any],
               dtype: Any, reduction: str, grad_output: Any, k: int | None) -> Any:
    i = 0 if k is None else k
    if kind == "whole":
        g = _whole(da, crit, _GRAD, grad_output, cut, k, dtype, shape=originals[i].shape)
        return g.rechunk(originals[i].chunks)
    opt_names = tuple(n for n, _, _ in plan.opts)
    args = _block_args(plan, cut)
    if reduction == "none":
        block_red = "none"
        if grad_output is not None:
            args += [_as_dask(grad_output), plan.out_ind]
    else:
        block_red = "sum"
        if reduction == "sum":
            scale = _as_dask(np.float64(1.0) if grad_output is None else grad_output)
        else:
            scale = da.blockwise(
                _scale, "", _as_dask(np.float64(1.0) if grad_output is None else grad_output),
                "", _as_dask(plan.norm), "", dtype=np.float64,
            )
        args += [scale.astype(dtype), ""]
    g = da.blockwise(
        functools.partial(_block_call, crit, block_red, _GRAD, len(cut), opt_names,
                          functools.partial(_post_grad, k)),
        plan.inds[i], *args, dtype=dtype, concatenate=True,
    )
    if g.chunks != originals[i].chunks:
        g = g.rechunk(originals[i].chunks)
    return g


def _whole(da: Any, crit: Any, want: int, grad_output: Any, cut: list[Any], k: int | None,
           dtype: Any, shape: tuple[int, ...] | None = None) -> Any:
    delayed = _delayed()
    name = _name(crit)
    if shape is None:  # the loss
        if crit.reduction == "none":
            shape = tuple(_WHOLE[name](*cut)) if name in _WHOLE else _none_shape(name, cut)
        else:
            shape = ()
    task = delayed(_whole_call, pure=True)(
        _configured(crit, crit.reduction, {}), want, grad_output, k,
        *[a.rechunk(-1) if a.ndim else a for a in cut],
    )
    return da.from_delayed(task, shape=shape, dtype=dtype)


def _none_shape(name: str, cut: list[Any]) -> tuple[int, ...]:
    """``reduction="none"`` shape of a loss computed in one task."""
    x = cut[0]
    if name in _ELEMENTWISE:
        return tuple(np.broadcast_shapes(*(a.shape for a in cut)))
    if x.ndim <= 1:  # one unbatched sample
        return ()
    if name in ("ZLPRLoss", "multilabel_categorical_crossentropy"):
        return tuple(x.shape[:-1])
    raise NotImplementedError(f"pylossfn: {name} of a {x.ndim}-d input has no dask implementation")


# -- the functional entry point -----------------------------------------------------


def functional(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A ``pylossfn.functional`` loss called with a dask array: the lazy loss."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    inputs = [p for p in params if _is_input(fn.__name__, p)]
    values = tuple(params.pop(p) for p in inputs)
    cut_with_input = _ELEMENTWISE.get(fn.__name__, ((), False))[0]
    for p, v in params.items():
        if any_dask([v]) and p not in cut_with_input:
            params[p] = np.asarray(_compute(v))  # a small option (class weights, ...)
    # the graph keeps the options of this call: a copy, so that writing into the
    # caller's weight array (or list) later does not change what it computes
    params = copy.deepcopy(params)
    return run(_Functional(fn.__name__, tuple(inputs), params), _LOSS, None, values)


_INPUTS = {
    "cosine_embedding_loss": ("input1", "input2", "target"),
    "margin_ranking_loss": ("input1", "input2", "target"),
    "triplet_margin_loss": ("anchor", "positive", "negative"),
    "triplet_margin_with_distance_loss": ("anchor", "positive", "negative"),
    "ctc_loss": ("log_probs", "targets", "input_lengths", "target_lengths"),
    "gaussian_nll_loss": ("input", "target", "var"),
}


def _is_input(fname: str, param: str) -> bool:
    return param in _INPUTS.get(fname, ("input", "target"))


# ----------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------


def metric(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A ``pylossfn.metrics`` function called with a dask array."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    return _METRICS[fn.__name__](inspect.unwrap(fn), dict(bound.arguments))


def _merge_all(parts: list[Any]) -> Any:
    # into a fresh state: a task never mutates its inputs
    total = type(parts[0])()
    for p in parts:
        total.merge(p)
    return total


def _tree(parts: list[Any], merge: Callable[[list[Any]], Any] = _merge_all,
          split_every: int = 8) -> Any:
    """Merge delayed partial states pairwise-ish in a tree of ``dask.delayed`` tasks."""
    delayed = _delayed()
    parts = list(parts)
    while len(parts) > 1:
        parts = [
            delayed(merge, pure=True)(parts[i:i + split_every])
            for i in range(0, len(parts), split_every)
        ]
    return parts[0] if parts else None


def _compute(x: Any) -> Any:
    _da()
    import dask

    return dask.compute(x)[0]


def _row_blocks(arrays: list[Any], whole_columns: bool = True) -> list[list[Any]]:
    """Delayed row blocks of arrays that share axis 0 (columns made whole)."""
    ref = next(a for a in arrays if any_dask([a]))
    rows = ref.chunks[0]
    out = []
    for a in arrays:
        if a is None:
            out.append([None] * len(rows))
            continue
        a = _as_dask(a)
        a = a.rechunk({0: rows, **({ax: -1 for ax in range(1, a.ndim)} if whole_columns else {})})
        out.append(list(a.to_delayed().ravel()))
    return out


# -- element-wise outputs ---------------------------------------------------------


def _m_multilabel_predictions(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    da = _da()
    x = _as_dask(p["logits"])
    thr = p["threshold"]
    nd = x.ndim
    # a copy: the lazy result keeps the threshold it was built with
    t = thr if any_dask([thr]) else np.array(thr)
    if t.ndim > nd:
        return fn(np.zeros(x.shape[:0] + (0,) * nd), thr)  # the NumPy error
    t = t.reshape((1,) * (nd - t.ndim) + tuple(t.shape))
    t = _as_dask(t).rechunk(tuple((1,) if t.shape[a] == 1 else x.chunks[a] for a in range(nd)))
    ind = string.ascii_lowercase[:nd]
    return da.blockwise(fn, ind, x, ind, t, ind, dtype=np.int64)


def _m_multiclass_predictions(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    da = _da()
    x = _as_dask(p["logits"])
    if x.ndim <= 1:
        return da.from_delayed(_delayed()(fn)(x.rechunk(-1)), shape=(), dtype=np.int64)
    x = x.rechunk({1: -1})
    ind = string.ascii_lowercase[:x.ndim]
    return da.blockwise(fn, ind[:1] + ind[2:], x, ind, dtype=np.int64, concatenate=True)


def _m_one_hot(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    t = _as_dask(p["labels"])
    n = p["num_classes"]
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n == -1 and t.size:
        if t.dtype.kind in "iu":
            n = int(_compute(t.max())) + 1
    if n == -1 or isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        return fn(np.asarray(t[:0]) if t.ndim else np.asarray(t), n)  # the NumPy error
    return t.map_blocks(functools.partial(fn, num_classes=n), dtype=np.int64,
                        new_axis=t.ndim, chunks=t.chunks + ((n,),))


# -- counts -------------------------------------------------------------------------


def _count_block(fn: Callable[..., Any], size_of: int, kwargs: dict[str, Any], *blocks: Any
                 ) -> np.ndarray:
    import warnings

    size = blocks[size_of].size
    if size == 0:
        return np.zeros(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the client emits the warnings once
        acc = fn(*blocks, **kwargs)
    return np.array([round(acc * size), size], dtype=np.float64)


def _counts(parts: list[Any]) -> float:
    total = np.sum(_compute(parts), axis=0) if parts else np.zeros(2)
    return float("nan") if total[1] == 0 else float(total[0] / total[1])


def _m_binary_accuracy(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    x, t = _as_dask(p["logits"]), _as_dask(p["target"])
    if x.shape != t.shape or x.ndim == 0:
        return fn(_compute(x), _compute(t), p["threshold"])
    fn(np.zeros((0,)), np.zeros((0,)), p["threshold"])  # the threshold's checks
    t = t.rechunk(x.chunks)
    delayed = _delayed()
    parts = [
        delayed(_count_block)(fn, 0, {"threshold": p["threshold"]}, a, b)
        for a, b in zip(x.to_delayed().ravel(), t.to_delayed().ravel())
    ]
    return _counts(parts)


def _m_class_counts(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    x, t = _as_dask(p["logits"]), _as_dask(p["labels"])
    extra = {k: v for k, v in p.items() if k not in ("logits", "labels")}
    if x.ndim < 2 or t.ndim != x.ndim - 1:
        return fn(_compute(x), _compute(t), **extra)
    # the argument checks and the k >= C warning, from an empty batch
    fn(np.zeros((0,) + x.shape[1:2] + (0,) * (x.ndim - 2), x.dtype),
       np.zeros((0,) + (0,) * (x.ndim - 2), t.dtype), **extra)
    x = x.rechunk({1: -1})
    t = t.rechunk((x.chunks[0],) + x.chunks[2:])
    delayed = _delayed()
    parts = [
        delayed(_count_block)(fn, 1, extra, a, b)
        for a, b in zip(x.to_delayed().ravel(), t.to_delayed().ravel())
    ]
    return _counts(parts)


# -- set-wise metrics -----------------------------------------------------------------


class _PairCounts:
    """Weighted counts of the distinct (y_true, y_pred) pairs of 1-D labels.

    Every set-wise metric of 1-D labels is a function of these counts, so the
    NumPy function on the distinct pairs, weighted by their counts, gives the
    metric of all the samples.
    """

    def __init__(self, t: Any = None, p: Any = None, w: Any = None, weighted: bool = False):
        self.t, self.p, self.w, self.weighted = t, p, w, weighted

    def merge(self, other: _PairCounts) -> _PairCounts:
        if other.t is None:
            return self
        if self.t is None:
            self.t, self.p, self.w, self.weighted = other.t, other.p, other.w, other.weighted
            return self
        self.t, self.p, self.w = _compress(
            np.concatenate([self.t, other.t]), np.concatenate([self.p, other.p]),
            np.concatenate([self.w, other.w]),
        )
        return self


def _compress(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[Any, Any, Any]:
    tv, ti = np.unique(t, return_inverse=True)
    pv, pi = np.unique(p, return_inverse=True)
    code, inv = np.unique(ti.ravel() * len(pv) + pi.ravel(), return_inverse=True)
    return tv[code // len(pv)], pv[code % len(pv)], np.bincount(inv.ravel(), weights=w)


def _pairs_block(t: np.ndarray, p: np.ndarray, w: Any) -> _PairCounts:
    t, p = np.asarray(t), np.asarray(p)
    t = t.ravel() if t.ndim == 2 else t
    p = p.ravel() if p.ndim == 2 else p
    if t.size == 0:
        return _PairCounts()
    weights = np.ones(t.shape[0]) if w is None else np.asarray(w, np.float64)
    return _PairCounts(*_compress(t, p, weights), weighted=w is not None)


def _confusion_block(t: np.ndarray, p: np.ndarray, w: Any) -> Any:
    from .metrics import MultilabelConfusion

    s = MultilabelConfusion(t.shape[1])
    if t.shape[0]:
        s.update(t, p, sample_weight=w)
    return s


def _setwise(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    yt, yp, w = p["y_true"], p["y_pred"], p.get("sample_weight")
    yt, yp = _as_dask(yt), _as_dask(yp)
    w = None if w is None else _as_dask(w)
    name = fn.__name__
    multilabel = yt.ndim == 2 and yt.shape[1] != 1
    if yt.ndim not in (1, 2) or yt.shape != yp.shape or yt.shape[0] == 0 or (
        w is not None and w.shape != yt.shape[:1]
    ) or (multilabel and p.get("average") == "binary"):
        # shapes the NumPy function refuses: its error, from a small slice where possible
        return fn(*_compute((yt, yp)), **{k: v for k, v in p.items()
                                          if k not in ("y_true", "y_pred", "sample_weight")},
                  sample_weight=None if w is None else _compute(w))
    delayed = _delayed()
    if multilabel:
        labels = p.get("labels")
        if labels is not None and name in ("precision_score", "recall_score", "f1_score"):
            from .metrics import _multilabel_columns

            cols = _multilabel_columns(labels, yt.shape[1], name)
            yt, yp = yt[:, cols], yp[:, cols]
        tb, pb, wb = _row_blocks([yt, yp, w])
        state = _compute(_tree([delayed(_confusion_block)(a, b, c)
                                for a, b, c in zip(tb, pb, wb)]))
        if name == "hamming_loss":
            return state.hamming_loss()
        if name == "subset_accuracy":
            return state.subset_accuracy(normalize=p["normalize"])
        pos_label, average = p["pos_label"], p["average"]
        if pos_label not in (None, 1):
            import warnings

            warnings.warn(
                f"Note that pos_label (set to {pos_label!r}) is ignored when average != "
                f"'binary' (got {average!r}). You may use labels=[pos_label] to specify a "
                "single positive class.",
                UserWarning,
                stacklevel=4,
            )
        return getattr(state, name)(average=average, zero_division=p["zero_division"])
    tb, pb, wb = _row_blocks([yt, yp, w])
    pairs = _compute(_tree([delayed(_pairs_block)(a, b, c) for a, b, c in zip(tb, pb, wb)]))
    rest = {k: v for k, v in p.items() if k not in ("y_true", "y_pred", "sample_weight")}
    return fn(pairs.t, pairs.p, sample_weight=pairs.w, **rest)


# -- ranking metrics ----------------------------------------------------------------


def _ranking_block(t: np.ndarray, s: np.ndarray, w: Any) -> Any:
    from .metrics import RankingStats

    state = RankingStats()
    if t.shape[0]:
        state.update(t, s, sample_weight=w)
    return state


def _m_ranking(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    yt, ys, w = _as_dask(p["y_true"]), _as_dask(p["y_score"]), p["sample_weight"]
    if yt.ndim != 2 or ys.shape != yt.shape or yt.shape[0] == 0 or (
        w is not None and getattr(w, "shape", None) != yt.shape[:1]
    ):
        return fn(*_compute((yt, ys)), sample_weight=None if w is None else _compute(w))
    delayed = _delayed()
    tb, sb, wb = _row_blocks([yt, ys, w])
    state = _compute(_tree([delayed(_ranking_block)(a, b, c) for a, b, c in zip(tb, sb, wb)]))
    return getattr(state, fn.__name__)()


def _ap_columns(t: np.ndarray, s: np.ndarray, w: Any) -> np.ndarray:
    """Per-label AP and weighted positive count of a block of whole label columns."""
    from .metrics import _ap_rows, _indicator, _scores

    fn = "average_precision_score"
    Y = _indicator(np.asarray(t), "y_true", fn)
    S = _scores(s, "y_score", fn)
    wv = None if w is None else np.asarray(w, np.float64)
    ap, _ = _ap_rows(Y.T, S.T, wv)
    support = Y.sum(axis=0, dtype=np.float64) if wv is None else wv @ Y
    return np.stack([ap, support])


def _ap_samples(t: np.ndarray, s: np.ndarray, w: Any) -> np.ndarray:
    from .metrics import _ap_rows, _indicator, _scores

    fn = "average_precision_score"
    ap, no_pos = _ap_rows(_indicator(np.asarray(t), "y_true", fn), _scores(s, "y_score", fn), None)
    wv = np.ones(ap.shape[0]) if w is None else np.asarray(w, np.float64)
    ap[wv == 0] = 0.0
    return np.array([ap.sum(), float(np.dot(ap, wv)), wv.sum(), ap.size,
                     np.count_nonzero(no_pos)], dtype=np.float64)


def _m_average_precision(fn: Callable[..., Any], p: dict[str, Any]) -> Any:
    from .metrics import _AVERAGES, _check_average, _sample_weight, _warn_no_positive

    name = "average_precision_score"
    yt, ys, w, average = _as_dask(p["y_true"]), _as_dask(p["y_score"]), p["sample_weight"], \
        p["average"]
    _check_average(average, name, _AVERAGES)
    distributed = (
        yt.ndim == 2 and yt.shape[1] > 1 and ys.shape == yt.shape and yt.shape[0] > 0
        and p["pos_label"] == 1 and average in (None, "macro", "weighted", "samples")
        and (w is None or getattr(w, "shape", None) == yt.shape[:1])
    )
    if not distributed:
        # binary, multiclass and micro AP need one global sort: gathered in the client
        return fn(*_compute((yt, ys)), average=average, pos_label=p["pos_label"],
                  sample_weight=None if w is None else _compute(w))
    if w is not None and not any_dask([w]):
        w = _sample_weight(w, yt.shape[0], name)
    delayed = _delayed()
    if average == "samples":
        tb, sb, wb = _row_blocks([yt, ys, w])
        total = np.sum(_compute([delayed(_ap_samples)(a, b, c) for a, b, c in zip(tb, sb, wb)]),
                       axis=0)
        no_pos = np.zeros(int(total[3]), bool)
        no_pos[: int(total[4])] = True
        _warn_no_positive(name, no_pos, "samples")
        if w is None:
            return float(total[0] / total[3])
        if total[2] == 0:
            raise ValueError(f"{name}: sample_weight sums to zero, the average is undefined")
        return float(total[1] / total[2])
    # whole columns (every row), cut along the labels
    yt, ys = yt.rechunk({0: -1}), ys.rechunk({0: -1, 1: yt.rechunk({0: -1}).chunks[1]})
    wd = None if w is None else _as_dask(w).rechunk(-1).to_delayed().ravel()[0]
    parts = [delayed(_ap_columns)(a, b, wd)
             for a, b in zip(yt.to_delayed().ravel(), ys.to_delayed().ravel())]
    ap, support = np.concatenate(_compute(parts), axis=1)
    _warn_no_positive(name, support == 0, "labels")
    if average is None:
        return ap
    if average == "macro":
        return float(np.mean(ap))
    if np.isclose(support.sum(), 0.0):
        return 0.0
    ap[support == 0] = 0.0
    return float(np.average(ap, weights=support))


_METRICS: dict[str, Callable[[Callable[..., Any], dict[str, Any]], Any]] = {
    "binary_accuracy": _m_binary_accuracy,
    "accuracy": _m_class_counts,
    "top_k_accuracy": _m_class_counts,
    "multilabel_predictions": _m_multilabel_predictions,
    "multiclass_predictions": _m_multiclass_predictions,
    "one_hot": _m_one_hot,
    "subset_accuracy": _setwise,
    "hamming_loss": _setwise,
    "precision_score": _setwise,
    "recall_score": _setwise,
    "f1_score": _setwise,
    "average_precision_score": _m_average_precision,
    "label_ranking_average_precision_score": _m_ranking,
    "coverage_error": _m_ranking,
    "label_ranking_loss": _m_ranking,
    "one_error": _m_ranking,
}
