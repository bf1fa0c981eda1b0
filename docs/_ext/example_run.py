"""Run ``examples/train_mlp.py`` during the docs build and put its real output in a page.

The page "Which loss for multi-label, which for multi-class?" must show numbers
that come from running the example, never numbers pasted into the text.  The
first ``example-run`` directive of a build runs the script once (with
``--out`` inside the builder's output directory) and every directive then
shows one part of that run::

    .. example-run:: table yeast     the Yeast table: every multi-label loss, the
                                     published rows (BP-MLL, ML-kNN), the baselines
    .. example-run:: table segment   the Image Segments table (multi-class)
    .. example-run:: table dropin    pylossfn's and torch's losses in the same MLP (or
                                     the script's note when torch is not installed)
    .. example-run:: conclusion      the answer the script prints
    .. example-run:: figure          the saved figure (directive content = caption)
    .. example-run:: output          everything the script printed
    .. example-run:: command         the command that was run

A failing run, or output that lacks one of these parts (a section, a table,
the published rows, the figure, ``results.json`` with both data sets), fails
the build.  Builders that write no pages (``doctest``, ``linkcheck``) do not
run the script: they get a one-line placeholder instead.  A page that holds
the directive is re-read on every build, so its numbers are always those of
the current run.

Configuration (``conf.py``): ``example_run_script`` (path of the script),
``example_run_args`` (extra arguments).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
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
#: the sections the script prints, by the start of their "### " heading
SECTIONS = {"yeast": "Yeast", "segment": "Image Segments", "dropin": "Drop-in",
            "answer": "Answer"}
#: rows the Yeast table must hold: the cited papers' published numbers
PUBLISHED_ROWS = ("BP-MLL", "ML-kNN")


@dataclass
class Run:
    command: list[str]
    stdout: str
    tables: dict[str, list[list[str]]]  # per section: header row first
    notes: dict[str, str]  # per section without a table: its text
    conclusion: str
    figure: Path
    results: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _fail(what: str, stdout: str) -> ExtensionError:
    return ExtensionError(f"example-run: {what} in the output:\n{stdout}")


def _sections(stdout: str) -> dict[str, list[str]]:
    """The lines under each "### " heading, up to the next heading or the "Figure:" line."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        if line.startswith("### "):
            title = line[4:]
            key = next((k for k, start in SECTIONS.items() if title.startswith(start)), None)
            current = found.setdefault(key, []) if key else None
        elif line.startswith("Figure:"):
            current = None
        elif current is not None:
            current.append(line)
    return found


def _table(lines: list[str], stdout: str, name: str) -> list[list[str]] | None:
    rows = [ln for ln in lines if ln.startswith("|")]
    if not rows:
        return None
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    header, rule, body = cells[0], cells[1] if len(cells) > 1 else [], cells[2:]
    if (not body or not all(set(c) <= {"-", ":"} for c in rule)
            or any(len(r) != len(header) for r in body)):
        raise _fail(f"a malformed {name} table", stdout)
    return [header, *body]


def _parse(stdout: str, out_dir: Path) -> Run:
    sections = _sections(stdout)
    missing = [f'"### {SECTIONS[k]}"' for k in SECTIONS if k not in sections]
    if missing:
        raise _fail(f"no section {', '.join(missing)}", stdout)
    tables, notes = {}, {}
    for key in ("yeast", "segment", "dropin"):
        table = _table(sections[key], stdout, key)
        if table is not None:
            tables[key] = table
        elif key == "dropin":  # torch not installed: the script says so instead
            notes[key] = "\n".join(sections[key]).strip()
        else:
            raise _fail(f"no {key} table", stdout)
    names = [row[0] for row in tables["yeast"][1:]]
    for paper in PUBLISHED_ROWS:
        if not any(n.startswith(paper) and n.endswith("published") for n in names):
            raise _fail(f"no published {paper} row in the Yeast table", stdout)
    conclusion = "\n".join(sections["answer"]).strip()
    if not conclusion:
        raise _fail("no answer", stdout)
    if not any(ln.startswith("Figure:") for ln in stdout.splitlines()):
        raise _fail("no figure named", stdout)
    figure = out_dir / "train_mlp.png"
    if not figure.is_file():
        raise ExtensionError(f"example-run: the run saved no figure at {figure}")
    results_path = out_dir / "results.json"
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExtensionError(f"example-run: no readable {results_path}: {exc}") from exc
    if not {"yeast", "segment"} <= set(results):
        raise ExtensionError(f"example-run: {results_path} lacks yeast or segment")
    return Run([], stdout, tables, notes, conclusion, figure, results)


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


def _table_node(rows: list[list[str]]) -> nodes.table:
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
    optional_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        part = self.arguments[0]
        if part not in PARTS:
            raise self.error(f"example-run: unknown part {part!r}; one of {', '.join(PARTS)}")
        which = self.arguments[1] if len(self.arguments) > 1 else None
        if (part == "table") != (which is not None) or (
                which is not None and which not in ("yeast", "segment", "dropin")):
            raise self.error("example-run: table takes one of yeast, segment, dropin; "
                             "the other parts take no second argument")
        self.env.example_run_docnames = getattr(  # type: ignore[attr-defined]
            self.env, "example_run_docnames", set()
        ) | {self.env.docname}
        if self.env.app.builder.name in NO_RUN_BUILDERS:
            return [nodes.paragraph(text=f"(the {part} of a run of the example, in the HTML pages)")]
        run = get_run(self.env.app)
        if part == "table":
            if which in run.notes:
                return [nodes.paragraph(text=run.notes[which])]
            return [_table_node(run.tables[which])]
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
