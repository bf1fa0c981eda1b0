/*
 * fuzz_elementwise.c -- libFuzzer harness for the element-wise family
 * (BCELoss, BCEWithLogitsLoss, sigmoid, logsigmoid): random shapes including
 * zero-size ones, broadcast / negative / gapped strides, optional operands
 * and arbitrary float bits.
 */
#include "../csrc/pylossfn.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    const unsigned flags = take(&r);
    const int f64 = flags & 1, tame = (flags >> 1) & 1;
    const int nd = 1 + (int)(take(&r) % 4);
    ptrdiff_t shape[8];
    for (int d = 0; d < nd; d++) {
        shape[d] = (ptrdiff_t)(take(&r) % 4);
    }
    const size_t item = f64 ? 8 : 4;
    lf_elementwise a;
    memset(&a, 0, sizeof(a));
    a.ndim = nd;
    a.scale = (double)(int)take(&r) - 128.0;
    for (int d = 0; d < nd; d++) {
        a.shape[d] = shape[d];
    }
    fview v[LF_EW_NOP];
    for (int op = 0; op < LF_EW_NOP; op++) {
        const int optional = op == LF_EW_WEIGHT || op == LF_EW_POS_WEIGHT ||
                             op == LF_EW_GRAD_OUTPUT || op == LF_EW_OUT;
        /* INPUT2 / GRAD2 belong to the regression family (fuzz_families.c) */
        const int present = op < LF_EW_INPUT2 && (!optional || ((flags >> (2 + op)) & 1));
        v[op].block = NULL;
        if (!present) {
            continue;
        }
        const int writes = op == LF_EW_OUT || op == LF_EW_GRAD;
        fview_make(&v[op], &r, nd, shape, item, writes);
        if (!writes) {
            fview_fill(&v[op], &r, f64, tame && op <= LF_EW_TARGET);
        }
        a.data[op] = v[op].base;
        for (int d = 0; d < nd; d++) {
            a.strides[op][d] = v[op].strides[d];
        }
    }
    lf_error err = {0, 0, 0.0};
    lf_ew_param prm;
    memset(&prm, 0, sizeof(prm));
    prm.label_smoothing = (flags >> 8) & 1 ? 0.1 : 0.0;
    prm.epsilon = 1.0;
    for (int kind = 0; kind < LF_BIN_NKINDS; kind++) {
        if (f64) {
            (void)lf_binary_f64(&a, (lf_binary_kind)kind, &prm);
        }
        else {
            (void)lf_binary_f32(&a, (lf_binary_kind)kind, &prm);
        }
    }
    if (f64) {
        (void)lf_bce_check_f64(&a, &err);
    }
    else {
        (void)lf_bce_check_f32(&a, &err);
    }
    if (a.data[LF_EW_OUT]) {
        if (f64) {
            lf_sigmoid_f64(&a, flags >> 7);
        }
        else {
            lf_sigmoid_f32(&a, flags >> 7);
        }
    }
    for (int op = 0; op < LF_EW_NOP; op++) {
        free(v[op].block);
    }
    return 0;
}
