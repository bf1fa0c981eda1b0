/*
 * classification_impl.h -- the body of classification.c, included once per
 * dtype (T, FN, M from dtype_f32.h / dtype_f64.h).
 *
 * The input is a strided [N, C, S] view; a "sample" is one (n, s) pair and
 * samples are visited in flat order j = n * S + s, summed with lf_pairwise().
 * Class sums (max, sum of exponentials, smoothing terms) run in double.
 *
 * Per sample, with logp = log_softmax(x) and p = softmax(x):
 *   nll:            l = -w[t] x[t]
 *   cross entropy:  l = (1 - ls) (-w[t] logp[t]) + ls/C (-sum_c w[c] logp[c])
 *     dl/dx_c = (1 - ls) w[t] (p_c - [c == t]) + ls/C (p_c sum_k w[k] - w[c])
 *   probabilities:  q = (1 - ls) y + ls/C,  l = -sum_c w[c] q[c] logp[c]
 *     dl/dx_c = p_c sum_k w[k] q[k] - w[c] q[c]
 * Gradients are multiplied by grad_output[n, s], or by `scale` (which the
 * caller sets to grad_output / total_weight for a mean).
 */

#define AT(base, n, c, s, pre) \
    ((base) + (n) * a->pre##_n + (c) * a->pre##_c + (s) * a->pre##_s)
#define X(n, c, s) (*(const T *)AT(a->input, n, c, s, in))
#define W(c) (a->weight ? *(const T *)(a->weight + (c) * a->w_c) : (T)1)
#define CLASS(n, s) (*(const int64_t *)(a->target + (n) * a->t_n + (s) * a->t_s))
#define GO(n, s) \
    (a->grad_output ? *(const T *)(a->grad_output + (n) * a->go_n + (s) * a->go_s) \
                    : (T)a->scale)
#define GRAD(n, c, s) (*(T *)AT(a->grad, n, c, s, g))

typedef struct {
    const lf_classes *a;
    lf_error *err;
} FN(class_ctx);

static double
FN(class_sum8)(const double *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
           ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void
FN(store_out)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, T l)
{
    if (a->out) {
        *(T *)(a->out + n * a->out_n + s * a->out_s) = l;
    }
}

static void
FN(zero_grad_row)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s)
{
    for (ptrdiff_t c = 0; c < a->C; c++) {
        GRAD(n, c, s) = 0;
    }
}

static double
FN(class_check_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(class_ctx) *ctx = vc;
    const lf_classes *a = ctx->a;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        const int64_t t = CLASS(n, s);
        if (t == a->ignore_index) {
            continue;
        }
        if (t < 0 || t >= a->C) {
            if (ctx->err->index < 0) {
                ctx->err->index = j;
                ctx->err->ivalue = t;
            }
            continue;
        }
        acc[j & 7] += (double)W(t);
    }
    return FN(class_sum8)(acc);
}

lf_status
FN(lf_class_check)(const lf_classes *a, double *total_weight, lf_error *err)
{
    FN(class_ctx) ctx = {a, err};
    err->index = -1;
    double w = lf_pairwise(FN(class_check_block), &ctx, 0, a->N * a->S);
    if (err->index >= 0) {
        return LF_ERR_CLASS;
    }
    *total_weight = w;
    return LF_OK;
}

static double
FN(nll_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(class_ctx) *)vc)->a;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        const int64_t t = CLASS(n, s);
        if (a->grad) {
            FN(zero_grad_row)(a, n, s);
        }
        if (t == a->ignore_index) {
            FN(store_out)(a, n, s, 0);
            continue;
        }
        const T w = W(t);
        const T l = -w * X(n, t, s);
        acc[j & 7] += (double)l;
        FN(store_out)(a, n, s, l);
        if (a->grad) {
            GRAD(n, t, s) = -w * GO(n, s);
        }
    }
    return FN(class_sum8)(acc);
}

double
FN(lf_nll)(const lf_classes *a)
{
    FN(class_ctx) ctx = {a, NULL};
    return lf_pairwise(FN(nll_block), &ctx, 0, a->N * a->S);
}

/* Shift of the log-softmax of sample (n, s): logp_c = (x_c - *max) - *lsum. */
static void
FN(log_softmax_shift)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, T *max, T *lsum)
{
    T m = X(n, 0, s);
    for (ptrdiff_t c = 1; c < a->C; c++) {
        const T v = X(n, c, s);
        m = v > m ? v : m;
    }
    double sum = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        sum += (double)M(exp)(X(n, c, s) - m);
    }
    *max = m;
    *lsum = M(log)((T)sum);
}

