/*
 * multilabel_impl.h -- the body of multilabel.c, included once per instruction set and
 * dtype (T, FN, M, V from dtype_f32.h / dtype_f64.h; see variants.h).
 *
 * Every loss here reads a logit x and a (soft) label y, meant to lie in
 * [0, 1].  s = sigmoid(x) and q = 1 - s = sigmoid(-x) both come from
 * e = exp(-|x|), so each keeps its relative accuracy where the other rounds
 * to 1 (q is never formed as 1 - s), and log s = min(x, 0) - log1p(e) is
 * finite for every finite x.
 *
 * focal (torchvision.ops.sigmoid_focal_loss):
 *   ce = (1 - y) x + softplus(-x),  m = 1 - p_t = s (1 - y) + q y
 *   l  = a_t ce m^g,  a_t = alpha y + (1 - alpha)(1 - y)  (1 when alpha < 0)
 *   dl/dx = a_t ((s - y) m^g + g ce m^(g-1) s q (1 - 2y))
 * m is a sum of non-negative terms, so 1 - p_t has no cancellation, unlike
 * forming p_t first.
 *
 * asymmetric (Ridnik et al. 2021, Alibaba-MIIL/ASL AsymmetricLoss):
 *   v = min(q + clip, 1) (v = q when clip = 0),  u = 1 - v = max(s - clip, 0)
 *   l = -(y log max(s, eps) + (1 - y) log max(v, eps)) m^g
 *   m = 1 - p_t = y q + (1 - y) u,  g = gamma_pos y + gamma_neg (1 - y)
 * The derivative is the full one, focusing weight included, with the clamps
 * treated as torch's autograd treats them (the gradient passes where the
 * bound holds with equality, and is 0 beyond it) and pow's derivative 0 where
 * its exponent is 0.  Where autograd would multiply 0 by inf (m = 0 with
 * g < 1, where the weight is locally flat or its slope vanishes) we return
 * the derivative's value, 0.
 *
 * ZLPR (Su 2020), per row, with the implicit logit 0 in both log-sum-exps:
 *   l = log(1 + sum_c (1 - y_c) e^{x_c}) + log(1 + sum_c y_c e^{-x_c})
 *   dl/dx_c = (1 - y_c) e^{x_c} / (1 + sum (1 - y) e^x)
 *             - y_c e^{-x_c} / (1 + sum y e^{-x})
 * Labels with a zero weight are left out of the maxima, so a huge logit on
 * the other side cannot swamp the sum to 0 and give log 0.
 *
 * soft-F1, per label c over the N rows, with p = s:
 *   A = 2 TP = 2 sum_n p y,  B = 2 TP + FP + FN + eps = sum_n (p + y) + eps
 *   cost = 1 - A / B,  dcost/dx_n = p (1 - p) (A - 2 y_n B) / B^2
 * The first pass leaves p (1 - p) in the gradient buffer, so the second
 * needs no exponential.
 *
 * Second derivatives (the Hessian's diagonal, LF_EW_HESS / a->hess), with
 * d = s q = ds/dx and d(sq)/dx = sq (q - s):
 *   focal: l'' = a_t (sq w + 2 (s - y) w' + ce w''), w = m^g, m' = sq (1 - 2y),
 *          m'' = sq (q - s)(1 - 2y), w' = g w r, w'' = g w ((g - 1) r^2 + m''/m),
 *          r = m'/m, |r| <= 1 and |m''/m| <= 1 since m >= min(s, q) >= sq:
 *          no power of m below 0 is ever formed.
 *   asymmetric: the same product rule on -(los w), with log s'' = -sq,
 *          (log v)'' = -u''/v - (u'/v)^2, u'' = sq (q - s) where u' = sq, else 0.
 *   ZLPR: with P_c = (1 - y_c) e^{x_c} / (1 + sum (1 - y) e^x) and
 *          Q_c = y_c e^{-x_c} / (1 + sum y e^{-x}): H = diag(P + Q) - P P' - Q Q',
 *          diagonal P (1 - P) + Q (1 - Q).
 *   soft-F1: d2cost/dx_n2 = g (A - 2 y_n B)/B^2 (d (q - s) - 2 d^2 / B).
 */

