/* rope.cu: rotary embedding in place over n_tok x n_head vectors, each token at its own
 * position (pos[], so one launch serves a batch of several sequences). The angle table theta
 * is the one graph/rope.c builds (plain, linear, YaRN, Llama-3); this file only rotates. */
#include "common.cuh"

/* one thread per (token, head, pair) */
__global__ void rope_kernel(float *x, int n_tok, int n_head, int64_t ld_tok, int64_t ld_head, const int32_t *pos,
                            int half, bool neox, float mscale, const float *theta) {
    int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (int64_t)n_tok * n_head * half) return;
    int p = (int)(idx % half);
    int64_t th = idx / half;
    int h = (int)(th % n_head), i = (int)(th / n_head);
    float ang = (float)pos[i] * theta[p], sn, cs;
    sincosf(ang, &sn, &cs);
    cs *= mscale;
    sn *= mscale;
    float *v = x + i * ld_tok + h * ld_head;
    int i0 = neox ? p : 2 * p, i1 = neox ? p + half : 2 * p + 1;
    float a = v[i0], b = v[i1];
    v[i0] = a * cs - b * sn;
    v[i1] = a * sn + b * cs;
}

extern "C" int cuda_rope(cuda_stream s, float *x, int n_tok, int n_head, int64_t ld_tok, int64_t ld_head,
                         const int32_t *pos, int n_rot, bool neox, float mscale, const float *theta, latte_err *err) {
    if (n_tok < 0 || n_head < 0 || n_rot < 0 || n_rot % 2)
        return err_set(err, LATTE_E_ARG, "cuda rope: n_tok %d, n_head %d, n_rot %d", n_tok, n_head, n_rot);
    int64_t total = (int64_t)n_tok * n_head * (n_rot / 2);
    if (total == 0) return 0;
    rope_kernel<<<(unsigned)((total + 255) / 256), 256, 0, CUDA_STREAM(s)>>>(x, n_tok, n_head, ld_tok, ld_head, pos,
                                                                             n_rot / 2, neox, mscale, theta);
    return cuda_check_launch(err, "rope");
}
