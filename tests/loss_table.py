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
from multilabel_reference import ref_asl, ref_focal, ref_soft_f1, ref_zlpr

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
    # -- the families beyond the core four ("elementwise-pair", "rows",
    # "margin", "ctc") describe their calls through these:
    make_args: Optional[Callable] = None  # (rng, dtype, shape) -> every positional input
    make_options: Optional[Callable] = None  # (rng, dtype, shape) -> constructor keywords
    oracle: Optional[Callable] = None  # (*torch tensors, reduction=, **options) -> loss
    arg_names: tuple = ("input", "target")
    diff: tuple = (0,)  # the differentiable inputs; more than one: backward gives a tuple
    shape: tuple = (4, 3)  # the nominal shape of a valid call (see make_args)
    layout_shape: tuple = (6, 5, 4)
    large_shape: tuple = (8, 600)  # above the core's GIL-release threshold
    target_rule: str = ""  # elementwise-pair: "same", "broadcast" or "to-input"
    option_errors: tuple = ()  # (option, bad value, exception, message regex)
    reductions: tuple = ("none", "mean", "sum")

    def __repr__(self):
        return self.name

    def has(self, option):
        return option in self.options

    @property
    def core(self):
        return self.family in ("binary", "class")


def _probs(rng, shape, dtype):
    # away from 0 and 1 so that a finite-difference or torch check is not at the clamp
    return rng.uniform(0.02, 0.98, shape).astype(dtype)


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _log_probs(rng, shape, dtype):
    x = rng.standard_normal(shape)
    axis = 1 if len(shape) > 1 else 0
    return (x - np.log(np.exp(x).sum(axis=axis, keepdims=True))).astype(dtype)


CORE_LOSSES = (
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



# ---------------------------------------------------------------------------
# Every other loss: make_args gives all positional inputs, oracle is torch's
# function (or, for the losses torch lacks, a torch reference formula)
# ---------------------------------------------------------------------------

def _labels(rng, shape, dtype):
    return rng.uniform(0, 1, shape).astype(dtype)


def _signs(rng, shape, dtype):
    return np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0).astype(dtype)


def _counts(rng, shape, dtype):
    return rng.poisson(2.0, shape).astype(dtype)


def _positive(rng, shape, dtype):
    return rng.uniform(0.2, 2.0, shape).astype(dtype)


def _pair(make_target, make_x=_normal, extra=None):
    """make_args of an element-wise loss: input and target of `shape` (and a
    third operand of the same shape, made by `extra`)."""
    def make(rng, dtype, shape):
        args = (make_x(rng, shape, dtype), make_target(rng, shape, dtype))
        return args + (extra(rng, shape, dtype),) if extra else args
    return make


def _ranking(rng, dtype, shape):
    return _normal(rng, shape, dtype), _normal(rng, shape, dtype), _signs(rng, shape, dtype)


def _fixed(**opts):
    return lambda rng, dtype, shape: dict(opts)


def _reduce(loss, reduction):
    return {"none": lambda v: v, "mean": torch.mean, "sum": torch.sum}[reduction](loss)


def _reference(ref):
    """A torch oracle from an element-wise reference formula."""
    def oracle(x, y, reduction="mean", **kw):
        return _reduce(ref(x, y.to(x.dtype), **kw), reduction)
    return oracle


def _torch_cosine_distance(x, y, eps=1e-8):
    return 1.0 - TF.cosine_similarity(x, y, dim=-1, eps=eps)


def _triplet_with_distance(a, p, n, distance_function=None, **kw):
    # ours names its C distances; torch takes the same function in torch terms
    if distance_function is F.cosine_distance:
        kw["distance_function"] = _torch_cosine_distance
    elif distance_function not in (None, F.pairwise_distance):
        kw["distance_function"] = lambda x, y: TF.pairwise_distance(
            x, y, **distance_function.keywords)
    return TF.triplet_margin_with_distance_loss(a, p, n, **kw)


def _mlsm_oracle(x, y, reduction="mean", weight=None):
    return TF.multilabel_soft_margin_loss(x, y, weight=weight, reduction=reduction)


def _rows_args(rng, dtype, shape, k=3):
    return tuple(_normal(rng, shape, dtype) for _ in range(k))


def _cosine_args(rng, dtype, shape):
    x1, x2 = _rows_args(rng, dtype, shape, 2)
    return x1, x2, _signs(rng, shape[:1], dtype)


def _margin_args(rng, dtype, shape):
    n, c = shape
    return _normal(rng, shape, dtype), rng.integers(0, c, n)


