/* labse_cli.c — the `labse` command line tool over liblabse (include/labse.h).
 *
 *   labse encode    lines in, float32 .npy out (row i = line i)
 *   labse tokenize  lines in, WordPiece ids out (one line per input line)
 *   labse info      what a model folder holds
 *   labse bench     tokenizer and encoder throughput on a corpus
 *
 * Exit status: 0 success, 1 runtime failure (I/O, model, encoder), 2 usage error (unknown
 * command or option, bad number, missing argument, an option value the model refuses).
 * Every message goes to stderr; only `tokenize`, `info`, `bench` and --help write stdout.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "labse.h"
#include "lines.h"
#include "npy.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* Lines encoded per labse_encode() call: bounds the host memory of the output rows
 * (4096 * 768 * 4 B = 12 MiB for LaBSE) whatever the corpus size. */
#define ENCODE_CHUNK 4096

/* ==========================================================================================
 * Small helpers
 * ========================================================================================== */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("labse: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Strict integer parsing: the whole string is a decimal integer within [lo, hi]. */
static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s || !(isdigit((unsigned char)s[0]) ||
                       (s[0] == '-' && isdigit((unsigned char)s[1])))) {
        errorf("%s: '%s' is not an integer", opt, s ? s : "");
        return 0;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0') {
        errorf("%s: '%s' is not an integer in [%" PRId64 ", %" PRId64 "]", opt, s, lo, hi);
        return 0;
    }
    if ((int64_t)v < lo || (int64_t)v > hi) {
        errorf("%s: %s is out of range [%" PRId64 ", %" PRId64 "]", opt, s, lo, hi);
        return 0;
    }
    *out = (int64_t)v;
    return 1;
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    int64_t v;
    if (!parse_i64(opt, s, lo, hi, &v)) return 0;
    *out = (int)v;
    return 1;
}

static int parse_device(const char *s, labse_device *d) {
    if (strcmp(s, "cpu") == 0)
        *d = LABSE_DEVICE_CPU;
    else if (strcmp(s, "cuda") == 0 || strcmp(s, "gpu") == 0)
        *d = LABSE_DEVICE_CUDA;
    else if (strcmp(s, "auto") == 0)
        *d = LABSE_DEVICE_AUTO;
    else {
        errorf("--device: '%s' is not one of cpu, cuda, auto", s);
        return 0;
    }
    return 1;
}

static const char *device_name(labse_device d) {
    switch (d) {
    case LABSE_DEVICE_CPU: return "cpu";
    case LABSE_DEVICE_CUDA: return "cuda";
    case LABSE_DEVICE_AUTO: return "auto";
    }
    return "?";
}

/* The name getopt_long was looking at when it failed (for messages). */
static const char *bad_opt_name(char **argv, int optind_now, int optopt_now, char *buf,
                                size_t cap) {
    if (optopt_now > 0 && optopt_now < 256) {
        snprintf(buf, cap, "-%c", optopt_now);
        return buf;
    }
    const char *a = (optind_now > 0) ? argv[optind_now - 1] : "?";
    return a ? a : "?";
}

/* Report a library failure; returns the exit status to use. A refused option value
 * (LABSE_E_INVALID while loading) is a usage error. */
static int report(const char *what, labse_status s, const labse_error *err, int invalid_is_usage) {
    const char *msg = (err && err->message[0]) ? err->message : labse_status_str(s);
    errorf("%s: %s", what, msg);
    return (invalid_is_usage && s == LABSE_E_INVALID) ? EXIT_USAGE : EXIT_RUNTIME;
}

/* Options every model-loading command shares. */
typedef struct model_args {
    const char *model;
    labse_options opt;
} model_args;

static int load_model(const model_args *ma, labse_model **m) {
    labse_error err = {0};
    labse_status s = labse_model_load(ma->model, &ma->opt, m, &err);
    if (s != LABSE_OK) return report(ma->model, s, &err, 1);
    return 0;
}

/* ==========================================================================================
 * Usage
 * ========================================================================================== */

static const char USAGE_MAIN[] =
    "usage: labse COMMAND [options]\n"
    "\n"
    "Sentence embeddings with LaBSE or any BERT-family sentence-transformers checkpoint.\n"
    "\n"
    "commands:\n"
    "  encode     embed each input line; write a float32 .npy of shape (lines, dim)\n"
    "  tokenize   print the WordPiece ids of each input line\n"
    "  info       describe a model folder\n"
    "  bench      measure tokenizer and encoder throughput on a corpus\n"
    "\n"
    "Run 'labse COMMAND --help' for the options of a command.\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

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

