/*
 * dice_impl.h -- the body of the Dice family (dice.c), written once in T / FN
 * / M / V (dtype_f32.h, dtype_f64.h); see lf_dice in pylossfn.h.
 *
 * Two passes over the input.  The first sums I, P and T of each term: per
 * sample each unit of rows owns its terms; over the batch each unit (a fixed
 * block of rows) sums its own partials, which are then combined in block
 * order, so the sums are the same bits for every thread count.  The terms'
 * losses and gradient factors follow; the second pass writes the gradient
 * (and the Hessian's diagonal) element by element.
 */
#define DX(n, c, s) (((const T *)a->input)[((n) * a->C + (c)) * a->S + (s)])
#define DT(n, c, s)                                                                   \
    (a->index ? (T)(a->index[(n) * a->S + (s)] == (c))                                \
              : ((const T *)a->target)[((n) * a->C + (c)) * a->S + (s)])
#define DG(buf, n, c, s) (((T *)(buf))[((n) * a->C + (c)) * a->S + (s)])

typedef struct {
    const lf_dice *a;
    double *work;
} FN(dice_ctx);

/* s = sigmoid(x), and 1 - s without cancellation. */
static inline T
FN(dice_sig)(T x, T *q)
{
    const T e = V(exp)(-M(fabs)(x));
    const T inv = (T)1 / ((T)1 + e);
    *q = x >= 0 ? e * inv : inv;
    return x >= 0 ? inv : e * inv;
}

/* The softmax over the classes at (n, s): its max and 1 / sum of exps. */
static inline void
FN(dice_softmax_at)(const lf_dice *a, ptrdiff_t n, ptrdiff_t s, T *mx, T *inv)
{
    T m = DX(n, 0, s);
    for (ptrdiff_t c = 1; c < a->C; c++) {
        const T x = DX(n, c, s);
        m = x > m || x != x ? x : m;
    }
    double sum = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        sum += (double)V(exp)(DX(n, c, s) - m);
    }
    *mx = m;
    *inv = (T)(1.0 / sum);
}

/* The sums of row n into acc: I, P, T of class c at acc[step c + 0, 1, 2]. */
static void
FN(dice_row_sums)(const lf_dice *a, ptrdiff_t n, double *restrict acc, const ptrdiff_t step)
{
    const ptrdiff_t C = a->C, S = a->S;
    if (!a->softmax) {
        for (ptrdiff_t c = 0; c < C; c++) {
            double i = 0.0, p = 0.0, t = 0.0;
            for (ptrdiff_t s = 0; s < S; s++) {
                T q;
                const T pr = FN(dice_sig)(DX(n, c, s), &q), tv = DT(n, c, s);
                i += (double)(pr * tv);
                p += (double)pr;
                t += (double)tv;
            }
            acc[step * c] += i;
            acc[step * c + 1] += p;
            acc[step * c + 2] += t;
        }
        return;
    }
    for (ptrdiff_t s = 0; s < S; s++) {
        T m, inv;
        FN(dice_softmax_at)(a, n, s, &m, &inv);
        for (ptrdiff_t c = 0; c < C; c++) {
            const T pr = V(exp)(DX(n, c, s) - m) * inv, tv = DT(n, c, s);
            acc[step * c] += (double)(pr * tv);
            acc[step * c + 1] += (double)pr;
            acc[step * c + 2] += (double)tv;
        }
    }
}

/* Pass one, unit u (rows [u R, (u + 1) R)): per sample into the terms' own
 * slots (4 apart: the factors replace them), else into the unit's partials. */
static double
FN(dice_sums_unit)(void *vctx, ptrdiff_t u)
{
    const FN(dice_ctx) *ctx = vctx;
    const lf_dice *a = ctx->a;
    const ptrdiff_t R = lf_dice_rows(a), C = a->C;
    const ptrdiff_t n0 = u * R, n1 = a->N - n0 < R ? a->N : n0 + R;
    double *part = ctx->work + 5 * C + 3 * u * C;
    if (!a->per_sample) {
        memset(part, 0, (size_t)(3 * C) * sizeof(double));
    }
    for (ptrdiff_t n = n0; n < n1; n++) {
        if (a->per_sample) {
            double *acc = ctx->work + 4 * n * C;
            memset(acc, 0, (size_t)(4 * C) * sizeof(double));
            FN(dice_row_sums)(a, n, acc, 4);
        }
        else {
            FN(dice_row_sums)(a, n, part, 3);
        }
    }
    return 0.0;
}

