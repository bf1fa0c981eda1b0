/*
 * binding.h -- the generic half of pylossfn's Python binding.
 *
 * The binding files (csrc/binding/ and csrc/module.c) are the only ones that
 * include Python.h and the NumPy headers.  Every entry point of _core has
 * one uniform positional protocol:
 *
 *     name(arrays..., options..., reduction, want, grad_output[, out])
 *
 * and is written as a declarative lf_spec (the names and converters of its
 * arrays and options, in the manner of NumPy's npy_argparse.c) plus a short
 * family function that states only the shape rules and fills the kernel's
 * view.  Everything else lives here, once:
 *
 *   - lf_begin() converts and checks every argument of a spec into its
 *     named field of the family's parameter struct (each spec row carries
 *     the field's offset, checked against the kind's C type at compile
 *     time), the objects owned by the lf_call, the call context, so that
 *     lf_end() is the one cleanup path; family code reads p->label_smoothing,
 *     never a position;
 *   - want == 0 is a validate-only call (the options, no arrays), which the
 *     classes make at construction, as torch validates its modules there;
 *   - lf_grad_output() reads grad_output, lf_outputs() allocates the loss and
 *     one to three gradients (or takes the caller's `out`), lf_result()
 *     builds the return value;
 *   - LF_RUN() is the one dtype dispatch and GIL-threshold helper;
 *   - lf_broadcast() and lf_fold() are broadcasting and folding a gradient
 *     back to its input's shape (autograd's sum_to), for every family.
 */
#ifndef PYLOSSFN_BINDING_H_
#define PYLOSSFN_BINDING_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_1_23_API_VERSION
#define NPY_TARGET_VERSION NPY_1_23_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL pylossfn_ARRAY_API
#ifndef LF_BINDING_IMPORTS_NUMPY
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include <stddef.h>

#include "pylossfn.h"

/* WANT_HESS: the diagonal of the Hessian, one per differentiable input (the
 * kernel computes the gradient alongside, into scratch when it is not wanted).
 * WANT_HVP (with WANT_HESS): the Hessian slot holds H v instead, the exact
 * product of the full Hessian with v, which the trailing argument (where `out`
 * would be) carries: an array of the input's shape, or a tuple of one per
 * differentiable input.  A kernel that knows the coupling of its elements
 * computes H v itself (the family sets c->hvp_done); otherwise the Hessian is
 * its diagonal and lf_result multiplies, so every loss has an hvp.
 * WANT_NORM (alone): the divisor of the mean, a float, from the losses whose
 * core owns it (LF_MEAN_ASK: a Dask block's share of the global divisor).
 * WANT_SHAPE (alone): the "none" loss's shape, a tuple, from the losses whose
 * options decide it (LF_NONE_ASK); the family answers after its checks of
 * the shapes, before touching the data (Dask passes zero-stride stand-ins). */
enum { WANT_LOSS = 1, WANT_GRAD = 2, WANT_HESS = 4, WANT_HVP = 8, WANT_NORM = 16, WANT_SHAPE = 32 };

/* kl_div's "batchmean": the sum divided by input.shape[0]. */
#define REDUCE_BATCHMEAN 3

/* Work (elements touched) above which the GIL is released around a kernel. */
#define GIL_THRESHOLD 4096

#define LF_MAX_ARGS 10  /* arrays and options of one function */
#define LF_MAX_OWNED 48 /* objects one call may own */
#define LF_MAX_MEM 4    /* PyMem work buffers of one call (the most a call takes: 3, a
                         * multi-label margin's target copy, slots and class flags) */
#define LF_MAX_GRADS 3

#define SHAPE_BUF 1600

