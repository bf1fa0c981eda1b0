/*
 * ctc.c -- CTCLoss: log_probs [T, N, C] (or [T, C] unbatched), targets
 * padded [N, S] or concatenated [sum(target_lengths)] (checked by the
 * kernel's pre-pass), one input and one target length per batch element.
 */
#include "binding.h"

typedef struct {
    PyArrayObject *log_probs, *targets, *input_lengths, *target_lengths;
    long long blank;
    int zero_infinity;
} ctc_params;

/* (LF_HALF_CLASS: half log_probs stay half; the kernel widens one sequence at
 * a time into its work and narrows its loss and gradient) */
static const lf_spec ctc_spec = {
    "ctc_loss", sizeof(ctc_params),
    LF_OUT | LF_SPLIT_WHOLE | LF_MEAN_OWN | LF_NONE_BATCH | LF_NO_HESS | LF_HALF_CLASS, 1,
    {LF_ARRAY(ctc_params, log_probs, A_INPUT, C_NONE),
     LF_ARRAY(ctc_params, targets, A_INDEX, C_NONE),
     LF_ARRAY(ctc_params, input_lengths, A_ARRAY, C_NONE),
     LF_ARRAY(ctc_params, target_lengths, A_ARRAY, C_NONE),
     LF_INDEX(ctc_params, blank, C_NONE), LF_BOOL(ctc_params, zero_infinity)},
    LF_FACE(sequence, CTCLoss)};

/* The [T, N, C] view of log_probs, and blank one of its classes. */
static int
ctc_view(lf_call *c, lf_ctc *a)
{
    char b1[SHAPE_BUF];
    const ctc_params *p = c->params;
    PyArrayObject *x = p->log_probs;
    const int nd = PyArray_NDIM(x);
    if (nd != 2 && nd != 3) {
        PyErr_Format(PyExc_ValueError,
                     "%s: log_probs must be [T, N, C] (or [T, C] unbatched), got shape %s",
                     c->fname, ARR_SHAPE(b1, x));
        return -1;
    }
    if (PyArray_SIZE(x) == 0) {
        PyErr_Format(PyExc_ValueError, "%s: log_probs must not be empty, got shape %s", c->fname,
                     ARR_SHAPE(b1, x));
        return -1;
    }
    a->steps = PyArray_DIM(x, 0);
    a->N = nd == 3 ? PyArray_DIM(x, 1) : 1;
    a->C = PyArray_DIM(x, nd - 1);
    a->log_probs = PyArray_BYTES(x);
    a->lp_t = PyArray_STRIDE(x, 0);
    a->lp_n = nd == 3 ? PyArray_STRIDE(x, 1) : 0;
    a->lp_c = PyArray_STRIDE(x, nd - 1);
    a->blank = p->blank;
    if (c->overflow || a->blank < 0 || a->blank >= a->C) {
        /* the argument itself, a plain int, in the message */
        PyObject *blank = PyNumber_Index(c->args[lf_arg_index(c, &p->blank)]);
        if (blank != NULL) {
            PyErr_Format(PyExc_ValueError,
                         "%s: blank must be in [0, %zd) (a class of log_probs), got %R",
                         c->fname, (Py_ssize_t)a->C, blank);
            Py_DECREF(blank);
        }
        return -1;
    }
    return 0;
}

/* A length argument (the field *field: an integer or N of them) as N native
 * int64 values. */
