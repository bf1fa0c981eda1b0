/*
 * poly_impl.h -- the body of poly.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Poly-1 is cross-entropy plus epsilon times the first term of its Taylor
 * series in (1 - p_t).  On the [N, C, S] view of classification_impl.h, per
 * sample with p = softmax(x), logp = log_softmax(x), a target row y (one-hot
 * of class t, or class probabilities) and p_y = sum_c y_c p_c:
 *   index targets:  l = CE_ls(x, t) + eps w[t] (1 - p_t)
 *   probabilities:  l = -sum_c w[c] q[c] logp[c] + eps (1 - p_y),  q = (1 - ls) y + ls/C
 * Since d p_y / dx_c = p_c (y_c - p_y), with K the summed weight of the
 * (smoothed) target mass and e = eps w[t] (eps for probabilities):
 *   dl/dx_c   = K p_c - (w q)_c - e p_c (y_c - p_y)
 *   d2l/dx_c2 = K p_c (1 - p_c) - e p_c (y_c - p_y) (1 - 2 p_c)
 * times grad_output[n, s] or `scale`.  exp(x - max) is kept in the gradient
 * row between the passes when there is one (as cross-entropy does), so each
 * logit is exponentiated once.
 */

#ifndef PL_L
#define PL_L 16 /* lanes of a row's sum */
#define PL_CHUNK 256 /* classes per chunk of a row's exponentials (a multiple of PL_L) */
#endif

#define PX(n, c, s) (*(const T *)(a->input + (n) * a->in_n + (c) * a->in_c + (s) * a->in_s))
#define PW(c) (a->weight ? *(const T *)(a->weight + (c) * a->w_c) : (T)1)
#define PY(n, c, s) (*(const T *)(a->target + (n) * a->t_n + (c) * a->t_c + (s) * a->t_s))
#define PGO(n, s) \
    (a->grad_output ? *(const T *)(a->grad_output + (n) * a->go_n + (s) * a->go_s) \
                    : (T)a->scale)
#define PG(n, c, s) (*(T *)(a->grad + (n) * a->g_n + (c) * a->g_c + (s) * a->g_s))
#define PH(n, c, s) (*(T *)(a->hess + (n) * a->g_n + (c) * a->g_c + (s) * a->g_s))
#define PV(n, c, s) (*(const T *)(a->vec + (n) * a->g_n + (c) * a->g_c + (s) * a->g_s))

typedef struct {
    const lf_classes *a;
    double eps;
    double wsum; /* sum of the class weights (C without them) */
    int probs;   /* probability targets, else class indices */
} FN(poly_ctx);

/* The max and log-sum-exp shift of sample (n, s): logp_c = (x_c - *m) - *lsum.
 * exp(x_c - m) is stored in the gradient row when there is one. */
