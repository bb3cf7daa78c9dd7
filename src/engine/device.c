/* device.c — the device rule (device.h). */
#include "engine/device.h"

#include "base/common.h"
#ifdef LABSE_HAVE_GPU
#include "gpu/gpu.h"
#endif

labse_status lb_device_resolve(labse_device device, int cuda_device, labse_device *out,
                               labse_error *err) {
    switch (device) {
    case LABSE_DEVICE_CPU: *out = LABSE_DEVICE_CPU; return LABSE_OK;
    case LABSE_DEVICE_AUTO: {
        *out = LABSE_DEVICE_CPU;
#ifdef LABSE_HAVE_GPU
        const int ord = cuda_device > 0 ? cuda_device : 0;
        if (!lb_gpu_is_emulated() && ord < LB_MAX_GPUS && lb_gpu_device_count() > ord)
            *out = LABSE_DEVICE_CUDA;
#else
        (void)cuda_device;
#endif
        return LABSE_OK;
    }
    case LABSE_DEVICE_CUDA:
#ifdef LABSE_HAVE_GPU
        *out = LABSE_DEVICE_CUDA;
        return LABSE_OK;
#else
        return lb_err(err, LABSE_E_UNSUPPORTED,
                      "device cuda: this build has no GPU backend (it was built without CUDA; "
                      "use device cpu or auto)");
#endif
    case LABSE_DEVICE_NULL: /* the engine keeps it without resolving (engine.c) */
        return lb_err(err, LABSE_E_UNSUPPORTED,
                      "device null: the benchmark device encodes nothing; it only runs the "
                      "streaming encoder's host side (labse encode / labse bench)");
    }
    return lb_err(err, LABSE_E_INVALID, "unknown device %d", (int)device);
}