#define MX(n, c) (*(const T *)(a->input + (n) * a->in_n + (c) * a->in_c))
#define MY(n, c) (*(const T *)(a->target + (n) * a->t_n + (c) * a->t_c))
#define MGRAD(n, c) (*(T *)(a->grad + (n) * a->g_n + (c) * a->g_c))
#define MGO(k) \
    (a->grad_output ? *(const T *)(a->grad_output + (k) * a->go_step) : (T)a->scale)
#define MVEC(n, c) (*(const T *)(a->vec + (n) * a->g_n + (c) * a->g_c))

typedef struct {
    T alpha, gamma;
    double gd, sgn; /* gamma in double, FN(pow_sign)(gamma) */
    int use_alpha;
} FN(focal_param);

typedef struct {
    T gamma_neg, gamma_pos, clip, eps, log_eps;
} FN(asl_param);

/* s = sigmoid(x), q = sigmoid(-x); returns e = exp(-|x|) for log1p(e).
 * Always inlined: an element loop that calls it does not vectorize, and gcc
 * left it out of line in some variants of the large focal and ASL blocks
 * (their forward-only loops ran 5-7 times slower than forward + gradient). */
static inline LF_ALWAYS_INLINE T
FN(sig_pair)(T x, T *s, T *q)
{
    const T e = V(exp)(-M(fabs)(x));
    const T inv = (T)1 / ((T)1 + e);
    *s = x >= 0 ? inv : e * inv;
    *q = x >= 0 ? e * inv : inv;
    return e;
}

/* How a focal block forms m^gamma: by multiplication for the common integer
 * exponents (exact, as before), else by FN(pow_w). */
#ifndef ML_POW_GEN
#define ML_POW_GEN 0
#define ML_POW_0 1
#define ML_POW_1 2
#define ML_POW_2 3
#define ML_POW_4 4
#endif

/* |m|^g in double, with no branch and no call so that the loops vectorize:
 * exp(g log |m|) by vecmath.h, 0 at m = 0 for g > 0 and inf for g < 0, then
 * times sgn = FN(pow_sign)(g) where m < 0, which makes it C's (and torch's)
 * pow(m, g) for every g != 0 (the callers select 1 where g = 0: 0 log 0 is
 * nan).  sgn is a parameter because a loop-invariant condition in a select
 * stops gcc from vectorizing the loop: focal hoists it.  In double for
 * either dtype: the relative error is about |g log m| ulp of a double (below
 * 1e-12 for the gammas and probabilities met here), so a float32 weight is
 * as accurate as powf's. */
static inline LF_ALWAYS_INLINE double
FN(pow_w)(double m, double g, double sgn)
{
    const double am = m < 0 ? -m : m;
    const double w = VM(lf_vexp)(g * VM(lf_vlog)(am));
    return m < 0 ? w * sgn : w;
}

/* pow(m, g) / |m|^g for m < 0: -1 for an odd integer g, 1 for an even one,
 * nan otherwise.  In double arithmetic only (a mask from integer bits would
 * not mix with the double selects): adding 2^52 rounds a double below 2^52
 * to an integer, and g is odd where |g| / 2 rounds to an integer other than
 * |g| / 2.  Doubles from 2^52 on are integers, from 2^53 on even. */
static inline LF_ALWAYS_INLINE double
FN(pow_sign)(double g)
{
    const double ag = g < 0 ? -g : g;
    const double ri = (ag + 0x1p52) - 0x1p52;
    const double hi = (ag * 0.5 + 0x1p52) - 0x1p52;
    const int isint = !(ag < 0x1p52) || ri == ag;
    const int odd = ag < 0x1p53 && 2.0 * hi != ag;
    return isint ? (odd ? -1.0 : 1.0) : (double)NAN;
}

/* pow(0, h): what autograd's pow'(0) = g 0^(g - 1) uses. */
static inline LF_ALWAYS_INLINE double
FN(pow_zero)(double h)
{
    return h > 0 ? 0.0 : (h == 0 ? 1.0 : (double)INFINITY);
}

