/* binary.c -- the binary (per-element, probability / logit) loss family. */
#include <math.h>

#include "iter.h"

/* The kernels once per instruction set and dtype. */
#define LF_IMPL "binary_impl.h"
#include "variants.h"

#include "dispatch.h"

lf_status
lf_bce_f32(const lf_elementwise *a, double *sum, lf_error *err)
{
    DISPATCH(bce_f32, (a, sum, err))
}

lf_status
lf_bce_f64(const lf_elementwise *a, double *sum, lf_error *err)
{
    DISPATCH(bce_f64, (a, sum, err))
}

double
lf_bce_logits_f32(const lf_elementwise *a)
{
    DISPATCH(bce_logits_f32, (a))
}

double
lf_bce_logits_f64(const lf_elementwise *a)
{
    DISPATCH(bce_logits_f64, (a))
}

void
lf_sigmoid_f32(const lf_elementwise *a, int log)
{
    DISPATCH_VOID(sigmoid_f32, (a, log))
}

void
lf_sigmoid_f64(const lf_elementwise *a, int log)
{
    DISPATCH_VOID(sigmoid_f64, (a, log))
}

void
lf_vecmath_f32(int f, const float *x, float *out, ptrdiff_t n)
{
    DISPATCH_VOID(vecmath_f32, (f, x, out, n))
}

void
lf_vecmath_f64(int f, const double *x, double *out, ptrdiff_t n)
{
    DISPATCH_VOID(vecmath_f64, (f, x, out, n))
}
