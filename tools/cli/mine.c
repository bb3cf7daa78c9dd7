/* mine.c — `labse mine`: bitext mining by exact k-NN margin scoring (src/knn.c, src/margin.c),
 * and the helpers `labse eval` shares with it (mine_load_emb, mine_knn). */
#include <omp.h>

#include "cli.h"
#include "mine/knn.h"
#include "mine/margin.h"
#include "mine/mine_emb.h"

static const char USAGE_MINE[] =
    "usage: labse mine (--src A.txt | --src-emb A) (--tgt B.txt | --tgt-emb B) --output OUT\n"
    "                  [--model DIR] [options]\n"
    "\n"
    "Find the translation pairs between a source and a target corpus: exact k-nearest-\n"
    "neighbour search by cosine both ways, then margin scoring (Artetxe & Schwenk 2019):\n"
    "  score(x,y) = margin(cos(x,y), sum_{z in NN_k(x)} cos(x,z)/2k + sum_{z in NN_k(y)} cos(y,z)/2k)\n"
    "  ratio: a/b   distance: a-b   absolute: a\n"
    "Embeddings are L2-normalised first; a row with NaN/inf or zero norm is an error.\n"
    "\n"
    "Output: one pair a line, tab-separated: score (%.8f), source line, target line (both\n"
    "0-based), then the source and target texts when both --src and --tgt were given (a tab\n"
    "inside a text is written as a space). Sorted by score descending, ties by source then\n"
    "target ascending. Written to OUT.tmp.PID and renamed; '-' writes stdout.\n"
    "\n"
    "Retrieval (as LASER's mine_bitexts.py; a candidate's best is its highest margin among its\n"
    "k neighbours, the lower index on ties):\n"
    "  forward    each source with its best target\n"
    "  backward   each target with its best source\n"
    "  intersect  forward pairs whose target's best source is that source\n"
    "  max        forward + backward pairs by score descending, keeping a pair only when\n"
    "             neither its source nor its target is already used (default)\n"
    "\n"
    "  --src FILE            source text, one sentence per line (encoded with --model unless\n"
    "                        --src-emb is also given: then only printed; counts must match)\n"
    "  --tgt FILE            target text, likewise\n"
    "  --src-emb PATH        source embeddings: a float32/float16 .npy (rows, dim) or a part\n"
    "                        folder of 'labse encode' (manifest.json); memory-mapped\n"
    "  --tgt-emb PATH        target embeddings, likewise\n"
    "  -o, --output OUT      pairs TSV ('-' = stdout) (required)\n"
    "  -k, --k N             neighbours (default 4); above the smaller corpus it is lowered\n"
    "                        to that size with a warning\n"
    "      --margin M        ratio | distance | absolute (default ratio)\n"
    "      --retrieval R     forward | backward | intersect | max (default max)\n"
    "      --threshold T     keep pairs with score >= T (default: all)\n"
    "  -t, --threads N       CPU threads for the search and the encoder, 0 = all (default 0)\n"
    "      --block-rows N    rows per similarity block (default 2048); memory ~ threads x\n"
    "                        N x (N + dim) x 4 bytes\n"
    "  -m, --model DIR       model folder, to encode --src/--tgt texts\n"
    "      --device D        cpu | cuda | cuda:N | auto (default): the encoder's device and\n"
    "                        the k-NN search's (auto = the GPU when built with CUDA and present;\n"
    "                        GPU search: fp32 cuBLAS tiles, k <= 64, same results within 1e-5)\n"
    "      --batch-tokens N, --max-length N   as for encode\n"
    "  -q, --quiet           no summary on stderr\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure (unreadable or inconsistent input: dimension\n"
    "mismatch, empty corpus, NaN rows...), 2 usage error.\n";

/* Long options beyond cli.h's ids (local: 512 up). */
enum {
    OPT_SRC = 512,
    OPT_TGT,
    OPT_SRC_EMB,
    OPT_TGT_EMB,
    OPT_MARGIN,
    OPT_RETRIEVAL,
    OPT_THRESHOLD,
    OPT_BLOCK_ROWS,
};

/* ==========================================================================================
 * Helpers shared with eval.c (declared in cli.h)
 * ========================================================================================== */

int mine_open_emb(const char *path, lb_emb **out) {
    labse_error err = {0};
    labse_status s = lb_emb_open(path, out, &err);
    if (s != LABSE_OK) return report("embeddings", s, &err, 0);
    return 0;
}

int mine_encode(labse_session *sess, const labse_model *m, const lb_line *lines, size_t n,
                const char *name, lb_emb **out) {
    labse_error err = {0};
    labse_status s =
        lb_emb_encode_lines(sess, (size_t)labse_model_dim(m), lines, n, name, out, &err);
    if (s != LABSE_OK) return report("encode", s, &err, 0);
    return 0;
}

