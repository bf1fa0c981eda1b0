/*
 * regression.c -- the element-wise losses of torch.nn (L1 ... multi-label
 * soft margin).  Operands broadcast together as in torch (NumPy's rules);
 * the loss has the broadcast shape (minus the label axis for the multi-label
 * soft margin), and the gradient of an input that was broadcast is folded
 * back to its shape (lf_fold), as autograd does.
 */
#include "binding.h"

#include <string.h>

enum {
    RG_L1,
    RG_MSE,
    RG_SMOOTH_L1,
    RG_HUBER,
    RG_SOFT_MARGIN,
    RG_KL_DIV,
    RG_POISSON,
    RG_GAUSSIAN,
    RG_HINGE,
    RG_RANKING,
    RG_MLSM,
    RG_NKINDS
};

#define IN {"input", A_INPUT, C_NONE, NULL}
#define TG {"target", A_REAL, C_NONE, NULL}
#define WEIGHT {"weight", A_FLOAT, C_NONE, NULL}
#define REAL(name) {name, O_REAL, C_NONE, NULL}
#define BOOL(name) {name, O_BOOL, C_NONE, NULL}

static const lf_spec rg_specs[RG_NKINDS] = {
    [RG_L1] = {"l1_loss", 3, LF_OUT, {IN, TG, WEIGHT}},
    [RG_MSE] = {"mse_loss", 3, LF_OUT, {IN, TG, WEIGHT}},
    [RG_SMOOTH_L1] = {"smooth_l1_loss", 3, LF_OUT, {IN, TG, {"beta", O_REAL, C_GE0, ">= 0"}}},
    [RG_HUBER] = {"huber_loss", 4, LF_OUT, {IN, TG, WEIGHT, {"delta", O_REAL, C_GT0, "> 0"}}},
    [RG_SOFT_MARGIN] = {"soft_margin_loss", 2, LF_OUT, {IN, TG}},
    [RG_KL_DIV] = {"kl_div", 3, LF_OUT | LF_BATCHMEAN, {IN, TG, BOOL("log_target")}},
    [RG_POISSON] = {"poisson_nll_loss", 5, LF_OUT,
                    {IN, TG, BOOL("log_input"), BOOL("full"), REAL("eps")}},
    [RG_GAUSSIAN] = {"gaussian_nll_loss", 5, LF_OUT,
                     {IN, TG, {"var", A_REAL, C_NONE, NULL}, BOOL("full"), REAL("eps")}},
    [RG_HINGE] = {"hinge_embedding_loss", 3, LF_OUT, {IN, TG, REAL("margin")}},
    [RG_RANKING] = {"margin_ranking_loss", 4, LF_OUT,
                    {{"input1", A_INPUT, C_NONE, NULL}, {"input2", A_REAL, C_NONE, NULL},
                     TG, REAL("margin")}},
    [RG_MLSM] = {"multilabel_soft_margin_loss", 3, LF_OUT, {IN, TG, WEIGHT}},
};

/* Per loss: the array operands, the second differentiable one (or 0), the
 * weight's position (or -1), and whether torch warns when the target's
 * shape differs from the input's. */
static const struct {
    int narr, second, weight, size_warning;
    lf_regression_kind kernel;
} rg_rules[RG_NKINDS] = {
    [RG_L1] = {2, 0, 2, 1, LF_RG_L1},
    [RG_MSE] = {2, 0, 2, 1, LF_RG_MSE},
    [RG_SMOOTH_L1] = {2, 0, -1, 1, LF_RG_SMOOTH_L1},
    [RG_HUBER] = {2, 0, 2, 1, LF_RG_HUBER},
    [RG_SOFT_MARGIN] = {2, 0, -1, 0, LF_RG_SOFT_MARGIN},
    [RG_KL_DIV] = {2, 0, -1, 0, LF_RG_KL_DIV},
    [RG_POISSON] = {2, 0, -1, 0, LF_RG_POISSON_NLL},
    [RG_GAUSSIAN] = {3, 2, -1, 0, LF_RG_GAUSSIAN_NLL},
    [RG_HINGE] = {2, 0, -1, 0, LF_RG_HINGE_EMBEDDING},
    [RG_RANKING] = {3, 1, -1, 0, LF_RG_MARGIN_RANKING},
    [RG_MLSM] = {2, 0, 2, 0, LF_RG_L1 /* its own kernel */},
};

