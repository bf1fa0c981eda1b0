/*
 * softf1_impl.h -- soft-F1 (multilabel.c's last kernel), included at the end
 * of multilabel_impl.h: per label, cost = 1 - 2 sum p y / (sum (p + y) + eps),
 * its counts summed by column units, its gradient by rows.  Uses that file's
 * accessors (MX, MY, MGRAD, MGO, MVEC) and FN(sig_pair).
 */
/* *sum, *comp as one Neumaier sum, plus v. */
static void
FN(ksum_into)(double *sum, double *comp, double v)
{
    lf_ksum k = {*sum, *comp};
    lf_ksum_add(&k, v);
    *sum = k.sum;
    *comp = k.comp;
}

/* Columns per soft-F1 work unit: a label's counts are summed by one unit,
 * in row order, so they do not depend on how the units are spread over the
 * threads; 256 floats are 1 KiB of each row. */
#ifndef ML_SF1_COLS
#define ML_SF1_COLS 256
#endif

typedef struct {
    const lf_multilabel *a;
    double eps;
    double *work;
    int late_grad; /* the gradient pass runs after every unit, by rows */
} FN(sf1_ctx);

/* One label's terms of one row: p y into *tp and p + y into *den, summed in
 * T (the four-row groups); dp/dx = s q returned.  Every layout and the half
 * path take their terms from here, so they keep the same bits. */
static inline LF_ALWAYS_INLINE T
FN(sf1_term4)(T x, T y, T *tp, T *den)
{
    T s, q;
    FN(sig_pair)(x, &s, &q);
    *tp += s * y;
    *den += s + y;
    return s * q;
}

/* The same terms added to the double counts (the rows after the groups). */
static inline LF_ALWAYS_INLINE T
FN(sf1_term1)(T x, T y, double *tp, double *den)
{
    T s, q;
    FN(sig_pair)(x, &s, &q);
    *tp += (double)(s * y);
    *den += (double)s + (double)y;
    return s * q;
}

/* A four-row group's T sums of w labels added to the double counts. */
static inline LF_ALWAYS_INLINE void
FN(sf1_flush4)(const T *restrict tp, const T *restrict den, ptrdiff_t w,
               double *restrict tp_blk, double *restrict den_blk)
{
    for (ptrdiff_t j = 0; j < w; j++) {
        tp_blk[j] += (double)tp[j];
        den_blk[j] += (double)den[j];
    }
}

/* The first pass over rows n .. n + 3 of labels [c0, c1) (at most
 * ML_SF1_COLS): each label's four terms summed in T first, then added to the
 * double counts once -- a quarter of the conversions and double additions of
 * a row at a time (as FN(dice_sums_sig4)). */
static inline LF_ALWAYS_INLINE void
FN(sf1_counts4)(const lf_multilabel *a, ptrdiff_t n, ptrdiff_t c0, ptrdiff_t c1,
                double *restrict tp_blk, double *restrict den_blk, const int contig,
                const int grad)
{
    T tp[ML_SF1_COLS], den[ML_SF1_COLS];
    const ptrdiff_t w = c1 - c0;
    for (ptrdiff_t j = 0; j < w; j++) {
        tp[j] = den[j] = 0;
    }
    for (ptrdiff_t r = n; r < n + 4; r++) {
        if (contig) {
            const T *restrict xr = (const T *)(a->input + r * a->in_n) + c0;
            const T *restrict yr = (const T *)(a->target + r * a->t_n) + c0;
            T *restrict gr = grad ? (T *)(a->grad + r * a->g_n) + c0 : NULL;
            for (ptrdiff_t j = 0; j < w; j++) {
                const T d = FN(sf1_term4)(xr[j], yr[j], &tp[j], &den[j]);
                if (grad) {
                    gr[j] = d;
                }
            }
        }
        else { /* the same operations through the strides: the same bits */
            for (ptrdiff_t j = 0; j < w; j++) {
                const T d = FN(sf1_term4)(MX(r, c0 + j), MY(r, c0 + j), &tp[j], &den[j]);
                if (grad) {
                    MGRAD(r, c0 + j) = d;
                }
            }
        }
    }
    FN(sf1_flush4)(tp, den, w, tp_blk + c0, den_blk + c0);
}

/* The first pass over the rows [n0, n1) of labels [c0, c1): p y and p + y
 * into tp_blk / den_blk, dp/dx = s q into the gradient buffer (kept for the
 * gradient pass).  `contig` (a constant after inlining) says that input,
 * target and gradient are unit-stride along the labels, so the inner loop
 * vectorizes. */
