/*
 * binary_impl.h -- the body of binary.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Formulas are torch's (aten/src/ATen/native/Loss.cpp):
 *   BCE:         l = ((y - 1) max(log(1 - x), -100) - y max(log x, -100)) w
 *                dl/dx = w (x - y) / max((1 - x) x, 1e-12)
 *   with logits: l = ((1 - y) x + lw softplus(-x)) w,  lw = (pw - 1) y + 1
 *                dl/dx = (lw sigmoid(x) - pw y) w
 * softplus(-x) = max(-x, 0) + log1p(e), e = exp(-|x|), shares e with the
 * sigmoid, and the one reciprocal 1 / (1 + e) serves both the sigmoid and
 * log1p's correction term: one exp, one log, one division per element.
 *
 * Every block runs one loop over unit-stride arrays, which gcc vectorizes.
 * Operands that are unit-stride in memory are used in place; strided or
 * broadcast (step 0) ones are first copied to a block-sized buffer.  So all
 * layouts compute bit-identical values, and the contiguous ones copy nothing.
 */

#define BLK LF_PAIRWISE_BLOCK

/* The number of elements of a block outside [0, 1] (nan included). */
static double
FN(bce_count_bad_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    T bx[BLK], by[BLK];
    const T *restrict x = FN(in_op)(r, LF_EW_INPUT, start, n, bx);
    const T *restrict y = FN(in_op)(r, LF_EW_TARGET, start, n, by);
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        bad += !((x[i] >= 0) & (x[i] <= 1) & (y[i] >= 0) & (y[i] <= 1));
    }
    return (double)bad;
}

/* Finds the first bad element (run on one thread, and only when there is one). */
static double
FN(bce_check_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    lf_error *err = r->user;
    if (err->index >= 0) {
        return 0.0;
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = *(const T *)(r->ptr[LF_EW_INPUT] + (start + i) * r->step[LF_EW_INPUT]);
        const T y = *(const T *)(r->ptr[LF_EW_TARGET] + (start + i) * r->step[LF_EW_TARGET]);
        /* written so that nan fails too */
        if (!(x >= 0 && x <= 1)) {
            err->index = r->base + start + i;
            err->ivalue = LF_ERR_INPUT_DOMAIN;
            err->fvalue = (double)x;
            break;
        }
        if (!(y >= 0 && y <= 1)) {
            err->index = r->base + start + i;
            err->ivalue = LF_ERR_TARGET_DOMAIN;
            err->fvalue = (double)y;
            break;
        }
    }
    return 0.0;
}

static inline void
FN(bce_loop)(const T *restrict x, const T *restrict y, const T *restrict w,
             const T *restrict go, T *restrict l, T *restrict g, ptrdiff_t n, const int grad)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const T xi = x[i], yi = y[i];
        T log_x = V(log)(xi);
        T log_1mx = V(log)((T)1 - xi);
        log_x = log_x > T_MAX_LOG_CLAMP ? log_x : T_MAX_LOG_CLAMP;
        log_1mx = log_1mx > T_MAX_LOG_CLAMP ? log_1mx : T_MAX_LOG_CLAMP;
        l[i] = ((yi - 1) * log_1mx - yi * log_x) * w[i];
        if (grad) {
            T den = ((T)1 - xi) * xi;
            den = den > T_EPS_BCE ? den : T_EPS_BCE;
            g[i] = go[i] * (xi - yi) / den * w[i];
        }
    }
}

/* The Hessian's diagonal, d2l/dx2 = w (y (1 - x)^2 + (1 - y) x^2) / ((x + eps)^2 (1 - x + eps)^2)
 * with eps = 1e-12, as torch's double backward of BCE (so x = 0 or 1 stays finite). */
static inline void
FN(bce_hess_loop)(const T *restrict x, const T *restrict y, const T *restrict w,
                  const T *restrict go, T *restrict h, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const T xi = x[i], yi = y[i];
        const T a = xi + (T)1e-12, b = ((T)1 - xi) + (T)1e-12;
        h[i] = go[i] * w[i] * ((xi * xi - 2 * xi * yi + yi) / (a * a * (b * b)));
    }
}

