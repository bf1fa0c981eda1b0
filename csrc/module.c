/*
 * module.c -- pylossfn._core, the only file that includes Python.h and the
 * NumPy headers.
 *
 * Each entry point converts and validates its arguments (raising the
 * exception of API.md with a message that names the argument), allocates its
 * outputs, then runs a Python-free kernel with the GIL released when the work
 * is large enough.  Every function has one exit path that releases every
 * object it owns.
 *
 * `want` is a bit set: 1 = the loss, 2 = the gradient (3 = both, a tuple).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_23_API_VERSION
#define NPY_TARGET_VERSION NPY_1_23_API_VERSION
#include <numpy/arrayobject.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pylossfn.h"

enum { WANT_LOSS = 1, WANT_GRAD = 2 };

/* Work (elements touched) above which the GIL is released around a kernel. */
#define GIL_THRESHOLD 4096

typedef struct {
    PyObject *converter; /* pylossfn._convert.as_array, imported on first use */
} module_state;

/* ------------------------------------------------------------------------ */
/* Conversion and validation                                                */
/* ------------------------------------------------------------------------ */

/* "(3, 4)" / "(3,)" / "()" into buf, for messages. */
static const char *
fmt_shape(char *buf, size_t size, int nd, const npy_intp *dims)
{
    size_t k = 0;
    k += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < nd && k < size; i++) {
        k += (size_t)snprintf(buf + k, size - k, i ? ", %" NPY_INTP_FMT : "%" NPY_INTP_FMT,
                              dims[i]);
    }
    if (k < size) {
        snprintf(buf + k, size - k, nd == 1 ? ",)" : ")");
    }
    return buf;
}

#define SHAPE_BUF 1600
#define ARR_SHAPE(buf, arr) \
    fmt_shape((buf), sizeof(buf), PyArray_NDIM(arr), PyArray_DIMS(arr))

/* A new reference to obj as an ndarray.  Exact ndarrays pass through; any
 * other object goes to pylossfn._convert.as_array, which refuses masked
 * arrays and names the argument in its errors. */
static PyArrayObject *
to_ndarray(PyObject *mod, PyObject *obj, const char *fname, const char *arg)
{
    if (PyArray_CheckExact(obj)) {
        Py_INCREF(obj);
        return (PyArrayObject *)obj;
    }
    module_state *st = PyModule_GetState(mod);
    if (st->converter == NULL) {
        PyObject *conv = PyImport_ImportModule("pylossfn._convert");
        if (conv == NULL) {
            return NULL;
        }
        st->converter = PyObject_GetAttrString(conv, "as_array");
        Py_DECREF(conv);
        if (st->converter == NULL) {
            return NULL;
        }
    }
    PyObject *res = PyObject_CallFunction(st->converter, "Oss", obj, fname, arg);
    if (res != NULL && !PyArray_Check(res)) {
        PyErr_Format(PyExc_TypeError, "%s: %s could not be converted to an array", fname,
                     arg);
        Py_CLEAR(res);
    }
    return (PyArrayObject *)res;
}

/* arr (stolen) as an aligned, native-byte-order array of typenum. */
static PyArrayObject *
native(PyArrayObject *arr, int typenum)
{
    if (PyArray_TYPE(arr) == typenum && PyArray_ISALIGNED(arr) &&
        PyArray_ISNOTSWAPPED(arr)) {
        return arr;
    }
    PyArrayObject *res = (PyArrayObject *)PyArray_FromArray(
        arr, PyArray_DescrFromType(typenum), NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    Py_DECREF(arr);
    return res;
}

/* The differentiable input: float32 or float64, nothing else. */
static PyArrayObject *
float_input(PyObject *mod, PyObject *obj, const char *fname, const char *arg)
{
    PyArrayObject *arr = to_ndarray(mod, obj, fname, arg);
    if (arr == NULL) {
        return NULL;
    }
    int t = PyArray_TYPE(arr);
    if (t != NPY_FLOAT && t != NPY_DOUBLE) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a float32 or float64 array, got dtype %S",
                     fname, arg, (PyObject *)PyArray_DESCR(arr));
        Py_DECREF(arr);
        return NULL;
    }
    return native(arr, t);
}

/* A float operand cast to the input's dtype; with allow_int, bool and
 * integer arrays (0/1 labels) are taken too. */
static PyArrayObject *
float_like(PyObject *mod, PyObject *obj, int typenum, int allow_int, const char *fname,
           const char *arg)
{
    PyArrayObject *arr = to_ndarray(mod, obj, fname, arg);
    if (arr == NULL) {
        return NULL;
    }
    char kind = PyArray_DESCR(arr)->kind;
    if (!(kind == 'f' || (allow_int && (kind == 'i' || kind == 'u' || kind == 'b')))) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a %s array, got dtype %S", fname, arg,
                     allow_int ? "real (float, integer or bool)" : "floating-point",
                     (PyObject *)PyArray_DESCR(arr));
        Py_DECREF(arr);
        return NULL;
    }
    return native(arr, typenum);
}

