"""Issue 18 on the Python side: a call keeps the options it was made with, pickles
carry configuration only, and integers no array can hold are an IndexError.

Every expected value comes from the library itself on a fresh criterion built with
the options the call was made with (the NumPy path), computed in the test.  The lazy
(dask) counterparts live in test_dask.py.
"""

import copy
import pickle

import numpy as np
import pytest
from loss_table import (
    LOSSES,
    flat,
    grad_output_of,
    option_names,
    scramble,
    valid_inputs,
    valid_options,
)

import pylossfn as lf
import pylossfn.functional as F

HEADS = {
    "LinearCrossEntropyLoss": lambda: lf.LinearCrossEntropyLoss(
        6, 5, bias=True, dtype=np.float64, weight=np.linspace(0.5, 2.0, 5), ignore_index=1,
        label_smoothing=0.125, seed=3),
    "LinearBCEWithLogitsLoss": lambda: lf.LinearBCEWithLogitsLoss(
        6, 5, bias=True, dtype=np.float64, pos_weight=np.linspace(0.5, 3.0, 5), seed=3),
}


def _head_inputs(name, rng, n=4, d=6):
    x = rng.standard_normal((n, d))
    if name == "LinearCrossEntropyLoss":
        return x, rng.integers(0, 5, n)
    return x, np.array([[0, 3, -1], [4, -1, -1], [-1, -1, -1], [1, 2, 0]])[:n]


