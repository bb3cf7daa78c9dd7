/* api_encode_file.c — the public labse_encode_file: the streaming pipeline
 * (pipeline/pipeline.h) on the model's engine, the engine of `labse encode`, without printing;
 * labse_encode_files and labse_read_input_list (many inputs: lb_files_run); and labse_free,
 * for what the library hands back. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "base/common.h"
#include "engine/engine.h"
#include "pipeline/pipeline.h"

_Static_assert(LABSE_DTYPE_F32 == (int)LB_Q_F32 && LABSE_DTYPE_F16 == (int)LB_Q_F16 &&
                   LABSE_DTYPE_BF16 == (int)LB_Q_BF16 && LABSE_DTYPE_INT8 == (int)LB_Q_INT8 &&
                   LABSE_DTYPE_UBINARY == (int)LB_Q_UBINARY &&
                   LABSE_DTYPE_BINARY == (int)LB_Q_BINARY,
               "labse_dtype and lb_qformat (io/quant.h) share their values");

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

/* labse_encode_file (input; inputs NULL) and labse_encode_files (inputs[n]; input NULL). */
static labse_status encode_any(const labse_model *m, const char *input,
                               const char *const *inputs, size_t n, const char *output,
                               const labse_file_options *opt, labse_file_stats *st,
                               labse_error *err) {
    lb_err_clear(err);
    if (!m || (!input && !inputs) || !output)
        return lb_err(err, LABSE_E_INVALID, "labse_encode_file: NULL argument");
    labse_file_options fo = opt ? *opt : labse_default_file_options();
    const lb_engine *e = lb_model_engine(m);
    lb_pipe_options po = lb_pipe_default_options();
    if ((unsigned)fo.dtype >= LB_Q_COUNT) /* labse_dtype's values are lb_qformat's */
        return lb_err(err, LABSE_E_INVALID,
                      "dtype %d is not f32, f16, bf16, int8, ubinary or binary (0..5)",
                      (int)fo.dtype);
    po.format = (lb_qformat)fo.dtype;
    if (fo.calibration && fo.dtype != LABSE_DTYPE_INT8)
        return lb_err(err, LABSE_E_INVALID, "calibration is for dtype int8 only");
    if (fo.dtype == LABSE_DTYPE_INT8 && fo.shard_count > 1 && !fo.calibration)
        return lb_err(err, LABSE_E_INVALID,
                      "dtype int8 with shards needs calibration (an embeddings .npy), so that "
                      "every shard quantises with the same ranges");
    if (fo.dtype == LABSE_DTYPE_INT8 && inputs && n > 1 && !fo.calibration)
        return lb_err(err, LABSE_E_INVALID,
                      "dtype int8 with several inputs needs calibration (an embeddings .npy): "
                      "each input is its own run, and their rows must share one scale");
    po.calibration = fo.calibration;
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
    /* many inputs: the folder itself, the task in po.shard_*; the plan deals (lb_files_run) */
    labse_status s = lb_pipe_set_output(&po, output, inputs ? 0 : fo.shard_index,
                                        inputs ? 1 : fo.shard_count, outbuf, sizeof outbuf, err);
    if (s != LABSE_OK) return s;
    lb_files f; /* many files (issue 12 §2) */
    memset(&f, 0, sizeof f);
    if (inputs) {
        if (fo.shard_count < 1 || fo.shard_count > 1000000 || fo.shard_index < 0 ||
            fo.shard_index >= fo.shard_count)
            return lb_err(err, LABSE_E_INVALID, "shard %d/%d is not K/N with 0 <= K < N",
                          fo.shard_index, fo.shard_count);
        po.shard_index = fo.shard_index;
        po.shard_count = fo.shard_count;
        size_t ol = strlen(output); /* a list writes a folder: only *.npy is refused */
        if (!po.output_dir && ol >= 4 && strcmp(output + ol - 4, ".npy") == 0)
            return lb_err(err, LABSE_E_INVALID,
                          "%s: a list of inputs needs a folder output (OUT/): each input gets "
                          "its own subfolder; join them with labse merge --npy OUT.npy OUT/",
                          output);
        po.output_dir = 1;
        for (size_t i = 0; i < n; i++)
            if (!inputs[i])
                return lb_err(err, LABSE_E_INVALID, "labse_encode_files: input %zu is NULL",
                              i + 1);
        if ((s = lb_files_make(inputs, n, &f, err)) != LABSE_OK) return s;
    }
    lb_backend be;
    s = lb_engine_backend(e, LB_BACKEND_STREAM, &be, err);
    if (s != LABSE_OK) {
        lb_files_free(&f);
        return s;
    }
    lb_pipe_stats ps;
    memset(&ps, 0, sizeof ps);
    s = inputs ? lb_files_run(e, &be, &f, &po, &ps, err) : lb_pipe_run(e, &be, &po, &ps, err);
    be.destroy(be.ctx);
    lb_files_free(&f);
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

labse_status labse_encode_file(const labse_model *m, const char *input, const char *output,
                               const labse_file_options *opt, labse_file_stats *st,
                               labse_error *err) {
    return encode_any(m, input, NULL, 0, output, opt, st, err);
}

labse_status labse_encode_files(const labse_model *m, const char *const *inputs, size_t n,
                                const char *output, const labse_file_options *opt,
                                labse_file_stats *st, labse_error *err) {
    if (inputs && n == 0) {
        lb_err_clear(err);
        return lb_err(err, LABSE_E_INVALID, "labse_encode_files: no input");
    }
    return encode_any(m, NULL, inputs, n, output, opt, st, err);
}

labse_status labse_read_input_list(const char *list_path, char ***paths, size_t *n,
                                   labse_error *err) {
    lb_err_clear(err);
    if (!list_path || !paths || !n)
        return lb_err(err, LABSE_E_INVALID, "labse_read_input_list: NULL argument");
    return lb_files_read_list(list_path, paths, n, err);
}

void labse_free(void *p) { free(p); }

void labse_remove_temporaries(void) { lb_afile_remove_all(); }