/* Can dims [0, nd) be walked as one flat sequence with a single stride? */
static int
flat_stride(int nd, const npy_intp *dims, const npy_intp *strides, npy_intp *out)
{
    npy_intp stride = 0;
    int have = 0;
    for (int d = nd - 1; d >= 0; d--) {
        if (dims[d] == 0) {
            *out = 0;
            return 1;
        }
    }
    npy_intp inner_extent = 1; /* elements spanned by the dims after d */
    for (int d = nd - 1; d >= 0; d--) {
        if (dims[d] == 1) {
            continue;
        }
        if (!have) {
            stride = strides[d];
            have = 1;
        }
        else if (strides[d] != stride * inner_extent) {
            return 0;
        }
        inner_extent *= dims[d];
    }
    *out = stride;
    return 1;
}

/* Byte strides of arr broadcast to shape[nd] (0 where it broadcasts). */
static int
broadcast_strides(PyArrayObject *arr, int nd, const npy_intp *shape, ptrdiff_t *strides,
                  const char *fname, const char *arg)
{
    int and = PyArray_NDIM(arr);
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    if (and > nd) {
        goto fail;
    }
    for (int d = 0; d < nd; d++) {
        int ad = d - (nd - and);
        if (ad < 0) {
            strides[d] = 0;
            continue;
        }
        npy_intp n = PyArray_DIM(arr, ad);
        if (n == 1) {
            strides[d] = 0;
        }
        else if (n == shape[d]) {
            strides[d] = PyArray_STRIDE(arr, ad);
        }
        else {
            goto fail;
        }
    }
    return 0;
fail:
    PyErr_Format(PyExc_ValueError, "%s: %s of shape %s does not broadcast to the input's shape %s",
                 fname, arg, ARR_SHAPE(b1, arr), fmt_shape(b2, sizeof(b2), nd, shape));
    return -1;
}

static int
same_shape(PyArrayObject *arr, int nd, const npy_intp *dims)
{
    return PyArray_NDIM(arr) == nd &&
           (nd == 0 || memcmp(PyArray_DIMS(arr), dims, (size_t)nd * sizeof(npy_intp)) == 0);
}

/* Reads grad_output.  For a scalar loss it must be a scalar: *scale becomes
 * grad_output * norm.  For reduction "none" it must have the loss's shape:
 * *go receives it (and *scale = 1).  None means ones. */
static int
grad_output_arg(PyObject *mod, PyObject *obj, int reduction, int typenum, int nd,
                const npy_intp *loss_shape, double norm, double *scale, PyArrayObject **go,
                const char *fname)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    *scale = norm;
    if (obj == Py_None) {
        return 0;
    }
    PyArrayObject *arr = float_like(mod, obj, typenum, 1, fname, "grad_output");
    if (arr == NULL) {
        return -1;
    }
    if (reduction != LF_REDUCE_NONE) {
        if (PyArray_NDIM(arr) != 0) {
            PyErr_Format(PyExc_ValueError,
                         "%s: grad_output must be a scalar for reduction='%s', got shape %s",
                         fname, reduction == LF_REDUCE_MEAN ? "mean" : "sum",
                         ARR_SHAPE(b1, arr));
            Py_DECREF(arr);
            return -1;
        }
        *scale = norm * (typenum == NPY_FLOAT ? (double)*(float *)PyArray_DATA(arr)
                                              : *(double *)PyArray_DATA(arr));
        Py_DECREF(arr);
        return 0;
    }
    if (!same_shape(arr, nd, loss_shape)) {
        PyErr_Format(PyExc_ValueError, "%s: grad_output has shape %s, but the loss has shape %s",
                     fname, ARR_SHAPE(b1, arr), fmt_shape(b2, sizeof(b2), nd, loss_shape));
        Py_DECREF(arr);
        return -1;
    }
    *scale = 1.0;
    *go = arr;
    return 0;
}

