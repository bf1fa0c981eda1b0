/*
 * table.c -- _core.LOSSES and the entry points' docstrings, both derived from
 * the specs the parser reads (one description of every loss, as NumPy's
 * ufunc metadata and scikit-learn's class_list are): the Python surface can
 * be generated from the core rather than kept beside it.
 */
#include "binding.h"

#include <string.h>

/* The specs of methods.h's entry points, in its order, with their names. */
static const char *const entry_names[] = {
#define LF_NAME(name) #name,
    LF_METHODS(LF_NAME)
#undef LF_NAME
};

static const lf_spec *
entry_spec(int i)
{
    const lf_spec *const *const specs[] = {
#define LF_SPEC_PTR(name) &lf_spec_##name,
        LF_METHODS(LF_SPEC_PTR)
#undef LF_SPEC_PTR
    };
    return *specs[i];
}

int
lf_n_entries(void)
{
    return (int)(sizeof(entry_names) / sizeof(entry_names[0]));
}

static const char *const kind_names[] = {
    [A_INPUT] = "input",  [A_REAL] = "real",   [A_FLOAT] = "float",
    [A_INDEX] = "index",  [A_ARRAY] = "array", [O_REAL] = "real_option",
    [O_REAL_OR_NONE] = "real_or_none_option", [O_INDEX] = "index_option",
    [O_BOOL] = "bool_option", [O_LONG] = "long_option",
};

static const char *const check_names[] = {
    [C_NONE] = "none",         [C_FINITE] = "finite",       [C_FINITE_GE0] = "finite_ge0",
    [C_FINITE_GT0] = "finite_gt0", [C_GE0] = "ge0",         [C_GT0] = "gt0",
    [C_UNIT] = "unit",         [C_UNIT_OPEN] = "unit_open", [C_ONE_OR_TWO] = "one_or_two",
    [C_INT64] = "int64",       [C_DIST] = "distance",       [C_STRICT] = "float32_or_float64",
    [C_1D] = "one_dimensional",
};

/* The trailing arguments of the uniform protocol. */
static const char *const protocol_names[] = {"reduction", "want", "grad_output"};

/* "name(a, b, ..., reduction, want, grad_output[, out])" into buf. */
static void
signature(char *buf, size_t size, const char *name, const lf_spec *s)
{
    size_t len = (size_t)snprintf(buf, size, "%s(", name);
    const int n = lf_nargs(s), plain = (s->flags & LF_PLAIN) != 0;
    const int total = n + (plain ? 0 : 3);
    for (int i = 0; i < total && len < size; i++) {
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
                                i < n ? s->args[i].name : protocol_names[i - n]);
    }
    if (len < size) {
        snprintf(buf + len, size - len, "%s)", (s->flags & LF_OUT) ? "[, out]" : "");
    }
}

#define LF_DOC_SIZE 192

/* An entry point's docstring into doc (LF_DOC_SIZE bytes): 0, or -1 with
 * SystemError when it does not fit. */
static int
entry_doc(char *doc, const char *name, const lf_spec *s)
{
    signature(doc, LF_DOC_SIZE, name, s);
    if (strlen(doc) + 1 >= LF_DOC_SIZE) {
        PyErr_Format(PyExc_SystemError, "%s: docstring too long", name);
        return -1;
    }
    return 0;
}

int
lf_docstrings(PyMethodDef *methods)
{
    static char docs[sizeof(entry_names) / sizeof(entry_names[0])][LF_DOC_SIZE];
    for (int i = 0; i < lf_n_entries(); i++) {
        if (entry_doc(docs[i], entry_names[i], entry_spec(i)) < 0) {
            return -1;
        }
        if (strcmp(methods[i].ml_name, entry_names[i])) {
            PyErr_Format(PyExc_SystemError, "%s: docstring or method table out of step",
                         entry_names[i]);
            return -1;
        }
        methods[i].ml_doc = docs[i];
    }
    return 0;
}

static PyObject *
arg_row(const lf_arg *a)
{
    return Py_BuildValue("{s:s,s:s,s:s,s:z}", "name", a->name, "kind", kind_names[a->kind],
                         "check", check_names[a->check], "what", a->what);
}