static void
FN(poly_shift)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, T *m, T *lsum, T *inv)
{
    /* the max is exact in any order (a nan anywhere makes every p nan) */
    T mx = PX(n, 0, s);
    if (a->in_c == (ptrdiff_t)sizeof(T)) {
        mx = FN(row_max)(&PX(n, 0, s), a->C);
    }
    for (ptrdiff_t c = 1; c < a->C && a->in_c != (ptrdiff_t)sizeof(T); c++) {
        const T v = PX(n, c, s);
        mx = v > mx || v != v ? v : mx;
    }
    /* the sum in PL_L double lanes (class c in lane c mod PL_L), the same
     * order for every layout */
    double acc[PL_L] = {0};
    if (a->in_c == (ptrdiff_t)sizeof(T) && (!a->grad || a->g_c == (ptrdiff_t)sizeof(T))) {
        /* the usual [N, C] rows, loops gcc vectorizes: a chunk of classes at a
         * time, the exponentials into the gradient row (kept for the gradient
         * pass) or, in a forward-only call, into a stack chunk, then into the
         * lanes (per element with a lane index, the forward-only loop did not
         * vectorize: 3-5 times the time of forward + gradient) */
        const T *restrict x = &PX(n, 0, s);
        T *g = a->grad ? &PG(n, 0, s) : NULL;
        T chunk[PL_CHUNK];
        for (ptrdiff_t c0 = 0; c0 < a->C; c0 += PL_CHUNK) {
            T *restrict e = g != NULL ? g + c0 : &chunk[0];
            const ptrdiff_t w = a->C - c0 < PL_CHUNK ? a->C - c0 : PL_CHUNK;
            const ptrdiff_t wf = w - w % PL_L;
            for (ptrdiff_t j = 0; j < w; j++) {
                e[j] = V(exp)(x[c0 + j] - mx);
            }
            for (ptrdiff_t j = 0; j < wf; j += PL_L) {
                for (int k = 0; k < PL_L; k++) {
                    acc[k] += (double)e[j + k];
                }
            }
            for (ptrdiff_t j = wf; j < w; j++) {
                acc[j - wf] += (double)e[j];
            }
        }
    }
    else {
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const T e = V(exp)(PX(n, c, s) - mx);
            if (a->grad) {
                PG(n, c, s) = e;
            }
            acc[c % PL_L] += (double)e;
        }
    }
    double sum = 0.0;
    for (int k = 0; k < PL_L; k++) {
        sum += acc[k];
    }
    *m = mx;
    *lsum = M(log)((T)sum);
    *inv = (T)(1.0 / sum);
}

/* p_c of sample (n, s): from the stored exponential when there is one, the
 * same value either way (a loss must not depend on whether a gradient is
 * asked for). */
static inline T
FN(poly_p)(const lf_classes *a, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, T m, T inv)
{
    return (a->grad ? PG(n, c, s) : V(exp)(PX(n, c, s) - m)) * inv;
}

/* H v of sample (n, s) into the Hessian row (WANT_HVP), read from the
 * exponentials the gradient row holds before the gradient replaces them:
 * K (diag(p) - p p^T) v minus e times the Hessian of p_y = y . p, which is
 * p o (u o v - u (p . v)) - p ((p o u) . v) with u = y - p_y; y the one-hot
 * of t (t >= 0) or the class probabilities (t < 0). */
static void
FN(poly_hvp)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, int64_t t, T inv, T K, T e, T p_y)
{
    double pv = 0.0, puv = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const T p = PG(n, c, s) * inv, v = PV(n, c, s);
        const T u = (t >= 0 ? (c == t ? (T)1 : (T)0) : PY(n, c, s)) - p_y;
        pv += (double)(p * v);
        puv += (double)(p * u * v);
    }
    const T go = PGO(n, s);
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const T p = PG(n, c, s) * inv, v = PV(n, c, s);
        const T u = (t >= 0 ? (c == t ? (T)1 : (T)0) : PY(n, c, s)) - p_y;
        PH(n, c, s) = go * (K * (p * v - p * (T)pv) - e * (p * u * (v - (T)pv) - p * (T)puv));
    }
}

/* The gradient (and Hessian) row of probability targets y:
 * g_c = go (K p_c - wq_c - e p_c (y_c - p_y)). */
static void
FN(poly_grad_probs)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, T inv, T K, T e, T p_y,
                    double ls_c)
{
    const T go = PGO(n, s);
    const T keep = (T)(1.0 - a->label_smoothing);
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const T p = PG(n, c, s) * inv;
        const T y = PY(n, c, s);
        const T wq = PW(c) * (a->label_smoothing > 0 ? y * keep + (T)ls_c : y);
        const T u = p * (y - p_y);
        PG(n, c, s) = go * ((K * p - wq) - e * u);
        if (a->hess && !a->vec) {
            PH(n, c, s) = go * (K * (p * ((T)1 - p)) - e * (u * ((T)1 - 2 * p)));
        }
    }
}

