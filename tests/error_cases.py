"""The error matrix: every bad argument a loss of loss_table can meet, with
the exception it must raise and what its message must say.

Shared by test_errors_matrix (each case through every face and dtype) and
test_memory (each case 10^4 times, refcounts unchanged).  Cases are chosen by
the row's family and options, so a new row gets its cases for free.
"""
from dataclasses import dataclass, field

import numpy as np
from loss_table import HALF_DTYPES, C, N, loss_shape, valid_inputs, valid_options, widened

# "hessian": forward_backward(..., hessian=True), the second-order path, which
# must check as much as the others (CTCLoss has none: test_hessian)
MODES = ("functional", "forward", "backward", "forward_backward", "hessian")
GRAD_MODES = ("backward", "forward_backward", "hessian")

I64 = np.iinfo(np.int64)

try:  # ml_dtypes (an optional test extra): bfloat16 joins the matrix (loss_table's
    # HALF_DTYPES), float8 its refusals
    import ml_dtypes
except ImportError:  # pragma: no cover - the torch-free tier without the extra
    ml_dtypes = None
FLOAT8 = None if ml_dtypes is None else np.dtype(ml_dtypes.float8_e4m3fn)


def _weight_dtype(dtype):
    return np.float32 if np.dtype(dtype) in HALF_DTYPES else dtype


class ArrayRaises:
    """An array-like whose __array__ raises: that very exception must reach
    the caller, unchanged."""

    def __init__(self):
        self.error = LookupError("__array__ refused on purpose")

    def __array__(self, dtype=None, copy=None):
        # without its old traceback, so that raising it again does not make
        # the traceback (and the frames it keeps alive) grow
        raise self.error.with_traceback(None)


@dataclass
class Case:
    id: str
    exc: type
    match: str  # regex the message must contain: the argument and what was expected
    inputs: tuple = None  # None: valid_inputs
    opts: dict = field(default_factory=dict)  # overrides of valid_options
    drop: tuple = ()  # options to leave out
    reduction: str = "mean"
    grad_output: object = None
    modes: tuple = MODES
    raised: BaseException = None  # the exact exception object expected, if any

    def __repr__(self):
        return self.id


def _masked(a):
    return np.ma.array(a, mask=np.zeros(np.shape(a), bool) | (np.arange(np.size(a)) == 0)
                       .reshape(np.shape(a)))


def _with(args, i, value):
    """args with argument i replaced by value."""
    return tuple(value if k == i else a for k, a in enumerate(args))


def _bad_inputs(x):
    xw = widened(x)
    bad = {"int64": x.astype(np.int64), "int32": x.astype(np.int32), "bool": x > 0.5,
           "complex": xw.astype(np.complex128), "object": xw.astype(object),
           "str-array": xw.astype(str), "longdouble": x.astype(np.longdouble)}
    if FLOAT8 is not None:  # float16 and bfloat16 are computed in float32; float8 is not
        bad["float8_e4m3fn"] = xw.astype(np.float32).astype(FLOAT8)
    return bad


