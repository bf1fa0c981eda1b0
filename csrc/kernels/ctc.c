/* ctc.c -- connectionist temporal classification (CTCLoss). */
#define LF_IMPL "ctc_impl.h"
#define LF_EXPORTS(K, KV) K(double, ctc, (const lf_ctc *a, double *work), (a, work))
#include "variants.h"
