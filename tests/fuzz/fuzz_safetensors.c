/* fuzz_safetensors.c — libFuzzer target: the safetensors reader (model/safetensors.h), header
 * length, JSON header and tensor table. The input is written to a file in the scratch folder
 * (lb_st_open maps a path) and opened. On success every tensor must lie inside the mapping,
 * have nbytes = numel × dtype size and numel = the product of its shape, be found by its name,
 * and (float dtypes, up to 1 Mi elements) convert to fp32, which reads every byte under ASan.
 * Single-threaded; allocates per call (freed). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "model/safetensors.h"

#define CONVERT_MAX ((int64_t)1 << 20) /* elements converted per tensor (time per exec) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_input_file("fuzz.safetensors", data, size);
    lb_safetensors *st = NULL;
    labse_error err = {0};
    if (lb_st_open(path, &st, &err) != LABSE_OK) {
        FUZZ_CHECK(err.message[0] != '\0'); /* an error carries a message */
        return 0;
    }
    FUZZ_CHECK(st->size == size);
    for (int i = 0; i < st->n; i++) {
        const lb_tensor *t = &st->tensors[i];
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= LB_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_CHECK(t->shape[d] >= 0);
            numel *= t->shape[d];
        }
        FUZZ_CHECK(numel == t->numel);
        FUZZ_CHECK((uint64_t)t->numel * lb_dtype_size(t->dtype) == t->nbytes);
        const uint8_t *p = t->data;
        FUZZ_CHECK(t->nbytes == 0 || (p >= st->map && p + t->nbytes <= st->map + st->size));
        FUZZ_CHECK(lb_st_find(st, t->name) == t);
        if ((t->dtype == LB_F32 || t->dtype == LB_F16 || t->dtype == LB_BF16) &&
            t->numel <= CONVERT_MAX) {
            float *dst = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *dst);
            FUZZ_CHECK(dst != NULL);
            FUZZ_CHECK(lb_tensor_to_f32(t, dst, &err) == LABSE_OK);
            free(dst);
        }
    }
    lb_st_close(st);
    return 0;
}
