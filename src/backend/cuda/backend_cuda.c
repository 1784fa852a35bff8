/* backend_cuda.c: the CUDA backend's op table over cuda_ops.h (built with make CUDA=1).
 * One stream per backend; every op only queues work. Weights: a device copy of each host
 * tensor, made by weight_load when a context starts (so running out of GPU memory is one
 * error there) or on first use for a tensor placed elsewhere; ops find it by the host
 * pointer. The host index arrays an op gets (token ids, positions, cache rows, runs) go
 * through a pinned ring copied to a device ring in stream order: a slot is reused only
 * after a stream sync, which happens when the ring wraps. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../quant/quant.h"
#include "../backend.h"
#include "backend_cuda.h"
#include "cuda_ops.h"

typedef struct wmap_ent {
    const void *host;
    void *dev;
    size_t bytes;
} wmap_ent;

typedef struct cuda_backend {
    backend base;
    int dev;
    char name[16];
    cudaStream_t st;
    cuda_device_info info;
    int rc;          /* first error */
    latte_err err;   /* its message (printed once) */
    wmap_ent *map;   /* open addressing on the host pointer */
    size_t map_cap, map_n;
    char *h_ring, *d_ring;
    size_t ring_cap, ring_off;
    void *ws;        /* workspace of the MoE and MLA kernels (stream-ordered, shared) */
    size_t ws_bytes;
    float *xpad;     /* activations re-laid out for the kernels' alignment */
    size_t xpad_bytes;
    int32_t *head_ids; /* host: p % n_head for matmul_heads */
    size_t head_ids_n;
    cuda_run *runs;  /* host: runs converted */
    size_t runs_n;
    uint64_t weight_bytes;
} cuda_backend;

static cuda_backend *CB(backend *b) { return (cuda_backend *)b; }

/* the device this thread's CUDA calls go to (set every time: cuda_ops_init and other
 * backends move it, and it costs well under a microsecond) */
static void use(cuda_backend *cb) { cudaSetDevice(cb->dev); }

/* records the first error and says it once (the graph's message names the op, this the cause) */
static int fail(cuda_backend *cb, int rc) {
    if (!cb->rc) {
        cb->rc = rc;
        fprintf(stderr, "%s: %s\n", cb->name, cb->err.msg[0] ? cb->err.msg : "CUDA error");
    }
    return rc;
}

static int cuda_fail(cuda_backend *cb, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return 0;
    int rc = e == cudaErrorMemoryAllocation ? LATTE_E_NOMEM : LATTE_E_UNSUPPORTED;
    err_set(&cb->err, rc, "%s: %s", what, cudaGetErrorString(e));
    cudaGetLastError();
    return fail(cb, rc);
}

/* ---- capabilities, memory, copies, events ---- */

bool backend_cuda_cache_type(uint32_t t) { return t == QT_F32 || t == QT_F16 || t == QT_BF16 || t == QT_Q8_0; }

bool backend_cuda_matmul_type(uint32_t t) { return cuda_matmul_supports(t); }

static bool cu_supports(backend *b, backend_op op, uint32_t t) {
    switch (op) {
    case BOP_MATMUL:
    case BOP_GET_ROWS: return cuda_matmul_supports(t);
    case BOP_CACHE: return backend_cuda_cache_type(t);
    }
    return false;
}

