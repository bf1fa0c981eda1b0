/* Instantiate a *_impl.h body for float64 (see dtype_f32.h; undone by dtype_undef.h). */
#define T double
#define FN(name) name##_f64
#define M(name) name
#define T_MAX_LOG_CLAMP (-100.0)
/* torch clamps with the float constant 1e-12f in both dtypes */
#define T_EPS_BCE ((double)1e-12f)
