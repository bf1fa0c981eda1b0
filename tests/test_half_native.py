"""float16 / bfloat16 read and written by the element-wise template itself
(issue 21's speed step): the template's families get no float32 copy of their
half arrays, and give the bits of the widening path -- the float32 kernel on
the widened values, its results narrowed once (round to nearest even).

The oracle is that path computed here: the same call on float32 arrays
holding the half values, each result narrowed once with NumPy's / ml_dtypes'
cast (the reduced loss, a double sum, goes through float32 as torch's does).
"""

import tracemalloc

import numpy as np
import pytest
from helpers import in_layout
from loss_table import LOSSES, valid_inputs, valid_options, widened

import pylossfn as lf
from pylossfn import _core

# NumPy's bfloat16 comes from ml_dtypes, a test extra of the full tier: the
# torch-free tiers (oldest and newest Python, NumPy only) run without it
ml_dtypes = pytest.importorskip("ml_dtypes")

BF16 = np.dtype(ml_dtypes.bfloat16)
HALVES = (np.dtype(np.float16), BF16)
HALF_IDS = ["f16", "bf16"]
# the losses whose kernel is the element-wise template: their row says so (LF_HALF_EW
# in the binding, "half": "elementwise" in _core.LOSSES)
TEMPLATE = {row["fname"] for row in _core.LOSSES
            if row["half"] == "elementwise" and not row["plain"]}
ROWS = [r for r in LOSSES if r.fname in TEMPLATE]


def test_every_template_row_is_in_the_test_table():
    """Each template loss of the core gets this file's tests (the test table has a row
    for it), and the template serves the element-wise families."""
    assert {r.fname for r in ROWS} == TEMPLATE
    assert {"mse_loss", "binary_cross_entropy_with_logits", "sigmoid_focal_loss"} <= TEMPLATE


def _half(a, dtype):
    return a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a


def _peak_bytes(call):
    """tracemalloc's peak over one call (after a warm call)."""
    call()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _flat(res):
    return [x for r in res for x in (r if isinstance(r, tuple) else (r,))]


def _layouts(inputs, opts, layout):
    if layout == "bcast_target":  # a target of one row, broadcast along axis 0
        return [inputs[0], inputs[1][:1]] + list(inputs[2:]), opts
    if layout == "bcast_weight":
        return inputs, {k: v[:1] if isinstance(v, np.ndarray) and v.ndim >= 2 else v
                        for k, v in opts.items()}
    return [in_layout(a, layout) if isinstance(a, np.ndarray) and a.ndim else a
            for a in inputs], opts


def _cases():
    for row in ROWS:
        opts = valid_options(row, np.float32, np.random.default_rng(0), (6, 300))
        layouts = ["contiguous", "strided", "transposed"]
        layouts += ["bcast_target"] if row.target_rule == "broadcast" else []
        layouts += ["bcast_weight"] if any(isinstance(v, np.ndarray) and v.ndim >= 2
                                           for v in opts.values()) else []
        for dtype in HALVES:
            for layout in layouts:
                yield row, dtype, layout


CASES = list(_cases())


@pytest.mark.filterwarnings("ignore:.*target shape")
@pytest.mark.parametrize("row,dtype,layout", CASES,
                         ids=[f"{r.name}-{d.name}-{lay}" for r, d, lay in CASES])
def test_template_path_is_the_widening_path(row, dtype, layout):
    rng = np.random.default_rng(21)
    shape = (6, 300)  # several blocks per row
    inputs = [_half(a, dtype) for a in valid_inputs(row, np.float32, rng, shape)]
    opts = {k: _half(v, dtype) for k, v in valid_options(row, np.float32, rng, shape).items()}
    if layout != "contiguous":
        inputs, opts = _layouts(inputs, opts, layout)
    wide_in, wide_opts = [widened(a) for a in inputs], {k: widened(v) for k, v in opts.items()}
    for red in row.reductions:
        crit = row.cls(**opts, reduction=red)
        got = _flat(crit.forward_backward(*inputs, hessian=True))
        twin = row.cls(**wide_opts, reduction=red)
        want = _flat(twin.forward_backward(*wide_in, hessian=True))
        for g, w in zip(got, want):
            g = np.asarray(g)
            assert g.dtype == dtype
            w = np.asarray(np.float32(w) if np.ndim(w) == 0 else w).astype(dtype)
            assert g.shape == w.shape and g.tobytes() == w.tobytes(), (row.name, red)
        # out= of the half dtype, strided: the same bits
        bufs = tuple(np.full(inputs[i].shape[::-1], np.nan, dtype).T for i in row.diff)
        _, grad = crit.forward_backward(*inputs, out=bufs if len(bufs) > 1 else bufs[0])
        for b, w in zip(bufs, want[1:]):
            assert b.tobytes() == np.asarray(w).astype(dtype).tobytes()


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("name", ["MSELoss", "BCEWithLogitsLoss", "PoissonNLLLoss",
                                  "SigmoidFocalLoss"])
def test_no_float32_copy(name, dtype):
    """The half call's peak allocation is its half gradient: the widening path
    allocated a float32 copy of input and target and a float32 gradient
    (14 bytes per element); the template path 2."""
    from loss_table import ROWS as BY_NAME

    row = BY_NAME[name]
    rng = np.random.default_rng(5)
    x, y = (_half(a, dtype) for a in valid_inputs(row, np.float32, rng, (1000, 1000))[:2])
    crit = row.cls()
    peak = _peak_bytes(lambda: crit.forward_backward(x, y))
    assert peak < 3 * x.size, peak / x.size


