/* synth_models.c: the shapes synth can write, from each model's published config.json
 * (Hugging Face), written as llama.cpp's converter names them. Only facts here; synth.c
 * turns a row into keys and tensors. */
#include <stddef.h>

#include "synth_models.h"

/* YaRN's yarn_log_multiplier key holds 0.1 * mscale_all_dim (llama.cpp's converter) */
const synth_model SYNTH_MODELS[] = {
    /* deepseek-ai/DeepSeek-V2-Lite */
    {.name = "deepseek-v2-lite", .title = "DeepSeek-V2-Lite (synthetic)", .arch = "deepseek2", .pre = "deepseek-llm",
     .n_vocab = 102400, .n_ctx = 163840, .n_embd = 2048, .n_layer = 27, .n_head = 16, .n_head_kv = 16, .n_ff = 10944,
     .rope_base = 10000, .rms_eps = 1e-6f, .yarn_factor = 40, .yarn_orig_ctx = 4096, .yarn_log_mul = 0.0707f,
     .q_lora_rank = 0, .kv_lora_rank = 512, .d_nope = 128, .d_rope = 64, .d_v = 128, .n_dense_lead = 1,
     .n_expert = 64, .n_expert_used = 6, .n_expert_shared = 2, .n_ff_exp = 1408, .expert_weights_scale = 1.0f,
     .expert_weights_norm = false, .gating = 1, .n_group = 1, .n_group_used = 1,
     .bos = 100000, .eos = 100001, .bos_text = "<｜begin▁of▁sentence｜>", .eos_text = "<｜end▁of▁sentence｜>",
     .add_bos = true},
    /* deepseek-ai/DeepSeek-V2 */
    {.name = "deepseek-v2", .title = "DeepSeek-V2 (synthetic)", .arch = "deepseek2", .pre = "deepseek-llm",
     .n_vocab = 102400, .n_ctx = 163840, .n_embd = 5120, .n_layer = 60, .n_head = 128, .n_head_kv = 128,
     .n_ff = 12288, .rope_base = 10000, .rms_eps = 1e-6f, .yarn_factor = 40, .yarn_orig_ctx = 4096,
     .yarn_log_mul = 0.0707f, .q_lora_rank = 1536, .kv_lora_rank = 512, .d_nope = 128, .d_rope = 64, .d_v = 128,
     .n_dense_lead = 1, .n_expert = 160, .n_expert_used = 6, .n_expert_shared = 2, .n_ff_exp = 1536,
     .expert_weights_scale = 16.0f, .expert_weights_norm = false, .gating = 1, .n_group = 8, .n_group_used = 3,
     .bos = 100000, .eos = 100001, .bos_text = "<｜begin▁of▁sentence｜>", .eos_text = "<｜end▁of▁sentence｜>",
     .add_bos = true},
    /* deepseek-ai/DeepSeek-V3 (R1 has the same shape) */
    {.name = "deepseek-v3", .title = "DeepSeek-V3 (synthetic)", .arch = "deepseek2", .pre = "deepseek-v3",
     .n_vocab = 129280, .n_ctx = 163840, .n_embd = 7168, .n_layer = 61, .n_head = 128, .n_head_kv = 128,
     .n_ff = 18432, .rope_base = 10000, .rms_eps = 1e-6f, .yarn_factor = 40, .yarn_orig_ctx = 4096,
     .yarn_log_mul = 0.1f, .q_lora_rank = 1536, .kv_lora_rank = 512, .d_nope = 128, .d_rope = 64, .d_v = 128,
     .n_dense_lead = 3, .n_expert = 256, .n_expert_used = 8, .n_expert_shared = 1, .n_ff_exp = 2048,
     .expert_weights_scale = 2.5f, .expert_weights_norm = true, .gating = 2, .n_group = 8, .n_group_used = 4,
     .probs_bias = true, .bos = 0, .eos = 1, .bos_text = "<｜begin▁of▁sentence｜>",
     .eos_text = "<｜end▁of▁sentence｜>", .add_bos = true},
    /* moonshotai/Kimi-K2-Instruct */
    {.name = "kimi-k2", .title = "Kimi-K2 (synthetic)", .arch = "deepseek2", .pre = "kimi-k2", .n_vocab = 163840,
     .n_ctx = 131072, .n_embd = 7168, .n_layer = 61, .n_head = 64, .n_head_kv = 64, .n_ff = 18432,
     .rope_base = 50000, .rms_eps = 1e-6f, .yarn_factor = 32, .yarn_orig_ctx = 4096, .yarn_log_mul = 0.1f,
     .q_lora_rank = 1536, .kv_lora_rank = 512, .d_nope = 128, .d_rope = 64, .d_v = 128, .n_dense_lead = 1,
     .n_expert = 384, .n_expert_used = 8, .n_expert_shared = 1, .n_ff_exp = 2048, .expert_weights_scale = 2.827f,
     .expert_weights_norm = true, .gating = 2, .n_group = 1, .n_group_used = 1, .probs_bias = true,
     .bos = 163584, .eos = 163585, .bos_text = "[BOS]", .eos_text = "[EOS]", .add_bos = true},
    /* Qwen/Qwen2-7B */
    {.name = "qwen2-7b", .title = "Qwen2-7B (synthetic)", .arch = "qwen2", .pre = "qwen2", .n_vocab = 152064,
     .n_ctx = 131072, .n_embd = 3584, .n_layer = 28, .n_head = 28, .n_head_kv = 4, .n_ff = 18944,
     .rope_base = 1000000, .rms_eps = 1e-6f, .qkv_bias = true, .bos = -1, .eos = 151643,
     .eos_text = "<|endoftext|>", .add_bos = false},
    /* meta-llama/Meta-Llama-3-8B */
    {.name = "llama-3-8b", .title = "Meta-Llama-3-8B (synthetic)", .arch = "llama", .pre = "llama-bpe",
     .n_vocab = 128256, .n_ctx = 8192, .n_embd = 4096, .n_layer = 32, .n_head = 32, .n_head_kv = 8, .n_ff = 14336,
     .rope_base = 500000, .rms_eps = 1e-5f, .bos = 128000, .eos = 128001, .bos_text = "<|begin_of_text|>",
     .eos_text = "<|end_of_text|>", .add_bos = true},
    /* this project's trained tiny-mla.gguf (../shared/models/README.md): a shape small
     * enough for tests, with V3's routing (sigmoid, bias, groups) */
    {.name = "tiny-mla", .title = "tiny-mla (synthetic)", .arch = "deepseek2", .pre = "smollm", .n_vocab = 49152,
     .n_ctx = 4096, .n_embd = 256, .n_layer = 4, .n_head = 8, .n_head_kv = 8, .n_ff = 1024, .rope_base = 10000,
     .rms_eps = 1e-6f, .q_lora_rank = 128, .kv_lora_rank = 512, .d_nope = 128, .d_rope = 64, .d_v = 128,
     .n_dense_lead = 1, .n_expert = 16, .n_expert_used = 4, .n_expert_shared = 1, .n_ff_exp = 256,
     .expert_weights_scale = 2.5f, .expert_weights_norm = true, .gating = 2, .n_group = 4, .n_group_used = 2,
     .probs_bias = true, .bos = 0, .eos = 0, .bos_text = "<|endoftext|>", .eos_text = "<|endoftext|>",
     .add_bos = false},
    {.name = NULL},
};

const synth_model *synth_model_find(const char *name) {
    for (const synth_model *m = SYNTH_MODELS; m->name; m++) {
        const char *a = m->name, *b = name;
        while (*a && *b && (*a | 32) == (*b | 32)) a++, b++; /* any case */
        if (!*a && !*b) return m;
    }
    return NULL;
}
