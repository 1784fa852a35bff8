/* bench_cuda_decode.c: times the decode-critical CUDA ops next to the device-to-device copy
 * bandwidth measured in the same run: mat-vec (n = 1) over DeepSeek-V2-Lite's weight shapes
 * in Q4_0 (and a few other types), the MoE decode product, the tf32 tile product at n = 512,
 * and FlashMLA-style latent attention at depths 0, 4096 and 16384 with 16 and 128 heads.
 * Weights are cycled over copies worth >= 1 GB so every read comes from HBM, not L2.
 * Times are medians of 7 replays of a CUDA graph holding all the calls, after a warm-up.
 * Build: make CUDA=1 (build-cuda/bench_cuda_decode). Run: build-cuda/bench_cuda_decode */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_ops.h"
#include "quant/quant.h"

#define SPAN ((size_t)1 << 30)
enum { REPS = 7 };

static latte_err err;

static int cmpf(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static void *dmalloc(size_t n) {
    void *p = NULL;
    if (cudaMalloc(&p, n) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc(%zu) failed\n", n);
        exit(1);
    }
    return p;
}

/* fills device memory with random bytes (never zeros: they can run faster than real data) */
static void dfill_random(void *d, size_t n, uint32_t seed) {
    size_t chunk = (size_t)64 << 20;
    uint8_t *h = malloc(chunk);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < chunk; i += 8) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        memcpy(h + i, &s, 8);
    }
    for (size_t o = 0; o < n; o += chunk) cudaMemcpy((uint8_t *)d + o, h, n - o < chunk ? n - o : chunk, cudaMemcpyHostToDevice);
    free(h);
}

/* sane f16 scales in every 32-element block of a q4_0/q8_0 buffer: random scale bytes could be inf/NaN */
static void dfix_scales(void *d, size_t n, int block_bytes) {
    uint8_t *h = malloc(n);
    cudaMemcpy(h, d, n, cudaMemcpyDeviceToHost);
    uint16_t sc = quant_f32_to_f16(0.01f);
    for (size_t o = 0; o + block_bytes <= n; o += block_bytes) memcpy(h + o, &sc, 2);
    cudaMemcpy(d, h, n, cudaMemcpyHostToDevice);
    free(h);
}

typedef void (*bench_fn)(void *ctx, int copy);

static cudaStream_t bench_stream;

/* median ms per call of fn over n_copies rotating copies: the calls are captured once into a
 * CUDA graph and the graph replayed, as the engine will replay a decode step, so the figures
 * are device time without the host's per-launch cost (about 5 us a launch on the lent machine) */
static float time_calls(bench_fn fn, void *ctx, int n_copies, int calls) {
    cudaEvent_t a, b;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    cudaEventCreate(&a), cudaEventCreate(&b);
    for (int i = 0; i < calls; i++) fn(ctx, i % n_copies); /* warm-up, outside the graph */
    cudaStreamBeginCapture(bench_stream, cudaStreamCaptureModeGlobal);
    for (int i = 0; i < calls; i++) fn(ctx, i % n_copies);
    cudaStreamEndCapture(bench_stream, &graph);
    if (cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) {
        fprintf(stderr, "graph: %s\n", cudaGetErrorString(cudaGetLastError()));
        exit(1);
    }
    cudaGraphLaunch(exec, bench_stream);
    float t[REPS];
    for (int r = 0; r < REPS; r++) {
        cudaEventRecord(a, bench_stream);
        cudaGraphLaunch(exec, bench_stream);
        cudaEventRecord(b, bench_stream);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&t[r], a, b);
        t[r] /= calls;
    }
    cudaGraphExecDestroy(exec), cudaGraphDestroy(graph);
    cudaEventDestroy(a), cudaEventDestroy(b);
    qsort(t, REPS, sizeof(float), cmpf);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) fprintf(stderr, "cuda error: %s\n", cudaGetErrorString(e));
    return t[REPS / 2];
}

