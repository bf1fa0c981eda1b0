/*
 * outputs.c -- grad_output, the output arrays (the caller's `out` too), the
 * fold of a broadcast gradient back to its input's shape, and the result.
 */
#include "binding.h"

#include <math.h>
#include <string.h>

static const char *
reduction_name(int reduction)
{
    return reduction == LF_REDUCE_MEAN  ? "mean"
           : reduction == LF_REDUCE_SUM ? "sum"
                                        : "batchmean"; /* kl_div's own */
}

int
lf_grad_output(lf_call *c, int nd, const npy_intp *loss_shape, double norm)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    c->scale = norm;
    if (!(c->want & (WANT_GRAD | WANT_HESS)) || c->grad_output_obj == Py_None) {
        return 0;
    }
    PyArrayObject *arr = lf_float_like(c, c->grad_output_obj, 1, "grad_output");
    if (arr == NULL) {
        return -1;
    }
    if (c->reduction != LF_REDUCE_NONE) {
        if (PyArray_NDIM(arr) != 0) {
            PyErr_Format(PyExc_ValueError,
                         "%s: grad_output must be a scalar for reduction='%s', got shape %s",
                         c->fname, reduction_name(c->reduction), ARR_SHAPE(b1, arr));
            return -1;
        }
        c->scale = norm * (c->typenum == NPY_FLOAT ? (double)*(float *)PyArray_DATA(arr)
                                                   : *(double *)PyArray_DATA(arr));
        return 0;
    }
    if (!lf_same_shape(arr, nd, loss_shape)) {
        PyErr_Format(PyExc_ValueError, "%s: grad_output has shape %s, but the loss has shape %s",
                     c->fname, ARR_SHAPE(b1, arr), lf_fmt_shape(b2, sizeof(b2), nd, loss_shape));
        return -1;
    }
    c->scale = 1.0;
    c->go = arr;
    return 0;
}

/* Byte range [lo, hi) that arr's elements occupy. */
static void
byte_extent(PyArrayObject *arr, char **lo, char **hi)
{
    char *a = PyArray_BYTES(arr), *b = PyArray_BYTES(arr);
    for (int d = 0; d < PyArray_NDIM(arr); d++) {
        const npy_intp span = (PyArray_DIM(arr, d) - 1) * PyArray_STRIDE(arr, d);
        if (PyArray_DIM(arr, d) == 0) {
            *lo = *hi = a;
            return;
        }
        if (span < 0) {
            a += span;
        }
        else {
            b += span;
        }
    }
    *lo = a;
    *hi = b + PyArray_ITEMSIZE(arr);
}

static int
overlaps(PyArrayObject *a, PyArrayObject *b)
{
    char *lo, *hi, *rlo, *rhi;
    if (b == NULL || a == b) {
        return b != NULL;
    }
    byte_extent(a, &lo, &hi);
    byte_extent(b, &rlo, &rhi);
    return lo < rhi && rlo < hi;
}

/* Can two different indices of arr reach the same bytes?  A sufficient test
 * for "no": with the dimensions ordered by |stride|, each stride steps past
 * everything the smaller ones span (every C- or F-ordered array, sliced,
 * transposed or reversed, passes; a zero stride or an as_strided overlap
 * fails).  Layouts that interleave without overlapping are refused too. */
static int
self_overlaps(PyArrayObject *arr)
{
    npy_intp stride[NPY_MAXDIMS], dim[NPY_MAXDIMS];
    int n = 0;
    for (int d = 0; d < PyArray_NDIM(arr); d++) {
        if (PyArray_DIM(arr, d) == 0) {
            return 0;
        }
        if (PyArray_DIM(arr, d) > 1) {
            const npy_intp st = PyArray_STRIDE(arr, d);
            int k = n++;
            for (; k > 0 && stride[k - 1] > (st < 0 ? -st : st); k--) { /* insertion sort */
                stride[k] = stride[k - 1];
                dim[k] = dim[k - 1];
            }
            stride[k] = st < 0 ? -st : st;
            dim[k] = PyArray_DIM(arr, d);
        }
    }
    npy_intp span = PyArray_ITEMSIZE(arr); /* bytes spanned by the smaller dimensions */
    for (int k = 0; k < n; k++) {
        if (stride[k] < span) {
            return 1;
        }
        span = stride[k] * (dim[k] - 1) + span;
    }
    return 0;
}