/* The name of array operand j, for messages. */
static const char *
rg_name(int kind, int j)
{
    static const char *const ranking[3] = {"input1", "input2", "target"};
    static const char *const others[3] = {"input", "target", "var"};
    return kind == RG_RANKING ? ranking[j] : others[j];
}

/* The kernel's parameters, from the converted options. */
static lf_regression_param
rg_params(const lf_call *c, int kind)
{
    const lf_value *v = c->v;
    lf_regression_param p = {0.0, 0.0, 0.0, 0.0, 0, 0, 0};
    p.beta = kind == RG_SMOOTH_L1 ? v[2].d : 0.0;
    p.delta = kind == RG_HUBER ? v[3].d : 0.0;
    p.margin = kind == RG_HINGE ? v[2].d : kind == RG_RANKING ? v[3].d : 0.0;
    p.eps = kind == RG_POISSON || kind == RG_GAUSSIAN ? v[4].d : 0.0;
    p.log_target = kind == RG_KL_DIV && v[2].b;
    p.log_input = kind == RG_POISSON && v[2].b;
    p.full = (kind == RG_POISSON && v[3].b) || (kind == RG_GAUSSIAN && v[3].b);
    return p;
}

/* Gaussian NLL's var, as torch accepts it: non-negative, and of the input's
 * shape; the input's shape without its last dim (viewed with a trailing 1);
 * the input's ndim with exactly one dim of 1 where the input differs; or a
 * number (a 0-d array), which broadcasts.  *view is what broadcasts. */
static int
gaussian_var(lf_call *c, PyArrayObject *x, PyArrayObject *var, PyArrayObject **view)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    const int nd = PyArray_NDIM(x), vnd = PyArray_NDIM(var);
    lf_elementwise vc;
    lf_error err;
    lf_status st;
    lf_ew_init(&vc, vnd, PyArray_DIMS(var));
    lf_ew_set(&vc, LF_EW_INPUT, var);
    lf_ew_coalesce(&vc);
    LF_RUN(c, 0, st, lf_check_nonnegative, &vc, &err);
    if (st != LF_OK) {
        PyObject *bad = PyFloat_FromDouble(err.fvalue);
        if (bad != NULL) {
            PyErr_Format(PyExc_ValueError,
                         "%s: var has negative entry %R at flat index %zd, but every variance "
                         "must be >= 0",
                         c->fname, bad, (Py_ssize_t)err.index);
            Py_DECREF(bad);
        }
        return -1;
    }
    *view = var;
    if (vnd == 0 || lf_same_shape(var, nd, PyArray_DIMS(x))) {
        return 0;
    }
    if (nd >= 1 && lf_same_shape(var, nd - 1, PyArray_DIMS(x))) {
        npy_intp dims[NPY_MAXDIMS];
        memcpy(dims, PyArray_DIMS(var), (size_t)(nd - 1) * sizeof(npy_intp));
        dims[nd - 1] = 1;
        PyArray_Dims shape = {dims, nd};
        return (*view = lf_own(c, PyArray_Newshape(var, &shape, NPY_CORDER))) ? 0 : -1;
    }
    npy_intp mismatched = 0;
    for (int d = 0; vnd == nd && d < nd; d++) {
        mismatched += PyArray_DIM(var, d) != PyArray_DIM(x, d) ? PyArray_DIM(var, d) : 0;
    }
    if (vnd == nd && mismatched == 1) {
        return 0;
    }
    PyErr_Format(PyExc_ValueError,
                 "%s: var of shape %s is of incorrect size for input of shape %s: it must have "
                 "the input's shape, the input's shape without its last dim, or the input's "
                 "shape with one dim of size 1, or be a number",
                 c->fname, ARR_SHAPE(b1, var), ARR_SHAPE(b2, x));
    return -1;
}