@pytest.mark.parametrize("var_shape", ["full", "no-last", "one", "scalar"])
@pytest.mark.parametrize("var_dtype", ["same", "float32"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_gaussian_nll_half_var(dtype, var_dtype, var_shape):
    """Gaussian NLL's var in every shape torch takes, half or float32: the
    bits of the widening path, both gradients (var's summed over its broadcast
    dims); a negative half var is found and named (its check reads half)."""
    rng = np.random.default_rng(37)
    x, y = (rng.standard_normal((9, 301)).astype(dtype) for _ in range(2))
    shape = {"full": (9, 301), "no-last": (9,), "one": (9, 1), "scalar": ()}[var_shape]
    var = rng.uniform(0.1, 2.0, shape).astype(dtype if var_dtype == "same" else np.float32)
    wide = [a.astype(np.float32) for a in (x, y, var)]
    for full in (False, True):
        for red in ("mean", "sum", "none"):
            got = lf.GaussianNLLLoss(full=full, reduction=red).forward_backward(x, y, var)
            want = lf.GaussianNLLLoss(full=full, reduction=red).forward_backward(*wide)
            for g, w in zip(_flat(got), _flat(want)):
                w = np.asarray(np.float32(w) if np.ndim(w) == 0 else w).astype(dtype)
                assert np.asarray(g).dtype == dtype and np.asarray(g).tobytes() == w.tobytes()
    if var_shape == "full":  # two half gradients, no float32 copy (that was 20 bytes)
        peak = _peak_bytes(lambda: lf.GaussianNLLLoss().forward_backward(x, y, var))
        assert peak < (2 * dtype.itemsize + 1) * x.size, peak / x.size
    bad = var.copy()
    bad.reshape(-1)[-1] = -0.5
    with pytest.raises(ValueError, match=r"var has negative entry -0\.5 at flat index"):
        lf.functional.gaussian_nll_loss(x, y, bad)


def _widened_bits(crit, half_args, wide_args, dtype, hessians=(False, True)):
    """forward_backward on the half operands (with and without a Hessian,
    which takes the widening path) is the float32 call narrowed once."""
    for hessian in hessians:
        got = _flat(crit.forward_backward(*half_args, hessian=hessian))
        want = _flat(crit.forward_backward(*wide_args, hessian=hessian))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            w = np.asarray(np.float32(w) if np.ndim(w) == 0 else w).astype(dtype)
            assert np.asarray(g).dtype == dtype and np.asarray(g).tobytes() == w.tobytes()


def _same_bits_as_widened(make, half_args, wide_args, dtype, reductions=("mean", "sum", "none"),
                          go_shape=None, rng=None):
    """make(reduction) -> a criterion.  Each reduction's loss and gradient on
    the half operands, and a half out=, are the float32 call on the widened
    operands narrowed once, bit for bit; with go_shape, backward with a
    float32 grad_output too."""
    for red in reductions:
        crit = make(red)
        loss, grad = crit.forward_backward(*half_args)
        wl, wg = make(red).forward_backward(*wide_args)
        wl = np.asarray(np.float32(wl) if red != "none" else wl).astype(dtype)
        assert np.asarray(loss).dtype == dtype and np.asarray(loss).tobytes() == wl.tobytes()
        assert grad.dtype == dtype and grad.tobytes() == wg.astype(dtype).tobytes()
        out = np.full(grad.shape, np.nan, dtype)
        crit.forward_backward(*half_args, out=out)
        assert out.tobytes() == wg.astype(dtype).tobytes()
    if go_shape is not None:
        go = rng.uniform(-1, 1, go_shape).astype(np.float32)
        crit, twin = make("none"), make("none")
        crit.forward(*half_args)
        twin.forward(*wide_args)
        assert crit.backward(go).tobytes() == twin.backward(go).astype(dtype).tobytes()


def test_mixed_dtypes_keep_the_widening_path():
    # a float32 target with a bfloat16 input, a float16 target with a bfloat16
    # input: the input's dtype decides, each operand converted as before
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 7)).astype(BF16)
    for y in (rng.standard_normal((5, 7)).astype(np.float32),
              rng.standard_normal((5, 7)).astype(np.float16)):
        loss, grad = lf.MSELoss(reduction="none").forward_backward(x, y)
        wl, wg = lf.MSELoss(reduction="none").forward_backward(x.astype(np.float32),
                                                               y.astype(np.float32))
        assert loss.dtype == BF16 and grad.dtype == BF16
        assert loss.tobytes() == wl.astype(BF16).tobytes()
        assert grad.tobytes() == wg.astype(BF16).tobytes()


# NLL and cross-entropy with class indices read their half input and write
# their half loss and gradient themselves (LF_HALF_CLASS in the binding):
# cross-entropy a row at a time, NLL an element a row.
CE_LAYOUTS = ["contiguous", "fortran", "strided", "negative", "misaligned", "byteswapped"]
CE_CASES = [("CrossEntropyLoss", {}), ("CrossEntropyLoss", {"weight": True}),
            ("CrossEntropyLoss", {"label_smoothing": 0.1}),
            ("CrossEntropyLoss", {"weight": True, "label_smoothing": 0.2, "ignore_index": 2}),
            ("NLLLoss", {}), ("NLLLoss", {"weight": True, "ignore_index": 2}),
            ("PolyCrossEntropyLoss", {}),
            ("PolyCrossEntropyLoss", {"weight": True, "label_smoothing": 0.2, "ignore_index": 2,
                                      "epsilon": 2.0})]


@pytest.mark.parametrize("name,opts", CE_CASES,
                         ids=["ce", "ce-weight", "ce-smooth", "ce-all", "nll", "nll-all",
                              "poly", "poly-all"])
@pytest.mark.parametrize("layout", CE_LAYOUTS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_class_half_rows(dtype, layout, name, opts):
    """The half path gives the widening path's bits: the float32 kernel on a
    contiguous float32 copy of the same values (its unit-stride rows), every
    result narrowed once; reduced, none, backward with grad_output and a
    half out= (C-contiguous, as the class losses' out must be)."""
    cls = getattr(lf, name)
    rng = np.random.default_rng(22)
    N, C = 37, 301
    x = (3 * rng.standard_normal((N, C))).astype(dtype)
    t = rng.integers(0, C, N)
    t[::5] = 2  # the ignored class, when ignore_index is 2
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, C).astype(np.float32)[::-1]  # strided
    xs = in_layout(x, layout)
    wide = np.ascontiguousarray(x.astype(np.float32))
    # the reference's unit-stride rows need a unit-stride weight too (a
    # strided one takes the float32 kernel's strided loop: other last bits);
    # a misaligned or byte-swapped half input is widened by the binding and
    # takes the float32 kernel itself, strided weight and all
    widened = layout in ("misaligned", "byteswapped")
    kw32 = {k: np.ascontiguousarray(v) if k == "weight" and not widened else v
            for k, v in kw.items()}
    for red in ("mean", "sum", "none"):
        crit = cls(**kw, reduction=red)
        twin = cls(**kw32, reduction=red)
        loss, grad = crit.forward_backward(xs, t)
        wl, wg = twin.forward_backward(wide, t)
        assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
        wl = np.asarray(np.float32(wl) if red != "none" else wl).astype(dtype)
        assert np.asarray(loss).tobytes() == wl.tobytes()
        assert grad.tobytes() == wg.astype(dtype).tobytes()
        out = np.full((N, C), np.nan, dtype)
        crit.forward_backward(xs, t, out=out)
        assert out.tobytes() == wg.astype(dtype).tobytes()
    go = rng.uniform(-1, 1, N).astype(np.float32)
    crit = cls(**kw, reduction="none")
    crit.forward(xs, t)
    twin = cls(**kw32, reduction="none")
    twin.forward(wide, t)
    assert crit.backward(go).tobytes() == twin.backward(go).astype(dtype).tobytes()


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("C", [1, 8192, 8193, 50257])
def test_cross_entropy_half_widths(dtype, C):
    """One class, the widest row the stack takes (LF_CE_HALF_C), one more and a
    language model's vocabulary (staged per thread in the call's slots): the
    same bits either way; a Hessian too (the widening path)."""
    rng = np.random.default_rng(23)
    x = (4 * rng.standard_normal((3, C))).astype(dtype)
    t = rng.integers(0, C, 3)
    _widened_bits(lf.CrossEntropyLoss(), (x, t), (x.astype(np.float32), t), dtype)


