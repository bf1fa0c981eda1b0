/*
 * classification.c -- NLL and cross-entropy: input [C], [N, C] or
 * [N, C, d1, ..., dk] viewed as [N, C, S]; class-index targets [N, d...]
 * (or (), checked by the kernels' pre-pass), or for cross-entropy class
 * probabilities of the input's shape; a class weight [C].
 */
#include "binding.h"

enum { KIND_NLL, KIND_CE, KIND_POLY };

typedef struct {
    PyArrayObject *input, *target, *weight;
    long long ignore_index;
    double label_smoothing;
    double epsilon; /* Poly-1's */
} class_params;

#define CLASS_ARGS                                                                      \
    LF_ARRAY(class_params, input, A_INPUT, C_NONE),                                     \
        LF_ARRAY(class_params, target, A_ARRAY, C_NONE),                                \
        LF_ARRAY(class_params, weight, A_FLOAT, C_STRICT),                              \
        LF_INDEX(class_params, ignore_index, C_INT64)

#define CLASS_FLAGS (LF_OUT | LF_SPLIT_CLASS | LF_MEAN_ASK | LF_NONE_CLASSES | LF_BOOST_CLASS)
static const lf_spec nll_spec = {"nll_loss", sizeof(class_params), CLASS_FLAGS | LF_HALF_CLASS, 1,
                                 {CLASS_ARGS}, LF_FACE(multiclass, NLLLoss)};
static const lf_spec ce_spec = {
    "cross_entropy", sizeof(class_params), CLASS_FLAGS | LF_HALF_CLASS, 1,
    {CLASS_ARGS, LF_REAL(class_params, label_smoothing, O_REAL, C_UNIT, "in [0, 1]")},
    LF_FACE_HEAD(multiclass, CrossEntropyLoss, linear_cross_entropy, LinearCrossEntropyLoss)};
static const lf_spec poly_spec = {
    "poly_cross_entropy", sizeof(class_params), CLASS_FLAGS | LF_HALF_CLASS, 1,
    {CLASS_ARGS, LF_REAL(class_params, label_smoothing, O_REAL, C_UNIT, "in [0, 1]"),
     LF_REAL(class_params, epsilon, O_REAL, C_FINITE, "a finite number")},
    LF_FACE(multiclass, PolyCrossEntropyLoss)};

/* The shapes of one call: the input's, and the loss's [N, d1, ..., dk] (or ()). */
typedef struct {
    int nd, loss_nd, probs;
    npy_intp loss_shape[NPY_MAXDIMS];
} class_shape;

/* A class-index target of the loss's shape, or (cross-entropy) class
 * probabilities of the input's shape; the result replaces p->target. */
static int
class_target_arg(lf_call *c, int kind, const lf_classes *a, class_shape *sh)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF], b3[SHAPE_BUF];
    class_params *p = c->params;
    PyArrayObject *x = p->input, *t = p->target;
    const char tkind = PyArray_DESCR(t)->kind;
    sh->probs = tkind == 'f' || lf_half_kind_of(PyArray_DESCR(t)); /* bfloat16 is a 'V' */
    if (sh->probs) {
        if (kind == KIND_NLL || !lf_same_shape(t, sh->nd, PyArray_DIMS(x))) {
            PyErr_Format(PyExc_TypeError,
                         "%s: target must hold integer class indices%s; got dtype %S of shape %s",
                         c->fname,
                         kind != KIND_NLL ? " (or be float class probabilities of the input's "
                                           "shape)"
                                         : "",
                         (PyObject *)PyArray_DESCR(t), ARR_SHAPE(b1, t));
            return -1;
        }
        if (a->ignore_index >= 0) {
            PyErr_Format(PyExc_ValueError,
                         "%s: ignore_index=%lld is not supported with class-probability "
                         "targets; it must be negative",
                         c->fname, (long long)a->ignore_index);
            return -1;
        }
        /* a half call may stage half probabilities of its own dtype (class_half) */
        return lf_keeps_half(c, t) || (p->target = lf_native(c, t, c->typenum)) ? 0 : -1;
    }
    if (tkind != 'i' && tkind != 'u') {
        PyErr_Format(PyExc_TypeError, "%s: target must hold integer class indices, got dtype %S",
                     c->fname, (PyObject *)PyArray_DESCR(t));
        return -1;
    }
    if (!lf_same_shape(t, sh->loss_nd, sh->loss_shape)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: target has shape %s, but input of shape %s needs a target of shape %s",
                     c->fname, ARR_SHAPE(b1, t), ARR_SHAPE(b2, x),
                     lf_fmt_shape(b3, sizeof(b3), sh->loss_nd, sh->loss_shape));
        return -1;
    }
    return (p->target = lf_class_target(c, t, a->C)) ? 0 : -1;
}

