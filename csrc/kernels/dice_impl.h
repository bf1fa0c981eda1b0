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
static inline LF_ALWAYS_INLINE T
FN(dice_sig)(T x, T *q)
{
    const T e = V(exp)(-M(fabs)(x));
    const T inv = (T)1 / ((T)1 + e);
    *q = x >= 0 ? e * inv : inv;
    return x >= 0 ? inv : e * inv;
}

/* Elements [j0, j0 + w) of row n of the input and of the target (NULL with
 * class indices) as T runs: where they are, or, in a half call (float32
 * kernels), widened into xb and tb -- the values the float32 kernel would
 * read from the widened arrays. */
static inline LF_ALWAYS_INLINE void
FN(dice_run)(const lf_dice *a, ptrdiff_t n, ptrdiff_t j0, ptrdiff_t w, T *xb, T *tb,
             const T **x, const T **t)
{
    const ptrdiff_t at = n * a->C * a->S + j0;
#ifdef LF_T_F32
    if (a->half_kind) {
        const int bf16 = a->half_kind == LF_HALF_BF16;
        const ptrdiff_t h = (ptrdiff_t)sizeof(uint16_t);
        lf_half_widen_run(bf16, a->input + at * h, h, xb, w);
        *x = xb;
        if (a->half_target) {
            lf_half_widen_run(bf16, a->target + at * h, h, tb, w);
            *t = tb;
            return;
        }
    }
    else
#endif
    {
        (void)w;
        (void)xb;
        (void)tb;
        *x = (const T *)a->input + at;
    }
    *t = a->target ? (const T *)a->target + at : NULL;
}

