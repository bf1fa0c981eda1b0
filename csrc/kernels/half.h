/*
 * half.h -- float16 (IEEE binary16) and bfloat16 <-> float32, one value at a
 * time and in runs (the loops of both half.c and the element-wise template's
 * half operands); Python-free, so the C harness checks them over every bit
 * pattern.  Included outside any instruction-set region (variants.h), so
 * that each variant inlines and vectorizes them in its own instructions.
 *
 * Widening is exact for both.  Narrowing rounds to nearest, ties to even (the
 * rounding of NumPy's float16 casts, of ml_dtypes' bfloat16 and of torch's
 * .to(bfloat16)), overflows to inf, keeps nan a nan (quiet, sign and the
 * payload's top bits kept) and produces subnormals.  Written on the bits
 * with no table and at most one unpredictable branch, so that a loop over
 * them vectorizes; the one float addition (the float16 subnormal case) needs
 * the default rounding mode, which -ffast-math would not change but the
 * house never uses anyway.
 */
#ifndef PYLOSSFN_HALF_H_
#define PYLOSSFN_HALF_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "isa.h"

#if LF_HAVE_ISA_VARIANTS
#include <immintrin.h>
#endif

static inline uint32_t
lf_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static inline float
lf_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* bfloat16 is float32's top half: widening is a shift. */
static inline float
lf_bf16_to_f32(uint16_t h)
{
    return lf_bits_f32((uint32_t)h << 16);
}

static inline uint16_t
lf_f32_to_bf16(float f)
{
    const uint32_t u = lf_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        /* nan: the round below could carry it into inf; quieted, so a
         * signalling payload that lived only in the low bits stays a nan */
        return (uint16_t)((u >> 16) | 0x0040u);
    }
    /* ties to even: add just under half an ulp, plus the kept lsb */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* Branch-free (selects only), so that loops over it vectorize.  The
 * exponent is rebiased in place; a subnormal (exponent 0) gets exponent 1
 * and then 2^-14 subtracted in float, which renormalizes it exactly; inf and
 * nan (exponent 31) get the rest of float's exponent range.  A signalling
 * nan comes back quiet, its payload kept (as F16C's conversion gives it; a
 * subtraction of 0 would not do it: compilers drop it), so that every
 * variant gives the same bits. */
static inline float
lf_f16_to_f32(uint16_t h)
{
    const uint32_t o = (uint32_t)(h & 0x7fffu) << 13, e = o & 0x0f800000u;
    uint32_t adj = (127u - 15u) << 23;
    adj += e == 0x0f800000u ? (128u - 16u) << 23 : 0u;
    adj += e == 0 ? 1u << 23 : 0u;
    const float f = lf_bits_f32(o + adj) - (e == 0 ? 6.103515625e-05f : 0.0f);
    const uint32_t quiet = e == 0x0f800000u && (o & 0x007fe000u) ? 0x00400000u : 0u;
    return lf_bits_f32((lf_f32_bits(f) | quiet) | ((uint32_t)(h & 0x8000u) << 16));
}

/* After F. Giesen's float_to_half_fast3_rtne (public domain), written anew
 * with the three cases computed and one selected, so that it vectorizes. */
static inline uint16_t
lf_f32_to_f16(float f)
{
    const uint32_t u = lf_f32_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    /* |f| >= 2^16: inf, or nan (quiet, the payload's top bits kept) */
    const uint32_t big = a > 0x7f800000u ? 0x7e00u | ((a >> 13) & 0x3ffu) : 0x7c00u;
    /* below 2^-14, half's smallest normal: a subnormal or 0.  Adding 0.5 puts
     * 2^-24 at the float's last mantissa bit, so the FPU's own rounding
     * (to nearest even) is the half's. */
    const uint32_t tiny = lf_f32_bits(lf_bits_f32(a & 0x3fffffffu) + 0.5f) - 0x3f000000u;
    /* rebias the exponent (127 -> 15), round off 13 bits to nearest even; a
     * carry out of the mantissa bumps the exponent (65520 -> inf) */
    const uint32_t normal = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;
    const uint32_t r = a >= 0x47800000u ? big : a < 0x38800000u ? tiny : normal;
    return (uint16_t)(sign | r);
}

