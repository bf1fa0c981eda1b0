/*
 * test_engine.c -- the engine, tested from C alone (no Python), meant to run
 * under ASan + UBSan (`make ctest`).
 *
 * Every buffer is malloc'ed to the exact extent its view reaches, so a kernel
 * that steps one element outside (a wrong stride, a negative-stride base, a
 * zero-size dimension) is caught by ASan.  Expected values come from
 * straightforward long double formulas written here.
 *
 * test_variants() reaches every kernel family (through fuzz/families.h) and
 * checks that each instruction-set variant and thread count gives the same
 * bits, or, where documented, results within a few ulp.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, for the interruption test */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pylossfn.h"

#include "families.h" /* fuzz/: one case builder per kernel family */

static int failures, checks;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        checks++;                                          \
        if (!(cond)) {                                     \
            failures++;                                    \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fputc('\n', stderr);                           \
        }                                                  \
    } while (0)

static int
close_to(double got, double want, double rtol)
{
    if (isnan(want)) {
        return isnan(got);
    }
    if (isinf(want)) {
        return got == want;
    }
    return fabs(got - want) <= rtol * (1.0 + fabs(want));
}

/* A strided 1-d view over n doubles with step k (elements; may be negative or
 * 0), in a malloc'ed block of exactly the extent it reaches. */
typedef struct {
    char *block, *base;
    ptrdiff_t stride; /* bytes */
} view;

static view
make_view(ptrdiff_t n, ptrdiff_t k, size_t item)
{
    view v;
    ptrdiff_t span = n > 0 ? (n - 1) * (k < 0 ? -k : k) + 1 : 0;
    v.block = malloc(span > 0 ? (size_t)span * item : 1);
    v.base = v.block + (k < 0 ? (span - 1) * (ptrdiff_t)item : 0);
    v.stride = k * (ptrdiff_t)item;
    return v;
}

static double
at(const view *v, ptrdiff_t i)
{
    return *(const double *)(v->base + i * v->stride);
}

static void
put(view *v, ptrdiff_t i, double x)
{
    *(double *)(v->base + i * v->stride) = x;
}

/* ------------------------------------------------------------------------ */

static void
test_pairwise_and_ksum(void)
{
    lf_ksum k = {0, 0};
    lf_ksum_add(&k, 1e100);
    lf_ksum_add(&k, 1.0);
    lf_ksum_add(&k, -1e100);
    CHECK(lf_ksum_value(&k) == 1.0, "Neumaier lost the 1: %g", lf_ksum_value(&k));
    lf_ksum inf = {0, 0};
    lf_ksum_add(&inf, INFINITY);
    lf_ksum_add(&inf, 1.0);
    CHECK(lf_ksum_value(&inf) == INFINITY, "inf sum became %g", lf_ksum_value(&inf));
}