static void *cu_buf_alloc(backend *b, size_t bytes) {
    cuda_backend *cb = CB(b);
    use(cb);
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 256) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    /* zeroed in stream order, before any op of this backend uses it */
    if (cudaMemsetAsync(p, 0, bytes, cb->st) != cudaSuccess) {
        cudaGetLastError();
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cu_buf_free(backend *b, void *p) {
    if (!p) return;
    use(CB(b));
    cudaFree(p);
}

static void *cu_host_alloc(backend *b, size_t bytes) {
    use(CB(b));
    void *p = NULL;
    if (cudaHostAlloc(&p, bytes ? bytes : 64, cudaHostAllocPortable) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

static void cu_host_free(backend *b, void *p) {
    if (p) cudaFreeHost(p);
}

static int cu_copy_in(backend *b, void *dst, const void *src, size_t bytes) {
    cuda_backend *cb = CB(b);
    use(cb);
    return bytes ? cuda_fail(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cb->st), "copy in") : 0;
}

static int cu_copy_out(backend *b, void *dst, const void *src, size_t bytes) {
    cuda_backend *cb = CB(b);
    use(cb);
    return bytes ? cuda_fail(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cb->st), "copy out") : 0;
}

static int cu_copy_2d(backend *b, void *dst, size_t dld, const void *src, size_t sld, size_t width, int64_t rows) {
    cuda_backend *cb = CB(b);
    use(cb);
    if (!width || rows <= 0) return 0;
    if (rows == 1) dld = sld = width; /* the graph passes 0 pitches for one row */
    return cuda_fail(cb, cudaMemcpy2DAsync(dst, dld, src, sld, width, (size_t)rows, cudaMemcpyDeviceToDevice, cb->st),
                     "copy_2d");
}

struct backend_event {
    cudaEvent_t e;
};

static backend_event *cu_event_new(backend *b) {
    use(CB(b));
    backend_event *ev = calloc(1, sizeof *ev);
    if (ev && cudaEventCreateWithFlags(&ev->e, cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        free(ev);
        return NULL;
    }
    return ev;
}

static void cu_event_free(backend *b, backend_event *e) {
    if (!e) return;
    cudaEventDestroy(e->e);
    free(e);
}

static int cu_event_record(backend *b, backend_event *e) {
    cuda_backend *cb = CB(b);
    use(cb);
    return cuda_fail(cb, cudaEventRecord(e->e, cb->st), "event record");
}

static int cu_event_wait(backend *b, backend_event *e) {
    cuda_backend *cb = CB(b);
    use(cb);
    return cuda_fail(cb, cudaStreamWaitEvent(cb->st, e->e, 0), "event wait");
}

static int cu_event_sync(backend *b, backend_event *e) { return cuda_fail(CB(b), cudaEventSynchronize(e->e), "event sync"); }

static int cu_sync(backend *b) {
    cuda_backend *cb = CB(b);
    use(cb);
    int rc = cuda_fail(cb, cudaStreamSynchronize(cb->st), "stream");
    return cb->rc ? cb->rc : rc;
}

/* ---- weights ---- */

static size_t tensor_bytes(const lt_tensor *w) {
    return w->row_bytes * (size_t)(w->ne[1] * w->ne[2] * w->ne[3]);
}

static size_t map_slot(const cuda_backend *cb, const void *host) {
    uintptr_t h = (uintptr_t)host;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cb->map_cap - 1);
}

static int map_grow(cuda_backend *cb) {
    size_t cap = cb->map_cap ? cb->map_cap * 2 : 1024;
    wmap_ent *old = cb->map;
    size_t oc = cb->map_cap;
    cb->map = calloc(cap, sizeof *cb->map);
    if (!cb->map) {
        cb->map = old;
        return LATTE_E_NOMEM;
    }
    cb->map_cap = cap;
    for (size_t i = 0; i < oc; i++) {
        if (!old[i].host) continue;
        size_t s = map_slot(cb, old[i].host);
        while (cb->map[s].host) s = (s + 1) & (cap - 1);
        cb->map[s] = old[i];
    }
    free(old);
    return 0;
}

/* the device copy of bytes of host data at host (made now if missing or too short) */
static void *device_copy(cuda_backend *cb, const void *host, size_t bytes, int *rc) {
    if (!host) return NULL;
    if (2 * (cb->map_n + 1) > cb->map_cap && (*rc = map_grow(cb))) return NULL;
    size_t s = map_slot(cb, host);
    while (cb->map[s].host && cb->map[s].host != host) s = (s + 1) & (cb->map_cap - 1);
    wmap_ent *e = &cb->map[s];
    if (e->host && e->bytes >= bytes) return e->dev;
    use(cb);
    void *d = NULL;
    cudaError_t ce = cudaMalloc(&d, bytes ? bytes : 16);
    if (ce == cudaSuccess) ce = cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice);
    if (ce != cudaSuccess) {
        if (d) cudaFree(d);
        *rc = ce == cudaErrorMemoryAllocation ? LATTE_E_NOMEM : LATTE_E_UNSUPPORTED;
        err_set(&cb->err, *rc, "copying %zu bytes of weights to the GPU: %s", bytes, cudaGetErrorString(ce));
        cudaGetLastError();
        return NULL;
    }
    if (e->host) { /* a longer view of the same data: replace */
        cudaFree(e->dev);
        cb->weight_bytes -= e->bytes;
    } else {
        cb->map_n++;
    }
    *e = (wmap_ent){host, d, bytes};
    cb->weight_bytes += bytes;
    return d;
}

