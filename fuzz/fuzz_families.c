/*
 * fuzz_families.c -- libFuzzer harness for every kernel family (binary,
 * classification, multi-label, regression, embedding, margin, CTC, Dice): one
 * case per input, built by families.h from the bytes (random shapes including
 * zero-size ones, broadcast / negative / gapped strides, optional operands,
 * arbitrary float bits and int64 targets, float16 / bfloat16 operands where
 * the binding passes them), run on every instruction-set
 * variant the CPU has.  Besides ASan / UBSan findings, a variant that gives
 * different bits from the best one is a finding (except the baseline of the
 * families that use vecmath.h, which may round differently: see
 * tests/c/test_engine.c).
 */
#include <stdio.h>

#include "families.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    fam_case c;
    fam_build(&c, FAM_COUNT, &r, 0, 1);
    const int best = lf_set_isa(-1);
    fam_result ref = {NULL, 0, 0};
    fam_run(&c, &ref);
    for (int level = best - 1; level >= (c.uses_vecmath ? 1 : 0); level--) {
        lf_set_isa(level);
        fam_result got = {NULL, 0, 0};
        fam_run(&c, &got);
        if (got.n != ref.n || (got.n && memcmp(got.v, ref.v, got.n * sizeof(double)) != 0)) {
            fprintf(stderr, "%s: isa %d and %d differ\n", fam_names[c.family], level, best);
            abort();
        }
        free(got.v);
    }
    lf_set_isa(-1);
    free(ref.v);
    fam_free(&c);
    return 0;
}
