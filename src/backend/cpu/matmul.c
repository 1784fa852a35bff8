/* matmul.c: cpu_matmul's driver. Picks the kernels once by CPUID (AVX-512 VNNI, else AVX2,
 * else the scalar references; the AVX-512 ones take x in their own layout, cpu_q16x4),
 * quantizes x once per call into the pool's scratch (for n >= 4 per thread: each thread the
 * rows it reads into its own part, so no core waits on another's cached copy), then splits
 * the weight rows (or, for few rows and many x rows, the x rows) over the pool. Each thread
 * walks its x rows in chunks that stay in L2 and its weight rows in tiles of MM_JTILE; per
 * weight row it calls the dot kernel on up to CPU_MM_NX x rows so each weight block is
 * loaded and unpacked once per CPU_MM_NX products, and those x rows (16-bit: twice the bytes
 * of 8-bit) are reused from L1 across the tile instead of refetched from L2 per weight row
 * (-30% time at n = 512, k = 1536); a single x row goes four weight rows per call where a
 * four-row kernel exists. From CPU_MM_GEMM_MIN x rows, types with a gemm kernel (AVX-512:
 * Q8_0, Q4_0, Q4_1) take x in plain q16 rows instead and go through it, the weight rows split
 * over the threads in whole tiles of CPU_MM_GEMM_TILE. */
#include "backend/cpu/matmul.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/checked.h"
#include "base/err.h"
#include "quant/quant.h"

#define MM_XCHUNK_BYTES (192 * 1024) /* quantized x kept hot in L2 per chunk */
#define MM_XQ_OWN_MAX ((uint64_t)16 << 20) /* bytes of per-thread x copies at most (gemm) */
#define MM_JTILE 16 /* weight rows per tile: each CPU_MM_NX x rows serve a tile from L1 */

static int mm_have_avx2, mm_have_avx512, mm_cap = CPU_ISA_AVX512;
static pthread_once_t mm_once = PTHREAD_ONCE_INIT;

static void mm_detect(void) {
    __builtin_cpu_init();
    mm_have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("f16c");
    mm_have_avx512 = mm_have_avx2 && __builtin_cpu_supports("avx512f") &&
                     __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
}

int cpu_matmul_cap_isa(int isa) {
    int old = mm_cap;
    mm_cap = isa;
    return old;
}

/* the AVX-512 kernel for wtype when it is allowed and the CPU has it, else NULL */
static cpu_dot_fn mm_avx512(uint32_t wtype, int force_ref) {
    pthread_once(&mm_once, mm_detect);
    return !force_ref && mm_have_avx512 && mm_cap >= CPU_ISA_AVX512 ? cpu_dot_avx512(wtype) : NULL;
}

int cpu_matmul_xkind(uint32_t wtype) {
    switch (wtype) {
    case QT_F32: case QT_F16: case QT_BF16: return CPU_XQ_F32;
    case QT_Q8_0: case QT_Q4_0: case QT_Q4_1: case QT_Q5_0: case QT_Q5_1: return CPU_XQ_Q16;
    case QT_Q4_K: case QT_Q5_K: case QT_Q6_K: case QT_Q2_K: case QT_Q3_K: case QT_IQ4_XS: case QT_IQ4_KS:
        return CPU_XQ_Q16K;
    default: return cpu_dot_generic(wtype, 0) ? CPU_XQ_F32 : -1;
    }
}

size_t cpu_matmul_xrow_bytes(int xkind, int64_t k) {
    switch (xkind) {
    case CPU_XQ_F32: return (size_t)k * sizeof(float);
    case CPU_XQ_Q16: return (size_t)(k / 32) * sizeof(cpu_q16);
    case CPU_XQ_Q16K: return (size_t)(k / 256) * sizeof(cpu_q16k);
    case CPU_XQ_Q16X4: return (size_t)((k / 32 + 3) / 4) * sizeof(cpu_q16x4);
    default: return 0;
    }
}

cpu_dot_fn cpu_matmul_dot(uint32_t wtype, int force_ref) {
    cpu_dot_fn f = mm_avx512(wtype, force_ref);
    if (!f && !force_ref && mm_have_avx2 && mm_cap >= CPU_ISA_AVX2)
        f = cpu_dot_avx2(wtype);
    if (!f && !force_ref)
        f = cpu_dot_generic(wtype, 1);
    return f ? f : cpu_dot_ref(wtype);
}

