/*
 * families_run.h -- fam_run(): every kernel of a case's family, results
 * recorded (see families.h, which includes this).
 */

/* Zero every output before a kernel. */
static inline void
fam_clear(fam_case *c)
{
    for (int k = 0; k < c->nv; k++) {
        if (c->writes[k] && c->v[k].bytes) {
            memset(c->v[k].block, 0, c->v[k].bytes);
        }
    }
}

/* Record every output after a kernel, and zero them for the next. */
static inline void
fam_record(fam_case *c, fam_result *res)
{
    for (int k = 0; k < c->nv; k++) {
        if (!c->writes[k]) {
            continue;
        }
        const size_t item = c->is_half[k] ? 2 : c->item;
        for (size_t off = 0; off + item <= c->v[k].bytes; off += item) {
            if (c->is_half[k]) {
                uint16_t h;
                memcpy(&h, c->v[k].block + off, 2);
                fam_push(res, (double)(c->half == LF_HALF_BF16 ? lf_bf16_to_f32(h)
                                                               : lf_f16_to_f32(h)));
            }
            else if (c->f64) {
                double v;
                memcpy(&v, c->v[k].block + off, 8);
                fam_push(res, v);
            }
            else {
                float v;
                memcpy(&v, c->v[k].block + off, 4);
                fam_push(res, (double)v);
            }
        }
    }
    fam_clear(c);
}

