"""The package as users install it: version, build report, contents, linkage."""
from __future__ import annotations

import importlib
import io
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import pylossfn as lf

PKG = Path(lf.__file__).resolve().parent


def test_version_is_the_installed_metadata_version():
    assert lf.__version__ == metadata.version("pylossfn")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", lf.__version__)


def test_show_config_reports_what_a_bug_report_needs():
    buf = io.StringIO()
    lf.show_config(file=buf)
    fields = dict(
        (k.strip(), v.strip())
        for k, v in (line.split(": ", 1) for line in buf.getvalue().splitlines()[1:])
    )
    assert buf.getvalue().splitlines()[0] == f"pylossfn {lf.__version__}"
    assert fields["python"].split()[0] == sys.version.split()[0]
    assert fields["numpy (run)"] == np.__version__
    # built against NumPy 2 headers, whatever NumPy it runs with
    assert int(fields["numpy (build)"].split(".")[0]) >= 2
    assert fields["compiler"].split()[0] in ("gcc", "clang", "msvc")
    assert fields["instruction set"] in ("baseline (SSE2 on x86-64)", "AVX2 + FMA", "AVX-512")
    assert int(fields["threads"]) == lf.get_num_threads()


def test_show_config_prints_to_stdout(capsys):
    lf.show_config()
    assert capsys.readouterr().out.startswith(f"pylossfn {lf.__version__}\n")


def test_every_module_imports_and_is_recorded():
    if "site-packages" not in PKG.parts:
        pytest.skip("an in-tree (editable) build records no package files; runtests.py "
                    "tests an installed wheel")
    names = {m.name for m in pkgutil.walk_packages([str(PKG)], "pylossfn.")}
    assert {"pylossfn.functional", "pylossfn.metrics", "pylossfn.modules",
            "pylossfn.modules._base", "pylossfn._core"} <= names
    recorded = {str(f) for f in metadata.files("pylossfn") or ()}
    for name in sorted(names):
        module = importlib.import_module(name)
        rel = Path(module.__file__).resolve().relative_to(PKG.parent).as_posix()
        assert rel in recorded, f"{rel} is imported but not in the distribution's RECORD"
    for typing_file in ("pylossfn/py.typed", "pylossfn/_core.pyi"):
        assert typing_file in recorded


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF linkage is Linux's")
def test_extension_links_only_libc_libm_pthread():
    # so that a manylinux wheel is one auditwheel repair away
    readelf = shutil.which("readelf")
    assert readelf, "readelf (binutils) is needed to check the extension's linkage"
    (so,) = PKG.glob("_core*.so")
    out = subprocess.run([readelf, "-d", str(so)], capture_output=True, text=True, check=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out.stdout)
    assert needed, out.stdout
    # (make sanitize's build links the sanitizer runtimes on purpose; it is no wheel)
    runtimes = "|asan|ubsan|stdc\\+\\+|gcc_s" if os.environ.get("PYLOSSFN_SANITIZED") else ""
    allowed = re.compile(rf"lib(c|m|pthread{runtimes})\.so\.\d+|ld-linux[-\w.]*\.so\.\d+")
    assert [n for n in needed if not allowed.fullmatch(n)] == []
