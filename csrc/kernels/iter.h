/*
 * iter.h -- iteration over strided element-wise operands (engine-internal;
 * iter.c).
 *
 * Like a NumPy ufunc inner loop: the outer dimensions are walked with a
 * multi-index, the innermost one is handed to a block function through
 * lf_pairwise(), so each row is summed pairwise and the rows are summed with
 * Neumaier compensation.  Absent operands have a NULL base and are never
 * offset (pointer arithmetic on NULL is undefined behaviour).
 */
#ifndef PYLOSSFN_ITER_H_
#define PYLOSSFN_ITER_H_

#include "../pylossfn.h"
#include "pool.h"

typedef struct {
    char *data[LF_EW_NOP];
    const ptrdiff_t *strides[LF_EW_NOP];
    unsigned half; /* lf_elementwise's half_ops and half_kind */
    int half_kind;
    int cost; /* the work of an element for the thread pool (lf_ew_ops_init: 1) */
    lf_pair_fn pair; /* two blocks at once, for lf_pairwise_pairs (init: NULL) */
} lf_ew_ops;

/* One innermost row, as a block function sees it. */
typedef struct {
    char *ptr[LF_EW_NOP];
    ptrdiff_t step[LF_EW_NOP];
    ptrdiff_t base; /* flat C-order index of the row's first element */
    void *user;
    unsigned half; /* the operands stored in half (lf_ew_ops) */
    int half_kind;
} lf_ew_row;

extern const ptrdiff_t lf_zero_strides[LF_MAXDIMS];

/* The operands of `a`, with absent optional inputs pointed at `one` (a T
 * holding 1) and an absent grad_output at `scale` (a T), both with stride 0. */
void lf_ew_ops_init(lf_ew_ops *ops, const lf_elementwise *a, const void *one,
                    const void *scale);

/* Sum of lf_pairwise(fn, row, 0, n) over every innermost row, in C order
 * (lf_pairwise_pairs with ops->pair: the same sum). */
double lf_ew_foreach(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops,
                     lf_block_fn fn, void *user);

/* Like lf_ew_foreach, but the rows are cut into work units of a fixed size
 * (a function of the shape alone) whose sums may be computed by several
 * threads; they are combined in unit order, so the result is bitwise the
 * same whatever the thread count.  fn must be thread-safe. */
double lf_ew_foreach_par(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops,
                         lf_block_fn fn, void *user);

/* Called once per innermost row with the row's pairwise sum; returns what
 * the row adds to the total (and may write a per-row output on the way). */
typedef double (*lf_row_fn)(const lf_ew_row *row, double sum);

/* Like lf_ew_foreach_par for losses with one value per row (the last
 * dimension is reduced): work units hold whole rows, and each row's sum
 * goes through row_fn. */
double lf_ew_foreach_rows(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops,
                          lf_block_fn fn, lf_row_fn row_fn, void *user);

/* Pointer to element i of a row operand, or NULL when the operand is absent. */
static inline char *
lf_row_at(const lf_ew_row *r, int op, ptrdiff_t i)
{
    return r->ptr[op] ? r->ptr[op] + i * r->step[op] : NULL;
}

#endif /* PYLOSSFN_ITER_H_ */
