/* main.c — the `labse` command line tool over liblabse (include/labse.h).
 *
 *   labse encode    lines in, float32 .npy out (row i = line i)
 *   labse tokenize  lines in, WordPiece ids out (one line per input line)
 *   labse info      what a model folder holds
 *   labse bench     tokenizer and encoder throughput on a corpus
 *   labse mine      bitext mining (k-NN margin scoring), tools/cli/mine.c
 *   labse eval      retrieval accuracy on aligned translations, tools/cli/eval.c
 *
 * Exit status: 0 success, 1 runtime failure (I/O, model, encoder), 2 usage error (unknown
 * command or option, bad number, missing argument, an option value the model refuses).
 * Every message goes to stderr; only `tokenize`, `info`, `bench` and --help write stdout.
 */
#include "cli.h"

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
    "  merge      join the shard folders of `encode --shard` into one folder or .npy\n"
    "  mine       bitext mining: k-NN margin scoring between two corpora\n"
    "  eval       retrieval accuracy on aligned translations (cosine and margin)\n"
    "\n"
    "Run 'labse COMMAND --help' for the options of a command.\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

/* ==========================================================================================
 * main
 * ========================================================================================== */

/* SIGINT/SIGTERM/SIGHUP for every command (encode installs its own, graceful stop while it
 * encodes): remove the temporaries of the outputs being written, then die of the signal
 * (exit status 128 + signal for the shell). No output is ever partial under its final name;
 * this also leaves no "*.tmp.PID" behind. Async-signal-safe. */
static void on_fatal_signal(int sig) {
    labse_remove_temporaries();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv) {
    /* A file size limit must give a write error we can report and clean up after, not a
     * signal that kills us with the temporary file left behind. */
    signal(SIGXFSZ, SIG_IGN);
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
    }
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
    if (strcmp(cmd, "merge") == 0) return cmd_merge(argc, argv);
    if (strcmp(cmd, "mine") == 0) return cmd_mine(argc, argv);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc, argv);
    fprintf(stderr, "labse: unknown command '%s'\n\n%s", cmd, USAGE_MAIN);
    return EXIT_USAGE;
}
