/*
 * families.h -- one case per kernel family, built from a byte reader, so that
 * the fuzzer (fuzz_families.c) and the C harness (tests/c/test_engine.c, the
 * instruction-set and thread identity test) reach every kernel the same way.
 *
 * fam_build() reads the shapes, layouts, values and options of one case:
 * inputs are strided views (broadcast, negative, gapped strides), outputs
 * contiguous blocks of exactly their extent.  fam_run() zeroes the outputs,
 * calls every kernel of the family on the case (each pre-pass first, as the
 * binding does) and appends to a fam_result everything they return and write,
 * nan canonicalised.  Two runs of one case can then be compared value by
 * value: across instruction sets, thread counts, or nothing at all.
 *
 * With `tame`, values are in [0, 1] (class targets in range) so results are
 * finite and comparable within a tolerance; otherwise float values are raw
 * bit patterns (nan, inf, subnormals) and targets arbitrary int64.
 *
 * A float32 case may be a half one (fam_case.half: float16 or bfloat16): the
 * operands the binding hands over in half stay half here too, each chosen by
 * the bytes -- any operand of the element-wise template (binary, regression,
 * element-wise multi-label); the input, loss and gradient of NLL,
 * cross-entropy, Poly-1 and the margin losses (lf_classes.half_kind) and
 * ZLPR's and soft-F1's (lf_multilabel.half_kind); the rows, per-row
 * loss and gradients of the distances and embedding losses
 * (lf_rows.half_kind); Dice's input, loss and gradient (lf_dice.half_kind);
 * CTC's log-probabilities, loss and gradient (lf_ctc.half_kind).
 */
#ifndef PYLOSSFN_FAMILIES_H_
#define PYLOSSFN_FAMILIES_H_

#include <math.h>

#include "../csrc/pylossfn.h"
#include "fuzz_util.h"
#include "kernels/half.h"

enum {
    FAM_BINARY = 0,
    FAM_CLASSIFICATION,
    FAM_MULTILABEL,
    FAM_REGRESSION,
    FAM_EMBEDDING,
    FAM_MARGIN,
    FAM_CTC,
    FAM_DICE,
    FAM_COUNT
};

static const char *const fam_names[FAM_COUNT] = {
    "binary", "classification", "multilabel", "regression", "embedding", "margin", "ctc",
    "dice"};

#define FAM_MAXV 16
/* The triplet kernel's row buffers: one per thread a call may run on. */
#define FAM_SLOTS 2

typedef struct {
    int family, f64, tame, uses_vecmath;
    int half; /* lf_half_kind of the half operands (float32 cases only), or 0 */
    size_t item;
    fview v[FAM_MAXV];
    int writes[FAM_MAXV]; /* an output: zeroed before, recorded after each kernel */
    int is_half[FAM_MAXV]; /* stored in c->half's format (2 bytes an element) */
    int nv;
    unsigned opts; /* option bits read from the case's bytes */
    lf_elementwise ew;
    lf_classes cl;
    lf_multilabel ml;
    lf_rows rw;
    lf_ctc ctc;
    lf_dice dc;
    ptrdiff_t big;  /* the batch dimension's multiplier (threads: large cases) */
    const fview *row_out; /* element-wise: a per-row output */
    const fview *compact; /* margin: a C-contiguous [N, C] gradient (sparsemax's) */
    const char *probs; /* classification: T probabilities of the input's shape */
    ptrdiff_t p_n, p_c, p_s;
    int64_t *ints; /* CTC targets, offsets and lengths */
    double *work;
    unsigned char *bytes_work;
} fam_case;

typedef struct {
    double *v;
    size_t n, cap;
} fam_result;

static inline void
fam_push(fam_result *res, double x)
{
    if (res->n == res->cap) {
        res->cap = res->cap ? 2 * res->cap : 256;
        res->v = realloc(res->v, res->cap * sizeof(double));
    }
    /* one nan: which operand's payload survives may differ between
     * instruction sets (operand order is the compiler's choice) */
    res->v[res->n++] = x != x ? (double)NAN : x;
}