/* The focal loss of one element (see ew_template.h), m^g formed as `mode`
 * says (ML_POW_*, from FN(focal_setup)).  Written without branches on the
 * data and without calls: outside the Hessian its loops vectorize. */
static inline LF_ALWAYS_INLINE void
FN(focal_point)(const FN(focal_param) *p, const int mode, const int want, const FN(ew_in) *in,
                FN(ew_out) *o)
{
    const T g = p->gamma, alpha = p->alpha;
    const double gd = p->gd, sgn = p->sgn;
    const T x = in->x, y = in->y;
    T s, q;
    const T e = FN(sig_pair)(x, &s, &q);
    const T ce = (1 - y) * x + (x < 0 ? -x : (T)0) + V(log1p_unit)(e, (T)1 / ((T)1 + e));
    const T m = s * (1 - y) + q * y;
    /* w = m^g and, for the gradient where g != 0 and m != 0,
     * m^(g - 1) = w / m (in double in the general case: for g < 1 it
     * can exceed a float where s q is tiny, their product cannot) */
    T w, pm1 = 0;
    double wd = 1.0;
    if (mode == ML_POW_0) {
        w = 1;
    }
    else if (mode == ML_POW_1) {
        w = m;
        pm1 = 1;
    }
    else if (mode == ML_POW_2) {
        w = m * m;
        pm1 = m;
    }
    else if (mode == ML_POW_4) {
        const T m2 = m * m;
        w = m2 * m2;
        pm1 = m2 * m;
    }
    else {
        wd = FN(pow_w)((double)m, gd, sgn); /* g != 0 here */
        w = (T)wd;
    }
    const T at = p->use_alpha ? alpha * y + (1 - alpha) * (1 - y) : (T)1;
    o->l = at * ce * w;
    if (want & EW_GRAD) {
        const T d0 = (s - y) * w;
        T d = d0;
        if (mode != ML_POW_0) {
            /* m = 0 only where s or q is 0, and there s q m^(g-1) -> 0 */
            const T corr = mode == ML_POW_GEN
                               ? (T)(gd * (double)ce * (wd / (double)m) * (double)s *
                                     (double)q * (double)(1 - 2 * y))
                               : g * ce * pm1 * s * q * (1 - 2 * y);
            d = (g != 0 && m != 0) ? d0 + corr : d0;
        }
        o->g = at * d * in->go;
    }
    if (want & EW_HESS) {
        const T sq = s * q, dm = sq * (1 - 2 * y);
        T dw = 0, d2w = 0;
        if (g != 0 && m != 0) {
            const T rr = dm / m;
            dw = g * w * rr;
            d2w = g * w * ((g - 1) * rr * rr + sq * (q - s) * (1 - 2 * y) / m);
        }
        o->h = at * (sq * w + 2 * (s - y) * dw + ce * d2w) * in->go;
    }
}

/* The mode: multiplication for the common integer exponents (exact), else
 * FN(pow_w). */
