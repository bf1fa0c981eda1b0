/* iter.c -- the one summation primitive and the element-wise row walker. */

#include "iter.h"

const ptrdiff_t lf_zero_strides[LF_MAXDIMS];

double
lf_pairwise_pairs(lf_block_fn fn, lf_pair_fn pair, void *ctx, ptrdiff_t start, ptrdiff_t n)
{
    if (n <= LF_PAIRWISE_BLOCK) {
        return n > 0 ? fn(ctx, start, n) : 0.0;
    }
    /* Split on a multiple of 8 so blocks keep their unrolled shape. */
    const ptrdiff_t half = (n / 2) & ~(ptrdiff_t)7;
    if (pair && n - half <= LF_PAIRWISE_BLOCK) {
        return pair(ctx, start, half, n - half); /* two blocks: fn's sum of each, added */
    }
    return lf_pairwise_pairs(fn, pair, ctx, start, half) +
           lf_pairwise_pairs(fn, pair, ctx, start + half, n - half);
}

double
lf_pairwise(lf_block_fn fn, void *ctx, ptrdiff_t start, ptrdiff_t n)
{
    return lf_pairwise_pairs(fn, NULL, ctx, start, n);
}

void
lf_ew_ops_init(lf_ew_ops *ops, const lf_elementwise *a, const void *one,
               const void *scale)
{
    for (int op = 0; op < LF_EW_NOP; op++) {
        ops->data[op] = a->data[op];
        ops->strides[op] = a->strides[op];
    }
    ops->half = a->half_ops;
    ops->half_kind = a->half_kind;
    ops->cost = 1;
    ops->pair = NULL;
    if (!ops->data[LF_EW_WEIGHT]) {
        ops->data[LF_EW_WEIGHT] = (char *)one;
        ops->strides[LF_EW_WEIGHT] = lf_zero_strides;
    }
    if (!ops->data[LF_EW_POS_WEIGHT]) {
        ops->data[LF_EW_POS_WEIGHT] = (char *)one;
        ops->strides[LF_EW_POS_WEIGHT] = lf_zero_strides;
    }
    if (!ops->data[LF_EW_GRAD_OUTPUT]) {
        ops->data[LF_EW_GRAD_OUTPUT] = (char *)scale;
        ops->strides[LF_EW_GRAD_OUTPUT] = lf_zero_strides;
    }
}

/* How lf_ew_foreach cuts the rows into work units: long rows into pieces
 * of LF_UNIT_ELEMS, short rows into groups of about that many elements. */
typedef struct {
    int ndim;
    const ptrdiff_t *shape;
    const lf_ew_ops *ops;
    lf_block_fn fn;
    lf_row_fn row_fn; /* or NULL */
    void *user;
    ptrdiff_t n, rows, pieces, group;
} ew_plan;

static double
ew_unit(void *vp, ptrdiff_t u)
{
    const ew_plan *p = vp;
    const int inner = p->ndim - 1;
    ptrdiff_t row0, s0 = 0, len = p->n, nrows = 1;
    if (p->pieces > 1) {
        row0 = u / p->pieces;
        s0 = (u % p->pieces) * LF_UNIT_ELEMS;
        len = p->n - s0 < LF_UNIT_ELEMS ? p->n - s0 : LF_UNIT_ELEMS;
    }
    else {
        row0 = u * p->group;
        nrows = p->rows - row0 < p->group ? p->rows - row0 : p->group;
    }
    ptrdiff_t idx[LF_MAXDIMS];
    ptrdiff_t rem = row0;
    for (int d = inner - 1; d >= 0; d--) {
        idx[d] = rem % p->shape[d];
        rem /= p->shape[d];
    }
    lf_ew_row row;
    for (int op = 0; op < LF_EW_NOP; op++) {
        row.ptr[op] = p->ops->data[op];
        row.step[op] = p->ops->strides[op][inner];
        if (row.ptr[op]) {
            for (int d = 0; d < inner; d++) {
                row.ptr[op] += idx[d] * p->ops->strides[op][d];
            }
        }
    }
    row.base = row0 * p->n;
    row.user = p->user;
    row.half = p->ops->half;
    row.half_kind = p->ops->half_kind;
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t r = 0;;) {
        const double sum = lf_pairwise_pairs(p->fn, p->ops->pair, &row, s0, len);
        lf_ksum_add(&total, p->row_fn ? p->row_fn(&row, sum) : sum);
        if (++r == nrows) {
            break;
        }
        row.base += p->n;
        for (int d = inner - 1; d >= 0; d--) {
            if (++idx[d] < p->shape[d]) {
                for (int op = 0; op < LF_EW_NOP; op++) {
                    if (row.ptr[op]) {
                        row.ptr[op] += p->ops->strides[op][d];
                    }
                }
                break;
            }
            for (int op = 0; op < LF_EW_NOP; op++) {
                if (row.ptr[op]) {
                    row.ptr[op] -= p->ops->strides[op][d] * (p->shape[d] - 1);
                }
            }
            idx[d] = 0;
        }
    }
    return lf_ksum_value(&total);
}

static double
ew_run(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops, lf_block_fn fn,
       lf_row_fn row_fn, void *user, int parallel)
{
    ew_plan p = {ndim, shape, ops, fn, row_fn, user, shape[ndim - 1], 1, 1, 1};
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) {
            return 0.0;
        }
    }
    for (int d = 0; d < ndim - 1; d++) {
        p.rows *= shape[d];
    }
    ptrdiff_t units;
    if (p.n > LF_UNIT_ELEMS && !row_fn) {
        p.pieces = (p.n + LF_UNIT_ELEMS - 1) / LF_UNIT_ELEMS;
        units = p.rows * p.pieces;
    }
    else {
        p.group = p.n < LF_UNIT_ELEMS ? LF_UNIT_ELEMS / p.n : 1;
        units = (p.rows + p.group - 1) / p.group;
    }
    if (!parallel) {
        lf_ksum total = {0.0, 0.0};
        for (ptrdiff_t u = 0; u < units; u++) {
            lf_ksum_add(&total, ew_unit(&p, u));
        }
        return lf_ksum_value(&total);
    }
    return lf_parallel_sum(ew_unit, &p, units, p.rows * p.n * ops->cost);
}

double
lf_ew_foreach(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops, lf_block_fn fn,
              void *user)
{
    return ew_run(ndim, shape, ops, fn, NULL, user, 0);
}

double
lf_ew_foreach_par(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops, lf_block_fn fn,
                  void *user)
{
    return ew_run(ndim, shape, ops, fn, NULL, user, 1);
}


double
lf_ew_foreach_rows(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops, lf_block_fn fn,
                   lf_row_fn row_fn, void *user)
{
    return ew_run(ndim, shape, ops, fn, row_fn, user, 1);
}