static double
FN(cross_entropy_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(class_ctx) *)vc)->a;
    const T ls = (T)a->label_smoothing;
    const T ls_c = (T)(a->label_smoothing / (double)a->C);
    double wsum = 0.0;
    if (ls > 0) {
        for (ptrdiff_t c = 0; c < a->C; c++) {
            wsum += (double)W(c);
        }
    }
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        const int64_t t = CLASS(n, s);
        if (t == a->ignore_index) {
            FN(store_out)(a, n, s, 0);
            if (a->grad) {
                FN(zero_grad_row)(a, n, s);
            }
            continue;
        }
        T max, lsum;
        FN(log_softmax_shift)(a, n, s, &max, &lsum);
        const T wt = W(t);
        T l = -wt * ((X(n, t, s) - max) - lsum);
        if (ls > 0) {
            double smooth = 0.0;
            for (ptrdiff_t c = 0; c < a->C; c++) {
                smooth -= (double)(W(c) * ((X(n, c, s) - max) - lsum));
            }
            l = (1 - ls) * l + ls_c * (T)smooth;
        }
        acc[j & 7] += (double)l;
        FN(store_out)(a, n, s, l);
        if (a->grad) {
            const T g = GO(n, s);
            const T k_t = (1 - ls) * wt * g;
            const T k_s = ls_c * g;
            const T k_sw = k_s * (T)wsum;
            for (ptrdiff_t c = 0; c < a->C; c++) {
                const T p = M(exp)((X(n, c, s) - max) - lsum);
                T d = k_t * (p - (c == t ? (T)1 : (T)0));
                if (ls > 0) {
                    d += k_sw * p - k_s * W(c);
                }
                GRAD(n, c, s) = d;
            }
        }
    }
    return FN(class_sum8)(acc);
}

double
FN(lf_cross_entropy)(const lf_classes *a)
{
    FN(class_ctx) ctx = {a, NULL};
    return lf_pairwise(FN(cross_entropy_block), &ctx, 0, a->N * a->S);
}

#define PROB(n, c, s) (*(const T *)AT(a->target, n, c, s, t))

static double
FN(cross_entropy_probs_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(class_ctx) *)vc)->a;
    const T keep = (T)(1.0 - a->label_smoothing);
    const T ls_c = (T)(a->label_smoothing / (double)a->C);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        T max, lsum;
        if (a->C > 0) {
            FN(log_softmax_shift)(a, n, s, &max, &lsum);
        }
        double loss = 0.0, wq_sum = 0.0;
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const T wq = W(c) * (a->label_smoothing > 0 ? PROB(n, c, s) * keep + ls_c
                                                        : PROB(n, c, s));
            loss -= (double)(wq * ((X(n, c, s) - max) - lsum));
            wq_sum += (double)wq;
        }
        const T l = (T)loss;
        acc[j & 7] += loss;
        FN(store_out)(a, n, s, l);
        if (a->grad) {
            const T g = GO(n, s);
            const T k = g * (T)wq_sum;
            for (ptrdiff_t c = 0; c < a->C; c++) {
                const T wq = W(c) * (a->label_smoothing > 0
                                         ? PROB(n, c, s) * keep + ls_c
                                         : PROB(n, c, s));
                const T p = M(exp)((X(n, c, s) - max) - lsum);
                GRAD(n, c, s) = k * p - g * wq;
            }
        }
    }
    return FN(class_sum8)(acc);
}

double
FN(lf_cross_entropy_probs)(const lf_classes *a)
{
    FN(class_ctx) ctx = {a, NULL};
    return lf_pairwise(FN(cross_entropy_probs_block), &ctx, 0, a->N * a->S);
}

void
FN(lf_softmax)(const lf_classes *a, int log)
{
    if (a->C == 0) {
        return;
    }
    for (ptrdiff_t n = 0; n < a->N; n++) {
        for (ptrdiff_t s = 0; s < a->S; s++) {
            T max, lsum;
            FN(log_softmax_shift)(a, n, s, &max, &lsum);
            for (ptrdiff_t c = 0; c < a->C; c++) {
                const T logp = (X(n, c, s) - max) - lsum;
                GRAD(n, c, s) = log ? logp : M(exp)(logp);
            }
        }
    }
}

#undef AT
#undef X
#undef W
#undef CLASS
#undef GO
#undef GRAD
#undef PROB
