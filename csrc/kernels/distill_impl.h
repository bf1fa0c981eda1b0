/*
 * distill_impl.h -- the body of distill.c, included once per instruction set
 * and dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Student logits x (`input`) and teacher logits z (`target`, strides t_n,
 * t_c) on the [N, C] view (S = 1); `out` and `grad_output` hold one value per
 * class and sample, [N, C], walked with out_n / out_s and go_n / go_s (s the
 * class).  With p = softmax(x / T), q = softmax(z / T) and g the per-term
 * gradient factor:
 *   l_c      = T^2 q_c (log q_c - log p_c)          (0 where q_c = 0)
 *   dl/dx_c  = T (A p_c - g_c q_c),  A = sum_k g_k q_k
 *   H        = A (diag(p) - p p^T)   (the T^2 cancels the (1/T)^2)
 * so the Hessian's diagonal is A p_c (1 - p_c).  Only the student is
 * differentiated: the teacher is data.
 */

static ptrdiff_t
FN(distill_unit)(const lf_classes *a)
{
    const ptrdiff_t c = a->C > 0 ? a->C : 1;
    return LF_UNIT_ELEMS / c > 0 ? LF_UNIT_ELEMS / c : 1;
}

#define DX(n, c) (*(const T *)(a->input + (n) * a->in_n + (c) * a->in_c))
#define DZ(n, c) (*(const T *)(a->target + (n) * a->t_n + (c) * a->t_c))
#define DGO(n, c) \
    (a->grad_output ? *(const T *)(a->grad_output + (n) * a->go_n + (c) * a->go_s) \
                    : (T)a->scale)
#define DG(n, c) (*(T *)(a->grad + (n) * a->g_n + (c) * a->g_c))
#define DH(n, c) (*(T *)(a->hess + (n) * a->g_n + (c) * a->g_c))

typedef struct {
    const lf_classes *a;
    T temp;
} FN(distill_ctx);

/* log-softmax shift of row n of `base` (x or z) divided by T:
 * log s_c = (v_c / T - *m) - *lsum. */
static void
FN(distill_shift)(const char *base, ptrdiff_t step, ptrdiff_t C, T temp, T *m, T *lsum)
{
    T mx = *(const T *)base / temp;
    for (ptrdiff_t c = 1; c < C; c++) {
        const T v = *(const T *)(base + c * step) / temp;
        mx = v > mx || v != v ? v : mx;
    }
    double sum = 0.0;
    for (ptrdiff_t c = 0; c < C; c++) {
        sum += (double)V(exp)(*(const T *)(base + c * step) / temp - mx);
    }
    *m = mx;
    *lsum = M(log)((T)sum);
}

/* Row n: its loss terms (into out), and the gradient and Hessian rows. */
static double
FN(distill_row)(const FN(distill_ctx) *ctx, ptrdiff_t n)
{
    const lf_classes *a = ctx->a;
    const T temp = ctx->temp, t2 = temp * temp;
    T mx, lx, mz, lz;
    FN(distill_shift)(a->input + n * a->in_n, a->in_c, a->C, temp, &mx, &lx);
    FN(distill_shift)(a->target + n * a->t_n, a->t_c, a->C, temp, &mz, &lz);
    double loss = 0.0, A = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const T logq = (DZ(n, c) / temp - mz) - lz;
        const T logp = (DX(n, c) / temp - mx) - lx;
        const T q = V(exp)(logq);
        const T l = q > 0 ? t2 * (q * (logq - logp)) : (T)0;
        loss += (double)l;
        if (a->out) {
            *(T *)(a->out + n * a->out_n + c * a->out_s) = l;
        }
        if (a->grad) {
            const T gq = DGO(n, c) * q;
            A += (double)gq;
            DG(n, c) = gq; /* held until A is known */
        }
    }
    if (a->grad) {
        const T At = (T)A;
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const T p = V(exp)((DX(n, c) / temp - mx) - lx);
            DG(n, c) = temp * (At * p - DG(n, c));
            if (a->hess) {
                DH(n, c) = At * (p * ((T)1 - p));
            }
        }
    }
    return loss;
}

static double
FN(distill_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(distill_ctx) *ctx = vc;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t n = start; n < start + count; n++) {
        acc[n & 7] += FN(distill_row)(ctx, n);
    }
    return FN(sum8)(acc);
}

static double
FN(distillation)(const lf_classes *a, double temperature)
{
    FN(distill_ctx) ctx = {a, (T)temperature};
    if (a->C == 0) {
        return 0.0;
    }
    return lf_par_pairwise(FN(distill_block), &ctx, a->N, FN(distill_unit)(a), a->N * a->C);
}

#undef DX
#undef DZ
#undef DGO
#undef DG
#undef DH
