"""Sphinx configuration of pylossfn's documentation.

Build (both with warnings as errors, as ``make docs`` does)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest

The documented package is the *installed* pylossfn (``pip install ".[docs]"``):
the source tree is not put on ``sys.path``, since its C extension is only
built by an install.
"""
from __future__ import annotations

import doctest
import sys
from pathlib import Path

try:
    import pylossfn
except ImportError as exc:  # pragma: no cover - a message for the person building
    raise ImportError(
        f"the docs document the installed pylossfn, which did not import ({exc}); install "
        'it first (pip install ".[docs]") and build with sphinx-build or python -P -m sphinx'
    ) from exc

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "pylossfn"
author = "the pylossfn developers"
copyright = "2026, the pylossfn developers"
release = pylossfn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # the metrics' numpydoc sections; prose docstrings pass through
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    # MathJax served from the built site (_static/mathjax), so formulas render offline
    "sphinx-mathjax-offline",
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "gallery",  # docs/_ext/gallery.py: which examples run, and at which sizes
    "example_run",  # docs/_ext/example_run.py: runs examples/train_mlp.py during the build
    "loss_pages",  # docs/_ext/loss_pages.py: formulas, parameters and shapes of each loss
    "dask_splits",  # docs/_ext/dask_splits.py: how Dask cuts each loss (the core's table)
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# -- autodoc / autosummary ---------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
# Signatures as torch's documentation shows them: names and defaults.  The
# annotations are written for mypy (aliases imported under TYPE_CHECKING, a
# generic gradient type) and read badly in a signature; the docstrings give
# the shapes and dtypes, the metrics' Parameters sections the types.
autodoc_typehints = "none"
autodoc_member_order = "bysource"

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# -- doctest -----------------------------------------------------------------
# Every ``>>>`` block of the pages and of the docstrings that autodoc pulls in
# runs under ``-b doctest``.  The docstrings of pylossfn.metrics call their
# function by its bare name (pytest runs them in the module's namespace), so
# the metrics are imported here too.
doctest_global_setup = """
import numpy as np
import pylossfn as lf
import pylossfn.functional as F
from pylossfn.metrics import *
"""
doctest_default_flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.DONT_ACCEPT_TRUE_FOR_1

# -- the example run (docs/_ext/example_run.py) -----------------------------
example_run_script = str(DOCS.parent / "examples" / "train_mlp.py")
example_run_args = ["--quick", "--seed", "0"]

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"pylossfn {release}"
html_static_path = ["_static"]
html_css_files = ["pylossfn.css"]
html_favicon = "_static/favicon.svg"
# light or dark as the reader's system says (an empty mode is a console error of the theme)
html_context = {"default_mode": "auto"}
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    # every top-level page in the bar (their toctree titles are short), none under "More",
    # and the search as an icon beside it: one row at 1400 px
    "header_links_before_dropdown": 9,
    "navbar_align": "left",
    "navbar_persistent": ["search-button"],
    "navbar_end": ["theme-switcher"],
}
# the page's table of contents says "forward()", not "CrossEntropyLoss.forward()"
toc_object_entries_show_parents = "hide"
html_show_sourcelink = False
# The top-level pages have no sub-pages: an empty "Section Navigation" column would only
# squeeze their text.  The API reference and the gallery keep theirs.
html_sidebars = {"*": []}

# -- copy buttons --------------------------------------------------------------
# copy the code, not the ">>> " / "... " prompts, nor the output lines of a doctest
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_exclude = ".linenos, .gp, .go"

# -- the examples gallery (sphinx-gallery) ---------------------------------------
# Built from examples/ (each script's docstring is its page's text); docs/_ext/gallery.py
# says which scripts run during the build, and with which reduced sizes.
import gallery  # noqa: E402 - docs/_ext is on sys.path from here (see above)

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "examples",
    "filename_pattern": gallery.FILENAME_PATTERN,
    "reset_argv": "gallery.reset_argv",
    "within_subsection_order": "gallery.ExampleOrder",
    "download_all_examples": False,
    "show_signature": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "write_computation_times": False,
}