static void
test_elementwise(ptrdiff_t n, ptrdiff_t kx, ptrdiff_t ky, int weighted)
{
    view x = make_view(n, kx, sizeof(double)), y = make_view(n, ky, sizeof(double));
    view w = make_view(n > 0 ? 1 : 0, 1, sizeof(double)); /* broadcast: stride 0 */
    view out = make_view(n, 1, sizeof(double)), grad = make_view(n, 1, sizeof(double));
    for (ptrdiff_t i = 0; i < n; i++) {
        put(&x, i, (double)((i * 7919) % 97 + 1) / 99.0);
        put(&y, i, (double)((i * 104729) % 89) / 88.0);
    }
    if (n > 0) {
        put(&w, 0, 1.75);
    }
    lf_elementwise a;
    memset(&a, 0, sizeof(a));
    a.ndim = 1;
    a.shape[0] = n;
    a.data[LF_EW_INPUT] = x.base;
    a.strides[LF_EW_INPUT][0] = x.stride;
    a.data[LF_EW_TARGET] = y.base;
    a.strides[LF_EW_TARGET][0] = y.stride;
    if (weighted && n > 0) {
        a.data[LF_EW_WEIGHT] = w.base;
        a.strides[LF_EW_WEIGHT][0] = 0;
    }
    a.data[LF_EW_OUT] = out.base;
    a.strides[LF_EW_OUT][0] = out.stride;
    a.data[LF_EW_GRAD] = grad.base;
    a.strides[LF_EW_GRAD][0] = grad.stride;
    a.scale = 0.5;

    const long double wv = weighted && n > 0 ? 1.75L : 1.0L;
    lf_ew_param prm;
    memset(&prm, 0, sizeof(prm));
    lf_error err = {0, 0, 0.0};
    double sum = lf_binary_f64(&a, LF_BIN_BCE, &prm);
    CHECK(lf_bce_check_f64(&a, &err) == LF_OK, "bce refused valid data");
    long double ref = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        long double xi = at(&x, i), yi = at(&y, i);
        long double l = -wv * (yi * logl(xi) + (1 - yi) * log1pl(-xi));
        ref += l;
        CHECK(close_to(at(&out, i), (double)l, 1e-13), "bce[%td] %g vs %Lg", i, at(&out, i), l);
        long double g = 0.5L * wv * (xi - yi) / ((1 - xi) * xi);
        CHECK(close_to(at(&grad, i), (double)g, 1e-12), "bce grad[%td]", i);
    }
    CHECK(close_to(sum, (double)ref, 1e-13), "bce sum %g vs %Lg (n=%td)", sum, ref, n);

    sum = lf_binary_f64(&a, LF_BIN_BCE_LOGITS, &prm);
    ref = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        long double xi = at(&x, i), yi = at(&y, i);
        long double l = wv * ((1 - yi) * xi + log1pl(expl(-xi)));
        ref += l;
        CHECK(close_to(at(&out, i), (double)l, 1e-13), "logits[%td]", i);
        long double g = 0.5L * wv * (1 / (1 + expl(-xi)) - yi);
        CHECK(close_to(at(&grad, i), (double)g, 1e-13), "logits grad[%td]", i);
    }
    CHECK(close_to(sum, (double)ref, 1e-13), "logits sum (n=%td)", n);

    /* the Hessian's diagonal: one more output of the same pass, strided too */
    view hess = make_view(n, -2, sizeof(double));
    a.data[LF_EW_HESS] = hess.base;
    a.strides[LF_EW_HESS][0] = hess.stride;
    sum = lf_binary_f64(&a, LF_BIN_BCE, &prm);
    CHECK(sum == sum, "bce with a Hessian refused valid data");
    for (ptrdiff_t i = 0; i < n; i++) {
        long double xi = at(&x, i), yi = at(&y, i);
        /* y / x^2 + (1 - y) / (1 - x)^2, with torch's 1e-12 in the squares */
        long double xe = xi + 1e-12L, ye = (1 - xi) + 1e-12L;
        long double h = 0.5L * wv * (yi * (1 - xi) * (1 - xi) + (1 - yi) * xi * xi) /
                        (xe * xe * ye * ye);
        CHECK(close_to(at(&hess, i), (double)h, 1e-10), "bce hess[%td] %g vs %Lg", i,
              at(&hess, i), h);
    }
    lf_binary_f64(&a, LF_BIN_BCE_LOGITS, &prm);
    for (ptrdiff_t i = 0; i < n; i++) {
        long double s = 1 / (1 + expl(-(long double)at(&x, i)));
        long double h = 0.5L * wv * s * (1 - s);
        CHECK(close_to(at(&hess, i), (double)h, 1e-13), "logits hess[%td] %g vs %Lg", i,
              at(&hess, i), h);
    }
    a.data[LF_EW_HESS] = NULL;
    free(hess.block);

    if (n > 3) {
        /* a bad probability: the loss pass flags it by a nan sum (pylossfn.h),
         * and the check, which writes nothing, reports where it is */
        put(&x, 3, 1.5);
        sum = lf_binary_f64(&a, LF_BIN_BCE, &prm);
        CHECK(sum != sum, "bce gave %g over a bad probability", sum);
        CHECK(lf_bce_check_f64(&a, &err) == LF_ERR_INPUT_DOMAIN && err.index == 3,
              "bce domain error at %td", err.index);
        put(&x, 3, NAN);
        CHECK(lf_bce_check_f64(&a, &err) == LF_ERR_INPUT_DOMAIN, "bce took nan");
        put(&x, 3, 0.5);
        put(&y, 2, -0.25);
        CHECK(lf_bce_check_f64(&a, &err) == LF_ERR_TARGET_DOMAIN && err.index == 2,
              "bce target domain error at %td", err.index);
    }
    free(x.block);
    free(y.block);
    free(w.block);
    free(out.block);
    free(grad.block);
}

/* Cross entropy / NLL on an [N, C] view with class step kc (elements, may be
 * negative) and a target of int64 with step kt. */
/* The total weight, cross-entropy and NLL sums of a (S = 1, targets t with
 * step kt, weights w), in long double. */
