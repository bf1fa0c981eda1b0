/*
 * engine.c -- the engine's settings (threads, kernel variant) and the
 * vectorized math that the accuracy tests reach.
 */
#include "binding.h"

/* _set_converter(fn): the package hands the core its converter once, at
 * import (binding.h, lf_module_state); fn(obj, fname, arg) -> ndarray. */
PyObject *
py_set_converter(PyObject *mod, PyObject *arg)
{
    if (!PyCallable_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "_set_converter: fn must be callable, got %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    lf_module_state *st = PyModule_GetState(mod);
    Py_INCREF(arg);
    Py_XSETREF(st->converter, arg);
    Py_RETURN_NONE;
}

PyObject *
py_set_num_threads(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "set_num_threads: n must be >= 1, got %ld", n);
        return NULL;
    }
    return PyLong_FromLong(lf_set_num_threads(n > 1024 ? 1024 : (int)n));
}

PyObject *
py_get_num_threads(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(arg))
{
    return PyLong_FromLong(lf_get_num_threads());
}

/* _set_isa(level): 2 AVX-512, 1 AVX2, 0 baseline, -1 the best; for tests. */
PyObject *
py_set_isa(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    long level = PyLong_AsLong(arg);
    if (level == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromLong(lf_set_isa(level < -1 || level > 2 ? -1 : (int)level));
}

/* What a bug report needs to know of this build: the NumPy it was compiled
 * against (setup.py passes it), the compiler, the kernel variant in effect. */
#ifndef PYLOSSFN_NUMPY_BUILD
#define PYLOSSFN_NUMPY_BUILD "unknown"
#endif
#if defined(__clang__)
#define LF_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define LF_COMPILER "gcc " __VERSION__
#elif defined(_MSC_VER)
#define LF_STR2(x) #x
#define LF_STR(x) LF_STR2(x)
#define LF_COMPILER "msvc " LF_STR(_MSC_FULL_VER)
#else
#define LF_COMPILER "unknown"
#endif

PyObject *
py_build_info(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(arg))
{
    static const char *const isa_names[] = {"baseline (SSE2 on x86-64)", "AVX2 + FMA", "AVX-512"};
    const int isa = lf_isa();
    return Py_BuildValue("{s:s,s:s,s:i,s:s}", "numpy_build", PYLOSSFN_NUMPY_BUILD,
                         "compiler", LF_COMPILER, "isa_level", isa, "isa",
                         isa_names[isa < 0 || isa > 2 ? 0 : isa]);
}

/* _vecmath(x, f): the engine's exp (f=0), log (1), log1p (2) of a 1-d
 * contiguous float array, for the accuracy tests. */
PyObject *
py_vecmath(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyArray_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "_vecmath(x: ndarray, f: int)");
        return NULL;
    }
    PyArrayObject *x = (PyArrayObject *)args[0];
    const long f = PyLong_AsLong(args[1]);
    if (f == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const int t = PyArray_TYPE(x);
    if ((t != NPY_FLOAT && t != NPY_DOUBLE) || PyArray_NDIM(x) != 1 ||
        !PyArray_IS_C_CONTIGUOUS(x) || !PyArray_ISNOTSWAPPED(x) || f < 0 || f > 2) {
        PyErr_SetString(PyExc_ValueError,
                        "_vecmath: x must be a 1-d contiguous float array, f in 0..2");
        return NULL;
    }
    PyArrayObject *out = (PyArrayObject *)PyArray_EMPTY(1, PyArray_DIMS(x), t, 0);
    if (out == NULL) {
        return NULL;
    }
    if (t == NPY_FLOAT) {
        lf_vecmath_f32((int)f, PyArray_DATA(x), PyArray_DATA(out), PyArray_SIZE(x));
    }
    else {
        lf_vecmath_f64((int)f, PyArray_DATA(x), PyArray_DATA(out), PyArray_SIZE(x));
    }
    return (PyObject *)out;
}
