"""The fused classifier heads: a linear layer and its loss, never holding N x C logits.

``linear_cross_entropy`` and ``linear_binary_cross_entropy_with_logits`` of
:mod:`pylossfn.functional` and the classes ``LinearCrossEntropyLoss`` /
``LinearBCEWithLogitsLoss`` call :func:`lce` and :func:`lbce` here.

The logits ``X @ W.T + b`` are cut into tiles of ``rows x cols``.  Each tile
is filled by one matrix product (NumPy's matmul, i.e. the BLAS NumPy links,
writing into one preallocated buffer), then a C kernel of the engine
(``_core._lce_tile`` / ``_lbce_tile``) computes the row statistics and
overwrites the tile with d loss / d logits, and two more products turn that
into the tile's share of ``d_input = G @ W`` and ``d_weight = G.T @ X``
(``d_bias`` is G's column sum).  Products write straight into the gradient
arrays where a tile covers a whole block of them, and through one small
scratch buffer plus an in-place add where they accumulate.

The tile shape (see :func:`tile_shape`):

* whole rows (``cols = C``) when at least ``_MIN_ROWS`` of them fit the
  budget: one pass, three products per tile, the flops of the reference
  path.  ``d_weight`` accumulates over the row chunks (a rank-``rows``
  update each), which costs a sweep over ``C x D`` per chunk, and the
  products of a short, wide tile (``rows x C`` times ``C x D``) run far
  below the BLAS's peak (measured with OpenBLAS: 64 x 131072 by 131072 x 64
  at a thirtieth of the speed of the same flops as 2048 x 2048 blocks), so
  with fewer rows than ``_MIN_ROWS`` recomputing is cheaper;
* otherwise class blocks over (up to) all rows with an online log-sum-exp:
  a first pass collects each row's running max and sum of exponentials, a
  second recomputes the tile and writes the gradient.  One extra product
  (four instead of three), but ``d_weight[c0:c1]`` is written once, and
  the tile can stay in cache however large C is.

The budget (logits per tile) defaults to 8 x the per-core L2 cache in bytes,
clamped to [8, 32] MiB: a tile is written by the product and read back by the
kernel and two products, and a few MiB keep the BLAS calls efficient and the
Python overhead per tile negligible.  The extra memory of a call is about
two budgets (the tile and the accumulation scratch), whatever N and C are.
"""
from __future__ import annotations

import functools
import operator
from typing import Any, Tuple, Union

import numpy as np

from . import _core
from ._convert import as_array, compute_dtype, is_half

__all__ = ["lce", "lbce", "tile_shape", "default_budget"]

_MIN_ROWS = 256  # fewer whole rows than this per tile: class blocks instead
_MIN_COLS = 256  # narrowest class block of the two-pass shape
_STATS, _FULL, _GRAD = _core.LCE_STATS, _core.LCE_FULL, _core.LCE_GRAD  # the tile modes
_WANT_LOSS, _WANT_GRAD, _WANT_HESS = _core.WANT_LOSS, _core.WANT_GRAD, _core.WANT_HESS
# the Hessian's product with v: the heads read WANT_HVP alone as WANT_HESS | WANT_HVP
_WANT_HVP = _core.WANT_HVP
_NONE, _MEAN = _core.REDUCE_NONE, _core.REDUCE_MEAN  # the core's reduction codes

ChunkSize = Union[int, Tuple[int, int], None]


@functools.lru_cache(maxsize=None)
def default_budget(itemsize: int) -> int:
    """Logits per tile when ``chunk_size`` is None (see the module docstring)."""
    l2 = 0
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
            text = f.read().strip().upper()
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        l2 = int(text.rstrip("KMG")) * mult
    except (OSError, ValueError):
        pass
    if l2 <= 0:
        l2 = 1 << 20
    nbytes = min(max(8 * l2, 8 << 20), 32 << 20)
    return nbytes // itemsize


