/*
 * isa_begin.h / isa_end.h -- compile the code between them for one
 * instruction set (engine-internal).
 *
 * variants.h compiles every family's body three times: LF_ISA 2 (AVX-512),
 * 1 (AVX2 + FMA) and 0 (the baseline of the build, SSE2 on x86-64), each with
 * names suffixed by LF_ISA_SUFFIX.  lf_isa() picks one at run time, so one
 * build uses the widest vectors the CPU has and still runs on any x86-64.
 * Elsewhere (other CPUs, other compilers) only the baseline is built.
 */
#if !defined(LF_ISA)
#error "define LF_ISA before including isa_begin.h"
#endif

/* half.h's runs take the region's level as a constant */
#undef LF_ISA_HERE
#define LF_ISA_HERE LF_ISA

#if LF_ISA == 2
#define LF_ISA_SUFFIX _avx512
#elif LF_ISA == 1
#define LF_ISA_SUFFIX _avx2
#else
#define LF_ISA_SUFFIX _base
#endif

#if LF_ISA > 0 && LF_HAVE_ISA_VARIANTS
#if defined(__clang__)
#if LF_ISA == 2
/* (clang has no prefer-vector-width target feature; -mprefer-vector-width
 * is a command-line option there) */
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2,f16c"))), apply_to = function)
#else
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi2,f16c"))), apply_to = function)
#endif
#else
#pragma GCC push_options
#if LF_ISA == 2
/* gcc's default tuning prefers 256-bit vectors even with AVX-512; the
 * transcendental loops are worth the full width */
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2,f16c,prefer-vector-width=512")
#else
#pragma GCC target("avx2,fma,bmi2,f16c")
#endif
#endif
#endif
