/*
 * distill.c -- knowledge distillation (Hinton et al., 2015): student logits
 * `input` and teacher logits `target`, both [N, C];
 * T^2 KL(softmax(target / T) || softmax(input / T)) per term, "batchmean"
 * (the default: the sum over N) or "mean" over the N C terms.
 */
#include "binding.h"

typedef struct {
    PyArrayObject *input, *target;
    double temperature;
} distill_params;

/* Dask cuts the rows (a row's classes are coupled) and keeps the [N, C]
 * terms of "none" per element (the broadcast shape): "mean" over N C,
 * "batchmean" over N. */
static const lf_spec distill_spec = {
    "distillation_loss", sizeof(distill_params),
    LF_OUT | LF_BATCHMEAN | LF_SPLIT_ROWS | LF_HALF_CLASS | LF_BOOST_ROWS, 1, /* (lf_class_half_input) */
    {LF_ARRAY(distill_params, input, A_INPUT, C_NONE),
     LF_ARRAY(distill_params, target, A_REAL, C_NONE),
     LF_REAL(distill_params, temperature, O_REAL, C_FINITE_GT0, "finite and > 0")},
    LF_FACE(multiclass, DistillationLoss)};

/* grad_output, the [N, C] terms and the gradient (C order), into the view. */
static int
distill_outputs(lf_call *c, lf_classes *a, npy_intp count)
{
    const distill_params *p = c->params;
    PyArrayObject *x = p->input;
    if (lf_grad_output(c, 2, PyArray_DIMS(x), lf_norm(c->reduction, (double)count)) < 0) {
        return -1;
    }
    a->scale = c->scale;
    if (c->go != NULL) {
        a->grad_output = PyArray_BYTES(c->go);
        a->go_n = PyArray_STRIDE(c->go, 0);
        a->go_s = PyArray_STRIDE(c->go, 1);
    }
    const lf_outspec o = {2, PyArray_DIMS(x), c->spec->ngrad, 0, NULL, {x}, {NULL}, {0}, 1, 0};
    if (lf_outputs(c, &o) < 0) {
        return -1;
    }
    if (c->loss != NULL) {
        a->out = PyArray_BYTES(c->loss);
        a->out_n = PyArray_STRIDE(c->loss, 0);
        a->out_s = PyArray_STRIDE(c->loss, 1);
    }
    if (c->grad[0] != NULL) {
        a->grad = PyArray_BYTES(c->grad[0]);
        a->g_c = PyArray_ITEMSIZE(c->grad[0]);
        a->g_n = a->C * a->g_c;
        a->hess = LF_HESS(c, 0) ? PyArray_BYTES(LF_HESS(c, 0)) : NULL;
        a->vec = LF_VEC(c, 0);
        c->hvp_done = 1; /* a row's classes are coupled: H v by the kernel */
    }
    return 0;
}

static PyObject *
distill_loss(lf_call *c, int kind)
{
    char b1[SHAPE_BUF];
    distill_params *p = c->params;
    PyArrayObject *x = p->input, *t = p->target;
    lf_classes a;
    (void)kind;
    memset(&a, 0, sizeof(a));
    if (PyArray_NDIM(x) != 2) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input must be [N, C] (student logits), got shape %s", c->fname,
                     ARR_SHAPE(b1, x));
        return NULL;
    }
    if (lf_require_shape_of(c, t, x, "target") < 0 ||
        lf_class_half_input(c, &p->input, &p->target, &a.half_kind) < 0) {
        return NULL;
    }
    x = p->input;
    t = p->target;
    a.half_target = c->half_native && PyArray_TYPE(t) == c->out_type;
    a.N = PyArray_DIM(x, 0);
    a.C = PyArray_DIM(x, 1);
    a.S = 1;
    a.input = PyArray_BYTES(x);
    a.in_n = PyArray_STRIDE(x, 0);
    a.in_c = PyArray_STRIDE(x, 1);
    a.target = PyArray_BYTES(t);
    a.t_n = PyArray_STRIDE(t, 0);
    a.t_c = PyArray_STRIDE(t, 1);
    /* "batchmean" divides by N, "mean" by every term, as kl_div's */
    const npy_intp count = c->reduction == LF_REDUCE_MEAN ? a.N * a.C : a.N;
    if (distill_outputs(c, &a, count) < 0 || lf_class_stage(c, &a) < 0) {
        return NULL;
    }
    double sum;
    LF_RUN(c, PyArray_SIZE(x), sum, lf_distillation, &a, p->temperature);
    return lf_result(c, lf_reduce(c->reduction, sum, (double)count));
}

LF_DEFINE(distillation_loss, distill_params, distill_spec, distill_loss, 0)