static const char USAGE_TOKENIZE[] =
    "usage: labse tokenize --model DIR --input FILE|- [--max-length N]\n"
    "\n"
    "Print one line per input line: the token ids, space separated, [CLS] and [SEP]\n"
    "included, truncated exactly as `labse encode` truncates. Same line rules as encode.\n"
    "\n"
    "  -m, --model DIR         model folder (required)\n"
    "  -i, --input FILE|-      input text; '-' = stdin (required)\n"
    "      --max-length N      max tokens per line incl. [CLS]/[SEP] (default: the model's)\n"
    "  -h, --help              this help\n";

static const char USAGE_INFO[] =
    "usage: labse info --model DIR [--device D] [--max-length N]\n"
    "\n"
    "Print what the model folder holds, one 'key: value' per line: layers, hidden, heads,\n"
    "intermediate, vocab_size, max_position, max_length, pooling, dense_modules, normalize,\n"
    "lowercase, dim, parameters, device.\n"
    "\n"
    "  -m, --model DIR         model folder (required)\n"
    "      --device D          cpu | cuda | auto (default auto)\n"
    "      --max-length N      as for encode\n"
    "  -h, --help              this help\n";

static const char USAGE_BENCH[] =
    "usage: labse bench --model DIR (--input FILE... | --bitext DIR) [options]\n"
    "\n"
    "Measure the tokenizer alone (one thread) and the whole encode on a corpus; print the\n"
    "machine, the model and tokens/s, sentences/s. Files ending in .tsv give every\n"
    "tab-separated column as a sentence; other files give one sentence per line.\n"
    "\n"
    "  -m, --model DIR         model folder (required)\n"
    "  -i, --input FILE        a corpus file (repeatable)\n"
    "      --bitext DIR        every *.tsv file of DIR (e.g. ../shared/data/bitext)\n"
    "      --device D          cpu | cuda | auto (default auto)\n"
    "  -t, --threads N         encoder CPU threads, 0 = all cores (default 0)\n"
    "      --batch-tokens N    token budget of one batch (default 16384)\n"
    "      --max-length N      max tokens per sentence (default: the model's)\n"
    "  -n, --limit N           encode at most N sentences, taken evenly across the corpus\n"
    "                          (every k-th); the tokenizer always runs on all (default: all)\n"
    "  -r, --repeat N          runs of each measurement; the best is reported (default 1)\n"
    "      --no-encode         measure the tokenizer only\n"
    "  -h, --help              this help\n";

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "labse%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\nTry 'labse %s --help'.\n", cmd);
    else
        fputs("\nTry 'labse --help'.\n", stderr);
    return EXIT_USAGE;
}

/* Common getopt failure handling. */
static int getopt_failure(const char *cmd, int c, char **argv) {
    char b[8];
    const char *name = bad_opt_name(argv, optind, optopt, b, sizeof b);
    if (c == ':') return usage_error(cmd, "option '%s' needs a value", name);
    return usage_error(cmd, "unknown option '%s'", name);
}

/* Long option ids beyond the char range. */
enum {
    OPT_DEVICE = 256,
    OPT_BATCH_TOKENS,
    OPT_MAX_LENGTH,
    OPT_BITEXT,
    OPT_NO_ENCODE,
};

/* Handle an option every model command shares. Returns 1 handled, 0 not ours, -1 bad value. */
static int model_option(int c, const char *arg, model_args *ma) {
    switch (c) {
    case 'm': ma->model = arg; return 1;
    case OPT_DEVICE: return parse_device(arg, &ma->opt.device) ? 1 : -1;
    case 't': return parse_int("--threads", arg, 0, 4096, &ma->opt.threads) ? 1 : -1;
    case OPT_BATCH_TOKENS:
        return parse_int("--batch-tokens", arg, 1, 1 << 30, &ma->opt.batch_tokens) ? 1 : -1;
    case OPT_MAX_LENGTH:
        return parse_int("--max-length", arg, 2, 1 << 20, &ma->opt.max_length) ? 1 : -1;
    default: return 0;
    }
}

/* ==========================================================================================
 * encode
 * ========================================================================================== */