/* A half view's values: raw 16-bit patterns, or [0, 1] rounded to the format. */
static inline void
fam_fill_half(fview *v, reader *r, int bf16, int tame)
{
    for (size_t off = 0; off + 2 <= v->bytes; off += 2) {
        uint16_t h = (uint16_t)(take(r) << 8 | take(r));
        if (tame) {
            const float u = (float)take(r) / 255.0f;
            h = bf16 ? lf_f32_to_bf16(u) : lf_f32_to_f16(u);
        }
        memcpy(v->block + off, &h, 2);
    }
}

/* A new view of nd dims, in c->half's format when `half`; inputs are
 * filled, outputs zeroed by fam_run.  `contiguous` as fview_make's: 0 any
 * strides, 1 unit-stride rows with gaps, 2 dense C order. */
static inline fview *
fam_view_as(fam_case *c, reader *r, int nd, const ptrdiff_t *shape, int output, int tame,
            int half, int contiguous)
{
    fview *v = &c->v[c->nv];
    c->is_half[c->nv] = half;
    c->writes[c->nv++] = output;
    fview_make(v, r, nd, shape, half ? 2 : c->item, contiguous);
    if (!output && half) {
        fam_fill_half(v, r, c->half == LF_HALF_BF16, tame || c->tame);
    }
    else if (!output) {
        fview_fill(v, r, c->f64, tame || c->tame);
    }
    return v;
}

/* Inputs of any strides, outputs of unit-stride rows with gaps. */
static inline fview *
fam_hview(fam_case *c, reader *r, int nd, const ptrdiff_t *shape, int output, int tame,
          int half)
{
    return fam_view_as(c, r, nd, shape, output, tame, half, output);
}

static inline fview *
fam_view(fam_case *c, reader *r, int nd, const ptrdiff_t *shape, int output, int tame)
{
    return fam_hview(c, r, nd, shape, output, tame, 0);
}

/* Whether the next operand is stored in half (a half case's bytes decide). */
static inline int
fam_pick_half(fam_case *c, reader *r)
{
    return c->half && (take(r) & 1);
}

/* An int64 view of nd dims: raw values, or in [lo, hi) when tame. */
static inline fview *
fam_int_view(fam_case *c, reader *r, int nd, const ptrdiff_t *shape, int64_t lo, int64_t hi)
{
    fview *v = &c->v[c->nv];
    c->writes[c->nv++] = 0;
    fview_make(v, r, nd, shape, 8, 0);
    for (size_t off = 0; off + 8 <= v->bytes; off += 8) {
        int64_t t = (int64_t)take64(r);
        if (c->tame || (take(r) & 3) != 0) {
            t = hi > lo ? lo + (int64_t)((uint64_t)t % (uint64_t)(hi - lo)) : lo;
        }
        memcpy(v->block + off, &t, 8);
    }
    return v;
}

/* The last view made (v) as operand op, with its half bit. */
static inline void
fam_ew_set(lf_elementwise *a, const fam_case *c, int op, const fview *v)
{
    a->data[op] = v->base;
    for (int d = 0; d < a->ndim; d++) {
        a->strides[op][d] = v->strides[d];
    }
    a->half_ops |= (unsigned)c->is_half[v - c->v] << op;
}

/* ------------------------------------------------------------------------ */
/* Builders                                                                 */
/* ------------------------------------------------------------------------ */

/* The element-wise view of the binary, multi-label and regression families:
 * every operand over one shape, the optional ones present by the option bits. */
