#undef T
#undef FN
#undef M
#undef T_INT
#undef T_UINT
#undef V
#undef T_MAX_LOG_CLAMP
#undef T_EPS_BCE
