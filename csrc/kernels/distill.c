/* distill.c -- knowledge distillation (Hinton et al., 2015) on [N, C] logits. */
#define LF_IMPL "distill_impl.h"
#define LF_EXPORTS(K, KV) \
    K(double, distillation, (const lf_classes *a, double temperature), (a, temperature))
#include "variants.h"
