/*
 * triplet_impl.h -- the triplet margin loss of embedding.c, included by
 * embedding_impl.h (once per instruction set and dtype) after the row helpers,
 * distances and macros it uses (FN(rows_ctx), FN(pnorm_row), FN(dot3), ROW,
 * RGRAD, VROW, ...; see the top of that file for the distances' derivatives).
 *
 * triplet_margin_loss: l = max(margin + d(a, p) - d(a, n), 0), with
 * d(a, n) replaced by min(d(a, n), d(p, n)) under swap.  As in torch's
 * autograd, clamp_min passes the gradient where its argument is >= 0 and
 * minimum splits it evenly between tied arguments.
 */

/* One distance of a triplet row and what its gradient needs. */
typedef struct {
    double value;
    FN(pnorm) norm;         /* LF_DIST_PNORM */
    double s, n1, n2, c1, c2; /* LF_DIST_COSINE */
} FN(dist_row);

/* The cosine distance 1 - cos from the sums x_i . x_j, |x_i|^2, |x_j|^2. */
static FN(dist_row)
FN(cos_distance)(double s, double m1, double m2, double eps)
{
    FN(dist_row) r;
    memset(&r, 0, sizeof(r));
    r.s = s;
    r.n1 = (double)(T)sqrt(m1);
    r.n2 = (double)(T)sqrt(m2);
    r.c1 = (double)FN(clamp_norm)((T)r.n1, (T)eps);
    r.c2 = (double)FN(clamp_norm)((T)r.n2, (T)eps);
    r.value = (double)(T)(1.0 - r.s / (r.c1 * r.c2));
    return r;
}

static FN(dist_row)
FN(distance)(const FN(rows_ctx) *ctx, int i, int j, ptrdiff_t n)
{
    if (ctx->dist == LF_DIST_PNORM) {
        FN(dist_row) r;
        memset(&r, 0, sizeof(r));
        r.norm = FN(pnorm_row)(ctx->a, i, j, n, ctx->p, (T)ctx->eps);
        r.value = (double)(T)r.norm.norm;
        return r;
    }
    double s, m1, m2;
    FN(dot3)(ctx->a, i, j, n, &s, &m1, &m2);
    return FN(cos_distance)(s, m1, m2, ctx->eps);
}

/* The fast path of a triplet row (unit-stride rows, gradient without
 * Hessian, the 2-norm or the cosine distance): one pass computes every sum
 * the row needs (the same sums, term for term, as FN(sq_diff) / FN(dot3)
 * compute them one pair at a time, so the same distances), and one pass
 * writes the three gradient rows as combinations of the inputs whose
 * coefficients are fixed per row. */

/* |(a - p) + eps|^2, |(a - n) + eps|^2 and, with swap, |(p - n) + eps|^2:
 * FN(diff_sum_s) once a pair (one accumulator array a loop, which gcc
 * vectorizes), on unit steps. */
static inline LF_ALWAYS_INLINE void
FN(trip_l2_sums)(const T *restrict x0, const T *restrict x1, const T *restrict x2,
                 ptrdiff_t D, T eps, int swap, double *out)
{
    const ptrdiff_t t = (ptrdiff_t)sizeof(T);
    const char *a = (const char *)x0, *p = (const char *)x1, *n = (const char *)x2;
    out[0] = FN(diff_sum_s)(a, t, p, t, D, eps, 1);
    out[1] = FN(diff_sum_s)(a, t, n, t, D, eps, 1);
    out[2] = swap ? FN(diff_sum_s)(p, t, n, t, D, eps, 1) : 0.0;
}

