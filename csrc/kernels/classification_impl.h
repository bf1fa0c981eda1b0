/*
 * classification_impl.h -- the body of classification.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
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
 *
 * Rows with unit class stride (the usual [N, C] layout) take a vectorized
 * path: max, then exp(x - max) written straight into the gradient row while
 * the sum runs in double, then one scaling pass (p = e / sum).  Samples are
 * cut into work units of about LF_UNIT_ELEMS elements for the threads.
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
    return FN(sum8)(acc);
}

static lf_status
FN(class_check)(const lf_classes *a, double *total_weight, lf_error *err)
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
    /* (half input and gradient: a->half_kind, read and written one element
     * a row through FN(class_get) / FN(class_put)) */
    const size_t gsize = FN(grad_size)(a);
    const int unit_rows = a->S == 1 && a->g_c == (ptrdiff_t)gsize;
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        const int64_t t = CLASS(n, s);
        if (a->grad && !a->grad_is_zero) {
            if (unit_rows) {
                memset(a->grad + n * a->g_n, 0, (size_t)a->C * gsize);
            }
            else {
                FN(zero_grad_row)(a, n, s);
            }
        }
        if (t == a->ignore_index) {
            FN(store_out)(a, n, s, 0);
            continue;
        }
        const T w = W(t);
        const T l = -w * FN(class_get)(a, AT(a->input, n, t, s, in));
        acc[j & 7] += (double)l;
        FN(store_out)(a, n, s, l);
        if (a->grad) {
            FN(class_put)(a, AT(a->grad, n, t, s, g), -w * GO(n, s));
        }
    }
    return FN(sum8)(acc);
}

static double
FN(nll)(const lf_classes *a)
{
    FN(class_ctx) ctx = {a, NULL};
    return lf_par_pairwise(FN(nll_block), &ctx, a->N * a->S, lf_unit_rows(a->C),
                           a->N * a->S * (a->grad ? a->C : 1));
}

static inline void
FN(prefetch_row)(const void *p, ptrdiff_t C, int write)
{
#if defined(__GNUC__)
    const char *b = p;
    for (ptrdiff_t o = 0; o < C * (ptrdiff_t)sizeof(T); o += 64) {
        if (write) {
            __builtin_prefetch(b + o, 1, 3);
        }
        else {
            __builtin_prefetch(b + o, 0, 3);
        }
    }
#else
    (void)p;
    (void)C;
    (void)write;
#endif
}

/* The gradient row of a smoothed cross-entropy from g = exp(x - m):
 * g_c = k_t p_c + (k_sw p_c - k_s w_c), p_c = g_c * inv. */
static inline LF_ALWAYS_INLINE void
FN(ce_grad_smooth)(T *restrict g, const T *restrict w, ptrdiff_t C, T inv, T k_t, T k_sw,
                   T k_s, const int weighted)
{
    for (ptrdiff_t c = 0; c < C; c++) {
        const T p = g[c] * inv;
        g[c] = k_t * p + (k_sw * p - k_s * (weighted ? w[c] : (T)1));
    }
}

/* The vectorized cross-entropy of one sample whose C logits x and gradient
 * row g are unit-stride (weight w too, or NULL); returns the loss.
 * wsum = sum_c w_c (C without weights).  The smoothing term
 * -sum_c w_c logp_c = -(sum_c w_c (x_c - m) - lsum * wsum) is summed in the
 * exp pass, so a row is read twice with or without smoothing. */
