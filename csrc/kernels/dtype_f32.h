/* Instantiate a *_impl.h body for float32 (see dtype_f64.h; undone by dtype_undef.h). */
#define T float
#define FN(name) name##_f32
#define M(name) name##f
#define T_MAX_LOG_CLAMP (-100.0f)
#define T_EPS_BCE 1e-12f
