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
/* The shifts of a row: sh = {T, m_x, lsum_x, m_z, lsum_z, 1 / sum_x, 1 / sum_z}. */
enum { DL_T, DL_MX, DL_LX, DL_MZ, DL_LZ, DL_IX, DL_IZ, DL_SH };
/* Rows of up to DL_ROW classes keep both softmaxes' exps on the stack (one
 * exp per logit); a longer row takes them again, chunk by chunk. */
#define DL_ROW 1024 /* a multiple of DL_CHUNK */
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

/* d_i = v_i / T - m and exp(d_i) of a chunk of n values into d and e, the
 * exps into the lanes of acc (class c in lane c mod DL_L). */
static inline LF_ALWAYS_INLINE void
FN(dl_exps)(const T *restrict v, ptrdiff_t n, T temp, T m, T *restrict d, T *restrict e,
            double *restrict acc)
{
    ptrdiff_t i = 0;
    for (; i + DL_L <= n; i += DL_L) {
        for (int k = 0; k < DL_L; k++) {
            d[i + k] = v[i + k] / temp - m;
            e[i + k] = V(exp)(d[i + k]);
            acc[k] += (double)e[i + k];
        }
    }
    if (i < n) {
        /* the last n mod DL_L values as one more lane-wide step, padded with
         * lanes whose exp is 0 (scalar exps would cost as much as the row's
         * vector steps at C = 100) */
        const ptrdiff_t rest = n - i;
        T vb[DL_L], db[DL_L], eb[DL_L];
        for (int k = 0; k < DL_L; k++) {
            vb[k] = k < rest ? v[i + k] : (T)-INFINITY;
        }
        for (int k = 0; k < DL_L; k++) {
            db[k] = vb[k] / temp - m;
            eb[k] = V(exp)(db[k]);
            acc[k] += (double)eb[k];
        }
        memcpy(d + i, db, (size_t)rest * sizeof(T));
        memcpy(e + i, eb, (size_t)rest * sizeof(T));
    }
}

/* The softmax of v / T over a row (operand at base, step apart): *m the
 * max of v / T, *lsum the log of the sum of the exps, *inv 1 / that sum;
 * v / T - m and the exps kept in kd[0, C) and ke[0, C) when given. */
static void
FN(dl_shift)(const char *base, ptrdiff_t step, ptrdiff_t C, T temp, T *m, T *lsum, T *inv,
             T *kd, T *ke)
{
    T buf[DL_CHUNK], db[DL_CHUNK], eb[DL_CHUNK], mx = *(const T *)base;
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
        T *dd = db, *de = eb; /* scratch where the caller keeps nothing */
        if (kd) {
            dd = kd + c0;
            de = ke + c0;
        }
        FN(dl_exps)(v, n, temp, mx, dd, de, acc);
    }
    const double sum = FN(dl_lanes)(acc);
    *m = mx;
    *lsum = M(log)((T)sum);
    *inv = (T)(1.0 / sum);
}

/* v / T - m and the exps of a chunk of k classes from c0 (*d, *e): kept by
 * FN(dl_shift), or taken again into db, eb (the same values). */
static inline void
FN(dl_chunk)(const T *kd, const T *ke, ptrdiff_t c0, const char *base, ptrdiff_t step,
             ptrdiff_t k, T temp, T m, T *buf, T *db, T *eb, const T **d, const T **e)
{
    if (kd) {
        *d = kd + c0;
        *e = ke + c0;
        return;
    }
    double acc[DL_L] = {0};
    FN(dl_exps)(FN(gather)(base + c0 * step, step, k, buf), k, temp, m, db, eb, acc);
    *d = db;
    *e = eb;
}

/* Term i of a chunk, in lane k: into out (when asked), g * q into the
 * gradient row (when asked); the lanes of the loss and of A.  dx, dz hold
 * v / T - m of student and teacher, ez exp(dz), so q = ez / sum_z. */