cpu_gemm_fn cpu_matmul_gemm(uint32_t wtype, int force_ref) {
    return mm_avx512(wtype, force_ref) ? cpu_gemm_avx512(wtype) : NULL;
}

/* the x layout a call with n x rows quantizes to: the gemm kernel's for many rows */
static int mm_call_xkind(uint32_t wtype, int64_t n) {
    if (n >= CPU_MM_GEMM_MIN && cpu_matmul_gemm(wtype, 0))
        return CPU_XQ_Q16;
    return cpu_matmul_dot_xkind(wtype, 0);
}

cpu_dot4w_fn cpu_matmul_dot4w(uint32_t wtype, int force_ref) {
    return mm_avx512(wtype, force_ref) ? cpu_dot4w_avx512(wtype) : NULL;
}

int cpu_matmul_dot_xkind(uint32_t wtype, int force_ref) {
    return mm_avx512(wtype, force_ref) ? CPU_XQ_Q16X4 : cpu_matmul_xkind(wtype);
}

cpu_xquant_fn cpu_matmul_xquant(int xkind, int force_ref) {
    pthread_once(&mm_once, mm_detect);
    if (xkind == CPU_XQ_Q16X4)
        return !force_ref && mm_have_avx512 ? cpu_xquant_q16x4_avx512 : cpu_xquant_q16x4_ref;
    force_ref |= mm_cap < CPU_ISA_AVX2;
    if (xkind == CPU_XQ_Q16)
        return !force_ref && mm_have_avx2 ? cpu_xquant_q16_avx2 : cpu_xquant_q16_ref;
    if (xkind == CPU_XQ_Q16K)
        return !force_ref && mm_have_avx2 ? cpu_xquant_q16k_avx2 : cpu_xquant_q16k_ref;
    return NULL;
}

bool cpu_matmul_supports(uint32_t wtype) {
    return cpu_matmul_xkind(wtype) >= 0 && cpu_dot_ref(wtype) != NULL;
}

size_t cpu_matmul_scratch_bytes(uint32_t wtype, int64_t k, int64_t n) {
    int xk = mm_call_xkind(wtype, n);
    if (xk <= CPU_XQ_F32 || k < 0 || n < 0)
        return 0;
    return cpu_matmul_xrow_bytes(xk, k) * (size_t)n;
}

/* Weight rows [j0, j1) times x rows [i0, i1); x row i at xq + i*xstride. A single x row goes
 * four weight rows at a time through dot4 where there is one. */
static void mm_range(cpu_dot_fn dot, cpu_dot4w_fn dot4, const char *w, size_t wstride,
                     int64_t j0, int64_t j1, int64_t k, const char *xq, size_t xstride,
                     int64_t i0, int64_t i1, float *y, int64_t ldy) {
    if (dot4 && i1 - i0 == 1) {
        int64_t j = j0;
        for (; j + 4 <= j1; j += 4)
            dot4(k, w + (size_t)j * wstride, wstride, xq + (size_t)i0 * xstride, y + i0 * ldy + j);
        for (; j < j1; j++)
            dot(k, w + (size_t)j * wstride, xq + (size_t)i0 * xstride, xstride, 1, y + i0 * ldy + j,
                ldy);
        return;
    }
    int64_t chunk = xstride ? (int64_t)(MM_XCHUNK_BYTES / xstride) : 0;
    chunk -= chunk % CPU_MM_NX;
    if (chunk < CPU_MM_NX)
        chunk = CPU_MM_NX;
    for (int64_t ib = i0; ib < i1; ib += chunk) {
        int64_t ie = ib + chunk < i1 ? ib + chunk : i1;
        for (int64_t jt = j0; jt < j1; jt += MM_JTILE) {
            int64_t je = jt + MM_JTILE < j1 ? jt + MM_JTILE : j1;
            for (int64_t i = ib; i < ie; i += CPU_MM_NX) {
                int nx = ie - i < CPU_MM_NX ? (int)(ie - i) : CPU_MM_NX;
                for (int64_t j = jt; j < je; j++)
                    dot(k, w + (size_t)j * wstride, xq + (size_t)i * xstride, xstride, nx,
                        y + i * ldy + j, ldy);
            }
        }
    }
}

