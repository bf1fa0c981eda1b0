"""The error matrix: every bad argument a loss of loss_table can meet, with
the exception it must raise and what its message must say.

Shared by test_errors_matrix (each case through every face and dtype) and
test_memory (each case 10^4 times, refcounts unchanged).  Cases are chosen by
the row's family and options, so a new row gets its cases for free.
"""
from dataclasses import dataclass, field

import numpy as np

from loss_table import C, N, valid_inputs, valid_options

MODES = ("functional", "forward", "backward", "forward_backward")
GRAD_MODES = ("backward", "forward_backward")

I64 = np.iinfo(np.int64)


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


def cases(row, dtype):
    """Every error case for `row` computing in `dtype`."""
    x, y = valid_inputs(row, dtype)
    out = []
    add = out.append

    for bad in (None, "MEAN", "avg", "", 1):
        add(Case(f"reduction={bad!r}", ValueError, r"reduction must be one of 'none', 'mean' "
                 r"or 'sum', got", reduction=bad))

    # the input: only float32 / float64 arrays (or lists of floats)
    bad_inputs = {
        "int64": x.astype(np.int64), "int32": x.astype(np.int32), "bool": x > 0.5,
        "complex": x.astype(np.complex128), "object": x.astype(object),
        "str-array": x.astype(str), "float16": x.astype(np.float16),
        "longdouble": x.astype(np.longdouble),
    }
    for name, bad in bad_inputs.items():
        add(Case(f"input-{name}", TypeError, r"input must be a float32 or float64 array, got "
                 r"dtype", inputs=(bad, y)))
    add(Case("input-str", TypeError, r"input must be a numeric array, got str",
             inputs=("abc", y)))
    add(Case("input-None", TypeError, r"input must be an array, got None", inputs=(None, y)))
    add(Case("input-masked", TypeError, r"input is a masked array", inputs=(_masked(x), y)))
    add(Case("target-masked", TypeError, r"target is a masked array", inputs=(x, _masked(y))))
    add(Case("input-ragged", ValueError, r"input could not be converted to an array",
             inputs=([[0.5, 0.5], [0.5]], y)))
    add(Case("target-None", TypeError, r"target must be an array, got None", inputs=(x, None)))
    e = ArrayRaises()
    add(Case("input-__array__-raises", LookupError, "refused on purpose",
             inputs=(e, y), raised=e.error))
    e = ArrayRaises()
    add(Case("target-__array__-raises", LookupError, "refused on purpose",
             inputs=(x, e), raised=e.error))

    if row.family == "binary":
        _binary_cases(row, dtype, x, y, add)
    else:
        _class_cases(row, dtype, x, y, add)

    # grad_output: a scalar for a reduced loss, the loss's shape for "none"
    for red, go, what in (
        ("mean", np.ones(2, dtype), r"grad_output must be a scalar for reduction='mean', "
         r"got shape \(2,\)"),
        ("sum", np.ones(0, dtype), r"grad_output must be a scalar for reduction='sum', "
         r"got shape \(0,\)"),
        ("none", np.ones(3, dtype), r"grad_output has shape \(3,\), but the loss has shape"),
        ("none", np.ones(0, dtype), r"grad_output has shape \(0,\), but the loss has shape"),
        ("none", np.ones((N, C, 2), dtype), r"grad_output has shape \(4, 3, 2\), but the loss "
         r"has shape"),
        ("mean", np.complex128(1), r"grad_output must be a real \(float, integer or bool\) "
         r"array"),
        ("none", None if row.family == "class" else np.ones((N, C), np.complex64),
         r"grad_output must be a real"),
    ):
        if go is None:
            continue
        add(Case(f"grad_output-{red}-{np.shape(go)}-{np.asarray(go).dtype}", 
                 ValueError if np.asarray(go).dtype.kind != "c" else TypeError, what,
                 reduction=red, grad_output=go, modes=GRAD_MODES))
    return out


def _binary_cases(row, dtype, x, y, add):
    for name, bad in {"complex": y.astype(np.complex64), "object": y.astype(object),
                      "str-array": y.astype(str)}.items():
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
    xs, ts = valid_inputs(row, x.dtype.type, spatial=(5,))
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
                 r"class\), got", opts={"weight": np.ones(shape, dtype)}))
    add(Case("weight-int", TypeError, r"weight must be a floating-point array, got dtype int64",
             opts={"weight": np.ones(C, np.int64)}))
    add(Case("weight-masked", TypeError, r"weight is a masked array",
             opts={"weight": _masked(np.ones(C, dtype))}))

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
    if row.probability_target:
        probs = np.full(x.shape, 1.0 / C, dtype)
        for value in (0, 2, 100):
            add(Case(f"probability-target-ignore_index={value}", ValueError,
                     rf"ignore_index={value} is not supported with class-probability targets",
                     inputs=(x, probs), opts={"ignore_index": value}))


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
    assert mode == "backward"
    # A forward on valid arguments, then the bad state, then backward(): the
    # backward path must check as much as the forward one (pytorch#194802).
    crit = row.cls(**valid_options(row, dtype))
    crit(*valid_inputs(row, dtype))
    for key, value in opts.items():
        setattr(crit, key, value)
    crit._saved = inputs
    return crit.backward(case.grad_output)
