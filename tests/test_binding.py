"""The binding layer's own promises: options validated when a criterion is
built (torch's module_db error samples), out= for every gradient, gradients
of broadcast operands folded back in C, and the validate-only call."""
import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import pylossfn as lf
import pylossfn.functional as F
from pylossfn import _core

pytestmark = pytest.mark.torch

# -- validated at construction, as torch's modules are ------------------------

def test_complex_option_refused_at_construction():
    # torch's module_db error sample: HuberLoss(delta=1+0j) raises TypeError
    with pytest.raises(TypeError, match=r"huber_loss: delta must be a real number, got complex"):
        lf.HuberLoss(delta=1 + 0j)


def test_class_weight_of_another_precision_refused():
    # torch's module_db error sample: a float16 class weight on a float64 input,
    # refused at the call, as torch's (the constructor has no input to match)
    crit = lf.NLLLoss(weight=np.ones(3, np.float16))
    with pytest.raises(TypeError, match=r"weight must be a float32 or float64 array \(half "
                       r"only with a half input\), got dtype float16"):
        crit(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(TypeError, match=r"float16"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), weight=np.ones(3, np.float16))
    with pytest.raises(TypeError, match=r"longdouble|float128"):
        lf.NLLLoss(weight=np.ones(3, np.longdouble))
    # float32 and float64 mix as before: computed in the input's dtype
    loss = lf.NLLLoss(weight=np.ones(3, np.float32))(np.zeros((2, 3)), np.array([0, 1]))
    assert loss.dtype == np.float64


@pytest.mark.parametrize("make, exc", [
    (lambda: lf.TripletMarginLoss(margin=0.0), ValueError),
    (lambda: lf.MultiMarginLoss(p=3), ValueError),
    (lambda: lf.MultiMarginLoss(weight=np.ones((1, 3))), ValueError),
    (lambda: lf.CrossEntropyLoss(label_smoothing=1.5), ValueError),
    (lambda: lf.SmoothL1Loss(beta=-1.0), ValueError),
    (lambda: lf.SigmoidFocalLoss(gamma=-1.0), ValueError),
    (lambda: lf.AsymmetricLoss(clip=1.0), ValueError),
    (lambda: lf.NLLLoss(ignore_index=1.5), TypeError),
    (lambda: lf.CTCLoss(blank="0"), TypeError),
    (lambda: lf.BCELoss(weight=np.ones(2, np.int64)), TypeError),
])
def test_bad_options_refused_at_construction(make, exc):
    with pytest.raises(exc):
        make()


def test_validate_only_call_returns_none():
    assert _core.huber_loss(None, None, None, 1.0, 1, 0, None) is None
    with pytest.raises(ValueError, match="delta must be > 0"):
        _core.huber_loss(None, None, None, 0.0, 1, 0, None)


# -- out= for every gradient ---------------------------------------------------

def test_out_for_a_loss_with_two_gradients():
    rng = np.random.default_rng(0)
    x1, x2, y = rng.random((4, 3)), rng.random((1, 3)), np.sign(rng.random((4, 3)) - 0.5)
    o1, o2 = np.empty((4, 3)), np.empty((1, 3))
    crit = lf.MarginRankingLoss(margin=0.1)
    loss, (g1, g2) = crit.forward_backward(x1, x2, y, out=(o1, o2))
    assert g1 is o1 and g2 is o2
    want = crit.forward_backward(x1, x2, y)[1]
    np.testing.assert_array_equal(g1, want[0])
    np.testing.assert_array_equal(g2, want[1])
    with pytest.raises(TypeError, match=r"out must be a tuple of 2 arrays"):
        crit.backward(out=o1)


def test_out_untouched_when_the_call_fails():
    out = np.full((2, 3), 7.0)
    crit = lf.MultiMarginLoss()
    with pytest.raises(IndexError):
        crit.forward_backward(np.zeros((2, 3)), np.array([0, 5]), out=out)
    assert (out == 7.0).all()


# -- gradients of broadcast operands fold back in C ----------------------------

def test_fold_matches_torch_for_broadcast_embedding_operands():
    rng = np.random.default_rng(1)
    a = rng.random((4, 3)).astype(np.float32)
    p, n = rng.random((1, 3)), rng.random(3)[None, :].repeat(4, 0)
    crit = lf.TripletMarginLoss(margin=0.5)
    _, (ga, gp, gn) = crit.forward_backward(a, p, n)
    assert (ga.dtype, gp.dtype, gp.shape) == (np.float32, np.float64, (1, 3))
    ta, tp, tn = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, p, n))
    torch.nn.functional.triplet_margin_loss(ta, tp, tn, margin=0.5).backward()
    np.testing.assert_allclose(gp, tp.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gn, tn.grad.numpy(), rtol=1e-6)


def test_fold_sums_unit_axes():
    rng = np.random.default_rng(2)
    x, t = rng.random((2, 3, 4)), rng.random((3, 1))
    var = rng.random((2, 3, 1)) + 0.5  # homoscedastic: one dim of size 1
    _, (gx, gv) = lf.GaussianNLLLoss(reduction="sum").forward_backward(x, t, var)
    assert gv.shape == (2, 3, 1)
    tx, tv = (torch.tensor(v, requires_grad=True) for v in (x, var))
    torch.nn.functional.gaussian_nll_loss(tx, torch.tensor(t), tv, reduction="sum").backward()
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gv, tv.grad.numpy(), rtol=1e-12)


