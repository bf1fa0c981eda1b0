"""Lists of losses made from the core's table, ``_core.LOSSES``.

``dask-splits``: how Dask cuts each loss (its row's split, ``pylossfn._dask.RULES``);
``boosting-criteria``: which losses can be a tree library's objective, with which
labels (its row's ``"boosting"``).  The pages list every loss without a list kept here.
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
from pylossfn import _dask, _rows

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


#: the boosting kinds, in the page's order, with the labels each takes
BOOSTING = {
    "elementwise": "a label per margin (floats)",
    "class_index": "a class index per sample (the library's float labels)",
    "rows": "a label vector per sample, ``(n, K)``",
}


def boosting_list() -> list[str]:
    """A bullet per boosting kind: its label rule and its losses' classes."""
    groups: dict[str, list[str]] = {kind: [] for kind in BOOSTING}
    for name in pylossfn.__all__:
        cls = getattr(pylossfn, name)
        row = _rows.ROWS.get(getattr(cls, "_row", None) or "") if inspect.isclass(cls) else None
        if row is not None and row["boosting"]:
            groups[row["boosting"]].append(f"``{cls.__name__}``")
    return [f"- {label}: {', '.join(groups[kind])}" for kind, label in BOOSTING.items()]


class BoostingCriteria(Directive):
    has_content = False

    def run(self) -> list[Any]:
        node = nodes.section()
        self.state.nested_parse(StringList(boosting_list(), "boosting-criteria"),
                                self.content_offset, node)
        return node.children


class DaskSplits(Directive):
    has_content = False

    def run(self) -> list[Any]:
        node = nodes.section()
        self.state.nested_parse(StringList(split_table(), "dask-splits"), self.content_offset, node)
        return node.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("dask-splits", DaskSplits)
    app.add_directive("boosting-criteria", BoostingCriteria)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
