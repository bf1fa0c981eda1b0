/*
 * embedding.c -- distances and embedding losses over rows of D features:
 * the row operands broadcast together ([..., D], the last axis the
 * features), promoted to one dtype; gradients fold back to each operand's
 * shape and dtype (lf_fold).
 */
#include "binding.h"

#include <math.h>
#include <string.h>

typedef struct {
    PyArrayObject *x1, *x2, *input1, *input2, *target, *anchor, *positive, *negative;
    double p, eps, margin;
    long dim, distance;
    int keepdim, swap;
} rows_params;

#define ARRAY(field, kind) LF_ARRAY(rows_params, field, kind, C_NONE)
#define REAL(field, check, what) LF_REAL(rows_params, field, O_REAL, check, what)
#define SIZE sizeof(rows_params)
#define ROWS (LF_OUT | LF_SPLIT_ROWS | LF_NONE_ROWS | LF_HALF_ROWS)
#define TRIPLET_ARGS                                                                    \
    ARRAY(anchor, A_INPUT), ARRAY(positive, A_INPUT), ARRAY(negative, A_INPUT),         \
        REAL(margin, C_GT0, "greater than 0"), P_GE0, REAL(eps, C_NONE, NULL),          \
        LF_BOOL(rows_params, swap)
#define P_GE0 REAL(p, C_GE0, ">= 0 (inf allowed)")

static const lf_spec pairwise_spec = {
    "pairwise_distance", SIZE, LF_PLAIN | LF_HALF_ROWS, 0,
    {ARRAY(x1, A_INPUT), ARRAY(x2, A_INPUT), P_GE0, REAL(eps, C_NONE, NULL),
     LF_BOOL(rows_params, keepdim)}, LF_PLAIN_FACE(distance)};
static const lf_spec cosine_similarity_spec = {
    "cosine_similarity", SIZE, LF_PLAIN | LF_HALF_ROWS, 0,
    {ARRAY(x1, A_INPUT), ARRAY(x2, A_INPUT), LF_LONG(rows_params, dim, C_NONE, NULL),
     REAL(eps, C_NONE, NULL)}, LF_PLAIN_FACE(distance)};
static const lf_spec cosine_embedding_spec = {
    "cosine_embedding_loss", SIZE, ROWS, 2,
    {ARRAY(input1, A_INPUT), ARRAY(input2, A_INPUT), ARRAY(target, A_REAL),
     REAL(margin, C_NONE, NULL)}, LF_FACE(pairs, CosineEmbeddingLoss)};
static const lf_spec triplet_spec = {"triplet_margin_loss", SIZE, ROWS, 3, {TRIPLET_ARGS},
                                     LF_FACE(pairs, TripletMarginLoss)};
static const lf_spec triplet_distance_spec = {
    "triplet_margin_with_distance_loss", SIZE, ROWS, 3,
    {TRIPLET_ARGS, LF_LONG(rows_params, distance, C_DIST, "0 (p-norm) or 1 (cosine)")},
    LF_FACE(pairs, TripletMarginWithDistanceLoss)};

/* The row operands of a call (fields of rows_params), with their names and
 * dtypes before promotion. */
typedef struct {
    int k;
    PyArrayObject *arr[3];
    const char *name[3];
    int in_type[3];
} rows_ops;

static rows_ops
rows_gather(lf_call *c, PyArrayObject *const *f0, PyArrayObject *const *f1,
            PyArrayObject *const *f2)
{
    PyArrayObject *const *fields[3] = {f0, f1, f2};
    rows_ops ops;
    memset(&ops, 0, sizeof(ops));
    for (int i = 0; i < 3 && fields[i] != NULL; i++, ops.k++) {
        const int at = lf_arg_index(c, fields[i]);
        ops.arr[i] = *fields[i];
        ops.name[i] = c->spec->args[at].name;
        ops.in_type[i] = c->in_type[at];
    }
    return ops;
}

/* The rows of one call: the broadcast shape and the loss's (shape[:-1]). */
typedef struct {
    int nd, loss_nd;
    npy_intp shape[NPY_MAXDIMS];
    npy_intp *loss_shape; /* = shape */
} rows_shape;

/* torch's triplet losses want operands of one number of dimensions. */
static int
same_ndim(lf_call *c, const rows_ops *ops)
{
    char buf[SHAPE_BUF];
    size_t len = 0;
    int same = 1;
    for (int i = 1; i < ops->k; i++) {
        same &= PyArray_NDIM(ops->arr[i]) == PyArray_NDIM(ops->arr[0]);
    }
    for (int i = 0; i < ops->k && !same && len < sizeof(buf); i++) {
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s %d-d", i ? ", " : "",
                                ops->name[i], PyArray_NDIM(ops->arr[i]));
    }
    if (!same) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the inputs must have the same number of dimensions, got %s", c->fname,
                     buf);
    }
    return same ? 0 : -1;
}

