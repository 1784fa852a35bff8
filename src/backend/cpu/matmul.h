/* matmul.h: weights (any supported block type) times f32 activations on the CPU.
 * y[i*ldy + j] = sum_kk x[i*k + kk] * W[j][kk] for i < n, j < m. Quantized weights are
 * multiplied with x quantized once per call to 16-bit blocks (q16: 32 elements for the
 * 32-element types, q16_K: 256 for K-quants) using exact integer dot products (int16
 * products summed in int32, converted to float per block or super-block); f32/f16/bf16
 * weights use float FMA on x as is. (8-bit x, as ggml uses, costs ~3% relative L2 on the
 * SmolLM2-135M logits against an exact reference; 16-bit x 0.03%.)
 * The second half of this header is the kernel table shared by matmul.c, dot_ref.c and the
 * per-ISA files; callers outside src/backend/cpu/ use only the first half. */
#ifndef LATTE_CPU_MATMUL_H
#define LATTE_CPU_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cpu/pool.h"

/* Computes y as above with the pool's threads (p may be NULL: caller only). W is m rows of
 * k elements of type wtype (QT_* from quant/quant.h), row j at (char *)w + j*wstride; x is
 * f32 [n][k] with k a whole number of weight blocks; y rows are ldy floats apart (ldy >= m).
 * Returns 0, LATTE_E_UNSUPPORTED for a type it cannot do, LATTE_E_ARG for bad shapes,
 * LATTE_E_NOMEM when scratch cannot be had. */
int cpu_matmul(cpu_pool *p, uint32_t wtype, const void *w, size_t wstride, int64_t m, int64_t k,
               const float *x, int64_t n, float *y, int64_t ldy);
/* True when cpu_matmul and cpu_matmul_rows handle weights of this type. */
bool cpu_matmul_supports(uint32_t wtype);
/* Single-thread variant for callers already inside a pool job (MoE experts): same semantics
 * for weight rows [j0, j1) only (y columns j0..j1-1 are written). scratch must hold
 * cpu_matmul_scratch_bytes(wtype, k, n) bytes; the type must be supported and k valid. */
void cpu_matmul_rows(uint32_t wtype, const void *w, size_t wstride, int64_t j0, int64_t j1,
                     int64_t k, const float *x, int64_t n, float *y, int64_t ldy, void *scratch,
                     size_t scratch_bytes);
/* Scratch bytes cpu_matmul_rows needs (0 for f32/f16/bf16 weights, or an unsupported type). */
size_t cpu_matmul_scratch_bytes(uint32_t wtype, int64_t k, int64_t n);

/* ---- internal: kernel table (src/backend/cpu/ only) ---- */

#define CPU_MM_NX 8 /* x rows a dot kernel handles per weight row load */

/* x quantized to 32-element blocks of int16: d = amax / 32767, qs = round-to-nearest-even
 * of x / d; s = d * sum(qs), used by types with an offset or min. */
typedef struct cpu_q16 {
    float d;
    float s;
    int16_t qs[32];
} cpu_q16;

/* x quantized to 256-element super-blocks of int16 (d = amax / 32767 as for q16);
 * bsums[i] = sum of qs[32i .. 32i+31], for the mins of Q4_K / Q5_K. */
typedef struct cpu_q16k {
    float d;
    int32_t bsums[8];
    int16_t qs[256];
} cpu_q16k;

/* x as four q16 blocks per group for the AVX-512 kernels of the 32-element types: qs[r]
 * holds elements 8r .. 8r+7 of block b at [8b, 8b + 8) (block b in 128-bit lane b of four
 * zmm registers), d[b] and s[b] its d and s. A row ends in a whole group; blocks past k are
 * zero. */
typedef struct cpu_q16x4 {
    int16_t qs[4][32];
    float d[4];
    float s[4];
} cpu_q16x4;

enum { CPU_XQ_F32 = 0, CPU_XQ_Q16 = 1, CPU_XQ_Q16K = 2, CPU_XQ_Q16X4 = 3 };

/* One weight row w (k elements) against nx (1..CPU_MM_NX) x rows, the c-th at
 * (char *)x + c*xstride in the layout the type asks for; writes y[c*ldy]. */
typedef void (*cpu_dot_fn)(int64_t k, const void *w, const void *x, size_t xstride, int nx,
                           float *y, int64_t ldy);
/* Four weight rows w, w + wstride, ... against one x row (token generation); writes y[0..3]. */
typedef void (*cpu_dot4w_fn)(int64_t k, const void *w, size_t wstride, const void *x, float *y);
/* Weight rows [j0, j1) against n x rows in plain q16 layout (xstride bytes apart), for many
 * x rows (prompt processing): writes y[i*ldy + j]. */
