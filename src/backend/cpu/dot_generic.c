/* dot_generic.c: matmul for every weight type that quant/ can dequantize but that has no
 * kernel of its own (IQ1_S..IQ3_S, IQ4_NL, TQ1_0/TQ2_0, ik_llama.cpp's Q6_0, IQ2_K..IQ6_K, ...): the weight
 * row is dequantized to f32 a tile at a time (on the stack, so any row length works and the
 * tile stays in L1) and each tile is dotted with the x rows (f32, as for f32 weights) by the
 * f32 kernel: the scalar one for the reference, the chosen SIMD one otherwise. One dequant
 * serves up to CPU_MM_NX x rows. Results equal the f32 matmul of the dequantized weights up
 * to summation order. */
#include "backend/cpu/matmul.h"

#include "quant/quant.h"

#define GEN_TILE 1024 /* elements per tile: a multiple of every block size (<= 256) */

static void dot_generic(uint32_t t, cpu_dot_fn f32dot, int64_t k, const void *w, const void *x, size_t xstride,
                        int nx, float *y, int64_t ldy) {
    float tile[GEN_TILE], part[CPU_MM_NX], acc[CPU_MM_NX] = {0};
    for (int64_t off = 0; off < k; off += GEN_TILE) {
        int64_t len = k - off < GEN_TILE ? k - off : GEN_TILE;
        quant_dequant_part(t, w, off, tile, len);
        f32dot(len, tile, (const float *)x + off, xstride, nx, part, 1);
        for (int c = 0; c < nx; c++) acc[c] += part[c];
    }
    for (int c = 0; c < nx; c++) y[c * ldy] = acc[c];
}

/* two wrappers per type: the reference (scalar f32 dot) and the fast one (chosen f32 dot) */
#define GEN(name, T)                                                                                       \
    static void gref_##name(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y,          \
                            int64_t ldy) {                                                                 \
        dot_generic(T, cpu_dot_ref(QT_F32), k, w, x, xs, nx, y, ldy);                                      \
    }                                                                                                      \
    static void gfast_##name(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y,         \
                             int64_t ldy) {                                                                \
        dot_generic(T, cpu_matmul_dot(QT_F32, 0), k, w, x, xs, nx, y, ldy);                                \
    }
#define GEN_CASE(name, T) case T: return fast ? gfast_##name : gref_##name;

#define GEN_TYPES(X) \
    X(iq4_nl, QT_IQ4_NL) X(tq1_0, QT_TQ1_0) X(tq2_0, QT_TQ2_0) X(q6_0, QT_Q6_0) \
    X(iq4_kss, QT_IQ4_KSS) X(iq5_ks, QT_IQ5_KS) X(iq2_ks, QT_IQ2_KS) X(iq3_ks, QT_IQ3_KS) X(q8_kv, QT_Q8_KV) \
    X(iq2_xxs, QT_IQ2_XXS) X(iq2_xs, QT_IQ2_XS) X(iq2_s, QT_IQ2_S) X(iq3_xxs, QT_IQ3_XXS) X(iq3_s, QT_IQ3_S) \
    X(iq1_s, QT_IQ1_S) X(iq1_m, QT_IQ1_M) \
    X(iq2_k, QT_IQ2_K) X(iq3_k, QT_IQ3_K) X(iq4_k, QT_IQ4_K) X(iq5_k, QT_IQ5_K) X(iq6_k, QT_IQ6_K)

GEN_TYPES(GEN)

cpu_dot_fn cpu_dot_generic(uint32_t wtype, int fast) {
    switch (wtype) {
    GEN_TYPES(GEN_CASE)
    default: return NULL;
    }
}
