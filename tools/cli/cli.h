/* cli.h — what the `labse` subcommands share: exit codes, option ids, number parsing,
 * error reporting, model loading. One file per subcommand beside it (encode.c, tokenize.c,
 * info.c, bench.c); main.c dispatches. */
#ifndef LABSE_CLI_H
#define LABSE_CLI_H
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

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* Lines encoded per labse_encode() call: bounds the host memory of the output rows
 * (4096 * 768 * 4 B = 12 MiB for LaBSE) whatever the corpus size. */
#define ENCODE_CHUNK 4096


/* Long option ids beyond the char range. */
enum {
    OPT_DEVICE = 256,
    OPT_BATCH_TOKENS,
    OPT_MAX_LENGTH,
    OPT_BITEXT,
    OPT_NO_ENCODE,
    OPT_ENCODER,
    OPT_PRECISION,
};

/* ------------------------------------------------------------------------------------------
 * Options: one table of the options several commands share (common.c), from which each
 * command's getopt_long arrays are built together with its own options.
 * ------------------------------------------------------------------------------------------ */

/* The shared options, as bits of a command's selection. */
enum {
    CLI_OPT_MODEL = 1u << 0,         /* -m, --model DIR */
    CLI_OPT_DEVICE = 1u << 1,        /* --device D */
    CLI_OPT_THREADS = 1u << 2,       /* -t, --threads N */
    CLI_OPT_BATCH_TOKENS = 1u << 3,  /* --batch-tokens N */
    CLI_OPT_MAX_LENGTH = 1u << 4,    /* --max-length N */
    CLI_OPT_QUIET = 1u << 5,         /* -q, --quiet */
    CLI_OPT_HELP = 1u << 6,          /* -h, --help */
    CLI_OPT_PRECISION = 1u << 7,     /* --precision P */
    CLI_OPT_MODEL_ALL = CLI_OPT_MODEL | CLI_OPT_DEVICE | CLI_OPT_THREADS |
                        CLI_OPT_BATCH_TOKENS | CLI_OPT_MAX_LENGTH | CLI_OPT_PRECISION,
};

/* One shared option: its getopt_long entry (id: the short letter, or an OPT_* id >= 256) and
 * its generic help line (a command's usage text may word it for the command). */
typedef struct cli_option {
    unsigned bit;
    const char *name;
    int has_arg;
    int id;
    const char *help;
} cli_option;

extern const cli_option CLI_SHARED_OPTIONS[];
extern const size_t CLI_N_SHARED_OPTIONS;

#define CLI_MAX_OPTIONS 40

/* A command's getopt_long arguments: the shared options selected + its own. */
typedef struct cli_getopt {
    struct option longopts[CLI_MAX_OPTIONS + 1];
    char shortopts[2 * CLI_MAX_OPTIONS + 2];
} cli_getopt;

/* Build g: ":" then the short letters (with ':' when they take a value) of the selected shared
 * options and own_short; longopts = the selected shared entries (table order), then `own`
 * (terminated by a {NULL} entry; may be NULL). Aborts on more than CLI_MAX_OPTIONS entries (a
 * programming error). */
void cli_getopt_build(cli_getopt *g, unsigned shared, const struct option *own,
                      const char *own_short);

typedef struct model_args {
    const char *model;
    labse_options opt;
} model_args;

double now_s(void);
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* `labse eval`'s TSV reader (eval_tsv.c): split each of in's n lines at its first tab into
 * source and target views into in's bytes. *src, *src_len, *tgt, *tgt_len receive malloc'ed
 * arrays that the caller frees with free() whatever the result (NULL or partly filled on
 * failure); *n = the pair count on success. Returns 0, or EXIT_RUNTIME after errorf() naming
 * path (and the line: "PATH:LINE: no tab") when the input is empty, a line has no tab, or
 * memory runs out. Reentrant (errorf writes stderr). */
int eval_split_tsv(const char *path, const labse_text *in, const char ***src, size_t **src_len,
                   const char ***tgt, size_t **tgt_len, size_t *n);
int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int parse_int(const char *opt, const char *s, int lo, int hi, int *out);
int parse_device(const char *s, labse_options *o);
/* --precision: fp32 | bf16 | fp16 | default into o->precision; 0 (after a message) if bad. */
int parse_precision(const char *s, labse_options *o);
/* `labse bench`'s encoder-only phase (bench_encoder.c): pre-tokenised, pre-packed batches
 * through the device's pipeline backend; prints an "encoder" section. 0 or EXIT_RUNTIME. */
int bench_encoder(const labse_model *m, const char *const *text, const size_t *len, size_t n,
                  int repeat, int batch_tokens);
const char *device_name(labse_device d);
const char *bad_opt_name(char **argv, int optind_now, int optopt_now, char *buf, size_t n);
int report(const char *what, labse_status s, const labse_error *err, int invalid_is_usage);
int load_model(const model_args *ma, labse_model **m);
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int getopt_failure(const char *cmd, int c, char **argv);
int model_option(int c, const char *arg, model_args *ma);
void print_info(FILE *f, const labse_model_info *mi, const char *prefix);

int cmd_encode(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_merge(int argc, char **argv);  /* merge.c (pipeline shards) */
int cmd_mine(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* Shared by mine.c and eval.c (defined in mine.c): open embeddings, encode texts, both over
 * the public labse_embeddings. Each returns 0 or an exit status after printing the error. */
int mine_open_emb(const char *path, labse_embeddings **out);
int mine_encode(labse_session *sess, const labse_model *m, const char *const *texts,
                const size_t *lens, size_t n, const char *name, labse_embeddings **out);
/* The k-NN options of --k/--block-rows/--threads/--device (ma.opt.device / cuda_device: cpu,
 * cuda, cuda:N, auto = the GPU when the build has a real one and it is present). */
labse_mine_options mine_knn_options(int k, size_t block_rows, const labse_options *dev);
/* The warning of a k lowered to the corpus size (unless quiet). */
void mine_k_warning(int k, int k_used, int quiet);

#endif
