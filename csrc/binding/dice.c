/*
 * dice.c -- Dice / Tversky and the generalized Dice: input [N, C, *]
 * ("binary": [N, *], one class) viewed as [N, C, S]; a target of the input's
 * shape, or ("multiclass") class indices [N, *]; one loss per class (and per
 * sample with per_sample).
 */
#include "binding.h"

enum { KIND_DICE, KIND_GENERALIZED };
/* mode codes (pylossfn.functional names them) */
enum { MODE_MULTILABEL, MODE_MULTICLASS, MODE_BINARY };

typedef struct {
    PyArrayObject *input, *target, *weight;
    long mode_code; /* pylossfn.functional's adapter makes it from `mode` */
    double smooth, alpha, beta;
    int per_sample;
} dice_params;

#define SIZE sizeof(dice_params)
#define PAIR                                                                            \
    LF_ARRAY(dice_params, input, A_INPUT, C_NONE),                                      \
        LF_ARRAY(dice_params, target, A_ARRAY, C_NONE)
/* (LF_HALF_CLASS: a half row of C S elements is staged by the kernel, on its
 * stack up to LF_CE_HALF_C and in the call's slots beyond (lf_stage), its
 * gradient and losses written in the half dtype; a Hessian or H v is widened
 * first) */
#define GE0(field) LF_REAL(dice_params, field, O_REAL, C_FINITE_GE0, "finite and >= 0")

static const lf_spec dice_spec = {
    "dice_loss", SIZE, LF_OUT | LF_SPLIT_WHOLE | LF_NONE_ASK | LF_HALF_CLASS, 1,
    {PAIR, LF_LONG(dice_params, mode_code, C_NONE, NULL), GE0(smooth), GE0(alpha), GE0(beta),
     LF_ARRAY(dice_params, weight, A_FLOAT, C_1D), LF_BOOL(dice_params, per_sample)},
    LF_FACE(binary, DiceLoss)};
static const lf_spec gdice_spec = {
    "generalized_dice_loss", SIZE, LF_OUT | LF_SPLIT_WHOLE | LF_NONE_ASK | LF_HALF_CLASS, 1,
    {PAIR, GE0(smooth), LF_BOOL(dice_params, per_sample)}, LF_FACE(binary, GeneralizedDiceLoss)};

/* The [N, C, S] sizes of the input and the "none" loss's shape, or ValueError. */
static int
dice_view(lf_call *c, lf_dice *a, int *loss_nd, npy_intp *loss_shape)
{
    char b1[SHAPE_BUF];
    dice_params *p = c->params;
    PyArrayObject *x = p->input;
    const int nd = PyArray_NDIM(x), binary = p->mode_code == MODE_BINARY;
    if (nd < (binary ? 1 : 2)) {
        PyErr_Format(PyExc_ValueError,
                     binary ? "%s: input must be [N, *] (mode \"binary\"), got shape %s"
                            : "%s: input must be [N, C, *] (classes on axis 1), got shape %s",
                     c->fname, ARR_SHAPE(b1, x));
        return -1;
    }
    a->N = PyArray_DIM(x, 0);
    a->C = binary ? 1 : PyArray_DIM(x, 1);
    a->S = 1;
    for (int d = binary ? 1 : 2; d < nd; d++) {
        a->S *= PyArray_DIM(x, d); /* a factor of the input's size: no overflow */
    }
    *loss_nd = p->per_sample ? 2 : 1;
    loss_shape[0] = p->per_sample ? a->N : a->C;
    loss_shape[1] = a->C;
    return 0;
}

/* Class indices [N, *] (checked, in a private copy), or IndexError. */
static int
dice_index(lf_call *c, lf_dice *a, PyArrayObject *t)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF], b3[SHAPE_BUF];
    const dice_params *p = c->params;
    const int nd = PyArray_NDIM(p->input);
    npy_intp shape[NPY_MAXDIMS];
    shape[0] = a->N;
    for (int d = 2; d < nd; d++) {
        shape[d - 1] = PyArray_DIM(p->input, d);
    }
    if (!lf_same_shape(t, nd - 1, shape)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: target has shape %s, but input of shape %s needs class indices of "
                     "shape %s (or probabilities of the input's shape)",
                     c->fname, ARR_SHAPE(b1, t), ARR_SHAPE(b2, p->input),
                     lf_fmt_shape(b3, sizeof(b3), nd - 1, shape));
        return -1;
    }
    if ((t = lf_class_target(c, t, a->C)) == NULL) {
        return -1;
    }
    a->index = (const int64_t *)PyArray_DATA(t);
    for (npy_intp i = 0, n = PyArray_SIZE(t); i < n; i++) {
        if (a->index[i] < 0 || a->index[i] >= a->C) {
            PyErr_Format(PyExc_IndexError,
                         "%s: target has class %lld at index %s, but input has %zd classes",
                         c->fname, (long long)a->index[i],
                         lf_fmt_index(b1, sizeof(b1), nd - 1, shape, i), (Py_ssize_t)a->C);
            return -1;
        }
    }
    return 0;
}