static int
FN(focal_setup)(FN(focal_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    (void)e;
    p->alpha = (T)a->alpha;
    p->gamma = (T)a->gamma;
    p->use_alpha = a->alpha >= 0;
    p->gd = (double)p->gamma;
    p->sgn = FN(pow_sign)(p->gd);
    return p->gamma == 0   ? ML_POW_0
           : p->gamma == 1 ? ML_POW_1
           : p->gamma == 2 ? ML_POW_2
           : p->gamma == 4 ? ML_POW_4
                           : ML_POW_GEN;
}

/* The asymmetric loss of one element (see ew_template.h); mode 1 is
 * clip > 0.  As focal, branch-free and call-free outside the Hessian. */
static inline LF_ALWAYS_INLINE void
FN(asl_point)(const FN(asl_param) *p, const int mode, const int want, const FN(ew_in) *in,
              FN(ew_out) *o)
{
    const int clipped = mode == 1;
    const T gn = p->gamma_neg, gp = p->gamma_pos, clip = p->clip, eps = p->eps;
    const T log_eps = p->log_eps;
    const T x = in->x, y = in->y;
    T s, q;
    const T e = FN(sig_pair)(x, &s, &q);
    const T inv = (T)1 / ((T)1 + e);
    const T sq = s * q; /* ds/dx */
    /* y term: log max(s, eps); a nan logit stays nan, as in the reference */
    const int okp = !(s < eps);
    const T lp = okp ? (x < 0 ? x : (T)0) - V(log1p_inv)(e, inv) : log_eps;
    const T dlp = okp ? q : (T)0;
    /* (1 - y) term: the clipped negative probability v and u = 1 - v */
    T v = q, u = s, du = sq, lv;
    if (clipped) {
        /* log v as log(vc) or 0, not log(v): gcc would thread v = 1 into
         * log's range test and make a select of masks it cannot vectorize */
        const T vc = q + clip;
        const int over = vc > 1;
        T uc = s - clip;
        uc = uc > 0 ? uc : (T)0;
        v = over ? (T)1 : vc;
        u = over ? (T)0 : uc;
        du = over ? (T)0 : sq;
        const T lvc = V(log)(vc);
        lv = over ? (T)0 : lvc;
    }
    else {
        lv = (x > 0 ? -x : (T)0) - V(log1p_inv)(e, inv);
    }
    const int okn = !(v < eps);
    const T ln = okn ? lv : log_eps;
    const T dln = okn ? -du / v : (T)0;
    const T los = y * lp + (1 - y) * ln;
    const T m = y * q + (1 - y) * u;
    const T g = gp * y + gn * (1 - y);
    const double gd = (double)g, wp = FN(pow_w)((double)m, gd, FN(pow_sign)(gd));
    const double wd = g == 0 ? 1.0 : wp;
    const T w = (T)wd;
    const T l = -los * w;
    o->l = l;
    if (want & EW_GRAD) {
        const T dlos = y * dlp + (1 - y) * dln;
        const T dm = (1 - y) * du - y * sq;
        /* dw = g m^(g-1) dm, 0 where g = 0 or dm = 0; m^(g-1) = w / m,
         * in double (it can exceed a float where dm is tiny) */
        const double pm1 = m != 0 ? wd / (double)m : FN(pow_zero)(gd - 1.0);
        const T dw = (g != 0 && dm != 0) ? (T)(gd * pm1 * (double)dm) : (T)0;
        o->g = -(dlos * w + los * dw) * in->go;
    }
    if (want & EW_HESS) {
        const T d2s = sq * (q - s);                  /* d2s/dx2 */
        const T d2u = du != 0 ? d2s : (T)0;          /* 0 where u is clamped */
        const T d2lp = okp ? -sq : (T)0;              /* (log s)'' = -sq */
        const T d2ln = okn ? -d2u / v - (du / v) * (du / v) : (T)0;
        const T dlos = y * dlp + (1 - y) * dln;
        const T d2los = y * d2lp + (1 - y) * d2ln;
        const T dm = (1 - y) * du - y * sq;
        const T d2m = (1 - y) * d2u - y * d2s;
        T dw = 0, d2w = 0;
        if (g != 0 && m != 0) {
            const T rr = dm / m;
            dw = g * w * rr;
            d2w = g * w * ((g - 1) * rr * rr + d2m / m);
        }
        else if (g != 0) { /* m = 0: the powers of 0 as autograd forms them */
            if (dm != 0) {
                dw = g * M(pow)(m, g - 1) * dm;
                d2w = g * (g - 1) * M(pow)(m, g - 2) * dm * dm;
            }
            if (d2m != 0) {
                d2w += g * M(pow)(m, g - 1) * d2m;
            }
        }
        o->h = -(d2los * w + 2 * dlos * dw + los * d2w) * in->go;
    }
}

static int
FN(asl_setup)(FN(asl_param) *p, const lf_ew_param *a, const lf_elementwise *e)
{
    (void)e;
    p->gamma_neg = (T)a->gamma_neg;
    p->gamma_pos = (T)a->gamma_pos;
    p->clip = (T)a->clip;
    p->eps = (T)a->eps;
    /* log of the dtype's eps, as the reference clamps in the input's dtype */
    p->log_eps = M(log)(p->eps);
    return p->clip > 0;
}

#define LF_EW_LIST LF_ML_LOSSES
#define LF_EW_KERNEL FN(multilabel_ew)
#include "ew_template.h"

/* The order-preserving unsigned key of a float (see FN(row_max)) and back. */
static inline LF_ALWAYS_INLINE T_UINT
FN(fkey)(T v)
{
    const T_UINT sign = (T_UINT)1 << (8 * sizeof(T) - 1);
    T_UINT k;
    memcpy(&k, &v, sizeof(T));
    return (k & sign) ? ~k : (k | sign);
}

static inline LF_ALWAYS_INLINE T
FN(funkey)(T_UINT k)
{
    const T_UINT sign = (T_UINT)1 << (8 * sizeof(T) - 1);
    k = (k & sign) ? (k ^ sign) : ~k;
    T v;
    memcpy(&v, &k, sizeof(T));
    return v;
}

/* One ZLPR row: its loss in double (returned), the shifts and exp-sums of
 * its two log-sum-exps (*mn, *mp, *sn, *sp, for the Hessian), and its
 * gradient.  `contig` (a constant after inlining) says that logits, labels
 * and gradient are unit-stride along the row: then the loops have no test
 * on the data left in them and vectorize.  The other copy runs the same
 * operations in the same order on strided operands, so both give the same
 * bits.  The shifts are maxima of order-preserving integer keys (gcc
 * vectorizes those, not a float max), with the labels left out keyed as 0,
 * where both maxima start; a nan logit that comes out on top makes the loss
 * nan, as its term of the sum would.  The exp-sums go through a buffer and
 * FN(sum_block), block by block. */
static inline LF_ALWAYS_INLINE double
FN(zlpr_row)(const lf_multilabel *a, ptrdiff_t j, const int contig, T *mn_out, T *mp_out,
             double *sn_out, double *sp_out)
{
    const ptrdiff_t C = a->C;
    const char *xb = a->input + j * a->in_n, *yb = a->target + j * a->t_n;
    const ptrdiff_t xs = contig ? (ptrdiff_t)sizeof(T) : a->in_c;
    const ptrdiff_t ys = contig ? (ptrdiff_t)sizeof(T) : a->t_c;
#define ZX(c) (*(const T *)(xb + (c) * xs))
#define ZY(c) (*(const T *)(yb + (c) * ys))
    const T_UINT zero = FN(fkey)((T)0);
    T_UINT kn = zero, kp = zero;
    for (ptrdiff_t c = 0; c < C; c++) {
        const T x = ZX(c), y = ZY(c);
        const T_UINT k1 = y != 1 ? FN(fkey)(x) : zero;
        const T_UINT k2 = y != 0 ? FN(fkey)(-x) : zero;
        kn = k1 > kn ? k1 : kn;
        kp = k2 > kp ? k2 : kp;
    }
    const T mn = FN(funkey)(kn), mp = FN(funkey)(kp);
    double sn = (double)V(exp)(-mn), sp = (double)V(exp)(-mp);
    /* the buffers hold a row of up to ZLPR_ROW classes whole, so that the
     * gradient reuses its exps (a longer row wraps and the gradient takes
     * them again: the same values) */
    enum { ZLPR_ROW = 8 * LF_PAIRWISE_BLOCK };
    T bn[ZLPR_ROW], bp[ZLPR_ROW];
    for (ptrdiff_t c0 = 0; c0 < C; c0 += LF_PAIRWISE_BLOCK) {
        const ptrdiff_t m = C - c0 < LF_PAIRWISE_BLOCK ? C - c0 : LF_PAIRWISE_BLOCK;
        T *restrict rn = bn + c0 % ZLPR_ROW, *restrict rp = bp + c0 % ZLPR_ROW;
        for (ptrdiff_t i = 0; i < m; i++) {
            const T x = ZX(c0 + i), y = ZY(c0 + i);
            const T en = (1 - y) * V(exp)(x - mn), ep = y * V(exp)(-x - mp);
            rn[i] = y != 1 ? en : (T)0;
            rp[i] = y != 0 ? ep : (T)0;
        }
        sn += FN(sum_block)(rn, m);
        sp += FN(sum_block)(rp, m);
    }
    const double ld = ((double)mn + log(sn)) + ((double)mp + log(sp));
    if (a->grad) {
        char *gb = a->grad + j * a->g_n;
        const ptrdiff_t gs = contig ? (ptrdiff_t)sizeof(T) : a->g_c;
        if (ld != ld) {
            /* A nan logit makes the row's loss nan; as in torch's
             * log-sum-exp (and Su's masked formula), it makes the whole
             * row's gradient nan too, not only the half of the sum it
             * stands in. */
            for (ptrdiff_t c = 0; c < C; c++) {
                *(T *)(gb + c * gs) = (T)NAN;
            }
        }
        else {
            /* in double: with a tiny soft label a sum can be tiny, and
             * g / sum would overflow a float although every product is
             * moderate */
            const double g = (double)MGO(j);
            const double kfn = g / sn, kfp = g / sp;
            if (C <= ZLPR_ROW) {
                for (ptrdiff_t c = 0; c < C; c++) {
                    const T y = ZY(c);
                    const double dn = (double)bn[c] * kfn, dp = (double)bp[c] * kfp;
                    *(T *)(gb + c * gs) = (T)((y != 1 ? dn : 0.0) - (y != 0 ? dp : 0.0));
                }
            }
            else {
                for (ptrdiff_t c = 0; c < C; c++) {
                    const T x = ZX(c), y = ZY(c);
                    const double dn = (double)((1 - y) * V(exp)(x - mn)) * kfn;
                    const double dp = (double)(y * V(exp)(-x - mp)) * kfp;
                    *(T *)(gb + c * gs) = (T)((y != 1 ? dn : 0.0) - (y != 0 ? dp : 0.0));
                }
            }
        }
    }
#undef ZX
#undef ZY
    *mn_out = mn;
    *mp_out = mp;
    *sn_out = sn;
    *sp_out = sp;
    return ld;
}

/* H vec of row j into hess: with P_c = (1 - y_c) e^{x_c} / sn and
 * Q_c = y_c e^{-x_c} / sp (the row's two softmax-like shares, shifted by mn
 * and mp), H = g (diag(P + Q) - P P' - Q Q'). */
static void
FN(zlpr_hvp)(const lf_multilabel *a, ptrdiff_t j, T mn, T mp, double sn, double sp, double ld)
{
    const double g = (double)MGO(j);
    double pv = 0.0, qv = 0.0;
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const T x = MX(j, c), y = MY(j, c);
        const double v = (double)MVEC(j, c);
        pv += y != 1 ? (double)((1 - y) * M(exp)(x - mn)) / sn * v : 0.0;
        qv += y != 0 ? (double)(y * M(exp)(-x - mp)) / sp * v : 0.0;
    }
    for (ptrdiff_t c = 0; c < a->C; c++) {
        const T x = MX(j, c), y = MY(j, c);
        const double P = y != 1 ? (double)((1 - y) * M(exp)(x - mn)) / sn : 0.0;
        const double Q = y != 0 ? (double)(y * M(exp)(-x - mp)) / sp : 0.0;
        const double v = (double)MVEC(j, c);
        *(T *)(a->hess + j * a->g_n + c * a->g_c) =
            ld != ld ? (T)NAN : (T)(g * ((P + Q) * v - P * pv - Q * qv));
    }
}