def cases(row, dtype):
    """Every error case for `row` computing in `dtype`."""
    args = valid_inputs(row, dtype)
    x, y = args[0], args[1]
    name0 = row.arg_names[0]
    out = []
    add = out.append

    if "batchmean" in row.reductions:
        allowed = r"reduction must be one of 'none', 'batchmean', 'sum' or 'mean', got"
    else:
        allowed = r"reduction must be one of 'none', 'mean' or 'sum', got"
    for bad in (None, "MEAN", "avg", "", 1):
        add(Case(f"reduction={bad!r}", ValueError, allowed, reduction=bad))

    # the input: only float32 / float64 arrays (or lists of floats)
    for name, bad in _bad_inputs(x).items():
        add(Case(f"{name0}-{name}", TypeError, rf"{name0} must be a float32 or float64 array, "
                 r"got dtype", inputs=_with(args, 0, bad)))
    add(Case(f"{name0}-str", TypeError, rf"{name0} must be a numeric array, got str",
             inputs=_with(args, 0, "abc")))
    add(Case(f"{name0}-None", TypeError, rf"{name0} must be an array, got None",
             inputs=_with(args, 0, None)))
    add(Case(f"{name0}-masked", TypeError, rf"{name0} is a masked array",
             inputs=_with(args, 0, _masked(x))))
    add(Case(f"{name0}-ragged", ValueError, rf"{name0} could not be converted to an array",
             inputs=_with(args, 0, [[0.5, 0.5], [0.5]])))
    e = ArrayRaises()
    add(Case(f"{name0}-__array__-raises", LookupError, "refused on purpose",
             inputs=_with(args, 0, e), raised=e.error))
    # every other argument: absent, masked, or refusing conversion
    for i, name in enumerate(row.arg_names[1:], 1):
        if row.family == "ctc" and i >= 2:
            continue  # the lengths: see _ctc_cases (they may be lists)
        add(Case(f"{name}-None", TypeError, rf"{name} must be an array, got None",
                 inputs=_with(args, i, None)))
        add(Case(f"{name}-masked", TypeError, rf"{name} is a masked array",
                 inputs=_with(args, i, _masked(args[i]))))
        e = ArrayRaises()
        add(Case(f"{name}-__array__-raises", LookupError, "refused on purpose",
                 inputs=_with(args, i, e), raised=e.error))

    if row.family == "binary":
        _binary_cases(row, dtype, x, y, add)
    elif row.family == "class":
        _class_cases(row, dtype, x, y, add)
    else:
        FAMILY_CASES[row.family](row, dtype, args, add)
        for opt, value, exc, match in row.option_errors:
            add(Case(f"{opt}={value!r}", exc, match,
                     opts={opt: value}))

    # grad_output: a scalar for a reduced loss, the loss's shape for "none"
    reduced = "batchmean" if "batchmean" in row.reductions else "mean"
    wrong = (5,)  # not the loss's shape
    lshape = loss_shape(row, "none", args, valid_options(row, dtype))
    for red, go, what in (
        (reduced, np.ones(2, dtype), rf"grad_output must be a scalar for reduction='{reduced}', "
         r"got shape \(2,\)"),
        ("sum", np.ones(0, dtype), r"grad_output must be a scalar for reduction='sum', "
         r"got shape \(0,\)"),
        ("none", np.ones(wrong, dtype), rf"grad_output has shape \({wrong[0]},\), but the loss "
         r"has shape"),
        ("none", np.ones(0, dtype), r"grad_output has shape \(0,\), but the loss has shape"),
        ("none", np.ones((N, C, 2), dtype), r"grad_output has shape \(4, 3, 2\), but the loss "
         r"has shape"),
        (reduced, np.complex128(1), r"grad_output must be a real \(float, integer or bool\) "
         r"array"),
        ("none", None if row.family == "class" else np.ones(lshape, np.complex64),
         r"grad_output must be a real"),
    ):
        if go is None:
            continue
        add(Case(f"grad_output-{red}-{np.shape(go)}-{np.asarray(go).dtype}",
                 ValueError if np.asarray(go).dtype.kind != "c" else TypeError, what,
                 reduction=red, grad_output=go, modes=GRAD_MODES))
    return out


def _binary_cases(row, dtype, x, y, add):
    for name, bad in {"complex": widened(y).astype(np.complex64), "object": widened(y).astype(object),
                      "str-array": widened(y).astype(str)}.items():
        add(Case(f"target-{name}", TypeError, r"target must be a real \(float, integer or "
                 r"bool\) array", inputs=(x, bad)))
    for shape in ((N, C - 1), (N,), (N, C, 1), (1, C)):
        add(Case(f"target-shape-{shape}", ValueError, r"target has shape .*, but it must have "
                 r"the input's shape \(4, 3\)", inputs=(x, np.resize(y, shape))))
    for key in ("weight",) + (("pos_weight",) if row.has("pos_weight") else ()):
        for shape in ((C - 1,), (N + 1, C), (2, N, C)):
            add(Case(f"{key}-shape-{shape}", ValueError, rf"{key} of shape .* does not "
                     r"broadcast to the input's shape \(4, 3\)",
                     opts={key: np.ones(shape, dtype)}))
        add(Case(f"{key}-int", TypeError, rf"{key} must be a floating-point array, got dtype",
                 opts={key: np.ones(C, np.int64)}))
        add(Case(f"{key}-masked", TypeError, rf"{key} is a masked array",
                 opts={key: _masked(np.ones(C, dtype))}))
    if row.has("label_smoothing"):  # refused at construction, as cross_entropy's
        for value in (-0.1, 1.5, float("nan"), float("inf"), -float("inf")):
            add(Case(f"label_smoothing={value}", ValueError, r"label_smoothing must be in "
                     r"\[0, 1\], got", opts={"label_smoothing": value}))
        add(Case("label_smoothing=str", TypeError, r"label_smoothing must be a float, got str",
                 opts={"label_smoothing": "0.1"}))
    if row.has("epsilon"):
        for value in (np.nan, np.inf):
            add(Case(f"epsilon={value}", ValueError, r"epsilon must be finite, got",
                     opts={"epsilon": value}))
        add(Case("epsilon=None", TypeError, r"epsilon must be a real number, got None",
                 opts={"epsilon": None}))
    if row.probability_input:
        for name, value in (("above-1", 1.5), ("below-0", -1e-7), ("nan", np.nan),
                            ("inf", np.inf)):
            bad = x.copy()
            bad[2, 1] = value
            add(Case(f"input-{name}", ValueError, r"input has .* at flat index 7, but every "
                     r"element must be in \[0, 1\]", inputs=(bad, y)))
            add(Case(f"input-{name}-none", ValueError, r"input has .* at flat index 7",
                     inputs=(bad, y), reduction="none"))


