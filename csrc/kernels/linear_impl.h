/*
 * linear_impl.h -- the body of linear.c, included once per instruction set
 * and dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * The fused heads never hold the N x C logits: pylossfn.functional cuts
 * them into tiles, fills each with a matrix product, and calls these
 * kernels, which run the softmax / sigmoid part in place (see pylossfn.h,
 * lf_lce_tile and lf_lbce_tile, for the formulas).  Rows are independent:
 * the pool runs units of rows, each writing only its own rows and its
 * own entries of the per-row statistics, so results do not depend on the
 * thread count.  Exponentials use the engine's vector exp; sums over a
 * row run in double with 16 accumulators (vectorizable), combined in a
 * fixed order.
 */

enum { FN(LACC) = 16 };

static inline double
FN(lsum16)(const double *acc)
{
    double s = 0.0;
    for (int k = 0; k < FN(LACC); k++) {
        s += acc[k];
    }
    return s;
}

/* sum_c exp(x_c - m) in double, also stored into e when e is not NULL. */
static inline double
FN(lexpsum)(const T *restrict x, T *restrict e, ptrdiff_t n, T m)
{
    double acc[FN(LACC)];
    for (int k = 0; k < FN(LACC); k++) {
        acc[k] = 0.0;
    }
    ptrdiff_t c = 0;
    if (e) {
        for (; c + FN(LACC) <= n; c += FN(LACC)) {
            for (int k = 0; k < FN(LACC); k++) {
                const T v = V(exp)(x[c + k] - m);
                e[c + k] = v;
                acc[k] += (double)v;
            }
        }
        for (; c < n; c++) {
            e[c] = V(exp)(x[c] - m);
            acc[0] += (double)e[c];
        }
    }
    else {
        for (; c + FN(LACC) <= n; c += FN(LACC)) {
            for (int k = 0; k < FN(LACC); k++) {
                acc[k] += (double)V(exp)(x[c + k] - m);
            }
        }
        for (; c < n; c++) {
            acc[0] += (double)V(exp)(x[c] - m);
        }
    }
    return FN(lsum16)(acc);
}

/* sum_c w_c x_c (w NULL: all 1) and sum_c w_c, in double. */
static inline void
FN(lwdot)(const T *restrict x, const T *restrict w, ptrdiff_t n, double *wx, double *ws)
{
    double acc[FN(LACC)], accw[FN(LACC)];
    for (int k = 0; k < FN(LACC); k++) {
        acc[k] = 0.0;
        accw[k] = 0.0;
    }
    ptrdiff_t c = 0;
    if (w) {
        for (; c + FN(LACC) <= n; c += FN(LACC)) {
            for (int k = 0; k < FN(LACC); k++) {
                acc[k] += (double)w[c + k] * (double)x[c + k];
                accw[k] += (double)w[c + k];
            }
        }
        for (; c < n; c++) {
            acc[0] += (double)w[c] * (double)x[c];
            accw[0] += (double)w[c];
        }
        *ws = FN(lsum16)(accw);
    }
    else {
        for (; c + FN(LACC) <= n; c += FN(LACC)) {
            for (int k = 0; k < FN(LACC); k++) {
                acc[k] += (double)x[c + k];
            }
        }
        for (; c < n; c++) {
            acc[0] += (double)x[c];
        }
        *ws = (double)n;
    }
    *wx = FN(lsum16)(acc);
}

/* The smoothed-target coefficient of tile column j for probabilities. */
#define LCE_PROB(a, r, j) \
    (*(const T *)((a)->probs + (r) * (a)->p_n + ((a)->c0 + (j)) * (a)->p_c))

/* a and b of the tile's columns, added to *pa, *pb. */
static void
FN(lce_coef)(const lf_lce_tile *a, ptrdiff_t r, const T *x, int64_t t, double *pa,
             double *pb)
{
    const ptrdiff_t n = a->cols, c0 = a->c0;
    const T *w = a->weight ? (const T *)a->weight + c0 : NULL;
    const double ls = a->label_smoothing, lsc = ls / (double)a->C;
    if (a->target) {
        if (t >= c0 && t < c0 + n) {
            const double wt = w ? (double)w[t - c0] : 1.0;
            *pa += (1.0 - ls) * wt;
            *pb += (1.0 - ls) * wt * (double)x[t - c0];
        }
        if (ls > 0) {
            double wx, ws;
            FN(lwdot)(x, w, n, &wx, &ws);
            *pa += lsc * ws;
            *pb += lsc * wx;
        }
        return;
    }
    double sa = 0.0, sb = 0.0;
    for (ptrdiff_t j = 0; j < n; j++) {
        const double q = (w ? (double)w[j] : 1.0) *
                         ((1.0 - ls) * (double)LCE_PROB(a, r, j) + lsc);
        sa += q;
        sb += q * (double)x[j];
    }
    *pa += sa;
    *pb += sb;
}

/* g_c = rs * (ap * p_c - coef_c) over the tile, given p_c in g already
 * (times pscale) -- FULL -- or computed here from lse -- GRAD. */