/* The shape rules before broadcasting; ops receives the operands as they
 * broadcast (Gaussian NLL's var viewed). */
static int
rg_shape_rules(lf_call *c, int kind, PyArrayObject **ops)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF], b3[SHAPE_BUF];
    PyArrayObject *x = c->v[0].a;
    const int xnd = PyArray_NDIM(x);
    for (int j = 0; j < 3; j++) {
        ops[j] = j < rg_rules[kind].narr ? c->v[j].a : NULL;
    }
    if (kind == RG_RANKING && (PyArray_NDIM(ops[1]) != xnd || PyArray_NDIM(ops[2]) != xnd)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input1, input2 and target must have the same number of dimensions, "
                     "got shapes %s, %s and %s",
                     c->fname, ARR_SHAPE(b1, x), ARR_SHAPE(b2, ops[1]), ARR_SHAPE(b3, ops[2]));
        return -1;
    }
    if (kind == RG_MLSM && xnd == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input must have at least 1 dimension ([..., C], labels last), got a "
                     "0-d array",
                     c->fname);
        return -1;
    }
    return kind == RG_GAUSSIAN ? gaussian_var(c, x, ops[2], &ops[2]) : 0;
}

/* The operands' strides over the element-wise shape, in their slots. */
static int
rg_operands(lf_call *c, int kind, PyArrayObject *const *ops, lf_elementwise *ew)
{
    static const int slots[3] = {LF_EW_INPUT, LF_EW_TARGET, LF_EW_INPUT2};
    static const int ranking_slots[3] = {LF_EW_INPUT, LF_EW_INPUT2, LF_EW_TARGET};
    PyArrayObject *x = c->v[0].a, *w = NULL;
    for (int j = 0; j < rg_rules[kind].narr; j++) {
        const int slot = kind == RG_RANKING ? ranking_slots[j] : slots[j];
        ew->data[slot] = PyArray_BYTES(ops[j]);
        if (lf_broadcast_strides(c, ops[j], ew->ndim, ew->shape, ew->strides[slot],
                                 rg_name(kind, j)) < 0) {
            return -1;
        }
    }
    if (rg_rules[kind].weight >= 0 && (w = c->v[rg_rules[kind].weight].a) != NULL) {
        /* torch: "Weights and input must have the same size." */
        if ((kind != RG_MLSM && lf_require_shape_of(c, w, x, "weight") < 0) ||
            lf_broadcast_strides(c, w, ew->ndim, ew->shape, ew->strides[LF_EW_WEIGHT],
                                 "weight") < 0) {
            return -1;
        }
        ew->data[LF_EW_WEIGHT] = PyArray_BYTES(w);
    }
    return 0;
}

/* torch's warnings, as its Python functions emit them (forward calls only). */
static int
rg_warnings(lf_call *c, int kind)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    PyArrayObject *x = c->v[0].a, *y = c->v[1].a;
    if (!(c->want & WANT_LOSS)) {
        return 0;
    }
    if (rg_rules[kind].size_warning && !lf_same_shape(y, PyArray_NDIM(x), PyArray_DIMS(x)) &&
        PyErr_WarnFormat(PyExc_UserWarning, 1,
                         "%s: using a target shape %s that is different to the input shape %s. "
                         "This will likely lead to incorrect results due to broadcasting. "
                         "Please ensure they have the same size.",
                         c->fname, ARR_SHAPE(b1, y), ARR_SHAPE(b2, x)) < 0) {
        return -1;
    }
    if (kind == RG_KL_DIV && c->reduction == LF_REDUCE_MEAN &&
        PyErr_WarnEx(PyExc_UserWarning,
                     "reduction: 'mean' divides the total loss by both the batch size and the "
                     "support size.'batchmean' divides only by the batch size, and aligns with "
                     "the KL div math definition.'mean' will be changed to behave the same as "
                     "'batchmean' in the next major release.",
                     1) < 0) {
        return -1;
    }
    return 0;
}

