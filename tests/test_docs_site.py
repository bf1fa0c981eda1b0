"""The Sphinx site in docs/ documents every public name.

Every name in ``__all__`` of ``pylossfn``, ``pylossfn.functional``, ``pylossfn.boosting`` and
``pylossfn.metrics`` must appear in the API reference sources (the .rst files
under docs/, read as text: an ``autosummary`` entry, an ``auto*`` / ``py:*``
object directive, or a module directive for a submodule), so that a new loss
cannot ship without its reference page.  The site itself is built by CI in its
own stage (``make docs``), never here.

docs/ is found beside tests/ (the test runner copies tests/, docs/, examples/
and notebooks/ side by side); pylossfn is the installed package.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import pylossfn
import pylossfn.boosting
import pylossfn.functional
import pylossfn.metrics

DOCS = Path(__file__).resolve().parent.parent / "docs"
MODULES = [pylossfn, pylossfn.functional, pylossfn.metrics, pylossfn.boosting]

# ``.. currentmodule:: x`` and the directives that document an object or a module
_DIRECTIVE = re.compile(r"^\s*\.\.\s+(?:py:)?([a-z]+)::\s*(\S+)?")
_OBJECT_DIRECTIVES = {
    "autoclass", "autofunction", "autodata", "autoexception", "autoattribute", "automethod",
    "class", "function", "data", "exception", "attribute", "method",
}
_MODULE_DIRECTIVES = {"automodule", "module"}
_SETS_CURRENT = {"currentmodule", "module", "automodule"}


def _qualify(name: str, current: str | None) -> str:
    name = name.lstrip("~").split("(")[0].strip()
    if current is None or name == current or name.startswith(current + "."):
        return name
    if name.startswith("pylossfn.") or name == "pylossfn":
        return name
    return f"{current}.{name}"


def documented_names(text: str) -> set[str]:
    """Fully qualified names that one .rst source documents."""
    names: set[str] = set()
    current: str | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        i += 1
        if not m:
            continue
        directive, arg = m.group(1), m.group(2)
        if directive in _SETS_CURRENT and arg:
            current = None if arg == "None" else arg
        if directive in _MODULE_DIRECTIVES and arg:
            names.add(arg)
        elif directive in _OBJECT_DIRECTIVES and arg:
            names.add(_qualify(arg, current))
        elif directive == "autosummary":
            # the entries: the indented lines after the directive that are not options
            while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
                entry = lines[i].strip()
                i += 1
                if entry and not entry.startswith(":") and not entry.startswith(".."):
                    names.add(_qualify(entry, current))
    return names


def _sources() -> list[Path]:
    # hand-written sources only: not the build, not the stubs autosummary generates
    skip = {"_build", "generated", "_templates"}
    return sorted(p for p in DOCS.rglob("*.rst") if not skip & set(p.relative_to(DOCS).parts))


def documented_in_docs() -> set[str]:
    names: set[str] = set()
    for path in _sources():
        names |= documented_names(path.read_text(encoding="utf-8"))
    return names


def missing(documented: set[str]) -> list[str]:
    return [
        f"{mod.__name__}.{name}" for mod in MODULES for name in mod.__all__
        if f"{mod.__name__}.{name}" not in documented
    ]


def test_docs_sources_are_there():
    assert (DOCS / "conf.py").is_file(), f"no Sphinx site at {DOCS}"
    assert _sources(), f"no .rst sources under {DOCS}"


def test_every_public_name_is_in_the_api_reference():
    lost = missing(documented_in_docs())
    assert not lost, (
        "public names missing from the API reference (add them to an autosummary list "
        f"in docs/api/*.rst): {lost}"
    )


def test_the_package_extras_are_in_the_api_reference():
    # not in __all__, but public: the version, and show_config once the package has it
    documented = documented_in_docs()
    extras = ["__version__"] + (["show_config"] if hasattr(pylossfn, "show_config") else [])
    lost = [f"pylossfn.{n}" for n in extras if f"pylossfn.{n}" not in documented]
    assert not lost, f"missing from the API reference: {lost}"


def test_the_check_fails_when_a_name_is_left_out():
    # the same check over the real sources with one entry removed must report it
    text = (DOCS / "api" / "functional.rst").read_text(encoding="utf-8")
    assert re.search(r"^\s+cross_entropy$", text, re.M)
    others = documented_in_docs() - documented_names(text)
    cut = re.sub(r"^\s+cross_entropy\n", "", text, flags=re.M)
    assert missing(others | documented_names(cut)) == ["pylossfn.functional.cross_entropy"]


@pytest.mark.parametrize(
    "rst,expected",
    [
        (".. currentmodule:: pylossfn\n\n.. autosummary::\n   :toctree: generated\n\n"
         "   BCELoss\n   ~pylossfn.metrics.accuracy\n\nText\n\n   NotAnEntry\n",
         {"pylossfn.BCELoss", "pylossfn.metrics.accuracy"}),
        (".. automodule:: pylossfn.functional\n   :no-members:\n\n.. autofunction:: sigmoid\n",
         {"pylossfn.functional", "pylossfn.functional.sigmoid"}),
        (".. currentmodule:: pylossfn\n\n.. data:: __version__\n\n   The version.\n"
         ".. py:function:: pylossfn.show_config()\n",
         {"pylossfn.__version__", "pylossfn.show_config"}),
        ("``pylossfn.BCELoss`` is mentioned, not documented\n", set()),
    ],
)
def test_documented_names_parser(rst, expected):
    assert documented_names(rst) == expected


def _loss_pages():
    """docs/_ext/loss_pages.py, the tables of the loss pages (it imports Sphinx)."""
    pytest.importorskip("sphinx")
    import importlib.util

    spec = importlib.util.spec_from_file_location("loss_pages", DOCS / "_ext" / "loss_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_loss_page_has_its_formula_shape_and_parameters():
    # the build fails on a missing description or output shape; a missing formula would
    # only leave the page without math, so it is checked here
    pages = _loss_pages()
    losses = pages._losses()
    assert len(losses) >= 25
    assert sorted(set(losses) - set(pages.FORMULAS)) == []
    for cls in losses.values():  # the "none" shape from the row, or the loss's own text
        assert pages.none_shape(cls), cls.__name__
    assert sorted(set(pages.FORMULAS) - set(losses)) == [], "formulas of losses that do not exist"
    for name, formula in pages.FORMULAS.items():
        assert {"loss", "grad", "hess"} <= set(formula), name
    for cls in losses.values():
        section = "\n".join(pages.sections(cls, []))  # raises for an undocumented option
        assert ".. math::" in section and ":param" in section and ".. seealso::" in section
        func = pages._function(cls)
        assert func and hasattr(pylossfn.functional, func), cls.__name__