static T
FN(ce_row)(const lf_classes *a, const T *restrict x, T *restrict g, const T *restrict w,
           int64_t t, double wsum, T go)
{
    enum { L = LF_CE_L };
    const ptrdiff_t C = a->C;
    const int smooth = a->label_smoothing > 0; /* tested in double as torch does: a
                                                * tiny ls is 0 in float32 but still
                                                * adds 0 * inf */
    const T ls = (T)a->label_smoothing;
    const T ls_c = (T)(a->label_smoothing / (double)C);
    const T m = FN(row_max)(x, C);
    double acc[L], sx[L];
    for (int k = 0; k < L; k++) {
        acc[k] = 0.0;
        sx[k] = 0.0;
    }
    if (g) {
        FN(ce_passes)(x, g, w, m, C, acc, sx, 1, smooth);
    }
    else {
        FN(ce_passes)(x, g, w, m, C, acc, sx, 0, smooth);
    }
    double sum = 0.0, sxs = 0.0;
    for (int k = 0; k < L; k++) {
        sum += acc[k];
        sxs += sx[k];
    }
    const T lsum = M(log)((T)sum);
    const T wt = w ? w[t] : (T)1;
    T l = -wt * ((x[t] - m) - lsum);
    if (smooth) {
        const double smoothed = -(sxs - (double)lsum * wsum);
        l = (1 - ls) * l + ls_c * (T)smoothed;
    }
    if (g) {
        const T inv = (T)(1.0 / sum);
        const T k_t = (1 - ls) * wt * go;
        const T k_s = ls_c * go;
        const T k_sw = k_s * (T)wsum;
        const T p_t = g[t] * inv;
        if (smooth) {
            if (w) {
                FN(ce_grad_smooth)(g, w, C, inv, k_t, k_sw, k_s, 1);
            }
            else {
                FN(ce_grad_smooth)(g, w, C, inv, k_t, k_sw, k_s, 0);
            }
        }
        else {
            for (ptrdiff_t c = 0; c < C; c++) {
                g[c] = k_t * (g[c] * inv);
            }
        }
        /* the target's term, [c == t], kept out of the loops above */
        T d = k_t * (p_t - 1);
        if (smooth) {
            d += k_sw * p_t - k_s * wt;
        }
        g[t] = d;
    }
    return l;
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
        sum += (double)V(exp)(X(n, c, s) - m);
    }
    *max = m;
    *lsum = M(log)((T)sum);
}

/* The Hessian's diagonal of sample (n, s): every cross-entropy is
 * k * logsumexp(x) minus a linear term, so d2l/dx_c2 = k p_c (1 - p_c), with
 * k = grad_output * (the summed weight of the sample's target mass); with
 * vec, H vec = k (diag(p) - p p') vec instead (FN(softmax_hvp)). */
static void
FN(ce_hess)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, T k)
{
    T max, lsum;
    if (a->C == 0) { /* no classes, nothing to read (probability targets) */
        return;
    }
    FN(log_softmax_shift)(a, n, s, &max, &lsum);
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const T p = V(exp)((X(n, c, s) - max) - lsum);
        /* p itself when H vec is asked (softmax_hvp's input) */
        *(T *)AT(a->hess, n, c, s, g) = a->vec ? p : k * (p * ((T)1 - p));
    }
    if (a->vec) {
        FN(softmax_hvp)(AT(a->hess, n, 0, s, g), a->g_c, AT(a->vec, n, 0, s, g), a->g_c, a->C,
                        k);
    }
}

/* FN(ce_hess) for a unit-stride row x and Hessian row h (the fast path's
 * layout): exp(x - max) into h, its sum in double, then k p (1 - p). */
static void
FN(ce_hess_row)(const lf_classes *a, const T *restrict x, T *restrict h, T k)
{
    const ptrdiff_t C = a->C;
    const T m = FN(row_max)(x, C);
    double sum = 0.0;
    for (ptrdiff_t c = 0; c < C; c++) {
        h[c] = V(exp)(x[c] - m);
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        sum += (double)h[c];
    }
    const T inv = (T)(1.0 / sum);
    for (ptrdiff_t c = 0; c < C; c++) {
        const T p = h[c] * inv;
        h[c] = k * (p * ((T)1 - p));
    }
}

#ifdef LF_T_F32
/* Half-precision logits, loss and gradient (a->half_kind): FN(class_rows)
 * widens each row onto the stack, FN(ce_row) computes it as the unit-stride
 * float32 row it now is, and its gradient is narrowed into the half row --
 * the bits of widening the whole input first and narrowing the whole
 * float32 gradient after, without those two float32 copies of the batch
 * (which cost more than the loss).  Any layout; no Hessian (the binding
 * widens then). */
typedef struct {
    const T *w; /* the class weights, unit-stride, or NULL */
    double wsum;
} FN(ce_half_ctx);

static T
FN(ce_half_sample)(const void *vc, const lf_classes *v, ptrdiff_t n, ptrdiff_t s)
{
    const FN(ce_half_ctx) *h = vc;
    const lf_classes *a = v; /* (GO reads the grad_output where it is) */
    const int64_t t = CLASS(n, s);
    return FN(ce_row)(v, (const T *)v->input, v->grad ? (T *)v->grad : NULL, h->w, t, h->wsum,
                      v->grad ? GO(n, s) : (T)0);
}