/* The softmax over the classes at (n, s): its max and 1 / sum of exps. */
static inline void
FN(dice_softmax_at)(const lf_dice *a, ptrdiff_t n, ptrdiff_t s, T *mx, T *inv)
{
    if (a->S == 1) { /* a unit-stride row: the lanes of pass one (same bits) */
        const T *xr = (const T *)a->input + n * a->C;
        *mx = FN(row_max)(xr, a->C);
        *inv = (T)(1.0 / FN(exp_row_sum)(xr, NULL, *mx, a->C, 0));
        return;
    }
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

/* The sums of row n into I[c], P[c], Tt[c] (one array each, indexed by
 * class), sigmoid.  S = 1 runs along the classes with one accumulator per
 * class, S > 1 along the spatial axis with eight (the loops vectorize).
 * With `keep` (a constant after inlining) s (1 - s) goes into the gradient's
 * element, where pass two reads it. */
static inline LF_ALWAYS_INLINE void
FN(dice_sums_sig)(const lf_dice *a, ptrdiff_t n, double *restrict I, double *restrict P,
                  double *restrict Tt, const int keep)
{
    const ptrdiff_t C = a->C, S = a->S;
    const T *restrict xr = (const T *)a->input + n * C * S;
    const T *restrict tr = (const T *)a->target + n * C * S;
    T *restrict dr = keep ? (T *)a->grad + n * C * S : NULL;
    if (S == 1) {
        for (ptrdiff_t c = 0; c < C; c++) {
            T q;
            const T pr = FN(dice_sig)(xr[c], &q), tv = tr[c];
            if (keep) {
                dr[c] = pr * q;
            }
            I[c] += (double)(pr * tv);
            P[c] += (double)pr;
            Tt[c] += (double)tv;
        }
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *restrict xc = xr + c * S, *restrict tc = tr + c * S;
        T *restrict dc = keep ? dr + c * S : NULL;
        double i8[8] = {0}, p8[8] = {0}, t8[8] = {0};
        ptrdiff_t s = 0;
        for (; s + 8 <= S; s += 8) {
            for (int k = 0; k < 8; k++) {
                T q;
                const T pr = FN(dice_sig)(xc[s + k], &q), tv = tc[s + k];
                if (keep) {
                    dc[s + k] = pr * q;
                }
                i8[k] += (double)(pr * tv);
                p8[k] += (double)pr;
                t8[k] += (double)tv;
            }
        }
        for (; s < S; s++) {
            T q;
            const T pr = FN(dice_sig)(xc[s], &q), tv = tc[s];
            if (keep) {
                dc[s] = pr * q;
            }
            i8[s & 7] += (double)(pr * tv);
            p8[s & 7] += (double)pr;
            t8[s & 7] += (double)tv;
        }
        I[c] += FN(sum8)(i8);
        P[c] += FN(sum8)(p8);
        Tt[c] += FN(sum8)(t8);
    }
}

/* Rows n .. n + 3 of a batch-wide sigmoid call with S = 1: each class's
 * four terms summed in T first (a few roundings of T against the double sum's
 * one), then added to the double sums: a quarter of the conversions and
 * double additions of a row at a time, the part of this pass that AVX2
 * (four doubles a vector) paid most for.  With `keep`, as FN(dice_sums_sig). */
#define DICE_ROWS_CHUNK 256

static inline LF_ALWAYS_INLINE void
FN(dice_sums_sig4)(const lf_dice *a, ptrdiff_t n, double *restrict I, double *restrict P,
                   double *restrict Tt, const int keep)
{
    const ptrdiff_t C = a->C;
    T *restrict d = keep ? (T *)a->grad + n * C : NULL;
    T si[DICE_ROWS_CHUNK], sp[DICE_ROWS_CHUNK], st[DICE_ROWS_CHUNK];
    T xb[DICE_ROWS_CHUNK], tb[DICE_ROWS_CHUNK]; /* a half call's runs */
    for (ptrdiff_t c0 = 0; c0 < C; c0 += DICE_ROWS_CHUNK) {
        const ptrdiff_t w = C - c0 < DICE_ROWS_CHUNK ? C - c0 : DICE_ROWS_CHUNK;
        for (ptrdiff_t j = 0; j < w; j++) { /* in T, the vector's full width */
            si[j] = sp[j] = st[j] = 0;
        }
        for (int r = 0; r < 4; r++) {
            const T *xp, *tp;
            FN(dice_run)(a, n + r, c0, w, xb, tb, &xp, &tp);
            const T *restrict xr = xp, *restrict tr = tp;
            T *restrict dr = keep ? d + r * C + c0 : NULL;
            for (ptrdiff_t j = 0; j < w; j++) {
                T q;
                const T pr = FN(dice_sig)(xr[j], &q), tv = tr[j];
                if (keep) {
                    dr[j] = pr * q;
                }
                si[j] += pr * tv;
                sp[j] += pr;
                st[j] += tv;
            }
        }
        for (ptrdiff_t j = 0; j < w; j++) { /* then once into the double sums */
            I[c0 + j] += (double)si[j];
            P[c0 + j] += (double)sp[j];
            Tt[c0 + j] += (double)st[j];
        }
    }
}

/* Classes (or positions) per chunk of a softmax row kept on the stack. */
#define DICE_CHUNK 256

/* The softmax over the classes at positions [s0, s0 + w) of row n (w <=
 * DICE_CHUNK, class planes S apart): max and 1 / sum of exps per position,
 * summed in class order in double as FN(dice_softmax_at) does (same bits). */
static void
FN(dice_chunk_stats)(const lf_dice *a, ptrdiff_t n, ptrdiff_t s0, ptrdiff_t w, T *restrict m,
                     T *restrict inv)
{
    const ptrdiff_t C = a->C, S = a->S;
    const T *xr = (const T *)a->input + n * C * S + s0;
    double sum[DICE_CHUNK];
    for (ptrdiff_t j = 0; j < w; j++) {
        m[j] = xr[j];
        sum[j] = 0.0;
    }
    for (ptrdiff_t c = 1; c < C; c++) {
        const T *restrict xc = xr + c * S;
        for (ptrdiff_t j = 0; j < w; j++) {
            m[j] = xc[j] > m[j] || xc[j] != xc[j] ? xc[j] : m[j];
        }
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *restrict xc = xr + c * S;
        for (ptrdiff_t j = 0; j < w; j++) {
            sum[j] += (double)V(exp)(xc[j] - m[j]);
        }
    }
    for (ptrdiff_t j = 0; j < w; j++) {
        inv[j] = (T)(1.0 / sum[j]);
    }
}

/* The target at position j of a chunk for class c: the probability, or
 * whether the class index is c. */
#define DICE_TV(tc, ic, j, c) ((tc) ? (tc)[j] : (T)((ic)[j] == (c)))

/* One class's I, P, T over a chunk (eight lanes; `index` a constant after
 * inlining, so the loop has no per-element branch). */
static inline LF_ALWAYS_INLINE void
FN(dice_chunk_acc)(const T *restrict xc, const T *restrict tc, const int64_t *restrict ic,
                   ptrdiff_t c, ptrdiff_t w, const T *restrict m, const T *restrict inv,
                   double *sums, const int index)
{
    double i8[8] = {0, 0, 0, 0, 0, 0, 0, 0}, p8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double t8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const T *restrict tcc = index ? NULL : tc;
    ptrdiff_t j = 0;
    for (; j + 8 <= w; j += 8) {
        for (int k = 0; k < 8; k++) {
            const T pr = V(exp)(xc[j + k] - m[j + k]) * inv[j + k];
            const T tv = DICE_TV(tcc, ic, j + k, c);
            i8[k] += (double)(pr * tv);
            p8[k] += (double)pr;
            t8[k] += (double)tv;
        }
    }
    for (; j < w; j++) {
        const T pr = V(exp)(xc[j] - m[j]) * inv[j], tv = DICE_TV(tcc, ic, j, c);
        i8[j & 7] += (double)(pr * tv);
        p8[j & 7] += (double)pr;
        t8[j & 7] += (double)tv;
    }
    sums[0] += FN(sum8)(i8);
    sums[1] += FN(sum8)(p8);
    sums[2] += FN(sum8)(t8);
}

/* The softmax sums of row n over spatial positions (S > 1), chunk by chunk. */
static void
FN(dice_sums_soft_s)(const lf_dice *a, ptrdiff_t n, double *restrict I, double *restrict P,
                     double *restrict Tt)
{
    const ptrdiff_t C = a->C, S = a->S;
    T m[DICE_CHUNK], inv[DICE_CHUNK];
    for (ptrdiff_t s0 = 0; s0 < S; s0 += DICE_CHUNK) {
        const ptrdiff_t w = S - s0 < DICE_CHUNK ? S - s0 : DICE_CHUNK;
        FN(dice_chunk_stats)(a, n, s0, w, m, inv);
        const int64_t *ic = a->index ? a->index + n * S + s0 : NULL;
        for (ptrdiff_t c = 0; c < C; c++) {
            const T *xc = (const T *)a->input + (n * C + c) * S + s0;
            const T *tc = a->index ? NULL : (const T *)a->target + (n * C + c) * S + s0;
            double sums[3] = {0.0, 0.0, 0.0};
            if (a->index) {
                FN(dice_chunk_acc)(xc, tc, ic, c, w, m, inv, sums, 1);
            }
            else {
                FN(dice_chunk_acc)(xc, tc, ic, c, w, m, inv, sums, 0);
            }
            I[c] += sums[0];
            P[c] += sums[1];
            Tt[c] += sums[2];
        }
    }
}

/* The same sums, softmax over the classes.  S = 1: one exp pass along the
 * row (FN(exp_row_sum)) keeps exp(x_c - m) in the gradient's row when there
 * is one (pass two reads the probabilities there), else on the stack when
 * the row fits; a longer row without a gradient takes its exps twice, in
 * chunks.  The probabilities are the same bits either way.  With `stats`
 * (S = 1), the row's max and 1 / sum of exps go there too. */
static void
FN(dice_sums_soft)(const lf_dice *a, ptrdiff_t n, double *restrict I, double *restrict P,
                   double *restrict Tt, double *restrict stats)
{
    const ptrdiff_t C = a->C, S = a->S;
    if (S != 1 || C == 0) {
        FN(dice_sums_soft_s)(a, n, I, P, Tt);
        return;
    }
    const T *restrict xr = (const T *)a->input + n * C;
    const T *restrict tr = a->index ? NULL : (const T *)a->target + n * C;
    const T m = FN(row_max)(xr, C);
    T chunk[DICE_CHUNK];
    T *row = a->grad && !a->hess ? (T *)a->grad + n * C : C <= DICE_CHUNK ? chunk : NULL;
    const T inv = (T)(1.0 / (row ? FN(exp_row_sum)(xr, row, m, C, 1)
                                 : FN(exp_row_sum)(xr, NULL, m, C, 0)));
    if (stats) {
        stats[0] = (double)m;
        stats[1] = (double)inv;
    }
    for (ptrdiff_t c0 = 0; c0 < C; c0 += DICE_CHUNK) {
        const ptrdiff_t w = C - c0 < DICE_CHUNK ? C - c0 : DICE_CHUNK;
        T *restrict pb = row ? row + c0 : chunk;
        if (row) {
            for (ptrdiff_t c = 0; c < w; c++) {
                pb[c] *= inv;
            }
        }
        else {
            for (ptrdiff_t c = 0; c < w; c++) {
                pb[c] = V(exp)(xr[c0 + c] - m) * inv;
            }
        }
        for (ptrdiff_t c = 0; c < w; c++) {
            P[c0 + c] += (double)pb[c];
        }
        if (tr) {
            for (ptrdiff_t c = 0; c < w; c++) {
                I[c0 + c] += (double)(pb[c] * tr[c0 + c]);
                Tt[c0 + c] += (double)tr[c0 + c];
            }
        }
    }
    if (a->index) {
        const int64_t k = a->index[n];
        I[k] += (double)(V(exp)(xr[k] - m) * inv);
        Tt[k] += 1.0;
    }
}

/* Row n's sums into I, P, T (step apart), pass one leaving what pass two
 * reads in the gradient when there is one (not the Hessian's pass), and a
 * softmax row's max and 1 / sum of exps in stats when given. */
static inline LF_ALWAYS_INLINE void
FN(dice_sums_row)(const lf_dice *a, ptrdiff_t n, double *I, ptrdiff_t step, double *stats)
{
    if (a->softmax) {
        FN(dice_sums_soft)(a, n, I, I + step, I + 2 * step, stats);
    }
    else if (a->grad && !a->hess) {
        FN(dice_sums_sig)(a, n, I, I + step, I + 2 * step, 1);
    }
    else {
        FN(dice_sums_sig)(a, n, I, I + step, I + 2 * step, 0);
    }
}

#ifdef LF_T_F32
/* A half call's row (a->half_kind, no Hessian) staged on the stack (rows,
 * C S <= LF_CE_HALF_C) or in the running thread's slot of a->stage: `v` is
 * the float32 view of that one row (row 0 of it, its input and target
 * widened, its class indices where they are), which the float32 row
 * functions compute as they would the row of the widened arrays; its
 * gradient goes into g, narrowed into the half gradient after.  Nothing is
 * kept between the passes (a half gradient would round it): pass two takes
 * the sigmoid's s (1 - s) or the softmax again from the same input, the same
 * bits. */
typedef struct {
    lf_dice v;
    T *x, *t, *g;
} FN(dice_stage);

/* A half softmax row's max and 1 / sum of exps in work (S = 1), or NULL. */
static inline double *
FN(dice_row_stats)(const lf_dice *a, double *work, ptrdiff_t n)
{
    return a->softmax && a->S == 1 ? work + lf_dice_sums_end(a) + 2 * n : NULL;
}

static void
FN(dice_stage_row)(FN(dice_stage) *st, FN(stage_rows) *rows, const lf_dice *a, ptrdiff_t n)
{
    st->x = FN(stage_buf)(a->stage, a->C * a->S, 0, rows->x);
    st->t = FN(stage_buf)(a->stage, a->C * a->S, 1, rows->t);
    st->g = FN(stage_buf)(a->stage, a->C * a->S, 2, rows->g);
    const T *x, *t;
    FN(dice_run)(a, n, 0, a->C * a->S, st->x, st->t, &x, &t);
    st->v = *a;
    st->v.N = 1;
    st->v.half_kind = st->v.half_target = 0;
    st->v.input = (const char *)x;
    st->v.target = (const char *)t;
    st->v.index = a->index ? a->index + n * a->S : NULL;
    st->v.grad = (char *)st->g; /* pass one's softmax keeps its exps there: one exp pass */
    st->v.hess = st->v.out = NULL;
    st->v.vec = NULL;
}
#endif

/* Pass one, unit u (rows [u R, (u + 1) R)): per sample into the terms' own
 * slots, else into the unit's partials (I, P, T: three arrays of C). */
static double
FN(dice_sums_unit)(void *vctx, ptrdiff_t u)
{
    const FN(dice_ctx) *ctx = vctx;
    const lf_dice *a = ctx->a;
    const ptrdiff_t C = a->C, terms = a->per_sample ? a->N * C : C;
    ptrdiff_t n0, n1;
    double *part = lf_dice_unit(a, ctx->work, u, 3, &n0, &n1);
    if (!a->per_sample && !a->softmax && a->S == 1) { /* four rows at a time */
        const int keep = a->grad && !a->hess && !a->half_kind;
        for (; n0 + 4 <= n1; n0 += 4) {
            if (keep) {
                FN(dice_sums_sig4)(a, n0, part, part + C, part + 2 * C, 1);
            }
            else {
                FN(dice_sums_sig4)(a, n0, part, part + C, part + 2 * C, 0);
            }
        }
    }
    for (ptrdiff_t n = n0; n < n1; n++) {
        double *I = a->per_sample ? ctx->work + n * C : part;
        const ptrdiff_t step = a->per_sample ? terms : C;
        if (a->per_sample) {
            for (ptrdiff_t c = 0; c < C; c++) {
                I[c] = I[step + c] = I[2 * step + c] = 0.0;
            }
        }
#ifdef LF_T_F32
        if (a->half_kind) {
            FN(stage_rows) rows;
            FN(dice_stage) st;
            FN(dice_stage_row)(&st, &rows, a, n);
            FN(dice_sums_row)(&st.v, 0, I, step, FN(dice_row_stats)(a, ctx->work, n));
            continue;
        }
#endif
        FN(dice_sums_row)(a, n, I, step, NULL);
    }
    return 0.0;
}

/* The batch-wide case's sums: the first m * C of each unit's partials (at
 * work + 5 C + 3 u C) combined in unit order (Neumaier) into dst -- the
 * terms' arrays (I, P, T) after pass one, EZ and TZ after the H v pass. */
static void
FN(dice_merge)(const lf_dice *a, const double *work, ptrdiff_t m, double *dst)
{
    const ptrdiff_t C = a->C, R = lf_dice_rows(a), units = (a->N + R - 1) / R;
    for (ptrdiff_t j = 0; j < m * C; j++) {
        lf_ksum k = {0.0, 0.0};
        for (ptrdiff_t u = 0; u < units; u++) {
            lf_ksum_add(&k, work[5 * C + 3 * u * C + j]);
        }
        dst[j] = lf_ksum_value(&k);
    }
}

/* The class weights of the generalized Dice, 1 / (T_c^2 + 1e-7) with T_c
 * over the whole batch, normalized to sum to C, into work[4 terms, + C). */
static void
FN(dice_gen_weights)(const lf_dice *a, double *work)
{
    const ptrdiff_t C = a->C, rows = a->per_sample ? a->N : 1, K = rows * C;
    double *w = work + 4 * K;
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t c = 0; c < C; c++) {
        lf_ksum k = {0.0, 0.0};
        for (ptrdiff_t n = 0; n < rows; n++) {
            lf_ksum_add(&k, work[2 * K + n * C + c]);
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

/* A term's loss into out: a half one narrowed (round to nearest even). */
static inline void
FN(dice_store)(const lf_dice *a, char *p, T v)
{
#ifdef LF_T_F32
    if (a->half_kind) {
        lf_half_narrow_run(a->half_kind == LF_HALF_BF16, &v, p, (ptrdiff_t)sizeof(uint16_t), 1);
        return;
    }
#else
    (void)a;
#endif
    *(T *)(void *)p = v;
}

/* Each term's loss (into out, and the returned sum) and gradient factors,
 * in place of its sums: A, B of dd/dp = A + B t and H1, H2 of the Hessian
 * (arrays of K terms), all scaled by the term's weight and grad_output. */
static double
FN(dice_terms)(const lf_dice *a, double *work)
{
    const ptrdiff_t C = a->C, K = a->per_sample ? a->N * C : C;
    const double sm = a->smooth, al = a->alpha, be = a->beta, ga = 1.0 - al - be;
    const double *gw = work + 4 * K;
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t k = 0; k < K; k++) {
        const ptrdiff_t c = k % C; /* K > 0: C > 0 */
        const double I = work[k], P = work[K + k], Tt = work[2 * K + k];
        const double num = I + sm, den = I + al * (P - I) + be * (Tt - I) + sm;
        const double w = a->generalized ? gw[c]
                         : a->weight    ? (double)*(const T *)(a->weight + c * a->w_c)
                                        : 1.0;
        const double d = w * (1.0 - num / den);
        lf_ksum_add(&total, d);
        if (a->out) {
            FN(dice_store)(a, a->out + k * a->out_step, (T)d);
        }
        const double g =
            w * (a->grad_output ? a->scale * (double)*(const T *)(a->grad_output +
                                                                    k * a->go_step)
                                : a->scale);
        work[k] = g * al * num / (den * den);
        work[K + k] = g * (ga * num / (den * den) - 1.0 / den);
        work[2 * K + k] = 2.0 * g / (den * den);
        work[3 * K + k] = 2.0 * g * num / (den * den * den);
    }
    return lf_ksum_value(&total);
}

/* The factors of a row's terms (A, B, H1, H2 of its C classes, K apart). */
typedef struct {
    const double *A, *B, *H1, *H2;
} FN(dice_f);

/* Pass two at one element: dd/dp = r = A + B t; the Hessian's diagonal in
 * p, h = t e H1 - e^2 H2 with e = (1 - alpha - beta) t + alpha. */
#define DICE_R(f, c, t) ((f).A[c] + (f).B[c] * (double)(t))
#define DICE_E(t) (ga * (double)(t) + al)
#define DICE_H(f, c, t) \
    ((double)(t) * DICE_E(t) * (f).H1[c] - DICE_E(t) * DICE_E(t) * (f).H2[c])

/* The gradient of row n, sigmoid, without the Hessian: grad = r s (1 - s),
 * from the s (1 - s) pass one left in the gradient (the loops vectorize). */
static void
FN(dice_grad_sig)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f)
{
    const ptrdiff_t C = a->C, S = a->S;
    const T *restrict tr = (const T *)a->target + n * C * S;
    T *restrict gr = (T *)a->grad + n * C * S;
    if (S == 1) {
        for (ptrdiff_t c = 0; c < C; c++) {
            gr[c] = (T)(DICE_R(f, c, tr[c]) * (double)gr[c]);
        }
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const double A = f.A[c], B = f.B[c];
        for (ptrdiff_t s = 0; s < S; s++) {
            gr[c * S + s] = (T)((A + B * (double)tr[c * S + s]) * (double)gr[c * S + s]);
        }
    }
}

/* The gradient and the Hessian's diagonal of row n, sigmoid: per element,
 * grad = r s (1 - s), hess = h (s (1 - s))^2 + r s (1 - s) (1 - 2 s). */
static void
FN(dice_hess_sig)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f)
{
    const ptrdiff_t C = a->C, S = a->S;
    const double ga = 1.0 - a->alpha - a->beta, al = a->alpha;
    for (ptrdiff_t c = 0; c < C; c++) {
        for (ptrdiff_t s = 0; s < S; s++) {
            T q;
            const T pr = FN(dice_sig)(DX(n, c, s), &q), tv = DT(n, c, s);
            const double d = (double)(pr * q), r = DICE_R(f, c, tv);
            DG(a->grad, n, c, s) = (T)(r * d);
            DG(a->hess, n, c, s) =
                (T)(DICE_H(f, c, tv) * d * d + r * d * (1.0 - 2.0 * (double)pr));
        }
    }
}

