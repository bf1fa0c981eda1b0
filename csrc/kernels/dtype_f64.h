/* Instantiate a *_impl.h body for float64 (see dtype_f32.h; undone by dtype_undef.h). */
#define T double
#ifdef LF_ISA_SUFFIX
#define FN(name) LF_CAT(name##_f64, LF_ISA_SUFFIX)
#else
#define FN(name) name##_f64
#endif
/* the same-width integers, for bit-level work */
#define T_INT int64_t
#define T_UINT uint64_t
#define M(name) name
#define V(name) VM(lf_v##name)
#define T_MAX_LOG_CLAMP (-100.0)
/* torch clamps with the float constant 1e-12f in both dtypes */
#define T_EPS_BCE ((double)1e-12f)
