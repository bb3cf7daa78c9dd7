/* api_merge.c — the public labse_merge: lb_pipe_merge (src/pipeline/pipe_merge.c), the engine
 * of `labse merge`, or lb_files_merge_npy (pipe_files_merge.c) for a many-files output. */
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
    labse_status s;
    if (n == 1 && lb_files_is_output(shard_dirs[0])) { /* a many-files output (files.json) */
        if (out_dir || !npy_path)
            return lb_err(err, LABSE_E_INVALID,
                          "%s: a many-files output joins into one .npy only "
                          "(labse merge --npy OUT.npy %s), not into a folder",
                          shard_dirs[0], shard_dirs[0]);
        s = lb_files_merge_npy(shard_dirs[0], npy_path, &r, err);
        if (s == LABSE_OK && rows) *rows = r;
        return s;
    }
    for (int i = 0; i < n; i++)
        if (lb_files_is_output(shard_dirs[i]))
            return lb_err(err, LABSE_E_INVALID,
                          "%s: a many-files output is merged alone, not with other folders",
                          shard_dirs[i]);
    s = lb_pipe_merge(out_dir, shard_dirs, n, npy_path, &r, err);
    if (s == LABSE_OK && rows) *rows = r;
    return s;
}
