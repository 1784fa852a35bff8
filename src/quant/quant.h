/* quant.h: the table of tensor (block) types and scalar reference conversions.
 * A type is {name, elements per block, bytes per block}. No SIMD here: the CPU backend
 * has its own fast kernels and checks them against these. */
#ifndef LATTE_QUANT_H
#define LATTE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ggml type ids as stored in GGUF files */
enum {
    QT_F32 = 0, QT_F16 = 1, QT_Q4_0 = 2, QT_Q4_1 = 3, QT_Q5_0 = 6, QT_Q5_1 = 7,
    QT_Q8_0 = 8, QT_Q8_1 = 9, QT_Q2_K = 10, QT_Q3_K = 11, QT_Q4_K = 12, QT_Q5_K = 13,
    QT_Q6_K = 14, QT_Q8_K = 15, QT_I8 = 24, QT_I16 = 25, QT_I32 = 26, QT_I64 = 27,
    QT_F64 = 28, QT_BF16 = 30,
};

/* ik_llama.cpp's q6_0: 32 elements, f16 d, qh[8] (2 high bits each), qs[16] nibbles: 26 bytes */
enum { QT_Q6_0 = 133 };

typedef struct quant_type_info {
    const char *name;     /* "q8_0" */
    uint32_t block_elems; /* elements per block */
    uint32_t block_bytes; /* bytes per block */
    bool can_dequant;     /* quant_dequant_row supports it */
} quant_type_info;

/* NULL for an unknown type id. */
const quant_type_info *quant_type_info_get(uint32_t type);
/* Finds a type by name ("f16", "q8_0", ...); -1 when unknown. */
int quant_type_from_name(const char *name);
/* Bytes of a row of n elements; 0 when n is not a whole number of blocks or type unknown. */
size_t quant_row_bytes(uint32_t type, int64_t n);

/* Reference conversions of one row of n elements (n a multiple of the block size). */
void quant_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Supports F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q6_0. */
void quant_quant_row(uint32_t type, const float *src, void *dst, int64_t n);

/* The KV cache's quantizer (quant_kv.c): same layouts, each q8_0/q6_0/q4_0 block's scale
 * chosen for the least squared error; other types as quant_quant_row. */
void quant_kv_row(uint32_t type, const float *src, void *dst, int64_t n);

float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

#endif
