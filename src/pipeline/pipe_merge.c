/* pipe_merge.c — `labse merge`: join complete shard folders into one folder and/or one .npy
 * (see lb_pipe_merge in pipeline.h). Checks before touching anything: every manifest is
 * complete, all describe the same input (size + fingerprint), model, dim, max_length, format
 * (and int8 calibration) and shard count, every shard index appears once, the shards' byte ranges and line ranges
 * are contiguous and cover the input, and, when the input file is at its recorded path, each
 * part's input bytes still hash to its input_sha256. Outputs: parts hard-linked (or copied through
 * io/atomic_file.h), manifest.json (io/manifest.h) and the joined .npy (io/npy.h lb_npys). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipe_internal.h"
#include "base/digest.h"
#include "io/atomic_file.h"

/* Copy src to dst (link() failed across file systems), atomically (io/atomic_file.h): dst
 * appears whole or not at all. */
static labse_status copy_file(const char *src, const char *dst, labse_error *err) {
    int in = lb_open_ro(src);
    if (in < 0) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", src, strerror(errno));
    lb_afile *out = NULL;
    labse_status s = lb_afile_open(dst, &out, err);
    char *buf = s == LABSE_OK ? malloc((size_t)1 << 20) : NULL;
    if (s == LABSE_OK && !buf) s = lb_err(err, LABSE_E_NOMEM, "out of memory");
    while (s == LABSE_OK) {
        ssize_t r = read(in, buf, (size_t)1 << 20);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) s = lb_err(err, LABSE_E_IO, "%s: read failed: %s", src, strerror(errno));
        if (r <= 0) break;
        s = lb_afile_write(out, buf, (size_t)r, err);
    }
    free(buf);
    close(in);
    if (s == LABSE_OK) return lb_afile_commit(out, err);
    lb_afile_abort(out);
    return s;
}

