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
 * block-sized buffer (FN(in_op)), and outputs that are not unit-stride are
 * written through one (FN(out_op)); weight, pos_weight and grad_output,
 * when all three are broadcast (step 0: the common case of a reduced loss),
 * are read as constants instead.  The loop is compiled five times per mode:
 * the loss alone and with the gradient, each with broadcast or copied
 * weights, and with the gradient and the Hessian; the same operations in
 * the same order in each, so every layout and every call gives the same
 * bits.  In the float32 kernels an operand may be stored as float16 or
 * bfloat16 (lf_elementwise.half_ops): in_op widens it into its block buffer
 * and out_done narrows the block's float results into it (one rounding to
 * nearest even), so a half call makes no float32 copy of its arrays and
 * gets the bits of the float32 path narrowed afterwards.  Blocks sum their losses with
 * FN(sum_block): one summation order for every loss.
 */

#ifndef LF_EW_LIST
#error "define LF_EW_LIST as the family's list of losses before including ew_template.h"
#endif
#ifndef LF_EW_KERNEL
#error "define LF_EW_KERNEL as the family's kernel name before including ew_template.h"
#endif

/* the modes a row may have: FN(ew_block)'s cases, so not a setting */
#define LF_EW_MAXMODES 5

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

/* The loop of one block, with the variant (kind, mode, want) fixed.  The
 * arrays are restrict parameters, which gcc honours (restrict locals it does
 * not): else it guards the vector loop with a run-time test of every pair
 * of them that may overlap, and gives up beyond ten such pairs. */
static inline LF_ALWAYS_INLINE void
FN(ew_loop)(const int kind, const int mode, const int want, const int two, const int bc,
            const FN(ew_call) *c, ptrdiff_t n, const T *restrict x, const T *restrict y,
            const T *restrict w, const T *restrict pw, const T *restrict x2,
            const T *restrict go, T *restrict l, T *restrict g, T *restrict g2,
            T *restrict h, T *restrict h2)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        /* bc: weight, pos_weight and grad_output are one value each (step 0) */
        const ptrdiff_t k = bc ? 0 : i;
        FN(ew_in) in = {x[i], y[i], w[k], pw[k], two ? x2[i] : (T)0, want ? go[k] : (T)0};
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

/* The loss alone with broadcast weights (a reduced forward call) of an
 * LF_EW_SUM_IN_LOOP row: as FN(ew_loop), and each loss is added to its lane
 * of the block's sum as it is made, the lanes and the order of
 * FN(sum_block) (so the same bits): the sum's chains of dependent adds run
 * beside the losses instead of after them. */
static inline LF_ALWAYS_INLINE double
FN(ew_loop_sum)(const int kind, const int mode, const int two, const FN(ew_call) *c,
                ptrdiff_t n, const T *restrict x, const T *restrict y, const T *restrict w,
                const T *restrict pw, const T *restrict x2, T *restrict l)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; k++) {
            FN(ew_in) in = {x[i + k], y[i + k], w[0], pw[0], two ? x2[i + k] : (T)0, (T)0};
            FN(ew_out) o = {0, 0, 0, 0, 0};
            FN(ew_point)(kind, mode, 0, c, &in, &o);
            l[i + k] = o.l;
            acc[k] += (double)o.l;
        }
    }
    for (; i < n; i++) {
        FN(ew_in) in = {x[i], y[i], w[0], pw[0], two ? x2[i] : (T)0, (T)0};
        FN(ew_out) o = {0, 0, 0, 0, 0};
        FN(ew_point)(kind, mode, 0, c, &in, &o);
        l[i] = o.l;
        acc[i & 7] += (double)o.l;
    }
    return FN(sum8)(acc);
}

/* FN(ew_loop) over a block's arrays. */
#define LF_EW_LOOP(want, bc)                                                                 \
    FN(ew_loop)(kind, mode, (want), two, (bc), &call, n, b.x, b.y, b.w, b.pw, b.x2, b.go, b.l, \
                b.g, b.g2, b.h, b.h2)

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

