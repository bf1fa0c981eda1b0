/*
 * exports.h -- the public kernels of a family, generated from its
 * LF_EXPORTS list for the dtype in effect (dtype_f32.h / dtype_f64.h, with no
 * instruction-set suffix): lf_name_f32 calls name_f32_avx512, _avx2 or _base
 * as lf_isa() says.  Only variants.h includes it.
 */
#if LF_HAVE_ISA_VARIANTS
#define LF_PICK(fn, isa) \
    ((isa) == 2 ? LF_CAT(fn, _avx512) : (isa) == 1 ? LF_CAT(fn, _avx2) : LF_CAT(fn, _base))
#else
#define LF_PICK(fn, isa) ((void)(isa), LF_CAT(fn, _base))
#endif

#define LF_KERNEL(ret, name, params, args) \
    ret LF_CAT(lf_, FN(name)) params       \
    {                                      \
        const int isa = lf_isa();          \
        return LF_PICK(FN(name), isa) args; \
    }
#define LF_KERNEL_VOID(name, params, args) \
    void LF_CAT(lf_, FN(name)) params      \
    {                                      \
        const int isa = lf_isa();          \
        LF_PICK(FN(name), isa) args;       \
    }

LF_EXPORTS(LF_KERNEL, LF_KERNEL_VOID)

#undef LF_KERNEL
#undef LF_KERNEL_VOID
#undef LF_PICK
