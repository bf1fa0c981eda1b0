/*
 * fuzz_classes.c -- libFuzzer harness for the class family (NLLLoss,
 * CrossEntropyLoss with indices or probabilities, softmax, log_softmax):
 * random [N, C, S] views with broadcast / negative / gapped strides, raw
 * int64 targets (the pre-pass must stop every bad one before a kernel reads
 * input[t]), ignore_index, weights, label smoothing and arbitrary float bits.
 */
#include "../csrc/pylossfn.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    const unsigned flags = take(&r);
    const int f64 = flags & 1, probs = (flags >> 1) & 1, tame_targets = (flags >> 2) & 1;
    const size_t item = f64 ? 8 : 4;
    const ptrdiff_t N = take(&r) % 5, C = take(&r) % 6, S = take(&r) % 4;
    const ptrdiff_t ncs[3] = {N, C, S}, ns[2] = {N, S}, c1[1] = {C};
    lf_classes a;
    memset(&a, 0, sizeof(a));
    a.N = N;
    a.C = C;
    a.S = S;
    a.ignore_index = (int64_t)(take(&r) % 8) - 2;
    a.label_smoothing = (double)take(&r) / 255.0;
    a.scale = (double)(int)take(&r) - 128.0;

    fview x, t, w, go, out, grad;
    fview_make(&x, &r, 3, ncs, item, 0);
    fview_fill(&x, &r, f64, 0);
    a.input = x.base;
    a.in_n = x.strides[0];
    a.in_c = x.strides[1];
    a.in_s = x.strides[2];
    if (probs) {
        fview_make(&t, &r, 3, ncs, item, 0);
        fview_fill(&t, &r, f64, 1);
        a.t_c = t.strides[1];
        a.t_s = t.strides[2];
    }
    else {
        fview_make(&t, &r, 2, ns, 8, 0);
        for (size_t off = 0; off + 8 <= t.bytes; off += 8) {
            int64_t v = (int64_t)take64(&r);
            if (tame_targets) {
                v = (int64_t)((uint64_t)v % (uint64_t)(C + 3)) - 1;
            }
            memcpy(t.block + off, &v, 8);
        }
        a.t_s = t.strides[1];
    }
    a.target = t.base;
    a.t_n = t.strides[0];
    w.block = go.block = out.block = NULL;
    if ((flags >> 3) & 1) {
        fview_make(&w, &r, 1, c1, item, 0);
        fview_fill(&w, &r, f64, 0);
        a.weight = w.base;
        a.w_c = w.strides[0];
    }
    if ((flags >> 4) & 1) {
        fview_make(&go, &r, 2, ns, item, 0);
        fview_fill(&go, &r, f64, 0);
        a.grad_output = go.base;
        a.go_n = go.strides[0];
        a.go_s = go.strides[1];
    }
    if ((flags >> 5) & 1) {
        fview_make(&out, &r, 2, ns, item, 1);
        a.out = out.base;
        a.out_n = out.strides[0];
        a.out_s = out.strides[1];
    }
    fview_make(&grad, &r, 3, ncs, item, 1);
    if ((flags >> 6) & 1) {
        a.grad = grad.base;
        a.g_n = grad.strides[0];
        a.g_c = grad.strides[1];
        a.g_s = grad.strides[2];
    }

    double total;
    lf_error err = {0, 0, 0.0};
    if (probs) {
        (void)(f64 ? lf_cross_entropy_probs_f64(&a) : lf_cross_entropy_probs_f32(&a));
    }
    else if ((f64 ? lf_class_check_f64(&a, &total, &err)
                  : lf_class_check_f32(&a, &total, &err)) == LF_OK) {
        (void)(f64 ? lf_nll_f64(&a) : lf_nll_f32(&a));
        (void)(f64 ? lf_cross_entropy_f64(&a) : lf_cross_entropy_f32(&a));
    }
    /* softmax writes through grad: it needs an output */
    a.grad = grad.base;
    a.g_n = grad.strides[0];
    a.g_c = grad.strides[1];
    a.g_s = grad.strides[2];
    if (f64) {
        lf_softmax_f64(&a, flags >> 7);
    }
    else {
        lf_softmax_f32(&a, flags >> 7);
    }
    free(x.block);
    free(t.block);
    free(w.block);
    free(go.block);
    free(out.block);
    free(grad.block);
    return 0;
}
