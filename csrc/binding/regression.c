/*
 * regression.c -- the element-wise losses of torch.nn (L1 ... multi-label
 * soft margin).  Operands broadcast together as in torch (NumPy's rules);
 * the loss has the broadcast shape (minus the label axis for the multi-label
 * soft margin), and the gradient of an input that was broadcast is folded
 * back to its shape (lf_fold), as autograd does.
 */
#include "binding.h"

#include <string.h>

typedef struct {
    PyArrayObject *input, *input1, *input2, *target, *var, *weight;
    lf_ew_param k; /* the options, where the kernel reads them */
} rg_params;

#define IN LF_ARRAY(rg_params, input, A_INPUT, C_NONE)
#define TG LF_ARRAY(rg_params, target, A_REAL, C_NONE)
#define WEIGHT LF_ARRAY(rg_params, weight, A_FLOAT, C_NONE)
#define REAL(field, check, what) LF_EW_REAL(rg_params, field, O_REAL, check, what)
#define BOOL(field) LF_EW_BOOL(rg_params, field)
#define SIZE sizeof(rg_params)
#define EW (LF_OUT | LF_SPLIT_EW | LF_HALF_EW)

/* indexed by the kernel's kind (pylossfn.h, LF_RG_LOSSES) */
static const lf_spec rg_specs[LF_RG_NKINDS] = {
    [LF_RG_L1] = {"l1_loss", SIZE, EW | LF_BOOST_EW | LF_MEAN_WEIGHTS | LF_WARN_SHAPE, 1,
                  {IN, TG, WEIGHT}, LF_FACE(regression, L1Loss)},
    [LF_RG_MSE] = {"mse_loss", SIZE, EW | LF_BOOST_EW | LF_MEAN_WEIGHTS | LF_WARN_SHAPE, 1,
                   {IN, TG, WEIGHT}, LF_FACE(regression, MSELoss)},
    [LF_RG_SMOOTH_L1] = {"smooth_l1_loss", SIZE, EW | LF_BOOST_EW | LF_WARN_SHAPE, 1,
                         {IN, TG, REAL(beta, C_GE0, ">= 0")}, LF_FACE(regression, SmoothL1Loss)},
    [LF_RG_HUBER] = {"huber_loss", SIZE, EW | LF_BOOST_EW | LF_WARN_SHAPE, 1,
                     {IN, TG, WEIGHT, REAL(delta, C_GT0, "> 0")}, LF_FACE(regression, HuberLoss)},
    [LF_RG_SOFT_MARGIN] = {"soft_margin_loss", SIZE, EW | LF_BOOST_EW, 1, {IN, TG},
                           LF_FACE(pairs, SoftMarginLoss)},
    [LF_RG_KL_DIV] = {"kl_div", SIZE, EW | LF_BOOST_EW | LF_BATCHMEAN, 1,
                      {IN, TG, BOOL(log_target)}, LF_FACE(regression, KLDivLoss)},
    [LF_RG_POISSON_NLL] = {"poisson_nll_loss", SIZE, EW | LF_BOOST_EW, 1,
                    {IN, TG, BOOL(log_input), BOOL(full), REAL(eps, C_NONE, NULL)},
                    LF_FACE(regression, PoissonNLLLoss)},
    [LF_RG_GAUSSIAN_NLL] = {"gaussian_nll_loss", SIZE,
                            LF_OUT | LF_SPLIT_WHOLE | LF_NONE_INPUT_TARGET | LF_HALF_EW, 2,
                     {IN, TG, LF_ARRAY(rg_params, var, A_REAL, C_NONE), BOOL(full),
                      REAL(eps, C_NONE, NULL)}, LF_FACE(regression, GaussianNLLLoss)},
    [LF_RG_HINGE_EMBEDDING] = {"hinge_embedding_loss", SIZE, EW | LF_BOOST_EW, 1,
                               {IN, TG, REAL(margin, C_NONE, NULL)},
                               LF_FACE(pairs, HingeEmbeddingLoss)},
    [LF_RG_MARGIN_RANKING] = {"margin_ranking_loss", SIZE, EW, 2,
                    {LF_ARRAY(rg_params, input1, A_INPUT, C_NONE),
                     LF_ARRAY(rg_params, input2, A_REAL, C_NONE), TG,
                     REAL(margin, C_NONE, NULL)}, LF_FACE(pairs, MarginRankingLoss)},
    [LF_RG_MLSM] = {"multilabel_soft_margin_loss", SIZE,
                    LF_OUT | LF_SPLIT_ROWS | LF_NONE_ROWS | LF_HALF_EW | LF_BOOST_ROWS, 1,
                    {IN, TG, WEIGHT}, LF_FACE(binary, MultiLabelSoftMarginLoss)},
    [LF_RG_LOG_COSH] = {"log_cosh_loss", SIZE, EW | LF_BOOST_EW, 1, {IN, TG},
                        LF_FACE(regression, LogCoshLoss)},
};