static double
FN(ce_half_block)(const lf_classes *a, ptrdiff_t start, ptrdiff_t count, double wsum)
{
    T wb[LF_CE_HALF_C]; /* the weights' row of the stage slot for longer rows */
    T *w = FN(stage_buf)(a->stage, a->C, 3, wb);
    const FN(ce_half_ctx) h = {a->weight ? FN(gather)(a->weight, a->w_c, a->C, w) : NULL, wsum};
    return FN(class_rows)(&h, a, start, count, FN(ce_half_sample), 1);
}
#endif

static double
FN(cross_entropy_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(class_ctx) *)vc)->a;
    const T ls = (T)a->label_smoothing;
    const T ls_c = (T)(a->label_smoothing / (double)a->C);
    double wsum = 0.0;
    if (a->label_smoothing > 0) {
        for (ptrdiff_t c = 0; c < a->C; c++) {
            wsum += (double)W(c);
        }
    }
#ifdef LF_T_F32
    if (a->half_kind) {
        return FN(ce_half_block)(a, start, count, wsum);
    }
#endif
    /* the vectorized row needs unit-stride logits, gradient and weight */
    const int fast = a->in_c == (ptrdiff_t)sizeof(T) &&
                     (!a->grad || a->g_c == (ptrdiff_t)sizeof(T)) &&
                     (!a->weight || a->w_c == (ptrdiff_t)sizeof(T));
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        const int64_t t = CLASS(n, s);
        if (t == a->ignore_index) {
            FN(ignore_sample)(a, n, s);
            continue;
        }
        if (fast) {
            /* rows are read (and the gradient written) once, straight from
             * memory; the hardware prefetcher stops at each 4 KiB page, so
             * ask for the next sample's rows while this one is computed */
            if (j + 1 < start + count) {
                const ptrdiff_t n1 = (j + 1) / a->S, s1 = (j + 1) % a->S;
                FN(prefetch_row)(AT(a->input, n1, 0, s1, in), a->C, 0);
                if (a->grad) {
                    FN(prefetch_row)(&GRAD(n1, 0, s1), a->C, 1);
                }
            }
            const T l = FN(ce_row)(a, (const T *)AT(a->input, n, 0, s, in),
                                   a->grad ? &GRAD(n, 0, s) : NULL, (const T *)a->weight, t,
                                   wsum, a->grad ? GO(n, s) : (T)0);
            acc[j & 7] += (double)l;
            FN(store_out)(a, n, s, l);
            if (a->hess && a->vec) {
                FN(ce_hess)(a, n, s, ((1 - ls) * W(t) + ls_c * (T)wsum) * GO(n, s));
            }
            else if (a->hess) {
                FN(ce_hess_row)(a, (const T *)AT(a->input, n, 0, s, in),
                                (T *)AT(a->hess, n, 0, s, g),
                                ((1 - ls) * W(t) + ls_c * (T)wsum) * GO(n, s));
            }
            continue;
        }
        T max, lsum;
        FN(log_softmax_shift)(a, n, s, &max, &lsum);
        const T wt = W(t);
        T l = -wt * ((X(n, t, s) - max) - lsum);
        if (a->label_smoothing > 0) {
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
                const T p = V(exp)((X(n, c, s) - max) - lsum);
                T d = k_t * (p - (c == t ? (T)1 : (T)0));
                if (a->label_smoothing > 0) {
                    d += k_sw * p - k_s * W(c);
                }
                GRAD(n, c, s) = d;
            }
            if (a->hess) {
                FN(ce_hess)(a, n, s, ((1 - ls) * wt + ls_c * (T)wsum) * g);
            }
        }
    }
    return FN(sum8)(acc);
}

static double
FN(cross_entropy)(const lf_classes *a)
{
    if (a->C == 0 && a->label_smoothing > 0) {
        /* torch adds ls / C times the (empty) smoothing sum: 0 / 0 */
        return NAN;
    }
    FN(class_ctx) ctx = {a, NULL};
    /* staged half rows use the slot of the thread that runs them */
    return lf_par_pairwise_slots(FN(cross_entropy_block), &ctx, a->N * a->S, lf_unit_rows(a->C),
                                 a->N * a->S * a->C * LF_WORK_SOFTMAX, LF_STAGE_SLOTS(a));
}

#define PROB(n, c, s) (*(const T *)AT(a->target, n, c, s, t))

#ifndef CP_CHUNK
#define CP_CHUNK 256 /* classes per chunk on the stack, a multiple of CP_L */
#define CP_L 8       /* double lanes of the row sums (class c in lane c mod CP_L) */
#endif