/* A half-native call (NLL, cross-entropy and Poly-1: LF_HALF_CLASS) keeps
 * its half input for the kernel, and probability targets of the input's
 * half dtype (class_target_arg kept them): rows of up to LF_CE_HALF_C
 * classes are staged on the kernels' stack, longer ones (a language model's
 * vocabulary) in a->stage, a slot per thread (lf_class_stage, in
 * class_loss once the outputs exist).  A call the binding widens (a
 * Hessian) comes back through float32. */
static int
class_half(lf_call *c, lf_classes *a, const class_shape *sh)
{
    class_params *p = c->params;
    if (lf_class_half_input(c, &p->input, sh->probs ? &p->target : NULL, &a->half_kind) < 0) {
        return -1;
    }
    a->half_target = c->half_native && sh->probs && PyArray_TYPE(p->target) == c->out_type;
    return 0;
}

/* The [N, C, S] views of input and target, and the class weight. */
static int
class_views(lf_call *c, lf_classes *a, const class_shape *sh)
{
    const int nd = sh->nd;
    npy_intp stride_s;
    class_params *p = c->params;
    PyArrayObject *x = lf_flat_dims(c, p->input, 2, nd - 2, &stride_s), *t;
    if (x == NULL) {
        return -1;
    }
    a->input = PyArray_BYTES(x);
    a->in_n = nd == 1 ? 0 : PyArray_STRIDE(x, 0);
    a->in_c = nd == 1 ? PyArray_STRIDE(x, 0) : PyArray_STRIDE(x, 1);
    a->in_s = stride_s;
    const int first = sh->probs ? 2 : 1;
    if ((t = lf_flat_dims(c, p->target, first, PyArray_NDIM(p->target) - first, &stride_s)) ==
        NULL) {
        return -1;
    }
    if (sh->probs) {
        a->t_n = nd == 1 ? 0 : PyArray_STRIDE(t, 0);
        a->t_c = nd == 1 ? PyArray_STRIDE(t, 0) : PyArray_STRIDE(t, 1);
    }
    else {
        a->t_n = sh->loss_nd == 0 ? 0 : PyArray_STRIDE(t, 0);
    }
    a->target = PyArray_BYTES(t);
    a->t_s = stride_s;
    p->input = x;
    p->target = t;
    return lf_class_weight(c, p->weight, a->C, &a->weight, &a->w_c);
}

/* The kernels' pre-pass over class indices: the divisor of the mean, or an
 * IndexError naming the first bad target. */
static int
class_check(lf_call *c, const lf_classes *a, const class_shape *sh, double *denom)
{
    char b1[SHAPE_BUF];
    lf_error err;
    lf_status st;
    if (sh->probs) {
        return 0;
    }
    st = c->typenum == NPY_FLOAT ? lf_class_check_f32(a, denom, &err)
                                 : lf_class_check_f64(a, denom, &err);
    if (st == LF_OK) {
        return 0;
    }
    if (sh->loss_nd == 0) {
        PyErr_Format(PyExc_IndexError, "%s: target has class %lld, but input has %zd classes",
                     c->fname, (long long)err.ivalue, (Py_ssize_t)a->C);
    }
    else {
        PyErr_Format(PyExc_IndexError,
                     "%s: target has class %lld at index %s, but input has %zd classes",
                     c->fname, (long long)err.ivalue,
                     lf_fmt_index(b1, sizeof(b1), sh->loss_nd, sh->loss_shape, err.index),
                     (Py_ssize_t)a->C);
    }
    return -1;
}

