/* quant_k.c: K-quant blocks (256 elements) from f32, following ggml's reference method:
 * each sub-block gets the scale (and min) that minimises a weighted squared error over a
 * few candidate grids (make_qkx for scale+min types, make_qx for the symmetric q6_K), the
 * sub-block scales are then themselves quantized to 6 bits (8 in q6_K) against one f16
 * super-scale, and the values are re-rounded with the scales as stored. Layouts are the
 * ones quant_dequant_row reads. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "quant.h"
#include "quantize.h"

/* Round to nearest, ties to even, without a libm call: adding 1.5 * 2^23 leaves the integer
 * in the low mantissa bits (ggml's trick); exact for |f| < 2^22, lrintf beyond. */
static int nearest(float f) {
    if (!(fabsf(f) < 4194304.0f)) return (int)lrintf(f);
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static float f16_round(float f) { return quant_f16_to_f32(quant_f32_to_f16(f)); }

/* Scale and min for x[0..n) on the grid 0..nmax, y = scale * L - min_out: starts from the
 * min/max grid, then tries nstep grids of nmax + rmin + rdelta * is steps over the range and
 * keeps the weighted least-squares fit with the smallest error (squared, or absolute when
 * use_mad, as q2_K asks). The min is never positive
 * (so min_out >= 0): a block of positive values keeps 0 exactly representable. */
static float make_qkx(int n, int nmax, const float *x, const float *w, uint8_t *L, float *min_out, float rmin,
                      float rdelta, int nstep, bool use_mad) {
    float mn = x[0], mx = x[0], sum_w = 0, sum_x = 0;
    for (int i = 0; i < n; i++) {
        sum_w += w[i];
        sum_x += w[i] * x[i];
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
    }
    if (mn > 0) mn = 0;
    if (mx == mn) {
        memset(L, 0, (size_t)n);
        *min_out = -mn;
        return 0.0f;
    }
    float iscale = nmax / (mx - mn), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - mn)), 0, nmax);
        float diff = scale * L[i] + mn - x[i];
        best += w[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    uint8_t Laux[32];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (mx - mn);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * (x[i] - mn)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D, this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            err += w[i] * (use_mad ? fabsf(diff) : diff * diff);
        }
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            mn = this_min;
        }
    }
    *min_out = -mn;
    return scale;
}

/* Symmetric scale for x[0..n) on the grid -nmax..nmax-1 (weights x^2), trying 19 grids
 * around nmax / max|x| and keeping the best least-squares fit. */