/* The log-softmax shift of sample (n, s), chunk by chunk: logp_c = (x_c -
 * *m) - *lsum, the sum of exps in CP_L double lanes. */
static void
FN(cp_shift)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, T *bx, T *m, T *lsum)
{
    const ptrdiff_t C = a->C;
    T mx = X(n, 0, s);
    for (ptrdiff_t c0 = 0; c0 < C; c0 += CP_CHUNK) {
        const ptrdiff_t k = C - c0 < CP_CHUNK ? C - c0 : CP_CHUNK;
        const T cm = FN(row_max)(FN(gather)(AT(a->input, n, c0, s, in), a->in_c, k, bx), k);
        mx = cm > mx || cm != cm ? cm : mx;
    }
    double acc[CP_L] = {0};
    for (ptrdiff_t c0 = 0; c0 < C; c0 += CP_CHUNK) {
        const ptrdiff_t k = C - c0 < CP_CHUNK ? C - c0 : CP_CHUNK;
        const T *restrict x = FN(gather)(AT(a->input, n, c0, s, in), a->in_c, k, bx);
        ptrdiff_t i = 0;
        for (; i + CP_L <= k; i += CP_L) {
            for (int l = 0; l < CP_L; l++) {
                acc[l] += (double)V(exp)(x[i + l] - mx);
            }
        }
        for (int l = 0; i + l < k; l++) {
            acc[l] += (double)V(exp)(x[i + l] - mx);
        }
    }
    *m = mx;
    *lsum = M(log)((T)FN(sum8)(acc));
}

/* acc[l] += v[i] (or -= with `neg`) for class i in lane i mod CP_L: one
 * accumulator array a loop, which is what lets the loop vectorize. */
static inline LF_ALWAYS_INLINE void
FN(cp_lane_sum)(const T *restrict v, ptrdiff_t k, double *restrict acc, const int neg)
{
    ptrdiff_t i = 0;
    for (; i + CP_L <= k; i += CP_L) {
        for (int l = 0; l < CP_L; l++) {
            acc[l] = neg ? acc[l] - (double)v[i + l] : acc[l] + (double)v[i + l];
        }
    }
    for (int l = 0; i + l < k; l++) {
        acc[l] = neg ? acc[l] - (double)v[i + l] : acc[l] + (double)v[i + l];
    }
}

/* One chunk of k classes: the lanes of the loss and of the weighted target
 * mass q w (q = t keep + ls_c with smoothing, else t; `smooth` a constant
 * after inlining).  The terms are formed in T first (vectorized), then
 * summed lane by lane, each sum in its own loop. */
static inline LF_ALWAYS_INLINE void
FN(cp_terms)(const T *restrict x, const T *restrict t, const T *restrict w, ptrdiff_t k,
             T m, T lsum, T keep, T ls_c, double *restrict lacc, double *restrict wacc,
             const int smooth)
{
    T lv[CP_CHUNK], wv[CP_CHUNK];
    for (ptrdiff_t i = 0; i < k; i++) {
        const T v = w[i] * (smooth ? t[i] * keep + ls_c : t[i]);
        wv[i] = v;
        lv[i] = v * ((x[i] - m) - lsum);
    }
    FN(cp_lane_sum)(lv, k, lacc, 1);
    FN(cp_lane_sum)(wv, k, wacc, 0);
}

/* The gradient over a chunk of k classes: k p - g q w, q w formed as in
 * FN(cp_term) (`smooth` a constant after inlining). */
static inline LF_ALWAYS_INLINE void
FN(cp_grad)(const T *restrict x, const T *restrict t, const T *restrict w, ptrdiff_t k, T m,
            T lsum, T keep, T ls_c, T kf, T g, T *restrict gd, const int smooth)
{
    for (ptrdiff_t i = 0; i < k; i++) {
        const T v = w[i] * (smooth ? t[i] * keep + ls_c : t[i]);
        gd[i] = kf * V(exp)((x[i] - m) - lsum) - g * v;
    }
}

/* Sample (n, s) of cross-entropy with probability targets: its loss, and
 * with a gradient k p - g q w, k = g sum q w (into *k, the Hessian's factor).
 * Every layout is gathered into the same unit-stride chunks, so the loops
 * vectorize and every layout gives the same bits. */
