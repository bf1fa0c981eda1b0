/*
 * regression_impl.h -- the body of regression.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Formulas are torch's (aten/src/ATen/native/Loss.cpp, BinaryOps,
 * PointwiseOps, torch/nn/functional.py), d = x - y, g = grad_output:
 *   L1          |d| w                      sign(d) w g, sign(0) = sign(nan) = 0
 *   MSE         d^2 w                      2 d w g
 *   smooth L1   |d| < b ? d^2 / 2b : |d| - b/2      clamp(d / b, -1, 1) g
 *   Huber       |d| < k ? d^2 / 2 : k (|d| - k/2)   clamp(d, -k, k) g
 *   soft margin softplus(-y x)             -y sigmoid(-y x) g
 *   KL          xlogy(y, y) - y x          -y g
 *     log_target e^y (y - x)               -e^y g
 *   Poisson     e^x - y x                  (e^x - y) g
 *     !log_input x - y log(x + eps)        (1 - y / (x + eps)) g
 *     full: + y log y - y + log(2 pi y) / 2 where y > 1 (not where y <= 1)
 *   Gaussian    (log v + d^2 / v) / 2, v = max(var, eps)  [+ log(2 pi) / 2]
 *               dx = d / v g,  dvar = (1 / v - d^2 / v^2) / 2 g: torch clamps
 *               under no_grad, so the gradient reaches var even where clamped
 *   hinge       (y != 1 ? max(m - x, 0) : 0) + (y != -1 ? x : 0)
 *   ranking     max(-y (x1 - x2) + m, 0)   dx1 = -y g, dx2 = y g where >= 0
 * A clamp_min's gradient passes where its argument is >= the bound, so not
 * where it is nan: nan gives nan losses and 0 from those gradients, as in
 * torch.  The soft margin uses softplus(z) = max(z, 0) + log1p(e^-|z|), finite
 * where torch's log1p(exp(z)) overflows, and equal to it elsewhere.
 *
 * Second derivatives (LF_EW_HESS, LF_EW_HESS2 for var), as torch's double
 * backward: MSE 2 w g; smooth L1 [|d| < b] / b g; Huber [|d| < k] w g; soft
 * margin y^2 sigmoid(z) sigmoid(-z) g; Poisson e^x g, or y / (x + eps)^2 g;
 * Gaussian 1 / v g and (2 d^2 / v^3 - 1 / v^2) / 2 g (the mixed term
 * -d / v^2 g is FN(gaussian_hvp)'s); L1, KL (linear in x), hinge and
 * ranking 0 (piecewise linear: the zeroed outputs are left as they are).
 */

/* Each loss below is its point function (see ew_template.h): d = x - y,
 * w = weight, go = grad_output; o->h stays 0 for the piecewise-linear ones. */

typedef struct {
    T beta, inv_beta; /* smooth L1 */
    T delta, dlin;    /* Huber; dlin the slope of its linear part */
    T margin, eps;
    T half_log_2pi; /* the constant of the full Gaussian NLL, or 0 */
    T inv_c;        /* the multi-label soft margin's 1 / C */
} FN(rg_param);

