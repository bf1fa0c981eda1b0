/*
 * embedding_impl.h -- the body of embedding.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Every loss here compares rows: operand k is a strided [N, D] view, and
 * the per-row sums (dot products, squared norms, p-norms) run in double.
 * Rows are summed with lf_pairwise().
 *
 * pairwise_distance (torch's Distance.cpp): d = ||x1 - x2 + eps||_p over the
 * last axis, the eps added to the difference in the input's dtype.  Its
 * derivative with respect to v = x1 - x2 + eps follows torch's norm_backward
 * exactly, so the subgradients agree where the norm is not differentiable:
 *   p = 0: 0;  p = 1: sgn(v);  p = inf: sgn(v) / (number of |v_i| = d) at
 *   the maxima, 0 elsewhere;  p < 1: sgn(v) |v|^(p-1) d^(1-p) (0 where v = 0);
 *   1 < p < 2: sgn(v) |v|^(p-1) / d^(p-1);  p >= 2: v |v|^(p-2) / d^(p-1)
 *   (both 0 where d = 0).
 *
 * cosine_similarity (torch >= 2.0): sum (x1 / max(||x1||, eps)) (x2 /
 * max(||x2||, eps)), the clamp outside autograd, so with n = ||x1||,
 * c = max(n, eps), s = x1 . x2:
 *   d/dx1 = x2 / (c1 c2) - s / (c1^2 c2) * x1 / n1   (the last term 0 at n1 = 0)
 *
 * cosine_embedding_loss (Loss.cpp): cos = s / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)),
 *   l = 1 - cos (y = 1), max(cos - margin, 0) (y = -1), 0 for any other y;
 *   dcos/dx1 = x2 / denom - cos x1 / (|x1|^2 + 1e-12).
 *
 * triplet_margin_loss: l = max(margin + d(a, p) - d(a, n), 0), with
 * d(a, n) replaced by min(d(a, n), d(p, n)) under swap.  As in torch's
 * autograd, clamp_min passes the gradient where its argument is >= 0 and
 * minimum splits it evenly between tied arguments.
 *
 * Second derivatives (the diagonals, into a->hess[k]; the full products are
 * the hvp's, in Python):
 *   cosine, cos = s / den with m_k the squared norms (+ the epsilon of each
 *   loss) and den = sqrt(m1 m2), g = dcos/dx1 = x2 / den - cos x1 / m1:
 *     d2cos/dx1_d2 = -x2 x1 / (den m1) - g x1 / m1 - cos / m1 + 2 cos x1^2 / m1^2
 *   p-norm N of v, G = dN/dv:  d2N/dv_d2 = (p - 1) (|v|^(p-2) N^(1-p) - G^2 / N),
 *     0 for p = 0, 1 and inf (piecewise linear) and where N = 0.
 * Each loss is linear in these on each side of its hinge (cosine embedding:
 * k = dl/dcos is -1 or 0 / 1; triplet: the clamp's 0 / 1 and the swap's
 * weights), so its Hessian is k times theirs.
 */

#define ROW(k, n, d) (*(const T *)(a->x[k] + (n) * a->x_n[k] + (d) * a->x_d[k]))
#define RGRAD(k, n, d) (*(T *)(a->grad[k] + (n) * a->g_n[k] + (d) * a->g_d[k]))
#define RGO(n) \
    (a->grad_output ? (double)*(const T *)(a->grad_output + (n) * a->go_n) : a->scale)

/* d2cos/du_d2 at (u, v) = (x1[d], x2[d]) (see the top of the file). */
static inline double
FN(cos_hess)(double u, double v, double cos, double den, double m1)
{
    const double g = v / den - cos * u / m1;
    return -v * u / (den * m1) - g * u / m1 - cos / m1 + 2.0 * cos * u * u / (m1 * m1);
}

/* The cosine-embedding constant of torch's Loss.cpp, a float in both dtypes. */
#define LF_COS_EPSILON ((double)1e-12f)

typedef struct {
    const lf_rows *a;
    lf_distance dist;
    double margin, p, eps;
    int swap;
} FN(rows_ctx);

/* A p-norm and, for p = inf, how many elements attain it. */
typedef struct {
    double norm;
    ptrdiff_t ties;
} FN(pnorm);