/* ---- copy bandwidth ---- */
typedef struct {
    void *src, *dst;
    size_t n;
} copy_ctx;
static void copy_call(void *c, int i) {
    copy_ctx *x = c;
    (void)i;
    if (cuda_copy(bench_stream, x->dst, x->src, x->n, &err)) fprintf(stderr, "%s\n", err.msg);
}

/* ---- matmul ---- */
typedef struct {
    cuda_weight w;
    size_t stride; /* bytes between copies */
    float *x, *y;
    int64_t n;
} mm_ctx;
static void mm_call(void *c, int i) {
    mm_ctx *x = c;
    cuda_weight w = x->w;
    w.data = (const uint8_t *)x->w.data + (size_t)i * x->stride;
    if (cuda_matmul(bench_stream, &w, x->x, w.k, x->n, x->y, w.m, &err)) fprintf(stderr, "%s\n", err.msg);
}

static void bench_matmul(uint32_t type, const char *label, int64_t k, int64_t m, int64_t n, double bw_copy) {
    const quant_type_info *ti = quant_type_info_get(type);
    size_t rb = quant_row_bytes(type, k), bytes = rb * m;
    int copies = (int)(SPAN / bytes) + 1;
    if (n > 1) copies = 2;
    void *w = dmalloc(bytes * copies);
    dfill_random(w, bytes * copies, 1);
    if (type == QT_Q4_0 || type == QT_Q8_0) dfix_scales(w, bytes * copies, (int)ti->block_bytes);
    float *x = dmalloc(sizeof(float) * k * n), *y = dmalloc(sizeof(float) * m * n);
    dfill_random(x, sizeof(float) * k * n, 2);
    /* random f32 bits include NaN/inf: use small values instead */
    float *hx = malloc(sizeof(float) * k * n);
    for (int64_t i = 0; i < k * n; i++) hx[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    cudaMemcpy(x, hx, sizeof(float) * k * n, cudaMemcpyHostToDevice);
    free(hx);
    mm_ctx c = {{type, k, m, rb, w, 1, bytes}, bytes, x, y, n};
    float ms = time_calls(mm_call, &c, copies, n > 1 ? 20 : copies * 2);
    double gbs = bytes / (ms * 1e-3) / 1e9, tflops = 2.0 * k * m * n / (ms * 1e-3) / 1e12;
    if (n == 1)
        printf("matmul %-6s %-22s k=%-6lld m=%-6lld n=1   %8.2f us  %7.0f GB/s  %5.1f%% of copy\n", ti->name, label,
               (long long)k, (long long)m, ms * 1e3, gbs, 100 * gbs / bw_copy);
    else
        printf("matmul %-6s %-22s k=%-6lld m=%-6lld n=%-3lld %8.2f us  %7.1f TFLOP/s\n", ti->name, label, (long long)k,
               (long long)m, (long long)n, ms * 1e3, tflops);
    cudaFree(w), cudaFree(x), cudaFree(y);
}

/* ---- MoE decode: 6 of 64 experts, gate-sized ---- */
typedef struct {
    cuda_weight w;
    size_t stride;
    int32_t *ids;
    float *x, *y;
    int n_used;
} moe_ctx;
static void moe_call(void *c, int i) {
    moe_ctx *x = c;
    cuda_weight w = x->w;
    w.data = (const uint8_t *)x->w.data + (size_t)i * x->stride;
    if (cuda_moe_matmul(bench_stream, &w, x->ids, x->n_used, x->x, w.k, 1, x->y, w.m, NULL, 0, &err))
        fprintf(stderr, "%s\n", err.msg);
}

static void bench_moe(double bw_copy) {
    int64_t k = 2048, m = 1408, E = 64;
    int n_used = 6;
    size_t rb = quant_row_bytes(QT_Q4_0, k), eb = rb * m, bytes = eb * E;
    int copies = (int)(SPAN / bytes) + 1;
    void *w = dmalloc(bytes * copies);
    dfill_random(w, bytes * copies, 3);
    dfix_scales(w, bytes * copies, 18);
    int32_t ids[6] = {3, 17, 22, 40, 41, 63};
    int32_t *di = dmalloc(sizeof ids);
    cudaMemcpy(di, ids, sizeof ids, cudaMemcpyHostToDevice);
    float *x = dmalloc(sizeof(float) * k), *y = dmalloc(sizeof(float) * m * n_used);
    cudaMemset(x, 0, sizeof(float) * k);
    moe_ctx c = {{QT_Q4_0, k, m, rb, w, E, eb}, bytes, di, x, y, n_used};
    float ms = time_calls(moe_call, &c, copies, copies * 2);
    double gbs = eb * n_used / (ms * 1e-3) / 1e9;
    printf("moe    q4_0   6 of 64 experts        k=%-6lld m=%-6lld n=1   %8.2f us  %7.0f GB/s  %5.1f%% of copy\n",
           (long long)k, (long long)m, ms * 1e3, gbs, 100 * gbs / bw_copy);
    cudaFree(w), cudaFree(di), cudaFree(x), cudaFree(y);
}

/* ---- MLA decode ---- */
typedef struct {
    cuda_mla_args a;
    void *ws;
    size_t ws_bytes, stride;
    const void *cache0;
} mla_ctx;
static void mla_call(void *c, int i) {
    mla_ctx *x = c;
    x->a.kv_cache = (const uint8_t *)x->cache0 + (size_t)i * x->stride;
    if (cuda_mla_attn(bench_stream, &x->a, x->ws, x->ws_bytes, &err)) fprintf(stderr, "%s\n", err.msg);
}

static void bench_mla(uint32_t type, int H, int depth, int n_tok, bool f32_math, double bw_copy) {
    const int r = 512, dr = 64, D = r + dr;
    int n_ctx = depth + n_tok;
    size_t rb = quant_row_bytes(type, D), bytes = rb * n_ctx;
    int copies = (int)((SPAN / 4) / bytes) + 1;
    if (copies > 64) copies = 64;
    void *cache = dmalloc(bytes * copies);
    /* small finite values: a cache of f16/bf16/q8_0 made from a modest pattern */
    uint8_t *h = malloc(bytes);
    float *row = malloc(sizeof(float) * D);
    for (int p = 0; p < n_ctx; p++) {
        for (int c = 0; c < D; c++) row[c] = (float)(((p * 131 + c * 17) % 200) - 100) / 100.0f;
        quant_quant_row(type, row, h + (size_t)p * rb, D);
    }
    for (int i = 0; i < copies; i++) cudaMemcpy((uint8_t *)cache + (size_t)i * bytes, h, bytes, cudaMemcpyHostToDevice);
    free(h), free(row);
    float *ql = dmalloc(sizeof(float) * n_tok * H * r), *qp = dmalloc(sizeof(float) * n_tok * H * dr);
    float *out = dmalloc(sizeof(float) * n_tok * H * r);
    cudaMemset(ql, 0, sizeof(float) * n_tok * H * r), cudaMemset(qp, 0, sizeof(float) * n_tok * H * dr);
    cuda_run run = {0, n_tok, 0, depth};
    cuda_run *druns = dmalloc(sizeof run);
    cudaMemcpy(druns, &run, sizeof run, cudaMemcpyHostToDevice);
    mla_ctx c;
    c.a = (cuda_mla_args){n_tok, H, r, dr, 0.07f, ql, qp, cache, type, n_ctx, druns, 1, n_tok, depth + n_tok, out, f32_math};
    c.ws_bytes = cuda_mla_workspace_bytes(&c.a);
    c.ws = c.ws_bytes ? dmalloc(c.ws_bytes) : NULL;
    c.stride = bytes;
    c.cache0 = cache;
    float ms = time_calls(mla_call, &c, copies, copies * 2 > 20 ? copies * 2 : 20);
    double gbs = bytes / (ms * 1e-3) / 1e9;
    double flops = 2.0 * n_ctx * H * n_tok * (D + r);
    printf("mla%s %-6s heads=%-3d tok=%d depth=%-6d %8.2f us  %7.0f GB/s  %5.1f%% of copy  %6.2f TFLOP/s\n",
           f32_math ? "/f32" : "    ", quant_type_info_get(type)->name, H, n_tok, depth, ms * 1e3, gbs, 100 * gbs / bw_copy,
           flops / (ms * 1e-3) / 1e12);
    cudaFree(cache), cudaFree(ql), cudaFree(qp), cudaFree(out), cudaFree(druns);
    if (c.ws) cudaFree(c.ws);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : "all"; /* all, matmul or mla */
    bool mm = strcmp(only, "mla") != 0, mla = strcmp(only, "matmul") != 0;
    cuda_device_info info;
    if (cuda_ops_device_count() == 0 || cuda_ops_init(0, &info, &err)) {
        printf("no usable GPU: %s\n", err.msg);
        return 0;
    }
    printf("# %s, sm_%d%d, %d SMs; times are device time per call from CUDA graph replays\n", info.name,
           info.cc_major, info.cc_minor, info.n_sm);
    cudaStreamCreateWithFlags(&bench_stream, cudaStreamNonBlocking);
    copy_ctx cc = {dmalloc(SPAN), dmalloc(SPAN), SPAN};
    float ms = time_calls(copy_call, &cc, 1, 10);
    double bw = 2.0 * SPAN / (ms * 1e-3) / 1e9; /* bytes read + written */
    printf("copy   device to device %zu MB (cuda_copy kernel): %.0f GB/s (read + write)\n", SPAN >> 20, bw);
    cudaFree(cc.src), cudaFree(cc.dst);

    /* DeepSeek-V2-Lite: n_embd 2048, 16 heads x (128 + 64) queries, kv_a 576, wo 2048,
     * dense FFN 10944 (layer 0), experts 1408 (64 routed, 6 used, 2 shared), vocab 102400 */
    static const struct { const char *label; int64_t k, m; } shp[] = {
        {"attn_q", 2048, 3072},      {"attn_kv_a_mqa", 2048, 576}, {"attn_output", 2048, 2048},
        {"ffn_up (dense)", 2048, 10944}, {"ffn_down (dense)", 10944, 2048}, {"shexp up (2 x 1408)", 2048, 2816},
        {"output", 2048, 102400},
    };
    for (size_t i = 0; i < sizeof shp / sizeof shp[0] && mm; i++) bench_matmul(QT_Q4_0, shp[i].label, shp[i].k, shp[i].m, 1, bw);
    static const uint32_t others[] = {QT_Q8_0, QT_Q4_1, QT_Q4_K, QT_Q6_K, QT_F16};
    for (size_t i = 0; i < sizeof others / sizeof others[0] && mm; i++) bench_matmul(others[i], "ffn_up (dense)", 2048, 10944, 1, bw);
    if (mm) {
        bench_moe(bw);
        bench_matmul(QT_Q4_0, "ffn_up (dense)", 2048, 10944, 512, bw);
        bench_matmul(QT_Q4_K, "ffn_up (dense)", 2048, 10944, 512, bw);
    }
    static const int depths[] = {0, 4096, 16384}, heads[] = {16, 128};
    static const uint32_t ctypes[] = {QT_F16, QT_BF16, QT_Q8_0};
    for (int t = 0; t < 3 && mla; t++)
        for (size_t hi = 0; hi < 2; hi++)
            for (size_t di = 0; di < 3; di++) bench_mla(ctypes[t], heads[hi], depths[di], 1, false, bw);
    for (size_t hi = 0; hi < 2 && mla; hi++) /* the f32 SIMT kernel, for comparison */
        bench_mla(QT_F16, heads[hi], 16384, 1, true, bw);
    for (size_t hi = 0; hi < 2 && mla; hi++) /* several query tokens (speculative decode) */
        bench_mla(QT_F16, heads[hi], 4096, 4, false, bw);
    return 0;
}
