/*
 * binary_impl.h -- the body of binary.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Formulas are torch's (aten/src/ATen/native/Loss.cpp):
 *   BCE:         l = ((y - 1) max(log(1 - x), -100) - y max(log x, -100)) w
 *                dl/dx = w (x - y) / max((1 - x) x, 1e-12)
 *   with logits: l = ((1 - y) x + lw softplus(-x)) w,  lw = (pw - 1) y + 1
 *                dl/dx = (lw sigmoid(x) - pw y) w
 *   Poly-1 (Leng et al. 2022) on logits: the BCE-with-logits term plus
 *                epsilon w (1 - p_t), 1 - p_t = s (1 - y) + q y with
 *                s = sigmoid(x), q = sigmoid(-x) (no cancellation), so
 *                dl/dx adds epsilon w s q (1 - 2y).
 * Label smoothing (BCE and BCE with logits, mode 1) replaces the target y by
 * y (1 - e) + e / 2 before all of it (Keras' binary_crossentropy).
 * softplus(-x) = max(-x, 0) + log1p(e), e = exp(-|x|), shares e with the
 * sigmoid, and the one reciprocal 1 / (1 + e) serves both the sigmoid and
 * log1p's correction term: one exp, one log, one division per element.
 * Each is a point function of ew_template.h, which makes the blocked,
 * vectorized loops (every layout runs the same unit-stride loop).
 */

#define BLK LF_PAIRWISE_BLOCK

/* Both of x and y in [0, 1] (nan fails): BCE's domain, which the count of
 * bad elements and the loss's nan for them (FN(bce_point)) both test. */
static inline LF_ALWAYS_INLINE int
FN(bce_in_domain)(T x, T y)
{
    return (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1);
}

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
        bad += !FN(bce_in_domain)(x[i], y[i]);
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
    T bx[BLK], by[BLK]; /* through in_op, which reads half operands too */
    const T *xs = FN(in_op)(r, LF_EW_INPUT, start, n, bx);
    const T *ys = FN(in_op)(r, LF_EW_TARGET, start, n, by);
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = xs[i], y = ys[i];
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

typedef struct {
    T keep, half; /* label smoothing: the target y becomes y keep + half */
    T epsilon;    /* Poly-1 */
} FN(bin_param);