void cpu_matmul_rows(uint32_t wtype, const void *w, size_t wstride, int64_t j0, int64_t j1,
                     int64_t k, const float *x, int64_t n, float *y, int64_t ldy, void *scratch,
                     size_t scratch_bytes) {
    int xk = mm_call_xkind(wtype, n);
    cpu_dot_fn dot = cpu_matmul_dot(wtype, 0);
    cpu_gemm_fn gemm = n >= CPU_MM_GEMM_MIN ? cpu_matmul_gemm(wtype, 0) : NULL;
    if (xk < 0 || !dot || j1 <= j0 || n <= 0)
        return;
    size_t xs = cpu_matmul_xrow_bytes(xk, k);
    const char *xq = (const char *)x;
    if (xk != CPU_XQ_F32) {
        if (!scratch || scratch_bytes < xs * (size_t)n)
            return;
        cpu_xquant_fn xq_fn = cpu_matmul_xquant(xk, 0);
        for (int64_t i = 0; i < n; i++)
            xq_fn(x + i * k, (char *)scratch + (size_t)i * xs, k);
        xq = scratch;
    }
    if (gemm)
        gemm(k, w, wstride, j0, j1, xq, xs, n, y, ldy);
    else
        mm_range(dot, cpu_matmul_dot4w(wtype, 0), w, wstride, j0, j1, k, xq, xs, 0, n, y, ldy);
}

typedef struct mm_job {
    cpu_dot_fn dot;
    cpu_dot4w_fn dot4;
    cpu_gemm_fn gemm; /* for many x rows: weight rows split in tiles of CPU_MM_GEMM_TILE */
    cpu_xquant_fn xquant;
    const char *w;
    size_t wstride;
    int64_t m, k, n, ldy;
    const float *x;
    char *xq;       /* quantized x, or x itself for float weights */
    size_t xstride; /* bytes per (quantized) x row */
    float *y;
    bool split_i;   /* split x rows over threads instead of weight rows */
    bool xq_own;    /* gemm: each thread quantizes the x rows it needs into its own part of xq */
} mm_job;

static void mm_part(int64_t len, int ith, int nth, int64_t *a, int64_t *b) {
    *a = len * ith / nth;
    *b = len * (ith + 1) / nth;
}

static void mm_quant_job(void *arg, int ith, int nth) {
    mm_job *jb = arg;
    int64_t a, b;
    mm_part(jb->n, ith, nth, &a, &b);
    for (int64_t i = a; i < b; i++)
        jb->xquant(jb->x + i * jb->k, jb->xq + (size_t)i * jb->xstride, jb->k);
}

static void mm_compute_job(void *arg, int ith, int nth) {
    mm_job *jb = arg;
    int64_t a, b;
    if (jb->gemm) {
        int64_t tiles = (jb->m + CPU_MM_GEMM_TILE - 1) / CPU_MM_GEMM_TILE;
        char *own = jb->xq + (size_t)ith * (size_t)jb->n * jb->xstride;
        if (tiles >= nth || jb->n < 2 * CPU_MM_GEMM_MIN) {
            mm_part(tiles, ith, nth, &a, &b);
            a *= CPU_MM_GEMM_TILE;
            b = b * CPU_MM_GEMM_TILE < jb->m ? b * CPU_MM_GEMM_TILE : jb->m;
            if (a >= b)
                return;
            const char *xq = jb->xq;
            if (jb->xq_own) {
                for (int64_t i = 0; i < jb->n; i++)
                    jb->xquant(jb->x + i * jb->k, own + (size_t)i * jb->xstride, jb->k);
                xq = own;
            }
            jb->gemm(jb->k, jb->w, jb->wstride, a, b, xq, jb->xstride, jb->n, jb->y, jb->ldy);
        } else {
            mm_part(jb->n, ith, nth, &a, &b);
            if (a >= b)
                return;
            const char *xq = jb->xq + (size_t)a * jb->xstride;
            if (jb->xq_own) {
                for (int64_t i = a; i < b; i++)
                    jb->xquant(jb->x + i * jb->k, own + (size_t)(i - a) * jb->xstride, jb->k);
                xq = own;
            }
            jb->gemm(jb->k, jb->w, jb->wstride, 0, jb->m, xq, jb->xstride, b - a,
                     jb->y + a * jb->ldy, jb->ldy);
        }
    } else if (jb->split_i) {
        mm_part(jb->n, ith, nth, &a, &b);
        if (a >= b)
            return;
        const char *xq = jb->xq;
        if (jb->xq_own) { /* rows a..b-1 at their usual offsets in this thread's part */
            char *own = jb->xq + (size_t)ith * (size_t)jb->n * jb->xstride;
            for (int64_t i = a; i < b; i++)
                jb->xquant(jb->x + i * jb->k, own + (size_t)i * jb->xstride, jb->k);
            xq = own;
        }
        mm_range(jb->dot, jb->dot4, jb->w, jb->wstride, 0, jb->m, jb->k, xq, jb->xstride, a, b,
                 jb->y, jb->ldy);
    } else {
        mm_part(jb->m, ith, nth, &a, &b);
        if (a >= b)
            return;
        const char *xq = jb->xq;
        if (jb->xq_own) {
            char *own = jb->xq + (size_t)ith * (size_t)jb->n * jb->xstride;
            for (int64_t i = 0; i < jb->n; i++)
                jb->xquant(jb->x + i * jb->k, own + (size_t)i * jb->xstride, jb->k);
            xq = own;
        }
        mm_range(jb->dot, jb->dot4, jb->w, jb->wstride, a, b, jb->k, xq, jb->xstride, 0, jb->n,
                 jb->y, jb->ldy);
    }
}

