/* reduce.c -- the one summation primitive and the element-wise row walker. */
#include "iter.h"

const ptrdiff_t lf_zero_strides[LF_MAXDIMS];

double
lf_pairwise(lf_block_fn fn, void *ctx, ptrdiff_t start, ptrdiff_t n)
{
    if (n <= LF_PAIRWISE_BLOCK) {
        return n > 0 ? fn(ctx, start, n) : 0.0;
    }
    /* Split on a multiple of 8 so blocks keep their unrolled shape. */
    ptrdiff_t half = (n / 2) & ~(ptrdiff_t)7;
    return lf_pairwise(fn, ctx, start, half) +
           lf_pairwise(fn, ctx, start + half, n - half);
}

void
lf_ew_ops_init(lf_ew_ops *ops, const lf_elementwise *a, const void *one,
               const void *scale)
{
    for (int op = 0; op < LF_EW_NOP; op++) {
        ops->data[op] = a->data[op];
        ops->strides[op] = a->strides[op];
    }
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

double
lf_ew_foreach(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops,
              lf_block_fn fn, void *user)
{
    ptrdiff_t idx[LF_MAXDIMS];
    lf_ew_row row;
    lf_ksum total = {0.0, 0.0};
    const int inner = ndim - 1;
    const ptrdiff_t n = shape[inner];

    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) {
            return 0.0;
        }
        idx[d] = 0;
    }
    for (int op = 0; op < LF_EW_NOP; op++) {
        row.ptr[op] = ops->data[op];
        row.step[op] = ops->strides[op][inner];
    }
    row.base = 0;
    row.user = user;
    for (;;) {
        lf_ksum_add(&total, lf_pairwise(fn, &row, 0, n));
        row.base += n;
        int d = inner - 1;
        for (; d >= 0; d--) {
            if (++idx[d] < shape[d]) {
                for (int op = 0; op < LF_EW_NOP; op++) {
                    if (row.ptr[op]) {
                        row.ptr[op] += ops->strides[op][d];
                    }
                }
                break;
            }
            for (int op = 0; op < LF_EW_NOP; op++) {
                if (row.ptr[op]) {
                    row.ptr[op] -= ops->strides[op][d] * (shape[d] - 1);
                }
            }
            idx[d] = 0;
        }
        if (d < 0) {
            break;
        }
    }
    return lf_ksum_value(&total);
}