static double
FN(cp_sample)(const lf_classes *a, ptrdiff_t n, ptrdiff_t s, const T *restrict ones,
              T *restrict buf, T *k_out)
{
    const ptrdiff_t C = a->C;
    const int smooth = a->label_smoothing > 0;
    const T keep = (T)(1.0 - a->label_smoothing), ls_c = (T)(a->label_smoothing / (double)C);
    T *bx = buf, *bt = buf + CP_CHUNK, *wq = buf + 2 * CP_CHUNK, *bw = buf + 3 * CP_CHUNK;
    T m, lsum, kf = 0;
    const T g = a->grad ? GO(n, s) : (T)0;
    double lacc[CP_L] = {0}, wacc[CP_L] = {0};
    FN(cp_shift)(a, n, s, bx, &m, &lsum);
    /* pass one: the loss and sum q w; pass two, the gradient, needs that sum */
    for (int pass = 0; pass < (a->grad ? 2 : 1); pass++) {
        if (pass == 1) {
            kf = g * (T)FN(sum8)(wacc);
        }
        for (ptrdiff_t c0 = 0; c0 < C; c0 += CP_CHUNK) {
            const ptrdiff_t k = C - c0 < CP_CHUNK ? C - c0 : CP_CHUNK;
            const T *x = FN(gather)(AT(a->input, n, c0, s, in), a->in_c, k, bx);
            const T *t = FN(gather)(AT(a->target, n, c0, s, t), a->t_c, k, bt);
            const T *w = a->weight ? FN(gather)(a->weight + c0 * a->w_c, a->w_c, k, bw) : ones;
            if (pass == 0) {
                double la[CP_L] = {0}, wa[CP_L] = {0};
                if (smooth) {
                    FN(cp_terms)(x, t, w, k, m, lsum, keep, ls_c, la, wa, 1);
                }
                else {
                    FN(cp_terms)(x, t, w, k, m, lsum, keep, ls_c, la, wa, 0);
                }
                for (int l = 0; l < CP_L; l++) {
                    lacc[l] += la[l];
                    wacc[l] += wa[l];
                }
                continue;
            }
            /* straight into a unit-stride gradient row, else through wq */
            const int direct = a->g_c == (ptrdiff_t)sizeof(T);
            T *restrict gd = direct ? (T *)AT(a->grad, n, c0, s, g) : wq;
            if (smooth) {
                FN(cp_grad)(x, t, w, k, m, lsum, keep, ls_c, kf, g, gd, 1);
            }
            else {
                FN(cp_grad)(x, t, w, k, m, lsum, keep, ls_c, kf, g, gd, 0);
            }
            for (ptrdiff_t i = 0; !direct && i < k; i++) {
                GRAD(n, c0 + i, s) = wq[i];
            }
        }
    }
    *k_out = kf;
    return FN(sum8)(lacc);
}

#ifdef LF_T_F32
/* Half samples (a->half_kind), staged through the stack (FN(class_stage)). */
static LF_NOINLINE double
FN(cp_half_block)(const lf_classes *a, ptrdiff_t start, ptrdiff_t count, const T *ones, T *buf)
{
    FN(stage_rows) rows;
    FN(class_stage) st;
    FN(stage_init)(&st, a, &rows);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        T k = 0;
        FN(stage_row)(&st, a, n, s);
        const double loss = a->C > 0 ? FN(cp_sample)(&st.v, n, s, ones, buf, &k) : 0.0;
        FN(stage_done)(&st, a, n, s);
        acc[j & 7] += loss;
        FN(store_out)(a, n, s, (T)loss);
    }
    return FN(sum8)(acc);
}
#endif

static double
FN(cross_entropy_probs_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ((const FN(class_ctx) *)vc)->a;
    T ones[CP_CHUNK], buf[4 * CP_CHUNK];
    for (ptrdiff_t i = 0; i < CP_CHUNK; i++) {
        ones[i] = (T)1;
    }
#ifdef LF_T_F32
    if (a->half_kind) {
        return FN(cp_half_block)(a, start, count, ones, buf);
    }
#endif
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        T k = 0;
        const double loss = a->C > 0 ? FN(cp_sample)(a, n, s, ones, buf, &k) : 0.0;
        acc[j & 7] += loss;
        FN(store_out)(a, n, s, (T)loss);
        if (a->hess) {
            FN(ce_hess)(a, n, s, k);
        }
    }
    return FN(sum8)(acc);
}