static void
fam_build_ew(fam_case *c, reader *r)
{
    lf_elementwise *a = &c->ew;
    const int nd = 1 + (int)(take(r) % 3);
    ptrdiff_t shape[8];
    a->ndim = nd;
    for (int d = 0; d < nd; d++) {
        shape[d] = a->shape[d] = (ptrdiff_t)(take(r) % 5) * (d == 0 ? c->big : 1);
    }
    a->scale = c->tame ? 0.5 : (double)(int)take(r) - 128.0;
    static const int inputs[] = {LF_EW_INPUT, LF_EW_TARGET, LF_EW_WEIGHT, LF_EW_POS_WEIGHT,
                                 LF_EW_GRAD_OUTPUT, LF_EW_INPUT2};
    a->half_kind = c->half;
    for (int k = 0; k < 6; k++) {
        const int op = inputs[k];
        if (k < 2 || ((c->opts >> k) & 1)) {
            fam_ew_set(a, c, op, fam_hview(c, r, nd, shape, 0, op == LF_EW_TARGET,
                                           fam_pick_half(c, r)));
        }
    }
    if (!a->data[LF_EW_INPUT2]) { /* the regression kernels that read it need it */
        a->data[LF_EW_INPUT2] = a->data[LF_EW_TARGET];
        memcpy(a->strides[LF_EW_INPUT2], a->strides[LF_EW_TARGET], sizeof(a->strides[0]));
        a->half_ops |= (a->half_ops >> LF_EW_TARGET & 1u) << LF_EW_INPUT2;
    }
    fam_ew_set(a, c, LF_EW_OUT, fam_hview(c, r, nd, shape, 1, 0, fam_pick_half(c, r)));
    /* one loss per row (multi-label soft margin): the shape, labels cut to 1 */
    ptrdiff_t rows[8];
    memcpy(rows, shape, sizeof(rows));
    rows[nd - 1] = 1;
    c->row_out = fam_hview(c, r, nd, rows, 1, 0, fam_pick_half(c, r));
    if ((c->opts >> 6) & 1) {
        static const int outputs[] = {LF_EW_GRAD, LF_EW_GRAD2, LF_EW_HESS, LF_EW_HESS2};
        /* (the Hessian's diagonals ride with the gradients) */
        for (int k = 0; k < 4; k++) {
            fam_ew_set(a, c, outputs[k], fam_hview(c, r, nd, shape, 1, 0, fam_pick_half(c, r)));
        }
    }
}

/* lf_classes [N, C, S] (S = 1 for the margin family), with int64 class
 * targets in [lo, C) (per sample, or per label for multi-label margin) or,
 * for probs, a T target of the input's shape. */