static void
class_reference(const lf_classes *a, const int64_t *t, ptrdiff_t kt, const double *w,
                long double *total, long double *ce, long double *nll)
{
    const ptrdiff_t N = a->N, C = a->C;
    const double ls = a->label_smoothing;
    long double ref_total = 0, ref_sum = 0, ref_nll = 0;
    for (ptrdiff_t n = 0; n < N; n++) {
        const int64_t tn = t[n * kt];
        if (tn == -100) {
            continue;
        }
        ref_total += w[tn];
        long double m = -INFINITY, s = 0;
        const char *row = a->input + n * a->in_n;
        for (ptrdiff_t c = 0; c < C; c++) {
            long double v = *(const double *)(row + c * a->in_c);
            m = v > m ? v : m;
        }
        for (ptrdiff_t c = 0; c < C; c++) {
            s += expl(*(const double *)(row + c * a->in_c) - m);
        }
        long double lse = m + logl(s), smooth = 0;
        for (ptrdiff_t c = 0; c < C; c++) {
            smooth -= w[c] * (*(const double *)(row + c * a->in_c) - lse);
        }
        long double xt = *(const double *)(row + tn * a->in_c);
        ref_sum += (1 - ls) * (-w[tn] * (xt - lse)) + ls / C * smooth;
        ref_nll += -w[tn] * xt;
    }
    *total = ref_total;
    *ce = ref_sum;
    *nll = ref_nll;
}

static void
test_classes(ptrdiff_t N, ptrdiff_t C, ptrdiff_t kc, ptrdiff_t kt, double ls)
{
    view x = make_view(N * C, 1, sizeof(double));
    int64_t *tblock = malloc(N > 0 ? (size_t)(N * (kt < 0 ? -kt : kt)) * 8 : 1);
    int64_t *t = tblock + (kt < 0 ? (N - 1) * -kt : 0);
    double *out = malloc(N > 0 ? (size_t)N * 8 : 1);
    double *grad = malloc(N * C > 0 ? (size_t)(N * C) * 8 : 1);
    double *w = malloc(C > 0 ? (size_t)C * 8 : 1);
    for (ptrdiff_t i = 0; i < N * C; i++) {
        put(&x, i, sin((double)i * 1.3) * 4);
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        w[c] = 0.5 + (double)c / 4;
    }
    for (ptrdiff_t n = 0; n < N; n++) {
        t[n * kt] = C > 0 ? (n * 5) % C : 0;
    }
    if (N > 2) {
        t[2 * kt] = -100; /* ignored */
    }
    lf_classes a;
    memset(&a, 0, sizeof(a));
    a.N = N;
    a.C = C;
    a.S = 1;
    /* class c of sample n at (n * C + (kc < 0 ? C - 1 - c : c)) */
    a.input = x.base + (kc < 0 ? (C - 1) * 8 : 0);
    a.in_n = C * 8;
    a.in_c = (kc < 0 ? -1 : 1) * 8;
    a.target = (const char *)t;
    a.t_n = kt * 8;
    a.weight = (const char *)w;
    a.w_c = 8;
    a.ignore_index = -100;
    a.label_smoothing = ls;
    a.scale = 1.0;
    a.out = (char *)out;
    a.out_n = 8;
    a.grad = (char *)grad;
    a.g_n = C * 8;
    a.g_c = 8;

    double total = -1;
    lf_error err = {0, 0, 0.0};
    lf_status st = lf_class_check_f64(&a, &total, &err);
    if (C == 0 && N > 0) {
        CHECK(st == LF_ERR_CLASS, "C = 0 accepted a class");
        goto done;
    }
    CHECK(st == LF_OK, "class check refused valid targets");
    long double ref_total, ref_sum, ref_nll;
    class_reference(&a, t, kt, w, &ref_total, &ref_sum, &ref_nll);
    CHECK(close_to(total, (double)ref_total, 1e-14), "total weight");
    double sum = lf_cross_entropy_f64(&a);
    CHECK(close_to(sum, (double)ref_sum, 1e-12), "cross entropy %g vs %Lg", sum, ref_sum);
    /* finite logits give a finite gradient; an ignored sample gets none */
    for (ptrdiff_t i = 0; i < N * C; i++) {
        CHECK(isfinite(grad[i]), "grad not finite at %td", i);
    }
    if (N > 2) {
        for (ptrdiff_t c = 0; c < C; c++) {
            CHECK(grad[2 * C + c] == 0 && out[2] == 0, "ignored sample has a gradient");
        }
    }
    sum = lf_nll_f64(&a);
    CHECK(close_to(sum, (double)ref_nll, 1e-12), "nll %g vs %Lg", sum, ref_nll);

    /* out-of-range classes: found, with position, nothing else read beyond */
    const int64_t bad[] = {C, -1, INT64_MAX, INT64_MIN, C + 1000};
    for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]) && N > 1; b++) {
        const int64_t keep = t[1 * kt];
        t[1 * kt] = bad[b];
        err.index = -7;
        CHECK(lf_class_check_f64(&a, &total, &err) == LF_ERR_CLASS && err.index == 1 &&
                  err.ivalue == bad[b],
              "class %lld not reported at 1 (got %td)", (long long)bad[b], err.index);
        t[1 * kt] = keep;
    }

    /* softmax over the same view: rows of probabilities that sum to 1 */
    lf_softmax_f64(&a, 0);
    for (ptrdiff_t n = 0; n < N && C > 0; n++) {
        long double s = 0;
        for (ptrdiff_t c = 0; c < C; c++) {
            s += grad[n * C + c];
        }
        CHECK(close_to((double)s, 1.0, 1e-14), "softmax row %td sums to %Lg", n, s);
    }
