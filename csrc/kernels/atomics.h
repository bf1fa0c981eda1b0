/*
 * atomics.h -- acquire / release loads and stores of the engine's shared
 * settings and of the thread pool's counters (engine-internal).
 */
#ifndef PYLOSSFN_ATOMICS_H_
#define PYLOSSFN_ATOMICS_H_

#ifdef __GNUC__
#define LF_ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LF_ATOMIC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#else /* no threads there (pool.c); plain accesses are enough */
#define LF_ATOMIC_LOAD(p) (*(p))
#define LF_ATOMIC_STORE(p, v) (*(p) = (v))
#endif

#endif /* PYLOSSFN_ATOMICS_H_ */