/* Moves axis dim of arr to the end (cosine_similarity's dim). */
static PyArrayObject *
dim_last(lf_call *c, PyArrayObject *arr, int dim)
{
    npy_intp perm[NPY_MAXDIMS];
    const int nd = PyArray_NDIM(arr);
    for (int d = 0, j = 0; d < nd; d++) {
        if (d != dim) {
            perm[j++] = d;
        }
    }
    perm[nd - 1] = dim;
    PyArray_Dims p = {perm, nd};
    return lf_own(c, PyArray_Transpose(arr, &p));
}

/* The k operands broadcast, viewed as a->x[i] = [N, D]; with dim >= 0 that
 * axis (of the broadcast shape) holds the features. */
static int
rows_setup(lf_call *c, const rows_ops *rops, lf_rows *a, rows_shape *sh, int dim)
{
    const int k = rops->k;
    PyArrayObject *ops[3];
    memcpy(ops, rops->arr, sizeof(ops));
    if (lf_broadcast(c, k, ops, rops->name, &sh->nd, sh->shape, 1) < 0) {
        return -1;
    }
    sh->loss_shape = sh->shape;
    for (int i = 0; i < k; i++) {
        if ((ops[i] = lf_broadcast_to(c, ops[i], sh->nd, sh->shape)) == NULL ||
            (dim >= 0 && sh->nd > 0 && (ops[i] = dim_last(c, ops[i], dim)) == NULL)) {
            return -1;
        }
    }
    const int nd = sh->nd;
    if (dim >= 0 && nd > 0) { /* the loss drops dim: the rest keeps its order */
        memmove(sh->shape + dim, sh->shape + dim + 1, (size_t)(nd - dim - 1) * sizeof(npy_intp));
        sh->shape[nd - 1] = PyArray_DIM(ops[0], nd - 1);
    }
    sh->loss_nd = nd > 0 ? nd - 1 : 0;
    a->N = 1;
    for (int d = 0; d < sh->loss_nd; d++) {
        a->N *= sh->shape[d];
    }
    a->D = nd > 0 ? sh->shape[nd - 1] : 1;
    for (int i = 0; i < k; i++) {
        if ((ops[i] = lf_flat_dims(c, ops[i], 0, sh->loss_nd, &a->x_n[i])) == NULL) {
            return -1;
        }
        a->x[i] = PyArray_BYTES(ops[i]);
        a->x_d[i] = nd > 0 ? PyArray_STRIDE(ops[i], nd - 1) : 0;
    }
    return 0;
}

/* Whether every array of out= (one, or a tuple of them) is C-contiguous;
 * anything else (a bad out= included, whose error the outputs give) is not. */
static int
out_contiguous(const lf_call *c)
{
    PyObject *o = c->out_obj;
    if (o == NULL || o == Py_None) {
        return 1;
    }
    const Py_ssize_t n = PyTuple_Check(o) ? PyTuple_GET_SIZE(o) : 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_Check(o) ? PyTuple_GET_ITEM(o, i) : o;
        if (!PyArray_Check(item) || !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)item)) {
            return 0;
        }
    }
    return 1;
}

/* A half-native call (LF_HALF_ROWS) keeps its half rows for the kernel (it
 * stages them a row at a time: FN(rows_half)) when every operand is an array
 * of the call's half dtype with one shape (no broadcast, so each gradient is
 * its operand's, written directly), rows of at most LF_ROWS_HALF_D features
 * (along axis dim, the last for -1) and a C-contiguous out= (the kernel's
 * gradient rows); it returns the half
 * kind.  Otherwise the operands are widened here, as for every other
 * family, and the call runs in float32 (0).  A half target is widened
 * either way: the kernel reads it as float32. */
static int
rows_half(lf_call *c, rows_ops *ops, PyArrayObject **target, int dim)
{
    if (target != NULL && *target != NULL && lf_half_kind_of(PyArray_DESCR(*target)) &&
        (*target = lf_native(c, *target, c->typenum)) == NULL) {
        return -1;
    }
    if (!c->half_native) {
        return 0;
    }
    const int nd = PyArray_NDIM(ops->arr[0]);
    int keep = nd > 0 && PyArray_DIM(ops->arr[0], dim >= 0 ? dim : nd - 1) <= LF_ROWS_HALF_D &&
               out_contiguous(c);
    for (int i = 0; i < ops->k && keep; i++) {
        keep = PyArray_TYPE(ops->arr[i]) == c->out_type &&
               lf_same_shape(ops->arr[i], nd, PyArray_DIMS(ops->arr[0]));
    }
    if (keep) {
        return lf_half_kind_of(PyArray_DESCR(ops->arr[0]));
    }
    c->half_native = 0;
    for (int i = 0; i < ops->k; i++) {
        if ((ops->arr[i] = lf_native(c, ops->arr[i], c->typenum)) == NULL) {
            return -1;
        }
    }
    return 0;
}

