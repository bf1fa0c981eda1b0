/*
 * pylossfn.h -- the C API of the pylossfn engine.
 *
 * Plain C99 and Python-free: the kernels take strided buffers (a base pointer
 * and a byte stride per dimension; a stride of 0 broadcasts), compute the loss
 * and, when asked, its gradient in the same pass, and return a status.  They
 * never call malloc: scratch space comes from the caller (the `work`
 * arguments), and the thread pool sums into a static buffer (it starts its
 * threads once, on the first call that can use them, and runs a call on the
 * calling thread alone when it cannot).  They never fail half-way: every
 * check that can fail runs in a pre-pass that writes nothing (BCE's
 * domain check may also run after the loss, see lf_bce_check).
 *
 * Each dtype-generic kernel exists as name_f32 (float) and name_f64 (double),
 * and each of those in one variant per instruction set (lf_set_isa).
 * Sums are accumulated in double through lf_pairwise(), so a float32 mean over
 * 1e7 elements is as good as the float32 result can be.
 */
#ifndef PYLOSSFN_H_
#define PYLOSSFN_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset: lf_dice_unit */

#ifdef __cplusplus
extern "C" {
#endif

#define LF_MAXDIMS 64

typedef enum {
    LF_OK = 0,
    LF_ERR_CLASS,        /* class index outside [0, C) and not ignore_index */
    LF_ERR_INPUT_DOMAIN, /* a probability input outside [0, 1] (or nan) */
    LF_ERR_TARGET_DOMAIN /* a probability target outside [0, 1] (or nan) */
} lf_status;

/* Where a pre-pass found bad data: the flat C-order position and the value. */
typedef struct {
    ptrdiff_t index;
    int64_t ivalue;
    double fvalue;
} lf_error;

typedef enum { LF_REDUCE_NONE = 0, LF_REDUCE_MEAN = 1, LF_REDUCE_SUM = 2 } lf_reduction;

/* ------------------------------------------------------------------------ */
/* Reduction primitive                                                      */
/* ------------------------------------------------------------------------ */

/* A block function computes elements [start, start + n) of some sequence
 * (n <= LF_PAIRWISE_BLOCK) and returns their sum. */
typedef double (*lf_block_fn)(void *ctx, ptrdiff_t start, ptrdiff_t n);

#define LF_PAIRWISE_BLOCK 128

/* Pairwise (cascade) summation of the values that fn produces for
 * [start, start + n): O(log n) rounding error, blocks visited in order. */
double lf_pairwise(lf_block_fn fn, void *ctx, ptrdiff_t start, ptrdiff_t n);

/* Two adjacent blocks at once: fn(ctx, start, n1) + fn(ctx, start + n1, n2),
 * bit for bit (n1, n2 <= LF_PAIRWISE_BLOCK), computed side by side so that
 * the two blocks' chains of dependent adds overlap. */
typedef double (*lf_pair_fn)(void *ctx, ptrdiff_t start, ptrdiff_t n1, ptrdiff_t n2);

/* lf_pairwise, with the pairs of blocks that its cascade adds first given to
 * pair (when not NULL): the same sum, bit for bit. */
double lf_pairwise_pairs(lf_block_fn fn, lf_pair_fn pair, void *ctx, ptrdiff_t start,
                         ptrdiff_t n);

/* Neumaier-compensated running sum, for sums of partial sums. */
typedef struct {
    double sum, comp;
} lf_ksum;

static inline void
lf_ksum_add(lf_ksum *k, double v)
{
    double t = k->sum + v;
    if ((k->sum >= 0 ? k->sum : -k->sum) >= (v >= 0 ? v : -v)) {
        k->comp += (k->sum - t) + v;
    }
    else {
        k->comp += (v - t) + k->sum;
    }
    k->sum = t;
}

static inline double
lf_ksum_value(const lf_ksum *k)
{
    /* Once the sum is inf (or nan) the compensation is inf - inf = nan and
     * means nothing: the sum alone is the answer.  (x - x != 0 exactly when
     * x is not finite, without needing <math.h> here.) */
    return k->sum - k->sum != 0 ? k->sum : k->sum + k->comp;
}

/* ------------------------------------------------------------------------ */
/* Element-wise family: every operand is iterated over one shape.           */
/* ------------------------------------------------------------------------ */

enum {
    LF_EW_INPUT = 0,
    LF_EW_TARGET,
    LF_EW_WEIGHT,      /* optional: NULL means 1 */
    LF_EW_POS_WEIGHT,  /* optional: NULL means 1 */
    LF_EW_GRAD_OUTPUT, /* optional: NULL means the scalar `scale` */
    LF_EW_OUT,         /* optional: per-element loss (reduction "none") */
    LF_EW_GRAD,        /* optional: gradient with respect to the input */
    LF_EW_INPUT2,      /* the second differentiable input (regression family) */
    LF_EW_GRAD2,       /* its gradient: present exactly when GRAD is */
    LF_EW_HESS,        /* optional: diagonal of the Hessian wrt the input (with GRAD) */
    LF_EW_HESS2,       /* optional: the same wrt INPUT2 (with HESS, two-input losses) */
    LF_EW_NOP
};

/* Every data slot must be set, NULL when absent. */
typedef struct {
    int ndim; /* >= 1 */
    ptrdiff_t shape[LF_MAXDIMS];
    char *data[LF_EW_NOP];
    ptrdiff_t strides[LF_EW_NOP][LF_MAXDIMS]; /* bytes; 0 broadcasts */
    double scale; /* gradient factor when data[LF_EW_GRAD_OUTPUT] is NULL */
    /* operands stored as float16 / bfloat16 (bit op set; half_kind 1: float16,
     * 2: bfloat16): only the float32 kernels of the element-wise template read
     * and write them, converting per block (issue 21) */
    unsigned half_ops;
    int half_kind;
} lf_elementwise;

/* The element-wise losses: each is a per-element loss, gradient and Hessian
 * (its point function) and one row of its family's list below, from which
 * kernels/ew_template.h makes the blocked, vectorized, threaded kernel of
 * every instruction set and dtype, and the family's dispatch:
 *
 *   X(KIND, name, param, setup, modes, flags)
 *
 * KIND is the loss's value in the family's enum (the argument of its
 * kernel); name the loss (its point function is name_point); param and
 * setup the kernel's parameter struct and the function that fills it from
 * an lf_ew_param, returning one of `modes` variants of the point function
 * compiled apart (a log target, an integer power, label smoothing on or
 * off); flags are LF_EW_TWO, LF_EW_ROWS and LF_EW_TRANSC.
 * The columns after `name` are the kernel's business: callers need KIND
 * alone. */
#define LF_EW_TWO 1  /* a second differentiable input: INPUT2, GRAD2, HESS2 */
#define LF_EW_ROWS 2 /* one loss per row of the last dim, the mean of its terms:
                      * OUT and GRAD_OUTPUT hold one value per row (their last
                      * stride is ignored / 0) */
#define LF_EW_TRANSC 4 /* its point function calls exp or log: an element is
                        * worth LF_WORK_TRANSC plain ones to the thread pool */
#define LF_EW_KIND(KIND, name, param, setup, modes, flags) KIND,

/* The options of every element-wise loss; each reads its own. */
typedef struct {
    double beta, delta, margin, eps;  /* regression */
    int log_target, log_input, full;  /* regression */
    double alpha, gamma;              /* focal (alpha < 0: no alpha term) */
    double gamma_neg, gamma_pos, clip; /* asymmetric (and eps) */
    double label_smoothing;           /* BCE: the target t becomes t (1 - e) + e / 2 */
    double epsilon;                   /* Poly-1: the weight of 1 - p_t */
} lf_ew_param;

/* Binary cross-entropy on probabilities and on logits (kernels/binary.c):
 *   BCE          ((y - 1) max(log(1 - x), -100) - y max(log x, -100)) w,
 *                every input and target in [0, 1]: an element outside (or
 *                nan) gives a nan loss, and lf_bce_check finds it;
 *   BCE_LOGITS   ((1 - y) x + ((pw - 1) y + 1) softplus(-x)) w;
 *   POLY_LOGITS  BCE_LOGITS + epsilon w (1 - p_t), p_t the sigmoid
 *                probability of the target (Leng et al. 2022, Poly-1).
 * label_smoothing applies to BCE and BCE_LOGITS. */
#define LF_BIN_LOSSES(X)                                    \
    X(LF_BIN_BCE, bce, bin_param, bce_setup, 2, LF_EW_TRANSC)                \
    X(LF_BIN_BCE_LOGITS, bce_logits, bin_param, bce_setup, 2, LF_EW_TRANSC)  \
    X(LF_BIN_POLY_LOGITS, poly_logits, bin_param, bin_setup, 1, LF_EW_TRANSC)

typedef enum { LF_BIN_LOSSES(LF_EW_KIND) LF_BIN_NKINDS } lf_binary_kind;

/* The loss `kind` over LF_EW_INPUT and LF_EW_TARGET, WEIGHT and POS_WEIGHT;
 * returns the sum of the losses. */
double lf_binary_f32(const lf_elementwise *a, lf_binary_kind kind, const lf_ew_param *p);
double lf_binary_f64(const lf_elementwise *a, lf_binary_kind kind, const lf_ew_param *p);

/* BCE's domain: the first input or target outside [0, 1] (or nan), as
 * LF_ERR_INPUT_DOMAIN / LF_ERR_TARGET_DOMAIN with *err set, else LF_OK.
 * Writes nothing: callers run it first, or after a nan sum. */
lf_status lf_bce_check_f32(const lf_elementwise *a, lf_error *err);
lf_status lf_bce_check_f64(const lf_elementwise *a, lf_error *err);

/* sigmoid / logsigmoid of LF_EW_INPUT into LF_EW_OUT. */
void lf_sigmoid_f32(const lf_elementwise *a, int log);
void lf_sigmoid_f64(const lf_elementwise *a, int log);

/* ------------------------------------------------------------------------ */
/* Class family: input viewed as [N, C, S] (S = product of spatial dims).   */
/* ------------------------------------------------------------------------ */

typedef struct {
    ptrdiff_t N, C, S;
    const char *input;
    ptrdiff_t in_n, in_c, in_s;
    const char *target; /* int64 class indices [N, S], or T probabilities [N, C, S] */
    ptrdiff_t t_n, t_c, t_s;
    const char *weight; /* T[C], or NULL */
    ptrdiff_t w_c;
    int64_t ignore_index;
    double label_smoothing;
    const char *grad_output; /* T[N, S] (reduction "none"), or NULL: `scale` */
    ptrdiff_t go_n, go_s;
    double scale;
    char *out; /* T[N, S] per-sample loss, or NULL */
    ptrdiff_t out_n, out_s;
    char *grad; /* T[N, C, S], or NULL */
    ptrdiff_t g_n, g_c, g_s;
    char *hess; /* T[N, C, S] zeroed, strides g_*: the Hessian's diagonal (with grad), or NULL */
    const char *vec; /* T[N, C, S], strides g_*, or NULL: hess receives H vec, not the diagonal */
    int grad_is_zero; /* grad already holds zeros (calloc'd): nll skips clearing it */
    int half_kind;    /* lf_half_kind: input, out and grad hold that half type
                       * (float32 NLL, cross-entropy, Poly-1, the margin losses,
                       * sparsemax, distillation, softmax; no Hessian), else 0 */
    int half_target;  /* with half_kind: the probability targets are of that
                       * half type too (else T) */
    float *stage;     /* with half_kind, rows of more than LF_CE_HALF_C
                       * classes (every kernel but NLL's): stage_slots
                       * buffers of LF_STAGE_ROWS C floats, one per thread
                       * (the call runs on at most stage_slots), where its
                       * rows are staged instead of the stack; else NULL */
    int stage_slots;
} lf_classes;

/* The most elements a half-precision class, ZLPR or Dice row may have on
 * the stack (its float32 copies live there); longer rows are staged in the
 * call's slots (lf_classes.stage, lf_multilabel.stage, lf_dice.stage). */
#define LF_CE_HALF_C 8192
/* Rows of C floats per stage slot: the input, target and gradient rows and
 * the class weights. */
#define LF_STAGE_ROWS 4

/* Pre-pass over int64 class targets: the first target outside [0, C) that is
 * not ignore_index is reported (LF_ERR_CLASS, flat index over [N, S]);
 * otherwise *total_weight = sum of weight[t] over the targets not ignored. */
lf_status lf_class_check_f32(const lf_classes *a, double *total_weight, lf_error *err);
lf_status lf_class_check_f64(const lf_classes *a, double *total_weight, lf_error *err);

/* Sums of per-sample losses (targets must have passed lf_class_check). */
double lf_nll_f32(const lf_classes *a);
double lf_nll_f64(const lf_classes *a);
double lf_cross_entropy_f32(const lf_classes *a);
double lf_cross_entropy_f64(const lf_classes *a);
double lf_cross_entropy_probs_f32(const lf_classes *a);
double lf_cross_entropy_probs_f64(const lf_classes *a);

/* softmax / log_softmax over the C axis of input into grad (as the output). */
void lf_softmax_f32(const lf_classes *a, int log);
void lf_softmax_f64(const lf_classes *a, int log);

/* ------------------------------------------------------------------------ */
/* More losses on the class view (kernels/poly.c, distill.c, sparsemax.c).  */
/* ------------------------------------------------------------------------ */

/* Poly-1 cross-entropy: cross_entropy (index targets, checked by
 * lf_class_check, or probabilities) plus epsilon w[t] (1 - p_t), with
 * p_t = sum_c y_c p_c and w = 1 for probabilities.  The sum of the losses. */
double lf_poly_cross_entropy_f32(const lf_classes *a, double epsilon);
double lf_poly_cross_entropy_f64(const lf_classes *a, double epsilon);
double lf_poly_cross_entropy_probs_f32(const lf_classes *a, double epsilon);
double lf_poly_cross_entropy_probs_f64(const lf_classes *a, double epsilon);

/* Distillation, S = 1: input student logits, target teacher logits (t_n,
 * t_c), both [N, C]; T^2 KL(softmax(target / T) || softmax(input / T)) per
 * term.  out and grad_output are [N, C] (out_n / out_s and go_n / go_s, the
 * class stride in the _s field).  temperature > 0.  The sum of the terms. */
double lf_distillation_f32(const lf_classes *a, double temperature);
double lf_distillation_f64(const lf_classes *a, double temperature);

/* sparsemax over the C axis of input into grad (as the output). */
void lf_sparsemax_f32(const lf_classes *a);
void lf_sparsemax_f64(const lf_classes *a);

/* The multi-class sparsemax loss, S = 1, int64 class targets [N] (t_n):
 * l = sum_c p_c (x_c - x_t) + (1 - |p|^2) / 2, p = sparsemax(x), gradient
 * p - onehot(t) (targets checked by lf_margin_check).  The sum of the
 * losses. */
double lf_sparsemax_loss_f32(const lf_classes *a);
double lf_sparsemax_loss_f64(const lf_classes *a);

/* ------------------------------------------------------------------------ */
/* Fused classifier heads (kernels/linear.c): one tile of logits at a time. */
/* ------------------------------------------------------------------------ */

/* A tile of logits x[r, j] = input[r] . weight[c0 + j] (+ bias), rows
 * [0, rows) of a row chunk and classes [c0, c0 + cols) of C, at `tile` with
 * `ld` bytes between rows and unit stride along a row.  The caller computes
 * the tile with a matrix product; the kernels overwrite it with the
 * gradient of the loss with respect to the logits, which the caller turns
 * into the three parameter gradients with two more products.
 *
 * Cross-entropy, per row: the loss is a * lse - b with lse the log-sum-exp
 * of the row's C logits, coef_c the weight of logit c in the smoothed
 * target ((1 - ls) w[t] [c == t] + ls / C w[c] for a class index t,
 * w[c] ((1 - ls) y_c + ls / C) for probabilities y), a = sum_c coef_c and
 * b = sum_c coef_c x_c; the gradient is
 * rowscale * (a * exp(x_c - lse) - coef_c). */
enum {
    LF_LCE_STATS = 0, /* m, s (running max and sum of exp(x - m)), a, b updated
                       * online with the tile's columns; the tile is not written */
    LF_LCE_FULL = 1,  /* the tile holds whole rows (c0 = 0, cols = C): m, s, a, b
                       * set, and the gradient written in place when `grad` */
    LF_LCE_GRAD = 2   /* the gradient in place from lse and a */
};

typedef struct {
    ptrdiff_t rows, cols, C, c0;
    char *tile;
    ptrdiff_t ld;
    const int64_t *target; /* [rows] class indices, or NULL: `probs` */
    const char *probs;     /* T [rows, C] probabilities (the whole row; c0 added here) */
    ptrdiff_t p_n, p_c;
    const char *weight; /* T[C] unit-stride, or NULL (all 1) */
    double wsum;        /* sum of the weights (C without them) */
    int64_t ignore_index;
    double label_smoothing;
    double *m, *s, *a, *b; /* [rows] */
    const double *lse;     /* [rows], LF_LCE_GRAD */
    const double *rowscale; /* [rows] gradient factor */
    int grad;               /* LF_LCE_FULL: write the gradient */
} lf_lce_tile;

/* Targets must be in [0, C) or ignore_index (rows with ignore_index keep
 * a = b = 0 and get a zero gradient). */
void lf_lce_tile_f32(const lf_lce_tile *a, int mode);
void lf_lce_tile_f64(const lf_lce_tile *a, int mode);

/* Binary cross-entropy with logits against a sparse multi-hot target: row
 * r's positive classes are pos[r * P + k], sorted ascending, duplicates
 * allowed, ended by the first value >= C (or after P).  loss[r] += the
 * tile's sum of
 *   softplus(x) (negatives),  pw_c softplus(-x) (positives);
 * `out` (T [rows, cols], row stride out_ld) receives the per-element losses;
 * when `grad`, the tile is overwritten with the gradient
 *   go * sigmoid(x) (negatives),  go * pw_c (sigmoid(x) - 1) (positives)
 * with go = rowscale[r], or the T element of `go` (row stride go_ld) when
 * that is given. */
typedef struct {
    ptrdiff_t rows, cols, C, c0;
    char *tile;
    ptrdiff_t ld;
    const int64_t *pos;
    ptrdiff_t P;
    const char *pos_weight; /* T[C] unit-stride, or NULL (all 1) */
    double *loss;           /* [rows] */
    char *out;              /* T, or NULL */
    ptrdiff_t out_ld;
    const double *rowscale; /* [rows], used when go is NULL */
    const char *go;
    ptrdiff_t go_ld;
    int grad;
} lf_lbce_tile;

void lf_lbce_tile_f32(const lf_lbce_tile *a);
void lf_lbce_tile_f64(const lf_lbce_tile *a);

/* ------------------------------------------------------------------------ */
/* Multi-label family (kernels/multilabel.c).                               */
/* ------------------------------------------------------------------------ */

/* The element-wise multi-label losses on logits (see LF_BIN_LOSSES):
 *   FOCAL       torchvision.ops.sigmoid_focal_loss (alpha, gamma >= 0);
 *   ASYMMETRIC  Ridnik et al. 2021, focusing weight differentiated too
 *               (gamma_neg, gamma_pos >= 0, clip in [0, 1), eps > 0).
 * WEIGHT and POS_WEIGHT are ignored.  Returns the sum of the losses. */
#define LF_ML_LOSSES(X)                                        \
    X(LF_ML_FOCAL, focal, focal_param, focal_setup, 5, LF_EW_TRANSC)  \
    X(LF_ML_ASYMMETRIC, asl, asl_param, asl_setup, 2, LF_EW_TRANSC)

typedef enum { LF_ML_LOSSES(LF_EW_KIND) LF_ML_NKINDS } lf_multilabel_kind;

double lf_multilabel_ew_f32(const lf_elementwise *a, lf_multilabel_kind kind,
                            const lf_ew_param *p);
double lf_multilabel_ew_f64(const lf_elementwise *a, lf_multilabel_kind kind,
                            const lf_ew_param *p);

/* A strided [N, C] view: N rows (samples) of C labels.  The loss has one
 * value per row (ZLPR) or per label (soft-F1); `out` and `grad_output` are
 * walked along that axis with `out_step` / `go_step`. */
typedef struct {
    ptrdiff_t N, C;
    const char *input;
    ptrdiff_t in_n, in_c;
    const char *target;
    ptrdiff_t t_n, t_c;
    const char *grad_output; /* T per loss value, or NULL: `scale` */
    ptrdiff_t go_step;
    double scale;
    char *out; /* T per loss value, or NULL */
    ptrdiff_t out_step;
    char *grad; /* T[N, C], or NULL */
    ptrdiff_t g_n, g_c;
    char *hess; /* T[N, C] zeroed, strides g_*: the Hessian's diagonal (with grad), or NULL */
    const char *vec; /* T[N, C], strides g_*, or NULL: hess receives H vec, not the diagonal */
    int half_kind;   /* lf_half_kind: input, out and grad hold that half type (float32
                      * ZLPR, soft-F1; no Hessian), else 0 */
    int half_target; /* with half_kind: the labels are of that half type too (else T) */
    float *stage;    /* with half_kind, ZLPR's rows of more than LF_CE_HALF_C labels:
                      * stage_slots buffers of LF_STAGE_ROWS C floats, one per
                      * thread (as lf_classes.stage), else NULL */
    int stage_slots;
} lf_multilabel;

/* Multi-label categorical cross-entropy (Su 2020, "ZLPR") per row:
 *   log(1 + sum_c (1 - y_c) e^{x_c}) + log(1 + sum_c y_c e^{-x_c}).
 * Returns the sum over rows. */
double lf_zlpr_f32(const lf_multilabel *a);
double lf_zlpr_f64(const lf_multilabel *a);

/* Macro soft-F1 cost per label: 1 - 2 TP / (2 TP + FP + FN + eps) with
 * counts summed over the N rows of p = sigmoid(x).  work holds 6 C doubles
 * (the caller allocates them).  Returns the sum over labels. */
double lf_soft_f1_f32(const lf_multilabel *a, double eps, double *work);
double lf_soft_f1_f64(const lf_multilabel *a, double eps, double *work);

/* ------------------------------------------------------------------------ */
/* Dice family (kernels/dice.c): overlap losses coupled over the batch.     */
/* ------------------------------------------------------------------------ */

/* Dice / Tversky on input [N, C, S] (C-contiguous; "binary" is C = 1).
 * p = softmax over C (`softmax`) or sigmoid per element; the target is
 * T[N, C, S] (C-contiguous) or, with softmax, class indices [N, S] in range.
 * Per term (class c, and sample n with `per_sample`), over the batch and S
 * (or S alone): I = sum p t, P = sum p, T = sum t and
 *   d = 1 - (I + smooth) / (I + alpha (P - I) + beta (T - I) + smooth),
 * times weight[c] (or, `generalized`, 1 / (T_c^2 + 1e-7) over the whole
 * batch, normalized to sum to C).  `out` and `grad_output` hold one T per
 * term (C order: [C] or [N, C]), walked with out_step / go_step.  work holds
 * lf_dice_work(a) doubles.  Returns the sum of the terms.  A half call
 * (half_kind) has the bits of the float32 kernel on the widened input and
 * target, its results narrowed once. */
typedef struct {
    ptrdiff_t N, C, S;
    const char *input;
    const char *target;   /* T[N, C, S], or NULL */
    const int64_t *index; /* [N, S] classes in [0, C), or NULL */
    int softmax, per_sample, generalized;
    double smooth, alpha, beta;
    const char *weight; /* T[C] (step w_c), or NULL */
    ptrdiff_t w_c;
    const char *grad_output; /* T per term, or NULL: `scale` */
    ptrdiff_t go_step;
    double scale;
    char *out; /* T per term, or NULL */
    ptrdiff_t out_step;
    char *grad; /* T[N, C, S] C-contiguous, or NULL */
    char *hess; /* T[N, C, S] C-contiguous: the Hessian's diagonal (with grad), or NULL */
    const char *vec; /* T[N, C, S] C-contiguous, or NULL: hess receives H vec, not the diagonal */
    int half_kind;   /* lf_half_kind of input, grad and out (float32 kernels, no
                        Hessian, no vec), else 0 */
    int half_target; /* the target is of that half type too (else T) */
    float *stage;    /* with half_kind, rows of more than LF_CE_HALF_C elements (C S):
                      * stage_slots buffers of LF_STAGE_ROWS C S floats, one per
                      * thread (as lf_classes.stage), else NULL */
    int stage_slots;
} lf_dice;

/* Blocks of rows whose partial sums a batch-wide term combines, in order. */
#define LF_DICE_BLOCKS 64

/* Rows per work unit: for the batch-wide sums a number of blocks fixed by
 * the shape (so that they do not depend on the thread count) -- one per
 * LF_DICE_UNIT elements, at most LF_DICE_BLOCKS: each block's partials are
 * merged serially (3 C additions a block), which at 64 blocks cost more than
 * the passes of a small batch --, about LF_DICE_UNIT elements otherwise. */
#define LF_DICE_UNIT 16384
static inline ptrdiff_t
lf_dice_rows(const lf_dice *a)
{
    const ptrdiff_t row = a->C * a->S > 0 ? a->C * a->S : 1;
    if (!a->per_sample) {
        /* (N row is the input's element count: it fits) */
        const ptrdiff_t by_work = a->N * row / LF_DICE_UNIT + 1;
        ptrdiff_t nb = a->N < LF_DICE_BLOCKS ? a->N : LF_DICE_BLOCKS;
        nb = by_work < nb ? by_work : nb;
        return nb > 0 ? (a->N + nb - 1) / nb : 1;
    }
    return row < LF_DICE_UNIT ? LF_DICE_UNIT / row : 1;
}

/* Unit u's rows [*n0, *n1) of lf_dice_rows(a) each, and its partials in
 * work (3 arrays of C, at work + 5 C + 3 u C), their first `zeroed` arrays
 * zeroed when the sums run over the batch (a per-sample call has none). */
static inline double *
lf_dice_unit(const lf_dice *a, double *work, ptrdiff_t u, int zeroed, ptrdiff_t *n0,
             ptrdiff_t *n1)
{
    const ptrdiff_t R = lf_dice_rows(a);
    *n0 = u * R;
    *n1 = a->N - *n0 < R ? a->N : *n0 + R;
    double *part = work + 5 * a->C + 3 * u * a->C;
    if (!a->per_sample && zeroed > 0) {
        memset(part, 0, (size_t)(zeroed * a->C) * sizeof(double));
    }
    return part;
}

/* The doubles of work up to the H v sums' end: 4 per term, C weights, 3 per
 * class and block, 2 per term (H v's sums of the term's e v and t v, in p). */
static inline ptrdiff_t
lf_dice_sums_end(const lf_dice *a)
{
    const ptrdiff_t rows = lf_dice_rows(a), units = (a->N + rows - 1) / rows;
    const ptrdiff_t terms = a->per_sample ? a->N * a->C : a->C;
    return 6 * terms + a->C + (a->per_sample ? 0 : 3 * units * a->C);
}

/* The doubles of work: those, then a half softmax call's (S = 1) max and
 * 1 / sum of exps per row, which pass one leaves for the gradient pass. */
static inline ptrdiff_t
lf_dice_work(const lf_dice *a)
{
    return lf_dice_sums_end(a) + (a->half_kind && a->softmax && a->S == 1 ? 2 * a->N : 0);
}

double lf_dice_f32(const lf_dice *a, double *work);
double lf_dice_f64(const lf_dice *a, double *work);

/* ------------------------------------------------------------------------ */
/* Embedding family (kernels/embedding.c): N rows of D features.            */
/* ------------------------------------------------------------------------ */

/* Up to three row operands of one shape [N, D] (anchor / positive /
 * negative, or x1 / x2), each with optional gradient outputs.  `target` is
 * a T per row (CosineEmbeddingLoss), `out` one T per row. */
typedef struct {
    ptrdiff_t N, D;
    const char *x[3];
    ptrdiff_t x_n[3], x_d[3];
    char *grad[3]; /* T[N, D] each, or NULL */
    ptrdiff_t g_n[3], g_d[3];
    const char *target;
    ptrdiff_t t_n;
    const char *grad_output; /* T per row, or NULL: `scale` */
    ptrdiff_t go_n;
    double scale;
    char *out;
    ptrdiff_t out_n;
    char *hess[3]; /* T[N, D] zeroed, strides g_*: Hessian diagonals (with grad), or NULL */
    const char *vec[3]; /* T[N, D], strides g_*, or NULL: hess receives H vec (all or none) */
    int half_kind; /* float32 kernels: x, grad and out hold half values (an
                    * lf_half_kind; D <= LF_ROWS_HALF_D, no Hessian), target
                    * and grad_output float32; else 0 */
} lf_rows;

/* The widest half row the embedding kernels stage on the stack (six rows of
 * floats: three operands and their gradients, 96 KiB). */
#define LF_ROWS_HALF_D 4096

/* The distance of TripletMarginWithDistanceLoss: torch.pairwise_distance
 * (||x1 - x2 + eps||_p) or 1 - cosine_similarity(x1, x2, -1, eps). */
typedef enum { LF_DIST_PNORM = 0, LF_DIST_COSINE = 1 } lf_distance;

/* pairwise_distance(x[0], x[1], p, eps) per row into out; p >= 0 or inf. */
void lf_pairwise_distance_f32(const lf_rows *a, double p, double eps);
void lf_pairwise_distance_f64(const lf_rows *a, double p, double eps);

/* cosine_similarity(x[0], x[1], eps) per row into out (norms clamped at eps). */
void lf_cosine_similarity_f32(const lf_rows *a, double eps);
void lf_cosine_similarity_f64(const lf_rows *a, double eps);

/* CosineEmbeddingLoss(x[0], x[1], target): returns the sum of the losses;
 * gradients into grad[0], grad[1]. */
double lf_cosine_embedding_f32(const lf_rows *a, double margin);
double lf_cosine_embedding_f64(const lf_rows *a, double margin);

/* TripletMarginLoss(x[0], x[1], x[2]): the sum of the losses; gradients of
 * all three into grad[0..2] (all present or all NULL), Hessians into
 * hess[0..2].  With gradients, work holds `slots` (at least 1) row buffers
 * of LF_TRIPLET_WORK(D) doubles and the call runs on at most `slots`
 * threads, each in its own buffer; without, work may be NULL (slots unused).
 * The result's bits do not depend on slots. */
#define LF_TRIPLET_WORK(D) (6 * (ptrdiff_t)(D) + 1)
double lf_triplet_f32(const lf_rows *a, lf_distance dist, double margin, double p,
                      double eps, int swap, double *work, int slots);
double lf_triplet_f64(const lf_rows *a, lf_distance dist, double margin, double p,
                      double eps, int swap, double *work, int slots);

/* ------------------------------------------------------------------------ */
/* Margin family (kernels/margin.c), on the lf_classes view with S = 1.     */
/* ------------------------------------------------------------------------ */

/* Pre-pass: every class target in [0, C) (multi-margin, target int64[N]) or
 * in [-1, C) (multi-label margin, target int64[N, C] with t_c); the first
 * bad one is reported (LF_ERR_CLASS, flat index), nothing is written. */
lf_status lf_margin_check(const lf_classes *a, int multilabel, lf_error *err);

/* MultiMarginLoss, p in {1, 2}: the sum of the per-sample losses. */
double lf_multi_margin_f32(const lf_classes *a, int p, double margin);
double lf_multi_margin_f64(const lf_classes *a, int p, double margin);

/* MultiLabelMarginLoss; work holds C bytes.  The sum of the losses. */
double lf_multilabel_margin_f32(const lf_classes *a, unsigned char *work);
double lf_multilabel_margin_f64(const lf_classes *a, unsigned char *work);

/* ------------------------------------------------------------------------ */
/* CTC (kernels/ctc.c).                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    ptrdiff_t steps, N, C; /* time steps (T), batch, classes */
    const char *log_probs; /* T[steps, N, C] */
    ptrdiff_t lp_t, lp_n, lp_c;
    const int64_t *targets;    /* contiguous; sequence b starts at tg_offset[b] */
    const int64_t *tg_offset;  /* N */
    const int64_t *input_lengths, *target_lengths; /* N each, validated */
    int64_t blank;
    int zero_infinity;
    int per_length; /* "mean": each loss divided by max(target_length, 1) */
    const char *grad_output; /* T[N], or NULL: `scale` */
    ptrdiff_t go_n;
    double scale;
    char *out; /* T[N] negative log-likelihoods, or NULL */
    ptrdiff_t out_n;
    char *grad; /* T[steps, N, C], or NULL */
    ptrdiff_t g_t, g_n, g_c;
    int half_kind; /* lf_half_kind of log_probs, out and grad (float32 kernels),
                      else 0: each sequence is widened into the unit's work */
} lf_ctc;