def _class_cases(row, dtype, x, t, add):
    # class indices outside [0, C) that are not ignore_index, at batch index 2
    for red in ("mean", "sum", "none"):
        for value in (C, C + 1, -1, I64.max, I64.min):
            bad = t.copy()
            bad[2] = value
            add(Case(f"class-{value}-{red}", IndexError, rf"target has class {value} at index "
                     r"2, but input has 3 classes", inputs=(x, bad), reduction=red))
    for tdtype, value in ((np.uint64, 2**63), (np.uint64, 2**64 - 1), (np.uint8, 255),
                          (np.int8, -1), (np.uint32, 2**32 - 1)):
        bad = t.astype(tdtype)
        bad[2] = value
        add(Case(f"class-{np.dtype(tdtype).name}-{value}", IndexError,
                 rf"target has class {value} at (flat )?index 2, but input has 3 classes",
                 inputs=(x, bad)))
    xs, ts = valid_inputs(row, x.dtype.type, shape=(N, C, 5))
    ts = ts.copy()
    ts[3, 4] = C
    add(Case("class-spatial", IndexError, r"target has class 3 at index \(3, 4\), but input "
             r"has 3 classes", inputs=(xs, ts), reduction="none"))
    add(Case("class-unbatched", IndexError, r"target has class 7, but input has 3 classes",
             inputs=(x[0], np.int64(7))))
    if row.has("ignore_index"):
        bad = t.copy()
        bad[2] = -100  # the default ignore_index, but this call set another
        add(Case("class-not-the-ignore_index", IndexError, r"target has class -100 at index 2",
                 inputs=(x, bad), opts={"ignore_index": 1}))

    add(Case("target-bool", TypeError, r"target must hold integer class indices, got dtype "
             r"bool", inputs=(x, t.astype(bool))))
    ftarget = TypeError, r"target must hold integer class indices"
    add(Case("target-float", *ftarget, inputs=(x, t.astype(dtype))))
    add(Case("target-float16", *ftarget, inputs=(x, t.astype(np.float16))))
    add(Case("target-complex", *ftarget, inputs=(x, t.astype(np.complex128))))
    add(Case("target-str", *ftarget, inputs=(x, t.astype(str))))

    add(Case("input-0d", ValueError, r"input must have at least 1 dimension",
             inputs=(np.asarray(x[0, 0]), np.int64(0))))
    for name, inputs in (
        ("batch", (x, t[:N - 1])),
        ("batch-2d", (x, t.reshape(2, 2))),
        ("spatial", (xs, ts[:, :4])),
        ("spatial-missing", (xs, ts[:, 0])),
        ("1d-target-1d-input", (x[0], t[:1])),
        ("0d-target-2d-input", (x, np.int64(0))),
    ):
        add(Case(f"target-shape-{name}", ValueError, r"target has shape .*, but input of shape "
                 r".* needs a target of shape", inputs=inputs))

    for shape in ((C + 1,), (C - 1,), (0,), (1, C), ()):
        add(Case(f"weight-shape-{shape}", ValueError, r"weight must have shape \(3,\) \(one per "
                 r"class\), got", opts={"weight": np.ones(shape, _weight_dtype(dtype))}))
    add(Case("weight-int", TypeError, r"weight must be a floating-point array, got dtype int64",
             opts={"weight": np.ones(C, np.int64)}))
    add(Case("weight-masked", TypeError, r"weight is a masked array",
             opts={"weight": _masked(np.ones(C, _weight_dtype(dtype)))}))

    if row.has("label_smoothing"):
        for value in (-0.1, 1.5, float("nan"), float("inf"), -float("inf")):
            add(Case(f"label_smoothing={value}", ValueError, r"label_smoothing must be in "
                     r"\[0, 1\], got", opts={"label_smoothing": value}))
        add(Case("label_smoothing=str", TypeError, r"label_smoothing must be a float, got str",
                 opts={"label_smoothing": "0.1"}))
    if row.has("ignore_index"):
        for value in (1.0, 0.5, None, "1", np.float64(2)):
            add(Case(f"ignore_index={value!r}", TypeError, r"ignore_index must be an integer, "
                     r"got", opts={"ignore_index": value}))
    if row.has("epsilon"):  # Poly-1's
        for value in (float("nan"), float("inf")):
            add(Case(f"epsilon={value}", ValueError, r"epsilon must be a finite number, got",
                     opts={"epsilon": value}))
        add(Case("epsilon=str", TypeError, r"epsilon must be a real number, got str",
                 opts={"epsilon": "1"}))
    if row.probability_target:
        probs = np.full(x.shape, 1.0 / C, dtype)
        for value in (0, 2, 100):
            add(Case(f"probability-target-ignore_index={value}", ValueError,
                     rf"ignore_index={value} is not supported with class-probability targets",
                     inputs=(x, probs), opts={"ignore_index": value}))