/* The gradient (and Hessian) row of an index target t, every class but t
 * (y_c = 0, so u_c = -p_c p_t): g_c = go (K p_c - ls/C w_c + e p_t p_c), g,
 * h and w at element steps gs and ws (1: unit stride, a loop gcc
 * vectorizes; the same operations for every layout, so the same bits). */
static inline LF_ALWAYS_INLINE void
FN(poly_row)(T *restrict g, T *restrict h, const T *restrict w, ptrdiff_t C, ptrdiff_t gs,
             ptrdiff_t ws, T go, T inv, T K, T kls, T ep)
{
    for (ptrdiff_t c = 0; c < C; c++) {
        const T p = g[c * gs] * inv;
        const T wq = kls * (w ? w[c * ws] : (T)1);
        g[c * gs] = go * ((K * p - wq) + ep * p);
        if (h) {
            h[c * gs] = go * (K * (p * ((T)1 - p)) + ep * (p * ((T)1 - 2 * p)));
        }
    }
}

/* The gradient (and Hessian) row of an index target t: the row, then the
 * target's own entry (y_t = 1). */
static void
FN(poly_grad_index)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, int64_t t, T inv, T K, T e,
                    T p_t, double ls_c)
{
    const T go = PGO(n, s), kls = (T)ls_c, ep = e * p_t;
    const T p = PG(n, t, s) * inv; /* read before the row overwrites it */
    T *g = &PG(n, 0, s), *h = a->hess && !a->vec ? &PH(n, 0, s) : NULL;
    const T *w = (const T *)a->weight;
    const ptrdiff_t gs = a->g_c / (ptrdiff_t)sizeof(T), ws = a->w_c / (ptrdiff_t)sizeof(T);
    if (gs == 1 && (!w || ws == 1)) {
        if (h && w) {
            FN(poly_row)(g, h, w, a->C, 1, 1, go, inv, K, kls, ep);
        }
        else if (h) {
            FN(poly_row)(g, h, NULL, a->C, 1, 1, go, inv, K, kls, ep);
        }
        else if (w) {
            FN(poly_row)(g, NULL, w, a->C, 1, 1, go, inv, K, kls, ep);
        }
        else {
            FN(poly_row)(g, NULL, NULL, a->C, 1, 1, go, inv, K, kls, ep);
        }
    }
    else {
        FN(poly_row)(g, h, w, a->C, gs, ws, go, inv, K, kls, ep);
    }
    const T wt = PW(t);
    const T wq = (T)(1.0 - a->label_smoothing) * wt + kls * wt;
    const T u = p * ((T)1 - p_t);
    PG(n, t, s) = go * ((K * p - wq) - e * u);
    if (h) {
        PH(n, t, s) = go * (K * (p * ((T)1 - p)) - e * (u * ((T)1 - 2 * p)));
    }
}

/* One sample with a class index t (not ignored): its loss. */
static T
FN(poly_index_sample)(const FN(poly_ctx) *ctx, ptrdiff_t n, ptrdiff_t s, int64_t t)
{
    const lf_classes *a = ctx->a;
    const double ls_c = a->label_smoothing / (double)a->C;
    T m, lsum, inv;
    FN(poly_shift)(a, n, s, &m, &lsum, &inv);
    const T wt = PW(t);
    const T logp_t = (PX(n, t, s) - m) - lsum;
    T l = -wt * logp_t;
    if (a->label_smoothing > 0) {
        double smooth = 0.0;
        for (ptrdiff_t c = 0; c < a->C; c++) {
            smooth -= (double)(PW(c) * ((PX(n, c, s) - m) - lsum));
        }
        l = (T)(1.0 - a->label_smoothing) * l + (T)ls_c * (T)smooth;
    }
    const T p_t = M(exp)(logp_t);
    const T e = (T)ctx->eps * wt;
    l += e * ((T)1 - p_t);
    if (a->grad) {
        const T K = (T)(1.0 - a->label_smoothing) * wt + (T)(ls_c * ctx->wsum);
        if (a->hess && a->vec) {
            FN(poly_hvp)(a, n, s, t, inv, K, e, p_t);
        }
        FN(poly_grad_index)(a, n, s, t, inv, K, e, p_t, ls_c);
    }
    return l;
}

