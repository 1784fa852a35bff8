/* describe.c: latte_model_describe, the text of `latte info`: architecture, hyper-
 * parameters, MLA layout, KV cache bytes per token in each mode, tensor types and sizes,
 * and whether all tensor data is present. */
#include <string.h>

#include "../backend/cpu/matmul.h"
#include "../kv/kv.h"
#include "../quant/quant.h"
#include "../text/chat.h"
#include "internal.h"

static void kv_line(FILE *out, const char *what, uint64_t bytes) {
    fprintf(out, "  %-40s %10llu bytes (%.1f KiB)\n", what, (unsigned long long)bytes, bytes / 1024.0);
}

static void describe_hparams(const latte_model *m, FILE *out) {
    const model_hparams *hp = &m->hp;
    fprintf(out, "architecture:     %s%s\n", hp->arch_name, hp->has_mla ? " (MLA)" : " (no MLA: standard attention)");
    fprintf(out, "layers:           %d\nembedding:        %d\nvocabulary:       %d\ntraining context: %d\n", hp->n_layer,
            hp->n_embd, hp->n_vocab, hp->n_ctx_train);
    fprintf(out, "heads:            %d (kv %d), key %d, value %d\n", hp->n_head, hp->n_head_kv, hp->n_embd_head_k,
            hp->n_embd_head_v);
    fprintf(out, "rope:             base %g, %d dims, %s pairs, scaling %s (factor %g)\n", hp->rope.freq_base,
            hp->rope.n_rot, hp->rope.pairing == ROPE_NEOX ? "neox" : "adjacent",
            (const char *[]){"none", "linear", "yarn", "llama3"}[hp->rope.scaling], hp->rope.factor);
    fprintf(out, "rms epsilon:      %g\nffn width:        %d\n", hp->rms_eps, hp->n_ff);
    if (hp->has_mla) {
        fprintf(out, "MLA:              q_lora_rank %d, kv_lora_rank %d, rope %d, nope %d, value %d\n", hp->q_lora_rank,
                hp->kv_lora_rank, hp->n_rot_mla, hp->d_nope, hp->d_v);
        if (hp->n_expert)
            fprintf(out, "MoE:              %d experts, %d used, %d shared, width %d, %s gating, groups %d/%d, "
                         "norm %s, scale %g, %d leading dense\n",
                    hp->n_expert, hp->n_expert_used, hp->n_expert_shared, hp->n_ff_exp,
                    hp->gating == GATING_SIGMOID ? "sigmoid" : "softmax", hp->n_expert_group_used, hp->n_expert_group,
                    hp->expert_weights_norm ? "yes" : "no", hp->expert_weights_scale, hp->n_layer_dense_lead);
    }
    fprintf(out, "KV cache per token (f16):\n");
    if (hp->has_mla) {
        int64_t H = hp->n_head, r = hp->kv_lora_rank, dr = hp->n_rot_mla;
        kv_line(out, "-mla 0 (per-head K and V)",
                kv_bytes_per_token(hp->n_layer, H * (hp->d_nope + dr), QT_F16, H * hp->d_v, QT_F16));
        kv_line(out, "-mla 1 (latent + transposed copy)", kv_bytes_per_token(hp->n_layer, r + dr, QT_F16, r, QT_F16));
        kv_line(out, "-mla 2 (latent)", kv_bytes_per_token(hp->n_layer, r + dr, QT_F16, 0, QT_F16));
        kv_line(out, "-mla 3 (latent, fused)", kv_bytes_per_token(hp->n_layer, r + dr, QT_F16, 0, QT_F16));
    } else {
        kv_line(out, "standard K and V",
                kv_bytes_per_token(hp->n_layer, (int64_t)hp->n_head_kv * hp->n_embd_head_k, QT_F16,
                                   (int64_t)hp->n_head_kv * hp->n_embd_head_v, QT_F16));
    }
}

void latte_model_describe(const latte_model *m, FILE *out) {
    const gguf_file *gf = m->gf;
    fprintf(out, "file:             %s (GGUF v%u, %llu bytes, %llu tensors, %llu keys)\n", gf->path ? gf->path : "?",
            gf->version, (unsigned long long)gf->file_size, (unsigned long long)gf->n_tensors,
            (unsigned long long)gf->n_kv);
    for (uint32_t i = 0; i < gf->n_shards; i++)
        fprintf(out, "  shard %u of %u:     %s (%llu bytes, %llu tensors)\n", i + 1, gf->n_shards, gf->shards[i]->path,
                (unsigned long long)gf->shards[i]->file_size, (unsigned long long)gf->shards[i]->n_tensors);
    if (m->hparams_ok) describe_hparams(m, out);
    else fprintf(out, "architecture:     (no usable hyper-parameters: %s)\n", m->hparams_err);
    if (m->vocab)
        fprintf(out, "tokenizer:        %d tokens, pre-tokenizer %s, bos %d, eos %d\n", tok_n_vocab(m->vocab),
                tok_pre_name(m->vocab), tok_bos(m->vocab), tok_eos(m->vocab));
    else if (m->tok_err[0])
        fprintf(out, "tokenizer:        not usable by latte: %s\n", m->tok_err);
    if (m->chat_template) {
        chat_kind kind;
        bool known = chat_kind_pick(NULL, m->chat_template, &kind, NULL) == 0;
        fprintf(out, "chat template:    %zu bytes, %s%s\n", strlen(m->chat_template),
                known ? "built-in " : "not recognised (chat needs --chat-template NAME)",
                known ? chat_kind_name(kind) : "");
    }
    uint64_t counts[QT_COUNT] = {0}, bytes[QT_COUNT] = {0};
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        uint32_t t = gf->tensors[i].type;
        if (t < QT_COUNT) counts[t]++, bytes[t] += gf->tensors[i].n_bytes;
    }
    fprintf(out, "tensor types:\n");
    for (uint32_t t = 0; t < QT_COUNT; t++)
        if (counts[t])
            fprintf(out, "  %-10s %5llu tensors %12llu bytes%s\n", quant_type_info_get(t)->name,
                    (unsigned long long)counts[t], (unsigned long long)bytes[t],
                    cpu_matmul_supports(t) || (quant_plain_type(t) >= 0 && cpu_matmul_supports((uint32_t)quant_plain_type(t)))
                        ? (quant_plain_type(t) >= 0 ? "  (repacked to its plain type at load)" : "")
                        : "  (latte cannot run this type yet)");
    latte_err err = {0};
    if (gguf_check_data(gf, &err)) fprintf(out, "tensor data:      INCOMPLETE: %s\n", err.msg);
    else fprintf(out, "tensor data:      complete (%llu bytes)\n", (unsigned long long)latte_model_weight_bytes(m));
    fprintf(out, "tensors:\n");
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        fprintf(out, "  %-40.*s %-6s {", (int)(t->name.len > 64 ? 64 : t->name.len), t->name.ptr,
                quant_type_info_get(t->type)->name);
        for (uint32_t d = 0; d < t->n_dims; d++) fprintf(out, d ? ", %lld" : "%lld", (long long)t->ne[d]);
        fprintf(out, "} %llu bytes%s\n", (unsigned long long)t->n_bytes, t->data ? "" : " (missing)");
    }
}
