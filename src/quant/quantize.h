/* quantize.h: f32 rows to every weight type latte can write. The simple types
 * (f32, f16, bf16, q8_0, q4_0, q4_1) come from quant_quant_row; q5_0 and q5_1 are here
 * (bit-identical to ggml's reference and the gguf Python package); the K-quants
 * (q2_K .. q6_K) are in quant_k.c, with ggml's reference search for scales and mins.
 * Scalar code only: quantization runs once, at file-writing time. */
#ifndef LATTE_QUANTIZE_H
#define LATTE_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

/* True when quant_quantize_row can write the type. */
bool quant_can_quantize(uint32_t type);
/* Quantizes a row of n elements (a whole number of blocks) into dst (quant_row_bytes(type, n)
 * bytes). Returns 0, or -1 when the type cannot be written or n is not whole blocks. */
int quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* The K-quants, one 256-element block each (quant_k.c). */
void quant_k_q2_k(const float *x, uint8_t *b);
void quant_k_q3_k(const float *x, uint8_t *b);
void quant_k_q4_k(const float *x, uint8_t *b);
void quant_k_q5_k(const float *x, uint8_t *b);
void quant_k_q6_k(const float *x, uint8_t *b);

#endif
