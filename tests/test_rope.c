/* test_rope.c: rotation frequencies of graph_rope_init for each scaling rule against
 * values computed independently with the Hugging Face formulas (transformers'
 * _compute_llama3_parameters and DeepSeek's YaRN find_correction_range / linear ramp,
 * evaluated in Python double precision), and the rope_freqs factors of a GGUF file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

static int failures;

static void check(const char *name, const float *got, const int *idx, const double *want, int n) {
    for (int k = 0; k < n; k++) {
        double g = got[idx[k]], rel = fabs(g - want[k]) / want[k];
        if (rel > 1e-5) {
            printf("FAIL %s: theta[%d] = %.9g, want %.9g\n", name, idx[k], g, want[k]);
            failures++;
            return;
        }
    }
    printf("PASS %s\n", name);
}

static void run(const char *name, model_hparams *hp, const model_weights *w, const int *idx, const double *want,
                int n) {
    graph_ctx g;
    memset(&g, 0, sizeof g);
    g.hp = hp;
    g.w = w;
    latte_err err = {0};
    if (graph_rope_init(&g, &err)) {
        printf("FAIL %s: %s\n", name, err.msg);
        failures++;
        return;
    }
    check(name, g.theta, idx, want, n);
    free(g.theta);
}

int main(void) {
    model_hparams hp;
    /* Llama 3.1: base 500000, 128 dims, factor 8, low 1, high 4, original context 8192 */
    memset(&hp, 0, sizeof hp);
    hp.arch = ARCH_LLAMA;
    hp.rope = (rope_params){.pairing = ROPE_NORM, .n_rot = 128, .freq_base = 500000.0f, .scaling = ROPE_SCALE_LLAMA3,
                            .factor = 8.0f, .n_ctx_orig = 8192, .llama3_low_freq = 1.0f, .llama3_high_freq = 4.0f};
    static const int li[] = {0, 10, 20, 30, 40, 50, 63};
    static const double lw[] = {1.0, 0.12868737343265052, 0.016560440080994446, 0.0013718935677611381,
                                3.428102195952591e-05, 4.411534674558404e-06, 3.068925988914511e-07};
    run("llama3 scaling", &hp, NULL, li, lw, 7);

    /* DeepSeek YaRN: base 10000, 64 dims, factor 40, original context 4096, beta 32/1 */
    memset(&hp, 0, sizeof hp);
    hp.arch = ARCH_DEEPSEEK2;
    hp.rope = (rope_params){.pairing = ROPE_NORM, .n_rot = 64, .freq_base = 10000.0f, .scaling = ROPE_SCALE_YARN,
                            .factor = 40.0f, .n_ctx_orig = 4096, .yarn_beta_fast = 32.0f, .yarn_beta_slow = 1.0f};
    static const int yi[] = {0, 5, 10, 15, 20, 25, 31};
    static const double yw[] = {1.0, 0.23713737056616552, 0.05623413251903491, 0.008334508951020777,
                                0.0007905694150420946, 1.8747355233311396e-05, 3.3338035804083097e-06};
    run("yarn scaling", &hp, NULL, yi, yw, 7);

    /* linear: theta_i = base^(-2i/d) / factor */
    memset(&hp, 0, sizeof hp);
    hp.arch = ARCH_LLAMA;
    hp.rope = (rope_params){.pairing = ROPE_NORM, .n_rot = 64, .freq_base = 10000.0f, .scaling = ROPE_SCALE_LINEAR,
                            .factor = 4.0f};
    static const int ni[] = {0, 16, 31};
    static const double nw[] = {0.25, 0.0025, 3.33380358040831e-05}; /* 1, 10000^-0.5, 10000^(-62/64); / 4 */
    run("linear scaling", &hp, NULL, ni, nw, 3);

    /* rope_freqs (how GGUF files carry Llama-3 scaling): theta_i / factor_i */
    memset(&hp, 0, sizeof hp);
    hp.arch = ARCH_LLAMA;
    hp.rope = (rope_params){.pairing = ROPE_NORM, .n_rot = 8, .freq_base = 10000.0f, .scaling = ROPE_SCALE_NONE};
    static const float factors[4] = {1.0f, 2.0f, 4.0f, 8.0f};
    lt_tensor ft = {.name = "rope_freqs.weight", .type = 0, .ne = {4, 1, 1, 1}, .row_bytes = 16, .data = factors};
    model_weights w;
    memset(&w, 0, sizeof w);
    w.rope_freqs = &ft;
    static const int fi[] = {0, 1, 2, 3};
    static const double fw[] = {1.0, 0.1 / 2.0, 0.01 / 4.0, 0.001 / 8.0};
    run("rope_freqs factors", &hp, &w, fi, fw, 4);

    return failures ? 1 : 0;
}