/* Append the rows of one part file to w, checking its header and checksum (pipe_internal.h). */
labse_status lb_merge_append_part(lb_npys *w, const char *path, const lb_manifest_part *p,
                                const lb_manifest *m, labse_error *err) {
    int fd = lb_open_ro(path);
    if (fd < 0) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char hdr[LB_NPY_HEADER_MAX];
    ssize_t hn = lb_pread_full(fd, hdr, sizeof hdr, 0);
    lb_npy_info info;
    labse_status s = hn < 0 ? lb_err(err, LABSE_E_IO, "%s: read failed: %s", path, strerror(errno))
                            : lb_npy_parse_header(hdr, (size_t)hn, path, &info, err);
    const uint64_t cols = lb_qformat_cols(m->qformat, (uint64_t)m->dim);
    if (s == LABSE_OK && (info.rows != p->rows || info.cols != cols ||
                          info.dtype != m->dtype || info.ndim != 2))
        s = lb_err(err, LABSE_E_FORMAT, "%s: shape or dtype differs from the manifest", path);
    size_t rowb = (size_t)cols * lb_npy_dtype_size(m->dtype);
    size_t per = ((size_t)4 << 20) / rowb + 1;
    char *buf = s == LABSE_OK ? malloc(per * rowb) : NULL;
    if (s == LABSE_OK && !buf) s = lb_err(err, LABSE_E_NOMEM, "out of memory");
    const lb_digest_kind kind = p->xxh128[0] ? LB_DIGEST_XXH128 : LB_DIGEST_SHA256;
    const char *want = p->xxh128[0] ? p->xxh128 : p->sha256;
    lb_digest dg; /* of kind NONE when it cannot start: the drop below is then a no-op */
    if (lb_digest_init(&dg, kind) != 0 && s == LABSE_OK) s = lb_err(err, LABSE_E_NOMEM, "out of memory");
    if (s == LABSE_OK) lb_digest_update(&dg, hdr, info.data_offset);
    uint64_t off = info.data_offset, left = p->rows;
    while (s == LABSE_OK && left > 0) {
        size_t n = left < per ? (size_t)left : per;
        ssize_t r = lb_pread_full(fd, buf, n * rowb, off);
        if (r < 0) {
            s = lb_err(err, LABSE_E_IO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        if (r != (ssize_t)(n * rowb)) {
            s = lb_err(err, LABSE_E_FORMAT, "%s: truncated", path);
            break;
        }
        lb_digest_update(&dg, buf, n * rowb);
        s = lb_npys_append_raw(w, buf, n, err);
        off += n * rowb;
        left -= n;
    }
    if (s == LABSE_OK) {
        char extra;
        ssize_t r = lb_pread_full(fd, &extra, 1, off);
        if (r < 0)
            s = lb_err(err, LABSE_E_IO, "%s: read failed: %s", path, strerror(errno));
        else if (r != 0)
            s = lb_err(err, LABSE_E_FORMAT, "%s: trailing bytes after the rows", path);
    }
    if (s == LABSE_OK) {
        char hex[65];
        lb_digest_final_hex(&dg, hex);
        if (strcmp(hex, want) != 0)
            s = lb_err(err, LABSE_E_FORMAT, "%s: %s %s differs from the manifest's %s", path,
                       lb_digest_name(kind), hex, want);
    }
    lb_digest_drop(&dg);
    free(buf);
    close(fd);
    return s;
}

labse_status lb_merge_check(const char *const *dirs, int n, int check_input, lb_manifest *ms,
                            int *by_index, uint64_t *lines_out, labse_error *err) {
    labse_status s = LABSE_OK;
    for (int i = 0; i < n; i++) by_index[i] = -1;
    for (int i = 0; i < n; i++) {
        if ((s = lb_manifest_read(dirs[i], &ms[i], NULL, err)) != LABSE_OK) goto done;
        const lb_manifest *a = &ms[i], *b = &ms[0];
        if (!a->complete) {
            s = lb_err(err, LABSE_E_INVALID, "%s: shard %d/%d is not complete (rerun it)",
                       dirs[i], a->shard_index, a->shard_count);
            goto done;
        }
        if (strcmp(a->model, b->model) != 0 || a->dim != b->dim ||
            a->max_length != b->max_length || a->qformat != b->qformat ||
            a->input_size != b->input_size || strcmp(a->fingerprint, b->fingerprint) != 0 ||
            a->data_size != b->data_size || strcmp(a->records, b->records) != 0 ||
            a->shard_count != b->shard_count || a->dedup_slots != b->dedup_slots) {
            s = lb_err(err, LABSE_E_INVALID,
                       "%s and %s: not shards of one run (model, dim, max_length, format, input, "
                       "records, dedup or shard count differ)",
                       dirs[0], dirs[i]);
            goto done;
        }
        if (!lb_qcalib_same(&a->calib, &b->calib)) {
            s = lb_err(err, LABSE_E_INVALID,
                       "%s and %s: int8 parts of different calibrations (%s, %s): their rows "
                       "are not on one scale",
                       dirs[0], dirs[i], b->calib.source, a->calib.source);
            goto done;
        }
        if (a->shard_count != n || a->shard_index < 0 || a->shard_index >= n) {
            s = lb_err(err, LABSE_E_INVALID, "%s: shard %d of %d, but %d folders were given",
                       dirs[i], a->shard_index, a->shard_count, n);
            goto done;
        }
        if (by_index[a->shard_index] >= 0) {
            s = lb_err(err, LABSE_E_INVALID, "%s and %s: both are shard %d", dirs[by_index[a->shard_index]],
                       dirs[i], a->shard_index);
            goto done;
        }
        by_index[a->shard_index] = i;
    }
    /* Contiguity: bytes and lines. */
    uint64_t byte = 0, line = 0;
    for (int k = 0; k < n; k++) {
        const lb_manifest *a = &ms[by_index[k]];
        uint64_t rows = 0;
        for (size_t j = 0; j < a->n_parts; j++) {
            if (a->parts[j].first_line != a->line_start + rows) {
                s = lb_err(err, LABSE_E_FORMAT, "%s: parts are not contiguous", dirs[by_index[k]]);
                goto done;
            }
            rows += a->parts[j].rows;
        }
        if (a->byte_start != byte || a->line_start != line || rows != a->lines) {
            s = lb_err(err, LABSE_E_INVALID,
                       "%s: shard %d starts at byte %" PRIu64 " line %" PRIu64 " with %" PRIu64
                       " rows, expected byte %" PRIu64 " line %" PRIu64 " and %" PRIu64
                       " rows (shards must be contiguous)",
                       dirs[by_index[k]], k, a->byte_start, a->line_start, rows, byte, line,
                       a->lines);
            goto done;
        }
        byte = a->byte_end;
        line += rows;
    }
    if (byte != ms[0].data_size) {
        s = lb_err(err, LABSE_E_INVALID, "shards cover %" PRIu64 " of %" PRIu64 " input bytes",
                   byte, ms[0].data_size);
        goto done;
    }
    const lb_manifest *m0 = &ms[0];
    /* The input under every part, when it is where the shards read it (shards are often merged
     * on another machine, without the corpus: then the check is skipped, as documented). */
    struct stat isb;
    if (check_input && m0->fingerprint[0] && stat(m0->input_path, &isb) == 0) {
        if ((uint64_t)isb.st_size != m0->input_size) {
            s = lb_err(err, LABSE_E_INVALID,
                       "%s: cannot merge: the input changed (%" PRIu64 " bytes when encoded, %"
                       PRIu64 " now)",
                       m0->input_path, m0->input_size, (uint64_t)isb.st_size);
            goto done;
        }
        lb_range_hasher *h = NULL; /* one forward pass over a compressed input */
        for (int k = 0; k < n && s == LABSE_OK; k++)
            s = lb_parts_match_hasher(dirs[by_index[k]], &ms[by_index[k]], m0->input_path, &h,
                                      "merge", err);
        lb_range_hasher_free(h);
        if (s != LABSE_OK) goto done;
    }
    *lines_out = line;
done:
    return s;
}

labse_status lb_pipe_merge(const char *out_dir, const char *const *dirs, int n,
                           const char *npy_path, uint64_t *rows_out, labse_error *err) {
    lb_err_clear(err);
    if (n < 1 || !dirs || (!out_dir && !npy_path))
        return lb_err(err, LABSE_E_INVALID, "merge: nothing to merge or nowhere to write");
    lb_manifest *ms = calloc((size_t)n, sizeof *ms);
    int *by_index = malloc((size_t)n * sizeof *by_index);
    lb_manifest out;
    memset(&out, 0, sizeof out);
    lb_npys *w = NULL;
    labse_status s = LABSE_OK;
    uint64_t line = 0;
    if (!ms || !by_index) {
        s = lb_err(err, LABSE_E_NOMEM, "out of memory");
        goto done;
    }
    if ((s = lb_merge_check(dirs, n, 1, ms, by_index, &line, err)) != LABSE_OK) goto done;
    const lb_manifest *m0 = &ms[0];
    if (npy_path) {
        s = lb_npys_open(npy_path, m0->dtype, line, lb_qformat_cols(m0->qformat, (uint64_t)m0->dim),
                         &w, err);
        if (s != LABSE_OK) goto done;
        (void)lb_npys_set_hash(w, LB_DIGEST_NONE); /* the merged file's hash is not recorded */
    }
    if (out_dir) {
        if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
            s = lb_err(err, LABSE_E_IO, "%s: cannot create: %s", out_dir, strerror(errno));
            goto done;
        }
        /* An older manifest goes first: while the parts are replaced the folder has none, so
         * an interrupted merge never leaves a manifest that lists parts it no longer holds. */
        char mp[4096];
        snprintf(mp, sizeof mp, "%s/manifest.json", out_dir);
        if (unlink(mp) != 0 && errno != ENOENT) {
            s = lb_err(err, LABSE_E_IO, "%s: cannot remove: %s", mp, strerror(errno));
            goto done;
        }
        lb_fsync_parent_dir(mp);
        out.format = 1;
        out.model = strdup(m0->model);
        out.input_path = strdup(m0->input_path);
        if (!out.model || !out.input_path) {
            s = lb_err(err, LABSE_E_NOMEM, "out of memory");
            goto done;
        }
        out.dim = m0->dim;
        out.max_length = m0->max_length;
        out.dtype = m0->dtype;
        out.qformat = m0->qformat;
        if (lb_qcalib_copy(&out.calib, &m0->calib) != 0) {
            s = lb_err(err, LABSE_E_NOMEM, "out of memory");
            goto done;
        }
        out.part_rows = m0->part_rows;
        out.input_size = m0->input_size;
        out.data_size = m0->data_size;
        memcpy(out.compression, m0->compression, sizeof out.compression);
        memcpy(out.records, m0->records, sizeof out.records);
        out.dedup_slots = m0->dedup_slots;
        memcpy(out.fingerprint, m0->fingerprint, sizeof out.fingerprint);
        out.shard_index = 0;
        out.shard_count = 1;
        out.byte_start = 0;
        out.byte_end = m0->data_size;
        out.line_start = 0;
        out.lines = line;
    }
    for (int k = 0; k < n; k++) {
        const char *dir = dirs[by_index[k]];
        const lb_manifest *a = &ms[by_index[k]];
        for (size_t j = 0; j < a->n_parts; j++) {
            char src[4096];
            snprintf(src, sizeof src, "%s/%s", dir, a->parts[j].file);
            if (w && (s = lb_merge_append_part(w, src, &a->parts[j], a, err)) != LABSE_OK) goto done;
            if (out_dir) {
                lb_manifest_part p = a->parts[j];
                snprintf(p.file, sizeof p.file, "part-%05zu.npy", out.n_parts);
                char dst[4096];
                snprintf(dst, sizeof dst, "%s/%s", out_dir, p.file);
                (void)unlink(dst);
                if (link(src, dst) != 0 && (s = copy_file(src, dst, err)) != LABSE_OK) goto done;
                if (lb_manifest_add_part(&out, &p) != 0) {
                    s = lb_err(err, LABSE_E_NOMEM, "out of memory");
                    goto done;
                }
            }
        }
    }
    if (out_dir) {
        out.complete = 1;
        if ((s = lb_manifest_write(out_dir, &out, err)) != LABSE_OK) goto done;
    }
    if (w) {
        s = lb_npys_commit(w, NULL, err);
        w = NULL;
        if (s != LABSE_OK) goto done;
    }
    if (rows_out) *rows_out = line;
done:
    lb_npys_abort(w);
    lb_manifest_free(&out);
    /* every slot: calloc'ed, and lb_manifest_read leaves a failed one zeroed (a shard read
     * whole and then refused is freed here too) */
    for (int i = 0; i < n && ms; i++) lb_manifest_free(&ms[i]);
    free(ms);
    free(by_index);
    return s;
}
