/*
 * test_half.h -- the float16 / bfloat16 conversions of csrc/kernels/half.h
 * over every 16-bit pattern, against a reference built from frexp-free
 * double arithmetic (ldexp and rint, the FPU's round-to-nearest-even):
 * widening exactly, narrowing every half value, every midpoint between
 * neighbours (the ties) and the floats on either side of them, overflow to
 * inf, float32 subnormals, nan payloads.  Included by test_engine.c (its
 * CHECK macro and counters).
 */
#include <float.h>

#include "kernels/half.h"

/* A format: significand bits after the point, smallest normal exponent,
 * exponent field width. */
typedef struct {
    const char *name;
    int mant, emin, ebits;
    float (*widen)(uint16_t);
    uint16_t (*narrow)(float);
} half_format;

/* The value of bit pattern h, from its fields. */
static double
ref_widen(const half_format *f, uint16_t h)
{
    const int emax_field = (1 << f->ebits) - 1;
    const int e = (h >> f->mant) & emax_field, m = h & ((1 << f->mant) - 1);
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (e == emax_field) {
        return m ? (double)NAN : sign * (double)INFINITY;
    }
    if (e == 0) {
        return sign * ldexp((double)m, f->emin - f->mant);
    }
    return sign * ldexp((double)((1 << f->mant) + m), e - 1 + f->emin - f->mant);
}

/* v rounded to the format, to nearest even (rint), inf beyond its largest. */
static double
ref_narrow(const half_format *f, double v)
{
    if (isnan(v) || v == 0 || isinf(v)) {
        return v;
    }
    const double a = fabs(v);
    int e = ilogb(a);
    e = e < f->emin ? f->emin : e;
    double r = ldexp(rint(ldexp(a, f->mant - e)), e - f->mant);
    const double largest = ref_widen(f, (uint16_t)((((1 << f->ebits) - 1) << f->mant) - 1));
    if (r > largest) {
        r = (double)INFINITY;
    }
    return copysign(r, v);
}

static void
check_narrow(const half_format *f, float x)
{
    const uint16_t h = f->narrow(x);
    const double got = (double)f->widen(h), want = ref_narrow(f, (double)x);
    CHECK(isnan(want) ? isnan(got) : got == want && !signbit(got) == !signbit(want),
          "%s: narrow(%a) = %a (bits %04x), want %a", f->name, (double)x, got, h, want);
}

static void
test_half_format(const half_format *f)
{
    for (uint32_t h = 0; h < 0x10000u; h++) {
        const float v = f->widen((uint16_t)h);
        const double want = ref_widen(f, (uint16_t)h);
        CHECK(isnan(want) ? isnan(v) : (double)v == want && !signbit(v) == !signbit(want),
              "%s: widen(%04x) = %a, want %a", f->name, h, (double)v, want);
        if (isnan(want)) { /* a nan stays a nan of its sign through a round trip */
            const uint16_t back = f->narrow(v);
            CHECK(isnan(f->widen(back)) && (back & 0x8000) == (h & 0x8000),
                  "%s: nan %04x came back as %04x", f->name, h, back);
            continue;
        }
        CHECK(f->narrow(v) == h, "%s: narrow(widen(%04x)) = %04x", f->name, h, f->narrow(v));
        check_narrow(f, nextafterf(v, 0.0f));
        check_narrow(f, nextafterf(v, v < 0 ? -INFINITY : INFINITY));
        if (isinf(v) || (h & 0x7fffu) == 0x7fffu) {
            continue;
        }
        /* the tie between v and the next value away from 0, exact in float */
        const float next = f->widen((uint16_t)(h + 1));
        if (!isnan(next)) {
            const float mid = (float)(((double)v + (double)next) / 2);
            check_narrow(f, mid);
            check_narrow(f, nextafterf(mid, 0.0f));
            check_narrow(f, nextafterf(mid, v < 0 ? -INFINITY : INFINITY));
        }
    }
    const float more[] = {FLT_MAX, -FLT_MAX, FLT_MIN, 1e-40f, -1e-45f, 65519.99f, 65520.0f,
                          3.3895314e38f, 3.3961776e38f, 0.1f, 1.0f / 3.0f};
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        check_narrow(f, more[i]);
    }
    /* a nan whose payload lives only in float's low bits stays a nan */
    const uint32_t nans[] = {0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7f801000u};
    for (size_t i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
        const uint16_t h = f->narrow(lf_bits_f32(nans[i]));
        CHECK(isnan(f->widen(h)) && (h >> 15) == (nans[i] >> 31), "%s: nan %08x -> %04x",
              f->name, nans[i], h);
    }
}

