/*
 * half.c -- float16 and bfloat16 through the float32 kernels.
 *
 * The design (issue 21, step 1: correct everywhere, in one place): a half
 * operand is widened by lf_native() into a private float32 array, so every
 * family and kernel runs its float32 code (sums accumulated in double, as
 * for float32 inputs); lf_outputs() gives the kernels float32 buffers for a
 * half result, and lf_result() narrows them (round to nearest even) into new
 * arrays of the half dtype or the caller's `out`; a reduced loss becomes a
 * NumPy scalar of the half dtype.  The cost is a float32 copy of each half
 * operand (2x its bytes) and of each result.  The element-wise template's
 * families (spec flag LF_HALF_EW) skip it: their half input, target and
 * outputs go to the float32 kernel as they are, marked in
 * lf_elementwise.half_ops, and the template converts them block by block
 * (common_impl.h's in_op / out_done) with the same bits; their weights,
 * grad_output, H v calls and dtype mixes still come through here.
 *
 * bfloat16 is ml_dtypes' (what JAX hands back), a NumPy user dtype: it is
 * recognized by its descriptor (kind 'V', 2 bytes, a user type named
 * "bfloat16"), never by importing ml_dtypes, which stays optional.  Its type
 * number is assigned when ml_dtypes registers it, so it is learnt here on
 * first sight.
 */
#include "binding.h"

#include <string.h>

static int bf16_typenum = -1; /* ml_dtypes' bfloat16, once seen */

int
lf_half_kind_of(PyArray_Descr *d)
{
    if (d->type_num == NPY_HALF) {
        return LF_HALF_F16;
    }
    if (d->type_num < NPY_USERDEF || d->kind != 'V' || PyDataType_ELSIZE(d) != 2) {
        return LF_HALF_NONE;
    }
    if (d->type_num == bf16_typenum) {
        return LF_HALF_BF16;
    }
    const char *name = d->typeobj->tp_name, *dot = strrchr(name, '.');
    if (strcmp(dot ? dot + 1 : name, "bfloat16") != 0) {
        return LF_HALF_NONE;
    }
    bf16_typenum = d->type_num;
    return LF_HALF_BF16;
}

int
lf_is_half_type(int typenum)
{
    return typenum == NPY_HALF || (typenum == bf16_typenum && typenum >= NPY_USERDEF);
}

static lf_half_kind
kind_of_type(int typenum)
{
    return typenum == NPY_HALF ? LF_HALF_F16 : LF_HALF_BF16;
}

/* Visits arr's innermost rows in C order: *p at each row's start, for
 * rows (product of the outer dims) times; returns the row length and step. */
static npy_intp
inner_row(PyArrayObject *arr, npy_intp *step, npy_intp *rows)
{
    const int nd = PyArray_NDIM(arr);
    *step = nd > 0 ? PyArray_STRIDE(arr, nd - 1) : 0;
    *rows = 1;
    for (int d = 0; d + 1 < nd; d++) {
        *rows *= PyArray_DIM(arr, d);
    }
    return nd > 0 ? PyArray_DIM(arr, nd - 1) : 1;
}

static char *
next_row(PyArrayObject *arr, npy_intp *idx, char *p)
{
    for (int d = PyArray_NDIM(arr) - 2; d >= 0; d--) {
        p += PyArray_STRIDE(arr, d);
        if (++idx[d] < PyArray_DIM(arr, d)) {
            break;
        }
        p -= PyArray_STRIDE(arr, d) * idx[d];
        idx[d] = 0;
    }
    return p;
}

/* Copies between arr (half, any strides) and the C-contiguous float32 f. */
static void
convert(PyArrayObject *arr, float *f, lf_half_kind kind, int widen)
{
    npy_intp idx[NPY_MAXDIMS] = {0}, step, rows;
    const npy_intp n = inner_row(arr, &step, &rows);
    char *p = PyArray_BYTES(arr);
    if (PyArray_SIZE(arr) == 0) {
        return;
    }
    PyThreadState *save = PyArray_SIZE(arr) >= 16 * GIL_THRESHOLD ? PyEval_SaveThread() : NULL;
    if (PyArray_IS_C_CONTIGUOUS(arr) && PyArray_ISALIGNED(arr)) { /* the common case */
        lf_half_convert(kind, widen, p, f, PyArray_SIZE(arr));
        rows = 0;
    }
    for (npy_intp r = 0; r < rows; r++, f += n) {
        if (widen) {
            lf_half_widen(kind, p, step, f, n);
        }
        else {
            lf_half_narrow(kind, f, p, step, n);
        }
        p = next_row(arr, idx, p);
    }
    if (save != NULL) {
        PyEval_RestoreThread(save);
    }
}

PyArrayObject *
lf_widen(lf_call *c, PyArrayObject *arr)
{
    const lf_half_kind kind = (lf_half_kind)lf_half_kind_of(PyArray_DESCR(arr));
    if (!PyArray_ISNOTSWAPPED(arr)) { /* a '>f2' array: NumPy swaps it first */
        PyArray_Descr *native = PyArray_DescrNewByteorder(PyArray_DESCR(arr), NPY_NATIVE);
        if (native == NULL || (arr = lf_own(c, PyArray_FromArray(arr, native, 0))) == NULL) {
            return NULL;
        }
    }
    PyArrayObject *f = lf_own(c, PyArray_EMPTY(PyArray_NDIM(arr), PyArray_DIMS(arr), NPY_FLOAT, 0));
    if (f != NULL) {
        convert(arr, (float *)PyArray_DATA(f), kind, 1);
    }
    return f;
}

PyArrayObject *
lf_narrow(lf_call *c, PyArrayObject *src, PyArrayObject *dst, int typenum)
{
    if (dst == NULL &&
        (dst = lf_own(c, PyArray_EMPTY(PyArray_NDIM(src), PyArray_DIMS(src), typenum, 0))) ==
            NULL) {
        return NULL;
    }
    /* the kernels' results are new C-contiguous float32 arrays */
    convert(dst, (float *)PyArray_DATA(src), kind_of_type(PyArray_TYPE(dst)), 0);
    return dst;
}

PyObject *
lf_half_scalar(double value, int typenum)
{
    /* through float: a double rounding, off by one half-ulp only when the
     * double lies within 2^-29 relative of a tie, far below the float32
     * kernels' own error */
    const float f = (float)value;
    npy_uint16 bits;
    lf_half_narrow(kind_of_type(typenum), &f, &bits, sizeof(bits), 1);
    PyArray_Descr *descr = PyArray_DescrFromType(typenum);
    if (descr == NULL) {
        return NULL;
    }
    PyObject *res = PyArray_Scalar(&bits, descr, NULL);
    Py_DECREF(descr);
    return res;
}
