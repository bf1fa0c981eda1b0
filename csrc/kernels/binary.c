/* binary.c -- the binary (per-element, probability / logit) loss family:
 * BCE, BCE with logits, Poly-1 BCE (LF_BIN_LOSSES, on ew_template.h), BCE's
 * domain check, sigmoid and logsigmoid. */
#define LF_IMPL "binary_impl.h"
#define LF_EXPORTS(K, KV)                                                             \
    K(double, binary, (const lf_elementwise *a, lf_binary_kind kind, const lf_ew_param *p), \
      (a, kind, p))                                                                   \
    K(lf_status, bce_check, (const lf_elementwise *a, lf_error *err), (a, err))       \
    KV(sigmoid, (const lf_elementwise *a, int log), (a, log))                         \
    KV(vecmath, (int f, const T *x, T *out, ptrdiff_t n), (f, x, out, n))
#include "variants.h"
