/* mla.cu: latent (MLA) attention, FlashMLA-style: the entry point, the split plan and the f32
 * SIMT kernel (f16 / bf16 / q8_0 caches with r = 512 run mla_mma.cu's tensor-core kernel
 * unless f32_math asks for this one). All heads share one key row [c | k_pe] and
 * the value c, so a block takes HG query rows (a run's (token, head) pairs, several tokens of
 * one sequence side by side) and streams the cache in tiles of 32 rows: each tile is read once
 * into shared memory for all of them, scores and an online softmax per row, then P.c into
 * accumulators held in registers. Causal per token: rows past a token's position are masked
 * and never read past the run's last position. Long contexts split the sequence over blocks
 * (grid.y) and a combine pass merges the partial (max, sum, O). The same kernel serves prefill
 * (many tokens per run: more query-row groups). f32 arithmetic throughout. */
#include "mla.cuh"

enum { MLA_TILE = 32, MLA_THREADS = 256, MLA_MAX_R = 512 };

/* dequantize rows [row0, row0+nv) of the cache into Ks ([MLA_TILE][ld] floats); rows past nv -> 0 */
template <int KT>
__device__ void mla_load_tile(float *Ks, int ld, const uint8_t *cache, size_t row_bytes, int64_t row0, int nv, int D) {
    if (KT == QT_Q8_0) {
        int nb = D / 32;
        for (int q = threadIdx.x; q < MLA_TILE * nb; q += blockDim.x) {
            int t = q / nb, b = q % nb;
            float v[32];
            if (t < nv) deq32<QT_Q8_0>(cache + (row0 + t) * row_bytes, b, v);
            else
#pragma unroll
                for (int i = 0; i < 32; i++) v[i] = 0.0f;
#pragma unroll
            for (int i = 0; i < 32; i += 4) *(float4 *)&Ks[t * ld + b * 32 + i] = make_float4(v[i], v[i + 1], v[i + 2], v[i + 3]);
        }
    } else if (KT == QT_F32) {
        int n4 = D / 4;
        for (int q = threadIdx.x; q < MLA_TILE * n4; q += blockDim.x) {
            int t = q / n4, c = q % n4;
            float4 v = t < nv ? __ldg((const float4 *)(cache + (row0 + t) * row_bytes) + c) : make_float4(0, 0, 0, 0);
            *(float4 *)&Ks[t * ld + 4 * c] = v;
        }
    } else { /* f16 / bf16: 8 elements per 16-byte load */
        int n8 = D / 8;
        for (int q = threadIdx.x; q < MLA_TILE * n8; q += blockDim.x) {
            int t = q / n8, c = q % n8;
            uint4 u = t < nv ? __ldg((const uint4 *)(cache + (row0 + t) * row_bytes) + c) : make_uint4(0, 0, 0, 0);
            uint32_t wd[4] = {u.x, u.y, u.z, u.w};
            float o[8];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                unsigned short lo = (unsigned short)(wd[i] & 0xffff), hi = (unsigned short)(wd[i] >> 16);
                o[2 * i] = KT == QT_F16 ? __half2float(__ushort_as_half(lo)) : __uint_as_float((uint32_t)lo << 16);
                o[2 * i + 1] = KT == QT_F16 ? __half2float(__ushort_as_half(hi)) : __uint_as_float((uint32_t)hi << 16);
            }
            *(float4 *)&Ks[t * ld + 8 * c] = make_float4(o[0], o[1], o[2], o[3]);
            *(float4 *)&Ks[t * ld + 8 * c + 4] = make_float4(o[4], o[5], o[6], o[7]);
        }
    }
}