/* in_op fills its buffer exactly when it returns it, which gcc -O2 cannot
 * always see through the pointer it returns (both block functions below). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* The domain check rides along with the loss (a second pass over the inputs
 * would cost as much memory traffic as the loss itself): a block with an
 * element outside [0, 1] returns nan, and only then does FN(bce) look for
 * the culprit.  The gradient buffer may by then hold partial values; the
 * caller discards it (or documents it, for a caller-supplied `out`). */
static double
FN(bce_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    T bx[BLK], by[BLK], bw[BLK], bgo[BLK], bl[BLK], bg[BLK];
    const T *x = FN(in_op)(r, LF_EW_INPUT, start, n, bx);
    const T *y = FN(in_op)(r, LF_EW_TARGET, start, n, by);
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        bad |= !((x[i] >= 0) & (x[i] <= 1) & (y[i] >= 0) & (y[i] <= 1));
    }
    const T *w = FN(in_op)(r, LF_EW_WEIGHT, start, n, bw);
    T *po = FN(out_op)(r, LF_EW_OUT, start, bl);
    T *l = po ? po : bl;
    T *g = FN(out_op)(r, LF_EW_GRAD, start, bg);
    const int want_h = r->ptr[LF_EW_HESS] != NULL;
    const T *go = g || want_h ? FN(in_op)(r, LF_EW_GRAD_OUTPUT, start, n, bgo) : NULL;
    if (g) {
        FN(bce_loop)(x, y, w, go, l, g, n, 1);
        FN(out_done)(r, LF_EW_GRAD, start, n, g, bg);
    }
    else { /* the loss alone (also for a Hessian alone: the sum is returned) */
        FN(bce_loop)(x, y, w, NULL, l, NULL, n, 0);
    }
    if (want_h) { /* bg is free again */
        T *h = FN(out_op)(r, LF_EW_HESS, start, bg);
        FN(bce_hess_loop)(x, y, w, go, h, n);
        FN(out_done)(r, LF_EW_HESS, start, n, h, bg);
    }
    if (po) {
        FN(out_done)(r, LF_EW_OUT, start, n, po, bl);
    }
    return bad ? (double)NAN : FN(sum_block)(l, n);
}

static inline void
FN(bce_logits_loop)(const T *restrict x, const T *restrict y, const T *restrict w,
                    const T *restrict pw, const T *restrict go, T *restrict l, T *restrict g,
                    ptrdiff_t n, const int grad)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const T xi = x[i], yi = y[i], pwi = pw[i];
        const T lw = (pwi - 1) * yi + 1;
        const T e = V(exp)(-M(fabs)(xi));
        const T inv = (T)1 / ((T)1 + e);
        const T softplus_neg = (xi < 0 ? -xi : (T)0) + V(log1p_unit)(e, inv);
        l[i] = ((1 - yi) * xi + lw * softplus_neg) * w[i];
        if (grad) {
            const T sig = xi >= 0 ? inv : e * inv;
            g[i] = (lw * sig - pwi * yi) * w[i] * go[i];
        }
    }
}

/* The Hessian's diagonal, d2l/dx2 = w lw sigmoid(x) (1 - sigmoid(x)), the
 * product as e / (1 + e)^2 with e = exp(-|x|): no cancellation anywhere. */
static inline void
FN(bce_logits_hess_loop)(const T *restrict x, const T *restrict y, const T *restrict w,
                         const T *restrict pw, const T *restrict go, T *restrict h, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const T lw = (pw[i] - 1) * y[i] + 1;
        const T e = V(exp)(-M(fabs)(x[i]));
        const T inv = (T)1 / ((T)1 + e);
        h[i] = lw * (e * inv * inv) * w[i] * go[i];
    }
}