/* grad_output, the per-sample loss and the gradient, into the view. */
static int
class_outputs(lf_call *c, int kind, lf_classes *a, const class_shape *sh, double denom)
{
    npy_intp stride_s;
    if (lf_grad_output(c, sh->loss_nd, sh->loss_shape, lf_norm(c->reduction, denom)) < 0) {
        return -1;
    }
    a->scale = c->scale;
    if (c->go != NULL) {
        if ((c->go = lf_flat_dims(c, c->go, 1, sh->loss_nd - 1, &stride_s)) == NULL) {
            return -1;
        }
        a->grad_output = PyArray_BYTES(c->go);
        a->go_n = sh->loss_nd == 0 ? 0 : PyArray_STRIDE(c->go, 0);
        a->go_s = stride_s;
    }
    /* nll's gradient is mostly zeros: a calloc'd array arrives zeroed (fresh
     * pages cost nothing until touched), saving a full write pass */
    const class_params *p = c->params;
    const lf_outspec o = {sh->loss_nd, sh->loss_shape, c->spec->ngrad, 0, NULL, {p->input},
                          {NULL}, {0}, 1, kind == KIND_NLL};
    if (lf_outputs(c, &o) < 0) {
        return -1;
    }
    if (c->loss != NULL) {
        a->out = PyArray_BYTES(c->loss);
        a->out_s = PyArray_ITEMSIZE(c->loss);
        a->out_n = (npy_intp)a->S * a->out_s;
    }
    if (c->grad[0] != NULL) {
        a->grad = PyArray_BYTES(c->grad[0]);
        a->grad_is_zero = kind == KIND_NLL && c->out_obj == NULL;
        a->g_s = PyArray_ITEMSIZE(c->grad[0]);
        a->g_c = a->S * a->g_s;
        a->g_n = a->C * a->g_c;
        a->hess = LF_HESS(c, 0) ? PyArray_BYTES(LF_HESS(c, 0)) : NULL;
        a->vec = LF_VEC(c, 0);
        c->hvp_done = kind != KIND_NLL; /* nll is linear: its H v is 0 * v */
    }
    return 0;
}

static PyObject *
class_loss(lf_call *c, int kind)
{
    class_params *p = c->params;
    PyArrayObject *x = p->input;
    class_shape sh = {PyArray_NDIM(x), 0, 0, {0}};
    lf_classes a;
    memset(&a, 0, sizeof(a));
    a.ignore_index = p->ignore_index;
    a.label_smoothing = p->label_smoothing; /* 0 for nll_loss (no such row) */
    if (sh.nd == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input must have at least 1 dimension ([C] or [N, C, ...]), got a 0-d "
                     "array",
                     c->fname);
        return NULL;
    }
    a.C = sh.nd == 1 ? PyArray_DIM(x, 0) : PyArray_DIM(x, 1);
    a.N = sh.nd == 1 ? 1 : PyArray_DIM(x, 0);
    a.S = 1;
    sh.loss_nd = sh.nd == 1 ? 0 : sh.nd - 1;
    sh.loss_shape[0] = a.N;
    for (int d = 2; d < sh.nd; d++) {
        sh.loss_shape[d - 1] = PyArray_DIM(x, d);
        a.S *= PyArray_DIM(x, d);
    }
    /* a probability-target mean is over samples, but like torch it is nan
     * when the input is empty, even with samples but no classes */
    double denom = a.C == 0 ? 0.0 : (double)(a.N * a.S);
    if (class_target_arg(c, kind, &a, &sh) < 0 || class_half(c, &a, &sh) < 0 ||
        class_views(c, &a, &sh) < 0 || class_check(c, &a, &sh, &denom) < 0) {
        return NULL;
    }
    if (c->want == WANT_NORM) { /* the divisor alone (a Dask block's share) */
        return PyFloat_FromDouble(denom);
    }
    /* (NLL reads one class a row: it stages nothing) */
    if (class_outputs(c, kind, &a, &sh, denom) < 0 ||
        (kind != KIND_NLL && lf_class_stage(c, &a) < 0)) {
        return NULL;
    }
    double sum;
    const npy_intp work = PyArray_SIZE(p->input); /* N x C x S */
    if (kind == KIND_NLL) {
        LF_RUN(c, work, sum, lf_nll, &a);
    }
    else if (kind == KIND_POLY) {
        if (sh.probs) {
            LF_RUN(c, work, sum, lf_poly_cross_entropy_probs, &a, p->epsilon);
        }
        else {
            LF_RUN(c, work, sum, lf_poly_cross_entropy, &a, p->epsilon);
        }
    }
    else if (sh.probs) {
        LF_RUN(c, work, sum, lf_cross_entropy_probs, &a);
    }
    else {
        LF_RUN(c, work, sum, lf_cross_entropy, &a);
    }
    /* a mean over no weight is nan, as torch's nll part is (0 / 0) even when
     * label smoothing adds a finite sum */
    return lf_result(c, c->reduction != LF_REDUCE_MEAN ? sum : denom == 0 ? NAN : sum / denom);
}

LF_DEFINE(nll_loss, class_params, nll_spec, class_loss, KIND_NLL)
LF_DEFINE(cross_entropy, class_params, ce_spec, class_loss, KIND_CE)
LF_DEFINE(poly_cross_entropy, class_params, poly_spec, class_loss, KIND_POLY)
