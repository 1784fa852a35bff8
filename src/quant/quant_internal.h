/* quant_internal.h: the block dequantizers shared inside src/quant/. Each turns one block at b
 * into block_elems floats at y; meta is the row's meta bytes (ik's per-row scale) or unused. */
#ifndef LATTE_QUANT_INTERNAL_H
#define LATTE_QUANT_INTERNAL_H

#include <stdint.h>

#include "quant.h"

static inline float qi_f16(const uint8_t *p) { return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

typedef void (*quant_dq_block_fn)(const uint8_t *b, const uint8_t *meta, float *y);

void dq_q2_k(const uint8_t *b, const uint8_t *meta, float *y);
void dq_q3_k(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq4_nl(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq4_xs(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq4_ks(const uint8_t *b, const uint8_t *meta, float *y);
void dq_tq1_0(const uint8_t *b, const uint8_t *meta, float *y);
void dq_tq2_0(const uint8_t *b, const uint8_t *meta, float *y);
/* ik_llama.cpp's types (dequant_ik.c) */
void dq_iq4_kss(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq5_ks(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq2_ks(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq3_ks(const uint8_t *b, const uint8_t *meta, float *y);
void dq_q8_kv(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq2_k(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq3_k(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq4_k(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq5_k(const uint8_t *b, const uint8_t *meta, float *y);
void dq_iq6_k(const uint8_t *b, const uint8_t *meta, float *y);

/* A group of row_interleave rows of n elements at g into rows at y (y + k*n is row k). */
typedef void (*quant_dq_group_fn)(const uint8_t *g, float *y, int64_t n);
void dqg_iq4_ks_r4(const uint8_t *g, float *y, int64_t n);
void dqg_q8_0_r8(const uint8_t *g, float *y, int64_t n);
void dqg_q4_0_r8(const uint8_t *g, float *y, int64_t n);
void dqg_iq4_nl_r4(const uint8_t *g, float *y, int64_t n);
void dqg_iq4_xs_r8(const uint8_t *g, float *y, int64_t n);
void dqg_q6_0_r4(const uint8_t *g, float *y, int64_t n);
void dqg_q5_0_r4(const uint8_t *g, float *y, int64_t n);

#endif