static const int64_t *
lengths_arg(lf_call *c, PyArrayObject *const *field, npy_intp N)
{
    char b1[SHAPE_BUF];
    const char *name = c->spec->args[lf_arg_index(c, field)].name;
    PyArrayObject *arr = *field;
    const char kind = PyArray_DESCR(arr)->kind;
    if (kind != 'i' && kind != 'u') {
        PyErr_Format(PyExc_TypeError, "%s: %s must hold integers, got dtype %S", c->fname, name,
                     (PyObject *)PyArray_DESCR(arr));
        return NULL;
    }
    if (PyArray_NDIM(arr) == 0) { /* one integer: a batch of one */
        npy_intp one = 1;
        PyArray_Dims shape = {&one, 1};
        if ((arr = lf_own(c, PyArray_Newshape(arr, &shape, NPY_CORDER))) == NULL) {
            return NULL;
        }
    }
    if (PyArray_NDIM(arr) != 1 || PyArray_DIM(arr, 0) != N) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %s has shape %s, but it must have one entry per batch element (%zd)",
                     c->fname, name, ARR_SHAPE(b1, arr), (Py_ssize_t)N);
        return NULL;
    }
    /* a private copy (the kernels read the lengths again, unchecked); a
     * uint64 length above INT64_MAX wraps to a negative one, which the range
     * check then reports */
    arr = lf_private_int64(c, arr);
    return arr ? (const int64_t *)PyArray_DATA(arr) : NULL;
}

/* The lengths, each in range; *total and *longest of the target lengths. */
static int
ctc_lengths(lf_call *c, lf_ctc *a, int64_t *total, int64_t *longest)
{
    const ctc_params *p = c->params;
    if ((a->input_lengths = lengths_arg(c, &p->input_lengths, a->N)) == NULL ||
        (a->target_lengths = lengths_arg(c, &p->target_lengths, a->N)) == NULL) {
        return -1;
    }
    *total = *longest = 0;
    for (npy_intp b = 0; b < a->N; b++) {
        const int64_t li = a->input_lengths[b], lt = a->target_lengths[b];
        if (li < 0 || li > a->steps) {
            PyErr_Format(PyExc_ValueError,
                         "%s: input_lengths[%zd] is %lld, but it must be in [0, %zd] (the "
                         "length of log_probs)",
                         c->fname, (Py_ssize_t)b, (long long)li, (Py_ssize_t)a->steps);
            return -1;
        }
        if (lt < 0) {
            PyErr_Format(PyExc_ValueError, "%s: target_lengths[%zd] is %lld, but it must be >= 0",
                         c->fname, (Py_ssize_t)b, (long long)lt);
            return -1;
        }
        npy_intp sum;
        if (lf_size_add(c, (npy_intp)*total, (npy_intp)lt, &sum, "the sum of target_lengths") < 0) {
            return -1;
        }
        *total = sum;
        *longest = lt > *longest ? lt : *longest;
    }
    return 0;
}

/* The targets' shape rule, their contiguous int64 copy, each sequence's
 * offset, and the kernel's pre-pass over their classes. */
static int
ctc_targets(lf_call *c, lf_ctc *a, int64_t total, int64_t longest)
{
    char b1[SHAPE_BUF];
    const ctc_params *p = c->params;
    PyArrayObject *t = p->targets;
    const int tnd = PyArray_NDIM(t);
    int64_t *offsets;
    lf_error err;
    if (tnd == 1 ? PyArray_DIM(t, 0) != total
                 : (tnd != 2 || PyArray_DIM(t, 0) != a->N || PyArray_DIM(t, 1) < longest)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: targets has shape %s, but it must be the concatenated targets (%lld,) "
                     "or padded [%zd, S] with S >= %lld",
                     c->fname, ARR_SHAPE(b1, t), (long long)total, (Py_ssize_t)a->N,
                     (long long)longest);
        return -1;
    }
    if ((t = lf_class_target(c, t, a->C)) == NULL ||
        (t = lf_own(c, PyArray_FromArray(t, PyArray_DescrFromType(NPY_INT64),
                                         NPY_ARRAY_ALIGNED | NPY_ARRAY_C_CONTIGUOUS))) == NULL ||
        (offsets = lf_alloc_n(c, a->N ? a->N : 1, sizeof(int64_t), "the target offsets")) ==
            NULL) {
        return -1;
    }
    for (npy_intp b = 0, pos = 0; b < a->N; pos += a->target_lengths[b], b++) {
        offsets[b] = tnd == 1 ? pos : (int64_t)b * PyArray_DIM(t, 1);
    }
    a->targets = (const int64_t *)PyArray_DATA(t);
    a->tg_offset = offsets;
    if (lf_ctc_check(a, &err) != LF_OK) {
        PyErr_Format(PyExc_IndexError,
                     "%s: targets has class %lld at index %s, but log_probs has %zd classes",
                     c->fname, (long long)err.ivalue,
                     lf_fmt_index(b1, sizeof(b1), tnd, PyArray_DIMS(t), err.index),
                     (Py_ssize_t)a->C);
        return -1;
    }
    return 0;
}