/* The array forms (contiguous, strided, unaligned) agree with the scalar ones. */
static void
test_half_arrays(lf_half_kind kind, const half_format *f)
{
    enum { N = 1000 };
    static float src[N], back[N];
    static unsigned char raw[3 * N * 2 + 1];
    for (int i = 0; i < N; i++) {
        src[i] = (float)(i - 500) * 0.37f + (float)i * 1e-3f;
    }
    const ptrdiff_t steps[] = {2, 6, -2};
    for (int k = 0; k < 3; k++) {
        for (int off = 0; off < 2; off++) { /* off 1: an odd address */
            const ptrdiff_t step = steps[k];
            unsigned char *base = raw + off + (step < 0 ? (size_t)(-step) * (N - 1) : 0);
            lf_half_narrow(kind, src, base, step, N);
            lf_half_widen(kind, base, step, back, N);
            int bad = 0;
            for (int i = 0; i < N; i++) {
                uint16_t h;
                memcpy(&h, base + i * step, sizeof(h));
                bad += h != f->narrow(src[i]) || back[i] != f->widen(h);
            }
            CHECK(bad == 0, "%s arrays, step %td offset %d: %d values differ", f->name, step,
                  off, bad);
        }
    }
}

/* lf_half_convert: the pool's units (a partial last one too) give the scalar bits. */
static void
test_half_convert(lf_half_kind kind, const half_format *f)
{
    enum { N = 3 * LF_UNIT_ELEMS + 123 };
    static float src[N], back[N];
    static uint16_t h[N];
    for (int i = 0; i < N; i++) {
        src[i] = (float)(i - N / 2) * 1.37e-3f;
    }
    lf_half_convert(kind, 0, h, src, N);
    lf_half_convert(kind, 1, h, back, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        bad += h[i] != f->narrow(src[i]) || back[i] != f->widen(h[i]);
    }
    CHECK(bad == 0, "%s lf_half_convert: %d values differ", f->name, bad);
}

/* The element-wise template's half storage (lf_elementwise.half_ops): the
 * float32 kernel on half input and target, writing half loss and gradient
 * (the gradient strided), gives the float32 kernel's results narrowed once. */
static void
test_half_template(lf_half_kind kind, const half_format *f)
{
    enum { N = 3 * LF_UNIT_ELEMS + 77 };
    static float x[N], t[N], l[N], g[N];
    static uint16_t hx[N], ht[N], hl[N], hg[2 * N];
    for (int i = 0; i < N; i++) {
        hx[i] = f->narrow((float)(i % 1001 - 500) * 0.0137f);
        ht[i] = f->narrow((float)(i % 13) / 12.0f);
        x[i] = f->widen(hx[i]);
        t[i] = f->widen(ht[i]);
    }
    lf_elementwise a;
    memset(&a, 0, sizeof(a));
    a.ndim = 1;
    a.shape[0] = N;
    a.scale = 1.0 / N;
    char *wide[] = {(char *)x, (char *)t, (char *)l, (char *)g};
    char *half[] = {(char *)hx, (char *)ht, (char *)hl, (char *)hg};
    const int ops[] = {LF_EW_INPUT, LF_EW_TARGET, LF_EW_OUT, LF_EW_GRAD};
    lf_ew_param prm;
    memset(&prm, 0, sizeof(prm));
    for (int j = 0; j < 4; j++) {
        a.data[ops[j]] = wide[j];
        a.strides[ops[j]][0] = 4;
    }
    const double want = lf_binary_f32(&a, LF_BIN_BCE_LOGITS, &prm);
    for (int j = 0; j < 4; j++) {
        a.data[ops[j]] = half[j];
        a.strides[ops[j]][0] = ops[j] == LF_EW_GRAD ? 4 : 2; /* every other element */
        a.half_ops |= 1u << ops[j];
    }
    a.half_kind = kind;
    const double got = lf_binary_f32(&a, LF_BIN_BCE_LOGITS, &prm);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        bad += hl[i] != f->narrow(l[i]) || hg[2 * i] != f->narrow(g[i]);
    }
    CHECK(got == want && bad == 0, "%s template: sum %.17g (want %.17g), %d values differ",
          f->name, got, want, bad);
}

