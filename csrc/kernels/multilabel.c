/* multilabel.c -- multi-label losses on logits: focal and asymmetric
 * (element-wise, LF_ML_LOSSES on ew_template.h), ZLPR, soft-F1. */
#define LF_IMPL "multilabel_impl.h"
#define LF_EXPORTS(K, KV)                                                             \
    K(double, multilabel_ew,                                                          \
      (const lf_elementwise *a, lf_multilabel_kind kind, const lf_ew_param *p),       \
      (a, kind, p))                                                                   \
    K(double, zlpr, (const lf_multilabel *a), (a))                                    \
    K(double, soft_f1, (const lf_multilabel *a, double eps, double *work), (a, eps, work))
#include "variants.h"
