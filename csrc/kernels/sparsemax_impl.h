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

static ptrdiff_t
FN(sparsemax_unit)(const lf_classes *a)
{
    const ptrdiff_t c = a->C > 0 ? a->C : 1;
    return LF_UNIT_ELEMS / c > 0 ? LF_UNIT_ELEMS / c : 1;
}

/* (targets are checked by lf_margin_check) */
#define SX(n, c, s) (*(const T *)(a->input + (n) * a->in_n + (c) * a->in_c + (s) * a->in_s))
#define SCLASS(n) (*(const int64_t *)(a->target + (n) * a->t_n))
#define SGO(n) (a->grad_output ? *(const T *)(a->grad_output + (n) * a->go_n) : (T)a->scale)
#define SG(n, c, s) (*(T *)(a->grad + (n) * a->g_n + (c) * a->g_c + (s) * a->g_s))
#define SH(n, c, s) (*(T *)(a->hess + (n) * a->g_n + (c) * a->g_c + (s) * a->g_s))

/* tau of sample (n, s), and the size of its support in *k.  A nan anywhere
 * makes tau nan (and so every p). */
static double
FN(sparsemax_tau)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, ptrdiff_t *k)
{
    T mx = SX(n, 0, s);
    for (ptrdiff_t c = 1; c < a->C; c++) {
        const T v = SX(n, c, s);
        mx = v > mx || v != v ? v : mx;
    }
    double tau = (double)mx - 1.0;
    ptrdiff_t size = -1;
    for (;;) {
        double sum = 0.0;
        ptrdiff_t count = 0;
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const double v = (double)SX(n, c, s);
            if (v > tau) {
                sum += v;
                count++;
            }
        }
        if (count == 0) { /* nan (or inf - inf) */
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

/* sparsemax of samples [start, start + count) into grad. */
static double
FN(sparsemax_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(sparsemax_ctx) *)vc)->a;
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        ptrdiff_t k;
        const double tau = FN(sparsemax_tau)(a, n, s, &k);
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const double d = (double)SX(n, c, s) - tau;
            SG(n, c, s) = d > 0 ? (T)d : d == d ? (T)0 : (T)NAN;
        }
    }
    return 0.0;
}

static void
FN(sparsemax)(const lf_classes *a)
{
    FN(sparsemax_ctx) ctx = {a};
    if (a->C == 0) {
        return;
    }
    (void)lf_par_pairwise(FN(sparsemax_block), &ctx, a->N * a->S, FN(sparsemax_unit)(a),
                          a->N * a->S * a->C);
}

/* Row n of the loss: its value, and the gradient and Hessian rows. */
static double
FN(sparsemax_loss_row)(const lf_classes *a, ptrdiff_t n)
{
    const int64_t t = SCLASS(n);
    ptrdiff_t k;
    const double tau = FN(sparsemax_tau)(a, n, 0, &k);
    const double xt = (double)SX(n, t, 0);
    double lin = 0.0, sq = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const double x = (double)SX(n, c, 0), d = x - tau;
        const double p = d > 0 ? d : d == d ? 0.0 : (double)NAN;
        if (p != 0) { /* 0 * inf is 0 here: a class outside the support adds nothing */
            lin += p * (x - xt);
            sq += p * p;
        }
    }
    if (a->grad) {
        const T go = SGO(n);
        const T h = k > 0 ? go * (T)(1.0 - 1.0 / (double)k) : (T)0;
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const double d = (double)SX(n, c, 0) - tau;
            const T p = d > 0 ? (T)d : d == d ? (T)0 : (T)NAN;
            SG(n, c, 0) = go * (p - (c == t ? (T)1 : (T)0));
            if (a->hess && p != 0) {
                SH(n, c, 0) = h;
            }
        }
    }
    const double l = lin + 0.5 * (1.0 - sq);
    if (a->out) {
        *(T *)(a->out + n * a->out_n) = (T)l;
    }
    return (double)(T)l;
}

static double
FN(sparsemax_loss_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(sparsemax_ctx) *)vc)->a;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t n = start; n < start + count; n++) {
        acc[n & 7] += FN(sparsemax_loss_row)(a, n);
    }
    return FN(sum8)(acc);
}

static double
FN(sparsemax_loss)(const lf_classes *a)
{
    FN(sparsemax_ctx) ctx = {a};
    return lf_par_pairwise(FN(sparsemax_loss_block), &ctx, a->N, FN(sparsemax_unit)(a),
                           a->N * a->C);
}

#undef SX
#undef SCLASS
#undef SGO
#undef SG
#undef SH