/* The per-term sums of the batch-wide case: the units' partials combined in
 * unit order (Neumaier), into the terms' slots (I, P, T at 4 k). */
static void
FN(dice_combine)(const lf_dice *a, double *work)
{
    const ptrdiff_t C = a->C, R = lf_dice_rows(a), units = (a->N + R - 1) / R;
    for (ptrdiff_t c = 0; c < C; c++) {
        for (int j = 0; j < 3; j++) {
            lf_ksum k = {0.0, 0.0};
            for (ptrdiff_t u = 0; u < units; u++) {
                lf_ksum_add(&k, work[5 * C + 3 * (u * C + c) + j]);
            }
            work[4 * c + j] = lf_ksum_value(&k);
        }
    }
}

/* The class weights of the generalized Dice, 1 / (T_c^2 + 1e-7) with T_c
 * over the whole batch, normalized to sum to C, into work[4 terms, + C). */
static void
FN(dice_gen_weights)(const lf_dice *a, double *work)
{
    const ptrdiff_t C = a->C, rows = a->per_sample ? a->N : 1;
    double *w = work + 4 * (a->per_sample ? a->N * C : C);
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t c = 0; c < C; c++) {
        lf_ksum k = {0.0, 0.0};
        for (ptrdiff_t n = 0; n < rows; n++) {
            lf_ksum_add(&k, work[4 * (n * C + c) + 2]);
        }
        const double t = lf_ksum_value(&k);
        w[c] = 1.0 / (t * t + 1e-7);
        lf_ksum_add(&total, w[c]);
    }
    const double norm = (double)C / lf_ksum_value(&total);
    for (ptrdiff_t c = 0; c < C; c++) {
        w[c] *= norm;
    }
}

/* Each term's loss (into out, and the returned sum) and gradient factors
 * (over its sums: A, B of dd/dp = A + B t, and H1, H2 of the Hessian), all
 * scaled by the term's weight and grad_output. */
static double
FN(dice_terms)(const lf_dice *a, double *work)
{
    const ptrdiff_t C = a->C, terms = a->per_sample ? a->N * C : C;
    const double sm = a->smooth, al = a->alpha, be = a->beta, ga = 1.0 - al - be;
    const double *gw = work + 4 * terms;
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t k = 0; k < terms; k++) {
        const ptrdiff_t c = k % (C > 0 ? C : 1);
        double *f = work + 4 * k;
        const double I = f[0], P = f[1], Tt = f[2];
        const double num = I + sm, den = I + al * (P - I) + be * (Tt - I) + sm;
        const double w = a->generalized ? gw[c]
                         : a->weight    ? (double)*(const T *)(a->weight + c * a->w_c)
                                        : 1.0;
        const double d = w * (1.0 - num / den);
        lf_ksum_add(&total, d);
        if (a->out) {
            *(T *)(a->out + k * a->out_step) = (T)d;
        }
        const double g =
            w * (a->grad_output ? a->scale * (double)*(const T *)(a->grad_output +
                                                                    k * a->go_step)
                                : a->scale);
        f[0] = g * al * num / (den * den);
        f[1] = g * (ga * num / (den * den) - 1.0 / den);
        f[2] = 2.0 * g / (den * den);
        f[3] = 2.0 * g * num / (den * den * den);
    }
    return lf_ksum_value(&total);
}

/* Pass two at one element: dd/dp = r = A + B t; the Hessian's diagonal in
 * p, h = t e H1 - e^2 H2 with e = (1 - alpha - beta) t + alpha. */
#define DICE_R(f, t) ((f)[0] + (f)[1] * (double)(t))
#define DICE_H(f, t, ga, al) \
    ((double)(t) * ((ga) * (double)(t) + (al)) * (f)[2] - \
     ((ga) * (double)(t) + (al)) * ((ga) * (double)(t) + (al)) * (f)[3])

/* The gradient (and Hessian diagonal) of row n, sigmoid: per element,
 * grad = r s (1 - s), hess = h (s (1 - s))^2 + r s (1 - s) (1 - 2 s). */