#if LF_HAVE_ISA_VARIANTS
/* float16 runs in F16C's conversion instructions, eight values each: the
 * same bits as lf_f16_to_f32 / lf_f32_to_f16 (both are IEEE conversions,
 * round to nearest even, a nan quieted with its payload's top bits kept;
 * F16C ignores MXCSR's flush-to-zero and denormals-are-zero), which
 * tests/c/test_half.h checks over every float16 pattern and the ties.  Every
 * CPU with AVX2 has F16C, and the engine's AVX2 level requires it (isa.c), so
 * these run at level 1 and up.  Declared for their own target, outside the
 * variants' regions: the AVX2 and AVX-512 variants inline them, half.c
 * (outside the regions) calls them when lf_isa() >= 1. */
__attribute__((target("avx,f16c"))) static inline void
lf_f16_widen_f16c(const uint16_t *h, float *dst, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(v));
    }
    for (; i < n; i++) {
        dst[i] = _cvtsh_ss(h[i]);
    }
}

__attribute__((target("avx,f16c"))) static inline void
lf_f32_narrow_f16c(const float *src, uint16_t *h, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i v = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(h + i), v);
    }
    for (; i < n; i++) {
        h[i] = (uint16_t)_cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
    }
}
#define LF_F16C(level) ((level) >= 1)

/* bfloat16 narrowing in AVX2, sixteen floats a step: lf_f32_to_bf16's
 * rounding (add 0x7fff plus the kept lsb, keep the top half) on the integer
 * lanes, packed to 16 bits.  That rounding is right for every float but a
 * nan (its carry could reach the exponent), so one unordered compare of the
 * two vectors asks whether either holds a nan, and such a block (rare) goes
 * through lf_f32_to_bf16 instead of a per-lane select.  A run that is not a
 * multiple of sixteen ends with a block that overlaps the one before it
 * (the same bits written twice; src and h never overlap), not a scalar tail:
 * the template's blocks are 64 to 128 long.  Half the time of the
 * vectorized scalar loop in AVX2 (whose select and narrowing cost about
 * eight operations a lane); same bits, tests/c/test_half.h checks it beside
 * the scalar function at every level. */
__attribute__((target("avx2"))) static inline __m256i
lf_bf16_round_avx2(__m256i u)
{
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb);
    return _mm256_srli_epi32(r, 16);
}

/* src[0..16) narrowed into h[0..16). */
__attribute__((target("avx2"))) static inline void
lf_bf16_narrow16_avx2(const float *src, uint16_t *h)
{
    const __m256 x = _mm256_loadu_ps(src), y = _mm256_loadu_ps(src + 8);
    if (_mm256_movemask_ps(_mm256_cmp_ps(x, y, _CMP_UNORD_Q))) {
        for (int k = 0; k < 16; k++) {
            h[k] = lf_f32_to_bf16(src[k]);
        }
        return;
    }
    const __m256i a = lf_bf16_round_avx2(_mm256_castps_si256(x));
    const __m256i b = lf_bf16_round_avx2(_mm256_castps_si256(y));
    /* packus interleaves the 128-bit lanes (a0 b0 a1 b1): put them back */
    const __m256i v = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
    _mm256_storeu_si256((__m256i *)(void *)h, v);
}

__attribute__((target("avx2"))) static inline void
lf_f32_narrow_bf16_avx2(const float *src, uint16_t *h, ptrdiff_t n)
{
    if (n < 16) {
        for (ptrdiff_t i = 0; i < n; i++) {
            h[i] = lf_f32_to_bf16(src[i]);
        }
        return;
    }
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        lf_bf16_narrow16_avx2(src + i, h + i);
    }
    if (i < n) {
        lf_bf16_narrow16_avx2(src + n - 16, h + n - 16);
    }
}

/* bfloat16 widening in AVX2, eight values a step (a zero-extension and a
 * shift), shaped as the F16C loop: gcc's own vectorization of
 * lf_bf16_to_f32 reads each 32 bytes twice and streams from memory
 * markedly slower than F16C's loop (a loss over 20 million bfloat16 values
 * 0.54 ns an element against float16's 0.39, one thread).  A run that is not
 * a multiple of eight ends with an overlapping step, as the narrowing. */
__attribute__((target("avx2"))) static inline void
lf_bf16_widen8_avx2(const uint16_t *h, float *dst)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)h);
    _mm256_storeu_si256((__m256i *)(void *)dst, _mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

__attribute__((target("avx2"))) static inline void
lf_bf16_widen_avx2(const uint16_t *h, float *dst, ptrdiff_t n)
{
    if (n < 8) {
        for (ptrdiff_t i = 0; i < n; i++) {
            dst[i] = lf_bf16_to_f32(h[i]);
        }
        return;
    }
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        lf_bf16_widen8_avx2(h + i, dst + i);
    }
    if (i < n) {
        lf_bf16_widen8_avx2(h + n - 8, dst + n - 8);
    }
}

