/* eval.c — `labse eval`: Tatoeba-style retrieval accuracy on aligned bitext (line i of the
 * source translates line i of the target), by cosine and by margin, both directions. */
#include <cjson/cJSON.h>

#include "cli.h"

static const char USAGE_EVAL[] =
    "usage: labse eval --model DIR FILE.tsv...\n"
    "       labse eval --src-emb A --tgt-emb B\n"
    "\n"
    "Retrieval accuracy on aligned translations: for every line, is its nearest candidate on\n"
    "the other side its own translation? By cosine (the nearest neighbour; the lower index on\n"
    "ties) and by margin (the best of the k nearest by margin score, as 'labse mine'), from\n"
    "source to target and from target to source. Per file, then the unweighted mean over the\n"
    "files.\n"
    "\n"
    "A FILE.tsv has one pair a line: source text, a tab, target text (split at the first tab;\n"
    "a line without a tab is an error). --src-emb/--tgt-emb: row i of A translates row i of B\n"
    "(.npy or part folders, as for mine; same row count).\n"
    "\n"
    "  -m, --model DIR       model folder (for FILE.tsv)\n"
    "      --src-emb PATH    source embeddings\n"
    "      --tgt-emb PATH    target embeddings\n"
    "  -k, --k N             neighbours for the margin (default 4; lowered to the corpus size)\n"
    "      --margin M        ratio | distance | absolute (default ratio)\n"
    "      --json            one JSON object on stdout instead of the table\n"
    "  -t, --threads N       CPU threads, 0 = all (default 0)\n"
    "      --block-rows N    rows per similarity block (default 2048)\n"
    "      --device D        cpu | cuda | cuda:N | auto (default): the encoder's device and\n"
    "                        the k-NN search's (auto = the GPU when built with CUDA and present)\n"
    "      --batch-tokens N, --max-length N, --precision P   as for encode\n"
    "  -q, --quiet           no warnings on stderr\n"
    "  -h, --help            this help\n"
    "\n"
    "Table: accuracies in percent. JSON: {\"files\": [{\"name\", \"n\", \"cos_src2tgt\",\n"
    "\"cos_tgt2src\", \"margin_src2tgt\", \"margin_tgt2src\"}...], \"average\": {...}} with\n"
    "fractions in [0, 1].\n";

enum { OPT_E_SRC_EMB = 512, OPT_E_TGT_EMB, OPT_E_MARGIN, OPT_E_JSON, OPT_E_BLOCK_ROWS };

/* k-NN + accuracies of one aligned pair of matrices. */
static int eval_pair(const labse_embeddings *a, const labse_embeddings *b, int k,
                     size_t block_rows, const labse_options *dev, int quiet, labse_margin margin,
                     labse_eval_result *res) {
    if (labse_embeddings_rows(a) != labse_embeddings_rows(b)) {
        errorf("%s has %" PRIu64 " rows but %s has %" PRIu64
               " (eval needs aligned pairs: row i translates row i)",
               labse_embeddings_name(a), labse_embeddings_rows(a), labse_embeddings_name(b),
               labse_embeddings_rows(b));
        return EXIT_RUNTIME;
    }
    labse_mine_options mo = mine_knn_options(k, block_rows, dev);
    mo.margin = margin;
    labse_error err = {0};
    int k_used = k;
    labse_status s = labse_eval_embeddings(a, b, &mo, res, &k_used, &err);
    if (s != LABSE_OK) return report("k-NN", s, &err, 0);
    mine_k_warning(k, k_used, quiet);
    return 0;
}

static cJSON *result_json(const char *name, const labse_eval_result *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (name) cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "n", (double)r->n);
    cJSON_AddNumberToObject(o, "cos_src2tgt", r->cos_src2tgt);
    cJSON_AddNumberToObject(o, "cos_tgt2src", r->cos_tgt2src);
    cJSON_AddNumberToObject(o, "margin_src2tgt", r->margin_src2tgt);
    cJSON_AddNumberToObject(o, "margin_tgt2src", r->margin_tgt2src);
    return o;
}

static void print_row(const char *name, const labse_eval_result *r) {
    printf("%-32s %9" PRIu64 " %10.2f %10.2f %12.2f %12.2f\n", name, r->n, 100 * r->cos_src2tgt,
           100 * r->cos_tgt2src, 100 * r->margin_src2tgt, 100 * r->margin_tgt2src);
}

