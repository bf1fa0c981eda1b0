/*
 * half.c -- float16 / bfloat16 arrays to and from float32 runs: the one
 * place the binding's half-precision path touches half data (see half.h).
 * The contiguous loops are separate so that the compiler vectorizes them.
 */
#include "half.h"

#include "pool.h"
#include "pylossfn.h"

static void
widen_contiguous(lf_half_kind kind, const uint16_t *src, float *dst, ptrdiff_t n)
{
    if (kind == LF_HALF_F16) {
        for (ptrdiff_t i = 0; i < n; i++) {
            dst[i] = lf_f16_to_f32(src[i]);
        }
    }
    else {
        for (ptrdiff_t i = 0; i < n; i++) {
            dst[i] = lf_bf16_to_f32(src[i]);
        }
    }
}

static void
narrow_contiguous(lf_half_kind kind, const float *src, uint16_t *dst, ptrdiff_t n)
{
    if (kind == LF_HALF_F16) {
        for (ptrdiff_t i = 0; i < n; i++) {
            dst[i] = lf_f32_to_f16(src[i]);
        }
    }
    else {
        for (ptrdiff_t i = 0; i < n; i++) {
            dst[i] = lf_f32_to_bf16(src[i]);
        }
    }
}

void
lf_half_widen(lf_half_kind kind, const void *src, ptrdiff_t step, float *dst, ptrdiff_t n)
{
    const char *p = src;
    if (step == (ptrdiff_t)sizeof(uint16_t) && ((uintptr_t)p % sizeof(uint16_t)) == 0) {
        widen_contiguous(kind, (const uint16_t *)src, dst, n);
        return;
    }
    for (ptrdiff_t i = 0; i < n; i++, p += step) { /* any stride, any alignment */
        uint16_t h;
        memcpy(&h, p, sizeof(h));
        dst[i] = kind == LF_HALF_F16 ? lf_f16_to_f32(h) : lf_bf16_to_f32(h);
    }
}

void
lf_half_narrow(lf_half_kind kind, const float *src, void *dst, ptrdiff_t step, ptrdiff_t n)
{
    char *p = dst;
    if (step == (ptrdiff_t)sizeof(uint16_t) && ((uintptr_t)p % sizeof(uint16_t)) == 0) {
        narrow_contiguous(kind, src, (uint16_t *)dst, n);
        return;
    }
    for (ptrdiff_t i = 0; i < n; i++, p += step) {
        const uint16_t h = kind == LF_HALF_F16 ? lf_f32_to_f16(src[i]) : lf_f32_to_bf16(src[i]);
        memcpy(p, &h, sizeof(h));
    }
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
        widen_contiguous(c->kind, c->half + lo, c->f + lo, m);
    }
    else {
        narrow_contiguous(c->kind, c->f + lo, c->half + lo, m);
    }
    return 0.0;
}

void
lf_half_convert(lf_half_kind kind, int widen, void *half, float *f, ptrdiff_t n)
{
    convert_ctx c = {kind, widen, (uint16_t *)half, f, n};
    lf_parallel_sum(convert_unit, &c, (n + LF_UNIT_ELEMS - 1) / LF_UNIT_ELEMS, n);
}