static int
reduction_arg(PyObject *obj, const char *fname)
{
    long r = PyLong_AsLong(obj);
    if (r == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (r < LF_REDUCE_NONE || r > LF_REDUCE_SUM) {
        PyErr_Format(PyExc_ValueError, "%s: bad reduction code %ld", fname, r);
        return -1;
    }
    return (int)r;
}

static int
want_arg(PyObject *obj, const char *fname)
{
    long w = PyLong_AsLong(obj);
    if (w == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (w < 1 || w > 3) {
        PyErr_Format(PyExc_ValueError, "%s: bad `want` code %ld", fname, w);
        return -1;
    }
    return (int)w;
}

static PyObject *
scalar_of(double value, int typenum)
{
    PyArray_Descr *descr = PyArray_DescrFromType(typenum);
    PyObject *res;
    if (typenum == NPY_FLOAT) {
        float v = (float)value;
        res = PyArray_Scalar(&v, descr, NULL);
    }
    else {
        res = PyArray_Scalar(&value, descr, NULL);
    }
    Py_DECREF(descr);
    return res;
}

/* The value a call returns: loss, grad, or (loss, grad). */
static PyObject *
result_of(int want, int reduction, double value, int typenum, PyArrayObject *out,
          PyArrayObject *grad)
{
    PyObject *loss = NULL;
    if (want & WANT_LOSS) {
        if (reduction == LF_REDUCE_NONE) {
            Py_INCREF(out);
            loss = (PyObject *)out;
        }
        else if ((loss = scalar_of(value, typenum)) == NULL) {
            return NULL;
        }
        if (!(want & WANT_GRAD)) {
            return loss;
        }
        PyObject *res = PyTuple_Pack(2, loss, (PyObject *)grad);
        Py_DECREF(loss);
        return res;
    }
    Py_INCREF(grad);
    return (PyObject *)grad;
}

/* ------------------------------------------------------------------------ */
/* Element-wise family                                                      */
/* ------------------------------------------------------------------------ */

static void
ew_set(lf_elementwise *a, int op, PyArrayObject *arr)
{
    a->data[op] = arr ? PyArray_BYTES(arr) : NULL;
    if (arr) {
        for (int d = 0; d < a->ndim; d++) {
            a->strides[op][d] = PyArray_STRIDE(arr, d);
        }
    }
}

/* Merges dimensions that every present operand walks with one stride, and
 * drops length-1 ones, so kernels see as few (and as long) rows as possible.
 * C order is kept, so flat positions in errors stay C-order positions. */
static void
ew_coalesce(lf_elementwise *a)
{
    int out = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 0) {
            a->ndim = 1;
            a->shape[0] = 0;
            return;
        }
    }
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 1) {
            continue;
        }
        int merge = out > 0;
        for (int op = 0; op < LF_EW_NOP && merge; op++) {
            if (a->data[op] && a->strides[op][out - 1] != a->strides[op][d] * a->shape[d]) {
                merge = 0;
            }
        }
        if (merge) {
            a->shape[out - 1] *= a->shape[d];
            for (int op = 0; op < LF_EW_NOP; op++) {
                a->strides[op][out - 1] = a->strides[op][d];
            }
        }
        else {
            a->shape[out] = a->shape[d];
            for (int op = 0; op < LF_EW_NOP; op++) {
                a->strides[op][out] = a->strides[op][d];
            }
            out++;
        }
    }
    if (out == 0) {
        a->shape[0] = 1;
        for (int op = 0; op < LF_EW_NOP; op++) {
            a->strides[op][0] = 0;
        }
        out = 1;
    }
    a->ndim = out;
}

/* binary_cross_entropy(input, target, weight, reduction, want, grad_output)
 * bce_with_logits(input, target, weight, pos_weight, reduction, want, grad_output) */
