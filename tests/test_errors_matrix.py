"""The error matrix: every case of error_cases, for every loss of loss_table,
through the functional face, forward, backward, forward_backward and
forward_backward(hessian=True), in float32, float64, float16 and bfloat16.  Each raises the
documented exception, with a message that names the argument and what was
expected, and writes nothing.

Then the error table of API.md for the first four losses, hand-written: the
bad value and its position must appear in the message, and a failed call
leaves nothing to differentiate (backward() raises RuntimeError) or the state
of the last good call."""
from dataclasses import dataclass, field

import numpy as np
import pytest
from error_cases import FLOAT8, HALF_DTYPES, ArrayRaises, cases, run
from helpers import has_number, has_position
from loss_table import ACTIVATIONS, BCE, BCEL, CE, DTYPES, LOSSES, NLL, valid_inputs


def _matrix():
    for row in LOSSES:
        for dtype in DTYPES + HALF_DTYPES:
            for case in cases(row, dtype):
                for mode in case.modes:
                    if mode == "hessian" and row.name == "CTCLoss":
                        continue  # no second order: its refusal is test_hessian's
                    yield pytest.param(row, dtype, case, mode,
                                       id=f"{row.name}-{np.dtype(dtype).name}-{mode}-{case.id}")


@pytest.mark.parametrize("row, dtype, case, mode", list(_matrix()))
def test_error(row, dtype, case, mode):
    with pytest.raises(case.exc, match=case.match) as info:
        run(row, dtype, case, mode)
    if case.raised is not None:
        assert info.value is case.raised
    else:
        # the message starts with the function (or class) that refused
        assert str(info.value).split(":")[0] in {row.fn.__name__, row.name}


def test_matrix_is_large():
    # a guard against a refactor that silently empties the table
    assert len(list(_matrix())) > 1000


@pytest.mark.parametrize("row", LOSSES, ids=repr)
def test_backward_before_forward(row):
    with pytest.raises(RuntimeError, match=rf"{row.name}.backward\(\) was called before any "
                       "forward call"):
        row.cls().backward()


@pytest.mark.parametrize("row", LOSSES, ids=repr)
@pytest.mark.parametrize("bad", [None, "MEAN", "Mean", "avg", 0, b"mean"], ids=repr)
def test_reduction_setter_refuses(row, bad):
    crit = row.cls()
    default = crit.reduction
    with pytest.raises(ValueError, match=rf"{row.name}: reduction must be one of"):
        crit.reduction = bad
    assert crit.reduction == default  # unchanged


@pytest.mark.parametrize("row", [r for r in LOSSES if r.family == "class"], ids=repr)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_target_corrupted_between_forward_and_backward(row, reduction):
    """pytorch#194802: the backward of reduction='none' NLL read an unchecked
    target.  Inputs are kept by reference, so a target changed in place after
    forward must be checked again by backward."""
    x, t = valid_inputs(row, np.float64)
    crit = row.cls(reduction=reduction)
    crit(x, t)
    t[1] = 10**6
    with pytest.raises(IndexError, match=r"target has class 1000000 at index 1"):
        crit.backward(np.ones(len(t)) if reduction == "none" else None)


# -- activations --------------------------------------------------------------

def _activation_cases():
    x = np.random.default_rng(0).standard_normal((3, 4))
    typed = {"int64": x.astype(np.int64), "bool": x > 0, "complex": x.astype(complex),
             "object": x.astype(object), "str-array": x.astype(str),
             "longdouble": x.astype(np.longdouble)}
    if FLOAT8 is not None:
        typed["float8_e4m3fn"] = x.astype(np.float32).astype(FLOAT8)
    for name, bad in typed.items():
        yield name, bad, TypeError, r"input must be a float32 or float64 array, got dtype"
    yield "str", "abc", TypeError, r"input must be a numeric array"
    yield "None", None, TypeError, r"input must be an array, got None"
    yield "masked", np.ma.array(x, mask=x > 0), TypeError, r"input is a masked array"
    yield "ragged", [[1.0, 2.0], [3.0]], ValueError, r"input could not be converted"
    e = ArrayRaises()
    yield "__array__-raises", e, e.error, None


@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
@pytest.mark.parametrize("case", list(_activation_cases()), ids=lambda c: c[0])
def test_activation_error(act, case):
    _, bad, exc, match = case
    kw = {"dim": 0} if act.needs_dim else {}
    if isinstance(exc, BaseException):
        with pytest.raises(type(exc)) as info:
            act.fn(bad, **kw)
        assert info.value is exc
        return
    with pytest.raises(exc, match=match) as info:
        act.fn(bad, **kw)
    assert str(info.value).startswith(act.name + ":")


