/* dispatch.h -- DISPATCH / DISPATCH_VOID: call the variant of a kernel that
 * lf_isa() chose (see isa_begin.h). */
#if LF_HAVE_ISA_VARIANTS
#define DISPATCH(name, args)                        \
    switch (lf_isa()) {                             \
    case 2:                                         \
        return name##_avx512 args;                  \
    case 1:                                         \
        return name##_avx2 args;                    \
    default:                                        \
        return name##_base args;                    \
    }
#define DISPATCH_VOID(name, args)                   \
    switch (lf_isa()) {                             \
    case 2:                                         \
        name##_avx512 args;                         \
        break;                                      \
    case 1:                                         \
        name##_avx2 args;                           \
        break;                                      \
    default:                                        \
        name##_base args;                           \
    }
#else
#define DISPATCH(name, args) return name##_base args;
#define DISPATCH_VOID(name, args) name##_base args;
#endif