#define FAM_CALL(c, name, ...) \
    ((c)->f64 ? lf_##name##_f64(__VA_ARGS__) : lf_##name##_f32(__VA_ARGS__))
#define FAM_CALL_VOID(c, name, ...)       \
    do {                                  \
        if ((c)->f64) {                   \
            lf_##name##_f64(__VA_ARGS__); \
        }                                 \
        else {                            \
            lf_##name##_f32(__VA_ARGS__); \
        }                                 \
    } while (0)

/* A view of a kernel family that stages half rows: on the stack, or in the
 * call's slots (stage, stage_slots; the binding gives slots to rows over
 * LF_CE_HALF_C elements, the kernels take them for any length). */
typedef union {
    lf_classes cl;
    lf_multilabel ml;
    lf_dice dc;
} fam_sview;

/* Kernel k of a family on the view v, of the case's dtype (its sum). */
typedef double (*fam_kernel_fn)(fam_case *c, const fam_sview *v, int k, double eps);

/* The class kernels with a staged half path. */
typedef enum {
    ST_CE, ST_POLY, ST_CE_PROBS, ST_POLY_PROBS, ST_SOFTMAX, ST_LOG_SOFTMAX, ST_SPARSEMAX,
    ST_MULTI_MARGIN, ST_MULTILABEL_MARGIN, ST_SPARSEMAX_LOSS
} fam_stage;

static double
fam_class_kernel(fam_case *c, const fam_sview *v, int k, double eps)
{
    const lf_classes *a = &v->cl;
    switch ((fam_stage)k) {
    case ST_CE:
        return FAM_CALL(c, cross_entropy, a);
    case ST_POLY:
        return FAM_CALL(c, poly_cross_entropy, a, eps);
    case ST_CE_PROBS:
        return FAM_CALL(c, cross_entropy_probs, a);
    case ST_POLY_PROBS:
        return FAM_CALL(c, poly_cross_entropy_probs, a, eps);
    case ST_SPARSEMAX:
        FAM_CALL_VOID(c, sparsemax, a);
        return 0.0;
    case ST_MULTI_MARGIN:
        return FAM_CALL(c, multi_margin, a, 1 + ((c->opts >> 4) & 1),
                        (c->opts >> 5) & 1 ? 0.5 : 1.0);
    case ST_MULTILABEL_MARGIN:
        return FAM_CALL(c, multilabel_margin, a, c->bytes_work);
    case ST_SPARSEMAX_LOSS:
        return FAM_CALL(c, sparsemax_loss, a);
    default:
        FAM_CALL_VOID(c, softmax, a, k == ST_LOG_SOFTMAX);
        return 0.0;
    }
}

static double
fam_zlpr_kernel(fam_case *c, const fam_sview *v, int k, double eps)
{
    (void)k;
    (void)eps;
    return FAM_CALL(c, zlpr, &v->ml);
}

static double
fam_dice_kernel(fam_case *c, const fam_sview *v, int k, double eps)
{
    (void)k;
    (void)eps;
    return FAM_CALL(c, dice, &v->dc, c->work);
}

/* Kernel k on the view v pushed and recorded; a half call (`half`) again
 * with its rows of `len` elements staged in three slots instead of the
 * stack (v's stage and stage_slots, at those offsets): the same bits. */
static void
fam_staged(fam_case *c, fam_result *res, fam_kernel_fn fn, fam_sview v, int k, double eps,
           int half, ptrdiff_t len, size_t stage_at, size_t slots_at)
{
    const size_t from = res->n;
    fam_push(res, fn(c, &v, k, eps));
    fam_record(c, res);
    if (!half) {
        return;
    }
    const size_t mid = res->n;
    const int slots = 3;
    float *stage = calloc((size_t)slots * LF_STAGE_ROWS * (size_t)(len > 0 ? len : 1),
                          sizeof(float));
    if (stage == NULL) {
        abort();
    }
    memcpy((char *)&v + stage_at, &stage, sizeof(stage));
    memcpy((char *)&v + slots_at, &slots, sizeof(slots));
    fam_push(res, fn(c, &v, k, eps));
    fam_record(c, res);
    free(stage);
    if (res->n - mid != mid - from ||
        memcmp(res->v + mid, res->v + from, (mid - from) * sizeof(double)) != 0) {
        fprintf(stderr, "%s: half rows staged in slots and on the stack differ (kernel %d)\n",
                fam_names[c->family], k);
        abort();
    }
    res->n = mid; /* (the same values again) */
}

/* A class kernel's call k, staged both ways when half. */
static void
fam_class_call(fam_case *c, fam_result *res, const lf_classes *a, fam_stage k, double eps)
{
    fam_sview v;
    v.cl = *a;
    fam_staged(c, res, fam_class_kernel, v, (int)k, eps, a->half_kind != 0, a->C,
               offsetof(lf_classes, stage), offsetof(lf_classes, stage_slots));
}

static void
fam_run_binary(fam_case *c, fam_result *res)
{
    const lf_elementwise *a = &c->ew;
    lf_error err = {0, 0, 0.0};
    lf_ew_param p;
    memset(&p, 0, sizeof(p));
    p.label_smoothing = (c->opts >> 1) & 1 ? 0.2 : 0.0;
    p.epsilon = (c->opts >> 2) & 1 ? -0.5 : 1.0;
    for (int kind = 0; kind < LF_BIN_NKINDS; kind++) {
        fam_push(res, FAM_CALL(c, binary, a, (lf_binary_kind)kind, &p));
        fam_record(c, res);
    }
    fam_push(res, (double)FAM_CALL(c, bce_check, a, &err));
    fam_push(res, (double)err.index);
    for (int log = 0; log < 2; log++) {
        FAM_CALL_VOID(c, sigmoid, a, log);
        fam_record(c, res);
    }
}

static void
fam_run_regression(fam_case *c, fam_result *res)
{
    lf_elementwise *a = &c->ew;
    const unsigned o = c->opts;
    lf_ew_param p;
    memset(&p, 0, sizeof(p));
    p.beta = (o >> 1) & 1 ? 0.5 : 1.0;
    p.delta = (o >> 2) & 1 ? 0.25 : 1.5;
    p.margin = (o >> 3) & 1 ? -0.5 : 1.0;
    p.eps = (o >> 4) & 1 ? 1e-6 : 1e-8;
    p.log_target = (o >> 5) & 1;
    p.log_input = (o >> 6) & 1;
    p.full = (o >> 7) & 1;
    for (int kind = 0; kind < LF_RG_NKINDS; kind++) {
        if (kind == LF_RG_MLSM) {
            continue; /* below, with its per-row outputs */
        }
        fam_push(res, FAM_CALL(c, regression, a, (lf_regression_kind)kind, &p));
        fam_record(c, res);
    }
    /* multi-label soft margin: one output and grad_output per row (their
     * last step 0) */
    lf_elementwise m = *a;
    const int last = a->ndim - 1;
    m.strides[LF_EW_GRAD_OUTPUT][last] = 0;
    m.data[LF_EW_OUT] = c->row_out->base;
    memcpy(m.strides[LF_EW_OUT], c->row_out->strides, sizeof(c->row_out->strides));
    m.strides[LF_EW_OUT][last] = 0;
    m.half_ops = (a->half_ops & ~(1u << LF_EW_OUT)) |
                 (unsigned)c->is_half[c->row_out - c->v] << LF_EW_OUT;
    fam_push(res, FAM_CALL(c, regression, &m, LF_RG_MLSM, &p));
    fam_record(c, res);
    /* (the binding widens what these two read: a weight's sum, a variance) */
    if (!(a->half_ops >> LF_EW_INPUT & 1u)) {
        fam_push(res, FAM_CALL(c, ew_sum, a));
        lf_error err = {0, 0, 0.0};
        fam_push(res, (double)FAM_CALL(c, check_nonnegative, a, &err));
        fam_push(res, (double)err.index);
    }
}

static void
fam_run_multilabel(fam_case *c, fam_result *res)
{
    if (c->opts & 1) {
        fam_sview v;
        v.ml = c->ml;
        fam_staged(c, res, fam_zlpr_kernel, v, 0, 0.0, c->ml.half_kind != 0, c->ml.C,
                   offsetof(lf_multilabel, stage), offsetof(lf_multilabel, stage_slots));
        fam_push(res, FAM_CALL(c, soft_f1, &c->ml, (c->opts >> 4) & 1 ? 1e-7 : 1.0, c->work));
        fam_record(c, res);
        return;
    }
    static const double gammas[4] = {0.0, 2.0, 0.5, 1.0};
    lf_ew_param p;
    memset(&p, 0, sizeof(p));
    p.alpha = (c->opts >> 4) & 1 ? -1.0 : 0.25;
    p.gamma = p.gamma_neg = gammas[(c->opts >> 5) & 3];
    p.gamma_pos = gammas[(c->opts >> 7) & 1];
    p.clip = (c->opts >> 1) & 1 ? 0.05 : 0.0;
    p.eps = 1e-8;
    for (int kind = 0; kind < LF_ML_NKINDS; kind++) {
        fam_push(res, FAM_CALL(c, multilabel_ew, &c->ew, (lf_multilabel_kind)kind, &p));
        fam_record(c, res);
    }
}

static void
fam_run_classification(fam_case *c, fam_result *res)
{
    lf_classes *a = &c->cl;
    double total = 0;
    lf_error err = {0, 0, 0.0};
    const double eps = (c->opts >> 5) & 1 ? -0.5 : 2.0; /* Poly-1's epsilon */
    const lf_status st = FAM_CALL(c, class_check, a, &total, &err);
    fam_push(res, (double)st);
    fam_push(res, total);
    fam_push(res, (double)err.index);
    if (st == LF_OK) {
        fam_push(res, FAM_CALL(c, nll, a));
        fam_record(c, res);
        fam_class_call(c, res, a, ST_CE, 0.0);
        fam_class_call(c, res, a, ST_POLY, eps);
    }
    /* probabilities (float32 / float64; with a half input they stay float32) */
    lf_classes pa = *a;
    pa.target = c->probs;
    pa.t_n = c->p_n;
    pa.t_c = c->p_c;
    pa.t_s = c->p_s;
    fam_class_call(c, res, &pa, ST_CE_PROBS, 0.0);
    fam_class_call(c, res, &pa, ST_POLY_PROBS, eps);
    /* softmax and sparsemax write through grad: they need an output (half
     * samples are staged as the kernels' losses stage theirs) */
    const fview *g = &c->v[c->nv - 1];
    pa.grad = g->base;
    fam_class_call(c, res, &pa, ST_SOFTMAX, 0.0);
    fam_class_call(c, res, &pa, ST_LOG_SOFTMAX, 0.0);
    fam_class_call(c, res, &pa, ST_SPARSEMAX, 0.0);
}

static void
fam_run_margin(fam_case *c, fam_result *res)
{
    const lf_classes *a = &c->cl;
    const int ml = c->opts & 1;
    lf_error err = {0, 0, 0.0};
    const lf_status st = lf_margin_check(a, ml, &err);
    fam_push(res, (double)st);
    fam_push(res, (double)err.index);
    if (st != LF_OK) {
        return;
    }
    fam_class_call(c, res, a, ml ? ST_MULTILABEL_MARGIN : ST_MULTI_MARGIN, 0.0);
    if (ml) {
        return;
    }
    /* the sparsemax loss: the same class indices, its gradient compact */
    lf_classes sa = *a;
    const ptrdiff_t item = (ptrdiff_t)(a->half_kind ? 2 : c->item);
    sa.grad = a->grad ? c->compact->base : NULL;
    sa.g_c = item;
    sa.g_n = a->C * item;
    sa.g_s = 0;
    sa.hess = NULL;
    fam_class_call(c, res, &sa, ST_SPARSEMAX_LOSS, 0.0);
}

static void
fam_run_embedding(fam_case *c, fam_result *res)
{
    lf_rows *a = &c->rw;
    static const double ps[8] = {2.0, 1.0, 0.0, 3.0, 0.5, 1.5, INFINITY, 2.0};
    const double p = ps[(c->opts >> 4) & 7], eps = (c->opts >> 7) & 1 ? 1e-6 : 0.0;
    FAM_CALL_VOID(c, pairwise_distance, a, p, eps);
    fam_record(c, res);
    FAM_CALL_VOID(c, cosine_similarity, a, 1e-8);
    fam_record(c, res);
    /* cosine embedding fills the first two gradients only */
    char *g2 = a->grad[2];
    a->grad[2] = NULL;
    fam_push(res, FAM_CALL(c, cosine_embedding, a, (c->opts >> 1) & 1 ? 0.25 : 0.0));
    fam_record(c, res);
    a->grad[2] = g2;
    for (int dist = 0; dist < 2; dist++) {
        fam_push(res, FAM_CALL(c, triplet, a, (lf_distance)dist, 1.0, p, 1e-6,
                               (int)((c->opts >> 1) & 1), c->work, FAM_SLOTS));
        fam_record(c, res);
    }
}

/* Runs every kernel of the case's family, appending to res. */
static inline void
fam_run(fam_case *c, fam_result *res)
{
    fam_clear(c);
    switch (c->family) {
    case FAM_BINARY:
        fam_run_binary(c, res);
        break;
    case FAM_CLASSIFICATION:
        fam_run_classification(c, res);
        break;
    case FAM_MULTILABEL:
        fam_run_multilabel(c, res);
        break;
    case FAM_REGRESSION:
        fam_run_regression(c, res);
        break;
    case FAM_EMBEDDING:
        fam_run_embedding(c, res);
        break;
    case FAM_MARGIN:
        fam_run_margin(c, res);
        break;
    case FAM_CTC:
        fam_push(res, FAM_CALL(c, ctc, &c->ctc, c->work));
        fam_record(c, res);
        break;
    default: {
        fam_sview v;
        v.dc = c->dc;
        fam_staged(c, res, fam_dice_kernel, v, 0, 0.0, c->dc.half_kind != 0, c->dc.C * c->dc.S,
                   offsetof(lf_dice, stage), offsetof(lf_dice, stage_slots));
        break;
    }
    }
}
