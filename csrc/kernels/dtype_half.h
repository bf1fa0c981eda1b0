/* The half-precision storage hooks, shared by dtype_bf16.h and dtype_f16.h
 * (issue 21, step 2; undone by dtype_undef.h).
 *
 * A half instantiation of an element-wise body computes in float: T is
 * float, with dtype_f32.h's FN-independent macros (M, V, the clamps), so the
 * body is the float32 body.  What changes is storage: the operands in
 * LF_HALF_OPS hold 2-byte values, read widened and written narrowed by
 * LF_LOAD_HALF / LF_STORE_HALF (half.h's conversions, which vectorize).
 *
 * The element-wise template took another route (issue 21, step 3): its
 * float32 instantiation converts at run time, per block, the operands that
 * lf_elementwise.half_ops marks (common_impl.h's in_op / out_done), so no
 * _bf16 / _f16 instantiation is compiled; these hooks remain for the C
 * harness (tests/c/test_half.h).  The plan they were written for: common_impl.h's
 *
 *     #define LOAD(op, i)        (*(const T *)(r->ptr[op] + ...))
 *     #define STORE(p, op, i, v) (*(T *)((p) + ...) = (v))
 *
 * become, under #ifdef LF_HALF_OPS,
 *
 *     #define LOAD(op, i)  (LF_HALF_OPS >> (op) & 1 ? LF_LOAD_HALF(r->ptr[op] + ...)
 *                                                  : *(const T *)(r->ptr[op] + ...))
 *
 * and the same for STORE: op is a constant at every call site, so each
 * access compiles to one kind of load, and the unit-stride row loops keep
 * vectorizing (a vpmovzxwd + shift for bfloat16, vcvtph2ps under the AVX2
 * variant for float16).  Sums still go through lf_pairwise (double), so the
 * accumulation is the float32 path's.  variants.h adds _bf16 / _f16 to the
 * element-wise families' instantiations, and the binding's LF_RUN dispatch
 * calls them when the input, the float operands it shares a shape with
 * (target) and the outputs are all of the half dtype -- torch's own rule
 * for half losses; weight, pos_weight and grad_output stay float32 (small,
 * or read once).  Any other mix keeps today's path (binding/half.c: widen
 * into float32, run the float32 kernel, narrow), which is exact, just
 * slower.  A memory-bound loss then moves 2 + 2 + 2 bytes per element
 * (input, target, gradient) instead of 4 + 4 + 4: issue 21's 1.4x. */
#include "half.h"

#define T float
#define T_INT int32_t
#define T_UINT uint32_t
#define M(name) name##f
#define V(name) VM(LF_CAT(lf_v##name, f))
#define T_MAX_LOG_CLAMP (-100.0f)
#define T_EPS_BCE 1e-12f
/* the operands stored in the half dtype: input, target, loss, gradient, Hessian */
#define LF_HALF_OPS                                                                     \
    ((1u << LF_EW_INPUT) | (1u << LF_EW_TARGET) | (1u << LF_EW_OUT) | (1u << LF_EW_GRAD) | \
     (1u << LF_EW_HESS))
