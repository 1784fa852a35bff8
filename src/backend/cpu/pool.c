/* pool.c: fork-join thread pool. A job is published by bumping a generation counter;
 * workers notice it by spinning (for about CPU_POOL_SPIN polls) or, once asleep, through
 * the `wake` condvar. Each worker decrements `pending` when done; the caller spins and then
 * sleeps on `done` until it reaches zero. Both condvars are signalled under `mu` after the
 * state change, so no wake-up is lost. */
#include "backend/cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define CPU_POOL_SPIN 20000 /* polls (~50-100 us) before a thread goes to sleep */
/* every CPU_POOL_YIELD_EVERY polls a spinning thread yields: on a machine with more busy
 * threads than cores a pure spin keeps the very thread it waits for off the CPU */
#define CPU_POOL_YIELD_EVERY 256

struct cpu_pool {
    int n;                          /* threads, caller included */
    pthread_t *tid;                 /* n - 1 workers */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint gen;                /* bumped once per job */
    atomic_int pending;             /* workers still running the current job */
    atomic_bool quit;
    void (*fn)(void *, int, int);   /* current job, written before gen is bumped */
    void *arg;
    void *scratch;
    size_t scratch_bytes;
};

typedef struct pool_worker {
    cpu_pool *p;
    int ith;
} pool_worker;

static inline void pool_relax(int i) {
    if (i % CPU_POOL_YIELD_EVERY == CPU_POOL_YIELD_EVERY - 1) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits until gen differs from seen or quit is set; returns the new generation. */
static unsigned pool_wait_job(cpu_pool *p, unsigned seen) {
    for (int i = 0; i < CPU_POOL_SPIN; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen || atomic_load(&p->quit))
            return g;
        pool_relax(i);
    }
    pthread_mutex_lock(&p->mu);
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit))
        pthread_cond_wait(&p->wake, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *pool_main(void *a) {
    pool_worker *w = a;
    cpu_pool *p = w->p;
    int ith = w->ith;
    free(w);
    unsigned seen = 0;
    for (;;) {
        seen = pool_wait_job(p, seen);
        if (atomic_load(&p->quit))
            break;
        p->fn(p->arg, ith, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

cpu_pool *cpu_pool_init(int n_threads) {
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)(c > 1024 ? 1024 : c) : 1;
    }
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, false);
    p->tid = calloc((size_t)n_threads, sizeof *p->tid);
    if (!p->tid) {
        cpu_pool_free(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        pool_worker *w = malloc(sizeof *w);
        if (!w) {
            cpu_pool_free(p);
            return NULL;
        }
        w->p = p;
        w->ith = i;
        if (pthread_create(&p->tid[i - 1], NULL, pool_main, w) != 0) {
            free(w);
            cpu_pool_free(p);
            return NULL;
        }
        p->n = i + 1; /* n counts the workers started so far, for cpu_pool_free */
    }
    return p;
}

void cpu_pool_free(cpu_pool *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++)
        pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p->scratch);
    free(p);
}

int cpu_pool_size(const cpu_pool *p) {
    return p ? p->n : 1;
}

void cpu_pool_run(cpu_pool *p, void (*fn)(void *arg, int ith, int nth), void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    for (int i = 0; i < CPU_POOL_SPIN; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
            return;
        pool_relax(i);
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) != 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void *cpu_pool_scratch(cpu_pool *p, size_t bytes) {
    if (!p)
        return NULL;
    if (bytes <= p->scratch_bytes)
        return p->scratch;
    size_t want = bytes + bytes / 4 + 64;
    want = (want + 63) & ~(size_t)63;
    void *q = aligned_alloc(64, want);
    if (!q)
        return NULL;
    free(p->scratch);
    p->scratch = q;
    p->scratch_bytes = want;
    return q;
}
