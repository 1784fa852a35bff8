/* place.h: where each weight lives, decided once at load: a pure function of the tensor
 * directory (names, types, bytes), the devices (name, memory, which weight types they can
 * multiply) and the user's rules (-ngl, -ot REGEX=DEVICE first match wins, --n-cpu-moe,
 * -mg); with no rules and a GPU present, an automatic fit (attention, norms, router and
 * shared experts of every layer and the output first, then whole layers' routed experts
 * from the last layer down). Knows no backend: devices are plain descriptions, so tests
 * plan DeepSeek-V3- and Kimi-K2-sized models on fake devices. */
#ifndef LATTE_PLACE_H
#define LATTE_PLACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../base/err.h"

#define PLACE_MAX_DEVICES 16

typedef struct place_device {
    char name[32];            /* "CPU", "CUDA0", ... */
    bool is_cpu;
    uint64_t bytes;           /* memory the plan may fill (weights + KV cache + reserve) */
    uint64_t reserve;         /* bytes kept free for activations */
    uint64_t types[4];        /* bit t set: weights of type id t can be multiplied here */
} place_device;

/* What a tensor is to the planner (from its name). */
typedef enum place_kind {
    PK_EMBD,    /* token_embd: looked up, stays on the CPU */
    PK_OUTPUT,  /* output, output_norm */
    PK_LAYER,   /* attention, norms, router, shared experts, dense FFN of a layer */
    PK_EXPS,    /* a layer's routed experts (ffn_*_exps) */
    PK_OTHER,   /* rope_freqs and the like: host tables */
} place_kind;

typedef struct place_tensor {
    const char *name;
    uint32_t type;
    uint64_t bytes;
} place_tensor;

typedef struct place_opts {
    int n_gpu_layers;         /* -ngl: -1 unset (automatic fit), else the last N layers (output too when N > n_layer) */
    int n_cpu_moe;            /* --n-cpu-moe: routed experts of the first N layers stay on the CPU */
    int main_gpu;             /* -mg: index among the GPU devices */
    const char *const *overrides; /* -ot "REGEX=DEVICE", first match wins */
    int n_overrides;
    uint64_t kv_bytes_per_layer; /* KV cache of one layer for the requested context */
} place_opts;

typedef struct place_plan {
    int n_devices;
    place_device dev[PLACE_MAX_DEVICES];
    int n_tensors, n_layer;
    int *device;              /* [n_tensors] device index */
    int *kv_device;           /* [n_layer] device of each layer's KV cache (its attention's) */
    uint64_t bytes[PLACE_MAX_DEVICES];    /* weights + KV per device */
    uint64_t kv_bytes[PLACE_MAX_DEVICES];
    char warnings[1024];      /* one line per warning ("" when none) */
} place_plan;

/* Kind and layer (-1 for none) of a tensor name. */
place_kind place_kind_of(const char *name, int *layer);
/* Makes the plan. devs[0] must be the CPU. Errors: a bad regex or an unknown device in
 * -ot, -mg without that GPU, a device whose placed bytes exceed its memory (the message
 * names the device and what to reduce). */
int place_plan_make(place_plan *plan, const place_device *devs, int n_devs, const place_tensor *ts, int n_ts,
                    int n_layer, const place_opts *o, latte_err *err);
void place_plan_free(place_plan *plan);
/* Writes the plan for people: bytes per device, what each holds per layer, the warnings,
 * and -ngl/-ot flags that give the same placement. */
void place_plan_print(const place_plan *plan, const place_tensor *ts, FILE *out);
/* The equivalent flags as one line (e.g. `-ngl 999 -ot "^blk\.(3|4)\.ffn_.*_exps\.=CPU"`);
 * returns the length it needed (buf is NUL-terminated when cap > 0). */
size_t place_plan_flags(const place_plan *plan, const place_tensor *ts, char *buf, size_t cap);

#endif