static inline LF_ALWAYS_INLINE void
FN(dl_term)(const T *restrict dx, const T *restrict dz, const T *restrict ez,
            const T *restrict go, ptrdiff_t i, int k, const T sh[DL_SH], T *restrict out,
            T *restrict gq, double *restrict lacc, double *restrict aacc)
{
    const T temp = sh[DL_T];
    const T logq = dz[i] - sh[DL_LZ];
    const T logp = dx[i] - sh[DL_LX];
    const T q = ez[i] * sh[DL_IZ];
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
FN(dl_terms)(const T *restrict dx, const T *restrict dz, const T *restrict ez,
             const T *restrict go, ptrdiff_t n, const T sh[DL_SH], T *restrict out,
             T *restrict gq, double *restrict lacc, double *restrict aacc)
{
    ptrdiff_t i = 0;
    for (; i + DL_L <= n; i += DL_L) {
        for (int k = 0; k < DL_L; k++) {
            FN(dl_term)(dx, dz, ez, go, i + k, k, sh, out, gq, lacc, aacc);
        }
    }
    for (int k = 0; i + k < n; k++) {
        FN(dl_term)(dx, dz, ez, go, i + k, k, sh, out, gq, lacc, aacc);
    }
}

/* The gradient of a chunk of n classes from g q (in gc) and the student's
 * exps ex (p = ex / sum_x): T (A p - g q); `hmode` a constant after
 * inlining, so the loop has no test and vectorizes. */
static inline LF_ALWAYS_INLINE void
FN(dl_grad)(const T *restrict ex, ptrdiff_t n, T temp, T inv, T A, T *restrict gc,
            T *restrict hc, const int hmode)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const T p = ex[i] * inv;
        gc[i] = temp * (A * p - gc[i]);
        if (hmode == DL_HESS_P) {
            hc[i] = p;
        }
        else if (hmode == DL_HESS_DIAG) {
            hc[i] = A * (p * ((T)1 - p));
        }
    }
}

/* Row n's gradient (and Hessian) pass, from A = sum_c g_c q_c and the
 * student's kept exps (kx, or NULL: taken again). */
static void
FN(distill_grad_row)(const FN(distill_ctx) *ctx, ptrdiff_t n, const T sh[DL_SH], T A,
                     const T *kdx, const T *kx)
{
    const lf_classes *a = ctx->a;
    const ptrdiff_t C = a->C;
    const char *xr = a->input + n * a->in_n;
    T *g = (T *)(a->grad + n * a->g_n);
    T *h = a->hess ? (T *)(a->hess + n * a->g_n) : NULL;
    const int hmode = h == NULL ? DL_NO_HESS : a->vec ? DL_HESS_P : DL_HESS_DIAG;
    T bx[DL_CHUNK], bd[DL_CHUNK], be[DL_CHUNK];
    for (ptrdiff_t c0 = 0; c0 < C; c0 += DL_CHUNK) {
        const ptrdiff_t k = C - c0 < DL_CHUNK ? C - c0 : DL_CHUNK;
        const T *dx, *ex;
        FN(dl_chunk)(kdx, kx, c0, xr, a->in_c, k, sh[DL_T], sh[DL_MX], bx, bd, be, &dx, &ex);
        T *hc = h ? h + c0 : NULL;
        /* each case its own copy of the loop, with no test left in it */
        if (hmode == DL_NO_HESS) {
            FN(dl_grad)(ex, k, sh[DL_T], sh[DL_IX], A, g + c0, hc, DL_NO_HESS);
        }
        else if (hmode == DL_HESS_P) {
            FN(dl_grad)(ex, k, sh[DL_T], sh[DL_IX], A, g + c0, hc, DL_HESS_P);
        }
        else {
            FN(dl_grad)(ex, k, sh[DL_T], sh[DL_IX], A, g + c0, hc, DL_HESS_DIAG);
        }
    }
    if (h && a->vec) { /* H v = A (diag(p) - p p^T) v, v C-contiguous as h */
        FN(softmax_hvp)((char *)h, (ptrdiff_t)sizeof(T), a->vec + n * a->g_n,
                        (ptrdiff_t)sizeof(T), C, A);
    }
}

/* Row n: its loss terms (into out), and the gradient and Hessian rows.
 * A row of up to DL_ROW classes keeps v / T - m and the exps of both
 * softmaxes on the stack: one division and one exp per logit. */