static int cu_weight_load(backend *b, const lt_tensor *w) {
    int rc = 0;
    device_copy(CB(b), w->data, tensor_bytes(w), &rc);
    return rc;
}

/* a kernel's view of w: rows [row0, row0 + m) */
static int weight_of(cuda_backend *cb, const lt_tensor *w, int64_t row0, int64_t m, cuda_weight *cw) {
    int rc = 0;
    const char *d = device_copy(cb, w->data, tensor_bytes(w), &rc);
    if (!d) return fail(cb, rc ? rc : LATTE_E_ARG);
    *cw = (cuda_weight){.type = w->type, .k = w->ne[0], .m = m, .row_bytes = w->row_bytes,
                        .data = d + (size_t)row0 * w->row_bytes, .n_expert = 1, .expert_bytes = 0};
    return 0;
}

static const float *f32_of(cuda_backend *cb, const lt_tensor *t, int *rc) {
    if (!t) return NULL;
    return device_copy(cb, t->data, tensor_bytes(t), rc);
}

/* ---- host index arrays, scratch ---- */

static void *stage(cuda_backend *cb, const void *host, size_t bytes, int *rc) {
    size_t need = (bytes + 255) & ~(size_t)255;
    use(cb);
    if (need > cb->ring_cap) {
        size_t cap = need * 2 > ((size_t)4 << 20) ? need * 2 : (size_t)4 << 20;
        cudaStreamSynchronize(cb->st);
        if (cb->h_ring) cudaFreeHost(cb->h_ring);
        if (cb->d_ring) cudaFree(cb->d_ring);
        cb->h_ring = cb->d_ring = NULL;
        cb->ring_cap = cb->ring_off = 0;
        if (cudaHostAlloc((void **)&cb->h_ring, cap, 0) != cudaSuccess || cudaMalloc((void **)&cb->d_ring, cap) != cudaSuccess) {
            *rc = cuda_fail(cb, cudaErrorMemoryAllocation, "index buffers");
            return NULL;
        }
        cb->ring_cap = cap;
    }
    if (cb->ring_off + need > cb->ring_cap) { /* wrap: the queued kernels must have read the ring */
        if ((*rc = cuda_fail(cb, cudaStreamSynchronize(cb->st), "stream"))) return NULL;
        cb->ring_off = 0;
    }
    char *h = cb->h_ring + cb->ring_off, *d = cb->d_ring + cb->ring_off;
    memcpy(h, host, bytes);
    cb->ring_off += need;
    if ((*rc = cuda_fail(cb, cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, cb->st), "index copy"))) return NULL;
    return d;
}

/* a device buffer of at least bytes; a larger one replaces it (cudaFree waits for its users) */
static void *grow_dev(cuda_backend *cb, void **p, size_t *cap, size_t bytes, int *rc) {
    if (bytes <= *cap && *p) return *p;
    use(cb);
    if (*p) cudaFree(*p);
    *p = NULL;
    *cap = 0;
    size_t nb = bytes + bytes / 2 + 256;
    cudaError_t e = cudaMalloc(p, nb);
    if (e != cudaSuccess) {
        *p = NULL;
        *rc = cuda_fail(cb, e, "scratch");
        return NULL;
    }
    *cap = nb;
    return *p;
}

/* x rows as the matmul kernels want them: 16-byte aligned, ldx a multiple of 4 */
static const float *fit_x(cuda_backend *cb, const float *x, int64_t *ldx, int64_t k, int64_t n, int *rc) {
    if ((uintptr_t)x % 16 == 0 && *ldx % 4 == 0 && *ldx >= k) return x;
    int64_t ld = (k + 3) / 4 * 4;
    float *xp = grow_dev(cb, (void **)&cb->xpad, &cb->xpad_bytes, sizeof(float) * (size_t)(ld * n), rc);
    if (!xp) return NULL;
    cudaError_t e = cudaMemcpy2DAsync(xp, sizeof(float) * (size_t)ld, x, sizeof(float) * (size_t)*ldx,
                                      sizeof(float) * (size_t)k, (size_t)n, cudaMemcpyDeviceToDevice, cb->st);
    if ((*rc = cuda_fail(cb, e, "activation copy"))) return NULL;
    *ldx = ld;
    return xp;
}

