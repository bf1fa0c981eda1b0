/*
 * iter.h -- iteration over strided element-wise operands (engine-internal).
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

typedef struct {
    char *data[LF_EW_NOP];
    const ptrdiff_t *strides[LF_EW_NOP];
} lf_ew_ops;

/* One innermost row, as a block function sees it. */
typedef struct {
    char *ptr[LF_EW_NOP];
    ptrdiff_t step[LF_EW_NOP];
    ptrdiff_t base; /* flat C-order index of the row's first element */
    void *user;
} lf_ew_row;

extern const ptrdiff_t lf_zero_strides[LF_MAXDIMS];

/* The operands of `a`, with absent optional inputs pointed at `one` (a T
 * holding 1) and an absent grad_output at `scale` (a T), both with stride 0. */
void lf_ew_ops_init(lf_ew_ops *ops, const lf_elementwise *a, const void *one,
                    const void *scale);

/* Sum of lf_pairwise(fn, row, 0, n) over every innermost row, in C order. */
double lf_ew_foreach(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops,
                     lf_block_fn fn, void *user);

/* Like lf_ew_foreach, but the rows are cut into work units of a fixed size
 * (a function of the shape alone) whose sums may be computed by several
 * threads; they are combined in unit order, so the result is bitwise the
 * same whatever the thread count.  fn must be thread-safe. */
double lf_ew_foreach_par(int ndim, const ptrdiff_t *shape, const lf_ew_ops *ops,
                         lf_block_fn fn, void *user);

/* Pointer to element i of a row operand, or NULL when the operand is absent. */
static inline char *
lf_row_at(const lf_ew_row *r, int op, ptrdiff_t i)
{
    return r->ptr[op] ? r->ptr[op] + i * r->step[op] : NULL;
}

/* ------------------------------------------------------------------------ */
/* Threads (parallel.c)                                                     */
/* ------------------------------------------------------------------------ */

/* Elements per work unit.  Units depend on the shape only, never on the
 * thread count: that is what keeps results bitwise reproducible. */
#define LF_UNIT_ELEMS 16384

/* Below this much work (elements) a call runs on the calling thread alone:
 * waking a worker costs more than it saves. */
#define LF_PAR_MIN_WORK 65536

/* The sum of fn(ctx, u) for u in [0, units), combined with Neumaier
 * compensation in unit order; units run on up to lf_get_num_threads()
 * threads when work >= LF_PAR_MIN_WORK. */
typedef double (*lf_unit_fn)(void *ctx, ptrdiff_t unit);
double lf_parallel_sum(lf_unit_fn fn, void *ctx, ptrdiff_t units, ptrdiff_t work);

/* Pairwise sums of [0, total) cut into units of `unit` items, combined as
 * lf_parallel_sum does.  work = items * cost per item. */
double lf_par_pairwise(lf_block_fn fn, void *ctx, ptrdiff_t total, ptrdiff_t unit,
                       ptrdiff_t work);

/* ------------------------------------------------------------------------ */
/* Instruction sets (reduce.c)                                              */
/* ------------------------------------------------------------------------ */

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#define LF_HAVE_ISA_VARIANTS 1
#else
#define LF_HAVE_ISA_VARIANTS 0
#endif

#ifdef __GNUC__
#define LF_ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LF_ATOMIC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#else /* no threads there (parallel.c); plain accesses are enough */
#define LF_ATOMIC_LOAD(p) (*(p))
#define LF_ATOMIC_STORE(p, v) (*(p) = (v))
#endif

#define LF_CAT_(a, b) a##b
#define LF_CAT(a, b) LF_CAT_(a, b)

/* Kernel variant in use: 2 AVX-512, 1 AVX2 + FMA, 0 baseline. */
int lf_isa(void);

#endif /* PYLOSSFN_ITER_H_ */
