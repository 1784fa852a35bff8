/* device.cu: device discovery and the device registry, the library's one global: the
 * properties of each device cuda_ops_init prepared, read by the ops' host code to size their
 * grids (a property query per launch would cost more than a small kernel). */
#include <string.h>

#include "common.cuh"

enum { CUDA_MAX_DEVICES = 16 };

static cuda_device_info dev_info[CUDA_MAX_DEVICES];
static bool dev_ready[CUDA_MAX_DEVICES];

extern "C" int cuda_ops_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the "no device" error */
        return 0;
    }
    return n;
}

extern "C" int cuda_ops_init(int dev, cuda_device_info *out, latte_err *err) {
    cudaDeviceProp p;
    if (dev < 0 || dev >= CUDA_MAX_DEVICES)
        return err_set(err, LATTE_E_ARG, "cuda device %d: latte handles devices 0-%d", dev, CUDA_MAX_DEVICES - 1);
    if (cudaSetDevice(dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess)
        return err_set(err, LATTE_E_UNSUPPORTED, "cuda device %d: %s", dev, cudaGetErrorString(cudaGetLastError()));
    cuda_device_info d;
    memset(&d, 0, sizeof d);
    d.cc_major = p.major;
    d.cc_minor = p.minor;
    d.n_sm = p.multiProcessorCount;
    d.smem_optin = p.sharedMemPerBlockOptin;
    d.global_mem = p.totalGlobalMem;
    memcpy(d.name, p.name, sizeof d.name - 1);
    *out = d;
    if (p.major < 8)
        return err_set(err, LATTE_E_UNSUPPORTED, "cuda device %d (%s) is sm_%d%d; latte's kernels need sm_80 or newer",
                       dev, p.name, p.major, p.minor);
    int rc = cuda_matmul_prepare(&d, err);
    if (rc || (rc = cuda_mla_prepare(&d, err))) return rc;
    dev_info[dev] = d;
    dev_ready[dev] = true;
    return 0;
}

const cuda_device_info *cuda_dev_current(void) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= CUDA_MAX_DEVICES || !dev_ready[dev]) return NULL;
    return &dev_info[dev];
}
