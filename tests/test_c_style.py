"""The C sources' own rules, checked as text (issue 19): family code reads
every parsed argument from a named field, never by position, no C function
grows past 100 lines (STYLE.md: short functions a reader can hold), and the
helpers of the element-wise point functions are always inlined."""
import re
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parent.parent / "csrc"

pytestmark = pytest.mark.skipif(not CSRC.is_dir(), reason="needs the source tree")

MAX_LINES = 100


def function_lengths(path):
    """(name, first line, lines) of each function defined in path: from the
    line that names it to its closing brace, both at column 0 (the house
    style: the return type above, the brace on a line of its own)."""
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        if lines[i] == "{" and i > 0:
            head = i - 1
            while head > 0 and "(" not in lines[head]:
                head -= 1
            end = i + 1
            while end < len(lines) and lines[end] != "}":
                end += 1
            found.append((lines[head].split("(")[0] or lines[head], head + 1, end - head + 1))
            i = end
        i += 1
    return found


def test_no_c_function_over_100_lines():
    sources = sorted(p for p in CSRC.rglob("*") if p.suffix in (".c", ".h"))
    lengths = [(n, f"{p.relative_to(CSRC)}:{line} {name}")
               for p in sources for name, line, n in function_lengths(p)]
    assert len(lengths) > 300  # the counter finds the functions at all
    assert [where for n, where in lengths if n > MAX_LINES] == []


def test_function_counter_counts_from_signature_to_brace():
    sample = CSRC / "binding" / "call.c"
    rows = {name: n for name, _, n in function_lengths(sample)}
    assert "lf_size_mul" in rows and 5 < rows["lf_size_mul"] < 20


def test_family_code_reads_named_fields_not_positions():
    # a parsed argument read back by position (c->v[3].d) reads a bool as a
    # double when a spec row moves; every argument lands in a named field
    positional = re.compile(r"->v\[|\bv\[\d+\]\.|->args\[\d+\]|spec->args\[\d+\]")
    found = [f"{path.name}:{i}: {line.strip()}"
             for path in sorted((CSRC / "binding").glob("*.c"))
             for i, line in enumerate(path.read_text().splitlines(), 1)
             if positional.search(line)]
    assert found == []


def _point_helpers(sources):
    """{helper: its definition's first line} for every FN() helper that an
    element-wise point function (FN(name_point), ew_template.h's) calls, and
    the point functions found."""
    defs, called, points = {}, set(), []
    for text in sources:
        for m in re.finditer(r"^(static[^\n;{]*)\nFN\((\w+)\)\(", text, re.M):
            defs[m.group(2)] = m.group(1)
        for m in re.finditer(r"^FN\((\w+_point)\)\([^{]*\{(.*?)^\}", text, re.M | re.S):
            points.append(m.group(1))
            called |= set(re.findall(r"\bFN\((\w+)\)\(", m.group(2)))
    return {name: defs[name] for name in called if name in defs}, points


def test_point_function_helpers_are_always_inlined():
    # a helper gcc leaves out of line is a call per element, and the element
    # loop around it does not vectorize: sig_pair, left out of the focal and
    # ASL blocks, made their forward-only calls 5-10 times slower
    sources = [p.read_text() for p in sorted((CSRC / "kernels").glob("*.h"))]
    helpers, points = _point_helpers(sources)
    assert len(points) >= 15 and "sig_pair" in helpers  # the scan finds them at all
    assert [name for name, head in helpers.items() if "LF_ALWAYS_INLINE" not in head] == []


def test_point_helper_scan_finds_a_plain_inline_helper():
    text = ("static inline T\nFN(half)(T x)\n{\n    return x / 2;\n}\n\n"
            "static inline LF_ALWAYS_INLINE void\nFN(new_point)(T x)\n{\n"
            "    return FN(half)(x);\n}\n")
    helpers, points = _point_helpers([text])
    assert points == ["new_point"] and helpers == {"half": "static inline T"}