static T FN(poly_probs_sample)(const FN(poly_ctx) *ctx, ptrdiff_t n, ptrdiff_t s);

/* A sample of FN(class_rows), on its view v (the call's, or a staged half
 * sample's): probabilities, or a class index (ignored ones zeroed there). */
static T
FN(poly_class_sample)(const void *vc, const lf_classes *v, ptrdiff_t n, ptrdiff_t s)
{
    FN(poly_ctx) sc = *(const FN(poly_ctx) *)vc;
    sc.a = v;
    if (sc.probs) {
        return FN(poly_probs_sample)(&sc, n, s);
    }
    const int64_t t = *(const int64_t *)(v->target + n * v->t_n + s * v->t_s);
    return FN(poly_index_sample)(&sc, n, s, t);
}

static double
FN(poly_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(poly_ctx) *ctx = vc;
    return FN(class_rows)(ctx, ctx->a, start, count, FN(poly_class_sample), !ctx->probs);
}

static double
FN(poly_cross_entropy)(const lf_classes *a, double epsilon)
{
    if (a->C == 0 && a->label_smoothing > 0) {
        return NAN; /* as cross-entropy: ls / C times an empty sum */
    }
    FN(poly_ctx) ctx = {a, epsilon, 0.0, 0};
    for (ptrdiff_t c = 0; a->label_smoothing > 0 && c < a->C; c++) {
        ctx.wsum += (double)PW(c);
    }
    return lf_par_pairwise_slots(FN(poly_block), &ctx, a->N * a->S, lf_unit_rows(a->C),
                                 a->N * a->S * (a->C > 0 ? a->C : 1) * LF_WORK_SOFTMAX,
                                 LF_STAGE_SLOTS(a));
}

/* One sample with class probabilities y: its loss. */
static T
FN(poly_probs_sample)(const FN(poly_ctx) *ctx, ptrdiff_t n, ptrdiff_t s)
{
    const lf_classes *a = ctx->a;
    const double ls_c = a->C > 0 ? a->label_smoothing / (double)a->C : 0.0;
    const T keep = (T)(1.0 - a->label_smoothing);
    T m = 0, lsum = 0, inv = 0;
    if (a->C > 0) {
        FN(poly_shift)(a, n, s, &m, &lsum, &inv);
    }
    double loss = 0.0, K = 0.0, p_y = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const T y = PY(n, c, s);
        const T wq = PW(c) * (a->label_smoothing > 0 ? y * keep + (T)ls_c : y);
        const T logp = (PX(n, c, s) - m) - lsum;
        loss -= (double)(wq * logp);
        K += (double)wq;
        p_y += (double)(y * FN(poly_p)(a, n, c, s, m, inv));
    }
    const T e = (T)ctx->eps;
    const T l = (T)loss + e * ((T)1 - (T)p_y);
    if (a->hess && a->vec) {
        FN(poly_hvp)(a, n, s, -1, inv, (T)K, e, (T)p_y);
    }
    if (a->grad) {
        FN(poly_grad_probs)(a, n, s, inv, (T)K, e, (T)p_y, ls_c);
    }
    return l;
}

static double
FN(poly_cross_entropy_probs)(const lf_classes *a, double epsilon)
{
    FN(poly_ctx) ctx = {a, epsilon, 0.0, 1};
    return lf_par_pairwise_slots(FN(poly_block), &ctx, a->N * a->S, lf_unit_rows(a->C),
                                 a->N * a->S * (a->C > 0 ? a->C : 1) * LF_WORK_SOFTMAX_PROBS,
                                 LF_STAGE_SLOTS(a));
}

#undef PX
#undef PW
#undef PY
#undef PGO
#undef PG
#undef PH
#undef PV
