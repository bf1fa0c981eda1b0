/*
 * margin_impl.h -- the body of margin.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Both losses read a strided [N, C] view (lf_classes with S = 1) of scores
 * and class targets that lf_margin_check() has validated.  Per sample, as
 * torch's LossMultiMargin.cpp / LossMultiLabelMargin.cpp:
 *
 * multi-margin, target t:
 *   l = sum_{c != t} w[t] max(0, margin - x_t + x_c)^p / C
 *   dl/dx_c = w[t] (p == 1 ? 1 : 2 z_c) / C  where z_c > 0 (else 0),
 *   dl/dx_t = -sum_c dl/dx_c
 * multi-label margin, targets t_1, t_2, ... up to the first negative entry,
 * over the classes c that are not targets:
 *   l = sum_j sum_{c not a target} max(0, 1 - x_{t_j} + x_c) / C
 *   each active term adds 1/C to dl/dx_c and -1/C to dl/dx_{t_j}
 * A term at exactly z = 0 contributes nothing, to the loss or the gradient,
 * as in torch (its kernels test z > 0).
 * Second derivatives: 0 for p = 1 and the multi-label margin (piecewise
 * linear: the zeroed output is left alone); for p = 2 each active term adds
 * 2 w[t] / C to d2l/dx_c2 and to d2l/dx_t2 (and -2 w[t] / C off the
 * diagonal, at (c, t): the hvp's, in Python).
 */

#define AT2(base, n, c, pre) ((base) + (n) * a->pre##_n + (c) * a->pre##_c)
#define X(n, c) (*(const T *)AT2(a->input, n, c, in))
#define W(c) (a->weight ? (double)*(const T *)(a->weight + (c) * a->w_c) : 1.0)
#define GO(n) \
    (a->grad_output ? (double)*(const T *)(a->grad_output + (n) * a->go_n) : a->scale)
#define GRAD(n, c) (*(T *)AT2(a->grad, n, c, g))

/* Classes up to this many: the multi-label margin's target marks live on the
 * stack of each block, so rows run on the thread pool. */
#define LF_MLM_STACK 16384
/* Classes up to this many: a row's sorted targets (FN(mlm_sorted)) live on
 * the stack too (under 400 KiB: the pool's threads have at least 1 MiB, and
 * a call starts with at least 1 MiB left, binding/stack.c). */
#define LF_MLM_SORT 8192

typedef struct {
    const lf_classes *a;
    int p;
    double margin;
    unsigned char *work;
} FN(margin_ctx);

/* One span of a multi-margin row (x with step sx, the gradient gr with step
 * sg), every class in it other than the target: with base = margin - x_t,
 * z = base + x_c, the active terms z > 0 add z (p = 1) or z^2 (p = 2) to
 * acc_l and, with the gradient, their dl/dx_c = g (p = 1) or 2 g z (p = 2)
 * to acc_g (whose sum is -dl/dx_t) and to gr[c].  Selects, not branches
 * (z > 0 is a coin toss), eight accumulators continuing across the spans of
 * the row (its i-th non-target class into acc[i % 8]): one order fixed by the
 * row, the same for every layout, and with constant unit steps the loop
 * vectorizes.  Returns the lane the next span starts at. */
#define LF_MM_LOSS(i, k)                                                         \
    do {                                                                         \
        const T z = base + *(const T *)(x + (i) * sx);                           \
        const double zd = (double)z;                                             \
        acc_l[k] += z > 0 ? (p1 ? zd : zd * zd) : 0.0;                           \
    } while (0)
#define LF_MM_GRAD(i, k)                                                         \
    do {                                                                         \
        const T z = base + *(const T *)(x + (i) * sx);                           \
        const double h = z > 0 ? (p1 ? g : 2.0 * g * (double)z) : 0.0;           \
        acc_g[k] += h;                                                           \
        *(T *)(gr + (i) * sg) = (T)h;                                            \
    } while (0)
#define LF_MM_TERM(i, k)         \
    do {                         \
        LF_MM_LOSS(i, k);        \
        if (grad) {              \
            LF_MM_GRAD(i, k);    \
        }                        \
    } while (0)