/* How an argument is converted (arrays first, then options). */
typedef enum {
    A_INPUT,  /* a differentiable input: float32 / float64 only; the first
                 fixes the dtype (several are promoted to a common one) */
    A_REAL,   /* float, integer or bool, cast to the dtype (targets, labels) */
    A_FLOAT,  /* floating-point, cast to the dtype; None allowed (weights: an
                 option of the criterion, so checked by validate-only calls too) */
    A_INDEX,  /* integer class indices, kept in their dtype (family converts) */
    A_ARRAY,  /* any array, unchecked (the family decides) */
    O_REAL,   /* a real number, with a check */
    O_REAL_OR_NONE, /* as O_REAL, None meaning 0 */
    O_INDEX,  /* an integer (__index__), int64; C_INT64 refuses overflow */
    O_BOOL,   /* truth value */
    O_LONG    /* a C long (dims, enum codes), with a check */
} lf_kind;

/* The check of a real or integer option; `what` completes "must be ...". */
typedef enum {
    C_NONE,
    C_FINITE,     /* finite */
    C_FINITE_GE0, /* finite and >= 0 */
    C_FINITE_GT0, /* finite and > 0 */
    C_GE0,        /* >= 0, inf allowed */
    C_GT0,        /* > 0, inf allowed */
    C_UNIT,       /* [0, 1] */
    C_UNIT_OPEN,  /* [0, 1) */
    C_ONE_OR_TWO, /* 1 or 2 */
    C_INT64,      /* an integer that fits in int64 */
    C_DIST,       /* 0 (p-norm) or 1 (cosine) */
    C_STRICT,     /* an A_FLOAT that must be float32 or float64 (a class weight) */
    C_1D          /* an A_FLOAT that must be one-dimensional */
} lf_check;

typedef struct {
    const char *name; /* also the field's name in the family's parameters */
    lf_kind kind;
    lf_check check;
    const char *what; /* "must be <what>" / a full format (fname, value) if it has "%" */
    size_t offset;    /* of the field where lf_begin writes the converted value */
} lf_arg;

enum {
    LF_BATCHMEAN = 1, /* reduction 3 ("batchmean") allowed */
    LF_OUT = 2,       /* takes a trailing `out` (the gradient buffer) */
    LF_PLAIN = 4,     /* no reduction / want / grad_output (activations, distances) */
    LF_HALF_EW = 8,   /* its kernel is the element-wise template's, which reads and
                         writes half operands itself (ew_template.h) */
    LF_HALF_CLASS = 16, /* its class kernel reads a half input and writes half
                           outputs itself, row by row, unless a Hessian is asked
                           (its family may still widen the input first) */
    LF_HALF_ROWS = 32,  /* the same for the embedding kernels' row operands */
    LF_NO_HESS = 64,    /* no second derivatives: lf_invoke answers a Hessian with
                           NotImplementedError, LF_NO_HESSIAN_WHY (CTC's, the only one) */
    LF_WARN_SHAPE = 128 /* torch's UserWarning when the target's shape differs
                           from the input's (L1, MSE, smooth L1, Huber) */
};

/* Why CTC has no Hessian; _core.LOSSES's "no_hessian", which the classes say. */
#define LF_NO_HESSIAN_WHY                                                              \
    "no Hessian: its second derivatives need the posteriors of pairs of alignment "    \
    "paths (a second-order forward-backward over the lattice), which the engine does " \
    "not compute"

/* How Dask may cut a loss's call into blocks, also spec flags (pylossfn._dask
 * reads them from _core.LOSSES; a loss without a split fails its import).
 * One split, one mean rule (default: the "none" loss's size), one "none"
 * shape rule (default: the broadcast of the arrays that are not weights). */
enum {
    LF_SPLIT_EW = 1 << 8,    /* any chunks: every array, weights too, broadcasts
                                with the input and is cut with it */
    LF_SPLIT_CLASS = 2 << 8, /* class axis 1 whole, the others cut; weights whole */
    LF_SPLIT_ROWS = 3 << 8,  /* a row's elements are coupled: axis 0 cut, the rest whole */
    LF_SPLIT_WHOLE = 4 << 8, /* the batch is coupled: one task */
    LF_SPLIT_MASK = 7 << 8,
    LF_MEAN_WEIGHTS = 1 << 11, /* the sum of `weight` (the size without one) */
    LF_MEAN_ASK = 2 << 11,     /* the core's divisor, per block (WANT_NORM) */
    LF_MEAN_OWN = 3 << 11,     /* its own rule, in one task (CTC's lengths) */
    LF_MEAN_MASK = 3 << 11,
    LF_NONE_INPUT_TARGET = 1 << 13, /* the broadcast of input and target only */
    LF_NONE_ROWS = 2 << 13,         /* the input's shape without its last axis */
    LF_NONE_CLASSES = 3 << 13,      /* the input's shape without its class axis 1 */
    LF_NONE_LABELS = 4 << 13,       /* the input's last axis */
    LF_NONE_BATCH = 5 << 13,        /* axis 1 of a [T, N, C] input, () unbatched */
    LF_NONE_ASK = 6 << 13,          /* the options decide: the core's (WANT_SHAPE) */
    LF_NONE_MASK = 7 << 13
};

