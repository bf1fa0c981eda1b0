/* Instantiate an element-wise *_impl.h body for float16 storage, computing
 * in float (see dtype_half.h; undone by dtype_undef.h). */
#include "dtype_half.h"
#ifdef LF_ISA_SUFFIX
#define FN(name) LF_CAT(name##_f16, LF_ISA_SUFFIX)
#else
#define FN(name) name##_f16
#endif
#define LF_LOAD_HALF(p) lf_f16_to_f32(*(const uint16_t *)(const void *)(p))
#define LF_STORE_HALF(p, v) (*(uint16_t *)(void *)(p) = lf_f32_to_f16(v))
