/* linear.c -- the fused classifier heads (LinearCrossEntropyLoss,
 * LinearBCEWithLogitsLoss): the per-tile softmax / sigmoid work between the
 * matrix products that pylossfn.functional runs through NumPy's BLAS. */
#define LF_IMPL "linear_impl.h"
#define LF_EXPORTS(K, KV)                                          \
    KV(lce_tile, (const lf_lce_tile *a, int mode), (a, mode))      \
    KV(lbce_tile, (const lf_lbce_tile *a), (a))
#include "variants.h"
