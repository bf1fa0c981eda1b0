"""The examples gallery's settings that sphinx-gallery takes as importable names.

sphinx-gallery runs the examples listed in :data:`RUN` with the reduced sizes
given there (their command lines run them at full size) and shows every other
script of ``examples/`` without running it: ``train_mlp.py`` runs once per
build already, for the "Which loss" page (``docs/_ext/example_run.py``).
"""
from __future__ import annotations

import re
from typing import Any

#: the examples the docs build runs, and their arguments there
RUN = {
    "quickstart.py": [],
    "scipy_newton.py": [],
    "boosting_focal.py": ["--rounds", "10"],
    "xml_tagging.py": ["--labels", "20000", "--steps", "30"],
    "dask_train.py": ["--steps", "5", "--workers", "2", "--eval-rows", "200000"],
}

#: what the page of a script that the gallery does not run says about its output
SHOWN_NOT_RUN = {
    "train_mlp.py": "This build runs this script once, for :doc:`/which_loss`: its table, "
                    "figure and output are there.",
}

#: the order of the gallery: the main job first, then from the smallest to the largest setup
ORDER = ["train_mlp.py", "quickstart.py", "boosting_focal.py", "scipy_newton.py",
         "xml_tagging.py", "dask_train.py"]


class ExampleOrder:
    """sphinx-gallery's ``within_subsection_order``: :data:`ORDER`, then by name."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        return (ORDER.index(filename) if filename in ORDER else len(ORDER), filename)

    def __repr__(self) -> str:  # sphinx-gallery compares configurations by repr
        return f"<{type(self).__name__}>"


#: sphinx-gallery's ``filename_pattern``: the scripts it runs
FILENAME_PATTERN = "/(" + "|".join(re.escape(name) for name in RUN) + ")$"


def reset_argv(gallery_conf: dict[str, Any], script_vars: dict[str, Any]) -> list[str]:
    """``sys.argv[1:]`` of an example run by the gallery."""
    return RUN.get(script_vars["src_file"].replace("\\", "/").rsplit("/", 1)[-1], [])


_LABEL = re.compile(r"^\.\. _sphx_glr_[\w.]+:\n\n(?P<first>[^\n]+)\n(?P<next>[^\n]*)\n", re.M)


def title_untitled_examples(app: Any, docname: str, source: list[str]) -> None:
    """Give a page of the gallery its script's first docstring line as a title.

    sphinx-gallery takes an example's docstring as reStructuredText, whose title is
    an underlined line; a script whose docstring opens with a plain sentence (as
    ``--help`` and ``pydoc`` show it) would make a page without a title.  The first
    line is underlined here, in the page only, when the docstring does not do it.
    """
    gallery_dirs = app.config.sphinx_gallery_conf.get("gallery_dirs", ())
    if isinstance(gallery_dirs, str):
        gallery_dirs = [gallery_dirs]
    if not any(docname.startswith(f"{d}/") for d in gallery_dirs):
        return
    m = _LABEL.search(source[0])
    if m is None or re.fullmatch(r"([=\-~^\"'`#*+])\1+", m.group("next").strip()):
        return
    first = m.group("first").strip()
    title = f"{first}\n{'=' * len(first)}\n\n"
    note = SHOWN_NOT_RUN.get(docname.rsplit("/", 1)[-1] + ".py")
    if note:
        title += f".. note::\n\n   {note}\n\n"
    source[0] = source[0][: m.start("first")] + title + source[0][m.end("first") + 1 :]


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", title_untitled_examples)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
