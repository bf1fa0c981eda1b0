/* ctc_check.c -- the pre-pass of CTCLoss over its class targets (dtype-free). */
#include "../pylossfn.h"

lf_status
lf_ctc_check(const lf_ctc *a, lf_error *err)
{
    for (ptrdiff_t b = 0; b < a->N; b++) {
        for (int64_t s = 0; s < a->target_lengths[b]; s++) {
            const int64_t c = a->targets[a->tg_offset[b] + s];
            if (c < 0 || c >= a->C) {
                err->index = (ptrdiff_t)(a->tg_offset[b] + s);
                err->ivalue = c;
                return LF_ERR_CLASS;
            }
        }
    }
    return LF_OK;
}
