"""Type stubs of the C engine (pylossfn._core); the public API is functional / modules."""
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

WANT_LOSS: Literal[1]
WANT_GRAD: Literal[2]

_Result = Any  # loss (np.floating or ndarray), grad (ndarray) or (loss, grad), by `want`

def binary_cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, reduction: int, want: int,
    grad_output: ArrayLike | None, /,
) -> _Result: ...
def bce_with_logits(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None,
    pos_weight: ArrayLike | None, reduction: int, want: int, grad_output: ArrayLike | None, /,
) -> _Result: ...
def nll_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
    reduction: int, want: int, grad_output: ArrayLike | None, /,
) -> _Result: ...
def cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, ignore_index: int,
    reduction: int, label_smoothing: float, want: int, grad_output: ArrayLike | None, /,
) -> _Result: ...
def softmax(input: ArrayLike, dim: int, log: bool, /) -> NDArray[np.floating[Any]]: ...
def sigmoid(input: ArrayLike, log: bool, /) -> NDArray[np.floating[Any]]: ...
def pairwise_distance(
    x1: ArrayLike, x2: ArrayLike, p: float, eps: float, /
) -> NDArray[np.floating[Any]]: ...
def cosine_similarity(x1: ArrayLike, x2: ArrayLike, eps: float, /) -> NDArray[np.floating[Any]]: ...
def cosine_embedding_loss(
    input1: ArrayLike, input2: ArrayLike, target: ArrayLike, margin: float, reduction: int,
    want: int, grad_output: ArrayLike | None, /,
) -> _Result: ...
def triplet_margin_loss(
    anchor: ArrayLike, positive: ArrayLike, negative: ArrayLike, margin: float, p: float,
    eps: float, swap: bool, distance: int, reduction: int, want: int,
    grad_output: ArrayLike | None, fname: str = ..., /,
) -> _Result: ...
def multi_margin_loss(
    input: ArrayLike, target: ArrayLike, p: int, margin: float, weight: ArrayLike | None,
    reduction: int, want: int, grad_output: ArrayLike | None, /,
) -> _Result: ...
def multilabel_margin_loss(
    input: ArrayLike, target: ArrayLike, reduction: int, want: int,
    grad_output: ArrayLike | None, /,
) -> _Result: ...
def ctc_loss(
    log_probs: ArrayLike, targets: ArrayLike, input_lengths: ArrayLike,
    target_lengths: ArrayLike, blank: int, reduction: int, zero_infinity: bool, want: int,
    grad_output: ArrayLike | None, /,
) -> _Result: ...
