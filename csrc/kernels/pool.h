/*
 * pool.h -- deterministic parallel sums on a small pool of worker threads
 * (engine-internal; pool.c).
 *
 * Work comes as numbered units whose partition depends on the shape alone,
 * never on the thread count, and the units' sums are combined in unit order:
 * that is what keeps results bitwise the same for every thread count.
 */
#ifndef PYLOSSFN_POOL_H_
#define PYLOSSFN_POOL_H_

#include "../pylossfn.h"

/* The most threads a call runs on (PYLOSSFN_NUM_THREADS is capped there). */
#define LF_MAX_THREADS 64

/* Elements per work unit. */
#define LF_UNIT_ELEMS 16384

/* Rows of len elements per work unit: about LF_UNIT_ELEMS elements, at
 * least one row (a function of the shape alone). */
static inline ptrdiff_t
lf_unit_rows(ptrdiff_t len)
{
    const ptrdiff_t c = len > 0 ? len : 1;
    return LF_UNIT_ELEMS / c > 0 ? LF_UNIT_ELEMS / c : 1;
}

/* Below this much work (elements) a call runs on the calling thread alone:
 * waking a worker costs more than it saves. */
#define LF_PAR_MIN_WORK 65536

/* The work of an element of the softmax losses, in elements of a plain
 * element-wise loss (about 0.3 ns each): a row's exp pass and its
 * gradient's cost that many times more, so a 256 x 100 batch (about 25 us
 * on one core) is worth the second thread.  Scheduling only: the units,
 * and so the bits, depend on the shape alone. */
#define LF_WORK_SOFTMAX 3
#define LF_WORK_TRANSC 3 /* an element-wise loss with an exp or log (LF_EW_TRANSC) */
#define LF_WORK_SOFTMAX_PROBS 4
#define LF_WORK_DISTILL 8

/* The sum of fn(ctx, u) for u in [0, units), combined with Neumaier
 * compensation in unit order; units run on up to lf_get_num_threads()
 * threads when work >= LF_PAR_MIN_WORK.  fn must be thread-safe. */
typedef double (*lf_unit_fn)(void *ctx, ptrdiff_t unit);
double lf_parallel_sum(lf_unit_fn fn, void *ctx, ptrdiff_t units, ptrdiff_t work);
/* lf_parallel_sum on at most `slots` threads (as lf_par_pairwise_slots). */
double lf_parallel_sum_slots(lf_unit_fn fn, void *ctx, ptrdiff_t units, ptrdiff_t work,
                             int slots);

/* Pairwise sums of [0, total) cut into units of `unit` items, combined as
 * lf_parallel_sum does.  work = items * cost per item. */
double lf_par_pairwise(lf_block_fn fn, void *ctx, ptrdiff_t total, ptrdiff_t unit,
                       ptrdiff_t work);

/* lf_par_pairwise on at most `slots` threads (the caller's and slots - 1
 * workers), so that a block can use the caller's scratch of the thread that
 * runs it: slot lf_pool_slot() of `slots`, never a buffer on its own stack
 * (a Python thread may have 128 KiB of it, or less).  The units, and so the
 * bits, are the same for every slot count. */
double lf_par_pairwise_slots(lf_block_fn fn, void *ctx, ptrdiff_t total, ptrdiff_t unit,
                             ptrdiff_t work, int slots);

/* The running thread's slot in the job it works on: 0 for the calling
 * thread (and outside a job), 1 + its id for a worker. */
int lf_pool_slot(void);

#endif /* PYLOSSFN_POOL_H_ */
