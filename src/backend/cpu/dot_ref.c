/* dot_ref.c: scalar reference kernels for cpu_matmul, always compiled and always correct.
 * Quantized weights are dotted with x quantized to q16 / q16_K blocks exactly as the SIMD
 * kernels do it (same rounding: nearest-even), so SIMD and reference agree to float
 * rounding (the integer sums are exact: 32 products of |x| <= 32767 and |w| <= 128 stay
 * below 2^31 per block; K-quant super-blocks are summed in int64 here); f32/f16/bf16 weights are dotted with x in f32. Block
 * layouts are ggml's. */
#include "backend/cpu/matmul.h"

#include <math.h>
#include <string.h>

#include "quant/quant.h"

static inline float ref_f16(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, man = h & 0x3ff, bits;
    if (e == 31)
        bits = sign | 0x7f800000u | man << 13;
    else if (e != 0)
        bits = sign | (e + 112) << 23 | man << 13;
    else if (man == 0)
        bits = sign;
    else { /* subnormal: value man * 2^-24 */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float ref_bf16(const uint8_t *p) {
    uint32_t bits = (uint32_t)(p[0] | p[1] << 8) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void cpu_xquant_q16_ref(const float *x, void *dst, int64_t k) {
    cpu_q16 *q = dst;
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        float amax = 0;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 32767.0f, id = d != 0 ? 32767.0f / amax : 0;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            float r = nearbyintf(x[i] * id); /* |r| <= 32767: amax * id rounds to <= 32767.5 */
            int v = r > 32767 ? 32767 : r < -32768 ? -32768 : (int)r;
            q[b].qs[i] = (int16_t)v;
            sum += v;
        }
        q[b].d = d;
        q[b].s = d * (float)sum;
    }
}

void cpu_xquant_q16k_ref(const float *x, void *dst, int64_t k) {
    cpu_q16k *q = dst;
    for (int64_t b = 0; b < k / 256; b++, x += 256) {
        float amax = 0;
        for (int i = 0; i < 256; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 32767.0f, id = d != 0 ? 32767.0f / amax : 0;
        for (int g = 0; g < 8; g++) {
            int sum = 0;
            for (int i = 32 * g; i < 32 * g + 32; i++) {
                float r = nearbyintf(x[i] * id);
                int v = r > 32767 ? 32767 : r < -32768 ? -32768 : (int)r;
                q[b].qs[i] = (int16_t)v;
                sum += v;
            }
            q[b].bsums[g] = sum;
        }
        q[b].d = d;
    }
}

/* cpu_q16x4: the q16 blocks above, four to a group, eight elements per 128-bit lane */
void cpu_xquant_q16x4_ref(const float *x, void *dst, int64_t k) {
    cpu_q16x4 *q = dst;
    int64_t nb = k / 32;
    for (int64_t g = 0; g < (nb + 3) / 4; g++) {
        memset(&q[g], 0, sizeof q[g]);
        for (int b = 0; b < 4 && 4 * g + b < nb; b++) {
            cpu_q16 t;
            cpu_xquant_q16_ref(x + 32 * (4 * g + b), &t, 32);
            for (int r = 0; r < 4; r++)
                memcpy(q[g].qs[r] + 8 * b, t.qs + 8 * r, 16);
            q[g].d[b] = t.d;
            q[g].s[b] = t.s;
        }
    }
}

/* ---- one row dot per type ---- */

static float row_f32(int64_t k, const uint8_t *w, const float *x) {
    float s = 0;
    for (int64_t i = 0; i < k; i++) {
        float v;
        memcpy(&v, w + 4 * i, 4);
        s += v * x[i];
    }
    return s;
}

static float row_f16(int64_t k, const uint8_t *w, const float *x) {
    float s = 0;
    for (int64_t i = 0; i < k; i++)
        s += ref_f16(w + 2 * i) * x[i];
    return s;
}

static float row_bf16(int64_t k, const uint8_t *w, const float *x) {
    float s = 0;
    for (int64_t i = 0; i < k; i++)
        s += ref_bf16(w + 2 * i) * x[i];
    return s;
}

/* Q8_0: {f16 d; int8 q[32]} */
static float row_q8_0(int64_t k, const uint8_t *w, const cpu_q16 *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++, w += 34) {
        int sumi = 0;
        for (int i = 0; i < 32; i++)
            sumi += (int8_t)w[2 + i] * x[b].qs[i];
        s += ref_f16(w) * (x[b].d * (float)sumi);
    }
    return s;
}

/* Q4_0: {f16 d; u8 qs[16]}: element i<16 is low nibble of qs[i], i>=16 high nibble; minus 8 */
static float row_q4_0(int64_t k, const uint8_t *w, const cpu_q16 *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++, w += 18) {
        int sumi = 0;
        for (int i = 0; i < 16; i++)
            sumi += (w[2 + i] & 15) * x[b].qs[i] + (w[2 + i] >> 4) * x[b].qs[i + 16];
        float d = ref_f16(w);
        s += d * (x[b].d * (float)sumi) - 8 * d * x[b].s;
    }
    return s;
}