static float make_qx(int n, int nmax, const float *x) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < 1e-15f) return 0.0f;
    float scale = 0, best = 0;
    for (int k = 0; k < 19; k++) { /* the plain grid first, then -9..-1 and 1..9 tenths of a step */
        int is = k == 0 ? 0 : k <= 9 ? k - 10 : k - 9;
        float iscale = -(nmax + 0.1f * is) / max, sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && (k == 0 || sumlx * sumlx > best * suml2)) {
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ---- q4_K and q5_K: 8 sub-blocks of 32, 6-bit scales and mins ---- */

static void pack_scale_min(uint8_t *s, int j, int ls, int lm) {
    if (j < 4) {
        s[j] = (uint8_t)ls;
        s[j + 4] = (uint8_t)lm;
    } else {
        s[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
        s[j - 4] |= (uint8_t)((ls >> 4) << 6);
        s[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

static void unpack_scale_min(const uint8_t *q, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Fills d, dmin, scales[12] at b and the values L[256] in 0..nmax. */
static void q45_k(const float *x, uint8_t *b, int nmax, float rmin, int nstep, uint8_t *L) {
    float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av + fabsf(xs[l]);
        scales[j] = make_qkx(32, nmax, xs, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep, false);
        max_scale = fmaxf(max_scale, scales[j]);
        max_min = fmaxf(max_min, mins[j]);
    }
    float inv_scale = max_scale > 0 ? 63 / max_scale : 0, inv_min = max_min > 0 ? 63 / max_min : 0;
    uint8_t *s = b + 4;
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++)
        pack_scale_min(s, j, clampi(nearest(inv_scale * scales[j]), 0, 63), clampi(nearest(inv_min * mins[j]), 0, 63));
    quant_put_f16(b, max_scale / 63);
    quant_put_f16(b + 2, max_min / 63);
    float d = f16_round(max_scale / 63), dmin = f16_round(max_min / 63);
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        unpack_scale_min(s, j, &sc, &mn);
        float ds = d * sc, dm = dmin * mn;
        if (ds == 0) continue; /* the whole sub-block is -dm: keep the fit's L (all zero then) */
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(nearest((x[32 * j + l] + dm) / ds), 0, nmax);
    }
}

/* low nibbles: sub-blocks 2k and 2k+1 share 32 bytes (2k low, 2k+1 high) */
static void pack_nibbles(const uint8_t *L, uint8_t *q) {
    for (int j = 0; j < 256; j += 64, q += 32)
        for (int l = 0; l < 32; l++) q[l] = (uint8_t)((L[j + l] & 0xf) | ((L[j + l + 32] & 0xf) << 4));
}

void quant_k_q4_k(const float *x, uint8_t *b) {
    uint8_t L[256];
    q45_k(x, b, 15, -1.0f, 20, L);
    pack_nibbles(L, b + 16);
}

void quant_k_q5_k(const float *x, uint8_t *b) {
    uint8_t L[256], *qh = b + 16;
    q45_k(x, b, 31, -0.5f, 15, L);
    memset(qh, 0, 32);
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++)
            if (L[32 * j + l] > 15) qh[l] |= (uint8_t)(1 << j);
    pack_nibbles(L, b + 48);
}

/* ---- q6_K: 16 sub-blocks of 16, int8 scales, values -32..31 ---- */

void quant_k_q6_k(const float *x, uint8_t *b) {
    float scales[16], max_scale = 0, max_abs = 0;
    for (int ib = 0; ib < 16; ib++) {
        scales[ib] = make_qx(16, 32, x + 16 * ib);
        if (fabsf(scales[ib]) > max_abs) {
            max_abs = fabsf(scales[ib]);
            max_scale = scales[ib];
        }
    }
    uint8_t *ql = b, *qh = b + 128, L[256];
    int8_t *sc = (int8_t *)(b + 192);
    if (max_abs == 0) {
        memset(b, 0, 210);
        return;
    }
    float iscale = -128 / max_scale;
    quant_put_f16(b + 208, 1 / iscale);
    float d = f16_round(1 / iscale);
    for (int ib = 0; ib < 16; ib++) {
        sc[ib] = (int8_t)clampi(nearest(iscale * scales[ib]), -128, 127);
        float ds = d * sc[ib];
        for (int l = 0; l < 16; l++)
            L[16 * ib + l] = (uint8_t)(ds == 0 ? 32 : clampi(nearest(x[16 * ib + l] / ds), -32, 31) + 32);
    }
    for (int n = 0; n < 256; n += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; l++) {
            int q1 = L[n + l], q2 = L[n + l + 32], q3 = L[n + l + 64], q4 = L[n + l + 96];
            ql[l] = (uint8_t)((q1 & 0xf) | ((q3 & 0xf) << 4));
            ql[l + 32] = (uint8_t)((q2 & 0xf) | ((q4 & 0xf) << 4));
            qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
    }
}

/* 2-bit values of 256 elements: byte j/4 + l of each 128-element half holds elements
 * j+l, j+l+32, j+l+64, j+l+96 at bits 0, 2, 4, 6 */
static void pack_2bit(const uint8_t *L, uint8_t *q) {
    for (int j = 0; j < 256; j += 128)
        for (int l = 0; l < 32; l++)
            q[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* ---- q2_K: scales[16] (4-bit scale, 4-bit min), qs[64], d, dmin; 16 sub-blocks of 16 ---- */

void quant_k_q2_k(const float *x, uint8_t *b) {
    float scales[16], mins[16], w[16], max_scale = 0, max_min = 0;
    uint8_t L[256], *sc = b, *qs = b + 16;
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
        scales[j] = make_qkx(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
        max_scale = fmaxf(max_scale, scales[j]);
        max_min = fmaxf(max_min, mins[j]);
    }
    for (int j = 0; j < 16; j++) {
        int ls = max_scale > 0 ? clampi(nearest(15 / max_scale * scales[j]), 0, 15) : 0;
        int lm = max_min > 0 ? clampi(nearest(15 / max_min * mins[j]), 0, 15) : 0;
        sc[j] = (uint8_t)(ls | (lm << 4));
    }
    quant_put_f16(b + 80, max_scale > 0 ? max_scale / 15 : 0);
    quant_put_f16(b + 82, max_min > 0 ? max_min / 15 : 0);
    float d = f16_round(max_scale > 0 ? max_scale / 15 : 0), dmin = f16_round(max_min > 0 ? max_min / 15 : 0);
    for (int j = 0; j < 16; j++) {
        float ds = d * (sc[j] & 0xf), dm = dmin * (sc[j] >> 4);
        if (ds == 0) continue;
        for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)clampi(nearest((x[16 * j + l] + dm) / ds), 0, 3);
    }
    pack_2bit(L, qs);
}

/* Symmetric scale for x[0..n) on -nmax..nmax-1 (weights x^2): round, then move single values
 * while that raises the least-squares fit (ggml's make_q3_quants with rmse). L gets l + nmax. */
static float make_q3(int n, int nmax, const float *x, uint8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        for (int i = 0; i < n; i++) L[i] = (uint8_t)nmax;
        return 0.0f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    int l8[16];
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        l8[i] = l;
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * l8[i];
            if (slx <= 0) continue;
            float sl2 = suml2 - w * l8[i] * l8[i];
            int nl = clampi(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == l8[i]) continue;
            slx += w * x[i] * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                l8[i] = nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(l8[i] + nmax);
    return suml2 > 0 ? sumlx / suml2 : 0.0f;
}

/* ---- q3_K: hmask[32], qs[64], scales[12] (16 six-bit scales, offset 32), d ---- */

void quant_k_q3_k(const float *x, uint8_t *b) {
    float scales[16], max_scale = 0, amax = 0;
    uint8_t L[256], *hmask = b, *qs = b + 32, *sc = b + 96;
    for (int j = 0; j < 16; j++) {
        scales[j] = make_q3(16, 4, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(sc, 0, 12);
    float d = 0;
    if (max_scale != 0) {
        float iscale = -32 / max_scale;
        for (int j = 0; j < 16; j++) {
            int l = clampi(nearest(iscale * scales[j]), -32, 31) + 32;
            if (j < 8) sc[j] = (uint8_t)(l & 0xf);
            else sc[j - 8] |= (uint8_t)((l & 0xf) << 4);
            sc[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        }
        quant_put_f16(b + 108, 1 / iscale);
        d = f16_round(1 / iscale);
    } else {
        quant_put_f16(b + 108, 0);
    }
    for (int j = 0; j < 16; j++) {
        int s6 = j < 8 ? sc[j] & 0xf : sc[j - 8] >> 4;
        s6 = (s6 | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
        float ds = d * s6;
        if (ds == 0) continue;
        for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(clampi(nearest(x[16 * j + l] / ds), -4, 3) + 4);
    }
    /* the high bit of element j goes to bit j / 32 of hmask[j % 32] */
    memset(hmask, 0, 32);
    for (int j = 0; j < 256; j++) {
        if (L[j] > 3) {
            hmask[j % 32] |= (uint8_t)(1 << (j / 32));
            L[j] -= 4;
        }
    }
    pack_2bit(L, qs);
}
