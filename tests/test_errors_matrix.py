"""The error matrix: every case of error_cases, for every loss of loss_table,
through the functional face, forward, backward and forward_backward, in
float32 and float64.  Each raises the documented exception, with a message
that names the argument and what was expected, and writes nothing."""
import numpy as np
import pytest
from error_cases import ArrayRaises, cases, run
from loss_table import ACTIVATIONS, DTYPES, LOSSES, valid_inputs

pytestmark = pytest.mark.torch


def _matrix():
    for row in LOSSES:
        for dtype in DTYPES:
            for case in cases(row, dtype):
                for mode in case.modes:
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
             "float16": x.astype(np.float16), "longdouble": x.astype(np.longdouble)}
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
def test_softmax_dim(act, dim, exc, match):
    import torch
    x = np.zeros((3, 4))
    with pytest.raises(exc, match=match):
        act.fn(x, dim)
    # torch refuses these too
    with pytest.raises((IndexError, TypeError, RuntimeError, ValueError)):
        act.torch_fn(torch.from_numpy(x), dim)