_REAL = r"must be a real \(float, integer or bool\) array"
_INDICES = r"must hold integer class indices, got dtype"


def _elementwise_cases(row, dtype, args, add):
    x = args[0]
    for i, name in enumerate(row.arg_names[1:], 1):
        for kind, bad in {"complex": widened(args[i]).astype(np.complex64),
                          "object": widened(args[i]).astype(object),
                          "str-array": widened(args[i]).astype(str)}.items():
            add(Case(f"{name}-{kind}", TypeError, rf"{name} {_REAL}",
                     inputs=_with(args, i, bad)))
    wrong = {"C-1": (N, C - 1), "N": (N,), "trailing-1": (N, C, 1), "N+1": (N + 1, C)}
    rule = row.target_rule
    if row.name == "GaussianNLLLoss":
        for key in ("N+1", "trailing-1"):
            add(Case(f"target-shape-{key}", ValueError, r"input of shape \(4, 3\), target of "
                     r"shape .* and var of shape \(4, 3\) do not broadcast together",
                     inputs=_with(args, 1, np.ones(wrong[key], dtype))))
        for shape in ((N, C - 1), (C,), (N + 1, C), (N, C, 2)):
            add(Case(f"var-shape-{shape}", ValueError, r"var of shape .* is of incorrect size "
                     r"for input of shape \(4, 3\): it must have the input's shape",
                     inputs=_with(args, 2, np.ones(shape, dtype))))
        var = args[2].copy()
        var[2, 1] = -1.0
        add(Case("var-negative", ValueError, r"var has negative entry -1.0 at flat index 7, "
                 r"but every variance must be >= 0", inputs=_with(args, 2, var)))
    elif row.name == "MarginRankingLoss":
        for i, name in ((1, "input2"), (2, "target")):
            add(Case(f"{name}-shape-N+1", ValueError, rf"{name} of shape \(5, 3\).* do not "
                     r"broadcast together", inputs=_with(args, i, np.ones((N + 1, C), dtype))))
            for key in ("N", "trailing-1"):
                add(Case(f"{name}-shape-{key}", ValueError, r"input1, input2 and target must "
                         r"have the same number of dimensions, got shapes",
                         inputs=_with(args, i, np.ones(wrong[key], dtype))))
    else:
        match = {"same": r"target has shape .*, but it must have the input's shape \(4, 3\)",
                 "broadcast": r"input of shape \(4, 3\) and target of shape .* do not "
                              r"broadcast together",
                 "to-input": r"target of shape .* does not broadcast to the input's shape "
                             r"\(4, 3\)"}[rule]
        keys = ("C-1", "N", "trailing-1", "N+1")
        for key in keys:
            add(Case(f"target-shape-{key}", ValueError, match,
                     inputs=_with(args, 1, np.ones(wrong[key], dtype))))
        if rule == "same":
            add(Case("target-shape-(1, C)", ValueError, match,
                     inputs=_with(args, 1, np.ones((1, C), dtype))))
    if row.name in ("ZLPRLoss", "MultiLabelSoftMarginLoss"):
        add(Case("input-0d", ValueError, r"input must have at least 1 dimension \(\[\.\.\., C\], "
                 r"labels last\)", inputs=(x[0, 0], args[1][0, 0])))
    if row.name == "SoftF1Loss":
        for shape in ((), (2, 2, 3)):
            add(Case(f"input-{len(shape)}d", ValueError, r"input must be \[N, C\] or \[N\] "
                     r"\(one label\), got shape", inputs=(np.zeros(shape, dtype),) * 2))
    if row.name in ("DiceLoss", "GeneralizedDiceLoss"):
        add(Case("input-1d", ValueError, r"input must be \[N, C, \*\] \(classes on axis 1\), "
                 r"got shape", inputs=(np.zeros(N, dtype),) * 2))
    if row.name == "DiceLoss":
        add(Case("weight-shape", ValueError, r"weight must have shape \(3,\) \(one per class\)",
                 opts={"weight": np.ones(C + 1, dtype)}))
    if row.name == "MultiLabelSoftMarginLoss":
        for shape in ((C - 1,), (N + 1, C), (2, N, C)):
            add(Case(f"weight-shape-{shape}", ValueError, r"weight of shape .* does not "
                     r"broadcast to the input's shape \(4, 3\)",
                     opts={"weight": np.ones(shape, dtype)}))
        add(Case("weight-int", TypeError, r"weight must be a floating-point array, got dtype",
                 opts={"weight": np.ones(C, np.int64)}))
        add(Case("weight-masked", TypeError, r"weight is a masked array",
                 opts={"weight": _masked(np.ones(C, dtype))}))


