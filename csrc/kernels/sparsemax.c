/* sparsemax.c -- sparsemax (Martins & Astudillo, 2016) and its loss. */
#define LF_IMPL "sparsemax_impl.h"
#define LF_EXPORTS(K, KV)                                \
    K(double, sparsemax_loss, (const lf_classes *a), (a)) \
    KV(sparsemax, (const lf_classes *a), (a))
#include "variants.h"
