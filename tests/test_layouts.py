"""Layouts: every ndarray layout of helpers.LAYOUTS (byte-swapped, misaligned,
read-only, Fortran-ordered, axes swapped or transposed, strided, negative
strides) and zero-stride (broadcast_to) arguments give the result of the same
values in a C-contiguous array; and no argument is ever written."""
import numpy as np
import pytest
from error_cases import MODES, arguments, cases, run
from helpers import ARRAY_LAYOUTS, broadcast_rows, in_layout
from loss_table import ACTIVATIONS, DTYPES, LOSSES, call, loss_shape, valid_inputs, valid_options

# the contiguous layout is the reference itself; zero_stride changes the
# values, so its reference is a contiguous copy of the broadcast values
LAYOUTS = [name for name in ARRAY_LAYOUTS if name != "contiguous"] + ["zero_stride"]


def relaid(a, layout):
    return broadcast_rows(a) if layout == "zero_stride" else in_layout(a, layout)


def layout_arguments(row, dtype):
    """3-d arguments (2-d where the loss takes no more), so that Fortran order
    and transposes mean something."""
    rng = np.random.default_rng(7)
    return (valid_options(row, dtype, rng, shape=row.layout_shape),
            valid_inputs(row, dtype, rng, shape=row.layout_shape))


def _grad_output(row, reduction, inputs, opts, dtype):
    if reduction != "none":
        return np.asarray(0.75, dtype)
    shape = loss_shape(row, reduction, inputs, opts)
    return np.random.default_rng(3).uniform(-2, 2, shape).astype(dtype)


def _same(got, want, dtype):
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        if g.ndim:
            np.testing.assert_array_equal(g, w)  # element-wise results: the same bits
            assert g.flags.c_contiguous
        else:
            # a sum whose rows the layout may cut differently: pairwise / compensated
            # summation keeps it within a few ulps
            np.testing.assert_allclose(g, w, rtol=8 * np.finfo(dtype).eps)


def _snapshot(objs):
    return [(o, o.tobytes()) for o in objs if isinstance(o, np.ndarray)]


def _assert_unchanged(snap):
    for o, b in snap:
        assert o.tobytes() == b, "an argument was written"


def _layout_params():
    for row in LOSSES:
        for layout in LAYOUTS:
            for reduction in row.reductions:
                yield pytest.param(row, layout, reduction, id=f"{row.name}-{layout}-{reduction}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("row, layout, reduction", list(_layout_params()))
def test_layout(row, layout, reduction, dtype):
    opts, inputs = layout_arguments(row, dtype)
    go = _grad_output(row, reduction, inputs, opts, dtype)
    if layout == "zero_stride":  # new values: the reference is their contiguous copy
        inputs = tuple(broadcast_rows(a).copy() for a in inputs)
        opts = {k: broadcast_rows(v).copy() if isinstance(v, np.ndarray) else v
                for k, v in opts.items()}
        go = broadcast_rows(go).copy()
    opts["reduction"] = reduction
    want = call(row, "forward_backward", opts, inputs, go)

    def f(a):
        return relaid(a, layout)

    for which in ("input", "all"):
        l_inputs = (f(inputs[0]),) + inputs[1:] if which == "input" else tuple(map(f, inputs))
        l_opts = dict(opts)
        l_go = go
        if which == "all":
            l_opts.update({k: f(v) for k, v in opts.items() if isinstance(v, np.ndarray)})
            l_go = f(go)
        snap = _snapshot(list(l_inputs) + list(l_opts.values()) + [l_go])
        for mode in MODES:
            if mode == "hessian" and row.name == "CTCLoss":
                continue  # no second order (test_hessian)
            got = call(row, mode, l_opts, l_inputs, l_go)
            if mode == "hessian":
                _same(got, call(row, "hessian", opts, inputs, go), dtype)
            elif mode == "forward_backward":
                _same(got, want, dtype)
            elif mode == "backward":
                _same(got, want[1:], dtype)
            else:
                _same(got, want[:1], dtype)
        _assert_unchanged(snap)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
def test_activation_layout(act, layout, dtype):
    x = np.random.default_rng(5).standard_normal((6, 5, 4)).astype(dtype)
    if layout == "zero_stride":
        x = broadcast_rows(x).copy()
    lx = relaid(x, layout)
    snap = _snapshot([lx])
    for kw in ([{"dim": d} for d in (0, 1, 2, -1)] if act.needs_dim else [{}]):
        want = act.fn(x, **kw)
        got = act.fn(lx, **kw)
        _same((got,), (want,), dtype)
    _assert_unchanged(snap)


def _error_params():
    for row in LOSSES:
        for dtype in DTYPES:
            for case in cases(row, dtype):
                yield pytest.param(row, dtype, case, id=f"{row.name}-{np.dtype(dtype).name}-"
                                   f"{case.id}")


@pytest.mark.parametrize("row, dtype, case", list(_error_params()))
def test_error_writes_nothing(row, dtype, case):
    """Refused calls write none of their arguments, on any face."""
    opts, inputs = arguments(row, dtype, case)
    snap = _snapshot(list(inputs) + list(opts.values()) + [case.grad_output])
    for mode in case.modes:
        if mode == "hessian" and row.name == "CTCLoss":
            continue  # no second order (test_hessian)
        with pytest.raises(case.exc):
            run(row, dtype, case, mode)
    _assert_unchanged(snap)
