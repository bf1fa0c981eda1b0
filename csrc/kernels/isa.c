/* isa.c -- which instruction-set variant of the kernels runs (see isa.h). */
#include <stdlib.h>
#include <string.h>

#include "../pylossfn.h"
#include "atomics.h"
#include "isa.h"

#if LF_HAVE_ISA_VARIANTS
#include <cpuid.h>
#endif

/* PYLOSSFN_ISA=base|avx2|avx512 caps the choice (to test and time each
 * variant); lf_set_isa() does the same from C and Python. */
static int isa_level = -1;

static int
isa_detect(void)
{
#if LF_HAVE_ISA_VARIANTS
    int level = 0;
    __builtin_cpu_init();
    /* F16C too: half.h's float16 runs use it at level 1 and up (every AVX2
     * CPU has it; a hypervisor could hide it).  cpuid leaf 1, ecx bit 29:
     * clang's __builtin_cpu_supports does not know "f16c". */
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    const int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) {
        level = 1;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")) {
            level = 2;
        }
    }
    const char *env = getenv("PYLOSSFN_ISA");
    if (env != NULL) {
        int cap = strcmp(env, "base") == 0 ? 0 : strcmp(env, "avx2") == 0 ? 1 : 2;
        level = level < cap ? level : cap;
    }
    return level;
#else
    return 0;
#endif
}

int
lf_isa(void)
{
    int level = LF_ATOMIC_LOAD(&isa_level);
    if (level < 0) {
        level = isa_detect();
        LF_ATOMIC_STORE(&isa_level, level);
    }
    return level;
}

int
lf_set_isa(int level)
{
    const int best = isa_detect();
    level = level < 0 || level > best ? best : level;
    LF_ATOMIC_STORE(&isa_level, level);
    return level;
}