static inline LF_ALWAYS_INLINE ptrdiff_t
FN(mm_span)(const char *x, ptrdiff_t sx, char *gr, ptrdiff_t sg, ptrdiff_t n, ptrdiff_t lane,
            T base, int p1, double g, int grad, double *restrict acc_l,
            double *restrict acc_g)
{
    ptrdiff_t i = 0;
    for (; i < n && (lane & 7) != 0; i++, lane++) {
        LF_MM_TERM(i, lane & 7);
    }
    /* from here term i goes to lane i - i0 (mod 8) = 0, 1, ... */
    x += i * sx;
    if (grad) {
        gr += i * sg;
    }
    n -= i;
    /* the loss's lanes, then the gradient's: one accumulator array a loop,
     * which is what gcc vectorizes (each sum keeps its order) */
    const ptrdiff_t n8 = n & ~(ptrdiff_t)7;
    for (ptrdiff_t j = 0; j < n8; j += 8) {
        for (int k = 0; k < 8; k++) {
            LF_MM_LOSS(j + k, k);
        }
    }
    for (ptrdiff_t j = 0; grad && j < n8; j += 8) {
        for (int k = 0; k < 8; k++) {
            LF_MM_GRAD(j + k, k);
        }
    }
    for (ptrdiff_t j = n8; j < n; j++) {
        LF_MM_TERM(j, j & 7);
    }
    return lane + n;
}

#undef LF_MM_LOSS
#undef LF_MM_GRAD
#undef LF_MM_TERM

/* A row: the classes before the target, then those after it; *gsum is
 * -dl/dx_t. */
static inline LF_ALWAYS_INLINE void
FN(mm_row)(const char *x, ptrdiff_t sx, char *gr, ptrdiff_t sg, ptrdiff_t C, ptrdiff_t t,
           T margin, int p1, double g, int grad, double *sum, double *gsum)
{
    double acc_l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double acc_g[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const T base = margin - *(const T *)(x + t * sx);
    const ptrdiff_t lane = FN(mm_span)(x, sx, gr, sg, t, 0, base, p1, g, grad, acc_l, acc_g);
    (void)FN(mm_span)(x + (t + 1) * sx, sx, grad ? gr + (t + 1) * sg : gr, sg, C - t - 1, lane,
                      base, p1, g, grad, acc_l, acc_g);
    *sum = FN(sum8)(acc_l);
    *gsum = FN(sum8)(acc_g);
}

/* The Hessian of row n of the squared hinge (p = 2), base = margin - x_t:
 * each active square (z_c = base + x_c > 0, c != t) is h2 / 2 (x_c - x_t)^2
 * plus a linear term, so it adds h2 to d2/dx_c2 and d2/dx_t2 and -h2 to
 * d2/dx_c dx_t.  Its diagonal into hess, or H vec when vec is given. */
static void
FN(mm_hess)(const lf_classes *a, ptrdiff_t n, int64_t t, T base, double h2)
{
    const double vt = a->vec ? (double)*(const T *)AT2(a->vec, n, t, g) : 0.0;
    double ht = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        if (c != t && base + X(n, c) > 0) {
            /* H v couples x_c and x_t: h2 (v_c - v_t), and its opposite at t */
            const double hc = a->vec ? h2 * ((double)*(const T *)AT2(a->vec, n, c, g) - vt) : h2;
            *(T *)AT2(a->hess, n, c, g) = (T)hc;
            ht += a->vec ? -hc : h2;
        }
    }
    *(T *)AT2(a->hess, n, t, g) = (T)ht;
}

/* Row n of the multi-margin loss: its gradient (and Hessian) row, and its
 * value. */