/* The sum over the batch of the losses (divided by their target lengths
 * when per_length).  work holds lf_ctc_work(a) doubles: the alpha and beta
 * lattices, 2 steps (2 S + 1) doubles with S the longest target, for each of
 * lf_ctc_units(a) work units (sequences in consecutive groups, run on the
 * thread pool), and in a half call a sequence's widened log-probabilities and
 * its float32 gradient (steps C doubles) for each unit.  A half call has the
 * bits of the float32 kernel on the widened log_probs, its results narrowed
 * once. */
double lf_ctc_f32(const lf_ctc *a, double *work);
double lf_ctc_f64(const lf_ctc *a, double *work);

/* The work units of a CTC call, a function of its shape alone (at most 16,
 * and fewer when their lattices would take more than 64 MiB), and the
 * doubles its work buffer must hold. */
ptrdiff_t lf_ctc_units(const lf_ctc *a);
size_t lf_ctc_work(const lf_ctc *a);

/* Pre-pass: every class of each target sequence (its target_length entries
 * from tg_offset) in [0, C); the first bad one is reported (LF_ERR_CLASS,
 * its position in `targets`), nothing is written. */
lf_status lf_ctc_check(const lf_ctc *a, lf_error *err);

/* ------------------------------------------------------------------------ */
/* Regression / element-wise family (kernels/regression.c).                 */
/* ------------------------------------------------------------------------ */