/* Does arr share memory with anything the call reads (or another output)? */
static int
touches_inputs(lf_call *c, PyArrayObject *arr, int upto)
{
    for (int i = 0; i < c->nowned; i++) {
        if (PyArray_Check(c->owned[i]) && overlaps(arr, (PyArrayObject *)c->owned[i])) {
            return 1;
        }
    }
    for (int i = 0; i < upto; i++) {
        if (overlaps(arr, c->result[i]) || overlaps(arr, c->half_out[i])) {
            return 1;
        }
    }
    return 0;
}

/* The caller's gradient buffer: a writeable, aligned, native ndarray of the
 * gradient's dtype and shape (C-contiguous when the kernel needs it) that
 * overlaps nothing the call reads. */
static PyArrayObject *
out_array(lf_call *c, PyObject *obj, PyArrayObject *like, int typenum, int contiguous, int i)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: out must be a NumPy array, got %s", c->fname,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)obj;
    if (PyArray_TYPE(arr) != typenum || !PyArray_ISNOTSWAPPED(arr)) {
        PyArray_Descr *want = PyArray_DescrFromType(typenum);
        PyErr_Format(PyExc_TypeError, "%s: out must have the input's dtype %S, got %S", c->fname,
                     (PyObject *)want, (PyObject *)PyArray_DESCR(arr));
        Py_XDECREF(want);
        return NULL;
    }
    if (!lf_same_shape(arr, PyArray_NDIM(like), PyArray_DIMS(like))) {
        PyErr_Format(PyExc_ValueError, "%s: out has shape %s, but the gradient has shape %s",
                     c->fname, ARR_SHAPE(b1, arr), ARR_SHAPE(b2, like));
        return NULL;
    }
    if (!PyArray_ISWRITEABLE(arr) || !PyArray_ISALIGNED(arr) ||
        (contiguous && !PyArray_IS_C_CONTIGUOUS(arr))) {
        PyErr_Format(PyExc_ValueError, "%s: out must be writeable and aligned%s", c->fname,
                     contiguous ? " and C-contiguous" : "");
        return NULL;
    }
    if (self_overlaps(arr)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: out must not overlap itself (a zero or overlapping stride), so that "
                     "each gradient element has its own memory",
                     c->fname);
        return NULL;
    }
    if (touches_inputs(c, arr, i)) {
        PyErr_Format(PyExc_ValueError, "%s: out must not share memory with the inputs",
                     c->fname);
        return NULL;
    }
    Py_INCREF(arr);
    return lf_own(c, (PyObject *)arr);
}

/* The i-th entry of `out`: the array itself for one gradient, else an item
 * of a tuple of ngrad. */
static PyObject *
out_item(lf_call *c, int ngrad, int i)
{
    if (ngrad == 1) {
        return c->out_obj;
    }
    if (!PyTuple_Check(c->out_obj) || PyTuple_GET_SIZE(c->out_obj) != ngrad) {
        PyErr_Format(PyExc_TypeError, "%s: out must be a tuple of %d arrays, one per gradient",
                     c->fname, ngrad);
        return NULL;
    }
    return PyTuple_GET_ITEM(c->out_obj, i);
}

static PyArrayObject *
new_array(lf_call *c, int nd, const npy_intp *dims, int typenum, int zeroed)
{
    return lf_own(c, zeroed ? PyArray_ZEROS(nd, (npy_intp *)dims, typenum, 0)
                            : PyArray_EMPTY(nd, (npy_intp *)dims, typenum, 0));
}

/* v of a WANT_HVP call, one array per differentiable input (of its shape,
 * checked by the caller), cast to the call's dtype, broadcast as the input
 * was and copied C-contiguous: laid out as the Hessian slot it multiplies. */
static int
hvp_vectors(lf_call *c)
{
    for (int i = 0; c->v_obj != NULL && i < c->ngrad; i++) {
        PyObject *item = c->v_obj;
        if (c->ngrad > 1 && (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != c->ngrad)) {
            PyErr_Format(PyExc_TypeError, "%s: v must be a tuple of %d arrays", c->fname,
                         c->ngrad);
            return -1;
        }
        item = c->ngrad > 1 ? PyTuple_GET_ITEM(item, i) : item;
        PyArrayObject *v = lf_float_like(c, item, 1, "v"), *h = LF_HESS(c, i);
        PyArrayObject *onto = c->fold_to[i];
        if (v == NULL) {
            return -1;
        }
        if (PyArray_SIZE(v) != PyArray_SIZE(onto)) {
            PyErr_Format(PyExc_ValueError, "%s: v has %zd elements, but the input has %zd",
                         c->fname, (Py_ssize_t)PyArray_SIZE(v), (Py_ssize_t)PyArray_SIZE(onto));
            return -1;
        }
        PyArray_Dims dims = {PyArray_DIMS(onto), PyArray_NDIM(onto)};
        if ((v = lf_own(c, PyArray_Newshape(v, &dims, NPY_CORDER))) == NULL ||
            (v = lf_broadcast_to(c, v, PyArray_NDIM(h), PyArray_DIMS(h))) == NULL ||
            (c->vec[i] = lf_own(c, PyArray_NewCopy(v, NPY_CORDER))) == NULL) {
            return -1;
        }
    }
    return 0;
}