def tile_shape(N: int, C: int, itemsize: int, chunk_size: ChunkSize, two_pass: bool = True
               ) -> tuple[int, int]:
    """``(rows, cols)`` of a tile for N rows and C classes.

    ``chunk_size``: None (the default budget), the most logits per tile (an
    int), or an explicit ``(rows, cols)``.
    """
    N1, C1 = max(N, 1), max(C, 1)
    if isinstance(chunk_size, tuple):
        return min(chunk_size[0], N1), min(chunk_size[1], C1)
    budget = default_budget(itemsize) if chunk_size is None else chunk_size
    if N1 * C1 <= budget:
        return N1, C1
    if budget // C1 >= min(_MIN_ROWS, N1):
        return min(N1, budget // C1), C1
    rows = min(N1, max(1, budget // _MIN_COLS))
    return rows, max(1, min(C1, budget // rows))


def _check_chunk(chunk_size: Any, fname: str) -> ChunkSize:
    if chunk_size is None:
        return None
    if isinstance(chunk_size, tuple) and len(chunk_size) == 2:
        try:
            r, c = operator.index(chunk_size[0]), operator.index(chunk_size[1])
        except TypeError:
            r = c = 0
        if r >= 1 and c >= 1:
            return (r, c)
    elif not isinstance(chunk_size, bool):
        try:
            n = operator.index(chunk_size)
        except TypeError:
            n = 0
        if n >= 1:
            return n
    raise ValueError(
        f"{fname}: chunk_size must be None, an int >= 1 (logits per chunk) or a pair "
        f"(rows, classes) of ints >= 1, got {chunk_size!r}"
    )


def _float(obj: Any, fname: str, name: str) -> np.ndarray:
    a = as_array(obj, fname, name)
    if a.dtype not in (np.float32, np.float64) and not is_half(a.dtype):
        raise TypeError(f"{fname}: {name} must be a float32 or float64 array, got dtype "
                        f"{a.dtype} (float16 and bfloat16 are taken too, computed in float32)")
    return a


def _dense(a: Any, dtype: Any) -> np.ndarray:
    """``a`` as a C-contiguous, aligned array of ``dtype`` (a copy only when it
    is not one): what the tile kernels take.  An unaligned buffer is real
    (``np.frombuffer`` at an odd offset, an array unpickled by dask's workers)
    and ``np.ascontiguousarray`` keeps it unaligned."""
    return np.require(a, dtype, ["C", "A"])


def _narrowed(result: list[Any], odt: Any, out: Any) -> list[Any]:
    """A half head's float32 results (loss, gradients, Hessian) in its dtype
    ``odt``; d_input goes into the caller's ``out`` when one was given."""
    def one(r: Any) -> Any:
        return r.astype(odt) if isinstance(r, np.ndarray) and r.dtype != odt else r

    parts = []
    for r in result:
        if isinstance(r, tuple):  # (d_input, d_weight, d_bias)
            g = [one(a) for a in r]
            if out is not None:
                out[...] = g[0]
                g[0] = out
            r = tuple(g)
        parts.append(one(r))
    return parts


def _head(fname: str, input: Any, linear_weight: Any, linear_bias: Any
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bool, np.dtype[Any]]:
    """X [N, D] and W [C, D] (C-contiguous, one dtype), bias, and whether
    the input was unbatched."""
    x = _float(input, fname, "input")
    w = _float(linear_weight, fname, "linear_weight")
    if x.ndim not in (1, 2):
        raise ValueError(f"{fname}: input must be [in_features] or [N, in_features], "
                         f"got shape {x.shape}")
    if w.ndim != 2:
        if w.ndim > 2:
            raise ValueError(
                f"{fname}: K-dimensional heads (linear_weight [C, d1, ..., dK, in_features], "
                f"out_features != ()) are not supported, got linear_weight shape {w.shape}"
            )
        raise ValueError(f"{fname}: linear_weight must be [C, in_features], got shape {w.shape}")
    if w.shape[0] < 1:
        raise ValueError(f"{fname}: linear_weight must have at least one class, got shape "
                         f"{w.shape}")
    if x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"{fname}: input and linear_weight must have the same last dimension "
            f"(in_features), got {x.shape[-1]} and {w.shape[1]}"
        )
    dtype = np.result_type(x.dtype, w.dtype)
    b = None
    if linear_bias is not None:
        b = _float(linear_bias, fname, "linear_bias")
        if b.shape != (w.shape[0],):
            raise ValueError(f"{fname}: linear_bias must have shape ({w.shape[0]},), got "
                             f"{b.shape}")
        dtype = np.result_type(dtype, b.dtype)
    unbatched = x.ndim == 1
    return x.reshape(1, -1) if unbatched else x, w, b, unbatched, dtype


def _scale(fname: str, reduction: int, grad_output: Any, shape: tuple[int, ...],
           dtype: Any) -> Any:
    """grad_output as a float (scalar reductions) or an array of ``shape``."""
    if reduction != _NONE:
        if grad_output is None:
            return 1.0
        g = np.asarray(grad_output)
        if g.size != 1 or g.ndim > 1:
            raise ValueError(f"{fname}: grad_output must be a scalar for a reduced loss, "
                             f"got shape {g.shape}")
        return float(g.reshape(()))
    if grad_output is None:
        return np.ones(shape, dtype)
    g = np.asarray(grad_output)
    if g.shape != shape:
        raise ValueError(f"{fname}: grad_output must have the loss's shape {shape}, got "
                         f"{g.shape}")
    return _dense(g, dtype)


class _Grads:
    """The gradient arrays of one call and the scratch that accumulates into them."""

    def __init__(self, X: np.ndarray, W: np.ndarray, bias: bool, rows: int, cols: int,
                 out: np.ndarray | None) -> None:
        N, D = X.shape
        C = W.shape[0]
        dt = X.dtype
        self.dX = out if out is not None else np.empty((N, D), dt)
        self.dW = np.zeros((C, D), dt)
        self.dB = np.zeros(C, dt) if bias else None
        self.tmp_x = np.empty((rows, D), dt) if cols < C else None
        # d_weight accumulates over row chunks through a scratch of about one tile
        self.tmp_w = (np.empty((max(1, min(cols, C, rows * cols // max(D, 1))), D), dt)
                      if rows < N else None)
        self.tmp_b = np.empty(min(C, cols), dt) if bias else None
        self.N, self.C, self.rows = N, C, rows

    def add(self, G: np.ndarray, X: np.ndarray, W: np.ndarray, r0: int, c0: int) -> None:
        """The tile G (rows r0.., classes c0..)'s share of the three gradients."""
        nr, nc = G.shape
        dx = self.dX[r0:r0 + nr]
        if c0 == 0:
            np.matmul(G, W[c0:c0 + nc], out=dx)
        else:
            t = self.tmp_x[:nr]  # type: ignore[index]
            np.matmul(G, W[c0:c0 + nc], out=t)
            dx += t
        step = self.tmp_w.shape[0] if self.tmp_w is not None else nc
        for k0 in range(0, nc, step):  # whole rows: accumulate in blocks of tmp_w
            k1 = min(nc, k0 + step)
            dw = self.dW[c0 + k0:c0 + k1]
            if self.tmp_w is None:
                np.matmul(G[:, k0:k1].T, X, out=dw)
            else:
                t = self.tmp_w[:k1 - k0]
                np.matmul(G[:, k0:k1].T, X, out=t)
                dw += t
        if self.dB is not None:
            for k0 in range(0, nc, self.tmp_b.shape[0]):  # type: ignore[union-attr]
                k1 = min(nc, k0 + self.tmp_b.shape[0])  # type: ignore[union-attr]
                t = self.tmp_b[:k1 - k0]  # type: ignore[index]
                np.add.reduce(G[:, k0:k1], axis=0, out=t)
                self.dB[c0 + k0:c0 + k1] += t


def _logits(buf: np.ndarray, X: np.ndarray, W: np.ndarray, b: np.ndarray | None,
            c0: int, nc: int) -> np.ndarray:
    tile = buf[:X.shape[0] * nc].reshape(X.shape[0], nc)
    np.matmul(X, W[c0:c0 + nc].T, out=tile)
    if b is not None:
        tile += b[c0:c0 + nc]
    return tile


def _probs(buf: np.ndarray, X: np.ndarray, W: np.ndarray, b: np.ndarray | None,
           c0: int, nc: int, lse: np.ndarray) -> np.ndarray:
    """The tile's softmax probabilities exp(z - lse), computed in place."""
    tile = _logits(buf, X, W, b, c0, nc)
    tile -= lse.astype(tile.dtype)[:, None]
    np.exp(tile, out=tile)
    return tile


def _second(X: np.ndarray, W: np.ndarray, b: np.ndarray | None, rows: int, cols: int,
            k: np.ndarray | None, V: np.ndarray | None, coupled: bool,
            tile_fn: Any, buf: np.ndarray) -> np.ndarray:
    """The Hessian's diagonal (``V`` None) or its product with ``V`` in the input,
    ``W.T H_z W`` per row, tile by tile.

    ``tile_fn(buf, Xr, r0, c0, nc)`` gives the tile's softmax probabilities
    (``coupled``, ``H_z = diag p - p p^T`` times the row's ``k``) or the
    elementwise ``d^2 l / dz^2`` already scaled (``H_z`` diagonal), in
    ``buf`` (the first-order pass's tile, reused).  Memory: one more tile
    (hvp), the square of a class block of W, and arrays of the input's size;
    never N x C.
    """
    N, D = X.shape
    C = W.shape[0]
    dt = X.dtype
    res = np.zeros((N, D), dt)
    tmp = np.empty((rows, D), dt)
    if V is None:
        wsq = np.empty((min(cols, C), D), dt)
        mean = np.zeros((N, D), dt) if coupled else None
        for r0 in range(0, N, rows):
            r1 = min(N, r0 + rows)
            t = tmp[:r1 - r0]
            for c0 in range(0, C, cols):
                nc = min(cols, C - c0)
                Wc = W[c0:c0 + nc]
                P = tile_fn(buf, X[r0:r1], r0, c0, nc)
                np.matmul(P, np.multiply(Wc, Wc, out=wsq[:nc]), out=t)
                res[r0:r1] += t
                if mean is not None:  # sum_c p_c W_cd, squared at the end
                    np.matmul(P, Wc, out=t)
                    mean[r0:r1] += t
        if mean is not None:
            mean *= mean
            res -= mean
    else:
        ubuf = np.empty(rows * cols, dt)
        for r0 in range(0, N, rows):
            r1 = min(N, r0 + rows)
            Xr, Vr, t = X[r0:r1], V[r0:r1], tmp[:r1 - r0]
            s = np.zeros(r1 - r0)  # coupled: p . u over all classes, a first pass
            if coupled:
                for c0 in range(0, C, cols):
                    nc = min(cols, C - c0)
                    P = tile_fn(buf, Xr, r0, c0, nc)
                    U = ubuf[:P.size].reshape(P.shape)
                    np.matmul(Vr, W[c0:c0 + nc].T, out=U)
                    s += np.einsum("ij,ij->i", P, U, dtype=np.float64)
            for c0 in range(0, C, cols):
                nc = min(cols, C - c0)
                if not (coupled and cols >= C):  # one block: P and U are still there
                    P = tile_fn(buf, Xr, r0, c0, nc)
                    U = ubuf[:P.size].reshape(P.shape)
                    np.matmul(Vr, W[c0:c0 + nc].T, out=U)
                if coupled:
                    U -= s.astype(dt)[:, None]
                U *= P
                np.matmul(U, W[c0:c0 + nc], out=t)
                res[r0:r1] += t
    if k is not None:
        with np.errstate(invalid="ignore"):
            res *= k.astype(dt)[:, None]
        res[k == 0] = 0  # ignored rows (0 even where a nan scale multiplied them)
    return res



def _reduce(fname: str, rows: np.ndarray, reduction: int, denom: float, dtype: Any,
            shape: tuple[int, ...]) -> Any:
    if reduction == _NONE:
        return rows.astype(dtype).reshape(shape)
    total = float(np.sum(rows))
    if reduction == _MEAN:
        with np.errstate(invalid="ignore", divide="ignore"):
            total = float(np.float64(total) / np.float64(denom))
    return dtype.type(total)


def _lce_options(fname: str, weight: Any, label_smoothing: Any, C: int
                 ) -> tuple[np.ndarray | None, float]:
    """The class weight [C] (or None) and the label smoothing in [0, 1]."""
    wt = None
    if weight is not None:
        wt = _float(weight, fname, "weight")
        if wt.shape != (C,):
            raise ValueError(f"{fname}: weight must have shape ({C},), got {wt.shape}")
    try:
        ls = float(label_smoothing)
    except (TypeError, ValueError):
        raise TypeError(f"{fname}: label_smoothing must be a number, got "
                        f"{label_smoothing!r}") from None
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"{fname}: label_smoothing must be in [0, 1], got {ls}")
    return wt, ls


def _lce_index_target(fname: str, t: np.ndarray, N: int, C: int, unbatched: bool,
                      input: Any, ignore_index: Any, wt: np.ndarray | None
                      ) -> tuple[int, np.ndarray, float, np.ndarray]:
    """Class-index targets: ignore_index, a private int64 copy [N], the mean's
    divisor (the weight of the targets not ignored) and which rows count."""
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{fname}: target must hold integer class indices {((N,) if not unbatched else ())}"
            f" or float class probabilities {(N, C) if not unbatched else (C,)}, got dtype "
            f"{t.dtype} and shape {t.shape}"
        )
    if t.shape != (() if unbatched else (N,)):
        raise ValueError(f"{fname}: target must have shape {(() if unbatched else (N,))} "
                         f"for input shape {np.shape(input)}, got {t.shape}")
    try:
        ig = -100 if ignore_index is None else operator.index(ignore_index)
    except TypeError:
        raise TypeError(f"{fname}: ignore_index must be an int or None, got "
                        f"{ignore_index!r}") from None
    if t.dtype == np.uint64 and t.size and int(t.max()) > np.iinfo(np.int64).max:
        raise IndexError(f"{fname}: target has a class index beyond int64")
    # a private copy: another thread may rewrite the caller's array between
    # this check and the tiles that read it with the GIL released
    T = np.array(t.reshape(N), np.int64, order="C", copy=True)
    active = T != ig
    badmask = active & ((T < 0) | (T >= C))
    if badmask.any():
        i = int(np.argmax(badmask))
        raise IndexError(f"{fname}: target has class {int(T[i])} at index {i}, but "
                         f"linear_weight has {C} classes")
    # the divisor is cross-entropy's, so the core gives it (WANT_NORM), on a zero-stride
    # stand-in of the [N, C] logits: only the targets and the class weights are read
    stand = np.broadcast_to(np.zeros((), np.float64), (N, C))
    w64 = None if wt is None else np.asarray(wt, np.float64)
    total_weight = float(_core.cross_entropy(stand, T, w64, ig, 0.0, _MEAN, _core.WANT_NORM, None))
    return ig, T, total_weight, active


def _scaled_rows(go: Any, denom: float, N: int) -> np.ndarray:
    """A reduced loss's gradient scale grad_output / denom, one per row (nan or
    inf for a mean over nothing, as the loss itself)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.full(N, np.float64(go) / np.float64(denom))


def _lce_rows(X: np.ndarray, W: np.ndarray, b: np.ndarray | None, rows: int, cols: int,
              buf: np.ndarray, tile_args: tuple[Any, ...], stats: tuple[np.ndarray, ...],
              rowscale: np.ndarray | None, grads: _Grads | None) -> None:
    """The tile passes over the rows: the statistics m, s, a, b of each row and
    its log-sum-exp into ``stats``, and the gradients into ``grads``.  Whole
    rows in one pass when they fit, else a statistics pass and a gradient pass."""
    T, P, wc, wsum, ig, ls = tile_args
    m, s, a, bb, lse = stats
    N, C = X.shape[0], W.shape[0]
    grad = int(grads is not None)
    for r0 in range(0, N, rows):
        r1 = min(N, r0 + rows)
        Xr = X[r0:r1]
        sl = slice(r0, r1)
        tr = None if T is None else T[sl]
        pr = None if P is None else P[sl]
        rs = None if rowscale is None else rowscale[sl]
        if cols >= C:
            tile = _logits(buf, Xr, W, b, 0, C)
            _core._lce_tile(tile, 0, C, tr, pr, wc, wsum, ig, ls, _FULL, grad,
                            m[sl], s[sl], a[sl], bb[sl], None, rs)
            np.log(s[sl], out=lse[sl])
            lse[sl] += m[sl]
            if grads is not None:
                grads.add(tile, Xr, W, r0, 0)
            continue
        for c0 in range(0, C, cols):
            tile = _logits(buf, Xr, W, b, c0, min(cols, C - c0))
            _core._lce_tile(tile, c0, C, tr, pr, wc, wsum, ig, ls, _STATS, 0,
                            m[sl], s[sl], a[sl], bb[sl], None, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.log(s[sl], out=lse[sl])
        lse[sl] += m[sl]
        if grads is None:
            continue
        for c0 in range(0, C, cols):
            tile = _logits(buf, Xr, W, b, c0, min(cols, C - c0))
            _core._lce_tile(tile, c0, C, tr, pr, wc, wsum, ig, ls, _GRAD, 1,
                            m[sl], s[sl], a[sl], bb[sl], lse[sl], rs)
            grads.add(tile, Xr, W, r0, c0)


def _lce_second(X: np.ndarray, W: np.ndarray, b: np.ndarray | None, rows: int, cols: int,
                buf: np.ndarray, coef: np.ndarray, lse: np.ndarray, V: np.ndarray | None
                ) -> np.ndarray:
    """The Hessian's diagonal (or its product with V): per row H_z = k (diag p -
    p p^T), k the coefficient of the log-sum-exp in the row's loss (0 for an
    ignored row) times the gradient's scale."""
    lse_k = np.where(coef != 0, lse, np.inf)  # probabilities 0 where nothing is wanted

    def softmax(buf: np.ndarray, Xr: np.ndarray, r0: int, c0: int, nc: int) -> np.ndarray:
        return _probs(buf, Xr, W, b, c0, nc, lse_k[r0:r0 + Xr.shape[0]])

    return _second(X, W, b, rows, cols, coef, V, True, softmax, buf)


def lce(want: int, grad_output: Any, out: Any, reduction: int, input: Any,
        linear_weight: Any, target: Any, linear_bias: Any = None, weight: Any = None,
        ignore_index: Any = None, label_smoothing: Any = 0.0, chunk_size: Any = None, *,
        fname: str, v: Any = None, owned: tuple[Any, ...] = ()) -> Any:
    """loss, (d_input, d_weight, d_bias) and the Hessian's diagonal in the input
    (want bit 4) or its product with ``v`` (bit 8) of linear_cross_entropy, as
    ``want`` asks: one item, or a tuple in that order.  ``out`` overlaps no
    operand, nor ``owned`` (a criterion's current layer, when the call is of an
    earlier forward that captured another one)."""
    X, W, b, unbatched, odt = _head(fname, input, linear_weight, linear_bias)
    dtype = compute_dtype(odt)
    N, C = X.shape[0], W.shape[0]
    t = as_array(target, fname, "target")
    probs = (t.dtype.kind == "f" or is_half(t.dtype)) and t.shape == ((C,) if unbatched else (N, C))
    wt, ls = _lce_options(fname, weight, label_smoothing, C)
    chunk = _check_chunk(chunk_size, fname)
    if probs:
        if ignore_index is not None:
            raise ValueError(f"{fname}: ignore_index cannot be set when target holds class "
                             "probabilities")
        ig, T, total_weight, active = -100, None, float(N), np.ones(N, bool)
        P = _dense(t.reshape(N, C), dtype)
    else:
        ig, T, total_weight, active = _lce_index_target(fname, t, N, C, unbatched, input,
                                                        ignore_index, wt)
        P = None
    loss_shape = () if unbatched else (N,)
    go, V = _second_checks(fname, want, reduction, grad_output, out, input, loss_shape,
                           dtype, v, (linear_weight, linear_bias, target, weight) + owned, odt)
    out_now = out if odt == dtype else None  # a half out receives the narrowed d_input
    # -- every check done: compute ---------------------------------------------------
    X = _dense(X, dtype)
    W = _dense(W, dtype)
    b = None if b is None else _dense(b, dtype)
    wc = None if wt is None else _dense(wt, dtype)
    wsum = float(np.sum(wc, dtype=np.float64)) if wc is not None else float(C)
    rows, cols = tile_shape(N, C, dtype.itemsize, chunk)
    buf = np.empty(rows * cols, dtype)
    stats = (np.full(N, -np.inf), np.zeros(N), np.zeros(N), np.zeros(N), np.empty(N))
    rowscale = None
    if go is not None:
        denom = total_weight if (reduction == _MEAN and not probs) else (
            float(N) if reduction == _MEAN else 1.0)
        rowscale = (np.asarray(go, np.float64).reshape(N) if reduction == _NONE
                    else _scaled_rows(go, denom, N))
    grads = _Grads(X, W, b is not None, rows, cols,
                   None if out_now is None else out_now.reshape(N, -1)) if want & _WANT_GRAD else None
    _lce_rows(X, W, b, rows, cols, buf, (T, P, wc, wsum, ig, ls), stats, rowscale, grads)
    _, _, a, bb, lse = stats
    result: list[Any] = []
    if want & _WANT_LOSS:
        with np.errstate(invalid="ignore"):
            per_row = np.where(active, a * lse - bb, 0.0)
        result.append(_reduce(fname, per_row, reduction, total_weight if not probs else N,
                              odt, loss_shape))
    if grads is not None:
        dX = grads.dX.reshape(np.shape(input)) if out_now is None else out_now
        result.append((dX, grads.dW, grads.dB))
    if want & (_WANT_HESS | _WANT_HVP):
        with np.errstate(invalid="ignore"):
            k = np.where(active, a * rowscale, 0.0)  # type: ignore[operator]
        h = _lce_second(X, W, b, rows, cols, buf, k, lse, V)
        result.append(h.reshape(np.shape(input)))
    result = result if odt == dtype else _narrowed(result, odt, out)
    return result[0] if len(result) == 1 else tuple(result)


def _check_out(fname: str, out: Any, input: Any, dtype: Any, operands: tuple[Any, ...]
               ) -> None:
    """The rule every entry point applies to ``out`` (the binding's, for the
    heads): an ndarray (TypeError), of the gradient's dtype (TypeError), shape
    (ValueError), writeable and C-contiguous (so it cannot overlap itself), and
    sharing no memory with any operand: the input, the layer's weight and bias
    (whether passed or owned by the criterion), targets, weights, grad_output."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fname}: out must be a NumPy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{fname}: out must have the gradient's dtype {dtype}, got {out.dtype}")
    if out.shape != np.shape(input):
        raise ValueError(f"{fname}: out has shape {out.shape}, but the gradient has shape "
                         f"{np.shape(input)}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"{fname}: out must be writeable and C-contiguous")
    for op in (input,) + operands:
        if isinstance(op, np.ndarray) and np.may_share_memory(out, op):
            raise ValueError(f"{fname}: out must not share memory with the inputs")


def _second_checks(fname: str, want: int, reduction: int, grad_output: Any, out: Any,
                   input: Any, loss_shape: tuple[int, ...], dtype: Any, v: Any,
                   operands: tuple[Any, ...] = (), out_dtype: Any = None
                   ) -> tuple[Any, np.ndarray | None]:
    """grad_output's scale (when a derivative is wanted), ``out``'s checks
    (of ``out_dtype``, the results' dtype, when it is not the compute
    ``dtype``) and ``v`` as an ``[N, D]`` array of ``dtype`` (want bit 8)."""
    go = (_scale(fname, reduction, grad_output, loss_shape, dtype)
          if want & (_WANT_GRAD | _WANT_HESS | _WANT_HVP) else None)
    if out is not None and want & _WANT_GRAD:
        _check_out(fname, out, input, out_dtype or dtype, operands + (grad_output, v))
    V = None
    if want & _WANT_HVP:
        va = np.asarray(v)
        if va.shape != np.shape(input):
            raise ValueError(f"{fname}.hvp: v has shape {va.shape}, but the input has shape "
                             f"{np.shape(input)}")
        V = _dense(va.reshape(-1, va.shape[-1]), dtype)
    return go, V


def _lbce_target(fname: str, t: np.ndarray, N: int, C: int, unbatched: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's positive labels, padded with -1: a private int64 copy [N, P]
    (checked here, read by the tiles later) and where its labels are (before
    the first -1)."""
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fname}: target must hold integer label indices padded with -1, "
                        f"got dtype {t.dtype}")
    if t.ndim != (1 if unbatched else 2) or (not unbatched and t.shape[0] != N):
        raise ValueError(f"{fname}: target must have shape {'(P,)' if unbatched else (N, 'P')}"
                         f" (positive labels padded with -1), got {t.shape}")
    if t.dtype == np.uint64 and t.size and int(t.max()) > np.iinfo(np.int64).max:
        raise IndexError(f"{fname}: target has a label index beyond int64")
    t2 = t.reshape(N, -1).astype(np.int64, copy=True)
    valid = np.logical_and.accumulate(t2 != -1, axis=1) if t2.shape[1] else \
        np.zeros(t2.shape, bool)
    badmask = valid & ((t2 < 0) | (t2 >= C))
    if badmask.any():
        i = int(np.argmax(badmask.reshape(-1)))
        raise IndexError(f"{fname}: target has label {int(t2.reshape(-1)[i])} at index "
                         f"{np.unravel_index(i, t.shape)}, but linear_weight has {C} classes")
    return t2, valid


def _lbce_pos_weight(fname: str, pos_weight: Any, C: int) -> np.ndarray | None:
    if pos_weight is None:
        return None
    pw0 = _float(pos_weight, fname, "pos_weight")
    try:
        return np.broadcast_to(pw0, (C,))
    except ValueError:
        raise ValueError(f"{fname}: pos_weight must broadcast to ({C},), got shape "
                         f"{pw0.shape}") from None


def _lbce_second(X: np.ndarray, W: np.ndarray, b: np.ndarray | None, rows: int, cols: int,
                 buf: np.ndarray, pos: np.ndarray, pwc: np.ndarray | None,
                 rowscale: np.ndarray | None, gofull: np.ndarray | None,
                 V: np.ndarray | None) -> np.ndarray:
    """The Hessian's diagonal (or its product with V): H_z is diagonal,
    d^2 l / dz^2 = (1 + (pos_weight - 1) y) sigmoid(z) (1 - sigmoid(z))."""
    def curv(buf: np.ndarray, Xr: np.ndarray, r0: int, c0: int, nc: int) -> np.ndarray:
        z = _logits(buf, Xr, W, b, c0, nc)
        with np.errstate(over="ignore"):  # s (1 - s) = 1 / (2 + 2 cosh z): 0 for inf
            np.cosh(z, out=z)
        z *= 2
        z += 2
        np.reciprocal(z, out=z)
        if pwc is not None:
            pr = pos[r0:r0 + Xr.shape[0]]
            rr, jj = np.nonzero((pr >= c0) & (pr < c0 + nc))
            cc = pr[rr, jj] - c0
            z[rr, cc] *= pwc[c0 + cc]  # a repeated label counts once
        if gofull is not None:
            z *= gofull[r0:r0 + Xr.shape[0], c0:c0 + nc]
        else:
            z *= rowscale[r0:r0 + Xr.shape[0], None].astype(z.dtype)  # type: ignore[index]
        return z

    return _second(X, W, b, rows, cols, None, V, False, curv, buf)


def lbce(want: int, grad_output: Any, out: Any, reduction: int, input: Any,
         linear_weight: Any, target: Any, linear_bias: Any = None, pos_weight: Any = None,
         chunk_size: Any = None, *, fname: str, v: Any = None, owned: tuple[Any, ...] = ()
         ) -> Any:
    """loss, (d_input, d_weight, d_bias) and the Hessian's diagonal or product
    with ``v`` of the multi-label head, as :func:`lce` (``owned`` too)."""
    X, W, b, unbatched, odt = _head(fname, input, linear_weight, linear_bias)
    dtype = compute_dtype(odt)
    N, C = X.shape[0], W.shape[0]
    t2, valid = _lbce_target(fname, as_array(target, fname, "target"), N, C, unbatched)
    pw = _lbce_pos_weight(fname, pos_weight, C)
    chunk = _check_chunk(chunk_size, fname)
    loss_shape = (C,) if unbatched else (N, C)
    go, V = _second_checks(fname, want, reduction, grad_output, out, input, loss_shape,
                           dtype, v, (linear_weight, linear_bias, target, pos_weight) + owned,
                           odt)
    out_now = out if odt == dtype else None  # a half out receives the narrowed d_input
    # -- every check done: compute ---------------------------------------------------
    X = _dense(X, dtype)
    W = _dense(W, dtype)
    b = None if b is None else _dense(b, dtype)
    pwc = None if pw is None else _dense(pw, dtype)
    pos = np.where(valid, t2, np.iinfo(np.int64).max)
    pos.sort(axis=1)
    # element-wise: any tile shape is one pass; whole rows when they fit
    rows, cols = tile_shape(N, C, dtype.itemsize, chunk)
    buf = np.empty(rows * cols, dtype)
    loss_rows = np.zeros(N)
    elem = np.empty((N, C), dtype) if (want & _WANT_LOSS and reduction == _NONE) else None
    grad = bool(want & _WANT_GRAD)
    rowscale = gofull = None
    if go is not None:
        if reduction == _NONE:
            gofull = np.asarray(go).reshape(N, C)
        else:
            rowscale = _scaled_rows(go, float(N) * C if reduction == _MEAN else 1.0, N)
    grads = _Grads(X, W, b is not None, rows, cols,
                   None if out_now is None else out_now.reshape(N, -1)) if grad else None
    # second order alone: no loss pass
    for r0 in range(0, N if want & (_WANT_LOSS | _WANT_GRAD) else 0, rows):
        r1 = min(N, r0 + rows)
        Xr = X[r0:r1]
        sl = slice(r0, r1)
        for c0 in range(0, C, cols):
            nc = min(cols, C - c0)
            tile = _logits(buf, Xr, W, b, c0, nc)
            _core._lbce_tile(tile, c0, C, pos[sl], pwc, loss_rows[sl],
                             None if elem is None else elem[sl, c0:c0 + nc],
                             None if rowscale is None else rowscale[sl],
                             None if gofull is None else gofull[sl, c0:c0 + nc], int(grad))
            if grads is not None:
                grads.add(tile, Xr, W, r0, c0)
    result: list[Any] = []
    if want & _WANT_LOSS:
        if elem is not None:
            result.append(elem.reshape(loss_shape))
        else:
            result.append(_reduce(fname, loss_rows, reduction, float(N) * C, odt, ()))
    if grads is not None:
        dX = grads.dX.reshape(np.shape(input)) if out_now is None else out_now
        result.append((dX, grads.dW, grads.dB))
    if want & (_WANT_HESS | _WANT_HVP):
        h = _lbce_second(X, W, b, rows, cols, buf, pos, pwc, rowscale, gofull, V)
        result.append(h.reshape(np.shape(input)))
    result = result if odt == dtype else _narrowed(result, odt, out)
    return result[0] if len(result) == 1 else tuple(result)
