/* route.cu: DeepSeek MoE routing on the device, the same function as graph_route in
 * src/graph/moe.c: softmax or sigmoid scores, selection by score + bias, group-limited top-k
 * (group score = sum of the two best biased scores with sigmoid + bias, else the best), top-k
 * with ties to the lower id, weights from the unbiased scores, SER, then normalised and scaled.
 * One block per token; sums run in the CPU's order (one thread) so weights match bit for bit
 * where expf does. */
#include "common.cuh"

enum { ROUTE_MAX_E = 1024, ROUTE_MAX_G = 64, ROUTE_THREADS = 256 };

/* block-wide argmax of sel over unused experts, ties to the lower id (-1 if E == 0) */
__device__ int route_argmax(const float *sel, const bool *used, int E, float *rv, int *ri) {
    float bv = -INFINITY;
    int bi = -1;
    for (int e = threadIdx.x; e < E; e += blockDim.x)
        if (!used[e] && (bi < 0 || sel[e] > bv)) bv = sel[e], bi = e;
    for (int o = 16; o > 0; o >>= 1) {
        float v = __shfl_xor_sync(0xffffffffu, bv, o);
        int i = __shfl_xor_sync(0xffffffffu, bi, o);
        if (i >= 0 && (bi < 0 || v > bv || (v == bv && i < bi))) bv = v, bi = i;
    }
    if ((threadIdx.x & 31) == 0) rv[threadIdx.x / 32] = bv, ri[threadIdx.x / 32] = bi;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int)blockDim.x / 32; w++) {
            float v = rv[w];
            int i = ri[w];
            if (i >= 0 && (ri[0] < 0 || v > rv[0] || (v == rv[0] && i < ri[0]))) rv[0] = v, ri[0] = i;
        }
    }
    __syncthreads();
    int best = ri[0];
    __syncthreads();
    return best;
}

__global__ void route_kernel(cuda_route_params p, const float *logits, const float *bias, int32_t *ids,
                             float *weights) {
    __shared__ float score[ROUTE_MAX_E], sel[ROUTE_MAX_E], gs[ROUTE_MAX_G], red[32], rv[32];
    __shared__ bool used[ROUTE_MAX_E], keep[ROUTE_MAX_G];
    __shared__ int ri[32];
    int E = p.n_expert, K = p.n_used, G = p.n_group, Gu = p.n_group_used, per_group = E / G;
    const float *l = logits + (size_t)blockIdx.x * E;
    int32_t *id = ids + (size_t)blockIdx.x * K;
    float *w = weights + (size_t)blockIdx.x * K;
    if (p.sigmoid) {
        for (int e = threadIdx.x; e < E; e += blockDim.x) score[e] = 1.0f / (1.0f + expf(-l[e]));
    } else {
        if (threadIdx.x == 0) {
            float m = -INFINITY;
            for (int e = 0; e < E; e++) m = l[e] > m ? l[e] : m;
            red[0] = m;
        }
        __syncthreads();
        for (int e = threadIdx.x; e < E; e += blockDim.x) score[e] = expf(l[e] - red[0]);
        __syncthreads();
        if (threadIdx.x == 0) {
            float sum = 0;
            for (int e = 0; e < E; e++) sum += score[e];
            red[1] = sum;
        }
        __syncthreads();
        for (int e = threadIdx.x; e < E; e += blockDim.x) score[e] /= red[1];
    }
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        sel[e] = score[e] + (bias ? bias[e] : 0.0f);
        used[e] = false;
    }
    __syncthreads();
    if (G > 1 && Gu < G) { /* keep the Gu best groups */
        for (int gi = threadIdx.x; gi < G; gi += blockDim.x) {
            float b1 = -INFINITY, b2 = -INFINITY;
            for (int e = gi * per_group; e < (gi + 1) * per_group; e++) {
                if (sel[e] > b1) b2 = b1, b1 = sel[e];
                else if (sel[e] > b2) b2 = sel[e];
            }
            gs[gi] = (p.sigmoid && bias && per_group > 1) ? b1 + b2 : b1;
            keep[gi] = false;
        }
        __syncthreads();
        if (threadIdx.x == 0)
            for (int k = 0; k < Gu; k++) {
                int best = -1;
                for (int gi = 0; gi < G; gi++)
                    if (!keep[gi] && (best < 0 || gs[gi] > gs[best])) best = gi;
                keep[best] = true;
            }
        __syncthreads();
        for (int e = threadIdx.x; e < E; e += blockDim.x)
            if (!keep[e / per_group]) sel[e] = -INFINITY;
        __syncthreads();
    }
    for (int k = 0; k < K; k++) { /* top-K by selection score */
        int best = route_argmax(sel, used, E, rv, ri);
        if (threadIdx.x == 0) {
            id[k] = best;
            used[best] = true;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) { /* SER before the normalisation, as the CPU reference does */
        float sum = 0;
        for (int k = 0; k < K; k++) w[k] = score[id[k]];
        if (p.ser_kmin > 0) {
            float top = sel[id[0]];
            for (int k = p.ser_kmin; k < K; k++)
                if (sel[id[k]] < p.ser_thresh * top) id[k] = -1, w[k] = 0;
        }
        for (int k = 0; k < K; k++) sum += w[k];
        for (int k = 0; k < K; k++) {
            if (p.norm) w[k] /= sum;
            w[k] *= p.scale;
        }
    }
}

extern "C" int cuda_route(cuda_stream s, const cuda_route_params *p, const float *logits, const float *bias, int n,
                          int32_t *ids, float *weights, latte_err *err) {
    if (p->n_expert <= 0 || p->n_expert > ROUTE_MAX_E || p->n_used <= 0 || p->n_used > p->n_expert ||
        p->n_group <= 0 || p->n_group > ROUTE_MAX_G || p->n_expert % p->n_group || p->n_group_used <= 0 ||
        (p->n_group > 1 && p->n_group_used < p->n_group &&
         p->n_group_used * (p->n_expert / p->n_group) < p->n_used) || n < 0)
        return err_set(err, LATTE_E_ARG, "cuda route: %d experts, %d used, %d groups (%d used), n %d", p->n_expert,
                       p->n_used, p->n_group, p->n_group_used, n);
    if (n == 0) return 0;
    route_kernel<<<n, ROUTE_THREADS, 0, CUDA_STREAM(s)>>>(*p, logits, bias, ids, weights);
    return cuda_check_launch(err, "route");
}
