/* classification.c -- the class-index / softmax loss family. */
#define LF_IMPL "classification_impl.h"
#define LF_EXPORTS(K, KV)                                                             \
    K(lf_status, class_check, (const lf_classes *a, double *total_weight, lf_error *err), \
      (a, total_weight, err))                                                         \
    K(double, nll, (const lf_classes *a), (a))                                        \
    K(double, cross_entropy, (const lf_classes *a), (a))                              \
    K(double, cross_entropy_probs, (const lf_classes *a), (a))                        \
    KV(softmax, (const lf_classes *a, int log), (a, log))
#include "variants.h"
