"""Type stubs of the C engine (pylossfn._core); the public API is functional / modules.

Every loss takes its arrays, its options, the reduction code (0 none, 1 mean,
2 sum; kl_div and distillation_loss also 3 batchmean), ``want`` (WANT_LOSS | WANT_GRAD | WANT_HESS
bits) and ``grad_output`` (None for 1), all positional.  The result is the loss
(a NumPy scalar for mean / sum, an ndarray for none), the gradient (an ndarray,
or a tuple of ndarrays for the losses with several differentiable inputs), the
Hessian's diagonal (shaped as the gradient), or a tuple of those asked for, in
that order (``(loss, grad)``, ``(loss, grad, hess)``), as ``want`` asks; hence
``_Result = Any``.  ``ctc_loss`` refuses WANT_HESS (NotImplementedError).  Every loss also
takes ``out``, a buffer for the gradient (a tuple of buffers for several).
``want = 0`` checks the options only (the arrays may be None) and returns
None: the classes make that call when they are built.
"""
from typing import Any, Literal, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

WANT_LOSS: Literal[1]
WANT_GRAD: Literal[2]
WANT_HESS: Literal[4]

class _ArgRow(TypedDict):
    name: str  # also the field of the family's parameter struct in the C binding
    kind: str  # input, real, float, index, array; real_option, real_or_none_option,
    #            index_option, bool_option, long_option
    check: str  # none, finite, finite_ge0, ..., int64, distance, float32_or_float64 ...
    what: str | None  # the end of "must be ..." in its error message (or its format)

class _LossRow(TypedDict):
    name: str  # the entry point of _core
    fname: str  # the name in its messages (torch's)
    args: tuple[_ArgRow, ...]  # in order, before reduction, want, grad_output[, out]
    out: bool  # takes a trailing `out`
    batchmean: bool  # reduction 3 allowed
    plain: bool  # no reduction / want / grad_output (activations, distances)
    ngrad: int  # gradients it returns (0 when plain)

# One row per loss entry point, generated from the specs the parser reads.
LOSSES: tuple[_LossRow, ...]

_Result = Any
_Float = NDArray[np.floating[Any]]

# -- binary and multi-class

def binary_cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...
def bce_with_logits(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None,
    pos_weight: ArrayLike | None, reduction: int, want: int, grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def nll_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
    reduction: int, want: int, grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...
def cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
    label_smoothing: float, reduction: int, want: int, grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...

# -- activations

def softmax(input: ArrayLike, dim: int, /) -> _Float: ...
def log_softmax(input: ArrayLike, dim: int, /) -> _Float: ...
def sigmoid(input: ArrayLike, /) -> _Float: ...
def logsigmoid(input: ArrayLike, /) -> _Float: ...

# -- multi-label losses on logits

def sigmoid_focal_loss(
    input: ArrayLike, target: ArrayLike, alpha: float, gamma: float, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...
def asymmetric_loss(
    input: ArrayLike, target: ArrayLike, gamma_neg: float, gamma_pos: float,
    clip: float | None, eps: float, reduction: int, want: int, grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def multilabel_categorical_crossentropy(
    input: ArrayLike, target: ArrayLike, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...
def soft_f1_loss(
    input: ArrayLike, target: ArrayLike, eps: float, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...

# -- distances and embedding losses

def pairwise_distance(
    x1: ArrayLike, x2: ArrayLike, p: float, eps: float, keepdim: bool, /,
) -> _Float: ...
def cosine_similarity(x1: ArrayLike, x2: ArrayLike, dim: int, eps: float, /) -> _Float: ...
def cosine_embedding_loss(
    input1: ArrayLike, input2: ArrayLike, target: ArrayLike, margin: float, reduction: int,
    want: int, grad_output: ArrayLike | None, out: tuple[_Float, _Float] | None = None, /,
) -> _Result: ...
def triplet_margin_loss(
    anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike, margin: float, p: float,
    eps: float, swap: bool, reduction: int, want: int, grad_output: ArrayLike | None,
    out: tuple[_Float, _Float, _Float] | None = None, /,
) -> _Result: ...
def triplet_margin_with_distance_loss(
    anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike, margin: float, p: float,
    eps: float, swap: bool, distance: int, reduction: int, want: int,
    grad_output: ArrayLike | None, out: tuple[_Float, _Float, _Float] | None = None, /,
) -> _Result: ...

# -- multi-class hinge losses

def multi_margin_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, p: int, margin: float,
    reduction: int, want: int, grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...
def multilabel_margin_loss(
    input: ArrayLike, target: ArrayLike, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...

# -- connectionist temporal classification

def ctc_loss(
    log_probs: ArrayLike, targets: ArrayLike, input_lengths: ArrayLike,
    target_lengths: ArrayLike, blank: int, zero_infinity: bool, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...

# -- regression and element-wise losses

def l1_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, reduction: int, want: int,
    grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def mse_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, reduction: int, want: int,
    grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def smooth_l1_loss(
    input: ArrayLike, target: ArrayLike, beta: float, reduction: int, want: int,
    grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def huber_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, delta: float, reduction: int,
    want: int, grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def soft_margin_loss(
    input: ArrayLike, target: ArrayLike, reduction: int, want: int,
    grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def kl_div(
    input: ArrayLike, target: ArrayLike, log_target: bool, reduction: int, want: int,
    grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def poisson_nll_loss(
    input: ArrayLike, target: ArrayLike, log_input: bool, full: bool, eps: float,
    reduction: int, want: int, grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def gaussian_nll_loss(
    input: ArrayLike, target: ArrayLike, var: ArrayLike, full: bool, eps: float,
    reduction: int, want: int, grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def hinge_embedding_loss(
    input: ArrayLike, target: ArrayLike, margin: float, reduction: int, want: int,
    grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def margin_ranking_loss(
    input1: ArrayLike, input2: ArrayLike, target: ArrayLike, margin: float, reduction: int,
    want: int, grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...
def multilabel_soft_margin_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, reduction: int, want: int,
    grad_output: ArrayLike | None,
    out: _Float | None = None, /,
) -> _Result: ...

# -- more losses on the simplex (issue 22)

def poly_cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
    label_smoothing: float, epsilon: float, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...
def distillation_loss(
    input: ArrayLike, target: ArrayLike, temperature: float, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...
def sparsemax(input: ArrayLike, dim: int, /) -> _Float: ...
def sparsemax_loss(
    input: ArrayLike, target: ArrayLike, reduction: int, want: int,
    grad_output: ArrayLike | None, out: _Float | None = None, /,
) -> _Result: ...

# -- threads and test hooks

def set_num_threads(n: int, /) -> int: ...
def get_num_threads() -> int: ...
def _set_isa(level: int, /) -> int: ...
def _build_info() -> dict[str, str | int]: ...
def _vecmath(x: _Float, f: int, /) -> _Float: ...

# -- the fused heads' tile kernels (pylossfn._heads)

def _lce_tile(
    tile: _Float, c0: int, C: int, target: Any | None, probs: _Float | None,
    weight: _Float | None, wsum: float, ignore_index: int, label_smoothing: float, mode: int,
    grad: int, m: Any, s: Any, a: Any, b: Any, lse: Any | None, rowscale: Any | None, /,
) -> None: ...
def _lbce_tile(
    tile: _Float, c0: int, C: int, pos: Any, pos_weight: _Float | None, loss: Any,
    out: _Float | None, rowscale: Any | None, go: _Float | None, grad: int, /,
) -> None: ...
