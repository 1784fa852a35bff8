/* quant.h: the table of tensor (block) types and scalar reference conversions.
 * A type is {name, elements per block, bytes per block}. No SIMD here: the CPU backend
 * has its own fast kernels and checks them against these. */
#ifndef LATTE_QUANT_H
#define LATTE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ggml type ids as stored in GGUF files: mainline ggml's and ik_llama.cpp's (their numbering;
 * 31-33 and 36 are ik's, 40 mainline's, 41 both: the same 1-bit format) */
enum {
    QT_F32 = 0, QT_F16 = 1, QT_Q4_0 = 2, QT_Q4_1 = 3,
    QT_Q5_0 = 6, QT_Q5_1 = 7, QT_Q8_0 = 8, QT_Q8_1 = 9,
    QT_Q2_K = 10, QT_Q3_K = 11, QT_Q4_K = 12, QT_Q5_K = 13,
    QT_Q6_K = 14, QT_Q8_K = 15, QT_IQ2_XXS = 16, QT_IQ2_XS = 17,
    QT_IQ3_XXS = 18, QT_IQ1_S = 19, QT_IQ4_NL = 20, QT_IQ3_S = 21,
    QT_IQ2_S = 22, QT_IQ4_XS = 23, QT_I8 = 24, QT_I16 = 25,
    QT_I32 = 26, QT_I64 = 27, QT_F64 = 28, QT_IQ1_M = 29,
    QT_BF16 = 30, QT_Q4_0_4_4 = 31, QT_Q4_0_4_8 = 32, QT_Q4_0_8_8 = 33,
    QT_TQ1_0 = 34, QT_TQ2_0 = 35, QT_I2_S = 36, QT_MXFP4 = 39,
    QT_NVFP4 = 40, QT_Q1_0 = 41, QT_Q8_0_X4 = 97, QT_Q8_1_X4 = 98,
    QT_Q8_2_X4 = 99, QT_Q6_0 = 133, QT_IQ1_BN = 134, QT_IQ2_BN = 135,
    QT_Q8_K64 = 136, QT_IQ2_K = 137, QT_IQ3_K = 138, QT_IQ4_K = 139,
    QT_IQ5_K = 140, QT_IQ6_K = 141, QT_IQ4_KS = 144, QT_IQ2_KS = 145,
    QT_IQ4_KSS = 146, QT_Q8_K16 = 147, QT_Q8_K32 = 148, QT_Q8_KR8 = 149,
    QT_Q8_K128 = 150, QT_Q8_KV = 151, QT_IQ5_KS = 152, QT_IQ2_KT = 153,
    QT_IQ3_KT = 154, QT_IQ4_KT = 155, QT_IQ3_KS = 156, QT_IQ2_KL = 157,
    QT_IQ1_KT = 158, QT_Q4_0_R8 = 202, QT_Q5_0_R4 = 206, QT_Q8_0_R8 = 208,
    QT_Q2_K_R4 = 210, QT_Q3_K_R4 = 211, QT_Q4_K_R4 = 212, QT_Q5_K_R4 = 213,
    QT_Q6_K_R4 = 214, QT_IQ2_XXS_R4 = 216, QT_IQ2_XS_R4 = 217, QT_IQ3_XXS_R4 = 218,
    QT_IQ1_S_R4 = 219, QT_IQ4_NL_R4 = 220, QT_IQ3_S_R4 = 221, QT_IQ2_S_R4 = 222,
    QT_IQ4_XS_R8 = 223, QT_IQ1_M_R4 = 229, QT_BF16_R16 = 230, QT_Q6_0_R4 = 233,
    QT_IQ2_BN_R4 = 335, QT_IQ2_K_R4 = 337, QT_IQ3_K_R4 = 338, QT_IQ4_K_R4 = 339,
    QT_IQ5_K_R4 = 340, QT_IQ4_KS_R4 = 344, QT_IQ5_KS_R4 = 352, QT_MXFP4_R8 = 353,
    QT_Q8_K_R16 = 397, QT_Q8_KV_R8 = 398, QT_Q8_K_R8 = 399,
    QT_COUNT = 400 /* ids are below this */
};

typedef struct quant_type_info {
    const char *name;        /* "q8_0", as ggml names it */
    uint32_t block_elems;    /* elements per block */
    uint32_t block_bytes;    /* bytes per block */
    uint32_t row_meta_bytes; /* bytes ahead of each row's blocks (ik's per-row scales), else 0 */
    uint32_t row_interleave; /* rows stored interleaved block by block (ik's _R4/_R8), else 1 */
    bool can_dequant;        /* quant_dequant_rows supports it */
} quant_type_info;

/* NULL for an unknown type id. */
const quant_type_info *quant_type_info_get(uint32_t type);
/* Finds a type by name ("f16", "q8_0", ...); -1 when unknown. */
int quant_type_from_name(const char *name);
/* Bytes of a row of n elements (row meta included); 0 when n is not a whole number of blocks
 * or the type is unknown. For interleaved types, a group of row_interleave rows is that many
 * times this. */
size_t quant_row_bytes(uint32_t type, int64_t n);

/* Reference conversion of one row of n elements (n a multiple of the block size; src starts
 * with the row's meta bytes where the type has them). Returns 0, or -1 for a type it cannot
 * convert (dst then holds zeros) or a bad n. */
int quant_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Elements [first, first + n) of one row (both whole blocks; row points at the row's start,
 * its meta bytes included): lets a kernel dequantize a long row tile by tile. Same returns. */
int quant_dequant_part(uint32_t type, const void *row, int64_t first, float *dst, int64_t n);
/* n_rows consecutive rows of n elements as stored (n_rows a multiple of row_interleave: the
 * _R4/_R8 types are converted a group of rows at a time) into dst [n_rows][n]. Same returns. */
int quant_dequant_rows(uint32_t type, const void *src, float *dst, int64_t n_rows, int64_t n);
/* True when quant_dequant_rows converts this type (the table's can_dequant says the same);
 * quant_dequant_row / _part take only the types that are not interleaved. */
bool quant_can_dequant(uint32_t type);
/* Supports F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q6_0. */
void quant_quant_row(uint32_t type, const float *src, void *dst, int64_t n);

/* The plain type an interleaved (_R4/_R8) type repacks into losslessly, or -1 (repack.c). */
int quant_plain_type(uint32_t type);
/* Rewrites n_rows rows (a multiple of row_interleave) of n elements of an interleaved type
 * as the same rows of quant_plain_type(type) (same bytes per row). Returns 0 or -1. */
int quant_repack_plain(uint32_t type, const void *src, void *dst, int64_t n_rows, int64_t n);

/* Writers shared by the quantizers: a little-endian f16 at p; 32 levels 0..15 as ggml's 16
 * nibble bytes (level j low, j + 16 high); 32 levels 0..63 as q6_0's qh[8] then qs[16]. */
void quant_put_f16(uint8_t *p, float f);
void quant_pack_nibbles(const uint8_t *lv, uint8_t *qs);
void quant_pack_q6_0(const uint8_t *lv, uint8_t *qhqs);

/* The KV cache's quantizer (quant_kv.c): same layouts, each q8_0/q6_0/q4_0 block's scale
 * chosen for the least squared error; other types as quant_quant_row. */
void quant_kv_row(uint32_t type, const float *src, void *dst, int64_t n);

float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

#endif