done:
    free(x.block);
    free(tblock);
    free(out);
    free(grad);
    free(w);
}

static void
test_float32_paths(void)
{
    /* the f32 instantiation on a large row: pairwise sums stay accurate */
    const ptrdiff_t n = 1 << 20;
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    for (ptrdiff_t i = 0; i < n; i++) {
        x[i] = 0.1f;
        y[i] = 0.0f;
    }
    lf_elementwise a;
    memset(&a, 0, sizeof(a));
    a.ndim = 1;
    a.shape[0] = n;
    a.data[LF_EW_INPUT] = (char *)x;
    a.strides[LF_EW_INPUT][0] = 4;
    a.data[LF_EW_TARGET] = (char *)y;
    a.strides[LF_EW_TARGET][0] = 4;
    a.scale = 1;
    lf_ew_param prm;
    memset(&prm, 0, sizeof(prm));
    double sum = lf_binary_f32(&a, LF_BIN_BCE_LOGITS, &prm);
    const double one = (double)((1 - 0.0f) * 0.1f + log1pf(expf(-0.1f)));
    CHECK(close_to(sum / (double)n, one, 1e-7), "f32 mean %g vs %g", sum / (double)n, one);
    free(x);
    free(y);
}

/* Margin ranking carries its second input and gradient in their own slots:
 * a weight beside them (which the loss ignores) is neither read nor written. */
static void
test_ranking_slots(void)
{
    enum { n = 37 };
    double x1[n], x2[n], y[n], w[n], g1[n], g2[n];
    for (int i = 0; i < n; i++) {
        x1[i] = sin(i * 0.7);
        x2[i] = cos(i * 0.3);
        y[i] = i % 3 ? 1.0 : -1.0;
        w[i] = NAN;
        g1[i] = g2[i] = 0;
    }
    lf_elementwise a;
    memset(&a, 0, sizeof(a));
    a.ndim = 1;
    a.shape[0] = n;
    char *data[] = {(char *)x1, (char *)y, (char *)w, (char *)x2, (char *)g1, (char *)g2};
    const int ops[] = {LF_EW_INPUT, LF_EW_TARGET, LF_EW_WEIGHT, LF_EW_INPUT2, LF_EW_GRAD,
                       LF_EW_GRAD2};
    for (int k = 0; k < 6; k++) {
        a.data[ops[k]] = data[k];
        a.strides[ops[k]][0] = 8;
    }
    a.scale = 0.5;
    lf_ew_param p;
    memset(&p, 0, sizeof(p));
    p.margin = 0.1;
    const double sum = lf_regression_f64(&a, LF_RG_MARGIN_RANKING, &p);
    long double want = 0;
    int bad_grad = 0;
    for (int i = 0; i < n; i++) {
        const long double m = -(long double)y[i] * ((long double)x1[i] - x2[i]) + 0.1L;
        want += m > 0 ? m : 0;
        const double gy = m >= 0 ? y[i] * 0.5 : 0.0;
        bad_grad += g1[i] != -gy || g2[i] != gy || !isnan(w[i]);
    }
    CHECK(close_to(sum, (double)want, 1e-14), "margin ranking %g vs %Lg", sum, want);
    CHECK(bad_grad == 0, "margin ranking: %d gradients (or weights) wrong", bad_grad);
}

/* Multi-label soft margin, one loss per row through the common row walker;
 * rows without labels have a nan loss. */
