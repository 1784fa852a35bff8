/* mla_mma.cu: latent attention on the tensor cores (mma.sync m16n8k16, f16 or bf16 operands,
 * f32 accumulators), FlashMLA's shape on plain sm_80+ instructions. A block holds 16 query
 * rows ((token, head) pairs of one run) and streams the cache in tiles of 64 rows, each read
 * once into shared memory for all 16: S = Q K^T (each warp 8 cache rows over the 576 dims),
 * an online softmax over the tile in f32, then O += P c with O (16 x 512) in registers, each
 * warp 64 columns, rescaled in place (the mma accumulator layout is fixed by the ISA: c0,c1 at
 * row lane/4, c2,c3 at row lane/4 + 8). Queries and P are rounded to the cache's 16-bit type;
 * q8_0 rows are dequantized to f16 in the tile. Causal masking and splits as in mla.cu. */
#include "mla.cuh"

enum { MM_TILE = 64, MM_ROWS = 16, MM_THREADS = 256, MM_R = 512 };

/* shared layout in 16-bit words: Q [16][ldq], K [nb][64][ldk], P [16][ldp]; then f32 S [16][lds].
 * nb = 2 (f16 / bf16 where 175 KB fit, sm_90, and the grid is small): the next tile streams in
 * by cp.async while this one is computed */
struct mm_layout {
    int D, nb, ldq, ldk, ldp, lds;
    __host__ __device__ mm_layout(int D_, int nb_)
        : D(D_), nb(nb_), ldq(D_ + 8), ldk(D_ + 8), ldp(MM_TILE + 8), lds(MM_TILE + 4) {}
    __host__ __device__ size_t halves() const {
        return (size_t)MM_ROWS * ldq + (size_t)nb * MM_TILE * ldk + MM_ROWS * ldp;
    }
    __host__ __device__ size_t bytes() const { return halves() * 2 + sizeof(float) * (MM_ROWS * lds + 3 * MM_ROWS); }
};

template <bool BF> __device__ __forceinline__ unsigned short to16(float f) {
    if (BF) return __bfloat16_as_ushort(__float2bfloat16(f));
    return __half_as_ushort(__float2half(f));
}

template <bool BF>
__device__ __forceinline__ void mma16816(float *c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
    if (BF)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t ld32(const unsigned short *p) { return *(const uint32_t *)p; }
__device__ __forceinline__ uint32_t pack(unsigned short lo, unsigned short hi) { return (uint32_t)lo | ((uint32_t)hi << 16); }

/* issues the cp.async copies of cache rows [t0, t0 + nv) into K (rows past nv: zeros) as one group */
__device__ __forceinline__ void mm_issue_tile(unsigned short *K, int ldk, const uint8_t *cache, size_t row_bytes,
                                              int64_t row0, int nv, int D) {
    const int n8 = D / 8;
    for (int q = threadIdx.x; q < MM_TILE * n8; q += MM_THREADS) {
        int t = q / n8, c = q % n8;
        const uint8_t *src = t < nv ? cache + (row0 + t) * row_bytes + 16 * c : cache;
        unsigned dst = (unsigned)__cvta_generic_to_shared(K + t * ldk + 8 * c);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(t < nv ? 16 : 0));
    }
    asm volatile("cp.async.commit_group;\n" ::);
}

