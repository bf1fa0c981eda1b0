/* poly.c -- Poly-1 cross-entropy (Leng et al., ICLR 2022) on the class view. */
#define LF_IMPL "poly_impl.h"
#define LF_EXPORTS(K, KV)                                                          \
    K(double, poly_cross_entropy, (const lf_classes *a, double epsilon), (a, epsilon)) \
    K(double, poly_cross_entropy_probs, (const lf_classes *a, double epsilon), (a, epsilon))
#include "variants.h"