static double
FN(distill_row)(const FN(distill_ctx) *ctx, ptrdiff_t n)
{
    const lf_classes *a = ctx->a;
    const ptrdiff_t C = a->C;
    const char *xr = a->input + n * a->in_n, *zr = a->target + n * a->t_n;
    const char *gor = a->grad_output ? a->grad_output + n * a->go_n : NULL;
    T *out = a->out ? (T *)(a->out + n * a->out_n) : NULL;
    T *g = a->grad ? (T *)(a->grad + n * a->g_n) : NULL;
    T sh[DL_SH], bx[DL_CHUNK], bz[DL_CHUNK], bg[DL_CHUNK], bs[DL_CHUNK];
    T bdx[DL_CHUNK], bex[DL_CHUNK], bdz[DL_CHUNK], bez[DL_CHUNK];
    T kdx[DL_ROW], kx[DL_ROW], kdz[DL_ROW], kz[DL_ROW];
    const int keep = C <= DL_ROW;
    double lacc[DL_L] = {0}, aacc[DL_L] = {0};
    sh[DL_T] = ctx->temp;
    if (g && !gor) { /* a loaded factor, not a test per element: AVX2 has no masked load */
        for (ptrdiff_t i = 0; i < (C < DL_CHUNK ? C : DL_CHUNK); i++) {
            bs[i] = (T)a->scale;
        }
    }
    FN(dl_shift)(xr, a->in_c, C, sh[DL_T], &sh[DL_MX], &sh[DL_LX], &sh[DL_IX],
                 keep ? kdx : NULL, keep ? kx : NULL);
    FN(dl_shift)(zr, a->t_c, C, sh[DL_T], &sh[DL_MZ], &sh[DL_LZ], &sh[DL_IZ],
                 keep ? kdz : NULL, keep ? kz : NULL);
    for (ptrdiff_t c0 = 0; c0 < C; c0 += DL_CHUNK) {
        const ptrdiff_t k = C - c0 < DL_CHUNK ? C - c0 : DL_CHUNK;
        const T *dx, *ex, *dz, *ez;
        FN(dl_chunk)(keep ? kdx : NULL, kx, c0, xr, a->in_c, k, sh[DL_T], sh[DL_MX], bx, bdx,
                     bex, &dx, &ex);
        FN(dl_chunk)(keep ? kdz : NULL, kz, c0, zr, a->t_c, k, sh[DL_T], sh[DL_MZ], bz, bdz,
                     bez, &dz, &ez);
        const T *go = gor && g ? FN(gather)(gor + c0 * a->go_s, a->go_s, k, bg) : g ? bs : NULL;
        /* each (out, gradient) case its own copy of the loop, with no test left in it */
        if (out && g) {
            FN(dl_terms)(dx, dz, ez, go, k, sh, out + c0, g + c0, lacc, aacc);
        }
        else if (g) {
            FN(dl_terms)(dx, dz, ez, go, k, sh, NULL, g + c0, lacc, aacc);
        }
        else if (out) {
            FN(dl_terms)(dx, dz, ez, NULL, k, sh, out + c0, NULL, lacc, aacc);
        }
        else {
            FN(dl_terms)(dx, dz, ez, NULL, k, sh, NULL, NULL, lacc, aacc);
        }
    }
    if (g) {
        FN(distill_grad_row)(ctx, n, sh, (T)FN(dl_lanes)(aacc), keep ? kdx : NULL,
                             keep ? kx : NULL);
    }
    return FN(dl_lanes)(lacc);
}

#ifdef LF_T_F32
/* Half rows (a->half_kind): the student's row, and the teacher's when it is
 * of the same half type, widened onto the stack, or for rows over
 * LF_CE_HALF_C classes into the thread's slot of a->stage (FN(class_stage));
 * the row's gradient and its per-class terms computed there (the terms in
 * the slot's fourth row) and narrowed into the half outputs -- the bits of
 * widening the whole arrays first.  No Hessian. */
static LF_NOINLINE double
FN(distill_half_block)(const FN(distill_ctx) *ctx, ptrdiff_t start, ptrdiff_t count)
{
    const lf_classes *a = ctx->a;
    FN(stage_rows) rows;
    FN(class_stage) st;
    FN(stage_init)(&st, a, &rows);
    T ob[LF_CE_HALF_C];
    T *o = FN(stage_buf)(a->stage, a->C, 3, ob);
    if (a->out) {
        st.v.out = (char *)o;
        st.v.out_n = 0;
        st.v.out_s = (ptrdiff_t)sizeof(T);
    }
    FN(distill_ctx) sc = *ctx;
    sc.a = &st.v;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t n = start; n < start + count; n++) {
        FN(stage_row)(&st, a, n, 0);
        acc[n & 7] += FN(distill_row)(&sc, n);
        FN(stage_done)(&st, a, n, 0);
        if (a->out) {
            lf_half_narrow_run(a->half_kind == LF_HALF_BF16, o, a->out + n * a->out_n, a->out_s,
                               a->C);
        }
    }
    return FN(sum8)(acc);
}
#endif

static double
FN(distill_block)(void *vc, ptrdiff_t start, ptrdiff_t count)
{
    const FN(distill_ctx) *ctx = vc;
#ifdef LF_T_F32
    if (ctx->a->half_kind) {
        return FN(distill_half_block)(ctx, start, count);
    }
#endif
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
    return lf_par_pairwise_slots(FN(distill_block), &ctx, a->N, lf_unit_rows(a->C),
                                 a->N * a->C * LF_WORK_DISTILL, LF_STAGE_SLOTS(a));
}