#ifdef LF_T_F32
/* Half rows (a->half_kind): logits and labels widened (or gathered) onto the
 * stack, or for rows over LF_CE_HALF_C labels into the thread's slot of
 * a->stage, FN(zlpr_row) on the unit-stride float32 row they now are, the
 * gradient narrowed into the half row and the loss into the half output --
 * the bits of widening the whole arrays first.  No Hessian (the binding
 * widens then). */
static LF_NOINLINE double
FN(zlpr_half_block)(const lf_multilabel *a, ptrdiff_t start, ptrdiff_t count)
{
    FN(stage_rows) rows;
    const ptrdiff_t C = a->C;
    T *x = FN(stage_buf)(a->stage, C, 0, rows.x), *y = FN(stage_buf)(a->stage, C, 1, rows.t);
    T *g = FN(stage_buf)(a->stage, C, 2, rows.g);
    const int bf16 = a->half_kind == LF_HALF_BF16;
    lf_multilabel v = *a;
    v.input = (const char *)x;
    v.in_n = 0;
    v.in_c = (ptrdiff_t)sizeof(T);
    v.target = (const char *)y;
    v.t_n = 0;
    v.t_c = (ptrdiff_t)sizeof(T);
    v.grad = a->grad ? (char *)g : NULL;
    v.g_n = 0;
    v.g_c = (ptrdiff_t)sizeof(T);
    v.out = NULL;
    v.hess = NULL;
    v.vec = NULL;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        lf_half_widen_run(bf16, a->input + j * a->in_n, a->in_c, x, C);
        if (a->half_target) {
            lf_half_widen_run(bf16, a->target + j * a->t_n, a->t_c, y, C);
        }
        else {
            for (ptrdiff_t c = 0; c < C; c++) {
                y[c] = MY(j, c);
            }
        }
        T mn, mp;
        double sn, sp;
        const double ld = FN(zlpr_row)(&v, j, 1, &mn, &mp, &sn, &sp);
        if (a->grad) {
            lf_half_narrow_run(bf16, g, a->grad + j * a->g_n, a->g_c, C);
        }
        acc[j & 7] += ld;
        if (a->out) {
            const T l = (T)ld;
            lf_half_narrow_run(bf16, &l, a->out + j * a->out_step, a->out_step, 1);
        }
    }
    return FN(sum8)(acc);
}
#endif