/* Whether pylossfn.boosting may make the loss a tree library's objective: a
 * loss of one input (the margins) with a loss per sample, and which labels it
 * takes (also spec flags; _core.LOSSES's "boosting"). */
enum {
    LF_BOOST_EW = 1 << 16,    /* a label per margin; the Hessian is diagonal */
    LF_BOOST_CLASS = 2 << 16, /* a class index per sample, (n, K) margins coupled */
    LF_BOOST_ROWS = 3 << 16,  /* a label vector per sample, (n, K) margins coupled */
    LF_BOOST_MASK = 3 << 16
};

/* One entry point: its arguments land in the fields of a parameter struct of
 * its family (size bytes), each named by its row; the rows end at the first
 * without a name.  Its faces: the family it is listed under (the API pages'
 * sections, tools/gen_api_pages.py) and, for a loss, its class's name (torch's:
 * pylossfn's classes find their row by it).  LF_FACE(family, Class) writes both. */
typedef struct {
    const char *fname; /* the name in messages (torch's) */
    size_t size;       /* sizeof the family's parameter struct */
    int flags;
    int ngrad; /* gradients (differentiable inputs); 0 for LF_PLAIN */
    lf_arg args[LF_MAX_ARGS];
    const char *family; /* a key of LF_FAMILIES */
    const char *cls;    /* NULL for LF_PLAIN */
    /* The fused classifier head that computes this loss of a linear layer's
     * logits in tiles (pylossfn._heads, over this row's rules and the tile
     * kernels of kernels/linear.c): its function's and its class's names, or
     * NULLs.  LF_FACE_HEAD writes them. */
    const char *head[2];
} lf_spec;

/* The families of the table's rows, as users look for a loss, in the order the
 * API pages list them: X(key, title). */
#define LF_FAMILIES(X)                                  \
    X(binary, "Binary and multi-label")                 \
    X(multiclass, "Multi-class")                        \
    X(regression, "Regression and distributions")       \
    X(pairs, "Margins, pairs and embeddings")           \
    X(sequence, "Sequences")                            \
    X(distance, "Distances")                            \
    X(activation, "Activations")
#define LF_FACE(family, cls) #family, #cls, {NULL, NULL}
#define LF_FACE_HEAD(family, cls, head_fname, head_cls) #family, #cls, {#head_fname, #head_cls}
#define LF_PLAIN_FACE(family) #family, NULL, {NULL, NULL}

/* The offset of field in type, which must be a ctype: a comparison of
 * distinct pointer types is diagnosed (an error under -Werror), so a row can
 * neither name a missing field nor one of another type than its kind's. */
#define LF_OFFSET(type, field, ctype) \
    (offsetof(type, field) + 0 * sizeof((ctype *)0 == &((type *)0)->field))

/* Spec rows, by the kind's C type: arrays (PyArrayObject *, NULL when an
 * optional one is None), reals (double), integers (long long for O_INDEX,
 * long for O_LONG) and truth values (int). */