/* How Dask may cut the loss (binding.h's LF_SPLIT_ / LF_MEAN_ / LF_NONE_
 * flags): split None for the functions that are not losses.  "cut": the
 * weights cut with the input (an element-wise split cuts every array). */
static const char *const split_names[] = {NULL, "elementwise", "class_index", "rows", "whole"};
static const char *const mean_names[] = {"elements", "weights", "core", "own"};
static const char *const none_names[] = {"broadcast", "input_target", "rows",
                                         "classes",   "labels",       "batch", "core"};

static PyObject *
dask_row(const lf_spec *s)
{
    const int split = (s->flags & LF_SPLIT_MASK) >> 8, none = (s->flags & LF_NONE_MASK) >> 13;
    const int n = lf_nargs(s);
    int ncut = 0;
    for (int i = 0; split == 1 && i < n; i++) {
        ncut += s->args[i].kind == A_FLOAT;
    }
    if (split > 4 || none > 6) {
        PyErr_Format(PyExc_SystemError, "%s: unknown Dask flags", s->fname);
        return NULL;
    }
    PyObject *cut = PyTuple_New(ncut), *row = NULL;
    for (int i = 0, k = 0; cut != NULL && k < ncut && i < n; i++) {
        PyObject *name = s->args[i].kind == A_FLOAT ? PyUnicode_FromString(s->args[i].name) : NULL;
        if (name != NULL) {
            PyTuple_SET_ITEM(cut, k++, name);
        }
        else if (PyErr_Occurred()) {
            Py_CLEAR(cut);
        }
    }
    if (cut != NULL) {
        row = Py_BuildValue("{s:z,s:s,s:s,s:O}", "split", split_names[split], "mean",
                            mean_names[(s->flags & LF_MEAN_MASK) >> 11], "none", none_names[none],
                            "cut", cut);
        Py_DECREF(cut);
    }
    return row;
}

/* The row's faces beyond Dask: the boosting objective's labels, the dtypes its
 * kernel reads and writes in half itself, why it has no Hessian and its fused
 * classifier head ({"fname", "cls"}, or None). */
static const char *const boost_names[] = {NULL, "elementwise", "class_index", "rows"};

static const char *
half_name(int flags)
{
    return (flags & LF_HALF_EW)      ? "elementwise"
           : (flags & LF_HALF_CLASS) ? "class_rows"
           : (flags & LF_HALF_ROWS)  ? "embedding_rows"
                                     : NULL;
}

static int
set_faces(PyObject *row, const lf_spec *s)
{
    PyObject *head = s->head[0] == NULL ? Py_BuildValue("")  /* None */
                                        : Py_BuildValue("{s:s,s:s}", "fname", s->head[0],
                                                        "cls", s->head[1]);
    PyObject *faces = head == NULL ? NULL : Py_BuildValue(
        "{s:z,s:z,s:z,s:O}", "boosting", boost_names[(s->flags & LF_BOOST_MASK) >> 16], "half",
        half_name(s->flags), "no_hessian", (s->flags & LF_NO_HESS) ? LF_NO_HESSIAN_WHY : NULL,
        "head", head);
    int rc = faces != NULL ? PyDict_Update(row, faces) : -1;
    Py_XDECREF(head);
    Py_XDECREF(faces);
    return rc;
}

static const char *const family_names[] = {
#define LF_FAMILY_NAME(key, title) #key,
    LF_FAMILIES(LF_FAMILY_NAME)
#undef LF_FAMILY_NAME
};
static const char *const family_titles[] = {
#define LF_FAMILY_TITLE(key, title) title,
    LF_FAMILIES(LF_FAMILY_TITLE)
#undef LF_FAMILY_TITLE
};

/* 0 when the row's faces are well formed: a known family, and a class exactly
 * when it is a loss; else -1 with SystemError (at import: a row cannot ship
 * without them). */
