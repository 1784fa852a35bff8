/* vec.h: small vector helpers for CPU attention; the AVX2 versions live in avx2/. */
#ifndef LATTE_CPU_VEC_H
#define LATTE_CPU_VEC_H

float cpu_vdot_avx2(const float *a, const float *b, int n);
void cpu_vaxpy_avx2(float *y, float a, const float *x, int n);
void cpu_f16_to_f32_avx2(const void *src, float *dst, int n);

#endif
