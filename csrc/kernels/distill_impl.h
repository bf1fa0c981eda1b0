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
 *
 * A row is walked in chunks of DL_CHUNK classes, copied to the stack when
 * its operand is not unit-stride, so that every layout runs the same
 * vectorizable loops and gives the same bits; row sums run in DL_L double
 * lanes (class c in lane c mod DL_L), added in order.  The gradient, the
 * Hessian and the loss terms are C-contiguous (the binding allocates them).
 */

#ifndef DL_CHUNK
#define DL_CHUNK 256 /* a multiple of DL_L */
#define DL_L 16
/* What the gradient pass writes into the Hessian row: nothing, p itself
 * (softmax_hvp's input, when H v is asked) or the diagonal A p (1 - p). */
enum { DL_NO_HESS, DL_HESS_P, DL_HESS_DIAG };
#endif

typedef struct {
    const lf_classes *a;
    T temp;
} FN(distill_ctx);

static inline double
FN(dl_lanes)(const double *acc)
{
    double s = 0.0;
    for (int k = 0; k < DL_L; k++) {
        s += acc[k];
    }
    return s;
}

/* The log-softmax shift of v / T for a row: log s_c = (v_c / T - *m) - *lsum. */
static void
FN(dl_shift)(const char *base, ptrdiff_t step, ptrdiff_t C, T temp, T *m, T *lsum)
{
    T buf[DL_CHUNK], mx = *(const T *)base;
    for (ptrdiff_t c0 = 0; c0 < C; c0 += DL_CHUNK) {
        const ptrdiff_t n = C - c0 < DL_CHUNK ? C - c0 : DL_CHUNK;
        const T cm = FN(row_max)(FN(gather)(base + c0 * step, step, n, buf), n);
        mx = cm > mx || cm != cm ? cm : mx;
    }
    mx = mx / temp; /* division by T > 0 is monotonic: the max of v / T */
    double acc[DL_L] = {0};
    for (ptrdiff_t c0 = 0; c0 < C; c0 += DL_CHUNK) {
        const ptrdiff_t n = C - c0 < DL_CHUNK ? C - c0 : DL_CHUNK;
        const T *restrict v = FN(gather)(base + c0 * step, step, n, buf);
        ptrdiff_t i = 0;
        for (; i + DL_L <= n; i += DL_L) {
            for (int k = 0; k < DL_L; k++) {
                acc[k] += (double)V(exp)(v[i + k] / temp - mx);
            }
        }
        for (int k = 0; i + k < n; k++) {
            acc[k] += (double)V(exp)(v[i + k] / temp - mx);
        }
    }
    *m = mx;
    *lsum = M(log)((T)FN(dl_lanes)(acc));
}

/* Term i of a chunk, in lane k: into out (when asked), g * q into the
 * gradient row (when asked); the lanes of the loss and of A. */
static inline LF_ALWAYS_INLINE void
FN(dl_term)(const T *restrict x, const T *restrict z, const T *restrict go,
            ptrdiff_t i, int k, const T sh[5], T *restrict out, T *restrict gq,
            double *restrict lacc, double *restrict aacc)
{
    const T temp = sh[0];
    const T logq = (z[i] / temp - sh[3]) - sh[4];
    const T logp = (x[i] / temp - sh[1]) - sh[2];
    const T q = V(exp)(logq);
    const T l = q > 0 ? (temp * temp) * (q * (logq - logp)) : (T)0;
    lacc[k] += (double)l;
    if (out) {
        out[i] = l;
    }
    if (gq) {
        const T v = go[i] * q;
        aacc[k] += (double)v;
        gq[i] = v;
    }
}

/* A chunk of n terms: blocks of DL_L lanes (which gcc vectorizes), then the tail. */
static inline LF_ALWAYS_INLINE void
FN(dl_terms)(const T *restrict x, const T *restrict z, const T *restrict go,
             ptrdiff_t n, const T sh[5], T *restrict out, T *restrict gq, double *restrict lacc,
             double *restrict aacc)
{
    ptrdiff_t i = 0;
    for (; i + DL_L <= n; i += DL_L) {
        for (int k = 0; k < DL_L; k++) {
            FN(dl_term)(x, z, go, i + k, k, sh, out, gq, lacc, aacc);
        }
    }
    for (int k = 0; i + k < n; k++) {
        FN(dl_term)(x, z, go, i + k, k, sh, out, gq, lacc, aacc);
    }
}

/* The gradient of a chunk of n classes from g q (in gc): T (A p - g q); `hmode`
 * a constant after inlining, so the loop has no test and vectorizes. */
