"""The C extension's stub, pylossfn/_core.pyi, is generated from the core's table.

tools/gen_stubs.py writes it from ``_core.LOSSES``; a spec changed in
csrc/binding/ without rerunning the generator fails here.
"""
import ast
from pathlib import Path

from helpers import load_tool

import pylossfn
from pylossfn import _core


def _generator():
    return load_tool("gen_stubs")


def test_checked_in_stub_is_the_generated_one():
    stub = Path(pylossfn.__file__).parent / "_core.pyi"
    assert stub.read_text() == _generator().render(_core.LOSSES), (
        "pylossfn/_core.pyi differs from the table: run python tools/gen_stubs.py")


def test_generated_stub_follows_the_table():
    # a row changed in the table changes the stub: the generator reads the rows
    gen = _generator()
    rows = [dict(r) for r in _core.LOSSES]
    l1 = next(r for r in rows if r["name"] == "l1_loss")
    l1["args"] = l1["args"] + ({"name": "extra", "kind": "bool_option", "check": "none",
                                "what": None},)
    tree = ast.parse(gen.render(rows))
    stubs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    names = [a.arg for a in stubs["l1_loss"].args.posonlyargs]
    assert names == ["input", "target", "weight", "extra", "reduction", "want",
                     "grad_output", "out"]
    assert ast.unparse(stubs["l1_loss"].args.posonlyargs[3].annotation) == "bool"
    assert ast.unparse(stubs["triplet_margin_loss"].args.posonlyargs[-1].annotation) == (
        "tuple[_Float, _Float, _Float] | None")
    assert ast.unparse(stubs["softmax"].returns) == "_Float"


def test_stub_has_every_name_of_the_extension_and_no_other():
    tree = ast.parse(_generator().render(_core.LOSSES))
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    names |= {n.target.id for n in tree.body
              if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    runtime = {n for n in dir(_core) if not n.startswith("__")}
    assert runtime == names