@pytest.mark.parametrize("act", [a for a in ACTIVATIONS if a.needs_dim], ids=repr)
@pytest.mark.parametrize("dim, exc, match", [
    (2, IndexError, r"dim 2 is out of range for an input with 2 dimension"),
    (-3, IndexError, r"dim -3 is out of range"),
    (2**70, IndexError, r"dim 1180591620717411303424 is out of range"),
    (1.0, TypeError, r"dim must be an integer, got float"),
    ("1", TypeError, r"dim must be an integer, got str"),
])
@pytest.mark.torch
def test_softmax_dim(act, dim, exc, match):
    import torch
    from oracle import torch_fn

    x = np.zeros((3, 4))
    with pytest.raises(exc, match=match):
        act.fn(x, dim)
    # torch refuses these too
    with pytest.raises((IndexError, TypeError, RuntimeError, ValueError)):
        torch_fn(act)(torch.from_numpy(x), dim)


# -- the first four: the error table of API.md, value and position in the message --

C = 5


@dataclass
class CoreCase:
    id: str
    loss: object
    exc: object  # exception type or tuple of accepted types
    make: object  # rng -> (input, target, kwargs)
    names: tuple  # the message must contain at least one of these
    value: object = None  # IndexError: the bad class value that must appear
    flat: object = None  # IndexError: its flat position
    multi: object = None  # IndexError: its multi-index position
    extra: dict = field(default_factory=dict)

    @property
    def data_error(self):
        # the error comes from the data, not from the keyword arguments
        return self.extra.get("data_error", False)


def prob(rng, shape=(4, 3)):
    return rng.uniform(0.05, 0.95, shape)


def logits(rng, shape=(4, C)):
    return rng.normal(0, 2, shape)


def classes(rng, shape=(4,)):
    return rng.integers(0, C, shape)


CASES = []


def case(*args, **kw):
    CASES.append(CoreCase(*args, **kw))


BAD_INPUTS = {
    "int": lambda x: np.round(x).astype(np.int64),
    "int32": lambda x: np.round(x).astype(np.int32),
    "uint8": lambda x: np.abs(np.round(x)).astype(np.uint8),
    "bool": lambda x: x > 0.5,
    "complex128": lambda x: x.astype(np.complex128),
    "complex64": lambda x: x.astype(np.complex64),
    "object": lambda x: x.astype(object),
    "str_array": lambda x: x.astype(str),
    "str": lambda x: "abc",
    "list_of_str": lambda x: [["a"] * x.shape[1]] * x.shape[0],
    "None": lambda x: None,
}

# ---- input type errors: every loss ------------------------------------------------
for loss, mk_x, mk_t in [
    (BCE, prob, lambda r: prob(r)),
    (BCEL, logits, lambda r: prob(r, (4, C))),
    (CE, logits, classes),
    (NLL, logits, classes),
]:
    for bad, conv in BAD_INPUTS.items():
        case(
            f"{loss.fname}-input-{bad}",
            loss,
            TypeError,
            lambda r, mk_x=mk_x, mk_t=mk_t, conv=conv: (conv(mk_x(r)), mk_t(r), {}),
            ("input",),
            extra={"data_error": True},
        )

# ---- BCE family ------------------------------------------------------------------
for loss, mk_x in [(BCE, prob), (BCEL, logits)]:
    X = (4, 3)

    def mx(r, mk_x=mk_x, shape=X):
        return mk_x(r, shape)

    for tid, conv in [
        ("complex", lambda t: t.astype(np.complex128)),
        ("str", lambda t: t.astype(str)),
    ]:
        case(f"{loss.fname}-target-{tid}", loss, TypeError,
             lambda r, conv=conv, mx=mx: (mx(r), conv(prob(r)), {}), ("target",),
             extra={"data_error": True})
    for tshape in [(4, 2), (4, 3, 1), (3,), (1, 3), (12,), (4,)]:
        case(f"{loss.fname}-target-shape{tshape}", loss, ValueError,
             lambda r, tshape=tshape, mx=mx: (mx(r), prob(r, tshape), {}),
             ("target", "input"), extra={"data_error": True})
    for wshape in [(2,), (4,), (2, 4, 3), (3, 3), (5, 1)]:
        case(f"{loss.fname}-weight-shape{wshape}", loss, ValueError,
             lambda r, wshape=wshape, mx=mx: (mx(r), prob(r), {"weight": prob(r, wshape)}),
             ("weight",))
    case(f"{loss.fname}-weight-complex", loss, TypeError,
         lambda r, mx=mx: (mx(r), prob(r), {"weight": prob(r, (3,)).astype(complex)}),
         ("weight",))
    for red in ["avg", "Mean", "", "elementwise"]:
        case(f"{loss.fname}-reduction-{red!r}", loss, ValueError,
             lambda r, red=red, mx=mx: (mx(r), prob(r), {"reduction": red}),
             ("reduction",))