template <int KT, int NB>
__global__ void __launch_bounds__(MM_THREADS) mla_mma_kernel(mla_params p) {
    constexpr bool BF = KT == QT_BF16;
    extern __shared__ float4 mm_smem4[];
    const mm_layout L(p.r + p.d_rope, NB);
    unsigned short *Qh = (unsigned short *)mm_smem4, *Kbase = Qh + MM_ROWS * L.ldq, *Ph = Kbase + NB * MM_TILE * L.ldk;
    float *Sf = (float *)(Ph + MM_ROWS * L.ldp), *alpha = Sf + MM_ROWS * L.lds, *mrow = alpha + MM_ROWS,
          *lrow = mrow + MM_ROWS;
    const int D = L.D, H = p.n_head, tid = threadIdx.x, warp = tid / 32, lane = tid & 31, g = lane / 4, tq = lane % 4;
    const cuda_run run = p.runs[blockIdx.z];
    const int qr0 = blockIdx.x * MM_ROWS, n_qrun = run.n_tok * H;
    if (qr0 >= n_qrun) return;
    int last_tok = (qr0 + MM_ROWS - 1 < n_qrun ? qr0 + MM_ROWS - 1 : n_qrun - 1) / H;
    int kv_lo = blockIdx.y * p.chunk, kv_hi = run.pos0 + last_tok + 1;
    if (kv_hi > kv_lo + p.chunk) kv_hi = kv_lo + p.chunk;
    const int64_t seq_row0 = (int64_t)run.seq * p.n_ctx_seq;

    { /* queries, rounded to 16 bits: every load issued before the first store (D <= 576) */
        constexpr int PER = MM_ROWS * 576 / 4 / MM_THREADS; /* 9 float4 per thread */
        const int d4n = D / 4;
        float4 qv[PER];
#pragma unroll
        for (int u = 0; u < PER; u++) {
            int q = tid + u * MM_THREADS, i = q / d4n, d4 = q % d4n, qr = qr0 + i;
            qv[u] = make_float4(0, 0, 0, 0);
            if (i < MM_ROWS && qr < n_qrun) {
                int64_t gq = (int64_t)(run.tok0 + qr / H) * H + qr % H;
                qv[u] = 4 * d4 < p.r ? __ldg((const float4 *)(p.q_lat + gq * p.r) + d4)
                                     : __ldg((const float4 *)(p.q_pe + gq * p.d_rope) + d4 - p.r / 4);
            }
        }
#pragma unroll
        for (int u = 0; u < PER; u++) {
            int q = tid + u * MM_THREADS, i = q / d4n, d4 = q % d4n;
            if (i < MM_ROWS) {
                unsigned short *o = Qh + i * L.ldq + 4 * d4;
                *(uint32_t *)o = pack(to16<BF>(qv[u].x), to16<BF>(qv[u].y));
                *(uint32_t *)(o + 2) = pack(to16<BF>(qv[u].z), to16<BF>(qv[u].w));
            }
        }
    }
    if (tid < MM_ROWS) mrow[tid] = -INFINITY, lrow[tid] = 0.0f;
    float acc[8][4];
#pragma unroll
    for (int j = 0; j < 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    /* the last visible cache position of this thread's two query rows g and g + 8 (-1: none) */
    int lim[2];
#pragma unroll
    for (int h = 0; h < 2; h++) lim[h] = qr0 + g + 8 * h < n_qrun ? run.pos0 + (qr0 + g + 8 * h) / H : -1;

    if (NB == 2 && kv_lo < kv_hi) /* the first tile, while the queries are converted */
        mm_issue_tile(Kbase, L.ldk, p.cache, p.row_bytes, seq_row0 + kv_lo,
                      kv_hi - kv_lo < MM_TILE ? kv_hi - kv_lo : MM_TILE, D);
    int it = 0;
    for (int t0 = kv_lo; t0 < kv_hi; t0 += MM_TILE, it++) {
        const int nv = kv_hi - t0 < MM_TILE ? kv_hi - t0 : MM_TILE;
        unsigned short *Kh = Kbase + (NB == 2 ? (it & 1) : 0) * MM_TILE * L.ldk;
        __syncthreads(); /* every reader of the buffer refilled below is done */
        if (KT == QT_Q8_0) { /* dequantize to f16: one thread per (row, block of 32) */
            const int nb = D / 32;
            for (int q = tid; q < MM_TILE * nb; q += MM_THREADS) {
                int t = q / nb, b = q % nb;
                unsigned short *o = Kh + t * L.ldk + b * 32;
                if (t < nv) {
                    float v[32];
                    deq32<QT_Q8_0>(p.cache + (seq_row0 + t0 + t) * p.row_bytes, b, v);
#pragma unroll
                    for (int i = 0; i < 32; i += 2) *(uint32_t *)(o + i) = pack(to16<false>(v[i]), to16<false>(v[i + 1]));
                } else {
#pragma unroll
                    for (int i = 0; i < 32; i += 2) *(uint32_t *)(o + i) = 0;
                }
            }
        } else if (NB == 2) { /* start the next tile into the other buffer, then wait for this one */
            int tn = t0 + MM_TILE;
            if (tn < kv_hi) {
                mm_issue_tile(Kbase + ((it + 1) & 1) * MM_TILE * L.ldk, L.ldk, p.cache, p.row_bytes, seq_row0 + tn,
                              kv_hi - tn < MM_TILE ? kv_hi - tn : MM_TILE, D);
                asm volatile("cp.async.wait_group 1;\n" ::);
            } else {
                asm volatile("cp.async.wait_group 0;\n" ::);
            }
        } else { /* f16 / bf16 rows copied as they are, 16 bytes at a time, all in flight at once */
            mm_issue_tile(Kh, L.ldk, p.cache, p.row_bytes, seq_row0 + t0, nv, D);
            asm volatile("cp.async.wait_group 0;\n" ::);
        }
        __syncthreads();
        { /* S = Q K^T: warp w takes cache rows 8w .. 8w+7 */
            float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            const unsigned short *kr = Kh + (8 * warp + g) * L.ldk;
            for (int k0 = 0; k0 < D; k0 += 16) {
                uint32_t a0 = ld32(Qh + g * L.ldq + k0 + 2 * tq), a1 = ld32(Qh + (g + 8) * L.ldq + k0 + 2 * tq);
                uint32_t a2 = ld32(Qh + g * L.ldq + k0 + 2 * tq + 8), a3 = ld32(Qh + (g + 8) * L.ldq + k0 + 2 * tq + 8);
                uint32_t b0 = ld32(kr + k0 + 2 * tq), b1 = ld32(kr + k0 + 2 * tq + 8);
                mma16816<BF>(c, a0, a1, a2, a3, b0, b1);
            }
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int row = g + 8 * (e / 2), col = 8 * warp + 2 * tq + (e & 1);
                bool ok = col < nv && t0 + col <= lim[e / 2];
                Sf[row * L.lds + col] = ok ? c[e] * p.scale : -INFINITY;
            }
        }
        __syncthreads();
        /* online softmax: warp w rows 2w, 2w+1; lanes over the 64 columns */
        for (int i = 2 * warp; i < 2 * warp + 2; i++) {
            float s0 = Sf[i * L.lds + lane], s1 = Sf[i * L.lds + lane + 32], mt = fmaxf(s0, s1);
            for (int o = 16; o > 0; o >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, o));
            float mo = mrow[i], mn = fmaxf(mo, mt);
            float p0 = mn == -INFINITY ? 0.0f : expf(s0 - mn), p1 = mn == -INFINITY ? 0.0f : expf(s1 - mn);
            float sum = p0 + p1;
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            Ph[i * L.ldp + lane] = to16<BF>(p0);
            Ph[i * L.ldp + lane + 32] = to16<BF>(p1);
            if (lane == 0) {
                float a = mo == -INFINITY ? 0.0f : expf(mo - mn);
                alpha[i] = a;
                lrow[i] = lrow[i] * a + sum;
                mrow[i] = mn;
            }
        }
        __syncthreads();
        /* O = diag(alpha) O + P c: warp w owns columns 64w .. 64w+63 */
        const float al0 = alpha[g], al1 = alpha[g + 8];
#pragma unroll
        for (int j = 0; j < 8; j++) acc[j][0] *= al0, acc[j][1] *= al0, acc[j][2] *= al1, acc[j][3] *= al1;
#pragma unroll
        for (int ks = 0; ks < MM_TILE / 16; ks++) {
            const int k0 = 16 * ks;
            uint32_t a0 = ld32(Ph + g * L.ldp + k0 + 2 * tq), a1 = ld32(Ph + (g + 8) * L.ldp + k0 + 2 * tq);
            uint32_t a2 = ld32(Ph + g * L.ldp + k0 + 2 * tq + 8), a3 = ld32(Ph + (g + 8) * L.ldp + k0 + 2 * tq + 8);
            const unsigned short *v0 = Kh + (k0 + 2 * tq) * L.ldk, *v1 = v0 + L.ldk, *v8 = v0 + 8 * L.ldk,
                                 *v9 = v8 + L.ldk;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                int col = 64 * warp + 8 * j + g;
                mma16816<BF>(acc[j], a0, a1, a2, a3, pack(v0[col], v1[col]), pack(v8[col], v9[col]));
            }
        }
    }
    __syncthreads();