/* grad_output, the per-row loss and the k gradients (each of its operand's
 * shape and dtype, folded when it was broadcast). */
static int
rows_outputs(lf_call *c, const rows_ops *ops, lf_rows *a, const rows_shape *sh)
{
    const int k = ops->k;
    if (lf_grad_output(c, sh->loss_nd, sh->loss_shape, lf_norm(c->reduction, (double)a->N)) <
        0) {
        return -1;
    }
    a->scale = c->scale;
    if (c->go != NULL) {
        if ((c->go = lf_flat_dims(c, c->go, 0, sh->loss_nd, &a->go_n)) == NULL) {
            return -1;
        }
        a->grad_output = PyArray_BYTES(c->go);
    }
    lf_outspec o = {sh->loss_nd, sh->loss_shape, c->spec->ngrad, sh->nd, sh->shape,
                    {NULL}, {NULL}, {0}, 1, 0};
    for (int i = 0; i < k; i++) {
        o.like[i] = ops->arr[i];
        o.typenum[i] = ops->in_type[i];
    }
    if (lf_outputs(c, &o) < 0) {
        return -1;
    }
    if (c->loss != NULL) {
        a->out = PyArray_BYTES(c->loss);
        a->out_n = PyArray_ITEMSIZE(c->loss);
    }
    for (int i = 0; i < k && c->grad[i] != NULL; i++) {
        a->grad[i] = PyArray_BYTES(c->grad[i]);
        a->g_d[i] = PyArray_ITEMSIZE(c->grad[i]);
        a->g_n[i] = a->D * a->g_d[i];
        a->hess[i] = LF_HESS(c, i) ? PyArray_BYTES(LF_HESS(c, i)) : NULL;
        a->vec[i] = LF_VEC(c, i);
    }
    c->hvp_done = 1; /* cosine and triplet kernels couple a row's features: H v there */
    return 0;
}

/* torch's vector norm has no inf-norm of an empty dimension (it refuses the
 * call); neither has the p-norm distance here, before anything is written. */
static int
inf_norm_needs_features(lf_call *c, double pnorm, ptrdiff_t D)
{
    if (isinf(pnorm) && D == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: p=inf needs at least one feature: the inputs have 0 along the "
                     "feature axis, and the inf-norm of an empty axis has no value",
                     c->fname);
        return -1;
    }
    return 0;
}

/* pairwise_distance(x1, x2, p, eps, keepdim) / cosine_similarity(x1, x2,
 * dim, eps): one value per row. */
static PyObject *
row_measure(lf_call *c, int kind)
{
    const rows_params *p = c->params;
    rows_ops ops = rows_gather(c, &p->x1, &p->x2, NULL);
    rows_shape sh;
    lf_rows a;
    memset(&a, 0, sizeof(a));
    int dim = -1;
    if (kind == LF_DIST_COSINE) {
        const int nd = PyArray_NDIM(p->x1) > PyArray_NDIM(p->x2) ? PyArray_NDIM(p->x1)
                                                                 : PyArray_NDIM(p->x2);
        const long rank = nd > 0 ? nd : 1, d = p->dim;
        if (d < -rank || d >= rank) {
            PyErr_Format(PyExc_IndexError, "%s: dim %ld is out of range for %d-d inputs",
                         c->fname, d, nd);
            return NULL;
        }
        dim = (int)(d < 0 ? d + rank : d);
    }
    const int half = rows_half(c, &ops, NULL, dim);
    if (half < 0 || rows_setup(c, &ops, &a, &sh, dim) < 0 ||
        (kind == LF_DIST_PNORM && inf_norm_needs_features(c, p->p, a.D) < 0)) {
        return NULL;
    }
    a.half_kind = half;
    /* keepdim keeps the feature axis as 1; half rows are written as half
     * (else a float32 result is narrowed by the caller) */
    const int keep = kind == LF_DIST_PNORM && p->keepdim && sh.nd > 0;
    sh.shape[sh.loss_nd] = 1;
    PyArrayObject *out = lf_own(
        c, PyArray_EMPTY(sh.loss_nd + keep, sh.shape, half ? c->out_type : c->typenum, 0));
    if (out == NULL) {
        return NULL;
    }
    a.out = PyArray_BYTES(out);
    a.out_n = PyArray_ITEMSIZE(out);
    if (kind == LF_DIST_COSINE) {
        LF_RUN_VOID(c, a.N * a.D, lf_cosine_similarity, &a, p->eps);
    }
    else {
        LF_RUN_VOID(c, a.N * a.D, lf_pairwise_distance, &a, p->p, p->eps);
    }
    Py_INCREF(out);
    return (PyObject *)out;
}

