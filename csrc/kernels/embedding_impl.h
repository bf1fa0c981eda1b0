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
 * Second derivatives (the diagonals into a->hess[k]; with a->vec, the
 * products H v there instead, FN(cos_hvp_at) and FN(distance_hvp)):
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

#define VROW(k, n, d) (*(const T *)(a->vec[k] + (n) * a->g_n[k] + (d) * a->g_d[k]))

/* The four dot products of the product of cos(x_i, x_j)'s Hessian with
 * (v_i, v_j): x_i . v_i, x_j . v_j and the gradients' ga . v_i, gb . v_j. */
typedef struct {
    double ava, bvb, gava, gbvb;
} FN(cos_dots);

static FN(cos_dots)
FN(cos_hvp_dots)(const lf_rows *a, int i, int j, ptrdiff_t n, double cos, double den,
                 double m1, double m2)
{
    FN(cos_dots) q = {0.0, 0.0, 0.0, 0.0};
    for (ptrdiff_t d = 0; d < a->D; d++) {
        const double u = (double)ROW(i, n, d), w = (double)ROW(j, n, d);
        const double vu = (double)VROW(i, n, d), vw = (double)VROW(j, n, d);
        q.ava += u * vu;
        q.bvb += w * vw;
        q.gava += (w / den - cos * u / m1) * vu;
        q.gbvb += (u / den - cos * w / m2) * vw;
    }
    return q;
}

/* Element (u, w) of the product of the Hessian of cos = x_i . x_j / den
 * (den = sqrt(m1 m2), m the squared norms) in (x_i, x_j) with (vu, vw):
 * into *hu (the x_i part) and *hw. */
static inline void
FN(cos_hvp_at)(const FN(cos_dots) *q, double u, double w, double vu, double vw, double cos,
               double den, double m1, double m2, double *hu, double *hw)
{
    const double haa = -w * q->ava / (den * m1) - u * q->gava / m1 - cos * vu / m1 +
                       2.0 * cos * u * q->ava / (m1 * m1);
    const double hab = vw / den - w * q->bvb / (den * m2) - u * q->gbvb / m1;
    const double hbb = -u * q->bvb / (den * m2) - w * q->gbvb / m2 - cos * vw / m2 +
                       2.0 * cos * w * q->bvb / (m2 * m2);
    const double hba = vu / den - u * q->ava / (den * m1) - w * q->gava / m2;
    *hu = haa + hab;
    *hw = hba + hbb;
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

/* Row n of operand k: its first element and its step along D. */
#define RBASE(k, n) (a->x[k] + (n) * a->x_n[k])
#define REL(base, step, d) ((double)*(const T *)((base) + (d) * (step)))

/* Whether operands [0, k) are unit-stride along D, and their gradients too
 * when present: then each row's loops run on plain arrays (the same
 * operations in the same order as the strided loops, so the same bits) and
 * vectorize. */
static inline int
FN(rows_contig)(const lf_rows *a, int k)
{
    for (int i = 0; i < k; i++) {
        if (a->x_d[i] != (ptrdiff_t)sizeof(T) || (a->grad[i] && a->g_d[i] != (ptrdiff_t)sizeof(T))) {
            return 0;
        }
    }
    return 1;
}

/* Every per-row sum here runs in double with eight accumulators, term d
 * into acc[d % 8], combined by FN(sum8): one order, whatever the layout,
 * the instruction set or the thread count, and one that vectorizes. */

/* sum_d ((x_i - x_j) + eps)^2 (pow = 2) or |(x_i - x_j) + eps| (pow = 1),
 * the difference formed in T as torch forms it. */
static inline LF_ALWAYS_INLINE double
FN(diff_sum_s)(const char *p, ptrdiff_t sp, const char *q, ptrdiff_t sq, ptrdiff_t D, T eps,
               int pow2)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t d = 0;
    for (; d + 8 <= D; d += 8) {
        for (int k = 0; k < 8; k++) {
            const T vt = (*(const T *)(p + (d + k) * sp) - *(const T *)(q + (d + k) * sq)) + eps;
            const double v = (double)vt;
            acc[k] += pow2 ? v * v : fabs(v);
        }
    }
    for (; d < D; d++) {
        const T vt = (*(const T *)(p + d * sp) - *(const T *)(q + d * sq)) + eps;
        const double v = (double)vt;
        acc[d & 7] += pow2 ? v * v : fabs(v);
    }
    return FN(sum8)(acc);
}

/* sum_d (x_i - x_j)^2 (pow2) or sum_d |x_i - x_j| of row pair n; unit-stride
 * rows get the copy of the loop with constant steps. */
