/* mine.c — `labse mine`: bitext mining by exact k-NN margin scoring (labse_mine_embeddings),
 * and the helpers `labse eval` shares with it (mine_open_emb, mine_encode, mine_knn_options). */
#include "cli.h"

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
    "  --src-emb PATH        source embeddings: a float32/float16/bfloat16 ('<u2' bits, as\n"
    "                        encode --format bf16 writes) .npy (rows, dim), a part folder of\n"
    "                        'labse encode' (manifest.json), or a many-files folder\n"
    "                        (files.json: every input, in list order); memory-mapped. int8,\n"
    "                        ubinary and binary outputs are refused\n"
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
    "      --batch-tokens N, --max-length N, --precision P   as for encode\n"
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

int mine_open_emb(const char *path, labse_embeddings **out) {
    labse_error err = {0};
    labse_status s = labse_embeddings_open(path, out, &err);
    if (s != LABSE_OK) return report("embeddings", s, &err, 0);
    return 0;
}

int mine_encode(labse_session *sess, const labse_model *m, const char *const *texts,
                const size_t *lens, size_t n, const char *name, labse_embeddings **out) {
    labse_error err = {0};
    labse_status s = labse_embeddings_encode(sess, m, texts, lens, n, name, out, &err);
    if (s != LABSE_OK) return report("encode", s, &err, 0);
    return 0;
}

labse_mine_options mine_knn_options(int k, size_t block_rows, const labse_options *dev) {
    labse_mine_options o = labse_default_mine_options();
    o.k = k;
    o.block_rows = block_rows;
    o.threads = dev ? dev->threads : 0;
    o.device = dev ? dev->device : LABSE_DEVICE_CPU;
    o.cuda_device = dev ? dev->cuda_device : 0;
    return o;
}

void mine_k_warning(int k, int k_used, int quiet) {
    if (k_used != k && !quiet)
        errorf("warning: --k %d exceeds the smaller corpus (%d rows); using k = %d", k, k_used,
               k_used);
}

/* ==========================================================================================
 * mine
 * ========================================================================================== */

/* One side of the mining: optional texts, embeddings (opened or encoded). */
typedef struct side {
    const char *text_path, *emb_path;
    labse_text *text;
    labse_embeddings *emb;
} side;

static int side_read_text(side *sd) {
    if (!sd->text_path) return 0;
    labse_error err = {0};
    labse_status s = labse_text_read(sd->text_path, &sd->text, &err);
    if (s != LABSE_OK) return report("input", s, &err, 0);
    return 0;
}

/* Encode a side's text. */
static int side_encode(side *sd, labse_session *sess, const labse_model *m) {
    size_t n = labse_text_count(sd->text);
    const char **p = malloc((n ? n : 1) * sizeof *p);
    size_t *l = malloc((n ? n : 1) * sizeof *l);
    int rc;
    if (!p || !l) {
        errorf("out of memory");
        rc = EXIT_RUNTIME;
    } else {
        for (size_t i = 0; i < n; i++) p[i] = labse_text_line(sd->text, i, &l[i]);
        rc = mine_encode(sess, m, p, l, n, sd->text_path, &sd->emb);
    }
    free(p);
    free(l);
    return rc;
}

static void side_free(side *sd) {
    labse_embeddings_free(sd->emb);
    labse_text_free(sd->text);
}

int cmd_mine(int argc, char **argv) {
    static const struct option own[] = {
        {"src", required_argument, NULL, OPT_SRC},
        {"tgt", required_argument, NULL, OPT_TGT},
        {"src-emb", required_argument, NULL, OPT_SRC_EMB},
        {"tgt-emb", required_argument, NULL, OPT_TGT_EMB},
        {"output", required_argument, NULL, 'o'},
        {"k", required_argument, NULL, 'k'},
        {"margin", required_argument, NULL, OPT_MARGIN},
        {"retrieval", required_argument, NULL, OPT_RETRIEVAL},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"block-rows", required_argument, NULL, OPT_BLOCK_ROWS},
        {NULL, 0, NULL, 0},
    };
    cli_getopt g;
    cli_getopt_build(&g, CLI_OPT_MODEL_ALL | CLI_OPT_QUIET | CLI_OPT_HELP, own, "o:k:");
    model_args ma = {NULL, labse_default_options()};
    side sides[2];
    memset(sides, 0, sizeof sides);
    const char *output = NULL;
    int k = 4, quiet = 0, block_rows = 2048, c;
    labse_margin margin = LABSE_MARGIN_RATIO;
    labse_retrieval retr = LABSE_RETRIEVAL_MAX;
    double threshold = -INFINITY;
    while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
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
            if (!labse_margin_parse(optarg, &margin))
                return usage_error("mine", "--margin: '%s' is not ratio, distance or absolute",
                                   optarg);
            break;
        case OPT_RETRIEVAL:
            if (!labse_retrieval_parse(optarg, &retr))
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
    labse_pair *pairs = NULL;
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
            rc = side_encode(sd, sess, m);
        if (rc) goto done;
        size_t n_lines = labse_text_count(sd->text);
        if (sd->text_path && sd->emb_path && labse_embeddings_rows(sd->emb) != n_lines) {
            errorf("%s has %zu lines but %s has %" PRIu64 " rows", sd->text_path, n_lines,
                   sd->emb_path, labse_embeddings_rows(sd->emb));
            rc = EXIT_RUNTIME;
            goto done;
        }
    }
    double t_emb = now_s();
    labse_mine_options mo = mine_knn_options(k, (size_t)block_rows, &ma.opt);
    mo.margin = margin;
    mo.retrieval = retr;
    mo.threshold = threshold;
    int k_used = k;
    labse_status s =
        labse_mine_embeddings(sides[0].emb, sides[1].emb, &mo, &pairs, &n_pairs, &k_used, &err);
    if (s != LABSE_OK) {
        rc = report("k-NN", s, &err, 0);
        goto done;
    }
    double t_knn = now_s();
    mine_k_warning(k, k_used, quiet);
    const labse_text *st = sides[0].text_path && sides[1].text_path ? sides[0].text : NULL;
    const labse_text *tt = st ? sides[1].text : NULL;
    s = labse_write_pairs_tsv(output, pairs, n_pairs, st, tt, &err);
    if (s != LABSE_OK) {
        errorf("%s", err.message[0] ? err.message : labse_status_str(s));
        rc = EXIT_RUNTIME;
        goto done;
    }
    if (!quiet) {
        double secs = t_knn - t_emb;
        uint64_t ns = labse_embeddings_rows(sides[0].emb), nt = labse_embeddings_rows(sides[1].emb);
        errorf("mined %zu pairs (%s, %s margin, k = %d) from %" PRIu64 " x %" PRIu64
               " rows, dim %zu: embeddings %.3f s, k-NN %.3f s (%.3g pairs scored/s), total %.3f s",
               n_pairs, labse_retrieval_name(retr), labse_margin_name(margin), k_used, ns, nt,
               labse_embeddings_dim(sides[0].emb), t_emb - t0, secs,
               secs > 0 ? (double)ns * (double)nt / secs : 0.0, now_s() - t0);
    }
    rc = 0;
done:
    labse_free(pairs);
    side_free(&sides[0]);
    side_free(&sides[1]);
    labse_session_free(sess);
    labse_model_free(m);
    return rc;
}