static void
fam_build_classes(fam_case *c, reader *r, int margin)
{
    lf_classes *a = &c->cl;
    const ptrdiff_t N = (ptrdiff_t)(take(r) % 5) * c->big, C = take(r) % 6 + (margin ? 1 : 0);
    const ptrdiff_t S = margin ? 1 : take(r) % 4;
    const ptrdiff_t ncs[3] = {N, C, S}, ns[2] = {N, S}, c1[1] = {C}, nc[2] = {N, C};
    a->N = N;
    a->C = C;
    a->S = S;
    a->ignore_index = (int64_t)(take(r) % 8) - 2;
    a->label_smoothing = (double)take(r) / 255.0;
    a->scale = c->tame ? 0.25 : (double)(int)take(r) - 128.0;
    /* half: the input, loss and gradient of NLL, cross-entropy, Poly-1 and
     * the margin losses (no Hessian) */
    const int half = c->half;
    a->half_kind = half ? c->half : 0;
    fview *x = fam_hview(c, r, 3, ncs, 0, 0, half);
    a->input = x->base;
    a->in_n = x->strides[0];
    a->in_c = x->strides[1];
    a->in_s = x->strides[2];
    const int ml = margin && (c->opts & 1);
    fview *t = ml ? fam_int_view(c, r, 2, nc, -1, C) : fam_int_view(c, r, 2, ns, 0, C);
    a->target = t->base;
    a->t_n = t->strides[0];
    a->t_s = ml ? 0 : t->strides[1];
    a->t_c = ml ? t->strides[1] : 0;
    if (!margin) {
        fview *p = fam_view(c, r, 3, ncs, 0, 1);
        c->probs = p->base;
        c->p_n = p->strides[0];
        c->p_c = p->strides[1];
        c->p_s = p->strides[2];
    }
    if ((c->opts >> 1) & 1) {
        fview *w = fam_view(c, r, 1, c1, 0, 1);
        a->weight = w->base;
        a->w_c = w->strides[0];
    }
    if ((c->opts >> 2) & 1) {
        fview *go = fam_view(c, r, 2, ns, 0, 0);
        a->grad_output = go->base;
        a->go_n = go->strides[0];
        a->go_s = go->strides[1];
    }
    fview *out = fam_hview(c, r, 2, ns, 1, 0, half);
    a->out = out->base;
    a->out_n = out->strides[0];
    a->out_s = out->strides[1];
    /* the Hessian's diagonal (with the gradient): laid out as the gradient,
     * both contiguous outputs of one shape; g stays the last view (softmax) */
    fview *h = fam_view(c, r, 3, ncs, 1, 0);
    fview *g = fam_hview(c, r, 3, ncs, 1, 0, half);
    a->grad = (c->opts >> 3) & 1 ? g->base : NULL;
    a->hess = a->grad && !half ? h->base : NULL;
    a->g_n = g->strides[0];
    a->g_c = g->strides[1];
    a->g_s = g->strides[2];
    if (margin) {
        c->bytes_work = malloc((size_t)C + 1);
        /* the sparsemax loss writes C-contiguous gradient rows (as the
         * binding allocates them): a compact output */
        c->compact = fam_hview(c, r, 2, nc, 2, 0, half);
    }
}

/* The lf_multilabel [N, C] view of ZLPR and soft-F1. */
static void
fam_build_multilabel(fam_case *c, reader *r)
{
    lf_multilabel *a = &c->ml;
    const ptrdiff_t N = (ptrdiff_t)(take(r) % 5) * c->big, C = take(r) % 6, nc[2] = {N, C};
    const ptrdiff_t per = N > C ? N : C, n1[1] = {per};
    a->N = N;
    a->C = C;
    a->scale = c->tame ? 0.5 : (double)(int)take(r) - 128.0;
    /* half (ZLPR and soft-F1, as the binding hands them): input, loss and
     * gradient, the labels when the bytes say so; no Hessian */
    const int half = c->half;
    a->half_kind = half;
    fview *x = fam_hview(c, r, 2, nc, 0, 0, half);
    a->half_target = fam_pick_half(c, r);
    fview *t = fam_hview(c, r, 2, nc, 0, 1, a->half_target);
    a->input = x->base;
    a->in_n = x->strides[0];
    a->in_c = x->strides[1];
    a->target = t->base;
    a->t_n = t->strides[0];
    a->t_c = t->strides[1];
    if ((c->opts >> 2) & 1) {
        fview *go = fam_view(c, r, 1, n1, 0, 0);
        a->grad_output = go->base;
        a->go_step = go->strides[0];
    }
    fview *out = fam_hview(c, r, 1, n1, 1, 0, half);
    a->out = out->base;
    a->out_step = out->strides[0];
    if ((c->opts >> 3) & 1) {
        fview *g = fam_hview(c, r, 2, nc, 1, 0, half);
        a->grad = g->base;
        a->g_n = g->strides[0];
        a->g_c = g->strides[1];
        a->hess = half ? NULL : fam_view(c, r, 2, nc, 1, 0)->base; /* laid out as g */
    }
    c->work = malloc((size_t)(6 * C + 1) * sizeof(double));
}