/* a.p, |a|^2, |p|^2, a.n, |n|^2 and, with swap, p.n. */
static inline LF_ALWAYS_INLINE void
FN(trip_cos_sums)(const T *restrict x0, const T *restrict x1, const T *restrict x2,
                  ptrdiff_t D, int swap, double *out)
{
    const ptrdiff_t t = (ptrdiff_t)sizeof(T);
    const char *a = (const char *)x0, *p = (const char *)x1, *n = (const char *)x2;
    double acc[6][8] = {{0}};
    FN(lane_dot_s)(a, t, p, t, D, acc[0]);
    FN(lane_dot_s)(a, t, a, t, D, acc[1]);
    FN(lane_dot_s)(p, t, p, t, D, acc[2]);
    FN(lane_dot_s)(a, t, n, t, D, acc[3]);
    FN(lane_dot_s)(n, t, n, t, D, acc[4]);
    if (swap) {
        FN(lane_dot_s)(p, t, n, t, D, acc[5]);
    }
    for (int i = 0; i < 6; i++) {
        out[i] = FN(sum8)(acc[i]);
    }
}

/* The three gradient rows of a triplet row: operand k at xk with step sk,
 * its gradient at gk with step tk; called with constant unit steps for
 * contiguous rows (then it vectorizes).  restrict: outputs never overlap
 * what a call reads (outputs.c), and without it gcc would need more
 * run-time alias checks than it makes before giving up on vectorizing. */
#define LF_TRIP_PARAMS                                                                  \
    const char *restrict x0, ptrdiff_t s0, const char *restrict x1, ptrdiff_t s1,       \
        const char *restrict x2, ptrdiff_t s2, char *restrict g0, ptrdiff_t t0,         \
        char *restrict g1, ptrdiff_t t1, char *restrict g2, ptrdiff_t t2, ptrdiff_t D
#define LF_TX(k, d) (*(const T *)(x##k + (d) * s##k))
#define LF_TG(k, d) (*(T *)(g##k + (d) * t##k))

/* ga = cp vp + cn vn, gp = -cp vp + cs vs, gn = -cn vn - cs vs, with
 * v = (x_i - x_j) + eps in T (the 2-norm's gradient k v / |v|). */
static inline LF_ALWAYS_INLINE void
FN(trip_l2_grad)(LF_TRIP_PARAMS, T eps, int swap, double cp, double cn, double cs)
{
    for (ptrdiff_t d = 0; d < D; d++) {
        const T a0 = LF_TX(0, d), a1 = LF_TX(1, d), a2 = LF_TX(2, d);
        const double vp = (double)((a0 - a1) + eps);
        const double vn = (double)((a0 - a2) + eps);
        if (swap) {
            const double vs = (double)((a1 - a2) + eps);
            LF_TG(0, d) = (T)(cp * vp + cn * vn);
            LF_TG(1, d) = (T)(cs * vs - cp * vp);
            LF_TG(2, d) = (T)(-(cn * vn) - cs * vs);
        }
        else {
            LF_TG(0, d) = (T)(cp * vp + cn * vn);
            LF_TG(1, d) = (T)(-(cp * vp));
            LF_TG(2, d) = (T)(-(cn * vn));
        }
    }
}

/* g_i = sum_j c[3 i + j] x_j (the cosine distance's gradients). */
static inline LF_ALWAYS_INLINE void
FN(trip_mat_grad)(LF_TRIP_PARAMS, const double *c)
{
    const double c00 = c[0], c01 = c[1], c02 = c[2], c10 = c[3], c11 = c[4], c12 = c[5],
                 c20 = c[6], c21 = c[7], c22 = c[8];
    for (ptrdiff_t d = 0; d < D; d++) {
        const double u = (double)LF_TX(0, d), v = (double)LF_TX(1, d), w = (double)LF_TX(2, d);
        LF_TG(0, d) = (T)(c00 * u + c01 * v + c02 * w);
        LF_TG(1, d) = (T)(c10 * u + c11 * v + c12 * w);
        LF_TG(2, d) = (T)(c20 * u + c21 * v + c22 * w);
    }
}

#undef LF_TRIP_PARAMS
#undef LF_TX
#undef LF_TG

/* c += the coefficients of k * the gradient of the cosine distance of
 * (x_i, x_j) (FN(distance_grad)'s cosine case: gi -= k (v / cc - s / (c1 cc)
 * u / n1), gj likewise). */
