/*
 * half.c -- float16 / bfloat16 arrays to and from float32 runs: the one
 * place the binding's half-precision path touches half data.  The loops
 * are half.h's, shared with the element-wise template's half operands.
 */
#include "half.h"

#include "pool.h"
#include "pylossfn.h"

/* The pointers may be unaligned and the strides any (lf_half_widen_run's
 * memcpy loop takes them). */
void
lf_half_widen(lf_half_kind kind, const void *src, ptrdiff_t step, float *dst, ptrdiff_t n)
{
    lf_half_widen_run(kind != LF_HALF_F16, src, step, dst, n);
}

void
lf_half_narrow(lf_half_kind kind, const float *src, void *dst, ptrdiff_t step, ptrdiff_t n)
{
    lf_half_narrow_run(kind != LF_HALF_F16, src, dst, step, n);
}

/* One conversion cut into the pool's units (each thread takes whole units;
 * the "sum" is 0: lf_parallel_sum is used as a parallel for). */
typedef struct {
    lf_half_kind kind;
    int widen;
    uint16_t *half;
    float *f;
    ptrdiff_t n;
} convert_ctx;

static double
convert_unit(void *ctx, ptrdiff_t unit)
{
    const convert_ctx *c = ctx;
    const ptrdiff_t lo = unit * LF_UNIT_ELEMS;
    const ptrdiff_t m = c->n - lo < LF_UNIT_ELEMS ? c->n - lo : LF_UNIT_ELEMS;
    if (c->widen) {
        lf_half_widen_run(c->kind != LF_HALF_F16, (const char *)(c->half + lo),
                          (ptrdiff_t)sizeof(uint16_t), c->f + lo, m);
    }
    else {
        lf_half_narrow_run(c->kind != LF_HALF_F16, c->f + lo, (char *)(c->half + lo),
                           (ptrdiff_t)sizeof(uint16_t), m);
    }
    return 0.0;
}

void
lf_half_convert(lf_half_kind kind, int widen, void *half, float *f, ptrdiff_t n)
{
    convert_ctx c = {kind, widen, (uint16_t *)half, f, n};
    lf_parallel_sum(convert_unit, &c, (n + LF_UNIT_ELEMS - 1) / LF_UNIT_ELEMS, n);
}
