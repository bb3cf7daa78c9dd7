/* api_encode_file.c — the public labse_encode_file: the streaming pipeline
 * (pipeline/pipeline.h) on the model's engine, the engine of `labse encode`, without printing;
 * and labse_free, for what the library hands back. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "base/common.h"
#include "engine/engine.h"
#include "pipeline/pipeline.h"

labse_file_options labse_default_file_options(void) {
    labse_file_options o;
    memset(&o, 0, sizeof o);
    o.dtype = LABSE_DTYPE_F32;
    o.tok_threads = 0;
    o.part_rows = 1000000;
    o.window = 0;
    o.shard_index = 0;
    o.shard_count = 1;
    o.progress_interval = 0.5;
    return o;
}

int labse_output_is_folder(const char *output) { return output && lb_pipe_output_is_dir(output); }

labse_status labse_encode_file(const labse_model *m, const char *input, const char *output,
                               const labse_file_options *opt, labse_file_stats *st,
                               labse_error *err) {
    lb_err_clear(err);
    if (!m || !input || !output)
        return lb_err(err, LABSE_E_INVALID, "labse_encode_file: NULL argument");
    labse_file_options fo = opt ? *opt : labse_default_file_options();
    const lb_engine *e = lb_model_engine(m);
    lb_pipe_options po = lb_pipe_default_options();
    switch (fo.dtype) {
    case LABSE_DTYPE_F32: po.dtype = LB_NPY_F32; break;
    case LABSE_DTYPE_F16: po.dtype = LB_NPY_F16; break;
    default: return lb_err(err, LABSE_E_INVALID, "dtype %d is not f32 or f16", (int)fo.dtype);
    }
    if (fo.tok_threads < 0 || fo.tok_threads > 4096)
        return lb_err(err, LABSE_E_INVALID, "tok_threads %d not in 0..4096", fo.tok_threads);
    if (fo.part_rows < 1 || fo.part_rows > ((uint64_t)1 << 40))
        return lb_err(err, LABSE_E_INVALID, "part_rows %" PRIu64 " not in 1..2^40", fo.part_rows);
    size_t window = fo.window ? fo.window : (size_t)lb_engine_options(e)->window;
    if (window > ((size_t)1 << 24))
        return lb_err(err, LABSE_E_INVALID, "window %zu not in 1..16777216", window);
    po.tok_threads = fo.tok_threads;
    po.part_rows = fo.part_rows;
    po.window = fo.window; /* 0: the engine's */
    if (!(fo.progress_interval >= 0))
        return lb_err(err, LABSE_E_INVALID, "progress_interval %g must be >= 0",
                      fo.progress_interval);
    po.progress = fo.progress;
    po.progress_interval = fo.progress_interval;
    po.should_stop = fo.should_stop;
    po.user = fo.user;
    po.input = input;
    po.model_id = lb_engine_id(e);
    if (fo.tsv_column < 0 || fo.tsv_column > 1000000)
        return lb_err(err, LABSE_E_INVALID, "tsv_column %d not in 0..1000000", fo.tsv_column);
    if (fo.jsonl_field && (fo.tsv_column > 0 || !*fo.jsonl_field || strlen(fo.jsonl_field) > 200))
        return lb_err(err, LABSE_E_INVALID,
                      "jsonl_field: a name of 1..200 bytes, and not with tsv_column");
    if (fo.on_bad_record != LABSE_BAD_RECORD_ERROR && fo.on_bad_record != LABSE_BAD_RECORD_EMPTY)
        return lb_err(err, LABSE_E_INVALID, "on_bad_record %d is not error (0) or empty (1)",
                      (int)fo.on_bad_record);
    po.tsv_column = fo.tsv_column;
    po.jsonl_field = fo.jsonl_field;
    po.bad_record_empty = fo.on_bad_record == LABSE_BAD_RECORD_EMPTY;
    if (fo.dedup != 0 && fo.dedup != 1)
        return lb_err(err, LABSE_E_INVALID, "dedup %d is not 0 or 1", fo.dedup);
    if (fo.dedup_table > LB_DEDUP_MAX_SLOTS)
        return lb_err(err, LABSE_E_INVALID, "dedup_table %" PRIu64 " not in 0..%u",
                      fo.dedup_table, (unsigned)LB_DEDUP_MAX_SLOTS);
    po.dedup_slots = !fo.dedup ? 0 : fo.dedup_table ? (size_t)fo.dedup_table : LB_DEDUP_SLOTS;
    char outbuf[4096];
    labse_status s = lb_pipe_set_output(&po, output, fo.shard_index, fo.shard_count, outbuf,
                                        sizeof outbuf, err);
    if (s != LABSE_OK) return s;
    lb_backend be;
    s = lb_engine_backend(e, LB_BACKEND_STREAM, &be, err);
    if (s != LABSE_OK) return s;
    lb_pipe_stats ps;
    memset(&ps, 0, sizeof ps);
    s = lb_pipe_run(e, &be, &po, &ps, err);
    be.destroy(be.ctx);
    if (s != LABSE_OK) return s;
    if (st) {
        memset(st, 0, sizeof *st);
        st->lines = ps.lines;
        st->lines_resumed = ps.lines_resumed;
        st->tokens = ps.tokens;
        st->truncated = ps.truncated;
        st->repaired = ps.repaired;
        st->capped = ps.capped;
        st->bad_records = ps.bad_records;
        st->duplicates = ps.duplicates;
        st->batches = ps.batches;
        st->seconds = ps.seconds;
        st->already_complete = ps.already_complete;
        st->stopped = ps.stopped;
        st->tok_threads = ps.tok_threads;
        st->tok_cpu_seconds = ps.tok_cpu_seconds;
        st->encode_seconds = ps.encode_seconds;
        st->wait_seconds = ps.wait_seconds;
        st->device_busy_seconds = ps.device_busy_seconds;
        st->device_span_seconds = ps.device_span_seconds;
        st->gpu_split_batches = ps.mem.split_batches;
        st->gpu_split_min = ps.mem.split_min;
        st->gpu_workspace_bytes = ps.mem.workspace_bytes;
        st->gpu_workspace_reduced = ps.mem.workspace_reduced;
        snprintf(st->output, sizeof st->output, "%s", po.output);
    }
    return LABSE_OK;
}

void labse_free(void *p) { free(p); }

void labse_remove_temporaries(void) { lb_afile_remove_all(); }
