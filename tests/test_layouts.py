"""Layouts: byte-swapped, misaligned, read-only, zero-stride (broadcast_to),
Fortran-ordered, transposed and negative-stride arguments give the result of
the same values in a C-contiguous array; and no argument is ever written."""
import numpy as np
import pytest
from error_cases import MODES, arguments, cases, run
from loss_table import ACTIVATIONS, DTYPES, LOSSES, call, loss_shape, valid_inputs, valid_options

pytestmark = pytest.mark.torch


def byteswapped(a):
    return a.astype(a.dtype.newbyteorder()) if a.dtype.itemsize > 1 else a.copy()


def misaligned(a):
    raw = np.empty(a.nbytes + 1, np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert a.dtype.itemsize == 1 or a.size == 0 or not out.flags.aligned
    return out


def readonly(a):
    out = a.copy()
    out.flags.writeable = False
    return out


def zero_stride(a):
    # every element equal to the first one, along the leading axis
    return np.broadcast_to(a[:1], a.shape) if a.ndim else a


def fortran(a):
    return a.copy(order="F")


def transposed(a):
    # a view whose memory is in reversed axis order, values unchanged
    return a.T.copy(order="C").T


def negative_strides(a):
    index = (slice(None, None, -1),) * a.ndim
    return a[index].copy(order="C")[index]


def every_other(a):
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype) if a.ndim else a.copy()
    if a.ndim:
        big[..., ::2] = a
        return big[..., ::2]
    return big


LAYOUTS = {f.__name__: f for f in (byteswapped, misaligned, readonly, zero_stride, fortran,
                                    transposed, negative_strides, every_other)}


def layout_arguments(row, dtype):
    """3-d arguments (2-d where the loss takes no more), so that Fortran order
    and transposes mean something."""
    rng = np.random.default_rng(7)
    if not row.core:
        return (valid_options(row, dtype, rng, shape=row.layout_shape),
                valid_inputs(row, dtype, rng, shape=row.layout_shape))
    shape = (6, 5, 4)
    x = row.make_input(rng, shape, dtype)
    if row.family == "binary":
        opts = {"weight": rng.uniform(0.5, 2, (5, 1)).astype(dtype)}
        if row.has("pos_weight"):
            opts["pos_weight"] = rng.uniform(0.5, 3, (4,)).astype(dtype)
        y = rng.uniform(0, 1, shape).astype(dtype)
    else:
        opts = {"weight": rng.uniform(0.5, 2, 5).astype(dtype)}
        if row.has("label_smoothing"):
            opts["label_smoothing"] = 0.2
        y = rng.integers(0, 5, (6, 4))
        y[0, 0] = -100  # the default ignore_index
    return opts, (x, y)


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
        inputs = tuple(zero_stride(a).copy() for a in inputs)
        opts = {k: zero_stride(v).copy() if isinstance(v, np.ndarray) else v
                for k, v in opts.items()}
        go = zero_stride(go).copy()
    opts["reduction"] = reduction
    want = call(row, "forward_backward", opts, inputs, go)

    f = LAYOUTS[layout]
    for which in ("input", "all"):
        l_inputs = (f(inputs[0]),) + inputs[1:] if which == "input" else tuple(map(f, inputs))
        l_opts = dict(opts)
        l_go = go
        if which == "all":
            l_opts.update({k: f(v) for k, v in opts.items() if isinstance(v, np.ndarray)})
            l_go = f(go)
        snap = _snapshot(list(l_inputs) + list(l_opts.values()) + [l_go])
        for mode in MODES:
            got = call(row, mode, l_opts, l_inputs, l_go)
            if mode == "forward_backward":
                _same(got, want, dtype)
            elif mode == "backward":
                _same(got, want[1:], dtype)
            else:
                _same(got, want[:1], dtype)
        _assert_unchanged(snap)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
def test_activation_layout(act, layout, dtype):
    x = np.random.default_rng(5).standard_normal((6, 5, 4)).astype(dtype)
    if layout == "zero_stride":
        x = zero_stride(x).copy()
    lx = LAYOUTS[layout](x)
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
        with pytest.raises(case.exc):
            run(row, dtype, case, mode)
    _assert_unchanged(snap)
