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
#include "io/lines.h"
#include "io/npy.h"

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
};

typedef struct model_args {
    const char *model;
    labse_options opt;
} model_args;

double now_s(void);
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int parse_int(const char *opt, const char *s, int lo, int hi, int *out);
int parse_device(const char *s, labse_options *o);
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

/* Shared by mine.c and eval.c (defined in mine.c): open embeddings, encode lines, run the
 * validated, k-clamped k-NN. Each returns 0 or an exit status after printing the error. */
struct lb_emb;
struct lb_topk;
int mine_open_emb(const char *path, struct lb_emb **out);
int mine_encode(labse_session *sess, const labse_model *m, const lb_line *lines, size_t n,
                const char *name, struct lb_emb **out);
/* mine_knn searches on the device chosen by --device (ma.opt.device / cuda_device: cpu, cuda,
 * cuda:N, auto = the GPU when the build has a real one and it is present). */
int mine_knn(const struct lb_emb *src, const struct lb_emb *tgt, int k, size_t block_rows,
             int threads, const labse_options *dev, int quiet, struct lb_topk *fwd,
             struct lb_topk *bwd);

#endif