/* Q4_1: {f16 d; f16 m; u8 qs[16]}: value d*q + m */
static float row_q4_1(int64_t k, const uint8_t *w, const cpu_q16 *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++, w += 20) {
        int sumi = 0;
        for (int i = 0; i < 16; i++)
            sumi += (w[4 + i] & 15) * x[b].qs[i] + (w[4 + i] >> 4) * x[b].qs[i + 16];
        s += ref_f16(w) * (x[b].d * (float)sumi) + ref_f16(w + 2) * x[b].s;
    }
    return s;
}

/* 5-bit sums shared by Q5_0 / Q5_1: qh bit i is the fifth bit of element i */
static int sum_q5(const uint8_t *qh4, const uint8_t *qs, const int16_t *xq) {
    uint32_t qh = (uint32_t)qh4[0] | (uint32_t)qh4[1] << 8 | (uint32_t)qh4[2] << 16 |
                  (uint32_t)qh4[3] << 24;
    int sumi = 0;
    for (int i = 0; i < 16; i++) {
        int lo = (qs[i] & 15) | ((qh >> i) & 1) << 4;
        int hi = (qs[i] >> 4) | ((qh >> (i + 16)) & 1) << 4;
        sumi += lo * xq[i] + hi * xq[i + 16];
    }
    return sumi;
}

/* Q5_0: {f16 d; u8 qh[4]; u8 qs[16]}: value d*(q - 16) */
static float row_q5_0(int64_t k, const uint8_t *w, const cpu_q16 *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++, w += 22) {
        float d = ref_f16(w);
        s += d * (x[b].d * (float)sum_q5(w + 2, w + 6, x[b].qs)) - 16 * d * x[b].s;
    }
    return s;
}

/* Q5_1: {f16 d; f16 m; u8 qh[4]; u8 qs[16]}: value d*q + m */
static float row_q5_1(int64_t k, const uint8_t *w, const cpu_q16 *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 32; b++, w += 24)
        s += ref_f16(w) * (x[b].d * (float)sum_q5(w + 4, w + 8, x[b].qs)) + ref_f16(w + 2) * x[b].s;
    return s;
}

/* 6-bit scale and min j (0..7) of Q4_K / Q5_K packed in 12 bytes */
static void kq_scale_min(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
        *mn = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

/* Q4_K: {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}; sub-block j of 32 uses nibbles of
 * qs[32*(j/2) ..] (low for even j, high for odd); value d*sc_j*q - dmin*m_j. A super-block's
 * integer sum can pass 2^31 (256 * 63 * 31 * 32767), so it is summed in int64. */
static float row_q4_k(int64_t k, const uint8_t *w, const cpu_q16k *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 256; b++, w += 144) {
        const uint8_t *qs = w + 16;
        int64_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            int sc, mn, si = 0, shift = (j & 1) * 4;
            kq_scale_min(j, w + 4, &sc, &mn);
            for (int i = 0; i < 32; i++)
                si += ((qs[32 * (j / 2) + i] >> shift) & 15) * x[b].qs[32 * j + i];
            sumi += (int64_t)sc * si;
            summ += (int64_t)mn * x[b].bsums[j];
        }
        s += x[b].d * (ref_f16(w) * (float)sumi - ref_f16(w + 2) * (float)summ);
    }
    return s;
}

