/*
 * activations.c -- sigmoid / logsigmoid element-wise, softmax / log_softmax
 * along one dim (viewed as [N, C, S]): outputs of the input's shape.
 */
#include "binding.h"

enum { PLAIN = 0, LOG = 1, SPARSE = 2 };

typedef struct {
    PyArrayObject *input;
    long dim;
} activation_params;

#define INPUT LF_ARRAY(activation_params, input, A_INPUT, C_NONE)
#define SIZE sizeof(activation_params)
/* (LF_HALF_EW: a half input and its half result go through the element-wise
 * template's blocks as they are) */
#define ACT LF_PLAIN_FACE(activation)
static const lf_spec sigmoid_spec = {"sigmoid", SIZE, LF_PLAIN | LF_HALF_EW, 0, {INPUT}, ACT};
static const lf_spec logsigmoid_spec = {"logsigmoid", SIZE, LF_PLAIN | LF_HALF_EW, 0, {INPUT}, ACT};

/* (LF_HALF_CLASS: a half input is staged by the kernel a sample at a time,
 * on its stack up to LF_CE_HALF_C classes and in the call's slots beyond,
 * see lf_class_stage) */
#define SOFTMAX_ARGS INPUT, LF_LONG(activation_params, dim, C_NONE, NULL)
#define SOFTMAX_FLAGS (LF_PLAIN | LF_HALF_CLASS)
static const lf_spec softmax_spec = {"softmax", SIZE, SOFTMAX_FLAGS, 0, {SOFTMAX_ARGS}, ACT};
static const lf_spec log_softmax_spec = {"log_softmax", SIZE, SOFTMAX_FLAGS, 0, {SOFTMAX_ARGS},
                                         ACT};
static const lf_spec sparsemax_spec = {"sparsemax", SIZE, SOFTMAX_FLAGS, 0, {SOFTMAX_ARGS}, ACT};

static PyObject *
sigmoid(lf_call *c, int log)
{
    const activation_params *p = c->params;
    PyArrayObject *x = p->input;
    const int nd = PyArray_NDIM(x);
    lf_elementwise ew;
    const int typenum = c->half_native ? c->out_type : c->typenum;
    PyArrayObject *out = lf_own(c, PyArray_EMPTY(nd, PyArray_DIMS(x), typenum, 0));
    if (out == NULL) {
        return NULL;
    }
    lf_ew_init(&ew, nd, PyArray_DIMS(x));
    lf_ew_set(&ew, LF_EW_INPUT, x);
    lf_ew_set(&ew, LF_EW_OUT, out);
    lf_ew_coalesce(&ew);
    LF_RUN_VOID(c, PyArray_SIZE(x), lf_sigmoid, &ew, log);
    Py_INCREF(out);
    return (PyObject *)out;
}

/* The input as [N, C, S] around dim (a copy when the dims before or after
 * it cannot be walked with one stride); a 0-d input is one class. */
static int
softmax_view(lf_call *c, int dim, lf_classes *a)
{
    activation_params *p = c->params;
    PyArrayObject *x = p->input;
    const int nd = PyArray_NDIM(x);
    npy_intp stride_n = 0, stride_s = 0;
    a->N = a->C = a->S = 1;
    if (nd > 0 &&
        (!lf_flat_stride(dim, PyArray_DIMS(x), PyArray_STRIDES(x), &stride_n) ||
         !lf_flat_stride(nd - dim - 1, PyArray_DIMS(x) + dim + 1, PyArray_STRIDES(x) + dim + 1,
                         &stride_s))) {
        if ((x = lf_own(c, PyArray_NewCopy(x, NPY_CORDER))) == NULL) {
            return -1;
        }
        lf_flat_stride(dim, PyArray_DIMS(x), PyArray_STRIDES(x), &stride_n);
        lf_flat_stride(nd - dim - 1, PyArray_DIMS(x) + dim + 1, PyArray_STRIDES(x) + dim + 1,
                       &stride_s);
    }
    for (int d = 0; d < nd; d++) {
        *(d < dim ? &a->N : d > dim ? &a->S : &a->C) *= PyArray_DIM(x, d);
    }
    a->input = PyArray_BYTES(x);
    a->in_n = stride_n;
    a->in_c = nd > 0 ? PyArray_STRIDE(x, dim) : 0;
    a->in_s = stride_s;
    p->input = x;
    return 0;
}

static PyObject *
softmax(lf_call *c, int log)
{
    activation_params *p = c->params;
    const int nd = PyArray_NDIM(p->input);
    const int rank = nd > 0 ? nd : 1; /* a 0-d input is one class */
    long dim = p->dim;
    lf_classes a;
    memset(&a, 0, sizeof(a));
    if (dim < -rank || dim >= rank) {
        PyErr_Format(PyExc_IndexError,
                     "%s: dim %ld is out of range for an input with %d dimension(s)", c->fname,
                     dim, nd);
        return NULL;
    }
    dim += dim < 0 ? rank : 0;
    if (lf_class_half_input(c, &p->input, NULL, &a.half_kind) < 0 ||
        softmax_view(c, (int)dim, &a) < 0 || lf_class_stage(c, &a) < 0) {
        return NULL;
    }
    const int typenum = c->half_native ? c->out_type : c->typenum;
    PyArrayObject *out = lf_own(c, PyArray_EMPTY(nd, PyArray_DIMS(p->input), typenum, 0));
    if (out == NULL) {
        return NULL;
    }
    a.grad = PyArray_BYTES(out);
    a.g_s = PyArray_ITEMSIZE(out);
    a.g_c = a.S * a.g_s;
    a.g_n = a.C * a.g_c;
    if (log == SPARSE) {
        LF_RUN_VOID(c, PyArray_SIZE(p->input), lf_sparsemax, &a);
    }
    else {
        LF_RUN_VOID(c, PyArray_SIZE(p->input), lf_softmax, &a, log);
    }
    Py_INCREF(out);
    return (PyObject *)out;
}

LF_DEFINE(sigmoid, activation_params, sigmoid_spec, sigmoid, PLAIN)
LF_DEFINE(logsigmoid, activation_params, logsigmoid_spec, sigmoid, LOG)
LF_DEFINE(softmax, activation_params, softmax_spec, softmax, PLAIN)
LF_DEFINE(log_softmax, activation_params, log_softmax_spec, softmax, LOG)
LF_DEFINE(sparsemax, activation_params, sparsemax_spec, softmax, SPARSE)
