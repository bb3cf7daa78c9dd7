/* safetensors.h — a hardened reader of the safetensors format (8-byte little-endian header
 * length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then
 * the data). The file is memory-mapped read-only. Every header field is validated before
 * use: header length within the file, JSON well formed, dtype known, shape non-negative and
 * its byte size consistent with data_offsets, offsets within the data and not overlapping.
 * A hostile file is refused; it never causes an out-of-bounds read. */
#ifndef LB_SAFETENSORS_H
#define LB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

typedef enum lb_dtype { LB_F32 = 0, LB_F16, LB_BF16, LB_F64, LB_I64, LB_I32, LB_I16, LB_I8,
                        LB_U8, LB_BOOL } lb_dtype;

#define LB_MAX_DIMS 8

typedef struct lb_tensor {
    const char *name;          /* owned by the file object */
    lb_dtype dtype;
    int ndim;
    int64_t shape[LB_MAX_DIMS];
    int64_t numel;
    const void *data;          /* inside the mapping; may be unaligned */
    size_t nbytes;
} lb_tensor;

typedef struct lb_safetensors {
    char *path;                /* owned copy, for messages */
    const uint8_t *map;        /* the whole file, mapped */
    size_t size;
    int n;                     /* number of tensors */
    lb_tensor *tensors;        /* n entries, sorted by name */
} lb_safetensors;

/* Map and validate path. *out owned by caller (lb_st_close). */
labse_status lb_st_open(const char *path, lb_safetensors **out, labse_error *err);
void lb_st_close(lb_safetensors *st);

/* The tensor called name, or NULL. O(log n). */
const lb_tensor *lb_st_find(const lb_safetensors *st, const char *name);

const char *lb_dtype_name(lb_dtype d);
size_t lb_dtype_size(lb_dtype d);

/* Convert numel elements of a F32/F16/BF16 tensor to fp32 into dst (caller-owned). Handles
 * unaligned sources. Returns LABSE_E_UNSUPPORTED for other dtypes. */
labse_status lb_tensor_to_f32(const lb_tensor *t, float *dst, labse_error *err);

#endif
