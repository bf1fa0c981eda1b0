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
#define LF_BINDING_IMPORTS_NUMPY
#include "binding/binding.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef lf_module_state module_state;

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
                         fname,
                         reduction == LF_REDUCE_MEAN  ? "mean"
                         : reduction == LF_REDUCE_SUM ? "sum"
                                                      : "batchmean", /* kl_div's own */
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



/* ------------------------------------------------------------------------ */
/* Class family                                                             */
/* ------------------------------------------------------------------------ */


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

/* ------------------------------------------------------------------------ */
/* Multi-label family                                                       */
/* ------------------------------------------------------------------------ */




/* ------------------------------------------------------------------------ */
/* CTC                                                                      */
/* ------------------------------------------------------------------------ */

/* An integer-length argument as N native int64 values (Python has already
 * made it 1-d and integral). */
static PyArrayObject *
lengths_arg(PyObject *mod, PyObject *obj, npy_intp N, const char *fname, const char *arg)
{
    char b1[SHAPE_BUF];
    PyArrayObject *arr = to_ndarray(mod, obj, fname, arg);
    if (arr == NULL) {
        return NULL;
    }
    const char kind = PyArray_DESCR(arr)->kind;
    if (kind != 'i' && kind != 'u') {
        PyErr_Format(PyExc_TypeError, "%s: %s must hold integers, got dtype %S", fname, arg,
                     (PyObject *)PyArray_DESCR(arr));
        Py_DECREF(arr);
        return NULL;
    }
    if (PyArray_NDIM(arr) != 1 || PyArray_DIM(arr, 0) != N) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %s has shape %s, but it must have one entry per batch element "
                     "(%zd)",
                     fname, arg, ARR_SHAPE(b1, arr), (Py_ssize_t)N);
        Py_DECREF(arr);
        return NULL;
    }
    /* a uint64 length above INT64_MAX wraps to a negative one, which the
     * range check then reports */
    PyArrayObject *c = (PyArrayObject *)PyArray_FromArray(
        arr, PyArray_DescrFromType(NPY_INT64),
        NPY_ARRAY_ALIGNED | NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_FORCECAST);
    Py_DECREF(arr);
    return c;
}

/* ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
 *          zero_infinity, want, grad_output) */