/* The mean's divisor: the loss's size; input.shape[0] for "batchmean"; the
 * weights' sum for a weighted L1 / MSE mean, as torch. */
static double
rg_denominator(lf_call *c, int kind, int loss_nd, const npy_intp *bshape)
{
    PyArrayObject *x = c->v[0].a, *w = rg_rules[kind].weight >= 0 ? c->v[2].a : NULL;
    npy_intp count = 1;
    for (int d = 0; d < loss_nd; d++) {
        count *= bshape[d];
    }
    if (c->reduction == REDUCE_BATCHMEAN) {
        return PyArray_NDIM(x) ? (double)PyArray_DIM(x, 0) : 1.0;
    }
    if (c->reduction == LF_REDUCE_MEAN && w != NULL && (kind == RG_L1 || kind == RG_MSE)) {
        lf_elementwise ws;
        double sum;
        lf_ew_init(&ws, PyArray_NDIM(w), PyArray_DIMS(w));
        lf_ew_set(&ws, LF_EW_INPUT, w);
        lf_ew_coalesce(&ws);
        LF_RUN(c, 0, sum, lf_ew_sum, &ws);
        return sum;
    }
    return (double)count;
}

/* An operand with one value per row (the multi-label soft margin's loss
 * and grad_output): its own strides over the leading dims, 0 along labels. */
static void
rg_set_rows(lf_elementwise *ew, int op, PyArrayObject *arr)
{
    ew->data[op] = arr ? PyArray_BYTES(arr) : NULL;
    for (int d = 0; arr != NULL && d < ew->ndim; d++) {
        ew->strides[op][d] = d < ew->ndim - 1 ? PyArray_STRIDE(arr, d) : 0;
    }
}

/* The outputs into the view; only the leading (row) dims of the
 * multi-label soft margin are merged, its label axis stays last. */
static void
rg_view_outputs(lf_call *c, int kind, lf_elementwise *ew)
{
    lf_ew_set(ew, LF_EW_GRAD, c->grad[0]);
    lf_ew_set(ew, LF_EW_HESS, LF_HESS(c, 0));
    if (c->ngrad == 2) {
        lf_ew_set(ew, LF_EW_GRAD2, c->grad[1]);
        lf_ew_set(ew, LF_EW_HESS2, LF_HESS(c, 1));
    }
    if (kind != RG_MLSM) {
        lf_ew_set(ew, LF_EW_GRAD_OUTPUT, c->go);
        lf_ew_set(ew, LF_EW_OUT, c->loss);
        lf_ew_coalesce(ew);
        return;
    }
    rg_set_rows(ew, LF_EW_GRAD_OUTPUT, c->go);
    rg_set_rows(ew, LF_EW_OUT, c->loss);
    const ptrdiff_t C = ew->shape[ew->ndim - 1];
    ptrdiff_t st[LF_EW_NOP];
    for (int op = 0; op < LF_EW_NOP; op++) {
        st[op] = ew->strides[op][ew->ndim - 1];
    }
    ew->ndim--;
    lf_ew_coalesce(ew);
    ew->shape[ew->ndim] = C;
    for (int op = 0; op < LF_EW_NOP; op++) {
        ew->strides[op][ew->ndim] = st[op];
    }
    ew->ndim++;
}