static int
FN(rg_setup)(FN(rg_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    (void)e;
    p->beta = (T)a->beta;
    p->inv_beta = (T)1 / p->beta;
    p->delta = (T)a->delta;
    /* for delta = inf, z - m is 0 or nan, and the largest finite T keeps
     * 0 * slope from being nan */
    p->dlin = isfinite(p->delta) ? p->delta : M(nextafter)(p->delta, 0);
    p->margin = (T)a->margin;
    p->eps = (T)a->eps;
    /* torch adds the Python float 0.5 log(2 pi), rounded to T */
    p->half_log_2pi = a->full ? (T)(0.5 * log(2.0 * 3.14159265358979323846)) : (T)0;
    p->inv_c = 0;
    return 0;
}

/* torch's smooth_l1_loss runs l1_loss when beta is 0 (mode 1) */
static int
FN(smooth_l1_setup)(FN(rg_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    FN(rg_setup)(p, a, e);
    return a->beta == 0.0;
}

static int
FN(kl_div_setup)(FN(rg_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    FN(rg_setup)(p, a, e);
    return a->log_target != 0;
}

/* modes: log_input (bit 0), full (bit 1); a mode, not a test in the loop,
 * so that gcc vectorizes it */
static int
FN(poisson_setup)(FN(rg_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    FN(rg_setup)(p, a, e);
    return (a->log_input != 0) | (a->full != 0) << 1;
}

/* mode 1: full (the constant half_log_2pi added) */
static int
FN(gaussian_setup)(FN(rg_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    FN(rg_setup)(p, a, e);
    return a->full != 0;
}

/* the labels are the last dim; C = 0 gives 1 / C = 0 (nothing reads it) */
static int
FN(mlsm_setup)(FN(rg_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    const ptrdiff_t C = e->shape[e->ndim - 1];
    FN(rg_setup)(p, a, e);
    p->inv_c = C ? (T)1 / (T)C : (T)0;
    return 0;
}

/* sign as torch's sgn on reals: 0 for 0 and for nan */
static inline LF_ALWAYS_INLINE T
FN(rg_sign)(T d)
{
    return (T)((d > 0) - (d < 0));
}

static inline LF_ALWAYS_INLINE void
FN(l1_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
             FN(ew_out) *o)
{
    (void)p;
    (void)mode;
    const T d = in->x - in->y;
    o->l = M(fabs)(d) * in->w;
    if (want & EW_GRAD) {
        o->g = FN(rg_sign)(d) * in->w * in->go;
    }
}

static inline LF_ALWAYS_INLINE void
FN(mse_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
              FN(ew_out) *o)
{
    (void)p;
    (void)mode;
    const T d = in->x - in->y;
    o->l = d * d * in->w;
    if (want & EW_GRAD) {
        o->g = 2 * d * in->w * in->go;
    }
    if (want & EW_HESS) {
        o->h = 2 * in->w * in->go;
    }
}

#ifndef LF_LOG_COSH_SERIES
#define LF_LOG_COSH_SERIES
/* The Taylor coefficients of log cosh x (of x^2, x^4, ..., x^20) and of
 * tanh x (of x, x^3, ..., x^19). */
static const double lf_log_cosh_series[10] = {
    (1.0 / 2),
    (-1.0 / 12),
    (1.0 / 45),
    (-17.0 / 2520),
    (31.0 / 14175),
    (-691.0 / 935550),
    (10922.0 / 42567525),
    (-929569.0 / 10216206000),
    (3202291.0 / 97692469875),
    (-221930581.0 / 18561569276250),
};
static const double lf_tanh_series[10] = {
    (1.0 / 1),
    (-1.0 / 3),
    (2.0 / 15),
    (-17.0 / 315),
    (62.0 / 2835),
    (-1382.0 / 155925),
    (21844.0 / 6081075),
    (-929569.0 / 638512875),
    (6404582.0 / 10854718875),
    (-443861162.0 / 1856156927625),
};
#endif

/* log(cosh(d)) as |d| + log1p(e) - log 2 with e = exp(-2 |d|), which neither
 * overflows (cosh does past |d| ~ 89 in float32) nor loses the tail; its
 * gradient tanh(d) = sign(d) (1 - e) / (1 + e), its Hessian 1 - tanh^2 =
 * 4 e / (1 + e)^2, all from one exponential.  Below |d| = 1/4 those forms
 * cancel (a - log 2 + log1p(e), 1 - e) and ten terms of the Taylor series at
 * 0 take over (in d^2; measured against 120-digit values: at most 1.2 ulp
 * below 1/4, 13 ulp for the closed forms above it, in either dtype). */
static inline LF_ALWAYS_INLINE T
FN(lc_series)(const double *c, T s)
{
    T r = (T)c[9];
    for (int k = 8; k >= 0; k--) {
        r = (T)c[k] + s * r;
    }
    return r;
}

static inline LF_ALWAYS_INLINE void
FN(log_cosh_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
                   FN(ew_out) *o)
{
    (void)p;
    (void)mode;
    const T d = in->x - in->y;
    const T a = M(fabs)(d), s = a * a;
    const T e = V(exp)(-2 * a);
    const T inv = (T)1 / ((T)1 + e);
    const int small = a < (T)0.25;
    const T lbig = a + V(log1p_inv)(e, inv) - (T)0.693147180559945309417232121458176568;
    o->l = small ? s * FN(lc_series)(lf_log_cosh_series, s) : lbig;
    if (want & (EW_GRAD | EW_HESS)) {
        const T t = small ? a * FN(lc_series)(lf_tanh_series, s) : ((T)1 - e) * inv; /* tanh |d| */
        o->g = FN(rg_sign)(d) * t * in->go;
        o->h = (small ? (T)1 - t * t : 4 * e * inv * inv) * in->go;
    }
}

/* Smooth L1 and Huber are written without branches on the data (a random
 * mix of both sides mispredicts one branch in two): with m = min(z, beta),
 *   0.5 m^2 / beta + (z - m)        = the smooth L1 of both sides,
 *   0.5 m^2 + delta (z - m)         = the Huber loss,
 * and the gradients are d / beta (or d) clamped to [-1, 1] (or [-delta,
 * delta]) by selects that let nan through.  Mode 1 (beta = 0) is L1. */
static inline LF_ALWAYS_INLINE void
FN(smooth_l1_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
                    FN(ew_out) *o)
{
    if (mode == 1) {
        FN(l1_point)(p, 0, want, in, o);
        return;
    }
    const T beta = p->beta, inv_beta = p->inv_beta;
    const T d = in->x - in->y;
    const T z = M(fabs)(d);
    const T m = z < beta ? z : beta;
    o->l = (T)0.5 * m * m * inv_beta + (z - m);
    if (want & EW_GRAD) {
        /* torch's own tests of d against beta, so that d = beta = inf gives 1 */
        T c = d * inv_beta;
        c = d >= beta ? (T)1 : c;
        c = d <= -beta ? (T)-1 : c;
        o->g = c * in->go;
    }
    if (want & EW_HESS) {
        o->h = z < beta ? inv_beta * in->go : (T)0;
    }
}

static inline LF_ALWAYS_INLINE void
FN(huber_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
                FN(ew_out) *o)
{
    (void)mode;
    const T delta = p->delta;
    const T d = in->x - in->y;
    const T z = M(fabs)(d);
    const T m = z < delta ? z : delta;
    o->l = ((T)0.5 * m * m + p->dlin * (z - m)) * in->w;
    if (want & EW_GRAD) {
        T c = d > delta ? delta : d;
        c = c < -delta ? -delta : c;
        o->g = c * in->w * in->go;
    }
    if (want & EW_HESS) {
        o->h = z < delta ? in->w * in->go : (T)0;
    }
}

static inline LF_ALWAYS_INLINE void
FN(soft_margin_point)(const FN(rg_param) *p, const int mode, const int want,
                      const FN(ew_in) *in, FN(ew_out) *o)
{
    (void)p;
    (void)mode;
    const T y = in->y;
    const T z = -y * in->x;
    const T e = V(exp)(-M(fabs)(z));
    const T inv = (T)1 / ((T)1 + e);
    o->l = (z > 0 ? z : (T)0) + V(log1p_inv)(e, inv);
    if (want & EW_GRAD) {
        const T sig = z >= 0 ? inv : e * inv; /* sigmoid(z) */
        o->g = -y * sig * in->go;
    }
    if (want & EW_HESS) {
        o->h = y * y * (e * inv * inv) * in->go;
    }
}

/* KL divergence; mode 1 is log_target. */
static inline LF_ALWAYS_INLINE void
FN(kl_div_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
                 FN(ew_out) *o)
{
    (void)p;
    const T x = in->x, y = in->y;
    if (mode == 1) {
        const T ey = V(exp)(y);
        o->l = ey * (y - x);
        if (want & EW_GRAD) {
            o->g = -ey * in->go;
        }
        return;
    }
    /* xlogy(y, y): 0 at y = 0, nan for a nan y */
    const T ylogy = y == 0 ? (T)0 : y * V(log)(y);
    o->l = ylogy - y * x;
    if (want & EW_GRAD) {
        o->g = -y * in->go;
    }
}

/* Stirling's term of the full Poisson NLL, masked where y <= 1 (nan passes). */
static inline LF_ALWAYS_INLINE T
FN(stirling)(T y)
{
    if (y <= 1) {
        return 0;
    }
    /* torch's 2 pi is a double scalar, applied in T */
    return y * V(log)(y) - y + (T)0.5 * V(log)((T)(2.0 * 3.14159265358979323846) * y);
}

/* Poisson NLL; mode bit 0 is log_input, bit 1 full. */
static inline LF_ALWAYS_INLINE void
FN(poisson_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
                  FN(ew_out) *o)
{
    const T x = in->x, y = in->y;
    const int full = (mode & 2) != 0;
    if (mode & 1) {
        const T ex = V(exp)(x);
        T l = ex - y * x;
        if (full) {
            l += FN(stirling)(y);
        }
        o->l = l;
        if (want & EW_GRAD) {
            o->g = (ex - y) * in->go;
        }
        if (want & EW_HESS) {
            o->h = ex * in->go;
        }
        return;
    }
    const T xe = x + p->eps;
    T l = x - y * V(log)(xe);
    if (full) {
        l += FN(stirling)(y);
    }
    o->l = l;
    if (want & EW_GRAD) {
        o->g = ((T)1 - y / xe) * in->go;
    }
    if (want & EW_HESS) {
        o->h = y / (xe * xe) * in->go;
    }
}

/* Gaussian NLL: INPUT2 is var, GRAD2 / HESS2 its derivatives; mode 1 full. */
static inline LF_ALWAYS_INLINE void
FN(gaussian_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
                   FN(ew_out) *o)
{
    const T d = in->x - in->y;
    T v = in->x2;
    v = v < p->eps ? p->eps : v; /* nan stays nan, as torch's clamp */
    const T d2v = d * d / v;
    T l = (T)0.5 * (V(log)(v) + d2v);
    if (mode == 1) { /* full */
        l += p->half_log_2pi;
    }
    o->l = l;
    if (want & EW_GRAD) {
        o->g = d / v * in->go;
        o->g2 = (T)0.5 * ((T)1 / v - d2v / v) * in->go;
    }
    if (want & EW_HESS) {
        o->h = in->go / v;
        o->h2 = (T)0.5 * ((2 * d2v - (T)1) / v) / v * in->go;
    }
}

static inline LF_ALWAYS_INLINE void
FN(hinge_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
                FN(ew_out) *o)
{
    (void)mode;
    const T x = in->x, y = in->y;
    const T m = p->margin - x;
    T l = 0, d = 0;
    if (y != 1) {
        l = m < 0 ? (T)0 : m;
        d = m >= 0 ? (T)-1 : (T)0;
    }
    if (y != -1) {
        l += x;
        d += 1;
    }
    o->l = l;
    if (want & EW_GRAD) {
        o->g = d * in->go;
    }
}

/* Margin ranking: INPUT is input1, INPUT2 input2, TARGET y. */
static inline LF_ALWAYS_INLINE void
FN(ranking_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
                  FN(ew_out) *o)
{
    (void)mode;
    const T y = in->y;
    const T m = -y * (in->x - in->x2) + p->margin;
    o->l = m < 0 ? (T)0 : m;
    if (want & EW_GRAD) {
        const T gy = m >= 0 ? y * in->go : (T)0;
        o->g = -gy;
        o->g2 = gy;
    }
}

/* One label of the multi-label soft margin (a row's loss is the mean over
 * its C labels: LF_EW_ROWS), -(y logsigmoid(x) + (1 - y) logsigmoid(-x)) w,
 * in torch's form: the shorter (1 - y) x + softplus(-x) gives nan, not inf,
 * at x = -inf. */
static inline LF_ALWAYS_INLINE void
FN(mlsm_point)(const FN(rg_param) *p, const int mode, const int want, const FN(ew_in) *in,
               FN(ew_out) *o)
{
    (void)mode;
    const T x = in->x, y = in->y, w = in->w;
    const T e = V(exp)(-M(fabs)(x));
    const T inv = (T)1 / ((T)1 + e);
    const T lg = V(log1p_inv)(e, inv);
    const T lsp = (x < 0 ? x : (T)0) - lg, lsn = (x > 0 ? -x : (T)0) - lg;
    o->l = -(y * lsp + (1 - y) * lsn) * w;
    if (want & EW_GRAD) {
        const T sig = x >= 0 ? inv : e * inv;
        o->g = (sig - y) * w * p->inv_c * in->go;
    }
    if (want & EW_HESS) {
        o->h = (e * inv * inv) * w * p->inv_c * in->go;
    }
}

#define LF_EW_LIST LF_RG_LOSSES
#define LF_EW_KERNEL FN(regression)
#include "ew_template.h"

/* ------------------------------------------------------------------------ */
/* Helpers of the binding: a weight sum, a sign check.                      */
/* ------------------------------------------------------------------------ */

static double
FN(ew_sum_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    T buf[LF_PAIRWISE_BLOCK];
    const T *v = FN(in_op)(r, LF_EW_INPUT, start, n, buf); /* (a half one widened) */
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t i = 0; i < n; i++) {
        acc[i & 7] += (double)v[i];
    }
    return FN(sum8)(acc);
}

static double
FN(ew_sum)(const lf_elementwise *a)
{
    const T one = 1;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &one);
    return lf_ew_foreach(a->ndim, a->shape, &ops, FN(ew_sum_block), NULL);
}

static double
FN(nonneg_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    lf_error *err = r->user;
    if (err->index >= 0) {
        return 0.0;
    }
    T buf[LF_PAIRWISE_BLOCK];
    const T *v = FN(in_op)(r, LF_EW_INPUT, start, n, buf); /* (a half var widened) */
    for (ptrdiff_t i = 0; i < n; i++) {
        if (v[i] < 0) {
            err->index = r->base + start + i;
            err->fvalue = (double)v[i];
            break;
        }
    }
    return 0.0;
}

static lf_status
FN(check_nonnegative)(const lf_elementwise *a, lf_error *err)
{
    const T one = 1;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &one);
    err->index = -1;
    lf_ew_foreach(a->ndim, a->shape, &ops, FN(nonneg_block), err);
    return err->index >= 0 ? LF_ERR_INPUT_DOMAIN : LF_OK;
}

/* ------------------------------------------------------------------------ */
/* Gaussian NLL's Hessian-vector product: the whole 2 x 2 Hessian in (x, var) */
/* ------------------------------------------------------------------------ */

/* Where the two vectors are: laid out as the HESS / HESS2 outputs, which a
 * Gaussian call has already filled with the diagonal's two terms. */
typedef struct {
    T eps;
    const char *h0, *h1; /* the HESS and HESS2 outputs' bases */
    const char *v0, *v1; /* v for the input and for var, at the same offsets */
} FN(gauss_hvp_param);

/* Per element, with v = max(var, eps) and d = x - t, the Hessian is
 * [[1 / v, -d / v^2], [-d / v^2, (2 d^2 / v^3 - 1 / v^2) / 2]] times g: the
 * diagonal's terms are in HESS / HESS2 already, the mixed one couples them. */
static double
FN(gauss_hvp_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    const FN(gauss_hvp_param) *pr = r->user;
    char *ph = lf_row_at(r, LF_EW_HESS, start), *ph2 = lf_row_at(r, LF_EW_HESS2, start);
    const char *pv = pr->v0 + (ph - pr->h0), *pv2 = pr->v1 + (ph2 - pr->h1);
    for (ptrdiff_t i = 0; i < n; i++) {
        const T d = LOAD(LF_EW_INPUT, i) - LOAD(LF_EW_TARGET, i);
        T v = LOAD(LF_EW_INPUT2, i);
        v = v < pr->eps ? pr->eps : v; /* as the loss clamps */
        const T mixed = -d / v / v * LOAD(LF_EW_GRAD_OUTPUT, i);
        const T wx = *(const T *)(pv + i * r->step[LF_EW_HESS]);
        const T wv = *(const T *)(pv2 + i * r->step[LF_EW_HESS2]);
        T *hx = (T *)(ph + i * r->step[LF_EW_HESS]), *hv = (T *)(ph2 + i * r->step[LF_EW_HESS2]);
        const T hxx = *hx, hvv = *hv;
        *hx = hxx * wx + mixed * wv;
        *hv = mixed * wx + hvv * wv;
    }
    return 0.0;
}

/* H (v0, v1) in place of the diagonal that FN(regression) wrote for a
 * Gaussian NLL (HESS, HESS2), v0 and v1 laid out as those outputs. */
static void
FN(gaussian_hvp)(const lf_elementwise *a, double eps, const char *v0, const char *v1)
{
    const T one = 1, scale = (T)a->scale;
    FN(gauss_hvp_param) pr = {(T)eps, a->data[LF_EW_HESS], a->data[LF_EW_HESS2], v0, v1};
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &scale);
    (void)lf_ew_foreach_par(a->ndim, a->shape, &ops, FN(gauss_hvp_block), &pr);
}
