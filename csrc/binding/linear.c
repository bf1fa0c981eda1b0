/*
 * linear.c -- the tile kernels of the fused classifier heads.
 *
 * Unlike the loss entry points these are private building blocks:
 * pylossfn.functional validates the user's arguments, cuts the logits into
 * tiles, computes each with NumPy's matmul and calls one of these per tile.
 * They still check every array they are given (dtype, shape, layout,
 * writeability), so that no call from Python can make them read or write
 * out of bounds; the messages are for pylossfn's own code.
 *
 *   _lce_tile(tile, c0, C, target, probs, weight, wsum, ignore_index,
 *             label_smoothing, mode, grad, m, s, a, b, lse, rowscale)
 *   _lbce_tile(tile, c0, C, pos, pos_weight, loss, out, rowscale, go, grad)
 *
 * tile: float32/float64 [rows, cols], unit stride along a row, writeable;
 * the per-row arrays are float64 [rows], contiguous; target / pos int64,
 * C-contiguous ([rows] / [rows, P]); probs / out / go of the tile's dtype;
 * weight / pos_weight of the tile's dtype, contiguous [C]; None for the
 * optional ones.  Each function states its arguments as two tables, the
 * arrays (tile_arg: position, dtype, shape, layout, writeable, optional) and
 * the numbers (tile_num), next to their names.
 */
#include "binding.h"

static int
bad(const char *fname, const char *what)
{
    PyErr_Format(PyExc_ValueError, "%s: %s", fname, what);
    return -1;
}

/* What one array argument of a tile function must be. */
enum {
    UNIT_LAST = 1, /* unit stride along the last dim (when it has more than one) */
    DENSE_ROWS = 2 /* and, 2-d, rows one after another (C order) */
};
typedef struct {
    const char *name;
    int at;         /* its position among the arguments */
    int type;       /* an NPY_ type number (int64 or float64), or the tile's */
    int ndim;
    npy_intp len0;  /* the leading length, or -1: any */
    npy_intp len1;  /* the second (2-d), or -1: any */
    int layout;     /* 0, UNIT_LAST or DENSE_ROWS */
    int writeable;
    int may_none;   /* None allowed (then NULL) */
    PyArrayObject **out;
} tile_arg;

static int
layout_ok(PyArrayObject *a, const tile_arg *d)
{
    const int nd = d->ndim;
    return !(d->layout && PyArray_DIM(a, nd - 1) > 1 &&
             PyArray_STRIDE(a, nd - 1) != PyArray_ITEMSIZE(a)) &&
           !(nd == 2 && d->layout == DENSE_ROWS && PyArray_DIM(a, 0) > 1 &&
             PyArray_STRIDE(a, 0) != PyArray_DIM(a, 1) * PyArray_ITEMSIZE(a));
}

/* obj as d describes it, into *d->out (NULL for an allowed None). */
static int
get(const char *fname, const tile_arg *d, PyObject *obj)
{
    *d->out = NULL;
    if (obj == Py_None && d->may_none) {
        return 0;
    }
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be an ndarray", fname, d->name);
        return -1;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    /* equivalent, not equal, type numbers: int64 is NPY_LONG or NPY_LONGLONG
     * depending on how NumPy 1.x made the array (np.where with a Python int) */
    if (!PyArray_EquivTypenums(PyArray_TYPE(a), d->type) || PyArray_NDIM(a) != d->ndim ||
        !PyArray_ISALIGNED(a) || !PyArray_ISNOTSWAPPED(a) ||
        (d->len0 >= 0 && PyArray_DIM(a, 0) != d->len0) ||
        (d->ndim == 2 && d->len1 >= 0 && PyArray_DIM(a, 1) != d->len1) || !layout_ok(a, d) ||
        (d->writeable && !PyArray_ISWRITEABLE(a))) {
        PyErr_Format(PyExc_ValueError, "%s: %s has the wrong dtype, shape or layout", fname,
                     d->name);
        return -1;
    }
    *d->out = a;
    return 0;
}