/* The array operands of a call, in the order they broadcast (the first is
 * the input) and in their slots of the view; the second differentiable
 * one's position among them (or 0). */
typedef struct {
    int n, second;
    PyArrayObject *arr[3];
    const char *name[3];
    int slot[3];
    PyArrayObject *view[3]; /* as they broadcast (rg_shape_rules) */
} rg_operands_t;

static void
rg_operand(lf_call *c, rg_operands_t *ops, PyArrayObject *const *field, int slot)
{
    ops->arr[ops->n] = *field;
    ops->name[ops->n] = c->spec->args[lf_arg_index(c, field)].name;
    ops->slot[ops->n++] = slot;
}

static void
rg_gather(lf_call *c, int kind, rg_operands_t *ops)
{
    const rg_params *p = c->params;
    memset(ops, 0, sizeof(*ops));
    if (kind == LF_RG_MARGIN_RANKING) {
        rg_operand(c, ops, &p->input1, LF_EW_INPUT);
        rg_operand(c, ops, &p->input2, LF_EW_INPUT2);
        ops->second = 1;
    }
    else {
        rg_operand(c, ops, &p->input, LF_EW_INPUT);
    }
    rg_operand(c, ops, &p->target, LF_EW_TARGET);
    if (kind == LF_RG_GAUSSIAN_NLL) {
        rg_operand(c, ops, &p->var, LF_EW_INPUT2);
        ops->second = 2;
    }
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

/* The shape rules before broadcasting; ops->view receives the operands as
 * they broadcast (Gaussian NLL's var viewed). */
static int
rg_shape_rules(lf_call *c, int kind, rg_operands_t *ops)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF], b3[SHAPE_BUF];
    PyArrayObject *x = ops->arr[0], **view = ops->view;
    const int xnd = PyArray_NDIM(x);
    memcpy(view, ops->arr, sizeof(ops->arr));
    if (kind == LF_RG_MARGIN_RANKING &&
        (PyArray_NDIM(view[1]) != xnd || PyArray_NDIM(view[2]) != xnd)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input1, input2 and target must have the same number of dimensions, "
                     "got shapes %s, %s and %s",
                     c->fname, ARR_SHAPE(b1, x), ARR_SHAPE(b2, view[1]), ARR_SHAPE(b3, view[2]));
        return -1;
    }
    if (kind == LF_RG_MLSM && xnd == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: input must have at least 1 dimension ([..., C], labels last), got a "
                     "0-d array",
                     c->fname);
        return -1;
    }
    return kind == LF_RG_GAUSSIAN_NLL ? gaussian_var(c, x, view[2], &view[2]) : 0;
}