static double
FN(zlpr_block)(void *va, ptrdiff_t start, ptrdiff_t count)
{
    const lf_multilabel *a = va;
    const ptrdiff_t C = a->C;
#ifdef LF_T_F32
    if (a->half_kind) {
        return FN(zlpr_half_block)(a, start, count);
    }
#endif
    const int contig = a->in_c == (ptrdiff_t)sizeof(T) && a->t_c == (ptrdiff_t)sizeof(T) &&
                       (!a->grad || a->g_c == (ptrdiff_t)sizeof(T));
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t j = start; j < start + count; j++) {
        T mn, mp;
        double sn, sp;
        const double ld = contig ? FN(zlpr_row)(a, j, 1, &mn, &mp, &sn, &sp)
                                 : FN(zlpr_row)(a, j, 0, &mn, &mp, &sn, &sp);
        acc[j & 7] += ld;
        if (a->out) {
            *(T *)(a->out + j * a->out_step) = (T)ld;
        }
        if (a->hess && a->vec) {
            FN(zlpr_hvp)(a, j, mn, mp, sn, sp, ld);
        }
        else if (a->hess) {
            const double g = (double)MGO(j);
            for (ptrdiff_t c = 0; c < C; c++) {
                const T x = MX(j, c), y = MY(j, c);
                const double P = y != 1 ? (double)((1 - y) * M(exp)(x - mn)) / sn : 0.0;
                const double Q = y != 0 ? (double)(y * M(exp)(-x - mp)) / sp : 0.0;
                *(T *)(a->hess + j * a->g_n + c * a->g_c) =
                    ld != ld ? (T)NAN : (T)(g * (P * (1 - P) + Q * (1 - Q)));
            }
        }
    }
    return FN(sum8)(acc);
}

static double
FN(zlpr)(const lf_multilabel *a)
{
    /* rows are independent: units of about LF_UNIT_ELEMS elements on the pool
     * (fixed by the shape, so the sum is the same for every thread count) */
    const ptrdiff_t unit = a->C > 0 && a->C < LF_UNIT_ELEMS ? LF_UNIT_ELEMS / a->C : 1;
    return lf_par_pairwise_slots(FN(zlpr_block), (void *)a, a->N, unit, a->N * (a->C + 1),
                                 LF_STAGE_SLOTS(a));
}

#include "softf1_impl.h"

#undef MX
#undef MY
#undef MGRAD
#undef MGO
#undef MVEC