/* Every array of a tile function, in the order of its table. */
static int
get_all(const char *fname, PyObject *const *args, const tile_arg *table, int n)
{
    for (int i = 0; i < n; i++) {
        if (get(fname, &table[i], args[table[i].at]) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
get_long(const char *fname, PyObject *obj, long long *v)
{
    *v = PyLong_AsLongLong(obj);
    if (*v == -1 && PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "%s: an integer argument is not an int", fname);
        return -1;
    }
    return 0;
}

/* A number argument of a tile function, at its position: a real (into
 * *real) or an integer (into *integer). */
typedef struct {
    const char *name;
    int at;
    double *real;
    long long *integer;
} tile_num;

static int
get_nums(const char *fname, PyObject *const *args, const tile_num *table, int n)
{
    for (int i = 0; i < n; i++) {
        PyObject *obj = args[table[i].at];
        if (table[i].real != NULL) {
            *table[i].real = PyFloat_AsDouble(obj);
            if (*table[i].real == -1.0 && PyErr_Occurred()) {
                return -1;
            }
        }
        else if (get_long(fname, obj, table[i].integer) < 0) {
            return -1;
        }
    }
    return 0;
}

#define D(arr) ((double *)PyArray_DATA(arr))
#define COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* The arguments both tile functions start with: their count, then the tile
 * (float32 or float64, which sets *type), its first class c0 and the class
 * count C.  Borrowed references only. */
static int
tile_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want,
          int *type, PyArrayObject **tile, long long *c0, long long *C)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments", fname, want);
        return -1;
    }
    if (!PyArray_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s: tile must be an ndarray", fname);
        return -1;
    }
    *type = PyArray_TYPE((PyArrayObject *)args[0]);
    if (*type != NPY_FLOAT && *type != NPY_DOUBLE) {
        return bad(fname, "tile must be float32 or float64");
    }
    const tile_arg d = {"tile", 0, *type, 2, -1, -1, UNIT_LAST, 1, 0, tile};
    if (get(fname, &d, args[0]) < 0 || get_long(fname, args[1], c0) < 0 ||
        get_long(fname, args[2], C) < 0) {
        return -1;
    }
    return 0;
}

/* A tile kernel's geometry (lf_lce_tile and lf_lbce_tile alike): the logits
 * tile, its rows and columns, and where its columns sit among the C classes. */
#define SET_TILE(t, tile, C, c0)                  \
    do {                                          \
        (t).rows = PyArray_DIM((tile), 0);        \
        (t).cols = PyArray_DIM((tile), 1);        \
        (t).C = (ptrdiff_t)(C);                   \
        (t).c0 = (ptrdiff_t)(c0);                 \
        (t).tile = PyArray_BYTES(tile);           \
        (t).ld = PyArray_STRIDE((tile), 0);       \
    } while (0)