/* Every instruction-set variant's runs give the scalar bits: lf_half_widen
 * over every 16-bit pattern (float16 in F16C's instructions at level 1 and
 * up), lf_half_narrow over floats around every half value's 13 dropped bits
 * -- each sign, exponent and kept mantissa with the low bits 0, 1, just
 * under and over the tie, the tie, and all ones -- and over a run of tiny
 * floats, where float16's subnormals drop more bits.  (The whole 2^32 float32
 * range was checked once, outside the harness: no difference.) */
static void
test_half_variants(lf_half_kind kind, const half_format *f)
{
    enum { W = 1 << 16, LOW = 8, CHUNK = 1 << 12 };
    static uint16_t h[W], out[CHUNK];
    static float w[W], src[CHUNK];
    const uint32_t lows[LOW] = {0, 1, 0xffe, 0xfff, 0x1000, 0x1001, 0x1234, 0x1fff};
    for (uint32_t i = 0; i < W; i++) {
        h[i] = (uint16_t)i;
    }
    const int best = lf_set_isa(-1);
    for (int level = best; level >= 0; level--) {
        lf_set_isa(level);
        lf_half_widen(kind, h, 2, w, W);
        int bad = 0;
        for (uint32_t i = 0; i < W; i++) {
            bad += lf_f32_bits(w[i]) != lf_f32_bits(f->widen(h[i]));
        }
        long nbad = 0;
        for (uint32_t top = 0; top < (1u << 19); top += CHUNK / LOW) {
            for (uint32_t i = 0; i < CHUNK; i++) {
                src[i] = lf_bits_f32(((top + i / LOW) << 13) | lows[i % LOW]);
            }
            lf_half_narrow(kind, src, out, 2, CHUNK);
            for (uint32_t i = 0; i < CHUNK; i++) {
                nbad += out[i] != f->narrow(src[i]);
            }
        }
        for (uint32_t base = 0x33000000u; base < 0x38800000u; base += 0x00100000u) {
            for (uint32_t i = 0; i < CHUNK; i++) {
                src[i] = lf_bits_f32(base + i * 0x7fu);
            }
            lf_half_narrow(kind, src, out, 2, CHUNK);
            for (uint32_t i = 0; i < CHUNK; i++) {
                nbad += out[i] != f->narrow(src[i]);
            }
        }
        /* runs of every length to 40 (the AVX2 bfloat16 loops end a run
         * that is not a multiple of sixteen with an overlapping block, and
         * sends a block that holds a nan to the scalar function), each with
         * a nan at each place or none, the rest on or near ties; nothing
         * past the run is written */
        for (uint32_t len = 1; len <= 40; len++) {
            for (uint32_t at = 0; at <= len; at++) {
                for (uint32_t i = 0; i < 41; i++) {
                    src[i] = lf_bits_f32(0x3f808000u + (i << 16) + (i & 1u));
                    out[i] = 0xabcdu;
                }
                if (at < len) {
                    src[at] = lf_bits_f32(at & 1u ? 0x7fffffffu : 0xff800001u);
                }
                lf_half_narrow(kind, src, out, 2, len);
                for (uint32_t i = 0; i < 41; i++) {
                    nbad += out[i] != (i < len ? f->narrow(src[i]) : 0xabcdu);
                }
            }
            /* and widened: every length ends with an overlapping step too */
            for (uint32_t i = 0; i < 41; i++) {
                src[i] = -1.0f;
            }
            lf_half_widen(kind, h + 0x3f00u + len, 2, src, len);
            for (uint32_t i = 0; i < 41; i++) {
                bad += lf_f32_bits(src[i]) !=
                       lf_f32_bits(i < len ? f->widen((uint16_t)(0x3f00u + len + i)) : -1.0f);
            }
        }
        CHECK(bad == 0 && nbad == 0, "%s, isa %d: widen %d, narrow %ld values differ", f->name,
              level, bad, nbad);
    }
    lf_set_isa(-1);
}

static void
test_half(void)
{
    const half_format f16 = {"float16", 10, -14, 5, lf_f16_to_f32, lf_f32_to_f16};
    const half_format bf16 = {"bfloat16", 7, -126, 8, lf_bf16_to_f32, lf_f32_to_bf16};
    test_half_format(&f16);
    test_half_format(&bf16);
    test_half_arrays(LF_HALF_F16, &f16);
    test_half_arrays(LF_HALF_BF16, &bf16);
    test_half_convert(LF_HALF_F16, &f16);
    test_half_convert(LF_HALF_BF16, &bf16);
    test_half_template(LF_HALF_F16, &f16);
    test_half_template(LF_HALF_BF16, &bf16);
    test_half_variants(LF_HALF_F16, &f16);
    test_half_variants(LF_HALF_BF16, &bf16);
}