/* The gradient of a softmax row (S = 1, no Hessian): p_c (r_c - rho) with
 * rho = sum_c p_c r_c, from the probabilities pass one left in the row. */
static void
FN(dice_grad_soft_row)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f)
{
    const ptrdiff_t C = a->C;
    const T *restrict tr = a->index ? NULL : (const T *)a->target + n * C;
    T *restrict gr = (T *)a->grad + n * C;
    const double *restrict fa = f.A, *restrict fb = f.B;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    /* class c into acc[c mod 8], eight at a time (the loops vectorize) */
    const ptrdiff_t full = C & ~(ptrdiff_t)7;
    if (tr) {
        for (ptrdiff_t c = 0; c < full; c += 8) {
            for (int k = 0; k < 8; k++) {
                acc[k] += (double)gr[c + k] * (fa[c + k] + fb[c + k] * (double)tr[c + k]);
            }
        }
        for (ptrdiff_t c = full; c < C; c++) {
            acc[c & 7] += (double)gr[c] * (fa[c] + fb[c] * (double)tr[c]);
        }
    }
    else {
        for (ptrdiff_t c = 0; c < full; c += 8) {
            for (int k = 0; k < 8; k++) {
                acc[k] += (double)gr[c + k] * fa[c + k];
            }
        }
        for (ptrdiff_t c = full; c < C; c++) {
            acc[c & 7] += (double)gr[c] * fa[c];
        }
    }
    const int64_t k = a->index ? a->index[n] : 0;
    const double pk = (double)gr[k];
    const double rho = FN(sum8)(acc) + (a->index ? pk * fb[k] : 0.0);
    if (tr) {
        for (ptrdiff_t c = 0; c < C; c++) {
            gr[c] = (T)((double)gr[c] * (fa[c] + fb[c] * (double)tr[c] - rho));
        }
    }
    else {
        for (ptrdiff_t c = 0; c < C; c++) {
            gr[c] = (T)((double)gr[c] * (fa[c] - rho));
        }
    }
    if (a->index) {
        gr[k] = (T)(pk * (fa[k] + fb[k] - rho));
    }
}

