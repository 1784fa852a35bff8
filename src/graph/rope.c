/* rope.c: the per-pair rotation frequencies of a model, computed once per context:
 * plain, linear, YaRN (with DeepSeek's attention-scale rule applied to the score scale,
 * not to cos/sin) and Llama-3 scaling, and the file's rope_freqs factors when present. */
#include <math.h>
#include <stdlib.h>

#include "../quant/quant.h"
#include "graph.h"

static float yarn_corr_dim(int n_rot, int n_ctx_orig, float n_rotations, float base) {
    return n_rot * logf((float)n_ctx_orig / (n_rotations * 2.0f * (float)M_PI)) / (2.0f * logf(base));
}

int graph_rope_init(graph_ctx *g, latte_err *err) {
    const rope_params *rp = &g->hp->rope;
    int half = rp->n_rot / 2;
    g->theta = malloc(sizeof(float) * (size_t)(half > 0 ? half : 1));
    if (!g->theta) return err_set(err, LATTE_E_NOMEM, "out of memory for rope tables");
    float lo = 0, hi = 0;
    if (rp->scaling == ROPE_SCALE_YARN) {
        lo = floorf(yarn_corr_dim(rp->n_rot, rp->n_ctx_orig, rp->yarn_beta_fast, rp->freq_base));
        hi = ceilf(yarn_corr_dim(rp->n_rot, rp->n_ctx_orig, rp->yarn_beta_slow, rp->freq_base));
        if (lo < 0) lo = 0;
        if (hi > rp->n_rot - 1) hi = (float)(rp->n_rot - 1);
        if (hi == lo) hi += 0.001f;
    }
    const lt_tensor *ff = g->w ? g->w->rope_freqs : NULL;
    for (int p = 0; p < half; p++) {
        float th = powf(rp->freq_base, -2.0f * p / rp->n_rot);
        switch (rp->scaling) {
        case ROPE_SCALE_NONE: break;
        case ROPE_SCALE_LINEAR: th /= rp->factor; break;
        case ROPE_SCALE_YARN: {
            float ramp = ((float)p - lo) / (hi - lo);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            th = th / rp->factor * ramp + th * (1.0f - ramp);
            break;
        }
        case ROPE_SCALE_LLAMA3:
            if (!ff) {
                float wl = 2.0f * (float)M_PI / th, lw = rp->n_ctx_orig / rp->llama3_low_freq,
                      hw = rp->n_ctx_orig / rp->llama3_high_freq;
                if (wl > lw) th /= rp->factor;
                else if (wl >= hw) {
                    float sm = (rp->n_ctx_orig / wl - rp->llama3_low_freq) /
                               (rp->llama3_high_freq - rp->llama3_low_freq);
                    th = (1 - sm) * th / rp->factor + sm * th;
                }
            }
            break;
        }
        if (ff) th /= ((const float *)ff->data)[p];
        g->theta[p] = th;
    }
    g->rope.n_rot = rp->n_rot;
    g->rope.neox = rp->pairing == ROPE_NEOX;
    g->rope.theta = g->theta;
    g->rope.mscale = 1.0f;
    /* DeepSeek's YaRN folds its magnitude correction into the score scale (mscale^2);
     * other models scale cos/sin by 0.1 ln(factor) + 1 */
    if (rp->scaling == ROPE_SCALE_YARN && g->hp->arch != ARCH_DEEPSEEK2)
        g->rope.mscale = 0.1f * logf(rp->factor) + 1.0f;
    return 0;
}
