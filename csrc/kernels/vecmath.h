/*
 * vecmath.h -- exp, log and log1p written so that gcc vectorizes them
 * (engine-internal).
 *
 * libm's expf/logf are calls that stop a loop from vectorizing, and
 * -ffast-math (which would allow glibc's vector versions) would also delete
 * the nan/inf semantics the losses keep.  These are branch-free: the range
 * reduction works on the bit patterns, special values are blended in at the
 * end, and every operation maps to a vector instruction (SSE2 up to
 * AVX-512).  Accuracy is about 1 ulp (tests/test_vecmath.py checks them
 * against NumPy's float64 functions over the whole range).
 *
 * No include guard: isa_begin.h sets LF_ISA_SUFFIX and a target, and this
 * header is included once per instruction set, so VM(name) names differ.
 */
#include <stdint.h>
#include <string.h>

#define LF_VM_CAT_(a, b) a##b
#define LF_VM_CAT(a, b) LF_VM_CAT_(a, b)
#define VM(name) LF_VM_CAT(name, LF_ISA_SUFFIX)

/* Always inlined: a loop that calls one of these (rather than inlining it)
 * cannot vectorize, and gcc's size heuristics stop inlining in the larger
 * block functions (ew_template.h compiles each loss several times). */
#ifndef LF_VM_INLINE
#if defined(__GNUC__)
#define LF_VM_INLINE static inline __attribute__((always_inline))
#else
#define LF_VM_INLINE static inline
#endif
#endif

/* A fused multiply-add where the target has one (one rounding, faster);
 * a*b + c elsewhere (libm's fma would be a slow call there). */
#ifdef __FMA__
#define LF_FMAF(a, b, c) __builtin_fmaf((a), (b), (c))
#define LF_FMA(a, b, c) __builtin_fma((a), (b), (c))
#else
#define LF_FMAF(a, b, c) ((a) * (b) + (c))
#define LF_FMA(a, b, c) ((a) * (b) + (c))
#endif