template <int KT, int HG>
__global__ void __launch_bounds__(MLA_THREADS) mla_kernel(mla_params p) {
    extern __shared__ float4 smem4[];
    float *smem = (float *)smem4;
    const int D = p.r + p.d_rope, ld = D + 4, H = p.n_head;
    float *Qs = smem, *Ks = Qs + HG * ld, *S = Ks + MLA_TILE * ld; /* S: [MLA_TILE][HG] */
    float *alpha = S + MLA_TILE * HG, *mrow = alpha + HG, *lrow = mrow + HG;
    const cuda_run run = p.runs[blockIdx.z];
    const int qr0 = blockIdx.x * HG, n_qrun = run.n_tok * H;
    if (qr0 >= n_qrun) return;
    const int tid = threadIdx.x;
    /* kv rows this block may see: up to the last token's position, within this split */
    int last_tok = (qr0 + HG - 1 < n_qrun ? qr0 + HG - 1 : n_qrun - 1) / H;
    int kv_lo = blockIdx.y * p.chunk, kv_hi = run.pos0 + last_tok + 1;
    if (kv_hi > kv_lo + p.chunk) kv_hi = kv_lo + p.chunk;
    const int64_t seq_row0 = (int64_t)run.seq * p.n_ctx_seq;

    for (int i = tid / 32; i < HG; i += MLA_THREADS / 32) { /* query rows [q_lat | q_pe], a warp per row */
        int qr = qr0 + i;
        int64_t gq = (int64_t)(run.tok0 + qr / H) * H + qr % H;
        for (int d4 = tid % 32; d4 < D / 4; d4 += 32) {
            float4 v = make_float4(0, 0, 0, 0);
            if (qr < n_qrun)
                v = 4 * d4 < p.r ? __ldg((const float4 *)(p.q_lat + gq * p.r) + d4)
                                 : __ldg((const float4 *)(p.q_pe + gq * p.d_rope) + d4 - p.r / 4);
            *(float4 *)&Qs[i * ld + 4 * d4] = v;
        }
    }
    if (tid < HG) mrow[tid] = -INFINITY, lrow[tid] = 0.0f;
    float acc[HG][2];
#pragma unroll
    for (int h = 0; h < HG; h++) acc[h][0] = acc[h][1] = 0.0f;

    /* score mapping: row t = tid / 8, HG/4 query rows from hq, half of the float4 chunks */
    const int st = tid / 8, hq = (tid / 2) % 4, dh = tid % 2;
    constexpr int HPT = HG / 4;
    for (int t0 = kv_lo; t0 < kv_hi; t0 += MLA_TILE) {
        int nv = kv_hi - t0 < MLA_TILE ? kv_hi - t0 : MLA_TILE;
        __syncthreads(); /* the previous tile's readers are done */
        mla_load_tile<KT>(Ks, ld, p.cache, p.row_bytes, seq_row0 + t0, nv, D);
        __syncthreads();
        float sc[HPT];
#pragma unroll
        for (int j = 0; j < HPT; j++) sc[j] = 0.0f;
        const float *kr = Ks + st * ld;
        for (int c = dh; c < D / 4; c += 2) {
            float4 k = *(const float4 *)(kr + 4 * c);
#pragma unroll
            for (int j = 0; j < HPT; j++) {
                float4 q = *(const float4 *)(Qs + (hq * HPT + j) * ld + 4 * c);
                sc[j] += q.x * k.x + q.y * k.y + q.z * k.z + q.w * k.w;
            }
        }
#pragma unroll
        for (int j = 0; j < HPT; j++) {
            sc[j] += __shfl_xor_sync(0xffffffffu, sc[j], 1);
            int i = hq * HPT + j, qr = qr0 + i;
            int lim = qr < n_qrun ? run.pos0 + qr / H : -1; /* last visible position */
            if (dh == 0) S[st * HG + i] = (st < nv && t0 + st <= lim) ? sc[j] * p.scale : -INFINITY;
        }
        __syncthreads();
        /* online softmax: one warp per query row, lane = tile row */
        for (int i = tid / 32; i < HG; i += MLA_THREADS / 32) {
            int lane = tid & 31;
            float s = S[lane * HG + i], mt = s;
            for (int o = 16; o > 0; o >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, o));
            float mo = mrow[i], mn = fmaxf(mo, mt);
            float pr = mn == -INFINITY ? 0.0f : expf(s - mn);
            float sum = pr;
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            S[lane * HG + i] = pr;
            __syncwarp();
            if (lane == 0) {
                float a = mo == -INFINITY ? 0.0f : expf(mo - mn);
                alpha[i] = a;
                lrow[i] = lrow[i] * a + sum;
                mrow[i] = mn;
            }
        }
        __syncthreads();
        /* O = O * alpha + P . c ; this thread's columns tid and tid + 256 */
#pragma unroll
        for (int h = 0; h < HG; h++) {
            acc[h][0] *= alpha[h];
            acc[h][1] *= alpha[h];
        }
        for (int t = 0; t < nv; t++) {
            const float *kr2 = Ks + t * ld;
            float c0 = tid < p.r ? kr2[tid] : 0.0f, c1 = tid + MLA_THREADS < p.r ? kr2[tid + MLA_THREADS] : 0.0f;
#pragma unroll
            for (int h4 = 0; h4 < HG; h4 += 4) {
                float4 pv = *(const float4 *)(S + t * HG + h4);
                acc[h4][0] += pv.x * c0, acc[h4][1] += pv.x * c1;
                acc[h4 + 1][0] += pv.y * c0, acc[h4 + 1][1] += pv.y * c1;
                acc[h4 + 2][0] += pv.z * c0, acc[h4 + 2][1] += pv.z * c1;
                acc[h4 + 3][0] += pv.w * c0, acc[h4 + 3][1] += pv.w * c1;
            }
        }
    }
    __syncthreads();
    /* write out: normalised when one split, else partials for the combine */