static inline LF_ALWAYS_INLINE void
FN(dl_grad)(const T *restrict x, ptrdiff_t n, T temp, T mx, T lx, T A, T *restrict gc,
            T *restrict hc, const int hmode)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const T p = V(exp)((x[i] / temp - mx) - lx);
        gc[i] = temp * (A * p - gc[i]);
        if (hmode == DL_HESS_P) {
            hc[i] = p;
        }
        else if (hmode == DL_HESS_DIAG) {
            hc[i] = A * (p * ((T)1 - p));
        }
    }
}

/* Row n: its loss terms (into out), and the gradient and Hessian rows. */
static double
FN(distill_row)(const FN(distill_ctx) *ctx, ptrdiff_t n)
{
    const lf_classes *a = ctx->a;
    const ptrdiff_t C = a->C;
    const char *xr = a->input + n * a->in_n, *zr = a->target + n * a->t_n;
    const char *gor = a->grad_output ? a->grad_output + n * a->go_n : NULL;
    T *out = a->out ? (T *)(a->out + n * a->out_n) : NULL;
    T *g = a->grad ? (T *)(a->grad + n * a->g_n) : NULL;
    T sh[5], bx[DL_CHUNK], bz[DL_CHUNK], bg[DL_CHUNK], bs[DL_CHUNK];
    double lacc[DL_L] = {0}, aacc[DL_L] = {0};
    sh[0] = ctx->temp;
    if (g && !gor) { /* a loaded factor, not a test per element: AVX2 has no masked load */
        for (ptrdiff_t i = 0; i < (C < DL_CHUNK ? C : DL_CHUNK); i++) {
            bs[i] = (T)a->scale;
        }
    }
    FN(dl_shift)(xr, a->in_c, C, sh[0], &sh[1], &sh[2]);
    FN(dl_shift)(zr, a->t_c, C, sh[0], &sh[3], &sh[4]);
    for (ptrdiff_t c0 = 0; c0 < C; c0 += DL_CHUNK) {
        const ptrdiff_t k = C - c0 < DL_CHUNK ? C - c0 : DL_CHUNK;
        const T *x = FN(gather)(xr + c0 * a->in_c, a->in_c, k, bx);
        const T *z = FN(gather)(zr + c0 * a->t_c, a->t_c, k, bz);
        const T *go = gor && g ? FN(gather)(gor + c0 * a->go_s, a->go_s, k, bg) : g ? bs : NULL;
        /* each (out, gradient) case its own copy of the loop, with no test left in it */
        if (out && g) {
            FN(dl_terms)(x, z, go, k, sh, out + c0, g + c0, lacc, aacc);
        }
        else if (g) {
            FN(dl_terms)(x, z, go, k, sh, NULL, g + c0, lacc, aacc);
        }
        else if (out) {
            FN(dl_terms)(x, z, NULL, k, sh, out + c0, NULL, lacc, aacc);
        }
        else {
            FN(dl_terms)(x, z, NULL, k, sh, NULL, NULL, lacc, aacc);
        }
    }
    if (g) {
        const T A = (T)FN(dl_lanes)(aacc), temp = sh[0];
        T *h = a->hess ? (T *)(a->hess + n * a->g_n) : NULL;
        const int hmode = h == NULL ? DL_NO_HESS : a->vec ? DL_HESS_P : DL_HESS_DIAG;
        for (ptrdiff_t c0 = 0; c0 < C; c0 += DL_CHUNK) {
            const ptrdiff_t k = C - c0 < DL_CHUNK ? C - c0 : DL_CHUNK;
            const T *x = FN(gather)(xr + c0 * a->in_c, a->in_c, k, bx);
            T *hc = h ? h + c0 : NULL;
            /* each case its own copy of the loop, with no test left in it */
            if (hmode == DL_NO_HESS) {
                FN(dl_grad)(x, k, temp, sh[1], sh[2], A, g + c0, hc, DL_NO_HESS);
            }
            else if (hmode == DL_HESS_P) {
                FN(dl_grad)(x, k, temp, sh[1], sh[2], A, g + c0, hc, DL_HESS_P);
            }
            else {
                FN(dl_grad)(x, k, temp, sh[1], sh[2], A, g + c0, hc, DL_HESS_DIAG);
            }
        }
        if (h && a->vec) { /* H v = A (diag(p) - p p^T) v, v C-contiguous as h */
            FN(softmax_hvp)((char *)h, (ptrdiff_t)sizeof(T), a->vec + n * a->g_n,
                            (ptrdiff_t)sizeof(T), C, A);
        }
    }
    return FN(dl_lanes)(lacc);
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
    return lf_par_pairwise(FN(distill_block), &ctx, a->N, lf_unit_rows(a->C),
                           a->N * a->C * LF_WORK_DISTILL);
}