static inline LF_ALWAYS_INLINE T
FN(multi_margin_row)(const FN(margin_ctx) *ctx, const lf_classes *a, ptrdiff_t n)
{
    const ptrdiff_t C = a->C;
    const T margin = (T)ctx->margin;
    /* unit-stride rows (gradient too): FN(mm_row) */
    const int contig =
        a->in_c == (ptrdiff_t)sizeof(T) && (!a->grad || a->g_c == (ptrdiff_t)sizeof(T));
    const int64_t t = *(const int64_t *)(a->target + n * a->t_n);
    const T xt = X(n, t);
    const double wt = W(t);
    double sum = 0.0;
    const int p1 = ctx->p == 1;
    /* loss and gradient in one pass */
    const char *x = AT2(a->input, n, 0, in);
    const ptrdiff_t tt = (ptrdiff_t)t, u = (ptrdiff_t)sizeof(T);
    double gs = 0.0;
    if (a->grad) {
        const double g = GO(n) * wt / (double)C;
        char *gr = AT2(a->grad, n, 0, g);
        if (contig && p1) {
            FN(mm_row)(x, u, gr, u, C, tt, margin, 1, g, 1, &sum, &gs);
        }
        else if (contig) {
            FN(mm_row)(x, u, gr, u, C, tt, margin, 0, g, 1, &sum, &gs);
        }
        else {
            FN(mm_row)(x, a->in_c, gr, a->g_c, C, tt, margin, p1, g, 1, &sum, &gs);
        }
        GRAD(n, t) = (T)(-gs);
    }
    else if (contig && p1) {
        FN(mm_row)(x, u, NULL, 0, C, tt, margin, 1, 0.0, 0, &sum, &gs);
    }
    else if (contig) {
        FN(mm_row)(x, u, NULL, 0, C, tt, margin, 0, 0.0, 0, &sum, &gs);
    }
    else {
        FN(mm_row)(x, a->in_c, NULL, 0, C, tt, margin, p1, 0.0, 0, &sum, &gs);
    }
    if (a->hess && ctx->p == 2) {
        FN(mm_hess)(a, n, t, margin - xt, 2.0 * GO(n) * wt / (double)C);
    }
    return (T)(wt * sum / (double)C);
}

static inline LF_ALWAYS_INLINE T
FN(multi_margin_sample)(const void *ctx, const lf_classes *v, ptrdiff_t n, ptrdiff_t s)
{
    (void)s; /* S = 1 */
    return FN(multi_margin_row)(ctx, v, n);
}

static double
FN(multi_margin_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(margin_ctx) *ctx = vc;
    return FN(class_rows)(ctx, ctx->a, start, count, FN(multi_margin_sample), 0);
}

static double
FN(multi_margin)(const lf_classes *a, int p, double margin)
{
    FN(margin_ctx) ctx = {a, p, margin, NULL};
    /* rows are independent: units of about LF_UNIT_ELEMS elements on the pool
     * (fixed by the shape, so the sum is the same for every thread count) */
    const ptrdiff_t unit = a->C > 0 && a->C < LF_UNIT_ELEMS ? LF_UNIT_ELEMS / a->C : 1;
    return lf_par_pairwise_slots(FN(multi_margin_block), &ctx, a->N, unit, a->N * (a->C + 1),
                                 LF_STAGE_SLOTS(a));
}

/* The buffers of FN(mlm_sorted), one set per block. */
typedef struct {
    T_UINT key[2][LF_MLM_SORT];
    int32_t idx[2][LF_MLM_SORT];
    T om[LF_MLM_SORT];            /* 1 - x_t of the sorted targets */
    double pre[LF_MLM_SORT + 1];  /* prefix sums of om */
    int32_t hist[LF_MLM_SORT + 1]; /* how many classes have each count */
} FN(mlm_buf);

/* Sort key[0..n) ascending (least significant byte first, 8 bits a pass,
 * idx carried along); returns which of the two buffers holds the result. */