#pragma unroll
    for (int i = 0; i < HG; i++) {
        int qr = qr0 + i;
        if (qr >= n_qrun) break;
        int64_t gq = (int64_t)(run.tok0 + qr / H) * H + qr % H;
        float m = mrow[i], l = lrow[i];
#pragma unroll
        for (int j = 0; j < 2; j++) {
            int c = tid + j * MLA_THREADS;
            if (c >= p.r) continue;
            if (p.n_split == 1) p.out[gq * p.r + c] = l > 0.0f ? acc[i][j] / l : 0.0f;
            else p.ws_o[((int64_t)blockIdx.y * p.n_q + gq) * p.r + c] = acc[i][j];
        }
        if (p.n_split > 1 && tid == 0) {
            p.ws_ml[((int64_t)blockIdx.y * p.n_q + gq) * 2] = m;
            p.ws_ml[((int64_t)blockIdx.y * p.n_q + gq) * 2 + 1] = l;
        }
    }
}

/* merge the splits' partial softmax results: block (query row, 128 columns); the split weights
 * exp(m_s - M) go to shared memory once, then each thread sums its column over the splits */
__device__ float block_reduce(float v, bool is_max, float *red) {
    for (int o = 16; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? fmaxf(v, u) : v + u;
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    v = red[0];
    for (int w = 1; w < (int)blockDim.x / 32; w++) v = is_max ? fmaxf(v, red[w]) : v + red[w];
    return v;
}

__global__ void mla_combine_kernel(const float *ws_o, const float *ws_ml, int n_split, int n_q, int r, float *out) {
    extern __shared__ float wsplit[]; /* [n_split] */
    __shared__ float red[32];
    const int64_t gq = blockIdx.x;
    float M = -INFINITY;
    for (int s = threadIdx.x; s < n_split; s += blockDim.x) M = fmaxf(M, ws_ml[((int64_t)s * n_q + gq) * 2]);
    M = block_reduce(M, true, red);
    float L = 0.0f;
    for (int s = threadIdx.x; s < n_split; s += blockDim.x) {
        float m = ws_ml[((int64_t)s * n_q + gq) * 2], w = m == -INFINITY ? 0.0f : expf(m - M);
        wsplit[s] = w;
        L += w * ws_ml[((int64_t)s * n_q + gq) * 2 + 1];
    }
    L = block_reduce(L, false, red); /* its barriers also publish wsplit */
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= r) return;
    float o = 0.0f;
    for (int s = 0; s < n_split; s++)
        if (wsplit[s] != 0.0f) o += wsplit[s] * ws_o[((int64_t)s * n_q + gq) * r + c];
    out[gq * r + c] = L > 0.0f ? o / L : 0.0f;
}

/* query rows per block: 16 where a block may hold the 16 query rows and a tile in f32 */
static int mla_hg(const cuda_device_info *d) { return d->smem_optin >= 120 * 1024 ? 16 : 8; }

