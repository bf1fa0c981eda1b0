/*
 * sparsemax_impl.h -- the body of sparsemax.c, included once per instruction
 * set and dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * sparsemax(x) is the Euclidean projection of x onto the probability
 * simplex: p_c = max(x_c - tau, 0) with tau such that sum_c p_c = 1.  tau is
 * found without sorting or scratch memory by Michelot's algorithm: from any
 * superset of the support (here {x > max - 1}), tau_S = (sum_S x - 1) / |S|
 * is a lower bound of the true tau, so S shrinks to {x > tau_S} until it
 * stops changing (at most C passes, a handful in practice), and the final
 * tau is exact for its support.  Ties and all-equal rows need no care: an
 * element equal to tau gets 0 either way.
 *
 * The loss (optax's multiclass_sparsemax_loss, the Fenchel-Young loss of the
 * Gini entropy), per row with class t, on the [N, C] view (S = 1):
 *   l = sum_c p_c (x_c - x_t) + (1 - sum_c p_c^2) / 2
 *   dl/dx = p - onehot(t),   H = diag(s) - s s^T / |S|   (s the support)
 * so the Hessian's diagonal is s_c (1 - 1 / |S|).
 */

/* (targets are checked by lf_margin_check) */
#define SX(n, c, s) (*(const T *)(a->input + (n) * a->in_n + (c) * a->in_c + (s) * a->in_s))
#define SCLASS(n) (*(const int64_t *)(a->target + (n) * a->t_n))
#define SGO(n) (a->grad_output ? *(const T *)(a->grad_output + (n) * a->go_n) : (T)a->scale)
#define SG(n, c, s) (*(T *)(a->grad + (n) * a->g_n + (c) * a->g_c + (s) * a->g_s))

#ifndef SM_CHUNK
#define SM_CHUNK 256 /* a multiple of SM_L */
#define SM_L 16
#endif

/* The sum and the count of the row's entries above tau, in SM_L lanes
 * (class c in lane c mod SM_L, added in order: the same for every layout). */
static double
FN(sm_above)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, double tau, ptrdiff_t *count)
{
    T buf[SM_CHUNK];
    double acc[SM_L] = {0}, cnt[SM_L] = {0};
    for (ptrdiff_t c0 = 0; c0 < a->C; c0 += SM_CHUNK) {
        const ptrdiff_t k = a->C - c0 < SM_CHUNK ? a->C - c0 : SM_CHUNK;
        const T *restrict v = FN(gather)((const char *)&SX(n, c0, s), a->in_c, k, buf);
        ptrdiff_t i = 0;
        for (; i + SM_L <= k; i += SM_L) {
            for (int j = 0; j < SM_L; j++) {
                const double x = (double)v[i + j];
                const int in = x > tau;
                acc[j] += in ? x : 0.0;
                cnt[j] += in ? 1.0 : 0.0;
            }
        }
        for (int j = 0; i + j < k; j++) {
            const double x = (double)v[i + j];
            const int in = x > tau;
            acc[j] += in ? x : 0.0;
            cnt[j] += in ? 1.0 : 0.0;
        }
    }
    double sum = 0.0, c = 0.0;
    for (int j = 0; j < SM_L; j++) {
        sum += acc[j];
        c += cnt[j];
    }
    *count = (ptrdiff_t)c;
    return sum;
}

/* tau of sample (n, s), and the size of its support in *k.  A nan anywhere
 * makes tau nan (and so every p). */
static double
FN(sparsemax_tau)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, ptrdiff_t *k)
{
    T buf[SM_CHUNK], mx = SX(n, 0, s);
    int nan = 0;
    for (ptrdiff_t c0 = 0; c0 < a->C; c0 += SM_CHUNK) {
        const ptrdiff_t m = a->C - c0 < SM_CHUNK ? a->C - c0 : SM_CHUNK;
        const T *v = FN(gather)((const char *)&SX(n, c0, s), a->in_c, m, buf);
        const T cm = FN(row_max)(v, m);
        mx = cm > mx ? cm : mx;
        for (ptrdiff_t i = 0; i < m; i++) {
            nan |= v[i] != v[i];
        }
    }
    if (nan) {
        *k = a->C;
        return NAN;
    }
    double tau = (double)mx - 1.0;
    ptrdiff_t size = -1;
    for (;;) {
        ptrdiff_t count;
        const double sum = FN(sm_above)(a, n, s, tau, &count);
        if (count == 0) { /* inf - inf */
            *k = a->C;
            return NAN;
        }
        const double next = (sum - 1.0) / (double)count;
        if (count == size || !(next > tau)) {
            *k = count;
            return count == size ? tau : next;
        }
        size = count;
        tau = next;
    }
}

typedef struct {
    const lf_classes *a;
} FN(sparsemax_ctx);

/* sparsemax of sample (n, s) into grad. */
static T
FN(sparsemax_sample)(const void *ctx, const lf_classes *a, ptrdiff_t n, ptrdiff_t s)
{
    (void)ctx;
    ptrdiff_t k;
    const double tau = FN(sparsemax_tau)(a, n, s, &k);
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const double d = (double)SX(n, c, s) - tau;
        SG(n, c, s) = d > 0 ? (T)d : d == d ? (T)0 : (T)NAN;
    }
    return 0;
}

/* sparsemax of samples [start, start + count) into grad. */
static double
FN(sparsemax_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(sparsemax_ctx) *)vc)->a;
    return FN(class_rows)(NULL, a, start, count, FN(sparsemax_sample), 0); /* (0: no loss) */
}

