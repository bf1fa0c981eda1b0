#!/usr/bin/env python3
"""Write pylossfn/_core.pyi from the core's own table (``_core.LOSSES``).

    python tools/gen_stubs.py           # rewrite the checked-in stub
    python tools/gen_stubs.py --check   # exit 1 when it differs (tests/test_stubs.py)

Every loss and activation entry point is typed from its row: an argument's
type from its kind, then the uniform protocol (reduction, want,
grad_output[, out]) unless the row is plain.  The module's other names (the
constants, the table's own types, the engine's settings and test hooks) are
written once, in the template tools/core_stub.pyi.in.  Run it after changing a spec in csrc/binding/.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

#: the stub's fixed text, the entry points going where the marker line is
TEMPLATE = Path(__file__).resolve().parent / "core_stub.pyi.in"
MARKER = "# @ENTRY_POINTS@\n"


#: the Python type of each argument kind of the table
KIND_TYPES = {
    "input": "ArrayLike", "real": "ArrayLike", "index": "ArrayLike", "array": "ArrayLike",
    "float": "ArrayLike | None", "real_option": "float", "real_or_none_option": "float | None",
    "index_option": "int", "bool_option": "bool", "long_option": "int",
}
WIDTH = 100


def _params(row: Any) -> list[str]:
    params = [f"{a['name']}: {KIND_TYPES[a['kind']]}" for a in row["args"]]
    if not row["plain"]:
        params += ["reduction: int", "want: int", "grad_output: ArrayLike | None"]
    if row["out"]:
        one = "_Float" if row["ngrad"] == 1 else f"tuple[{', '.join(['_Float'] * row['ngrad'])}]"
        params.append(f"out: {one} | None = None")
    return params + ["/"]


def _stub(row: Any) -> str:
    """One entry point's stub: on one line if it fits, else one argument
    line after another, filled to the width."""
    params = _params(row)
    result = "_Float" if row["plain"] else "_Result"
    line = f"def {row['name']}({', '.join(params)}) -> {result}: ..."
    if len(line) <= WIDTH:
        return line + "\n"
    lines, cur = [], "   "
    for p in params:
        if len(cur) + len(p) + 2 > WIDTH:
            lines.append(cur.rstrip())
            cur = "   "
        cur += f" {p},"
    lines.append(cur)
    return f"def {row['name']}(\n" + "\n".join(lines) + f"\n) -> {result}: ...\n"


def render(losses: Any) -> str:
    """The text of _core.pyi for the table ``losses``."""
    header, footer = TEMPLATE.read_text().split(MARKER)
    return header + "".join(_stub(row) for row in losses) + footer


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))  # this checkout's package, built in place (make stubs)
    from pylossfn import _core

    path = root / "pylossfn" / "_core.pyi"
    text = render(_core.LOSSES)
    if "--check" in argv:
        same = path.read_text() == text
        print(f"{path}: {'up to date' if same else 'differs; run tools/gen_stubs.py'}")
        return 0 if same else 1
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
