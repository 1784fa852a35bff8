/* backend_cuda.h: the CUDA backend (make CUDA=1 only; LATTE_CUDA is defined then). */
#ifndef LATTE_BACKEND_CUDA_H
#define LATTE_BACKEND_CUDA_H

#include "../backend.h"

/* CUDA devices the driver sees (0 without a driver or GPU). */
int backend_cuda_devices(void);
/* Prepares device dev and reads its free memory; desc gets "name, compute capability X.Y"
 * (also when it fails, e.g. a device older than this build's kernels). */
int backend_cuda_probe(int dev, uint64_t *free_bytes, char *desc, size_t desc_len, latte_err *err);
/* A backend computing on device dev. */
int backend_cuda_init(backend **out, int dev, latte_err *err);
/* Bytes of weights the backend copied to its device. */
uint64_t backend_cuda_weight_bytes(const backend *b);
/* Weight types the CUDA matmul kernels multiply (what supports(BOP_MATMUL) says). */
bool backend_cuda_matmul_type(uint32_t t);
/* KV cache types the CUDA attention kernels read. */
bool backend_cuda_cache_type(uint32_t t);

#endif
