/*
 * common_impl.h -- helpers shared by every family's body, instantiated with
 * it once per instruction set and dtype (see variants.h).  All static inline:
 * a family that does not use one costs nothing.
 */

/* Element i of the current block of a row operand (`r` an lf_ew_row, `start`
 * the block's first element). */
#ifndef LOAD
#define LOAD(op, i) (*(const T *)(r->ptr[op] + ((i) + start) * r->step[op]))
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

/* A point function's view of one element of an element-wise loss, and what
 * it returns (ew_template.h): want & EW_GRAD asks for the gradient(s),
 * want & EW_HESS for the Hessian's diagonal(s). */
#ifndef EW_GRAD
#define EW_GRAD 1
#define EW_HESS 2
#endif

typedef struct {
    T x, y, w, pw, x2, go; /* input, target, weight, pos_weight, input2, grad_output */
} FN(ew_in);

typedef struct {
    T l, g, g2, h, h2; /* loss, gradients, Hessian diagonals */
} FN(ew_out);

/* n elements from p at byte step `step` as a unit-stride array: p itself
 * when unit-stride, else copied into buf. */
static inline const T *
FN(gather)(const char *p, ptrdiff_t step, ptrdiff_t n, T *buf)
{
    if (step == (ptrdiff_t)sizeof(T)) {
        return (const T *)p;
    }
    if (n <= 0) { /* nothing to read: a broadcast operand of no element may
                   * point at no storage at all */
        return buf;
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

#ifdef LF_T_F32
#undef LF_IS_HALF
#define LF_IS_HALF(r, op) ((r)->half >> (op) & 1u)
#else
#undef LF_IS_HALF
#define LF_IS_HALF(r, op) 0
#endif

/* Elements [start, start + n) of a row operand as a unit-stride array; a
 * half operand (float32 kernels only) is widened into buf. */
static inline const T *
FN(in_op)(const lf_ew_row *r, int op, ptrdiff_t start, ptrdiff_t n, T *buf)
{
    const ptrdiff_t step = r->step[op];
    const char *p = r->ptr[op] + start * step;
#ifdef LF_T_F32
    if (LF_IS_HALF(r, op)) {
        lf_half_widen_run(r->half_kind == LF_HALF_BF16, p, step, buf, n);
        return buf;
    }
#endif
    return FN(gather)(p, step, n, buf);
}

/* Where to compute an output: in place when unit-stride, else buf (then
 * FN(out_done) scatters it, narrowing a half output).  NULL when the
 * operand is absent. */
static inline T *
FN(out_op)(const lf_ew_row *r, int op, ptrdiff_t start, T *buf)
{
    if (!r->ptr[op]) {
        return NULL;
    }
    return r->step[op] == (ptrdiff_t)sizeof(T) && !LF_IS_HALF(r, op)
               ? (T *)(r->ptr[op] + start * r->step[op])
               : buf;
}

static inline void
FN(out_done)(const lf_ew_row *r, int op, ptrdiff_t start, ptrdiff_t n, const T *v,
             const T *buf)
{
    if (v != buf) {
        return;
    }
    char *p = r->ptr[op] + start * r->step[op];
#ifdef LF_T_F32
    if (LF_IS_HALF(r, op)) {
        lf_half_narrow_run(r->half_kind == LF_HALF_BF16, buf, p, r->step[op], n);
        return;
    }
#endif
    for (ptrdiff_t i = 0; i < n; i++) {
        *(T *)(p + i * r->step[op]) = v[i];
    }
}

/* Sample (n, s)'s loss l into the class view's `out`, when there is one. */
static inline void
FN(store_out)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, T l)
{
    if (a->out) {
        char *p = a->out + n * a->out_n + s * a->out_s;
#ifdef LF_T_F32
        if (a->half_kind) {
            lf_half_narrow_run(a->half_kind == LF_HALF_BF16, &l, p, a->out_s, 1);
            return;
        }
#endif
        *(T *)(void *)p = l;
    }
}

/* The class view's element at p of its input, and a gradient element put at
 * p: half ones (a->half_kind, float32 kernels) widened and narrowed. */
static inline T
FN(class_get)(const lf_classes *a, const char *p)
{
#ifdef LF_T_F32
    if (a->half_kind) {
        T v;
        lf_half_widen_run(a->half_kind == LF_HALF_BF16, p, sizeof(uint16_t), &v, 1);
        return v;
    }
#else
    (void)a;
#endif
    return *(const T *)(const void *)p;
}

static inline void
FN(class_put)(const lf_classes *a, char *p, T v)
{
#ifdef LF_T_F32
    if (a->half_kind) {
        lf_half_narrow_run(a->half_kind == LF_HALF_BF16, &v, p, sizeof(uint16_t), 1);
        return;
    }
#else
    (void)a;
#endif
    *(T *)(void *)p = v;
}

/* The bytes of one gradient element of the class view (half or T). */
static inline size_t
FN(grad_size)(const lf_classes *a)
{
    return a->half_kind ? sizeof(uint16_t) : sizeof(T);
}

/* Zeros into sample (n, s)'s gradient row of the class view. */
static inline void
FN(zero_grad_row)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s)
{
    /* all-zero bits are +0 in every format, half ones too */
    const size_t size = FN(grad_size)(a);
    for (ptrdiff_t c = 0; c < a->C; c++) {
        memset(a->grad + n * a->g_n + c * a->g_c + s * a->g_s, 0, size);
    }
}