static void
test_multilabel_soft_margin(ptrdiff_t R, ptrdiff_t C)
{
    double *x = malloc((size_t)(R * C + 1) * 8), *y = malloc((size_t)(R * C + 1) * 8);
    double *out = malloc((size_t)(R + 1) * 8);
    for (ptrdiff_t i = 0; i < R * C; i++) {
        x[i] = 3 * sin((double)i);
        y[i] = (double)(i % 2);
    }
    lf_elementwise a;
    memset(&a, 0, sizeof(a));
    a.ndim = 2;
    a.shape[0] = R;
    a.shape[1] = C;
    a.data[LF_EW_INPUT] = (char *)x;
    a.data[LF_EW_TARGET] = (char *)y;
    a.data[LF_EW_OUT] = (char *)out;
    a.strides[LF_EW_INPUT][0] = a.strides[LF_EW_TARGET][0] = C * 8;
    a.strides[LF_EW_INPUT][1] = a.strides[LF_EW_TARGET][1] = 8;
    a.strides[LF_EW_OUT][0] = 8;
    a.scale = 1;
    lf_ew_param p;
    memset(&p, 0, sizeof(p));
    const double sum = lf_regression_f64(&a, LF_RG_MLSM, &p);
    long double want = 0;
    for (ptrdiff_t r = 0; r < R; r++) {
        long double l = 0;
        for (ptrdiff_t c = 0; c < C; c++) {
            const long double xi = x[r * C + c], yi = y[r * C + c];
            l += yi * log1pl(expl(-xi)) + (1 - yi) * log1pl(expl(xi));
        }
        l = C ? l / C : NAN;
        want += l;
        CHECK(close_to(out[r], (double)l, 1e-13), "mlsm row %td: %g vs %Lg", r, out[r], l);
    }
    CHECK(close_to(sum, (double)want, 1e-13), "mlsm sum %g vs %Lg", sum, want);
    free(x);
    free(y);
    free(out);
}

/* ------------------------------------------------------------------------ */
/* Every family, every instruction set, several thread counts               */
/* ------------------------------------------------------------------------ */

/* The AVX2 and AVX-512 variants of vecmath.h fuse multiply-adds (one
 * rounding) where the baseline cannot, so the families that use it (binary,
 * classification, multi-label, regression, CTC: fuzz/families.h) may differ
 * from the baseline by a few ulp; every other
 * pair of variants must agree bit for bit (nan payloads aside). */
#define VECMATH_MAX_ULP 64.0
/* a half output rounds the float32 result once: a few float32 ulp apart can
 * round to neighbouring half values, no further */
#define VECMATH_MAX_HALF_ULP 1.0

/* The largest difference between a and b, in units of eps (the format's
 * ulp at 1) times max(1, |a|) (inf where their shapes or their nans / infs
 * differ). */
static double
max_ulp(const fam_result *a, const fam_result *b, double eps)
{
    if (a->n != b->n) {
        return INFINITY;
    }
    double worst = 0;
    for (size_t i = 0; i < a->n; i++) {
        const double x = a->v[i], y = b->v[i];
        if (x == y || (x != x && y != y)) {
            continue;
        }
        if (!isfinite(x) || !isfinite(y)) {
            return INFINITY;
        }
        const double u = fabs(x - y) / (eps * fmax(1.0, fabs(x)));
        worst = u > worst ? u : worst;
    }
    return worst;
}

static double worst_vecmath_ulp;
static int variant_cases, half_cases;

/* One case of `family` from the bytes at buf: each variant and thread count
 * against the best variant on one thread. */
static void
check_variants(int family, const uint8_t *buf, size_t n, int tame, ptrdiff_t big)
{
    const int best = lf_set_isa(-1);
    reader r = {buf, n};
    fam_case c;
    fam_build(&c, family, &r, tame, big);
    variant_cases++;
    half_cases += c.half != 0;
    fam_result ref = {NULL, 0, 0};
    lf_set_num_threads(1);
    fam_run(&c, &ref);
    for (int level = best; level >= 0; level--) {
        for (int threads = 1; threads <= (big > 1 ? 3 : 1); threads++) {
            if (level == best && threads == 1) {
                continue;
            }
            lf_set_isa(level);
            lf_set_num_threads(threads);
            fam_result got = {NULL, 0, 0};
            fam_run(&c, &got);
            const int same = got.n == ref.n &&
                             (got.n == 0 || memcmp(got.v, ref.v, got.n * sizeof(double)) == 0);
            if (c.uses_vecmath && level == 0 && best > 0 && tame) {
                /* (a half case: in the half format's ulp, every value) */
                const double eps = c.f64                      ? 0x1p-52
                                   : c.half == LF_HALF_BF16 ? 0x1p-7
                                   : c.half == LF_HALF_F16  ? 0x1p-10
                                                            : 0x1p-23;
                const double u = max_ulp(&ref, &got, eps);
                if (!c.half) {
                    worst_vecmath_ulp = u > worst_vecmath_ulp ? u : worst_vecmath_ulp;
                }
                CHECK(u <= (c.half ? VECMATH_MAX_HALF_ULP : VECMATH_MAX_ULP),
                      "%s f%d (half %d): baseline %g ulp from isa %d", fam_names[c.family],
                      c.f64 ? 64 : 32, c.half, u, best);
            }
            else if (!(c.uses_vecmath && level == 0 && best > 0)) {
                CHECK(same, "%s f%d (opts %#x, tame %d, big %td): isa %d, %d threads differ",
                      fam_names[c.family], c.f64 ? 64 : 32, c.opts, tame, big, level,
                      threads);
            }
            free(got.v);
        }
    }
    lf_set_isa(-1);
    lf_set_num_threads(0);
    free(ref.v);
    fam_free(&c);
}

