/*
 * margin.c -- the multi-class hinge losses on [N, C], [C] or a 0-d score
 * (C = 1): multi-margin with N class indices ([N], or () / [1] unbatched)
 * and a class weight [C]; multi-label margin with a target of the input's
 * shape (class indices, -1 ends a row).  The kernels' pre-pass checks them.
 */
#include "binding.h"

enum { KIND_MULTI, KIND_MULTILABEL, KIND_SPARSEMAX };

typedef struct {
    PyArrayObject *input, *target, *weight;
    double p, margin;
} margin_params;

#define MARGIN_ARGS                                                                     \
    LF_ARRAY(margin_params, input, A_INPUT, C_NONE),                                    \
        LF_ARRAY(margin_params, target, A_INDEX, C_NONE)
/* (LF_HALF_CLASS: a half input row is staged by the kernel, on its stack up
 * to LF_CE_HALF_C classes and in the call's slots beyond, see lf_class_stage) */
#define ROWS (LF_OUT | LF_SPLIT_ROWS | LF_NONE_ROWS | LF_HALF_CLASS)

static const lf_spec multi_margin_spec = {
    "multi_margin_loss", sizeof(margin_params), ROWS | LF_BOOST_CLASS, 1,
    {MARGIN_ARGS, LF_ARRAY(margin_params, weight, A_FLOAT, C_1D),
     LF_REAL(margin_params, p, O_REAL, C_ONE_OR_TWO,
             "%s: only p == 1 and p == 2 supported, got p=%R"),
     LF_REAL(margin_params, margin, O_REAL, C_NONE, NULL)},
    LF_FACE(multiclass, MultiMarginLoss)};
static const lf_spec multilabel_margin_spec = {
    "multilabel_margin_loss", sizeof(margin_params), ROWS, 1, {MARGIN_ARGS},
    LF_FACE(binary, MultiLabelMarginLoss)};
/* (optax's multiclass_sparsemax_loss: the same [N, C] / [N] class indices; a
 * row's classes are coupled, so Dask keeps the class axis whole) */
static const lf_spec sparsemax_loss_spec = {
    "sparsemax_loss", sizeof(margin_params),
    LF_OUT | LF_SPLIT_CLASS | LF_NONE_CLASSES | LF_HALF_CLASS | LF_BOOST_CLASS, 1,
    {MARGIN_ARGS}, LF_FACE(multiclass, SparsemaxLoss)};

/* The target's shape rule, its int64 view, and the loss's rank. */
static int
margin_target(lf_call *c, int kind, lf_classes *a, int *loss_nd, int *in_place)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    margin_params *p = c->params;
    PyArrayObject *x = p->input, *t = p->target;
    const int nd = PyArray_NDIM(x), tnd = PyArray_NDIM(t);
    if (kind == KIND_MULTILABEL) {
        const int ok = nd == 2 ? lf_same_shape(t, 2, PyArray_DIMS(x))
                               : tnd <= 1 && PyArray_SIZE(t) == a->C;
        if (!ok) {
            return lf_require_shape_of(c, t, x, "target");
        }
        *loss_nd = nd == 2 ? 1 : 0;
    }
    else {
        if (tnd > 1 || PyArray_SIZE(t) != a->N) {
            PyErr_Format(PyExc_ValueError,
                         "%s: target has shape %s, but input of shape %s needs %zd class "
                         "indices ([N], or () unbatched)",
                         c->fname, ARR_SHAPE(b1, t), ARR_SHAPE(b2, x), (Py_ssize_t)a->N);
            return -1;
        }
        *loss_nd = tnd;
    }
    /* an int64 multi-label target is checked where it is and then compacted
     * (multilabel_private); every other target becomes a private copy now */
    *in_place = kind == KIND_MULTILABEL && PyArray_EquivTypenums(PyArray_TYPE(t), NPY_INT64) &&
                PyArray_ISALIGNED(t) && PyArray_ISNOTSWAPPED(t);
    if (!*in_place && (t = p->target = lf_class_target(c, t, a->C)) == NULL) {
        return -1;
    }
    a->target = PyArray_BYTES(t);
    a->t_n = kind == KIND_MULTILABEL ? (tnd == 2 ? PyArray_STRIDE(t, 0) : 0)
                                     : (tnd == 1 ? PyArray_STRIDE(t, 0) : 0);
    a->t_c = kind == KIND_MULTILABEL && tnd > 0 ? PyArray_STRIDE(t, tnd - 1) : 0;
    return 0;
}

/* The labels of each row of a multi-label target, up to its first -1, copied
 * into an array the call owns, [N, K + 1] with K the longest row, each row
 * ending in -1: what the kernel reads (a copy of the labels, not of the whole
 * N x C target, which costs a full pass).  The caller's array was checked in
 * place (every entry, the padding too, as torch does); the copy is checked
 * again, because another thread may have written it in between. */
