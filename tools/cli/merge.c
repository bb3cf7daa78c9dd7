/* merge.c — `labse merge`: join the shard folders of `labse encode --shard` into one folder
 * (hard links + one manifest) and/or one .npy. */
#include "cli.h"

static const char USAGE_MERGE[] =
    "usage: labse merge OUT_DIR SHARD_DIR...\n"
    "       labse merge --npy OUT.npy [--out OUT_DIR] SHARD_DIR...\n"
    "       labse merge --npy OUT.npy DIR       (DIR: a many-files output, with files.json)\n"
    "\n"
    "Join the complete shard folders of one `labse encode --shard K/N` run (all N of them, in\n"
    "any order) into OUT_DIR: part files hard-linked (copied across file systems) and\n"
    "renumbered, one manifest.json covering the whole input. Refused unless every shard is\n"
    "complete and they share the input (size + fingerprint), model, dim, format (and int8\n"
    "ranges) and shard count, with contiguous byte and line ranges; when the input is at\n"
    "its recorded path, the bytes under every part must still match their sha256. --npy\n"
    "also (or only) concatenates every row into one .npy (atomic; each part's checksum,\n"
    "XXH3-128 as xxh128sum prints it, is verified on the way).\n"
    "\n"
    "A many-files output (labse encode --input-list or --input repeated, with or without\n"
    "--shard) is given alone: --npy OUT.npy DIR concatenates the rows of every input in the\n"
    "order of DIR/files.json (a cut input's shard folders checked as above); refused unless\n"
    "every input of the list is present and complete, naming the first that is not.\n"
    "\n"
    "      --npy OUT.npy   concatenate every row into one .npy (then every argument is a\n"
    "                      SHARD_DIR; give the folder with --out)\n"
    "      --out OUT_DIR   the merged folder (the first argument when --npy is absent)\n"
    "  -q, --quiet         no summary\n"
    "  -h, --help          this help\n";

int cmd_merge(int argc, char **argv) {
    static const struct option own[] = {
        {"npy", required_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'O'},
        {NULL, 0, NULL, 0},
    };
    cli_getopt g;
    cli_getopt_build(&g, CLI_OPT_QUIET | CLI_OPT_HELP, own, NULL);
    const char *npy = NULL, *out_dir = NULL;
    int quiet = 0, c;
    while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
        switch (c) {
        case 'n': npy = optarg; break;
        case 'O': out_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(USAGE_MERGE, stdout); return 0;
        default: return getopt_failure("merge", c, argv);
        }
    }
    if (!npy && !out_dir) {
        if (argc - optind < 2) return usage_error("merge", "need OUT_DIR and at least one SHARD_DIR");
        out_dir = argv[optind++];
    }
    if (argc - optind < 1) return usage_error("merge", "need at least one SHARD_DIR");
    labse_error err = {0};
    uint64_t rows = 0;
    double t0 = now_s();
    labse_status s = labse_merge(out_dir, (const char *const *)argv + optind, argc - optind,
                                 npy, &rows, &err);
    if (s != LABSE_OK) return report("merge", s, &err, 0);
    if (!quiet && argc - optind == 1 && npy && !out_dir)
        errorf("merged %s, %" PRIu64 " rows in %.3f s -> %s", argv[optind], rows, now_s() - t0,
               npy);
    else if (!quiet)
        errorf("merged %d shards, %" PRIu64 " rows in %.3f s%s%s%s%s", argc - optind, rows,
               now_s() - t0, out_dir ? " -> " : "", out_dir ? out_dir : "", npy ? " -> " : "",
               npy ? npy : "");
    return 0;
}