/* The fused heads' tile kernels: a [N, C] block of logits (exact-size
 * malloc), cross-entropy in one FULL pass and in two class blocks (STATS then
 * GRAD), BCE against sparse positives in two class blocks; against long
 * double formulas. */
static void
test_linear_tiles(ptrdiff_t N, ptrdiff_t C, double ls)
{
    const ptrdiff_t c1 = C / 2; /* the two class blocks: [0, c1), [c1, C) */
    double *x = malloc((size_t)(N * C) * sizeof(double));
    double *tile = malloc((size_t)(N * C) * sizeof(double));
    double *blk = malloc((size_t)(N * C) * sizeof(double));
    double *w = malloc((size_t)C * sizeof(double));
    int64_t *t = malloc((size_t)N * sizeof(int64_t));
    double *st = malloc((size_t)(6 * N) * sizeof(double));
    double *m = st, *s = st + N, *a = st + 2 * N, *b = st + 3 * N, *rs = st + 5 * N;
    double wsum = 0;
    for (ptrdiff_t c = 0; c < C; c++) {
        w[c] = 0.5 + (double)(c % 3) / 4;
        wsum += w[c];
    }
    for (ptrdiff_t i = 0; i < N * C; i++) {
        x[i] = sin(0.7 * (double)i) * 4;
    }
    for (ptrdiff_t n = 0; n < N; n++) {
        t[n] = n % 4 == 3 ? -100 : (n * 7) % C;
        rs[n] = 0.25;
    }
    lf_lce_tile a_full = {0};
    a_full.rows = N;
    a_full.cols = C;
    a_full.C = C;
    a_full.tile = (char *)tile;
    a_full.ld = C * (ptrdiff_t)sizeof(double);
    a_full.target = t;
    a_full.weight = (const char *)w;
    a_full.wsum = wsum;
    a_full.ignore_index = -100;
    a_full.label_smoothing = ls;
    a_full.m = m;
    a_full.s = s;
    a_full.a = a;
    a_full.b = b;
    a_full.rowscale = rs;
    a_full.grad = 1;
    memcpy(tile, x, (size_t)(N * C) * sizeof(double));
    lf_lce_tile_f64(&a_full, LF_LCE_FULL);
    /* the same in two class blocks, each its own exact-size buffer view */
    double *m2 = malloc((size_t)(5 * N) * sizeof(double));
    double *s2 = m2 + N, *a2 = m2 + 2 * N, *b2 = m2 + 3 * N, *lse2 = m2 + 4 * N;
    for (ptrdiff_t n = 0; n < N; n++) {
        m2[n] = -INFINITY;
        s2[n] = a2[n] = b2[n] = 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (ptrdiff_t c0 = 0; c0 < C; c0 = c0 == 0 && c1 > 0 ? c1 : C) {
            const ptrdiff_t nc = c0 == 0 && c1 > 0 ? c1 : C - c0;
            double *bt = malloc((size_t)(N * nc + 1) * sizeof(double));
            for (ptrdiff_t n = 0; n < N; n++) {
                memcpy(bt + n * nc, x + n * C + c0, (size_t)nc * sizeof(double));
            }
            lf_lce_tile p = a_full;
            p.cols = nc;
            p.c0 = c0;
            p.tile = (char *)bt;
            p.ld = nc * (ptrdiff_t)sizeof(double);
            p.m = m2;
            p.s = s2;
            p.a = a2;
            p.b = b2;
            p.lse = lse2;
            lf_lce_tile_f64(&p, pass == 0 ? LF_LCE_STATS : LF_LCE_GRAD);
            for (ptrdiff_t n = 0; n < N && pass == 1; n++) {
                memcpy(blk + n * C + c0, bt + n * nc, (size_t)nc * sizeof(double));
            }
            free(bt);
        }
        for (ptrdiff_t n = 0; n < N && pass == 0; n++) {
            lse2[n] = m2[n] + log(s2[n]);
        }
    }
    for (ptrdiff_t n = 0; n < N; n++) {
        long double mx = -INFINITY, se = 0;
        for (ptrdiff_t c = 0; c < C; c++) {
            mx = x[n * C + c] > mx ? x[n * C + c] : mx;
        }
        for (ptrdiff_t c = 0; c < C; c++) {
            se += expl(x[n * C + c] - mx);
        }
        const long double L = mx + (se > 0 ? logl(se) : -(long double)INFINITY);
        const int ign = t[n] == -100;
        long double A = 0, loss = 0;
        for (ptrdiff_t c = 0; c < C && !ign; c++) {
            const long double coef = (1 - ls) * (c == t[n] ? w[c] : 0) + ls / C * w[c];
            A += coef;
            loss += coef * (L - x[n * C + c]);
        }
        const double got = ign ? 0.0 : a[n] * (m[n] + log(s[n])) - b[n];
        const double got2 = ign ? 0.0 : a2[n] * lse2[n] - b2[n];
        CHECK(close_to(got, (double)loss, 1e-12), "lce loss row %td: %g vs %Lg", n, got, loss);
        CHECK(close_to(got2, (double)loss, 1e-12), "lce 2-pass loss row %td: %g vs %Lg", n,
              got2, loss);
        for (ptrdiff_t c = 0; c < C; c++) {
            const long double coef = (1 - ls) * (c == t[n] ? w[c] : 0) + ls / C * w[c];
            const long double g = ign ? 0 : 0.25L * (A * expl(x[n * C + c] - L) - coef);
            CHECK(close_to(tile[n * C + c], (double)g, 1e-12), "lce grad (%td, %td)", n, c);
            CHECK(close_to(blk[n * C + c], (double)g, 1e-12), "lce 2-pass grad (%td, %td)", n, c);
        }
    }
    /* BCE: row n's positives {n % C, (3 n) % C, n % C again}, sorted, padded with C */
    const ptrdiff_t P = 4;
    int64_t *pos = malloc((size_t)(N * P) * sizeof(int64_t));
    double *loss_rows = calloc((size_t)N + 1, sizeof(double));
    for (ptrdiff_t n = 0; n < N; n++) {
        int64_t u = n % C, v = (3 * n) % C;
        int64_t lo = u < v ? u : v, hi = u < v ? v : u;
        pos[n * P] = lo;
        pos[n * P + 1] = lo;
        pos[n * P + 2] = hi;
        pos[n * P + 3] = C;
    }
    memcpy(tile, x, (size_t)(N * C) * sizeof(double));
    for (ptrdiff_t c0 = 0; c0 < C; c0 = c0 == 0 && c1 > 0 ? c1 : C) {
        const ptrdiff_t nc = c0 == 0 && c1 > 0 ? c1 : C - c0;
        lf_lbce_tile q = {0};
        q.rows = N;
        q.cols = nc;
        q.C = C;
        q.c0 = c0;
        q.tile = (char *)(tile + c0);
        q.ld = C * (ptrdiff_t)sizeof(double);
        q.pos = pos;
        q.P = P;
        q.pos_weight = (const char *)w;
        q.loss = loss_rows;
        q.rowscale = rs;
        q.grad = 1;
        lf_lbce_tile_f64(&q);
    }
    for (ptrdiff_t n = 0; n < N; n++) {
        long double want = 0;
        for (ptrdiff_t c = 0; c < C; c++) {
            const int y = c == n % C || c == (3 * n) % C;
            const long double z = x[n * C + c];
            const long double sp = z > 0 ? z + log1pl(expl(-z)) : log1pl(expl(z));
            const long double sig = 1 / (1 + expl(-z));
            want += y ? w[c] * (sp - z) : sp;
            const long double g = 0.25L * (y ? w[c] * (sig - 1) : sig);
            CHECK(close_to(tile[n * C + c], (double)g, 1e-12), "lbce grad (%td, %td)", n, c);
        }
        CHECK(close_to(loss_rows[n], (double)want, 1e-12), "lbce loss row %td: %g vs %Lg", n,
              loss_rows[n], want);
    }
    free(pos);
    free(loss_rows);
    free(m2);
    free(x);
    free(tile);
    free(blk);
    free(w);
    free(t);
    free(st);
}