static void
FN(cos_coef)(double *c, const FN(dist_row) *r, int i, int j, double k)
{
    if (k == 0) {
        return;
    }
    const double cc = r->c1 * r->c2;
    const double alpha = -k / cc;
    c[3 * i + j] += alpha;
    c[3 * j + i] += alpha;
    c[3 * i + i] += r->n1 != 0 ? k * r->s / (r->c1 * cc * r->n1) : 0.0;
    c[3 * j + j] += r->n2 != 0 ? k * r->s / (r->c2 * cc * r->n2) : 0.0;
}

/* grad_i += k * d dist(x_i, x_j) / d x_i and grad_j += k * d dist / d x_j. */
static void
FN(distance_grad)(const FN(rows_ctx) *ctx, const FN(dist_row) *r, int i, int j,
                  ptrdiff_t n, double k, double *gi, double *gj)
{
    const lf_rows *a = ctx->a;
    /* a zero weight adds zeros, unless the distance is not finite: autograd
     * multiplies its nan / inf partials by the zero (nan) */
    if (k == 0 && isfinite(r->value)) {
        return;
    }
    if (ctx->dist == LF_DIST_PNORM && ctx->p == 2) {
        /* the default p: FN(pnorm_grad)'s p = 2 case, without its tests in
         * the loop (the same operations, so the same bits) */
        const double nrm = r->norm.norm;
        const T eps = (T)ctx->eps;
        for (ptrdiff_t d = 0; d < a->D; d++) {
            const double v = (double)FN(diff)(a, i, j, n, d, eps);
            const double g = k * (nrm == 0 ? 0.0 : v / nrm);
            gi[d] += g;
            gj[d] -= g;
        }
        return;
    }
    for (ptrdiff_t d = 0; d < a->D; d++) {
        if (ctx->dist == LF_DIST_PNORM) {
            const double v = (double)FN(diff)(a, i, j, n, d, (T)ctx->eps);
            const double g = k * FN(pnorm_grad)(v, r->norm, ctx->p);
            gi[d] += g;
            gj[d] -= g;
        }
        else {
            /* dist = 1 - cos, so the signs flip */
            const double u = (double)ROW(i, n, d), v = (double)ROW(j, n, d);
            const double cc = r->c1 * r->c2;
            gi[d] -= k * (v / cc - (r->n1 != 0 ? r->s / (r->c1 * cc) * u / r->n1 : 0.0));
            gj[d] -= k * (u / cc - (r->n2 != 0 ? r->s / (r->c2 * cc) * v / r->n2 : 0.0));
        }
    }
}

/* hi += k * the diagonal of the Hessian of dist(x_i, x_j) in x_i, hj the
 * same in x_j (for the p-norm the two are equal: dist depends on x_i - x_j). */
static void
FN(distance_hess)(const FN(rows_ctx) *ctx, const FN(dist_row) *r, int i, int j,
                  ptrdiff_t n, double k, double *hi, double *hj)
{
    const lf_rows *a = ctx->a;
    const double p = ctx->p, N = r->norm.norm;
    if (k == 0) {
        return;
    }
    if (ctx->dist == LF_DIST_PNORM) {
        if (p == 0 || p == 1 || isinf(p) || N == 0) {
            return;
        }
        for (ptrdiff_t d = 0; d < a->D; d++) {
            const double v = (double)FN(diff)(a, i, j, n, d, (T)ctx->eps);
            const double G = FN(pnorm_grad)(v, r->norm, p);
            const double h =
                k * (p - 1) * ((p == 2 ? 1.0 : pow(fabs(v), p - 2)) * pow(N, 1 - p) - G * G / N);
            hi[d] += h;
            hj[d] += h;
        }
        return;
    }
    /* dist = 1 - cos, the norms clamped at eps (constant where clamped) */
    const double den = r->c1 * r->c2, cos = r->s / den;
    for (ptrdiff_t d = 0; d < a->D; d++) {
        const double u = (double)ROW(i, n, d), v = (double)ROW(j, n, d);
        hi[d] -= k * FN(cos_hess)(u, v, cos, den, r->c1 * r->c1);
        hj[d] -= k * FN(cos_hess)(v, u, cos, den, r->c2 * r->c2);
    }
}

