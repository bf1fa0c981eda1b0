/*
 * embedding_impl.h -- the body of embedding.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).  The
 * triplet margin loss is in triplet_impl.h, included at the end.
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

#ifndef LF_ROW_KINDS
#define LF_ROW_KINDS
/* Which per-row value a rows block computes (FN(rows_block)). */
enum { LF_ROW_DISTANCE, LF_ROW_SIMILARITY, LF_ROW_COS_EMB };
#endif

typedef struct {
    const lf_rows *a;
    lf_distance dist;
    double margin, p, eps;
    int swap;
    int row; /* LF_ROW_*: FN(rows_block)'s rows */
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

/* acc[d & 7] += p_d q_d over a row pair (in double), the class-d-in-lane-d-mod-8
 * order of every row sum here.  One accumulator array a loop: gcc vectorizes
 * that, and not a loop that feeds several (it fell back to two-lane code). */
static inline LF_ALWAYS_INLINE void
FN(lane_dot_s)(const char *p, ptrdiff_t sp, const char *q, ptrdiff_t sq, ptrdiff_t D,
               double *restrict acc)
{
    ptrdiff_t d = 0;
    for (; d + 8 <= D; d += 8) {
        for (int k = 0; k < 8; k++) {
            acc[k] += REL(p, sp, d + k) * REL(q, sq, d + k);
        }
    }
    for (; d < D; d++) {
        acc[d & 7] += REL(p, sp, d) * REL(q, sq, d);
    }
}

/* x_i . x_j, |x_i|^2, |x_j|^2 of one row pair, each sum its own pass over
 * the (L1-resident) rows. */
static inline LF_ALWAYS_INLINE void
FN(dot3_s)(const char *p, ptrdiff_t sp, const char *q, ptrdiff_t sq, ptrdiff_t D, double *out)
{
    double ad[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double a1[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double a2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    FN(lane_dot_s)(p, sp, q, sq, D, ad);
    FN(lane_dot_s)(p, sp, p, sp, D, a1);
    FN(lane_dot_s)(q, sq, q, sq, D, a2);
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

#ifdef LF_T_F32
/* Half rows (a->half_kind; float32 kernels, no Hessian): each row of the k
 * operands is widened onto the stack, `row` computes it as the unit-stride
 * float32 row it now is (through a view of the stacked rows: row stride 0,
 * element stride 4, the per-row loss into a float), and its gradients and
 * loss are narrowed into the half outputs.  The bits of widening every
 * operand first and narrowing every result after (the same float32 row
 * operations, each value rounded once), without those float32 copies of the
 * batch, which cost more than the loss: the embedding losses read and write
 * each element once.  The binding keeps a call here only when every operand
 * is a half array of the loss's shape (no broadcast: each gradient is its
 * operand's) with rows of at most LF_ROWS_HALF_D features. */
typedef double (*FN(half_row_fn))(const FN(rows_ctx) *ctx, const void *plan, ptrdiff_t n,
                                  double *work);

static LF_NOINLINE double
FN(rows_half)(const FN(rows_ctx) *ctx, int k, int grads, FN(half_row_fn) row,
              const void *plan, ptrdiff_t start, ptrdiff_t count, double *work)
{
    const lf_rows *a = ctx->a;
    const int bf16 = a->half_kind == LF_HALF_BF16;
    float xb[3][LF_ROWS_HALF_D], gb[3][LF_ROWS_HALF_D], loss = 0.0f;
    lf_rows r = *a;
    FN(rows_ctx) rc = *ctx;
    rc.a = &r;
    /* (a distance, grads 0, writes no gradient: a->grad is left alone) */
    for (int i = 0; i < 3; i++) {
        r.grad[i] = NULL;
        if (grads && i < k && a->grad[i]) {
            r.grad[i] = (char *)gb[i];
        }
        r.g_n[i] = 0;
        r.g_d[i] = (ptrdiff_t)sizeof(float);
        r.hess[i] = NULL; /* (never asked with half rows) */
        r.vec[i] = NULL;
    }
    for (int i = 0; i < k; i++) {
        r.x[i] = (const char *)xb[i];
        r.x_n[i] = 0;
        r.x_d[i] = (ptrdiff_t)sizeof(float);
    }
    r.t_n = r.go_n = r.out_n = 0;
    r.out = a->out ? (char *)&loss : NULL;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t n = start; n < start + count; n++) {
        for (int i = 0; i < k; i++) {
            lf_half_widen_run(bf16, a->x[i] + n * a->x_n[i], a->x_d[i], xb[i], a->D);
        }
        r.target = a->target ? a->target + n * a->t_n : NULL;
        r.grad_output = a->grad_output ? a->grad_output + n * a->go_n : NULL;
        acc[n & 7] += row(&rc, plan, n, work);
        if (a->out) {
            lf_half_narrow_run(bf16, &loss, a->out + n * a->out_n, (ptrdiff_t)sizeof(uint16_t), 1);
        }
        for (int i = 0; i < k && r.grad[i]; i++) {
            lf_half_narrow_run(bf16, gb[i], a->grad[i] + n * a->g_n[i], a->g_d[i], a->D);
        }
    }
    return FN(sum8)(acc);
}
#endif

/* Row n's p-norm distance into a->out. */
static inline LF_ALWAYS_INLINE double
FN(distance_out)(const FN(rows_ctx) *ctx, ptrdiff_t n)
{
    const lf_rows *a = ctx->a;
    *(T *)(a->out + n * a->out_n) = (T)FN(pnorm_row)(a, 0, 1, n, ctx->p, (T)ctx->eps).norm;
    return 0.0;
}

/* max(norm, eps) as torch's clamp_min takes it: a nan norm stays nan (fmax
 * would give eps, and a finite gradient where torch's is nan). */
static inline T
FN(clamp_norm)(T norm, T eps)
{
    return !(norm < eps) ? norm : eps;
}

/* Row n's cosine similarity into a->out. */
static inline LF_ALWAYS_INLINE double
FN(similarity_out)(const FN(rows_ctx) *ctx, ptrdiff_t n)
{
    const lf_rows *a = ctx->a;
    double s, m1, m2;
    FN(dot3)(a, 0, 1, n, &s, &m1, &m2);
    /* the norms are clamped in T, as torch clamps its T tensors */
    const double c1 = (double)FN(clamp_norm)((T)sqrt(m1), (T)ctx->eps);
    const double c2 = (double)FN(clamp_norm)((T)sqrt(m2), (T)ctx->eps);
    *(T *)(a->out + n * a->out_n) = (T)(s / (c1 * c2));
    return 0.0;
}

/* Rows on the pool in units of about LF_UNIT_ELEMS elements (fixed by the
 * shape; each row is computed alone, so any partition gives the same bits). */
static ptrdiff_t
FN(row_unit)(ptrdiff_t D)
{
    return D > 0 && D < LF_UNIT_ELEMS ? LF_UNIT_ELEMS / D : 1;
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

/* Row n of the cosine embedding loss: its loss (rounded to T, as the sum
 * takes it), its per-row output, gradients and Hessian. */
static inline LF_ALWAYS_INLINE double
FN(cos_emb_row)(const FN(rows_ctx) *ctx, int contig, ptrdiff_t n)
{
    const lf_rows *a = ctx->a;
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
    if (a->out) {
        *(T *)(a->out + n * a->out_n) = (T)l;
    }
    if (a->grad[0]) {
        k *= RGO(n);
        char *g0 = a->grad[0] + n * a->g_n[0], *g1 = a->grad[1] + n * a->g_n[1];
        const ptrdiff_t t = (ptrdiff_t)sizeof(T);
        if (finite && contig) {
            FN(cos_grad_s)(RBASE(0, n), t, RBASE(1, n), t, g0, t, g1, t, a->D, k, denom, cos, m1,
                           m2);
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
    return (double)(T)l;
}

/* Row n's value of a rows block (ctx->row; the distances write theirs to
 * a->out and give 0). */
static inline LF_ALWAYS_INLINE double
FN(row_value)(const FN(rows_ctx) *ctx, int contig, ptrdiff_t n)
{
    switch (ctx->row) {
    case LF_ROW_DISTANCE:
        return FN(distance_out)(ctx, n);
    case LF_ROW_SIMILARITY:
        return FN(similarity_out)(ctx, n);
    default:
        return FN(cos_emb_row)(ctx, contig, n);
    }
}

#ifdef LF_T_F32
static double
FN(half_row)(const FN(rows_ctx) *ctx, const void *plan, ptrdiff_t n, double *work)
{
    (void)plan;
    (void)work;
    return FN(row_value)(ctx, 1, n);
}
#endif

/* Rows [start, start + count) of a distance or of the cosine embedding loss:
 * the sum of their values (eight accumulators); half rows staged through the
 * stack, and only the loss writes gradients. */
static double
FN(rows_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(rows_ctx) *ctx = vc;
#ifdef LF_T_F32
    if (ctx->a->half_kind) {
        return FN(rows_half)(ctx, 2, ctx->row == LF_ROW_COS_EMB, FN(half_row), NULL, start,
                             count, NULL);
    }
#endif
    const int contig = FN(rows_contig)(ctx->a, 2);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t n = start; n < start + count; n++) {
        acc[n & 7] += FN(row_value)(ctx, contig, n);
    }
    return FN(sum8)(acc);
}

/* Rows are independent: on the pool in units fixed by the shape, so the sum
 * is the same for every thread count. */
static double
FN(rows_run)(FN(rows_ctx) *ctx)
{
    const lf_rows *a = ctx->a;
    return lf_par_pairwise(FN(rows_block), ctx, a->N, FN(row_unit)(a->D),
                           2 * a->N * (a->D + 1));
}

static void
FN(pairwise_distance)(const lf_rows *a, double p, double eps)
{
    FN(rows_ctx) ctx = {a, LF_DIST_PNORM, 0.0, p, eps, 0, LF_ROW_DISTANCE};
    (void)FN(rows_run)(&ctx);
}

static void
FN(cosine_similarity)(const lf_rows *a, double eps)
{
    FN(rows_ctx) ctx = {a, LF_DIST_COSINE, 0.0, 0.0, eps, 0, LF_ROW_SIMILARITY};
    (void)FN(rows_run)(&ctx);
}

static double
FN(cosine_embedding)(const lf_rows *a, double margin)
{
    FN(rows_ctx) ctx = {a, LF_DIST_PNORM, margin, 0, 0, 0, LF_ROW_COS_EMB};
    return FN(rows_run)(&ctx);
}

/* The triplet margin loss, its distances and their derivatives: a file of
 * its own, included here so that it shares this file's helpers and macros. */
#include "triplet_impl.h"

#undef ROW
#undef RBASE
#undef REL
#undef RGRAD
#undef VROW
#undef RGO
#undef LF_COS_EPSILON
