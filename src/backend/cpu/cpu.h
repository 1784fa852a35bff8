/* cpu.h: state of the CPU backend shared by its op files (not used outside backend/cpu). */
#ifndef LATTE_CPU_H
#define LATTE_CPU_H

#include <stddef.h>

#include "../backend.h"
#include "pool.h"

typedef struct cpu_backend {
    backend base;
    cpu_pool *pool;
    int n_threads;
    /* per-thread scratch ([n_threads] arrays; grown before a job starts, never inside one) */
    float **scratch;
    size_t *scratch_n;
    /* MoE gather/scatter buffers */
    float *moe_x, *moe_y;
    int32_t *moe_rows;
    size_t moe_x_n, moe_y_n, moe_rows_n;
    /* attention work items (attn.c), rebuilt per call */
    void *attn_items;
    size_t attn_items_n;
} cpu_backend;

/* Makes sure every thread has at least n floats of scratch; returns 0 or LATTE_E_NOMEM. */
int cpu_scratch_reserve(cpu_backend *cb, size_t n);
/* Grows *buf to at least n elements of size elt; returns 0 or LATTE_E_NOMEM. */
int cpu_grow(void **buf, size_t *cap, size_t n, size_t elt);

/* A cache or weight row as f32: returns a pointer to it directly when it already is f32,
 * otherwise converts into buf. */
const float *cpu_row_f32(uint32_t type, const void *row, int64_t n, float *buf);

/* Caps the instruction sets attention may use (CPU_ISA_* of matmul.h); returns the old cap. */
int cpu_attn_cap_isa(int isa);
int cpu_attn_std(backend *b, const attn_std_args *a);
int cpu_attn_latent(backend *b, const attn_latent_args *a);
/* matmul_heads (heads.c): one pool job over (head, row range) items */
int cpu_matmul_heads(backend *b, const lt_tensor *w, int n_head, int64_t head_rows, int64_t row_off, int64_t m,
                     const float *x, int64_t ldx, int64_t xs, int64_t n, float *y, int64_t ldy, int64_t ys);

#endif