/* FN(pnorm_grad) for 1 < p < inf and N > 0, given np1 = N^(p-1): the same
 * value, without its per-element pow of the norm where p >= 2. */
static inline double
FN(pnorm_grad_p)(double v, FN(pnorm) r, double p, double np1)
{
    if (p < 2) {
        return FN(pnorm_grad)(v, r, p);
    }
    return p == 2 ? v / r.norm : v * pow(fabs(v), p - 2) / np1;
}

/* hi += k * H_ii v_i + k * H_ij v_j and hj += k * H_ji v_i + k * H_jj v_j,
 * H the Hessian of dist(x_i, x_j): for the p-norm of w = x_i - x_j + eps,
 * H_ii = H_jj = -H_ij = (p - 1) (diag(|w|^(p-2)) N^(1-p) - G G' / N) with
 * G = dN/dw (0 for p = 0, 1, inf and where N = 0); for the cosine distance
 * minus cos's (the norms clamped at eps, constant where clamped). */
static void
FN(distance_hvp)(const FN(rows_ctx) *ctx, const FN(dist_row) *r, int i, int j, ptrdiff_t n,
                 double k, double *hi, double *hj)
{
    const lf_rows *a = ctx->a;
    const double p = ctx->p, N = r->norm.norm;
    if (k == 0) {
        return;
    }
    if (ctx->dist == LF_DIST_COSINE) {
        const double den = r->c1 * r->c2, cos = r->s / den;
        const double m1 = r->c1 * r->c1, m2 = r->c2 * r->c2;
        const FN(cos_dots) q = FN(cos_hvp_dots)(a, i, j, n, cos, den, m1, m2);
        for (ptrdiff_t d = 0; d < a->D; d++) {
            double hu, hw;
            FN(cos_hvp_at)(&q, (double)ROW(i, n, d), (double)ROW(j, n, d), VROW(i, n, d),
                           VROW(j, n, d), cos, den, m1, m2, &hu, &hw);
            hi[d] -= k * hu;
            hj[d] -= k * hw;
        }
        return;
    }
    if (p == 0 || p == 1 || isinf(p) || N == 0) {
        return;
    }
    /* N^(1-p), and N^(p-1) as FN(pnorm_grad) divides by it, once per row */
    const double n1p = pow(N, 1 - p), np1 = pow(N, p - 1);
    double gw = 0.0; /* G . (v_i - v_j) */
    for (ptrdiff_t d = 0; d < a->D; d++) {
        const double w = (double)FN(diff)(a, i, j, n, d, (T)ctx->eps);
        gw += FN(pnorm_grad_p)(w, r->norm, p, np1) *
              ((double)VROW(i, n, d) - (double)VROW(j, n, d));
    }
    for (ptrdiff_t d = 0; d < a->D; d++) {
        const double w = (double)FN(diff)(a, i, j, n, d, (T)ctx->eps);
        const double G = FN(pnorm_grad_p)(w, r->norm, p, np1);
        const double dv = (double)VROW(i, n, d) - (double)VROW(j, n, d);
        const double curv = p == 2 ? 1.0 : pow(fabs(w), p - 2); /* |w|^(p-2) */
        const double h = k * (p - 1) * (curv * n1p * dv - G * gw / N);
        hi[d] += h;
        hj[d] -= h;
    }
}

typedef struct {
    FN(rows_ctx) c;
    double *work; /* slots row buffers of LF_TRIPLET_WORK(D) doubles: the
                     gradient rows and the Hessian's, one per thread */
    ptrdiff_t stride;
} FN(triplet_ctx);

