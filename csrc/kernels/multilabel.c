/* multilabel.c -- multi-label losses on logits: focal, asymmetric, ZLPR, soft-F1. */
#define LF_IMPL "multilabel_impl.h"
#define LF_EXPORTS(K, KV)                                                             \
    K(double, sigmoid_focal, (const lf_elementwise *a, double alpha, double gamma),   \
      (a, alpha, gamma))                                                              \
    K(double, asymmetric,                                                             \
      (const lf_elementwise *a, double gamma_neg, double gamma_pos, double clip,      \
       double eps),                                                                   \
      (a, gamma_neg, gamma_pos, clip, eps))                                           \
    K(double, zlpr, (const lf_multilabel *a), (a))                                    \
    K(double, soft_f1, (const lf_multilabel *a, double eps, double *work), (a, eps, work))
#include "variants.h"