for pshape, xshape in [((2,), (4, 3)), ((3,), (3, 1)), ((2, 4, 3), (4, 3)), ((4,), (4, 3))]:
    case(f"bce_logits-pos_weight-shape{pshape}-for{xshape}", BCEL, ValueError,
         lambda r, pshape=pshape, xshape=xshape: (
             logits(r, xshape), prob(r, xshape), {"pos_weight": prob(r, pshape)}),
         ("pos_weight",))
case("bce_logits-pos_weight-complex", BCEL, TypeError,
     lambda r: (logits(r, (4, 3)), prob(r), {"pos_weight": prob(r, (3,)).astype(complex)}),
     ("pos_weight",))

# BCELoss: probabilities outside [0, 1] (torch raises RuntimeError; we raise ValueError)
for bid, val in [("above1", 1.5), ("below0", -0.1), ("nan", np.nan), ("inf", np.inf),
                 ("tiny_neg", -1e-7), ("just_above", 1.0000001)]:
    def mk_in(r, val=val):
        x = prob(r)
        x[2, 1] = val
        return x, prob(r), {}

    def mk_tg(r, val=val):
        t = prob(r)
        t[1, 2] = val
        return prob(r), t, {}

    case(f"bce-input-{bid}", BCE, ValueError, mk_in, ("input",), extra={"data_error": True})
    case(f"bce-target-{bid}", BCE, ValueError, mk_tg, ("target",), extra={"data_error": True})
for tdt in [np.int64, np.int8, np.uint8]:
    def mk_int_t(r, tdt=tdt):
        t = r.integers(0, 2, (4, 3)).astype(tdt)
        t[3, 0] = 2
        return prob(r), t, {}

    case(f"bce-int-target-2-{np.dtype(tdt).name}", BCE, ValueError, mk_int_t, ("target",),
         extra={"data_error": True})
case("bce-int-target-neg", BCE, ValueError,
     lambda r: (prob(r), np.array([[0, 1, -1]] * 4), {}), ("target",),
     extra={"data_error": True})