/* An ignored sample (n, s) of the class view: loss 0 and a zero gradient row. */
static inline void
FN(ignore_sample)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s)
{
    FN(store_out)(a, n, s, 0);
    if (a->grad) {
        FN(zero_grad_row)(a, n, s);
    }
}

/* The most threads a staged class kernel may run on: a->stage's slots (its
 * pool call is lf_par_pairwise_slots(..., LF_STAGE_SLOTS(a)); a float64 or
 * unstaged call has none), else any. */
#ifndef LF_STAGE_SLOTS
#define LF_STAGE_SLOTS(a) ((a)->stage != NULL ? (a)->stage_slots : LF_MAX_THREADS)
#endif

#ifdef LF_T_F32
/* A half sample (n, s) of a class view staged (a->half_kind; float32
 * kernels, no Hessian): its input row (and its probability-target row when
 * a->half_target) widened into unit-stride float32 rows, the gradient
 * computed into a third, then narrowed into the half gradient.  The rows are
 * on the caller's stack (FN(stage_rows), C <= LF_CE_HALF_C), or for longer
 * rows in the running thread's slot of a->stage.  A sample function given
 * `v` computes the unit-stride float32 sample it now is, so the bits are
 * those of widening the whole input first and narrowing the whole float32
 * gradient after, without those copies; class indices, weights and
 * grad_output are read where they are.  The caller writes the sample's loss
 * with FN(store_out) on the half view. */
typedef struct {
    T x[LF_CE_HALF_C], t[LF_CE_HALF_C], g[LF_CE_HALF_C];
} FN(stage_rows);

typedef struct {
    lf_classes v;
    T *x, *t, *g;
} FN(class_stage);

/* Row k (of LF_STAGE_ROWS, each of len floats) of the running thread's
 * slot in a call's stage (lf_classes.stage, lf_multilabel.stage,
 * lf_dice.stage: the call runs on at most its stage_slots threads, each
 * with its own slot), or `stack`, a row on the caller's stack, when the
 * call has no stage (rows of at most LF_CE_HALF_C). */
static inline T *
FN(stage_buf)(float *stage, ptrdiff_t len, int k, T *stack)
{
    return stage != NULL ? (T *)stage + ((ptrdiff_t)lf_pool_slot() * LF_STAGE_ROWS + k) * len
                         : stack;
}

static inline void
FN(stage_init)(FN(class_stage) *st, const lf_classes *a, FN(stage_rows) *rows)
{
    st->x = FN(stage_buf)(a->stage, a->C, 0, rows->x);
    st->t = FN(stage_buf)(a->stage, a->C, 1, rows->t);
    st->g = FN(stage_buf)(a->stage, a->C, 2, rows->g);
    st->v = *a;
    st->v.half_kind = 0;
    st->v.half_target = 0;
    st->v.stage = NULL;
    st->v.input = (const char *)st->x;
    st->v.in_n = st->v.in_s = 0;
    st->v.in_c = (ptrdiff_t)sizeof(T);
    if (a->half_target) {
        st->v.target = (const char *)st->t;
        st->v.t_n = st->v.t_s = 0;
        st->v.t_c = (ptrdiff_t)sizeof(T);
    }
    if (a->grad) {
        st->v.grad = (char *)st->g;
        st->v.g_n = st->v.g_s = 0;
        st->v.g_c = (ptrdiff_t)sizeof(T);
    }
    st->v.out = NULL;
    st->v.hess = NULL;
    st->v.vec = NULL;
}

