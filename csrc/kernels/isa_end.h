/* isa_end.h -- see isa_begin.h. */
#if LF_ISA > 0 && LF_HAVE_ISA_VARIANTS
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
#undef LF_ISA_SUFFIX
#undef LF_ISA
#undef LF_ISA_HERE
#define LF_ISA_HERE lf_isa()