static void
FN(dice_row_grad_sig)(const lf_dice *a, ptrdiff_t n, const double *fk)
{
    const ptrdiff_t C = a->C, S = a->S;
    const double ga = 1.0 - a->alpha - a->beta, al = a->alpha;
    for (ptrdiff_t c = 0; c < C; c++) {
        const double *f = fk + 4 * c;
        for (ptrdiff_t s = 0; s < S; s++) {
            T q;
            const T pr = FN(dice_sig)(DX(n, c, s), &q), tv = DT(n, c, s);
            const double d = (double)(pr * q), r = DICE_R(f, tv);
            DG(a->grad, n, c, s) = (T)(r * d);
            if (a->hess) {
                DG(a->hess, n, c, s) =
                    (T)(DICE_H(f, tv, ga, al) * d * d + r * d * (1.0 - 2.0 * (double)pr));
            }
        }
    }
}

/* The same for the softmax over the classes at each (n, s), with
 * rho = sum_c p_c r_c and kappa = sum_c h_c p_c^2:
 * grad_c = p_c (r_c - rho),
 * hess_c = p_c^2 (h_c (1 - 2 p_c) + kappa) + (1 - 2 p_c) grad_c. */
static void
FN(dice_row_grad_soft)(const lf_dice *a, ptrdiff_t n, const double *fk)
{
    const ptrdiff_t C = a->C, S = a->S;
    const double ga = 1.0 - a->alpha - a->beta, al = a->alpha;
    for (ptrdiff_t s = 0; s < S; s++) {
        T m, inv;
        FN(dice_softmax_at)(a, n, s, &m, &inv);
        double rho = 0.0, kappa = 0.0;
        for (ptrdiff_t c = 0; c < C; c++) {
            const T pr = V(exp)(DX(n, c, s) - m) * inv, tv = DT(n, c, s);
            DG(a->grad, n, c, s) = pr; /* kept for the second loop */
            rho += (double)pr * DICE_R(fk + 4 * c, tv);
            if (a->hess) {
                kappa += DICE_H(fk + 4 * c, tv, ga, al) * (double)pr * (double)pr;
            }
        }
        for (ptrdiff_t c = 0; c < C; c++) {
            const double pr = (double)DG(a->grad, n, c, s);
            const T tv = DT(n, c, s);
            const double g = pr * (DICE_R(fk + 4 * c, tv) - rho);
            DG(a->grad, n, c, s) = (T)g;
            if (a->hess) {
                DG(a->hess, n, c, s) = (T)(pr * pr * (DICE_H(fk + 4 * c, tv, ga, al) *
                                                          (1.0 - 2.0 * pr) + kappa) +
                                           (1.0 - 2.0 * pr) * g);
            }
        }
    }
}

/* Pass two, unit u: the rows of the unit, each with its terms' factors. */
static double
FN(dice_grad_unit)(void *vctx, ptrdiff_t u)
{
    const FN(dice_ctx) *ctx = vctx;
    const lf_dice *a = ctx->a;
    const ptrdiff_t R = lf_dice_rows(a), C = a->C;
    const ptrdiff_t n0 = u * R, n1 = a->N - n0 < R ? a->N : n0 + R;
    for (ptrdiff_t n = n0; n < n1; n++) {
        const double *fk = ctx->work + (a->per_sample ? 4 * n * C : 0);
        if (a->softmax) {
            FN(dice_row_grad_soft)(a, n, fk);
        }
        else {
            FN(dice_row_grad_sig)(a, n, fk);
        }
    }
    return 0.0;
}

static double
FN(dice)(const lf_dice *a, double *work)
{
    FN(dice_ctx) ctx = {a, work};
    const ptrdiff_t R = lf_dice_rows(a), units = (a->N + R - 1) / R;
    const ptrdiff_t elems = a->N * a->C * a->S;
    (void)lf_parallel_sum(FN(dice_sums_unit), &ctx, units, elems * (a->softmax ? 2 : 1));
    if (!a->per_sample) {
        FN(dice_combine)(a, work);
    }
    if (a->generalized) {
        FN(dice_gen_weights)(a, work);
    }
    const double total = FN(dice_terms)(a, work);
    if (a->grad) {
        (void)lf_parallel_sum(FN(dice_grad_unit), &ctx, units, elems * (a->hess ? 4 : 3));
    }
    return total;
}

#undef DICE_R
#undef DICE_H
#undef DX
#undef DT
#undef DG
