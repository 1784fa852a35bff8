/* devices.c: the devices of this build and host, for placement and for running: the CPU
 * always; with LATTE_EXTRA_CPU_DEVICES=N (1..7) also CPU1..CPUN, host memory each run by a
 * CPU backend of its own, so hybrid placement (activations moving between devices at block
 * boundaries) runs and is tested without a GPU; GPUs when a GPU backend is built in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../quant/quant.h"
#include "internal.h"
#ifdef LATTE_CUDA
#include "../backend/cuda/backend_cuda.h"
#endif

static uint64_t host_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

/* the weight types a backend says it can multiply, for the planner */
static void ask_types(backend *be, place_device *d) {
    for (uint32_t t = 0; t < 256; t++)
        if (quant_type_info_get(t) && be->ops->supports(be, BOP_MATMUL, t)) d->types[t / 64] |= 1ull << (t % 64);
}

#ifdef LATTE_CUDA
/* CUDA0..: free memory now, the types the kernels multiply; a device this build cannot run
 * (older than sm_80) is left out with one line saying why */
static int add_cuda_devices(place_device *devs, int cap, int *n) {
    int nc = backend_cuda_devices();
    for (int i = 0; i < nc && *n < cap; i++) {
        uint64_t free_b = 0;
        char desc[160] = "";
        latte_err e = {0};
        if (backend_cuda_probe(i, &free_b, desc, sizeof desc, &e)) {
            static bool said;
            if (!said) fprintf(stderr, "warning: CUDA%d (%s) is not used: %s\n", i, desc, e.msg);
            said = true;
            continue;
        }
        place_device *d = &devs[(*n)++];
        memset(d, 0, sizeof *d);
        snprintf(d->name, sizeof d->name, "CUDA%d", i);
        d->bytes = free_b;
        d->reserve = free_b / 32 > ((uint64_t)512 << 20) ? free_b / 32 : (uint64_t)512 << 20;
        for (uint32_t t = 0; t < 256; t++)
            if (quant_type_info_get(t) && backend_cuda_matmul_type(t)) d->types[t / 64] |= 1ull << (t % 64);
    }
    return 0;
}
#endif

int api_devices(place_device *devs, int cap, latte_err *err) {
    memset(devs, 0, sizeof *devs * (size_t)cap);
    snprintf(devs[0].name, sizeof devs[0].name, "CPU");
    devs[0].is_cpu = true;
    devs[0].bytes = host_bytes();
    backend *cpu;
    int rc = backend_cpu_init(&cpu, 1, err); /* one thread: no workers are started */
    if (rc) return rc;
    ask_types(cpu, &devs[0]);
    backend_free(cpu);
    int n = 1;
    const char *extra = getenv("LATTE_EXTRA_CPU_DEVICES");
    if (extra && *extra) {
        char *end;
        long k = strtol(extra, &end, 10);
        if (*end || k < 0 || k > 7 || k >= cap)
            return err_set(err, LATTE_E_ARG, "LATTE_EXTRA_CPU_DEVICES='%s': expected 0..7", extra);
        for (int i = 1; i <= k; i++, n++) {
            devs[n] = devs[0];
            devs[n].is_cpu = false; /* placed like a GPU: -ngl, -ot and the automatic fit use it */
            devs[n].reserve = devs[n].bytes / 64;
            snprintf(devs[n].name, sizeof devs[n].name, "CPU%d", i);
        }
    }
#ifdef LATTE_CUDA
    int rc2 = add_cuda_devices(devs, cap, &n);
    if (rc2) return rc2;
#endif
    return n;
}

int api_device_backend(const place_device *d, int n_threads, backend **out, latte_err *err) {
    if (!strncmp(d->name, "CPU", 3)) return backend_cpu_init(out, n_threads, err);
#ifdef LATTE_CUDA
    if (!strncmp(d->name, "CUDA", 4)) return backend_cuda_init(out, atoi(d->name + 4), err);
#endif
    return err_set(err, LATTE_E_UNSUPPORTED, "no backend for device %s in this build", d->name);
}