/* Elements [start, start + n) of a row for one mode of `kind`. */
static inline LF_ALWAYS_INLINE double
FN(ew_run)(const lf_ew_row *r, ptrdiff_t start, ptrdiff_t n, const int kind, const int mode,
           const int flags)
{
    /* a private copy: no store of the loop can alias the options */
    const FN(ew_call) call = *(const FN(ew_call) *)r->user;
    const int two = (flags & LF_EW_TWO) != 0;
    T bx[LF_PAIRWISE_BLOCK], by[LF_PAIRWISE_BLOCK], bw[LF_PAIRWISE_BLOCK];
    T bpw[LF_PAIRWISE_BLOCK], bx2[LF_PAIRWISE_BLOCK], bgo[LF_PAIRWISE_BLOCK];
    T bl[LF_PAIRWISE_BLOCK], bg[LF_PAIRWISE_BLOCK], bg2[LF_PAIRWISE_BLOCK];
    T bh[LF_PAIRWISE_BLOCK], bh2[LF_PAIRWISE_BLOCK];
    FN(ew_arrays) b = {NULL, NULL, NULL, NULL, NULL, NULL, bl, NULL, NULL, NULL, NULL};
    int copy_l = 0, copy_g = 0, copy_g2 = 0, copy_h = 0, copy_h2 = 0, summed = 0;
    double sum = 0;
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
    else if (bc && (flags & LF_EW_SUM_IN_LOOP)) {
        sum = FN(ew_loop_sum)(kind, mode, two, &call, n, b.x, b.y, b.w, b.pw, b.x2, b.l);
        summed = 1;
    }
    else if (bc) {
        LF_EW_LOOP(0, 1);
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
    return summed ? sum : FN(sum_block)(b.l, n);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* A block of `kind`: its call's mode picks the variant, each compiled with
 * the mode as a constant (those below `modes` only). */
static inline LF_ALWAYS_INLINE double
FN(ew_block)(void *vr, ptrdiff_t start, ptrdiff_t n, const int kind, const int modes,
             const int flags)
{
    const lf_ew_row *r = vr;
    switch (((const FN(ew_call) *)r->user)->mode) {
    case 1:
        if (modes > 1) {
            return FN(ew_run)(r, start, n, kind, 1, flags);
        }
        break;
    case 2:
        if (modes > 2) {
            return FN(ew_run)(r, start, n, kind, 2, flags);
        }
        break;
    case 3:
        if (modes > 3) {
            return FN(ew_run)(r, start, n, kind, 3, flags);
        }
        break;
    case 4:
        if (modes > 4) {
            return FN(ew_run)(r, start, n, kind, 4, flags);
        }
        break;
    default:
        break;
    }
    return FN(ew_run)(r, start, n, kind, 0, flags);
}

/* Each row's block function; a row with more modes than FN(ew_block) has
 * cases fails to compile (a division by zero in a constant). */
#define LF_EW_BLOCK_FN(K, name, param, setup, modes, flags)                    \
    enum { FN(name##_modes_ok) = 1 / ((modes) >= 1 && (modes) <= LF_EW_MAXMODES) }; \
    static double FN(name##_block)(void *vr, ptrdiff_t start, ptrdiff_t n)    \
    {                                                                         \
        return FN(ew_block)(vr, start, n, K, modes, flags);                   \
    }
LF_EW_LIST(LF_EW_BLOCK_FN)
#undef LF_EW_BLOCK_FN

#define LF_EW_BLOCK_ROW(K, name, param, setup, modes, flags) [K] = FN(name##_block),
static const lf_block_fn FN(ew_blocks)[] = {LF_EW_LIST(LF_EW_BLOCK_ROW)};
#undef LF_EW_BLOCK_ROW

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
#undef LF_EW_LOOP
#undef LF_EW_LIST
#undef LF_EW_KERNEL