/* How a block's rows run: unit-stride rows (FN(rows_contig)); the 2-norm;
 * the coefficient paths (the 2-norm and the cosine distance: the sums of a
 * row as in FN(distance), in one pass when the rows are contiguous, and the
 * gradients from per-row coefficients, FN(trip_l2_grad) / FN(trip_mat_grad),
 * wherever the sums are finite). */
typedef struct {
    int contig, l2, coef;
} FN(trip_plan);

/* One row's distances d(a, p), d(a, n) and d(p, n) (d(a, n) again without
 * swap on the general path), whether every sum of a coefficient path was
 * finite (then so is every element), and the weights of d(a, n) and d(p, n)
 * in the hinge (min under swap, split evenly between ties, as torch's
 * autograd splits minimum's gradient). */
typedef struct {
    FN(dist_row) dp, dn, ds;
    int finite;
    double neg, w_neg, w_swap;
} FN(trip_row);

/* The 2-norm's sums of row n and its distances. */
static void
FN(trip_l2_distances)(const FN(rows_ctx) *ctx, const FN(trip_plan) *plan, ptrdiff_t n,
                      double *sums, FN(trip_row) *r)
{
    const lf_rows *a = ctx->a;
    const T eps = (T)ctx->eps;
    const T *x0 = (const T *)RBASE(0, n), *x1 = (const T *)RBASE(1, n),
            *x2 = (const T *)RBASE(2, n);
    /* swap as a constant, so that the inlined loop is specialised */
    if (plan->contig && ctx->swap) {
        FN(trip_l2_sums)(x0, x1, x2, a->D, eps, 1, sums);
    }
    else if (plan->contig) {
        FN(trip_l2_sums)(x0, x1, x2, a->D, eps, 0, sums);
    }
    else {
        sums[0] = FN(sq_diff)(a, 0, 1, n, eps);
        sums[1] = FN(sq_diff)(a, 0, 2, n, eps);
        sums[2] = ctx->swap ? FN(sq_diff)(a, 1, 2, n, eps) : 0.0;
    }
    FN(dist_row) *dr[3] = {&r->dp, &r->dn, &r->ds};
    for (int i = 0; i < 3; i++) {
        memset(dr[i], 0, sizeof(FN(dist_row)));
        dr[i]->norm.norm = sqrt(sums[i]);
        dr[i]->value = (double)(T)dr[i]->norm.norm;
    }
}

/* The cosine distance's sums of row n and its distances. */
static void
FN(trip_cos_distances)(const FN(rows_ctx) *ctx, const FN(trip_plan) *plan, ptrdiff_t n,
                       double *sums, FN(trip_row) *r)
{
    const lf_rows *a = ctx->a;
    const T *x0 = (const T *)RBASE(0, n), *x1 = (const T *)RBASE(1, n),
            *x2 = (const T *)RBASE(2, n);
    if (plan->contig && ctx->swap) {
        FN(trip_cos_sums)(x0, x1, x2, a->D, 1, sums);
    }
    else if (plan->contig) {
        FN(trip_cos_sums)(x0, x1, x2, a->D, 0, sums);
    }
    else {
        double m;
        FN(dot3)(a, 0, 1, n, &sums[0], &sums[1], &sums[2]);
        FN(dot3)(a, 0, 2, n, &sums[3], &m, &sums[4]);
        if (ctx->swap) {
            FN(dot3)(a, 1, 2, n, &sums[5], &m, &m);
        }
    }
    r->dp = FN(cos_distance)(sums[0], sums[1], sums[2], ctx->eps);
    r->dn = FN(cos_distance)(sums[3], sums[1], sums[4], ctx->eps);
    r->ds = FN(cos_distance)(sums[5], sums[2], sums[4], ctx->eps);
}