/* H v for a kernel that wrote the Hessian's diagonal (its elements do not
 * interact): the diagonal times v, element by element, before the fold. */
static void
hvp_of_diagonal(lf_call *c)
{
    for (int i = 0; c->v_obj != NULL && !c->hvp_done && i < c->ngrad; i++) {
        PyArrayObject *h = LF_HESS(c, i);
        const npy_intp n = PyArray_SIZE(h);
        if (c->typenum == NPY_FLOAT) {
            float *d = PyArray_DATA(h);
            const float *v = PyArray_DATA(c->vec[i]);
            for (npy_intp k = 0; k < n; k++) {
                d[k] *= v[k];
            }
        }
        else {
            double *d = PyArray_DATA(h);
            const double *v = PyArray_DATA(c->vec[i]);
            for (npy_intp k = 0; k < n; k++) {
                d[k] *= v[k];
            }
        }
    }
}

int
lf_outputs(lf_call *c, const lf_outspec *o)
{
    if ((c->want & WANT_LOSS) && c->reduction == LF_REDUCE_NONE &&
        (c->loss = new_array(c, o->loss_nd, o->loss_shape,
                             c->half_native ? c->out_type : c->typenum, 0)) == NULL) {
        return -1;
    }
    if (!(c->want & (WANT_GRAD | WANT_HESS))) {
        return 0;
    }
    c->ngrad = o->ngrad;
    /* validate every `out` first: the call writes nothing when one is bad */
    for (int i = 0; i < o->ngrad; i++) {
        PyArrayObject *like = o->like[i];
        /* a half gradient is computed into float32 (result) and narrowed
         * into the caller's `out` (half_out) or a new array by lf_result */
        const int dtype = o->typenum[i] ? o->typenum[i] : c->out_type;
        const int typenum = lf_is_half_type(dtype) ? NPY_FLOAT : dtype;
        const int direct = o->grad_shape == NULL ||
                           (typenum == c->typenum &&
                            lf_same_shape(like, o->grad_nd, o->grad_shape));
        /* a half-native call's kernel writes a direct half gradient itself */
        const int native = c->half_native && direct && typenum != dtype;
        /* the dtype of the array the kernel writes (the half dtype itself
         * for a native one; the half-native families' outspecs ask for no
         * C-contiguous out) */
        const int rtype = native ? dtype : typenum;
        c->half_type[i] = c->half_type[LF_MAX_GRADS + i] = typenum != dtype && !native ? dtype : 0;
        if (c->out_obj != NULL && c->half_type[i]) {
            PyObject *item = out_item(c, o->ngrad, i);
            c->half_out[i] = item ? out_array(c, item, like, dtype, 0, i) : NULL;
            c->result[i] = c->half_out[i] ? new_array(c, PyArray_NDIM(like), PyArray_DIMS(like),
                                                      typenum, direct && o->zeroed)
                                          : NULL;
        }
        else if (c->out_obj != NULL) {
            PyObject *item = out_item(c, o->ngrad, i);
            c->result[i] = item ? out_array(c, item, like, rtype, direct && o->contiguous, i)
                                : NULL;
        }
        else {
            c->result[i] = new_array(c, PyArray_NDIM(like), PyArray_DIMS(like), rtype,
                                     direct && o->zeroed);
        }
        if (c->result[i] == NULL) {
            return -1;
        }
        c->grad[i] = direct ? c->result[i]
                            : new_array(c, o->grad_nd, o->grad_shape, c->typenum, o->zeroed);
        if (c->grad[i] == NULL) {
            return -1;
        }
    }
    for (int i = 0; i < o->ngrad; i++) {
        c->fold_to[i] = o->fold[i] ? o->fold[i] : o->like[i];
    }
    /* Hessian diagonals: new zeroed arrays laid out as the gradients (a
     * kernel writes nothing where the second derivative is 0), folded the
     * same way (the diagonal of a broadcast input sums its copies' terms) */
    for (int i = 0; i < o->ngrad && (c->want & WANT_HESS); i++) {
        const int h = LF_MAX_GRADS + i;
        PyArrayObject *like = o->like[i];
        const int native = lf_is_half_type(PyArray_TYPE(c->result[i]));
        const int typenum = native              ? PyArray_TYPE(c->result[i])
                            : c->half_type[h]   ? NPY_FLOAT
                            : o->typenum[i]     ? o->typenum[i]
                                                : c->typenum;
        c->result[h] = new_array(c, PyArray_NDIM(like), PyArray_DIMS(like), typenum, 1);
        if (c->result[h] == NULL) {
            return -1;
        }
        /* a half-native Hessian is written where it is returned (the
         * template walks its own strides) */
        c->grad[h] = native || (c->grad[i] == c->result[i] &&
                                PyArray_IS_C_CONTIGUOUS(c->grad[i]) == 1 && typenum == c->typenum)
                         ? c->result[h]
                         : new_array(c, PyArray_NDIM(c->grad[i]), PyArray_DIMS(c->grad[i]),
                                     c->typenum, 1);
        if (c->grad[h] == NULL) {
            return -1;
        }
        c->fold_to[h] = c->fold_to[i];
    }
    return hvp_vectors(c);
}

