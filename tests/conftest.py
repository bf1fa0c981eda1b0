"""pytest configuration: markers and fixtures only.

The helpers live in plain modules (``helpers.py``, torch-free; ``oracle.py``, the
torch oracle).  This file must import neither torch nor scikit-learn: the
torch-free tier (``python -m pytest -m "not torch and not sklearn"``) runs on
Pythons where torch 2.13 does not exist.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import LAYOUTS

HERE = Path(__file__).resolve().parent

# The optional oracles, each a marker: a module that needs one says so with
# `pytestmark = pytest.mark.torch` (or sklearn).
ORACLE_MARKERS = ("torch", "sklearn", "dask", "boosting")
#: the modules behind each marker (boosting: the libraries of pylossfn[boosting];
#: its scipy is not on the list, the scikit-learn oracle brings scipy along)
MARKER_MODULES = {
    "torch": ("torch",), "sklearn": ("sklearn",), "dask": ("dask",),
    "boosting": ("xgboost", "lightgbm", "catboost"),
}
_MARKER_OF = {mod: mark for mark, mods in MARKER_MODULES.items() for mod in mods}
_PYTESTMARK = re.compile(r"^pytestmark\s*=(.*)$", re.M)
_TOP_IMPORT = re.compile(
    r"^(?:import|from)\s+(" + "|".join(_MARKER_OF) + r")\b", re.M)
_LOCAL_IMPORT = re.compile(r"^(?:import|from)\s+(\w+)", re.M)


def pytest_configure(config):
    # registered here, not in an ini file: the runner copies tests/ into a
    # temporary directory with an ini of its own
    config.addinivalue_line("markers", "torch: needs torch 2.13 (the oracle)")
    config.addinivalue_line("markers", "sklearn: needs scikit-learn (the metrics oracle)")
    config.addinivalue_line(
        "markers", "dask: runs graphs on a local dask.distributed cluster (pylossfn[dask])")
    config.addinivalue_line(
        "markers", "boosting: trains XGBoost, LightGBM, CatBoost or uses SciPy (pylossfn[boosting])")


def module_markers(path, _seen=None):
    """The oracle markers a test or helper module needs, read from its source
    and from the sibling modules it imports (read, not imported: importing is
    what must not happen when they are deselected)."""
    seen = set() if _seen is None else _seen
    seen.add(path)
    text = path.read_text(encoding="utf-8")
    marks = {_MARKER_OF[m] for m in _TOP_IMPORT.findall(text)} | declared_markers(path)
    for name in _LOCAL_IMPORT.findall(text):
        sibling = path.parent / f"{name}.py"
        if sibling.is_file() and sibling not in seen:
            marks |= module_markers(sibling, seen)
    return marks


def deselected(config, marks):
    """True if the -m expression deselects a test carrying exactly `marks`."""
    expr = config.getoption("markexpr", "")
    if not expr:
        return False
    from _pytest.mark.expression import Expression

    return not Expression.compile(expr).evaluate(lambda name, **kw: name in marks)


def declared_markers(path):
    """The oracle markers of a module's own `pytestmark = ...` line."""
    marks = set()
    for line in _PYTESTMARK.findall(path.read_text(encoding="utf-8")):
        marks.update(m for m in re.findall(r"pytest\.mark\.(\w+)", line) if m in ORACLE_MARKERS)
    return marks


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix != ".py" or collection_path.resolve().parent != HERE:
        return None
    marks = module_markers(collection_path)
    if collection_path.name.startswith("test_"):
        missing = marks - declared_markers(collection_path)
        if missing:
            raise pytest.UsageError(
                f"{collection_path.name} needs {', '.join(sorted(missing))} (it imports it, "
                f"itself or through a helper module) but its pytestmark does not say so")
    # a module whose oracle is deselected is not even imported (nor by
    # --doctest-modules), so that the torch-free tier runs without torch
    if marks and deselected(config, marks):
        return True
    return None


def pytest_collection_finish(session):
    for name in ORACLE_MARKERS:
        imported = [m for m in MARKER_MODULES[name] if m in sys.modules]
        if deselected(session.config, {name}) and imported:
            raise pytest.UsageError(
                f"{imported[0]} was imported although -m deselects it: a collected module "
                f"imports it in a way conftest.module_markers does not see")
    # one intra-op thread for the oracle, whichever module imported torch first
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@pytest.fixture(params=LAYOUTS)
def layout(request):
    return request.param


@pytest.fixture
def rng(request):
    # A per-test seed that is stable across runs but differs between tests.
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)
