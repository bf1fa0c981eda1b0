/*
 * variants.h -- the one template regime of the kernel families.
 *
 * A family file (binary.c, regression.c, ...) defines
 *   LF_IMPL       its body, a *_impl.h file written in T / FN / M / V
 *                 (dtype_f32.h, dtype_f64.h), and
 *   LF_EXPORTS    an X-macro list of its dtype-generic kernels:
 *                   K(return type, name, (parameters), (arguments))
 *                   KV(name, (parameters), (arguments))   for void ones
 *                 (parameters may use T),
 * then includes this file.  The body is compiled once per instruction set
 * (isa_begin.h) and dtype, after the shared helpers of common_impl.h, as
 * static functions FN(name) = name_f32_avx512, name_f64_base, ...; exports.h
 * then generates the public lf_name_f32 / lf_name_f64 of pylossfn.h, each
 * calling the variant that lf_isa() chose.  A new kernel is one row of
 * LF_EXPORTS and its body: no hand-written dispatch.
 */
#ifndef LF_IMPL
#error "define LF_IMPL as the family's *_impl.h before including variants.h"
#endif
#ifndef LF_EXPORTS
#error "define LF_EXPORTS as the family's list of kernels before including variants.h"
#endif

#include <math.h>
#include <string.h>

#include "../pylossfn.h"
#include "isa.h"
#include "iter.h"
#include "pool.h"
/* before any instruction-set region: its inline conversions must carry no
 * target of their own, so that each variant inlines (and vectorizes) them
 * in its own instructions -- included first inside the AVX-512 region they
 * would be AVX-512 functions that the AVX2 variant calls */
#include "half.h"

/* Floating-point contraction would let each instruction set round a * b + c
 * differently (clang contracts by default where FMA exists; gcc does not in
 * ISO C mode): an FMA is only ever asked for by name (vecmath.h). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if LF_HAVE_ISA_VARIANTS
#define LF_ISA 2
#include "variant.h"
#define LF_ISA 1
#include "variant.h"
#endif
#define LF_ISA 0
#include "variant.h"

#include "dtype_f32.h"
#include "exports.h"
#include "dtype_undef.h"
#include "dtype_f64.h"
#include "exports.h"
#include "dtype_undef.h"

#undef LF_IMPL
#undef LF_EXPORTS