def _rows_cases(row, dtype, args, add):
    for i in row.diff[1:]:
        name = row.arg_names[i]
        for kind, bad in {"int64": args[i].astype(np.int64),
                          "complex": widened(args[i]).astype(np.complex128),
                          "str-array": widened(args[i]).astype(str)}.items():
            add(Case(f"{name}-{kind}", TypeError, rf"{name} must be a float32 or float64 array, "
                     r"got dtype", inputs=_with(args, i, bad)))
        add(Case(f"{name}-shape-N+1", ValueError, rf"the shapes do not broadcast: .*{name} "
                 r"\(5, 3\)", inputs=_with(args, i, np.ones((N + 1, C), dtype))))
        if row.name != "CosineEmbeddingLoss":
            for shape in ((C,), (N, C, 1)):
                add(Case(f"{name}-shape-{shape}", ValueError, r"the inputs must have the same "
                         rf"number of dimensions, got .*{name} {len(shape)}-d",
                         inputs=_with(args, i, np.ones(shape, dtype))))
    if row.name == "TripletMarginLoss":  # torch's vector norm refuses this too
        add(Case("p-inf-no-features", ValueError, r"p=inf needs at least one feature: the "
                 r"inputs have 0 along the feature axis", inputs=(np.zeros((N, 0), dtype),) * 3,
                 opts={"p": np.inf}))
    if row.name == "DistillationLoss":
        for shape in ((N, C - 1), (N,), (N, C, 1), (N + 1, C)):
            add(Case(f"target-shape-{shape}", ValueError, r"target has shape .*, but it must "
                     r"have the input's shape \(4, 3\)",
                     inputs=_with(args, 1, np.ones(shape, dtype))))
        for shape in ((C,), (N, C, 2), ()):
            add(Case(f"input-shape-{shape}", ValueError, r"input must be \[N, C\] \(student "
                     r"logits\), got shape", inputs=(np.zeros(shape, dtype),) * 2))
        for kind, bad in {"complex": args[1].astype(np.complex64),
                          "str-array": widened(args[1]).astype(str)}.items():
            add(Case(f"target-{kind}", TypeError, rf"target {_REAL}",
                     inputs=_with(args, 1, bad)))
    if row.name == "CosineEmbeddingLoss":
        for shape in ((N + 1,), (N, 1), (N, C)):
            add(Case(f"target-shape-{shape}", ValueError, r"target has shape .*, but inputs of "
                     r"shape \(4, 3\) need a target of shape \(4,\)",
                     inputs=_with(args, 2, np.ones(shape, dtype))))
        for kind, bad in {"complex": widened(args[2]).astype(np.complex64),
                          "str-array": widened(args[2]).astype(str)}.items():
            add(Case(f"target-{kind}", TypeError, rf"target {_REAL}",
                     inputs=_with(args, 2, bad)))
        add(Case("inputs-3d", ValueError, r"input1 and input2 must be \[N, D\] \(or \[D\] "
                 r"unbatched\), got shape \(2, 4, 3\)",
                 inputs=(np.ones((2, N, C), dtype),) * 2 + (args[2],)))


