/* Instantiate a *_impl.h body for float32 (see dtype_f64.h; undone by dtype_undef.h).
 * FN names carry the instruction-set suffix of isa_begin.h when there is one. */
#define T float
#ifdef LF_ISA_SUFFIX
#define FN(name) LF_CAT(name##_f32, LF_ISA_SUFFIX)
#else
#define FN(name) name##_f32
#endif
/* the same-width integers, for bit-level work */
#define T_INT int32_t
#define T_UINT uint32_t
#define M(name) name##f
#define V(name) VM(LF_CAT(lf_v##name, f))
#define T_MAX_LOG_CLAMP (-100.0f)
#define T_EPS_BCE 1e-12f
/* this instantiation reads and writes half operands too (common_impl.h) */
#define LF_T_F32 1
