/*
 * ew_template.h -- the one element-wise template (engine-internal).
 *
 * An element-wise loss is its per-element function and one row of its
 * family's list in pylossfn.h (LF_RG_LOSSES, LF_BIN_LOSSES, LF_ML_LOSSES):
 *
 *     X(KIND, name, param, setup, modes, flags)
 *
 * written in its family's *_impl.h (in T / FN / M / V, see variants.h) as
 *
 *     typedef struct { ... } FN(param);        its options, in T
 *     static int FN(setup)(FN(param) *p, const lf_ew_param *a, const lf_elementwise *e);
 *     static inline LF_ALWAYS_INLINE void
 *     FN(name_point)(const FN(param) *p, const int mode, const int want,
 *                    const FN(ew_in) *in, FN(ew_out) *o);
 *
 * setup converts the options (and precomputes what does not change per
 * element) and returns the mode, in [0, modes).  The point function sets
 * o->l, and when want & EW_GRAD o->g (o->g2 with LF_EW_TWO), when want &
 * EW_HESS o->h (o->h2): the derivatives of the loss already times in->go
 * (grad_output), o->h = 0 where the loss is piecewise linear.  `mode` and
 * `want` are constants where it is inlined, so each variant's loop has no
 * test on them left in it.
 *
 * The family's body then says
 *
 *     #define LF_EW_LIST LF_RG_LOSSES
 *     #define LF_EW_KERNEL FN(regression)
 *     #include "ew_template.h"
 *
 * and this file makes of each row a block function for lf_ew_foreach_par,
 * and of the list the kernel LF_EW_KERNEL(a, kind, p) that runs any of its
 * kinds and returns the sum of the losses: the blocked, vectorized,
 * threaded loop with the loss / gradient / Hessian stores is written once,
 * here, for every loss, instruction set and dtype.
 *
 * Every block runs one loop over unit-stride arrays, which gcc vectorizes
 * (exp and log by vecmath.h): operands that are unit-stride in memory are
 * used in place, strided or broadcast (step 0) ones are first copied to a
 * buffer of two blocks (FN(in_op), LF_EW_SPAN elements), and outputs that
 * are not unit-stride are written through one (FN(out_op)); weight,
 * pos_weight and grad_output, when all three are broadcast (step 0: the
 * common case of a reduced loss), are read as constants instead.  The loop
 * is compiled five times per mode: the loss alone and with the gradient,
 * each with broadcast or copied weights, and with the gradient and the
 * Hessian (and the loss alone with broadcast weights once more, over whole
 * blocks of a constant length: LF_EW_LOOP_BC); the same operations in
 * the same order in each, so every layout and every call gives the same
 * bits.  In the float32 kernels an operand may be stored as float16 or
 * bfloat16 (lf_elementwise.half_ops): in_op widens it into its block buffer
 * and out_done narrows the block's float results into it (one rounding to
 * nearest even), so a half call makes no float32 copy of its arrays and
 * gets the bits of the float32 path narrowed afterwards.  Blocks sum their losses with
 * FN(sum_block): one summation order for every loss.  A forward call takes
 * two sibling blocks of the pairwise cascade at once (each row's pair
 * function, lf_pairwise_pairs): one loop over both, then their two sums side
 * by side (FN(sum_block2)), added as the cascade adds them: the same bits.
 */

#ifndef LF_EW_LIST
#error "define LF_EW_LIST as the family's list of losses before including ew_template.h"
#endif
#ifndef LF_EW_KERNEL
#error "define LF_EW_KERNEL as the family's kernel name before including ew_template.h"
#endif

/* the modes a row may have: FN(ew_block)'s cases, so not a setting */
#define LF_EW_MAXMODES 5
/* the most elements FN(ew_run) takes: two blocks (lf_pairwise_pairs) */
#define LF_EW_SPAN (2 * LF_PAIRWISE_BLOCK)

/* A call's options, converted for its kind, and its mode; row_len is C for
 * an LF_EW_ROWS loss. */
typedef struct {
    union {
#define LF_EW_MEMBER(K, name, param, setup, modes, flags) FN(param) name;
        LF_EW_LIST(LF_EW_MEMBER)
#undef LF_EW_MEMBER
    } p;
    int mode;
    double row_len;
} FN(ew_call);