/* The target: indices in "multiclass" when integer, else reals of the
 * input's shape (C-contiguous, the call's dtype, or the input's half dtype
 * in a half call). */
static int
dice_target(lf_call *c, lf_dice *a, PyArrayObject *x0)
{
    dice_params *p = c->params;
    PyArrayObject *t = p->target;
    const char tk = PyArray_DESCR(t)->kind;
    if (a->softmax && (tk == 'i' || tk == 'u')) {
        return dice_index(c, a, t);
    }
    a->half_target = a->half_kind && lf_keeps_half(c, t);
    if ((!a->half_target && (t = lf_float_like(c, (PyObject *)t, 1, "target")) == NULL) ||
        lf_require_shape_of(c, t, x0, "target") < 0 ||
        (t = lf_own(c, (PyObject *)PyArray_GETCONTIGUOUS(t))) == NULL) {
        return -1;
    }
    a->target = PyArray_BYTES(t);
    return 0;
}

/* grad_output, the outputs and the work buffer into the view. */
static int
dice_outputs(lf_call *c, lf_dice *a, int loss_nd, const npy_intp *loss_shape, double **work)
{
    const dice_params *p = c->params;
    const npy_intp terms = p->per_sample ? a->N * a->C : a->C;
    if (lf_grad_output(c, loss_nd, loss_shape, lf_norm(c->reduction, (double)terms)) < 0) {
        return -1;
    }
    a->scale = c->scale;
    if (c->go != NULL) {
        if ((c->go = lf_flat_dims(c, c->go, 0, loss_nd, &a->go_step)) == NULL) {
            return -1;
        }
        a->grad_output = PyArray_BYTES(c->go);
    }
    if (lf_one_input_outputs(c, loss_nd, loss_shape, p->input, &a->out, &a->out_step,
                             &a->grad) < 0 ||
        (*work = lf_alloc_n(c, lf_dice_work(a), sizeof(double), "the per-class sums")) ==
            NULL) {
        return -1;
    }
    if (c->grad[0] != NULL) {
        a->hess = LF_HESS(c, 0) ? PyArray_BYTES(LF_HESS(c, 0)) : NULL;
        a->vec = LF_VEC(c, 0); /* the terms couple the batch: H v in the kernel */
        c->hvp_done = 1;
    }
    return 0;
}

static PyObject *
dice_family(lf_call *c, int kind)
{
    dice_params *p = c->params;
    npy_intp loss_shape[2];
    int loss_nd;
    double *work = NULL;
    lf_dice a;
    memset(&a, 0, sizeof(a));
    if (kind == KIND_GENERALIZED) {
        p->mode_code = MODE_MULTICLASS;
        p->alpha = p->beta = 0.5;
    }
    if (p->mode_code < MODE_MULTILABEL || p->mode_code > MODE_BINARY) {
        PyErr_Format(PyExc_ValueError, "%s: mode must be 0, 1 or 2 (multilabel, multiclass, "
                     "binary), got %ld", c->fname, p->mode_code);
        return NULL;
    }
    a.softmax = p->mode_code == MODE_MULTICLASS;
    a.per_sample = p->per_sample;
    a.generalized = kind == KIND_GENERALIZED;
    a.smooth = p->smooth;
    a.alpha = p->alpha;
    a.beta = p->beta;
    if (dice_view(c, &a, &loss_nd, loss_shape) < 0) {
        return NULL;
    }
    if (c->want == WANT_SHAPE) { /* the options' "none" shape, before any data is read */
        return PyArray_IntTupleFromIntp(loss_nd, loss_shape);
    }
    if (lf_class_half_input(c, &p->input, NULL, &a.half_kind) < 0) {
        return NULL;
    }
    PyArrayObject *x0 = p->input;
    if ((p->input = lf_own(c, (PyObject *)PyArray_GETCONTIGUOUS(x0))) == NULL) {
        return NULL;
    }
    a.input = PyArray_BYTES(p->input);
    if (dice_target(c, &a, x0) < 0 || lf_class_weight(c, p->weight, a.C, &a.weight, &a.w_c) < 0 ||
        dice_outputs(c, &a, loss_nd, loss_shape, &work) < 0 ||
        lf_stage(c, a.half_kind, a.N, a.C * a.S, &a.stage, &a.stage_slots) < 0) {
        return NULL;
    }
    const npy_intp terms = p->per_sample ? a.N * a.C : a.C;
    double sum;
    LF_RUN(c, PyArray_SIZE(p->input), sum, lf_dice, &a, work);
    return lf_result(c, lf_reduce(c->reduction, sum, (double)terms));
}

LF_DEFINE(dice_loss, dice_params, dice_spec, dice_family, KIND_DICE)
LF_DEFINE(generalized_dice_loss, dice_params, gdice_spec, dice_family, KIND_GENERALIZED)