int cpu_matmul(cpu_pool *p, uint32_t wtype, const void *w, size_t wstride, int64_t m, int64_t k,
               const float *x, int64_t n, float *y, int64_t ldy) {
    const quant_type_info *ti = quant_type_info_get(wtype);
    int xk = mm_call_xkind(wtype, n);
    if (!ti || xk < 0)
        return LATTE_E_UNSUPPORTED;
    if (m < 0 || k < 0 || n < 0 || k % ti->block_elems != 0 || (n > 1 && ldy < m))
        return LATTE_E_ARG;
    if (m == 0 || n == 0)
        return 0;
    if (!w || !x || !y || wstride < (size_t)(k / ti->block_elems) * ti->block_bytes)
        return LATTE_E_ARG;
    int nth = cpu_pool_size(p);
    mm_job jb = {
        .dot = cpu_matmul_dot(wtype, 0), .dot4 = cpu_matmul_dot4w(wtype, 0),
        .gemm = n >= CPU_MM_GEMM_MIN ? cpu_matmul_gemm(wtype, 0) : NULL, .xquant = cpu_matmul_xquant(xk, 0), .w = w,
        .wstride = wstride, .m = m, .k = k, .n = n, .ldy = ldy, .x = x, .y = y,
        .xq = (char *)x, .xstride = cpu_matmul_xrow_bytes(xk, k),
        .split_i = m < 16 * (int64_t)nth && n >= 2 * (int64_t)nth,
    };
    if (xk != CPU_XQ_F32) {
        uint64_t bytes;
        if (!ck_mul_u64(jb.xstride, (uint64_t)n, &bytes) || bytes > SIZE_MAX)
            return LATTE_E_NOMEM;
        /* Every thread reads all (or its own) x rows; quantizing them once into
         * a shared buffer leaves its lines shared by all cores, and the next call's quantizer
         * then waits on invalidating them in the other caches (on the 2-core EPYC: 0.6 ms for
         * 512 x 576, twelve times the quantizing itself). So where the copies stay small, each
         * thread quantizes what it needs into its own part. */
        uint64_t own_bytes;
        if ((jb.gemm || n >= 4 * (int64_t)nth) && nth > 1 && ck_mul_u64(bytes, (uint64_t)nth, &own_bytes) &&
            own_bytes <= MM_XQ_OWN_MAX) {
            jb.xq_own = true;
            bytes = own_bytes;
        }
        /* without a pool there is no scratch to keep: allocate for this call */
        jb.xq = p ? cpu_pool_scratch(p, (size_t)bytes) : malloc((size_t)bytes);
        if (!jb.xq)
            return LATTE_E_NOMEM;
        if (jb.xq_own)
            ; /* in the compute job */
        else if (n >= 4 * (int64_t)nth)
            cpu_pool_run(p, mm_quant_job, &jb);
        else
            mm_quant_job(&jb, 0, 1);
    }
    cpu_pool_run(p, mm_compute_job, &jb);
    if (!p && xk != CPU_XQ_F32)
        free(jb.xq);
    return 0;
}