static double
FN(cross_entropy_probs)(const lf_classes *a)
{
    FN(class_ctx) ctx = {a, NULL};
    return lf_par_pairwise_slots(FN(cross_entropy_probs_block), &ctx, a->N * a->S,
                                 lf_unit_rows(a->C), a->N * a->S * a->C * LF_WORK_SOFTMAX_PROBS,
                                 LF_STAGE_SLOTS(a));
}

typedef struct {
    const lf_classes *a;
    int log;
} FN(softmax_ctx);

/* A unit-stride row x of C classes: its (log-)softmax into y, in the
 * vectorized passes: the max, the exp pass (exp(x - m) stored, summed in
 * double as cross-entropy sums it), then one scaling pass over the
 * L1-resident row. */
static inline LF_ALWAYS_INLINE void
FN(softmax_unit_row)(const T *restrict x, T *restrict y, ptrdiff_t C, int want_log)
{
    const T m = FN(row_max)(x, C);
    const double sum = FN(exp_row_sum)(x, y, m, C, 1);
    if (want_log) {
        const T lsum = M(log)((T)sum);
        for (ptrdiff_t c = 0; c < C; c++) {
            y[c] = (x[c] - m) - lsum;
        }
    }
    else {
        const T inv = (T)(1.0 / sum);
        for (ptrdiff_t c = 0; c < C; c++) {
            y[c] = y[c] * inv;
        }
    }
}

#ifdef LF_T_F32
/* A staged half sample (FN(class_rows)): its unit-stride float32 rows. */
static T
FN(softmax_staged)(const void *vc, const lf_classes *v, ptrdiff_t n, ptrdiff_t s)
{
    (void)n;
    (void)s;
    FN(softmax_unit_row)((const T *)v->input, (T *)v->grad, v->C,
                         ((const FN(softmax_ctx) *)vc)->log);
    return 0;
}
#endif

/* Samples [start, start + count) of a (log-)softmax: unit-stride rows by
 * FN(softmax_unit_row), half ones staged to be such rows, any other layout
 * by the same operations in the same order. */
static double
FN(softmax_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(softmax_ctx) *ctx = vc;
    const lf_classes *a = ctx->a;
    const int want_log = ctx->log;
    const int unit = a->S == 1 && a->in_c == (ptrdiff_t)sizeof(T) &&
                     a->g_c == (ptrdiff_t)sizeof(T);
#ifdef LF_T_F32
    if (a->half_kind) { /* half samples staged through the stack */
        (void)FN(class_rows)(ctx, a, start, count, FN(softmax_staged), 0);
        return 0.0;
    }
#endif
    for (ptrdiff_t j = start; j < start + count; j++) {
        const ptrdiff_t n = j / a->S, s = j % a->S;
        if (unit) {
            FN(softmax_unit_row)((const T *)AT(a->input, n, 0, 0, in), &GRAD(n, 0, 0), a->C,
                                 want_log);
            continue;
        }
        /* any layout: the same operations in the same order (lanes of
         * FN(ce_pass), the max is exact), so the same bits */
        const ptrdiff_t C = a->C, full = C - C % LF_CE_L;
        T m = X(n, 0, s);
        for (ptrdiff_t c = 1; c < C; c++) {
            const T v = X(n, c, s);
            m = v > m || v != v ? v : m;
        }
        double acc[LF_CE_L];
        for (int k = 0; k < LF_CE_L; k++) {
            acc[k] = 0.0;
        }
        for (ptrdiff_t c = 0; c < C; c++) {
            const T e = V(exp)(X(n, c, s) - m);
            GRAD(n, c, s) = e;
            acc[c < full ? c % LF_CE_L : c - full] += (double)e; /* as the padded step */
        }
        double sum = 0.0;
        for (int k = 0; k < LF_CE_L; k++) {
            sum += acc[k];
        }
        const T lsum = M(log)((T)sum), inv = (T)(1.0 / sum);
        for (ptrdiff_t c = 0; c < C; c++) {
            GRAD(n, c, s) = want_log ? (X(n, c, s) - m) - lsum : GRAD(n, c, s) * inv;
        }
    }
    return 0.0;
}

static void
FN(softmax)(const lf_classes *a, int log)
{
    FN(softmax_ctx) ctx = {a, log};
    if (a->C == 0) {
        return;
    }
    (void)lf_par_pairwise_slots(FN(softmax_block), &ctx, a->N * a->S, lf_unit_rows(a->C),
                                a->N * a->S * a->C, LF_STAGE_SLOTS(a));
}

#undef AT
#undef X
#undef W
#undef CLASS
#undef GO
#undef GRAD
#undef PROB
