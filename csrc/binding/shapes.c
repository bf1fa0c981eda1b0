/*
 * shapes.c -- shapes in messages, flat strides, broadcasting, and the
 * element-wise view that the kernels iterate.
 */
#include "binding.h"

#include <stdio.h>
#include <string.h>

const char *
lf_fmt_shape(char *buf, size_t size, int nd, const npy_intp *dims)
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

const char *
lf_fmt_index(char *buf, size_t size, int nd, const npy_intp *dims, npy_intp flat)
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
    return lf_fmt_shape(buf, size, nd, idx);
}

int
lf_same_shape(PyArrayObject *arr, int nd, const npy_intp *dims)
{
    return PyArray_NDIM(arr) == nd &&
           (nd == 0 || memcmp(PyArray_DIMS(arr), dims, (size_t)nd * sizeof(npy_intp)) == 0);
}

int
lf_require_shape_of(lf_call *c, PyArrayObject *arr, PyArrayObject *like, const char *arg)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    if (lf_same_shape(arr, PyArray_NDIM(like), PyArray_DIMS(like))) {
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "%s: %s has shape %s, but it must have the input's shape %s",
                 c->fname, arg, ARR_SHAPE(b1, arr), ARR_SHAPE(b2, like));
    return -1;
}

int
lf_class_weight(lf_call *c, PyArrayObject *w, npy_intp C, const char **data, ptrdiff_t *step)
{
    char b1[SHAPE_BUF];
    if (w == NULL) {
        return 0;
    }
    if (PyArray_NDIM(w) != 1 || PyArray_DIM(w, 0) != C) {
        PyErr_Format(PyExc_ValueError, "%s: weight must have shape (%zd,) (one per class), got %s",
                     c->fname, (Py_ssize_t)C, ARR_SHAPE(b1, w));
        return -1;
    }
    *data = PyArray_BYTES(w);
    *step = PyArray_STRIDE(w, 0);
    return 0;
}

int
lf_flat_stride(int nd, const npy_intp *dims, const npy_intp *strides, npy_intp *out)
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

PyArrayObject *
lf_flat_dims(lf_call *c, PyArrayObject *arr, int first, int count, npy_intp *stride)
{
    if (count <= 0) {
        *stride = 0;
        return arr;
    }
    if (lf_flat_stride(count, PyArray_DIMS(arr) + first, PyArray_STRIDES(arr) + first, stride)) {
        return arr;
    }
    PyArrayObject *copy = lf_own(c, PyArray_NewCopy(arr, NPY_CORDER));
    if (copy != NULL) {
        lf_flat_stride(count, PyArray_DIMS(copy) + first, PyArray_STRIDES(copy) + first, stride);
    }
    return copy;
}

/* "a of shape (2,), b of shape (3,) and c of shape (4,)" or, listing,
 * "a (2,), b (3,), c (4,)". */
static void
fmt_shapes(char *buf, size_t size, int n, PyArrayObject *const *arrs,
           const char *const *names, int listing)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int j = 0; j < n && len < size; j++) {
        char b[SHAPE_BUF];
        const char *sep = j == 0 ? "" : (listing || j < n - 1) ? ", " : " and ";
        len += (size_t)snprintf(buf + len, size - len, listing ? "%s%s %s" : "%s%s of shape %s",
                                sep, names[j], ARR_SHAPE(b, arrs[j]));
    }
}

int
lf_broadcast(lf_call *c, int n, PyArrayObject *const *arrs, const char *const *names, int *nd,
             npy_intp *shape, int listing)
{
    int out = 0;
    for (int k = 0; k < n; k++) {
        out = PyArray_NDIM(arrs[k]) > out ? PyArray_NDIM(arrs[k]) : out;
    }
    for (int d = 0; d < out; d++) {
        shape[d] = 1;
    }
    for (int k = 0; k < n; k++) {
        const int and = PyArray_NDIM(arrs[k]);
        for (int ad = 0; ad < and; ad++) {
            const int d = out - and + ad;
            const npy_intp m = PyArray_DIM(arrs[k], ad);
            if (m == shape[d] || m == 1) {
                continue;
            }
            if (shape[d] != 1) {
                char buf[3 * SHAPE_BUF];
                fmt_shapes(buf, sizeof(buf), n, arrs, names, listing);
                if (listing) {
                    PyErr_Format(PyExc_ValueError, "%s: the shapes do not broadcast: %s",
                                 c->fname, buf);
                }
                else {
                    PyErr_Format(PyExc_ValueError, "%s: %s do not broadcast together", c->fname,
                                 buf);
                }
                return -1;
            }
            shape[d] = m;
        }
    }
    /* zero-stride views make any shape cheap to ask for: its element count
     * (the work, and the size of a "none" loss) must fit in a size, in bytes
     * of a double, and as NumPy counts it (the nonzero dimensions: NumPy
     * refuses a (0, 2**31, 2**31) array of float64 too) */
    npy_intp count = (npy_intp)sizeof(double);
    for (int d = 0; d < out; d++) {
        if (shape[d] != 0 &&
            lf_size_mul(c, count, shape[d], &count, "the element count of the broadcast shape") <
                0) {
            char buf[3 * SHAPE_BUF], b[SHAPE_BUF];
            fmt_shapes(buf, sizeof(buf), n, arrs, names, 0);
            PyErr_Format(PyExc_ValueError,
                         "%s: %s broadcast to %s, whose element count does not fit in a %d-bit "
                         "size (in bytes of float64, as NumPy counts an array's size)",
                         c->fname, buf, lf_fmt_shape(b, sizeof(b), out, shape),
                         (int)(8 * sizeof(npy_intp)));
            return -1;
        }
    }
    *nd = out;
    return 0;
}