#pragma unroll
    for (int h = 0; h < 2; h++) {
        int i = g + 8 * h, qr = qr0 + i;
        if (qr >= n_qrun) continue;
        int64_t gq = (int64_t)(run.tok0 + qr / H) * H + qr % H;
        float l = lrow[i];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int col = 64 * warp + 8 * j + 2 * tq;
            float o0 = acc[j][2 * h], o1 = acc[j][2 * h + 1];
            if (p.n_split == 1) {
                p.out[gq * p.r + col] = l > 0.0f ? o0 / l : 0.0f;
                p.out[gq * p.r + col + 1] = l > 0.0f ? o1 / l : 0.0f;
            } else {
                float *w = p.ws_o + ((int64_t)blockIdx.y * p.n_q + gq) * p.r + col;
                w[0] = o0, w[1] = o1;
            }
        }
        if (p.n_split > 1 && warp == 0 && tq == 0) {
            p.ws_ml[((int64_t)blockIdx.y * p.n_q + gq) * 2] = mrow[i];
            p.ws_ml[((int64_t)blockIdx.y * p.n_q + gq) * 2 + 1] = l;
        }
    }
}

bool mla_mma_supported(uint32_t kv_type, int r, int d_rope, const cuda_device_info *d) {
    return (kv_type == QT_F16 || kv_type == QT_BF16 || kv_type == QT_Q8_0) && r == MM_R && d_rope % 32 == 0 &&
           d_rope <= 64 && d && mm_layout(r + d_rope, 1).bytes() <= d->smem_optin;
}

