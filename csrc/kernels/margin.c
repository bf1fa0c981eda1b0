/* margin.c -- multi-class hinge losses: multi-margin and multi-label margin. */
#define LF_IMPL "margin_impl.h"
#define LF_EXPORTS(K, KV)                                                             \
    K(double, multi_margin, (const lf_classes *a, int p, double margin), (a, p, margin)) \
    K(double, multilabel_margin, (const lf_classes *a, unsigned char *work), (a, work))
#include "variants.h"

lf_status
lf_margin_check(const lf_classes *a, int multilabel, lf_error *err)
{
    /* torch checks every entry of a multi-label target, also the padding
     * after the first -1 */
    const ptrdiff_t per_row = multilabel ? a->C : 1;
    const int64_t lo = multilabel ? -1 : 0;
    for (ptrdiff_t n = 0; n < a->N; n++) {
        for (ptrdiff_t k = 0; k < per_row; k++) {
            const int64_t t = *(const int64_t *)(a->target + n * a->t_n + k * a->t_c);
            if (t < lo || t >= a->C) {
                err->index = n * per_row + k;
                err->ivalue = t;
                return LF_ERR_CLASS;
            }
        }
    }
    err->index = -1;
    return LF_OK;
}