/* Losses with two differentiable inputs (margin ranking: input1, input2;
 * Gaussian NLL: input, var) carry the second one in LF_EW_INPUT2 and its
 * gradient in LF_EW_GRAD2 (present exactly when GRAD is). */

/* The options each reads: SMOOTH_L1 beta >= 0 (0 is L1, as in torch),
 * HUBER delta > 0, KL_DIV log_target, POISSON_NLL log_input, full, eps,
 * GAUSSIAN_NLL full, eps (INPUT2 = var >= 0 or nan), HINGE_EMBEDDING and
 * MARGIN_RANKING margin (INPUT2 = input2, TARGET = y).  MLSM is
 * MultiLabelSoftMarginLoss: the last of a->ndim (>= 2) dimensions holds the
 * C labels; per row, l = sum_c w (softplus(-x) + (1 - y) x) / C. */
#define LF_RG_LOSSES(X)                                                     \
    X(LF_RG_L1, l1, rg_param, rg_setup, 1, 0)                               \
    X(LF_RG_MSE, mse, rg_param, rg_setup, 1, 0)                             \
    X(LF_RG_SMOOTH_L1, smooth_l1, rg_param, smooth_l1_setup, 2, 0)          \
    X(LF_RG_HUBER, huber, rg_param, rg_setup, 1, 0)                         \
    X(LF_RG_SOFT_MARGIN, soft_margin, rg_param, rg_setup, 1, LF_EW_TRANSC)  \
    X(LF_RG_KL_DIV, kl_div, rg_param, kl_div_setup, 2, LF_EW_TRANSC)        \
    X(LF_RG_POISSON_NLL, poisson, rg_param, poisson_setup, 4, LF_EW_TRANSC) \
    X(LF_RG_GAUSSIAN_NLL, gaussian, rg_param, gaussian_setup, 2, LF_EW_TWO | LF_EW_TRANSC) \
    X(LF_RG_HINGE_EMBEDDING, hinge, rg_param, rg_setup, 1, 0)               \
    X(LF_RG_MARGIN_RANKING, ranking, rg_param, rg_setup, 1, LF_EW_TWO)      \
    X(LF_RG_MLSM, mlsm, rg_param, mlsm_setup, 1, LF_EW_ROWS | LF_EW_TRANSC) \
    X(LF_RG_LOG_COSH, log_cosh, rg_param, rg_setup, 1, LF_EW_TRANSC)