#define CHECK(call) \
    do { \
        int rc_ = (call); \
        if (rc_) return fail(cb, rc_); \
    } while (0)

/* ---- compute ---- */

static int mm(cuda_backend *cb, const lt_tensor *w, int64_t row0, int64_t m, const float *x, int64_t ldx, int64_t n,
              float *y, int64_t ldy) {
    cuda_weight cw;
    int rc = 0;
    if (n <= 0 || m <= 0) return 0;
    CHECK(weight_of(cb, w, row0, m, &cw));
    if (!(x = fit_x(cb, x, &ldx, w->ne[0], n, &rc))) return rc;
    CHECK(cuda_matmul(cb->st, &cw, x, ldx, n, y, ldy, &cb->err));
    return 0;
}

static int cu_matmul(backend *b, const lt_tensor *w, int64_t row0, int64_t m, const float *x, int64_t n, float *y,
                     int64_t ldy) {
    use(CB(b));
    return mm(CB(b), w, row0, m, x, w->ne[0], n, y, ldy);
}

static int cu_matmul_heads(backend *b, const lt_tensor *w, int n_head, int64_t head_rows, int64_t row_off, int64_t m,
                           const float *x, int64_t ldx, int64_t xs, int64_t n, float *y, int64_t ldy, int64_t ys) {
    cuda_backend *cb = CB(b);
    int64_t k = w->ne[0];
    int rc = 0;
    use(cb);
    if (n_head <= 0 || m <= 0 || n <= 0) return n_head < 0 || m < 0 || n < 0 ? LATTE_E_ARG : 0;
    if (row_off + m > head_rows || (int64_t)n_head * head_rows > w->ne[1] * w->ne[2]) return LATTE_E_ARG;
    if (n_head == 1) return mm(cb, w, row_off, m, x, ldx, n, y, ldy);
    /* heads packed back to back in x and y: (token, head) pairs are the rows of one grouped
     * product whose "experts" are the heads' matrices */
    bool packed = ldx == n_head * xs && ldy == n_head * ys && xs % 4 == 0 && (uintptr_t)x % 16 == 0 && xs >= k &&
                  ys >= m && k % 32 == 0;
    if (!packed) {
        for (int h = 0; h < n_head; h++)
            if ((rc = mm(cb, w, (int64_t)h * head_rows + row_off, m, x + h * xs, ldx, n, y + h * ys, ldy))) return rc;
        return 0;
    }
    size_t np = (size_t)(n * n_head);
    if (np > cb->head_ids_n) {
        int32_t *ids = realloc(cb->head_ids, sizeof *ids * np);
        if (!ids) return LATTE_E_NOMEM;
        cb->head_ids = ids;
        cb->head_ids_n = np;
    }
    for (size_t p = 0; p < np; p++) cb->head_ids[p] = (int32_t)(p % (size_t)n_head);
    const int32_t *d_ids = stage(cb, cb->head_ids, sizeof(int32_t) * np, &rc);
    if (!d_ids) return rc;
    cuda_weight cw;
    CHECK(weight_of(cb, w, row_off, m, &cw));
    cw.n_expert = n_head;
    cw.expert_bytes = (size_t)head_rows * w->row_bytes;
    size_t wsb = cuda_moe_workspace_bytes(n_head, (int64_t)np);
    if (!grow_dev(cb, &cb->ws, &cb->ws_bytes, wsb, &rc)) return rc;
    CHECK(cuda_moe_matmul(cb->st, &cw, d_ids, 1, x, xs, (int64_t)np, y, ys, cb->ws, cb->ws_bytes, &cb->err));
    return 0;
}

static int cu_matmul_experts(backend *b, const lt_tensor *w, const int32_t *ids, int n_used, const float *x,
                             int64_t ldx, int64_t n, float *y) {
    cuda_backend *cb = CB(b);
    int rc = 0;
    use(cb);
    if (n <= 0) return 0;
    cuda_weight cw;
    CHECK(weight_of(cb, w, 0, w->ne[1], &cw));
    cw.n_expert = w->ne[2];
    cw.expert_bytes = (size_t)w->ne[1] * w->row_bytes;
    if (!(x = fit_x(cb, x, &ldx, w->ne[0], n, &rc))) return rc;
    if (!grow_dev(cb, &cb->ws, &cb->ws_bytes, cuda_moe_workspace_bytes(cw.n_expert, n * n_used), &rc)) return rc;
    CHECK(cuda_moe_matmul(cb->st, &cw, ids, n_used, x, ldx, n, y, w->ne[1], cb->ws, cb->ws_bytes, &cb->err));
    return 0;
}