static size_t mla_smem(int hg, int D) { return sizeof(float) * ((size_t)(hg + MLA_TILE) * (D + 4) + MLA_TILE * hg + 3 * hg); }

/* splits over the sequence: enough blocks for two waves, each split at least MLA_MIN_SPLIT_ROWS */
static void mla_plan(const cuda_mla_args *a, int *n_split, int *chunk, int *rows_per_block) {
    const cuda_device_info *d = cuda_dev_current();
    int n_sm = d ? d->n_sm : 1, hg = d ? mla_hg(d) : 8;
    if (!a->f32_math && mla_mma_supported(a->kv_type, a->r, a->d_rope, d)) hg = 16;
    *rows_per_block = hg;
    int64_t base = (int64_t)((a->max_run_tok * a->n_head + hg - 1) / hg) * a->n_runs;
    int64_t want = (2 * n_sm + base - 1) / base;
    int64_t most = (a->max_kv_len + MLA_MIN_SPLIT_ROWS - 1) / MLA_MIN_SPLIT_ROWS;
    int ns = (int)(want < most ? want : most);
    if (ns < 1) ns = 1;
    int ch = (a->max_kv_len + ns - 1) / ns;
    ch = (ch + MLA_TILE - 1) / MLA_TILE * MLA_TILE;
    *chunk = ch > 0 ? ch : MLA_TILE;
    *n_split = (a->max_kv_len + *chunk - 1) / *chunk;
    if (*n_split < 1) *n_split = 1;
}

extern "C" size_t cuda_mla_workspace_bytes(const cuda_mla_args *a) {
    int ns, ch, hg;
    mla_plan(a, &ns, &ch, &hg);
    if (ns == 1) return 0;
    return sizeof(float) * (size_t)ns * a->n_tok * a->n_head * (a->r + 2);
}

template <int KT, int HG> static void launch_mla(const mla_params &p, dim3 grid, size_t smem, cudaStream_t st) {
    mla_kernel<KT, HG><<<grid, MLA_THREADS, smem, st>>>(p);
}

/* the kernels' shared memory limit, raised once per device (cuda_ops_init): a per-launch
 * cudaFuncSetAttribute costs tens of microseconds */
template <int HG> static bool mla_prepare_hg(int D) {
    int n = (int)mla_smem(HG, D);
    return cudaFuncSetAttribute(mla_kernel<QT_F32, HG>, cudaFuncAttributeMaxDynamicSharedMemorySize, n) == cudaSuccess &&
           cudaFuncSetAttribute(mla_kernel<QT_F16, HG>, cudaFuncAttributeMaxDynamicSharedMemorySize, n) == cudaSuccess &&
           cudaFuncSetAttribute(mla_kernel<QT_BF16, HG>, cudaFuncAttributeMaxDynamicSharedMemorySize, n) == cudaSuccess &&
           cudaFuncSetAttribute(mla_kernel<QT_Q8_0, HG>, cudaFuncAttributeMaxDynamicSharedMemorySize, n) == cudaSuccess;
}

int cuda_mla_prepare(const cuda_device_info *d, latte_err *err) {
    int hg = mla_hg(d), D = MLA_MAX_R + 64;
    if (mla_smem(hg, D) > d->smem_optin)
        return err_set(err, LATTE_E_UNSUPPORTED, "cuda mla: needs %zu bytes of shared memory per block, the device has %zu",
                       mla_smem(hg, D), d->smem_optin);
    if (!(hg == 16 ? mla_prepare_hg<16>(D) : mla_prepare_hg<8>(D)) || !mla_mma_prepare(d))
        return err_set(err, LATTE_E_UNSUPPORTED, "cuda mla: %s", cudaGetErrorString(cudaGetLastError()));
    return 0;
}