/* Q5_K: {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}; as Q4_K plus fifth bit j of
 * qh[i] for element i of sub-block j */
static float row_q5_k(int64_t k, const uint8_t *w, const cpu_q16k *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 256; b++, w += 176) {
        const uint8_t *qh = w + 16, *qs = w + 48;
        int64_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            int sc, mn, si = 0, shift = (j & 1) * 4;
            kq_scale_min(j, w + 4, &sc, &mn);
            for (int i = 0; i < 32; i++) {
                int q = ((qs[32 * (j / 2) + i] >> shift) & 15) | ((qh[i] >> j) & 1) << 4;
                si += q * x[b].qs[32 * j + i];
            }
            sumi += (int64_t)sc * si;
            summ += (int64_t)mn * x[b].bsums[j];
        }
        s += x[b].d * (ref_f16(w) * (float)sumi - ref_f16(w + 2) * (float)summ);
    }
    return s;
}

/* Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}; value d*sc*(q - 32), q 6-bit: in each
 * half of 128, element 32*g + l (g = 0..3) takes nibble g/2 of ql[l + 32*(g&1)] and bits
 * 2g..2g+1 of qh[l]; sub-block of 16 elements i has scale scales[i] */
static float row_q6_k(int64_t k, const uint8_t *w, const cpu_q16k *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 256; b++, w += 210) {
        const int8_t *sc = (const int8_t *)(w + 192);
        int64_t sumi = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = w + 64 * half, *qh = w + 128 + 32 * half;
            for (int g = 0; g < 4; g++) {
                for (int h = 0; h < 2; h++) {
                    int si = 0, e0 = 128 * half + 32 * g + 16 * h;
                    for (int l = 16 * h; l < 16 * h + 16; l++) {
                        int q = ((ql[l + 32 * (g & 1)] >> (4 * (g >> 1))) & 15) |
                                ((qh[l] >> (2 * g)) & 3) << 4;
                        si += (q - 32) * x[b].qs[128 * half + 32 * g + l];
                    }
                    sumi += (int64_t)sc[e0 / 16] * si;
                }
            }
        }
        s += x[b].d * ref_f16(w + 208) * (float)sumi;
    }
    return s;
}

/* ---- kernels in the cpu_dot_fn shape ---- */

#define REF_KERNEL(name, xtype)                                                              \
    static void dot_ref_##name(int64_t k, const void *w, const void *x, size_t xstride,      \
                               int nx, float *y, int64_t ldy) {                              \
        for (int c = 0; c < nx; c++)                                                         \
            y[c * ldy] = row_##name(k, w, (const xtype *)((const char *)x + c * xstride));   \
    }

REF_KERNEL(f32, float)
REF_KERNEL(f16, float)
REF_KERNEL(bf16, float)
REF_KERNEL(q8_0, cpu_q16)
REF_KERNEL(q4_0, cpu_q16)
REF_KERNEL(q4_1, cpu_q16)
REF_KERNEL(q5_0, cpu_q16)
REF_KERNEL(q5_1, cpu_q16)
REF_KERNEL(q4_k, cpu_q16k)
REF_KERNEL(q5_k, cpu_q16k)
REF_KERNEL(q6_k, cpu_q16k)

cpu_dot_fn cpu_dot_ref(uint32_t wtype) {
    switch (wtype) {
    case QT_F32: return dot_ref_f32;
    case QT_F16: return dot_ref_f16;
    case QT_BF16: return dot_ref_bf16;
    case QT_Q8_0: return dot_ref_q8_0;
    case QT_Q4_0: return dot_ref_q4_0;
    case QT_Q4_1: return dot_ref_q4_1;
    case QT_Q5_0: return dot_ref_q5_0;
    case QT_Q5_1: return dot_ref_q5_1;
    case QT_Q4_K: return dot_ref_q4_k;
    case QT_Q5_K: return dot_ref_q5_k;
    case QT_Q6_K: return dot_ref_q6_k;
    default: return cpu_dot_ref_k2(wtype) ? cpu_dot_ref_k2(wtype) : cpu_dot_generic(wtype, 0);
    }
}
