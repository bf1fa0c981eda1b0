"""Yeast and Image Segments, read from the files the ``river`` wheel ships.

Nothing is downloaded and river itself is never imported (its dataset classes
pull in its streaming machinery): the package's folder is located with
:func:`importlib.util.find_spec`, which does not run the package, and the CSV
files are parsed with the standard library and NumPy.

- ``yeast.csv.gz``: Yeast (Elisseeff & Weston, NIPS 2001), MULAN's copy (OpenML
  40597): 2,417 genes, 103 features ``Att1..Att103``, 14 functional classes
  ``Class1..Class14`` as 0/1 columns.
- ``segment.csv.zip``: Image Segments (UCI Statlog Image Segmentation): 2,310
  regions of outdoor images, 18 features, 7 balanced classes in ``category``.
"""
import csv
import gzip
import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np

YEAST_SHAPE = (2417, 103, 14)  # samples, features, labels
SEGMENT_SHAPE = (2310, 18, 7)  # samples, features, classes


def river_datasets_dir():
    """The ``datasets`` folder of the installed river package (not imported)."""
    spec = importlib.util.find_spec("river")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the real data sets come from the river package's files: pip install river "
            '(or pip install ".[examples]"), or run with --synthetic'
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def _rows(text):
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    return header, [row for row in reader if row]


def _check(name, got, expected):
    if got != expected:
        raise ValueError(f"{name}: expected (samples, features, outputs) {expected}, got {got}")


def load_yeast(folder=None):
    """``X`` float64 ``(2417, 103)`` and ``Y`` int64 multi-hot ``(2417, 14)``."""
    path = Path(folder or river_datasets_dir()) / "yeast.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        header, rows = _rows(f.read())
    values = np.array(rows, dtype=np.float64)
    is_label = np.array([h.startswith("Class") for h in header])
    X, Y = values[:, ~is_label], values[:, is_label].astype(np.int64)
    _check("yeast", (X.shape[0], X.shape[1], Y.shape[1]), YEAST_SHAPE)
    return X, Y


def load_segment(folder=None):
    """``X`` float64 ``(2310, 18)``, ``y`` int64 class indices and the class names."""
    path = Path(folder or river_datasets_dir()) / "segment.csv.zip"
    with zipfile.ZipFile(path) as z:
        header, rows = _rows(z.read(z.namelist()[0]).decode("utf-8"))
    target = header.index("category")
    names, y = np.unique([r[target] for r in rows], return_inverse=True)
    X = np.array([r[:target] + r[target + 1:] for r in rows], dtype=np.float64)
    _check("segment", (X.shape[0], X.shape[1], len(names)), SEGMENT_SHAPE)
    return X, y.astype(np.int64), [str(n) for n in names]