typedef void (*cpu_gemm_fn)(int64_t k, const void *w, size_t wstride, int64_t j0, int64_t j1,
                            const void *x, size_t xstride, int64_t n, float *y, int64_t ldy);
#define CPU_MM_GEMM_MIN 24  /* x rows from which cpu_matmul uses a gemm kernel where one exists */
#define CPU_MM_GEMM_TILE 32 /* weight rows the gemm kernels widen at once (work split unit) */
/* Quantizes one x row of k floats (k a multiple of the block size) into dst. */
typedef void (*cpu_xquant_fn)(const float *x, void *dst, int64_t k);

/* Types without a kernel of their own that quant/ dequantizes (dot_generic.c): the weight row
 * dequantized to f32 by tiles and dotted with f32 x; fast = 0: the scalar f32 dot inside, 1:
 * the chosen SIMD one. NULL for other types. */
cpu_dot_fn cpu_dot_generic(uint32_t wtype, int fast);
/* Scalar references, always available (dot_ref.c; the generic ones for the types above). NULL
 * for an unsupported type. */
cpu_dot_fn cpu_dot_ref(uint32_t wtype);
/* the references of Q2_K, Q3_K, IQ4_XS and IQ4_KS against x in cpu_q16k (dot_ref_k2.c) */
cpu_dot_fn cpu_dot_ref_k2(uint32_t wtype);
void cpu_xquant_q16_ref(const float *x, void *dst, int64_t k);
void cpu_xquant_q16k_ref(const float *x, void *dst, int64_t k);
void cpu_xquant_q16x4_ref(const float *x, void *dst, int64_t k);
/* AVX2+FMA+F16C kernels (avx2/); NULL where that type has none. cpu_dot_avx2 covers all
 * types; the _f (f32/f16/bf16) and _k (K-quants) parts live in their own files. */
cpu_dot_fn cpu_dot_avx2(uint32_t wtype);
cpu_dot_fn cpu_dot_avx2_f(uint32_t wtype);
cpu_dot_fn cpu_dot_avx2_k(uint32_t wtype);
cpu_dot_fn cpu_dot_avx2_k2(uint32_t wtype); /* Q2_K, Q3_K, IQ4_XS, IQ4_KS (dot_k2_avx2.c) */
void cpu_xquant_q16_avx2(const float *x, void *dst, int64_t k);
void cpu_xquant_q16k_avx2(const float *x, void *dst, int64_t k);
/* AVX-512 F/BW/VL/DQ + VNNI kernels (avx512/), x in cpu_q16x4; NULL where that type has none. */
cpu_dot_fn cpu_dot_avx512(uint32_t wtype);
cpu_dot4w_fn cpu_dot4w_avx512(uint32_t wtype);
void cpu_xquant_q16x4_avx512(const float *x, void *dst, int64_t k);
cpu_gemm_fn cpu_gemm_avx512(uint32_t wtype);
/* Which x layout the reference kernel of a weight type multiplies with (CPU_XQ_*), -1 when
 * unsupported; cpu_matmul_dot_xkind: the layout of the kernel cpu_matmul_dot picks. */
int cpu_matmul_xkind(uint32_t wtype);
int cpu_matmul_dot_xkind(uint32_t wtype, int force_ref);
/* Bytes of one quantized x row of k elements for an x layout. */
size_t cpu_matmul_xrow_bytes(int xkind, int64_t k);
/* The kernels cpu_matmul uses, chosen once by CPUID; force_ref != 0 picks the references. */
cpu_dot_fn cpu_matmul_dot(uint32_t wtype, int force_ref);
cpu_xquant_fn cpu_matmul_xquant(int xkind, int force_ref);
/* The gemm kernel cpu_matmul uses for n >= CPU_MM_GEMM_MIN x rows (x in CPU_XQ_Q16), NULL
 * where the type has none (then the dot kernel serves all n). */
cpu_gemm_fn cpu_matmul_gemm(uint32_t wtype, int force_ref);
/* The four-row kernel cpu_matmul uses for single x rows, NULL where the type has none. */
cpu_dot4w_fn cpu_matmul_dot4w(uint32_t wtype, int force_ref);
/* Caps the instruction sets the kernel choice may use (tests and benchmarks compare paths on
 * one machine); returns the previous cap. Not thread-safe: set it before any matmul runs. */
enum { CPU_ISA_REF = 0, CPU_ISA_AVX2 = 1, CPU_ISA_AVX512 = 2 };
int cpu_matmul_cap_isa(int isa);

#endif