static void
FN(lce_grad)(const lf_lce_tile *a, ptrdiff_t r, T *restrict g, int64_t t, double rs,
             double ap, int from_lse, T pscale, T lse)
{
    const ptrdiff_t n = a->cols, c0 = a->c0;
    const T *w = a->weight ? (const T *)a->weight + c0 : NULL;
    const double ls = a->label_smoothing, lsc = ls / (double)a->C;
    const T k_p = (T)(rs * ap);
    if (from_lse) {
        for (ptrdiff_t j = 0; j < n; j++) {
            g[j] = k_p * V(exp)(g[j] - lse);
        }
    }
    else {
        for (ptrdiff_t j = 0; j < n; j++) {
            g[j] = k_p * (g[j] * pscale);
        }
    }
    if (a->target) {
        if (ls > 0) {
            const T k_s = (T)(rs * lsc);
            if (w) {
                for (ptrdiff_t j = 0; j < n; j++) {
                    g[j] -= k_s * w[j];
                }
            }
            else {
                for (ptrdiff_t j = 0; j < n; j++) {
                    g[j] -= k_s;
                }
            }
        }
        if (t >= c0 && t < c0 + n) {
            g[t - c0] -= (T)(rs * (1.0 - ls) * (w ? (double)w[t - c0] : 1.0));
        }
        return;
    }
    for (ptrdiff_t j = 0; j < n; j++) {
        const double q = (w ? (double)w[j] : 1.0) *
                         ((1.0 - ls) * (double)LCE_PROB(a, r, j) + lsc);
        g[j] -= (T)(rs * q);
    }
}

static void
FN(lce_row)(const lf_lce_tile *a, ptrdiff_t r, int mode)
{
    T *x = (T *)(a->tile + r * a->ld);
    const ptrdiff_t n = a->cols;
    const int64_t t = a->target ? a->target[r] : -1;
    const int writes = mode == LF_LCE_GRAD || (mode == LF_LCE_FULL && a->grad);
    if (a->target && t == a->ignore_index) {
        if (mode == LF_LCE_FULL) {
            a->m[r] = 0.0;
            a->s[r] = 1.0;
            a->a[r] = 0.0;
            a->b[r] = 0.0;
        }
        if (writes) {
            memset(x, 0, (size_t)n * sizeof(T));
        }
        return;
    }
    if (mode == LF_LCE_GRAD) {
        FN(lce_grad)(a, r, x, t, a->rowscale[r], a->a[r], 1, (T)1, (T)a->lse[r]);
        return;
    }
    if (n == 0) {
        return;
    }
    double pa = mode == LF_LCE_FULL ? 0.0 : a->a[r], pb = mode == LF_LCE_FULL ? 0.0 : a->b[r];
    FN(lce_coef)(a, r, x, t, &pa, &pb);
    a->a[r] = pa;
    a->b[r] = pb;
    const T mt = FN(row_max)(x, n);
    if (mode == LF_LCE_FULL) {
        const double s = FN(lexpsum)(x, a->grad ? x : NULL, n, mt);
        a->m[r] = (double)mt;
        a->s[r] = s;
        if (a->grad) {
            FN(lce_grad)(a, r, x, t, a->rowscale[r], pa, 0, (T)(1.0 / s), (T)0);
        }
        return;
    }
    /* online log-sum-exp: rescale the running sum to the new maximum */
    const double m_old = a->m[r];
    const double m_new = (double)mt > m_old ? (double)mt : m_old;
    if (m_new == -INFINITY) {
        return; /* every logit so far is -inf: nothing to add */
    }
    const double keep = a->s[r] == 0.0 ? 0.0 : a->s[r] * exp(m_old - m_new);
    a->s[r] = keep + FN(lexpsum)(x, NULL, n, (T)m_new);
    a->m[r] = (m_old != m_old || (double)mt != (double)mt) ? (double)NAN : m_new;
}

typedef struct {
    const lf_lce_tile *a;
    int mode;
    ptrdiff_t unit_rows;
} FN(lce_ctx);

static double
FN(lce_unit)(void *vc, ptrdiff_t u)
{
    const FN(lce_ctx) *ctx = vc;
    const ptrdiff_t r0 = u * ctx->unit_rows;
    const ptrdiff_t r1 = r0 + ctx->unit_rows < ctx->a->rows ? r0 + ctx->unit_rows : ctx->a->rows;
    for (ptrdiff_t r = r0; r < r1; r++) {
        FN(lce_row)(ctx->a, r, ctx->mode);
    }
    return 0.0;
}

static void
FN(lce_tile)(const lf_lce_tile *a, int mode)
{
    FN(lce_ctx) ctx = {a, mode, lf_unit_rows(a->cols)};
    const ptrdiff_t units = (a->rows + ctx.unit_rows - 1) / ctx.unit_rows;
    (void)lf_parallel_sum(FN(lce_unit), &ctx, units, a->rows * a->cols);
}