/* v_d = x_i[n, d] - x_j[n, d] + eps, in T as torch forms it. */
static inline T
FN(diff)(const lf_rows *a, int i, int j, ptrdiff_t n, ptrdiff_t d, T eps)
{
    return (ROW(i, n, d) - ROW(j, n, d)) + eps;
}

static FN(pnorm)
FN(pnorm_row)(const lf_rows *a, int i, int j, ptrdiff_t n, double p, T eps)
{
    FN(pnorm) r = {0.0, 0};
    const ptrdiff_t D = a->D;
    if (p == 2) {
        double s = 0.0;
        for (ptrdiff_t d = 0; d < D; d++) {
            const double v = (double)FN(diff)(a, i, j, n, d, eps);
            s += v * v;
        }
        r.norm = sqrt(s);
    }
    else if (p == 1) {
        for (ptrdiff_t d = 0; d < D; d++) {
            r.norm += fabs((double)FN(diff)(a, i, j, n, d, eps));
        }
    }
    else if (isinf(p)) {
        for (ptrdiff_t d = 0; d < D; d++) {
            const double v = fabs((double)FN(diff)(a, i, j, n, d, eps));
            if (v > r.norm || isnan(v)) {
                r.norm = v;
            }
            if (isnan(r.norm)) {
                break;
            }
        }
        for (ptrdiff_t d = 0; d < D; d++) {
            const double v = fabs((double)FN(diff)(a, i, j, n, d, eps));
            r.ties += v == r.norm || isnan(v);
        }
    }
    else if (p == 0) {
        for (ptrdiff_t d = 0; d < D; d++) {
            r.norm += FN(diff)(a, i, j, n, d, eps) != 0;
        }
    }
    else {
        double s = 0.0;
        for (ptrdiff_t d = 0; d < D; d++) {
            s += pow(fabs((double)FN(diff)(a, i, j, n, d, eps)), p);
        }
        r.norm = pow(s, 1.0 / p);
    }
    return r;
}

/* d norm / d v for one element (torch's norm_backward). */
static inline double
FN(pnorm_grad)(double v, FN(pnorm) r, double p)
{
    const double sgn = v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0);
    if (p == 0) {
        return 0.0;
    }
    if (p == 1) {
        return sgn;
    }
    if (p == 2) {
        return r.norm == 0 ? 0.0 : v / r.norm;
    }
    if (isinf(p)) {
        return (fabs(v) == r.norm || isnan(v)) ? sgn / (double)r.ties : 0.0;
    }
    if (p < 1) {
        return v == 0 ? 0.0 : sgn * pow(fabs(v), p - 1) * pow(r.norm, 1 - p);
    }
    if (r.norm == 0) {
        return 0.0;
    }
    if (p < 2) {
        return sgn * pow(fabs(v), p - 1) / pow(r.norm, p - 1);
    }
    return v * pow(fabs(v), p - 2) / pow(r.norm, p - 1);
}

/* Sums of one row pair for the cosine similarity: x_i . x_j, |x_i|^2, |x_j|^2. */
static void
FN(dot3)(const lf_rows *a, int i, int j, ptrdiff_t n, double *s, double *m1, double *m2)
{
    double dot = 0.0, q1 = 0.0, q2 = 0.0;
    for (ptrdiff_t d = 0; d < a->D; d++) {
        const double u = (double)ROW(i, n, d), v = (double)ROW(j, n, d);
        dot += u * v;
        q1 += u * u;
        q2 += v * v;
    }
    *s = dot;
    *m1 = q1;
    *m2 = q2;
}

static void
FN(pairwise_distance)(const lf_rows *a, double p, double eps)
{
    for (ptrdiff_t n = 0; n < a->N; n++) {
        *(T *)(a->out + n * a->out_n) = (T)FN(pnorm_row)(a, 0, 1, n, p, (T)eps).norm;
    }
}

static void
FN(cosine_similarity)(const lf_rows *a, double eps)
{
    for (ptrdiff_t n = 0; n < a->N; n++) {
        double s, m1, m2;
        FN(dot3)(a, 0, 1, n, &s, &m1, &m2);
        /* the norms are clamped in T, as torch clamps its T tensors */
        const double c1 = (double)M(fmax)((T)sqrt(m1), (T)eps);
        const double c2 = (double)M(fmax)((T)sqrt(m2), (T)eps);
        *(T *)(a->out + n * a->out_n) = (T)(s / (c1 * c2));
    }
}