PyObject *
py_lce_tile(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    static const char *fname = "_lce_tile";
    PyArrayObject *tile, *target, *probs, *weight, *m, *s, *a, *b, *lse, *rowscale;
    long long c0, C, ignore_index, mode, grad;
    double wsum, ls;
    int type;
    const tile_num nums[] = {{"wsum", 6, &wsum, NULL},
                             {"ignore_index", 7, NULL, &ignore_index},
                             {"label_smoothing", 8, &ls, NULL},
                             {"mode", 9, NULL, &mode},
                             {"grad", 10, NULL, &grad}};
    if (tile_args(fname, args, nargs, 17, &type, &tile, &c0, &C) < 0 ||
        get_nums(fname, args, nums, COUNT(nums)) < 0) {
        return NULL;
    }
    const npy_intp rows = PyArray_DIM(tile, 0), cols = PyArray_DIM(tile, 1);
    if (c0 < 0 || C < 1 || cols < 0 || c0 + cols > C || mode < 0 || mode > 2 ||
        (mode == LF_LCE_FULL && (c0 != 0 || cols != C)) || !(ls >= 0.0 && ls <= 1.0)) {
        bad(fname, "c0, C, mode or label_smoothing out of range");
        return NULL;
    }
    const int lse_none = mode != LF_LCE_GRAD, rowscale_none = !(mode == LF_LCE_GRAD || grad);
    const tile_arg table[] = {
        {"target", 3, NPY_INT64, 1, rows, -1, UNIT_LAST, 0, 1, &target},
        {"probs", 4, type, 2, rows, C, 0, 0, 1, &probs},
        {"weight", 5, type, 1, C, -1, UNIT_LAST, 0, 1, &weight},
        {"m", 11, NPY_DOUBLE, 1, rows, -1, UNIT_LAST, 1, 0, &m},
        {"s", 12, NPY_DOUBLE, 1, rows, -1, UNIT_LAST, 1, 0, &s},
        {"a", 13, NPY_DOUBLE, 1, rows, -1, UNIT_LAST, 1, 0, &a},
        {"b", 14, NPY_DOUBLE, 1, rows, -1, UNIT_LAST, 1, 0, &b},
        {"lse", 15, NPY_DOUBLE, 1, rows, -1, UNIT_LAST, 0, lse_none, &lse},
        {"rowscale", 16, NPY_DOUBLE, 1, rows, -1, UNIT_LAST, 0, rowscale_none, &rowscale},
    };
    if (get_all(fname, args, table, COUNT(table)) < 0) {
        return NULL;
    }
    if ((target == NULL) == (probs == NULL)) {
        bad(fname, "exactly one of target and probs must be given");
        return NULL;
    }
    lf_lce_tile t = {0};
    SET_TILE(t, tile, C, c0);
    t.target = target ? (const int64_t *)PyArray_DATA(target) : NULL;
    if (probs) {
        t.probs = PyArray_BYTES(probs);
        t.p_n = PyArray_STRIDE(probs, 0);
        t.p_c = PyArray_STRIDE(probs, 1);
    }
    t.weight = weight ? PyArray_BYTES(weight) : NULL;
    t.wsum = wsum;
    t.ignore_index = (int64_t)ignore_index;
    t.label_smoothing = ls;
    t.m = D(m);
    t.s = D(s);
    t.a = D(a);
    t.b = D(b);
    t.lse = lse ? D(lse) : NULL;
    t.rowscale = rowscale ? D(rowscale) : NULL;
    t.grad = grad != 0;
    const int imode = (int)mode;
    Py_BEGIN_ALLOW_THREADS
    if (type == NPY_FLOAT) {
        lf_lce_tile_f32(&t, imode);
    }
    else {
        lf_lce_tile_f64(&t, imode);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyObject *
py_lbce_tile(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    static const char *fname = "_lbce_tile";
    PyArrayObject *tile, *pos, *pos_weight, *loss, *out, *rowscale, *go;
    long long c0, C, grad;
    int type;
    const tile_num nums[] = {{"grad", 9, NULL, &grad}};
    if (tile_args(fname, args, nargs, 10, &type, &tile, &c0, &C) < 0 ||
        get_nums(fname, args, nums, COUNT(nums)) < 0) {
        return NULL;
    }
    const npy_intp rows = PyArray_DIM(tile, 0), cols = PyArray_DIM(tile, 1);
    if (c0 < 0 || C < 1 || c0 + cols > C) {
        bad(fname, "c0 or C out of range");
        return NULL;
    }
    const tile_arg table[] = {
        {"pos", 3, NPY_INT64, 2, rows, -1, DENSE_ROWS, 0, 0, &pos},
        {"pos_weight", 4, type, 1, C, -1, UNIT_LAST, 0, 1, &pos_weight},
        {"loss", 5, NPY_DOUBLE, 1, rows, -1, UNIT_LAST, 1, 0, &loss},
        {"out", 6, type, 2, rows, cols, UNIT_LAST, 1, 1, &out},
        {"rowscale", 7, NPY_DOUBLE, 1, rows, -1, UNIT_LAST, 0, 1, &rowscale},
        {"go", 8, type, 2, rows, cols, UNIT_LAST, 0, 1, &go},
    };
    if (get_all(fname, args, table, COUNT(table)) < 0) {
        return NULL;
    }
    if (grad && go == NULL && rowscale == NULL) {
        bad(fname, "the gradient needs rowscale or go");
        return NULL;
    }
    lf_lbce_tile t = {0};
    SET_TILE(t, tile, C, c0);
    t.pos = (const int64_t *)PyArray_DATA(pos);
    t.P = PyArray_DIM(pos, 1);
    t.pos_weight = pos_weight ? PyArray_BYTES(pos_weight) : NULL;
    t.loss = D(loss);
    if (out) {
        t.out = PyArray_BYTES(out);
        t.out_ld = PyArray_STRIDE(out, 0);
    }
    t.rowscale = rowscale ? D(rowscale) : NULL;
    if (go) {
        t.go = PyArray_BYTES(go);
        t.go_ld = PyArray_STRIDE(go, 0);
    }
    t.grad = grad != 0;
    Py_BEGIN_ALLOW_THREADS
    if (type == NPY_FLOAT) {
        lf_lbce_tile_f32(&t);
    }
    else {
        lf_lbce_tile_f64(&t);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}
