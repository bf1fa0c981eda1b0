/*
 * call.c -- the call context and the argument converters.
 *
 * An entry point declares its arguments as an lf_spec; lf_begin() checks the
 * count, reads reduction and want, converts every option (with its check)
 * and then every array, each owned by the lf_call, so that whatever fails
 * the caller has one exit: lf_end().  Options come before arrays so that a
 * validate-only call (want == 0, arrays None) checks exactly what a real
 * call checks first.
 */
#include "binding.h"

#include <math.h>
#include <string.h>

PyArrayObject *
lf_own(lf_call *c, PyObject *obj)
{
    if (obj == NULL) {
        return NULL;
    }
    if (c->nowned == LF_MAX_OWNED) {
        /* a binding bug, not bad input: refuse rather than leak */
        Py_DECREF(obj);
        PyErr_Format(PyExc_SystemError, "%s: too many objects in one call", c->fname);
        return NULL;
    }
    c->owned[c->nowned++] = obj;
    return (PyArrayObject *)obj;
}

int
lf_size_mul(lf_call *c, npy_intp a, npy_intp b, npy_intp *out, const char *what)
{
    if (a < 0 || b < 0 || (a != 0 && b > NPY_MAX_INTP / a)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %s (%" NPY_INTP_FMT " x %" NPY_INTP_FMT ") does not fit in a %d-bit size",
                     c->fname, what, a, b, (int)(8 * sizeof(npy_intp)));
        return -1;
    }
    *out = a * b;
    return 0;
}

int
lf_size_add(lf_call *c, npy_intp a, npy_intp b, npy_intp *out, const char *what)
{
    if (a < 0 || b < 0 || b > NPY_MAX_INTP - a) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %s (%" NPY_INTP_FMT " + %" NPY_INTP_FMT ") does not fit in a %d-bit size",
                     c->fname, what, a, b, (int)(8 * sizeof(npy_intp)));
        return -1;
    }
    *out = a + b;
    return 0;
}

void *
lf_alloc_n(lf_call *c, npy_intp count, size_t size, const char *what)
{
    npy_intp bytes;
    if (lf_size_mul(c, count, (npy_intp)size, &bytes, what) < 0) {
        return NULL;
    }
    void *p = lf_alloc(c, (size_t)bytes);
    if (p == NULL) {
        PyErr_Format(PyExc_MemoryError, "%s: cannot allocate %" NPY_INTP_FMT " bytes for %s",
                     c->fname, bytes, what);
    }
    return p;
}