/* softplus(x) and sigmoid(x) of one element. */
static inline void
FN(lbce_elem)(T xi, T *sp, T *sig)
{
    const T e = V(exp)(-M(fabs)(xi));
    const T inv = (T)1 / ((T)1 + e);
    *sp = (xi > 0 ? xi : (T)0) + V(log1p_unit)(e, inv);
    *sig = xi >= 0 ? inv : e * inv;
}

/* Negatives x[0, n): softplus(x) summed (and stored into l), gradient
 * go * sigmoid(x) written over x when grad (go per element when gov, else
 * gs).  Blocks of LACC elements: the transcendental part is one
 * branch-free loop into small arrays (vectorized), the optional stores
 * follow it. */
static double
FN(lbce_neg)(T *restrict x, ptrdiff_t n, T *restrict l, const T *restrict gov, T gs, int grad)
{
    double acc[FN(LACC)];
    T sp[FN(LACC)], sig[FN(LACC)];
    for (int k = 0; k < FN(LACC); k++) {
        acc[k] = 0.0;
    }
    for (ptrdiff_t c = 0; c < n; c += FN(LACC)) {
        const int m = n - c < FN(LACC) ? (int)(n - c) : FN(LACC);
        if (m == FN(LACC)) {
            for (int k = 0; k < FN(LACC); k++) {
                FN(lbce_elem)(x[c + k], &sp[k], &sig[k]);
                acc[k] += (double)sp[k];
            }
        }
        else {
            for (int k = 0; k < m; k++) {
                FN(lbce_elem)(x[c + k], &sp[k], &sig[k]);
                acc[k] += (double)sp[k];
            }
        }
        if (l) {
            memcpy(l + c, sp, (size_t)m * sizeof(T));
        }
        if (grad) {
            if (gov) {
                for (int k = 0; k < m; k++) {
                    x[c + k] = gov[c + k] * sig[k];
                }
            }
            else {
                for (int k = 0; k < m; k++) {
                    x[c + k] = gs * sig[k];
                }
            }
        }
    }
    return FN(lsum16)(acc);
}

static void
FN(lbce_row)(const lf_lbce_tile *a, ptrdiff_t r)
{
    T *x = (T *)(a->tile + r * a->ld);
    T *l = a->out ? (T *)(a->out + r * a->out_ld) : NULL;
    const T *gov = a->go ? (const T *)(a->go + r * a->go_ld) : NULL;
    const T gs = (gov || !a->rowscale) ? (T)0 : (T)a->rowscale[r];
    const T *pw = a->pos_weight ? (const T *)a->pos_weight + a->c0 : NULL;
    const int64_t *p = a->pos + r * a->P;
    const ptrdiff_t n = a->cols, c0 = a->c0;
    ptrdiff_t k = 0;
    while (k < a->P && p[k] < c0) {
        k++;
    }
    double sum = 0.0;
    ptrdiff_t c = 0;
    for (;;) {
        const ptrdiff_t next = (k < a->P && p[k] < c0 + n) ? (ptrdiff_t)(p[k] - c0) : n;
        sum += FN(lbce_neg)(x + c, next - c, l ? l + c : NULL, gov ? gov + c : NULL, gs,
                            a->grad);
        if (next == n) {
            break;
        }
        /* a positive: pw softplus(-x), gradient go pw (sigmoid(x) - 1) */
        const T xi = x[next], pwc = pw ? pw[next] : (T)1;
        const T e = V(exp)(-M(fabs)(xi));
        const T inv = (T)1 / ((T)1 + e);
        const T sp_neg = (xi < 0 ? -xi : (T)0) + V(log1p_unit)(e, inv);
        const T lv = pwc * sp_neg;
        sum += (double)lv;
        if (l) {
            l[next] = lv;
        }
        if (a->grad) {
            const T sig_neg = xi >= 0 ? e * inv : inv; /* 1 - sigmoid(x) */
            x[next] = -(gov ? gov[next] : gs) * pwc * sig_neg;
        }
        c = next + 1;
        while (k < a->P && p[k] <= c0 + next) {
            k++; /* this positive and its duplicates */
        }
    }
    a->loss[r] += sum;
}

typedef struct {
    const lf_lbce_tile *a;
    ptrdiff_t unit_rows;
} FN(lbce_ctx);

static double
FN(lbce_unit)(void *vc, ptrdiff_t u)
{
    const FN(lbce_ctx) *ctx = vc;
    const ptrdiff_t r0 = u * ctx->unit_rows;
    const ptrdiff_t r1 = r0 + ctx->unit_rows < ctx->a->rows ? r0 + ctx->unit_rows : ctx->a->rows;
    for (ptrdiff_t r = r0; r < r1; r++) {
        FN(lbce_row)(ctx->a, r);
    }
    return 0.0;
}

static void
FN(lbce_tile)(const lf_lbce_tile *a)
{
    FN(lbce_ctx) ctx = {a, lf_unit_rows(a->cols)};
    const ptrdiff_t units = (a->rows + ctx.unit_rows - 1) / ctx.unit_rows;
    (void)lf_parallel_sum(FN(lbce_unit), &ctx, units, a->rows * a->cols);
}

#undef LCE_PROB
