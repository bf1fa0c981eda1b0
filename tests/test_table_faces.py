"""Every row of the core's table reaches every face, and nothing else names a loss.

``_core.LOSSES`` is the one description of each loss (issue 19).  For each of
its loss rows: a function in :mod:`pylossfn.functional` with torch's name, a
class in :mod:`pylossfn` with ``backward`` / ``forward_backward`` /
``hessian`` / ``hvp`` whose gradients go to ``out=``, a Dask call, a row of
tests/loss_table.py (so that the error matrix, layouts, threads, ... walk it)
and its entries in the docs.  The Python files that route calls name no loss:
what they know of a loss they read from the table.
"""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import load_tool
from loss_table import CLASSES, CORE_ROWS, LOSSES, valid_inputs, valid_options

import pylossfn as lf
import pylossfn.functional as F
from pylossfn import _core, _rows

BY_FNAME = {row.fname: row for row in LOSSES}
ROW_NAMES = sorted(CORE_ROWS)
DOCS = Path(__file__).resolve().parent.parent / "docs"
PKG = Path(lf.__file__).resolve().parent


def _face_options(fname):
    """The options of the row, as the Python faces name them: each option of
    the row is a parameter of the function, or made by an adapter of
    ``_rows.ADAPTED`` (``distance_function``) from one."""
    row = CORE_ROWS[fname]
    params = inspect.signature(inspect.unwrap(getattr(F, fname))).parameters
    names = set()
    for a in row["args"][len(_rows.row_arrays(row)):]:
        made_by = [src for src, (made, _) in _rows.ADAPTED.items()
                   if a["name"] in made and src in params]
        names.add(a["name"] if a["name"] in params or not made_by else made_by[0])
    return names


def test_the_table_has_loss_rows_and_the_suite_a_row_for_each():
    assert len(CORE_ROWS) >= 25
    assert set(BY_FNAME) == set(CORE_ROWS)
    for fname, row in BY_FNAME.items():
        assert len(row.diff) == CORE_ROWS[fname]["ngrad"], fname


@pytest.mark.parametrize("fname", ROW_NAMES)
def test_row_has_a_function(fname):
    assert fname in F.__all__
    fn = inspect.unwrap(getattr(F, fname))
    params = inspect.signature(fn).parameters
    row = CORE_ROWS[fname]
    arrays = _rows.row_arrays(row)
    assert list(params)[:len(arrays)] == arrays
    # every option of the row is a parameter, or made from one
    assert _face_options(fname) | set(arrays) | {"reduction"} >= set(params)
    for name in _face_options(fname):
        assert name in params and params[name].default is not params[name].empty, name
    assert fn.__doc__ and ">>>" in fn.__doc__


def test_family_modules_list_exactly_their_rows_classes():
    # a family module's __all__ stays a literal list (mypy and pyright read it without
    # running code: a computed one hides the classes from them); this check makes it the
    # table's: the classes the rows name that the module defines, and nothing else
    by_module = {}
    for row in CORE_ROWS.values():
        by_module.setdefault(getattr(lf, row["cls"]).__module__, set()).add(row["cls"])
    assert len(by_module) >= 8
    for module, names in by_module.items():
        path = PKG / (module.split(".", 1)[1].replace(".", "/") + ".py")
        tree = ast.parse(path.read_text())
        listed = [ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign)
                  and [getattr(t, "id", None) for t in node.targets] == ["__all__"]]
        assert len(listed) == 1, f"{module}: one literal __all__"
        assert set(listed[0]) == names and len(listed[0]) == len(names), (
            f"{module}.__all__ must be {sorted(names)}")


@pytest.mark.parametrize("fname", ROW_NAMES)
def test_row_has_a_class(fname):
    cls = CLASSES[fname]
    assert getattr(lf, cls.__name__) is cls and cls.__name__ in lf.__all__
    for method in ("forward", "backward", "forward_backward", "hessian", "hvp"):
        assert callable(getattr(cls, method)), method
    row = CORE_ROWS[fname]
    assert cls._narrays == len(_rows.row_arrays(row))
    # the class's options are options of the row (none it lacks is a placeholder)
    assert set(cls._options) <= _face_options(fname)
    assert not [name for name in _face_options(fname) - set(cls._options)
                if name in vars(cls)], "a placeholder attribute for an option"
    assert cls._batchmean == row["batchmean"]


