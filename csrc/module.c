/*
 * module.c -- pylossfn._core: module init (multi-phase) and the method
 * table.  The entry points live in csrc/binding/ (one file per family, on
 * the generic layer of binding.h); their list is methods.h.
 */
#define LF_BINDING_IMPORTS_NUMPY
#include "binding/binding.h"

#if !defined(_WIN32)
#include <pthread.h>
#endif

static PyMethodDef core_methods[] = {
/* docstrings from the specs (lf_docstrings, at init) */
#define LF_METHOD_ROW(name) {#name, (PyCFunction)(void (*)(void))py_##name, METH_FASTCALL, NULL},
    LF_METHODS(LF_METHOD_ROW)
#undef LF_METHOD_ROW
#define LF_ENGINE_ROW(name, pyname, flags, doc) \
    {pyname, (PyCFunction)(void (*)(void))py_##name, flags, doc},
    LF_ENGINE_METHODS(LF_ENGINE_ROW)
#undef LF_ENGINE_ROW
    {NULL, NULL, 0, NULL},
};

#if !defined(_WIN32)
/* A child forked from any thread runs Python's handlers on that thread. */
static int atfork_set;
static void
main_thread_after_fork(void)
{
    lf_main_thread = PyThread_get_thread_ident();
}
#endif

static int
core_exec(PyObject *mod)
{
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(mod, "WANT_LOSS", WANT_LOSS) < 0 ||
        PyModule_AddIntConstant(mod, "WANT_GRAD", WANT_GRAD) < 0 ||
        PyModule_AddIntConstant(mod, "WANT_HESS", WANT_HESS) < 0 ||
        /* the reduction codes, so that Python maps its strings to them only */
        PyModule_AddIntConstant(mod, "REDUCE_NONE", LF_REDUCE_NONE) < 0 ||
        PyModule_AddIntConstant(mod, "REDUCE_MEAN", LF_REDUCE_MEAN) < 0 ||
        PyModule_AddIntConstant(mod, "REDUCE_SUM", LF_REDUCE_SUM) < 0 ||
        PyModule_AddIntConstant(mod, "REDUCE_BATCHMEAN", REDUCE_BATCHMEAN) < 0 ||
        PyModule_AddIntConstant(mod, "WANT_HVP", WANT_HVP) < 0 ||
        PyModule_AddIntConstant(mod, "WANT_NORM", WANT_NORM) < 0 ||
        PyModule_AddIntConstant(mod, "WANT_SHAPE", WANT_SHAPE) < 0 ||
        /* the fused heads' tile modes (lf_lce_tile's), for pylossfn._heads */
        PyModule_AddIntConstant(mod, "LCE_STATS", LF_LCE_STATS) < 0 ||
        PyModule_AddIntConstant(mod, "LCE_FULL", LF_LCE_FULL) < 0 ||
        PyModule_AddIntConstant(mod, "LCE_GRAD", LF_LCE_GRAD) < 0) {
        return -1;
    }
    PyMethodDef *rows = lf_row_methods(); /* the entry points made from rows */
    if (rows == NULL || PyModule_AddFunctions(mod, rows) < 0) {
        return -1;
    }
    PyObject *losses = lf_losses(); /* PyModule_AddObject: 3.9 has no AddObjectRef */
    if (losses == NULL || PyModule_AddObject(mod, "LOSSES", losses) < 0) {
        Py_XDECREF(losses);
        return -1;
    }
    PyObject *families = lf_families();
    if (families == NULL || PyModule_AddObject(mod, "FAMILIES", families) < 0) {
        Py_XDECREF(families);
        return -1;
    }
    /* the thread whose long calls answer Ctrl-C (binding.h, lf_listen) */
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main = threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;
    const unsigned long id = ident ? PyLong_AsUnsignedLong(ident) : (unsigned long)-1;
    Py_XDECREF(ident);
    Py_XDECREF(main);
    Py_XDECREF(threading);
    if (PyErr_Occurred()) {
        return -1;
    }
    lf_main_thread = id;
#if !defined(_WIN32)
    if (!atfork_set) {
        atfork_set = pthread_atfork(NULL, NULL, main_thread_after_fork) == 0;
    }
#endif
    return 0;
}

static int
core_traverse(PyObject *mod, visitproc visit, void *arg)
{
    lf_module_state *st = PyModule_GetState(mod);
    Py_VISIT(st->converter);
    return 0;
}

static int
core_clear(PyObject *mod)
{
    lf_module_state *st = PyModule_GetState(mod);
    Py_CLEAR(st->converter);
    return 0;
}

static void
core_free(void *mod)
{
    core_clear((PyObject *)mod);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pylossfn._core",
    .m_doc = "The C engine of pylossfn: strided loss kernels with fused gradients.",
    .m_size = sizeof(lf_module_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    /* before the functions are made from the table (PyModule_FromDefAndSpec) */
    if (lf_docstrings(core_methods) < 0) {
        return NULL;
    }
    return PyModuleDef_Init(&core_module);
}