static double
FN(cosine_embedding_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(rows_ctx) *ctx = vc;
    const lf_rows *a = ctx->a;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t n = start; n < start + count; n++) {
        double s, m1, m2;
        FN(dot3)(a, 0, 1, n, &s, &m1, &m2);
        m1 += LF_COS_EPSILON;
        m2 += LF_COS_EPSILON;
        const double denom = sqrt(m1 * m2);
        const double cos = s / denom;
        const T y = *(const T *)(a->target + n * a->t_n);
        double l = 0.0, k = 0.0; /* the loss and dl/dcos */
        if (y == 1) {
            l = 1.0 - cos;
            k = -1.0;
        }
        else if (y == -1) {
            const double z = cos - ctx->margin;
            l = !(z <= 0) ? z : 0.0; /* nan stays nan, as torch's clamp_min */
            k = !(z < 0) ? 1.0 : 0.0;
        }
        acc[n & 7] += (double)(T)l;
        if (a->out) {
            *(T *)(a->out + n * a->out_n) = (T)l;
        }
        if (a->grad[0]) {
            k *= RGO(n);
            for (ptrdiff_t d = 0; d < a->D; d++) {
                const double u = (double)ROW(0, n, d), v = (double)ROW(1, n, d);
                RGRAD(0, n, d) = (T)(k * (v / denom - cos * u / m1));
                RGRAD(1, n, d) = (T)(k * (u / denom - cos * v / m2));
            }
        }
        if (a->hess[0] && k != 0) { /* k is dl/dcos times grad_output by now */
            for (ptrdiff_t d = 0; d < a->D; d++) {
                const double u = (double)ROW(0, n, d), v = (double)ROW(1, n, d);
                *(T *)(a->hess[0] + n * a->g_n[0] + d * a->g_d[0]) =
                    (T)(k * FN(cos_hess)(u, v, cos, denom, m1));
                *(T *)(a->hess[1] + n * a->g_n[1] + d * a->g_d[1]) =
                    (T)(k * FN(cos_hess)(v, u, cos, denom, m2));
            }
        }
    }
    return FN(sum8)(acc);
}

static double
FN(cosine_embedding)(const lf_rows *a, double margin)
{
    FN(rows_ctx) ctx = {a, LF_DIST_PNORM, margin, 0, 0, 0};
    return lf_pairwise(FN(cosine_embedding_block), &ctx, 0, a->N);
}

/* One distance of a triplet row and what its gradient needs. */
typedef struct {
    double value;
    FN(pnorm) norm;         /* LF_DIST_PNORM */
    double s, n1, n2, c1, c2; /* LF_DIST_COSINE */
} FN(dist_row);

static FN(dist_row)
FN(distance)(const FN(rows_ctx) *ctx, int i, int j, ptrdiff_t n)
{
    FN(dist_row) r;
    memset(&r, 0, sizeof(r));
    if (ctx->dist == LF_DIST_PNORM) {
        r.norm = FN(pnorm_row)(ctx->a, i, j, n, ctx->p, (T)ctx->eps);
        r.value = (double)(T)r.norm.norm;
    }
    else {
        double m1, m2;
        FN(dot3)(ctx->a, i, j, n, &r.s, &m1, &m2);
        r.n1 = (double)(T)sqrt(m1);
        r.n2 = (double)(T)sqrt(m2);
        r.c1 = (double)M(fmax)((T)r.n1, (T)ctx->eps);
        r.c2 = (double)M(fmax)((T)r.n2, (T)ctx->eps);
        r.value = (double)(T)(1.0 - r.s / (r.c1 * r.c2));
    }
    return r;
}