static int cu_get_rows(backend *b, const lt_tensor *w, const int32_t *ids, int n, float *out) {
    cuda_backend *cb = CB(b);
    int rc = 0;
    use(cb);
    int64_t rows = w->ne[1] * w->ne[2] * w->ne[3];
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= rows) return LATTE_E_ARG;
    if (n <= 0) return 0;
    cuda_weight cw;
    CHECK(weight_of(cb, w, 0, rows, &cw));
    const int32_t *d_ids = stage(cb, ids, sizeof(int32_t) * (size_t)n, &rc);
    if (!d_ids) return rc;
    CHECK(cuda_get_rows(cb->st, &cw, d_ids, n, out, &cb->err));
    return 0;
}

static int cu_rms_norm(backend *b, const float *x, int64_t ldx, const lt_tensor *wt, int n, int d, float eps, float *y,
                       int64_t ldy) {
    cuda_backend *cb = CB(b);
    int rc = 0;
    use(cb);
    const float *w = f32_of(cb, wt, &rc);
    if (rc) return fail(cb, rc);
    if (wt && wt->type != QT_F32) return LATTE_E_UNSUPPORTED;
    CHECK(cuda_rms_norm(cb->st, x, ldx, w, n, d, eps, y, ldy, &cb->err));
    return 0;
}

static int cu_rope(backend *b, float *x, int n_tok, int n_head, int64_t ld_tok, int64_t ld_head, const int32_t *pos,
                   const rope_table *rt) {
    cuda_backend *cb = CB(b);
    int rc = 0;
    use(cb);
    if (n_tok <= 0) return 0;
    const float *theta = device_copy(cb, rt->theta, sizeof(float) * (size_t)(rt->n_rot / 2), &rc);
    if (!theta) return fail(cb, rc ? rc : LATTE_E_ARG);
    const int32_t *d_pos = stage(cb, pos, sizeof(int32_t) * (size_t)n_tok, &rc);
    if (!d_pos) return rc;
    CHECK(cuda_rope(cb->st, x, n_tok, n_head, ld_tok, ld_head, d_pos, rt->n_rot, rt->neox, rt->mscale, theta, &cb->err));
    return 0;
}

static int cu_add(backend *b, const float *a, const float *bb, float *y, int64_t n) {
    cuda_backend *cb = CB(b);
    use(cb);
    CHECK(cuda_add(cb->st, a, bb, y, n, &cb->err));
    return 0;
}

static int cu_add_bias(backend *b, float *x, const lt_tensor *bias, int n, int d) {
    cuda_backend *cb = CB(b);
    int rc = 0;
    use(cb);
    const float *bv = f32_of(cb, bias, &rc);
    if (!bv) return fail(cb, rc ? rc : LATTE_E_ARG);
    CHECK(cuda_add_bias(cb->st, x, bv, n, d, &cb->err));
    return 0;
}

static int cu_silu_mul(backend *b, const float *g, const float *u, float *y, int64_t n) {
    cuda_backend *cb = CB(b);
    use(cb);
    CHECK(cuda_silu_mul(cb->st, g, u, y, n, &cb->err));
    return 0;
}

static int cu_route(backend *b, const route_params *rp, const float *logits, const lt_tensor *bias, int n, int32_t *ids,
                    float *weights) {
    cuda_backend *cb = CB(b);
    int rc = 0;
    use(cb);
    const float *bv = f32_of(cb, bias, &rc);
    if (rc) return fail(cb, rc);
    cuda_route_params p = {.n_expert = rp->n_expert, .n_used = rp->n_used, .n_group = rp->n_group,
                           .n_group_used = rp->n_group_used, .sigmoid = rp->sigmoid, .norm = rp->weights_norm,
                           .scale = rp->weights_scale, .ser_kmin = rp->ser_kmin, .ser_thresh = rp->ser_thresh};
    if (n <= 0) return 0;
    CHECK(cuda_route(cb->st, &p, logits, bv, n, ids, weights, &cb->err));
    return 0;
}

static int cu_moe_combine(backend *b, const float *d, const int32_t *ids, const float *weights, int n, int n_used,
                          int dim, float *out, bool accumulate) {
    cuda_backend *cb = CB(b);
    use(cb);
    CHECK(cuda_moe_combine(cb->st, d, ids, weights, n, n_used, dim, out, accumulate, &cb->err));
    return 0;
}