/* The gradient of a softmax row over spatial positions (S > 1, no Hessian),
 * chunk by chunk: the probabilities into the gradient, rho per position,
 * then p (r - rho). */
static void
FN(dice_grad_soft_s)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f)
{
    const ptrdiff_t C = a->C, S = a->S;
    T m[DICE_CHUNK], inv[DICE_CHUNK];
    double rho[DICE_CHUNK];
    for (ptrdiff_t s0 = 0; s0 < S; s0 += DICE_CHUNK) {
        const ptrdiff_t w = S - s0 < DICE_CHUNK ? S - s0 : DICE_CHUNK;
        FN(dice_chunk_stats)(a, n, s0, w, m, inv);
        const int64_t *restrict ic = a->index ? a->index + n * S + s0 : NULL;
        for (ptrdiff_t j = 0; j < w; j++) {
            rho[j] = 0.0;
        }
        for (int pass = 0; pass < 2; pass++) {
            for (ptrdiff_t c = 0; c < C; c++) {
                const T *restrict xc = (const T *)a->input + (n * C + c) * S + s0;
                const T *restrict tc =
                    a->index ? NULL : (const T *)a->target + (n * C + c) * S + s0;
                T *restrict gc = (T *)a->grad + (n * C + c) * S + s0;
                const double A = f.A[c], B = f.B[c];
                for (ptrdiff_t j = 0; j < w; j++) {
                    const double r = A + B * (double)DICE_TV(tc, ic, j, c);
                    if (pass == 0) {
                        gc[j] = V(exp)(xc[j] - m[j]) * inv[j];
                        rho[j] += (double)gc[j] * r;
                    }
                    else {
                        gc[j] = (T)((double)gc[j] * (r - rho[j]));
                    }
                }
            }
        }
    }
}