static inline LF_ALWAYS_INLINE double
FN(diff_sum)(const lf_rows *a, int i, int j, ptrdiff_t n, T eps, const int pow2)
{
    const ptrdiff_t t = (ptrdiff_t)sizeof(T);
    if (a->x_d[i] == t && a->x_d[j] == t) {
        return FN(diff_sum_s)(RBASE(i, n), t, RBASE(j, n), t, a->D, eps, pow2);
    }
    return FN(diff_sum_s)(RBASE(i, n), a->x_d[i], RBASE(j, n), a->x_d[j], a->D, eps, pow2);
}

static double
FN(sq_diff)(const lf_rows *a, int i, int j, ptrdiff_t n, T eps)
{
    return FN(diff_sum)(a, i, j, n, eps, 1);
}

/* x_i . x_j, |x_i|^2, |x_j|^2 of one row pair. */
static inline LF_ALWAYS_INLINE void
FN(dot3_s)(const char *p, ptrdiff_t sp, const char *q, ptrdiff_t sq, ptrdiff_t D, double *out)
{
    double ad[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double a1[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double a2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t d = 0;
    for (; d + 8 <= D; d += 8) {
        for (int k = 0; k < 8; k++) {
            const double u = REL(p, sp, d + k), v = REL(q, sq, d + k);
            ad[k] += u * v;
            a1[k] += u * u;
            a2[k] += v * v;
        }
    }
    for (; d < D; d++) {
        const double u = REL(p, sp, d), v = REL(q, sq, d);
        ad[d & 7] += u * v;
        a1[d & 7] += u * u;
        a2[d & 7] += v * v;
    }
    out[0] = FN(sum8)(ad);
    out[1] = FN(sum8)(a1);
    out[2] = FN(sum8)(a2);
}

static FN(pnorm)
FN(pnorm_row)(const lf_rows *a, int i, int j, ptrdiff_t n, double p, T eps)
{
    FN(pnorm) r = {0.0, 0};
    const ptrdiff_t D = a->D;
    if (p == 2) {
        r.norm = sqrt(FN(sq_diff)(a, i, j, n, eps));
    }
    else if (p == 1) {
        r.norm = FN(diff_sum)(a, i, j, n, eps, 0);
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
    const ptrdiff_t t = (ptrdiff_t)sizeof(T);
    double r[3];
    if (a->x_d[i] == t && a->x_d[j] == t) {
        FN(dot3_s)(RBASE(i, n), t, RBASE(j, n), t, a->D, r);
    }
    else {
        FN(dot3_s)(RBASE(i, n), a->x_d[i], RBASE(j, n), a->x_d[j], a->D, r);
    }
    *s = r[0];
    *m1 = r[1];
    *m2 = r[2];
}

typedef struct {
    const lf_rows *a;
    double p, eps;
} FN(dist_ctx);

static double
FN(pairwise_distance_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(dist_ctx) *ctx = vc;
    const lf_rows *a = ctx->a;
    for (ptrdiff_t n = start; n < start + count; n++) {
        *(T *)(a->out + n * a->out_n) = (T)FN(pnorm_row)(a, 0, 1, n, ctx->p, (T)ctx->eps).norm;
    }
    return 0.0;
}

/* Rows on the pool in units of about LF_UNIT_ELEMS elements (fixed by the
 * shape; each row is computed alone, so any partition gives the same bits). */
static ptrdiff_t
FN(row_unit)(ptrdiff_t D)
{
    return D > 0 && D < LF_UNIT_ELEMS ? LF_UNIT_ELEMS / D : 1;
}

static void
FN(pairwise_distance)(const lf_rows *a, double p, double eps)
{
    FN(dist_ctx) ctx = {a, p, eps};
    (void)lf_par_pairwise(FN(pairwise_distance_block), &ctx, a->N, FN(row_unit)(a->D),
                          2 * a->N * (a->D + 1));
}

static double
FN(cosine_similarity_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(dist_ctx) *ctx = vc;
    const lf_rows *a = ctx->a;
    const double eps = ctx->eps;
    for (ptrdiff_t n = start; n < start + count; n++) {
        double s, m1, m2;
        FN(dot3)(a, 0, 1, n, &s, &m1, &m2);
        /* the norms are clamped in T, as torch clamps its T tensors */
        const double c1 = (double)M(fmax)((T)sqrt(m1), (T)eps);
        const double c2 = (double)M(fmax)((T)sqrt(m2), (T)eps);
        *(T *)(a->out + n * a->out_n) = (T)(s / (c1 * c2));
    }
    return 0.0;
}

static void
FN(cosine_similarity)(const lf_rows *a, double eps)
{
    FN(dist_ctx) ctx = {a, 0.0, eps};
    (void)lf_par_pairwise(FN(cosine_similarity_block), &ctx, a->N, FN(row_unit)(a->D),
                          2 * a->N * (a->D + 1));
}

/* The cosine-embedding gradient of one row, k (v / denom - cos u / m1), as
 * k / denom * v - k cos / m1 * u: the coefficients once per row (the caller
 * has checked that the sums are finite, so the products of zero
 * coefficients are zeros, as before).  Called with constant unit steps for
 * contiguous rows (then it vectorizes): the same operations, the same bits. */
static inline LF_ALWAYS_INLINE void
FN(cos_grad_s)(const char *x1, ptrdiff_t s1, const char *x2, ptrdiff_t s2, char *g1,
               ptrdiff_t t1, char *g2, ptrdiff_t t2, ptrdiff_t D, double k, double denom,
               double cos, double m1, double m2)
{
    const double kd = k / denom, b1 = k * cos / m1, b2 = k * cos / m2;
    for (ptrdiff_t d = 0; d < D; d++) {
        const double u = REL(x1, s1, d), v = REL(x2, s2, d);
        *(T *)(g1 + d * t1) = (T)(kd * v - b1 * u);
        *(T *)(g2 + d * t2) = (T)(kd * u - b2 * v);
    }
}

/* Row n's Hessian diagonals (or H vec) of k cos(x_0, x_1). */
static void
FN(cos_emb_hess)(const lf_rows *a, ptrdiff_t n, double k, double cos, double den, double m1,
                 double m2)
{
    FN(cos_dots) q = {0.0, 0.0, 0.0, 0.0};
    if (a->vec[0]) {
        q = FN(cos_hvp_dots)(a, 0, 1, n, cos, den, m1, m2);
    }
    for (ptrdiff_t d = 0; d < a->D; d++) {
        const double u = (double)ROW(0, n, d), v = (double)ROW(1, n, d);
        double h0, h1;
        if (a->vec[0]) {
            FN(cos_hvp_at)(&q, u, v, VROW(0, n, d), VROW(1, n, d), cos, den, m1, m2, &h0, &h1);
        }
        else {
            h0 = FN(cos_hess)(u, v, cos, den, m1);
            h1 = FN(cos_hess)(v, u, cos, den, m2);
        }
        *(T *)(a->hess[0] + n * a->g_n[0] + d * a->g_d[0]) = (T)(k * h0);
        *(T *)(a->hess[1] + n * a->g_n[1] + d * a->g_d[1]) = (T)(k * h1);
    }
}

static double
FN(cosine_embedding_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(rows_ctx) *ctx = vc;
    const lf_rows *a = ctx->a;
    const int contig = FN(rows_contig)(a, 2);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t n = start; n < start + count; n++) {
        double s, m1, m2;
        FN(dot3)(a, 0, 1, n, &s, &m1, &m2);
        const int finite = isfinite(s) && isfinite(m1) && isfinite(m2);
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
            char *g0 = a->grad[0] + n * a->g_n[0], *g1 = a->grad[1] + n * a->g_n[1];
            const ptrdiff_t t = (ptrdiff_t)sizeof(T);
            if (finite && contig) {
                FN(cos_grad_s)(RBASE(0, n), t, RBASE(1, n), t, g0, t, g1, t, a->D, k, denom, cos,
                               m1, m2);
            }
            else if (finite) {
                FN(cos_grad_s)(RBASE(0, n), a->x_d[0], RBASE(1, n), a->x_d[1], g0, a->g_d[0], g1,
                               a->g_d[1], a->D, k, denom, cos, m1, m2);
            }
            else {
                for (ptrdiff_t d = 0; d < a->D; d++) {
                    const double u = (double)ROW(0, n, d), v = (double)ROW(1, n, d);
                    RGRAD(0, n, d) = (T)(k * (v / denom - cos * u / m1));
                    RGRAD(1, n, d) = (T)(k * (u / denom - cos * v / m2));
                }
            }
        }
        if (a->hess[0] && k != 0) { /* k is dl/dcos times grad_output by now */
            FN(cos_emb_hess)(a, n, k, cos, denom, m1, m2);
        }
    }
    return FN(sum8)(acc);
}

static double
FN(cosine_embedding)(const lf_rows *a, double margin)
{
    FN(rows_ctx) ctx = {a, LF_DIST_PNORM, margin, 0, 0, 0};
    /* rows are independent: on the pool in units fixed by the shape, so the
     * sum is the same for every thread count */
    return lf_par_pairwise(FN(cosine_embedding_block), &ctx, a->N, FN(row_unit)(a->D),
                           2 * a->N * (a->D + 1));
}

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
    r.c1 = (double)M(fmax)((T)r.n1, (T)eps);
    r.c2 = (double)M(fmax)((T)r.n2, (T)eps);
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

/* |(a - p) + eps|^2, |(a - n) + eps|^2 and, with swap, |(p - n) + eps|^2. */
static inline LF_ALWAYS_INLINE void
FN(trip_l2_sums)(const T *restrict x0, const T *restrict x1, const T *restrict x2,
                 ptrdiff_t D, T eps, int swap, double *out)
{
    double ap[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double an[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double pn[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t d = 0;
    for (; d + 8 <= D; d += 8) {
        for (int k = 0; k < 8; k++) {
            const double vp = (double)((x0[d + k] - x1[d + k]) + eps);
            const double vn = (double)((x0[d + k] - x2[d + k]) + eps);
            ap[k] += vp * vp;
            an[k] += vn * vn;
            if (swap) {
                const double vs = (double)((x1[d + k] - x2[d + k]) + eps);
                pn[k] += vs * vs;
            }
        }
    }
    for (; d < D; d++) {
        const double vp = (double)((x0[d] - x1[d]) + eps);
        const double vn = (double)((x0[d] - x2[d]) + eps);
        ap[d & 7] += vp * vp;
        an[d & 7] += vn * vn;
        if (swap) {
            const double vs = (double)((x1[d] - x2[d]) + eps);
            pn[d & 7] += vs * vs;
        }
    }
    out[0] = FN(sum8)(ap);
    out[1] = FN(sum8)(an);
    out[2] = FN(sum8)(pn);
}

/* a.p, |a|^2, |p|^2, a.n, |n|^2 and, with swap, p.n. */
static inline LF_ALWAYS_INLINE void
FN(trip_cos_sums)(const T *restrict x0, const T *restrict x1, const T *restrict x2,
                  ptrdiff_t D, int swap, double *out)
{
    double sap[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double qa[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double qp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double san[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double qn[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double spn[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t d = 0;
    for (; d + 8 <= D; d += 8) {
        for (int k = 0; k < 8; k++) {
            const double u = (double)x0[d + k], v = (double)x1[d + k], w = (double)x2[d + k];
            sap[k] += u * v;
            qa[k] += u * u;
            qp[k] += v * v;
            san[k] += u * w;
            qn[k] += w * w;
            if (swap) {
                spn[k] += v * w;
            }
        }
    }
    for (; d < D; d++) {
        const double u = (double)x0[d], v = (double)x1[d], w = (double)x2[d];
        sap[d & 7] += u * v;
        qa[d & 7] += u * u;
        qp[d & 7] += v * v;
        san[d & 7] += u * w;
        qn[d & 7] += w * w;
        if (swap) {
            spn[d & 7] += v * w;
        }
    }
    out[0] = FN(sum8)(sap);
    out[1] = FN(sum8)(qa);
    out[2] = FN(sum8)(qp);
    out[3] = FN(sum8)(san);
    out[4] = FN(sum8)(qn);
    out[5] = FN(sum8)(spn);
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
    double *work; /* 6 D doubles: the gradient rows and the Hessian's (serial run) */
    int par;      /* on the pool: each block uses a buffer of its own */
} FN(triplet_ctx);

/* Rows up to this many doubles of gradient and Hessian (6 D) run on the
 * thread pool, each block with its rows on its own stack (256 KiB; the pool's
 * threads have at least 1 MiB).  The test does not depend on whether the
 * Hessian is wanted, so the loss's sum is the same with and without it. */
#define LF_TRIPLET_STACK 32768

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
        const double g = !(z < 0) ? RGO(n) : 0.0; /* nan passes, as torch */
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

/* Rows [start, start + count): the sum of their losses (eight accumulators). */
static double
FN(triplet_rows)(const FN(rows_ctx) *ctx, ptrdiff_t start, ptrdiff_t count, double *work)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    FN(trip_plan) plan;
    plan.contig = FN(rows_contig)(ctx->a, 3);
    plan.l2 = ctx->dist == LF_DIST_PNORM && ctx->p == 2;
    plan.coef = plan.l2 || ctx->dist == LF_DIST_COSINE;
    for (ptrdiff_t n = start; n < start + count; n++) {
        acc[n & 7] += FN(triplet_row)(ctx, &plan, n, work);
    }
    return FN(sum8)(acc);
}

/* The same for a block on the pool, its work rows on its own stack. */
static LF_NOINLINE double
FN(triplet_rows_stack)(const FN(rows_ctx) *ctx, ptrdiff_t start, ptrdiff_t count)
{
    double stack_work[LF_TRIPLET_STACK];
    return FN(triplet_rows)(ctx, start, count, stack_work);
}

/* Only a gradient uses work (the general path, the Hessian), so a loss
 * alone reserves no stack. */
static double
FN(triplet_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(triplet_ctx) *tc = vc;
    if (tc->par && tc->c.a->grad[0] != NULL) {
        return FN(triplet_rows_stack)(&tc->c, start, count);
    }
    return FN(triplet_rows)(&tc->c, start, count, tc->work);
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
#undef RBASE
#undef REL
#undef RGRAD
#undef VROW
#undef RGO
#undef LF_COS_EPSILON
#undef LF_TRIPLET_STACK