void mla_mma_launch(uint32_t kv_type, const mla_params &p, dim3 grid, cudaStream_t st) {
    const cuda_device_info *d = cuda_dev_current();
    const int D = p.r + p.d_rope;
    size_t s1 = mm_layout(D, 1).bytes(), s2 = mm_layout(D, 2).bytes();
    /* two buffers hold one block per SM: they pay while the grid is at most one block per SM
     * (H200, 16 heads: 40.3 -> 37.5 us at depth 16384) and cost where two blocks per SM would
     * overlap instead (128 heads: 76 -> 98 us) */
    bool two = d && s2 <= d->smem_optin && (int64_t)grid.x * grid.y * grid.z <= d->n_sm;
    if (kv_type == QT_F16) {
        if (two) mla_mma_kernel<QT_F16, 2><<<grid, MM_THREADS, s2, st>>>(p);
        else mla_mma_kernel<QT_F16, 1><<<grid, MM_THREADS, s1, st>>>(p);
    } else if (kv_type == QT_BF16) {
        if (two) mla_mma_kernel<QT_BF16, 2><<<grid, MM_THREADS, s2, st>>>(p);
        else mla_mma_kernel<QT_BF16, 1><<<grid, MM_THREADS, s1, st>>>(p);
    } else {
        mla_mma_kernel<QT_Q8_0, 1><<<grid, MM_THREADS, s1, st>>>(p);
    }
}

bool mla_mma_prepare(const cuda_device_info *d) {
    const int D = MM_R + 64, s1 = (int)mm_layout(D, 1).bytes(), s2 = (int)mm_layout(D, 2).bytes();
    const cudaFuncAttribute A = cudaFuncAttributeMaxDynamicSharedMemorySize;
    if ((size_t)s1 > d->smem_optin) return true; /* not used on this device */
    bool ok = cudaFuncSetAttribute(mla_mma_kernel<QT_F16, 1>, A, s1) == cudaSuccess &&
              cudaFuncSetAttribute(mla_mma_kernel<QT_BF16, 1>, A, s1) == cudaSuccess &&
              cudaFuncSetAttribute(mla_mma_kernel<QT_Q8_0, 1>, A, s1) == cudaSuccess;
    if ((size_t)s2 <= d->smem_optin)
        ok = ok && cudaFuncSetAttribute(mla_mma_kernel<QT_F16, 2>, A, s2) == cudaSuccess &&
             cudaFuncSetAttribute(mla_mma_kernel<QT_BF16, 2>, A, s2) == cudaSuccess;
    return ok;
}