# ---- CrossEntropy / NLL ------------------------------------------------------------
for loss in (CE, NLL):
    fn = loss.fname
    # float / bool / complex targets where class indices are needed
    for tid, mk in [
        ("float-1d", lambda r: r.uniform(0, C, 4)),
        ("float32-1d", lambda r: r.uniform(0, C, 4).astype(np.float32)),
        ("float-int-valued", lambda r: classes(r).astype(np.float64)),
        ("bool", lambda r: classes(r) > 2),
        ("complex", lambda r: classes(r).astype(complex)),
        ("str", lambda r: classes(r).astype(str)),
    ]:
        case(f"{fn}-target-{tid}", loss, TypeError,
             lambda r, mk=mk: (logits(r), mk(r), {}), ("target",),
             extra={"data_error": True})
    case(f"{fn}-target-float-kdim", loss, TypeError,
         lambda r: (logits(r, (2, C, 3)), r.uniform(0, C, (2, 3)), {}), ("target",),
         extra={"data_error": True})
    if loss is NLL:
        # NLLLoss has no probability targets: a float target of the input's shape is wrong
        case("nll_loss-target-float-input-shape", NLL, TypeError,
             lambda r: (logits(r), r.uniform(0, 1, (4, C)), {}), ("target",),
             extra={"data_error": True})

    # class index out of range and not ignore_index
    def oob(r, value, pos, n=6, tdt=np.int64, kw=None):
        t = classes(r, (n,)).astype(tdt)
        t[pos] = value
        return logits(r, (n, C)), t, dict(kw or {})

    for cid, value, pos, tdt, kw in [
        ("17", 17, 4, np.int64, None),
        ("eqC", C, 0, np.int64, None),
        ("neg3", -3, 2, np.int64, None),
        ("neg1", -1, 5, np.int32, None),
        ("minus100-not-ignored", -100, 3, np.int64, {"ignore_index": 1}),
        ("uint8-156", 156, 1, np.uint8, None),  # 156 is -100 wrapped to 8 bits
        ("int8-neg99", -99, 4, np.int8, None),
        ("uint64-huge", 2**64 - 100, 2, np.uint64, None),  # -100 wrapped to 64 bits
        ("int64-2e40", 2**40, 3, np.int64, None),
        ("int64-min", -(2**63), 1, np.int64, None),
        ("uint16-1000", 1000, 5, np.uint16, {"ignore_index": 3}),
    ]:
        case(f"{fn}-class-{cid}", loss, IndexError,
             lambda r, value=value, pos=pos, tdt=tdt, kw=kw: oob(r, value, pos, tdt=tdt, kw=kw),
             (fn,), value=value, flat=pos, extra={"data_error": not kw})

    def oob_kdim(r):
        t = classes(r, (2, 3, 4))
        t[1, 2, 3] = 9
        return logits(r, (2, C, 3, 4)), t, {}

    case(f"{fn}-class-kdim", loss, IndexError, oob_kdim, (fn,), value=9, flat=23,
         multi=(1, 2, 3), extra={"data_error": True})

    def oob_unbatched(r):
        return logits(r, (C,)), np.array(7), {}

    case(f"{fn}-class-unbatched", loss, IndexError, oob_unbatched, (fn,), value=7,
         extra={"data_error": True})

    # shapes
    for sid, xs, ts in [
        ("N", (4, C), (3,)),
        ("N1", (4, C), (4, 1)),
        ("k-d1", (2, C, 3), (2, 4)),
        ("k-missing", (2, C, 3), (2,)),
        ("k-extra", (4, C), (4, 3)),
        ("unbatched-1", (C,), (1,)),
        ("unbatched-N", (C,), (C,)) if loss is NLL else ("unbatched-2", (C,), (2,)),
    ]:
        case(f"{fn}-shape-{sid}", loss, ValueError,
             lambda r, xs=xs, ts=ts: (logits(r, xs), classes(r, ts), {}),
             ("target", "input"), extra={"data_error": True})
    # weight
    for wid, ws in [("long", (C + 1,)), ("short", (C - 1,)), ("2d", (1, C)), ("0d", ())]:
        case(f"{fn}-weight-{wid}", loss, ValueError,
             lambda r, ws=ws: (logits(r), classes(r), {"weight": r.uniform(0.1, 1, ws)}),
             ("weight",))
    case(f"{fn}-weight-complex", loss, TypeError,
         lambda r: (logits(r), classes(r), {"weight": r.uniform(0.1, 1, C).astype(complex)}),
         ("weight",))
    for red in ["avg", "Mean", "", "elementwise"]:
        case(f"{fn}-reduction-{red!r}", loss, ValueError,
             lambda r, red=red: (logits(r), classes(r), {"reduction": red}),
             ("reduction",))

# label_smoothing outside [0, 1] or nan
for lid, ls in [("1.5", 1.5), ("neg", -0.1), ("nan", float("nan")), ("inf", float("inf"))]:
    case(f"cross_entropy-label_smoothing-{lid}", CE, ValueError,
         lambda r, ls=ls: (logits(r), classes(r), {"label_smoothing": ls}),
         ("label_smoothing",))
    case(f"cross_entropy-label_smoothing-{lid}-probs", CE, ValueError,
         lambda r, ls=ls: (logits(r), r.uniform(0, 1, (4, C)),
                                {"label_smoothing": ls}),
         ("label_smoothing",))

# probability targets
for ii in [0, 3, 100]:
    case(f"cross_entropy-probs-ignore_index-{ii}", CE, ValueError,
         lambda r, ii=ii: (logits(r), r.uniform(0, 1, (4, C)), {"ignore_index": ii}),
         ("ignore_index",))
case("cross_entropy-probs-weight-long", CE, ValueError,
     lambda r: (logits(r), r.uniform(0, 1, (4, C)), {"weight": r.uniform(0.1, 1, C + 1)}),
     ("weight",))
case("cross_entropy-probs-wrong-shape", CE, (TypeError, ValueError),
     lambda r: (logits(r), r.uniform(0, 1, (4, C + 1)), {}), ("target",),
     extra={"data_error": True})

CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "duplicate case ids"


def check_message(c, excinfo, face):
    msg = str(excinfo.value)
    names = c.names
    if c.exc is IndexError and face != "functional":
        names = names + (c.loss.name,)
    assert any(n in msg for n in names), f"message {msg!r} names none of {names}"
    if c.value is not None:
        assert has_number(msg, c.value), f"message {msg!r} lacks the bad value {c.value}"
    if c.flat is not None:
        assert has_position(msg, c.flat, c.multi), (
            f"message {msg!r} lacks the position {c.flat} / {c.multi}")


