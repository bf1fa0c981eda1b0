/*
 * binary_impl.h -- the body of binary.c, included once per dtype
 * (T, FN, M from dtype_f32.h / dtype_f64.h).
 *
 * Formulas are torch's (aten/src/ATen/native/Loss.cpp):
 *   BCE:         l = ((y - 1) max(log(1 - x), -100) - y max(log x, -100)) w
 *                dl/dx = w (x - y) / max((1 - x) x, 1e-12)
 *   with logits: l = ((1 - y) x + lw softplus(-x)) w,  lw = (pw - 1) y + 1
 *                dl/dx = (lw sigmoid(x) - pw y) w
 * softplus(-x) = max(-x, 0) + log1p(e), e = exp(-|x|), shares e with the
 * sigmoid, so one exp serves loss and gradient.
 */

#define LOAD(op, i) (*(const T *)(r->ptr[op] + ((i) + start) * r->step[op]))
#define STORE(p, op, i, v) (*(T *)((p) + (i) * r->step[op]) = (v))

static double
FN(sum8)(const double *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
           ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static double
FN(bce_check_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    lf_error *err = r->user;
    if (err->index >= 0) {
        return 0.0;
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
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

static double
FN(bce_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    char *po = lf_row_at(r, LF_EW_OUT, start);
    char *pg = lf_row_at(r, LF_EW_GRAD, start);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
        const T w = LOAD(LF_EW_WEIGHT, i);
        T log_x = M(log)(x);
        T log_1mx = M(log)((T)1 - x);
        log_x = log_x > T_MAX_LOG_CLAMP ? log_x : T_MAX_LOG_CLAMP;
        log_1mx = log_1mx > T_MAX_LOG_CLAMP ? log_1mx : T_MAX_LOG_CLAMP;
        const T l = ((y - 1) * log_1mx - y * log_x) * w;
        acc[i & 7] += (double)l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            T den = ((T)1 - x) * x;
            den = den > T_EPS_BCE ? den : T_EPS_BCE;
            STORE(pg, LF_EW_GRAD, i, LOAD(LF_EW_GRAD_OUTPUT, i) * (x - y) / den * w);
        }
    }
    return FN(sum8)(acc);
}

static double
FN(bce_logits_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    char *po = lf_row_at(r, LF_EW_OUT, start);
    char *pg = lf_row_at(r, LF_EW_GRAD, start);
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T y = LOAD(LF_EW_TARGET, i);
        const T w = LOAD(LF_EW_WEIGHT, i);
        const T pw = LOAD(LF_EW_POS_WEIGHT, i);
        const T lw = (pw - 1) * y + 1;
        const T e = M(exp)(-M(fabs)(x));
        const T softplus_neg = (x < 0 ? -x : (T)0) + M(log1p)(e);
        const T l = ((1 - y) * x + lw * softplus_neg) * w;
        acc[i & 7] += (double)l;
        if (po) {
            STORE(po, LF_EW_OUT, i, l);
        }
        if (pg) {
            const T inv = (T)1 / ((T)1 + e);
            const T sig = x >= 0 ? inv : e * inv;
            STORE(pg, LF_EW_GRAD, i,
                  (lw * sig - pw * y) * w * LOAD(LF_EW_GRAD_OUTPUT, i));
        }
    }
    return FN(sum8)(acc);
}

static double
FN(sigmoid_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    char *po = lf_row_at(r, LF_EW_OUT, start);
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T e = M(exp)(-M(fabs)(x));
        const T inv = (T)1 / ((T)1 + e);
        STORE(po, LF_EW_OUT, i, x >= 0 ? inv : e * inv);
    }
    return 0.0;
}

static double
FN(logsigmoid_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    const lf_ew_row *r = vr;
    char *po = lf_row_at(r, LF_EW_OUT, start);
    for (ptrdiff_t i = 0; i < n; i++) {
        const T x = LOAD(LF_EW_INPUT, i);
        const T e = M(exp)(-M(fabs)(x));
        STORE(po, LF_EW_OUT, i, (x < 0 ? x : (T)0) - M(log1p)(e));
    }
    return 0.0;
}

lf_status
FN(lf_bce)(const lf_elementwise *a, double *sum, lf_error *err)
{
    const T one = 1, scale = (T)a->scale;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &scale);
    err->index = -1;
    lf_ew_foreach(a->ndim, a->shape, &ops, FN(bce_check_block), err);
    if (err->index >= 0) {
        return (lf_status)err->ivalue;
    }
    *sum = lf_ew_foreach(a->ndim, a->shape, &ops, FN(bce_block), NULL);
    return LF_OK;
}

double
FN(lf_bce_logits)(const lf_elementwise *a)
{
    const T one = 1, scale = (T)a->scale;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &scale);
    return lf_ew_foreach(a->ndim, a->shape, &ops, FN(bce_logits_block), NULL);
}

void
FN(lf_sigmoid)(const lf_elementwise *a, int log)
{
    const T one = 1;
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &one);
    lf_ew_foreach(a->ndim, a->shape, &ops,
                  log ? FN(logsigmoid_block) : FN(sigmoid_block), NULL);
}

#undef LOAD
#undef STORE
