/*
 * pylossfn.h -- the C API of the pylossfn engine.
 *
 * Plain C99 and Python-free: the kernels take strided buffers (a base pointer
 * and a byte stride per dimension; a stride of 0 broadcasts), compute the loss
 * and, when asked, its gradient in the same pass, and return a status.  They
 * allocate nothing and never fail half-way: every check that can fail runs in
 * a pre-pass that writes nothing.
 *
 * Each dtype-generic kernel exists as name_f32 (float) and name_f64 (double).
 * Sums are accumulated in double through lf_pairwise(), so a float32 mean over
 * 1e7 elements is as good as the float32 result can be.
 */
#ifndef PYLOSSFN_H_
#define PYLOSSFN_H_

#include <stddef.h>
#include <stdint.h>

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
    LF_EW_NOP
};

typedef struct {
    int ndim; /* >= 1 */
    ptrdiff_t shape[LF_MAXDIMS];
    char *data[LF_EW_NOP];
    ptrdiff_t strides[LF_EW_NOP][LF_MAXDIMS]; /* bytes; 0 broadcasts */
    double scale; /* gradient factor when data[LF_EW_GRAD_OUTPUT] is NULL */
} lf_elementwise;

/* BCELoss on probabilities.  A pre-pass checks that every input and target
 * lies in [0, 1] (else LF_ERR_INPUT_DOMAIN / LF_ERR_TARGET_DOMAIN with *err
 * set, nothing written).  *sum receives the sum of the per-element losses. */
lf_status lf_bce_f32(const lf_elementwise *a, double *sum, lf_error *err);
lf_status lf_bce_f64(const lf_elementwise *a, double *sum, lf_error *err);

/* BCEWithLogitsLoss, with optional weight and pos_weight. */
double lf_bce_logits_f32(const lf_elementwise *a);
double lf_bce_logits_f64(const lf_elementwise *a);

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
} lf_classes;

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

#ifdef __cplusplus
}
#endif

#endif /* PYLOSSFN_H_ */