typedef enum { LF_RG_LOSSES(LF_EW_KIND) LF_RG_NKINDS } lf_regression_kind;

/* The per-element loss `kind` over LF_EW_INPUT and LF_EW_TARGET (and INPUT2),
 * times LF_EW_WEIGHT for L1, MSE, Huber and MLSM; returns the sum of the
 * losses.  Gradients follow torch's autograd, subgradients included:
 * sign(0) = 0 for L1, and a clamp_min passes the gradient where its
 * argument equals the bound. */
double lf_regression_f32(const lf_elementwise *a, lf_regression_kind kind, const lf_ew_param *p);
double lf_regression_f64(const lf_elementwise *a, lf_regression_kind kind, const lf_ew_param *p);

/* Gaussian NLL's H v, the mixed term included, in place of the diagonal that
 * lf_regression wrote into HESS and HESS2; v0 and v1 (for the input and var)
 * are laid out as those two outputs. */
void lf_gaussian_hvp_f32(const lf_elementwise *a, double eps, const char *v0, const char *v1);
void lf_gaussian_hvp_f64(const lf_elementwise *a, double eps, const char *v0, const char *v1);

/* Sum of LF_EW_INPUT (pairwise, in double). */
double lf_ew_sum_f32(const lf_elementwise *a);
double lf_ew_sum_f64(const lf_elementwise *a);

