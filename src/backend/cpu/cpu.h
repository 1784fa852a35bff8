/* cpu.h: state of the CPU backend shared by its op files (not used outside backend/cpu). */
#ifndef LATTE_CPU_H
#define LATTE_CPU_H

#include <stddef.h>

#include "../backend.h"
#include "pool.h"

#define CPU_MAX_THREADS 256

typedef struct cpu_backend {
    backend base;
    cpu_pool *pool;
    int n_threads;
    /* per-thread scratch for attention (grown before a job starts, never inside one) */
    float *scratch[CPU_MAX_THREADS];
    size_t scratch_n[CPU_MAX_THREADS];
    /* MoE gather/scatter buffers */
    float *moe_x, *moe_y;
    int32_t *moe_rows;
    size_t moe_x_n, moe_y_n, moe_rows_n;
} cpu_backend;

/* Makes sure every thread has at least n floats of scratch; returns 0 or LATTE_E_NOMEM. */
int cpu_scratch_reserve(cpu_backend *cb, size_t n);
/* Grows *buf to at least n elements of size elt; returns 0 or LATTE_E_NOMEM. */
int cpu_grow(void **buf, size_t *cap, size_t n, size_t elt);

/* A cache or weight row as f32: returns a pointer to it directly when it already is f32,
 * otherwise converts into buf. */
const float *cpu_row_f32(uint32_t type, const void *row, int64_t n, float *buf);

int cpu_attn_std(backend *b, const attn_std_args *a);
int cpu_attn_latent(backend *b, const attn_latent_args *a);

#endif
