/* mla.cuh: what the two latent-attention kernels share: the launch parameters and the split
 * rule. mla.cu holds the f32 SIMT kernel (every cache type, any r <= 512) and the entry point;
 * mla_mma.cu the tensor-core kernel for f16 / bf16 / q8_0 caches with r = 512. */
#ifndef LATTE_CUDA_MLA_CUH
#define LATTE_CUDA_MLA_CUH

#include "common.cuh"

enum { MLA_MIN_SPLIT_ROWS = 128 };

struct mla_params {
    const float *q_lat, *q_pe;
    const uint8_t *cache;
    size_t row_bytes;
    int n_head, r, d_rope, n_ctx_seq, n_split, chunk;
    float scale;
    const cuda_run *runs;
    float *out;            /* n_split == 1 */
    float *ws_o, *ws_ml;   /* n_split > 1: [n_split][n_tok*n_head][r], [n_split][n_tok*n_head][2] */
    int n_q;               /* n_tok * n_head */
};

/* true when the tensor-core kernel runs this cache type, shape and device */
bool mla_mma_supported(uint32_t kv_type, int r, int d_rope, const cuda_device_info *d);
/* its launch: grid.x query groups of 16 rows, grid.y splits, grid.z runs */
void mla_mma_launch(uint32_t kv_type, const mla_params &p, dim3 grid, cudaStream_t st);
/* raises its shared memory limit (cuda_ops_init) */
bool mla_mma_prepare(const cuda_device_info *d);

#endif
