/* common.c — helpers shared by the subcommands (see cli.h). */
#include "cli.h"

/* ==========================================================================================
 * Small helpers
 * ========================================================================================== */

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("labse: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Strict integer parsing: the whole string is a decimal integer within [lo, hi]. */
int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
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

int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    int64_t v;
    if (!parse_i64(opt, s, lo, hi, &v)) return 0;
    *out = (int)v;
    return 1;
}

int parse_device(const char *s, labse_options *o) {
    if (strcmp(s, "cpu") == 0) {
        o->device = LABSE_DEVICE_CPU;
    } else if (strcmp(s, "null") == 0) { /* benchmarks only: no encoder (labse.h) */
        o->device = LABSE_DEVICE_NULL;
    } else if (strcmp(s, "cuda") == 0 || strcmp(s, "gpu") == 0) {
        o->device = LABSE_DEVICE_CUDA;
        o->cuda_device = 0;
    } else if (strcmp(s, "cuda:all") == 0) {
        o->device = LABSE_DEVICE_CUDA;
        o->cuda_device = LABSE_CUDA_ALL;
    } else if (strncmp(s, "cuda:", 5) == 0 && s[5] >= '0' && s[5] <= '9') {
        char *end;
        long v = strtol(s + 5, &end, 10);
        if (*end || v > 1023) {
            errorf("--device: '%s' is not cuda:N with N a GPU ordinal", s);
            return 0;
        }
        o->device = LABSE_DEVICE_CUDA;
        o->cuda_device = (int)v;
    } else if (strcmp(s, "auto") == 0) {
        o->device = LABSE_DEVICE_AUTO;
    } else {
        errorf("--device: '%s' is not one of cpu, cuda, cuda:N, cuda:all, auto, null", s);
        return 0;
    }
    return 1;
}

const char *device_name(labse_device d) {
    switch (d) {
    case LABSE_DEVICE_CPU: return "cpu";
    case LABSE_DEVICE_CUDA: return "cuda";
    case LABSE_DEVICE_AUTO: return "auto";
    case LABSE_DEVICE_NULL: return "null";
    }
    return "?";
}

/* The name getopt_long was looking at when it failed (for messages). */
const char *bad_opt_name(char **argv, int optind_now, int optopt_now, char *buf,
                                size_t cap) {
    if (optopt_now > 0 && optopt_now < 256) {
        snprintf(buf, cap, "-%c", optopt_now);
        return buf;
    }
    const char *a = (optind_now > 0) ? argv[optind_now - 1] : "?";
    return a ? a : "?";
}

int parse_precision(const char *s, labse_options *o) {
    static const struct { const char *name; labse_precision p; } names[] = {
        {"default", LABSE_PRECISION_DEFAULT}, {"fp32", LABSE_PRECISION_FP32},
        {"bf16", LABSE_PRECISION_BF16}, {"fp16", LABSE_PRECISION_FP16}, {"fp8", LABSE_PRECISION_FP8},
        {"fp8-model", LABSE_PRECISION_FP8_MODEL}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            o->precision = names[i].p;
            return 1;
        }
    errorf("--precision: '%s' is not one of fp32, bf16, fp8-model, fp16, fp8, default", s);
    return 0;
}

/* The library names options generically; CLI users read their flags. */
static const char *const FLAG_NAMES[][2] = {
    {"option batch_tokens", "--batch-tokens"},
    {"device cpu", "--device cpu"},
    {"precision ", "--precision "},
};

/* msg with every generic name of FLAG_NAMES replaced by its flag (not when already a flag). */
static void to_flags(const char *msg, char *out, size_t cap) {
    size_t o = 0;
    while (*msg && o + 1 < cap) {
        const char *flag = NULL;
        size_t n = 0;
        for (size_t i = 0; i < sizeof FLAG_NAMES / sizeof FLAG_NAMES[0] && !flag; i++) {
            n = strlen(FLAG_NAMES[i][0]);
            if (strncmp(msg, FLAG_NAMES[i][0], n) == 0 && !(o >= 2 && out[o - 1] == '-'))
                flag = FLAG_NAMES[i][1];
        }
        if (flag) {
            int w = snprintf(out + o, cap - o, "%s", flag);
            o = w < 0 ? o : (o + (size_t)w < cap ? o + (size_t)w : cap - 1);
            msg += n;
        } else {
            out[o++] = *msg++;
        }
    }
    out[o] = '\0';
}

/* Report a library failure; returns the exit status to use. A refused option value
 * (LABSE_E_INVALID while loading) is a usage error. */
