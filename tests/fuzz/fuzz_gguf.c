/* fuzz_gguf.c: libFuzzer entry point for the GGUF reader. Parses the input with
 * gguf_open_memory and, when it is accepted, walks every key, array and tensor through
 * the public getters, so that any out-of-bounds read shows up under ASan/UBSan.
 * Built by `make fuzz` (clang -fsanitize=fuzzer); run by tests/check_fuzz.py. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"
#include "quant/quant.h"

static volatile uint64_t sink;

static void touch_kv(const gguf_file *gf, const gguf_kv *kv) {
    char key[256];
    size_t n = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
    memcpy(key, kv->key.ptr, n);
    key[n] = 0;
    latte_err e;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    float f;
    bool b;
    gguf_str s;
    const gguf_kv *arr;
    sink += (uint64_t)gguf_get_u32(gf, key, &u32, &e) + (uint64_t)gguf_get_u64(gf, key, &u64, &e);
    sink += (uint64_t)gguf_get_i32(gf, key, &i32, &e) + (uint64_t)gguf_get_f32(gf, key, &f, &e);
    sink += (uint64_t)gguf_get_bool(gf, key, &b, &e);
    if (gguf_get_str(gf, key, &s, &e) == 0 && s.len) sink += (uint8_t)s.ptr[s.len - 1];
    if (kv->type != GGUF_TYPE_ARRAY || gguf_get_arr(gf, key, kv->arr_type, &arr, &e) != 0) return;
    for (uint64_t i = 0; i < kv->arr_n && i < 4096; i++) {
        if (kv->arr_type == GGUF_TYPE_STRING) {
            if (kv->arr_strs[i].len) sink += (uint8_t)kv->arr_strs[i].ptr[kv->arr_strs[i].len - 1];
        } else {
            float fv = gguf_arr_f32(kv, i); /* NaN or huge: converting to an integer would be UB here */
            sink += (uint64_t)gguf_arr_i32(kv, i) + gguf_arr_u32(kv, i) +
                    (fv > -1e18f && fv < 1e18f ? (uint64_t)(int64_t)fv : 0);
        }
    }
    if (kv->arr_n && kv->arr_type != GGUF_TYPE_STRING) sink += (uint64_t)gguf_arr_i32(kv, kv->arr_n - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *gf = NULL;
    latte_err e;
    if (gguf_open_memory(&gf, data, size, &e) != 0) return 0;
    for (uint64_t i = 0; i < gf->n_kv; i++) touch_kv(gf, &gf->kv[i]);
    sink += (uint64_t)gguf_check_data(gf, &e);
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        if (t->data && t->n_bytes) /* first and last byte of the extent must be readable */
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->n_bytes - 1];
        /* dequantize the first block when the type supports it */
        const quant_type_info *ti = quant_type_info_get(t->type);
        if (t->data && ti && ti->can_dequant && ti->block_elems <= 256) {
            float out[256];
            quant_dequant_row(t->type, t->data, out, ti->block_elems);
            sink += (uint64_t)(out[0] == out[0]);
        }
    }
    sink += gguf_find_kv(gf, "general.architecture") != NULL;
    sink += gguf_find_tensor(gf, "token_embd.weight") != NULL;
    gguf_free(gf);
    return 0;
}
