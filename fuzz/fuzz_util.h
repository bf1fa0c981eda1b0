/*
 * fuzz_util.h -- shared by the libFuzzer harnesses: read choices from the
 * fuzzer's bytes and build strided views in blocks of exactly the extent they
 * reach, so that ASan sees any access outside a view.
 */
#ifndef PYLOSSFN_FUZZ_UTIL_H_
#define PYLOSSFN_FUZZ_UTIL_H_

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static inline unsigned
take(reader *r)
{
    if (r->n == 0) {
        return 0;
    }
    r->n--;
    return *r->p++;
}

static inline uint64_t
take64(reader *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | take(r);
    }
    return v;
}

/* One operand's view: `nd` dims of `shape`, strides (bytes) chosen by the
 * bytes (broadcast, forward, backward, every other), and its block.  With
 * `contiguous` 1 the steps are forward with gaps between rows (an output);
 * with 2 the view is compact, in C order. */
typedef struct {
    char *block, *base;
    ptrdiff_t strides[8];
    size_t bytes;
} fview;

static inline void
fview_make(fview *v, reader *r, int nd, const ptrdiff_t *shape, size_t item, int contiguous)
{
    ptrdiff_t elems = 1, lo = 0, hi = 0, inner = 1;
    for (int d = 0; d < nd; d++) {
        elems *= shape[d];
    }
    for (int d = nd - 1; d >= 0; d--) {
        static const int factors[4] = {0, 1, -1, 2};
        const int f = contiguous ? 1 : factors[take(r) & 3];
        const ptrdiff_t s = (ptrdiff_t)f * inner;
        v->strides[d] = s * (ptrdiff_t)item;
        if (shape[d] > 0) {
            lo += s < 0 ? s * (shape[d] - 1) : 0;
            hi += s > 0 ? s * (shape[d] - 1) : 0;
        }
        inner *= shape[d] > 0 ? (contiguous == 2 ? shape[d] : 2 * shape[d]) : 1;
    }
    v->bytes = elems > 0 ? (size_t)(hi - lo + 1) * item : 0;
    v->block = malloc(v->bytes ? v->bytes : 1);
    v->base = v->block - lo * (ptrdiff_t)item;
}

/* Fills the block from the fuzzer's bytes (raw bit patterns: nan, inf,
 * subnormals all come), or, with `tame`, with values in [0, 1]. */
static inline void
fview_fill(fview *v, reader *r, int f64, int tame)
{
    const size_t item = f64 ? 8 : 4;
    for (size_t off = 0; off + item <= v->bytes; off += item) {
        if (tame) {
            const double u = (double)take(r) / 255.0;
            if (f64) {
                memcpy(v->block + off, &u, 8);
            }
            else {
                const float uf = (float)u;
                memcpy(v->block + off, &uf, 4);
            }
        }
        else {
            for (size_t b = 0; b < item; b++) {
                v->block[off + b] = (char)take(r);
            }
        }
    }
}

#endif /* PYLOSSFN_FUZZ_UTIL_H_ */