/* The softmax case with the Hessian's diagonal, at each (n, s),
 * with kappa = sum_c h_c p_c^2:
 * hess_c = p_c^2 (h_c (1 - 2 p_c) + kappa) + (1 - 2 p_c) grad_c. */
static void
FN(dice_hess_soft)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f)
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
            rho += (double)pr * DICE_R(f, c, tv);
            kappa += DICE_H(f, c, tv) * (double)pr * (double)pr;
        }
        for (ptrdiff_t c = 0; c < C; c++) {
            const double pr = (double)DG(a->grad, n, c, s);
            const T tv = DT(n, c, s);
            const double g = pr * (DICE_R(f, c, tv) - rho);
            DG(a->grad, n, c, s) = (T)g;
            DG(a->hess, n, c, s) = (T)(pr * pr * (DICE_H(f, c, tv) * (1.0 - 2.0 * pr) + kappa) +
                                       (1.0 - 2.0 * pr) * g);
        }
    }
}

/* H v: a file of its own, included here so that it shares this file's
 * helpers and macros. */
#include "dice_hv_impl.h"

/* Row n's gradient (and the Hessian's diagonal) from its terms' factors. */
static inline LF_ALWAYS_INLINE void
FN(dice_grad_row)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f)
{
    if (a->softmax && a->hess) {
        FN(dice_hess_soft)(a, n, f);
    }
    else if (a->softmax) {
        if (a->S == 1) {
            FN(dice_grad_soft_row)(a, n, f);
        }
        else {
            FN(dice_grad_soft_s)(a, n, f);
        }
    }
    else if (a->hess) {
        FN(dice_hess_sig)(a, n, f);
    }
    else {
        FN(dice_grad_sig)(a, n, f);
    }
}