int
lf_broadcast_strides(lf_call *c, PyArrayObject *arr, int nd, const npy_intp *shape,
                     ptrdiff_t *strides, const char *arg)
{
    const int and = PyArray_NDIM(arr);
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    for (int d = 0; d < nd && and <= nd; d++) {
        const int ad = d - (nd - and);
        const npy_intp n = ad < 0 ? 1 : PyArray_DIM(arr, ad);
        if (n != 1 && n != shape[d]) {
            goto fail;
        }
        strides[d] = n == 1 ? 0 : PyArray_STRIDE(arr, ad);
    }
    if (and <= nd) {
        return 0;
    }
fail:
    PyErr_Format(PyExc_ValueError, "%s: %s of shape %s does not broadcast to the input's shape %s",
                 c->fname, arg, ARR_SHAPE(b1, arr), lf_fmt_shape(b2, sizeof(b2), nd, shape));
    return -1;
}

PyArrayObject *
lf_broadcast_to(lf_call *c, PyArrayObject *arr, int nd, const npy_intp *shape)
{
    npy_intp strides[NPY_MAXDIMS];
    if (lf_same_shape(arr, nd, shape)) {
        return arr;
    }
    if (lf_broadcast_strides(c, arr, nd, shape, strides, "operand") < 0) {
        return NULL;
    }
    PyArray_Descr *descr = PyArray_DESCR(arr);
    Py_INCREF(descr);
    PyArrayObject *view = (PyArrayObject *)PyArray_NewFromDescr(
        &PyArray_Type, descr, nd, (npy_intp *)shape, strides, PyArray_BYTES(arr),
        PyArray_FLAGS(arr) & ~NPY_ARRAY_WRITEABLE, NULL);
    if (view == NULL) {
        return NULL;
    }
    Py_INCREF(arr); /* the view's base keeps the data alive */
    if (PyArray_SetBaseObject(view, (PyObject *)arr) < 0) {
        Py_DECREF(view);
        return NULL;
    }
    return lf_own(c, (PyObject *)view);
}

/* ------------------------------------------------------------------------ */
/* The element-wise view                                                    */
/* ------------------------------------------------------------------------ */

void
lf_ew_init(lf_elementwise *a, int nd, const npy_intp *shape)
{
    memset(a, 0, sizeof(*a));
    a->ndim = nd;
    for (int d = 0; d < nd; d++) {
        a->shape[d] = shape[d];
    }
    a->scale = 1.0;
}

void
lf_ew_half(lf_elementwise *a, int op, PyArrayObject *arr)
{
    const int kind = arr ? lf_half_kind_of(PyArray_DESCR(arr)) : LF_HALF_NONE;
    a->half_ops = kind ? a->half_ops | 1u << op : a->half_ops & ~(1u << op);
    a->half_kind = kind ? kind : a->half_kind;
}

void
lf_ew_set(lf_elementwise *a, int op, PyArrayObject *arr)
{
    a->data[op] = arr ? PyArray_BYTES(arr) : NULL;
    lf_ew_half(a, op, arr);
    for (int d = 0; arr != NULL && d < a->ndim; d++) {
        a->strides[op][d] = PyArray_STRIDE(arr, d);
    }
}

/* Merges dimensions that every present operand walks with one stride, and
 * drops length-1 ones, so kernels see as few (and as long) rows as possible.
 * C order is kept, so flat positions in errors stay C-order positions. */
void
lf_ew_coalesce(lf_elementwise *a)
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
        const int to = merge ? out - 1 : out;
        a->shape[to] = merge ? a->shape[to] * a->shape[d] : a->shape[d];
        for (int op = 0; op < LF_EW_NOP; op++) {
            a->strides[op][to] = a->strides[op][d];
        }
        out = to + 1;
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

void
lf_ew_pair(lf_call *c, lf_elementwise *a, PyArrayObject *input, PyArrayObject *target)
{
    a->scale = c->scale;
    lf_ew_set(a, LF_EW_INPUT, input);
    lf_ew_set(a, LF_EW_TARGET, target);
    lf_ew_set(a, LF_EW_GRAD_OUTPUT, c->go);
    lf_ew_set(a, LF_EW_OUT, c->loss);
    lf_ew_set(a, LF_EW_GRAD, c->grad[0]);
    lf_ew_set(a, LF_EW_HESS, LF_HESS(c, 0));
    lf_ew_coalesce(a); /* also turns a 0-d input into one element of 1 dimension */
}