int mine_knn(const lb_emb *src, const lb_emb *tgt, int k, size_t block_rows, int threads,
             const labse_options *dev, int quiet, lb_topk *fwd, lb_topk *bwd) {
    labse_error err = {0};
    int k_used = k;
    const lb_knn_backend *be = NULL;
    labse_status s = lb_knn_backend_select(dev ? dev->device : LABSE_DEVICE_CPU,
                                           dev ? dev->cuda_device : 0, &be, &err);
    if (s != LABSE_OK) return report("k-NN", s, &err, 0);
    /* auto never fails for a k the GPU search does not take (k <= 64): it uses the CPU */
    if (dev && dev->device == LABSE_DEVICE_AUTO && be != lb_knn_backend_cpu() && k > 64 &&
        (uint64_t)k <= lb_emb_rows(src) && (uint64_t)k <= lb_emb_rows(tgt))
        be = lb_knn_backend_cpu();
    s = lb_knn_mine_run_on(be, src, tgt, k, block_rows, threads, &k_used, fwd, bwd, &err);
    if (s != LABSE_OK) return report("k-NN", s, &err, 0);
    if (k_used != k && !quiet)
        errorf("warning: --k %d exceeds the smaller corpus (%d rows); using k = %d", k, k_used,
               k_used);
    return 0;
}

/* ==========================================================================================
 * Output
 * ========================================================================================== */

/* Write a text with each tab replaced by a space. */
static void put_text(FILE *f, const lb_line *l) {
    for (size_t i = 0; i < l->len; i++) putc(l->ptr[i] == '\t' ? ' ' : l->ptr[i], f);
}