static PyObject *
cosine_embedding(lf_call *c, int kind)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF], b3[SHAPE_BUF];
    const rows_params *p = c->params;
    rows_ops ops = rows_gather(c, &p->input1, &p->input2, NULL);
    rows_shape sh;
    lf_rows a;
    memset(&a, 0, sizeof(a));
    (void)kind;
    PyArrayObject *y = p->target;
    const int half = rows_half(c, &ops, &y, -1);
    if (half < 0 || rows_setup(c, &ops, &a, &sh, -1) < 0) {
        return NULL;
    }
    a.half_kind = half;
    if (sh.nd != 1 && sh.nd != 2) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input1 and input2 must be [N, D] (or [D] unbatched), got shape %s",
                     c->fname, lf_fmt_shape(b1, sizeof(b1), sh.nd, sh.shape));
        return NULL;
    }
    /* a single target broadcasts to the N rows, as torch's does */
    const int one = sh.nd == 2 && PyArray_NDIM(y) == 1 && PyArray_DIM(y, 0) == 1;
    if (!one && !lf_same_shape(y, sh.loss_nd, sh.loss_shape)) {
        npy_intp full[NPY_MAXDIMS];
        memcpy(full, sh.shape, (size_t)sh.nd * sizeof(npy_intp));
        PyErr_Format(PyExc_ValueError,
                     "%s: target has shape %s, but inputs of shape %s need a target of shape %s",
                     c->fname, ARR_SHAPE(b1, y), lf_fmt_shape(b2, sizeof(b2), sh.nd, full),
                     lf_fmt_shape(b3, sizeof(b3), sh.loss_nd, sh.loss_shape));
        return NULL;
    }
    a.target = PyArray_BYTES(y);
    a.t_n = sh.loss_nd && !one ? PyArray_STRIDE(y, 0) : 0;
    if (rows_outputs(c, &ops, &a, &sh) < 0) {
        return NULL;
    }
    double sum;
    LF_RUN(c, a.N * a.D, sum, lf_cosine_embedding, &a, p->margin);
    return lf_result(c, lf_reduce(c->reduction, sum, (double)a.N));
}

static PyObject *
triplet(lf_call *c, int kind)
{
    const rows_params *p = c->params;
    rows_ops ops = rows_gather(c, &p->anchor, &p->positive, &p->negative);
    rows_shape sh;
    lf_rows a;
    double *work = NULL;
    memset(&a, 0, sizeof(a));
    int half = 0;
    const int slots = lf_get_num_threads(); /* a row buffer per thread */
    if (same_ndim(c, &ops) < 0 || (half = rows_half(c, &ops, NULL, -1)) < 0 ||
        rows_setup(c, &ops, &a, &sh, -1) < 0 ||
        ((lf_distance)p->distance == LF_DIST_PNORM &&
         inf_norm_needs_features(c, p->p, a.D) < 0) ||
        rows_outputs(c, &ops, &a, &sh) < 0 ||
        ((c->want & (WANT_GRAD | WANT_HESS)) &&
         (work = lf_alloc_n(c, slots, LF_TRIPLET_WORK(a.D) * sizeof(double),
                             "the row work buffer")) == NULL)) {
        return NULL;
    }
    a.half_kind = half;
    /* triplet_margin_loss has no distance row: its field stays 0, the p-norm */
    const lf_distance dist = (lf_distance)p->distance;
    double sum;
    (void)kind;
    LF_RUN(c, a.N * a.D, sum, lf_triplet, &a, dist, p->margin, p->p, p->eps, p->swap, work,
           slots);
    return lf_result(c, lf_reduce(c->reduction, sum, (double)a.N));
}

LF_DEFINE(pairwise_distance, rows_params, pairwise_spec, row_measure, LF_DIST_PNORM)
LF_DEFINE(cosine_similarity, rows_params, cosine_similarity_spec, row_measure, LF_DIST_COSINE)
LF_DEFINE(cosine_embedding_loss, rows_params, cosine_embedding_spec, cosine_embedding, 0)
LF_DEFINE(triplet_margin_loss, rows_params, triplet_spec, triplet, 0)
LF_DEFINE(triplet_margin_with_distance_loss, rows_params, triplet_distance_spec, triplet, 1)