int cmd_eval(int argc, char **argv) {
    static const struct option own[] = {
        {"src-emb", required_argument, NULL, OPT_E_SRC_EMB},
        {"tgt-emb", required_argument, NULL, OPT_E_TGT_EMB},
        {"k", required_argument, NULL, 'k'},
        {"margin", required_argument, NULL, OPT_E_MARGIN},
        {"json", no_argument, NULL, OPT_E_JSON},
        {"block-rows", required_argument, NULL, OPT_E_BLOCK_ROWS},
        {NULL, 0, NULL, 0},
    };
    cli_getopt g;
    cli_getopt_build(&g, CLI_OPT_MODEL_ALL | CLI_OPT_QUIET | CLI_OPT_HELP, own, "k:");
    model_args ma = {NULL, labse_default_options()};
    const char *src_emb = NULL, *tgt_emb = NULL;
    int k = 4, json = 0, quiet = 0, block_rows = 2048, c;
    labse_margin margin = LABSE_MARGIN_RATIO;
    while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
        int r = model_option(c, optarg, &ma);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        switch (c) {
        case OPT_E_SRC_EMB: src_emb = optarg; break;
        case OPT_E_TGT_EMB: tgt_emb = optarg; break;
        case 'k':
            if (!parse_int("--k", optarg, 1, 1 << 20, &k)) return EXIT_USAGE;
            break;
        case OPT_E_MARGIN:
            if (!labse_margin_parse(optarg, &margin))
                return usage_error("eval", "--margin: '%s' is not ratio, distance or absolute",
                                   optarg);
            break;
        case OPT_E_JSON: json = 1; break;
        case OPT_E_BLOCK_ROWS:
            if (!parse_int("--block-rows", optarg, 1, 1 << 20, &block_rows)) return EXIT_USAGE;
            break;
        case 'q': quiet = 1; break;
        case 'h': fputs(USAGE_EVAL, stdout); return 0;
        default: return getopt_failure("eval", c, argv);
        }
    }
    int n_files = argc - optind;
    int emb_mode = src_emb || tgt_emb;
    if (emb_mode && (!src_emb || !tgt_emb))
        return usage_error("eval", "--src-emb and --tgt-emb go together");
    if (emb_mode && n_files > 0)
        return usage_error("eval", "give either FILE.tsv arguments or --src-emb/--tgt-emb");
    if (!emb_mode && n_files == 0) return usage_error("eval", "no FILE.tsv given");
    if (!emb_mode && !ma.model) return usage_error("eval", "--model is required for FILE.tsv");

    int n_items = emb_mode ? 1 : n_files;
    labse_eval_result *res = calloc((size_t)n_items, sizeof *res);
    if (!res) {
        errorf("out of memory");
        return EXIT_RUNTIME;
    }
    int rc = 0;
    labse_model *m = NULL;
    labse_session *sess = NULL;
    if (emb_mode) {
        labse_embeddings *a = NULL, *b = NULL;
        rc = mine_open_emb(src_emb, &a);
        if (!rc) rc = mine_open_emb(tgt_emb, &b);
        if (!rc) rc = eval_pair(a, b, k, (size_t)block_rows, &ma.opt, quiet, margin, &res[0]);
        labse_embeddings_free(a);
        labse_embeddings_free(b);
    } else {
        labse_error err = {0};
        rc = load_model(&ma, &m);
        if (!rc) {
            labse_status s = labse_session_new(m, &sess, &err);
            if (s != LABSE_OK) rc = report("session", s, &err, 0);
        }
        for (int f = 0; f < n_files && !rc; f++) {
            const char *path = argv[optind + f];
            labse_text *in = NULL;
            const char **sl = NULL, **tl = NULL;
            size_t *sn = NULL, *tn = NULL;
            labse_embeddings *a = NULL, *b = NULL;
            size_t n = 0;
            char name[4200];
            labse_status s = labse_text_read(path, &in, &err);
            if (s != LABSE_OK) rc = report("input", s, &err, 0);
            if (!rc) rc = eval_split_tsv(path, in, &sl, &sn, &tl, &tn, &n);
            snprintf(name, sizeof name, "%s (source)", path);
            if (!rc) rc = mine_encode(sess, m, sl, sn, n, name, &a);
            snprintf(name, sizeof name, "%s (target)", path);
            if (!rc) rc = mine_encode(sess, m, tl, tn, n, name, &b);
            if (!rc) rc = eval_pair(a, b, k, (size_t)block_rows, &ma.opt, quiet, margin, &res[f]);
            labse_embeddings_free(a);
            labse_embeddings_free(b);
            free(sl);
            free(sn);
            free(tl);
            free(tn);
            labse_text_free(in);
        }
    }
    labse_session_free(sess);
    labse_model_free(m);
    if (rc) {
        free(res);
        return rc;
    }

    labse_eval_result avg = {0};
    for (int i = 0; i < n_items; i++) {
        avg.n += res[i].n;
        avg.cos_src2tgt += res[i].cos_src2tgt / n_items;
        avg.cos_tgt2src += res[i].cos_tgt2src / n_items;
        avg.margin_src2tgt += res[i].margin_src2tgt / n_items;
        avg.margin_tgt2src += res[i].margin_tgt2src / n_items;
    }
    if (json) {
        cJSON *root = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(root, "files");
        for (int i = 0; i < n_items; i++)
            cJSON_AddItemToArray(files, result_json(emb_mode ? src_emb : argv[optind + i], &res[i]));
        cJSON_AddItemToObject(root, "average", result_json(NULL, &avg));
        cJSON_AddStringToObject(root, "margin", labse_margin_name(margin));
        cJSON_AddNumberToObject(root, "k", k);
        char *txt = cJSON_PrintUnformatted(root);
        if (txt) puts(txt);
        free(txt);
        cJSON_Delete(root);
    } else {
        printf("%-32s %9s %10s %10s %12s %12s\n", "file", "pairs", "cos s->t", "cos t->s",
               "margin s->t", "margin t->s");
        for (int i = 0; i < n_items; i++) {
            const char *nm = emb_mode ? src_emb : argv[optind + i];
            const char *base = strrchr(nm, '/');
            print_row(base ? base + 1 : nm, &res[i]);
        }
        if (n_items > 1) {
            char label[64];
            snprintf(label, sizeof label, "average (%d files)", n_items);
            print_row(label, &avg);
        }
    }
    free(res);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errorf("stdout: write failed: %s", strerror(errno));
        return EXIT_RUNTIME;
    }
    return 0;
}