static int cmd_encode(int argc, char **argv) {
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

/* ==========================================================================================
 * tokenize
 * ========================================================================================== */

/* Append the decimal form of v and a separator to p; returns the new end. */
static char *put_i32(char *p, int32_t v, char sep) {
    char tmp[16];
    int n = 0;
    uint32_t u = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *p++ = '-';
    while (n) *p++ = tmp[--n];
    *p++ = sep;
    return p;
}

static int cmd_tokenize(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    model_args ma = {NULL, labse_default_options()};
    ma.opt.device = LABSE_DEVICE_CPU; /* tokenising needs no GPU */
    const char *input = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":m:i:h", longopts, NULL)) != -1) {
        int r = (c == 'm' || c == OPT_MAX_LENGTH) ? model_option(c, optarg, &ma) : 0;
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case 'i': input = optarg; break;
        case 'h': fputs(USAGE_TOKENIZE, stdout); return 0;
        default: return getopt_failure("tokenize", c, argv);
        }
    }
    if (optind < argc) return usage_error("tokenize", "unexpected argument '%s'", argv[optind]);
    if (!ma.model) return usage_error("tokenize", "--model is required");
    if (!input) return usage_error("tokenize", "--input is required");

    int rc = EXIT_RUNTIME;
    labse_error err = {0};
    lb_input in = {0};
    labse_model *m = NULL;
    int32_t *ids = NULL;
    char *outbuf = NULL;
    labse_status s = lb_input_read(input, &in, &err);
    if (s != LABSE_OK) {
        report("input", s, &err, 0);
        goto done;
    }
    if ((rc = load_model(&ma, &m)) != 0) goto done;
    rc = EXIT_RUNTIME;
    size_t maxlen = (size_t)labse_model_max_length(m);
    ids = malloc((maxlen ? maxlen : 1) * sizeof *ids);
    outbuf = malloc(maxlen * 12 + 2);
    if (!ids || !outbuf) {
        errorf("out of memory");
        goto done;
    }
    static char stdout_buf[1 << 16];
    setvbuf(stdout, stdout_buf, _IOFBF, sizeof stdout_buf);
    lb_line_iter it;
    lb_line_iter_init(&it, in.data, in.len);
    lb_line line;
    size_t lineno = 0;
    while (lb_line_next(&it, &line)) {
        lineno++;
        size_t n = labse_tokenize(m, line.ptr, line.len, ids, NULL, &err);
        if (n == 0 || n > maxlen) {
            errorf("tokenize: line %zu: %s", lineno,
                   n ? "too many ids" : (err.message[0] ? err.message : "failed"));
            goto done;
        }
        char *p = outbuf;
        for (size_t i = 0; i < n; i++) p = put_i32(p, ids[i], i + 1 < n ? ' ' : '\n');
        if (fwrite(outbuf, 1, (size_t)(p - outbuf), stdout) != (size_t)(p - outbuf)) {
            errorf("stdout: write failed: %s", strerror(errno));
            goto done;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errorf("stdout: write failed: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(outbuf);
    free(ids);
    labse_model_free(m);
    lb_input_free(&in);
    return rc;
}

/* ==========================================================================================
 * info
 * ========================================================================================== */

static void print_info(FILE *f, const labse_model_info *mi, const char *prefix) {
    fprintf(f, "%slayers: %d\n", prefix, mi->layers);
    fprintf(f, "%shidden: %d\n", prefix, mi->hidden);
    fprintf(f, "%sheads: %d\n", prefix, mi->heads);
    fprintf(f, "%sintermediate: %d\n", prefix, mi->intermediate);
    fprintf(f, "%svocab_size: %d\n", prefix, mi->vocab_size);
    fprintf(f, "%smax_position: %d\n", prefix, mi->max_position);
    fprintf(f, "%smax_length: %d\n", prefix, mi->max_length);
    fprintf(f, "%spooling: %s\n", prefix,
            mi->pooling == LABSE_POOL_CLS ? "cls" : mi->pooling == LABSE_POOL_MEAN ? "mean" : "?");
    fprintf(f, "%sdense_modules: %d\n", prefix, mi->n_dense);
    fprintf(f, "%snormalize: %d\n", prefix, mi->normalize);
    fprintf(f, "%slowercase: %d\n", prefix, mi->lowercase);
    fprintf(f, "%sdim: %d\n", prefix, mi->dim);
    fprintf(f, "%sparameters: %" PRId64 "\n", prefix, mi->parameters);
    fprintf(f, "%sdevice: %s\n", prefix, device_name(mi->device));
}

static int cmd_info(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    model_args ma = {NULL, labse_default_options()};
    int c;
    while ((c = getopt_long(argc, argv, ":m:h", longopts, NULL)) != -1) {
        int r = model_option(c, optarg, &ma);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        if (c == 'h') {
            fputs(USAGE_INFO, stdout);
            return 0;
        }
        return getopt_failure("info", c, argv);
    }
    if (optind < argc) return usage_error("info", "unexpected argument '%s'", argv[optind]);
    if (!ma.model) return usage_error("info", "--model is required");
    labse_model *m = NULL;
    int rc = load_model(&ma, &m);
    if (rc) return rc;
    labse_model_info mi;
    memset(&mi, 0, sizeof mi);
    labse_model_get_info(m, &mi);
    labse_model_free(m);
    print_info(stdout, &mi, "");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errorf("stdout: write failed: %s", strerror(errno));
        return EXIT_RUNTIME;
    }
    return 0;
}

/* ==========================================================================================
 * bench
 * ========================================================================================== */

typedef struct corpus {
    lb_input *inputs;   /* every file read, kept mapped: the sentences point into them */
    size_t n_inputs, cap_inputs;
    const char **text;
    size_t *len;
    size_t n, cap;
    uint64_t bytes;
} corpus;

static void corpus_free(corpus *c) {
    for (size_t i = 0; i < c->n_inputs; i++) lb_input_free(&c->inputs[i]);
    free(c->inputs);
    free(c->text);
    free(c->len);
    memset(c, 0, sizeof *c);
}

static int corpus_push(corpus *c, const char *p, size_t n) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4096;
        const char **t = realloc(c->text, nc * sizeof *t);
        if (!t) return 0;
        c->text = t;
        size_t *l = realloc(c->len, nc * sizeof *l);
        if (!l) return 0;
        c->len = l;
        c->cap = nc;
    }
    c->text[c->n] = p;
    c->len[c->n] = n;
    c->n++;
    c->bytes += n;
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Add the sentences of one file (all of its tab-separated columns when it ends in .tsv).
 * Returns 0 on success, an exit status on failure. */
