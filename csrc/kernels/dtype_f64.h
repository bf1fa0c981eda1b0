/* Instantiate a *_impl.h body for float64 (see dtype_f32.h; undone by dtype_undef.h). */
#define T double
#define FN(name) name##_f64
#define M(name) name
#define T_MAX_LOG_CLAMP (-100.0)
/* torch clamps with the float 1e-12 in both dtypes, (double)1e-12f != 1e-12 */
#define T_EPS_BCE ((double)1e-12f)
