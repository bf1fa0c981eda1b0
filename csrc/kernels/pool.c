/*
 * pool.c -- a small pool of worker threads for lf_parallel_sum (pool.h).
 *
 * Work comes as numbered units whose partition depends on the shape alone;
 * threads take units from a shared counter, each unit's sum goes to its own
 * slot of a static buffer, and the slots are added in unit order by the
 * caller.  Nothing is allocated per call; the threads themselves are started
 * once, on the first call that can use them.  Which thread
 * computed a unit never shows in the result, so it is bitwise the same for
 * any thread count (a thread count of 1 adds the same values in the same
 * order without the pool).
 *
 * One job runs at a time; a caller that finds the pool busy (another Python
 * thread, the GIL being released) computes its job alone, with the same
 * result.  Workers spin briefly after a job, because the next call of a
 * training loop usually follows soon, then sleep on a condition variable.
 * The caller waits only for the workers that joined its job: a worker that
 * gets no core until every unit is taken (another library's threads
 * spinning on it) costs nothing, where waiting for it cost about 0.1 ms.
 */
#if !defined(_WIN32)
#define _GNU_SOURCE /* sched_getaffinity */
#endif

#include <stdlib.h>
#include <time.h>

#include "atomics.h"
#include "pool.h"

#if defined(__GNUC__)
#define LF_TLS __thread
#elif defined(_MSC_VER)
#define LF_TLS __declspec(thread)
#else
#define LF_TLS /* no thread-local storage: one interruptible call at a time */
#endif

/* ---- interruption ------------------------------------------------------- */

/* Per thread: the calling thread's poll (NULL on workers and outside a call),
 * when it last ran, whether it asked to stop, and the stop flag of the job
 * this thread is working on (shared by the job's threads). */
static LF_TLS lf_poll_fn tls_poll;
static LF_TLS void *tls_poll_ctx;
static LF_TLS double tls_last_poll;
static LF_TLS int tls_interrupted;
static LF_TLS int *tls_stop;
/* 1 + the worker's id on a worker, 0 on any other thread (lf_pool_slot) */
static LF_TLS int tls_slot;

int
lf_pool_slot(void)
{
    return tls_slot;
}

static double
now_ms(void)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
#else
    return 1e3 * (double)clock() / CLOCKS_PER_SEC;
#endif
}

void
lf_interrupt_begin(lf_poll_fn poll, void *ctx)
{
    tls_poll = poll;
    tls_poll_ctx = ctx;
    tls_last_poll = now_ms();
    tls_interrupted = 0;
    tls_stop = NULL;
}

int
lf_interrupt_end(void)
{
    const int stopped = tls_interrupted;
    tls_poll = NULL;
    tls_poll_ctx = NULL;
    tls_interrupted = 0;
    tls_stop = NULL;
    return stopped;
}

/* Runs the poll with this thread's state set aside: the poll runs Python
 * signal handlers, and a handler may itself call a loss (which begins and
 * ends interruption state of its own, and must not re-enter this poll while
 * the GIL is held). */
static int
run_poll(void)
{
    const lf_poll_fn poll = tls_poll;
    void *const ctx = tls_poll_ctx;
    int *const stop = tls_stop;
    tls_poll = NULL;
    tls_poll_ctx = NULL;
    tls_stop = NULL;
    const int stopped = poll(ctx);
    tls_poll = poll;
    tls_poll_ctx = ctx;
    tls_stop = stop;
    tls_interrupted = 0;
    tls_last_poll = now_ms(); /* the handler's own time does not count */
    return stopped;
}

int
lf_checkpoint(void)
{
    if (tls_poll != NULL && !tls_interrupted && now_ms() - tls_last_poll >= LF_POLL_MS &&
        run_poll()) {
        tls_interrupted = 1;
        if (tls_stop != NULL) {
            LF_ATOMIC_STORE(tls_stop, 1);
        }
    }
    return tls_interrupted || (tls_stop != NULL && LF_ATOMIC_LOAD(tls_stop));
}

#if defined(__GNUC__) && !defined(_WIN32)
#define LF_THREADS 1
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#else
#define LF_THREADS 0
#endif

static int num_threads = 0; /* 0: not yet read from the environment */

static int
default_threads(void)
{
    const char *env = getenv("PYLOSSFN_NUM_THREADS");
    if (env != NULL && *env) {
        long n = strtol(env, NULL, 10);
        if (n >= 1) {
            return n > LF_MAX_THREADS ? LF_MAX_THREADS : (int)n;
        }
    }
#if LF_THREADS
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        return n < 1 ? 1 : n > LF_MAX_THREADS ? LF_MAX_THREADS : n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > LF_MAX_THREADS ? LF_MAX_THREADS : (int)n;
#else
    return 1;
#endif
}

int
lf_get_num_threads(void)
{
    int n = LF_ATOMIC_LOAD(&num_threads);
    if (n == 0) {
        n = default_threads();
        LF_ATOMIC_STORE(&num_threads, n);
    }
    return n;
}

