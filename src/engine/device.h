/* device.h — which device a labse_device choice means in this build and on this machine: the
 * one "auto" rule, used by the engine (model loading) and by the k-NN backend choice
 * (mine/knn.c). Internal. */
#ifndef LB_DEVICE_H
#define LB_DEVICE_H

#include "labse.h"

/*
 * Resolve a device request to LABSE_DEVICE_CPU or LABSE_DEVICE_CUDA in *out:
 *   LABSE_DEVICE_CPU   the CPU;
 *   LABSE_DEVICE_AUTO  CUDA when this build has a real GPU backend (the emulator is a test
 *                      device: auto never picks it) and GPU ordinal cuda_device (0 for
 *                      LABSE_CUDA_ALL or a negative value) is present, else the CPU;
 *   LABSE_DEVICE_CUDA  CUDA; LABSE_E_UNSUPPORTED when this build has no GPU backend. Whether
 *                      the ordinal exists is checked by the caller (lb_gpu_device_check).
 *   LABSE_DEVICE_NULL  LABSE_E_UNSUPPORTED: the benchmark device is the engine's alone
 *                      (lb_engine_open keeps it unresolved); the k-NN has none.
 * Errors: LABSE_E_INVALID for an unknown value. Thread-safe.
 */
labse_status lb_device_resolve(labse_device device, int cuda_device, labse_device *out,
                               labse_error *err);

#endif