void *
lf_alloc(lf_call *c, size_t bytes)
{
    void *p = c->nmem < LF_MAX_MEM ? PyMem_Malloc(bytes ? bytes : 1) : NULL;
    if (p == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    c->mem[c->nmem++] = p;
    return p;
}

PyObject *
lf_end(lf_call *c, PyObject *result)
{
    for (int i = 0; i < c->nowned; i++) {
        Py_DECREF(c->owned[i]);
    }
    for (int i = 0; i < c->nmem; i++) {
        PyMem_Free(c->mem[i]);
    }
    c->nowned = c->nmem = 0;
    return result;
}

/* ------------------------------------------------------------------------ */
/* Arrays                                                                   */
/* ------------------------------------------------------------------------ */

/* Exact ndarrays pass through; any other object goes to the converter that
 * the package registered (pylossfn._convert.as_array, see lf_module_state),
 * which refuses masked arrays and names the argument in its errors. */
PyArrayObject *
lf_to_ndarray(lf_call *c, PyObject *obj, const char *arg)
{
    if (PyArray_CheckExact(obj)) {
        Py_INCREF(obj);
        return lf_own(c, obj);
    }
    lf_module_state *st = PyModule_GetState(c->mod);
    if (st->converter == NULL) {
        PyErr_Format(PyExc_RuntimeError,
                     "%s: %s is not an ndarray and no converter is registered "
                     "(import pylossfn, which registers it)", c->fname, arg);
        return NULL;
    }
    PyArrayObject *res =
        lf_own(c, PyObject_CallFunction(st->converter, "Oss", obj, c->fname, arg));
    if (res != NULL && !PyArray_Check((PyObject *)res)) {
        PyErr_Format(PyExc_TypeError, "%s: %s could not be converted to an array", c->fname,
                     arg);
        return NULL;
    }
    return res;
}

PyArrayObject *
lf_native(lf_call *c, PyArrayObject *arr, int typenum)
{
    /* half data is widened by our own conversion (exact, and NumPy may not
     * know bfloat16's casts without ml_dtypes' help), then cast as float32 */
    if (arr != NULL && (typenum == NPY_FLOAT || typenum == NPY_DOUBLE) &&
        lf_half_kind_of(PyArray_DESCR(arr)) && (arr = lf_widen(c, arr)) == NULL) {
        return NULL;
    }
    if (arr == NULL || (PyArray_TYPE(arr) == typenum && PyArray_ISALIGNED(arr) &&
                        PyArray_ISNOTSWAPPED(arr))) {
        return arr;
    }
    return lf_own(c, PyArray_FromArray(arr, PyArray_DescrFromType(typenum),
                                       NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST));
}

/* Whether a half-native call hands arr to its kernel as it is: of the
 * call's own half dtype, aligned and in native byte order.  Any other
 * operand is widened into float32 as for every other family. */
int
lf_keeps_half(const lf_call *c, PyArrayObject *arr)
{
    return c->half_native && PyArray_TYPE(arr) == c->out_type && PyArray_ISALIGNED(arr) &&
           PyArray_ISNOTSWAPPED(arr);
}

int
lf_class_half_input(lf_call *c, PyArrayObject **input, PyArrayObject **target, int *half_kind)
{
    /* (an input NumPy could not hand over as it is arrives widened) */
    const int half = c->half_native ? lf_half_kind_of(PyArray_DESCR(*input)) : 0;
    if (half) {
        *half_kind = half;
        return 0;
    }
    if (!c->half_native) {
        return 0;
    }
    c->half_native = 0;
    if (target != NULL && (*target = lf_native(c, *target, c->typenum)) == NULL) {
        return -1;
    }
    return (*input = lf_native(c, *input, c->typenum)) ? 0 : -1;
}

int
lf_stage(lf_call *c, int half_kind, npy_intp samples, npy_intp C, float **stage, int *slots)
{
    if (!half_kind || C <= LF_CE_HALF_C) {
        return 0;
    }
    /* the most threads the call runs on: the pool's, and no more than its
     * samples (a row this long is a work unit of its own) */
    const int threads = lf_get_num_threads();
    *slots = samples < threads ? (samples > 0 ? (int)samples : 1) : threads;
    *stage = lf_alloc_n(c, C, (size_t)*slots * LF_STAGE_ROWS * sizeof(float),
                        "the staged half rows");
    return *stage != NULL ? 0 : -1;
}

int
lf_class_stage(lf_call *c, lf_classes *a)
{
    return lf_stage(c, a->half_kind, a->N * a->S, a->C, &a->stage, &a->stage_slots);
}

/* A float operand cast to the call's dtype; with allow_int, bool and integer
 * arrays (0/1 labels) are taken too. */
static PyArrayObject *
real_array(lf_call *c, PyArrayObject *arr, int allow_int, const char *arg)
{
    const char kind = PyArray_DESCR(arr)->kind;
    if (!(kind == 'f' || lf_half_kind_of(PyArray_DESCR(arr)) ||
          (allow_int && (kind == 'i' || kind == 'u' || kind == 'b')))) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a %s array, got dtype %S", c->fname, arg,
                     allow_int ? "real (float, integer or bool)" : "floating-point",
                     (PyObject *)PyArray_DESCR(arr));
        return NULL;
    }
    return lf_native(c, arr, c->typenum);
}

PyArrayObject *
lf_float_like(lf_call *c, PyObject *obj, int allow_int, const char *arg)
{
    PyArrayObject *arr = lf_to_ndarray(c, obj, arg);
    return arr ? real_array(c, arr, allow_int, arg) : NULL;
}

/* Index arrays are read again by the kernels after the pre-pass has checked
 * them, with the GIL released: another Python thread could rewrite the
 * caller's array in between.  So every index array is copied into an array
 * only this call holds (aligned, C order, int64) before it is checked; the
 * copy costs 8 bytes per index beside the row of C values each one selects. */
PyArrayObject *
lf_private_int64(lf_call *c, PyArrayObject *arr)
{
    return lf_own(c, PyArray_FromArray(arr, PyArray_DescrFromType(NPY_INT64),
                                       NPY_ARRAY_ALIGNED | NPY_ARRAY_C_CONTIGUOUS |
                                           NPY_ARRAY_ENSURECOPY | NPY_ARRAY_FORCECAST));
}