@pytest.mark.parametrize("opts", [{}, {"weight": True, "label_smoothing": 0.2, "ignore_index": 2}],
                         ids=["plain", "all"])
@pytest.mark.parametrize("layout", ["contiguous", "fortran", "strided", "negative"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_cross_entropy_half_long_rows(dtype, layout, opts):
    """Rows over LF_CE_HALF_C classes are staged in the call's slots (one per
    thread, the weights gathered there too): the widening path's bits on 1, 2
    and 3 threads, reduced, per sample, with a half out= and grad_output."""
    rng = np.random.default_rng(25)
    N, C = 11, 20011
    x = (3 * rng.standard_normal((N, C))).astype(dtype)
    t = rng.integers(0, C, N)
    t[::4] = 2
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, 2 * C).astype(np.float32)[::2]  # strided
    # the reference's unit-stride rows need a unit-stride weight (see test_class_half_rows)
    kw32 = {k: np.ascontiguousarray(v) if k == "weight" else v for k, v in kw.items()}
    xs, wide = in_layout(x, layout), x.astype(np.float32)
    go = rng.uniform(-1, 1, N).astype(np.float32)
    before = lf.get_num_threads()
    try:
        for threads in (1, 2, 3):
            lf.set_num_threads(threads)
            for red in ("mean", "sum", "none"):
                crit, twin = (lf.CrossEntropyLoss(**k, reduction=red) for k in (kw, kw32))
                loss, grad = crit.forward_backward(xs, t)
                wl, wg = twin.forward_backward(wide, t)
                wl = np.asarray(np.float32(wl) if red != "none" else wl).astype(dtype)
                assert np.asarray(loss).tobytes() == wl.tobytes()
                assert grad.dtype == dtype and grad.tobytes() == wg.astype(dtype).tobytes()
                out = np.full((N, C), np.nan, dtype)
                crit.forward_backward(xs, t, out=out)
                assert out.tobytes() == grad.tobytes()
            crit.forward(xs, t)
            twin.forward(wide, t)
            assert crit.backward(go).tobytes() == twin.backward(go).astype(dtype).tobytes()
    finally:
        lf.set_num_threads(before)


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_long_row_slots_at_most_one_a_sample(dtype):
    """A call's slots (4 C floats each) number its threads, but no more than its
    samples: one row of 200,003 classes on 4 threads takes one slot."""
    C = 200_003
    x = np.random.default_rng(29).standard_normal((1, C)).astype(dtype)
    crit = lf.CrossEntropyLoss()
    before = lf.get_num_threads()
    try:
        lf.set_num_threads(4)
        peak = _peak_bytes(lambda: crit.forward_backward(x, np.array([5])))
    finally:
        lf.set_num_threads(before)
    assert peak < 24 * C, peak / C  # one slot (16 C bytes) and the half gradient (2 C)


LONG_CASES = {
    # name -> (criterion, its operands from rng for N rows of C classes in the half dtype)
    "ce-probs": (lambda red: lf.CrossEntropyLoss(reduction=red, label_smoothing=0.1),
                 lambda rng, N, C, dt: rng.dirichlet(np.ones(C), N).astype(dt)),
    "poly": (lambda red: lf.PolyCrossEntropyLoss(epsilon=2.0, ignore_index=2, reduction=red),
             lambda rng, N, C, dt: np.where(np.arange(N) % 4 == 0, 2, rng.integers(0, C, N))),
    "poly-probs": (lambda red: lf.PolyCrossEntropyLoss(epsilon=-0.5, reduction=red),
                   lambda rng, N, C, dt: rng.dirichlet(np.ones(C), N).astype(np.float32)),
}


@pytest.mark.parametrize("case", sorted(LONG_CASES))
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_class_half_long_rows(dtype, case):
    """Probability targets and Poly-1 stage rows over LF_CE_HALF_C classes in
    the call's slots too: the widening path's bits on 1 and 3 threads."""
    make, target = LONG_CASES[case]
    rng = np.random.default_rng(27)
    N, C = 9, 20011
    x = (3 * rng.standard_normal((N, C))).astype(dtype)
    t = target(rng, N, C, dtype)
    wide_t = t.astype(np.float32) if t.dtype.kind == "f" or t.dtype == dtype else t
    before = lf.get_num_threads()
    try:
        for threads in (1, 3):
            lf.set_num_threads(threads)
            _same_bits_as_widened(make, (x, t), (x.astype(np.float32), wide_t), dtype,
                                  go_shape=(N,), rng=rng)
    finally:
        lf.set_num_threads(before)


def _slot_margin(name, **opts):
    def case(rng, N, C, dt):
        x = (2 * rng.standard_normal((N, C))).astype(dt)
        x[1, 3:7] = x[1, 2]  # ties
        t = _margin_target(name, rng, N, C)
        kw = dict(opts)
        if kw.pop("weight", False):
            kw["weight"] = rng.uniform(0.5, 2.0, C).astype(np.float32)
        return (lambda red: getattr(lf, name)(**kw, reduction=red)), (x, t), \
            (x.astype(np.float32), t), (N,)
    return case


def _slot_pair(make, labels, per_term=False):
    def case(rng, N, C, dt):
        x = (3 * rng.standard_normal((N, C))).astype(dt)
        y = labels(rng, (N, C)).astype(dt)
        return make, (x, y), (x.astype(np.float32), y.astype(np.float32)), \
            (N, C) if per_term else (N,)
    return case


def _slot_dice(mode, dims):
    def case(rng, N, C, dt):
        shape = (N, 3, C // 3) if dims else (N, C)
        x = (3 * rng.standard_normal(shape)).astype(dt)
        if mode == "multiclass":
            y = rng.integers(0, shape[1], (N,) + shape[2:])
            wide = (x.astype(np.float32), y)
        else:
            y = (rng.random(shape) < 0.2).astype(dt)
            wide = (x.astype(np.float32), y.astype(np.float32))
        return (lambda red: lf.DiceLoss(mode=mode, reduction=red)), (x, y), wide, None
    return case


# The other kernels that stage half rows (the margin losses, the sparsemax
# loss, ZLPR, distillation, Dice's C S elements): rows over LF_CE_HALF_C in
# the call's slots as well.  name -> rng, N, C, dtype -> (make, half operands,
# widened operands, grad_output shape or None)
SLOT_CASES = {
    "mm": _slot_margin("MultiMarginLoss"),
    "mm-p2-w": _slot_margin("MultiMarginLoss", p=2, margin=0.5, weight=True),
    "mlm": _slot_margin("MultiLabelMarginLoss"),
    "sparsemax": _slot_margin("SparsemaxLoss"),
    "zlpr": _slot_pair(lambda red: lf.ZLPRLoss(reduction=red),
                       lambda rng, shape: rng.random(shape) < 0.01),
    "distill": _slot_pair(lambda red: lf.DistillationLoss(temperature=2.0, reduction=red),
                          lambda rng, shape: 3 * rng.standard_normal(shape), per_term=True),
    "dice": _slot_dice("multilabel", False),
    "dice-mc-ncs": _slot_dice("multiclass", True),
}


@pytest.mark.parametrize("case", sorted(SLOT_CASES))
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_staged_half_long_rows(dtype, case):
    """Rows over LF_CE_HALF_C elements are staged in the call's slots (one a
    thread): the widening path's bits on 1, 2 and 3 threads, reduced, per
    sample, a half out= and backward with a grad_output."""
    rng = np.random.default_rng(47)
    make, half_args, wide_args, go_shape = SLOT_CASES[case](rng, 7, 20013, dtype)
    before = lf.get_num_threads()
    try:
        for threads in (1, 2, 3):
            lf.set_num_threads(threads)
            _same_bits_as_widened(make, half_args, wide_args, dtype, go_shape=go_shape, rng=rng)
    finally:
        lf.set_num_threads(before)


@pytest.mark.parametrize("layout", ["contiguous", "fortran", "strided"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sparsemax"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_softmax_half_long_rows(dtype, name, layout):
    """softmax / log_softmax / sparsemax over a vocabulary (rows staged in the call's slots):
    the widening path's bits, along the last dim and the first, on 1 and 3 threads,
    and no float32 copy."""
    rng = np.random.default_rng(28)
    x = (3 * rng.standard_normal((6, 50257))).astype(dtype)
    fn = getattr(lf.functional, name)
    before = lf.get_num_threads()
    try:
        for threads in (1, 3):
            lf.set_num_threads(threads)
            for dim in (-1, 0):
                xs = in_layout(x if dim == -1 else np.ascontiguousarray(x.T), layout)
                want = fn(np.asarray(xs, np.float32), dim=dim).astype(dtype)
                assert fn(xs, dim=dim).tobytes() == want.tobytes(), (threads, dim)
    finally:
        lf.set_num_threads(before)
    # the result and the slots (4 C floats a thread): under 3 bytes an element of 64 rows
    big = rng.standard_normal((64, 50257)).astype(dtype)
    peak = _peak_bytes(lambda: fn(big, dim=-1))
    assert peak < 3 * big.size, peak / big.size


PROBS_CASES = [("CrossEntropyLoss", {}), ("CrossEntropyLoss", {"label_smoothing": 0.1}),
               ("CrossEntropyLoss", {"weight": True}), ("PolyCrossEntropyLoss", {}),
               ("PolyCrossEntropyLoss", {"weight": True, "label_smoothing": 0.2,
                                         "epsilon": -0.5})]


@pytest.mark.parametrize("name,opts", PROBS_CASES,
                         ids=["ce", "ce-smooth", "ce-weight", "poly", "poly-all"])
@pytest.mark.parametrize("target_dtype", ["same", "float32", "other-half"])
@pytest.mark.parametrize("layout", ["contiguous", "fortran", "strided", "misaligned"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_class_half_probabilities(dtype, layout, target_dtype, name, opts):
    """Probability targets: the half input and a half target of its dtype are
    staged a row at a time (a float32 target is read as it is, a target of the
    other half dtype widened first); the bits of the widening path, spatial
    samples included, reduced, per sample and with a half out=."""
    cls = getattr(lf, name)
    rng = np.random.default_rng(30)
    N, C, S = 13, 301, 3
    x = (3 * rng.standard_normal((N, C, S))).astype(dtype)
    t = np.moveaxis(rng.dirichlet(np.ones(C), (N, S)), -1, 1)
    other = HALVES[1] if dtype == HALVES[0] else HALVES[0]
    t = t.astype({"same": dtype, "float32": np.float32, "other-half": other}[target_dtype])
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, C).astype(np.float32)
    _same_bits_as_widened(lambda red: cls(**kw, reduction=red),
                          (in_layout(x, layout), in_layout(t, layout)),
                          (x.astype(np.float32), t.astype(np.float32)), dtype)


@pytest.mark.parametrize("name,probs", [("CrossEntropyLoss", False), ("NLLLoss", False),
                                        ("PolyCrossEntropyLoss", False),
                                        ("CrossEntropyLoss", True),
                                        ("PolyCrossEntropyLoss", True)],
                         ids=["ce", "nll", "poly", "ce-probs", "poly-probs"])
@pytest.mark.parametrize("N,C", [(1000, 1000), (64, 50257)], ids=["stack", "slots"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_class_half_no_float32_copy(dtype, N, C, name, probs):
    """The half path allocates the half gradient and nothing of the batch's
    size beside it (the widening path: a float32 copy of the input and a
    float32 gradient, 10 bytes per element); rows over LF_CE_HALF_C classes
    add the slots (4 C floats a thread)."""
    rng = np.random.default_rng(24)
    x = rng.standard_normal((N, C)).astype(dtype)
    t = rng.dirichlet(np.ones(C), N).astype(dtype) if probs else rng.integers(0, C, N)
    crit = getattr(lf, name)()
    peak = _peak_bytes(lambda: crit.forward_backward(x, t))
    assert peak < 3 * x.size, peak / x.size


# The margin losses and the sparsemax loss stage their half rows the same way
# (LF_HALF_CLASS; FN(class_rows) in the kernels): on the stack up to
# LF_CE_HALF_C classes, in the call's slots beyond.
MARGIN_CASES = [("MultiMarginLoss", {}),
                ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": True}),
                ("MultiLabelMarginLoss", {}), ("SparsemaxLoss", {})]


def _margin_target(name, rng, N, C):
    if name != "MultiLabelMarginLoss":
        return rng.integers(0, C, N)
    t = np.full((N, C), -1)
    for n in range(N):
        k = int(rng.integers(0, min(C, 6) + 1))
        t[n, :k] = rng.choice(C, k, replace=False)
    return t


def _margin_check(cls, kw, x, xs, t, dtype, rng):
    _same_bits_as_widened(lambda red: cls(**kw, reduction=red), (xs, t),
                          (np.ascontiguousarray(x.astype(np.float32)), t), dtype,
                          go_shape=x.shape[:-1], rng=rng)


@pytest.mark.parametrize("name,opts", MARGIN_CASES, ids=["mm", "mm-p2", "mlm", "sparsemax"])
@pytest.mark.parametrize("layout", CE_LAYOUTS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_margin_half_rows(dtype, layout, name, opts):
    """The margin losses' and sparsemax's half rows give the widening path's
    bits (the float32 kernel on a contiguous float32 copy, each result
    narrowed once): reduced, none, backward with grad_output, a half out=;
    rows with ties, infinities and a nan (each kernel's other paths)."""
    cls = getattr(lf, name)
    rng = np.random.default_rng(31)
    N, C = 29, 301
    x = (2 * rng.standard_normal((N, C))).astype(dtype)
    x[3, 5:9] = x[3, 4]  # ties
    x[5, 7], x[6, 2], x[7, 0] = np.inf, -np.inf, np.nan
    t = _margin_target(name, rng, N, C)
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, C).astype(np.float32)[::-1]
    _margin_check(cls, kw, x, in_layout(x, layout), t, dtype, rng)


# (only the multi-margin loss takes a 0-d score)
WIDTH_CASES = [(name, opts, shape) for name, opts in MARGIN_CASES
               for shape in [(), (1,), (3, 8192), (2, 8193)]
               if shape != () or name == "MultiMarginLoss"]


@pytest.mark.parametrize("name,opts,shape", WIDTH_CASES,
                         ids=[f"{n}-{opts.get('p', 1)}-{'x'.join(map(str, s)) or '0d'}"
                              for n, opts, s in WIDTH_CASES])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_margin_half_widths(dtype, name, opts, shape):
    """A 0-d score and a single class, the widest row the stack takes
    (LF_CE_HALF_C) and one more (staged in the call's slots): the widening
    path's bits."""
    cls = getattr(lf, name)
    rng = np.random.default_rng(32)
    x = rng.standard_normal(shape).astype(dtype)
    C = shape[-1] if shape else 1
    N = shape[0] if len(shape) == 2 else 1
    t = _margin_target(name, rng, N, C)
    t = t.reshape(shape) if name == "MultiLabelMarginLoss" else (t if len(shape) == 2 else t[0])
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, C).astype(np.float32)
    _margin_check(cls, kw, x, x, t, dtype, rng)


@pytest.mark.parametrize("target_dtype", ["same", "float32", "other-half", "int"])
@pytest.mark.parametrize("layout", CE_LAYOUTS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_zlpr_half_rows(dtype, layout, target_dtype):
    """ZLPR's half rows (logits and labels staged on the stack) give the
    widening path's bits: hard and soft labels, leading dims flattened, a nan
    row and a row of huge logits, reduced, none, backward with grad_output and
    a half out=."""
    rng = np.random.default_rng(38)
    x = (4 * rng.standard_normal((3, 11, 301))).astype(dtype)
    x[0, 1, 5] = np.nan
    x[1, 2, :] = 3e4 if dtype == np.float16 else 1e30
    y = (rng.random((3, 11, 301)) < 0.1).astype(np.float64)
    y[2] = rng.random((11, 301))  # soft labels
    other = HALVES[1] if dtype == HALVES[0] else HALVES[0]
    if target_dtype == "int":
        y = (y > 0.5).astype(np.int64)
    else:
        y = y.astype({"same": dtype, "float32": np.float32, "other-half": other}[target_dtype])
    _same_bits_as_widened(lambda red: lf.ZLPRLoss(reduction=red),
                          (in_layout(x, layout), in_layout(y, layout)),
                          (x.astype(np.float32), y.astype(np.float32)), dtype,
                          go_shape=(3, 11), rng=rng)


@pytest.mark.parametrize("C", [1, 8192, 8193])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_zlpr_half_widths(dtype, C):
    """One label, the widest row the stack takes and one more (staged in the
    call's slots): the widening path's bits; with a Hessian too (widened)."""
    rng = np.random.default_rng(39)
    x = (3 * rng.standard_normal((3, C))).astype(dtype)
    y = (rng.random((3, C)) < 0.2).astype(dtype)
    _widened_bits(lf.ZLPRLoss(), (x, y), (x.astype(np.float32), y.astype(np.float32)), dtype)


@pytest.mark.parametrize("target_dtype", ["same", "float32", "other-half"])
@pytest.mark.parametrize("layout", CE_LAYOUTS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_distillation_half_rows(dtype, layout, target_dtype):
    """Distillation's half rows (student and teacher staged on the stack, the
    per-class terms and the gradient narrowed) give the widening path's bits:
    two temperatures, rows longer than its stack chunks, a nan and a huge
    logit, every reduction, backward with a per-term grad_output, out=."""
    rng = np.random.default_rng(41)
    N, C = 13, 1301  # C > DL_ROW: the long-row path too
    x = (3 * rng.standard_normal((N, C))).astype(dtype)
    x[2, 3] = np.nan
    x[4, 5] = 6e4 if dtype == np.float16 else 1e30
    other = HALVES[1] if dtype == HALVES[0] else HALVES[0]
    z = (3 * rng.standard_normal((N, C))).astype(
        {"same": dtype, "float32": np.float32, "other-half": other}[target_dtype])
    for temp in (1.0, 4.0):
        _same_bits_as_widened(
            lambda red, t=temp: lf.DistillationLoss(temperature=t, reduction=red),
            (in_layout(x, layout), in_layout(z, layout)),
            (x.astype(np.float32), z.astype(np.float32)), dtype,
            reductions=("batchmean", "mean", "sum", "none"), go_shape=(N, C), rng=rng)


@pytest.mark.parametrize("C", [1, 8192, 8193])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_distillation_half_widths(dtype, C):
    """One class, the widest row the stack takes and one more (staged in the
    call's slots): the widening path's bits; with a Hessian too (widened)."""
    rng = np.random.default_rng(42)
    x, z = ((2 * rng.standard_normal((3, C))).astype(dtype) for _ in range(2))
    _widened_bits(lf.DistillationLoss(temperature=2.0), (x, z),
                  (x.astype(np.float32), z.astype(np.float32)), dtype)


@pytest.mark.parametrize("target_dtype", ["same", "float32", "other-half", "int"])
@pytest.mark.parametrize("layout", CE_LAYOUTS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_soft_f1_half(dtype, layout, target_dtype):
    """Soft-F1 on half logits (rows widened ML_SF1_COLS labels at a time, dp/dx
    taken again in the gradient pass instead of kept) gives the widening
    path's bits: several label units and row blocks, a label with no mass,
    a nan logit, two eps, one-label [N] input, every reduction, backward with
    a per-label grad_output, out=."""
    rng = np.random.default_rng(44)
    N, C = 301, 517
    x = (3 * rng.standard_normal((N, C))).astype(dtype)
    x[7, 9] = np.nan
    y = (rng.random((N, C)) < 0.2).astype(np.float64)
    y[:, 3] = 0  # no mass: the 2 / eps factor
    y[:, 5] = rng.random(N)  # soft labels
    other = HALVES[1] if dtype == HALVES[0] else HALVES[0]
    y = (y > 0.5).astype(np.int64) if target_dtype == "int" else y.astype(
        {"same": dtype, "float32": np.float32, "other-half": other}[target_dtype])
    for xv, yv in ((x, y), (x[:, 11], y[:, 11])):
        for eps in (1.0, 1e-7):
            _same_bits_as_widened(lambda red, e=eps: lf.SoftF1Loss(eps=e, reduction=red),
                                  (in_layout(xv, layout), in_layout(yv, layout)),
                                  (xv.astype(np.float32), yv.astype(np.float32)), dtype,
                                  go_shape=xv.shape[1:], rng=rng)


# Dice and the generalized Dice stage a half row of C S elements, on the stack
# up to LF_CE_HALF_C and in the call's slots beyond, in pass one and again in
# the gradient pass; a Hessian or H v take the widening path.
DICE_CASES = [("DiceLoss", {}), ("DiceLoss", {"mode": "multiclass"}),
              ("DiceLoss", {"mode": "binary", "smooth": 0.0}),
              ("DiceLoss", {"per_sample": True, "alpha": 0.3, "beta": 0.7, "weight": True}),
              ("DiceLoss", {"mode": "multiclass", "per_sample": True, "weight": True}),
              ("GeneralizedDiceLoss", {}), ("GeneralizedDiceLoss", {"per_sample": True})]
# [N, C] rows (four-row groups and a tail, several 256-class chunks), [N, C, S]
# rows of spatial positions, and rows of 8,192 and 8,193 elements (staged / widened)
DICE_SHAPES = [(37, 301), (6, 5, 70), (3, 2, 4096), (3, 1, 8193)]


def _dice_target(name, opts, shape, rng, dtype, target_dtype):
    multiclass = name == "GeneralizedDiceLoss" or opts.get("mode") == "multiclass"
    if multiclass and target_dtype == "int":
        return rng.integers(0, shape[1], (shape[0],) + shape[2:])
    y = (rng.random(shape) < 0.3).astype(np.float64)
    y.reshape(shape[0], -1)[:, 1] = rng.random(shape[0])  # soft targets
    if target_dtype == "int":
        return (y > 0.5).astype(np.int64)
    other = HALVES[1] if dtype == HALVES[0] else HALVES[0]
    return y.astype({"same": dtype, "float32": np.float32, "other-half": other}[target_dtype])


@pytest.mark.parametrize("target_dtype", ["same", "float32", "other-half", "int"])
@pytest.mark.parametrize("shape", DICE_SHAPES, ids=["NC", "NCS", "8192", "8193"])
@pytest.mark.parametrize("name,opts", DICE_CASES,
                         ids=["dice", "dice-mc", "dice-bin", "dice-tversky-ps-w", "dice-mc-ps-w",
                              "gdice", "gdice-ps"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_dice_half_is_the_widening_path(dtype, name, opts, shape, target_dtype):
    """Each reduction's loss and gradient, a half out=, backward with a
    grad_output per term, and the Hessian (widened) are the float32 call on
    the widened values narrowed once, bit for bit, with a nan and extreme
    logits among the inputs."""
    rng = np.random.default_rng(46)
    kw = dict(opts)
    if opts.get("mode") == "binary":
        shape = (shape[0],) + shape[2:] if len(shape) > 2 else shape
    C = 1 if opts.get("mode") == "binary" else shape[1]
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, C).astype(np.float32)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    x.reshape(-1)[[5, 17, 40]] = [np.nan, 60, -60]
    y = _dice_target(name, opts, shape, rng, dtype, target_dtype)
    if opts.get("mode") == "binary" and y.dtype.kind == "i":
        y = y.astype(dtype)
    wide = (x.astype(np.float32), y if y.dtype.kind == "i" else y.astype(np.float32))
    cls = getattr(lf, name)
    go_shape = ((shape[0], C) if kw.get("per_sample") else (C,))
    _same_bits_as_widened(lambda red: cls(**kw, reduction=red), (x, y), wide, dtype,
                          go_shape=go_shape, rng=rng)
    _widened_bits(cls(**kw), (x, y), wide, dtype, hessians=(True,))


# CTC widens one sequence's log-probabilities at a time into its work unit's
# float32 block, and narrows the sequence's loss and gradient from there.
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("layout", CE_LAYOUTS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_ctc_half_is_the_widening_path(dtype, layout, zero_infinity):
    """Every reduction's loss and gradient, a half out=, and backward with a
    per-sequence grad_output are the float32 call on the widened
    log-probabilities narrowed once, bit for bit: empty and full input
    lengths, an empty target, an impossible alignment (an infinite loss,
    zeroed with zero_infinity), unbatched [T, C] input."""
    rng = np.random.default_rng(48)
    T, N, C, S = 30, 19, 20, 6
    x = rng.standard_normal((T, N, C))
    lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(dtype)
    tg = rng.integers(1, C, (N, S))
    il, tl = rng.integers(0, T + 1, N), rng.integers(0, S + 1, N)
    il[0], tl[1], tl[3] = T, S, 0
    il[2], tl[2] = 1, 5  # no alignment of 5 labels in 1 frame
    make = lambda red: lf.CTCLoss(reduction=red, zero_infinity=zero_infinity)  # noqa: E731
    args = (in_layout(lp, layout), tg, il, tl)
    wide = (lp.astype(np.float32), tg, il, tl)
    _same_bits_as_widened(make, args, wide, dtype, go_shape=(N,), rng=rng)
    one = (tg[4, :tl[4]], il[4], tl[4])
    _same_bits_as_widened(make, (in_layout(lp[:, 4], layout),) + one,
                          (lp[:, 4].astype(np.float32),) + one, dtype)


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_ctc_half_no_float32_copy(dtype):
    """A half CTC call allocates its half gradient and float32 blocks of one
    sequence per work unit (at most 16 units: 8 bytes per element of 16
    sequences), not float32 copies of the batch: under 3 bytes per element for
    256 sequences (the widening path: 10)."""
    rng = np.random.default_rng(49)
    T, N, C = 50, 256, 400
    lp = np.log(rng.dirichlet(np.ones(C), (T, N))).astype(dtype)
    args = (lp, rng.integers(1, C, (N, 10)), np.full(N, T), np.full(N, 10))
    crit = lf.CTCLoss()
    peak = _peak_bytes(lambda: crit.forward_backward(*args))
    assert peak < 3 * lp.size, peak / lp.size


@pytest.mark.parametrize("layout", CE_LAYOUTS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_dice_half_layouts(dtype, layout):
    """Any layout of the half input and target: the bits of the contiguous call."""
    rng = np.random.default_rng(47)
    x = (3 * rng.standard_normal((41, 300))).astype(dtype)
    y = (rng.random((41, 300)) < 0.3).astype(dtype)
    for name in ("DiceLoss", "GeneralizedDiceLoss"):
        crit = getattr(lf, name)()
        want = _flat(crit.forward_backward(x, y))
        got = _flat(crit.forward_backward(in_layout(x, layout), in_layout(y, layout)))
        for g, w in zip(got, want):
            assert np.asarray(g).dtype == dtype
            assert np.asarray(g).tobytes() == np.asarray(w).tobytes(), name


# The activations: sigmoid and logsigmoid through the element-wise template's
# blocks (LF_HALF_EW), softmax, log_softmax and sparsemax a sample at a time
# (LF_HALF_CLASS, FN(class_rows)), on the stack up to LF_CE_HALF_C classes and
# in the call's slots beyond.
ACTIVATIONS = ["sigmoid", "logsigmoid", "softmax", "log_softmax", "sparsemax"]


def _activation(name):
    """The activation over its last dim."""
    fn = getattr(lf.functional, name)
    return fn if name in ("sigmoid", "logsigmoid") else lambda x: fn(x, dim=-1)


@pytest.mark.parametrize("layout", CE_LAYOUTS)
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_activation_half_is_the_widening_path(dtype, name, layout):
    """The half result is the float32 result on the widened values narrowed
    once, bit for bit, along every dim of a 3-d input (classes last, first and
    in the middle: spatial samples), with extreme and non-finite values."""
    rng = np.random.default_rng(34)
    x = (3 * rng.standard_normal((5, 301, 4))).astype(dtype)
    x[0, :3, 0] = [np.inf, -np.inf, np.nan]
    x[1, 7:12, 1] = x[1, 6, 1]  # ties (sparsemax's support edge)
    xs = in_layout(x, layout)
    fn = getattr(lf.functional, name)
    dims = [None] if name in ("sigmoid", "logsigmoid") else [0, 1, -1]
    for dim in dims:
        kw = {} if dim is None else {"dim": dim}
        got = fn(xs, **kw)
        want = fn(x.astype(np.float32), **kw).astype(dtype)
        assert got.dtype == dtype and got.shape == x.shape
        assert got.tobytes() == want.tobytes(), (name, dim)


@pytest.mark.parametrize("shape", [(), (7,), (3, 8192), (2, 8193)],
                         ids=["0d", "1d", "widest", "wider"])
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_activation_half_widths(dtype, name, shape):
    """A 0-d and a 1-d input, the widest row the stack takes and one more
    (sigmoid's blocks; the others' slots): the widening path's bits."""
    x = (2 * np.random.default_rng(35).standard_normal(shape)).astype(dtype)
    fn = _activation(name)
    got = fn(x)
    assert got.dtype == dtype
    assert got.tobytes() == fn(x.astype(np.float32)).astype(dtype).tobytes()


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_activation_half_no_float32_copy(dtype, name):
    """The half result is the one allocation of the input's size."""
    x = np.random.default_rng(36).standard_normal((1000, 1000)).astype(dtype)
    fn = _activation(name)
    peak = _peak_bytes(lambda: fn(x))
    assert peak < 3 * x.size, peak / x.size


def _labels(rng, dtype):
    return (rng.random((1000, 1000)) < 0.1).astype(dtype)


# the staged kernels' half calls on a batch x: their operands from rng
STAGED = {
    "MultiMarginLoss": lambda x, rng: (x, _margin_target("MultiMarginLoss", rng, *x.shape)),
    "MultiLabelMarginLoss": lambda x, rng: (
        x, _margin_target("MultiLabelMarginLoss", rng, *x.shape)),
    "SparsemaxLoss": lambda x, rng: (x, _margin_target("SparsemaxLoss", rng, *x.shape)),
    "ZLPRLoss": lambda x, rng: (x, (rng.random(x.shape) < 0.1).astype(x.dtype)),
    "SoftF1Loss": lambda x, rng: (x, (rng.random(x.shape) < 0.1).astype(x.dtype)),
    "DistillationLoss": lambda x, rng: (x, rng.standard_normal(x.shape).astype(x.dtype)),
    # (as [N, 10, C / 10]-ish: their per-class partial sums, 64 row blocks of 3
    # C doubles, would be 1.5 bytes per element of a [1000, 1000] batch)
    "DiceLoss": lambda x, rng: _dice_staged(x, rng),
    "GeneralizedDiceLoss": lambda x, rng: _dice_staged(x, rng),
}


def _dice_staged(x, rng):
    shape = (4 * x.shape[0], 250) if x.shape[1] == 1000 else (x.shape[0], 29, x.shape[1] // 29)
    return x.reshape(shape), (rng.random(shape) < 0.1).astype(x.dtype)


@pytest.mark.parametrize("N,C", [(1000, 1000), (64, 50257)], ids=["stack", "slots"])
@pytest.mark.parametrize("name", list(STAGED))
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_staged_no_float32_copy(dtype, name, N, C):
    """No float32 copy of the operands, no float32 gradient: the half
    gradient is the one allocation of the batch's size (the widening path:
    10 bytes or more per element; the multi-label margin target's private
    copy is of its labels, not of the N x C target); rows over LF_CE_HALF_C
    elements add the slots (4 C floats a thread)."""
    rng = np.random.default_rng(33)
    args = STAGED[name](rng.standard_normal((N, C)).astype(dtype), rng)
    crit = getattr(lf, name)()
    peak = _peak_bytes(lambda: crit.forward_backward(*args))
    assert peak < 3 * args[0].size, peak / args[0].size


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_soft_f1_half_hessian_is_widened(dtype):
    """A Hessian takes the widening path: the same bits as float32 narrowed."""
    rng = np.random.default_rng(45)
    x = rng.standard_normal((50, 300)).astype(dtype)
    y = (rng.random((50, 300)) < 0.1).astype(dtype)
    _widened_bits(lf.SoftF1Loss(), (x, y), (x.astype(np.float32), y.astype(np.float32)), dtype,
                  hessians=(True,))


# The embedding losses stage their half rows through the stack, a row at a
# time (LF_HALF_ROWS in the binding, FN(rows_half) in the kernels): operands of
# one shape keep their half arrays; a broadcast operand, a mixed dtype, rows
# over LF_ROWS_HALF_D features or a strided out= take the widening path.
ROWS_LAYOUTS = ["contiguous", "fortran", "strided", "negative", "misaligned", "byteswapped",
                "broadcast"]
ROWS_CASES = [("CosineEmbeddingLoss", {}), ("CosineEmbeddingLoss", {"margin": 0.2}),
              ("TripletMarginLoss", {}), ("TripletMarginLoss", {"p": 1.0, "swap": True}),
              ("TripletMarginLoss", {"p": 3.0, "margin": 0.5}),
              ("TripletMarginWithDistanceLoss", {}),
              ("TripletMarginWithDistanceLoss", {"distance_function": "cosine"})]


def _rows_inputs(name, dtype, rng, N, D):
    k = 2 if name == "CosineEmbeddingLoss" else 3
    xs = [(2 * rng.standard_normal((N, D))).astype(dtype) for _ in range(k)]
    xs[1][::7] = xs[0][::7]  # rows of zero distance (the norms' subgradients)
    if name == "CosineEmbeddingLoss":
        return xs, rng.choice([1, -1, 0], N)
    return xs, None


def _rows_crit(name, opts, red):
    opts = dict(opts)
    if opts.get("distance_function") == "cosine":  # the kernel's cosine distance
        opts["distance_function"] = lf.functional.cosine_distance
    return getattr(lf, name)(**opts, reduction=red)


@pytest.mark.parametrize("name,opts", ROWS_CASES,
                         ids=["cos", "cos-margin", "trip", "trip-p1-swap", "trip-p3",
                              "trip-dist", "trip-dist-cosine"])
@pytest.mark.parametrize("layout", ROWS_LAYOUTS)
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_rows_half_is_the_widening_path(dtype, layout, name, opts):
    """The half rows give the widening path's bits: the float32 kernel on
    contiguous float32 copies of the same values, each result narrowed once;
    reduced and per-row losses, backward with grad_output, a half out= (C-
    contiguous and strided) and a half target."""
    rng = np.random.default_rng(25)
    N, D = 41, 257
    xs, t = _rows_inputs(name, dtype, rng, N, D)
    if layout == "broadcast":
        xs[1] = xs[1][:1]
    else:
        xs = [in_layout(x, layout) for x in xs]
    wide = [np.ascontiguousarray(x.astype(np.float32)) for x in xs]
    targets = [t] if t is None else [t, t.astype(dtype)]
    for tgt in targets:
        extra = () if tgt is None else (tgt,)
        for red in ("mean", "sum", "none"):
            crit, twin = _rows_crit(name, opts, red), _rows_crit(name, opts, red)
            loss, grads = crit.forward_backward(*xs, *extra)
            wl, wg = twin.forward_backward(*wide, *((t,) if t is not None else ()))
            wl = np.asarray(np.float32(wl) if red != "none" else wl).astype(dtype)
            assert np.asarray(loss).dtype == dtype and np.asarray(loss).tobytes() == wl.tobytes()
            for g, w in zip(grads, wg):
                assert g.dtype == dtype and g.tobytes() == w.astype(dtype).tobytes(), red
            for order in ("C", "strided"):
                bufs = tuple(np.full(x.shape, np.nan, dtype) if order == "C"
                             else np.full(x.shape[::-1], np.nan, dtype).T for x in xs)
                crit.forward_backward(*xs, *extra, out=bufs)
                for b, w in zip(bufs, wg):
                    assert b.tobytes() == w.astype(dtype).tobytes(), (red, order)
    go = rng.uniform(-1, 1, N).astype(np.float32)
    crit, twin = _rows_crit(name, opts, "none"), _rows_crit(name, opts, "none")
    crit.forward(*xs, *(() if t is None else (t,)))
    twin.forward(*wide, *(() if t is None else (t,)))
    for g, w in zip(crit.backward(go), twin.backward(go)):
        assert g.tobytes() == w.astype(dtype).tobytes()


@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("D", [1, 4096, 4097])
@pytest.mark.parametrize("name", ["CosineEmbeddingLoss", "TripletMarginLoss"])
def test_rows_half_widths(name, D, dtype):
    """One feature, the widest row the stack takes (LF_ROWS_HALF_D) and one
    more (the widening path): the same bits either way; a Hessian too."""
    rng = np.random.default_rng(26)
    xs, t = _rows_inputs(name, dtype, rng, 5, D)
    extra = () if t is None else (t,)
    _widened_bits(getattr(lf, name)(), (*xs, *extra),
                  (*(x.astype(np.float32) for x in xs), *extra), dtype)


@pytest.mark.parametrize("name", ["CosineEmbeddingLoss", "TripletMarginLoss"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_rows_half_no_float32_copy(dtype, name):
    """The half rows allocate their half gradients and nothing of the
    batch's size beside them: 2 bytes an element of each operand (the
    widening path: a float32 copy and a float32 gradient more, 10)."""
    rng = np.random.default_rng(27)
    xs, t = _rows_inputs(name, dtype, rng, 1000, 500)
    crit = getattr(lf, name)()
    peak = _peak_bytes(lambda: crit.forward_backward(*xs, *(() if t is None else (t,))))
    assert peak < 3 * sum(x.size for x in xs), peak / sum(x.size for x in xs)


DIST_CASES = [("cosine_similarity", {"dim": -1}), ("cosine_similarity", {"dim": 0}),
              ("pairwise_distance", {}), ("pairwise_distance", {"p": 1.0, "keepdim": True}),
              ("pairwise_distance", {"p": float("inf")}),
              ("pairwise_distance", {"p": 0.5, "eps": 0.0})]


@pytest.mark.parametrize("name,opts", DIST_CASES,
                         ids=["cos", "cos-dim0", "dist", "dist-p1-keepdim", "dist-inf",
                              "dist-p05"])
@pytest.mark.parametrize("layout", ["contiguous", "fortran", "strided", "negative",
                                    "misaligned", "broadcast"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
@pytest.mark.parametrize("D", [1, 257, 4096, 4097])
def test_distances_half_are_the_widening_path(D, dtype, layout, name, opts):
    """The distances stage their half rows too (no gradient): the bits of
    the float32 function on float32 copies, narrowed once, along either axis,
    up to the widest row (4,096 features) and past it."""
    rng = np.random.default_rng(28)
    shape = (9, D) if opts.get("dim", -1) == -1 else (D, 9)
    x1, x2 = ((2 * rng.standard_normal(shape)).astype(dtype) for _ in range(2))
    x2[::3] = x1[::3]  # zero distances
    if layout == "broadcast":
        x2 = x2[:1] if opts.get("dim", -1) == -1 else x2[:, :1]
    else:
        x1, x2 = in_layout(x1, layout), in_layout(x2, layout)
    fn = getattr(lf.functional, name)
    got = fn(x1, x2, **opts)
    want = fn(x1.astype(np.float32), x2.astype(np.float32), **opts)
    assert got.dtype == dtype and got.shape == want.shape
    with np.errstate(over="ignore"):  # p = 0.5 over 4,097 features passes float16's range
        want = want.astype(dtype)
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("name", ["cosine_similarity", "pairwise_distance"])
@pytest.mark.parametrize("dtype", HALVES, ids=HALF_IDS)
def test_distances_half_no_float32_copy(dtype, name):
    """A row's value is all they allocate (the widening path: a float32 copy
    of both operands, 4 bytes an element each)."""
    rng = np.random.default_rng(29)
    x1, x2 = (rng.standard_normal((1000, 500)).astype(dtype) for _ in range(2))
    fn = getattr(lf.functional, name)
    peak = _peak_bytes(lambda: fn(x1, x2))
    assert peak < 0.5 * x1.size, peak / x1.size
