/*
 * ctc_impl.h -- the body of ctc.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Connectionist temporal classification (Graves et al. 2006), as torch's
 * LossCTC.cpp computes it on the CPU: the alpha (and, for the gradient,
 * beta) recursions in log space over the extended target l' = (blank, l_1,
 * blank, l_2, ..., blank) of length L = 2 S + 1, in the input's dtype with
 * the same operations in the same order, so float32 results round as
 * torch's do.  With nll = -log p(l | x):
 *   alpha_t(s) = lp_t(l'_s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1),
 *                alpha_{t-1}(s-2) if l'_s != l'_{s-2})
 *   nll = -logsumexp(alpha_{T-1}(L-1), alpha_{T-1}(L-2))
 *   grad_t(c) = exp(lp_t(c)) - exp(logsumexp_{s: l'_s = c}(alpha_t(s) + beta_t(s)) + nll - lp_t(c))
 * The gradient is torch's: the exp(lp) term makes it the gradient with
 * respect to the logits of a log_softmax, and it vanishes after
 * log_softmax's backward (the true derivative with respect to log_probs is
 * the second term alone).  Frames t >= input_length get 0.  With
 * zero_infinity an infinite loss (no valid alignment) and its gradient
 * become 0.
 */

#define LP(t, b, c) \
    (*(const T *)(a->log_probs + (t) * a->lp_t + (b) * a->lp_n + (c) * a->lp_c))
#define G(t, b, c) (*(T *)(a->grad + (t) * a->g_t + (b) * a->g_n + (c) * a->g_c))

/* log(exp(x1 - m) + exp(x2 - m) + exp(x3 - m)) + m, m the largest (0 if all
 * are -inf), in T as torch writes it. */
static inline T
FN(lse3)(T x1, T x2, T x3)
{
    T m = x1;
    m = x2 > m ? x2 : m;
    m = x3 > m ? x3 : m;
    if (m == -INFINITY) {
        m = 0;
    }
    return V(log)(V(exp)(x1 - m) + V(exp)(x2 - m) + V(exp)(x3 - m)) + m;
}

/* Sequence b's extended target l' and its lattices (locals tg, L, la, lb). */
#define PRIME(s) ((s) % 2 == 0 ? a->blank : tg[(s) / 2])
#define LA(t, s) la[(t) * L + (s)]
#define LB(t, s) lb[(t) * L + (s)]

/* nll of sequence b by the alpha recursion, the alphas left in la. */
static T
FN(ctc_alpha)(const lf_ctc *a, ptrdiff_t b, T *la)
{
    const T neginf = -INFINITY;
    const int64_t il = a->input_lengths[b], tl = a->target_lengths[b];
    const int64_t *tg = a->targets + a->tg_offset[b];
    const ptrdiff_t L = (ptrdiff_t)(2 * tl + 1);
    if (il == 0) {
        return tl == 0 ? (T)0 : (T)INFINITY;
    }
    for (ptrdiff_t s = 0; s < L; s++) {
        LA(0, s) = neginf;
    }
    LA(0, 0) = LP(0, b, a->blank);
    if (tl > 0) {
        LA(0, 1) = LP(0, b, PRIME(1));
    }
    for (ptrdiff_t t = 1; t < il; t++) {
        if (lf_checkpoint()) { /* a long lattice answers Ctrl-C; the result is discarded */
            return (T)0;
        }
        for (ptrdiff_t s = 0; s < L; s++) {
            const int64_t cp = PRIME(s);
            const T la2 = s > 0 ? LA(t - 1, s - 1) : neginf;
            const T la3 = (s > 1 && PRIME(s - 2) != cp) ? LA(t - 1, s - 2) : neginf;
            LA(t, s) = FN(lse3)(LA(t - 1, s), la2, la3) + LP(t, b, cp);
        }
    }
    const T l1 = LA(il - 1, L - 1);
    const T l2 = tl > 0 ? LA(il - 1, L - 2) : neginf;
    return -FN(lse3)(l1, l2, neginf);
}

/* Frames [t0, t1) of sequence b's gradient are v; from t0 on, 0. */
static void
FN(ctc_fill)(const lf_ctc *a, ptrdiff_t b, ptrdiff_t t0, ptrdiff_t t1, T v)
{
    for (ptrdiff_t t = t0; t < t1; t++) {
        if (a->g_c == (ptrdiff_t)sizeof(T)) { /* a unit-stride row: vectorized */
            T *restrict g = &G(t, b, 0);
            for (ptrdiff_t c = 0; c < a->C; c++) {
                g[c] = v;
            }
            continue;
        }
        for (ptrdiff_t c = 0; c < a->C; c++) {
            G(t, b, c) = v;
        }
    }
}