static inline void
FN(stage_row)(FN(class_stage) *st, const lf_classes *a, ptrdiff_t n, ptrdiff_t s)
{
    const int bf16 = a->half_kind == LF_HALF_BF16;
    lf_half_widen_run(bf16, a->input + n * a->in_n + s * a->in_s, a->in_c, st->x, a->C);
    if (a->half_target) {
        lf_half_widen_run(bf16, a->target + n * a->t_n + s * a->t_s, a->t_c, st->t, a->C);
    }
}

static inline void
FN(stage_done)(const FN(class_stage) *st, const lf_classes *a, ptrdiff_t n, ptrdiff_t s)
{
    if (a->grad) {
        lf_half_narrow_run(a->half_kind == LF_HALF_BF16, st->g,
                           a->grad + n * a->g_n + s * a->g_s, a->g_c, a->C);
    }
}
#endif

/* H v of k * logsumexp at a row, k (p o v - p (p . v)) = k (diag(p) - p p^T) v:
 * h (byte step hs) holds p on entry and takes the product; v at byte step vs. */
static inline void
FN(softmax_hvp)(char *h, ptrdiff_t hs, const char *v, ptrdiff_t vs, ptrdiff_t C, T k)
{
    double pv = 0.0;
    for (ptrdiff_t c = 0; c < C; c++) {
        pv += (double)(*(const T *)(h + c * hs) * *(const T *)(v + c * vs));
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        T *hc = (T *)(h + c * hs);
        const T vc = *(const T *)(v + c * vs);
        *hc = k * (*hc * vc - *hc * (T)pv);
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

/* A block [start, start + count) of the samples (n, s) = (j / S, j % S) of a
 * class view, the block idiom of the class kernels: row(ctx, v, n, s)
 * computes a sample of the view v and returns its loss, which goes into the
 * output and the block's sum here.  v is the view itself, or for a half
 * input (a->half_kind; float32 kernels) the float32 view of the sample staged
 * on the stack (FN(class_stage): unit-stride rows, the gradient narrowed
 * after).  With `ignore`, a sample whose class index is a->ignore_index is
 * zeroed instead (FN(ignore_sample)), unstaged.  Always inlined, so a
 * sample function the caller inlines too (multi-margin's, whose rows are
 * short) is no call through a pointer a sample. */
typedef T (*FN(row_fn))(const void *ctx, const lf_classes *v, ptrdiff_t n, ptrdiff_t s);

static inline LF_ALWAYS_INLINE double
FN(class_rows)(const void *ctx, const lf_classes *a, ptrdiff_t start, ptrdiff_t count,
               FN(row_fn) row, int ignore)
{
#ifdef LF_T_F32
    FN(stage_rows) rows;
    FN(class_stage) st;
    memset(&st, 0, sizeof(st)); /* (set below when staged: for gcc's flow analysis) */
    const int staged = a->half_kind != 0;
    if (staged) {
        FN(stage_init)(&st, a, &rows);
    }
#endif
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    /* sample j is (n, s) = (j / S, j % S): one division a block, not a sample
     * (none when the block is empty: S may be 0) */
    ptrdiff_t n = count > 0 ? start / a->S : 0, s = count > 0 ? start % a->S - 1 : 0;
    for (ptrdiff_t j = start; j < start + count; j++) {
        if (++s == a->S) {
            s = 0;
            n++;
        }
        if (ignore &&
            *(const int64_t *)(a->target + n * a->t_n + s * a->t_s) == a->ignore_index) {
            FN(ignore_sample)(a, n, s);
            continue;
        }
        T l;
#ifdef LF_T_F32
        if (staged) {
            FN(stage_row)(&st, a, n, s);
            l = row(ctx, &st.v, n, s);
            FN(stage_done)(&st, a, n, s);
        }
        else
#endif
        {
            l = row(ctx, a, n, s);
        }
        acc[j & 7] += (double)l;
        FN(store_out)(a, n, s, l);
    }
    return FN(sum8)(acc);
}

/* Elements [from, n) of l added to acc, element i into acc[i % 8], n - from
 * a multiple of 8 (no tail: acc stays in registers). */
static inline LF_ALWAYS_INLINE void
FN(sum_steps)(const T *restrict l, ptrdiff_t from, ptrdiff_t n, double *restrict acc)
{
    for (ptrdiff_t i = from; i < n; i += 8) {
        for (int k = 0; k < 8; k++) {
            acc[k] += (double)l[i + k];
        }
    }
}

/* Sum in double with eight accumulators, element i into acc[i % 8].  A whole
 * block (the common case) is summed with a constant trip count, a loop gcc
 * unrolls completely; the same order, so the same bits. */
static inline double
FN(sum_block)(const T *l, ptrdiff_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const ptrdiff_t m = n & ~(ptrdiff_t)7;
    if (m == LF_PAIRWISE_BLOCK) {
        FN(sum_steps)(l, 0, LF_PAIRWISE_BLOCK, acc);
    }
    else {
        FN(sum_steps)(l, 0, m, acc);
    }
    for (ptrdiff_t i = m; i < n; i++) {
        acc[i & 7] += (double)l[i];
    }
    return FN(sum8)(acc);
}

/* The first pass of a softmax row (cross-entropy, Dice): sum_c exp(x_c - m) into acc and,
 * with label smoothing, sum_c w_c (x_c - m) into sx (lane k takes classes
 * c = k mod L; the caller adds the lanes in order).  exp(x_c - m) is stored
 * in g when given.  The flags are constants at every call, so each of the
 * eight copies gcc makes of this loop has no test left in it. */
#ifndef LF_CE_L
#define LF_CE_L 16 /* lanes of a cross-entropy row's sums */
#endif
static inline LF_ALWAYS_INLINE void
FN(ce_pass)(const T *restrict x, T *restrict g, const T *restrict w, T m, ptrdiff_t C,
            double *restrict acc, double *restrict sx, const int want_g, const int smooth,
            const int weighted)
{
    enum { L = LF_CE_L };
    ptrdiff_t c = 0;
    for (; c + L <= C; c += L) {
        for (int k = 0; k < L; k++) {
            const T d = x[c + k] - m;
            const T e = V(exp)(d);
            if (want_g) {
                g[c + k] = e;
            }
            acc[k] += (double)e;
            if (smooth) {
                sx[k] += (double)(weighted ? w[c + k] * d : d);
            }
        }
    }
    if (c < C) {
        /* the last C mod L classes as one more lane-wide step, padded with
         * lanes whose exp is 0 and whose smoothing term is 0 (a short row,
         * C < L, would otherwise be all scalar code) */
        const ptrdiff_t rest = C - c;
        T xb[L], wb[L], eb[L];
        for (int k = 0; k < L; k++) {
            xb[k] = k < rest ? x[c + k] - m : (T)-INFINITY;
            wb[k] = weighted && k < rest ? w[c + k] : (T)0;
        }
        for (int k = 0; k < L; k++) {
            const T d = xb[k];
            const T e = V(exp)(d);
            eb[k] = e;
            acc[k] += (double)e;
            if (smooth) {
                const T term = weighted ? wb[k] * d : d;
                sx[k] += (double)(k < rest ? term : (T)0);
            }
        }
        if (want_g) {
            memcpy(g + c, eb, (size_t)rest * sizeof(T));
        }
    }
}

/* FN(ce_pass) of a row with or without smoothing and weights, each of its
 * calls with constant flags (want_g is a constant at every call of this):
 * gcc makes six loops without a test in them. */
static inline LF_ALWAYS_INLINE void
FN(ce_passes)(const T *restrict x, T *restrict g, const T *restrict w, T m, ptrdiff_t C,
              double *restrict acc, double *restrict sx, const int want_g, const int smooth)
{
    if (!smooth) {
        FN(ce_pass)(x, g, w, m, C, acc, sx, want_g, 0, 0);
    }
    else if (w) {
        FN(ce_pass)(x, g, w, m, C, acc, sx, want_g, 1, 1);
    }
    else {
        FN(ce_pass)(x, g, w, m, C, acc, sx, want_g, 1, 0);
    }
}

/* sum_c exp(x_c - m) over a unit-stride row of C (FN(ce_pass)'s lanes
 * added in order), each exp(x_c - m) stored in e with `want_e` (a
 * constant at every call). */
static inline LF_ALWAYS_INLINE double
FN(exp_row_sum)(const T *restrict x, T *restrict e, T m, ptrdiff_t C, const int want_e)
{
    double acc[LF_CE_L];
    for (int k = 0; k < LF_CE_L; k++) {
        acc[k] = 0.0;
    }
    if (want_e) {
        FN(ce_pass)(x, e, NULL, m, C, acc, NULL, 1, 0, 0);
    }
    else {
        FN(ce_pass)(x, NULL, NULL, m, C, acc, NULL, 0, 0, 0);
    }
    double sum = 0.0;
    for (int k = 0; k < LF_CE_L; k++) {
        sum += acc[k];
    }
    return sum;
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