static PyObject *
regression(lf_call *c, int kind)
{
    PyArrayObject *ops[3];
    npy_intp bshape[NPY_MAXDIMS];
    int bnd;
    lf_elementwise ew;
    const lf_regression_param prm = rg_params(c, kind);
    /* torch's smooth_l1_loss runs l1_loss when beta is 0 */
    const lf_regression_kind kernel =
        kind == RG_SMOOTH_L1 && prm.beta == 0.0 ? LF_RG_L1 : rg_rules[kind].kernel;
    const char *const names[3] = {rg_name(kind, 0), rg_name(kind, 1), rg_name(kind, 2)};
    if (rg_shape_rules(c, kind, ops) < 0) {
        return NULL;
    }
    /* soft margin keeps the input's shape; the others broadcast */
    if (kind == RG_SOFT_MARGIN) {
        bnd = PyArray_NDIM(ops[0]);
        if (bnd > 0) { /* a 0-d array has no dims pointer (memcpy from NULL is UB) */
            memcpy(bshape, PyArray_DIMS(ops[0]), (size_t)bnd * sizeof(npy_intp));
        }
    }
    else if (lf_broadcast(c, rg_rules[kind].narr, ops, names, &bnd, bshape, 0) < 0) {
        return NULL;
    }
    lf_ew_init(&ew, bnd, bshape);
    if (rg_operands(c, kind, ops, &ew) < 0 || rg_warnings(c, kind) < 0) {
        return NULL;
    }
    const int loss_nd = kind == RG_MLSM ? bnd - 1 : bnd;
    const double denom = rg_denominator(c, kind, loss_nd, bshape);
    const int averaged = c->reduction == LF_REDUCE_MEAN || c->reduction == REDUCE_BATCHMEAN;
    const int second = rg_rules[kind].second;
    /* IEEE division: a mean over nothing (or weights summing to 0) is nan or
     * inf where used, as in torch */
    const lf_outspec o = {loss_nd, bshape, second ? 2 : 1, bnd, bshape,
                          {c->v[0].a, second ? c->v[second].a : NULL},
                          {ops[0], second ? ops[second] : NULL}, {0}, 0, 0};
    if (lf_grad_output(c, loss_nd, bshape, averaged ? 1.0 / denom : 1.0) < 0 ||
        lf_outputs(c, &o) < 0) {
        return NULL;
    }
    ew.scale = c->scale;
    rg_view_outputs(c, kind, &ew);
    npy_intp work = 1;
    for (int d = 0; d < bnd; d++) {
        work *= bshape[d];
    }
    double sum;
    if (kind == RG_MLSM) {
        LF_RUN(c, work, sum, lf_multilabel_soft_margin, &ew);
    }
    else {
        LF_RUN(c, work, sum, lf_regression, &ew, kernel, &prm);
    }
    return lf_result(c, averaged ? sum / denom : sum);
}

LF_DEFINE(l1_loss, rg_specs[RG_L1], regression, RG_L1)
LF_DEFINE(mse_loss, rg_specs[RG_MSE], regression, RG_MSE)
LF_DEFINE(smooth_l1_loss, rg_specs[RG_SMOOTH_L1], regression, RG_SMOOTH_L1)
LF_DEFINE(huber_loss, rg_specs[RG_HUBER], regression, RG_HUBER)
LF_DEFINE(soft_margin_loss, rg_specs[RG_SOFT_MARGIN], regression, RG_SOFT_MARGIN)
LF_DEFINE(kl_div, rg_specs[RG_KL_DIV], regression, RG_KL_DIV)
LF_DEFINE(poisson_nll_loss, rg_specs[RG_POISSON], regression, RG_POISSON)
LF_DEFINE(gaussian_nll_loss, rg_specs[RG_GAUSSIAN], regression, RG_GAUSSIAN)
LF_DEFINE(hinge_embedding_loss, rg_specs[RG_HINGE], regression, RG_HINGE)
LF_DEFINE(margin_ranking_loss, rg_specs[RG_RANKING], regression, RG_RANKING)
LF_DEFINE(multilabel_soft_margin_loss, rg_specs[RG_MLSM], regression, RG_MLSM)
