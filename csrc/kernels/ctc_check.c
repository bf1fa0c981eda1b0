/* ctc_check.c -- the dtype-free parts of CTCLoss: the pre-pass over its class
 * targets and the size of its work. */
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

/* Doubles of one unit's alpha and beta lattices, 2 steps (2 S + 1), and in
 * a half call its sequence's float32 log-probabilities and gradient (2 steps
 * C floats). */
static size_t
ctc_lattices(const lf_ctc *a)
{
    int64_t max_tl = 0;
    for (ptrdiff_t b = 0; b < a->N; b++) {
        max_tl = a->target_lengths[b] > max_tl ? a->target_lengths[b] : max_tl;
    }
    return 2 * (size_t)a->steps * (size_t)(2 * max_tl + 1) +
           (a->half_kind ? (size_t)a->steps * (size_t)a->C : 0);
}

ptrdiff_t
lf_ctc_units(const lf_ctc *a)
{
    const size_t budget = (size_t)64 << 20; /* bytes of the work of all units */
    const size_t each = ctc_lattices(a) * sizeof(double);
    ptrdiff_t units = a->N < 16 ? a->N : 16;
    while (units > 1 && (size_t)units * each > budget) {
        units--;
    }
    return units < 1 ? 1 : units;
}

size_t
lf_ctc_work(const lf_ctc *a)
{
    return (size_t)lf_ctc_units(a) * ctc_lattices(a);
}
