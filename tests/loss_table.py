"""The losses under the reliability tests, one row each.

test_errors_matrix, test_memory, test_layouts, test_threads and
test_properties walk these tables, so a new loss joins all of them by adding
a row here: its class, its function, its torch oracle, how to make valid
arguments, and which options (and so which error cases) it has.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as TF

import pylossfn as lf
import pylossfn.functional as F

DTYPES = (np.float32, np.float64)
TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


@dataclass(frozen=True)
class LossRow:
    """One loss.  ``family`` decides the shape rules and the error cases:
    "binary" (target has the input's shape, weights broadcast) or "class"
    (input [N, C, ...], integer class-index target [N, ...], weight [C])."""

    name: str
    cls: type
    fn: Callable
    torch_fn: Callable  # torch.nn.functional counterpart, same keywords
    family: str
    make_input: Callable  # (rng, shape, dtype) -> a valid input
    options: tuple = ()  # constructor keywords besides weight / reduction
    probability_input: bool = False  # input must lie in [0, 1] (BCELoss)
    probability_target: bool = False  # float class-probability targets allowed
    extra: dict = field(default_factory=dict)

    def __repr__(self):
        return self.name

    def has(self, option):
        return option in self.options


def _probs(rng, shape, dtype):
    # away from 0 and 1 so that a finite-difference or torch check is not at the clamp
    return rng.uniform(0.02, 0.98, shape).astype(dtype)


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _log_probs(rng, shape, dtype):
    x = rng.standard_normal(shape)
    axis = 1 if len(shape) > 1 else 0
    return (x - np.log(np.exp(x).sum(axis=axis, keepdims=True))).astype(dtype)


LOSSES = (
    LossRow("BCELoss", lf.BCELoss, F.binary_cross_entropy, TF.binary_cross_entropy,
            "binary", _probs, probability_input=True),
    LossRow("BCEWithLogitsLoss", lf.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits,
            TF.binary_cross_entropy_with_logits, "binary", _normal, options=("pos_weight",)),
    LossRow("CrossEntropyLoss", lf.CrossEntropyLoss, F.cross_entropy, TF.cross_entropy,
            "class", _normal, options=("ignore_index", "label_smoothing"),
            probability_target=True),
    LossRow("NLLLoss", lf.NLLLoss, F.nll_loss, TF.nll_loss, "class", _log_probs,
            options=("ignore_index",)),
)


@dataclass(frozen=True)
class ActivationRow:
    """One activation: ``fn(x, **kw)`` against ``torch_fn(tensor, **kw)``."""

    name: str
    fn: Callable
    torch_fn: Callable
    kwargs: dict = field(default_factory=dict)  # e.g. dim
    needs_dim: bool = False

    def __repr__(self):
        return self.name


ACTIVATIONS = (
    ActivationRow("sigmoid", F.sigmoid, torch.sigmoid),
    ActivationRow("logsigmoid", F.logsigmoid, TF.logsigmoid),
    ActivationRow("softmax", F.softmax, TF.softmax, needs_dim=True),
    ActivationRow("log_softmax", F.log_softmax, TF.log_softmax, needs_dim=True),
)


# ---------------------------------------------------------------------------
# Valid arguments
# ---------------------------------------------------------------------------

N, C = 4, 3


def valid_inputs(row, dtype, rng=None, spatial=()):
    """(input, target) of a valid call: input [N, C, *spatial] for the class
    family (targets [N, *spatial] in range), [N, C] for the binary family."""
    rng = rng or np.random.default_rng(1234)
    shape = (N, C) + tuple(spatial)
    x = row.make_input(rng, shape, dtype)
    if row.family == "binary":
        y = rng.uniform(0, 1, shape).astype(dtype)
    else:
        y = rng.integers(0, C, (N,) + tuple(spatial)).astype(np.int64)
    return x, y


def valid_options(row, dtype, rng=None):
    """Constructor keywords that exercise every option the loss has."""
    rng = rng or np.random.default_rng(99)
    opts = {}
    if row.family == "binary":
        opts["weight"] = rng.uniform(0.5, 2.0, C).astype(dtype)
        if row.has("pos_weight"):
            opts["pos_weight"] = rng.uniform(0.5, 3.0, C).astype(dtype)
    else:
        opts["weight"] = rng.uniform(0.5, 2.0, C).astype(dtype)
        if row.has("ignore_index"):
            opts["ignore_index"] = 1
        if row.has("label_smoothing"):
            opts["label_smoothing"] = 0.125
    return opts


def loss_shape(row, reduction, inputs):
    """Shape of the loss value, so that grad_output can be made to fit."""
    if reduction != "none":
        return ()
    x = inputs[0]
    if row.family == "binary":
        return x.shape
    return (x.shape[0],) + x.shape[2:] if x.ndim > 1 else ()


def call(row, mode, opts, inputs, grad_output=None):
    """One call through the face `mode`: "functional", "forward", "backward"
    (after a forward on the same arguments) or "forward_backward".  Returns a
    tuple of ndarrays / scalars so results can be compared."""
    if mode == "functional":
        return (row.fn(*inputs, **opts),)
    crit = row.cls(**opts)
    if mode == "forward":
        return (crit(*inputs),)
    if mode == "backward":
        crit(*inputs)
        return (crit.backward(grad_output),)
    if mode == "forward_backward":
        return tuple(crit.forward_backward(*inputs, grad_output=grad_output))
    raise AssertionError(mode)


def torch_reference(row, opts, inputs, want_grad, grad_output=None):
    """(loss, grad) from torch on the same arguments, as NumPy."""
    x = torch.from_numpy(np.array(inputs[0]))
    x.requires_grad_(want_grad)
    tgt = np.array(inputs[1])
    t = torch.from_numpy(tgt)
    kw = {}
    for key, value in opts.items():
        kw[key] = torch.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value
    loss = row.torch_fn(x, t, **kw)
    grad = None
    if want_grad:
        go = None if grad_output is None else torch.as_tensor(np.asarray(grad_output),
                                                                dtype=loss.dtype)
        if go is None and loss.ndim:
            go = torch.ones_like(loss)
        loss.backward(go)
        grad = x.grad.numpy()
    return loss.detach().numpy(), grad