PyArrayObject *
lf_class_target(lf_call *c, PyArrayObject *arr, npy_intp C)
{
    if (PyArray_DESCR(arr)->kind == 'u' && PyArray_ITEMSIZE(arr) == 8) {
        /* checked in a private copy too: the value tested is the value cast */
        PyArrayObject *u = lf_own(
            c, PyArray_FromArray(arr, PyArray_DescrFromType(NPY_UINT64),
                                 NPY_ARRAY_ALIGNED | NPY_ARRAY_C_CONTIGUOUS |
                                     NPY_ARRAY_ENSURECOPY));
        if (u == NULL) {
            return NULL;
        }
        const npy_uint64 *v = (const npy_uint64 *)PyArray_DATA(u);
        for (npy_intp i = 0, n = PyArray_SIZE(u); i < n; i++) {
            if (v[i] > (npy_uint64)NPY_MAX_INT64) {
                PyErr_Format(PyExc_IndexError,
                             "%s: target has class %llu at flat index %zd, but input has %zd "
                             "classes",
                             c->fname, (unsigned long long)v[i], (Py_ssize_t)i, (Py_ssize_t)C);
                return NULL;
            }
        }
        arr = u;
    }
    return lf_private_int64(c, arr);
}

/* Where argument a of the call lands: its field in c->params. */
static void *
slot(const lf_call *c, const lf_arg *a)
{
    return (char *)c->params + a->offset;
}

int
lf_nargs(const lf_spec *s)
{
    int n = 0;
    while (n < LF_MAX_ARGS && s->args[n].name != NULL) {
        n++;
    }
    return n;
}

int
lf_arg_index(const lf_call *c, const void *field)
{
    const size_t offset = (size_t)((const char *)field - (const char *)c->params);
    for (int i = 0; i < lf_nargs(c->spec); i++) {
        if (c->spec->args[i].offset == offset) {
            return i;
        }
    }
    return -1;
}