static int
check_faces(const lf_spec *s)
{
    int known = 0;
    for (size_t i = 0; s->family && i < sizeof(family_names) / sizeof(family_names[0]); i++) {
        known |= !strcmp(s->family, family_names[i]);
    }
    const int head_ok = (s->head[0] == NULL) == (s->head[1] == NULL) &&
                        (s->head[0] == NULL || s->cls != NULL);
    if (!known || (s->cls == NULL) != ((s->flags & LF_PLAIN) != 0) || !head_ok) {
        PyErr_Format(PyExc_SystemError,
                     "%s: a row needs a known family and, if a loss, a class (and a head only "
                     "with both its names)", s->fname);
        return -1;
    }
    return 0;
}

static PyObject *
loss_row(const char *name, const lf_spec *s)
{
    const int n = lf_nargs(s);
    if (check_faces(s) < 0) {
        return NULL;
    }
    PyObject *args = PyTuple_New(n), *row = NULL;
    for (int i = 0; args != NULL && i < n; i++) {
        PyObject *arg = arg_row(&s->args[i]);
        if (arg == NULL) {
            Py_CLEAR(args);
            break;
        }
        PyTuple_SET_ITEM(args, i, arg);
    }
    if (args != NULL) {
        row = Py_BuildValue("{s:s,s:s,s:s,s:z,s:O,s:O,s:O,s:O,s:i}", "name", name, "fname",
                            s->fname, "family", s->family, "cls", s->cls, "args", args,
                            "out", (s->flags & LF_OUT) ? Py_True : Py_False, "batchmean",
                            (s->flags & LF_BATCHMEAN) ? Py_True : Py_False, "plain",
                            (s->flags & LF_PLAIN) ? Py_True : Py_False, "ngrad", s->ngrad);
        Py_DECREF(args);
    }
    PyObject *dask = row != NULL ? dask_row(s) : NULL; /* pylossfn._dask's rules */
    if (row != NULL &&
        (dask == NULL || PyDict_SetItemString(row, "dask", dask) < 0 || set_faces(row, s) < 0)) {
        Py_CLEAR(row);
    }
    Py_XDECREF(dask);
    return row;
}

#define N_ROW_ENTRIES ((int)(sizeof(lf_rg_entries) / sizeof(lf_rg_entries[0])))

PyMethodDef *
lf_row_methods(void)
{
    static PyMethodDef methods[N_ROW_ENTRIES + 1];
    static char docs[N_ROW_ENTRIES][LF_DOC_SIZE];
    for (int i = 0; i < N_ROW_ENTRIES; i++) {
        const lf_spec *s = lf_rg_entries[i].spec;
        if (entry_doc(docs[i], s->fname, s) < 0) {
            return NULL;
        }
        methods[i].ml_name = s->fname;
        methods[i].ml_meth = (PyCFunction)(void (*)(void))lf_rg_entries[i].fn;
        methods[i].ml_flags = METH_FASTCALL;
        methods[i].ml_doc = docs[i];
    }
    return methods; /* the last row stays zero: the sentinel */
}

PyObject *
lf_losses(void)
{
    const int n = lf_n_entries() + N_ROW_ENTRIES;
    PyObject *rows = PyTuple_New(n);
    for (int i = 0; rows != NULL && i < n; i++) {
        const int k = i - lf_n_entries();
        PyObject *row = k < 0 ? loss_row(entry_names[i], entry_spec(i))
                              : loss_row(lf_rg_entries[k].spec->fname, lf_rg_entries[k].spec);
        if (row == NULL) {
            Py_CLEAR(rows);
            break;
        }
        PyTuple_SET_ITEM(rows, i, row);
    }
    return rows;
}

PyObject *
lf_families(void)
{
    PyObject *families = PyDict_New();
    for (size_t i = 0; families != NULL && i < sizeof(family_names) / sizeof(family_names[0]);
         i++) {
        PyObject *title = PyUnicode_FromString(family_titles[i]);
        if (title == NULL || PyDict_SetItemString(families, family_names[i], title) < 0) {
            Py_CLEAR(families);
        }
        Py_XDECREF(title);
    }
    return families;
}
