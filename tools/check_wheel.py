#!/usr/bin/env python3
"""Check a built wheel against the source tree it came from.

    python tools/check_wheel.py dist/pylossfn-*.whl

Every module, stub and marker file of the source package (``pylossfn/``:
``*.py``, ``*.pyi``, ``py.typed``, every subpackage) must be in the wheel,
with exactly one compiled extension and a LICENSE in its metadata.  Exits 1
and lists what is missing otherwise.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(wheel: str) -> int:
    names = set(zipfile.ZipFile(wheel).namelist())
    source = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "pylossfn").rglob("*")
        if p.is_file() and (p.suffix in (".py", ".pyi") or p.name == "py.typed")
        and "__pycache__" not in p.parts
    }
    problems = [f"missing from the wheel: {name}" for name in sorted(source - names)]
    extensions = [n for n in names if n.startswith("pylossfn/_core") and n.endswith((".so", ".pyd"))]
    if len(extensions) != 1:
        problems.append(f"expected one compiled pylossfn._core, found {extensions}")
    if not any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
               for n in names):
        problems.append("no LICENSE in the wheel's metadata")
    for p in problems:
        print(f"check_wheel: {p}", file=sys.stderr)
    if not problems:
        print(f"check_wheel: {Path(wheel).name}: all {len(source)} source files of pylossfn/, "
              f"the extension {extensions[0]} and the LICENSE are in the wheel")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