static PyObject *
binary_loss(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, int logits)
{
    const char *fname = logits ? "binary_cross_entropy_with_logits" : "binary_cross_entropy";
    const Py_ssize_t expect = logits ? 7 : 6;
    PyArrayObject *x = NULL, *y = NULL, *w = NULL, *pw = NULL, *go = NULL;
    PyArrayObject *out = NULL, *grad = NULL;
    PyObject *result = NULL;
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    lf_elementwise ew;
    ew.scale = 1.0;

    if (nargs != expect) {
        PyErr_Format(PyExc_TypeError, "%s expects %zd arguments", fname, expect);
        return NULL;
    }
    const int k = logits ? 4 : 3;
    const int reduction = reduction_arg(args[k], fname);
    const int want = want_arg(args[k + 1], fname);
    if (reduction < 0 || want < 0) {
        goto finish;
    }
    if ((x = float_input(mod, args[0], fname, "input")) == NULL) {
        goto finish;
    }
    const int typenum = PyArray_TYPE(x), nd = PyArray_NDIM(x);
    const npy_intp *dims = PyArray_DIMS(x);
    const npy_intp n = PyArray_SIZE(x);
    if ((y = float_like(mod, args[1], typenum, 1, fname, "target")) == NULL) {
        goto finish;
    }
    if (!same_shape(y, nd, dims)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: target has shape %s, but it must have the input's shape %s", fname,
                     ARR_SHAPE(b1, y), ARR_SHAPE(b2, x));
        goto finish;
    }
    ew.ndim = nd;
    for (int d = 0; d < nd; d++) {
        ew.shape[d] = dims[d];
    }
    ew_set(&ew, LF_EW_INPUT, x);
    ew_set(&ew, LF_EW_TARGET, y);
    ew.data[LF_EW_WEIGHT] = ew.data[LF_EW_POS_WEIGHT] = NULL;
    if (args[2] != Py_None) {
        if ((w = float_like(mod, args[2], typenum, 0, fname, "weight")) == NULL ||
            broadcast_strides(w, nd, dims, ew.strides[LF_EW_WEIGHT], fname, "weight") < 0) {
            goto finish;
        }
        ew.data[LF_EW_WEIGHT] = PyArray_BYTES(w);
    }
    if (logits && args[3] != Py_None) {
        if ((pw = float_like(mod, args[3], typenum, 0, fname, "pos_weight")) == NULL ||
            broadcast_strides(pw, nd, dims, ew.strides[LF_EW_POS_WEIGHT], fname,
                              "pos_weight") < 0) {
            goto finish;
        }
        ew.data[LF_EW_POS_WEIGHT] = PyArray_BYTES(pw);
    }
    const double norm = reduction == LF_REDUCE_MEAN ? (n ? 1.0 / (double)n : INFINITY) : 1.0;
    if ((want & WANT_GRAD) &&
        grad_output_arg(mod, args[k + 2], reduction, typenum, nd, dims, norm, &ew.scale, &go,
                        fname) < 0) {
        goto finish;
    }
    if ((want & WANT_LOSS) && reduction == LF_REDUCE_NONE &&
        (out = (PyArrayObject *)PyArray_EMPTY(nd, (npy_intp *)dims, typenum, 0)) == NULL) {
        goto finish;
    }
    if ((want & WANT_GRAD) &&
        (grad = (PyArrayObject *)PyArray_EMPTY(nd, (npy_intp *)dims, typenum, 0)) == NULL) {
        goto finish;
    }
    ew_set(&ew, LF_EW_GRAD_OUTPUT, go);
    ew_set(&ew, LF_EW_OUT, out);
    ew_set(&ew, LF_EW_GRAD, grad);
    ew_coalesce(&ew);

    double sum = 0.0;
    lf_status status = LF_OK;
    lf_error err;
    const int f32 = typenum == NPY_FLOAT;
    NPY_BEGIN_THREADS_DEF;
    if (n >= GIL_THRESHOLD) {
        NPY_BEGIN_THREADS;
    }
    if (logits) {
        sum = f32 ? lf_bce_logits_f32(&ew) : lf_bce_logits_f64(&ew);
    }
    else {
        status = f32 ? lf_bce_f32(&ew, &sum, &err) : lf_bce_f64(&ew, &sum, &err);
    }
    NPY_END_THREADS;

    if (status != LF_OK) {
        PyObject *bad = PyFloat_FromDouble(err.fvalue);
        if (bad != NULL) {
            PyErr_Format(PyExc_ValueError,
                         "%s: %s has %R at flat index %zd, but every element must be in "
                         "[0, 1]",
                         fname, status == LF_ERR_INPUT_DOMAIN ? "input" : "target", bad,
                         (Py_ssize_t)err.index);
            Py_DECREF(bad);
        }
        goto finish;
    }
    result = result_of(want, reduction,
                       reduction == LF_REDUCE_MEAN ? (n ? sum / (double)n : NAN) : sum, typenum,
                       out, grad);
finish:
    Py_XDECREF(x);
    Py_XDECREF(y);
    Py_XDECREF(w);
    Py_XDECREF(pw);
    Py_XDECREF(go);
    Py_XDECREF(out);
    Py_XDECREF(grad);
    return result;
}

static PyObject *
py_binary_cross_entropy(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return binary_loss(mod, args, nargs, 0);
}

static PyObject *
py_bce_with_logits(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return binary_loss(mod, args, nargs, 1);
}

/* sigmoid(input, log) */
static PyObject *
py_sigmoid(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    PyArrayObject *x = NULL, *out = NULL;
    lf_elementwise ew;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "sigmoid expects 2 arguments");
        return NULL;
    }
    const int log = PyObject_IsTrue(args[1]);
    const char *fname = log ? "logsigmoid" : "sigmoid";
    if (log < 0 || (x = float_input(mod, args[0], fname, "input")) == NULL) {
        return NULL;
    }
    const int typenum = PyArray_TYPE(x), nd = PyArray_NDIM(x);
    out = (PyArrayObject *)PyArray_EMPTY(nd, PyArray_DIMS(x), typenum, 0);
    if (out != NULL) {
        ew.ndim = nd;
        for (int d = 0; d < nd; d++) {
            ew.shape[d] = PyArray_DIM(x, d);
        }
        for (int op = 0; op < LF_EW_NOP; op++) {
            ew.data[op] = NULL;
        }
        ew_set(&ew, LF_EW_INPUT, x);
        ew_set(&ew, LF_EW_OUT, out);
        ew_coalesce(&ew);
        NPY_BEGIN_THREADS_DEF;
        if (PyArray_SIZE(x) >= GIL_THRESHOLD) {
            NPY_BEGIN_THREADS;
        }
        if (typenum == NPY_FLOAT) {
            lf_sigmoid_f32(&ew, log);
        }
        else {
            lf_sigmoid_f64(&ew, log);
        }
        NPY_END_THREADS;
    }
    Py_DECREF(x);
    return (PyObject *)out;
}