#ifdef LF_T_F32
/* w gradient elements of a sigmoid row from class c on, FN(dice_grad_sig)'s
 * r s (1 - s) with s (1 - s) taken again (pass one kept it in the float32
 * gradient): a class per element (`per_elem`, S = 1) or class c's. */
static inline LF_ALWAYS_INLINE void
FN(dice_sig_run)(const T *restrict x, const T *restrict t, FN(dice_f) f, ptrdiff_t c,
                 ptrdiff_t w, T *restrict g, const int per_elem)
{
    for (ptrdiff_t j = 0; j < w; j++) {
        T q;
        const T d = FN(dice_sig)(x[j], &q) * q;
        g[j] = (T)(DICE_R(f, per_elem ? c + j : c, t[j]) * (double)d);
    }
}

/* A half call's sigmoid row n, DICE_CHUNK elements at a time: widened, its
 * gradient computed, narrowed. */
static void
FN(dice_grad_sig_half)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f)
{
    const ptrdiff_t C = a->C, S = a->S, h = (ptrdiff_t)sizeof(uint16_t);
    const int bf16 = a->half_kind == LF_HALF_BF16;
    T xb[DICE_CHUNK], tb[DICE_CHUNK], g[DICE_CHUNK];
    const T *x, *t;
    for (ptrdiff_t c = 0; c < C; c += S == 1 ? DICE_CHUNK : 1) {
        for (ptrdiff_t s0 = 0; s0 < S; s0 += DICE_CHUNK) {
            const ptrdiff_t j0 = c * S + s0, left = S == 1 ? C - c : S - s0;
            const ptrdiff_t w = left < DICE_CHUNK ? left : DICE_CHUNK;
            FN(dice_run)(a, n, j0, w, xb, tb, &x, &t);
            if (S == 1) {
                FN(dice_sig_run)(x, t, f, c, w, g, 1);
            }
            else {
                FN(dice_sig_run)(x, t, f, c, w, g, 0);
            }
            lf_half_narrow_run(bf16, g, a->grad + (n * C * S + j0) * h, h, w);
        }
    }
}