static void
FN(ctc_zero)(const lf_ctc *a, ptrdiff_t b, ptrdiff_t t0)
{
    FN(ctc_fill)(a, b, t0, a->steps, 0);
}

/* One frame's gradient row from g = logsumexp of alpha + beta per class
 * (unit-stride rows; the loop vectorizes). */
static void
FN(ctc_grad_row)(const T *restrict lp, T *restrict g, ptrdiff_t C, T nll, T gr)
{
    for (ptrdiff_t c = 0; c < C; c++) {
        g[c] = (V(exp)(lp[c]) - V(exp)(g[c] + nll - lp[c])) * gr;
    }
}

/* Sequence b's gradient (input_length > 0) times gr, from its alphas in la
 * and nll; the betas go to lb. */
static void
FN(ctc_grad)(const lf_ctc *a, ptrdiff_t b, const T *la, T *lb, T nll, T gr)
{
    const T neginf = -INFINITY;
    const int64_t il = a->input_lengths[b], tl = a->target_lengths[b];
    const int64_t *tg = a->targets + a->tg_offset[b];
    const ptrdiff_t L = (ptrdiff_t)(2 * tl + 1);
    /* the grad rows collect logsumexp of alpha + beta per class first */
    FN(ctc_fill)(a, b, 0, (ptrdiff_t)il, neginf);
    for (ptrdiff_t s = 0; s < L; s++) {
        LB(il - 1, s) = neginf;
    }
    LB(il - 1, L - 1) = LP(il - 1, b, a->blank);
    G(il - 1, b, a->blank) = LA(il - 1, L - 1) + LB(il - 1, L - 1);
    if (tl > 0) {
        const int64_t cp = PRIME(L - 2);
        LB(il - 1, L - 2) = LP(il - 1, b, cp);
        G(il - 1, b, cp) = LA(il - 1, L - 2) + LB(il - 1, L - 2);
    }
    for (ptrdiff_t t = (ptrdiff_t)il - 2; t >= 0; t--) {
        if (lf_checkpoint()) {
            return;
        }
        for (ptrdiff_t s = L - 1; s >= 0; s--) {
            const int64_t cp = PRIME(s);
            const T lb2 = s < L - 1 ? LB(t + 1, s + 1) : neginf;
            const T lb3 = (s < L - 2 && PRIME(s + 2) != cp) ? LB(t + 1, s + 2) : neginf;
            LB(t, s) = FN(lse3)(LB(t + 1, s), lb2, lb3) + LP(t, b, cp);
            const T lab = LA(t, s) + LB(t, s);
            T *lcab = &G(t, b, cp);
            if (*lcab == neginf) {
                *lcab = lab;
            }
            else {
                const T m = *lcab > lab ? *lcab : lab;
                *lcab = V(log)(V(exp)(*lcab - m) + V(exp)(lab - m)) + m;
            }
        }
    }
    const int unit = a->lp_c == (ptrdiff_t)sizeof(T) && a->g_c == (ptrdiff_t)sizeof(T);
    for (ptrdiff_t t = 0; t < il; t++) {
        if (unit) {
            FN(ctc_grad_row)(&LP(t, b, 0), &G(t, b, 0), a->C, nll, gr);
            continue;
        }
        for (ptrdiff_t c = 0; c < a->C; c++) {
            const T lp = LP(t, b, c);
            G(t, b, c) = (V(exp)(lp) - V(exp)(G(t, b, c) + nll - lp)) * gr;
        }
    }
    FN(ctc_zero)(a, b, (ptrdiff_t)il);
}

typedef struct {
    const lf_ctc *a;
    double *work;
    ptrdiff_t per;     /* sequences per unit */
    ptrdiff_t each;    /* doubles of one unit's work */
    ptrdiff_t lattice; /* doubles of one lattice */
} FN(ctc_ctx);