/* the AVX2 level only: the AVX-512 variant's own vectorization of the scalar
 * loops streams faster (MSE bfloat16 at 8192x5000 14.1 ms against 16.3 through
 * these), so it keeps them */
#define LF_BF16_AVX2(level) ((level) == 1)
#else
#define LF_F16C(level) 0
#define lf_f16_widen_f16c(h, dst, n) ((void)0)
#define lf_f32_narrow_f16c(src, h, n) ((void)0)
#define LF_BF16_AVX2(level) 0
#define lf_f32_narrow_bf16_avx2(src, h, n) ((void)0)
#define lf_bf16_widen_avx2(h, dst, n) ((void)0)
#endif

/* n half values (bfloat16 if bf16, else float16) step bytes apart from p,
 * widened into dst.  An aligned unit-stride run is a loop per format, which
 * vectorizes; any other stride or address is read by memcpy. */
static inline LF_ALWAYS_INLINE void
lf_half_widen_at(int level, int bf16, const char *p, ptrdiff_t step, float *dst, ptrdiff_t n)
{
    if (step == (ptrdiff_t)sizeof(uint16_t) && (uintptr_t)p % sizeof(uint16_t) == 0) {
        const uint16_t *h = (const uint16_t *)(const void *)p;
        if (bf16 && LF_BF16_AVX2(level)) {
            lf_bf16_widen_avx2(h, dst, n);
        }
        else if (bf16) {
            for (ptrdiff_t i = 0; i < n; i++) {
                dst[i] = lf_bf16_to_f32(h[i]);
            }
        }
        else if (LF_F16C(level)) {
            lf_f16_widen_f16c(h, dst, n);
        }
        else {
            for (ptrdiff_t i = 0; i < n; i++) {
                dst[i] = lf_f16_to_f32(h[i]);
            }
        }
    }
    else {
        for (ptrdiff_t i = 0; i < n; i++) {
            uint16_t v;
            memcpy(&v, p + i * step, sizeof(v));
            dst[i] = bf16 ? lf_bf16_to_f32(v) : lf_f16_to_f32(v);
        }
    }
}

/* src's n floats narrowed (round to nearest even) into half values step
 * bytes apart from p; the loops as lf_half_widen_at's. */
static inline LF_ALWAYS_INLINE void
lf_half_narrow_at(int level, int bf16, const float *src, char *p, ptrdiff_t step, ptrdiff_t n)
{
    if (step == (ptrdiff_t)sizeof(uint16_t) && (uintptr_t)p % sizeof(uint16_t) == 0) {
        uint16_t *h = (uint16_t *)(void *)p;
        if (bf16 && LF_BF16_AVX2(level)) {
            lf_f32_narrow_bf16_avx2(src, h, n);
        }
        else if (bf16) {
            for (ptrdiff_t i = 0; i < n; i++) {
                h[i] = lf_f32_to_bf16(src[i]);
            }
        }
        else if (LF_F16C(level)) {
            lf_f32_narrow_f16c(src, h, n);
        }
        else {
            for (ptrdiff_t i = 0; i < n; i++) {
                h[i] = lf_f32_to_f16(src[i]);
            }
        }
    }
    else {
        for (ptrdiff_t i = 0; i < n; i++) {
            const uint16_t v = bf16 ? lf_f32_to_bf16(src[i]) : lf_f32_to_f16(src[i]);
            memcpy(p + i * step, &v, sizeof(v));
        }
    }
}

/* The runs in the instructions of the code that calls them: LF_ISA_HERE is
 * the variant's level inside an instruction-set region (isa_begin.h: a
 * constant, so each variant keeps only its own loop and asks nothing at run
 * time), lf_isa() outside one (half.c). */
#ifndef LF_ISA_HERE
#define LF_ISA_HERE lf_isa()
#endif
#define lf_half_widen_run(bf16, p, step, dst, n) \
    lf_half_widen_at(LF_ISA_HERE, bf16, p, step, dst, n)
#define lf_half_narrow_run(bf16, src, p, step, n) \
    lf_half_narrow_at(LF_ISA_HERE, bf16, src, p, step, n)

#endif /* PYLOSSFN_HALF_H_ */