static int write_pairs(const char *path, const lb_pair *pairs, size_t n, const lb_line *st,
                       const lb_line *tt) {
    int to_stdout = strcmp(path, "-") == 0;
    char tmp[4096];
    FILE *f = stdout;
    if (!to_stdout) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        f = fopen(tmp, "wx");
        if (!f) {
            errorf("%s: cannot create: %s", tmp, strerror(errno));
            return EXIT_RUNTIME;
        }
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%.8f\t%" PRIu32 "\t%" PRIu32, pairs[i].score, pairs[i].src, pairs[i].tgt);
        if (st && tt) {
            putc('\t', f);
            put_text(f, &st[pairs[i].src]);
            putc('\t', f);
            put_text(f, &tt[pairs[i].tgt]);
        }
        putc('\n', f);
    }
    int bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    if (to_stdout) {
        if (bad) errorf("stdout: write failed: %s", strerror(e));
        return bad ? EXIT_RUNTIME : 0;
    }
    if (!bad && fsync(fileno(f)) != 0) bad = 1, e = errno;
    if (fclose(f) != 0 && !bad) bad = 1, e = errno;
    if (!bad && rename(tmp, path) != 0) bad = 1, e = errno;
    if (bad) {
        errorf("%s: write failed: %s", path, strerror(e));
        unlink(tmp);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* ==========================================================================================
 * mine
 * ========================================================================================== */

/* One side of the mining: optional texts, embeddings (opened or encoded). */
typedef struct side {
    const char *text_path, *emb_path;
    lb_input in;
    lb_line *lines;
    size_t n_lines;
    lb_emb *emb;
} side;

static int side_read_text(side *sd) {
    if (!sd->text_path) return 0;
    labse_error err = {0};
    labse_status s = lb_input_read(sd->text_path, &sd->in, &err);
    if (s == LABSE_OK) s = lb_lines_split(sd->in.data, sd->in.len, &sd->lines, &sd->n_lines, &err);
    if (s != LABSE_OK) return report("input", s, &err, 0);
    return 0;
}

static void side_free(side *sd) {
    lb_emb_free(sd->emb);
    free(sd->lines);
    lb_input_free(&sd->in);
}

int cmd_mine(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"src", required_argument, NULL, OPT_SRC},
        {"tgt", required_argument, NULL, OPT_TGT},
        {"src-emb", required_argument, NULL, OPT_SRC_EMB},
        {"tgt-emb", required_argument, NULL, OPT_TGT_EMB},
        {"output", required_argument, NULL, 'o'},
        {"k", required_argument, NULL, 'k'},
        {"margin", required_argument, NULL, OPT_MARGIN},
        {"retrieval", required_argument, NULL, OPT_RETRIEVAL},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"threads", required_argument, NULL, 't'},
        {"block-rows", required_argument, NULL, OPT_BLOCK_ROWS},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"batch-tokens", required_argument, NULL, OPT_BATCH_TOKENS},
        {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    model_args ma = {NULL, labse_default_options()};
    side sides[2];
    memset(sides, 0, sizeof sides);
    const char *output = NULL;
    int k = 4, quiet = 0, block_rows = 2048, c;
    lb_margin margin = LB_MARGIN_RATIO;
    lb_retrieval retr = LB_RETR_MAX;
    double threshold = -INFINITY;
    while ((c = getopt_long(argc, argv, ":m:o:k:t:qh", longopts, NULL)) != -1) {
        int r = model_option(c, optarg, &ma);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case OPT_SRC: sides[0].text_path = optarg; break;
        case OPT_TGT: sides[1].text_path = optarg; break;
        case OPT_SRC_EMB: sides[0].emb_path = optarg; break;
        case OPT_TGT_EMB: sides[1].emb_path = optarg; break;
        case 'o': output = optarg; break;
        case 'k':
            if (!parse_int("--k", optarg, 1, 1 << 20, &k)) return EXIT_USAGE;
            break;
        case OPT_MARGIN:
            if (!lb_margin_parse(optarg, &margin))
                return usage_error("mine", "--margin: '%s' is not ratio, distance or absolute",
                                   optarg);
            break;
        case OPT_RETRIEVAL:
            if (!lb_retrieval_parse(optarg, &retr))
                return usage_error("mine",
                                   "--retrieval: '%s' is not forward, backward, intersect or max",
                                   optarg);
            break;
        case OPT_THRESHOLD: {
            char *end = NULL;
            errno = 0;
            threshold = strtod(optarg, &end);
            if (!*optarg || *end || errno == ERANGE || isnan(threshold))
                return usage_error("mine", "--threshold: '%s' is not a number", optarg);
            break;
        }
        case OPT_BLOCK_ROWS:
            if (!parse_int("--block-rows", optarg, 1, 1 << 20, &block_rows)) return EXIT_USAGE;
            break;
        case 'q': quiet = 1; break;
        case 'h': fputs(USAGE_MINE, stdout); return 0;
        default: return getopt_failure("mine", c, argv);
        }
    }
    if (optind < argc) return usage_error("mine", "unexpected argument '%s'", argv[optind]);
    if (!output || !*output) return usage_error("mine", "--output is required");
    for (int i = 0; i < 2; i++) {
        const char *nm = i ? "tgt" : "src";
        if (!sides[i].text_path && !sides[i].emb_path)
            return usage_error("mine", "--%s or --%s-emb is required", nm, nm);
        if (!sides[i].emb_path && !ma.model)
            return usage_error("mine", "--model is required to encode --%s", nm);
    }

    double t0 = now_s();
    int rc = EXIT_RUNTIME;
    labse_model *m = NULL;
    labse_session *sess = NULL;
    lb_topk fwd = {0}, bwd = {0};
    lb_pair *pairs = NULL;
    size_t n_pairs = 0;
    labse_error err = {0};

    for (int i = 0; i < 2; i++)
        if ((rc = side_read_text(&sides[i])) != 0) goto done;
    if (!sides[0].emb_path || !sides[1].emb_path) {
        if ((rc = load_model(&ma, &m)) != 0) goto done;
        labse_status s = labse_session_new(m, &sess, &err);
        if (s != LABSE_OK) {
            rc = report("session", s, &err, 0);
            goto done;
        }
    }
    for (int i = 0; i < 2; i++) {
        side *sd = &sides[i];
        if (sd->emb_path)
            rc = mine_open_emb(sd->emb_path, &sd->emb);
        else
            rc = mine_encode(sess, m, sd->lines, sd->n_lines, sd->text_path, &sd->emb);
        if (rc) goto done;
        if (sd->text_path && sd->emb_path && lb_emb_rows(sd->emb) != sd->n_lines) {
            errorf("%s has %zu lines but %s has %" PRIu64 " rows", sd->text_path, sd->n_lines,
                   sd->emb_path, lb_emb_rows(sd->emb));
            rc = EXIT_RUNTIME;
            goto done;
        }
    }
    double t_emb = now_s();
    int threads = ma.opt.threads;
    if ((rc = mine_knn(sides[0].emb, sides[1].emb, k, (size_t)block_rows, threads, &ma.opt,
                       quiet, &fwd, &bwd)) != 0)
        goto done;
    double t_knn = now_s();
    labse_status s = lb_mine_pairs(&fwd, &bwd, margin, retr, threshold, &pairs, &n_pairs, &err);
    if (s != LABSE_OK) {
        rc = report("mine", s, &err, 0);
        goto done;
    }
    const lb_line *st = sides[0].text_path && sides[1].text_path ? sides[0].lines : NULL;
    const lb_line *tt = st ? sides[1].lines : NULL;
    if ((rc = write_pairs(output, pairs, n_pairs, st, tt)) != 0) goto done;
    if (!quiet) {
        double secs = t_knn - t_emb;
        uint64_t ns = lb_emb_rows(sides[0].emb), nt = lb_emb_rows(sides[1].emb);
        errorf("mined %zu pairs (%s, %s margin, k = %d) from %" PRIu64 " x %" PRIu64
               " rows, dim %zu: embeddings %.3f s, k-NN %.3f s (%.3g pairs scored/s), total %.3f s",
               n_pairs, lb_retrieval_name(retr), lb_margin_name(margin), fwd.k, ns, nt,
               lb_emb_dim(sides[0].emb), t_emb - t0, secs,
               secs > 0 ? (double)ns * (double)nt / secs : 0.0, now_s() - t0);
    }
    rc = 0;
done:
    free(pairs);
    lb_topk_free(&fwd);
    lb_topk_free(&bwd);
    side_free(&sides[0]);
    side_free(&sides[1]);
    labse_session_free(sess);
    labse_model_free(m);
    return rc;
}