static void
fam_build_rows(fam_case *c, reader *r)
{
    lf_rows *a = &c->rw;
    const ptrdiff_t N = (ptrdiff_t)(take(r) % 5) * c->big, D = take(r) % 6;
    const ptrdiff_t nd[2] = {N, D}, n1[1] = {N};
    a->N = N;
    a->D = D;
    a->scale = c->tame ? 0.5 : (double)(int)take(r) - 128.0;
    /* half: the three operands, the per-row loss and the gradients (target
     * and grad_output stay float32, no Hessian), as the binding hands them */
    const int half = c->half;
    a->half_kind = half;
    for (int k = 0; k < 3; k++) {
        fview *x = fam_hview(c, r, 2, nd, 0, 0, half);
        a->x[k] = x->base;
        a->x_n[k] = x->strides[0];
        a->x_d[k] = x->strides[1];
    }
    fview *t = fam_view(c, r, 1, n1, 0, 0);
    a->target = t->base;
    a->t_n = t->strides[0];
    if (c->tame) { /* CosineEmbeddingLoss's targets are 1 or -1 */
        for (ptrdiff_t n = 0; n < N; n++) {
            char *p = t->base + n * t->strides[0];
            const double y = (take(r) & 1) ? 1.0 : -1.0;
            if (c->f64) {
                memcpy(p, &y, 8);
            }
            else {
                const float yf = (float)y;
                memcpy(p, &yf, 4);
            }
        }
    }
    if ((c->opts >> 2) & 1) {
        fview *go = fam_view(c, r, 1, n1, 0, 0);
        a->grad_output = go->base;
        a->go_n = go->strides[0];
    }
    fview *out = fam_hview(c, r, 1, n1, 1, 0, half);
    a->out = out->base;
    a->out_n = out->strides[0];
    for (int k = 0; k < 3; k++) {
        fview *g = fam_hview(c, r, 2, nd, 1, 0, half);
        a->grad[k] = (c->opts >> 3) & 1 ? g->base : NULL;
        a->g_n[k] = g->strides[0];
        a->g_d[k] = g->strides[1];
        fview *h = fam_view(c, r, 2, nd, 1, 0); /* laid out as g */
        a->hess[k] = a->grad[k] && !half ? h->base : NULL;
    }
    c->work = malloc((size_t)(FAM_SLOTS * LF_TRIPLET_WORK(D)) * sizeof(double));
}

/* CTC: the kernel trusts its caller for the lengths and the targets' range
 * (the binding checks them), so these are always valid. */