static int
FN(radix_sort)(FN(mlm_buf) *b, ptrdiff_t n)
{
    int src = 0;
    if (n <= 32) {
        /* a few targets: a (stable) insertion sort in place costs less than
         * the radix passes' 257-entry histograms */
        for (ptrdiff_t i = 1; i < n; i++) {
            const T_UINT key = b->key[0][i];
            const int32_t idx = b->idx[0][i];
            ptrdiff_t j = i;
            for (; j > 0 && b->key[0][j - 1] > key; j--) {
                b->key[0][j] = b->key[0][j - 1];
                b->idx[0][j] = b->idx[0][j - 1];
            }
            b->key[0][j] = key;
            b->idx[0][j] = idx;
        }
        return 0;
    }
    for (unsigned shift = 0; shift < 8 * sizeof(T); shift += 8) {
        ptrdiff_t count[257];
        memset(count, 0, sizeof(count));
        for (ptrdiff_t i = 0; i < n; i++) {
            count[((b->key[src][i] >> shift) & 0xff) + 1]++;
        }
        int trivial = 0;
        for (int d = 1; d < 257; d++) {
            trivial |= count[d] == n;
            count[d] += count[d - 1];
        }
        if (trivial) { /* every key has this byte in common */
            continue;
        }
        for (ptrdiff_t i = 0; i < n; i++) {
            const ptrdiff_t j = count[(b->key[src][i] >> shift) & 0xff]++;
            b->key[1 - src][j] = b->key[src][i];
            b->idx[1 - src][j] = b->idx[src][i];
        }
        src = 1 - src;
    }
    return src;
}

/* One multi-label margin row of finite scores with C <= LF_MLM_SORT,
 * targets trow[0, k), in O(C log k) instead of O(k C): with the targets'
 * om_r = 1 - x_t sorted descending, z = om_r + x_c > 0 (in T, as torch) holds
 * for the first cnt_c of them, found by bisection (rounding is monotone);
 * then class c's terms sum to cnt_c x_c + sum_{r < cnt_c} om_r, its
 * gradient is cnt_c g, and target r's gradient is -g times the number of
 * classes with cnt_c > r.  Returns the sum of the row's terms. */
static double
FN(mlm_sorted)(const lf_classes *a, ptrdiff_t n, const char *trow, ptrdiff_t k,
               const unsigned char *is_target, double g, FN(mlm_buf) *b)
{
    const ptrdiff_t C = a->C;
    const T_UINT sign = (T_UINT)1 << (8 * sizeof(T) - 1);
    for (ptrdiff_t j = 0; j < k; j++) {
        const int64_t t = *(const int64_t *)(trow + j * a->t_c);
        const T xt = X(n, t);
        T_UINT u;
        memcpy(&u, &xt, sizeof(T));
        b->key[0][j] = (u & sign) ? ~u : (u | sign); /* orders as the floats do */
        b->idx[0][j] = (int32_t)t;
    }
    const int src = FN(radix_sort)(b, k);
    /* x_t ascending, so om_r descending */
    b->pre[0] = 0.0;
    for (ptrdiff_t r = 0; r < k; r++) {
        T_UINT u = b->key[src][r];
        u = (u & sign) ? (u ^ sign) : ~u;
        T xt;
        memcpy(&xt, &u, sizeof(T));
        b->om[r] = (T)1 - xt;
        b->pre[r + 1] = b->pre[r] + (double)b->om[r];
        b->hist[r] = 0;
    }
    b->hist[k] = 0;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t c = 0; c < C; c++) {
        if (is_target[c]) {
            if (a->grad) {
                GRAD(n, c) = 0;
            }
            continue;
        }
        const T xc = X(n, c);
        /* branch-free bisection: the count is in [lo, lo + len] */
        ptrdiff_t lo = 0, len = k;
        while (len > 1) {
            const ptrdiff_t half = len / 2;
            const T z = b->om[lo + half - 1] + xc;
            lo = z > 0 ? lo + half : lo;
            len -= half;
        }
        if (len == 1) {
            const T z = b->om[lo] + xc;
            lo += z > 0;
        }
        acc[c & 7] += (double)lo * (double)xc + b->pre[lo];
        b->hist[lo]++;
        if (a->grad) {
            GRAD(n, c) = (T)((double)lo * g);
        }
    }
    if (a->grad) {
        /* target r is active for the classes with cnt_c > r */
        ptrdiff_t m = 0;
        for (ptrdiff_t r = k - 1; r >= 0; r--) {
            m += b->hist[r + 1];
            const int32_t t = b->idx[src][r];
            GRAD(n, t) = (T)((double)GRAD(n, t) - (double)m * g);
        }
    }
    return FN(sum8)(acc);
}