static int corpus_add_file(corpus *c, const char *path, int64_t limit) {
    if (c->n_inputs == c->cap_inputs) {
        size_t nc = c->cap_inputs ? c->cap_inputs * 2 : 16;
        lb_input *ni = realloc(c->inputs, nc * sizeof *ni);
        if (!ni) {
            errorf("out of memory");
            return EXIT_RUNTIME;
        }
        c->inputs = ni;
        c->cap_inputs = nc;
    }
    labse_error err = {0};
    lb_input *in = &c->inputs[c->n_inputs];
    labse_status s = lb_input_read(path, in, &err);
    if (s != LABSE_OK) return report("input", s, &err, 0);
    c->n_inputs++;
    int tsv = ends_with(path, ".tsv");
    lb_line_iter it;
    lb_line_iter_init(&it, in->data, in->len);
    lb_line line;
    while ((limit <= 0 || (int64_t)c->n < limit) && lb_line_next(&it, &line)) {
        if (!tsv) {
            if (!corpus_push(c, line.ptr, line.len)) goto oom;
            continue;
        }
        const char *p = line.ptr, *end = line.ptr + line.len;
        for (;;) {
            const char *tab = memchr(p, '\t', (size_t)(end - p));
            const char *fe = tab ? tab : end;
            if ((limit <= 0 || (int64_t)c->n < limit) && !corpus_push(c, p, (size_t)(fe - p)))
                goto oom;
            if (!tab) break;
            p = tab + 1;
        }
    }
    return 0;
oom:
    errorf("out of memory");
    return EXIT_RUNTIME;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int corpus_add_bitext(corpus *c, const char *dir, int64_t limit) {
    DIR *d = opendir(dir);
    if (!d) {
        errorf("%s: cannot open directory: %s", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".tsv")) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 128;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = EXIT_RUNTIME;
                break;
            }
            names = nn;
            cap = nc;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) {
            rc = EXIT_RUNTIME;
            break;
        }
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (rc) errorf("out of memory");
    if (!rc && n == 0) {
        errorf("%s: no *.tsv files", dir);
        rc = EXIT_RUNTIME;
    }
    if (!rc) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; !rc && i < n && (limit <= 0 || (int64_t)c->n < limit); i++)
        rc = corpus_add_file(c, names[i], limit);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static void print_machine(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon) {
                    colon++;
                    while (*colon == ' ' || *colon == '\t') colon++;
                    size_t l = strcspn(colon, "\n");
                    if (l >= sizeof model) l = sizeof model - 1;
                    memcpy(model, colon, l);
                    model[l] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    printf("machine:\n");
    printf("  cpu: %s\n", model);
    printf("  cores: %ld\n", cores);
    if (pages > 0 && psz > 0)
        printf("  memory_gib: %.1f\n", (double)pages * (double)psz / (1024.0 * 1024 * 1024));
}

