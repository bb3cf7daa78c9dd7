/* tokenize.c — `labse tokenize`: lines in, WordPiece ids out. */
#include "cli.h"

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

int cmd_tokenize(int argc, char **argv) {
    static const struct option own[] = {
        {"input", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    cli_getopt g;
    cli_getopt_build(&g, CLI_OPT_MODEL | CLI_OPT_MAX_LENGTH | CLI_OPT_HELP, own, "i:");
    model_args ma = {NULL, labse_default_options()};
    ma.opt.device = LABSE_DEVICE_CPU; /* tokenising needs no GPU */
    const char *input = NULL;
    int c;
    while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
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
    labse_text *in = NULL;
    labse_model *m = NULL;
    int32_t *ids = NULL;
    char *outbuf = NULL;
    labse_status s = labse_text_read(input, &in, &err);
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
    size_t n_lines = labse_text_count(in);
    for (size_t lineno = 1; lineno <= n_lines; lineno++) {
        size_t len;
        const char *line = labse_text_line(in, lineno - 1, &len);
        size_t n = labse_tokenize(m, line, len, ids, NULL, &err);
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
    labse_text_free(in);
    return rc;
}
