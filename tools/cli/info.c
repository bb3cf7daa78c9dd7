/* info.c — `labse info`: what a model folder holds. */
#include "cli.h"

static const char USAGE_INFO[] =
    "usage: labse info --model DIR [--device D] [--max-length N]\n"
    "\n"
    "Print what the model folder holds, one 'key: value' per line: layers, hidden, heads,\n"
    "intermediate, vocab_size, max_position, max_length, pooling, dense_modules, normalize,\n"
    "lowercase, dim, parameters, device.\n"
    "\n"
    "  -m, --model DIR         model folder (required)\n"
    "      --device D          cpu | cuda | cuda:N | cuda:all | auto (default auto: the\n"
    "                          GPU when this build has one and a device is present)\n"
    "      --max-length N      as for encode\n"
    "  -h, --help              this help\n";

/* ==========================================================================================
 * info
 * ========================================================================================== */

void print_info(FILE *f, const labse_model_info *mi, const char *prefix) {
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
    fprintf(f, "%sdevice: %s\n", prefix, mi->device_name);
    fprintf(f, "%sblas: %s\n", prefix, labse_blas_info());
}

int cmd_info(int argc, char **argv) {
    cli_getopt g;
    cli_getopt_build(&g, CLI_OPT_MODEL | CLI_OPT_DEVICE | CLI_OPT_MAX_LENGTH | CLI_OPT_HELP,
                     NULL, NULL);
    model_args ma = {NULL, labse_default_options()};
    int c;
    while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
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