@pytest.mark.parametrize("c", CASES, ids=CASE_IDS)
def test_core_functional(c, rng):
    x, t, kw = c.make(rng)
    with pytest.raises(c.exc) as ei:
        c.loss.fn(x, t, **kw)
    check_message(c, ei, "functional")


@pytest.mark.parametrize("c", CASES, ids=CASE_IDS)
def test_core_module_forward_then_backward(c, rng):
    x, t, kw = c.make(rng)
    crit = None
    with pytest.raises(c.exc) as ei:
        # a bad keyword may be rejected by the constructor or by the call
        crit = c.loss.cls(**kw)
        crit(x, t)
    check_message(c, ei, "module")
    if crit is not None:
        # no forward call succeeded, so there is nothing to differentiate
        with pytest.raises(RuntimeError):
            crit.backward()


@pytest.mark.parametrize("c", CASES, ids=CASE_IDS)
def test_core_forward_backward(c, rng):
    x, t, kw = c.make(rng)
    crit = None
    with pytest.raises(c.exc) as ei:
        crit = c.loss.cls(**kw)
        crit.forward_backward(x, t)
    check_message(c, ei, "fused")
    if crit is not None:
        with pytest.raises(RuntimeError):
            crit.backward()


def _good_call(loss, rng):
    if loss in (BCE, BCEL):
        return prob(rng), prob(rng)
    return logits(rng), classes(rng)


DATA_CASES = [c for c in CASES if c.data_error]


@pytest.mark.parametrize("c", DATA_CASES, ids=[c.id for c in DATA_CASES])
def test_failed_forward_does_not_corrupt_state(c, rng):
    """After good forward, bad forward: backward raises RuntimeError or returns the
    gradient of the good call, never something else (and never crashes)."""
    crit = c.loss.cls()
    xg, tg = _good_call(c.loss, rng)
    crit(xg, tg)
    good = crit.backward()
    x, t, kw = c.make(rng)
    assert not kw
    with pytest.raises(c.exc):
        crit(x, t)
    try:
        g = crit.backward()
    except RuntimeError:
        return
    np.testing.assert_array_equal(g, good)


LOSSES4 = {"bce": BCE, "bcel": BCEL, "ce": CE, "nll": NLL}


@pytest.mark.parametrize("name", list(LOSSES4))
def test_backward_before_forward_any_grad_output(name):
    cls = LOSSES4[name].cls
    with pytest.raises(RuntimeError):
        cls().backward()
    with pytest.raises(RuntimeError):
        cls(reduction="sum").backward(1.0)
    with pytest.raises(RuntimeError):
        cls(reduction="none").backward(grad_output=np.ones(3))


@pytest.mark.parametrize("go_shape", [(5,), (4, 1), (3, 4), (1,), (2, 4)])
@pytest.mark.parametrize("name", list(LOSSES4))
def test_grad_output_wrong_shape(name, go_shape, rng):
    """reduction='none': grad_output must have the loss's shape (a shape mismatch)."""
    loss = LOSSES4[name]
    if loss in (BCE, BCEL):
        x, t = prob(rng, (4,)), prob(rng, (4,))  # loss shape (4,)
    else:
        x, t = logits(rng, (4, C)), classes(rng, (4,))  # loss shape (4,)
    crit = loss.cls(reduction="none")
    crit(x, t)
    go = np.ones(go_shape)
    with pytest.raises(ValueError) as ei:
        crit.backward(go)
    assert "grad_output" in str(ei.value)
    with pytest.raises(ValueError) as ei:
        loss.cls(reduction="none").forward_backward(x, t, grad_output=go)
    assert "grad_output" in str(ei.value)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", list(LOSSES4))
def test_grad_output_nonscalar_for_scalar_loss(name, reduction, rng):
    """mean/sum: the loss is a scalar, so grad_output must have one element."""
    loss = LOSSES4[name]
    x, t = _good_call(loss, rng)
    crit = loss.cls(reduction=reduction)
    crit(x, t)
    with pytest.raises(ValueError) as ei:
        crit.backward(np.ones(3))
    assert "grad_output" in str(ei.value)


@pytest.mark.parametrize("name", list(LOSSES4))
def test_error_before_output_inputs_untouched(name, rng):
    """A rejected call does not modify its arguments."""
    loss = LOSSES4[name]
    x, t = _good_call(loss, rng)
    if loss is BCE:
        x[0, 0] = 2.0
    elif loss is BCEL:
        t = prob(rng, (4, 2))
    else:
        t[1] = 99
    xs, ts = x.copy(), t.copy()
    with pytest.raises((ValueError, IndexError)):
        loss.fn(x, t)
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_array_equal(t, ts)