def _margin_cases(row, dtype, args, add):
    x, t = args
    multilabel = row.name == "MultiLabelMarginLoss"
    lo = -1 if multilabel else 0
    values = (C, C + 1, -2, I64.max, I64.min) + (() if multilabel else (-1,))
    for red in ("mean", "sum", "none"):
        for value in values:
            bad = t.copy()
            bad.flat[2] = value
            add(Case(f"class-{value}-{red}", IndexError, rf"target has {value} at flat index 2, "
                     rf"but every entry must be in \[{lo}, 3\) \(input has 3 classes\)",
                     inputs=(x, bad), reduction=red))
    for tdtype, value in ((np.uint64, 2**64 - 1), (np.uint8, 255), (np.int8, -5)):
        bad = t.astype(tdtype)
        bad.flat[2] = value
        add(Case(f"class-{np.dtype(tdtype).name}-{value}", IndexError,
                 rf"target has (class )?{value} at flat index 2", inputs=(x, bad)))
    for kind, bad in {"float": t.astype(dtype), "bool": t.astype(bool),
                      "complex": t.astype(np.complex128), "str": t.astype(str)}.items():
        add(Case(f"target-{kind}", TypeError, rf"target {_INDICES}", inputs=(x, bad)))
    if multilabel:
        for shape in ((N - 1, C), (C,), (N, C + 1)):
            add(Case(f"target-shape-{shape}", ValueError, r"target has shape .*, but it must "
                     r"have the input's shape \(4, 3\)",
                     inputs=(x, np.zeros(shape, np.int64))))
    else:
        for shape in ((N - 1,), (2, 2), (N, 1)):
            add(Case(f"target-shape-{shape}", ValueError, r"target has shape .*, but input of "
                     r"shape \(4, 3\) needs 4 class indices",
                     inputs=(x, np.zeros(shape, np.int64))))
    for shape in ((N, C, 2), (N, 0)):
        add(Case(f"input-shape-{shape}", ValueError, r"input must be \[N, C\] or \[C\] with "
                 r"C > 0", inputs=(np.zeros(shape, dtype), np.zeros(shape[:1], np.int64)
                                   if not multilabel else np.zeros(shape, np.int64))))
    if row.has("weight"):
        for shape in ((C + 1,), (C - 1,), (0,)):
            add(Case(f"weight-shape-{shape}", ValueError, r"weight must have shape \(3,\) "
                     r"\(one per class\), got", opts={"weight": np.ones(shape, dtype)}))
        add(Case("weight-int", TypeError, r"weight must be a floating-point array, got dtype",
                 opts={"weight": np.ones(C, np.int64)}))
        add(Case("weight-masked", TypeError, r"weight is a masked array",
                 opts={"weight": _masked(np.ones(C, dtype))}))


