/* manifest.h — manifest.json of a part folder: the description of a `labse encode --output
 * DIR/` run (model, input, shard range, parts with checksums) that the pipeline writes and
 * resumes from, `labse merge` joins, and the mining reader (mine/mine_emb.h) maps.
 *
 * One writer (deterministic bytes: fixed key order, no time stamps; atomic through
 * io/atomic_file.h) and one reader with two strictness levels:
 *   lb_manifest_read()        a complete run manifest, every field required (pipeline, merge);
 *   lb_manifest_read_parts()  a parts listing: "parts" [{"file", "first_line", "rows"}]
 *                             required, "dim" and "dtype" optional, everything else ignored
 *                             (mining reads folders written by hand or by other tools).
 *
 * Thread-safety: all functions are reentrant; an lb_manifest belongs to one thread at a time.
 * Not part of the public API. Internal names start with lb_.
 */
#ifndef LB_MANIFEST_H
#define LB_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "labse.h"
#include "io/npy.h"
#include "io/quant.h"

/* A run manifest's part names ("part-00000.npy") are shorter than this. */
#define LB_MANIFEST_RUN_FILE_MAX 32

typedef struct lb_manifest_part {
    char file[256];            /* "part-00000.npy"; relative to the folder */
    uint64_t first_line, rows; /* global line index of row 0; rows */
    uint64_t byte_start, byte_end; /* input bytes covered (0 in a parts listing) */
    char xxh128[33];           /* XXH3-128 of the whole .npy file (base/digest.h), or "" */
    char sha256[65];           /* SHA-256 of it, in a manifest written before XXH3-128 (else
                                  ""): exactly one of the two in a run manifest, neither in a
                                  parts listing */
    char input_sha256[65];     /* of the input bytes [byte_start, byte_end) ("" when the
                                  input was a stream, and in a parts listing) */
    uint64_t duplicates;       /* --dedup: rows of the part copied from an identical line
                                  ("duplicates", written only by a dedup run; else 0) */
} lb_manifest_part;

typedef struct lb_manifest {
    int format;                /* 1 */
    char *model;               /* model identity (heap) */
    int dim, max_length;       /* dim 0: not given (parts listing only) */
    lb_npy_dtype dtype;        /* the part files' element type: lb_qformat_npy(qformat) */
    int has_dtype;             /* 1 when "dtype" was given (always in a run manifest) */
    lb_qformat qformat;        /* "dtype": "float32", "float16", "bfloat16", "int8",
                                  "ubinary" or "binary" (io/quant.h); the writer writes this
                                  name, the readers set qformat and dtype from it */
    lb_qcalib calib;           /* int8: "calibration" {"source", "rows", "ranges_dtype",
                                  "min" [dim], "max" [dim]} (calib.dim 0: not written / not
                                  given); heap, freed by lb_manifest_free */
    uint64_t part_rows;
    char *input_path;          /* heap */
    uint64_t input_size;       /* bytes of the input file as stored */
    char compression[8];       /* "gzip", "zstd", "xz" or "" (plain); "input.compression" */
    uint64_t data_size;        /* bytes the offsets count (byte_start, byte_end of the shard
                                  and of every part): the decompressed bytes of a compressed
                                  input ("input.data_size"), else input_size; input_sha256 of
                                  a part hashes those decompressed bytes */
    char records[256];         /* "" plain lines, "tsv-column:N" / "jsonl-field:NAME" (+
                                  ",bad-empty"): "input.records" (pipeline.h) */
    char fingerprint[65];      /* "" for stdin */
    int shard_index, shard_count;
    uint64_t byte_start, byte_end, line_start, lines; /* the range (lines: 0 = unknown) */
    lb_manifest_part *parts;   /* heap, n_parts */
    size_t n_parts, cap_parts;
    int complete;
    size_t dedup_slots;        /* --dedup: the table's lines ("dedup": {"table", "duplicates":
                                  the parts' sum}; absent: 0, off) */
} lb_manifest;

/* Free what m owns and zero it (NULL is a no-op). */
void lb_manifest_free(lb_manifest *m);

/* Append a copy of *p to m->parts. Returns 0, or -1 when out of memory (m unchanged). */
int lb_manifest_add_part(lb_manifest *m, const lb_manifest_part *p);

/*
 * Write dir/manifest.json atomically (io/atomic_file.h: temporary, fsync, rename, fsync of
 * the directory). Deterministic bytes: fixed key order, no time stamps. m is not modified.
 * Errors: LABSE_E_IO / LABSE_E_NOMEM with a message naming the file.
 */
labse_status lb_manifest_write(const char *dir, const lb_manifest *m, labse_error *err);

/*
 * Read a complete run manifest dir/manifest.json into *m (zeroed first; on success the
 * caller frees it with lb_manifest_free(); on failure nothing is left to free).
 * LABSE_E_IO when it cannot be opened (*absent, if not NULL, = 1 when it does not exist),
 * LABSE_E_FORMAT ("<dir>/manifest.json: what is wrong") when a field is missing or bad.
 * Part names are plain file names (no '/') shorter than LB_MANIFEST_RUN_FILE_MAX.
 */
labse_status lb_manifest_read(const char *dir, lb_manifest *m, int *absent, labse_error *err);

/*
 * Read a parts listing dir/manifest.json into *m (ownership as lb_manifest_read()): only
 * "parts" is required, each with "file" (non-empty, relative, without "..") and
 * non-negative integer "first_line" and "rows"; "dim" (a positive integer, m->dim = 0 when
 * absent) and "dtype" (a format name as above, m->has_dtype = 0 when absent) are optional;
 * "calibration" is not read.
 * Does not check the order of the parts (the caller does). Errors: LABSE_E_IO,
 * LABSE_E_FORMAT naming the file, LABSE_E_NOMEM.
 */
labse_status lb_manifest_read_parts(const char *dir, lb_manifest *m, labse_error *err);

/* Read the JSON file `path` as the manifest readers do (EINTR retried): *root is the document
 * (the caller cJSON_Deletes it), NULL when the text is not JSON. LABSE_E_IO when it cannot be
 * opened or read (*absent, if not NULL, = 1 when it does not exist), LABSE_E_NOMEM.
 * Reentrant. Also reads files.json of a many-files output (pipeline/pipe_files.c). */
struct cJSON;
labse_status lb_json_read(const char *path, struct cJSON **root, int *absent, labse_error *err);

#endif