int
lf_set_num_threads(int n)
{
    if (n < 1) {
        n = default_threads();
    }
#if !LF_THREADS
    n = 1;
#endif
    n = n > LF_MAX_THREADS ? LF_MAX_THREADS : n;
    LF_ATOMIC_STORE(&num_threads, n);
    return n;
}

static double
serial_sum(lf_unit_fn fn, void *ctx, ptrdiff_t units)
{
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t u = 0; u < units && !lf_checkpoint(); u++) {
        lf_ksum_add(&total, fn(ctx, u));
    }
    return lf_ksum_value(&total);
}

#if LF_THREADS

/* Units per job; their sums wait in `partials` (owned by submit_mu's holder)
 * to be added in order. */
#define LF_BATCH 4096

typedef struct {
    lf_unit_fn fn;
    void *ctx;
    ptrdiff_t first, end; /* units [first, end) */
    double *partials;     /* partials[u - first] */
    ptrdiff_t next;       /* next unit to take (atomic) */
    int helpers;          /* workers with an id below this take part */
    int stop;             /* set (atomic) when the call is interrupted */
} job_t;

static double partials[LF_BATCH];

static pthread_mutex_t submit_mu = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int started;          /* workers running */
static unsigned long gen;    /* job generation; workers wait for it to change */
static job_t *current;       /* the job workers may join; NULL once its caller closed it */
static int active;           /* workers that joined the current job and are not done */
static int atfork_set;
static unsigned long start_gen[LF_MAX_THREADS];

/* Spin iterations (each a pause) before a worker or the caller sleeps. */
#define SPIN 4000

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Takes units until none is left or the job is stopped (the calling thread
 * polls for interruption before each of its units: lf_checkpoint). */
static void
run_units(job_t *j)
{
    int *const outer = tls_stop;
    tls_stop = &j->stop;
    for (;;) {
        if (lf_checkpoint()) {
            break;
        }
        ptrdiff_t u = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (u >= j->end) {
            break;
        }
        j->partials[u - j->first] = j->fn(j->ctx, u);
    }
    tls_stop = outer;
}

static void *
worker(void *arg)
{
    const int id = (int)(ptrdiff_t)arg;
    tls_slot = id + 1;
    /* the generation when this worker was created: its first job is the next */
    pthread_mutex_lock(&pool_mu);
    unsigned long seen = start_gen[id];
    pthread_mutex_unlock(&pool_mu);
    for (;;) {
        for (int i = 0; i < SPIN && LF_ATOMIC_LOAD(&gen) == seen; i++) {
            cpu_relax();
        }
        pthread_mutex_lock(&pool_mu);
        while (gen == seen) {
            pthread_cond_wait(&work_cv, &pool_mu);
        }
        seen = gen;
        /* join the job only while its caller still takes helpers: a worker
         * that wakes late finds it closed and skips it */
        job_t *j = current;
        const int join = j != NULL && id < j->helpers;
        if (join) {
            __atomic_add_fetch(&active, 1, __ATOMIC_ACQ_REL);
        }
        pthread_mutex_unlock(&pool_mu);
        if (!join) {
            continue;
        }
        run_units(j);
        pthread_mutex_lock(&pool_mu);
        if (__atomic_sub_fetch(&active, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_cond_signal(&done_cv);
        }
        pthread_mutex_unlock(&pool_mu);
    }
    return NULL;
}

/* A forked child has none of the parent's workers: start afresh. */
static void
atfork_child(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    submit_mu = m;
    pool_mu = m;
    work_cv = c;
    done_cv = c;
    started = 0;
    active = 0;
    current = NULL;
}

/* Starts workers up to `want` (caller holds submit_mu); returns how many run. */
static int
ensure_workers(int want)
{
    if (!atfork_set) {
        atfork_set = pthread_atfork(NULL, NULL, atfork_child) == 0;
    }
    while (started < want) {
        pthread_t th;
        pthread_mutex_lock(&pool_mu);
        start_gen[started] = gen;
        pthread_mutex_unlock(&pool_mu);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* at least 1 MiB of stack (musl's default is 128 KiB): a block
         * function may stage a half row on its stack (about 100 KiB) */
        size_t stack = 0;
        if (pthread_attr_getstacksize(&attr, &stack) == 0 && stack < ((size_t)1 << 20)) {
            pthread_attr_setstacksize(&attr, (size_t)1 << 20);
        }
        /* asynchronous signals (Ctrl-C) go to the program's own threads, never
         * a worker: a worker is born with them blocked (the faults a worker
         * itself raises, SIGSEGV and the like, stay deliverable) */
        sigset_t block, old;
        sigfillset(&block);
        sigdelset(&block, SIGSEGV);
        sigdelset(&block, SIGBUS);
        sigdelset(&block, SIGFPE);
        sigdelset(&block, SIGILL);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        int rc = pthread_create(&th, &attr, worker, (void *)(ptrdiff_t)started);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            break;
        }
        pthread_mutex_lock(&pool_mu);
        started++;
        pthread_mutex_unlock(&pool_mu);
    }
    return started < want ? started : want;
}

/* Hands job j to the workers, takes part, closes it once every unit is
 * taken, and waits for the workers that joined it (those still on a unit). */
static void
run_job(job_t *j)
{
    pthread_mutex_lock(&pool_mu);
    current = j;
    LF_ATOMIC_STORE(&gen, gen + 1);
    pthread_cond_broadcast(&work_cv);
    pthread_mutex_unlock(&pool_mu);

    run_units(j);

    pthread_mutex_lock(&pool_mu);
    current = NULL; /* no worker joins from here on */
    pthread_mutex_unlock(&pool_mu);
    for (int i = 0; i < SPIN && LF_ATOMIC_LOAD(&active) != 0; i++) {
        cpu_relax();
    }
    pthread_mutex_lock(&pool_mu);
    while (active != 0) {
        if (tls_poll == NULL) {
            pthread_cond_wait(&done_cv, &pool_mu);
            continue;
        }
        /* the workers' last units may be long: keep answering the poll */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += LF_POLL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&done_cv, &pool_mu, &until);
        if (active != 0) {
            pthread_mutex_unlock(&pool_mu); /* the poll may wait for the GIL */
            int *const outer = tls_stop;
            tls_stop = &j->stop;
            (void)lf_checkpoint();
            tls_stop = outer;
            pthread_mutex_lock(&pool_mu);
        }
    }
    pthread_mutex_unlock(&pool_mu);
}

