#undef T
#undef FN
#undef M
#undef T_INT
#undef T_UINT
#undef V
#undef T_MAX_LOG_CLAMP
#undef T_EPS_BCE
#undef LF_T_F32
/* dtype_half.h's storage hooks (bfloat16 / float16 instantiations) */
#undef LF_HALF_OPS
#undef LF_LOAD_HALF
#undef LF_STORE_HALF