#define LF_ARRAY(type, field, kind, check) \
    {#field, kind, check, NULL, LF_OFFSET(type, field, PyArrayObject *)}
#define LF_REAL(type, field, kind, check, what) \
    {#field, kind, check, what, LF_OFFSET(type, field, double)}
/* An option of the element-wise template's losses, named `name`, written into
 * the lf_ew_param `k` of the family's parameters (the kernel reads it there). */
#define LF_EW_REAL(type, name, kind, check, what) \
    {#name, kind, check, what, LF_OFFSET(type, k.name, double)}
#define LF_EW_BOOL(type, name) {#name, O_BOOL, C_NONE, NULL, LF_OFFSET(type, k.name, int)}
#define LF_INDEX(type, field, check) \
    {#field, O_INDEX, check, NULL, LF_OFFSET(type, field, long long)}
#define LF_LONG(type, field, check, what) \
    {#field, O_LONG, check, what, LF_OFFSET(type, field, long)}
#define LF_BOOL(type, field) {#field, O_BOOL, C_NONE, NULL, LF_OFFSET(type, field, int)}

/* The number of arguments of a spec (before `reduction`). */
int lf_nargs(const lf_spec *s);

/* The call context: every argument converted, every object owned. */
typedef struct {
    PyObject *mod;
    const lf_spec *spec;
    const char *fname;
    int reduction, want, typenum; /* typenum: the kernels' (float32 for half) */
    int out_type; /* the results' dtype: typenum, or the inputs' half dtype */
    int half_native; /* an LF_HALF_EW or LF_HALF_CLASS call of a half dtype: its
                        half input (target) and outputs go to the kernel
                        unconverted */
    int overflow;                 /* an O_INDEX without C_INT64 saturated */
    int in_type[LF_MAX_ARGS];     /* each A_INPUT's own dtype, before promotion */
    PyObject *grad_output_obj, *out_obj; /* borrowed; out_obj NULL when absent */
    PyObject *const *args;               /* the raw arguments (for messages) */
    void *params; /* the family's parameter struct (spec->size bytes), every
                     argument converted into its named field */
    /* set by lf_grad_output / lf_outputs */
    double scale;
    PyArrayObject *go;                   /* grad_output of a "none" loss, or NULL */
    PyArrayObject *loss;                 /* the "none" loss, or NULL */
    /* gradients in [0, LF_MAX_GRADS), Hessian diagonals after them (LF_HESS) */
    PyArrayObject *grad[2 * LF_MAX_GRADS];   /* what the kernel writes */
    PyArrayObject *result[2 * LF_MAX_GRADS]; /* what is returned (folded) */
    PyArrayObject *fold_to[2 * LF_MAX_GRADS]; /* the shape each scratch folds onto */
    int half_type[2 * LF_MAX_GRADS];         /* a float32 result's half dtype, or 0 */
    PyArrayObject *half_out[2 * LF_MAX_GRADS]; /* the caller's half `out` for it */
    int ngrad;
    PyObject *v_obj;                 /* borrowed: v of a WANT_HVP call, or NULL */
    PyArrayObject *vec[LF_MAX_GRADS]; /* v, C-contiguous, laid out as the Hessian slots */
    int hvp_done;                    /* the kernel wrote H v (not the diagonal) */
    PyObject *interrupt[3]; /* the exception that stopped a kernel (type, value,
                               traceback), or NULLs */
    PyObject *owned[LF_MAX_OWNED];
    int nowned;
    void *mem[LF_MAX_MEM];
    int nmem;
} lf_call;

/* The module's state: the converter of non-ndarray arguments, which the
 * package registers once at import (_core._set_converter, from
 * pylossfn/__init__.py): the core never imports Python code of its own
 * package, so there is no import cycle and no import inside a call. */
typedef struct {
    PyObject *converter;
} lf_module_state;

/* The thread that runs Python's signal handlers (set at module init). */
extern unsigned long lf_main_thread;

/* ---- the call context (call.c) ------------------------------------------ */

/* Parses args into c by spec, each into its field of params (zeroed by the
 * caller): 0, or -1 with an exception, or 1 for a validate-only call
 * (want == 0), whose options were all checked. */
int lf_begin(lf_call *c, const lf_spec *spec, void *params, PyObject *mod,
             PyObject *const *args, Py_ssize_t nargs);
/* Releases everything c owns; returns result (NULL passes through). */
PyObject *lf_end(lf_call *c, PyObject *result);
/* obj (a new reference, or NULL) now owned by c; returns it. */
PyArrayObject *lf_own(lf_call *c, PyObject *obj);
/* PyMem_Malloc'd bytes owned by c, or NULL with MemoryError. */
void *lf_alloc(lf_call *c, size_t bytes);
/* The one place sizes are multiplied or added: a * b (a + b) into *out, or
 * -1 with ValueError "<fname>: <what> (a x b) does not fit in a 64-bit size". */
int lf_size_mul(lf_call *c, npy_intp a, npy_intp b, npy_intp *out, const char *what);
int lf_size_add(lf_call *c, npy_intp a, npy_intp b, npy_intp *out, const char *what);
/* count items of size bytes (checked), owned by c; MemoryError naming what. */
void *lf_alloc_n(lf_call *c, npy_intp count, size_t size, const char *what);

/* ---- conversion (args.c) ----------------------------------------------- */

PyArrayObject *lf_to_ndarray(lf_call *c, PyObject *obj, const char *arg);
/* arr as an aligned, native array of typenum (owned; arr itself if it is). */
PyArrayObject *lf_native(lf_call *c, PyArrayObject *arr, int typenum);
/* Whether a half-native call hands arr to its kernel as it is (of the call's
 * half dtype, aligned, native byte order). */
int lf_keeps_half(const lf_call *c, PyArrayObject *arr);
/* A half-native class kernel's input: kept half for the kernel to stage a
 * row at a time (*half_kind set) when it arrived half; otherwise the call
 * stops being half-native and *input, and *target when given (a float one,
 * which the call may have kept half), are widened into float32 (-1 on
 * error). */
int lf_class_half_input(lf_call *c, PyArrayObject **input, PyArrayObject **target,
                        int *half_kind);
/* The slots of a half call (half_kind) whose rows of C values are longer
 * than the kernels' stack rows (LF_CE_HALF_C): *stage, a slot of
 * LF_STAGE_ROWS C floats for each thread the call may run on, at most one a
 * sample, and their number in *slots (else *stage stays NULL; -1 on
 * error).  Called when the view is complete, just before the kernel runs. */
int lf_stage(lf_call *c, int half_kind, npy_intp samples, npy_intp C, float **stage, int *slots);
/* lf_stage for a class view: every class kernel with a half path stages a
 * long row in a->stage. */
int lf_class_stage(lf_call *c, lf_classes *a);
PyArrayObject *lf_float_like(lf_call *c, PyObject *obj, int allow_int, const char *arg);
/* An index array as a private int64 copy (C order), which no other thread
 * can rewrite between the check and the kernel. */
PyArrayObject *lf_private_int64(lf_call *c, PyArrayObject *arr);
/* Integer class targets as a private int64 copy; a uint64 above INT64_MAX is
 * out of range. */
PyArrayObject *lf_class_target(lf_call *c, PyArrayObject *arr, npy_intp C);
int lf_convert_arg(lf_call *c, int i, PyObject *obj);

/* The position in the spec of the argument whose field is at field (in
 * c->params), or -1: for the raw argument (c->args), its name and dtype
 * before promotion (c->in_type). */
int lf_arg_index(const lf_call *c, const void *field);

/* ---- half precision (half.c) ------------------------------------------ */

/* LF_HALF_F16 for float16, LF_HALF_BF16 for ml_dtypes' bfloat16, else 0. */
int lf_half_kind_of(PyArray_Descr *d);
/* Is typenum float16 or (a registered) bfloat16? */
int lf_is_half_type(int typenum);
/* A half array widened into a new C-contiguous float32 array (owned). */
PyArrayObject *lf_widen(lf_call *c, PyArrayObject *arr);
/* The C-contiguous float32 src narrowed into dst (any strides), or into a
 * new array of the half typenum when dst is NULL; returns it (owned). */
PyArrayObject *lf_narrow(lf_call *c, PyArrayObject *src, PyArrayObject *dst, int typenum);
/* A NumPy scalar of the half typenum (a new reference). */
PyObject *lf_half_scalar(double value, int typenum);

/* ---- shapes (shapes.c) ------------------------------------------------- */

const char *lf_fmt_shape(char *buf, size_t size, int nd, const npy_intp *dims);
#define ARR_SHAPE(buf, arr) lf_fmt_shape((buf), sizeof(buf), PyArray_NDIM(arr), PyArray_DIMS(arr))
/* "3" for a 1-d shape, "(1, 2, 3)" otherwise, from a flat C-order position. */
const char *lf_fmt_index(char *buf, size_t size, int nd, const npy_intp *dims, npy_intp flat);
int lf_same_shape(PyArrayObject *arr, int nd, const npy_intp *dims);
/* ValueError "<arg> has shape .., but it must have the input's shape .." unless same. */
int lf_require_shape_of(lf_call *c, PyArrayObject *arr, PyArrayObject *like, const char *arg);
/* A per-class weight of shape (C,) into *data / *step; ValueError naming
 * `weight` for another shape (any ndim but 1 too: a C_STRICT row leaves it
 * here, a C_1D row refused it first); NULL: nothing. */
int lf_class_weight(lf_call *c, PyArrayObject *w, npy_intp C, const char **data, ptrdiff_t *step);
/* Can dims [0, nd) be walked as one flat sequence with a single stride? */
int lf_flat_stride(int nd, const npy_intp *dims, const npy_intp *strides, npy_intp *out);
/* arr with dims [first, first + count) walkable with one stride in *stride
 * (an owned C-contiguous copy when they are not). */
PyArrayObject *lf_flat_dims(lf_call *c, PyArrayObject *arr, int first, int count,
                            npy_intp *stride);
/* NumPy's broadcast of n shapes, or ValueError naming them ("a of shape ..
 * and b of shape .. do not broadcast together", or with listing "the shapes
 * do not broadcast: a (..), b (..)"). */
int lf_broadcast(lf_call *c, int n, PyArrayObject *const *arrs, const char *const *names,
                 int *nd, npy_intp *shape, int listing);
/* A read-only view of arr broadcast to shape (owned), or arr itself. */
PyArrayObject *lf_broadcast_to(lf_call *c, PyArrayObject *arr, int nd, const npy_intp *shape);
/* Byte strides of arr broadcast to shape[nd] (0 where it broadcasts). */
int lf_broadcast_strides(lf_call *c, PyArrayObject *arr, int nd, const npy_intp *shape,
                         ptrdiff_t *strides, const char *arg);

/* ---- element-wise views (shapes.c) -------------------------------------- */

void lf_ew_init(lf_elementwise *a, int nd, const npy_intp *shape);
void lf_ew_set(lf_elementwise *a, int op, PyArrayObject *arr);
/* Marks op as stored in half when arr is of a half dtype (lf_ew_set does). */
void lf_ew_half(lf_elementwise *a, int op, PyArrayObject *arr);
void lf_ew_coalesce(lf_elementwise *a);
/* An element-wise loss's input and target, grad_output and outputs into
 * the view, then coalesced. */
void lf_ew_pair(lf_call *c, lf_elementwise *a, PyArrayObject *input, PyArrayObject *target);

/* ---- outputs and the result (outputs.c) --------------------------------- */

/* Reads grad_output (only when a gradient is wanted): a scalar for a reduced
 * loss (c->scale = grad_output * norm), the loss's shape for "none" (c->go,
 * c->scale = 1); None means ones. */
int lf_grad_output(lf_call *c, int nd, const npy_intp *loss_shape, double norm);

/* Allocates the "none" loss (loss_shape, C order) when the loss is wanted,
 * and when the gradient is wanted one per differentiable input: the
 * caller's `out` (one array, or a tuple with one per gradient) when given,
 * else new arrays (zeroed when `zeroed`), of like[i]'s shape and the dtype
 * typenum[i] (0: the call's).  When the kernel computes over a broadcast
 * shape (grad_shape), it writes scratch arrays that lf_fold() sums back
 * onto fold[i] (the operand as broadcast; NULL: like[i]), the shape that
 * like[i] has up to length-1 dims. */
typedef struct {
    int loss_nd;
    const npy_intp *loss_shape;
    int ngrad;
    int grad_nd;
    const npy_intp *grad_shape; /* NULL: each gradient has like[i]'s shape */
    PyArrayObject *like[LF_MAX_GRADS];
    PyArrayObject *fold[LF_MAX_GRADS];
    int typenum[LF_MAX_GRADS];
    int contiguous; /* the kernel needs C-contiguous gradients */
    int zeroed;     /* new gradients start zeroed (calloc'd pages cost nothing) */
} lf_outspec;
int lf_outputs(lf_call *c, const lf_outspec *o);

/* lf_outputs for a loss of one differentiable input x whose kernel writes a
 * C-contiguous gradient, then where the kernel
 * writes: the loss's first element and its item size into *out / *out_step
 * when a loss is asked, the gradient's first element into *grad when one is. */
int lf_one_input_outputs(lf_call *c, int loss_nd, const npy_intp *loss_shape,
                         PyArrayObject *x, char **out, ptrdiff_t *out_step, char **grad);

/* The Hessian diagonal the kernel writes for differentiable input i (zeroed,
 * of the gradient's shape), or NULL when it is not wanted. */
#define LF_HESS(c, i) ((c)->grad[LF_MAX_GRADS + (i)])

/* The bytes of v for input i (laid out as LF_HESS(c, i)) when the call wants
 * H v, else NULL; a family whose kernel reads it sets c->hvp_done. */
#define LF_VEC(c, i) ((c)->vec[(i)] ? PyArray_BYTES((c)->vec[(i)]) : NULL)

/* Sums every scratch gradient back into its input's shape (autograd's sum_to;
 * compensated float64 sums), in C. */
int lf_fold(lf_call *c);

/* loss, gradient(s), Hessian diagonal(s) or a tuple of those wanted, in that
 * order, as `want` asks; value is the
 * reduced loss (ignored for "none"). */
PyObject *lf_result(lf_call *c, double value);

/* The mean's factor 1/count (inf when count is 0, so the mean is nan). */
static inline double
lf_norm(int reduction, double count)
{
    return reduction == LF_REDUCE_MEAN || reduction == REDUCE_BATCHMEAN
               ? (count != 0 ? 1.0 / count : (double)INFINITY)
               : 1.0;
}

/* The reduced value of a sum: the mean divides (nan for nothing). */
static inline double
lf_reduce(int reduction, double sum, double count)
{
    return reduction == LF_REDUCE_MEAN || reduction == REDUCE_BATCHMEAN
               ? (count != 0 ? sum / count : (double)NAN)
               : sum;
}

/* While the GIL is released around a long kernel, the calling thread (the
 * main one: only it runs Python's signal handlers) answers the engine's poll
 * by re-taking the GIL briefly and checking for signals (lf_interrupt_begin).
 * An interrupted call keeps KeyboardInterrupt (or whatever the handler
 * raised) in c->interrupt; lf_result() then builds nothing, and lf_invoke
 * raises it in place of any result or error of the family. */
void lf_listen(lf_call *c, PyThreadState **save);
void lf_unlisten(lf_call *c, PyThreadState *save);

/* The one dtype dispatch: res = kernel_f32(...) or kernel_f64(...), with the
 * GIL released when work is large enough.  Only pure C runs inside. */
#define LF_RUN(c, work, res, kernel, ...)                                         \
    do {                                                                          \
        PyThreadState *lf_save_ = NULL;                                           \
        if ((c)->interrupt[0] != NULL) { /* an earlier pass was interrupted */    \
            res = 0;                                                              \
            break;                                                                \
        }                                                                         \
        if ((work) >= GIL_THRESHOLD) {                                            \
            lf_listen((c), &lf_save_);                                            \
        }                                                                         \
        res = (c)->typenum == NPY_FLOAT ? kernel##_f32(__VA_ARGS__)               \
                                        : kernel##_f64(__VA_ARGS__);              \
        lf_unlisten((c), lf_save_);                                               \
    } while (0)

/* The same for kernels that return nothing. */
#define LF_RUN_VOID(c, work, kernel, ...)                                         \
    do {                                                                          \
        PyThreadState *lf_save_ = NULL;                                           \
        if ((c)->interrupt[0] != NULL) {                                          \
            break;                                                                \
        }                                                                         \
        if ((work) >= GIL_THRESHOLD) {                                            \
            lf_listen((c), &lf_save_);                                            \
        }                                                                         \
        if ((c)->typenum == NPY_FLOAT) {                                          \
            kernel##_f32(__VA_ARGS__);                                            \
        }                                                                         \
        else {                                                                    \
            kernel##_f64(__VA_ARGS__);                                            \
        }                                                                         \
        lf_unlisten((c), lf_save_);                                               \
    } while (0)

/* ---- the entry points (one family file each) ---------------------------- */

/* A family function: the shape rules of one loss (kind picks among the
 * losses of a family), given the converted arguments in c->params. */
typedef PyObject *(*lf_family_fn)(lf_call *c, int kind);

/* lf_begin into params (zeroed; size bytes, which must be the spec's), then
 * family(c, kind) (None for a validate-only call), then lf_end: on this
 * thread (lf_invoke_here, call.c) when its stack has room for any kernel,
 * else on a thread of its own with the GIL handed over (stack.c). */
PyObject *lf_invoke(const lf_spec *spec, lf_family_fn family, int kind, void *params,
                    size_t size, PyObject *mod, PyObject *const *args, Py_ssize_t nargs);
PyObject *lf_invoke_here(const lf_spec *spec, lf_family_fn family, int kind, void *params,
                         size_t size, PyObject *mod, PyObject *const *args, Py_ssize_t nargs);

/* An entry point, its parameters a `type` on its stack; its spec is also
 * exported as lf_spec_<name>, for _core.LOSSES and the docstrings. */
#define LF_ENTRY(name) PyObject *py_##name(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
#define LF_DEFINE(name, type, spec, family, kind)                                         \
    const lf_spec *const lf_spec_##name = &(spec);                                       \
    LF_ENTRY(name)                                                                        \
    {                                                                                     \
        type params;                                                                      \
        return lf_invoke(&(spec), (family), (kind), &params, sizeof(params), mod, args,   \
                         nargs);                                                          \
    }

#include "methods.h"
#define LF_DECLARE(name) LF_ENTRY(name); extern const lf_spec *const lf_spec_##name;
LF_METHODS(LF_DECLARE)
#undef LF_DECLARE
/* ---- the table (table.c) ------------------------------------------------ */

/* An entry point made from its family's rows rather than listed in
 * methods.h: its function and its spec (whose fname is its name in _core). */
typedef struct {
    PyObject *(*fn)(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);
    const lf_spec *spec;
} lf_row_entry;
/* The regression family's, one per kernel kind (regression.c). */
extern const lf_row_entry lf_rg_entries[LF_RG_NKINDS];

/* The number of methods.h entry points (the first rows of the method table). */
int lf_n_entries(void);
/* Sets each entry point's docstring, "name(args..., reduction, want,
 * grad_output[, out])", from its spec. */
int lf_docstrings(PyMethodDef *methods);
/* The row families' entry points as a method table (names and docstrings
 * from their specs), for PyModule_AddFunctions; NULL with an exception. */
PyMethodDef *lf_row_methods(void);
/* _core.LOSSES: one dict per entry point, from its spec (a new reference):
 * methods.h's, then the row families'. */
PyObject *lf_losses(void);
/* _core.FAMILIES: LF_FAMILIES as a dict, key -> title, in order (a new reference). */
PyObject *lf_families(void);

PyObject *py_set_converter(PyObject *mod, PyObject *arg);
PyObject *py_set_num_threads(PyObject *mod, PyObject *arg);
PyObject *py_get_num_threads(PyObject *mod, PyObject *arg);
PyObject *py_set_isa(PyObject *mod, PyObject *arg);
PyObject *py_build_info(PyObject *mod, PyObject *arg);
PyObject *py_vecmath(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_lce_tile(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);
PyObject *py_lbce_tile(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);

#endif /* PYLOSSFN_BINDING_H_ */