/* A half call's row n: a sigmoid row by FN(dice_grad_sig_half); a softmax row
 * through the stage, what pass one leaves in a float32 gradient (the softmax
 * of a row with S = 1, from the max and 1 / sum it left in stats) taken again
 * into g, the float32 row function, g narrowed into the half gradient. */
static void
FN(dice_grad_half)(const lf_dice *a, ptrdiff_t n, FN(dice_f) f, const double *stats)
{
    if (!a->softmax) {
        FN(dice_grad_sig_half)(a, n, f);
        return;
    }
    FN(stage_rows) rows;
    FN(dice_stage) st;
    const ptrdiff_t len = a->C * a->S;
    FN(dice_stage_row)(&st, &rows, a, n);
    const T *restrict x = (const T *)st.v.input;
    T *restrict g = st.g;
    if (a->S == 1) { /* as FN(dice_sums_soft): exp(x - m) (FN(ce_pass)'s), times inv */
        const T m = (T)stats[0], inv = (T)stats[1];
        for (ptrdiff_t c = 0; c < a->C; c++) {
            g[c] = V(exp)(x[c] - m) * inv;
        }
    }
    FN(dice_grad_row)(&st.v, 0, f);
    const ptrdiff_t h = (ptrdiff_t)sizeof(uint16_t);
    lf_half_narrow_run(a->half_kind == LF_HALF_BF16, g, a->grad + n * len * h, h, len);
}
#endif

