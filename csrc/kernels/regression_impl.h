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

/* The start of a block function: the row, its optional outputs, the block's
 * losses (summed by sum_block at the end). */
#define RG_BLOCK_BEGIN                                  \
    const lf_ew_row *r = vr;                            \
    const FN(rg_param) *pr = r->user;                   \
    char *po = lf_row_at(r, LF_EW_OUT, start);          \
    char *pg = lf_row_at(r, LF_EW_GRAD, start);         \
    char *ph = lf_row_at(r, LF_EW_HESS, start);         \
    T lb[LF_PAIRWISE_BLOCK]; /* the losses */           \
    (void)pr;                                           \
    (void)ph

typedef struct {
    T beta, delta, margin, eps;
    T half_log_2pi; /* the constant of the full Gaussian NLL, or 0 */
    int full;       /* Poisson: add Stirling's term */
} FN(rg_param);

/* sign as torch's sgn on reals: 0 for 0 and for nan */
static inline T
FN(rg_sign)(T d)
{
    return (T)((d > 0) - (d < 0));
}

LF_EW_BLOCK(l1_block)
{
    RG_BLOCK_BEGIN;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T d = LOAD(LF_EW_INPUT, i) - LOAD(LF_EW_TARGET, i);
        const T w = LOAD(LF_EW_WEIGHT, i);
        const T l = M(fabs)(d) * w;
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            STORE(pg, LF_EW_GRAD, i, FN(rg_sign)(d) * w * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(mse_block)
{
    RG_BLOCK_BEGIN;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T d = LOAD(LF_EW_INPUT, i) - LOAD(LF_EW_TARGET, i);
        const T w = LOAD(LF_EW_WEIGHT, i);
        const T l = d * d * w;
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            STORE(pg, LF_EW_GRAD, i, 2 * d * w * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
        if (ph) {
            STORE(ph, LF_EW_HESS, i, 2 * w * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

/* Smooth L1 and Huber are written without branches on the data (a random
 * mix of both sides mispredicts one branch in two): with m = min(z, beta),
 *   0.5 m^2 / beta + (z - m)        = the smooth L1 of both sides,
 *   0.5 m^2 + delta (z - m)         = the Huber loss,
 * and the gradients are d / beta (or d) clamped to [-1, 1] (or [-delta,
 * delta]) by selects that let nan through. */
LF_EW_BLOCK(smooth_l1_block)
{
    RG_BLOCK_BEGIN;
    const T beta = pr->beta, inv_beta = (T)1 / pr->beta;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T d = LOAD(LF_EW_INPUT, i) - LOAD(LF_EW_TARGET, i);
        const T z = M(fabs)(d);
        const T m = z < beta ? z : beta;
        const T l = (T)0.5 * m * m * inv_beta + (z - m);
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            /* torch's own tests of d against beta, so that d = beta = inf gives 1 */
            T c = d * inv_beta;
            c = d >= beta ? (T)1 : c;
            c = d <= -beta ? (T)-1 : c;
            STORE(pg, LF_EW_GRAD, i, c * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
        if (ph && z < beta) {
            STORE(ph, LF_EW_HESS, i, inv_beta * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(huber_block)
{
    RG_BLOCK_BEGIN;
    const T delta = pr->delta;
    /* the slope of the linear part; for delta = inf, z - m is 0 or nan, and the
     * largest finite T keeps 0 * slope from being nan */
    const T dlin = isfinite(delta) ? delta : M(nextafter)(delta, 0);
    for (ptrdiff_t i = 0; i < n; i++) {
        const T d = LOAD(LF_EW_INPUT, i) - LOAD(LF_EW_TARGET, i);
        const T w = LOAD(LF_EW_WEIGHT, i);
        const T z = M(fabs)(d);
        const T m = z < delta ? z : delta;
        const T l = ((T)0.5 * m * m + dlin * (z - m)) * w;
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            T c = d > delta ? delta : d;
            c = c < -delta ? -delta : c;
            STORE(pg, LF_EW_GRAD, i, c * w * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
        if (ph && z < delta) {
            STORE(ph, LF_EW_HESS, i, w * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(soft_margin_block)
{
    RG_BLOCK_BEGIN;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T y = LOAD(LF_EW_TARGET, i);
        const T z = -y * LOAD(LF_EW_INPUT, i);
        const T e = V(exp)(-M(fabs)(z));
        const T l = (z > 0 ? z : (T)0) + V(log1p_inv)(e, (T)1 / ((T)1 + e));
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            const T inv = (T)1 / ((T)1 + e);
            const T sig = z >= 0 ? inv : e * inv; /* sigmoid(z) */
            STORE(pg, LF_EW_GRAD, i, -y * sig * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
        if (ph) {
            const T inv = (T)1 / ((T)1 + e);
            STORE(ph, LF_EW_HESS, i, y * y * (e * inv * inv) * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(kl_div_block)
{
    RG_BLOCK_BEGIN;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
        /* xlogy(y, y): 0 at y = 0, nan for a nan y */
        const T ylogy = y == 0 ? (T)0 : y * V(log)(y);
        const T l = ylogy - y * x;
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            STORE(pg, LF_EW_GRAD, i, -y * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(kl_div_log_block)
{
    RG_BLOCK_BEGIN;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
        const T ey = V(exp)(y);
        const T l = ey * (y - x);
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            STORE(pg, LF_EW_GRAD, i, -ey * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

/* Stirling's term of the full Poisson NLL, masked where y <= 1 (nan passes). */
static inline T
FN(stirling)(T y)
{
    if (y <= 1) {
        return 0;
    }
    /* torch's 2 pi is a double scalar, applied in T */
    return y * V(log)(y) - y + (T)0.5 * V(log)((T)(2.0 * 3.14159265358979323846) * y);
}

LF_EW_BLOCK(poisson_log_block)
{
    RG_BLOCK_BEGIN;
    const int full = pr->full;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
        const T ex = V(exp)(x);
        T l = ex - y * x;
        if (full) {
            l += FN(stirling)(y);
        }
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            STORE(pg, LF_EW_GRAD, i, (ex - y) * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
        if (ph) {
            STORE(ph, LF_EW_HESS, i, ex * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(poisson_block)
{
    RG_BLOCK_BEGIN;
    const int full = pr->full;
    const T eps = pr->eps;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
        const T xe = x + eps;
        T l = x - y * V(log)(xe);
        if (full) {
            l += FN(stirling)(y);
        }
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            STORE(pg, LF_EW_GRAD, i, ((T)1 - y / xe) * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
        if (ph) {
            STORE(ph, LF_EW_HESS, i, y / (xe * xe) * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(gaussian_block)
{
    RG_BLOCK_BEGIN;
    const T eps = pr->eps, c = pr->half_log_2pi;
    char *pg2 = pg ? lf_row_at(r, LF_EW_GRAD2, start) : NULL;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T d = LOAD(LF_EW_INPUT, i) - LOAD(LF_EW_TARGET, i);
        T v = LOAD(LF_EW_INPUT2, i);
        v = v < eps ? eps : v; /* nan stays nan, as torch's clamp */
        const T d2v = d * d / v;
        T l = (T)0.5 * (V(log)(v) + d2v);
        if (c != 0) {
            l += c;
        }
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            const T go = LOAD(LF_EW_GRAD_OUTPUT, i);
            STORE(pg, LF_EW_GRAD, i, d / v * go);
            STORE(pg2, LF_EW_GRAD2, i, (T)0.5 * ((T)1 / v - d2v / v) * go);
        }
        if (ph) {
            const T go = LOAD(LF_EW_GRAD_OUTPUT, i);
            STORE(ph, LF_EW_HESS, i, go / v);
            STORE(lf_row_at(r, LF_EW_HESS2, start), LF_EW_HESS2, i,
                  (T)0.5 * ((2 * d2v - (T)1) / v) / v * go);
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(hinge_block)
{
    RG_BLOCK_BEGIN;
    const T margin = pr->margin;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
        const T m = margin - x;
        T l = 0, d = 0;
        if (y != 1) {
            l = m < 0 ? (T)0 : m;
            d = m >= 0 ? (T)-1 : (T)0;
        }
        if (y != -1) {
            l += x;
            d += 1;
        }
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            STORE(pg, LF_EW_GRAD, i, d * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

LF_EW_BLOCK(ranking_block)
{
    RG_BLOCK_BEGIN;
    const T margin = pr->margin;
    char *pg2 = pg ? lf_row_at(r, LF_EW_GRAD2, start) : NULL;
    for (ptrdiff_t i = 0; i < n; i++) {
        const T y = LOAD(LF_EW_TARGET, i);
        const T m = -y * (LOAD(LF_EW_INPUT, i) - LOAD(LF_EW_INPUT2, i)) + margin;
        const T l = m < 0 ? (T)0 : m;
        lb[i] = l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            const T go = LOAD(LF_EW_GRAD_OUTPUT, i); /* unconditional: vectorizes */
            const T gy = m >= 0 ? y * go : (T)0;
            STORE(pg, LF_EW_GRAD, i, -gy);
            STORE(pg2, LF_EW_GRAD2, i, gy);
        }
    }
    return FN(sum_block)(lb, n);
}

static double
FN(regression)(const lf_elementwise *a, lf_regression_kind kind,
               const lf_regression_param *p)
{
    const T one = 1, scale = (T)a->scale;
    FN(rg_param) pr = {(T)p->beta, (T)p->delta, (T)p->margin, (T)p->eps, 0, 0};
    lf_block_fn fn;
    switch (kind) {
    case LF_RG_MSE:
        fn = FN(mse_block);
        break;
    case LF_RG_SMOOTH_L1:
        fn = FN(smooth_l1_block);
        break;
    case LF_RG_HUBER:
        fn = FN(huber_block);
        break;
    case LF_RG_SOFT_MARGIN:
        fn = FN(soft_margin_block);
        break;
    case LF_RG_KL_DIV:
        fn = p->log_target ? FN(kl_div_log_block) : FN(kl_div_block);
        break;
    case LF_RG_POISSON_NLL:
        fn = p->log_input ? FN(poisson_log_block) : FN(poisson_block);
        pr.full = p->full;
        break;
    case LF_RG_GAUSSIAN_NLL:
        fn = FN(gaussian_block);
        /* torch adds the Python float 0.5 log(2 pi), rounded to T */
        pr.half_log_2pi = p->full ? (T)(0.5 * log(2.0 * 3.14159265358979323846)) : (T)0;
        break;
    case LF_RG_HINGE_EMBEDDING:
        fn = FN(hinge_block);
        break;
    case LF_RG_MARGIN_RANKING:
        fn = FN(ranking_block);
        break;
    case LF_RG_L1:
    default:
        fn = FN(l1_block);
        break;
    }
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &scale);
    return lf_ew_foreach_par(a->ndim, a->shape, &ops, fn, &pr);
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

/* ------------------------------------------------------------------------ */
/* Multi-label soft margin: one loss per row of C labels.                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    T inv_c;   /* 1 / C, the gradient's factor */
    double c;  /* C, the loss's divisor (in double) */
} FN(mlsm_param);

LF_EW_BLOCK(mlsm_block)
{
    const lf_ew_row *r = vr;
    const T inv_c = ((const FN(mlsm_param) *)r->user)->inv_c;
    char *pg = lf_row_at(r, LF_EW_GRAD, start);
    char *ph = lf_row_at(r, LF_EW_HESS, start);
    T lb[LF_PAIRWISE_BLOCK]; /* the losses, summed by sum_block */
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
        const T w = LOAD(LF_EW_WEIGHT, i);
        const T e = V(exp)(-M(fabs)(x));
        /* -(y logsigmoid(x) + (1 - y) logsigmoid(-x)), in torch's form: the
         * shorter (1 - y) x + softplus(-x) gives nan, not inf, at x = -inf */
        const T lg = V(log1p_inv)(e, (T)1 / ((T)1 + e));
        const T lsp = (x < 0 ? x : (T)0) - lg, lsn = (x > 0 ? -x : (T)0) - lg;
        const T l = -(y * lsp + (1 - y) * lsn) * w;
        lb[i] = l;
        if (pg) {
            const T inv = (T)1 / ((T)1 + e);
            const T sig = x >= 0 ? inv : e * inv;
            STORE(pg, LF_EW_GRAD, i, (sig - y) * w * inv_c * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
        if (ph) {
            const T inv = (T)1 / ((T)1 + e);
            STORE(ph, LF_EW_HESS, i, (e * inv * inv) * w * inv_c * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum_block)(lb, n);
}

/* A row without labels (C = 0): nothing to read, a nan loss. */
static double
FN(mlsm_empty_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    (void)vr;
    (void)start;
    (void)n;
    return 0.0;
}

/* The row's loss: its sum over the labels / C, in double; no labels give
 * nan, as torch's 0 / C.  OUT holds one value per row. */
static double
FN(mlsm_row)(const lf_ew_row *r, double sum)
{
    const double c = ((const FN(mlsm_param) *)r->user)->c;
    const double l = c > 0 ? sum / c : (double)NAN;
    if (r->ptr[LF_EW_OUT]) {
        *(T *)r->ptr[LF_EW_OUT] = (T)l;
    }
    return l;
}

static double
FN(multilabel_soft_margin)(const lf_elementwise *a)
{
    const T one = 1, scale = (T)a->scale;
    const int inner = a->ndim - 1;
    const ptrdiff_t C = a->shape[inner];
    const FN(mlsm_param) pr = {C ? (T)1 / (T)C : (T)0, (double)C};
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &scale);
    if (C > 0) {
        return lf_ew_foreach_rows(a->ndim, a->shape, &ops, FN(mlsm_block), FN(mlsm_row),
                                  (void *)&pr);
    }
    /* one empty "label" per row, so that every row still gets its nan */
    ptrdiff_t shape[LF_MAXDIMS];
    memcpy(shape, a->shape, (size_t)a->ndim * sizeof(shape[0]));
    shape[inner] = 1;
    return lf_ew_foreach_rows(a->ndim, shape, &ops, FN(mlsm_empty_block), FN(mlsm_row),
                              (void *)&pr);
}

/* ------------------------------------------------------------------------ */
/* Helpers of the binding: a weight sum, a sign check.                      */
/* ------------------------------------------------------------------------ */

static double
FN(ew_sum_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t i = 0; i < n; i++) {
        acc[i & 7] += (double)LOAD(LF_EW_INPUT, i);
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
    for (ptrdiff_t i = 0; i < n; i++) {
        const T v = LOAD(LF_EW_INPUT, i);
        if (v < 0) {
            err->index = r->base + start + i;
            err->fvalue = (double)v;
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

#undef RG_BLOCK_BEGIN