static int
convert_array(lf_call *c, const lf_arg *a, PyObject *obj)
{
    PyArrayObject **v = slot(c, a), *arr;
    switch (a->kind) {
    case A_INPUT:
        if ((arr = lf_to_ndarray(c, obj, a->name)) == NULL) {
            return -1;
        }
        if (PyArray_TYPE(arr) != NPY_FLOAT && PyArray_TYPE(arr) != NPY_DOUBLE &&
            !lf_half_kind_of(PyArray_DESCR(arr))) { /* float8, longdouble, ... */
            PyErr_Format(PyExc_TypeError,
                         "%s: %s must be a float32 or float64 array, got dtype %S (float16 "
                         "and bfloat16 are taken too, computed in float32)",
                         c->fname, a->name, (PyObject *)PyArray_DESCR(arr));
            return -1;
        }
        *v = arr;
        return 0;
    case A_REAL: /* a target (or input2): kept half for a half-native call */
        if ((arr = lf_to_ndarray(c, obj, a->name)) == NULL) {
            return -1;
        }
        return (*v = lf_keeps_half(c, arr) ? arr : real_array(c, arr, 1, a->name)) ? 0 : -1;
    case A_FLOAT:
        if (obj == Py_None) {
            *v = NULL;
            return 0;
        }
        if ((arr = lf_to_ndarray(c, obj, a->name)) == NULL) {
            return -1;
        }
        /* torch refuses a class weight of another precision than the input's:
         * float32 and float64 mix (computed in the input's dtype), a half
         * weight goes with a half input only (known at the call, not at a
         * validate-only one), longdouble never */
        if (a->check == C_STRICT &&
            (PyArray_DESCR(arr)->kind == 'f' || lf_half_kind_of(PyArray_DESCR(arr))) &&
            PyArray_TYPE(arr) != NPY_FLOAT && PyArray_TYPE(arr) != NPY_DOUBLE &&
            !(lf_half_kind_of(PyArray_DESCR(arr)) &&
              (c->want == 0 || lf_is_half_type(c->out_type)))) {
            PyErr_Format(PyExc_TypeError,
                         "%s: %s must be a float32 or float64 array (half only with a half "
                         "input), got dtype %S",
                         c->fname, a->name, (PyObject *)PyArray_DESCR(arr));
            return -1;
        }
        if (a->check == C_1D && PyArray_NDIM(arr) != 1) {
            PyErr_Format(PyExc_ValueError, "%s: %s must be one-dimensional, got %d-d", c->fname,
                         a->name, PyArray_NDIM(arr));
            return -1;
        }
        return (*v = real_array(c, arr, 0, a->name)) ? 0 : -1;
    case A_INDEX:
        if ((arr = lf_to_ndarray(c, obj, a->name)) == NULL) {
            return -1;
        }
        if (PyArray_DESCR(arr)->kind != 'i' && PyArray_DESCR(arr)->kind != 'u') {
            PyErr_Format(PyExc_TypeError,
                         "%s: %s must hold integer class indices, got dtype %S", c->fname,
                         a->name, (PyObject *)PyArray_DESCR(arr));
            return -1;
        }
        *v = arr;
        return 0;
    default: /* A_ARRAY */
        return (*v = lf_to_ndarray(c, obj, a->name)) ? 0 : -1;
    }
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

static int
check_passes(lf_check check, double x)
{
    switch (check) {
    case C_FINITE:
        return isfinite(x);
    case C_FINITE_GE0:
        return isfinite(x) && x >= 0;
    case C_FINITE_GT0:
        return isfinite(x) && x > 0;
    case C_GE0:
        return x >= 0;
    case C_GT0:
        return x > 0;
    case C_UNIT:
        return x >= 0 && x <= 1;
    case C_UNIT_OPEN:
        return x >= 0 && x < 1;
    case C_ONE_OR_TWO:
        return x == 1 || x == 2;
    case C_DIST:
        return x == LF_DIST_PNORM || x == LF_DIST_COSINE;
    default:
        return 1;
    }
}

/* ValueError naming the option and its value. */
static int
option_refused(lf_call *c, const lf_arg *a, PyObject *obj)
{
    if (strchr(a->what, '%') != NULL) {
        PyErr_Format(PyExc_ValueError, a->what, c->fname, obj);
    }
    else {
        PyErr_Format(PyExc_ValueError, "%s: %s must be %s, got %R", c->fname, a->name, a->what,
                     obj);
    }
    return -1;
}

static int
convert_real(lf_call *c, const lf_arg *a, PyObject *obj)
{
    double *v = slot(c, a);
    if (a->kind == O_REAL_OR_NONE && obj == Py_None) {
        *v = 0.0;
        return 0;
    }
    *v = PyFloat_AsDouble(obj);
    if (*v == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s: %s must be a %s, got %s", c->fname, a->name,
                         a->check == C_UNIT ? "float" : "real number", Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    return check_passes(a->check, *v) ? 0 : option_refused(c, a, obj);
}

static int
convert_long(lf_call *c, const lf_arg *a, PyObject *obj)
{
    long *v = slot(c, a);
    *v = PyLong_AsLong(obj);
    if (*v == -1 && PyErr_Occurred()) {
        /* an integer too large for a C long is out of range, not of the wrong type */
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Format(PyExc_IndexError, "%s: %s %R is out of range", c->fname, a->name, obj);
        }
        else {
            PyErr_Format(PyExc_TypeError, "%s: %s must be an integer, got %s", c->fname, a->name,
                         Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    return check_passes(a->check, (double)*v) ? 0 : option_refused(c, a, obj);
}

/* O_INDEX: any integer (NumPy's too), never a float */
static int
convert_index(lf_call *c, const lf_arg *a, PyObject *obj)
{
    long long *v = slot(c, a);
    PyObject *idx = PyNumber_Index(obj);
    if (idx == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be an integer, got %s", c->fname, a->name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    int overflow = 0;
    *v = PyLong_AsLongLongAndOverflow(idx, &overflow);
    if (overflow) {
        *v = overflow > 0 ? NPY_MAX_INT64 : NPY_MIN_INT64;
        c->overflow = 1;
        if (a->check == C_INT64) {
            PyErr_Format(PyExc_ValueError, "%s: %s %R does not fit in int64", c->fname, a->name,
                         idx);
        }
    }
    Py_DECREF(idx);
    return overflow && a->check == C_INT64 ? -1 : 0;
}

static int
convert_option(lf_call *c, const lf_arg *a, PyObject *obj)
{
    switch (a->kind) {
    case O_REAL:
    case O_REAL_OR_NONE:
        return convert_real(c, a, obj);
    case O_BOOL:
        return (*(int *)slot(c, a) = PyObject_IsTrue(obj)) < 0 ? -1 : 0;
    case O_LONG:
        return convert_long(c, a, obj);
    default:
        return convert_index(c, a, obj);
    }
}

/* ------------------------------------------------------------------------ */
/* The spec                                                                 */
/* ------------------------------------------------------------------------ */

static int
code_arg(lf_call *c, PyObject *obj, long lo, long hi, const char *what, int *out)
{
    long r = PyLong_AsLong(obj);
    if (r == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (r < lo || r > hi) {
        PyErr_Format(PyExc_ValueError, "%s: bad %s code %ld", c->fname, what, r);
        return -1;
    }
    *out = (int)r;
    return 0;
}

/* The dtype of results from inputs of types a and b (0: none yet), as
 * torch promotes: equal types stay, float64 wins, any other mix (float16
 * with bfloat16 or float32) is float32. */
static int
promote(int a, int b)
{
    return a == 0 || a == b                     ? b
           : a == NPY_DOUBLE || b == NPY_DOUBLE ? NPY_DOUBLE
                                                : NPY_FLOAT;
}

/* The arrays: the differentiable inputs first (they fix the dtype, float64
 * winning when several differ; half ones are computed in float32), then the
 * others in order. */
static int
convert_arrays(lf_call *c, const lf_spec *s, int nargs)
{
    int typenum = 0;
    for (int i = 0; i < nargs; i++) {
        if (s->args[i].kind == A_INPUT) {
            if (convert_array(c, &s->args[i], c->args[i]) < 0) {
                return -1;
            }
            c->in_type[i] = PyArray_TYPE(*(PyArrayObject **)slot(c, &s->args[i]));
            typenum = promote(typenum, c->in_type[i]);
        }
    }
    c->out_type = typenum ? typenum : NPY_DOUBLE;
    c->typenum = lf_is_half_type(c->out_type) ? NPY_FLOAT : c->out_type;
    /* the template reads and writes half itself; H v products stay on the
     * widened path (their diagonal is multiplied in float32), and a class
     * or row kernel's Hessians too */
    c->half_native = c->typenum != c->out_type && !(c->want & WANT_HVP) &&
                     ((s->flags & LF_HALF_EW) ||
                      ((s->flags & (LF_HALF_CLASS | LF_HALF_ROWS)) && !(c->want & WANT_HESS)));
    for (int i = 0; i < nargs; i++) {
        if (s->args[i].kind == A_INPUT) {
            PyArrayObject **v = slot(c, &s->args[i]);
            if (!lf_keeps_half(c, *v) && (*v = lf_native(c, *v, c->typenum)) == NULL) {
                return -1;
            }
        }
        else if (s->args[i].kind < O_REAL && convert_array(c, &s->args[i], c->args[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* reduction, want, grad_output and out, after the spec's arguments. */
static int
protocol_args(lf_call *c, const lf_spec *s, int nargs, PyObject *const *args, Py_ssize_t given)
{
    const int plain = (s->flags & LF_PLAIN) != 0;
    const Py_ssize_t expect = nargs + (plain ? 0 : 3);
    if (given != expect && !((s->flags & LF_OUT) && given == expect + 1)) {
        PyErr_Format(PyExc_TypeError, "%s expects %zd arguments", s->fname, expect);
        return -1;
    }
    if (!plain) {
        if (code_arg(c, args[nargs], LF_REDUCE_NONE,
                     (s->flags & LF_BATCHMEAN) ? REDUCE_BATCHMEAN : LF_REDUCE_SUM, "reduction",
                     &c->reduction) < 0 ||
            code_arg(c, args[nargs + 1], 0,
                     WANT_LOSS | WANT_GRAD | WANT_HESS | WANT_HVP | WANT_NORM | WANT_SHAPE,
                     "`want`",
                     &c->want) < 0) {
            return -1;
        }
        const int mean = s->flags & LF_MEAN_MASK;
        if ((c->want & WANT_NORM) && (c->want != WANT_NORM || c->reduction != LF_REDUCE_MEAN ||
                                      (mean != LF_MEAN_ASK && mean != LF_MEAN_WEIGHTS))) {
            PyErr_Format(PyExc_ValueError, "%s: `want` asks for a divisor it does not give",
                         s->fname);
            return -1;
        }
        if ((c->want & WANT_SHAPE) &&
            (c->want != WANT_SHAPE || (s->flags & LF_NONE_MASK) != LF_NONE_ASK)) {
            PyErr_Format(PyExc_ValueError, "%s: `want` asks for a shape it does not give",
                         s->fname);
            return -1;
        }
        c->grad_output_obj = args[nargs + 2];
        c->out_obj = given > expect && args[expect] != Py_None ? args[expect] : NULL;
        if (c->want & WANT_HVP) { /* the trailing argument is v, not an out buffer */
            if (!(c->want & WANT_HESS) || c->out_obj == NULL) {
                PyErr_Format(PyExc_ValueError, "%s: `want` asks for H v without WANT_HESS or v",
                             s->fname);
                return -1;
            }
            c->v_obj = c->out_obj;
            c->out_obj = NULL;
        }
    }
    return 0;
}

int
lf_begin(lf_call *c, const lf_spec *s, void *params, PyObject *mod, PyObject *const *args,
         Py_ssize_t nargs)
{
    memset(c, 0, sizeof(*c));
    c->params = params;
    c->mod = mod;
    c->spec = s;
    c->fname = s->fname;
    c->args = args;
    c->scale = 1.0;
    c->want = WANT_LOSS;
    const int n = lf_nargs(s);
    if (protocol_args(c, s, n, args, nargs) < 0) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (s->args[i].kind >= O_REAL && convert_option(c, &s->args[i], args[i]) < 0) {
            return -1;
        }
    }
    if (c->want == 0) { /* validate-only: the options, then the weights */
        c->typenum = c->out_type = NPY_DOUBLE;
        for (int i = 0; i < n; i++) {
            if (s->args[i].kind == A_FLOAT && convert_array(c, &s->args[i], args[i]) < 0) {
                return -1;
            }
        }
        return 1;
    }
    return convert_arrays(c, s, n);
}

/* ------------------------------------------------------------------------ */
/* Interruption                                                             */
/* ------------------------------------------------------------------------ */

unsigned long lf_main_thread;

/* The engine's poll, on the calling thread: a signal handler that raised
 * (KeyboardInterrupt) stops the call. */
static int
poll_signals(void *ctx)
{
    PyThreadState **save = ctx;
    PyEval_RestoreThread(*save);
    const int raised = PyErr_CheckSignals() < 0;
    *save = PyEval_SaveThread();
    return raised;
}

void
lf_listen(lf_call *c, PyThreadState **save)
{
    (void)c;
    *save = PyEval_SaveThread();
    if (PyThread_get_thread_ident() == lf_main_thread) {
        lf_interrupt_begin(poll_signals, save);
    }
}

void
lf_unlisten(lf_call *c, PyThreadState *save)
{
    if (save == NULL) {
        return;
    }
    const int stopped = PyThread_get_thread_ident() == lf_main_thread && lf_interrupt_end();
    PyEval_RestoreThread(save);
    if (stopped && c->interrupt[0] == NULL) {
        /* the handler's exception, kept apart from anything the family may
         * raise about the meaningless result */
        PyErr_Fetch(&c->interrupt[0], &c->interrupt[1], &c->interrupt[2]);
    }
    else if (stopped) {
        PyErr_Clear(); /* a second one, in a pass that LF_RUN would have skipped */
    }
}

PyObject *
lf_invoke_here(const lf_spec *spec, lf_family_fn family, int kind, void *params, size_t size,
               PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    lf_call c;
    if (size != spec->size) { /* a binding bug: the spec's rows are of another struct */
        PyErr_Format(PyExc_SystemError, "%s: parameters of %zu bytes, but its spec's are %zu",
                     spec->fname, size, spec->size);
        return NULL;
    }
    memset(params, 0, size);
    const int status = lf_begin(&c, spec, params, mod, args, nargs);
    PyObject *res = NULL;
    if (status > 0) {
        Py_INCREF(Py_None);
        res = Py_None;
    }
    else if (status == 0 && (c.want & WANT_HESS) && (spec->flags & LF_NO_HESS)) {
        PyErr_Format(PyExc_NotImplementedError, "%s: %s", c.fname, LF_NO_HESSIAN_WHY);
    }
    else if (status == 0) {
        res = family(&c, kind);
        /* an activation or distance returns its float32 array itself */
        if (res != NULL && (spec->flags & LF_PLAIN) && lf_is_half_type(c.out_type) &&
            PyArray_Check(res) && PyArray_TYPE((PyArrayObject *)res) == NPY_FLOAT) {
            PyArrayObject *h = lf_narrow(&c, (PyArrayObject *)res, NULL, c.out_type);
            Py_DECREF(res);
            res = (PyObject *)h;
            Py_XINCREF(res);
        }
    }
    if (c.interrupt[0] != NULL) {
        Py_XDECREF(res);
        res = NULL;
        PyErr_Clear();
        PyErr_Restore(c.interrupt[0], c.interrupt[1], c.interrupt[2]);
    }
    return lf_end(&c, res);
}