static inline LF_ALWAYS_INLINE void
FN(sf1_counts)(const lf_multilabel *a, ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t c0, ptrdiff_t c1,
               double *restrict tp_blk, double *restrict den_blk, const int contig,
               const int grad)
{
    for (; n0 + 4 <= n1; n0 += 4) {
        FN(sf1_counts4)(a, n0, c0, c1, tp_blk, den_blk, contig, grad);
    }
    for (ptrdiff_t n = n0; n < n1; n++) {
        if (contig) {
            const T *restrict xr = (const T *)(a->input + n * a->in_n);
            const T *restrict yr = (const T *)(a->target + n * a->t_n);
            T *restrict gr = grad ? (T *)(a->grad + n * a->g_n) : NULL;
            for (ptrdiff_t c = c0; c < c1; c++) {
                const T d = FN(sf1_term1)(xr[c], yr[c], &tp_blk[c], &den_blk[c]);
                if (grad) {
                    gr[c] = d;
                }
            }
        }
        else {
            for (ptrdiff_t c = c0; c < c1; c++) {
                const T d = FN(sf1_term1)(MX(n, c), MY(n, c), &tp_blk[c], &den_blk[c]);
                if (grad) {
                    MGRAD(n, c) = d;
                }
            }
        }
    }
}

/* H vec of soft-F1's labels [c0, c1) into hess, before the gradient pass
 * (the gradient buffer holds d = p (1 - p)).  Per label, cost = 1 - A / B
 * couples every pair of rows through A = 2 sum p y and B = sum (p + y) + eps:
 * with fa = g A / B^2 and fb = 2 g / B (the gradient's factors),
 * (H v)_n = (fa - y_n fb) d_n (1 - 2 p_n) v_n + d_n (fb / B (y_n dv + ydv) - 2 fa / B dv)
 * (the diagonal's -2 d^2 / B term cancels against the rank-one part's own),
 * dv = sum_n d_n v_n and ydv = sum_n y_n d_n v_n.  dv and ydv go into the
 * free work rows (the counts' totals, already used). */
static void
FN(sf1_hvp)(const lf_multilabel *a, ptrdiff_t c0, ptrdiff_t c1, const double *fa,
            const double *fb, const double *den, double *dv, double *ydv)
{
    for (ptrdiff_t c = c0; c < c1; c++) {
        dv[c] = ydv[c] = 0.0;
    }
    for (ptrdiff_t n = 0; n < a->N; n++) {
        for (ptrdiff_t c = c0; c < c1; c++) {
            const double dvn = (double)MGRAD(n, c) * (double)MVEC(n, c);
            dv[c] += dvn;
            ydv[c] += (double)MY(n, c) * dvn;
        }
    }
    for (ptrdiff_t n = 0; n < a->N; n++) {
        for (ptrdiff_t c = c0; c < c1; c++) {
            T s, q;
            FN(sig_pair)(MX(n, c), &s, &q);
            const double d = (double)MGRAD(n, c), B = den[c], y = (double)MY(n, c);
            const double v = (double)MVEC(n, c), f = fa[c] - y * fb[c];
            *(T *)(a->hess + n * a->g_n + c * a->g_c) =
                (T)(f * d * ((double)q - (double)s) * v +
                    d * (fb[c] / B * (y * dv[c] + ydv[c]) - 2.0 * fa[c] / B * dv[c]));
        }
    }
}

#ifdef LF_T_F32
/* Row n's labels [c0, c1) of a half soft-F1 call widened into x and y (half
 * labels widened, float32 ones gathered). */
static inline void
FN(sf1_half_row)(const lf_multilabel *a, ptrdiff_t n, ptrdiff_t c0, ptrdiff_t c1, T *x, T *y)
{
    const int bf16 = a->half_kind == LF_HALF_BF16;
    lf_half_widen_run(bf16, a->input + n * a->in_n + c0 * a->in_c, a->in_c, x, c1 - c0);
    if (a->half_target) {
        lf_half_widen_run(bf16, a->target + n * a->t_n + c0 * a->t_c, a->t_c, y, c1 - c0);
    }
    else {
        for (ptrdiff_t c = c0; c < c1; c++) {
            y[c - c0] = MY(n, c);
        }
    }
}

/* FN(sf1_counts) of a half call (a->half_kind), row by row through
 * FN(sf1_half_row), four rows summed in T first: the same operations in the
 * same order, so the same counts.  dp/dx is not kept (a half gradient would round it): the gradient
 * pass takes it again from the same logit, the same bits. */