static void
fam_build_ctc(fam_case *c, reader *r)
{
    lf_ctc *a = &c->ctc;
    const ptrdiff_t steps = take(r) % 6, N = (ptrdiff_t)(take(r) % 4) * c->big;
    const ptrdiff_t C = 1 + take(r) % 5;
    const ptrdiff_t tnc[3] = {steps, N, C}, n1[1] = {N};
    a->steps = steps;
    a->N = N;
    a->C = C;
    a->blank = (int64_t)(take(r) % (unsigned)C);
    a->zero_infinity = c->opts & 1;
    a->per_length = (c->opts >> 1) & 1;
    a->scale = c->tame ? 0.5 : (double)(int)take(r) - 128.0;
    /* half (as the binding hands it): log_probs, loss and gradient */
    a->half_kind = c->half;
    fview *lp = fam_hview(c, r, 3, tnc, 0, 0, c->half);
    a->log_probs = lp->base;
    a->lp_t = lp->strides[0];
    a->lp_n = lp->strides[1];
    a->lp_c = lp->strides[2];
    if (c->tame) { /* log-probabilities: log of the [0, 1] values */
        const size_t item = c->half ? 2 : c->item;
        for (size_t off = 0; off + item <= lp->bytes; off += item) {
            if (c->half) {
                const int bf16 = c->half == LF_HALF_BF16;
                uint16_t h;
                memcpy(&h, lp->block + off, 2);
                const float v = logf(bf16 ? lf_bf16_to_f32(h) : lf_f16_to_f32(h));
                h = bf16 ? lf_f32_to_bf16(v) : lf_f32_to_f16(v);
                memcpy(lp->block + off, &h, 2);
            }
            else if (c->f64) {
                double v;
                memcpy(&v, lp->block + off, 8);
                v = log(v);
                memcpy(lp->block + off, &v, 8);
            }
            else {
                float v;
                memcpy(&v, lp->block + off, 4);
                v = logf(v);
                memcpy(lp->block + off, &v, 4);
            }
        }
    }
    const ptrdiff_t S = 4;
    c->ints = calloc((size_t)(N * (S + 3) + 1), sizeof(int64_t));
    int64_t *targets = c->ints, *offsets = targets + N * S, *il = offsets + N, *tl = il + N;
    for (ptrdiff_t b = 0; b < N; b++) {
        offsets[b] = b * S;
        il[b] = (int64_t)(take(r) % (unsigned)(steps + 1));
        tl[b] = (int64_t)(take(r) % (unsigned)(S + 1));
        for (ptrdiff_t s = 0; s < tl[b]; s++) {
            targets[b * S + s] = (int64_t)(take(r) % (unsigned)C);
        }
    }
    a->targets = targets;
    a->tg_offset = offsets;
    a->input_lengths = il;
    a->target_lengths = tl;
    if ((c->opts >> 2) & 1) {
        fview *go = fam_view(c, r, 1, n1, 0, 0);
        a->grad_output = go->base;
        a->go_n = go->strides[0];
    }
    fview *out = fam_hview(c, r, 1, n1, 1, 0, c->half);
    a->out = out->base;
    a->out_n = out->strides[0];
    fview *g = fam_hview(c, r, 3, tnc, 1, 0, c->half);
    a->grad = (c->opts >> 3) & 1 ? g->base : NULL;
    a->g_t = g->strides[0];
    a->g_n = g->strides[1];
    a->g_c = g->strides[2];
    c->work = malloc((lf_ctc_work(a) + 1) * sizeof(double));
}

/* Dice / Tversky and the generalized Dice: input, target, gradient, Hessian
 * and vec dense [N, C, S] (the binding's contiguous copies), class indices
 * [N, S] dense and in range (the binding checks them); a half case's input,
 * loss and gradient in half (the target when the bytes say so), as the
 * binding hands them: no Hessian, no vec (rows staged on the stack here;
 * fam_staged runs them again in slots). */
static void
fam_build_dice(fam_case *c, reader *r)
{
    static const double ab[4] = {0.5, 0.3, 0.7, 0.0};
    lf_dice *a = &c->dc;
    const ptrdiff_t N = (ptrdiff_t)(take(r) % 6) * c->big, C = take(r) % 5;
    const ptrdiff_t S = (take(r) & 1) ? 1 : 1 + take(r) % 9;
    const ptrdiff_t ncs[3] = {N, C, S}, ns[2] = {N, S};
    a->N = N;
    a->C = C;
    a->S = S;
    a->softmax = c->opts & 1;
    a->per_sample = (c->opts >> 1) & 1;
    a->generalized = a->softmax && ((c->opts >> 2) & 1);
    a->smooth = c->tame ? 1.0 : (double)take(r) / 16.0;
    a->alpha = a->generalized ? 0.5 : ab[take(r) & 3];
    a->beta = a->generalized ? 0.5 : ab[take(r) & 3];
    a->scale = c->tame ? 0.5 : (double)(int)take(r) - 128.0;
    a->half_kind = c->half;
    a->input = fam_view_as(c, r, 3, ncs, 0, 0, c->half, 2)->base;
    if (a->softmax && ((c->opts >> 3) & 1)) {
        fview *iv = &c->v[c->nv];
        c->writes[c->nv++] = 0;
        fview_make(iv, r, 2, ns, 8, 2);
        for (size_t off = 0; off + 8 <= iv->bytes; off += 8) {
            const int64_t k = C > 0 ? (int64_t)(take(r) % (unsigned)C) : 0;
            memcpy(iv->block + off, &k, 8);
        }
        a->index = (const int64_t *)(const void *)iv->base;
    }
    else {
        a->half_target = fam_pick_half(c, r);
        a->target = fam_view_as(c, r, 3, ncs, 0, 1, a->half_target, 2)->base;
    }
    const ptrdiff_t k1[1] = {a->per_sample ? N * C : C}, c1[1] = {C};
    if (!a->generalized && ((c->opts >> 4) & 1)) {
        fview *w = fam_view(c, r, 1, c1, 0, 1);
        a->weight = w->base;
        a->w_c = w->strides[0];
    }
    if ((c->opts >> 5) & 1) {
        fview *go = fam_view(c, r, 1, k1, 0, 0);
        a->grad_output = go->base;
        a->go_step = go->strides[0];
    }
    fview *out = fam_hview(c, r, 1, k1, 1, 0, c->half);
    a->out = out->base;
    a->out_step = out->strides[0];
    if ((c->opts >> 6) & 1) {
        a->grad = fam_view_as(c, r, 3, ncs, 1, 0, c->half, 2)->base;
        if (!c->half && ((c->opts >> 7) & 1)) {
            a->hess = fam_view_as(c, r, 3, ncs, 1, 0, 0, 2)->base;
            a->vec = (take(r) & 1) ? fam_view_as(c, r, 3, ncs, 0, 0, 0, 2)->base : NULL;
        }
    }
    c->work = malloc((size_t)(lf_dice_work(a) + 1) * sizeof(double));
}