static int
multilabel_private(lf_call *c, lf_classes *a)
{
    const char *src = a->target;
    npy_intp K = 0, width;
    for (npy_intp n = 0; n < a->N; n++) {
        npy_intp k = 0;
        while (k < a->C && *(const int64_t *)(src + n * a->t_n + k * a->t_c) != -1) {
            k++;
        }
        K = k > K ? k : K;
    }
    int64_t *copy;
    npy_intp count;
    if (lf_size_add(c, K, 1, &width, "the multi-label target's width") < 0 ||
        lf_size_mul(c, a->N, width, &count, "the multi-label target's copy") < 0 ||
        (copy = lf_alloc_n(c, count, sizeof(int64_t), "the multi-label target's copy")) == NULL) {
        return -1;
    }
    for (npy_intp n = 0; n < a->N; n++) {
        int64_t *row = copy + n * width;
        npy_intp k = 0;
        for (; k < K; k++) {
            row[k] = *(const int64_t *)(src + n * a->t_n + k * a->t_c);
            if (row[k] == -1) {
                break;
            }
            if (row[k] < -1 || row[k] >= a->C) {
                PyErr_Format(PyExc_IndexError,
                             "%s: target has %lld at flat index %zd, but every entry must be in "
                             "[-1, %zd) (input has %zd classes; it changed during the call)",
                             c->fname, (long long)row[k], (Py_ssize_t)(n * a->C + k),
                             (Py_ssize_t)a->C, (Py_ssize_t)a->C);
                return -1;
            }
        }
        row[k < K ? k : K] = -1;
    }
    a->target = (const char *)copy;
    a->t_n = a->N > 1 ? width * (npy_intp)sizeof(int64_t) : 0;
    a->t_c = sizeof(int64_t);
    return 0;
}

static int
margin_outputs(lf_call *c, lf_classes *a, int loss_nd)
{
    const margin_params *p = c->params;
    const npy_intp loss_shape[1] = {a->N};
    const int nd = PyArray_NDIM(p->input);
    /* torch's kernels leave the result of an empty batch uninitialised; here
     * the sum is 0 and the mean nan, as API.md says for a mean over nothing */
    if (lf_grad_output(c, loss_nd, loss_shape, lf_norm(c->reduction, (double)a->N)) < 0) {
        return -1;
    }
    a->scale = c->scale;
    if (c->go != NULL) {
        a->grad_output = PyArray_BYTES(c->go);
        a->go_n = loss_nd ? PyArray_STRIDE(c->go, 0) : 0;
    }
    if (lf_one_input_outputs(c, loss_nd, loss_shape, p->input, &a->out, &a->out_n,
                             &a->grad) < 0) {
        return -1;
    }
    if (c->grad[0] != NULL) {
        a->g_c = nd == 0 ? 0 : PyArray_ITEMSIZE(c->grad[0]);
        a->g_n = a->C * PyArray_ITEMSIZE(c->grad[0]);
        a->hess = LF_HESS(c, 0) ? PyArray_BYTES(LF_HESS(c, 0)) : NULL;
        a->vec = LF_VEC(c, 0);
        c->hvp_done = 1; /* H v by the kernel (p = 2; sparsemax's support), else 0: piecewise
                          * linear */
    }
    return 0;
}

static PyObject *
margin_loss(lf_call *c, int kind)
{
    char b1[SHAPE_BUF];
    margin_params *p = c->params;
    PyArrayObject *x = p->input;
    const int nd = PyArray_NDIM(x);
    int loss_nd = 0, in_place = 0;
    lf_classes a;
    lf_error err;
    unsigned char *work = NULL;
    memset(&a, 0, sizeof(a));
    if (nd > 2 || (nd > 0 && PyArray_DIM(x, nd - 1) == 0)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input must be [N, C] or [C] with C > 0 (or a 0-d score), got shape %s",
                     c->fname, ARR_SHAPE(b1, x));
        return NULL;
    }
    a.N = nd == 2 ? PyArray_DIM(x, 0) : 1;
    a.C = nd == 0 ? 1 : PyArray_DIM(x, nd - 1);
    a.S = 1;
    if (lf_class_half_input(c, &p->input, NULL, &a.half_kind) < 0) {
        return NULL;
    }
    x = p->input;
    a.input = PyArray_BYTES(x);
    a.in_n = nd == 2 ? PyArray_STRIDE(x, 0) : 0;
    a.in_c = nd == 0 ? 0 : PyArray_STRIDE(x, nd - 1);
    if (margin_target(c, kind, &a, &loss_nd, &in_place) < 0 ||
        (kind == KIND_MULTI && lf_class_weight(c, p->weight, a.C, &a.weight, &a.w_c) < 0)) {
        return NULL;
    }
    if (lf_margin_check(&a, kind == KIND_MULTILABEL, &err) != LF_OK) {
        PyErr_Format(PyExc_IndexError,
                     "%s: target has %lld at flat index %zd, but every entry must be in [%d, %zd) "
                     "(input has %zd classes)",
                     c->fname, (long long)err.ivalue, (Py_ssize_t)err.index,
                     kind == KIND_MULTILABEL ? -1 : 0, (Py_ssize_t)a.C, (Py_ssize_t)a.C);
        return NULL;
    }
    if (in_place && multilabel_private(c, &a) < 0) {
        return NULL;
    }
    if (margin_outputs(c, &a, loss_nd) < 0 || lf_class_stage(c, &a) < 0 ||
        (kind == KIND_MULTILABEL && (work = lf_alloc_n(c, a.C, 1, "the class flags")) == NULL)) {
        return NULL;
    }
    double sum;
    if (kind == KIND_MULTILABEL) {
        LF_RUN(c, PyArray_SIZE(x), sum, lf_multilabel_margin, &a, work);
    }
    else if (kind == KIND_SPARSEMAX) {
        LF_RUN(c, PyArray_SIZE(x), sum, lf_sparsemax_loss, &a);
    }
    else {
        LF_RUN(c, PyArray_SIZE(x), sum, lf_multi_margin, &a, p->p == 2 ? 2 : 1, p->margin);
    }
    return lf_result(c, lf_reduce(c->reduction, sum, (double)a.N));
}

LF_DEFINE(multi_margin_loss, margin_params, multi_margin_spec, margin_loss, KIND_MULTI)
LF_DEFINE(multilabel_margin_loss, margin_params, multilabel_margin_spec, margin_loss,
          KIND_MULTILABEL)
LF_DEFINE(sparsemax_loss, margin_params, sparsemax_loss_spec, margin_loss, KIND_SPARSEMAX)
