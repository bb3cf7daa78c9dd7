/* engine.c — one model on its device (engine.h): options check, device resolution, model and
 * GPU weights, the backend factory, the tokenizer entry. */
#include "engine/engine.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "cpu/blas_core.h"
#include "cpu/cpu_bf16.h"
#include "cpu/cpu_fp8.h"
#include "engine/device.h"
#ifdef LABSE_HAVE_GPU
#include "gpu/gpu.h"
#endif
#include "model/tokenizer.h"

struct lb_engine {
    lb_model *m;
    labse_options opt;     /* as given, with max_length resolved */
    labse_device device;   /* resolved: CPU or CUDA */
    char *model_id;        /* realpath of the folder (or the path as given): manifests */
    char device_name[128]; /* "cpu" or "cuda:N (name)" */
    lb_cpu_bf16 *bf16;     /* the bf16 weights (device CPU, precision bf16), else NULL */
    lb_cpu_fp8 *fp8;       /* the fp8 model's weights (device CPU, precision fp8-model), else NULL */
#ifdef LABSE_HAVE_GPU
    lb_gpu_weights *gw[LB_MAX_GPUS]; /* the weights on each GPU used (device CUDA only) */
    int n_gpus;
    _Atomic unsigned next_gpu;       /* round-robin of sessions over the GPUs */
#endif
};

labse_status lb_engine_check_options(const labse_options *o, labse_error *err) {
    if (o->threads < 0) return lb_err(err, LABSE_E_INVALID, "threads must be >= 0 (got %d)", o->threads);
    if (o->batch_tokens < 1)
        return lb_err(err, LABSE_E_INVALID, "batch_tokens must be >= 1 (got %d)", o->batch_tokens);
    if (o->max_length < 0)
        return lb_err(err, LABSE_E_INVALID, "max_length must be >= 0 (got %d)", o->max_length);
    if (o->window < 1)
        return lb_err(err, LABSE_E_INVALID, "window must be >= 1 (got %d)", o->window);
    if (o->precision < LABSE_PRECISION_DEFAULT || o->precision > LABSE_PRECISION_FP8_MODEL)
        return lb_err(err, LABSE_E_INVALID, "precision: unknown value %d", (int)o->precision);
    return LABSE_OK;
}

const char *lb_precision_name(labse_precision p) {
    switch (p) {
    case LABSE_PRECISION_FP32: return "fp32";
    case LABSE_PRECISION_BF16: return "bf16";
    case LABSE_PRECISION_FP16: return "fp16";
    case LABSE_PRECISION_FP8: return "fp8";
    case LABSE_PRECISION_FP8_MODEL: return "fp8-model";
    case LABSE_PRECISION_DEFAULT: break;
    }
    return "default";
}

/* Resolve o->precision for device dev (DEFAULT -> the device's default); a value the device
 * cannot do is LABSE_E_UNSUPPORTED naming the ones it can. */
static labse_status resolve_precision(labse_options *o, labse_device dev, labse_error *err) {
    const int cpu = dev != LABSE_DEVICE_CUDA; /* the null device takes the CPU's */
    if (o->precision == LABSE_PRECISION_DEFAULT)
        o->precision = cpu ? LABSE_PRECISION_FP32 : LABSE_PRECISION_FP16;
    const int ok = cpu ? o->precision == LABSE_PRECISION_FP32 || o->precision == LABSE_PRECISION_BF16 ||
                             o->precision == LABSE_PRECISION_FP8_MODEL
                       : o->precision == LABSE_PRECISION_FP16 || o->precision == LABSE_PRECISION_FP8;
    if (!ok)
        return lb_err(err, LABSE_E_UNSUPPORTED, "precision %s is not available on device %s (%s)",
                      lb_precision_name(o->precision), cpu ? "cpu" : "cuda",
                      cpu ? "it does fp32, bf16, fp8-model" : "it does fp16, fp8");
    return LABSE_OK;
}

/* Check the GPUs of o (device CUDA): ordinals into gpus[*n], a device name into name. */
#ifdef LABSE_HAVE_GPU
static labse_status pick_gpus(const labse_options *o, int *gpus, int *n, char *name, size_t cap,
                              labse_error *err) {
    char gname[96];
    *n = 0;
    if (o->cuda_device == LABSE_CUDA_ALL) {
        *n = lb_gpu_device_count();
        if (*n < 1) return lb_gpu_device_check(0, NULL, 0, err); /* the reason */
        if (*n > LB_MAX_GPUS) *n = LB_MAX_GPUS;
        for (int g = 0; g < *n; g++) gpus[g] = g;
    } else {
        gpus[(*n)++] = o->cuda_device;
    }
    labse_status ds = lb_gpu_device_check(gpus[0], gname, sizeof gname, err);
    if (ds != LABSE_OK) return ds;
    if (*n == 1)
        snprintf(name, cap, "cuda:%d (%s%s)", gpus[0], gname,
                 lb_gpu_is_emulated() ? ", emulated" : "");
    else
        snprintf(name, cap, "cuda:0-%d (%d × %s%s)", *n - 1, *n, gname,
                 lb_gpu_is_emulated() ? ", emulated" : "");
    return LABSE_OK;
}
#endif

