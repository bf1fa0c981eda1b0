/*
 * dice_hv_impl.h -- the Dice family's Hessian-vector products, included in
 * the middle of dice_impl.h: uses that file's accessors (DX, DT, DG), its
 * factors (FN(dice_f), DICE_R, DICE_E, DICE_H) and softmax helpers.  The
 * batch-wide EZ / TZ sums are a pass of their own (FN(dice_vsums_unit)),
 * between the terms and the gradient pass.
 */
/* H v (into hess, with the gradient).  In p, term k's Hessian couples its
 * elements i, j: (t_i e_j + t_j e_i) H1 / 2 - e_i e_j H2 (its diagonal is
 * DICE_H), so (H_p z)_i = (t_i EZ + e_i TZ) H1 / 2 - e_i EZ H2 with EZ = sum
 * e z and TZ = sum t z over the term, z = J v the probabilities' change along
 * v; then the chain rule through the sigmoid or the softmax.  The sums of a
 * batch-wide term are formed per unit and combined in unit order (the same
 * bits for any thread count), as pass one's. */
#define DV(n, c, s) (((const T *)a->vec)[((n) * a->C + (c)) * a->S + (s)])
#define DICE_HPZ(f, c, t, ez, K) \
    (0.5 * (f).H1[c] * ((double)(t) * (ez)[c] + DICE_E(t) * (ez)[(K) + (c)]) - \
     (f).H2[c] * DICE_E(t) * (ez)[c])

/* The softmax's p.v at (n, s), with its max and 1 / sum of exps. */
static double
FN(dice_pv)(const lf_dice *a, ptrdiff_t n, ptrdiff_t s, T *m, T *inv)
{
    FN(dice_softmax_at)(a, n, s, m, inv);
    double pv = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        pv += (double)(V(exp)(DX(n, c, s) - *m) * *inv) * (double)DV(n, c, s);
    }
    return pv;
}

/* Row n's share of EZ (ez[c]) and TZ (ez[K + c]): z = s (1 - s) v (sigmoid)
 * or p (v - p.v) (softmax). */
static void
FN(dice_vsums_row)(const lf_dice *a, ptrdiff_t n, double *ez, ptrdiff_t K)
{
    const double ga = 1.0 - a->alpha - a->beta, al = a->alpha;
    for (ptrdiff_t s = 0; s < a->S; s++) {
        T m = 0, inv = 0;
        const double pv = a->softmax ? FN(dice_pv)(a, n, s, &m, &inv) : 0.0;
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const T tv = DT(n, c, s);
            double z;
            if (a->softmax) {
                z = (double)(V(exp)(DX(n, c, s) - m) * inv) * ((double)DV(n, c, s) - pv);
            }
            else {
                T q;
                const T pr = FN(dice_sig)(DX(n, c, s), &q);
                z = (double)(pr * q) * (double)DV(n, c, s);
            }
            ez[c] += DICE_E(tv) * z;
            ez[K + c] += (double)tv * z;
        }
    }
}

/* The H v sums, unit u: per sample into the terms' own slots, else into
 * the unit's partials (EZ, TZ: two arrays of C, where pass one's were). */
static double
FN(dice_vsums_unit)(void *vctx, ptrdiff_t u)
{
    const FN(dice_ctx) *ctx = vctx;
    const lf_dice *a = ctx->a;
    const ptrdiff_t C = a->C, K = a->per_sample ? a->N * C : C;
    ptrdiff_t n0, n1;
    double *hv = ctx->work + lf_dice_sums_end(a) - 2 * K;
    double *part = lf_dice_unit(a, ctx->work, u, 2, &n0, &n1);
    for (ptrdiff_t n = n0; n < n1; n++) {
        if (a->per_sample) {
            for (ptrdiff_t c = 0; c < C; c++) {
                hv[n * C + c] = hv[K + n * C + c] = 0.0;
            }
            FN(dice_vsums_row)(a, n, hv + n * C, K);
        }
        else {
            FN(dice_vsums_row)(a, n, part, C);
        }
    }
    return 0.0;
}

/* Row n's gradient and H v, at each (n, s).  Sigmoid, with d = s (1 - s):
 * d (H_p z) + r d (1 - 2 s) v.  Softmax, with y = H_p z, vm = v - p.v and
 * rho = sum p r: p (y - p.y) + p (r vm - sum r p vm - rho vm). */
static void
FN(dice_hvp_row)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f, const double *ez, ptrdiff_t K)
{
    const double ga = 1.0 - a->alpha - a->beta, al = a->alpha;
    for (ptrdiff_t s = 0; s < a->S; s++) {
        T m = 0, inv = 0;
        double pv = 0.0, py = 0.0, rho = 0.0, rpv = 0.0;
        if (a->softmax) {
            pv = FN(dice_pv)(a, n, s, &m, &inv);
            for (ptrdiff_t c = 0; c < a->C; c++) {
                const T tv = DT(n, c, s);
                const double pr = (double)(V(exp)(DX(n, c, s) - m) * inv), r = DICE_R(f, c, tv);
                py += pr * DICE_HPZ(f, c, tv, ez, K);
                rho += pr * r;
                rpv += r * pr * ((double)DV(n, c, s) - pv);
            }
        }
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const T tv = DT(n, c, s);
            const double r = DICE_R(f, c, tv), y = DICE_HPZ(f, c, tv, ez, K);
            const double v = (double)DV(n, c, s);
            if (a->softmax) {
                const double pr = (double)(V(exp)(DX(n, c, s) - m) * inv), vm = v - pv;
                DG(a->grad, n, c, s) = (T)(pr * (r - rho));
                DG(a->hess, n, c, s) = (T)(pr * (y - py) + pr * (r * vm - rpv - rho * vm));
            }
            else {
                T q;
                const T pr = FN(dice_sig)(DX(n, c, s), &q);
                const double d = (double)(pr * q);
                DG(a->grad, n, c, s) = (T)(r * d);
                DG(a->hess, n, c, s) = (T)(d * y + r * d * (1.0 - 2.0 * (double)pr) * v);
            }
        }
    }
}