/* Sequence b: its loss (into out, and *total), its gradient. */
static void
FN(ctc_seq)(const lf_ctc *a, ptrdiff_t b, T *la, T *lb, lf_ksum *total)
{
    const int64_t il = a->input_lengths[b], tl = a->target_lengths[b];
    const T nll = FN(ctc_alpha)(a, b, la);
    const int dropped = a->zero_infinity && nll == (T)INFINITY;
    const T loss = dropped ? (T)0 : nll;
    const T per = (T)(tl > 1 ? tl : 1);
    lf_ksum_add(total, (double)(a->per_length ? loss / per : loss));
    if (a->out) {
        *(T *)(a->out + b * a->out_n) = loss;
    }
    if (!a->grad) {
        return;
    }
    T gr = a->grad_output ? *(const T *)(a->grad_output + b * a->go_n) : (T)a->scale;
    if (a->per_length) {
        gr = gr / per;
    }
    if (dropped || il == 0) {
        FN(ctc_zero)(a, b, 0);
    }
    else {
        FN(ctc_grad)(a, b, la, lb, nll, gr);
    }
}

#ifdef LF_T_F32
/* Sequence b of a half call (a->half_kind) through x and g, two [steps, C]
 * float32 blocks of the unit's work: its log-probabilities widened into x,
 * FN(ctc_seq) on that float32 view (what it computes on the widened array),
 * its loss and the gradient in g narrowed into the half outputs. */
static void
FN(ctc_seq_half)(const lf_ctc *a, ptrdiff_t b, T *la, T *lb, T *x, T *g, lf_ksum *total)
{
    const int bf16 = a->half_kind == LF_HALF_BF16;
    const ptrdiff_t C = a->C, row = C * (ptrdiff_t)sizeof(T);
    const ptrdiff_t il = (ptrdiff_t)a->input_lengths[b];
    lf_ctc v = *a;
    for (ptrdiff_t t = 0; t < il; t++) { /* (only frames before il are read) */
        lf_half_widen_run(bf16, a->log_probs + t * a->lp_t + b * a->lp_n, a->lp_c, x + t * C, C);
    }
    v.half_kind = 0;
    v.log_probs = (const char *)x;
    v.lp_t = row;
    v.lp_n = 0;
    v.lp_c = (ptrdiff_t)sizeof(T);
    v.grad = a->grad ? (char *)g : NULL;
    v.g_t = row;
    v.g_n = 0;
    v.g_c = (ptrdiff_t)sizeof(T);
    T loss = 0;
    v.out = (char *)&loss;
    v.out_n = 0;
    FN(ctc_seq)(&v, b, la, lb, total);
    if (a->out) {
        lf_half_narrow_run(bf16, &loss, a->out + b * a->out_n, 2, 1);
    }
    for (ptrdiff_t t = 0; a->grad && t < a->steps; t++) {
        lf_half_narrow_run(bf16, g + t * C, a->grad + t * a->g_t + b * a->g_n, a->g_c, C);
    }
}
#endif

/* Unit u: sequences [u per, (u + 1) per), on its own lattices (and, in a
 * half call, its own float32 blocks). */
static double
FN(ctc_unit)(void *vc, ptrdiff_t u)
{
    const FN(ctc_ctx) *ctx = vc;
    const lf_ctc *a = ctx->a;
    double *mine = ctx->work + u * ctx->each;
    T *la = (T *)mine;
    T *lb = (T *)(mine + ctx->lattice);
    const ptrdiff_t end = (u + 1) * ctx->per < a->N ? (u + 1) * ctx->per : a->N;
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t b = u * ctx->per; b < end; b++) {
#ifdef LF_T_F32
        if (a->half_kind) {
            T *x = (T *)(mine + 2 * ctx->lattice);
            FN(ctc_seq_half)(a, b, la, lb, x, x + a->steps * a->C, &total);
            continue;
        }
#endif
        FN(ctc_seq)(a, b, la, lb, &total);
    }
    return lf_ksum_value(&total);
}

static double
FN(ctc)(const lf_ctc *a, double *work)
{
    const ptrdiff_t units = lf_ctc_units(a);
    const ptrdiff_t each = (ptrdiff_t)(lf_ctc_work(a) / (size_t)units);
    /* (a half call's float32 blocks: steps C doubles after the lattices) */
    const ptrdiff_t lattice = (each - (a->half_kind ? a->steps * a->C : 0)) / 2;
    FN(ctc_ctx) ctx = {a, work, (a->N + units - 1) / units, each, lattice};
    if (a->N == 0) {
        return 0.0;
    }
    return lf_parallel_sum(FN(ctc_unit), &ctx, units,
                           a->steps * a->N * (a->C + lattice / (a->steps > 0 ? a->steps : 1)));
}

#undef PRIME
#undef LA
#undef LB
#undef LP
#undef G