/* ------------------------------------------------------------------------ */
/* Class family                                                             */
/* ------------------------------------------------------------------------ */

/* arr (stolen) with dims [first, nd) walkable as one flat stride in *stride;
 * makes a C-contiguous copy when they are not. */
static PyArrayObject *
flat_tail(PyArrayObject *arr, int first, npy_intp *stride)
{
    const int nd = PyArray_NDIM(arr);
    if (first >= nd) {
        *stride = 0;
        return arr;
    }
    if (flat_stride(nd - first, PyArray_DIMS(arr) + first, PyArray_STRIDES(arr) + first,
                    stride)) {
        return arr;
    }
    PyArrayObject *copy = (PyArrayObject *)PyArray_NewCopy(arr, NPY_CORDER);
    Py_DECREF(arr);
    if (copy != NULL) {
        flat_stride(nd - first, PyArray_DIMS(copy) + first, PyArray_STRIDES(copy) + first,
                    stride);
    }
    return copy;
}

/* Integer class targets as native int64; uint64 values above INT64_MAX are
 * reported as out of range rather than wrapped. */
static PyArrayObject *
class_target(PyArrayObject *arr, npy_intp C, const char *fname)
{
    if (PyArray_DESCR(arr)->kind == 'u' && PyArray_ITEMSIZE(arr) == 8) {
        PyArrayObject *u = (PyArrayObject *)PyArray_FromArray(
            arr, PyArray_DescrFromType(NPY_UINT64), NPY_ARRAY_ALIGNED | NPY_ARRAY_C_CONTIGUOUS);
        if (u == NULL) {
            Py_DECREF(arr);
            return NULL;
        }
        const npy_uint64 *v = (const npy_uint64 *)PyArray_DATA(u);
        for (npy_intp i = 0, n = PyArray_SIZE(u); i < n; i++) {
            if (v[i] > (npy_uint64)NPY_MAX_INT64) {
                PyErr_Format(PyExc_IndexError,
                             "%s: target has class %llu at flat index %zd, but input has %zd "
                             "classes",
                             fname, (unsigned long long)v[i], (Py_ssize_t)i, (Py_ssize_t)C);
                Py_DECREF(u);
                Py_DECREF(arr);
                return NULL;
            }
        }
        Py_DECREF(u);
    }
    return native(arr, NPY_INT64);
}

/* "3" for a 1-d target, "(1, 2, 3)" for a K-d one, from a flat position. */
static const char *
fmt_index(char *buf, size_t size, int nd, const npy_intp *dims, npy_intp flat)
{
    npy_intp idx[NPY_MAXDIMS];
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = dims[d] ? flat % dims[d] : 0;
        flat = dims[d] ? flat / dims[d] : 0;
    }
    if (nd == 1) {
        snprintf(buf, size, "%" NPY_INTP_FMT, idx[0]);
        return buf;
    }
    return fmt_shape(buf, size, nd, idx);
}

enum { KIND_NLL, KIND_CE };

/* nll_loss(input, target, weight, ignore_index, reduction, want, grad_output)
 * cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing,
 *               want, grad_output) */