/* The first element of LF_EW_INPUT below 0 (nan passes): LF_ERR_INPUT_DOMAIN
 * with *err set, else LF_OK. */
lf_status lf_check_nonnegative_f32(const lf_elementwise *a, lf_error *err);
lf_status lf_check_nonnegative_f64(const lf_elementwise *a, lf_error *err);

/* The engine's vectorized exp (f = 0), log (1) and log1p (2), element-wise
 * over x[0, n) into out: exposed so that tests can check their accuracy. */
void lf_vecmath_f32(int f, const float *x, float *out, ptrdiff_t n);
void lf_vecmath_f64(int f, const double *x, double *out, ptrdiff_t n);

/* ------------------------------------------------------------------------ */
/* Execution                                                                */
/* ------------------------------------------------------------------------ */

/* Threads a kernel may use (>= 1).  The default is PYLOSSFN_NUM_THREADS, else
 * the CPUs this process may run on.  Results are bitwise the same for every
 * thread count.  lf_set_num_threads returns the count now in effect. */
int lf_set_num_threads(int n);
int lf_get_num_threads(void);

/* Interruption (Ctrl-C).  Before a long call, its calling thread names a poll
 * function (the Python binding's re-takes the GIL briefly and checks for
 * signals); the engine calls it on that thread between units of work, at most
 * every LF_POLL_MS milliseconds.  Once it returns nonzero, no further unit
 * starts on any thread, long units stop at their next checkpoint, and the
 * call's result is meaningless: lf_interrupt_end() then returns 1 and the
 * caller must discard whatever the call wrote.  Both run on the calling
 * thread, which must not be inside another lf_interrupt_begin(). */
