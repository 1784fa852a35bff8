/* quant_types.c: the table of every tensor type id of mainline ggml and of ik_llama.cpp,
 * {name, elements per block, bytes per block, bytes of per-row meta, rows interleaved}, so any
 * GGUF can be described; can_dequant marks the types quant_dequant_rows handles (test_quant
 * checks it against the dequantizers); what runs is the backends' supports. Sizes are the block structs' sizes
 * of ggml-common.h; ik's per-row meta is its row_meta_size (a float or f16 scale per row). */
#include <string.h>
#include <strings.h>

#include "quant.h"

static const quant_type_info type_table[QT_COUNT] = {
    [QT_F32] = {"f32", 1, 4, 0, 1, true},
    [QT_F16] = {"f16", 1, 2, 0, 1, true},
    [QT_Q4_0] = {"q4_0", 32, 18, 0, 1, true},
    [QT_Q4_1] = {"q4_1", 32, 20, 0, 1, true},
    [QT_Q5_0] = {"q5_0", 32, 22, 0, 1, true},
    [QT_Q5_1] = {"q5_1", 32, 24, 0, 1, true},
    [QT_Q8_0] = {"q8_0", 32, 34, 0, 1, true},
    [QT_Q8_1] = {"q8_1", 32, 36, 0, 1, false},
    [QT_Q2_K] = {"q2_K", 256, 84, 0, 1, true},
    [QT_Q3_K] = {"q3_K", 256, 110, 0, 1, true},
    [QT_Q4_K] = {"q4_K", 256, 144, 0, 1, true},
    [QT_Q5_K] = {"q5_K", 256, 176, 0, 1, true},
    [QT_Q6_K] = {"q6_K", 256, 210, 0, 1, true},
    [QT_Q8_K] = {"q8_K", 256, 292, 0, 1, false},
    [QT_IQ2_XXS] = {"iq2_xxs", 256, 66, 0, 1, true},
    [QT_IQ2_XS] = {"iq2_xs", 256, 74, 0, 1, true},
    [QT_IQ3_XXS] = {"iq3_xxs", 256, 98, 0, 1, true},
    [QT_IQ1_S] = {"iq1_s", 256, 50, 0, 1, true},
    [QT_IQ4_NL] = {"iq4_nl", 32, 18, 0, 1, true},
    [QT_IQ3_S] = {"iq3_s", 256, 110, 0, 1, true},
    [QT_IQ2_S] = {"iq2_s", 256, 82, 0, 1, true},
    [QT_IQ4_XS] = {"iq4_xs", 256, 136, 0, 1, true},
    [QT_I8] = {"i8", 1, 1, 0, 1, false},
    [QT_I16] = {"i16", 1, 2, 0, 1, false},
    [QT_I32] = {"i32", 1, 4, 0, 1, false},
    [QT_I64] = {"i64", 1, 8, 0, 1, false},
    [QT_F64] = {"f64", 1, 8, 0, 1, false},
    [QT_IQ1_M] = {"iq1_m", 256, 56, 0, 1, true},
    [QT_BF16] = {"bf16", 1, 2, 0, 1, true},
    [QT_Q4_0_4_4] = {"q4_0_4x4", 32, 18, 0, 4, false},
    [QT_Q4_0_4_8] = {"q4_0_4x8", 32, 18, 0, 4, false},
    [QT_Q4_0_8_8] = {"q4_0_8x8", 32, 18, 0, 8, false},
    [QT_TQ1_0] = {"tq1_0", 256, 54, 0, 1, true},
    [QT_TQ2_0] = {"tq2_0", 256, 66, 0, 1, true},
    [QT_I2_S] = {"i2_s", 1, 1, 0, 1, false},
    [QT_MXFP4] = {"mxfp4", 32, 17, 0, 1, false},
    [QT_NVFP4] = {"nvfp4", 64, 36, 0, 1, false},
    [QT_Q1_0] = {"q1_0", 128, 18, 0, 1, false},
    [QT_Q8_0_X4] = {"q8_0_x4", 32, 34, 0, 1, false},
    [QT_Q8_1_X4] = {"q8_1_x4", 32, 36, 0, 1, false},
    [QT_Q8_2_X4] = {"q8_2_x4", 32, 36, 0, 1, false},
    [QT_Q6_0] = {"q6_0", 32, 26, 0, 1, true},
    [QT_IQ1_BN] = {"iq1_bn", 64, 13, 2, 1, false},
    [QT_IQ2_BN] = {"iq2_bn", 64, 16, 4, 1, false},
    [QT_Q8_K64] = {"q8_K64", 64, 68, 0, 1, false},
    [QT_IQ2_K] = {"iq2_k", 256, 76, 0, 1, true},
    [QT_IQ3_K] = {"iq3_k", 256, 110, 0, 1, true},
    [QT_IQ4_K] = {"iq4_k", 256, 144, 0, 1, true},
    [QT_IQ5_K] = {"iq5_k", 256, 176, 0, 1, true},
    [QT_IQ6_K] = {"iq6_k", 256, 212, 0, 1, true},
    [QT_IQ4_KS] = {"iq4_ks", 256, 136, 4, 1, true},
    [QT_IQ2_KS] = {"iq2_ks", 256, 70, 2, 1, true},
    [QT_IQ4_KSS] = {"iq4_kss", 256, 128, 4, 1, true},
    [QT_Q8_K16] = {"q8_K16", 64, 64, 20, 1, false},
    [QT_Q8_K32] = {"q8_K32", 256, 296, 0, 1, false},
    [QT_Q8_KR8] = {"q8_KR8", 256, 296, 0, 1, false},
    [QT_Q8_K128] = {"q8_K128", 128, 140, 0, 1, false},
    [QT_Q8_KV] = {"q8_KV", 32, 32, 8, 1, true},
    [QT_IQ5_KS] = {"iq5_ks", 256, 168, 4, 1, true},
    [QT_IQ2_KT] = {"iq2_kt", 256, 68, 4, 1, false},
    [QT_IQ3_KT] = {"iq3_kt", 256, 100, 4, 1, false},
    [QT_IQ4_KT] = {"iq4_kt", 256, 128, 4, 1, false},
    [QT_IQ3_KS] = {"iq3_ks", 256, 102, 2, 1, true},
    [QT_IQ2_KL] = {"iq2_kl", 256, 86, 2, 1, false},
    [QT_IQ1_KT] = {"iq1_kt", 256, 56, 4, 1, false},
    [QT_Q4_0_R8] = {"q4_0_r8", 32, 18, 0, 8, true},
    [QT_Q5_0_R4] = {"q5_0_r4", 32, 22, 0, 4, true},
    [QT_Q8_0_R8] = {"q8_0_r8", 32, 34, 0, 8, true},
    [QT_Q2_K_R4] = {"q2_k_r4", 256, 84, 0, 4, false},
    [QT_Q3_K_R4] = {"q3_k_r4", 256, 110, 0, 4, false},
    [QT_Q4_K_R4] = {"q4_k_r4", 256, 144, 0, 4, false},
    [QT_Q5_K_R4] = {"q5_k_r4", 256, 176, 0, 4, false},
    [QT_Q6_K_R4] = {"q6_k_r4", 256, 210, 0, 4, false},
    [QT_IQ2_XXS_R4] = {"iq2_xxs_r4", 256, 66, 0, 4, false},
    [QT_IQ2_XS_R4] = {"iq2_xs_r4", 256, 74, 0, 4, false},
    [QT_IQ3_XXS_R4] = {"iq3_xxs_r4", 256, 98, 0, 4, false},
    [QT_IQ1_S_R4] = {"iq1_s_r4", 32, 6, 2, 4, false},
    [QT_IQ4_NL_R4] = {"iq4_nl_r4", 32, 18, 0, 4, true},
    [QT_IQ3_S_R4] = {"iq3_s_r4", 256, 110, 0, 4, false},
    [QT_IQ2_S_R4] = {"iq2_s_r4", 256, 82, 0, 4, false},
    [QT_IQ4_XS_R8] = {"iq4_xs_r8", 256, 136, 0, 8, true},
    [QT_IQ1_M_R4] = {"iq1_m_r4", 32, 7, 2, 4, false},
    [QT_BF16_R16] = {"bf16_r16", 1, 2, 0, 16, false},
    [QT_Q6_0_R4] = {"q6_0_r4", 32, 26, 0, 4, true},
    [QT_IQ2_BN_R4] = {"iq2_bn_r4", 64, 16, 4, 4, false},
    [QT_IQ2_K_R4] = {"iq2_k_r4", 256, 76, 0, 4, false},
    [QT_IQ3_K_R4] = {"iq3_k_r4", 256, 110, 0, 4, false},
    [QT_IQ4_K_R4] = {"iq4_k_r4", 256, 144, 0, 4, false},
    [QT_IQ5_K_R4] = {"iq5_k_r4", 256, 176, 0, 4, false},
    [QT_IQ4_KS_R4] = {"iq4_ks_r4", 256, 136, 4, 4, true},
    [QT_IQ5_KS_R4] = {"iq5_ks_r4", 256, 168, 4, 4, false},
    [QT_MXFP4_R8] = {"mxfp4_r8", 32, 17, 0, 8, false},
    [QT_Q8_K_R16] = {"q8_k_r16", 256, 258, 0, 16, false},
    [QT_Q8_KV_R8] = {"q8_KV_r8", 32, 32, 4, 8, false},
    [QT_Q8_K_R8] = {"q8_k_r8", 256, 258, 0, 8, false},
};

const quant_type_info *quant_type_info_get(uint32_t type) {
    return type < QT_COUNT && type_table[type].name ? &type_table[type] : NULL;
}

int quant_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < QT_COUNT; i++)
        if (type_table[i].name && strcmp(type_table[i].name, name) == 0) return i;
    /* accept upper-case K-quant spellings ("Q4_K") and any case in general */
    for (int i = 0; i < QT_COUNT; i++)
        if (type_table[i].name && strcasecmp(type_table[i].name, name) == 0) return i;
    return -1;
}

size_t quant_row_bytes(uint32_t type, int64_t n) {
    const quant_type_info *r = quant_type_info_get(type);
    if (!r || n < 0 || n % r->block_elems != 0) return 0;
    uint64_t blocks = (uint64_t)n / r->block_elems, bytes;
    if (__builtin_mul_overflow(blocks, (uint64_t)r->block_bytes, &bytes) ||
        __builtin_add_overflow(bytes, (uint64_t)r->row_meta_bytes, &bytes) || bytes > SIZE_MAX)
        return 0;
    return (size_t)bytes;
}