static PyObject *
class_loss(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, int kind)
{
    const char *fname = kind == KIND_CE ? "cross_entropy" : "nll_loss";
    const Py_ssize_t expect = kind == KIND_CE ? 8 : 7;
    PyArrayObject *x = NULL, *t = NULL, *w = NULL, *go = NULL, *out = NULL, *grad = NULL;
    PyObject *result = NULL, *ii = NULL;
    char b1[SHAPE_BUF], b2[SHAPE_BUF], b3[SHAPE_BUF];
    lf_classes a;
    memset(&a, 0, sizeof(a));

    if (nargs != expect) {
        PyErr_Format(PyExc_TypeError, "%s expects %zd arguments", fname, expect);
        return NULL;
    }
    const int k = kind == KIND_CE ? 6 : 5; /* position of `want` */
    const int reduction = reduction_arg(args[4], fname);
    const int want = want_arg(args[k], fname);
    if (reduction < 0 || want < 0) {
        goto finish;
    }
    /* ignore_index: any integer (incl. NumPy's), never a float */
    if ((ii = PyNumber_Index(args[3])) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: ignore_index must be an integer, got %s", fname,
                     Py_TYPE(args[3])->tp_name);
        goto finish;
    }
    int overflow = 0;
    a.ignore_index = PyLong_AsLongLongAndOverflow(ii, &overflow);
    if (overflow) {
        PyErr_Format(PyExc_ValueError, "%s: ignore_index %R does not fit in int64", fname, ii);
        goto finish;
    }
    if (kind == KIND_CE) {
        a.label_smoothing = PyFloat_AsDouble(args[5]);
        if (a.label_smoothing == -1.0 && PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "%s: label_smoothing must be a float, got %s", fname,
                         Py_TYPE(args[5])->tp_name);
            goto finish;
        }
        if (!(a.label_smoothing >= 0.0 && a.label_smoothing <= 1.0)) {
            PyErr_Format(PyExc_ValueError, "%s: label_smoothing must be in [0, 1], got %R",
                         fname, args[5]);
            goto finish;
        }
    }
    if ((x = float_input(mod, args[0], fname, "input")) == NULL) {
        goto finish;
    }
    const int typenum = PyArray_TYPE(x), nd = PyArray_NDIM(x);
    if (nd == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input must have at least 1 dimension ([C] or [N, C, ...]), got a "
                     "0-d array",
                     fname);
        goto finish;
    }
    const npy_intp C = nd == 1 ? PyArray_DIM(x, 0) : PyArray_DIM(x, 1);
    const npy_intp N = nd == 1 ? 1 : PyArray_DIM(x, 0);
    /* the loss (and a class-index target) has shape [N, d1, ..., dk], or () */
    npy_intp loss_shape[NPY_MAXDIMS];
    const int loss_nd = nd == 1 ? 0 : nd - 1;
    if (nd > 1) {
        loss_shape[0] = N;
        for (int d = 2; d < nd; d++) {
            loss_shape[d - 1] = PyArray_DIM(x, d);
        }
    }

    if ((t = to_ndarray(mod, args[1], fname, "target")) == NULL) {
        goto finish;
    }
    const char tkind = PyArray_DESCR(t)->kind;
    const int probs = tkind == 'f';
    if (probs) {
        if (kind != KIND_CE || !same_shape(t, nd, PyArray_DIMS(x))) {
            PyErr_Format(PyExc_TypeError,
                         "%s: target must hold integer class indices%s; got dtype %S of shape %s",
                         fname,
                         kind == KIND_CE ? " (or be float class probabilities of the input's "
                                           "shape)"
                                         : "",
                         (PyObject *)PyArray_DESCR(t), ARR_SHAPE(b1, t));
            goto finish;
        }
        if (a.ignore_index >= 0) {
            PyErr_Format(PyExc_ValueError,
                         "%s: ignore_index=%lld is not supported with class-probability "
                         "targets; it must be negative",
                         fname, (long long)a.ignore_index);
            goto finish;
        }
        if ((t = native(t, typenum)) == NULL) {
            goto finish;
        }
    }
    else {
        if (tkind != 'i' && tkind != 'u') {
            PyErr_Format(PyExc_TypeError, "%s: target must hold integer class indices, got dtype %S",
                         fname, (PyObject *)PyArray_DESCR(t));
            goto finish;
        }
        if (!same_shape(t, loss_nd, loss_shape)) {
            PyErr_Format(PyExc_ValueError,
                         "%s: target has shape %s, but input of shape %s needs a target of "
                         "shape %s",
                         fname, ARR_SHAPE(b1, t), ARR_SHAPE(b2, x),
                         fmt_shape(b3, sizeof(b3), loss_nd, loss_shape));
            goto finish;
        }
        if ((t = class_target(t, C, fname)) == NULL) {
            goto finish;
        }
    }
    if (args[2] != Py_None) {
        if ((w = float_like(mod, args[2], typenum, 0, fname, "weight")) == NULL) {
            goto finish;
        }
        if (PyArray_NDIM(w) != 1 || PyArray_DIM(w, 0) != C) {
            PyErr_Format(PyExc_ValueError,
                         "%s: weight must have shape (%zd,) (one per class), got %s", fname,
                         (Py_ssize_t)C, ARR_SHAPE(b1, w));
            goto finish;
        }
        a.weight = PyArray_BYTES(w);
        a.w_c = PyArray_STRIDE(w, 0);
    }

    /* the [N, C, S] views */
    npy_intp stride_s;
    if ((x = flat_tail(x, 2, &stride_s)) == NULL) {
        goto finish;
    }
    a.N = N;
    a.C = C;
    a.S = 1;
    for (int d = 2; d < nd; d++) {
        a.S *= PyArray_DIM(x, d);
    }
    a.input = PyArray_BYTES(x);
    a.in_n = nd == 1 ? 0 : PyArray_STRIDE(x, 0);
    a.in_c = nd == 1 ? PyArray_STRIDE(x, 0) : PyArray_STRIDE(x, 1);
    a.in_s = stride_s;
    if (probs) {
        if ((t = flat_tail(t, 2, &stride_s)) == NULL) {
            goto finish;
        }
        a.t_n = nd == 1 ? 0 : PyArray_STRIDE(t, 0);
        a.t_c = nd == 1 ? PyArray_STRIDE(t, 0) : PyArray_STRIDE(t, 1);
    }
    else {
        if ((t = flat_tail(t, 1, &stride_s)) == NULL) {
            goto finish;
        }
        a.t_n = loss_nd == 0 ? 0 : PyArray_STRIDE(t, 0);
    }
    a.target = PyArray_BYTES(t);
    a.t_s = stride_s;

    const npy_intp samples = N * a.S;
    /* a probability-target mean is over samples, but like torch it is nan
     * when the input is empty, even with samples but no classes */
    double denom = C == 0 ? 0.0 : (double)samples;
    if (!probs) {
        lf_error err;
        lf_status st = typenum == NPY_FLOAT ? lf_class_check_f32(&a, &denom, &err)
                                            : lf_class_check_f64(&a, &denom, &err);
        if (st != LF_OK) {
            if (loss_nd == 0) {
                PyErr_Format(PyExc_IndexError,
                             "%s: target has class %lld, but input has %zd classes", fname,
                             (long long)err.ivalue, (Py_ssize_t)C);
            }
            else {
                PyErr_Format(PyExc_IndexError,
                             "%s: target has class %lld at index %s, but input has %zd classes",
                             fname, (long long)err.ivalue,
                             fmt_index(b1, sizeof(b1), loss_nd, loss_shape, err.index),
                             (Py_ssize_t)C);
            }
            goto finish;
        }
    }
    const double norm =
        reduction == LF_REDUCE_MEAN ? (denom != 0 ? 1.0 / denom : INFINITY) : 1.0;
    if ((want & WANT_GRAD) && grad_output_arg(mod, args[k + 1], reduction, typenum, loss_nd,
                                              loss_shape, norm, &a.scale, &go, fname) < 0) {
        goto finish;
    }
    if (go != NULL) {
        if ((go = flat_tail(go, 1, &stride_s)) == NULL) {
            goto finish;
        }
        a.grad_output = PyArray_BYTES(go);
        a.go_n = loss_nd == 0 ? 0 : PyArray_STRIDE(go, 0);
        a.go_s = stride_s;
    }
    if ((want & WANT_LOSS) && reduction == LF_REDUCE_NONE) {
        if ((out = (PyArrayObject *)PyArray_EMPTY(loss_nd, loss_shape, typenum, 0)) == NULL) {
            goto finish;
        }
        a.out = PyArray_BYTES(out);
        a.out_n = (npy_intp)a.S * PyArray_ITEMSIZE(out);
        a.out_s = PyArray_ITEMSIZE(out);
    }
    if (want & WANT_GRAD) {
        if ((grad = (PyArrayObject *)PyArray_EMPTY(nd, PyArray_DIMS(x), typenum, 0)) == NULL) {
            goto finish;
        }
        a.grad = PyArray_BYTES(grad);
        a.g_s = PyArray_ITEMSIZE(grad);
        a.g_c = a.S * a.g_s;
        a.g_n = C * a.g_c;
    }

    double sum;
    const int f32 = typenum == NPY_FLOAT;
    NPY_BEGIN_THREADS_DEF;
    if (samples * C >= GIL_THRESHOLD) {
        NPY_BEGIN_THREADS;
    }
    if (kind == KIND_NLL) {
        sum = f32 ? lf_nll_f32(&a) : lf_nll_f64(&a);
    }
    else if (probs) {
        sum = f32 ? lf_cross_entropy_probs_f32(&a) : lf_cross_entropy_probs_f64(&a);
    }
    else {
        sum = f32 ? lf_cross_entropy_f32(&a) : lf_cross_entropy_f64(&a);
    }
    NPY_END_THREADS;

    result = result_of(want, reduction, reduction == LF_REDUCE_MEAN ? sum / denom : sum,
                       typenum, out, grad);