def _multilabel_margin_args(rng, dtype, shape):
    n, c = shape
    t = np.full(shape, -1, np.int64)
    for i in range(n):
        k = rng.integers(0, c + 1)
        t[i, :k] = rng.permutation(c)[:k]
    return _normal(rng, shape, dtype), t


def _ctc_args(rng, dtype, shape):
    """(log_probs [T, N, C], padded targets [N, S], input_lengths, target_lengths)."""
    T, n, c = shape
    s = max(1, min(T // 2, 3))
    x = rng.standard_normal(shape)
    lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(dtype)
    targets = rng.integers(1, c, (n, s)) if c > 1 else np.zeros((n, s), np.int64)
    tl = rng.integers(0, s + 1, n) if c > 1 else np.zeros(n, np.int64)
    il = rng.integers(np.minimum(2 * tl + 1, T), T + 1)
    return lp, targets, il, tl


def _ctc_oracle(lp, targets, il, tl, **kw):
    return TF.ctc_loss(lp, targets, il, tl, **kw)


_GAMMA = r"must be a finite number >= 0"


def _elementwise(name, cls, fn, oracle, target, *, options=None, rule="broadcast", **kw):
    return LossRow(name, cls, fn, None, "elementwise-pair", None,
                   options=tuple(options or ()), make_args=_pair(target) if callable(target)
                   and not kw.get("make_args") else kw.pop("make_args"),
                   make_options=kw.pop("make_options", None) or _fixed(**(options or {})),
                   oracle=oracle, target_rule=rule,
                   **kw)


EXTRA_LOSSES = (
    _elementwise("SigmoidFocalLoss", lf.SigmoidFocalLoss, F.sigmoid_focal_loss,
                 _reference(ref_focal), _labels, options={"alpha": 0.4, "gamma": 1.5},
                 rule="same", option_errors=(
                     ("gamma", -1.0, ValueError, r"gamma must be"),
                     ("gamma", np.nan, ValueError, r"gamma must be"),
                     ("alpha", np.nan, ValueError, r"alpha must be"),
                     ("alpha", "a", TypeError, r"alpha must be a real number, got str"))),
    _elementwise("AsymmetricLoss", lf.AsymmetricLoss, F.asymmetric_loss, _reference(ref_asl),
                 _labels, options={"gamma_neg": 3.0, "gamma_pos": 0.5, "clip": 0.1,
                                   "eps": 1e-6}, rule="same", option_errors=(
                     ("gamma_neg", -0.5, ValueError, r"gamma_neg must be"),
                     ("gamma_pos", -1.0, ValueError, r"gamma_pos must be"),
                     ("clip", 1.0, ValueError, r"clip must be in \[0, 1\)"),
                     ("clip", -0.1, ValueError, r"clip must be in \[0, 1\)"),
                     ("eps", 0.0, ValueError, r"eps must be"),
                     ("eps", None, TypeError, r"eps must be a real number, got None"))),
    _elementwise("ZLPRLoss", lf.ZLPRLoss, F.multilabel_categorical_crossentropy,
                 _reference(ref_zlpr), _labels, rule="same"),
    _elementwise("SoftF1Loss", lf.SoftF1Loss, F.soft_f1_loss, _reference(ref_soft_f1), _labels,
                 options={"eps": 1e-6}, rule="same", layout_shape=(6, 5), option_errors=(
                     ("eps", -1e-3, ValueError, r"eps must be"),)),
    _elementwise("L1Loss", lf.L1Loss, F.l1_loss, TF.l1_loss, _normal),
    _elementwise("MSELoss", lf.MSELoss, F.mse_loss, TF.mse_loss, _normal),
    _elementwise("SmoothL1Loss", lf.SmoothL1Loss, F.smooth_l1_loss, TF.smooth_l1_loss,
                 _normal, options={"beta": 0.5}, option_errors=(
                     ("beta", -1.0, ValueError, r"beta must be >= 0, got -1"),
                     ("beta", "1", TypeError, r"beta must be a real number, got str"))),
    _elementwise("HuberLoss", lf.HuberLoss, F.huber_loss, TF.huber_loss, _normal,
                 options={"delta": 0.7}, option_errors=(
                     ("delta", 0.0, ValueError, r"delta must be > 0, got 0"),
                     ("delta", np.nan, ValueError, r"delta must be > 0, got nan"))),
    _elementwise("SoftMarginLoss", lf.SoftMarginLoss, F.soft_margin_loss, TF.soft_margin_loss,
                 _signs, rule="to-input"),
    _elementwise("KLDivLoss", lf.KLDivLoss, F.kl_div, TF.kl_div, _labels,
                 options={"log_target": False}, reductions=("none", "batchmean", "sum"),
                 make_args=_pair(_labels, _log_probs)),
    _elementwise("PoissonNLLLoss", lf.PoissonNLLLoss, F.poisson_nll_loss, TF.poisson_nll_loss,
                 _counts, options={"log_input": True, "full": True, "eps": 1e-8}),
    _elementwise("GaussianNLLLoss", lf.GaussianNLLLoss, F.gaussian_nll_loss,
                 TF.gaussian_nll_loss, None, options={"full": True, "eps": 1e-6},
                 make_args=_pair(_normal, extra=_positive), diff=(0, 2),
                 arg_names=("input", "target", "var"), option_errors=(
                     ("eps", "x", TypeError, r"eps must be a real number, got str"),)),
    _elementwise("HingeEmbeddingLoss", lf.HingeEmbeddingLoss, F.hinge_embedding_loss,
                 TF.hinge_embedding_loss, _signs, options={"margin": 0.5}, option_errors=(
                     ("margin", "1", TypeError, r"margin must be a real number, got str"),)),
    _elementwise("MarginRankingLoss", lf.MarginRankingLoss, F.margin_ranking_loss,
                 TF.margin_ranking_loss, None, options={"margin": 0.2}, make_args=_ranking,
                 diff=(0, 1), arg_names=("input1", "input2", "target"), option_errors=(
                     ("margin", None, TypeError, r"margin must be a real number, got None"),)),
    _elementwise("MultiLabelSoftMarginLoss", lf.MultiLabelSoftMarginLoss,
                 F.multilabel_soft_margin_loss, _mlsm_oracle, _labels, options={"weight": None},
                 make_options=lambda rng, dtype, shape: {
                     "weight": rng.uniform(0.5, 2, shape[-1:]).astype(dtype)}),
    LossRow("CosineEmbeddingLoss", lf.CosineEmbeddingLoss, F.cosine_embedding_loss, None,
            "rows", None, options=("margin",), make_args=_cosine_args,
            make_options=_fixed(margin=0.1), oracle=TF.cosine_embedding_loss, diff=(0, 1),
            arg_names=("input1", "input2", "target"), layout_shape=(6, 5),
            large_shape=(8, 600)),
    LossRow("TripletMarginLoss", lf.TripletMarginLoss, F.triplet_margin_loss, None, "rows", None,
            options=("margin", "p", "eps", "swap"), make_args=_rows_args,
            make_options=_fixed(margin=0.5, p=1.5, eps=1e-6, swap=True),
            oracle=TF.triplet_margin_loss, diff=(0, 1, 2),
            arg_names=("anchor", "positive", "negative"), layout_shape=(6, 5), option_errors=(
                ("margin", 0.0, ValueError, r"margin must be greater than 0, got 0"),
                ("p", -1.0, ValueError, r"p must be"))),
    LossRow("TripletMarginWithDistanceLoss", lf.TripletMarginWithDistanceLoss,
            F.triplet_margin_with_distance_loss, None, "rows", None,
            options=("distance_function", "margin", "swap"), make_args=_rows_args,
            make_options=_fixed(distance_function=F.cosine_distance, margin=0.5, swap=True),
            oracle=_triplet_with_distance, diff=(0, 1, 2),
            arg_names=("anchor", "positive", "negative"), layout_shape=(6, 5), option_errors=(
                ("margin", -1.0, ValueError, r"margin must be greater than 0, got -1"),
                ("distance_function", np.linalg.norm, TypeError,
                 r"distance_function must be None, pylossfn.functional.pairwise_distance"))),
    LossRow("MultiMarginLoss", lf.MultiMarginLoss, F.multi_margin_loss, None, "margin", None,
            options=("p", "margin", "weight"), make_args=_margin_args,
            make_options=lambda rng, dtype, shape: {
                "p": 2, "margin": 0.5, "weight": rng.uniform(0.5, 2, shape[1]).astype(dtype)},
            oracle=TF.multi_margin_loss, layout_shape=(6, 5), option_errors=(
                ("p", 3, ValueError, r"only p == 1 and p == 2 supported, got p=3"),
                ("weight", np.ones((1, 3)), ValueError, r"weight must be one-dimensional"))),
    LossRow("MultiLabelMarginLoss", lf.MultiLabelMarginLoss, F.multilabel_margin_loss, None,
            "margin", None, make_args=_multilabel_margin_args, make_options=_fixed(),
            oracle=TF.multilabel_margin_loss, layout_shape=(6, 5)),
    LossRow("CTCLoss", lf.CTCLoss, F.ctc_loss, None, "ctc", None,
            options=("blank", "zero_infinity"), make_args=_ctc_args,
            make_options=_fixed(blank=0, zero_infinity=True), oracle=_ctc_oracle,
            arg_names=("log_probs", "targets", "input_lengths", "target_lengths"),
            shape=(6, 4, 3), layout_shape=(7, 6, 5), large_shape=(60, 8, 20)),
)

LOSSES = CORE_LOSSES + EXTRA_LOSSES


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


def valid_inputs(row, dtype, rng=None, spatial=(), shape=None):
    """Every positional input of a valid call.  The core four: (input, target),
    input [N, C, *spatial] for the class family (targets [N, *spatial] in
    range), [N, C] for the binary family.  The others: row.make_args at
    `shape` (default row.shape)."""
    rng = rng or np.random.default_rng(1234)
    if not row.core:
        return row.make_args(rng, dtype, shape or row.shape)
    shape = (N, C) + tuple(spatial)
    x = row.make_input(rng, shape, dtype)
    if row.family == "binary":
        y = rng.uniform(0, 1, shape).astype(dtype)
    else:
        y = rng.integers(0, C, (N,) + tuple(spatial)).astype(np.int64)
    return x, y


def valid_options(row, dtype, rng=None, shape=None):
    """Constructor keywords that exercise every option the loss has."""
    rng = rng or np.random.default_rng(99)
    if not row.core:
        return row.make_options(rng, dtype, shape or row.shape)
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


def loss_shape(row, reduction, inputs, opts=None):
    """Shape of the loss value, so that grad_output can be made to fit."""
    if reduction != "none":
        return ()
    x = inputs[0]
    if row.family == "binary":
        return x.shape
    if row.family == "class":
        return (x.shape[0],) + x.shape[2:] if x.ndim > 1 else ()
    # the others: the shape of their own unreduced loss (a shape, not a value
    # under test: the values are compared with the oracle elsewhere)
    kw = {k: v for k, v in (opts or {}).items() if k != "reduction"}
    return np.shape(row.fn(*inputs, reduction="none", **kw))


def flat(result):
    """A result as a flat tuple: (loss, grad_1, ..., grad_k) or (grad_1, ...)."""
    out = []
    for r in result if isinstance(result, tuple) else (result,):
        out.extend(flat(r) if isinstance(r, tuple) else (r,))
    return tuple(out)


def call(row, mode, opts, inputs, grad_output=None):
    """One call through the face `mode`: "functional", "forward", "backward"
    (after a forward on the same arguments) or "forward_backward".  Returns a
    flat tuple of ndarrays / scalars (loss first, then each gradient) so that
    results can be compared."""
    if mode == "functional":
        return (row.fn(*inputs, **opts),)
    crit = row.cls(**opts)
    if mode == "forward":
        return (crit(*inputs),)
    if mode == "backward":
        crit(*inputs)
        return flat(crit.backward(grad_output))
    if mode == "forward_backward":
        return flat(crit.forward_backward(*inputs, grad_output=grad_output))
    raise AssertionError(mode)


def native(a):
    a = np.asarray(a)
    return np.array(a, dtype=a.dtype.newbyteorder("="), order="C")


def torch_call(row, opts, inputs, grad_output=None, want_grad=True):
    """(loss, (grad of each differentiable input, ...)) from the row's torch
    oracle on the same arguments, as NumPy; integer arrays go to torch as
    int64, the differentiable ones require a gradient."""
    tensors = []
    for i, a in enumerate(inputs):
        a = native(a)
        if a.dtype.kind in "iub" and i not in row.diff:
            t = torch.from_numpy(a.astype(np.int64))
            if row.family == "elementwise-pair" or (row.family == "rows" and i == 2):
                t = t.to(TORCH_DTYPE[np.dtype(native(inputs[0]).dtype)])
        else:
            t = torch.from_numpy(a).requires_grad_(want_grad and i in row.diff)
        tensors.append(t)
    kw = {k: torch.from_numpy(native(v)) if isinstance(v, np.ndarray) else v
          for k, v in opts.items()}
    loss = row.oracle(*tensors, **kw)
    grads = ()
    if want_grad:
        go = None if grad_output is None else torch.as_tensor(native(grad_output),
                                                                dtype=loss.dtype)
        if go is None and loss.ndim:
            go = torch.ones_like(loss)
        loss.backward(go)
        grads = tuple(tensors[i].grad.numpy() if tensors[i].grad is not None
                      else np.zeros(tensors[i].shape, native(inputs[i]).dtype)
                      for i in row.diff)
    return loss.detach().numpy(), grads


def torch_reference(row, opts, inputs, want_grad, grad_output=None):
    """(loss, grad) from torch on the same arguments, as NumPy."""
    if not row.core:
        loss, grads = torch_call(row, opts, inputs, grad_output, want_grad)
        return loss, (grads[0] if len(grads) == 1 else grads) if want_grad else None
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