/* Reads one case of `family` (FAM_COUNT: the family from the bytes); `big`
 * multiplies the batch dimension. */
static inline void
fam_build(fam_case *c, int family, reader *r, int tame, ptrdiff_t big)
{
    memset(c, 0, sizeof(*c));
    c->big = big;
    const unsigned flags = take(r);
    c->family = family < FAM_COUNT ? family : (int)(flags % FAM_COUNT);
    c->f64 = (flags >> 3) & 1;
    c->item = c->f64 ? 8 : 4;
    /* (bits 4-5: a float32 case of the families that take half operands) */
    const int half_family = c->family == FAM_BINARY || c->family == FAM_REGRESSION ||
                            c->family == FAM_MULTILABEL || c->family == FAM_CLASSIFICATION ||
                            c->family == FAM_EMBEDDING || c->family == FAM_MARGIN ||
                            c->family == FAM_CTC || c->family == FAM_DICE;
    c->half = !c->f64 && half_family ? (int)((flags >> 4) & 3) % 3 : 0;
    c->tame = tame;
    c->opts = take(r);
    /* the families whose kernels call vecmath.h (FMA in the AVX variants) */
    c->uses_vecmath = c->family == FAM_BINARY || c->family == FAM_CLASSIFICATION ||
                      c->family == FAM_MULTILABEL || c->family == FAM_REGRESSION ||
                      c->family == FAM_CTC || c->family == FAM_DICE;
    switch (c->family) {
    case FAM_BINARY:
    case FAM_REGRESSION:
        fam_build_ew(c, r);
        break;
    case FAM_MULTILABEL:
        if (c->opts & 1) {
            fam_build_multilabel(c, r);
        }
        else {
            fam_build_ew(c, r);
        }
        break;
    case FAM_CLASSIFICATION:
    case FAM_MARGIN:
        fam_build_classes(c, r, c->family == FAM_MARGIN);
        break;
    case FAM_EMBEDDING:
        fam_build_rows(c, r);
        break;
    case FAM_CTC:
        fam_build_ctc(c, r);
        break;
    default:
        fam_build_dice(c, r);
        break;
    }
}

static inline void
fam_free(fam_case *c)
{
    for (int k = 0; k < c->nv; k++) {
        free(c->v[k].block);
    }
    free(c->ints);
    free(c->work);
    free(c->bytes_work);
}

#include "families_run.h"

#endif /* PYLOSSFN_FAMILIES_H_ */
