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

/* The common case of an element-wise row: every present operand unit-stride,
 * except weight, pos_weight and grad_output, which are broadcast (absent, or
 * one value for the row).  Then FN(row_contig) returns a copy of the row with
 * those steps as constants the compiler can see, and a block function
 * declared with LF_EW_BLOCK gets a second, vectorizable copy of its loop
 * (same operations in the same order, so the same bits). */
#ifndef LF_ALWAYS_INLINE
#if defined(__GNUC__)
#define LF_ALWAYS_INLINE __attribute__((always_inline))
#else
#define LF_ALWAYS_INLINE
#endif
#endif

/* A function whose large stack frame must stay its own (not inlined into a
 * caller that would then reserve, and probe, it on every call). */
#ifndef LF_NOINLINE
#if defined(__GNUC__)
#define LF_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define LF_NOINLINE __declspec(noinline)
#else
#define LF_NOINLINE
#endif
#endif

static inline LF_ALWAYS_INLINE int
FN(row_simple)(const lf_ew_row *r)
{
    for (int op = 0; op < LF_EW_NOP; op++) {
        const ptrdiff_t want =
            op == LF_EW_WEIGHT || op == LF_EW_POS_WEIGHT || op == LF_EW_GRAD_OUTPUT
                ? 0
                : (ptrdiff_t)sizeof(T);
        if (r->ptr[op] && r->step[op] != want) {
            return 0;
        }
    }
    return 1;
}

static inline LF_ALWAYS_INLINE lf_ew_row
FN(row_contig)(const lf_ew_row *r)
{
    lf_ew_row c = *r;
    for (int op = 0; op < LF_EW_NOP; op++) {
        c.step[op] = op == LF_EW_WEIGHT || op == LF_EW_POS_WEIGHT || op == LF_EW_GRAD_OUTPUT
                         ? 0
                         : (ptrdiff_t)sizeof(T);
    }
    return c;
}

#ifndef LF_EW_BLOCK
/* `LF_EW_BLOCK(name) { body }` defines the block function FN(name) over an
 * lf_ew_row (the body reads it through LOAD / STORE), compiled three times:
 * for the common case (FN(row_simple), no per-element loss output: a
 * reduced loss; no Hessian) with constant steps, with and without the
 * gradient, so that its loop has no test left in it and vectorizes; and for
 * any layout (the Hessian's calls: boosting, Newton steps). */
#define LF_EW_BLOCK(name)                                                            \
    static inline LF_ALWAYS_INLINE double FN(name##_body)(void *vr, ptrdiff_t start, \
                                                          ptrdiff_t n);              \
    static double FN(name)(void *vr, ptrdiff_t start, ptrdiff_t n)                   \
    {                                                                                \
        const lf_ew_row *r_ = vr;                                                    \
        if (FN(row_simple)(r_) && !r_->ptr[LF_EW_OUT] && !r_->ptr[LF_EW_HESS] &&     \
            !r_->ptr[LF_EW_HESS2]) {                                                 \
            lf_ew_row rc_ = FN(row_contig)(r_);                                      \
            char *g_ = r_->ptr[LF_EW_GRAD];                                          \
            rc_.ptr[LF_EW_OUT] = NULL;                                               \
            rc_.ptr[LF_EW_HESS] = NULL;                                              \
            rc_.ptr[LF_EW_HESS2] = NULL;                                             \
            if (g_) {                                                                \
                rc_.ptr[LF_EW_GRAD] = g_;                                            \
                return FN(name##_body)(&rc_, start, n);                              \
            }                                                                        \
            rc_.ptr[LF_EW_GRAD] = NULL;                                              \
            return FN(name##_body)(&rc_, start, n);                                  \
        }                                                                            \
        return FN(name##_body)(vr, start, n);                                        \
    }                                                                                \
    static inline LF_ALWAYS_INLINE double FN(name##_body)(void *vr, ptrdiff_t start, \
                                                          ptrdiff_t n)
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

/* The largest of x[0, C), C >= 1 (the softmax rows of cross-entropy and of
 * the fused heads' tiles).  gcc will not vectorize a float max
 * reduction without -ffinite-math-only, but it does an integer one: floats
 * map to unsigned integers of the same order (below).  A positive nan orders
 * above inf (so the max is nan), a
 * negative one below -inf; either way the exp-sum that follows is nan. */
static inline T
FN(row_max)(const T *restrict x, ptrdiff_t C)
{
    /* Map each float to an unsigned key that orders as the float does:
     * negatives have every bit flipped, the rest the sign bit set.  All in
     * unsigned arithmetic, so no shift or conversion is implementation-defined. */
    const T_UINT sign = (T_UINT)1 << (8 * sizeof(T) - 1);
    T_UINT best, k;
    memcpy(&best, &x[0], sizeof(T));
    best = (best & sign) ? ~best : (best | sign);
    for (ptrdiff_t c = 1; c < C; c++) {
        memcpy(&k, &x[c], sizeof(T));
        k = (k & sign) ? ~k : (k | sign);
        best = k > best ? k : best;
    }
    best = (best & sign) ? (best ^ sign) : ~best;
    T m;
    memcpy(&m, &best, sizeof(T));
    return m;
}