static PyObject *
py_ctc_loss(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    const char *fname = "ctc_loss";
    PyArrayObject *x = NULL, *t = NULL, *il = NULL, *tl = NULL, *go = NULL, *out = NULL;
    PyArrayObject *grad = NULL;
    PyObject *result = NULL, *bl = NULL;
    int64_t *offsets = NULL;
    double *work = NULL;
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    lf_ctc a;
    memset(&a, 0, sizeof(a));

    if (nargs != 9) {
        PyErr_Format(PyExc_TypeError, "%s expects 9 arguments", fname);
        return NULL;
    }
    const int reduction = reduction_arg(args[5], fname);
    const int want = want_arg(args[7], fname);
    const int zero_infinity = PyObject_IsTrue(args[6]);
    if (reduction < 0 || want < 0 || zero_infinity < 0) {
        return NULL;
    }
    if ((bl = PyNumber_Index(args[4])) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: blank must be an integer, got %s", fname,
                     Py_TYPE(args[4])->tp_name);
        return NULL;
    }
    int overflow = 0;
    a.blank = PyLong_AsLongLongAndOverflow(bl, &overflow);
    if ((x = float_input(mod, args[0], fname, "log_probs")) == NULL) {
        goto finish;
    }
    const int typenum = PyArray_TYPE(x), nd = PyArray_NDIM(x);
    if (nd != 2 && nd != 3) {
        PyErr_Format(PyExc_ValueError,
                     "%s: log_probs must be [T, N, C] (or [T, C] unbatched), got shape %s",
                     fname, ARR_SHAPE(b1, x));
        goto finish;
    }
    if (PyArray_SIZE(x) == 0) {
        PyErr_Format(PyExc_ValueError, "%s: log_probs must not be empty, got shape %s", fname,
                     ARR_SHAPE(b1, x));
        goto finish;
    }
    a.steps = PyArray_DIM(x, 0);
    a.N = nd == 3 ? PyArray_DIM(x, 1) : 1;
    a.C = PyArray_DIM(x, nd - 1);
    a.log_probs = PyArray_BYTES(x);
    a.lp_t = PyArray_STRIDE(x, 0);
    a.lp_n = nd == 3 ? PyArray_STRIDE(x, 1) : 0;
    a.lp_c = PyArray_STRIDE(x, nd - 1);
    if (overflow || a.blank < 0 || a.blank >= a.C) {
        PyErr_Format(PyExc_ValueError, "%s: blank must be in [0, %zd) (a class of log_probs), got %R",
                     fname, (Py_ssize_t)a.C, bl);
        goto finish;
    }
    if ((il = lengths_arg(mod, args[2], a.N, fname, "input_lengths")) == NULL ||
        (tl = lengths_arg(mod, args[3], a.N, fname, "target_lengths")) == NULL) {
        goto finish;
    }
    a.input_lengths = (const int64_t *)PyArray_DATA(il);
    a.target_lengths = (const int64_t *)PyArray_DATA(tl);
    int64_t total_tl = 0, max_tl = 0;
    for (npy_intp b = 0; b < a.N; b++) {
        const int64_t li = a.input_lengths[b], lt = a.target_lengths[b];
        if (li < 0 || li > a.steps) {
            PyErr_Format(PyExc_ValueError,
                         "%s: input_lengths[%zd] is %lld, but it must be in [0, %zd] (the "
                         "length of log_probs)",
                         fname, (Py_ssize_t)b, (long long)li, (Py_ssize_t)a.steps);
            goto finish;
        }
        if (lt < 0) {
            PyErr_Format(PyExc_ValueError, "%s: target_lengths[%zd] is %lld, but it must be >= 0",
                         fname, (Py_ssize_t)b, (long long)lt);
            goto finish;
        }
        total_tl += lt;
        max_tl = lt > max_tl ? lt : max_tl;
    }

    if ((t = to_ndarray(mod, args[1], fname, "targets")) == NULL) {
        goto finish;
    }
    const char tkind = PyArray_DESCR(t)->kind;
    if (tkind != 'i' && tkind != 'u') {
        PyErr_Format(PyExc_TypeError, "%s: targets must hold integer class indices, got dtype %S",
                     fname, (PyObject *)PyArray_DESCR(t));
        goto finish;
    }
    const int tnd = PyArray_NDIM(t);
    if (tnd == 1 ? PyArray_DIM(t, 0) != total_tl
                 : (tnd != 2 || PyArray_DIM(t, 0) != a.N || PyArray_DIM(t, 1) < max_tl)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: targets has shape %s, but it must be the concatenated targets "
                     "(%lld,) or padded [%zd, S] with S >= %lld",
                     fname, ARR_SHAPE(b1, t), (long long)total_tl, (Py_ssize_t)a.N,
                     (long long)max_tl);
        goto finish;
    }
    if ((t = class_target(t, a.C, fname)) == NULL) {
        goto finish;
    }
    {
        PyArrayObject *c = (PyArrayObject *)PyArray_FromArray(
            t, PyArray_DescrFromType(NPY_INT64), NPY_ARRAY_ALIGNED | NPY_ARRAY_C_CONTIGUOUS);
        Py_SETREF(t, c);
        if (t == NULL) {
            goto finish;
        }
    }
    a.targets = (const int64_t *)PyArray_DATA(t);
    if ((offsets = PyMem_Malloc((size_t)(a.N ? a.N : 1) * sizeof(int64_t))) == NULL) {
        PyErr_NoMemory();
        goto finish;
    }
    {
        int64_t pos = 0;
        for (npy_intp b = 0; b < a.N; b++) {
            offsets[b] = tnd == 1 ? pos : (int64_t)b * PyArray_DIM(t, 1);
            pos += a.target_lengths[b];
            for (int64_t s = 0; s < a.target_lengths[b]; s++) {
                const int64_t c = a.targets[offsets[b] + s];
                if (c < 0 || c >= a.C) {
                    const npy_intp flat = (npy_intp)(offsets[b] + s);
                    PyErr_Format(PyExc_IndexError,
                                 "%s: targets has class %lld at index %s, but log_probs has "
                                 "%zd classes",
                                 fname, (long long)c,
                                 fmt_index(b2, sizeof(b2), tnd, PyArray_DIMS(t), flat),
                                 (Py_ssize_t)a.C);
                    goto finish;
                }
            }
        }
    }
    a.tg_offset = offsets;
    a.zero_infinity = zero_infinity;
    a.per_length = reduction == LF_REDUCE_MEAN;

    npy_intp loss_shape[1] = {a.N};
    const int loss_nd = nd == 3 ? 1 : 0;
    const double norm = reduction == LF_REDUCE_MEAN ? 1.0 / (double)a.N : 1.0;
    a.scale = 1.0;
    if ((want & WANT_GRAD) && grad_output_arg(mod, args[8], reduction, typenum, loss_nd,
                                              loss_shape, norm, &a.scale, &go, fname) < 0) {
        goto finish;
    }
    if (go != NULL) {
        a.grad_output = PyArray_BYTES(go);
        a.go_n = loss_nd ? PyArray_STRIDE(go, 0) : 0;
    }
    if ((want & WANT_LOSS) && reduction == LF_REDUCE_NONE) {
        if ((out = (PyArrayObject *)PyArray_EMPTY(loss_nd, loss_shape, typenum, 0)) == NULL) {
            goto finish;
        }
        a.out = PyArray_BYTES(out);
        a.out_n = PyArray_ITEMSIZE(out);
    }
    if (want & WANT_GRAD) {
        if ((grad = (PyArrayObject *)PyArray_EMPTY(nd, PyArray_DIMS(x), typenum, 0)) == NULL) {
            goto finish;
        }
        a.grad = PyArray_BYTES(grad);
        a.g_c = PyArray_ITEMSIZE(grad);
        a.g_n = nd == 3 ? a.C * a.g_c : 0;
        a.g_t = a.N * a.C * a.g_c;
    }
    const size_t lanes = (size_t)(2 * max_tl + 1) * (size_t)a.steps;
    if ((work = PyMem_Malloc(2 * lanes * sizeof(double))) == NULL) {
        PyErr_NoMemory();
        goto finish;
    }
    double sum;
    NPY_BEGIN_THREADS_DEF;
    if ((npy_intp)lanes * a.N >= GIL_THRESHOLD) {
        NPY_BEGIN_THREADS;
    }
    sum = typenum == NPY_FLOAT ? lf_ctc_f32(&a, work) : lf_ctc_f64(&a, work);
    NPY_END_THREADS;
    result = result_of(want, reduction,
                       reduction == LF_REDUCE_MEAN ? sum / (double)a.N : sum, typenum, out,
                       grad);