def _ctc_cases(row, dtype, args, add):
    lp, tg, il, tl = args
    T, n = lp.shape[:2]
    for i, name in ((2, "input_lengths"), (3, "target_lengths")):
        add(Case(f"{name}-None", TypeError, rf"{name} must be an array, got None",
                 inputs=_with(args, i, None)))
        add(Case(f"{name}-masked", TypeError, rf"{name} is a masked array",
                 inputs=_with(args, i, _masked(args[i]))))
        e = ArrayRaises()
        add(Case(f"{name}-__array__-raises", LookupError, "refused on purpose",
                 inputs=_with(args, i, e), raised=e.error))
        for kind, bad in {"float": args[i].astype(float), "str": "abc",
                          "complex": widened(args[i]).astype(complex)}.items():
            add(Case(f"{name}-{kind}", TypeError, rf"{name} must (hold integers|be a numeric)",
                     inputs=_with(args, i, bad)))
        for shape in ((n - 1,), (n + 1,), (2, 2)):
            add(Case(f"{name}-shape-{shape}", ValueError, rf"{name} has shape .*, but it must "
                     rf"have one entry per batch element \({n}\)",
                     inputs=_with(args, i, np.resize(args[i], shape))))
    for value in (T + 1, -1, I64.max):
        bad = il.copy()
        bad[1] = value
        add(Case(f"input_lengths={value}", ValueError, rf"input_lengths\[1\] is {value}, but it "
                 rf"must be in \[0, {T}\] \(the length of log_probs\)",
                 inputs=_with(args, 2, bad)))
    bad = tl.copy()
    bad[1] = -1
    add(Case("target_lengths=-1", ValueError, r"target_lengths\[1\] is -1, but it must be >= 0",
             inputs=_with(args, 3, bad)))
    bad = tl.copy()
    bad[1] = tg.shape[1] + 1
    add(Case("target_lengths-beyond-targets", ValueError, r"targets has shape .*, but it must "
             r"be the concatenated targets", inputs=_with(args, 3, bad)))
    # a class outside [0, C) within a target's length
    il2, tl2 = np.full(n, T), np.full(n, 1)
    for value in (lp.shape[2], -1, I64.max):
        tg2 = np.ones_like(tg)
        tg2[2, 0] = value
        add(Case(f"targets-class-{value}", IndexError, rf"targets has class {value} at index "
                 rf"\(2, 0\), but log_probs has {lp.shape[2]} classes",
                 inputs=(lp, tg2, il2, tl2)))
    for kind, bad in {"float": tg.astype(dtype), "bool": tg.astype(bool),
                      "str": tg.astype(str)}.items():
        add(Case(f"targets-{kind}", TypeError, rf"targets {_INDICES}",
                 inputs=_with(args, 1, bad)))
    for shape in ((T,), (T, n, 3, 1)):
        add(Case(f"log_probs-shape-{shape}", ValueError, r"log_probs must be \[T, N, C\] \(or "
                 r"\[T, C\] unbatched\), got shape", inputs=_with(args, 0, np.zeros(shape, dtype))))
    add(Case("log_probs-empty", ValueError, r"log_probs must not be empty, got shape \(0, 4, 3\)",
             inputs=(lp[:0], tg, np.zeros(n, np.int64), np.zeros(n, np.int64))))
    for value in (lp.shape[2], -1):
        add(Case(f"blank={value}", ValueError, rf"blank must be in \[0, 3\) \(a class of "
                 rf"log_probs\), got {value}", opts={"blank": value}))
    for value in ("0", 1.0, None):
        add(Case(f"blank={value!r}", TypeError, r"blank must be an integer, got",
                 opts={"blank": value}))


FAMILY_CASES = {"elementwise-pair": _elementwise_cases, "rows": _rows_cases,
                "margin": _margin_cases, "ctc": _ctc_cases}


def arguments(row, dtype, case):
    """(constructor keywords, inputs) of the case."""
    opts = valid_options(row, dtype)
    for key in case.drop:
        opts.pop(key, None)
    opts.update(case.opts)
    opts["reduction"] = case.reduction
    inputs = case.inputs if case.inputs is not None else valid_inputs(row, dtype)
    return opts, inputs


def run(row, dtype, case, mode):
    """Run the case through one face; raises what the library raises."""
    opts, inputs = arguments(row, dtype, case)
    if mode == "functional":
        return row.fn(*inputs, **opts)
    if mode == "forward":
        return row.cls(**opts)(*inputs)
    if mode == "forward_backward":
        return row.cls(**opts).forward_backward(*inputs, grad_output=case.grad_output)
    if mode == "hessian":
        return row.cls(**opts).forward_backward(*inputs, grad_output=case.grad_output,
                                                hessian=True)
    assert mode == "backward"
    # A forward on valid arguments, then the bad state, then backward(): the
    # backward path must check as much as the forward one (pytorch#194802).
    crit = row.cls(**valid_options(row, dtype))
    crit(*valid_inputs(row, dtype))
    for key, value in opts.items():
        setattr(crit, key, value)
    # as if a forward call had captured these options and inputs unchecked
    crit._last = (inputs, crit._config())
    return crit.backward(case.grad_output)
