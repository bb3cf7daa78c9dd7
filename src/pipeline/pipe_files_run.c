/* pipe_files_run.c — encoding a list of inputs (lb_files_run, pipeline.h "Many input files"):
 * the record, the plan, then one lb_pipe_run per piece the task owns, with one progress line
 * over the whole task. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/pipe_internal.h"

/* The task's progress, made from one piece's: what the earlier pieces did plus this one. */
typedef struct files_progress {
    const lb_pipe_options *o;  /* the caller's callback and user */
    uint64_t bytes_before;     /* sizes of the pieces finished (or skipped) */
    uint64_t bytes_total;      /* sizes of every piece of the task */
    uint64_t piece_bytes;      /* this piece's size */
    uint64_t lines_before, run_lines_before, tokens_before;
    double seconds_before;     /* wall time of the pieces finished (the gaps between them,
                                  a manifest check each, are not counted) */
} files_progress;

static void on_piece_progress(const lb_pipe_progress *p, void *user) {
    const files_progress *fp = user;
    lb_pipe_progress q;
    memset(&q, 0, sizeof q);
    q.lines_done = fp->lines_before + p->lines_done;
    q.lines_total = 0; /* unknown over a list: the line counts of later inputs are not read */
    q.tokens = fp->tokens_before + p->tokens;
    q.run_lines = fp->run_lines_before + p->run_lines;
    /* this piece's fraction of its size on disk (its offsets may count decompressed bytes) */
    uint64_t in = 0;
    if (p->bytes_total > 0 && p->bytes_done <= p->bytes_total)
        in = (uint64_t)((double)fp->piece_bytes * ((double)p->bytes_done / (double)p->bytes_total));
    q.bytes_done = fp->bytes_before + in;
    q.bytes_total = fp->bytes_total;
    q.seconds = fp->seconds_before + p->seconds;
    fp->o->progress(&q, fp->o->user);
}

static int piece_should_stop(void *user) {
    const files_progress *fp = user;
    return fp->o->should_stop(fp->o->user);
}

/* Add one run's counters to the task's. */
static void add_stats(lb_pipe_stats *t, const lb_pipe_stats *r) {
    t->lines += r->lines;
    t->lines_resumed += r->lines_resumed;
    t->tokens += r->tokens;
    t->truncated += r->truncated;
    t->repaired += r->repaired;
    t->capped += r->capped;
    t->batches += r->batches;
    t->bad_records += r->bad_records;
    t->parts_written += r->parts_written;
    t->tok_cpu_seconds += r->tok_cpu_seconds;
    t->encode_seconds += r->encode_seconds;
    t->write_seconds += r->write_seconds;
    t->wait_seconds += r->wait_seconds;
    t->device_busy_seconds += r->device_busy_seconds;
    t->device_span_seconds += r->device_span_seconds;
    t->mem.split_batches += r->mem.split_batches;
    if (r->mem.split_min && (!t->mem.split_min || r->mem.split_min < t->mem.split_min))
        t->mem.split_min = r->mem.split_min;
    t->mem.workspace_bytes = r->mem.workspace_bytes;
    t->mem.workspace_reduced |= r->mem.workspace_reduced;
    t->tok_threads = r->tok_threads;
}

labse_status lb_files_run(const lb_engine *e, const lb_backend *be, const lb_files *f,
                          const lb_pipe_options *o, lb_pipe_stats *st, labse_error *err) {
    memset(st, 0, sizeof *st);
    if (!o->output_dir)
        return lb_err(err, LABSE_E_INVALID,
                      "%s: several inputs need a folder output (OUT/): each input gets its own "
                      "subfolder; join them with labse merge --npy OUT.npy OUT/",
                      o->output);
    if (mkdir(o->output, 0777) != 0 && errno != EEXIST)
        return lb_err(err, LABSE_E_IO, "%s: cannot create the folder: %s", o->output,
                      strerror(errno));
    labse_status s = lb_files_record_write(o->output, f, err);
    if (s != LABSE_OK) return s;
    lb_files_piece *pieces = NULL;
    size_t np = 0;
    s = lb_files_plan(f, o->shard_count, &pieces, &np, err);
    if (s != LABSE_OK) return s;
    files_progress fp;
    memset(&fp, 0, sizeof fp);
    fp.o = o;
    for (size_t i = 0; i < np; i++)
        if (pieces[i].task == o->shard_index) fp.bytes_total += pieces[i].bytes;
    int all_complete = 1;
    for (size_t i = 0; i < np && s == LABSE_OK; i++) {
        const lb_files_piece *pc = &pieces[i];
        if (pc->task != o->shard_index) continue;
        lb_pipe_options po = *o;
        char sub[4096], outbuf[4096];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s/", o->output, f->names[pc->file]) >=
            sizeof sub) {
            s = lb_err(err, LABSE_E_INVALID, "%s: name too long", o->output);
            break;
        }
        s = lb_pipe_set_output(&po, sub, pc->index, pc->count, outbuf, sizeof outbuf, err);
        if (s != LABSE_OK) break;
        po.input = f->paths[pc->file];
        fp.piece_bytes = pc->bytes;
        /* both callbacks see fp, and call the caller's with o->user */
        po.progress = o->progress ? on_piece_progress : NULL;
        po.should_stop = o->should_stop ? piece_should_stop : NULL;
        po.user = &fp;
        lb_pipe_stats rs;
        memset(&rs, 0, sizeof rs);
        s = lb_pipe_run(e, be, &po, &rs, err);
        if (s != LABSE_OK) break;
        add_stats(st, &rs);
        fp.bytes_before += pc->bytes;
        fp.lines_before += rs.lines_resumed + rs.lines;
        fp.run_lines_before += rs.lines;
        fp.tokens_before += rs.tokens;
        fp.seconds_before += rs.seconds;
        all_complete &= rs.already_complete;
        if (rs.stopped) {
            st->stopped = 1;
            break;
        }
    }
    if (s == LABSE_OK && !st->stopped && o->progress) { /* the end, also after empty inputs */
        lb_pipe_progress q;
        memset(&q, 0, sizeof q);
        q.lines_done = fp.lines_before;
        q.run_lines = fp.run_lines_before;
        q.tokens = fp.tokens_before;
        q.bytes_done = q.bytes_total = fp.bytes_total;
        q.seconds = fp.seconds_before;
        o->progress(&q, o->user);
    }
    free(pieces);
    st->already_complete = s == LABSE_OK && !st->stopped && all_complete;
    st->seconds = fp.seconds_before; /* the runs' wall times, summed */
    return s;
}