static void
FN(sf1_half_counts)(const lf_multilabel *a, ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t c0,
                    ptrdiff_t c1, double *restrict tp_blk, double *restrict den_blk)
{
    T x[ML_SF1_COLS], y[ML_SF1_COLS], tp[ML_SF1_COLS], den[ML_SF1_COLS];
    const ptrdiff_t w = c1 - c0;
    for (; n0 + 4 <= n1; n0 += 4) { /* as FN(sf1_counts4) */
        for (ptrdiff_t j = 0; j < w; j++) {
            tp[j] = den[j] = 0;
        }
        for (ptrdiff_t n = n0; n < n0 + 4; n++) {
            FN(sf1_half_row)(a, n, c0, c1, x, y);
            for (ptrdiff_t j = 0; j < w; j++) {
                (void)FN(sf1_term4)(x[j], y[j], &tp[j], &den[j]);
            }
        }
        FN(sf1_flush4)(tp, den, w, tp_blk + c0, den_blk + c0);
    }
    for (ptrdiff_t n = n0; n < n1; n++) {
        FN(sf1_half_row)(a, n, c0, c1, x, y);
        for (ptrdiff_t c = c0; c < c1; c++) {
            (void)FN(sf1_term1)(x[c - c0], y[c - c0], &tp_blk[c], &den_blk[c]);
        }
    }
}

/* The gradient pass of a half call: dp/dx = s q of each logit again, times
 * the label's factor, narrowed into the half gradient. */
static void
FN(sf1_half_grad)(const lf_multilabel *a, ptrdiff_t c0, ptrdiff_t c1, const double *fa,
                  const double *fb)
{
    T x[ML_SF1_COLS], y[ML_SF1_COLS], g[ML_SF1_COLS];
    for (ptrdiff_t n = 0; n < a->N; n++) {
        FN(sf1_half_row)(a, n, c0, c1, x, y);
        for (ptrdiff_t c = c0; c < c1; c++) {
            T s, q;
            FN(sig_pair)(x[c - c0], &s, &q);
            const T d = s * q;
            g[c - c0] = (T)((double)d * (fa[c] - (double)y[c - c0] * fb[c]));
        }
        lf_half_narrow_run(a->half_kind == LF_HALF_BF16, g, a->grad + n * a->g_n + c0 * a->g_c,
                           a->g_c, c1 - c0);
    }
}
#endif

/* The gradient pass of labels [c0, c1): the buffer's dp/dx (a half call's
 * taken again) times each label's factor fa - y fb. */
static void
FN(sf1_grad)(const lf_multilabel *a, ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t c0, ptrdiff_t c1,
             const double *restrict fa, const double *restrict fb, int contig)
{
#ifdef LF_T_F32
    if (a->half_kind) {
        FN(sf1_half_grad)(a, c0, c1, fa, fb);
        return;
    }
#endif
    for (ptrdiff_t n = n0; n < n1; n++) {
        if (contig) {
            const T *restrict yr = (const T *)(a->target + n * a->t_n);
            T *restrict gr = (T *)(a->grad + n * a->g_n);
            for (ptrdiff_t c = c0; c < c1; c++) {
                gr[c] = (T)((double)gr[c] * (fa[c] - (double)yr[c] * fb[c]));
            }
        }
        else {
            for (ptrdiff_t c = c0; c < c1; c++) {
                MGRAD(n, c) = (T)((double)MGRAD(n, c) * (fa[c] - (double)MY(n, c) * fb[c]));
            }
        }
    }
}

/* Soft-F1 for the labels [u ML_SF1_COLS, (u + 1) ML_SF1_COLS): their
 * counts over every row, costs (into tp_c, read by FN(soft_f1) in label
 * order), Hessian and gradient.  Returns 0 (the sum is formed afterwards). */