def _assert_same(got, expected):
    got, expected = flat(got), flat(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


# ----------------------------------------------------------------------------
# NumPy path: backward, hessian and hvp use the options of their forward call
# ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # KLDivLoss's
@pytest.mark.parametrize("row", LOSSES, ids=repr)
@pytest.mark.parametrize("first", ["forward", "forward_backward"])
def test_backward_uses_the_options_of_its_forward_call(row, first):
    """torch's backward runs the graph built by forward: options assigned in
    between (every option, and the reduction) change nothing."""
    dtype = np.float64
    for reduction in row.reductions:
        rng = np.random.default_rng(5)
        inputs = valid_inputs(row, dtype)
        opts = dict(valid_options(row, dtype), reduction=reduction)
        go = grad_output_of(row, reduction, inputs, opts, rng, dtype)
        oracle = row.cls(**copy.deepcopy(opts))
        expected = oracle.forward_backward(*inputs, grad_output=go)
        crit = row.cls(**opts)
        if first == "forward":
            crit(*inputs)
        else:
            crit.forward_backward(*inputs, grad_output=go)
        scramble(crit, option_names(crit), row.reductions, in_place=False)
        _assert_same(crit.backward(go), expected[1:])
        if row.name == "CTCLoss":  # no Hessian (NotImplementedError, tested elsewhere)
            continue
        _assert_same(crit.hessian(go), oracle.hessian(go))
        v = tuple(rng.standard_normal(np.shape(inputs[i])) for i in row.diff)
        v = v if len(v) > 1 else v[0]
        _assert_same(crit.hvp(v, go), oracle.hvp(v, go))


@pytest.mark.parametrize("name", HEADS)
def test_fused_head_backward_uses_the_layer_and_options_of_its_forward_call(name):
    rng = np.random.default_rng(11)
    x, t = _head_inputs(name, rng)
    crit = HEADS[name]()
    oracle = copy.deepcopy(crit)
    expected = oracle.forward_backward(x, t, grad_output=0.7)
    w_grad, b_grad = oracle.linear.weight_grad, oracle.linear.bias_grad
    crit(x, t)
    scramble(crit, option_names(crit) + ("linear.bias",), ("mean", "sum"), in_place=False)
    _assert_same(crit.backward(0.7), expected[1])
    _assert_same((crit.linear.weight_grad, crit.linear.bias_grad), (w_grad, b_grad))
    v = rng.standard_normal(x.shape)
    _assert_same(crit.hvp(v, 0.7), oracle.hvp(v, 0.7))
    _assert_same(crit.hessian(0.7), oracle.hessian(0.7))


@pytest.mark.parametrize("name", HEADS)
def test_out_never_overlaps_the_layer_owned_now(name):
    """backward() uses the layer its forward call captured, yet ``out=`` must not
    overlap the layer the criterion owns now either (an owned parameter)."""
    rng = np.random.default_rng(6)
    x, t = _head_inputs(name, rng)
    crit = HEADS[name]()
    _, expected = copy.deepcopy(crit).forward_backward(x, t)
    crit(x, t)
    crit.linear.weight = np.zeros(x.shape)  # shaped like the gradient
    with pytest.raises(ValueError, match="share memory"):
        crit.backward(out=crit.linear.weight)
    np.testing.assert_array_equal(crit.linear.weight, 0.0)
    out = np.empty_like(x)
    assert crit.backward(out=out) is out
    _assert_same(out, expected)


def test_option_arrays_written_in_place_are_seen_like_the_inputs():
    """On the NumPy path an option array, like an input, is kept by reference
    (documented): a write into it between forward and backward is seen."""
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    w = rng.uniform(0.5, 2.0, 4)
    crit = lf.CrossEntropyLoss(weight=w)
    crit(x, t)
    w *= 3.0
    _, expected = lf.CrossEntropyLoss(weight=w.copy()).forward_backward(x, t)
    _assert_same(crit.backward(), expected)


# ----------------------------------------------------------------------------
# Pickles carry configuration, not saved state
# ----------------------------------------------------------------------------

BIG = (4096, 1000)


def _big_call(name):
    """(criterion, inputs) of one loss at 4096 x 1000 (CTC: T=50, N=64, C=1000)."""
    rng = np.random.default_rng(0)
    if name in HEADS:
        crit = {"LinearCrossEntropyLoss": lf.LinearCrossEntropyLoss,
                "LinearBCEWithLogitsLoss": lf.LinearBCEWithLogitsLoss}[name](BIG[1], 10, bias=True)
        x = rng.standard_normal(BIG).astype(np.float32)
        t = (rng.integers(0, 10, BIG[0]) if name == "LinearCrossEntropyLoss"
             else rng.integers(-1, 10, (BIG[0], 3)))
        return crit, (x, t)
    row = next(r for r in LOSSES if r.name == name)
    shape = (50, 64, 1000) if row.family == "ctc" else BIG
    opts = valid_options(row, np.float32, shape=shape)
    return row.cls(**opts), valid_inputs(row, np.float32, shape=shape)


NAMES = [row.name for row in LOSSES] + list(HEADS)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
@pytest.mark.parametrize("name", NAMES)
def test_pickles_carry_configuration_not_saved_state(name):
    cloudpickle = pytest.importorskip("cloudpickle")
    crit, inputs = _big_call(name)
    sizes = {"pickle": len(pickle.dumps(crit)), "cloudpickle": len(cloudpickle.dumps(crit))}
    crit.forward_backward(*inputs)
    crit(*inputs)
    # the configuration holds at most a weight per class (and the heads' layer)
    config_bytes = 64 * 1024 + (crit.linear.weight.nbytes if name in HEADS else 0)
    assert sizes["pickle"] <= config_bytes
    assert sum(np.asarray(a).nbytes for a in inputs) > 100 * config_bytes
    assert len(pickle.dumps(crit)) == sizes["pickle"]
    assert len(cloudpickle.dumps(crit)) == sizes["cloudpickle"]
    for clone in (pickle.loads(pickle.dumps(crit)), copy.deepcopy(crit),
                  cloudpickle.loads(cloudpickle.dumps(crit))):
        with pytest.raises(RuntimeError, match=r"backward\(\) was called before any forward"):
            clone.backward()
        if name in HEADS:
            assert clone.linear.weight_grad is None and clone.linear.bias_grad is None
    # the original is untouched by being pickled
    assert crit._saved is not None
    crit.backward()


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
@pytest.mark.parametrize("row", LOSSES, ids=repr)
def test_pickle_deepcopy_and_cloudpickle_keep_the_configuration(row):
    cloudpickle = pytest.importorskip("cloudpickle")
    dtype = np.float64
    inputs = valid_inputs(row, dtype)
    crit = row.cls(**valid_options(row, dtype), reduction=row.reductions[-1])
    expected = crit.forward_backward(*inputs)
    for clone in (pickle.loads(pickle.dumps(crit)), copy.deepcopy(crit),
                  cloudpickle.loads(cloudpickle.dumps(crit))):
        assert repr(clone) == repr(crit)
        _assert_same(clone.forward_backward(*inputs), expected)
        _assert_same(clone.backward(), expected[1:])


@pytest.mark.parametrize("name", HEADS)
def test_fused_head_pickles_keep_the_layer(name):
    rng = np.random.default_rng(4)
    x, t = _head_inputs(name, rng)
    crit = HEADS[name]()
    expected = crit.forward_backward(x, t)
    clone = pickle.loads(pickle.dumps(crit))
    np.testing.assert_array_equal(clone.linear.weight, crit.linear.weight)
    np.testing.assert_array_equal(clone.linear.bias, crit.linear.bias)
    assert clone.linear.weight_grad is None and crit.linear.weight_grad is not None
    _assert_same(clone.forward_backward(x, t), expected)
    # a deep copy owns its layer: training the copy leaves the original alone
    deep = copy.deepcopy(crit)
    deep.linear.weight -= 1.0
    assert not np.shares_memory(deep.linear.weight, crit.linear.weight)
    _assert_same(crit.forward_backward(x, t), expected)


# ----------------------------------------------------------------------------
# Integers that no index array can hold
# ----------------------------------------------------------------------------

HUGE = [2**70, -(2**70), 2**63, 2**64]


def _class_input(rng):
    return rng.standard_normal((3, 4))


#: name -> (the function named in the error, the call); the classes name their function
CLASS_CALLS = {
    "cross_entropy": ("cross_entropy", lambda x, t: F.cross_entropy(x, t)),
    "nll_loss": ("nll_loss", lambda x, t: F.nll_loss(x, t)),
    "multi_margin_loss": ("multi_margin_loss", lambda x, t: F.multi_margin_loss(x, t)),
    "CrossEntropyLoss": ("cross_entropy", lambda x, t: lf.CrossEntropyLoss()(x, t)),
    "NLLLoss": ("nll_loss", lambda x, t: lf.NLLLoss().forward_backward(x, t)),
    "MultiMarginLoss": ("multi_margin_loss",
                        lambda x, t: lf.MultiMarginLoss().forward_backward(x, t)),
    "linear_cross_entropy": ("linear_cross_entropy",
                             lambda x, t: F.linear_cross_entropy(x, np.ones((5, 4)), t)),
}


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("call", CLASS_CALLS)
def test_huge_python_int_target_is_an_index_error(call, value):
    """A Python int beyond int64 (NumPy makes an object array, or, next to a small
    int, a float64 one that rounds it) is an out-of-range class: IndexError naming
    the argument, the value and where it is."""
    fname, fn = CLASS_CALLS[call]
    x = _class_input(np.random.default_rng(0))
    with pytest.raises(IndexError, match=rf"^{fname}: target holds the integer {value} at "
                                         r"index 1, which does not fit in int64"):
        fn(x, [0, value, 2])
    if value >= 2**64 or value < 0:  # alone, 2**63 is a uint64: the core's range check
        with pytest.raises(IndexError, match=rf"^{fname}: target holds the integer {value}, "):
            fn(x[0], value)


def test_huge_int_targets_of_every_index_argument():
    x = np.zeros((2, 3))
    with pytest.raises(IndexError, match=r"^cross_entropy: target holds the integer "
                                         rf"{2**70}, which does not fit in int64"):
        F.cross_entropy(x, 2**70)
    with pytest.raises(IndexError, match=rf"multilabel_margin_loss: target holds the integer "
                                         rf"{2**70} at index \(1, 0\)"):
        F.multilabel_margin_loss(x, [[0, -1, 0], [2**70, -1, 0]])
    lp = np.log(np.full((4, 1, 3), 1 / 3))
    for arg, args in {"targets": ([[1, 2**70]], [4], [2]),
                      "input_lengths": ([[1, 2]], [2**70], [2]),
                      "target_lengths": ([[1, 2]], [4], [-(2**70)])}.items():
        with pytest.raises(IndexError, match=rf"ctc_loss: {arg} holds the integer"):
            F.ctc_loss(lp, *args)
    with pytest.raises(IndexError, match="linear_binary_cross_entropy_with_logits: target holds"):
        F.linear_binary_cross_entropy_with_logits(x, np.ones((5, 3)), [[0], [2**70]])


def test_huge_int_target_touches_no_memory():
    x = np.random.default_rng(1).standard_normal((3, 4))
    out = np.full_like(x, 7.0)
    crit = lf.CrossEntropyLoss()
    with pytest.raises(IndexError):
        crit.forward_backward(x, [0, 2**70, 1], out=out)
    np.testing.assert_array_equal(out, 7.0)
    with pytest.raises(RuntimeError):  # the failed call saved nothing
        crit.backward()


def test_integer_lists_that_fit_are_unchanged():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    t = [0, 3, 2]
    np.testing.assert_array_equal(F.cross_entropy(x, t), F.cross_entropy(x, np.array(t)))
    big = [2**63 - 1]  # fits in int64: the core's range check, as before
    with pytest.raises(IndexError, match=rf"class {2**63 - 1}"):
        F.cross_entropy(x[:1], big)
    # a float among them makes float (or object) targets: the dtype error, as before
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(x, [0, 2**70, 1.0])
    np.testing.assert_array_equal(F.mse_loss(x[0], [1, 2, 3, 4]),
                                  F.mse_loss(x[0], np.array([1.0, 2.0, 3.0, 4.0])))


def test_a_pickle_of_an_earlier_version_loses_its_saved_inputs():
    """Earlier versions pickled the inputs as ``_saved``: unpickled now, they are
    dropped, and the criterion waits for a forward call."""
    crit = lf.MSELoss(reduction="sum")
    state = {k: v for k, v in crit.__dict__.items() if k != "_last"}
    state["_saved"] = (np.ones(3), np.zeros(3))
    old = lf.MSELoss.__new__(lf.MSELoss)
    old.__setstate__(state)
    assert "_saved" not in old.__dict__ and old.reduction == "sum"
    with pytest.raises(RuntimeError, match="before any forward call"):
        old.backward()


def test_huge_ints_in_a_float_argument_say_to_pass_floats():
    """The conversion cannot know the argument's kind: integers beyond int64 are the
    IndexError everywhere, with the way out; as floats they are taken."""
    x = np.zeros(2)
    with pytest.raises(IndexError, match=r"^mse_loss: target holds the integer .* at index 1, "
                                         r".*\(pass floats for real values\)"):
        F.mse_loss(x, [1, 2**70])
    np.testing.assert_array_equal(F.mse_loss(x, [1.0, float(2**70)], reduction="sum"),
                                  F.mse_loss(x, np.array([1.0, 2.0**70]), reduction="sum"))