finish:
    Py_XDECREF(ii);
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(w);
    Py_XDECREF(go);
    Py_XDECREF(out);
    Py_XDECREF(grad);
    return result;
}

static PyObject *
py_nll_loss(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return class_loss(mod, args, nargs, KIND_NLL);
}

static PyObject *
py_cross_entropy(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    return class_loss(mod, args, nargs, KIND_CE);
}

/* softmax(input, dim, log) */
static PyObject *
py_softmax(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    PyArrayObject *x = NULL, *out = NULL;
    lf_classes a;
    memset(&a, 0, sizeof(a));
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "softmax expects 3 arguments");
        return NULL;
    }
    const int log = PyObject_IsTrue(args[2]);
    const char *fname = log ? "log_softmax" : "softmax";
    if (log < 0) {
        return NULL;
    }
    long dim = PyLong_AsLong(args[1]);
    if (dim == -1 && PyErr_Occurred()) {
        /* an integer too large for a C long is a dim out of range, not a type error */
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Format(PyExc_IndexError, "%s: dim %R is out of range", fname, args[1]);
        }
        else {
            PyErr_Format(PyExc_TypeError, "%s: dim must be an integer, got %s", fname,
                         Py_TYPE(args[1])->tp_name);
        }
        return NULL;
    }
    if ((x = float_input(mod, args[0], fname, "input")) == NULL) {
        return NULL;
    }
    const int nd = PyArray_NDIM(x), typenum = PyArray_TYPE(x);
    const int rank = nd > 0 ? nd : 1; /* a 0-d input is one class */
    if (dim < -rank || dim >= rank) {
        PyErr_Format(PyExc_IndexError,
                     "%s: dim %ld is out of range for an input with %d dimension(s)", fname, dim,
                     nd);
        goto finish;
    }
    if (dim < 0) {
        dim += rank;
    }
    if (nd == 0) {
        a.N = a.C = a.S = 1;
    }
    else {
        npy_intp stride_n = 0, stride_s = 0;
        const npy_intp *dims = PyArray_DIMS(x), *strides = PyArray_STRIDES(x);
        if (!flat_stride((int)dim, dims, strides, &stride_n) ||
            !flat_stride(nd - (int)dim - 1, dims + dim + 1, strides + dim + 1, &stride_s)) {
            PyArrayObject *copy = (PyArrayObject *)PyArray_NewCopy(x, NPY_CORDER);
            Py_SETREF(x, copy);
            if (x == NULL) {
                goto finish;
            }
            dims = PyArray_DIMS(x);
            strides = PyArray_STRIDES(x);
            flat_stride((int)dim, dims, strides, &stride_n);
            flat_stride(nd - (int)dim - 1, dims + dim + 1, strides + dim + 1, &stride_s);
        }
        a.N = a.S = 1;
        for (int d = 0; d < dim; d++) {
            a.N *= dims[d];
        }
        for (int d = (int)dim + 1; d < nd; d++) {
            a.S *= dims[d];
        }
        a.C = dims[dim];
        a.in_n = stride_n;
        a.in_c = strides[dim];
        a.in_s = stride_s;
    }
    a.input = PyArray_BYTES(x);
    if ((out = (PyArrayObject *)PyArray_EMPTY(nd, PyArray_DIMS(x), typenum, 0)) == NULL) {
        goto finish;
    }
    a.grad = PyArray_BYTES(out);
    a.g_s = PyArray_ITEMSIZE(out);
    a.g_c = a.S * a.g_s;
    a.g_n = a.C * a.g_c;
    NPY_BEGIN_THREADS_DEF;
    if (PyArray_SIZE(x) >= GIL_THRESHOLD) {
        NPY_BEGIN_THREADS;
    }
    if (typenum == NPY_FLOAT) {
        lf_softmax_f32(&a, log);
    }
    else {
        lf_softmax_f64(&a, log);
    }
    NPY_END_THREADS;