/* FN(sum_block)(l, n1) + FN(sum_block)(l + n1, n2), bit for bit, for n1 and
 * n2 multiples of 8: the two blocks' steps interleaved while both have one
 * left, so that each step feeds two independent chains of adds, where one
 * block's sum is a chain of n / 8 dependent adds a lane (the latency that
 * bounds a memory-bound loss's reduced call).  Out of line: compiled once,
 * alone, gcc vectorizes both blocks' lanes (inlined into a large block
 * function, it left the second block's scalar in some). */
static LF_NOINLINE double
FN(sum_block2)(const T *restrict l, ptrdiff_t n1, ptrdiff_t n2)
{
    double a1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, a2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const T *restrict l2 = l + n1;
    const ptrdiff_t m = n1 < n2 ? n1 : n2;
    for (ptrdiff_t i = 0; i < m; i += 8) {
        for (int k = 0; k < 8; k++) {
            a1[k] += (double)l[i + k];
        }
        for (int k = 0; k < 8; k++) {
            a2[k] += (double)l2[i + k];
        }
    }
    FN(sum_steps)(l, m, n1, a1);
    FN(sum_steps)(l2, m, n2, a2);
    return FN(sum8)(a1) + FN(sum8)(a2);
}

/* A block's operands as unit-stride arrays (NULL when unused). */
typedef struct {
    const T *x, *y, *w, *pw, *x2, *go;
    T *l, *g, *g2, *h, *h2;
} FN(ew_arrays);

