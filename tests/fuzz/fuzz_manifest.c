/* fuzz_manifest.c — libFuzzer target: a part folder's manifest.json (io/manifest.h) as resume
 * and merge read it (lb_manifest_read, strict) and as mining reads it (lb_manifest_read_parts,
 * then the whole folder through lb_emb_open, mine/mine_emb.h). At start-up the scratch folder
 * gets part-00000.npy (2 rows × 4 float32) and part-00001.npy (3 × 4 float16), written by
 * the project's own writer, so a manifest that names them opens real parts.
 * Checks: a run manifest that reads is written back (lb_manifest_write) and reads again to
 * the same fields (round trip); a parts listing has parts with non-empty relative names;
 * every failure carries a message; an opened folder's rows read back.
 * Single-threaded; allocates per call (freed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/manifest.h"
#include "io/npy.h"
#include "mine/mine_emb.h"

#define READ_MAX 4096 /* values read back from an opened folder per input */

static char dir[600], dir2[600];

static void write_part(const char *name, lb_npy_dtype dt, uint64_t rows) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    float v[3 * 4];
    for (int i = 0; i < 12; i++) v[i] = (float)i * 0.25f - 1.0f;
    lb_npys *w = NULL;
    labse_error err = {0};
    if (lb_npys_open(p, dt, rows, 4, &w, &err) != LABSE_OK ||
        lb_npys_append(w, v, (size_t)rows, &err) != LABSE_OK ||
        lb_npys_commit(w, NULL, &err) != LABSE_OK) {
        fprintf(stderr, "fuzz_manifest: %s\n", err.message);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_path(dir, sizeof dir, "parts");
    fuzz_path(dir2, sizeof dir2, "again");
    mkdir(dir, 0700);
    mkdir(dir2, 0700);
    write_part("part-00000.npy", LB_NPY_F32, 2);
    write_part("part-00001.npy", LB_NPY_F16, 3);
    return 0;
}

static int same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_round_trip(const lb_manifest *m) {
    labse_error err = {0};
    FUZZ_CHECK(lb_manifest_write(dir2, m, &err) == LABSE_OK);
    lb_manifest r;
    if (lb_manifest_read(dir2, &r, NULL, &err) != LABSE_OK) {
        fprintf(stderr, "round trip refused: %s\n", err.message);
        FUZZ_CHECK(!"a manifest we wrote reads back");
    }
    FUZZ_CHECK(r.format == m->format && same_str(r.model, m->model) && r.dim == m->dim);
    FUZZ_CHECK(r.max_length == m->max_length && r.dtype == m->dtype);
    FUZZ_CHECK(r.qformat == m->qformat && lb_qcalib_same(&r.calib, &m->calib));
    FUZZ_CHECK(r.part_rows == m->part_rows && same_str(r.input_path, m->input_path));
    FUZZ_CHECK(r.input_size == m->input_size && strcmp(r.fingerprint, m->fingerprint) == 0);
    FUZZ_CHECK(r.shard_index == m->shard_index && r.shard_count == m->shard_count);
    FUZZ_CHECK(r.byte_start == m->byte_start && r.byte_end == m->byte_end);
    FUZZ_CHECK(r.line_start == m->line_start && r.lines == m->lines);
    FUZZ_CHECK(r.complete == m->complete && r.n_parts == m->n_parts);
    for (size_t i = 0; i < r.n_parts; i++) {
        const lb_manifest_part *a = &r.parts[i], *b = &m->parts[i];
        FUZZ_CHECK(strcmp(a->file, b->file) == 0 && a->first_line == b->first_line);
        FUZZ_CHECK(a->rows == b->rows && a->byte_start == b->byte_start);
        FUZZ_CHECK(a->byte_end == b->byte_end && strcmp(a->sha256, b->sha256) == 0 &&
                   strcmp(a->xxh128, b->xxh128) == 0);
        FUZZ_CHECK(strcmp(a->input_sha256, b->input_sha256) == 0);
    }
    lb_manifest_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[1200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    fuzz_write(path, data, size);
    labse_error err = {0};
    lb_manifest m;
    if (lb_manifest_read(dir, &m, NULL, &err) == LABSE_OK) {
        check_round_trip(&m);
        lb_manifest_free(&m);
    } else {
        FUZZ_CHECK(err.message[0] != '\0');
    }
    if (lb_manifest_read_parts(dir, &m, &err) == LABSE_OK) {
        for (size_t i = 0; i < m.n_parts; i++)
            FUZZ_CHECK(m.parts[i].file[0] != '\0' && m.parts[i].file[0] != '/');
        lb_manifest_free(&m);
    } else {
        FUZZ_CHECK(err.message[0] != '\0');
    }
    lb_emb *e = NULL;
    if (lb_emb_open(dir, &e, &err) == LABSE_OK) {
        uint64_t rows = lb_emb_rows(e);
        size_t dim = lb_emb_dim(e);
        FUZZ_CHECK(dim > 0);
        uint64_t n = READ_MAX / dim;
        if (n > rows) n = rows;
        if (n > 0) {
            float *out = malloc((size_t)n * dim * sizeof *out);
            FUZZ_CHECK(out != NULL);
            lb_emb_read(e, 0, (size_t)n, out);
            lb_emb_read(e, rows - 1, 1, out);
            free(out);
        }
        lb_emb_free(e);
    } else {
        FUZZ_CHECK(err.message[0] != '\0');
    }
    return 0;
}