# -- one table: the specs the parser reads, exported (issue 19) ---------------

def test_losses_has_a_row_per_entry_point_in_order_of_the_docstrings():
    names = [row["name"] for row in _core.LOSSES]
    assert len(names) == len(set(names))
    runtime = {n for n in dir(_core) if not n.startswith("_") and callable(getattr(_core, n))}
    assert runtime - set(names) == {"set_num_threads", "get_num_threads"}
    for row in _core.LOSSES:
        protocol = [] if row["plain"] else ["reduction", "want", "grad_output"]
        args = [a["name"] for a in row["args"]] + protocol
        out = "[, out]" if row["out"] else ""
        assert getattr(_core, row["name"]).__doc__ == f"{row['name']}({', '.join(args)}{out})"
        assert (row["ngrad"] == 0) == row["plain"]
        assert not (row["plain"] and (row["out"] or row["batchmean"]))


def test_losses_rows_match_the_stub_signatures():
    tree = ast.parse((Path(_core.__file__).parent / "_core.pyi").read_text())
    stubs = {n.name: [a.arg for a in n.args.posonlyargs + n.args.args]
             for n in tree.body if isinstance(n, ast.FunctionDef)}
    for row in _core.LOSSES:
        tail = ([] if row["plain"] else ["reduction", "want", "grad_output"]) + (
            ["out"] if row["out"] else [])
        assert stubs[row["name"]] == [a["name"] for a in row["args"]] + tail, row["name"]


def test_losses_rows_describe_what_the_parser_checks():
    rows = {row["name"]: row for row in _core.LOSSES}
    ce = rows["cross_entropy"]
    assert [(a["name"], a["kind"]) for a in ce["args"]] == [
        ("input", "input"), ("target", "array"), ("weight", "float"),
        ("ignore_index", "index_option"), ("label_smoothing", "real_option")]
    assert ce["args"][4]["check"] == "unit" and ce["fname"] == "cross_entropy"
    assert rows["bce_with_logits"]["fname"] == "binary_cross_entropy_with_logits"
    assert rows["kl_div"]["batchmean"] and not rows["l1_loss"]["batchmean"]
    assert [rows[n]["ngrad"] for n in ("mse_loss", "gaussian_nll_loss", "margin_ranking_loss",
                                       "cosine_embedding_loss", "triplet_margin_loss",
                                       "softmax")] == [1, 2, 2, 2, 3, 0]
    # the validate-only call reports the option by the row's name
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\]"):
        _core.cross_entropy(None, None, None, -100, 2.0, 1, 0, None)


# -- the tile kernels' own argument checks (binding/linear.c's descriptors) -----

def _lce_args(rows=3, C=4):
    tile = np.zeros((rows, C))
    stats = [np.zeros(rows) for _ in range(4)]
    # tile, c0, C, target, probs, weight, wsum, ignore_index, label_smoothing,
    # mode (0: the full row), grad, m, s, a, b, lse, rowscale
    return [tile, 0, C, np.zeros(rows, np.int64), None, None, 1.0, -100, 0.0, 0, 0,
            *stats, None, None]


def test_tile_kernels_check_every_array():
    args = _lce_args()
    assert _core._lce_tile(*args) is None
    for at, bad, exc, what in [
        (11, np.zeros(3, np.float32), ValueError, "m has the wrong dtype, shape or layout"),
        (12, np.zeros(2), ValueError, "s has the wrong dtype, shape or layout"),
        (3, [0, 1, 2], TypeError, "target must be an ndarray"),
        (13, np.zeros(6)[::2], ValueError, "a has the wrong dtype, shape or layout"),
        (5, np.ones(3), ValueError, "weight has the wrong dtype, shape or layout"),
    ]:
        call = list(args)
        call[at] = bad
        with pytest.raises(exc, match=f"_lce_tile: {what}"):
            _core._lce_tile(*call)
    read_only = np.zeros(3)
    read_only.flags.writeable = False
    call = list(args)
    call[14] = read_only
    with pytest.raises(ValueError, match="_lce_tile: b has the wrong dtype"):
        _core._lce_tile(*call)
    # the gradient mode needs lse
    call = list(args)
    call[9], call[10] = 2, 1
    call[16] = np.ones(3)
    with pytest.raises(TypeError, match="_lce_tile: lse must be an ndarray"):
        _core._lce_tile(*call)
    pos = np.zeros((3, 2), np.int64)
    lbce = [np.zeros((3, 4)), 0, 4, pos, None, np.zeros(3), None, None, None, 0]
    assert _core._lbce_tile(*lbce) is None
    lbce[3] = np.zeros((3, 4), np.int64)[:, ::2]
    with pytest.raises(ValueError, match="_lbce_tile: pos has the wrong dtype, shape or layout"):
        _core._lbce_tile(*lbce)