static void
FN(sparsemax)(const lf_classes *a)
{
    FN(sparsemax_ctx) ctx = {a};
    if (a->C == 0) {
        return;
    }
    (void)lf_par_pairwise_slots(FN(sparsemax_block), &ctx, a->N * a->S, lf_unit_rows(a->C),
                                a->N * a->S * a->C, LF_STAGE_SLOTS(a));
}

/* One chunk of row n of the loss: p_c = max(x_c - tau, 0); the lanes of
 * sum p (x - x_t) and sum p^2 (classes outside the support add nothing,
 * even where x is -inf); the gradient p - [c = t] and the Hessian's
 * diagonal h [p > 0] into unit-stride rows g and hd (when given). */
static inline LF_ALWAYS_INLINE void
FN(sm_loss_chunk)(const T *restrict v, ptrdiff_t k, ptrdiff_t c0, int64_t t, double tau,
                  double xt, double *restrict lin, double *restrict sq, T *restrict g,
                  T *restrict hd, T go, T h)
{
    for (ptrdiff_t i = 0; i < k; i++) {
        const int j = (int)(i % SM_L);
        const double x = (double)v[i], d = x - tau;
        const int in = d > 0;
        lin[j] += in ? d * (x - xt) : 0.0;
        sq[j] += in ? d * d : 0.0;
        if (g) {
            const T p = in ? (T)d : d == d ? (T)0 : (T)NAN; /* nan: tau is */
            g[i] = go * (p - (c0 + i == t ? (T)1 : (T)0));
            if (hd) {
                hd[i] = in ? h : (T)0;
            }
        }
    }
}

/* H v of row n (WANT_HVP) into its Hessian row: go (s o v - s (s . v) / |S|),
 * s the support {x > tau} of size k; v is C-contiguous, as the Hessian row. */
static void
FN(sm_hvp)(const lf_classes *a, ptrdiff_t n, double tau, ptrdiff_t k, T go)
{
    const T *v = (const T *)(a->vec + n * a->g_n);
    T *h = (T *)(a->hess + n * a->g_n);
    double sv = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        sv += (double)SX(n, c, 0) - tau > 0 ? (double)v[c] : 0.0;
    }
    const T mean = k > 0 ? (T)(sv / (double)k) : (T)0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        h[c] = (double)SX(n, c, 0) - tau > 0 ? go * (v[c] - mean) : (T)0;
    }
}

/* Row n of the loss: its value, and the gradient and Hessian rows. */
static T
FN(sparsemax_loss_row)(const lf_classes *a, ptrdiff_t n)
{
    const int64_t t = SCLASS(n);
    ptrdiff_t k;
    const double tau = FN(sparsemax_tau)(a, n, 0, &k);
    const double xt = (double)SX(n, t, 0);
    const T go = a->grad ? SGO(n) : (T)0;
    const T h = k > 0 ? go * (T)(1.0 - 1.0 / (double)k) : (T)0;
    T buf[SM_CHUNK];
    double lin[SM_L] = {0}, sq[SM_L] = {0};
    for (ptrdiff_t c0 = 0; c0 < a->C; c0 += SM_CHUNK) {
        const ptrdiff_t m = a->C - c0 < SM_CHUNK ? a->C - c0 : SM_CHUNK;
        const T *v = FN(gather)((const char *)&SX(n, c0, 0), a->in_c, m, buf);
        /* grad and hess are C-contiguous rows (the binding allocates them) */
        T *g = a->grad ? (T *)(a->grad + n * a->g_n) + c0 : NULL;
        /* with vec, FN(sm_hvp) writes the whole Hessian row: no diagonal first */
        T *hd = a->hess && !a->vec ? (T *)(a->hess + n * a->g_n) + c0 : NULL;
        if (hd) {
            FN(sm_loss_chunk)(v, m, c0, t, tau, xt, lin, sq, g, hd, go, h);
        }
        else if (g) {
            FN(sm_loss_chunk)(v, m, c0, t, tau, xt, lin, sq, g, NULL, go, h);
        }
        else {
            FN(sm_loss_chunk)(v, m, c0, t, tau, xt, lin, sq, NULL, NULL, go, h);
        }
    }
    if (a->hess && a->vec) {
        FN(sm_hvp)(a, n, tau, k, go);
    }
    double l1 = 0.0, l2 = 0.0;
    for (int j = 0; j < SM_L; j++) {
        l1 += lin[j];
        l2 += sq[j];
    }
    return (T)(tau == tau ? l1 + 0.5 * (1.0 - l2) : (double)NAN);
}

static T
FN(sparsemax_loss_sample)(const void *ctx, const lf_classes *v, ptrdiff_t n, ptrdiff_t s)
{
    (void)ctx;
    (void)s; /* S = 1 */
    return FN(sparsemax_loss_row)(v, n);
}

static double
FN(sparsemax_loss_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(sparsemax_ctx) *)vc)->a;
    return FN(class_rows)(NULL, a, start, count, FN(sparsemax_loss_sample), 0);
}

static double
FN(sparsemax_loss)(const lf_classes *a)
{
    FN(sparsemax_ctx) ctx = {a};
    return lf_par_pairwise_slots(FN(sparsemax_loss_block), &ctx, a->N, lf_unit_rows(a->C),
                                 a->N * a->C, LF_STAGE_SLOTS(a));
}

#undef SX
#undef SCLASS
#undef SGO
#undef SG