/* Row n's distances and the hinge's weights. */
static void
FN(trip_distances)(const FN(rows_ctx) *ctx, const FN(trip_plan) *plan, ptrdiff_t n,
                   FN(trip_row) *r)
{
    double sums[6] = {0, 0, 0, 0, 0, 0};
    r->finite = 0;
    if (plan->coef && plan->l2) {
        FN(trip_l2_distances)(ctx, plan, n, sums, r);
    }
    else if (plan->coef) {
        FN(trip_cos_distances)(ctx, plan, n, sums, r);
    }
    else {
        r->dp = FN(distance)(ctx, 0, 1, n);
        r->dn = FN(distance)(ctx, 0, 2, n);
        r->ds = ctx->swap ? FN(distance)(ctx, 1, 2, n) : r->dn;
    }
    if (plan->coef) {
        r->finite = 1;
        for (int i = 0; i < 6; i++) {
            r->finite &= isfinite(sums[i]) != 0;
        }
    }
    r->neg = r->dn.value;
    r->w_neg = 1.0;
    r->w_swap = 0.0;
    if (ctx->swap) {
        if (r->ds.value < r->dn.value) {
            r->neg = r->ds.value;
            r->w_neg = 0.0;
            r->w_swap = 1.0;
        }
        else if (r->ds.value == r->dn.value) {
            r->w_neg = r->w_swap = 0.5;
        }
    }
}

/* Row n of the three operands and of their gradients. */
typedef struct {
    const char *x0, *x1, *x2;
    char *g0, *g1, *g2;
} FN(trip_ptrs);

static inline FN(trip_ptrs)
FN(trip_ptrs_of)(const lf_rows *a, ptrdiff_t n)
{
    FN(trip_ptrs) r;
    r.x0 = RBASE(0, n);
    r.x1 = RBASE(1, n);
    r.x2 = RBASE(2, n);
    r.g0 = a->grad[0] + n * a->g_n[0];
    r.g1 = a->grad[1] + n * a->g_n[1];
    r.g2 = a->grad[2] + n * a->g_n[2];
    return r;
}

/* The rows r as LF_TRIP_PARAMS, with unit steps (the constant that
 * specialises the inlined loops) or their own. */
#define LF_TRIP_UNIT(r)                                                                 \
    (r).x0, (ptrdiff_t)sizeof(T), (r).x1, (ptrdiff_t)sizeof(T), (r).x2,                 \
        (ptrdiff_t)sizeof(T), (r).g0, (ptrdiff_t)sizeof(T), (r).g1, (ptrdiff_t)sizeof(T), \
        (r).g2, (ptrdiff_t)sizeof(T), a->D
#define LF_TRIP_STEP(r)                                                                 \
    (r).x0, a->x_d[0], (r).x1, a->x_d[1], (r).x2, a->x_d[2], (r).g0, a->g_d[0], (r).g1, \
        a->g_d[1], (r).g2, a->g_d[2], a->D

/* The 2-norm's gradient rows, k v / |v| (FN(distance_grad)'s 2-norm case: 0
 * at |v| = 0, nothing for k = 0). */
static void
FN(trip_l2_coef_grad)(const FN(rows_ctx) *ctx, const FN(trip_plan) *plan, ptrdiff_t n,
                      const FN(trip_row) *r, double g)
{
    const lf_rows *a = ctx->a;
    const T eps = (T)ctx->eps;
    const double k[3] = {g, -g * r->w_neg, -g * r->w_swap};
    const FN(dist_row) *dr[3] = {&r->dp, &r->dn, &r->ds};
    double c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = k[i] == 0 || dr[i]->norm.norm == 0 ? 0.0 : k[i] / dr[i]->norm.norm;
    }
    if (!ctx->swap) {
        c[2] = 0.0;
    }
    const FN(trip_ptrs) rows = FN(trip_ptrs_of)(a, n);
    if (plan->contig && ctx->swap) {
        FN(trip_l2_grad)(LF_TRIP_UNIT(rows), eps, 1, c[0], c[1], c[2]);
    }
    else if (plan->contig) {
        FN(trip_l2_grad)(LF_TRIP_UNIT(rows), eps, 0, c[0], c[1], c[2]);
    }
    else {
        FN(trip_l2_grad)(LF_TRIP_STEP(rows), eps, ctx->swap, c[0], c[1], c[2]);
    }
}