static int cmd_bench(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"bitext", required_argument, NULL, OPT_BITEXT},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"threads", required_argument, NULL, 't'},
        {"batch-tokens", required_argument, NULL, OPT_BATCH_TOKENS},
        {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
        {"limit", required_argument, NULL, 'n'},
        {"repeat", required_argument, NULL, 'r'},
        {"no-encode", no_argument, NULL, OPT_NO_ENCODE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    model_args ma = {NULL, labse_default_options()};
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) {
        errorf("out of memory");
        return EXIT_RUNTIME;
    }
    size_t n_inputs = 0;
    const char *bitext = NULL;
    int64_t limit = 0;
    int repeat = 1, no_encode = 0, c, rc = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, ":m:i:t:n:r:h", longopts, NULL)) != -1) {
        int r = model_option(c, optarg, &ma);
        if (r < 0) goto out;
        if (r > 0) continue;
        switch (c) {
        case 'i': inputs[n_inputs++] = optarg; break;
        case OPT_BITEXT: bitext = optarg; break;
        case 'n':
            if (!parse_i64("--limit", optarg, 1, INT64_MAX / 2, &limit)) goto out;
            break;
        case 'r':
            if (!parse_int("--repeat", optarg, 1, 1000, &repeat)) goto out;
            break;
        case OPT_NO_ENCODE: no_encode = 1; break;
        case 'h':
            fputs(USAGE_BENCH, stdout);
            rc = 0;
            goto out;
        default: rc = getopt_failure("bench", c, argv); goto out;
        }
    }
    if (optind < argc) {
        rc = usage_error("bench", "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (!ma.model) {
        rc = usage_error("bench", "--model is required");
        goto out;
    }
    if (!n_inputs && !bitext) {
        rc = usage_error("bench", "give --input FILE or --bitext DIR");
        goto out;
    }

    corpus cp;
    memset(&cp, 0, sizeof cp);
    labse_model *m = NULL;
    labse_session *sess = NULL;
    int32_t *ids = NULL;
    float *rows = NULL;
    rc = EXIT_RUNTIME;
    for (size_t i = 0; i < n_inputs; i++)
        if (corpus_add_file(&cp, inputs[i], 0)) goto bench_done;
    if (bitext && corpus_add_bitext(&cp, bitext, 0)) goto bench_done;
    if (cp.n == 0) {
        errorf("bench: the corpus is empty");
        goto bench_done;
    }
    if ((rc = load_model(&ma, &m)) != 0) goto bench_done;
    rc = EXIT_RUNTIME;

    print_machine();
    labse_model_info mi;
    memset(&mi, 0, sizeof mi);
    labse_model_get_info(m, &mi);
    printf("model: %s\n", ma.model);
    print_info(stdout, &mi, "  ");
    printf("corpus:\n  sentences: %zu\n  bytes: %" PRIu64 "\n  files: %zu\n", cp.n, cp.bytes,
           cp.n_inputs);
    fflush(stdout);

    /* --- tokenizer alone, one thread --- */
    size_t maxlen = (size_t)labse_model_max_length(m);
    ids = malloc((maxlen ? maxlen : 1) * sizeof *ids);
    if (!ids) {
        errorf("out of memory");
        goto bench_done;
    }
    labse_error err = {0};
    uint64_t tokens = 0, truncated = 0, repaired = 0;
    double best_tok = 1e300;
    for (int r = 0; r < repeat; r++) {
        uint64_t tk = 0, tr = 0, rp = 0;
        double t0 = now_s();
        for (size_t i = 0; i < cp.n; i++) {
            labse_tok_info ti = {0, 0};
            size_t n = labse_tokenize(m, cp.text[i], cp.len[i], ids, &ti, &err);
            if (n == 0) {
                errorf("tokenize: sentence %zu: %s", i + 1, err.message);
                goto bench_done;
            }
            tk += n;
            tr += (uint64_t)ti.truncated;
            rp += (uint64_t)ti.repaired;
        }
        double dt = now_s() - t0;
        if (dt < best_tok) best_tok = dt;
        tokens = tk;
        truncated = tr;
        repaired = rp;
    }
    if (best_tok <= 0) best_tok = 1e-9;
    printf("tokenize (1 thread, best of %d):\n", repeat);
    printf("  tokens: %" PRIu64 "\n  truncated: %" PRIu64 "\n  repaired: %" PRIu64 "\n", tokens,
           truncated, repaired);
    printf("  seconds: %.4f\n  tokens_per_s: %.0f\n  sentences_per_s: %.0f\n  mb_per_s: %.1f\n",
           best_tok, (double)tokens / best_tok, (double)cp.n / best_tok,
           (double)cp.bytes / best_tok / 1e6);
    fflush(stdout);

    /* --- the whole encode --- */
    if (!no_encode) {
        labse_status s = labse_session_new(m, &sess, &err);
        if (s != LABSE_OK) {
            report("session", s, &err, 0);
            goto bench_done;
        }
        size_t dim = (size_t)labse_model_dim(m);
        rows = malloc((size_t)ENCODE_CHUNK * (dim ? dim : 1) * sizeof *rows);
        if (!rows) {
            errorf("out of memory");
            goto bench_done;
        }
        /* the encode sample: every k-th sentence when --limit is below the corpus size */
        size_t ne = limit > 0 && (uint64_t)limit < cp.n ? (size_t)limit : cp.n;
        for (size_t j = 0; j < ne; j++) { /* in place: source index >= j */
            size_t src = (size_t)((uint64_t)j * cp.n / ne);
            cp.text[j] = cp.text[src];
            cp.len[j] = cp.len[src];
        }
        double best = 1e300;
        uint64_t enc_tokens = 0;
        for (int r = 0; r < repeat; r++) {
            labse_stats st0, st1;
            labse_session_stats(sess, &st0);
            double t0 = now_s();
            for (size_t i = 0; i < ne; i += ENCODE_CHUNK) {
                size_t k = ne - i < ENCODE_CHUNK ? ne - i : ENCODE_CHUNK;
                s = labse_encode(sess, cp.text + i, cp.len + i, k, rows, &err);
                if (s != LABSE_OK) {
                    errorf("encode: %s", err.message[0] ? err.message : labse_status_str(s));
                    goto bench_done;
                }
            }
            double dt = now_s() - t0;
            labse_session_stats(sess, &st1);
            enc_tokens = st1.tokens - st0.tokens;
            fprintf(stderr, "labse: bench run %d/%d: encode %.3f s\n", r + 1, repeat, dt);
            if (dt < best) best = dt;
        }
        if (best <= 0) best = 1e-9;
        printf("encode (%s, threads %d, batch_tokens %d, best of %d):\n",
               device_name(mi.device), ma.opt.threads, ma.opt.batch_tokens, repeat);
        printf("  sentences: %zu\n  tokens: %" PRIu64 "\n", ne, enc_tokens);
        printf("  seconds: %.4f\n  tokens_per_s: %.0f\n  sentences_per_s: %.1f\n", best,
               (double)enc_tokens / best, (double)ne / best);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errorf("stdout: write failed: %s", strerror(errno));
        goto bench_done;
    }
    rc = 0;
bench_done:
    free(rows);
    free(ids);
    labse_session_free(sess);
    labse_model_free(m);
    corpus_free(&cp);
out:
    free(inputs);
    return rc;
}