/* Pass two, unit u: the rows of the unit, each with its terms' factors. */
static double
FN(dice_grad_unit)(void *vctx, ptrdiff_t u)
{
    const FN(dice_ctx) *ctx = vctx;
    const lf_dice *a = ctx->a;
    const ptrdiff_t C = a->C, K = a->per_sample ? a->N * C : C;
    ptrdiff_t n0, n1;
    lf_dice_unit(a, ctx->work, u, 0, &n0, &n1);
    for (ptrdiff_t n = n0; n < n1; n++) {
        const double *fk = ctx->work + (a->per_sample ? n * C : 0);
        const FN(dice_f) f = {fk, fk + K, fk + 2 * K, fk + 3 * K};
        if (a->vec) {
            const double *hv = ctx->work + lf_dice_sums_end(a) - 2 * K;
            FN(dice_hvp_row)(a, n, f, hv + (a->per_sample ? n * C : 0), K);
        }
#ifdef LF_T_F32
        else if (a->half_kind) {
            FN(dice_grad_half)(a, n, f, FN(dice_row_stats)(a, ctx->work, n));
        }
#endif
        else {
            FN(dice_grad_row)(a, n, f);
        }
    }
    return 0.0;
}

static double
FN(dice)(const lf_dice *a, double *work)
{
    FN(dice_ctx) ctx = {a, work};
    /* No classes, no terms: no pass runs (each reads class 0 of its rows). */
    const ptrdiff_t R = lf_dice_rows(a), units = a->C > 0 ? (a->N + R - 1) / R : 0;
    const ptrdiff_t elems = a->N * a->C * a->S;
    (void)lf_parallel_sum_slots(FN(dice_sums_unit), &ctx, units, elems * LF_WORK_TRANSC,
                                LF_STAGE_SLOTS(a));
    if (!a->per_sample) {
        FN(dice_merge)(a, work, 3, work);
    }
    if (a->generalized) {
        FN(dice_gen_weights)(a, work);
    }
    const double total = FN(dice_terms)(a, work);
    if (a->vec) { /* EZ, TZ of every term, before the pass that reads them */
        (void)lf_parallel_sum(FN(dice_vsums_unit), &ctx, units, elems * (a->softmax ? 3 : 2));
        if (!a->per_sample) {
            FN(dice_merge)(a, work, 2, work + lf_dice_sums_end(a) - 2 * a->C);
        }
    }
    if (a->grad) {
        /* without the Hessian the gradient pass is a multiply-add an element (pass
         * one left s (1 - s) or the probabilities in the gradient), except a softmax
         * over spatial positions, which takes its exps again */
        const ptrdiff_t weight = a->hess                    ? 4
                                 : a->softmax && a->S > 1 ? LF_WORK_TRANSC
                                                          : 1;
        (void)lf_parallel_sum_slots(FN(dice_grad_unit), &ctx, units, elems * weight,
                                    LF_STAGE_SLOTS(a));
    }
    return total;
}

#undef DV
#undef DICE_HPZ
#undef DICE_R
#undef DICE_E
#undef DICE_H
#undef DICE_CHUNK
#undef DICE_ROWS_CHUNK
#undef DICE_TV
#undef DX
#undef DT
#undef DG