/* The cosine distance's gradient rows, g_i = sum_j c[3 i + j] x_j. */
static void
FN(trip_cos_coef_grad)(const FN(rows_ctx) *ctx, const FN(trip_plan) *plan, ptrdiff_t n,
                       const FN(trip_row) *r, double g)
{
    const lf_rows *a = ctx->a;
    double c[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    FN(cos_coef)(c, &r->dp, 0, 1, g);
    FN(cos_coef)(c, &r->dn, 0, 2, -g * r->w_neg);
    if (ctx->swap) {
        FN(cos_coef)(c, &r->ds, 1, 2, -g * r->w_swap);
    }
    const FN(trip_ptrs) rows = FN(trip_ptrs_of)(a, n);
    if (plan->contig) {
        FN(trip_mat_grad)(LF_TRIP_UNIT(rows), c);
    }
    else {
        FN(trip_mat_grad)(LF_TRIP_STEP(rows), c);
    }
}

#undef LF_TRIP_UNIT
#undef LF_TRIP_STEP

/* FN(distance_grad) or FN(distance_hess). */
typedef void (*FN(pair_fn))(const FN(rows_ctx) *ctx, const FN(dist_row) *r, int i, int j,
                            ptrdiff_t n, double k, double *gi, double *gj);

/* rows[0..3 D) = the three rows (anchor, positive, negative) of f summed
 * over the hinge's pairs, each weighted as the row's loss weighs it. */
static void
FN(trip_pairs)(const FN(rows_ctx) *ctx, ptrdiff_t n, const FN(trip_row) *r, double g,
               FN(pair_fn) f, double *rows)
{
    const ptrdiff_t D = ctx->a->D;
    for (ptrdiff_t d = 0; d < 3 * D; d++) {
        rows[d] = 0.0;
    }
    f(ctx, &r->dp, 0, 1, n, g, rows, rows + D);
    f(ctx, &r->dn, 0, 2, n, -g * r->w_neg, rows, rows + 2 * D);
    if (ctx->swap) {
        f(ctx, &r->ds, 1, 2, n, -g * r->w_swap, rows + D, rows + 2 * D);
    }
}

/* Any distance's gradient rows, summed in work (3 D doubles) first. */
static void
FN(trip_general_grad)(const FN(rows_ctx) *ctx, ptrdiff_t n, const FN(trip_row) *r, double g,
                      double *work)
{
    const lf_rows *a = ctx->a;
    FN(trip_pairs)(ctx, n, r, g, FN(distance_grad), work);
    for (ptrdiff_t d = 0; d < a->D; d++) {
        RGRAD(0, n, d) = (T)work[d];
        RGRAD(1, n, d) = (T)work[a->D + d];
        RGRAD(2, n, d) = (T)work[2 * a->D + d];
    }
}

/* The Hessian diagonals' rows (or H vec's), summed in work + 3 D (3 D
 * doubles) first. */
static void
FN(trip_hess)(const FN(rows_ctx) *ctx, ptrdiff_t n, const FN(trip_row) *r, double g,
              double *work)
{
    const lf_rows *a = ctx->a;
    double *ha = work + 3 * a->D;
    FN(trip_pairs)(ctx, n, r, g, a->vec[0] ? FN(distance_hvp) : FN(distance_hess), ha);
    for (int q = 0; q < 3; q++) {
        for (ptrdiff_t d = 0; d < a->D; d++) {
            *(T *)(a->hess[q] + n * a->g_n[q] + d * a->g_d[q]) = (T)ha[q * a->D + d];
        }
    }
}

/* Row n: its loss (returned, and written to a->out), its gradient and
 * Hessian rows when wanted. */
static double
FN(triplet_row)(const FN(rows_ctx) *ctx, const FN(trip_plan) *plan, ptrdiff_t n, double *work)
{
    const lf_rows *a = ctx->a;
    FN(trip_row) r;
    FN(trip_distances)(ctx, plan, n, &r);
    /* margin + d_pos - d_neg, rounded as torch rounds each tensor op */
    const T z = ((T)ctx->margin + (T)r.dp.value) - (T)r.neg;
    const T l = !(z <= 0) ? z : (T)0; /* nan stays nan, as torch's clamp_min */
    if (a->out) {
        *(T *)(a->out + n * a->out_n) = l;
    }
    if (a->grad[0]) {
        /* torch's clamp_min passes its gradient where z >= 0: not at a nan
         * z, whose row then gets 0 times each distance's partials (nan where
         * those are, FN(distance_grad)) */
        const double g = z >= 0 ? RGO(n) : 0.0;
        if (r.finite && plan->l2) {
            FN(trip_l2_coef_grad)(ctx, plan, n, &r, g);
        }
        else if (r.finite) {
            FN(trip_cos_coef_grad)(ctx, plan, n, &r, g);
        }
        else {
            FN(trip_general_grad)(ctx, n, &r, g, work);
        }
        if (a->hess[0]) {
            FN(trip_hess)(ctx, n, &r, g, work);
        }
    }
    return (double)l;
}

/* How the rows of ctx run (FN(trip_plan)), with contig for their layout. */
static FN(trip_plan)
FN(trip_plan_of)(const FN(rows_ctx) *ctx, int contig)
{
    FN(trip_plan) plan;
    plan.contig = contig;
    plan.l2 = ctx->dist == LF_DIST_PNORM && ctx->p == 2;
    plan.coef = plan.l2 || ctx->dist == LF_DIST_COSINE;
    return plan;
}

#ifdef LF_T_F32
static double
FN(trip_half_row)(const FN(rows_ctx) *ctx, const void *plan, ptrdiff_t n, double *work)
{
    return FN(triplet_row)(ctx, plan, n, work);
}
#endif

/* Rows [start, start + count): the sum of their losses (eight accumulators);
 * half rows are staged through the stack (FN(rows_half)), unit-stride there. */
static double
FN(triplet_rows)(const FN(rows_ctx) *ctx, ptrdiff_t start, ptrdiff_t count, double *work)
{
#ifdef LF_T_F32
    if (ctx->a->half_kind) {
        const FN(trip_plan) plan = FN(trip_plan_of)(ctx, 1);
        return FN(rows_half)(ctx, 3, 1, FN(trip_half_row), &plan, start, count, work);
    }
#endif
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const FN(trip_plan) plan = FN(trip_plan_of)(ctx, FN(rows_contig)(ctx->a, 3));
    for (ptrdiff_t n = start; n < start + count; n++) {
        acc[n & 7] += FN(triplet_row)(ctx, &plan, n, work);
    }
    return FN(sum8)(acc);
}

/* A block on the pool: its rows' work is the slot of the thread that runs
 * it (only a gradient uses work: the general path, the Hessian). */
static double
FN(triplet_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(triplet_ctx) *tc = vc;
    double *work = tc->work != NULL ? tc->work + lf_pool_slot() * tc->stride : NULL;
    return FN(triplet_rows)(&tc->c, start, count, work);
}

static double
FN(triplet)(const lf_rows *a, lf_distance dist, double margin, double p, double eps,
            int swap, double *work, int slots)
{
    FN(triplet_ctx) tc = {{a, dist, margin, p, eps, swap, LF_ROW_COS_EMB},
                          work, LF_TRIPLET_WORK(a->D)};
    /* rows are independent: units of about LF_UNIT_ELEMS elements (fixed by
     * the shape, so the sum is the same for every thread count), on at most
     * as many threads as work has slots */
    const ptrdiff_t unit = a->D > 0 && a->D < LF_UNIT_ELEMS ? LF_UNIT_ELEMS / a->D : 1;
    return lf_par_pairwise_slots(FN(triplet_block), &tc, a->N, unit, 3 * a->N * (a->D + 1),
                                 work != NULL ? slots : LF_MAX_THREADS);
}