int report(const char *what, labse_status s, const labse_error *err, int invalid_is_usage) {
    char msg[2 * LABSE_ERRMSG_MAX];
    to_flags((err && err->message[0]) ? err->message : labse_status_str(s), msg, sizeof msg);
    errorf("%s: %s", what, msg);
    return (invalid_is_usage && s == LABSE_E_INVALID) ? EXIT_USAGE : EXIT_RUNTIME;
}

/* Options every model-loading command shares. */
int load_model(const model_args *ma, labse_model **m) {
    labse_error err = {0};
    labse_status s = labse_model_load(ma->model, &ma->opt, m, &err);
    if (s != LABSE_OK) return report(ma->model, s, &err, 1);
    return 0;
}

int usage_error(const char *cmd, const char *fmt, ...) {
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
int getopt_failure(const char *cmd, int c, char **argv) {
    char b[8];
    const char *name = bad_opt_name(argv, optind, optopt, b, sizeof b);
    if (c == ':') return usage_error(cmd, "option '%s' needs a value", name);
    return usage_error(cmd, "unknown option '%s'", name);
}

/* ==========================================================================================
 * Options
 * ========================================================================================== */

const cli_option CLI_SHARED_OPTIONS[] = {
    {CLI_OPT_MODEL, "model", required_argument, 'm',
     "  -m, --model DIR         model folder"},
    {CLI_OPT_DEVICE, "device", required_argument, OPT_DEVICE,
     "      --device D          cpu | cuda | cuda:N | cuda:all | auto (default auto: the\n"
     "                          GPU when this build has one and a device is present)"},
    {CLI_OPT_THREADS, "threads", required_argument, 't',
     "  -t, --threads N         encoder CPU threads, 0 = all cores (default 0)"},
    {CLI_OPT_BATCH_TOKENS, "batch-tokens", required_argument, OPT_BATCH_TOKENS,
     "      --batch-tokens N    token budget of one batch (default 16384)"},
    {CLI_OPT_MAX_LENGTH, "max-length", required_argument, OPT_MAX_LENGTH,
     "      --max-length N      max tokens per line incl. [CLS]/[SEP] (default: the model's)"},
    {CLI_OPT_PRECISION, "precision", required_argument, OPT_PRECISION,
     "      --precision P       cpu: fp32 (default) | bf16 | fp8-model (cuda's fp8 maths, for\n"
     "                          accuracy studies); cuda: fp16 (default) | fp8"},
    {CLI_OPT_QUIET, "quiet", no_argument, 'q',
     "  -q, --quiet             no summary on stderr"},
    {CLI_OPT_HELP, "help", no_argument, 'h',
     "  -h, --help              this help"},
};
const size_t CLI_N_SHARED_OPTIONS = sizeof CLI_SHARED_OPTIONS / sizeof CLI_SHARED_OPTIONS[0];

void cli_getopt_build(cli_getopt *g, unsigned shared, const struct option *own,
                      const char *own_short) {
    size_t n = 0, ns = 0;
    memset(g, 0, sizeof *g);
    g->shortopts[ns++] = ':';
    for (size_t i = 0; i < CLI_N_SHARED_OPTIONS; i++) {
        const cli_option *o = &CLI_SHARED_OPTIONS[i];
        if (!(shared & o->bit)) continue;
        if (n >= CLI_MAX_OPTIONS) abort();
        g->longopts[n++] = (struct option){o->name, o->has_arg, NULL, o->id};
        if (o->id > 0 && o->id < 256) {
            g->shortopts[ns++] = (char)o->id;
            if (o->has_arg == required_argument) g->shortopts[ns++] = ':';
        }
    }
    for (; own && own->name; own++) {
        if (n >= CLI_MAX_OPTIONS) abort();
        g->longopts[n++] = *own;
    }
    size_t l = own_short ? strlen(own_short) : 0;
    if (ns + l >= sizeof g->shortopts) abort();
    if (l) memcpy(g->shortopts + ns, own_short, l);
    g->longopts[n] = (struct option){NULL, 0, NULL, 0};
}

/* Handle an option every model command shares. Returns 1 handled, 0 not ours, -1 bad value. */
int model_option(int c, const char *arg, model_args *ma) {
    switch (c) {
    case 'm': ma->model = arg; return 1;
    case OPT_DEVICE: return parse_device(arg, &ma->opt) ? 1 : -1;
    case OPT_PRECISION: return parse_precision(arg, &ma->opt) ? 1 : -1;
    case 't': return parse_int("--threads", arg, 0, 4096, &ma->opt.threads) ? 1 : -1;
    case OPT_BATCH_TOKENS:
        return parse_int("--batch-tokens", arg, 1, 1 << 30, &ma->opt.batch_tokens) ? 1 : -1;
    case OPT_MAX_LENGTH:
        return parse_int("--max-length", arg, 2, 1 << 20, &ma->opt.max_length) ? 1 : -1;
    default: return 0;
    }
}