static double
FN(bce_logits_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    T bx[BLK], by[BLK], bw[BLK], bpw[BLK], bgo[BLK], bl[BLK], bg[BLK];
    const T *x = FN(in_op)(r, LF_EW_INPUT, start, n, bx);
    const T *y = FN(in_op)(r, LF_EW_TARGET, start, n, by);
    const T *w = FN(in_op)(r, LF_EW_WEIGHT, start, n, bw);
    const T *pw = FN(in_op)(r, LF_EW_POS_WEIGHT, start, n, bpw);
    T *po = FN(out_op)(r, LF_EW_OUT, start, bl);
    T *l = po ? po : bl;
    T *g = FN(out_op)(r, LF_EW_GRAD, start, bg);
    const int want_h = r->ptr[LF_EW_HESS] != NULL;
    const T *go = g || want_h ? FN(in_op)(r, LF_EW_GRAD_OUTPUT, start, n, bgo) : NULL;
    if (g) {
        FN(bce_logits_loop)(x, y, w, pw, go, l, g, n, 1);
        FN(out_done)(r, LF_EW_GRAD, start, n, g, bg);
    }
    else { /* the loss alone (also for a Hessian alone: the sum is returned) */
        FN(bce_logits_loop)(x, y, w, pw, NULL, l, NULL, n, 0);
    }
    if (want_h) { /* bg is free again */
        T *h = FN(out_op)(r, LF_EW_HESS, start, bg);
        FN(bce_logits_hess_loop)(x, y, w, pw, go, h, n);
        FN(out_done)(r, LF_EW_HESS, start, n, h, bg);
    }
    if (po) {
        FN(out_done)(r, LF_EW_OUT, start, n, po, bl);
    }
    return FN(sum_block)(l, n);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static double
FN(sigmoid_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    T bx[BLK], bo[BLK];
    const T *restrict x = FN(in_op)(r, LF_EW_INPUT, start, n, bx);
    T *restrict o = FN(out_op)(r, LF_EW_OUT, start, bo);
    for (ptrdiff_t i = 0; i < n; i++) {
        const T e = V(exp)(-M(fabs)(x[i]));
        const T inv = (T)1 / ((T)1 + e);
        o[i] = x[i] >= 0 ? inv : e * inv;
    }
    FN(out_done)(r, LF_EW_OUT, start, n, o, bo);
    return 0.0;
}

static double
FN(logsigmoid_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    T bx[BLK], bo[BLK];
    const T *restrict x = FN(in_op)(r, LF_EW_INPUT, start, n, bx);
    T *restrict o = FN(out_op)(r, LF_EW_OUT, start, bo);
    for (ptrdiff_t i = 0; i < n; i++) {
        const T e = V(exp)(-M(fabs)(x[i]));
        o[i] = (x[i] < 0 ? x[i] : (T)0) - V(log1p_unit)(e, (T)1 / ((T)1 + e));
    }
    FN(out_done)(r, LF_EW_OUT, start, n, o, bo);
    return 0.0;
}

static lf_status
FN(bce)(const lf_elementwise *a, double *sum, lf_error *err)
{
    const T one = 1, scale = (T)a->scale;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &scale);
    err->index = -1;
    *sum = lf_ew_foreach_par(a->ndim, a->shape, &ops, FN(bce_block), NULL);
    /* nan: a bad element, or only a nan weight / grad_output (which is legal) */
    if (*sum != *sum &&
        lf_ew_foreach_par(a->ndim, a->shape, &ops, FN(bce_count_bad_block), NULL) != 0) {
        lf_ew_foreach(a->ndim, a->shape, &ops, FN(bce_check_block), err);
        return (lf_status)err->ivalue;
    }
    return LF_OK;
}

static double
FN(bce_logits)(const lf_elementwise *a)
{
    const T one = 1, scale = (T)a->scale;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &scale);
    return lf_ew_foreach_par(a->ndim, a->shape, &ops, FN(bce_logits_block), NULL);
}

static void
FN(sigmoid)(const lf_elementwise *a, int log)
{
    const T one = 1;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &one);
    lf_ew_foreach_par(a->ndim, a->shape, &ops,
                      log ? FN(logsigmoid_block) : FN(sigmoid_block), NULL);
}

/* The vector math itself, for tests: out[i] = f(x[i]), f = 0 exp, 1 log,
 * 2 log1p. */
static void
FN(vecmath)(int f, const T *x, T *out, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        out[i] = f == 0 ? V(exp)(x[i])
                 : f == 1 ? V(log)(x[i])
                          : V(log1p_inv)(x[i], (T)1 / ((T)1 + x[i]));
    }
}

#undef BLK
