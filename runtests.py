#!/usr/bin/env python3
"""Run the test suite against the *installed* pylossfn, from outside the source tree.

    python runtests.py [--no-torch] [pytest arguments ...]

The tests, and the examples, notebooks and docs they execute, are copied side
by side into a temporary directory and pytest runs there, with the doctests
of the installed package (``--doctest-modules --pyargs pylossfn``).  Nothing
on ``sys.path`` then leads back to this checkout: what is tested is what
``pip install`` put in site-packages, which is how a broken wheel (one that
lacked a subpackage) once passed every test while no user could import it.
The run is refused when ``pylossfn`` resolves into this checkout (an
editable install, or no install at all).

``--no-torch`` runs the tiers that need neither torch, scikit-learn, dask nor the
boosting libraries (for Pythons that torch 2.13's CPU build does not exist for).  pytest's exit code
is passed on, except that "no tests ran" (5) is a failure here.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# what the tests open by path, relative to their own directory's parent (csrc: the C
# sources' own rules, tests/test_c_style.py; tools: the stub generator, tests/test_stubs.py;
# README.md: its table of losses, tests/test_table_faces.py)
COPIED = ("tests", "examples", "notebooks", "docs", "csrc", "tools", "README.md")
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".hypothesis", "build", "_build", "output", "*.so"
)
PYTEST_INI = """\
[pytest]
testpaths = tests
addopts = -ra
"""


def installed_location(cwd: Path) -> Path:
    """Where ``import pylossfn`` leads from ``cwd`` (in a fresh interpreter)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import pylossfn; print(pylossfn.__file__)"],
        cwd=cwd, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        sys.exit(
            "runtests.py: pylossfn is not importable outside the source tree; install it "
            "first (pip install \".[test,examples]\"):\n" + proc.stderr
        )
    return Path(proc.stdout.strip()).resolve().parent


def main(argv: list[str]) -> int:
    no_torch = "--no-torch" in argv
    args = [a for a in argv if a != "--no-torch"]
    with tempfile.TemporaryDirectory(prefix="pylossfn-tests-") as tmp:
        work = Path(tmp)
        pkg = installed_location(work)
        if pkg == ROOT / "pylossfn":
            sys.exit(
                f"runtests.py: pylossfn is imported from the checkout ({pkg}), not from an "
                "installation; install it as users do: pip install \".[test,examples]\""
            )
        for name in COPIED:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, work / name, ignore=IGNORED)
            elif (ROOT / name).is_file():
                shutil.copy2(ROOT / name, work / name)
        (work / "pytest.ini").write_text(PYTEST_INI)
        print(f"runtests.py: testing pylossfn installed at {pkg}", flush=True)
        cmd = [
            sys.executable, "-m", "pytest", "-c", str(work / "pytest.ini"),
            "--rootdir", str(work), "-p", "no:cacheprovider", "--doctest-modules",
            *(["-m", "not torch and not sklearn and not dask and not boosting"] if no_torch else []),
            *args,
        ]
        if not any(a.startswith("tests") for a in args):  # the whole suite by default
            cmd += ["tests", "--pyargs", "pylossfn"]
        status = subprocess.call(cmd, cwd=work, env={**os.environ, "PYTHONSAFEPATH": "1"})
    if status == 5:
        print("runtests.py: pytest collected no tests; that is a failure", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