extern "C" int cuda_mla_attn(cuda_stream s, const cuda_mla_args *a, void *ws, size_t ws_bytes, latte_err *err) {
    int D = a->r + a->d_rope;
    if (a->n_head <= 0 || a->r <= 0 || a->r > MLA_MAX_R || a->r % 32 || a->d_rope < 0 || a->d_rope % 32 ||
        a->n_runs < 0 || a->max_run_tok < 0 || a->max_kv_len < 0 || a->n_ctx_seq <= 0)
        return err_set(err, LATTE_E_ARG, "cuda mla: n_head %d, r %d (<= %d, multiple of 32), d_rope %d", a->n_head,
                       a->r, MLA_MAX_R, a->d_rope);
    size_t row_bytes;
    switch (a->kv_type) {
    case QT_F32: row_bytes = 4 * (size_t)D; break;
    case QT_F16: case QT_BF16: row_bytes = 2 * (size_t)D; break;
    case QT_Q8_0: row_bytes = (size_t)D / 32 * 34; break;
    default: return err_set(err, LATTE_E_UNSUPPORTED, "cuda mla: cache type %u has no CUDA kernel", a->kv_type);
    }
    if ((a->kv_type == QT_F16 || a->kv_type == QT_BF16 || a->kv_type == QT_F32) && ((uintptr_t)a->kv_cache % 16 || row_bytes % 16))
        return err_set(err, LATTE_E_ARG, "cuda mla: cache rows must be 16-byte aligned");
    if ((uintptr_t)a->q_lat % 16 || (uintptr_t)a->q_pe % 16)
        return err_set(err, LATTE_E_ARG, "cuda mla: q_lat and q_pe must be 16-byte aligned");
    if (a->n_runs == 0 || a->max_run_tok == 0 || a->n_tok == 0) return 0;
    int ns, ch, hg;
    mla_plan(a, &ns, &ch, &hg);
    size_t need = cuda_mla_workspace_bytes(a);
    if (ns > 1 && (!ws || ws_bytes < need))
        return err_set(err, LATTE_E_ARG, "cuda mla: needs %zu bytes of workspace, got %zu", need, ws_bytes);
    const cuda_device_info *dev = cuda_dev_current();
    if (!dev) return err_set(err, LATTE_E_ARG, "cuda mla: cuda_ops_init was not called for this device");
    bool mma = !a->f32_math && mla_mma_supported(a->kv_type, a->r, a->d_rope, dev);
    mla_params p;
    p.q_lat = a->q_lat;
    p.q_pe = a->q_pe;
    p.cache = (const uint8_t *)a->kv_cache;
    p.row_bytes = row_bytes;
    p.n_head = a->n_head;
    p.r = a->r;
    p.d_rope = a->d_rope;
    p.n_ctx_seq = a->n_ctx_seq;
    p.n_split = ns;
    p.chunk = ch;
    p.scale = a->scale;
    p.runs = a->runs;
    p.out = a->out;
    p.n_q = a->n_tok * a->n_head;
    p.ws_o = (float *)ws;
    p.ws_ml = ns > 1 ? p.ws_o + (size_t)ns * p.n_q * a->r : NULL;
    dim3 grid((unsigned)((a->max_run_tok * a->n_head + hg - 1) / hg), (unsigned)ns, (unsigned)a->n_runs);
    size_t smem = mla_smem(hg, D);
    cudaStream_t st = CUDA_STREAM(s);
    if (mma) mla_mma_launch(a->kv_type, p, grid, st);
    else switch (a->kv_type) {
    case QT_F32: hg == 16 ? launch_mla<QT_F32, 16>(p, grid, smem, st) : launch_mla<QT_F32, 8>(p, grid, smem, st); break;
    case QT_F16: hg == 16 ? launch_mla<QT_F16, 16>(p, grid, smem, st) : launch_mla<QT_F16, 8>(p, grid, smem, st); break;
    case QT_BF16: hg == 16 ? launch_mla<QT_BF16, 16>(p, grid, smem, st) : launch_mla<QT_BF16, 8>(p, grid, smem, st); break;
    default: hg == 16 ? launch_mla<QT_Q8_0, 16>(p, grid, smem, st) : launch_mla<QT_Q8_0, 8>(p, grid, smem, st); break;
    }
    if (ns > 1)
        mla_combine_kernel<<<dim3((unsigned)p.n_q, (unsigned)((a->r + 127) / 128)), 128, sizeof(float) * ns, st>>>(
            p.ws_o, p.ws_ml, ns, p.n_q, a->r, a->out);
    return cuda_check_launch(err, "mla");
}
