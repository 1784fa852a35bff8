/* attn.cu: standard (GQA) attention over per-head K/V caches of f32, f16, bf16 or q8_0, for a
 * batch of runs. One block per (run, token, head): the cache streams in tiles of 16 rows
 * through shared memory with an online softmax; rows past the token's position are masked and
 * never read. The plain path for models without MLA (and MLA mode 0); f32 arithmetic. */
#include "common.cuh"

enum { ATT_TILE = 16, ATT_THREADS = 128, ATT_MAX_D = 256 };

/* row (d elements) of a cache of type T at element offset off -> smem floats */
template <int T> __device__ void att_load_row(const uint8_t *base, int64_t off, int d, float *o, int lane) {
    if (T == QT_Q8_0) { /* off and d are multiples of 32: one lane per block of 32 */
        for (int b = lane; b < d / 32; b += 32) {
            float v[32];
            deq32<QT_Q8_0>(base, off / 32 + b, v);
#pragma unroll
            for (int i = 0; i < 32; i++) o[b * 32 + i] = v[i];
        }
    } else {
        for (int c = lane; c < d; c += 32) o[c] = deq1<T>(base, off + c);
    }
}

template <int KT, int VT>
__global__ void __launch_bounds__(ATT_THREADS) attn_kernel(cuda_attn_args a) {
    __shared__ float Qs[ATT_MAX_D], Ks[ATT_TILE][ATT_MAX_D + 1], Vs[ATT_TILE][ATT_MAX_D], S[32], st[2];
    const cuda_run run = a.runs[blockIdx.z];
    const int i = blockIdx.x, h = blockIdx.y;
    if (i >= run.n_tok) return;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid / 32;
    const int hk = h / (a.n_head / a.n_head_kv), pos = run.pos0 + i;
    const int64_t tok = run.tok0 + i, row0 = (int64_t)run.seq * a.n_ctx_seq;
    for (int c = tid; c < a.d_k; c += ATT_THREADS) Qs[c] = a.q[(tok * a.n_head + h) * a.d_k + c];
    float m = -INFINITY, l = 0.0f, acc[ATT_MAX_D / ATT_THREADS] = {0.0f, 0.0f};
    for (int t0 = 0; t0 <= pos; t0 += ATT_TILE) {
        int nv = pos + 1 - t0 < ATT_TILE ? pos + 1 - t0 : ATT_TILE;
        __syncthreads();
        for (int t = warp; t < nv; t += ATT_THREADS / 32) {
            int64_t r = row0 + t0 + t;
            att_load_row<KT>((const uint8_t *)a.k_cache, (r * a.n_head_kv + hk) * a.d_k, a.d_k, Ks[t], lane);
            att_load_row<VT>((const uint8_t *)a.v_cache, (r * a.n_head_kv + hk) * a.d_v, a.d_v, Vs[t], lane);
        }
        __syncthreads();
        for (int t = warp; t < 32; t += ATT_THREADS / 32) { /* S past the tile: -inf for warp 0's lanes */
            float s = 0.0f;
            if (t < nv)
                for (int c = lane; c < a.d_k; c += 32) s += Qs[c] * Ks[t][c];
            for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            if (lane == 0) S[t] = t < nv ? s * a.scale : -INFINITY;
        }
        __syncthreads();
        if (warp == 0) {
            float s = S[lane], mt = s;
            for (int o = 16; o > 0; o >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, o));
            float mn = fmaxf(m, mt), p = expf(s - mn), sum = p;
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            S[lane] = p;
            if (lane == 0) st[0] = m == -INFINITY ? 0.0f : expf(m - mn), st[1] = mn, l = l * st[0] + sum;
        }
        __syncthreads();
        float al = st[0];
        m = st[1];
#pragma unroll
        for (int j = 0; j < ATT_MAX_D / ATT_THREADS; j++) {
            int c = tid + j * ATT_THREADS;
            if (c >= a.d_v) continue;
            float o = acc[j] * al;
            for (int t = 0; t < nv; t++) o += S[t] * Vs[t][c];
            acc[j] = o;
        }
    }
    __syncthreads();
    if (tid == 0) st[0] = l;
    __syncthreads();
    float L = st[0];
#pragma unroll
    for (int j = 0; j < ATT_MAX_D / ATT_THREADS; j++) {
        int c = tid + j * ATT_THREADS;
        if (c < a.d_v) a.out[(tok * a.n_head + h) * a.d_v + c] = acc[j] / L;
    }
}

template <int KT> static void launch_attn_v(const cuda_attn_args &a, dim3 g, cudaStream_t st) {
    switch (a.v_type) {
    case QT_F32: attn_kernel<KT, QT_F32><<<g, ATT_THREADS, 0, st>>>(a); break;
    case QT_F16: attn_kernel<KT, QT_F16><<<g, ATT_THREADS, 0, st>>>(a); break;
    case QT_BF16: attn_kernel<KT, QT_BF16><<<g, ATT_THREADS, 0, st>>>(a); break;
    default: attn_kernel<KT, QT_Q8_0><<<g, ATT_THREADS, 0, st>>>(a); break;
    }
}

static bool attn_type_ok(uint32_t t) { return t == QT_F32 || t == QT_F16 || t == QT_BF16 || t == QT_Q8_0; }

extern "C" int cuda_attn(cuda_stream s, const cuda_attn_args *a, latte_err *err) {
    if (a->n_head <= 0 || a->n_head_kv <= 0 || a->n_head % a->n_head_kv || a->d_k <= 0 || a->d_k > ATT_MAX_D ||
        a->d_v <= 0 || a->d_v > ATT_MAX_D || a->d_k % 32 || a->d_v % 32 || a->n_runs < 0 || a->n_ctx_seq <= 0)
        return err_set(err, LATTE_E_ARG, "cuda attn: %d heads / %d kv heads, d_k %d, d_v %d (multiples of 32, <= %d)",
                       a->n_head, a->n_head_kv, a->d_k, a->d_v, ATT_MAX_D);
    if (!attn_type_ok(a->k_type) || !attn_type_ok(a->v_type))
        return err_set(err, LATTE_E_UNSUPPORTED, "cuda attn: cache types %u/%u have no CUDA kernel", a->k_type,
                       a->v_type);
    if (a->n_runs == 0 || a->n_tok == 0) return 0;
    /* max tokens of a run <= n_tok: blocks past a run's own count return at once */
    dim3 g((unsigned)a->n_tok, (unsigned)a->n_head, (unsigned)a->n_runs);
    cudaStream_t st = CUDA_STREAM(s);
    switch (a->k_type) {
    case QT_F32: launch_attn_v<QT_F32>(*a, g, st); break;
    case QT_F16: launch_attn_v<QT_F16>(*a, g, st); break;
    case QT_BF16: launch_attn_v<QT_BF16>(*a, g, st); break;
    default: launch_attn_v<QT_Q8_0>(*a, g, st); break;
    }
    return cuda_check_launch(err, "attn");
}