/* The operands' strides over the element-wise shape, in their slots. */
static int
rg_strides(lf_call *c, int kind, const rg_operands_t *ops, lf_elementwise *ew)
{
    const rg_params *p = c->params;
    PyArrayObject *w = p->weight; /* NULL for the losses without one */
    for (int j = 0; j < ops->n; j++) {
        const int slot = ops->slot[j];
        ew->data[slot] = PyArray_BYTES(ops->view[j]);
        lf_ew_half(ew, slot, ops->view[j]);
        if (lf_broadcast_strides(c, ops->view[j], ew->ndim, ew->shape, ew->strides[slot],
                                 ops->name[j]) < 0) {
            return -1;
        }
    }
    if (w != NULL) {
        /* torch: "Weights and input must have the same size." */
        if ((kind != LF_RG_MLSM && lf_require_shape_of(c, w, ops->arr[0], "weight") < 0) ||
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
rg_warnings(lf_call *c, int kind, PyArrayObject *x)
{
    char b1[SHAPE_BUF], b2[SHAPE_BUF];
    const rg_params *p = c->params;
    PyArrayObject *y = p->target;
    if (!(c->want & WANT_LOSS)) {
        return 0;
    }
    if ((c->spec->flags & LF_WARN_SHAPE) &&
        !lf_same_shape(y, PyArray_NDIM(x), PyArray_DIMS(x)) &&
        PyErr_WarnFormat(PyExc_UserWarning, 1,
                         "%s: using a target shape %s that is different to the input shape %s. "
                         "This will likely lead to incorrect results due to broadcasting. "
                         "Please ensure they have the same size.",
                         c->fname, ARR_SHAPE(b1, y), ARR_SHAPE(b2, x)) < 0) {
        return -1;
    }
    if (kind == LF_RG_KL_DIV && c->reduction == LF_REDUCE_MEAN &&
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
rg_denominator(lf_call *c, PyArrayObject *x, int loss_nd, const npy_intp *bshape)
{
    const rg_params *p = c->params;
    PyArrayObject *w = p->weight;
    npy_intp count = 1;
    for (int d = 0; d < loss_nd; d++) {
        count *= bshape[d];
    }
    if (c->reduction == REDUCE_BATCHMEAN) {
        return PyArray_NDIM(x) ? (double)PyArray_DIM(x, 0) : 1.0;
    }
    if (c->reduction == LF_REDUCE_MEAN && w != NULL && (c->spec->flags & LF_MEAN_WEIGHTS)) {
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
    lf_ew_half(ew, op, arr);
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
    if (kind != LF_RG_MLSM) {
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

/* The broadcast shape of the operands: soft margin keeps the input's, the
 * others broadcast. */
static int
rg_broadcast(lf_call *c, int kind, const rg_operands_t *ops, int *bnd, npy_intp *bshape)
{
    if (kind == LF_RG_SOFT_MARGIN) {
        *bnd = PyArray_NDIM(ops->view[0]);
        if (*bnd > 0) { /* a 0-d array has no dims pointer (memcpy from NULL is UB) */
            memcpy(bshape, PyArray_DIMS(ops->view[0]), (size_t)*bnd * sizeof(npy_intp));
        }
        return 0;
    }
    return lf_broadcast(c, ops->n, ops->view, ops->name, bnd, bshape, 0);
}

static PyObject *
regression(lf_call *c, int kind)
{
    rg_operands_t ops;
    npy_intp bshape[NPY_MAXDIMS];
    int bnd;
    lf_elementwise ew;
    const lf_ew_param *prm = &((const rg_params *)c->params)->k;
    rg_gather(c, kind, &ops);
    if (rg_shape_rules(c, kind, &ops) < 0 || rg_broadcast(c, kind, &ops, &bnd, bshape) < 0) {
        return NULL;
    }
    lf_ew_init(&ew, bnd, bshape);
    if (rg_strides(c, kind, &ops, &ew) < 0 || rg_warnings(c, kind, ops.arr[0]) < 0) {
        return NULL;
    }
    const int loss_nd = kind == LF_RG_MLSM ? bnd - 1 : bnd;
    const double denom = rg_denominator(c, ops.arr[0], loss_nd, bshape);
    if (c->want == WANT_NORM) { /* the weights' sum alone (a Dask block's share) */
        return PyFloat_FromDouble(denom);
    }
    const int averaged = c->reduction == LF_REDUCE_MEAN || c->reduction == REDUCE_BATCHMEAN;
    const int second = ops.second;
    /* IEEE division: a mean over nothing (or weights summing to 0) is nan or
     * inf where used, as in torch */
    const lf_outspec o = {loss_nd, bshape, c->spec->ngrad, bnd, bshape,
                          {ops.arr[0], second ? ops.arr[second] : NULL},
                          {ops.view[0], second ? ops.view[second] : NULL}, {0}, 0, 0};
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
    LF_RUN(c, work, sum, lf_regression, &ew, (lf_regression_kind)kind, prm);
    if (kind == LF_RG_GAUSSIAN_NLL && c->vec[0] != NULL) { /* the only coupled pair here */
        LF_RUN_VOID(c, work, lf_gaussian_hvp, &ew, prm->eps, LF_VEC(c, 0), LF_VEC(c, 1));
        c->hvp_done = 1;
    }
    return lf_result(c, averaged ? sum / denom : sum);
}

/* Each row is an entry point, made here from the kernel's list
 * (LF_RG_LOSSES): a function that runs the kernel of its kind with its spec.
 * _core names it as the spec does; module.c adds the functions and table.c
 * their rows, so a new element-wise loss is its kernel row and its spec row. */
#define RG_ENTRY_FN(KIND, name, param, setup, modes, flags)                               \
    static PyObject *rg_entry_##name(PyObject *mod, PyObject *const *args,                \
                                     Py_ssize_t nargs)                                    \
    {                                                                                     \
        rg_params params;                                                                 \
        return lf_invoke(&rg_specs[KIND], regression, KIND, &params, sizeof(params), mod, \
                         args, nargs);                                                    \
    }
LF_RG_LOSSES(RG_ENTRY_FN)

#define RG_ENTRY_ROW(KIND, name, param, setup, modes, flags) {rg_entry_##name, &rg_specs[KIND]},
const lf_row_entry lf_rg_entries[LF_RG_NKINDS] = {LF_RG_LOSSES(RG_ENTRY_ROW)};
