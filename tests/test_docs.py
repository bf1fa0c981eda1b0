"""The documentation and typing contract of the public API.

- mypy passes over the package (config in pyproject.toml), and the stubs of
  the C extension list every function the extension has;
- every public name has a docstring with a runnable example (the examples
  themselves run as doctests: pytest --doctest-modules over pylossfn/);
- repr() of a loss shows exactly its non-default options, as torch's
  extra_repr does.
"""
from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pylossfn as lf
import pylossfn._core as core
import pylossfn.functional as F
from pylossfn import boosting, metrics

PKG = Path(lf.__file__).resolve().parent


# ---------------------------------------------------------------------------
# Typing
# ---------------------------------------------------------------------------


def test_mypy_passes(tmp_path):
    # mypy reads the sources and stubs, never the built extension, so a
    # sanitizer runtime preloaded into this process has no business in it
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
    config = Path(__file__).resolve().parent / "mypy.ini"
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config),
         "--cache-dir", str(tmp_path / "mypy_cache"), "-p", "pylossfn"],
        # installed: found on sys.path from anywhere; a developer's in-tree build
        # (editable, an import hook mypy cannot follow) is found from the checkout
        cwd=tmp_path if "site-packages" in PKG.parts else PKG.parent,
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"mypy failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Success" in proc.stdout, proc.stdout


def _stub_names():
    tree = ast.parse((PKG / "_core.pyi").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_core_stub_lists_every_function_of_the_extension():
    runtime = {n for n in dir(core) if not n.startswith("__")}
    stubs = {n for n in _stub_names() if not n.startswith("_") or n in runtime}
    assert runtime - stubs == set(), "functions of pylossfn._core missing from _core.pyi"
    assert stubs - runtime == set(), "_core.pyi declares names the extension does not have"


def test_core_stub_arity_matches_the_docstrings_of_the_extension():
    # each C function's docstring starts with its signature: name(a, b[, c])
    tree = ast.parse((PKG / "_core.pyi").read_text())
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        doc = getattr(core, node.name).__doc__.split(":")[0]
        inside = doc[doc.index("(") + 1 : doc.rindex(")")]
        required = [a for a in inside.split("[")[0].split(",") if a.strip()]
        optional = inside.count("[")
        args = node.args.posonlyargs + node.args.args
        n_default = len(node.args.defaults)
        assert (len(args) - n_default, n_default) == (len(required), optional), (
            f"_core.pyi {node.name}: {len(args)} parameters, extension documents {doc}"
        )


def test_package_is_marked_typed():
    assert (PKG / "py.typed").is_file()


# ---------------------------------------------------------------------------
# Docstrings
# ---------------------------------------------------------------------------


def _public(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n for n, v in vars(module).items()
            if not n.startswith("_") and callable(v) and getattr(v, "__module__", "") == module.__name__
        ]
    return [(f"{module.__name__}.{n}", getattr(module, n)) for n in names]


PUBLIC = _public(lf) + _public(F) + _public(metrics) + _public(boosting)
ALL_LOSSES = [obj for _, obj in _public(lf) if inspect.isclass(obj) and issubclass(obj, lf.Loss)
              and obj is not lf.Loss]
# The fused heads own a linear layer: in_features and num_classes are required, as in
# torch, so the zero-argument construction of the option/repr tables below does not
# apply to them (their repr and options are tested in test_linear_head.py).
HEADS = (lf.LinearCrossEntropyLoss, lf.LinearBCEWithLogitsLoss)
LOSSES = [cls for cls in ALL_LOSSES if cls not in HEADS]


def test_the_public_lists_are_not_empty():
    assert len(LOSSES) >= 25 and len(ALL_LOSSES) == len(LOSSES) + len(HEADS)
    assert len(_public(F)) >= 30 and len(_public(metrics)) >= 15


@pytest.mark.parametrize("name,obj", PUBLIC, ids=[n for n, _ in PUBLIC])
def test_public_name_has_a_docstring_with_an_example(name, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    assert ">>>" in doc, f"{name}'s docstring has no example"


@pytest.mark.parametrize("cls", ALL_LOSSES, ids=lambda c: c.__name__)
def test_loss_docstring_gives_the_formula_and_the_shapes(cls):
    doc = inspect.getdoc(cls)
    # a formula: ``l = ...`` (or a named cost) written out, not only a reference
    assert "l = " in doc or "cost_c = " in doc, f"{cls.__name__}: no formula"
    assert "Shapes" in doc, f"{cls.__name__}: no shapes"


def test_loss_methods_are_documented():
    for meth in ("forward", "backward", "forward_backward", "hessian", "hvp"):
        assert inspect.getdoc(getattr(lf.Loss, meth)), meth


# ---------------------------------------------------------------------------
# repr: torch's extra_repr convention
# ---------------------------------------------------------------------------


def _other_value(cls, name, default):
    """A valid non-default value for the option ``name`` of ``cls``."""
    if name == "reduction":
        return "none" if default != "none" else "sum"
    if name in ("weight", "pos_weight"):
        return np.array([1.0, 2.0])
    if name == "distance_function":
        return F.cosine_distance
    if name == "mode":
        return "binary"  # DiceLoss: "multilabel" by default
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1  # MultiMarginLoss p: 1 -> 2, ignore_index, blank
    if isinstance(default, float):
        return default + 0.5  # valid for every margin, eps, smoothing, clip here
    raise AssertionError(f"{cls.__name__}.{name}: no rule for a default of {default!r}")


def _options(cls):
    params = inspect.signature(cls.__init__).parameters
    return [(n, p.default) for n, p in params.items() if n != "self"]


def test_every_loss_option_has_a_default():
    for cls in LOSSES:
        for name, default in _options(cls):
            assert default is not inspect.Parameter.empty, f"{cls.__name__}.{name}"


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_repr_of_defaults_is_bare(cls):
    assert repr(cls()) == f"{cls.__name__}()"


REPR_CASES = [(cls, name, default) for cls in LOSSES for name, default in _options(cls)]


@pytest.mark.parametrize(
    "cls,name,default", REPR_CASES, ids=[f"{c.__name__}-{n}" for c, n, _ in REPR_CASES]
)
def test_repr_shows_exactly_the_changed_option(cls, name, default):
    value = _other_value(cls, name, default)
    crit = cls(**{name: value})
    text = repr(crit)
    assert text == f"{cls.__name__}({name}={value!r})"
    # the repr names a real attribute holding the value, as torch's does
    held = getattr(crit, name)
    if isinstance(value, np.ndarray):
        np.testing.assert_array_equal(held, value)
    else:
        assert held == value


def test_repr_lists_several_changed_options_in_signature_order():
    crit = lf.CrossEntropyLoss(label_smoothing=0.1, reduction="sum")
    assert repr(crit) == "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"
    crit.reduction = "mean"  # back to the default: no longer shown
    assert repr(crit) == "CrossEntropyLoss(label_smoothing=0.1)"