/* ==========================================================================================
 * main
 * ========================================================================================== */

int main(int argc, char **argv) {
    /* A file size limit must give a write error we can report and clean up after, not a
     * signal that kills us with the temporary file left behind. */
    signal(SIGXFSZ, SIG_IGN);
    opterr = 0;
    if (argc < 2) {
        fputs(USAGE_MAIN, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            /* `labse help encode` == `labse encode --help` */
            static char help_flag[] = "--help";
            static char *hargv[3];
            hargv[0] = argv[2];
            hargv[1] = help_flag;
            hargv[2] = NULL;
            cmd = argv[2];
            argv = hargv;
            argc = 2;
            goto dispatch_sub;
        }
        fputs(USAGE_MAIN, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("labse %d.%d.%d\n", LABSE_VERSION_MAJOR, LABSE_VERSION_MINOR, LABSE_VERSION_PATCH);
        return 0;
    }
    argc--;
    argv++;
dispatch_sub:
    optind = 0; /* glibc: full re-initialisation of getopt */
    if (strcmp(cmd, "encode") == 0) return cmd_encode(argc, argv);
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc, argv);
    if (strcmp(cmd, "info") == 0) return cmd_info(argc, argv);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc, argv);
    fprintf(stderr, "labse: unknown command '%s'\n\n%s", cmd, USAGE_MAIN);
    return EXIT_USAGE;
}