/* The point function of `kind` (a constant after inlining: one case left). */
static inline LF_ALWAYS_INLINE void
FN(ew_point)(const int kind, const int mode, const int want, const FN(ew_call) *c,
             const FN(ew_in) *in, FN(ew_out) *o)
{
    switch (kind) {
#define LF_EW_CASE(K, name, param, setup, modes, flags)   \
    case K:                                               \
        FN(name##_point)(&c->p.name, mode, want, in, o);  \
        break;
        LF_EW_LIST(LF_EW_CASE)
#undef LF_EW_CASE
    default:
        break;
    }
}

/* The loop of a block (or of two, a pair), with the variant (kind, mode,
 * want) fixed.  The arrays are restrict parameters, which gcc honours
 * (restrict locals it does not): else it guards the vector loop with a
 * run-time test of every pair of them that may overlap, and gives up beyond
 * ten such pairs. */
static inline LF_ALWAYS_INLINE void
FN(ew_loop)(const int kind, const int mode, const int want, const int two, const int bc,
            const FN(ew_call) *c, ptrdiff_t n, const T *restrict x, const T *restrict y,
            const T *restrict w, const T *restrict pw, const T *restrict x2,
            const T *restrict go, T *restrict l, T *restrict g, T *restrict g2,
            T *restrict h, T *restrict h2)
{
    /* bc: weight, pos_weight and grad_output are one value each (step 0),
     * read once here: gcc does not always see that no store of the loop
     * changes them, and then keeps the loop scalar to reload them */
    const T w0 = bc ? w[0] : (T)0, pw0 = bc ? pw[0] : (T)0, go0 = bc && want ? go[0] : (T)0;
    for (ptrdiff_t i = 0; i < n; i++) {
        FN(ew_in) in = {x[i], y[i], bc ? w0 : w[i], bc ? pw0 : pw[i], two ? x2[i] : (T)0,
                        !want ? (T)0 : bc ? go0 : go[i]};
        FN(ew_out) o = {0, 0, 0, 0, 0};
        FN(ew_point)(kind, mode, want, c, &in, &o);
        l[i] = o.l;
        if (want & EW_GRAD) {
            g[i] = o.g;
            if (two) {
                g2[i] = o.g2;
            }
        }
        if (want & EW_HESS) {
            h[i] = o.h;
            if (two) {
                h2[i] = o.h2;
            }
        }
    }
}

/* FN(ew_loop) over a block's arrays. */
#define LF_EW_LOOP(want, bc)                                                                 \
    FN(ew_loop)(kind, mode, (want), two, (bc), &call, n, b.x, b.y, b.w, b.pw, b.x2, b.go, b.l, \
                b.g, b.g2, b.h, b.h2)
/* FN(ew_loop) over len elements from off: the loss alone, weights broadcast
 * (bc). */
#define LF_EW_LOOP_AT(off, len)                                                              \
    FN(ew_loop)(kind, mode, 0, two, 1, &call, (len), b.x + (off), b.y + (off), b.w, b.pw,     \
                two ? b.x2 + (off) : NULL, b.go, b.l + (off), NULL, NULL, NULL, NULL)
/* The loss alone, weights broadcast (a reduced forward call): a whole block,
 * or a pair of them, as loops of the constant LF_PAIRWISE_BLOCK, which gcc
 * unrolls completely (a loop over up to two blocks it keeps rolled: with
 * AVX2 the memory-bound losses' forward calls were 5-10% slower).  The same
 * operations, so the same bits.  Not for gradients: hinge's measured 2-6%
 * slower so with AVX2, the others the same. */
#define LF_EW_LOOP_BC()                                                                       \
    do {                                                                                      \
        if (n1 == LF_PAIRWISE_BLOCK && (n2 == 0 || n2 == LF_PAIRWISE_BLOCK)) {                 \
            for (ptrdiff_t off_ = 0; off_ < n; off_ += LF_PAIRWISE_BLOCK) {                    \
                LF_EW_LOOP_AT(off_, LF_PAIRWISE_BLOCK);                                       \
            }                                                                                 \
        }                                                                                     \
        else {                                                                                \
            LF_EW_LOOP(0, 1);                                                                 \
        }                                                                                     \
    } while (0)

/* in_op fills its buffer exactly when it returns it, which gcc -O2 cannot
 * always see through the pointer it returns. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* An output of the block: in place, else through buf; scratch (buf, never
 * copied out) when the view lacks it but the variant writes it. */
static inline LF_ALWAYS_INLINE T *
FN(ew_out_op)(const lf_ew_row *r, int op, ptrdiff_t start, T *buf, int *copy)
{
    T *p = FN(out_op)(r, op, start, buf);
    *copy = p == buf;
    return p ? p : buf;
}

/* Elements [start, start + n1) of a row for one mode of `kind`, and the
 * block [start + n1, start + n1 + n2) after it when n2 > 0 (lf_pair_fn):
 * their losses in one loop (the same as each block's), then each block's
 * sum, added.  The two sums run side by side (FN(sum_block2)): each block's
 * is a chain of n / 8 dependent adds a lane, the latency that bounds the
 * reduced calls of the memory-bound losses. */
static inline LF_ALWAYS_INLINE double
FN(ew_run)(const lf_ew_row *r, ptrdiff_t start, ptrdiff_t n1, ptrdiff_t n2, const int kind,
           const int mode, const int flags)
{
    /* a private copy: no store of the loop can alias the options */
    const FN(ew_call) call = *(const FN(ew_call) *)r->user;
    const int two = (flags & LF_EW_TWO) != 0;
    const ptrdiff_t n = n1 + n2;
    T bx[LF_EW_SPAN], by[LF_EW_SPAN], bw[LF_EW_SPAN], bpw[LF_EW_SPAN], bx2[LF_EW_SPAN];
    T bgo[LF_EW_SPAN], bl[LF_EW_SPAN], bg[LF_EW_SPAN], bg2[LF_EW_SPAN], bh[LF_EW_SPAN];
    T bh2[LF_EW_SPAN];
    FN(ew_arrays) b = {NULL, NULL, NULL, NULL, NULL, NULL, bl, NULL, NULL, NULL, NULL};
    int copy_l = 0, copy_g = 0, copy_g2 = 0, copy_h = 0, copy_h2 = 0;
    /* the common case, weights and grad_output broadcast (or absent): the loop
     * reads them as constants, not from filled buffers (LF_EW_BLOCK's trick) */
    const int want = r->ptr[LF_EW_HESS] ? EW_GRAD | EW_HESS : r->ptr[LF_EW_GRAD] ? EW_GRAD : 0;
    const int bc = r->step[LF_EW_WEIGHT] == 0 && r->step[LF_EW_POS_WEIGHT] == 0 &&
                   r->step[LF_EW_GRAD_OUTPUT] == 0 && !(want & EW_HESS) &&
                   !LF_IS_HALF(r, LF_EW_WEIGHT) && !LF_IS_HALF(r, LF_EW_POS_WEIGHT) &&
                   !LF_IS_HALF(r, LF_EW_GRAD_OUTPUT);
    b.x = FN(in_op)(r, LF_EW_INPUT, start, n, bx);
    b.y = FN(in_op)(r, LF_EW_TARGET, start, n, by);
    b.w = bc ? (const T *)r->ptr[LF_EW_WEIGHT] : FN(in_op)(r, LF_EW_WEIGHT, start, n, bw);
    b.pw = bc ? (const T *)r->ptr[LF_EW_POS_WEIGHT]
              : FN(in_op)(r, LF_EW_POS_WEIGHT, start, n, bpw);
    if (two) {
        b.x2 = FN(in_op)(r, LF_EW_INPUT2, start, n, bx2);
    }
    /* a row loss (LF_EW_ROWS) has its OUT written by FN(ew_row_mean) */
    if (!(flags & LF_EW_ROWS) && r->ptr[LF_EW_OUT]) {
        b.l = FN(ew_out_op)(r, LF_EW_OUT, start, bl, &copy_l);
    }
    if (want) {
        b.go = bc ? (const T *)r->ptr[LF_EW_GRAD_OUTPUT]
                  : FN(in_op)(r, LF_EW_GRAD_OUTPUT, start, n, bgo);
        b.g = FN(ew_out_op)(r, LF_EW_GRAD, start, bg, &copy_g);
        if (two) {
            b.g2 = FN(ew_out_op)(r, LF_EW_GRAD2, start, bg2, &copy_g2);
        }
    }
    if (want & EW_HESS) {
        b.h = FN(ew_out_op)(r, LF_EW_HESS, start, bh, &copy_h);
        if (two) {
            b.h2 = FN(ew_out_op)(r, LF_EW_HESS2, start, bh2, &copy_h2);
        }
        LF_EW_LOOP(EW_GRAD | EW_HESS, 0);
    }
    else if (want && bc) {
        LF_EW_LOOP(EW_GRAD, 1);
    }
    else if (want) {
        LF_EW_LOOP(EW_GRAD, 0);
    }
    else if (bc) {
        LF_EW_LOOP_BC();
    }
    else {
        LF_EW_LOOP(0, 0);
    }
    if (copy_l) {
        FN(out_done)(r, LF_EW_OUT, start, n, b.l, bl);
    }
    if (copy_g) {
        FN(out_done)(r, LF_EW_GRAD, start, n, b.g, bg);
    }
    if (copy_g2) {
        FN(out_done)(r, LF_EW_GRAD2, start, n, b.g2, bg2);
    }
    if (copy_h) {
        FN(out_done)(r, LF_EW_HESS, start, n, b.h, bh);
    }
    if (copy_h2) {
        FN(out_done)(r, LF_EW_HESS2, start, n, b.h2, bh2);
    }
    if (n2 == 0) {
        return FN(sum_block)(b.l, n1);
    }
    return ((n1 | n2) & 7) == 0 ? FN(sum_block2)(b.l, n1, n2)
                                : FN(sum_block)(b.l, n1) + FN(sum_block)(b.l + n1, n2);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Two blocks of `kind` (or one, n2 = 0): its call's mode picks the variant,
 * each compiled with the mode as a constant (those below `modes` only). */
static inline LF_ALWAYS_INLINE double
FN(ew_block)(void *vr, ptrdiff_t start, ptrdiff_t n1, ptrdiff_t n2, const int kind,
             const int modes, const int flags)
{
    const lf_ew_row *r = vr;
    switch (((const FN(ew_call) *)r->user)->mode) {
    case 1:
        if (modes > 1) {
            return FN(ew_run)(r, start, n1, n2, kind, 1, flags);
        }
        break;
    case 2:
        if (modes > 2) {
            return FN(ew_run)(r, start, n1, n2, kind, 2, flags);
        }
        break;
    case 3:
        if (modes > 3) {
            return FN(ew_run)(r, start, n1, n2, kind, 3, flags);
        }
        break;
    case 4:
        if (modes > 4) {
            return FN(ew_run)(r, start, n1, n2, kind, 4, flags);
        }
        break;
    default:
        break;
    }
    return FN(ew_run)(r, start, n1, n2, kind, 0, flags);
}

/* Each row's pair function (lf_pair_fn, the one copy of its loops) and block
 * function (the pair function with no second block); a row with more modes
 * than FN(ew_block) has cases fails to compile (a division by zero in a
 * constant). */
#define LF_EW_BLOCK_FN(K, name, param, setup, modes, flags)                              \
    enum { FN(name##_modes_ok) = 1 / ((modes) >= 1 && (modes) <= LF_EW_MAXMODES) };       \
    static LF_NOINLINE double FN(name##_pair)(void *vr, ptrdiff_t start, ptrdiff_t n1,    \
                                              ptrdiff_t n2)                               \
    {                                                                                   \
        return FN(ew_block)(vr, start, n1, n2, K, modes, flags);                        \
    }                                                                                   \
    static double FN(name##_block)(void *vr, ptrdiff_t start, ptrdiff_t n)              \
    {                                                                                   \
        return FN(name##_pair)(vr, start, n, 0);                                        \
    }
LF_EW_LIST(LF_EW_BLOCK_FN)
#undef LF_EW_BLOCK_FN

#define LF_EW_BLOCK_ROW(K, name, param, setup, modes, flags) [K] = FN(name##_block),
static const lf_block_fn FN(ew_blocks)[] = {LF_EW_LIST(LF_EW_BLOCK_ROW)};
#undef LF_EW_BLOCK_ROW

#define LF_EW_PAIR_ROW(K, name, param, setup, modes, flags) [K] = FN(name##_pair),
static const lf_pair_fn FN(ew_pairs)[] = {LF_EW_LIST(LF_EW_PAIR_ROW)};
#undef LF_EW_PAIR_ROW

#define LF_EW_FLAGS_ROW(K, name, param, setup, modes, flags) [K] = (flags),
static const int FN(ew_flags)[] = {LF_EW_LIST(LF_EW_FLAGS_ROW)};
#undef LF_EW_FLAGS_ROW

/* The options of `kind` into c, and its mode. */
static int
FN(ew_setup)(int kind, FN(ew_call) *c, const lf_ew_param *a, const lf_elementwise *e)
{
    switch (kind) {
#define LF_EW_SETUP(K, name, param, setup, modes, flags) \
    case K:                                              \
        return FN(setup)(&c->p.name, a, e);
        LF_EW_LIST(LF_EW_SETUP)
#undef LF_EW_SETUP
    default:
        return 0;
    }
}

/* A row of an LF_EW_ROWS loss: the mean of its terms, in double; a row of no
 * terms (C = 0) is nan, as torch's 0 / 0.  OUT holds one value per row. */
static double
FN(ew_row_mean)(const lf_ew_row *r, double sum)
{
    const double len = ((const FN(ew_call) *)r->user)->row_len;
    const double l = len > 0 ? sum / len : (double)NAN;
    if (r->ptr[LF_EW_OUT]) {
        /* stored as T, or narrowed from T (a float32 result) into a half OUT */
        const T v = (T)l;
        FN(out_done)(r, LF_EW_OUT, 0, 1, &v, &v);
    }
    return l;
}

/* The block of a row without terms: nothing to read. */
static double
FN(ew_empty_block)(void *vr, ptrdiff_t start, ptrdiff_t n)
{
    (void)vr;
    (void)start;
    (void)n;
    return 0.0;
}

/* The family's kernel: the sum of the losses of `kind` over the view. */
static double
LF_EW_KERNEL(const lf_elementwise *a, int kind, const lf_ew_param *p)
{
    const T one = 1, scale = (T)a->scale;
    FN(ew_call) call;
    memset(&call, 0, sizeof(call));
    call.mode = FN(ew_setup)(kind, &call, p, a);
    lf_ew_ops ops;
    lf_ew_ops_init(&ops, a, &one, &scale);
    ops.cost = (FN(ew_flags)[kind] & LF_EW_TRANSC) ? LF_WORK_TRANSC : 1;
    /* two blocks at once in a forward call (measured 10-25% faster at
     * 4096x1000); a call with gradients keeps one block a call (as fast or
     * faster: the pair's longer loop of loads and stores was up to 20% slower
     * with AVX-512) */
    ops.pair = a->data[LF_EW_GRAD] || a->data[LF_EW_HESS] ? NULL : FN(ew_pairs)[kind];
    if (!(FN(ew_flags)[kind] & LF_EW_ROWS)) {
        return lf_ew_foreach_par(a->ndim, a->shape, &ops, FN(ew_blocks)[kind], &call);
    }
    const int inner = a->ndim - 1;
    call.row_len = (double)a->shape[inner];
    if (a->shape[inner] > 0) {
        return lf_ew_foreach_rows(a->ndim, a->shape, &ops, FN(ew_blocks)[kind],
                                  FN(ew_row_mean), &call);
    }
    /* one empty "term" per row, so that every row still gets its nan */
    ptrdiff_t shape[LF_MAXDIMS];
    memcpy(shape, a->shape, (size_t)a->ndim * sizeof(shape[0]));
    shape[inner] = 1;
    return lf_ew_foreach_rows(a->ndim, shape, &ops, FN(ew_empty_block), FN(ew_row_mean), &call);
}

#undef LF_EW_MAXMODES
#undef LF_EW_SPAN
#undef LF_EW_LOOP
#undef LF_EW_LOOP_AT
#undef LF_EW_LOOP_BC
#undef LF_EW_LIST
#undef LF_EW_KERNEL