static void
test_variants(void)
{
    const size_t n = (size_t)1 << 22;
    uint8_t *buf = malloc(n);
    uint64_t state = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        buf[i] = (uint8_t)(state >> 56);
    }
    for (int family = 0; family < FAM_COUNT; family++) {
        for (size_t k = 0; k < 60; k++) {
            const size_t off = (size_t)(family * 60 + k) * 4096;
            check_variants(family, buf + off, n - off, k % 3 != 0, 1);
        }
        for (size_t k = 0; k < 6; k++) { /* large enough for the threads */
            check_variants(family, buf + k * 977, n - k * 977, 1, 1024);
        }
    }
    printf("test_engine: instruction-set variants agree over %d cases, %d with half operands "
           "(families using vecmath: baseline within %.1f ulp of the FMA variants)\n",
           variant_cases, half_cases, worst_vecmath_ulp);
    free(buf);
}

/* ---- interruption: a poll that says stop ends a long pool call early ---- */

#include "kernels/pool.h"
#include <time.h>

static double
seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double
slow_unit(void *ctx, ptrdiff_t u)
{
    (void)u;
    const double until = seconds_now() + *(const double *)ctx;
    while (seconds_now() < until) {
    }
    return 1.0;
}

static int polls;

static int
stop_at_first_poll(void *ctx)
{
    (void)ctx;
    polls++;
    return 1;
}

