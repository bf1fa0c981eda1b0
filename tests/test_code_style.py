"""Issue 19's size rules, checked as text: no file of csrc/ or of the pylossfn
package over 900 lines, no Python function of the package over 80 (STYLE.md:
short functions a reader can hold, files one can find one's way in).  The C
functions' 100 lines are tests/test_c_style.py's.

The package is the one imported (pylossfn.__file__: the checkout in-tree, the
installed wheel under runtests.py, which copies csrc/ beside tests/)."""
import ast
import textwrap
from pathlib import Path

import pytest

import pylossfn

PKG = Path(pylossfn.__file__).resolve().parent
CSRC = Path(__file__).resolve().parent.parent / "csrc"

MAX_FILE_LINES = 900
MAX_PY_FUNCTION_LINES = 80


def line_count(path):
    return len(path.read_text().splitlines())


def package_sources():
    """The package's Python sources and stubs (the generated _core.pyi too:
    no exemption, it is far below the limit)."""
    return sorted(p for p in PKG.rglob("*") if p.suffix in (".py", ".pyi"))


def python_function_lengths(source):
    """(qualified name, first line, lines) of every function and method in
    source: from its first decorator (or its def) to its last line, the
    docstring and nested functions included (a nested function is counted on
    its own too)."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                name = f"{prefix}{child.name}"
                found.append((name, first, child.end_lineno - first + 1))
                name += "."
            elif isinstance(child, ast.ClassDef):
                name = f"{prefix}{child.name}."
            visit(child, name)

    visit(ast.parse(source), "")
    return found


def test_no_file_over_900_lines():
    files = package_sources()
    if CSRC.is_dir():
        files += sorted(p for p in CSRC.rglob("*") if p.is_file() and p.suffix in (".c", ".h"))
    else:  # an installed package without its sources beside the tests
        pytest.skip("needs csrc/ beside tests/ (the checkout, or runtests.py's copy)")
    assert any(p.parent.name == "kernels" for p in files) and len(files) > 60
    over = [f"{p}: {n}" for p in files if (n := line_count(p)) > MAX_FILE_LINES]
    assert over == []


def test_no_python_function_over_80_lines():
    lengths = [(n, f"{p.relative_to(PKG.parent)}:{line} {name}")
               for p in package_sources() if p.suffix == ".py"
               for name, line, n in python_function_lengths(p.read_text())]
    assert len(lengths) > 300  # the counter finds the functions at all
    assert [where for n, where in lengths if n > MAX_PY_FUNCTION_LINES] == []


def test_function_counter_counts_decorators_docstrings_and_methods():
    source = textwrap.dedent('''\
        import functools


        @functools.lru_cache
        def f(x):
            """Doc."""
            def inner():
                return x
            return inner


        class C:
            def m(self):
                return 1
        ''')
    assert python_function_lengths(source) == [
        ("f", 4, 6), ("f.inner", 7, 2), ("C.m", 13, 2),
    ]