static double
FN(sf1_unit)(void *vctx, ptrdiff_t u)
{
    const FN(sf1_ctx) *ctx = vctx;
    const lf_multilabel *a = ctx->a;
    const ptrdiff_t N = a->N, C = a->C;
    const ptrdiff_t c0 = u * ML_SF1_COLS, c1 = C - c0 < ML_SF1_COLS ? C : c0 + ML_SF1_COLS;
    const double eps = ctx->eps;
    double *work = ctx->work;
    /* per label: compensated totals of p y and p + y, and the plain partial
     * sums of the current block of rows */
    double *tp = work, *tp_c = work + C, *den = work + 2 * C, *den_c = work + 3 * C;
    double *tp_blk = work + 4 * C, *den_blk = work + 5 * C;
    for (ptrdiff_t c = c0; c < c1; c++) {
        tp[c] = tp_c[c] = den[c] = den_c[c] = tp_blk[c] = den_blk[c] = 0.0;
    }
    const int contig = a->in_c == (ptrdiff_t)sizeof(T) && a->t_c == (ptrdiff_t)sizeof(T) &&
                       (!a->grad || a->g_c == (ptrdiff_t)sizeof(T));
    /* blocks of rows are summed plainly and combined with Neumaier
     * compensation, so the counts stay exact to rounding for any N */
    for (ptrdiff_t n0 = 0; n0 < N; n0 += LF_PAIRWISE_BLOCK) {
        const ptrdiff_t n1 = N - n0 < LF_PAIRWISE_BLOCK ? N : n0 + LF_PAIRWISE_BLOCK;
#ifdef LF_T_F32
        if (a->half_kind) {
            FN(sf1_half_counts)(a, n0, n1, c0, c1, tp_blk, den_blk);
        }
        else
#endif
        if (contig && a->grad) {
            FN(sf1_counts)(a, n0, n1, c0, c1, tp_blk, den_blk, 1, 1);
        }
        else if (contig) {
            FN(sf1_counts)(a, n0, n1, c0, c1, tp_blk, den_blk, 1, 0);
        }
        else {
            FN(sf1_counts)(a, n0, n1, c0, c1, tp_blk, den_blk, 0, a->grad != NULL);
        }
        for (ptrdiff_t c = c0; c < c1; c++) {
            FN(ksum_into)(&tp[c], &tp_c[c], tp_blk[c]);
            FN(ksum_into)(&den[c], &den_c[c], den_blk[c]);
            tp_blk[c] = den_blk[c] = 0.0;
        }
    }
    for (ptrdiff_t c = c0; c < c1; c++) {
        const double A = 2.0 * (tp[c] + tp_c[c]);
        const double B = (den[c] + den_c[c]) + eps;
        const double cost = 1.0 - A / B;
        if (a->out) {
            const T l = (T)cost;
#ifdef LF_T_F32
            if (a->half_kind) {
                lf_half_narrow_run(a->half_kind == LF_HALF_BF16, &l, a->out + c * a->out_step,
                                   a->out_step, 1);
            }
            else
#endif
            {
                *(T *)(a->out + c * a->out_step) = l;
            }
        }
        /* the gradient's per-label factors, kept in double: 2 g / B reaches
         * 2 / eps where a label has no mass */
        const double g = (double)MGO(c);
        tp_blk[c] = g * A / (B * B);
        den_blk[c] = 2.0 * g / B;
        den[c] = B;
        tp_c[c] = cost;
    }
    if (a->hess && a->vec) {
        FN(sf1_hvp)(a, c0, c1, tp_blk, den_blk, den, tp, den_c);
    }
    else if (a->hess) { /* before the gradient pass, which overwrites d = sq */
        for (ptrdiff_t n = 0; n < N; n++) {
            for (ptrdiff_t c = c0; c < c1; c++) {
                T s, q;
                FN(sig_pair)(MX(n, c), &s, &q);
                const double d = (double)MGRAD(n, c), B = den[c];
                *(T *)(a->hess + n * a->g_n + c * a->g_c) =
                    (T)((tp_blk[c] - (double)MY(n, c) * den_blk[c]) *
                        (d * ((double)q - (double)s) - 2.0 * d * d / B));
            }
        }
    }
    if (a->grad && !ctx->late_grad) {
        FN(sf1_grad)(a, 0, N, c0, c1, tp_blk, den_blk, contig);
    }
    return 0.0;
}

/* The gradient pass by rows, once every label's factors are known (fa, fb:
 * work's 4th and 5th arrays of C): whole rows stream through the cache, where
 * a unit's column slab of rows 4 KiB apart kept the prefetcher starting over
 * on every row.  The same operations per element as in a unit. */
typedef struct {
    const lf_multilabel *a;
    const double *fa, *fb;
    int contig;
} FN(sf1_rows_ctx);

static double
FN(sf1_grad_rows)(void *vctx, ptrdiff_t start, ptrdiff_t count)
{
    const FN(sf1_rows_ctx) *g = vctx;
    FN(sf1_grad)(g->a, start, start + count, 0, g->a->C, g->fa, g->fb, g->contig);
    return 0.0;
}

static double
FN(soft_f1)(const lf_multilabel *a, double eps, double *work)
{
    const ptrdiff_t C = a->C;
    /* units of ML_SF1_COLS labels on the pool; each label's counts, cost and
     * gradient come from one unit, so nothing depends on the thread count */
    FN(sf1_ctx) ctx = {a, eps, work, a->grad != NULL && !a->half_kind};
    const ptrdiff_t units = (C + ML_SF1_COLS - 1) / ML_SF1_COLS;
    (void)lf_parallel_sum(FN(sf1_unit), &ctx, units, a->N * C * (a->hess ? 6 : 3));
    if (ctx.late_grad) {
        const int contig = a->t_c == (ptrdiff_t)sizeof(T) && a->g_c == (ptrdiff_t)sizeof(T);
        const FN(sf1_rows_ctx) g = {a, work + 4 * C, work + 5 * C, contig};
        (void)lf_par_pairwise(FN(sf1_grad_rows), (void *)&g, a->N, lf_unit_rows(C), a->N * C);
    }
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t c = 0; c < C; c++) {
        lf_ksum_add(&total, work[C + c]); /* the costs, in label order */
    }
    return lf_ksum_value(&total);
}