finish:
    PyMem_Free(work);
    PyMem_Free(offsets);
    Py_XDECREF(bl);
    Py_XDECREF(x);
    Py_XDECREF(t);
    Py_XDECREF(il);
    Py_XDECREF(tl);
    Py_XDECREF(go);
    Py_XDECREF(out);
    Py_XDECREF(grad);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Threads and kernel variants                                              */
/* ------------------------------------------------------------------------ */

static PyObject *
py_set_num_threads(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "set_num_threads: n must be >= 1, got %ld", n);
        return NULL;
    }
    return PyLong_FromLong(lf_set_num_threads(n > 1024 ? 1024 : (int)n));
}

static PyObject *
py_get_num_threads(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(arg))
{
    return PyLong_FromLong(lf_get_num_threads());
}

/* _set_isa(level): 2 AVX-512, 1 AVX2, 0 baseline, -1 the best; for tests. */
static PyObject *
py_set_isa(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    long level = PyLong_AsLong(arg);
    if (level == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromLong(lf_set_isa(level < -1 || level > 2 ? -1 : (int)level));
}

/* _vecmath(x, f): the engine's exp (f=0), log (1), log1p (2) of a 1-d
 * contiguous float array, for the accuracy tests. */
static PyObject *
py_vecmath(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyArray_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "_vecmath(x: ndarray, f: int)");
        return NULL;
    }
    PyArrayObject *x = (PyArrayObject *)args[0];
    const long f = PyLong_AsLong(args[1]);
    if (f == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const int t = PyArray_TYPE(x);
    if ((t != NPY_FLOAT && t != NPY_DOUBLE) || PyArray_NDIM(x) != 1 ||
        !PyArray_IS_C_CONTIGUOUS(x) || !PyArray_ISNOTSWAPPED(x) || f < 0 || f > 2) {
        PyErr_SetString(PyExc_ValueError,
                        "_vecmath: x must be a 1-d contiguous float array, f in 0..2");
        return NULL;
    }
    PyArrayObject *out = (PyArrayObject *)PyArray_EMPTY(1, PyArray_DIMS(x), t, 0);
    if (out == NULL) {
        return NULL;
    }
    if (t == NPY_FLOAT) {
        lf_vecmath_f32((int)f, PyArray_DATA(x), PyArray_DATA(out), PyArray_SIZE(x));
    }
    else {
        lf_vecmath_f64((int)f, PyArray_DATA(x), PyArray_DATA(out), PyArray_SIZE(x));
    }
    return (PyObject *)out;
}

/* ------------------------------------------------------------------------ */
/* Module                                                                   */
/* ------------------------------------------------------------------------ */

static PyMethodDef core_methods[] = {
#define LF_METHOD_ROW(name, doc) \
    {#name, (PyCFunction)(void (*)(void))py_##name, METH_FASTCALL, doc},
    LF_METHODS(LF_METHOD_ROW)
#undef LF_METHOD_ROW
    {"ctc_loss", (PyCFunction)(void (*)(void))py_ctc_loss, METH_FASTCALL,
     "ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction, "
     "zero_infinity, want, grad_output)"},
    {"set_num_threads", py_set_num_threads, METH_O,
     "set_num_threads(n): threads the kernels may use; returns the count in effect"},
    {"get_num_threads", py_get_num_threads, METH_NOARGS, "get_num_threads()"},
    {"_set_isa", py_set_isa, METH_O, "_set_isa(level): kernel variant (tests)"},
    {"_vecmath", (PyCFunction)(void (*)(void))py_vecmath, METH_FASTCALL,
     "_vecmath(x, f): the engine's exp / log / log1p (tests)"},
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