/* grad_i += k * d dist(x_i, x_j) / d x_i and grad_j += k * d dist / d x_j. */
static void
FN(distance_grad)(const FN(rows_ctx) *ctx, const FN(dist_row) *r, int i, int j,
                  ptrdiff_t n, double k, double *gi, double *gj)
{
    const lf_rows *a = ctx->a;
    if (k == 0) {
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

typedef struct {
    FN(rows_ctx) c;
    double *work; /* 6 D doubles: the gradient rows and the Hessian's (serial run) */
    int par;      /* on the pool: each block uses a buffer of its own */
} FN(triplet_ctx);

/* Rows up to this many doubles of gradient and Hessian (6 D) run on the
 * thread pool, each block with its rows on its own stack (256 KiB; the pool's
 * threads have at least 1 MiB).  The test does not depend on whether the
 * Hessian is wanted, so the loss's sum is the same with and without it. */
#define LF_TRIPLET_STACK 32768

static double
FN(triplet_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(triplet_ctx) *tc = vc;
    const FN(rows_ctx) *ctx = &tc->c;
    const lf_rows *a = ctx->a;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double stack_work[LF_TRIPLET_STACK];
    double *work = tc->par ? stack_work : tc->work;
    for (ptrdiff_t n = start; n < start + count; n++) {
        const FN(dist_row) dp = FN(distance)(ctx, 0, 1, n);
        const FN(dist_row) dn = FN(distance)(ctx, 0, 2, n);
        FN(dist_row) ds = dn;
        double neg = dn.value, w_neg = 1.0, w_swap = 0.0;
        if (ctx->swap) {
            ds = FN(distance)(ctx, 1, 2, n);
            if (ds.value < dn.value) {
                neg = ds.value;
                w_neg = 0.0;
                w_swap = 1.0;
            }
            else if (ds.value == dn.value) {
                w_neg = w_swap = 0.5;
            }
        }
        /* margin + d_pos - d_neg, rounded as torch rounds each tensor op */
        const T z = ((T)ctx->margin + (T)dp.value) - (T)neg;
        const T l = !(z <= 0) ? z : (T)0; /* nan stays nan, as torch's clamp_min */
        acc[n & 7] += (double)l;
        if (a->out) {
            *(T *)(a->out + n * a->out_n) = l;
        }
        if (a->grad[0]) {
            const double g = !(z < 0) ? RGO(n) : 0.0; /* nan passes, as torch */
            double *ga = work, *gp = work + a->D, *gn = work + 2 * a->D;
            for (ptrdiff_t d = 0; d < 3 * a->D; d++) {
                work[d] = 0.0;
            }
            FN(distance_grad)(ctx, &dp, 0, 1, n, g, ga, gp);
            FN(distance_grad)(ctx, &dn, 0, 2, n, -g * w_neg, ga, gn);
            if (ctx->swap) {
                FN(distance_grad)(ctx, &ds, 1, 2, n, -g * w_swap, gp, gn);
            }
            for (ptrdiff_t d = 0; d < a->D; d++) {
                RGRAD(0, n, d) = (T)ga[d];
                RGRAD(1, n, d) = (T)gp[d];
                RGRAD(2, n, d) = (T)gn[d];
            }
            if (a->hess[0]) {
                double *ha = work + 3 * a->D, *hp = ha + a->D, *hn = ha + 2 * a->D;
                for (ptrdiff_t d = 0; d < 3 * a->D; d++) {
                    ha[d] = 0.0;
                }
                FN(distance_hess)(ctx, &dp, 0, 1, n, g, ha, hp);
                FN(distance_hess)(ctx, &dn, 0, 2, n, -g * w_neg, ha, hn);
                if (ctx->swap) {
                    FN(distance_hess)(ctx, &ds, 1, 2, n, -g * w_swap, hp, hn);
                }
                for (int q = 0; q < 3; q++) {
                    for (ptrdiff_t d = 0; d < a->D; d++) {
                        *(T *)(a->hess[q] + n * a->g_n[q] + d * a->g_d[q]) =
                            (T)ha[q * a->D + d];
                    }
                }
            }
        }
    }
    return FN(sum8)(acc);
}

static double
FN(triplet)(const lf_rows *a, lf_distance dist, double margin, double p, double eps,
            int swap, double *work)
{
    FN(triplet_ctx) tc = {{a, dist, margin, p, eps, swap}, work, 0};
    if (6 * a->D <= LF_TRIPLET_STACK) {
        /* rows are independent: units of about LF_UNIT_ELEMS elements (fixed
         * by the shape, so the sum is the same for every thread count) */
        tc.par = 1;
        const ptrdiff_t unit = a->D > 0 && a->D < LF_UNIT_ELEMS ? LF_UNIT_ELEMS / a->D : 1;
        return lf_par_pairwise(FN(triplet_block), &tc, a->N, unit, 3 * a->N * (a->D + 1));
    }
    return lf_pairwise(FN(triplet_block), &tc, 0, a->N);
}

#undef ROW
#undef RGRAD
#undef RGO
#undef LF_COS_EPSILON
#undef LF_TRIPLET_STACK