labse_status lb_engine_open(const char *dir, const labse_options *opt, lb_engine **out,
                            labse_error *err) {
    labse_options o = opt ? *opt : labse_default_options();
    labse_status st = lb_engine_check_options(&o, err);
    if (st != LABSE_OK) return st;
    labse_device dev = LABSE_DEVICE_NULL; /* the benchmark device is no real one: kept */
    if (o.device != LABSE_DEVICE_NULL &&
        (st = lb_device_resolve(o.device, o.cuda_device, &dev, err)) != LABSE_OK)
        return st;
    if ((st = resolve_precision(&o, dev, err)) != LABSE_OK) return st;
    if (o.cuda_device < 0 && o.cuda_device != LABSE_CUDA_ALL)
        return lb_err(err, LABSE_E_INVALID, "cuda_device must be >= 0 or LABSE_CUDA_ALL (got %d)",
                      o.cuda_device);
    char devname[128] = "cpu";
    if (dev == LABSE_DEVICE_NULL) snprintf(devname, sizeof devname, "null (no encoder)");
#ifdef LABSE_HAVE_GPU
    int gpus[LB_MAX_GPUS], n_gpus = 0;
    if (dev == LABSE_DEVICE_CUDA &&
        (st = pick_gpus(&o, gpus, &n_gpus, devname, sizeof devname, err)) != LABSE_OK)
        return st;
#endif
    lb_blas_core_select(); /* OpenBLAS's kernels for this CPU, before any GEMM (blas_core.h) */
    lb_model *m = NULL;
    if ((st = lb_model_load(dir, o.max_length, &m, err)) != LABSE_OK) return st;
    lb_engine *e = calloc(1, sizeof *e);
    if (!e) {
        lb_model_free(m);
        return lb_err(err, LABSE_E_NOMEM, "labse_model_load: out of memory");
    }
    e->m = m;
    e->opt = o;
    e->opt.max_length = m->cfg.max_seq_length;
    e->device = dev;
    snprintf(e->device_name, sizeof e->device_name, "%s", devname);
    if ((o.precision == LABSE_PRECISION_BF16 && (st = lb_cpu_bf16_new(m, &e->bf16, err)) != LABSE_OK) ||
        (o.precision == LABSE_PRECISION_FP8_MODEL && (st = lb_cpu_fp8_new(m, &e->fp8, err)) != LABSE_OK)) {
        lb_engine_free(e);
        return st;
    }
#ifdef LABSE_HAVE_GPU
    for (int g = 0; g < n_gpus; g++) {
        if ((st = lb_gpu_weights_new_prec(m, gpus[g], o.precision == LABSE_PRECISION_FP8, &e->gw[g],
                                          err)) != LABSE_OK) {
            lb_err_prefix(err, "cuda:%d", gpus[g]);
            lb_engine_free(e);
            return st;
        }
        e->n_gpus = g + 1;
    }
#endif
    char real[PATH_MAX];
    e->model_id = strdup(realpath(dir, real) ? real : dir);
    if (!e->model_id) {
        lb_engine_free(e);
        return lb_err(err, LABSE_E_NOMEM, "labse_model_load: out of memory");
    }
    *out = e;
    return LABSE_OK;
}

void lb_engine_free(lb_engine *e) {
    if (!e) return;
#ifdef LABSE_HAVE_GPU
    for (int g = 0; g < e->n_gpus; g++) lb_gpu_weights_free(e->gw[g]);
#endif
    lb_cpu_bf16_free(e->bf16);
    lb_cpu_fp8_free(e->fp8);
    lb_model_free(e->m);
    free(e->model_id);
    free(e);
}

const lb_model *lb_engine_model(const lb_engine *e) { return e->m; }
const labse_options *lb_engine_options(const lb_engine *e) { return &e->opt; }
labse_device lb_engine_device(const lb_engine *e) { return e->device; }
const char *lb_engine_device_name(const lb_engine *e) { return e->device_name; }
const struct lb_cpu_bf16 *lb_engine_cpu_bf16(const lb_engine *e) { return e->bf16; }
const struct lb_cpu_fp8 *lb_engine_cpu_fp8(const lb_engine *e) { return e->fp8; }
const char *lb_engine_id(const lb_engine *e) { return e->model_id; }
int lb_engine_dim(const lb_engine *e) { return e->m->cfg.dim; }
int lb_engine_max_length(const lb_engine *e) { return e->opt.max_length; }

size_t lb_engine_tokenize(const lb_engine *e, const char *text, size_t len, int32_t *ids,
                          labse_tok_info *info) {
    labse_tok_info dummy;
    return lb_tokenize_text(e->m->tok, text ? text : "", len, ids, (size_t)e->opt.max_length,
                            info ? info : &dummy);
}

#ifdef LABSE_HAVE_GPU
int lb_engine_gpu_count(const lb_engine *e) { return e->n_gpus; }

const struct lb_gpu_weights *lb_engine_gpu_weights(const lb_engine *e, int i) {
    return i >= 0 && i < e->n_gpus ? e->gw[i] : NULL;
}

int lb_engine_next_gpu(const lb_engine *e) {
    lb_engine *m = (lb_engine *)e; /* the counter is the one mutable field */
    return (int)(atomic_fetch_add(&m->next_gpu, 1u) % (unsigned)e->n_gpus);
}
#endif

labse_status lb_engine_backend(const lb_engine *e, lb_backend_kind kind, lb_backend *be,
                               labse_error *err) {
    memset(be, 0, sizeof *be);
#ifdef LABSE_HAVE_GPU
    if (e->device == LABSE_DEVICE_CUDA) return lb_backend_gpu(e, kind, be, err);
#endif
    (void)kind;
    if (e->device == LABSE_DEVICE_NULL) return lb_backend_null(e, be, err);
    return lb_backend_cpu(e, be, err);
}