finish:
    Py_XDECREF(x);
    return (PyObject *)out;
}

/* ------------------------------------------------------------------------ */
/* Module                                                                   */
/* ------------------------------------------------------------------------ */

static PyMethodDef core_methods[] = {
    {"binary_cross_entropy", (PyCFunction)(void (*)(void))py_binary_cross_entropy,
     METH_FASTCALL, "binary_cross_entropy(input, target, weight, reduction, want, grad_output)"},
    {"bce_with_logits", (PyCFunction)(void (*)(void))py_bce_with_logits, METH_FASTCALL,
     "bce_with_logits(input, target, weight, pos_weight, reduction, want, grad_output)"},
    {"nll_loss", (PyCFunction)(void (*)(void))py_nll_loss, METH_FASTCALL,
     "nll_loss(input, target, weight, ignore_index, reduction, want, grad_output)"},
    {"cross_entropy", (PyCFunction)(void (*)(void))py_cross_entropy, METH_FASTCALL,
     "cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing, want, "
     "grad_output)"},
    {"softmax", (PyCFunction)(void (*)(void))py_softmax, METH_FASTCALL,
     "softmax(input, dim, log)"},
    {"sigmoid", (PyCFunction)(void (*)(void))py_sigmoid, METH_FASTCALL, "sigmoid(input, log)"},
    {NULL, NULL, 0, NULL},
};

static int
core_exec(PyObject *mod)
{
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(mod, "WANT_LOSS", WANT_LOSS) < 0 ||
        PyModule_AddIntConstant(mod, "WANT_GRAD", WANT_GRAD) < 0) {
        return -1;
    }
    return 0;
}

static int
core_traverse(PyObject *mod, visitproc visit, void *arg)
{
    module_state *st = PyModule_GetState(mod);
    Py_VISIT(st->converter);
    return 0;
}

static int
core_clear(PyObject *mod)
{
    module_state *st = PyModule_GetState(mod);
    Py_CLEAR(st->converter);
    return 0;
}

static void
core_free(void *mod)
{
    core_clear((PyObject *)mod);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pylossfn._core",
    .m_doc = "The C engine of pylossfn: strided loss kernels with fused gradients.",
    .m_size = sizeof(module_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
