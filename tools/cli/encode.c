/* encode.c — `labse encode`: lines in, float32 .npy out (row i = line i). */
#include "cli.h"

static const char USAGE_ENCODE[] =
    "usage: labse encode --model DIR --input FILE|- --output OUT.npy [options]\n"
    "\n"
    "Embed every line of the input; row i of OUT.npy (float32, shape (lines, dim)) is line i.\n"
    "Lines end at '\\n'; a '\\r' before it is dropped; a last line without '\\n' counts; an\n"
    "empty line gets its row; invalid UTF-8 is repaired (and counted). The output is written\n"
    "to OUT.npy.tmp.PID, synced and renamed: on failure no OUT.npy is left (an older one is\n"
    "kept untouched).\n"
    "\n"
    "  -m, --model DIR         sentence-transformers model folder (required)\n"
    "  -i, --input FILE|-      input text, one sentence per line; '-' = stdin (required)\n"
    "  -o, --output OUT.npy    output file (required)\n"
    "      --device D          cpu | cuda | auto (default auto)\n"
    "  -t, --threads N         encoder CPU threads, 0 = all cores (default 0)\n"
    "      --batch-tokens N    token budget of one batch (default 16384)\n"
    "      --max-length N      max tokens per line incl. [CLS]/[SEP] (default: the model's)\n"
    "  -q, --quiet             no summary on stderr\n"
    "  -h, --help              this help\n";

/* ==========================================================================================
 * encode
 * ========================================================================================== */

int cmd_encode(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"threads", required_argument, NULL, 't'},
        {"batch-tokens", required_argument, NULL, OPT_BATCH_TOKENS},
        {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    model_args ma = {NULL, labse_default_options()};
    const char *input = NULL, *output = NULL;
    int quiet = 0, c;
    while ((c = getopt_long(argc, argv, ":m:i:o:t:qh", longopts, NULL)) != -1) {
        int r = model_option(c, optarg, &ma);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(USAGE_ENCODE, stdout); return 0;
        default: return getopt_failure("encode", c, argv);
        }
    }
    if (optind < argc) return usage_error("encode", "unexpected argument '%s'", argv[optind]);
    if (!ma.model) return usage_error("encode", "--model is required");
    if (!input) return usage_error("encode", "--input is required");
    if (!output) return usage_error("encode", "--output is required");
    if (!*output || strcmp(output, "-") == 0)
        return usage_error("encode", "--output must name a file");

    double t0 = now_s();
    int rc = EXIT_RUNTIME;
    labse_error err = {0};
    lb_input in = {0};
    labse_model *m = NULL;
    labse_session *sess = NULL;
    lb_npy_writer *w = NULL;
    const char **ptrs = NULL;
    size_t *lens = NULL;
    float *rows = NULL;

    labse_status s = lb_input_read(input, &in, &err);
    if (s != LABSE_OK) {
        report("input", s, &err, 0);
        goto done;
    }
    size_t n_lines = lb_lines_count(in.data, in.len);

    if ((rc = load_model(&ma, &m)) != 0) goto done;
    rc = EXIT_RUNTIME;
    double t_loaded = now_s();
    s = labse_session_new(m, &sess, &err);
    if (s != LABSE_OK) {
        report("session", s, &err, 0);
        goto done;
    }
    size_t dim = (size_t)labse_model_dim(m);
    if (dim == 0) {
        errorf("%s: model reports dimension 0", ma.model);
        goto done;
    }
    ptrs = malloc(ENCODE_CHUNK * sizeof *ptrs);
    lens = malloc(ENCODE_CHUNK * sizeof *lens);
    rows = malloc((size_t)ENCODE_CHUNK * dim * sizeof *rows);
    if (!ptrs || !lens || !rows) {
        errorf("out of memory");
        goto done;
    }
    s = lb_npy_writer_open(output, LB_NPY_F32, n_lines, dim, &w, &err);
    if (s != LABSE_OK) {
        report("output", s, &err, 0);
        goto done;
    }

    int progress = !quiet && isatty(STDERR_FILENO);
    lb_line_iter it;
    lb_line_iter_init(&it, in.data, in.len);
    size_t done_lines = 0;
    while (done_lines < n_lines) {
        size_t k = 0;
        lb_line line;
        while (k < ENCODE_CHUNK && lb_line_next(&it, &line)) {
            ptrs[k] = line.ptr;
            lens[k] = line.len;
            k++;
        }
        if (k == 0) break; /* cannot happen: n_lines counted the same lines */
        s = labse_encode(sess, ptrs, lens, k, rows, &err);
        if (s != LABSE_OK) {
            errorf("encode: lines %zu..%zu: %s", done_lines + 1, done_lines + k,
                   err.message[0] ? err.message : labse_status_str(s));
            goto done;
        }
        /* Never write a silently wrong row. */
        for (size_t i = 0; i < k * dim; i++) {
            if (!isfinite(rows[i])) {
                errorf("encode: line %zu: the encoder produced a non-finite value",
                       done_lines + i / dim + 1);
                goto done;
            }
        }
        s = lb_npy_writer_append_f32(w, rows, k, &err);
        if (s != LABSE_OK) {
            report("output", s, &err, 0);
            goto done;
        }
        done_lines += k;
        if (progress)
            fprintf(stderr, "\rlabse: %zu / %zu lines (%.0f lines/s)", done_lines, n_lines,
                    (double)done_lines / (now_s() - t0 + 1e-9));
    }
    if (progress) fputc('\n', stderr);
    if (done_lines != n_lines) {
        errorf("internal error: %zu lines encoded, %zu counted", done_lines, n_lines);
        goto done;
    }
    s = lb_npy_writer_commit(w, &err);
    w = NULL; /* freed by commit in every case */
    if (s != LABSE_OK) {
        report("output", s, &err, 0);
        goto done;
    }
    rc = 0;
    if (!quiet) {
        double secs = now_s() - t0;
        labse_stats st;
        memset(&st, 0, sizeof st);
        labse_session_stats(sess, &st);
        if (st.repaired)
            errorf("%" PRIu64 " lines had invalid UTF-8 (replaced)", st.repaired);
        if (st.truncated)
            errorf("%" PRIu64 " lines were truncated to %d tokens", st.truncated,
                   labse_model_max_length(m));
        errorf("encoded %zu lines, %" PRIu64 " tokens, %" PRIu64 " truncated, %" PRIu64
               " repaired in %.3f s (model load %.3f s): %.1f sentences/s, %.0f tokens/s"
               " -> %s (%zu x %zu float32)",
               n_lines, st.tokens, st.truncated, st.repaired, secs, t_loaded - t0,
               secs > 0 ? (double)n_lines / secs : 0.0, secs > 0 ? (double)st.tokens / secs : 0.0,
               output, n_lines, dim);
    }
done:
    lb_npy_writer_abort(w);
    free(rows);
    free(lens);
    free(ptrs);
    labse_session_free(sess);
    labse_model_free(m);
    lb_input_free(&in);
    return rc;
}
