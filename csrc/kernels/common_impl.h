/*
 * common_impl.h -- helpers shared by every family's body, instantiated with
 * it once per instruction set and dtype (see variants.h).  All static inline:
 * a family that does not use one costs nothing.
 */

/* Element i of the current block of a row operand (`r` an lf_ew_row, `start`
 * the block's first element), and a store through a row output pointer. */
#ifndef LOAD
#define LOAD(op, i) (*(const T *)(r->ptr[op] + ((i) + start) * r->step[op]))
#define STORE(p, op, i, v) (*(T *)((p) + (i) * r->step[op]) = (v))
#endif

/* Elements [start, start + n) of a row operand as a unit-stride array. */
static inline const T *
FN(in_op)(const lf_ew_row *r, int op, ptrdiff_t start, ptrdiff_t n, T *buf)
{
    const ptrdiff_t step = r->step[op];
    const char *p = r->ptr[op] + start * step;
    if (step == (ptrdiff_t)sizeof(T)) {
        return (const T *)p;
    }
    if (step == 0) {
        const T v = *(const T *)p;
        for (ptrdiff_t i = 0; i < n; i++) {
            buf[i] = v;
        }
    }
    else {
        for (ptrdiff_t i = 0; i < n; i++) {
            buf[i] = *(const T *)(p + i * step);
        }
    }
    return buf;
}

/* Where to compute an output: in place when unit-stride, else buf (then
 * FN(out_done) scatters it).  NULL when the operand is absent. */
static inline T *
FN(out_op)(const lf_ew_row *r, int op, ptrdiff_t start, T *buf)
{
    if (!r->ptr[op]) {
        return NULL;
    }
    return r->step[op] == (ptrdiff_t)sizeof(T) ? (T *)(r->ptr[op] + start * r->step[op]) : buf;
}

static inline void
FN(out_done)(const lf_ew_row *r, int op, ptrdiff_t start, ptrdiff_t n, const T *v,
             const T *buf)
{
    if (v != buf) {
        return;
    }
    char *p = r->ptr[op] + start * r->step[op];
    for (ptrdiff_t i = 0; i < n; i++) {
        *(T *)(p + i * r->step[op]) = v[i];
    }
}

/* The eight accumulators of a block sum, combined pairwise.  Every block
 * function of the engine sums its terms into acc[i % 8] and returns this:
 * one summation order for every loss, the order of NumPy's pairwise sum. */
static inline double
FN(sum8)(const double *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Sum in double with eight accumulators, element i into acc[i % 8]. */
static inline double
FN(sum_block)(const T *l, ptrdiff_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; k++) {
            acc[k] += (double)l[i + k];
        }
    }
    for (; i < n; i++) {
        acc[i & 7] += (double)l[i];
    }
    return FN(sum8)(acc);
}
