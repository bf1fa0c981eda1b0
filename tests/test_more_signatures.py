"""The signatures of the losses beyond torch.nn, as the project's contract writes them.

torch has no class to compare these with (tests/test_regression.py compares
torch.nn's), so the expected parameter lists are the contract's "More losses"
section, written out: names, order, defaults and which are keyword-only.
A marker the contract does not have (a ``*`` that refuses
``DiceLoss("multiclass", 0.0)``) fails here.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import pylossfn as lf
import pylossfn.functional as F

P, K = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
DICE = [("mode", "multilabel", P), ("smooth", 1.0, P), ("alpha", 0.5, P), ("beta", 0.5, P),
        ("weight", None, P), ("per_sample", False, P), ("reduction", "mean", P)]
GDICE = [("smooth", 1.0, P), ("per_sample", False, P), ("reduction", "mean", P)]
POLY_CE = [("epsilon", 1.0, P), ("weight", None, P), ("ignore_index", -100, P),
           ("reduction", "mean", P), ("label_smoothing", 0.0, P)]
POLY_BCE = [("epsilon", 1.0, P), ("weight", None, P), ("reduction", "mean", P),
            ("pos_weight", None, P)]
DISTILL = [("temperature", 1.0, P), ("reduction", "batchmean", P)]
MEAN = [("reduction", "mean", P)]
INPUTS = [("input", inspect.Parameter.empty, P), ("target", inspect.Parameter.empty, P)]

CASES = [
    (lf.DiceLoss, DICE), (F.dice_loss, INPUTS + DICE),
    (lf.GeneralizedDiceLoss, GDICE), (F.generalized_dice_loss, INPUTS + GDICE),
    (lf.PolyCrossEntropyLoss, POLY_CE), (F.poly_cross_entropy, INPUTS + POLY_CE),
    (lf.PolyBCEWithLogitsLoss, POLY_BCE),
    (lf.DistillationLoss, DISTILL), (F.distillation_loss, INPUTS + DISTILL),
    (lf.LogCoshLoss, MEAN), (F.log_cosh_loss, INPUTS + MEAN),
    (lf.SparsemaxLoss, MEAN), (F.sparsemax_loss, INPUTS + MEAN),
    (F.sparsemax, [("input", inspect.Parameter.empty, P), ("dim", -1, P)]),
    (lf.class_weights, [("target", inspect.Parameter.empty, P),
                        ("method", "inverse_frequency", P), ("beta", 0.999, P),
                        ("num_classes", None, P)]),
]


def _params(obj):
    sig = inspect.signature(inspect.unwrap(obj))
    return [(p.name, p.default, p.kind) for p in sig.parameters.values()
            if p.name != "self"]


@pytest.mark.parametrize("obj, expected", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_signature_is_the_contracts(obj, expected):
    assert _params(obj) == expected


@pytest.mark.parametrize("cls", [lf.BCELoss, lf.BCEWithLogitsLoss])
def test_label_smoothing_is_keyword_only_after_torchs(cls):
    params = inspect.signature(cls).parameters
    assert params["label_smoothing"].kind is K and params["label_smoothing"].default == 0.0
    assert list(params)[-1] == "label_smoothing"


def test_positional_options_mean_the_keywords():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((6, 4, 3)), rng.integers(0, 4, (6, 3))
    by_name = F.dice_loss(x, t, mode="multiclass", smooth=0.5, alpha=0.3, beta=0.7,
                          per_sample=True, reduction="none")
    np.testing.assert_array_equal(
        F.dice_loss(x, t, "multiclass", 0.5, 0.3, 0.7, None, True, "none"), by_name)
    np.testing.assert_array_equal(
        lf.DiceLoss("multiclass", 0.5, 0.3, 0.7, None, True, "none")(x, t), by_name)
    np.testing.assert_array_equal(lf.GeneralizedDiceLoss(0.5, True, "none")(x, t),
                                  F.generalized_dice_loss(x, t, smooth=0.5, per_sample=True,
                                                          reduction="none"))
