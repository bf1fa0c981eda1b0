/* regression.c -- the regression / element-wise loss family: L1, MSE, smooth L1,
 * Huber, soft margin, KL divergence, Poisson and Gaussian NLL, hinge embedding,
 * margin ranking, multi-label soft margin (LF_RG_LOSSES, on ew_template.h);
 * and the binding's helpers over element-wise operands (a sum, a sign check). */
#define LF_IMPL "regression_impl.h"
#define LF_EXPORTS(K, KV)                                                             \
    K(double, regression,                                                             \
      (const lf_elementwise *a, lf_regression_kind kind, const lf_ew_param *p),       \
      (a, kind, p))                                                                   \
    KV(gaussian_hvp, (const lf_elementwise *a, double eps, const char *v0, const char *v1), \
       (a, eps, v0, v1))                                                              \
    K(double, ew_sum, (const lf_elementwise *a), (a))                                 \
    K(lf_status, check_nonnegative, (const lf_elementwise *a, lf_error *err), (a, err))
#include "variants.h"