static int cu_cache_write(backend *b, void *dst, uint32_t t, int64_t ld, bool transposed, const int64_t *rows,
                          const float *src, int n, int d) {
    cuda_backend *cb = CB(b);
    int rc = 0;
    use(cb);
    if (n <= 0) return 0;
    const int64_t *d_rows = stage(cb, rows, sizeof(int64_t) * (size_t)n, &rc);
    if (!d_rows) return rc;
    CHECK(cuda_cache_write(cb->st, dst, t, ld, transposed, d_rows, src, n, d, &cb->err));
    return 0;
}

/* the graph's runs as the kernels take them: one "sequence" per run whose rows start at kv0
 * (n_ctx_seq 1, seq = kv0); *n_tok: rows of the batch; *max_tok, *max_kv: grid bounds */
static const cuda_run *runs_of(cuda_backend *cb, const attn_run *r, int n_runs, int *n_tok, int *max_tok, int *max_kv,
                               int *rc) {
    if ((size_t)n_runs > cb->runs_n) {
        cuda_run *nr = realloc(cb->runs, sizeof *nr * (size_t)n_runs);
        if (!nr) {
            *rc = LATTE_E_NOMEM;
            return NULL;
        }
        cb->runs = nr;
        cb->runs_n = (size_t)n_runs;
    }
    *n_tok = *max_tok = *max_kv = 0;
    for (int i = 0; i < n_runs; i++) {
        if (r[i].kv0 < 0 || r[i].kv0 > INT32_MAX) {
            *rc = LATTE_E_ARG;
            return NULL;
        }
        cb->runs[i] = (cuda_run){.tok0 = r[i].tok0, .n_tok = r[i].n_tok, .seq = (int32_t)r[i].kv0, .pos0 = r[i].pos0};
        if (r[i].tok0 + r[i].n_tok > *n_tok) *n_tok = r[i].tok0 + r[i].n_tok;
        if (r[i].n_tok > *max_tok) *max_tok = r[i].n_tok;
        if (r[i].pos0 + r[i].n_tok > *max_kv) *max_kv = r[i].pos0 + r[i].n_tok;
    }
    return stage(cb, cb->runs, sizeof(cuda_run) * (size_t)n_runs, rc);
}

static int cu_attn_std(backend *b, const attn_std_args *a) {
    cuda_backend *cb = CB(b);
    int rc = 0, n_tok, max_tok, max_kv;
    use(cb);
    if (a->n_runs <= 0) return 0;
    const cuda_run *runs = runs_of(cb, a->runs, a->n_runs, &n_tok, &max_tok, &max_kv, &rc);
    if (!runs) return fail(cb, rc ? rc : LATTE_E_ARG);
    cuda_attn_args c = {.n_tok = n_tok, .n_head = a->n_head, .n_head_kv = a->n_head_kv, .d_k = a->d_k, .d_v = a->d_v,
                        .scale = a->scale, .q = a->q, .k_cache = a->k_cache, .v_cache = a->v_cache,
                        .k_type = a->k_type, .v_type = a->v_type, .n_ctx_seq = 1, .runs = runs, .n_runs = a->n_runs,
                        .out = a->out};
    CHECK(cuda_attn(cb->st, &c, &cb->err));
    return 0;
}

/* Every latent mode reads the [c | k_pe] rows (the transposed copy of mode 1 is kept, not
 * read): mode 3 runs the FlashMLA-style tensor-core kernel where the device and cache type
 * allow it, modes 1 and 2 the f32 kernel, so both are exercised. */
static int cu_attn_latent(backend *b, const attn_latent_args *a) {
    cuda_backend *cb = CB(b);
    int rc = 0, n_tok, max_tok, max_kv;
    use(cb);
    if (a->n_runs <= 0) return 0;
    const cuda_run *runs = runs_of(cb, a->runs, a->n_runs, &n_tok, &max_tok, &max_kv, &rc);
    if (!runs) return fail(cb, rc ? rc : LATTE_E_ARG);
    cuda_mla_args c = {.n_tok = n_tok, .n_head = a->n_head, .r = a->r, .d_rope = a->d_rope, .scale = a->scale,
                       .q_lat = a->q_lat, .q_pe = a->q_pe, .kv_cache = a->kv_cache, .kv_type = a->kv_type,
                       .n_ctx_seq = 1, .runs = runs, .n_runs = a->n_runs, .max_run_tok = max_tok,
                       .max_kv_len = max_kv, .out = a->out, .f32_math = a->mode != 3};
    size_t wsb = cuda_mla_workspace_bytes(&c);
    if (wsb && !grow_dev(cb, &cb->ws, &cb->ws_bytes, wsb, &rc)) return rc;
    CHECK(cuda_mla_attn(cb->st, &c, cb->ws, cb->ws_bytes, &cb->err));
    return 0;
}

