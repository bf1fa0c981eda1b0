/*
 * stack.c -- every call runs on a stack deep enough for its kernel.
 *
 * A kernel may keep up to about half a MiB on its stack (the multi-label
 * margin's sort buffers, a staged half row of 8,192 classes), and the pool's
 * workers have at least 1 MiB.  The calling thread is the user's: the main
 * thread has megabytes, but a Python thread may have 128 KiB (musl's
 * default) or whatever threading.stack_size() set, where such a kernel
 * overflows its stack and the interpreter dies.  So a call from a thread
 * with less than LF_STACK_NEED left runs on a thread of its own with
 * LF_STACK_BIG bytes, in the caller's interpreter, while the caller waits
 * with the GIL released; its result or exception comes back to the caller.
 * (The main thread never moves, so Ctrl-C still reaches its calls.)
 */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* pthread_getattr_np; as pyconfig.h defines it */
#endif

#include "binding.h"

#include <stdint.h>

#define LF_STACK_NEED ((size_t)1 << 20)
#define LF_STACK_BIG ((size_t)8 << 20)

#if defined(__GNUC__) && (defined(__linux__) || defined(__APPLE__))
#define LF_STACK_CHECK 1
#include <pthread.h>

/* The lowest address of this thread's stack (found once per thread), or 0
 * where it cannot be known. */
static __thread uintptr_t tls_stack_lo;
static __thread int tls_stack_known;

static uintptr_t
stack_lo(void)
{
    if (!tls_stack_known) {
        tls_stack_known = 1;
#if defined(__APPLE__)
        pthread_t self = pthread_self();
        tls_stack_lo = (uintptr_t)pthread_get_stackaddr_np(self) - pthread_get_stacksize_np(self);
#else
        pthread_attr_t attr;
        void *addr = NULL;
        size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                tls_stack_lo = (uintptr_t)addr;
            }
            pthread_attr_destroy(&attr);
        }
#endif
    }
    return tls_stack_lo;
}

/* The bytes of stack left below this frame (SIZE_MAX where unknown). */
static size_t
stack_left(void)
{
    volatile char here = 0;
    const uintptr_t lo = stack_lo(), at = (uintptr_t)&here;
    return lo == 0 ? SIZE_MAX : at > lo ? (size_t)(at - lo) : 0;
}

typedef struct {
    const lf_spec *spec;
    lf_family_fn family;
    int kind;
    void *params;
    size_t size;
    PyObject *mod;
    PyObject *const *args;
    Py_ssize_t nargs;
    PyInterpreterState *interp;
    PyObject *res, *type, *value, *tb; /* the result, or the exception */
} far_call;

static void *
far_main(void *arg)
{
    far_call *f = arg;
    PyThreadState *ts = PyThreadState_New(f->interp);
    if (ts == NULL) {
        return NULL; /* f->res stays NULL with no exception: the caller says so */
    }
    PyEval_RestoreThread(ts);
    f->res = lf_invoke_here(f->spec, f->family, f->kind, f->params, f->size, f->mod, f->args,
                            f->nargs);
    if (f->res == NULL) {
        PyErr_Fetch(&f->type, &f->value, &f->tb);
    }
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
    return NULL;
}

/* lf_invoke_here on a thread of LF_STACK_BIG bytes of stack. */
static PyObject *
invoke_far(far_call *f)
{
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        rc = pthread_attr_setstacksize(&attr, LF_STACK_BIG);
        Py_BEGIN_ALLOW_THREADS
        if (rc == 0 && (rc = pthread_create(&th, &attr, far_main, f)) == 0) {
            pthread_join(th, NULL);
        }
        Py_END_ALLOW_THREADS
        pthread_attr_destroy(&attr);
    }
    if (rc != 0 || (f->res == NULL && f->type == NULL)) {
        PyErr_Format(PyExc_RuntimeError,
                     "%s: this thread has too little stack left for the call (under %zu "
                     "KiB), and no thread with more could be started",
                     f->spec->fname, LF_STACK_NEED >> 10);
        return NULL;
    }
    if (f->res == NULL) {
        PyErr_Restore(f->type, f->value, f->tb);
    }
    return f->res;
}
#endif

PyObject *
lf_invoke(const lf_spec *spec, lf_family_fn family, int kind, void *params, size_t size,
          PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
#ifdef LF_STACK_CHECK
    if (stack_left() < LF_STACK_NEED) {
        far_call f = {spec,  family, kind, params, size, mod, args, nargs,
                      PyThreadState_GetInterpreter(PyThreadState_Get()),
                      NULL,  NULL,   NULL, NULL};
        return invoke_far(&f);
    }
#endif
    return lf_invoke_here(spec, family, kind, params, size, mod, args, nargs);
}