/* ------------------------------------------------------------------------ */
/* Folding a broadcast gradient back (autograd's sum_to)                    */
/* ------------------------------------------------------------------------ */

static double
load(const char *p, int typenum)
{
    return typenum == NPY_FLOAT ? (double)*(const float *)p : *(const double *)p;
}

/* Sums the C-contiguous grad over the axes along which `onto` was broadcast,
 * into acc (two doubles per element of onto: Neumaier sum, compensation). */
static void
fold_sum(PyArrayObject *grad, PyArrayObject *onto, double *acc)
{
    const int gnd = PyArray_NDIM(grad), fnd = PyArray_NDIM(onto), lead = gnd - fnd;
    npy_intp step[NPY_MAXDIMS], idx[NPY_MAXDIMS], elem = 1;
    for (int d = gnd - 1; d >= 0; d--) {
        const npy_intp n = d >= lead ? PyArray_DIM(onto, d - lead) : 1;
        step[d] = n == 1 ? 0 : elem;
        elem *= n;
        idx[d] = 0;
    }
    const int typenum = PyArray_TYPE(grad);
    const char *p = PyArray_BYTES(grad);
    const npy_intp size = PyArray_SIZE(grad), item = PyArray_ITEMSIZE(grad);
    npy_intp pos = 0;
    for (npy_intp k = 0; k < size; k++, p += item) {
        lf_ksum s = {acc[2 * pos], acc[2 * pos + 1]};
        lf_ksum_add(&s, load(p, typenum));
        acc[2 * pos] = s.sum;
        acc[2 * pos + 1] = s.comp;
        for (int d = gnd - 1; d >= 0; d--) { /* the next C-order index */
            pos += step[d];
            if (++idx[d] < PyArray_DIM(grad, d)) {
                break;
            }
            pos -= step[d] * idx[d];
            idx[d] = 0;
        }
    }
}

/* Writes acc's sums, in C order, into dst (any strides, its own dtype). */
static void
fold_store(const double *acc, PyArrayObject *dst)
{
    const int nd = PyArray_NDIM(dst), typenum = PyArray_TYPE(dst);
    npy_intp idx[NPY_MAXDIMS] = {0};
    char *p = PyArray_BYTES(dst);
    for (npy_intp k = 0, n = PyArray_SIZE(dst); k < n; k++) {
        lf_ksum s = {acc[2 * k], acc[2 * k + 1]};
        const double v = lf_ksum_value(&s);
        if (typenum == NPY_FLOAT) {
            *(float *)p = (float)v;
        }
        else {
            *(double *)p = v;
        }
        for (int d = nd - 1; d >= 0; d--) {
            p += PyArray_STRIDE(dst, d);
            if (++idx[d] < PyArray_DIM(dst, d)) {
                break;
            }
            p -= PyArray_STRIDE(dst, d) * idx[d];
            idx[d] = 0;
        }
    }
}

