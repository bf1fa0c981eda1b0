/*
 * isa.h -- which instruction-set variants this build has, and which one
 * runs (engine-internal; isa.c).
 *
 * On x86-64 with gcc or clang every kernel is compiled three times (see
 * variants.h): LF_ISA 2 (AVX-512), 1 (AVX2 + FMA; F16C required too) and 0
 * (the baseline of the build, SSE2 on x86-64).  Elsewhere only the baseline
 * exists.
 *
 * The variants compute the same operations in the same order (no
 * reassociation, no implicit contraction: see variants.h), so they give the
 * same bits, with one documented exception: vecmath.h fuses multiply-adds
 * where the target has FMA, so the kernels that use V() (binary and class
 * families today) may differ by about an ulp between the baseline and the
 * two FMA variants, which agree with each other.  tests/c/test_engine.c
 * (test_variants) and fuzz/fuzz_families.c check all of it.
 */
#ifndef PYLOSSFN_ISA_H_
#define PYLOSSFN_ISA_H_

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#define LF_HAVE_ISA_VARIANTS 1
#else
#define LF_HAVE_ISA_VARIANTS 0
#endif

/* A helper the compiler must inline: the families' block helpers, and
 * half.h's run loops, which sit outside every instruction-set region, so that
 * an out-of-line copy would be the baseline's, called by every variant. */
#if defined(__GNUC__)
#define LF_ALWAYS_INLINE __attribute__((always_inline))
#else
#define LF_ALWAYS_INLINE
#endif

#define LF_CAT_(a, b) a##b
#define LF_CAT(a, b) LF_CAT_(a, b)

/* Kernel variant in use: 2 AVX-512, 1 AVX2 + FMA, 0 baseline.  The best the
 * CPU runs, capped by PYLOSSFN_ISA=base|avx2|avx512 and by lf_set_isa(). */
int lf_isa(void);

#endif /* PYLOSSFN_ISA_H_ */