LF_VM_INLINE float
VM(lf_f32_of)(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

LF_VM_INLINE uint32_t
VM(lf_u32_of)(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

LF_VM_INLINE double
VM(lf_f64_of)(uint64_t u)
{
    double f;
    memcpy(&f, &u, sizeof f);
    return f;
}

LF_VM_INLINE uint64_t
VM(lf_u64_of)(double f)
{
    uint64_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* exp(x): x = n ln2 + r, |r| <= ln2/2, exp(r) by Cephes' expf polynomial,
 * 2^n applied in two halves so that subnormal results round only once. */
LF_VM_INLINE float
VM(lf_vexpf)(float x)
{
    /* beyond these bounds the result is inf / 0 anyway; nan passes through
     * both comparisons unchanged */
    float xc = x > 89.0f ? 89.0f : x;
    xc = xc < -104.0f ? -104.0f : xc;
    const float shift = 0x1.8p23f; /* adding it rounds to an integer */
    const float t = LF_FMAF(xc, 0x1.715476p+0f, shift);
    const float n = t - shift;
    const int32_t ni = (int32_t)(VM(lf_u32_of)(t) - VM(lf_u32_of)(shift));
    float r = LF_FMAF(n, -0.693359375f, xc); /* n * 0.693359375 is exact */
    r = LF_FMAF(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = LF_FMAF(p, r, 1.3981999507e-3f);
    p = LF_FMAF(p, r, 8.3334519073e-3f);
    p = LF_FMAF(p, r, 4.1665795894e-2f);
    p = LF_FMAF(p, r, 1.6666665459e-1f);
    p = LF_FMAF(p, r, 5.0000001201e-1f);
    const float y = LF_FMAF(p, r * r, r) + 1.0f;
    const int32_t n1 = ni / 2, n2 = ni - n1;
    const float s1 = VM(lf_f32_of)((uint32_t)(n1 + 127) << 23);
    /* below the clamp the result is 0: a zero scale gives it without forming
     * a subnormal product (each costs a microcode assist of ~100 cycles, and
     * exp(-inf) is common: masked logits, CTC's empty alignments) */
    const float s2 = x < -104.0f ? 0.0f : VM(lf_f32_of)((uint32_t)(n2 + 127) << 23);
    return y * s1 * s2;
}

/* The heart of log(x) for x = 2^k m, m in [sqrt(1/2), sqrt(2)): ix is the
 * bit pattern of x (normal and positive) offset so that its exponent field
 * holds k, fk = k.  log(m) by Cephes' logf polynomial in f = m - 1. */
LF_VM_INLINE float
VM(lf_vlog_reducedf)(uint32_t ix, float fk)
{
    ix = (ix & 0x007fffffu) + 0x3f3504f3u;
    const float f = VM(lf_f32_of)(ix) - 1.0f;
    const float z = f * f;
    float p = 7.0376836292e-2f;
    p = LF_FMAF(p, f, -1.1514610310e-1f);
    p = LF_FMAF(p, f, 1.1676998740e-1f);
    p = LF_FMAF(p, f, -1.2420140846e-1f);
    p = LF_FMAF(p, f, 1.4249322787e-1f);
    p = LF_FMAF(p, f, -1.6668057665e-1f);
    p = LF_FMAF(p, f, 2.0000714765e-1f);
    p = LF_FMAF(p, f, -2.4999993993e-1f);
    p = LF_FMAF(p, f, 3.3333331174e-1f);
    float y = p * f * z;
    y = LF_FMAF(fk, -2.12194440e-4f, y);
    y = LF_FMAF(-0.5f, z, y);
    return LF_FMAF(fk, 0.693359375f, f + y);
}

/* log(x): x = 2^k m, m in [sqrt(1/2), sqrt(2)), log(m) by Cephes' logf
 * polynomial in f = m - 1. */
LF_VM_INLINE float
VM(lf_vlogf)(float x)
{
    const int sub = x < 0x1p-126f; /* subnormal (or <= 0): scale up first */
    const float xs = sub ? x * 0x1p23f : x;
    const uint32_t ix = VM(lf_u32_of)(xs) + (0x3f800000u - 0x3f3504f3u);
    const int32_t k = (int32_t)(ix >> 23) - 0x7f - (sub ? 23 : 0);
    const float r = VM(lf_vlog_reducedf)(ix, (float)k);
    /* 0 -> -inf, inf -> inf, negative -> nan, nan -> nan */
    const float special = x == 0.0f ? -(float)INFINITY : (x < 0.0f ? (float)NAN : x);
    return ((x > 0.0f) & (x < (float)INFINITY)) ? r : special;
}

/* log1p(x) given inv = 1 / (1 + x): log(u) with u = 1 + x rounded, plus the
 * first-order correction for that rounding, (x - (u - 1)) / u.  Callers that
 * need 1 / (1 + x) anyway (the sigmoid) pass it, saving a division. */
LF_VM_INLINE float
VM(lf_vlog1p_invf)(float x, float inv)
{
    const float u = 1.0f + x;
    const float lu = VM(lf_vlogf)(u);
    const float r = lu + (x - (u - 1.0f)) * inv;
    /* x = -1, inf, nan: the correction would be nan; log(u) is the answer */
    return ((u > 0.0f) & (u < (float)INFINITY)) ? r : lu;
}

/* log1p(e) for e in [0, 1], given inv = 1 / (1 + e): lf_vlog1p_invf without
 * the subnormal and special-value handling, which 1 + e in [1, 2] never
 * needs.  A nan e gives an unspecified value: the caller's other terms (the
 * logit itself) carry the nan. */
LF_VM_INLINE float
VM(lf_vlog1p_unitf)(float e, float inv)
{
    const float u = 1.0f + e;
    const uint32_t ix = VM(lf_u32_of)(u) + (0x3f800000u - 0x3f3504f3u);
    const float r = VM(lf_vlog_reducedf)(ix, (float)((int32_t)(ix >> 23) - 0x7f));
    return LF_FMAF(e - (u - 1.0f), inv, r);
}

/* exp(x) for doubles: as lf_vexpf, with a degree-13 Taylor polynomial
 * (truncation error < 5e-18 on |r| <= ln2/2). */
LF_VM_INLINE double
VM(lf_vexp)(double x)
{
    double xc = x > 710.0 ? 710.0 : x;
    xc = xc < -746.0 ? -746.0 : xc;
    const double shift = 0x1.8p52;
    const double t = LF_FMA(xc, 0x1.71547652b82fep+0, shift);
    const double n = t - shift;
    const int64_t ni = (int64_t)(VM(lf_u64_of)(t) - VM(lf_u64_of)(shift));
    /* ln2 split so that n * hi is exact for |n| < 2^21 */
    double r = LF_FMA(n, -0x1.62e42fee00000p-1, xc);
    r = LF_FMA(n, -0x1.a39ef35793c76p-33, r);
    double p = 1.0 / 6227020800.0;
    p = LF_FMA(p, r, 1.0 / 479001600.0);
    p = LF_FMA(p, r, 1.0 / 39916800.0);
    p = LF_FMA(p, r, 1.0 / 3628800.0);
    p = LF_FMA(p, r, 1.0 / 362880.0);
    p = LF_FMA(p, r, 1.0 / 40320.0);
    p = LF_FMA(p, r, 1.0 / 5040.0);
    p = LF_FMA(p, r, 1.0 / 720.0);
    p = LF_FMA(p, r, 1.0 / 120.0);
    p = LF_FMA(p, r, 1.0 / 24.0);
    p = LF_FMA(p, r, 1.0 / 6.0);
    p = LF_FMA(p, r, 0.5);
    const double y = LF_FMA(p, r * r, r) + 1.0;
    /* n / 2 by the same rounding trick rather than an int64 shift: SSE2 and
     * AVX2 have no 64-bit arithmetic shift, and gcc would leave it scalar */
    const int64_t n1 = (int64_t)(VM(lf_u64_of)(LF_FMA(n, 0.5, shift)) - VM(lf_u64_of)(shift));
    const int64_t n2 = ni - n1;
    const double s1 = VM(lf_f64_of)((uint64_t)(n1 + 1023) << 52);
    const double s2 = x < -746.0 ? 0.0 : VM(lf_f64_of)((uint64_t)(n2 + 1023) << 52);
    return y * s1 * s2;
}

/* The heart of log(x) for doubles, as lf_vlog_reducedf: fdlibm's e_log.c,
 * log(1 + f) = 2 atanh(f / (2 + f)), without its branches; dk = k. */
LF_VM_INLINE double
VM(lf_vlog_reduced)(uint64_t ix, double dk)
{
    ix = (ix & 0x000fffffffffffffu) + 0x3fe6a09e667f3bcdu;
    const double f = VM(lf_f64_of)(ix) - 1.0;
    const double hfsq = 0.5 * f * f;
    const double s = f / (2.0 + f);
    const double z = s * s, w = z * z;
    /* fdlibm's Lg1..Lg7, odd ones in t2, even ones in t1 */
    const double t1 = w * LF_FMA(w, LF_FMA(w, 1.531383769920937332e-01, 2.222219843214978396e-01),
                                 3.999999999940941908e-01);
    const double t2 =
        z * LF_FMA(w,
                   LF_FMA(w, LF_FMA(w, 1.479819860511658591e-01, 1.818357216161805012e-01),
                          2.857142874366239149e-01),
                   6.666666666666735130e-01);
    const double R = t2 + t1;
    return LF_FMA(dk, 6.93147180369123816490e-01,
                  (LF_FMA(s, hfsq + R, dk * 1.90821492927058770002e-10) - hfsq) + f);
}

/* log(x) for doubles: fdlibm's e_log.c, log(1 + f) = 2 atanh(f / (2 + f)),
 * without its branches. */
LF_VM_INLINE double
VM(lf_vlog)(double x)
{
    const int sub = x < 0x1p-1022;
    const double xs = sub ? x * 0x1p54 : x;
    const uint64_t ix = VM(lf_u64_of)(xs) + (0x3ff0000000000000u - 0x3fe6a09e667f3bcdu);
    const int64_t k = (int64_t)(ix >> 52) - 0x3ff - (sub ? 54 : 0);
    /* k as a double without an int64 conversion (AVX2 has none) */
    const double dk = VM(lf_f64_of)((uint64_t)(0x4338000000000000 + k)) - 0x1.8p52;
    const double r = VM(lf_vlog_reduced)(ix, dk);
    const double special = x == 0.0 ? -(double)INFINITY : (x < 0.0 ? (double)NAN : x);
    return ((x > 0.0) & (x < (double)INFINITY)) ? r : special;
}

LF_VM_INLINE double
VM(lf_vlog1p_inv)(double x, double inv)
{
    const double u = 1.0 + x;
    const double lu = VM(lf_vlog)(u);
    const double r = lu + (x - (u - 1.0)) * inv;
    return ((u > 0.0) & (u < (double)INFINITY)) ? r : lu;
}

/* log1p(e) for e in [0, 1]: see lf_vlog1p_unitf. */
LF_VM_INLINE double
VM(lf_vlog1p_unit)(double e, double inv)
{
    const double u = 1.0 + e;
    const uint64_t ix = VM(lf_u64_of)(u) + (0x3ff0000000000000u - 0x3fe6a09e667f3bcdu);
    const double r = VM(lf_vlog_reduced)(ix, (double)(int32_t)((int64_t)(ix >> 52) - 0x3ff));
    return LF_FMA(e - (u - 1.0), inv, r);
}

#undef LF_FMAF
#undef LF_FMA
