/* binary.c -- the binary (per-element, probability / logit) loss family. */
#define LF_IMPL "binary_impl.h"
#define LF_EXPORTS(K, KV)                                                             \
    K(lf_status, bce, (const lf_elementwise *a, double *sum, lf_error *err),          \
      (a, sum, err))                                                                  \
    K(double, bce_logits, (const lf_elementwise *a), (a))                             \
    KV(sigmoid, (const lf_elementwise *a, int log), (a, log))                         \
    KV(vecmath, (int f, const T *x, T *out, ptrdiff_t n), (f, x, out, n))
#include "variants.h"