static int
never_stop(void *ctx)
{
    (void)ctx;
    polls++;
    return 0;
}

static void
test_interrupt(int threads)
{
    const int before = lf_get_num_threads();
    lf_set_num_threads(threads);
    double unit_seconds = 0.002; /* 400 units: 0.8 s of work */
    const ptrdiff_t units = 400;
    polls = 0;
    double t0 = seconds_now();
    lf_interrupt_begin(stop_at_first_poll, NULL);
    (void)lf_parallel_sum(slow_unit, &unit_seconds, units, (ptrdiff_t)1 << 30);
    const int stopped = lf_interrupt_end();
    const double took = seconds_now() - t0;
    CHECK(stopped == 1 && polls == 1, "%d threads: stopped %d after %d polls", threads, stopped,
          polls);
    CHECK(took < 0.6, "%d threads: the interrupted call took %.3f s", threads, took);
    /* a poll that never stops: the whole sum, the poll asked about every 50 ms */
    polls = 0;
    t0 = seconds_now();
    lf_interrupt_begin(never_stop, NULL);
    const double sum = lf_parallel_sum(slow_unit, &unit_seconds, units, (ptrdiff_t)1 << 30);
    CHECK(lf_interrupt_end() == 0 && sum == (double)units, "%d threads: sum %g of %td units",
          threads, sum, units);
    CHECK(polls >= 1, "%d threads: %d polls in %.3f s", threads, polls, seconds_now() - t0);
    /* and no poll at all outside lf_interrupt_begin / end */
    CHECK(lf_parallel_sum(slow_unit, &unit_seconds, 8, (ptrdiff_t)1 << 30) == 8.0 && !lf_checkpoint(),
          "a call outside begin / end was stopped");
    lf_set_num_threads(before);
}

#include "test_half.h" /* the float16 / bfloat16 conversions (uses CHECK) */

int
main(void)
{
    test_pairwise_and_ksum();
    test_half();
    const ptrdiff_t sizes[] = {0, 1, 2, 7, 8, 9, 127, 128, 129, 1000, 4099};
    const ptrdiff_t steps[] = {1, -1, 3, -2};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t k = 0; k < 4; k++) {
            test_elementwise(sizes[s], steps[k], steps[(k + 1) % 4], (int)(k & 1));
        }
    }
    const ptrdiff_t Ns[] = {0, 1, 3, 130}, Cs[] = {1, 2, 5, 17};
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < 4; j++) {
            test_classes(Ns[i], Cs[j], j & 1 ? -1 : 1, i & 1 ? -1 : 2, (double)j / 8);
        }
    }
    test_classes(2, 0, 1, 1, 0.0);
    test_float32_paths();
    test_ranking_slots();
    test_multilabel_soft_margin(5, 7);
    test_multilabel_soft_margin(3, 0);
    test_multilabel_soft_margin(2, 20000);
    test_linear_tiles(1, 1, 0.0);
    test_linear_tiles(5, 7, 0.0);
    test_linear_tiles(9, 40, 0.1);
    test_linear_tiles(70, 300, 0.2); /* several units of rows for the threads */
    test_variants();
    test_interrupt(1);
    test_interrupt(2);
    printf("test_engine: %d checks, %d failures\n", checks, failures);
    return failures != 0;
}