static void cu_free(backend *b);

static const backend_ops CUDA_OPS = {
    .name = "CUDA",
    .free = cu_free,
    .supports = cu_supports,
    .buf_alloc = cu_buf_alloc,
    .buf_free = cu_buf_free,
    .host_alloc = cu_host_alloc,
    .host_free = cu_host_free,
    .copy_in = cu_copy_in,
    .copy_out = cu_copy_out,
    .copy_2d = cu_copy_2d,
    .event_new = cu_event_new,
    .event_free = cu_event_free,
    .event_record = cu_event_record,
    .event_wait = cu_event_wait,
    .event_sync = cu_event_sync,
    .sync = cu_sync,
    .weight_load = cu_weight_load,
    .matmul = cu_matmul,
    .matmul_heads = cu_matmul_heads,
    .matmul_experts = cu_matmul_experts,
    .get_rows = cu_get_rows,
    .rms_norm = cu_rms_norm,
    .rope = cu_rope,
    .add = cu_add,
    .add_bias = cu_add_bias,
    .silu_mul = cu_silu_mul,
    .route = cu_route,
    .moe_combine = cu_moe_combine,
    .cache_write = cu_cache_write,
    .attn_std = cu_attn_std,
    .attn_latent = cu_attn_latent,
};

/* ---- devices ---- */

int backend_cuda_devices(void) { return cuda_ops_device_count(); }

int backend_cuda_probe(int dev, uint64_t *free_bytes, char *desc, size_t desc_len, latte_err *err) {
    cuda_device_info info;
    int rc = cuda_ops_init(dev, &info, err);
    if (desc) snprintf(desc, desc_len, "%s, compute capability %d.%d", info.name, info.cc_major, info.cc_minor);
    if (rc) return rc;
    size_t fr = 0, total = 0;
    cudaError_t e = cudaMemGetInfo(&fr, &total);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return err_set(err, LATTE_E_UNSUPPORTED, "CUDA%d: %s", dev, cudaGetErrorString(e));
    }
    *free_bytes = fr;
    return 0;
}

int backend_cuda_init(backend **out, int dev, latte_err *err) {
    *out = NULL;
    cuda_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return err_set(err, LATTE_E_NOMEM, "out of memory creating the CUDA backend");
    cb->dev = dev;
    snprintf(cb->name, sizeof cb->name, "CUDA%d", dev);
    cb->base.ops = &CUDA_OPS;
    cb->base.impl = cb;
    int rc = cuda_ops_init(dev, &cb->info, err);
    if (rc) {
        free(cb);
        return rc;
    }
    cudaSetDevice(dev);
    if (cudaStreamCreateWithFlags(&cb->st, cudaStreamNonBlocking) != cudaSuccess) {
        cudaGetLastError();
        free(cb);
        return err_set(err, LATTE_E_UNSUPPORTED, "CUDA%d: cannot create a stream", dev);
    }
    *out = &cb->base;
    return 0;
}

uint64_t backend_cuda_weight_bytes(const backend *b) { return ((const cuda_backend *)b)->weight_bytes; }

static void cu_free(backend *b) {
    cuda_backend *cb = CB(b);
    use(cb);
    cudaStreamSynchronize(cb->st);
    for (size_t i = 0; i < cb->map_cap; i++)
        if (cb->map[i].host) cudaFree(cb->map[i].dev);
    free(cb->map);
    if (cb->h_ring) cudaFreeHost(cb->h_ring);
    if (cb->d_ring) cudaFree(cb->d_ring);
    if (cb->ws) cudaFree(cb->ws);
    if (cb->xpad) cudaFree(cb->xpad);
    free(cb->head_ids);
    free(cb->runs);
    cudaStreamDestroy(cb->st);
    cudaGetLastError();
    free(cb);
}
