"""Run ``examples/train_mlp.py`` during the docs build and put its real output in a page.

The page "Which loss for multi-label, which for multi-class?" must show numbers
that come from running the example, never numbers pasted into the text.  The
first ``example-run`` directive of a build runs the script once (with
``--out`` inside the builder's output directory) and every directive then
shows one part of that run::

    .. example-run:: table        the answer table, as a table
    .. example-run:: conclusion   the conclusion the script prints
    .. example-run:: figure       the saved figure (directive content = caption)
    .. example-run:: output       everything the script printed
    .. example-run:: command      the command that was run

A failing run, or output that does not have the expected parts, fails the
build.  Builders that write no pages (``doctest``, ``linkcheck``) do not run
the script: they get a one-line placeholder instead.  A page that holds the
directive is re-read on every build, so its numbers are always those of the
current run.

Configuration (``conf.py``): ``example_run_script`` (path of the script),
``example_run_args`` (extra arguments).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: builders that only read the pages: they do not need the run
NO_RUN_BUILDERS = {"doctest", "linkcheck", "coverage", "dummy"}
PARTS = ("table", "conclusion", "figure", "output", "command")


@dataclass
class Run:
    command: list[str]
    stdout: str
    table: list[list[str]]  # header row first
    conclusion: str
    figure: Path
    seconds: float


def _parse(stdout: str, out_dir: Path) -> Run:
    lines = stdout.splitlines()
    table_rows = [ln for ln in lines if ln.startswith("|")]
    if len(table_rows) < 3:
        raise ExtensionError(f"example-run: no answer table in the output:\n{stdout}")
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in table_rows]
    header, rule, body = cells[0], cells[1], cells[2:]
    if not all(set(c) <= {"-", ":"} for c in rule) or any(len(r) != len(header) for r in body):
        raise ExtensionError(f"example-run: malformed answer table:\n{stdout}")
    last_table = max(i for i, ln in enumerate(lines) if ln.startswith("|"))
    fig_idx = [i for i, ln in enumerate(lines) if ln.startswith("Figure:")]
    if not fig_idx:
        raise ExtensionError(f"example-run: the output names no figure:\n{stdout}")
    conclusion = "\n".join(lines[last_table + 1 : fig_idx[0]]).strip()
    if not conclusion:
        raise ExtensionError(f"example-run: no conclusion in the output:\n{stdout}")
    figure = out_dir / "train_mlp.png"
    if not figure.is_file():
        raise ExtensionError(f"example-run: the run saved no figure at {figure}")
    # the script prints one "X: ..." line per run, in the table's order: X names the row
    letters = [ln[0] for ln in lines if len(ln) > 2 and ln[0].isupper() and ln[1:3] == ": "]
    if len(letters) == len(body):
        header = ["run", *header]
        body = [[letter, *row] for letter, row in zip(letters, body)]
    return Run([], stdout, [header, *body], conclusion, figure, 0.0)


def get_run(app: Sphinx) -> Run:
    """The run of this build (the first call runs the script)."""
    run: Run | None = getattr(app, "_example_run", None)
    if run is not None:
        return run
    script = Path(app.config.example_run_script).resolve()
    root = script.parent.parent  # the repository: the script is examples/<name>.py
    out_dir = Path(app.outdir).resolve() / "_example_run"
    try:
        out_arg = str(out_dir.relative_to(root))
    except ValueError:
        out_arg = str(out_dir)
    command = [
        "python", str(script.relative_to(root)), *app.config.example_run_args, "--out", out_arg,
    ]
    logger.info("example-run: %s", " ".join(command))
    env = dict(os.environ, MPLBACKEND="Agg")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *command[1:]], cwd=root, env=env, capture_output=True, text=True,
        timeout=1800, check=False,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise ExtensionError(
            f"example-run: {' '.join(command)} exited with {proc.returncode}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    run = _parse(proc.stdout, out_dir)
    run.command, run.seconds = command, seconds
    logger.info("example-run: done in %.1f s", seconds)
    app._example_run = run  # type: ignore[attr-defined]
    return run


def _table(rows: list[list[str]]) -> nodes.table:
    header, body = rows[0], rows[1:]
    table = nodes.table(classes=["example-run-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)

    def row(values: list[str]) -> nodes.row:
        r = nodes.row()
        for v in values:
            entry = nodes.entry()
            entry += nodes.paragraph(text=v)
            r += entry
        return r

    thead = nodes.thead()
    thead += row(header)
    tbody = nodes.tbody()
    for values in body:
        tbody += row(values)
    group += thead
    group += tbody
    return table


class ExampleRun(SphinxDirective):
    """``.. example-run:: PART``: one part of the example's run (see the module docstring)."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        part = self.arguments[0]
        if part not in PARTS:
            raise self.error(f"example-run: unknown part {part!r}; one of {', '.join(PARTS)}")
        self.env.example_run_docnames = getattr(  # type: ignore[attr-defined]
            self.env, "example_run_docnames", set()
        ) | {self.env.docname}
        if self.env.app.builder.name in NO_RUN_BUILDERS:
            return [nodes.paragraph(text=f"(the {part} of a run of the example, in the HTML pages)")]
        run = get_run(self.env.app)
        if part == "table":
            return [_table(run.table)]
        if part == "conclusion":
            return [nodes.literal_block(run.conclusion, run.conclusion)]
        if part == "output":
            return [nodes.literal_block(run.stdout, run.stdout.rstrip())]
        if part == "command":
            text = " ".join(run.command)
            return [nodes.literal_block(text, text, language="bash")]
        # figure: the image's path relative to this page's directory, as an
        # image directive would give it; Sphinx copies it into the output
        self.env.note_dependency(str(run.figure))
        page_dir = Path(self.env.srcdir, self.env.docname).parent
        uri = Path(os.path.relpath(run.figure, page_dir)).as_posix()
        figure = nodes.figure()
        figure += nodes.image(uri=uri, alt="curves of the example's run", width="100%")
        if self.content:
            caption_text = " ".join(self.content)
            parsed, _ = self.state.inline_text(caption_text, self.lineno)
            figure += nodes.caption(caption_text, "", *parsed)
        return [figure]


def _always_reread(app: Sphinx, env: Any, added: set[str], changed: set[str],
                   removed: set[str]) -> list[str]:
    # a page with a run must show the current run, so it is never up to date
    return sorted(getattr(env, "example_run_docnames", set()) - removed)


def _purge(app: Sphinx, env: Any, docname: str) -> None:
    getattr(env, "example_run_docnames", set()).discard(docname)


def _merge(app: Sphinx, env: Any, docnames: set[str], other: Any) -> None:
    env.example_run_docnames = getattr(env, "example_run_docnames", set()) | getattr(
        other, "example_run_docnames", set()
    )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("example_run_script", "", "env")
    app.add_config_value("example_run_args", [], "env")
    app.add_directive("example-run", ExampleRun)
    app.connect("env-get-outdated", _always_reread)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