/* Row n of the multi-label margin loss: its gradient row and its value;
 * is_target has room for the C class marks, buf is NULL above LF_MLM_SORT
 * classes. */
static T
FN(multilabel_margin_row)(const lf_classes *a, ptrdiff_t n, unsigned char *is_target,
                          FN(mlm_buf) *buf)
{
    const ptrdiff_t C = a->C;
    const char *trow = a->target + n * a->t_n;
    ptrdiff_t k = 0; /* targets before the first negative entry */
    memset(is_target, 0, (size_t)C);
    for (; k < C; k++) {
        const int64_t t = *(const int64_t *)(trow + k * a->t_c);
        if (t < 0) {
            break;
        }
        is_target[t] = 1;
    }
    const double g = a->grad ? GO(n) / (double)C : 0.0;
    int finite = buf != NULL;
    for (ptrdiff_t c = 0; finite && c < C; c++) {
        finite = isfinite(X(n, c));
    }
    double sum = 0.0;
    if (finite) {
        sum = FN(mlm_sorted)(a, n, trow, k, is_target, g, buf);
    }
    else if (a->grad) {
        for (ptrdiff_t c = 0; c < C; c++) {
            GRAD(n, c) = 0;
        }
    }
    for (ptrdiff_t j = 0; !finite && j < k; j++) {
        const int64_t t = *(const int64_t *)(trow + j * a->t_c);
        const T xt = X(n, t);
        double gt = 0.0;
        for (ptrdiff_t c = 0; c < C; c++) {
            if (is_target[c]) {
                continue;
            }
            const T z = ((T)1 - xt) + X(n, c);
            if (z > 0) {
                sum += (double)z;
                if (a->grad) {
                    GRAD(n, c) = (T)((double)GRAD(n, c) + g);
                    gt -= g;
                }
            }
        }
        if (a->grad) {
            GRAD(n, t) = (T)((double)GRAD(n, t) + gt);
        }
    }
    return (T)(sum / (double)C);
}

/* What a multi-label margin row needs besides its view (FN(class_rows)). */
typedef struct {
    unsigned char *is_target;
    FN(mlm_buf) *buf;
} FN(mlm_stage);

static inline LF_ALWAYS_INLINE T
FN(multilabel_margin_sample)(const void *vs, const lf_classes *v, ptrdiff_t n, ptrdiff_t s)
{
    const FN(mlm_stage) *ms = vs;
    (void)s; /* S = 1 */
    return FN(multilabel_margin_row)(v, n, ms->is_target, ms->buf);
}

static double
FN(multilabel_margin_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(margin_ctx) *ctx = vc;
    const lf_classes *a = ctx->a;
    /* on the pool, each block marks the targets in a buffer of its own */
    unsigned char stack_work[LF_MLM_STACK];
    unsigned char *is_target = a->C <= LF_MLM_STACK ? stack_work : ctx->work;
    FN(mlm_buf) stack_buf; /* filled by FN(mlm_sorted) before any read */
    FN(mlm_buf) *buf = NULL;
    if (a->C <= LF_MLM_SORT) {
        buf = &stack_buf;
    }
    const FN(mlm_stage) s = {is_target, buf};
    return FN(class_rows)(&s, a, start, count, FN(multilabel_margin_sample), 0);
}

static double
FN(multilabel_margin)(const lf_classes *a, unsigned char *work)
{
    FN(margin_ctx) ctx = {a, 1, 1.0, work};
    if (a->C <= LF_MLM_STACK) {
        const ptrdiff_t unit = a->C > 0 && a->C < LF_UNIT_ELEMS ? LF_UNIT_ELEMS / a->C : 1;
        return lf_par_pairwise_slots(FN(multilabel_margin_block), &ctx, a->N, unit,
                                     a->N * (a->C + 1), LF_STAGE_SLOTS(a));
    }
    return lf_pairwise(FN(multilabel_margin_block), &ctx, 0, a->N);
}

#undef AT2
#undef LF_MLM_STACK
#undef LF_MLM_SORT
#undef X
#undef W
#undef GO
#undef GRAD
