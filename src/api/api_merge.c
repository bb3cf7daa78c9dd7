/* api_merge.c — the public labse_merge: lb_pipe_merge (src/pipeline/pipe_merge.c), the engine
 * of `labse merge`. */
#include <stddef.h>

#include "base/common.h"
#include "pipeline/pipeline.h"

labse_status labse_merge(const char *out_dir, const char *const *shard_dirs, int n,
                         const char *npy_path, uint64_t *rows, labse_error *err) {
    lb_err_clear(err);
    if (!shard_dirs || n < 1)
        return lb_err(err, LABSE_E_INVALID, "labse_merge: no shard folder given");
    if (!out_dir && !npy_path)
        return lb_err(err, LABSE_E_INVALID, "labse_merge: neither an output folder nor a .npy");
    for (int i = 0; i < n; i++)
        if (!shard_dirs[i])
            return lb_err(err, LABSE_E_INVALID, "labse_merge: shard folder %d is NULL", i);
    uint64_t r = 0;
    labse_status s = lb_pipe_merge(out_dir, shard_dirs, n, npy_path, &r, err);
    if (s == LABSE_OK && rows) *rows = r;
    return s;
}
