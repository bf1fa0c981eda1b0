"""Every loss of the suite, one row each, all of one kind.

test_errors_matrix, test_memory, test_layouts, test_threads, test_properties
and test_module_db walk this table, so a new loss joins all of them by adding
a row here: the name of its row of the core's table (``_core.LOSSES``, by its
function's name), the name of its torch oracle and how to make valid
arguments and options.  What the core's table already says is read from it,
not written here: the class and the function (the faces of that row), the
arrays' names and the options (and so which error cases a loss has);
test_table_faces checks that every row of the core's table has a row here.

Free of torch: a row names its oracle (`oracle`, a dotted name that
oracle.torch_fn resolves), so that the tables serve the torch-free tier too.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import pylossfn as lf
import pylossfn.functional as F
from pylossfn import _core, _rows

try:  # ml_dtypes (an optional test extra): bfloat16 joins float16 where it is installed
    import ml_dtypes
except ImportError:  # pragma: no cover - the torch-free tiers without the extra
    ml_dtypes = None

DTYPES = (np.float32, np.float64)
#: the half dtypes, computed in float32, results in the half dtype (issue 21);
#: bfloat16 is ml_dtypes', so only where it is importable
HALF_DTYPES = (np.dtype(np.float16),) + (() if ml_dtypes is None
                                         else (np.dtype(ml_dtypes.bfloat16),))


def is_half(dtype):
    return np.dtype(dtype) in HALF_DTYPES


def half_finfo(dtype):
    """np.finfo of a half dtype (ml_dtypes' for bfloat16): eps, max."""
    return np.finfo(dtype) if np.dtype(dtype) == np.float16 else ml_dtypes.finfo(dtype)


def widened(a):
    """A half array as float32, the values its call computes with (what a
    float32 oracle takes); anything else as it is."""
    return a.astype(np.float32) if isinstance(a, np.ndarray) and is_half(a.dtype) else a


#: the core's rows of the losses, by their function's name (torch's)
CORE_ROWS = {row["fname"]: row for row in _core.LOSSES if not row["plain"]}
#: the loss classes, by the row they are the face of
CLASSES = {cls._row: cls for cls in vars(lf).values()
           if isinstance(cls, type) and issubclass(cls, lf.Loss) and cls.__dict__.get("_row")}


@dataclass(frozen=True)
class LossRow:
    """One loss, by its row of the core's table (``fname``, its function's
    name).  ``family`` decides the shape rules and the error cases:
    "binary" (target has the input's shape, weights broadcast), "class"
    (input [N, C, ...], integer class-index target [N, ...], weight [C]),
    "elementwise-pair", "rows", "margin" or "ctc"."""

    fname: str
    family: str
    make_args: Callable  # (rng, dtype, shape) -> every positional input
    make_options: Callable  # (rng, dtype, shape) -> constructor keywords
    oracle: str  # torch's function (or a torch reference formula), by dotted name
    probability_input: bool = False  # input must lie in [0, 1] (BCELoss)
    probability_target: bool = False  # float class-probability targets allowed
    diff: tuple = (0,)  # the differentiable inputs; more than one: backward gives a tuple
    shape: tuple = (4, 3)  # the nominal shape of a valid call (see make_args)
    layout_shape: tuple = (6, 5, 4)
    large_shape: tuple = (8, 600)  # above the core's GIL-release threshold
    thread_shapes: tuple = ()  # more shapes for test_threads, beyond shape and large_shape
    target_rule: str = ""  # elementwise-pair: "same", "broadcast" or "to-input"
    option_errors: tuple = ()  # (option, bad value, exception, message regex)
    reductions: tuple = ("none", "mean", "sum")

    def __repr__(self):
        return self.name

    @property
    def cls(self):
        """The class of the core's row."""
        return CLASSES[self.fname]

    @property
    def name(self):
        return self.cls.__name__

    @property
    def fn(self):
        """The function, in pylossfn.functional and torch.nn.functional."""
        return getattr(F, self.fname)

    @property
    def arg_names(self):
        """The names of the arrays a call takes, as the core's row gives them."""
        return tuple(_rows.row_arrays(CORE_ROWS[self.fname]))

    @property
    def options(self):
        """The class's options (from its row): constructor keywords but reduction."""
        return self.cls._options

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


def _labels(rng, shape, dtype):
    return rng.uniform(0, 1, shape).astype(dtype)


def _binary_args(make_x):
    """input and float target of `shape`."""
    def make(rng, dtype, shape):
        return make_x(rng, shape, dtype), _labels(rng, shape, dtype)
    return make


def _class_args(make_x):
    """input [N, C, *spatial] and in-range class indices [N, *spatial]."""
    def make(rng, dtype, shape):
        x = make_x(rng, shape, dtype)
        return x, rng.integers(0, shape[1], shape[:1] + shape[2:]).astype(np.int64)
    return make


def _binary_options(rng, dtype, shape):
    # weight [C] on [N, C]; on a 3-d input [N, C, K] a weight [C, 1], which
    # broadcasts along the last axis (stride 0)
    opts = {"weight": rng.uniform(0.5, 2.0, shape[1:-1] + (1,) if len(shape) > 2
                                  else shape[-1:]).astype(dtype)}
    return opts


def _bce_logits_options(rng, dtype, shape):
    opts = _binary_options(rng, dtype, shape)
    opts["pos_weight"] = rng.uniform(0.5, 3.0, shape[-1:]).astype(dtype)
    return opts


def _class_options(**extra):
    def make(rng, dtype, shape):
        return dict({"weight": rng.uniform(0.5, 2.0, shape[1]).astype(dtype)}, **extra)
    return make


_CORE_SHAPES = dict(shape=(4, 3), layout_shape=(6, 5, 4), large_shape=(8, 600),
                    thread_shapes=((300, 7),))

CORE_LOSSES = (
    # (label_smoothing, torch's BCE lacks: its values in test_poly_smoothing.py)
    LossRow("binary_cross_entropy", "binary", _binary_args(_probs),
            _binary_options, "torch.nn.functional.binary_cross_entropy",
            probability_input=True, **_CORE_SHAPES),
    LossRow("binary_cross_entropy_with_logits", "binary", _binary_args(_normal),
            _bce_logits_options, "torch.nn.functional.binary_cross_entropy_with_logits",
            **_CORE_SHAPES),
    LossRow("cross_entropy", "class",
            _class_args(_normal), _class_options(ignore_index=1, label_smoothing=0.125),
            "torch.nn.functional.cross_entropy", probability_target=True, **_CORE_SHAPES),
    LossRow("nll_loss", "class", _class_args(_log_probs),
            _class_options(ignore_index=1), "torch.nn.functional.nll_loss", **_CORE_SHAPES),
)


# ---------------------------------------------------------------------------
# Every other loss: the oracle is torch's function or, for the losses torch
# lacks, a torch reference formula of oracle.py
# ---------------------------------------------------------------------------

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


def _torch(name):
    return f"torch.nn.functional.{name}"


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


_GAMMA = r"must be a finite number >= 0"


def _elementwise(fname, oracle, target, *, options=None, rule="broadcast", **kw):
    return LossRow(fname, "elementwise-pair",
                   kw.pop("make_args", None) or _pair(target),
                   kw.pop("make_options", None) or _fixed(**(options or {})),
                   oracle, target_rule=rule, **kw)


def _poly_bce_options(rng, dtype, shape):
    return dict(_bce_logits_options(rng, dtype, shape), epsilon=0.75)


EXTRA_LOSSES = (
    LossRow("poly_binary_cross_entropy_with_logits", "binary", _binary_args(_normal),
            _poly_bce_options, "oracle.poly_binary_cross_entropy_with_logits",
            **_CORE_SHAPES),
    _elementwise("sigmoid_focal_loss", "oracle.sigmoid_focal_loss", _labels,
                 options={"alpha": 0.4, "gamma": 1.5},
                 rule="same", option_errors=(
                     ("gamma", -1.0, ValueError, r"gamma must be"),
                     ("gamma", np.nan, ValueError, r"gamma must be"),
                     ("alpha", np.nan, ValueError, r"alpha must be"),
                     ("alpha", "a", TypeError, r"alpha must be a real number, got str"))),
    _elementwise("asymmetric_loss", "oracle.asymmetric_loss", _labels,
                 options={"gamma_neg": 3.0, "gamma_pos": 0.5, "clip": 0.1, "eps": 1e-6},
                 rule="same", option_errors=(
                     ("gamma_neg", -0.5, ValueError, r"gamma_neg must be"),
                     ("gamma_pos", -1.0, ValueError, r"gamma_pos must be"),
                     ("clip", 1.0, ValueError, r"clip must be in \[0, 1\)"),
                     ("clip", -0.1, ValueError, r"clip must be in \[0, 1\)"),
                     ("eps", 0.0, ValueError, r"eps must be"),
                     ("eps", None, TypeError, r"eps must be a real number, got None"))),
    _elementwise("multilabel_categorical_crossentropy", "oracle.zlpr_loss", _labels,
                 rule="same"),
    _elementwise("soft_f1_loss", "oracle.soft_f1_loss", _labels,
                 options={"eps": 1e-6}, rule="same", layout_shape=(6, 5), option_errors=(
                     ("eps", -1e-3, ValueError, r"eps must be"),)),
    _elementwise("dice_loss", "oracle.dice_loss", _labels,
                 options={"smooth": 0.5, "alpha": 0.3, "beta": 0.7, "weight": None},
                 make_options=lambda rng, dtype, shape: {
                     "smooth": 0.5, "alpha": 0.3, "beta": 0.7,
                     "weight": rng.uniform(0.5, 2, shape[1:2]).astype(dtype)},
                 rule="same", option_errors=(
                     ("smooth", -1.0, ValueError, r"smooth must be finite and >= 0"),
                     ("alpha", np.inf, ValueError, r"alpha must be finite and >= 0"),
                     ("beta", "b", TypeError, r"beta must be a real number, got str"),
                     ("mode", "soft", ValueError, r"mode must be one of 'multilabel'"))),
    _elementwise("generalized_dice_loss", "oracle.generalized_dice_loss", _labels,
                 options={"smooth": 0.5, "per_sample": True}, rule="same", option_errors=(
                     ("smooth", np.nan, ValueError, r"smooth must be finite and >= 0"),)),
    _elementwise("l1_loss", _torch("l1_loss"), _normal),
    _elementwise("mse_loss", _torch("mse_loss"), _normal),
    _elementwise("log_cosh_loss", "oracle.log_cosh_loss", _normal),
    _elementwise("smooth_l1_loss", _torch("smooth_l1_loss"),
                 _normal, options={"beta": 0.5}, option_errors=(
                     ("beta", -1.0, ValueError, r"beta must be >= 0, got -1"),
                     ("beta", "1", TypeError, r"beta must be a real number, got str"))),
    _elementwise("huber_loss", _torch("huber_loss"), _normal,
                 options={"delta": 0.7}, option_errors=(
                     ("delta", 0.0, ValueError, r"delta must be > 0, got 0"),
                     ("delta", np.nan, ValueError, r"delta must be > 0, got nan"))),
    _elementwise("soft_margin_loss", _torch("soft_margin_loss"), _signs, rule="to-input"),
    _elementwise("kl_div", _torch("kl_div"), _labels,
                 options={"log_target": False}, reductions=("none", "batchmean", "sum"),
                 make_args=_pair(_labels, _log_probs)),
    _elementwise("poisson_nll_loss", _torch("poisson_nll_loss"), _counts,
                 options={"log_input": True, "full": True, "eps": 1e-8}),
    _elementwise("gaussian_nll_loss", _torch("gaussian_nll_loss"), None,
                 options={"full": True, "eps": 1e-6},
                 make_args=_pair(_normal, extra=_positive), diff=(0, 2), option_errors=(
                     ("eps", "x", TypeError, r"eps must be a real number, got str"),)),
    _elementwise("hinge_embedding_loss", _torch("hinge_embedding_loss"), _signs,
                 options={"margin": 0.5}, option_errors=(
                     ("margin", "1", TypeError, r"margin must be a real number, got str"),)),
    _elementwise("margin_ranking_loss", _torch("margin_ranking_loss"), None,
                 options={"margin": 0.2}, make_args=_ranking,
                 diff=(0, 1), option_errors=(
                     ("margin", None, TypeError, r"margin must be a real number, got None"),)),
    _elementwise("multilabel_soft_margin_loss", "oracle.multilabel_soft_margin_loss", _labels,
                 options={"weight": None},
                 make_options=lambda rng, dtype, shape: {
                     "weight": rng.uniform(0.5, 2, shape[-1:]).astype(dtype)}),
    LossRow("cosine_embedding_loss", "rows",
            _cosine_args, _fixed(margin=0.1), _torch("cosine_embedding_loss"), diff=(0, 1),
            layout_shape=(6, 5), large_shape=(8, 600)),
    LossRow("triplet_margin_loss", "rows",
            _rows_args, _fixed(margin=0.5, p=1.5, eps=1e-6, swap=True),
            _torch("triplet_margin_loss"), diff=(0, 1, 2), layout_shape=(6, 5), option_errors=(
                ("margin", 0.0, ValueError, r"margin must be greater than 0, got 0"),
                ("p", -1.0, ValueError, r"p must be"))),
    LossRow("triplet_margin_with_distance_loss", "rows", _rows_args,
            _fixed(distance_function=F.cosine_distance, margin=0.5, swap=True),
            "oracle.triplet_margin_with_distance_loss",
            diff=(0, 1, 2), layout_shape=(6, 5), option_errors=(
                ("margin", -1.0, ValueError, r"margin must be greater than 0, got -1"),
                ("distance_function", np.linalg.norm, TypeError,
                 r"distance_function must be None, pylossfn.functional.pairwise_distance"))),
    LossRow("multi_margin_loss", "margin", _margin_args,
            lambda rng, dtype, shape: {
                "p": 2, "margin": 0.5, "weight": rng.uniform(0.5, 2, shape[1]).astype(dtype)},
            _torch("multi_margin_loss"), layout_shape=(6, 5), option_errors=(
                ("p", 3, ValueError, r"only p == 1 and p == 2 supported, got p=3"),
                ("weight", np.ones((1, 3)), ValueError, r"weight must be one-dimensional"))),
    LossRow("multilabel_margin_loss", "margin", _multilabel_margin_args, _fixed(),
            _torch("multilabel_margin_loss"), layout_shape=(6, 5)),
    LossRow("ctc_loss", "ctc", _ctc_args,
            _fixed(blank=0, zero_infinity=True), "oracle.ctc_loss",
            shape=(6, 4, 3), layout_shape=(7, 6, 5), large_shape=(60, 8, 20)),
)


def _logit_pair(rng, dtype, shape):
    return _normal(rng, shape, dtype), 2 * _normal(rng, shape, dtype)


# issue 22's losses on the simplex: Poly-1 (a class loss), distillation (rows
# of student and teacher logits), sparsemax (class indices on [N, C])
SIMPLEX_LOSSES = (
    LossRow("poly_cross_entropy", "class", _class_args(_normal),
            _class_options(ignore_index=1, label_smoothing=0.125, epsilon=1.5),
            "oracle.poly_cross_entropy", probability_target=True, **_CORE_SHAPES),
    LossRow("distillation_loss", "rows", _logit_pair,
            _fixed(temperature=2.5), "oracle.distillation_loss", target_rule="same",
            layout_shape=(6, 5), reductions=("none", "batchmean", "sum", "mean"),
            option_errors=(
                ("temperature", 0.0, ValueError, r"temperature must be finite and > 0, got 0"),
                ("temperature", np.inf, ValueError, r"temperature must be finite and > 0"),
                ("temperature", "2", TypeError, r"temperature must be a real number, got str"))),
    LossRow("sparsemax_loss", "margin", _margin_args, _fixed(), "oracle.sparsemax_loss",
            layout_shape=(6, 5)),
)

LOSSES = CORE_LOSSES + EXTRA_LOSSES + SIMPLEX_LOSSES
ROWS = {row.name: row for row in LOSSES}
BCE, BCEL, CE, NLL = CORE_LOSSES


@dataclass(frozen=True)
class ActivationRow:
    """One activation: ``fn(x, **kw)`` against its oracle (a dotted name that
    oracle.torch_fn resolves) on the same tensor."""

    name: str
    fn: Callable
    oracle: str
    kwargs: dict = field(default_factory=dict)  # e.g. dim
    needs_dim: bool = False

    def __repr__(self):
        return self.name


ACTIVATIONS = (
    ActivationRow("sigmoid", F.sigmoid, "torch.sigmoid"),
    ActivationRow("logsigmoid", F.logsigmoid, _torch("logsigmoid")),
    ActivationRow("softmax", F.softmax, _torch("softmax"), needs_dim=True),
    ActivationRow("log_softmax", F.log_softmax, _torch("log_softmax"), needs_dim=True),
    ActivationRow("sparsemax", F.sparsemax, "oracle.sparsemax", needs_dim=True),
)


# ---------------------------------------------------------------------------
# Valid arguments
# ---------------------------------------------------------------------------

N, C = 4, 3


def valid_inputs(row, dtype, rng=None, shape=None):
    """Every positional input of a valid call: row.make_args at `shape`
    (default row.shape; for the class family [N, C, *spatial])."""
    rng = rng or np.random.default_rng(1234)
    return row.make_args(rng, dtype, tuple(shape or row.shape))


def valid_options(row, dtype, rng=None, shape=None):
    """Constructor keywords that exercise every option the loss has; those of
    a half call in the dtype each option takes (option_dtype)."""
    rng = rng or np.random.default_rng(99)
    opts = row.make_options(rng, dtype, tuple(shape or row.shape))
    if is_half(dtype):
        opts = {k: v.astype(option_dtype(row, k, dtype))
                if isinstance(v, np.ndarray) and is_half(v.dtype) else v
                for k, v in opts.items()}
    return opts


def option_dtype(row, name, dtype):
    """The dtype of the float array option `name` in a call of `dtype`: the
    input's, but float32 in a half call for an option the core's row checks
    float32 or float64 (the class weight: torch refuses one of another
    precision than the input's, and so do we, at construction)."""
    full = {a["name"] for a in CORE_ROWS[row.fname]["args"]
            if a["check"] == "float32_or_float64"}
    return np.dtype(np.float32) if is_half(dtype) and name in full else np.dtype(dtype)


def loss_shape(row, reduction, inputs, opts=None):
    """Shape of the loss value, so that grad_output can be made to fit: the
    shape of the row's own unreduced loss (a shape, not a value under test:
    the values are compared with the oracle elsewhere)."""
    if reduction != "none":
        return ()
    kw = {k: v for k, v in (opts or {}).items() if k != "reduction"}
    return np.shape(row.fn(*inputs, reduction="none", **kw))


def grad_output_of(row, reduction, inputs, opts, rng, dtype):
    """A grad_output for a call: 0.7, or uniform values of the "none" loss's shape."""
    shape = loss_shape(row, reduction, inputs, opts)
    return rng.uniform(0.5, 1.5, shape).astype(dtype) if shape else dtype(0.7)


def flat(result):
    """A result as a flat tuple: (loss, grad_1, ..., grad_k) or (grad_1, ...)."""
    out = []
    for r in result if isinstance(result, tuple) else (result,):
        out.extend(flat(r) if isinstance(r, tuple) else (r,))
    return tuple(out)


def call(row, mode, opts, inputs, grad_output=None):
    """One call through the face `mode`: "functional", "forward", "backward"
    (after a forward on the same arguments), "forward_backward" or "hessian"
    (forward_backward with hessian=True).  Returns a
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
    if mode == "hessian":  # (loss, gradients..., Hessian diagonals...)
        return flat(crit.forward_backward(*inputs, grad_output=grad_output, hessian=True))
    raise AssertionError(mode)


# ---------------------------------------------------------------------------
# Options changed behind a call's back (the safety tests)
# ---------------------------------------------------------------------------

def _other_value(value):
    """A different value of an option's kind (valid or not: a call that already
    captured its options must never see it)."""
    if isinstance(value, np.ndarray):
        return value * 2 + 0.5
    if value is None:
        return np.asarray(2.5)
    if isinstance(value, (bool, np.bool_)):
        return not value
    if isinstance(value, (int, np.integer)):
        return value + 1
    if isinstance(value, (float, np.floating)):
        return value * 0.5 + 0.25
    if isinstance(value, str):  # a mode name
        return value + "-changed"
    if value is F.pairwise_distance:
        return F.cosine_distance
    if callable(value):
        return F.pairwise_distance
    raise AssertionError(f"no other value for {value!r}")


def scramble(crit, names, reductions=("none", "mean", "sum"), in_place=True):
    """Change every option ``names`` of ``crit`` and its reduction: write into
    its option arrays in place (with ``in_place``), then assign new values.
    Dotted names reach into the criterion (``linear.weight``)."""
    for name in names:
        *path, attr = name.split(".")
        owner = crit
        for part in path:
            owner = getattr(owner, part)
        value = getattr(owner, attr)
        if in_place and isinstance(value, np.ndarray):
            value *= 3
            value += 1
        setattr(owner, attr, _other_value(value))
    crit.reduction = next(r for r in reductions if r != crit.reduction)


def option_names(crit):
    """The options a criterion's calls read (its core function's options, or a
    fused head's layer and options)."""
    if isinstance(crit, lf.LinearCrossEntropyLoss):
        return ("linear.weight", "weight", "ignore_index", "label_smoothing")
    if isinstance(crit, lf.LinearBCEWithLogitsLoss):
        return ("linear.weight", "pos_weight")
    return type(crit)._options


def scramble_options(opts):
    """A functional call's keywords changed behind its back: arrays written in
    place (the dict itself is the caller's and is not read again)."""
    for value in opts.values():
        if isinstance(value, np.ndarray):
            value *= 3
            value += 1