int
lf_fold(lf_call *c)
{
    for (int k = 0; k < 2 * c->ngrad; k++) {
        const int i = k < c->ngrad ? k : LF_MAX_GRADS + k - c->ngrad;
        if (c->grad[i] == NULL || c->grad[i] == c->result[i]) {
            continue;
        }
        const npy_intp n = PyArray_SIZE(c->result[i]);
        double *acc = PyMem_Calloc((size_t)(n ? 2 * n : 1), sizeof(double));
        if (acc == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        fold_sum(c->grad[i], c->fold_to[i], acc);
        fold_store(acc, c->result[i]);
        PyMem_Free(acc);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The result                                                               */
/* ------------------------------------------------------------------------ */

static PyObject *
scalar_of(double value, int typenum)
{
    if (lf_is_half_type(typenum)) {
        return lf_half_scalar(value, typenum);
    }
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

/* The gradients (first = 0) or the Hessian diagonals (first = LF_MAX_GRADS):
 * one array, or a tuple of them. */
static PyObject *
grads_of(lf_call *c, int first)
{
    if (c->ngrad == 1) {
        Py_INCREF(c->result[first]);
        return (PyObject *)c->result[first];
    }
    PyObject *g = PyTuple_New(c->ngrad);
    for (int i = 0; g != NULL && i < c->ngrad; i++) {
        Py_INCREF(c->result[first + i]);
        PyTuple_SET_ITEM(g, i, (PyObject *)c->result[first + i]);
    }
    return g;
}

/* The float32 results of a half call, narrowed into its half dtype. */
static int
narrow_results(lf_call *c)
{
    if (c->loss != NULL && lf_is_half_type(c->out_type) && PyArray_TYPE(c->loss) == NPY_FLOAT &&
        (c->loss = lf_narrow(c, c->loss, NULL, c->out_type)) == NULL) {
        return -1;
    }
    for (int i = 0; i < 2 * LF_MAX_GRADS; i++) {
        if (c->result[i] != NULL && c->half_type[i] &&
            (c->result[i] = lf_narrow(c, c->result[i], c->half_out[i], c->half_type[i])) ==
                NULL) {
            return -1;
        }
    }
    return 0;
}

PyObject *
lf_result(lf_call *c, double value)
{
    PyObject *loss = NULL, *grads = NULL, *hess = NULL, *res = NULL;
    if (c->interrupt[0] != NULL) { /* an interrupted kernel's result */
        return NULL;
    }
    hvp_of_diagonal(c);
    if (lf_fold(c) < 0 || narrow_results(c) < 0) {
        return NULL;
    }
    if (c->want & WANT_LOSS) {
        if (c->reduction == LF_REDUCE_NONE) {
            Py_INCREF(c->loss);
            loss = (PyObject *)c->loss;
        }
        else if ((loss = scalar_of(value, c->out_type)) == NULL) {
            return NULL;
        }
    }
    if ((c->want & WANT_GRAD) && (grads = grads_of(c, 0)) == NULL) {
        Py_XDECREF(loss);
        return NULL;
    }
    if ((c->want & WANT_HESS) && (hess = grads_of(c, LF_MAX_GRADS)) == NULL) {
        Py_XDECREF(loss);
        Py_XDECREF(grads);
        return NULL;
    }
    PyObject *parts[3] = {NULL, NULL, NULL};
    int nparts = 0;
    if (loss != NULL) {
        parts[nparts++] = loss;
    }
    if (grads != NULL) {
        parts[nparts++] = grads;
    }
    if (hess != NULL) {
        parts[nparts++] = hess;
    }
    if (nparts == 1) {
        return parts[0];
    }
    res = nparts == 2 ? PyTuple_Pack(2, parts[0], parts[1])
                      : PyTuple_Pack(3, parts[0], parts[1], parts[2]);
    for (int i = 0; i < nparts; i++) {
        Py_DECREF(parts[i]);
    }
    return res;
}

int
lf_one_input_outputs(lf_call *c, int loss_nd, const npy_intp *loss_shape, PyArrayObject *x,
                     char **out, ptrdiff_t *out_step, char **grad)
{
    const lf_outspec o = {loss_nd, loss_shape, c->spec->ngrad, 0, NULL, {x}, {NULL}, {0}, 1, 0};
    if (lf_outputs(c, &o) < 0) {
        return -1;
    }
    if (c->loss != NULL) {
        *out = PyArray_BYTES(c->loss);
        *out_step = PyArray_ITEMSIZE(c->loss);
    }
    if (c->grad[0] != NULL) {
        *grad = PyArray_BYTES(c->grad[0]);
    }
    return 0;
}