def _grads(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("fname", ROW_NAMES)
def test_row_reaches_gradients_out_and_second_order(fname):
    row = BY_FNAME[fname]
    dtype = np.float64
    inputs = valid_inputs(row, dtype)
    crit = row.cls(**valid_options(row, dtype), reduction="sum")
    loss, grad = crit.forward_backward(*inputs)
    grads = _grads(grad)
    assert len(grads) == CORE_ROWS[fname]["ngrad"]
    for g, i in zip(grads, row.diff):
        assert g.shape == np.shape(inputs[i]) and g.dtype == dtype
    # out=: the gradients land in the caller's buffers
    assert CORE_ROWS[fname]["out"]
    bufs = tuple(np.empty(np.shape(inputs[i]), dtype) for i in row.diff)
    _, into = crit.forward_backward(*inputs, out=bufs if len(bufs) > 1 else bufs[0])
    for got, buf, want in zip(_grads(into), bufs, grads):
        assert got is buf
        np.testing.assert_array_equal(buf, want)
    np.testing.assert_array_equal(crit(*inputs), loss)
    for got, want in zip(_grads(crit.backward()), grads):
        np.testing.assert_array_equal(got, want)
    vs = tuple(np.ones(np.shape(inputs[i]), dtype) for i in row.diff)
    v = vs if len(vs) > 1 else vs[0]
    if crit._no_hessian is not None:  # CTC says why, on both faces
        with pytest.raises(NotImplementedError, match="no Hessian"):
            crit.hessian()
        with pytest.raises(NotImplementedError, match="no Hessian"):
            crit.hvp(v)
        return
    _, _, hess = crit.forward_backward(*inputs, hessian=True)
    for got, want in zip(_grads(crit.hessian()), _grads(hess)):
        np.testing.assert_array_equal(got, want)
    for h, i in zip(_grads(hess), row.diff):
        assert h.shape == np.shape(inputs[i]) and h.dtype == dtype
    for hv, i in zip(_grads(crit.hvp(v)), row.diff):
        assert hv.shape == np.shape(inputs[i]) and hv.dtype == dtype


@pytest.mark.dask
@pytest.mark.parametrize("fname", ROW_NAMES)
def test_row_reaches_dask(fname):
    # what _dask does with a row is its own business (tests/test_dask.py); here: a
    # Dask call of each face works and computes to the NumPy path's values
    da = pytest.importorskip("dask.array")
    row = BY_FNAME[fname]
    dtype = np.float64
    inputs = valid_inputs(row, dtype)
    opts = valid_options(row, dtype)
    lazy = tuple(da.from_array(np.asarray(a), chunks=max(1, np.shape(a)[0] // 2))
                 if np.ndim(a) else a for a in inputs)
    want = row.fn(*inputs, reduction="sum", **opts)
    got = row.fn(*lazy, reduction="sum", **opts)
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(scheduler="synchronous"), want, rtol=1e-11)
    loss, grad = row.cls(**opts, reduction="sum").forward_backward(*inputs)
    lazy_loss, lazy_grad = row.cls(**opts, reduction="sum").forward_backward(*lazy)
    np.testing.assert_allclose(lazy_loss.compute(scheduler="synchronous"), loss, rtol=1e-11)
    for got, want in zip(_grads(lazy_grad), _grads(grad)):
        np.testing.assert_allclose(got.compute(scheduler="synchronous"), want, rtol=1e-11,
                                   atol=1e-14)


HEAD_NAMES = sorted(_rows.HEADS)


def test_the_table_names_the_fused_heads():
    # cross-entropy's and BCE with logits' rows name their heads; no other row has one
    assert {row["fname"]: row["head"]["cls"] for row in _rows.HEADS.values()} == {
        "cross_entropy": "LinearCrossEntropyLoss",
        "binary_cross_entropy_with_logits": "LinearBCEWithLogitsLoss"}
    assert all(row["head"] is None for row in _core.LOSSES
               if row["fname"] not in {r["fname"] for r in _rows.HEADS.values()})


def _head_case(fname):
    """A head's small call in float64: (its criterion, which owns the layer, the
    input, the head's target, the dense target its row's loss takes)."""
    rng = np.random.default_rng(5)
    crit = getattr(lf, _rows.HEADS[fname]["head"]["cls"])(4, 5, bias=True, dtype=np.float64,
                                                          seed=1, reduction="sum")
    x = rng.normal(size=(3, 4))
    if _rows.HEADS[fname]["fname"] == "cross_entropy":
        target = np.array([0, 4, 2])
        return crit, x, target, target
    target = np.array([[0, 2, -1], [4, -1, -1], [-1, -1, -1]])  # padded positive labels
    dense = np.zeros((3, 5))
    for i, labels in enumerate(target):
        dense[i, labels[labels >= 0]] = 1.0
    return crit, x, target, dense


@pytest.mark.parametrize("fname", HEAD_NAMES)
def test_head_reaches_every_face(fname):
    """Each row's fused head: its function and class compute the row's loss of the
    layer's logits, with gradients (``out=`` too), Hessian diagonal and ``hvp``
    through the layer (z = x W^T + b: dx = G W, dW = G^T x, H_x v = H_z (v W^T) W),
    a Dask call, and its docs entries."""
    row = _rows.HEADS[fname]
    cls_name = row["head"]["cls"]
    assert fname in F.__all__ and cls_name in lf.__all__
    crit, x, target, dense = _head_case(fname)
    W, b = crit.linear.weight, crit.linear.bias
    z = x @ W.T + b
    oracle = getattr(lf, row["cls"])(reduction="sum")  # the row's own loss of the logits
    want, G = oracle.forward_backward(z, dense)
    assert np.isclose(getattr(F, fname)(x, W, target, linear_bias=b, reduction="sum"), want,
                      rtol=1e-12)
    buf = np.empty_like(x)
    loss, dx = crit.forward_backward(x, target, out=buf)
    assert dx is buf and np.isclose(loss, want, rtol=1e-12)
    np.testing.assert_allclose(dx, G @ W, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(crit.linear.weight_grad, G.T @ x, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(crit.linear.bias_grad, G.sum(0), rtol=1e-10, atol=1e-14)
    v = np.random.default_rng(6).normal(size=x.shape)
    oracle(z, dense)
    np.testing.assert_allclose(crit.hvp(v), oracle.hvp(v @ W.T) @ W, rtol=1e-10, atol=1e-13)
    eye = np.eye(x.shape[1])
    diag = np.stack([np.stack([(oracle.hvp(np.outer(np.eye(3)[i], e) @ W.T) @ W)[i] @ e
                               for e in eye]) for i in range(3)])
    crit(x, target)
    np.testing.assert_allclose(crit.hessian(), diag, rtol=1e-10, atol=1e-13)
    assert cls_name in _rst_entries(DOCS / "api" / "pylossfn.rst")
    assert fname in _rst_entries(DOCS / "api" / "functional.rst")
    assert cls_name in _doc_table("FORMULAS")


@pytest.mark.dask
@pytest.mark.parametrize("fname", HEAD_NAMES)
def test_head_reaches_dask(fname):
    da = pytest.importorskip("dask.array")
    crit, x, target, _ = _head_case(fname)
    W, b = crit.linear.weight, crit.linear.bias
    want = getattr(F, fname)(x, W, target, linear_bias=b, reduction="sum")
    lazy = getattr(F, fname)(da.from_array(x, chunks=2), W, da.from_array(target, chunks=2),
                             linear_bias=b, reduction="sum")
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(scheduler="synchronous"), want, rtol=1e-12)


def _rst_entries(path):
    return set(re.findall(r"^\s+~?(?:pylossfn\.)?(?:functional\.)?(\w+)\s*$",
                          path.read_text(), re.M))


def _doc_table(name):
    """The keys of docs/_ext/loss_pages.py's dict ``name`` (FORMULAS, NONE_RULE),
    read from its source (importing it needs Sphinx): literal keys and the
    names spread in with ``**dict.fromkeys((...), ...)``."""
    tree = ast.parse((DOCS / "_ext" / "loss_pages.py").read_text())
    node = next(n.value for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign))
                and name in [getattr(t, "id", None)
                             for t in (n.targets if isinstance(n, ast.Assign) else [n.target])])
    keys = set()
    for key, value in zip(node.keys, node.values):
        if key is not None:
            keys.add(key.value)
        else:  # **dict.fromkeys((...), ...)
            keys.update(e.value for e in value.args[0].elts)
    return keys


@pytest.mark.parametrize("fname", ROW_NAMES)
def test_row_is_documented(fname):
    cls = CLASSES[fname]
    assert cls.__name__ in _doc_table("FORMULAS")
    # the page's "none" shape: the text of the row's rule, or the loss's own where the
    # options decide it ("core")
    rule = _core_row(fname)["dask"]["none"]
    assert rule in _doc_table("NONE_RULE") or cls.__name__ in _doc_table("NONE_OWN")
    assert cls._row == fname  # the pages name the function by the class's row
    assert cls.__name__ in _rst_entries(DOCS / "api" / "pylossfn.rst")
    assert fname in _rst_entries(DOCS / "api" / "functional.rst")


def _page_generator():
    return load_tool("gen_api_pages")


@pytest.mark.parametrize("page", ["functional.rst", "pylossfn.rst"])
def test_api_pages_list_the_table(page):
    # the loss sections of the API pages are made from the rows (their family and
    # function or class): a row added without rerunning the generator fails here
    gen = _page_generator()
    text = (DOCS / "api" / page).read_text(encoding="utf-8")
    assert text == gen.render(text, _core.LOSSES, _core.FAMILIES, gen.PAGES[page]), (
        f"docs/api/{page} differs from the table: run python tools/gen_api_pages.py")


def test_api_page_generator_follows_the_table():
    # a row's family decides its section; a new row appears in its family's list
    gen = _page_generator()
    rows = [dict(r) for r in _core.LOSSES]
    l1 = next(r for r in rows if r["fname"] == "l1_loss")
    l1["family"] = "sequence"
    rows.append({**l1, "fname": "new_loss", "cls": "NewLoss", "family": "pairs", "plain": False,
                 "head": {"fname": "linear_new_loss", "cls": "LinearNewLoss"}})
    text = gen.render(f"x\n{gen.BEGIN}{gen.END}y\n", rows, _core.FAMILIES, "fname")
    body = text.split(gen.BEGIN)[1].split(gen.END)[0]
    sections = dict(re.findall(r"(\S[^\n]*)\n-+\n\n(?:[^.\n][^\n]*\n\n)?"  # an intro line
                               r"\.\. autosummary::\n[^\n]*\n[^\n]*\n\n((?:   \w+\n)+)", body))
    assert sections["Sequences"].split() == ["ctc_loss", "l1_loss"]
    assert sections["Margins, pairs and embeddings"].split()[-1] == "new_loss"
    assert "l1_loss" not in sections["Regression and distributions"].split()
    # a row's head is listed in the heads' section, after the table's own heads
    assert sections[gen.HEADS[0]].split()[-1] == "linear_new_loss"
    assert text.startswith("x\n") and text.endswith(gen.END + "y\n")


def _readme_first_column():
    """The first cells of the README's table of losses (its rows after the
    header "| class (`pylossfn.X`) | function ..."), the fused heads' included."""
    lines = (DOCS.parent / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| class (`pylossfn.X`)"))
    cells = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells.append(line.split("|")[1])
    return cells


def _readme_loss_table():
    """The class names of the README's table of losses."""
    return set(re.findall(r"`(\w+)\(", "".join(_readme_first_column())))


def _readme_signatures():
    """(class name, its README parameters) for each ``Name(a, *, b=...)`` of the
    README's table of losses."""
    return [(name, [p.strip() for p in params.split(",") if p.strip()])
            for cell in _readme_first_column()
            for name, params in re.findall(r"`(\w+)\(([^`]*)\)`", cell)]


def test_readme_table_signatures_are_the_classes():
    # the README writes each class's constructor: its keywords in order, the
    # keyword-only ones after "*", any default it shows the class's own ("..."
    # ends a list it shortens)
    found = _readme_signatures()
    assert len(found) >= len(CORE_ROWS)  # the reader finds the table
    for name, params in found:
        init = inspect.signature(getattr(lf, name).__init__).parameters
        want = []
        for p in list(init.values())[1:]:
            if p.kind is p.KEYWORD_ONLY and "*" not in want:
                want.append("*")
            want.append(p.name)
        shown = params[:-1] if params[-1:] == ["..."] else params
        names = [p.split("=")[0] for p in shown]
        assert names == (want[:len(names)] if len(shown) < len(params) else want), name
        for p in shown:
            if "=" in p:
                key, value = p.split("=", 1)
                assert ast.literal_eval(value) == init[key].default, (name, key)


def test_readme_table_names_every_loss_class():
    # the README's table says what each loss is for, in words: it must name every
    # row's class (its signatures are checked above, too)
    names = _readme_loss_table()
    assert {"BCEWithLogitsLoss", "CTCLoss"} <= names  # the reader finds the table
    assert sorted(row["cls"] for row in CORE_ROWS.values() if row["cls"] not in names) == []


def test_doc_table_reader_reads_both_forms():
    # the reader above sees literal keys and dict.fromkeys spreads (it is not vacuous)
    assert {"BCELoss", "MSELoss"} <= _doc_table("FORMULAS")
    assert {"broadcast", "classes"} <= _doc_table("NONE_RULE")
    assert {"DiceLoss", "GeneralizedDiceLoss"} <= _doc_table("NONE_OWN")


def _core_row(fname):
    return next(row for row in _core.LOSSES if row["fname"] == fname)


def _loss_names():
    """Every name of a loss: the core's entry points, torch's function names
    and the classes."""
    return ({row["name"] for row in _core.LOSSES if not row["plain"]} | set(CORE_ROWS)
            | {cls.__name__ for cls in CLASSES.values()}
            | {n for row in _rows.HEADS.values() for n in row["head"].values()})


def _own_names(tree):
    """What a file may name: what it defines (a class, a function) and writes in its
    ``__all__`` (the faces of a row; a class does not name its row, the row names
    the class)."""
    own = {n.name for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    for node in ast.walk(tree):
        targets = [getattr(t, "id", None) for t in getattr(node, "targets", [])]
        if isinstance(node, ast.Assign) and "__all__" in targets:
            own |= {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
    return own


#: names a file may use beyond its own, each with its reason
ALLOWED = {
    # hessian="builtin" reproduces XGBoost's / LightGBM's / CatBoost's own logistic and
    # softmax objectives, which are these two losses
    "boosting.py": {"BCEWithLogitsLoss", "CrossEntropyLoss"},
    # the fused classifier head is a cross-entropy: it asks the core's cross_entropy for
    # its mean's divisor (WANT_NORM) rather than deriving it again
    "_heads.py": {"cross_entropy"},
}


def _named_losses(path, allowed=frozenset()):
    """The names of a loss in a source file (string constants: a hand-kept list or a
    branch on a name; identifiers: a class used by name) that the file neither defines
    nor is allowed, with their lines."""
    tree = ast.parse(path.read_text())
    names = _loss_names() - _own_names(tree) - set(allowed)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in names:
            found.add((node.lineno, node.value))
        elif isinstance(node, ast.Name) and node.id in names:
            found.add((node.lineno, node.id))
        elif isinstance(node, ast.Attribute) and node.attr in names:
            found.add((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom):
            found |= {(node.lineno, a.name) for a in node.names if a.name in names}
    return sorted(found)


PACKAGE_FILES = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("relpath", PACKAGE_FILES)
def test_nothing_outside_the_table_names_a_loss(relpath):
    """Every file of the package: no loss named outside its own definitions and rows."""
    assert _named_losses(PKG / relpath, ALLOWED.get(Path(relpath).name, ())) == []


def test_the_scan_covers_the_package():
    assert {"functional.py", "boosting.py", "_dask.py", "modules/_base.py",
            "_heads.py", "metrics/__init__.py"} <= set(PACKAGE_FILES)


def test_the_name_scan_finds_a_named_loss(tmp_path):
    # the scan above would find a hand-kept list, a branch on a name and a class used by
    # name (it is not vacuous), and spares what the file defines
    src = tmp_path / "x.py"
    src.write_text('_ROWS = {"cross_entropy": 1}\nif name == "CTCLoss":\n    pass\n'
                   "KINDS = (MSELoss, lf.L1Loss)\nfrom .modules import HuberLoss\n"
                   "class SoftF1Loss:\n    _row = \"soft_f1_loss\"\n"
                   "__all__ = [\"SoftF1Loss\"]\n")
    assert _named_losses(src) == [(1, "cross_entropy"), (2, "CTCLoss"), (4, "L1Loss"),
                                  (4, "MSELoss"), (5, "HuberLoss"), (7, "soft_f1_loss")]


def test_each_loss_class_is_the_one_its_row_names():
    # the row owns the link: "cls" names the class, which gets _row from it
    for fname, row in CORE_ROWS.items():
        cls = getattr(lf, row["cls"])
        assert cls._row == fname and cls is CLASSES[fname]
        assert cls.__module__.startswith("pylossfn.modules.")
    for row in _core.LOSSES:
        assert row["family"] in _rows.FAMILIES, row["fname"]
        assert (row["cls"] is None) == row["plain"], row["fname"]


def test_a_class_option_that_the_row_lacks_is_refused_where_the_class_is_written():
    with pytest.raises(TypeError, match=r"l1_loss: the row has no argument \['beta'\]"):
        class Bad(lf.Loss):  # noqa: F841 - defining it is the test
            _row = "l1_loss"

            def __init__(self, *, beta: float = 1.0, reduction: str = "mean") -> None:
                super().__init__(reduction)


def test_a_function_must_take_every_argument_of_its_row():
    def huber_loss(input, target, reduction="mean", delta=1.0):
        """No weight."""

    with pytest.raises(TypeError, match=r"huber_loss: the face has no argument 'weight'"):
        _rows.from_row(huber_loss)


def test_a_class_without_a_row_option_gets_the_functions_default():
    # L1Loss (as torch's module) has no weight: its calls pass the function's None
    crit = lf.L1Loss(reduction="sum")
    assert "weight" not in crit._options and not hasattr(crit, "weight")
    x, y = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    assert crit(x, y) == F.l1_loss(x, y, reduction="sum") == np.abs(x - y).sum()


def test_a_class_default_that_differs_from_the_functions_is_refused():
    """The function's signature owns the defaults; a class restating one differently
    fails where it is written (not as a silently different loss)."""
    with pytest.raises(TypeError, match=r"the default of 'beta' is 2.0, but the function's is 1.0"):
        class Bad(lf.Loss):  # noqa: F841 - defining it is the test
            _row = "smooth_l1_loss"

            def __init__(self, beta: float = 2.0, reduction: str = "mean") -> None:
                super().__init__(reduction)
                self.beta = beta

    class Good(lf.Loss):  # the same default: accepted
        _row = "smooth_l1_loss"

        def __init__(self, beta: float = 1.0, reduction: str = "mean") -> None:
            super().__init__(reduction)
            self.beta = beta

    x = np.linspace(-3, 3, 7)
    assert Good()(x, 0 * x) == F.smooth_l1_loss(x, 0 * x)
