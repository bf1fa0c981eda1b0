/*
 * binary.c -- BCE, BCE with logits and Poly-1 BCE with logits: a target of
 * the input's shape, weights that broadcast to it.
 */
#include "binding.h"

#include <string.h>

typedef struct {
    PyArrayObject *input, *target, *weight, *pos_weight;
    lf_ew_param k; /* the options, where the kernel reads them */
} binary_params;

#define SIZE sizeof(binary_params)
#define ARRAY(field, kind) LF_ARRAY(binary_params, field, kind, C_NONE)
#define BINARY_ARGS ARRAY(input, A_INPUT), ARRAY(target, A_REAL), ARRAY(weight, A_FLOAT)
#define EW (LF_OUT | LF_SPLIT_EW | LF_HALF_EW)
#define SMOOTHING LF_EW_REAL(binary_params, label_smoothing, O_REAL, C_UNIT, "in [0, 1]")

/* indexed by the kernel's kind (pylossfn.h, LF_BIN_LOSSES) */
static const lf_spec binary_specs[LF_BIN_NKINDS] = {
    /* (BCE takes probabilities: no objective, the trees' margins are unbounded) */
    [LF_BIN_BCE] = {"binary_cross_entropy", SIZE, EW, 1, {BINARY_ARGS, SMOOTHING},
                    LF_FACE(binary, BCELoss)},
    [LF_BIN_BCE_LOGITS] = {"binary_cross_entropy_with_logits", SIZE, EW | LF_BOOST_EW, 1,
                           {BINARY_ARGS, ARRAY(pos_weight, A_FLOAT), SMOOTHING},
                           LF_FACE_HEAD(binary, BCEWithLogitsLoss,
                                        linear_binary_cross_entropy_with_logits,
                                        LinearBCEWithLogitsLoss)},
    [LF_BIN_POLY_LOGITS] = {"poly_binary_cross_entropy_with_logits", SIZE, EW | LF_BOOST_EW, 1,
                            {BINARY_ARGS, ARRAY(pos_weight, A_FLOAT),
                             LF_EW_REAL(binary_params, epsilon, O_REAL, C_FINITE, "finite")},
                            LF_FACE(binary, PolyBCEWithLogitsLoss)},
};

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

/* BCE's [0, 1] domain: ValueError naming the first bad element. */
static int
bce_domain(lf_call *c, const lf_elementwise *ew, npy_intp n)
{
    lf_error err;
    lf_status status;
    LF_RUN(c, n, status, lf_bce_check, ew, &err);
    if (status == LF_OK) {
        return 0;
    }
    PyObject *bad = PyFloat_FromDouble(err.fvalue);
    if (bad != NULL) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %s has %R at flat index %zd, but every element must be in [0, 1]",
                     c->fname, status == LF_ERR_INPUT_DOMAIN ? "input" : "target", bad,
                     (Py_ssize_t)err.index);
        Py_DECREF(bad);
    }
    return -1;
}

static PyObject *
binary(lf_call *c, int kind)
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
        ew_broadcast(c, &ew, LF_EW_POS_WEIGHT, p->pos_weight, "pos_weight") < 0 ||
        lf_grad_output(c, nd, dims, lf_norm(c->reduction, (double)n)) < 0) {
        return NULL;
    }
    const lf_outspec o = {nd, dims, c->spec->ngrad, 0, NULL, {x}, {NULL}, {0}, 0, 0};
    if (lf_outputs(c, &o) < 0) {
        return NULL;
    }
    lf_ew_pair(c, &ew, x, p->target);
    /* BCE's kernel flags a bad element by a nan sum; a caller's own buffer
     * must stay untouched on bad input, so it gets the check first */
    const int checked = kind == LF_BIN_BCE;
    if (checked && c->out_obj != NULL && bce_domain(c, &ew, n) < 0) {
        return NULL;
    }
    double sum;
    LF_RUN(c, n, sum, lf_binary, &ew, (lf_binary_kind)kind, &p->k);
    if (checked && sum != sum && bce_domain(c, &ew, n) < 0) {
        return NULL;
    }
    return lf_result(c, lf_reduce(c->reduction, sum, (double)n));
}

LF_DEFINE(binary_cross_entropy, binary_params, binary_specs[LF_BIN_BCE], binary, LF_BIN_BCE)
LF_DEFINE(bce_with_logits, binary_params, binary_specs[LF_BIN_BCE_LOGITS], binary,
          LF_BIN_BCE_LOGITS)
LF_DEFINE(poly_bce_with_logits, binary_params, binary_specs[LF_BIN_POLY_LOGITS], binary,
          LF_BIN_POLY_LOGITS)
