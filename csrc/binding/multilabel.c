/*
 * multilabel.c -- the multi-label losses on logits: focal and asymmetric
 * (element-wise, a target of the input's shape), ZLPR ([..., C] rows, one
 * loss per row) and soft-F1 ([N, C] or [N], one cost per label).
 */
#include "binding.h"

#include <math.h>
#include <string.h>

/* focal and ASL are the template's kinds (LF_ML_FOCAL, LF_ML_ASYMMETRIC) */
enum { KIND_ZLPR = LF_ML_NKINDS, KIND_SOFT_F1 };

typedef struct {
    PyArrayObject *input, *target;
    lf_ew_param k; /* the options, where the kernels read them */
} multilabel_params;

#define SIZE sizeof(multilabel_params)
#define PAIR                                                                            \
    LF_ARRAY(multilabel_params, input, A_INPUT, C_NONE),                                \
        LF_ARRAY(multilabel_params, target, A_REAL, C_NONE)
#define REAL(field, kind, check, what) LF_EW_REAL(multilabel_params, field, kind, check, what)
#define FINITE_GE0(field) REAL(field, O_REAL, C_FINITE_GE0, "finite and >= 0")
#define EPS REAL(eps, O_REAL, C_FINITE_GT0, "finite and > 0")

static const lf_spec focal_spec = {
    "sigmoid_focal_loss", SIZE, LF_OUT | LF_SPLIT_EW | LF_HALF_EW | LF_BOOST_EW, 1,
    {PAIR, REAL(alpha, O_REAL, C_FINITE, "a finite number (< 0 to disable)"),
     FINITE_GE0(gamma)},
    LF_FACE(binary, SigmoidFocalLoss)};
static const lf_spec asl_spec = {
    "asymmetric_loss", SIZE, LF_OUT | LF_SPLIT_EW | LF_HALF_EW | LF_BOOST_EW, 1,
    {PAIR, FINITE_GE0(gamma_neg), FINITE_GE0(gamma_pos),
     REAL(clip, O_REAL_OR_NONE, C_UNIT_OPEN, "in [0, 1)"), EPS},
    LF_FACE(binary, AsymmetricLoss)};
/* (LF_HALF_CLASS: half rows are staged by the kernel, on its stack up to
 * LF_CE_HALF_C labels and in the call's slots beyond, see lf_stage) */
static const lf_spec zlpr_spec = {"multilabel_categorical_crossentropy", SIZE,
                                   LF_OUT | LF_SPLIT_ROWS | LF_NONE_ROWS | LF_HALF_CLASS |
                                       LF_BOOST_ROWS,
                                   1, {PAIR}, LF_FACE(binary, ZLPRLoss)};
static const lf_spec soft_f1_spec = {
    "soft_f1_loss", SIZE, LF_OUT | LF_SPLIT_WHOLE | LF_NONE_LABELS | LF_HALF_CLASS, 1,
    {PAIR, EPS}, LF_FACE(binary, SoftF1Loss)};

static PyObject *
focal_family(lf_call *c, int kind)
{
    const multilabel_params *p = c->params;
    PyArrayObject *x = p->input;
    const int nd = PyArray_NDIM(x);
    const npy_intp *dims = PyArray_DIMS(x), n = PyArray_SIZE(x);
    lf_elementwise ew;
    if (lf_require_shape_of(c, p->target, x, "target") < 0 ||
        lf_grad_output(c, nd, dims, lf_norm(c->reduction, (double)n)) < 0) {
        return NULL;
    }
    const lf_outspec o = {nd, dims, c->spec->ngrad, 0, NULL, {x}, {NULL}, {0}, 0, 0};
    if (lf_outputs(c, &o) < 0) {
        return NULL;
    }
    lf_ew_init(&ew, nd, dims);
    lf_ew_pair(c, &ew, x, p->target);
    double sum;
    LF_RUN(c, n, sum, lf_multilabel_ew, &ew, (lf_multilabel_kind)kind, &p->k);
    return lf_result(c, lf_reduce(c->reduction, sum, (double)n));
}

/* The [N, C] view: ZLPR flattens the leading dims into N (loss [...]);
 * soft-F1 takes [N, C] or [N] (loss [C] or ()). */
