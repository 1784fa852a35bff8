/* pool.h: a fixed set of worker threads that run one job at a time, fork-join style.
 * The caller is thread 0 and takes part in every job; cpu_pool_run returns only when
 * every thread has finished. Workers spin briefly after a job (decode issues ops microseconds
 * apart), then sleep on a condition variable. Jobs must not call cpu_pool_run themselves.
 * The pool also owns one growable scratch buffer for the caller thread (cpu_pool_scratch). */
#ifndef LATTE_CPU_POOL_H
#define LATTE_CPU_POOL_H

#include <stddef.h>

typedef struct cpu_pool cpu_pool;

/* Starts n_threads - 1 workers (n_threads <= 0: the number of online cores). NULL when
 * threads or memory cannot be had. */
cpu_pool *cpu_pool_init(int n_threads);
/* Stops and joins the workers and frees the pool; NULL is a no-op. */
void cpu_pool_free(cpu_pool *p);
/* Number of threads taking part in a job, caller included (>= 1). */
int cpu_pool_size(const cpu_pool *p);
/* Runs fn(arg, ith, nth) for ith = 0..nth-1, one per thread (the caller runs ith = 0), and
 * returns when all have returned. p == NULL runs fn(arg, 0, 1) on the caller. */
void cpu_pool_run(cpu_pool *p, void (*fn)(void *arg, int ith, int nth), void *arg);
/* A buffer of at least bytes bytes, 64-byte aligned, owned by the pool and kept between calls;
 * valid until the next cpu_pool_scratch or cpu_pool_free. Call from the caller thread only,
 * never inside a job. NULL when the memory cannot be had. */
void *cpu_pool_scratch(cpu_pool *p, size_t bytes);

#endif
