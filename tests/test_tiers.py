"""The torch-free tier: `python -m pytest -m "not torch and not sklearn"` must run
on Pythons where torch 2.13 does not exist, so it must not import
torch (nor scikit-learn), not even through --doctest-modules or a helper module.

conftest.py leaves the modules of a deselected oracle uncollected and refuses
(a usage error) a collection that imported a deselected oracle anyway."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIER = "not torch and not sklearn and not dask and not boosting"  # runtests.py --no-torch


def _collect(tests, tmp_path):
    # an ini of our own (the runner brings its own too), with the most
    # importing option there is
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\naddopts = --doctest-modules\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-c", str(ini), "--rootdir", str(tests), "-m", TIER, str(tests)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)


def test_torch_free_tier_imports_neither_oracle(tmp_path):
    r = _collect(HERE, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    collected = [line for line in r.stdout.splitlines() if "::" in line]
    assert len(collected) > 100, r.stdout[-3000:]
    # the tier holds the oracle-free modules, and none of the oracle ones
    files = {line.split("::")[0].rsplit("/", 1)[-1] for line in collected}
    assert {"test_errors_matrix.py", "test_memory.py", "test_layouts.py", "test_threads.py",
            "test_tiers.py", "test_vecmath.py"} <= files, files
    assert not files & {"test_binary.py", "test_metrics.py", "test_boosting.py"}, files


def _copy_with(tmp_path, name, text):
    tests = tmp_path / "tests"
    shutil.copytree(HERE, tests, ignore=shutil.ignore_patterns("__pycache__", "c"))
    (tests / name).write_text(text)
    return tests


def test_tier_guard_catches_an_unmarked_module(tmp_path):
    """A test module that imports the oracle (here through a helper module)
    without saying so in its pytestmark fails the collection, in every tier."""
    tests = _copy_with(tmp_path, "test_unmarked.py", "from oracle import torch_ref\n\n\n"
                       "def test_nothing():\n    assert torch_ref\n")
    r = _collect(tests, tmp_path)
    assert r.returncode != 0
    assert "test_unmarked.py needs torch" in r.stdout + r.stderr


def test_tier_guard_catches_an_unmarked_boosting_module(tmp_path):
    """xgboost, lightgbm and catboost (pylossfn[boosting]) need the boosting marker."""
    tests = _copy_with(tmp_path, "test_unmarked_xgb.py", "import xgboost\n\n\n"
                       "def test_nothing():\n    assert xgboost\n")
    r = _collect(tests, tmp_path)
    assert r.returncode != 0
    assert "test_unmarked_xgb.py needs boosting" in r.stdout + r.stderr


def test_tier_guard_catches_a_hidden_import(tmp_path):
    """An import the source scan cannot see still fails the torch-free tier."""
    tests = _copy_with(tmp_path, "test_hidden.py", "import importlib\n\n"
                       "importlib.import_module('to' + 'rch')\n\n\n"
                       "def test_nothing():\n    pass\n")
    r = _collect(tests, tmp_path)
    assert r.returncode != 0
    # where torch is installed the guard reports the import; where it is not
    # (the 3.9 / 3.13 runs) the import itself fails the collection
    expected = ("torch was imported although -m deselects it"
                if importlib.util.find_spec("torch") else "No module named 'torch'")
    assert expected in r.stdout + r.stderr
