/*
 * binary.c -- BCE and BCE with logits: a target of the input's shape,
 * weights that broadcast to it.
 */
#include "binding.h"

typedef struct {
    PyArrayObject *input, *target, *weight, *pos_weight;
} binary_params;

#define ARRAY(field, kind) LF_ARRAY(binary_params, field, kind, C_NONE)
#define BINARY_ARGS ARRAY(input, A_INPUT), ARRAY(target, A_REAL), ARRAY(weight, A_FLOAT)

static const lf_spec bce_spec = {
    "binary_cross_entropy", sizeof(binary_params), LF_OUT | LF_SPLIT_EW, 1, {BINARY_ARGS}};
static const lf_spec bce_logits_spec = {"binary_cross_entropy_with_logits",
                                        sizeof(binary_params), LF_OUT | LF_SPLIT_EW, 1,
                                        {BINARY_ARGS, ARRAY(pos_weight, A_FLOAT)}};

/* An optional operand that broadcasts to the input (weights). */
static int
ew_broadcast(lf_call *c, lf_elementwise *ew, int op, PyArrayObject *arr, const char *name)
{
    if (arr == NULL) {
        return 0;
    }
    ew->data[op] = PyArray_BYTES(arr);
    return lf_broadcast_strides(c, arr, ew->ndim, ew->shape, ew->strides[op], name);
}

/* The kernel checks the [0, 1] domain in its loss pass; a caller's own
 * buffer must stay untouched on bad input, so it gets a pass that writes
 * nothing first. */
static lf_status
bce_run(lf_call *c, const lf_elementwise *ew, npy_intp n, double *sum, lf_error *err)
{
    lf_status status = LF_OK;
    if (c->out_obj != NULL) {
        lf_elementwise dry = *ew;
        dry.data[LF_EW_OUT] = dry.data[LF_EW_GRAD] = dry.data[LF_EW_HESS] = NULL;
        LF_RUN(c, n, status, lf_bce, &dry, sum, err);
    }
    if (status == LF_OK) {
        LF_RUN(c, n, status, lf_bce, ew, sum, err);
    }
    if (status != LF_OK) {
        PyObject *bad = PyFloat_FromDouble(err->fvalue);
        if (bad != NULL) {
            PyErr_Format(PyExc_ValueError,
                         "%s: %s has %R at flat index %zd, but every element must be in [0, 1]",
                         c->fname, status == LF_ERR_INPUT_DOMAIN ? "input" : "target", bad,
                         (Py_ssize_t)err->index);
            Py_DECREF(bad);
        }
    }
    return status;
}

static PyObject *
binary(lf_call *c, int logits)
{
    binary_params *p = c->params;
    PyArrayObject *x = p->input;
    const int nd = PyArray_NDIM(x);
    const npy_intp *dims = PyArray_DIMS(x), n = PyArray_SIZE(x);
    lf_elementwise ew;
    if (lf_require_shape_of(c, p->target, x, "target") < 0) {
        return NULL;
    }
    lf_ew_init(&ew, nd, dims);
    if (ew_broadcast(c, &ew, LF_EW_WEIGHT, p->weight, "weight") < 0 ||
        (logits && ew_broadcast(c, &ew, LF_EW_POS_WEIGHT, p->pos_weight, "pos_weight") < 0) ||
        lf_grad_output(c, nd, dims, lf_norm(c->reduction, (double)n)) < 0) {
        return NULL;
    }
    const lf_outspec o = {nd, dims, c->spec->ngrad, 0, NULL, {x}, {NULL}, {0}, 0, 0};
    if (lf_outputs(c, &o) < 0) {
        return NULL;
    }
    lf_ew_pair(c, &ew, x, p->target);
    double sum = 0.0;
    lf_error err;
    if (logits) {
        LF_RUN(c, n, sum, lf_bce_logits, &ew);
    }
    else if (bce_run(c, &ew, n, &sum, &err) != LF_OK) {
        return NULL;
    }
    return lf_result(c, lf_reduce(c->reduction, sum, (double)n));
}

LF_DEFINE(binary_cross_entropy, binary_params, bce_spec, binary, 0)
LF_DEFINE(bce_with_logits, binary_params, bce_logits_spec, binary, 1)