/* lf_parallel_sum on at most max_threads threads. */
static double
parallel_sum(lf_unit_fn fn, void *ctx, ptrdiff_t units, ptrdiff_t work, int max_threads)
{
    const int all = lf_get_num_threads(), threads = all < max_threads ? all : max_threads;
    if (threads <= 1 || units < 2 || work < LF_PAR_MIN_WORK) {
        return serial_sum(fn, ctx, units);
    }
    if (pthread_mutex_trylock(&submit_mu) != 0) {
        return serial_sum(fn, ctx, units);
    }
    const int helpers = ensure_workers(threads - 1);
    if (helpers == 0) {
        pthread_mutex_unlock(&submit_mu);
        return serial_sum(fn, ctx, units);
    }
    /* batches of LF_BATCH units, their sums added in unit order as they
     * come: the same additions as serial_sum, with no memory to allocate */
    lf_ksum total = {0.0, 0.0};
    for (ptrdiff_t first = 0; first < units && !lf_checkpoint(); first += LF_BATCH) {
        const ptrdiff_t end = units - first < LF_BATCH ? units : first + LF_BATCH;
        job_t j = {fn, ctx, first, end, partials, first, helpers, 0};
        run_job(&j);
        for (ptrdiff_t u = 0; u < end - first; u++) {
            lf_ksum_add(&total, partials[u]);
        }
    }
    pthread_mutex_unlock(&submit_mu);
    return lf_ksum_value(&total);
}

#else /* !LF_THREADS */

static double
parallel_sum(lf_unit_fn fn, void *ctx, ptrdiff_t units, ptrdiff_t work, int max_threads)
{
    (void)work;
    (void)max_threads;
    return serial_sum(fn, ctx, units);
}

#endif

typedef struct {
    lf_block_fn fn;
    void *ctx;
    ptrdiff_t total, unit;
} pp_plan;

static double
pp_unit(void *vp, ptrdiff_t u)
{
    const pp_plan *p = vp;
    const ptrdiff_t s = u * p->unit;
    return lf_pairwise(p->fn, p->ctx, s, p->total - s < p->unit ? p->total - s : p->unit);
}

double
lf_parallel_sum(lf_unit_fn fn, void *ctx, ptrdiff_t units, ptrdiff_t work)
{
    return parallel_sum(fn, ctx, units, work, LF_MAX_THREADS);
}

double
lf_parallel_sum_slots(lf_unit_fn fn, void *ctx, ptrdiff_t units, ptrdiff_t work, int slots)
{
    return parallel_sum(fn, ctx, units, work, slots);
}

double
lf_par_pairwise_slots(lf_block_fn fn, void *ctx, ptrdiff_t total, ptrdiff_t unit,
                      ptrdiff_t work, int slots)
{
    if (total <= 0) {
        return 0.0;
    }
    pp_plan p = {fn, ctx, total, unit > 0 ? unit : 1};
    return parallel_sum(pp_unit, &p, (total + p.unit - 1) / p.unit, work, slots);
}

double
lf_par_pairwise(lf_block_fn fn, void *ctx, ptrdiff_t total, ptrdiff_t unit, ptrdiff_t work)
{
    return lf_par_pairwise_slots(fn, ctx, total, unit, work, LF_MAX_THREADS);
}

