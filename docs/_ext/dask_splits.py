"""The ``dask-splits`` directive: how Dask cuts each loss, from the core's table.

Each loss's split is its row of ``_core.LOSSES`` (``pylossfn._dask.RULES``), so
the Dask page's table lists every loss without a list kept here.
"""
from __future__ import annotations

import inspect
import textwrap
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.application import Sphinx

import pylossfn
from pylossfn import _dask

#: each split's row heading, in the page's order
SPLITS = {
    "elementwise": "element-wise, any chunks",
    "class_index": "class axis made whole",
    "rows": "rows made whole",
    "whole": "one task (batch-coupled)",
}
NOTES = {"whole": "lazy and exact, but not parallel"}


def _entry(cls: type, rule: _dask.Rule) -> str:
    keywords = inspect.signature(cls).parameters  # the class's own weights, not the function's
    cut = [f"``{n}``" for n in rule.cut if n in keywords]
    return f"``{cls.__name__}``" + (f" ({' and '.join(cut)} cut with the input)" if cut else "")


def split_table() -> list[str]:
    """The table's reStructuredText: one row per split, its losses' classes."""
    groups: dict[str, list[str]] = {split: [] for split in SPLITS}
    for name in pylossfn.__all__:
        cls = getattr(pylossfn, name)
        impl = getattr(cls, "_impl", None)
        rule = _dask.RULES.get(getattr(impl, "__name__", "")[1:])
        if inspect.isclass(cls) and rule is not None:
            groups[rule.split].append(_entry(cls, rule))
    width = max(len(v) for v in SPLITS.values()) + 2
    rule_line = "=" * width + "  " + "=" * 60
    lines = [rule_line]
    for split, heading in SPLITS.items():
        text = ", ".join(groups[split]) + (f": {NOTES[split]}" if split in NOTES else "")
        for i, row in enumerate(textwrap.wrap(text, 60, break_on_hyphens=False)):
            lines.append((heading if i == 0 else "").ljust(width) + "  " + row)
    lines.append(rule_line)
    return lines


class DaskSplits(Directive):
    has_content = False

    def run(self) -> list[Any]:
        node = nodes.section()
        self.state.nested_parse(StringList(split_table(), "dask-splits"), self.content_offset, node)
        return node.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("dask-splits", DaskSplits)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