static int
ctc_outputs(lf_call *c, lf_ctc *a)
{
    const ctc_params *p = c->params;
    const npy_intp loss_shape[1] = {a->N};
    const int loss_nd = PyArray_NDIM(p->log_probs) == 3 ? 1 : 0;
    if (lf_grad_output(c, loss_nd, loss_shape,
                       c->reduction == LF_REDUCE_MEAN ? 1.0 / (double)a->N : 1.0) < 0) {
        return -1;
    }
    a->scale = c->scale;
    if (c->go != NULL) {
        a->grad_output = PyArray_BYTES(c->go);
        a->go_n = loss_nd ? PyArray_STRIDE(c->go, 0) : 0;
    }
    if (lf_one_input_outputs(c, loss_nd, loss_shape, p->log_probs, &a->out, &a->out_n,
                             &a->grad) < 0) {
        return -1;
    }
    if (c->grad[0] != NULL) {
        a->g_c = PyArray_ITEMSIZE(c->grad[0]);
        a->g_n = loss_nd ? a->C * a->g_c : 0;
        a->g_t = a->N * a->C * a->g_c;
    }
    return 0;
}

static PyObject *
ctc_loss(lf_call *c, int kind)
{
    ctc_params *p = c->params;
    lf_ctc a;
    int64_t total, longest;
    double *work;
    (void)kind;
    memset(&a, 0, sizeof(a));
    if (lf_class_half_input(c, &p->log_probs, NULL, &a.half_kind) < 0 || ctc_view(c, &a) < 0 ||
        ctc_lengths(c, &a, &total, &longest) < 0 || ctc_targets(c, &a, total, longest) < 0 ||
        ctc_outputs(c, &a) < 0) {
        return NULL;
    }
    a.zero_infinity = p->zero_infinity;
    a.per_length = c->reduction == LF_REDUCE_MEAN;
    /* the lattices' size, checked before the engine computes it unchecked:
     * 2 (alpha, beta) x steps x (2 S + 1) doubles for each of up to 16 units */
    npy_intp lanes, lattices, work_size, total_work;
    if (lf_size_mul(c, 2, (npy_intp)longest, &lanes, "the lattice width 2 S + 1") < 0 ||
        lf_size_add(c, lanes, 1, &lanes, "the lattice width 2 S + 1") < 0 ||
        lf_size_mul(c, lanes, a.steps, &lanes, "the lattice (2 S + 1) x T") < 0 ||
        lf_size_mul(c, lanes, 2 * 16, &lattices, "the lattices of the work units") < 0 ||
        lf_size_mul(c, lanes, a.N, &total_work, "the work (2 S + 1) x T x N") < 0 ||
        lf_size_mul(c, lattices, (npy_intp)sizeof(double), &work_size, "the lattices' bytes") < 0 ||
        (work = lf_alloc_n(c, (npy_intp)lf_ctc_work(&a), sizeof(double),
                           "the alpha and beta lattices")) == NULL) {
        return NULL;
    }
    double sum;
    LF_RUN(c, total_work, sum, lf_ctc, &a, work);
    return lf_result(c, c->reduction == LF_REDUCE_MEAN ? sum / (double)a.N : sum);
}

LF_DEFINE(ctc_loss, ctc_params, ctc_spec, ctc_loss, 0)
