/* vec.h: small vector helpers for CPU attention; the AVX2 versions live in avx2/, the
 * AVX-512 ones of the blocked kernels in avx512/, their scalar references in attn.c (tests/test_attn.c compares them). */
#ifndef LATTE_CPU_VEC_H
#define LATTE_CPU_VEC_H

#include <stddef.h>

float cpu_vdot_avx2(const float *a, const float *b, int n);
void cpu_vaxpy_avx2(float *y, float a, const float *x, int n);
void cpu_f16_to_f32_avx2(const void *src, float *dst, int n);
/* s[i] = e^(s[i] - m) for i < n; returns their sum (the scalar version is expf in a loop) */
float cpu_vexp_sum_avx2(float *s, int n, float m);

/* Scores of nq query rows against nk key rows, register-blocked so loads are shared:
 * s[i*ss + j] = q[i] . (k + j*ks) over n floats (acc != 0: added to s[i*ss + j]). */
void cpu_vdot_blk_avx2(const float *const *q, int nq, const float *k, size_t ks, int nk, int n, float *s,
                       size_t ss, int acc);
void cpu_vdot_blk_avx512(const float *const *q, int nq, const float *k, size_t ks, int nk, int n, float *s,
                         size_t ss, int acc);
void cpu_vdot_blk_ref(const float *const *q, int nq, const float *k, size_t ks, int nk, int n, float *s,
                      size_t ss, int acc);
/* Value accumulation of ny output rows from nx value rows:
 * y[i][d] += sum_{t < nx} p[i*ps + t] * x[t*xs + d], d < n. */
void cpu_vaxpy_blk_avx2(float *const *y, int ny, const float *p, size_t ps, const float *x, size_t xs, int nx,
                        int n);
void cpu_vaxpy_blk_avx512(float *const *y, int ny, const float *p, size_t ps, const float *x, size_t xs, int nx,
                          int n);
void cpu_vaxpy_blk_ref(float *const *y, int ny, const float *p, size_t ps, const float *x, size_t xs, int nx,
                       int n);

#endif