static int
rows_view(lf_call *c, int kind, lf_multilabel *a, int *loss_nd, npy_intp *loss_shape)
{
    char b1[SHAPE_BUF];
    multilabel_params *p = c->params;
    PyArrayObject *x = p->input, *y = p->target;
    const int nd = PyArray_NDIM(x);
    if (kind == KIND_ZLPR ? nd < 1 : (nd < 1 || nd > 2)) {
        PyErr_Format(PyExc_ValueError,
                     kind == KIND_ZLPR
                         ? "%s: input must have at least 1 dimension ([..., C], labels last), "
                           "got shape %s"
                         : "%s: input must be [N, C] or [N] (one label), got shape %s",
                     c->fname, ARR_SHAPE(b1, x));
        return -1;
    }
    if (lf_require_shape_of(c, y, x, "target") < 0) {
        return -1;
    }
    *loss_nd = nd - 1;
    if (kind == KIND_ZLPR) {
        a->N = 1;
        for (int d = 0; d < nd - 1; d++) {
            loss_shape[d] = PyArray_DIM(x, d);
            a->N *= loss_shape[d];
        }
        a->C = PyArray_DIM(x, nd - 1);
        if ((x = lf_flat_dims(c, x, 0, nd - 1, &a->in_n)) == NULL ||
            (y = lf_flat_dims(c, y, 0, nd - 1, &a->t_n)) == NULL) {
            return -1;
        }
    }
    else {
        loss_shape[0] = nd == 2 ? PyArray_DIM(x, 1) : 1;
        a->N = PyArray_DIM(x, 0);
        a->C = nd == 2 ? PyArray_DIM(x, 1) : 1;
        a->in_n = PyArray_STRIDE(x, 0);
        a->t_n = PyArray_STRIDE(y, 0);
    }
    a->in_c = kind == KIND_ZLPR || nd == 2 ? PyArray_STRIDE(x, nd - 1) : 0;
    a->t_c = kind == KIND_ZLPR || nd == 2 ? PyArray_STRIDE(y, nd - 1) : 0;
    a->input = PyArray_BYTES(x);
    a->target = PyArray_BYTES(y);
    p->input = x;
    return 0;
}

static PyObject *
rows_loss(lf_call *c, int kind)
{
    multilabel_params *p = c->params;
    npy_intp loss_shape[NPY_MAXDIMS];
    int loss_nd;
    lf_multilabel a;
    memset(&a, 0, sizeof(a));
    /* (soft-F1 stages ML_SF1_COLS labels of a row at a time, ZLPR a row on
     * the stack or in lf_stage's slots: any width) */
    if (lf_class_half_input(c, &p->input, &p->target, &a.half_kind) < 0 ||
        rows_view(c, kind, &a, &loss_nd, loss_shape) < 0) {
        return NULL;
    }
    a.half_target = c->half_native && PyArray_TYPE(p->target) == c->out_type;
    const npy_intp count = kind == KIND_ZLPR ? a.N : a.C; /* loss values */
    if (lf_grad_output(c, loss_nd, loss_shape, lf_norm(c->reduction, (double)count)) < 0) {
        return NULL;
    }
    a.scale = c->scale;
    if (c->go != NULL) {
        if ((c->go = lf_flat_dims(c, c->go, 0, loss_nd, &a.go_step)) == NULL) {
            return NULL;
        }
        a.grad_output = PyArray_BYTES(c->go);
    }
    double *work = NULL;
    if (lf_one_input_outputs(c, loss_nd, loss_shape, p->input, &a.out, &a.out_step,
                             &a.grad) < 0 ||
        (kind == KIND_SOFT_F1 &&
         (work = lf_alloc_n(c, a.C, 6 * sizeof(double), "the per-label sums")) == NULL)) {
        return NULL;
    }
    if (c->grad[0] != NULL) {
        a.g_c = PyArray_ITEMSIZE(c->grad[0]);
        a.g_n = a.C * a.g_c;
        a.hess = LF_HESS(c, 0) ? PyArray_BYTES(LF_HESS(c, 0)) : NULL;
        a.vec = LF_VEC(c, 0); /* both kernels couple their labels (or rows): H v there */
        c->hvp_done = 1;
    }
    double sum;
    if (kind == KIND_ZLPR) {
        if (lf_stage(c, a.half_kind, a.N, a.C, &a.stage, &a.stage_slots) < 0) {
            return NULL;
        }
        LF_RUN(c, PyArray_SIZE(p->input), sum, lf_zlpr, &a);
    }
    else {
        LF_RUN(c, PyArray_SIZE(p->input), sum, lf_soft_f1, &a, p->k.eps, work);
    }
    return lf_result(c, lf_reduce(c->reduction, sum, (double)count));
}

LF_DEFINE(sigmoid_focal_loss, multilabel_params, focal_spec, focal_family, LF_ML_FOCAL)
LF_DEFINE(asymmetric_loss, multilabel_params, asl_spec, focal_family, LF_ML_ASYMMETRIC)
LF_DEFINE(multilabel_categorical_crossentropy, multilabel_params, zlpr_spec, rows_loss, KIND_ZLPR)
LF_DEFINE(soft_f1_loss, multilabel_params, soft_f1_spec, rows_loss, KIND_SOFT_F1)