#define LF_POLL_MS 50
typedef int (*lf_poll_fn)(void *ctx);
void lf_interrupt_begin(lf_poll_fn poll, void *ctx);
int lf_interrupt_end(void);
/* Inside a long loop of a kernel: nonzero when the call is being stopped
 * (return early: the result is discarded).  Cheap: a clock read on the
 * calling thread, an atomic load elsewhere. */
int lf_checkpoint(void);

/* Kernel variant: 2 AVX-512, 1 AVX2 + FMA, 0 baseline (SSE2 on x86-64).
 * The default is the best the CPU runs; a level above it (or < 0) selects
 * that best.  Returns the level now in effect.  Every variant gives the same
 * bits, except that the exp / log of the binary and class families fuse
 * multiply-adds on AVX2 and AVX-512, so their baseline may differ from those
 * two by about an ulp (tests/c/test_engine.c checks both). */
int lf_set_isa(int level);
/* The level in effect (detected on first use). */
int lf_isa(void);

/* ------------------------------------------------------------------------ */
/* Half precision (half.c; the scalar conversions are in kernels/half.h)   */
/* ------------------------------------------------------------------------ */

/* float16 and bfloat16 data run through the float32 kernels: the binding
 * widens them into float32 buffers and narrows the float32 results (round
 * to nearest even).  Steps are in bytes; the float32 side is contiguous. */
typedef enum { LF_HALF_NONE = 0, LF_HALF_F16 = 1, LF_HALF_BF16 = 2 } lf_half_kind;
void lf_half_widen(lf_half_kind kind, const void *src, ptrdiff_t step, float *dst, ptrdiff_t n);
void lf_half_narrow(lf_half_kind kind, const float *src, void *dst, ptrdiff_t step, ptrdiff_t n);
/* n contiguous, 2-byte aligned half values widened into (widen) or narrowed
 * from f, on the engine's threads when n is large. */
void lf_half_convert(lf_half_kind kind, int widen, void *half, float *f, ptrdiff_t n);

#ifdef __cplusplus
}
#endif

#endif /* PYLOSSFN_H_ */