static int
FN(bin_setup)(FN(bin_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    (void)e;
    /* as torch applies Python floats to a tensor: rounded to T */
    p->keep = (T)(1.0 - a->label_smoothing);
    p->half = (T)(a->label_smoothing / 2);
    p->epsilon = (T)a->epsilon;
    return 0;
}

/* mode 1: label smoothing (0 keeps the target's bits, -0 included) */
static int
FN(bce_setup)(FN(bin_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    FN(bin_setup)(p, a, e);
    return a->label_smoothing != 0.0;
}

static inline LF_ALWAYS_INLINE T
FN(smoothed)(const FN(bin_param) *p, const int mode, T y)
{
    return mode == 1 ? y * p->keep + p->half : y;
}

/* The domain check rides along with the loss (a second pass over the inputs
 * would cost as much memory traffic as the loss itself): an element outside
 * [0, 1] gets a nan loss, and only a nan sum makes the caller look for the
 * culprit (lf_bce_check).  The Hessian is torch's double backward,
 * w (y (1 - x)^2 + (1 - y) x^2) / ((x + eps)^2 (1 - x + eps)^2), eps = 1e-12
 * (so x = 0 or 1 stays finite). */
static inline LF_ALWAYS_INLINE void
FN(bce_point)(const FN(bin_param) *p, const int mode, const int want, const FN(ew_in) *in,
              FN(ew_out) *o)
{
    const T xi = in->x, y0 = in->y, yi = FN(smoothed)(p, mode, y0);
    const int ok = FN(bce_in_domain)(xi, y0);
    T log_x = V(log)(xi);
    T log_1mx = V(log)((T)1 - xi);
    log_x = log_x > T_MAX_LOG_CLAMP ? log_x : T_MAX_LOG_CLAMP;
    log_1mx = log_1mx > T_MAX_LOG_CLAMP ? log_1mx : T_MAX_LOG_CLAMP;
    const T l = ((yi - 1) * log_1mx - yi * log_x) * in->w;
    o->l = ok ? l : (T)NAN;
    if (want & EW_GRAD) {
        T den = ((T)1 - xi) * xi;
        den = den > T_EPS_BCE ? den : T_EPS_BCE;
        o->g = in->go * (xi - yi) / den * in->w;
    }
    if (want & EW_HESS) {
        const T a = xi + (T)1e-12, b = ((T)1 - xi) + (T)1e-12;
        o->h = in->go * in->w * ((xi * xi - 2 * xi * yi + yi) / (a * a * (b * b)));
    }
}

/* The Hessian's diagonal, d2l/dx2 = w lw sigmoid(x) (1 - sigmoid(x)), the
 * product as e / (1 + e)^2 with e = exp(-|x|): no cancellation anywhere. */
static inline LF_ALWAYS_INLINE void
FN(bce_logits_point)(const FN(bin_param) *p, const int mode, const int want,
                     const FN(ew_in) *in, FN(ew_out) *o)
{
    const T xi = in->x, yi = FN(smoothed)(p, mode, in->y), pwi = in->pw;
    const T lw = (pwi - 1) * yi + 1;
    const T e = V(exp)(-M(fabs)(xi));
    const T inv = (T)1 / ((T)1 + e);
    const T softplus_neg = (xi < 0 ? -xi : (T)0) + V(log1p_unit)(e, inv);
    o->l = ((1 - yi) * xi + lw * softplus_neg) * in->w;
    if (want & EW_GRAD) {
        const T sig = xi >= 0 ? inv : e * inv;
        o->g = (lw * sig - pwi * yi) * in->w * in->go;
    }
    if (want & EW_HESS) {
        o->h = lw * (e * inv * inv) * in->w * in->go;
    }
}

/* Poly-1: d2l/dx2 = w (lw s q + epsilon (1 - 2y) s q (q - s)), s q as
 * e / (1 + e)^2. */
static inline LF_ALWAYS_INLINE void
FN(poly_logits_point)(const FN(bin_param) *p, const int mode, const int want,
                      const FN(ew_in) *in, FN(ew_out) *o)
{
    (void)mode;
    const T x = in->x, y = in->y, pw = in->pw, eps = p->epsilon;
    const T lw = (pw - 1) * y + 1;
    const T e = V(exp)(-M(fabs)(x));
    const T inv = (T)1 / ((T)1 + e);
    const T s = x >= 0 ? inv : e * inv, q = x >= 0 ? e * inv : inv;
    const T softplus_neg = (x < 0 ? -x : (T)0) + V(log1p_unit)(e, inv);
    const T m = s * (1 - y) + q * y; /* 1 - p_t */
    o->l = ((1 - y) * x + lw * softplus_neg + eps * m) * in->w;
    const T sq = e * inv * inv;
    if (want & EW_GRAD) {
        o->g = (lw * s - pw * y + eps * sq * (1 - 2 * y)) * in->w * in->go;
    }
    if (want & EW_HESS) {
        o->h = (lw * sq + eps * (1 - 2 * y) * sq * (q - s)) * in->w * in->go;
    }
}

#define LF_EW_LIST LF_BIN_LOSSES
#define LF_EW_KERNEL FN(binary)
#include "ew_template.h"

/* sigmoid(x), or log sigmoid(x) with `log`, of a block of the activation's
 * operand (the template's operand access: half or strided operands staged). */
static inline double
FN(sigmoid_run)(const lf_ew_row *r, ptrdiff_t start, ptrdiff_t n, int log)
{
    T bx[BLK], bo[BLK];
    const T *restrict x = FN(in_op)(r, LF_EW_INPUT, start, n, bx);
    T *restrict o = FN(out_op)(r, LF_EW_OUT, start, bo);
    if (log) {
        for (ptrdiff_t i = 0; i < n; i++) {
            const T e = V(exp)(-M(fabs)(x[i]));
            o[i] = (x[i] < 0 ? x[i] : (T)0) - V(log1p_unit)(e, (T)1 / ((T)1 + e));
        }
    }
    else {
        for (ptrdiff_t i = 0; i < n; i++) {
            const T e = V(exp)(-M(fabs)(x[i]));
            const T inv = (T)1 / ((T)1 + e);
            o[i] = x[i] >= 0 ? inv : e * inv;
        }
    }
    FN(out_done)(r, LF_EW_OUT, start, n, o, bo);
    return 0.0;
}

static double
FN(sigmoid_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    return FN(sigmoid_run)(vr, start, n, 0);
}

static double
FN(logsigmoid_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    return FN(sigmoid_run)(vr, start, n, 1);
}

/* BCE's domain: a cheap count over every block first (threaded), then,
 * only when there is a bad element, the search for the first (one thread). */
static lf_status
FN(bce_check)(const lf_elementwise *a, lf_error *err)
{
    const T one = 1;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &one);
    err->index = -1;
    err->ivalue = LF_OK;
    if (lf_ew_foreach_par(a->ndim, a->shape, &ops, FN(bce_count_bad_block), NULL) == 0) {
        return LF_OK;
    }
    lf_ew_foreach(a->ndim, a->shape, &ops, FN(bce_check_block), err);
    return (lf_status)err->ivalue;
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
