/* classification.c -- the class-index / softmax loss family. */
#include <math.h>
#include <string.h>

#include "iter.h"

/* The kernels once per instruction set and dtype. */
#define LF_IMPL "classification_impl.h"
#include "variants.h"

#include "dispatch.h"

lf_status
lf_class_check_f32(const lf_classes *a, double *total_weight, lf_error *err)
{
    DISPATCH(class_check_f32, (a, total_weight, err))
}

double
lf_nll_f32(const lf_classes *a)
{
    DISPATCH(nll_f32, (a))
}

double
lf_cross_entropy_f32(const lf_classes *a)
{
    DISPATCH(cross_entropy_f32, (a))
}

double
lf_cross_entropy_probs_f32(const lf_classes *a)
{
    DISPATCH(cross_entropy_probs_f32, (a))
}

void
lf_softmax_f32(const lf_classes *a, int log)
{
    DISPATCH_VOID(softmax_f32, (a, log))
}

lf_status
lf_class_check_f64(const lf_classes *a, double *total_weight, lf_error *err)
{
    DISPATCH(class_check_f64, (a, total_weight, err))
}

double
lf_nll_f64(const lf_classes *a)
{
    DISPATCH(nll_f64, (a))
}

double
lf_cross_entropy_f64(const lf_classes *a)
{
    DISPATCH(cross_entropy_f64, (a))
}

double
lf_cross_entropy_probs_f64(const lf_classes *a)
{
    DISPATCH(cross_entropy_probs_f64, (a))
}

void
lf_softmax_f64(const lf_classes *a, int log)
{
    DISPATCH_VOID(softmax_f64, (a, log))
}
