/* bench.c — `labse bench`: tokenizer and encoder throughput on a corpus. */
#include "cli.h"

static const char USAGE_BENCH[] =
    "usage: labse bench --model DIR (--input FILE... | --bitext DIR) [options]\n"
    "\n"
    "Measure the tokenizer alone (one thread) and the whole encode on a corpus; print the\n"
    "machine, the model and tokens/s, sentences/s. Files ending in .tsv give every\n"
    "tab-separated column as a sentence; other files give one sentence per line.\n"
    "\n"
    "  -m, --model DIR         model folder (required)\n"
    "  -i, --input FILE        a corpus file (repeatable)\n"
    "      --bitext DIR        every *.tsv file of DIR (e.g. ../shared/data/bitext)\n"
    "      --device D          cpu | cuda | cuda:N | cuda:all | auto (default auto: the\n"
    "                          GPU when this build has one and a device is present) | null (no\n"
    "                          encoder, zero rows: the host's feeding rate; benchmarks only)\n"
    "  -t, --threads N         encoder CPU threads, 0 = all cores (default 0)\n"
    "      --batch-tokens N    token budget of one batch (default 16384)\n"
    "      --max-length N      max tokens per sentence (default: the model's)\n"
    "      --precision P       cpu: fp32 (default) | bf16 | fp8-model (cuda's fp8 maths, for\n"
    "                          accuracy studies); cuda: fp16 (default) | fp8\n"
    "  -n, --limit N           encode at most N sentences, taken evenly across the corpus\n"
    "                          (every k-th); the tokenizer always runs on all (default: all)\n"
    "  -r, --repeat N          runs of each measurement; the best is reported (default 1)\n"
    "      --no-encode         measure the tokenizer only\n"
    "      --encoder           also time the encoder alone on pre-packed batches (the\n"
    "                          default on a GPU; section \"encoder\")\n"
    "  -h, --help              this help\n";

/* ==========================================================================================
 * bench
 * ========================================================================================== */

typedef struct corpus {
    labse_text **inputs;  /* every file read, kept mapped: the sentences point into them */
    size_t n_inputs, cap_inputs;
    const char **text;
    size_t *len;
    size_t n, cap;
    uint64_t bytes;
} corpus;

static void corpus_free(corpus *c) {
    for (size_t i = 0; i < c->n_inputs; i++) labse_text_free(c->inputs[i]);
    free(c->inputs);
    free(c->text);
    free(c->len);
    memset(c, 0, sizeof *c);
}

static int corpus_push(corpus *c, const char *p, size_t n) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4096;
        const char **t = realloc(c->text, nc * sizeof *t);
        if (!t) return 0;
        c->text = t;
        size_t *l = realloc(c->len, nc * sizeof *l);
        if (!l) return 0;
        c->len = l;
        c->cap = nc;
    }
    c->text[c->n] = p;
    c->len[c->n] = n;
    c->n++;
    c->bytes += n;
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Add the sentences of one file (all of its tab-separated columns when it ends in .tsv).
 * Returns 0 on success, an exit status on failure. */
static int corpus_add_file(corpus *c, const char *path, int64_t limit) {
    if (c->n_inputs == c->cap_inputs) {
        size_t nc = c->cap_inputs ? c->cap_inputs * 2 : 16;
        labse_text **ni = realloc(c->inputs, nc * sizeof *ni);
        if (!ni) {
            errorf("out of memory");
            return EXIT_RUNTIME;
        }
        c->inputs = ni;
        c->cap_inputs = nc;
    }
    labse_error err = {0};
    labse_text *in = NULL;
    labse_status s = labse_text_read(path, &in, &err);
    if (s != LABSE_OK) return report("input", s, &err, 0);
    c->inputs[c->n_inputs++] = in;
    int tsv = ends_with(path, ".tsv");
    size_t n_lines = labse_text_count(in);
    for (size_t li = 0; li < n_lines && (limit <= 0 || (int64_t)c->n < limit); li++) {
        size_t len;
        const char *line = labse_text_line(in, li, &len);
        if (!tsv) {
            if (!corpus_push(c, line, len)) goto oom;
            continue;
        }
        const char *p = line, *end = line + len;
        for (;;) {
            const char *tab = memchr(p, '\t', (size_t)(end - p));
            const char *fe = tab ? tab : end;
            if ((limit <= 0 || (int64_t)c->n < limit) && !corpus_push(c, p, (size_t)(fe - p)))
                goto oom;
            if (!tab) break;
            p = tab + 1;
        }
    }
    return 0;
oom:
    errorf("out of memory");
    return EXIT_RUNTIME;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int corpus_add_bitext(corpus *c, const char *dir, int64_t limit) {
    DIR *d = opendir(dir);
    if (!d) {
        errorf("%s: cannot open directory: %s", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".tsv")) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 128;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = EXIT_RUNTIME;
                break;
            }
            names = nn;
            cap = nc;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) {
            rc = EXIT_RUNTIME;
            break;
        }
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (rc) errorf("out of memory");
    if (!rc && n == 0) {
        errorf("%s: no *.tsv files", dir);
        rc = EXIT_RUNTIME;
    }
    if (!rc) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; !rc && i < n && (limit <= 0 || (int64_t)c->n < limit); i++)
        rc = corpus_add_file(c, names[i], limit);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static void print_machine(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon) {
                    colon++;
                    while (*colon == ' ' || *colon == '\t') colon++;
                    size_t l = strcspn(colon, "\n");
                    if (l >= sizeof model) l = sizeof model - 1;
                    memcpy(model, colon, l);
                    model[l] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    printf("machine:\n");
    printf("  cpu: %s\n", model);
    printf("  cores: %ld\n", cores);
    if (pages > 0 && psz > 0)
        printf("  memory_gib: %.1f\n", (double)pages * (double)psz / (1024.0 * 1024 * 1024));
}

int cmd_bench(int argc, char **argv) {
    static const struct option own[] = {
        {"input", required_argument, NULL, 'i'},
        {"bitext", required_argument, NULL, OPT_BITEXT},
        {"limit", required_argument, NULL, 'n'},
        {"repeat", required_argument, NULL, 'r'},
        {"no-encode", no_argument, NULL, OPT_NO_ENCODE},
        {"encoder", no_argument, NULL, OPT_ENCODER},
        {NULL, 0, NULL, 0},
    };
    cli_getopt g;
    cli_getopt_build(&g, CLI_OPT_MODEL_ALL | CLI_OPT_HELP, own, "i:n:r:");
    model_args ma = {NULL, labse_default_options()};
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) {
        errorf("out of memory");
        return EXIT_RUNTIME;
    }
    size_t n_inputs = 0;
    const char *bitext = NULL;
    int64_t limit = 0;
    int repeat = 1, no_encode = 0, encoder = 0, c, rc = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
        int r = model_option(c, optarg, &ma);
        if (r < 0) goto out;
        if (r > 0) continue;
        switch (c) {
        case 'i': inputs[n_inputs++] = optarg; break;
        case OPT_BITEXT: bitext = optarg; break;
        case 'n':
            if (!parse_i64("--limit", optarg, 1, INT64_MAX / 2, &limit)) goto out;
            break;
        case 'r':
            if (!parse_int("--repeat", optarg, 1, 1000, &repeat)) goto out;
            break;
        case OPT_NO_ENCODE: no_encode = 1; break;
        case OPT_ENCODER: encoder = 1; break;
        case 'h':
            fputs(USAGE_BENCH, stdout);
            rc = 0;
            goto out;
        default: rc = getopt_failure("bench", c, argv); goto out;
        }
    }
    if (optind < argc) {
        rc = usage_error("bench", "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (!ma.model) {
        rc = usage_error("bench", "--model is required");
        goto out;
    }
    if (!n_inputs && !bitext) {
        rc = usage_error("bench", "give --input FILE or --bitext DIR");
        goto out;
    }

    corpus cp;
    memset(&cp, 0, sizeof cp);
    labse_model *m = NULL;
    labse_session *sess = NULL;
    int32_t *ids = NULL;
    float *rows = NULL;
    rc = EXIT_RUNTIME;
    for (size_t i = 0; i < n_inputs; i++)
        if (corpus_add_file(&cp, inputs[i], 0)) goto bench_done;
    if (bitext && corpus_add_bitext(&cp, bitext, 0)) goto bench_done;
    if (cp.n == 0) {
        errorf("bench: the corpus is empty");
        goto bench_done;
    }
    if ((rc = load_model(&ma, &m)) != 0) goto bench_done;
    rc = EXIT_RUNTIME;

    print_machine();
    labse_model_info mi;
    memset(&mi, 0, sizeof mi);
    labse_model_get_info(m, &mi);
    printf("model: %s\n", ma.model);
    print_info(stdout, &mi, "  ");
    printf("corpus:\n  sentences: %zu\n  bytes: %" PRIu64 "\n  files: %zu\n", cp.n, cp.bytes,
           cp.n_inputs);
    fflush(stdout);

    /* --- tokenizer alone, one thread --- */
    size_t maxlen = (size_t)labse_model_max_length(m);
    ids = malloc((maxlen ? maxlen : 1) * sizeof *ids);
    if (!ids) {
        errorf("out of memory");
        goto bench_done;
    }
    labse_error err = {0};
    uint64_t tokens = 0, truncated = 0, repaired = 0;
    double best_tok = 1e300;
    for (int r = 0; r < repeat; r++) {
        uint64_t tk = 0, tr = 0, rp = 0;
        double t0 = now_s();
        for (size_t i = 0; i < cp.n; i++) {
            labse_tok_info ti = {0, 0};
            size_t n = labse_tokenize(m, cp.text[i], cp.len[i], ids, &ti, &err);
            if (n == 0) {
                errorf("tokenize: sentence %zu: %s", i + 1, err.message);
                goto bench_done;
            }
            tk += n;
            tr += (uint64_t)ti.truncated;
            rp += (uint64_t)ti.repaired;
        }
        double dt = now_s() - t0;
        if (dt < best_tok) best_tok = dt;
        tokens = tk;
        truncated = tr;
        repaired = rp;
    }
    if (best_tok <= 0) best_tok = 1e-9;
    printf("tokenize (1 thread, best of %d):\n", repeat);
    printf("  tokens: %" PRIu64 "\n  truncated: %" PRIu64 "\n  repaired: %" PRIu64 "\n", tokens,
           truncated, repaired);
    printf("  seconds: %.4f\n  tokens_per_s: %.0f\n  sentences_per_s: %.0f\n  mb_per_s: %.1f\n",
           best_tok, (double)tokens / best_tok, (double)cp.n / best_tok,
           (double)cp.bytes / best_tok / 1e6);
    fflush(stdout);

    /* --- the whole encode --- */
    if (!no_encode) {
        labse_status s = labse_session_new(m, &sess, &err);
        if (s != LABSE_OK) {
            report("session", s, &err, 0);
            goto bench_done;
        }
        size_t dim = (size_t)labse_model_dim(m);
        rows = malloc((size_t)ENCODE_CHUNK * (dim ? dim : 1) * sizeof *rows);
        if (!rows) {
            errorf("out of memory");
            goto bench_done;
        }
        /* the encode sample: every k-th sentence when --limit is below the corpus size */
        size_t ne = limit > 0 && (uint64_t)limit < cp.n ? (size_t)limit : cp.n;
        for (size_t j = 0; j < ne; j++) { /* in place: source index >= j */
            size_t src = (size_t)((uint64_t)j * cp.n / ne);
            cp.text[j] = cp.text[src];
            cp.len[j] = cp.len[src];
        }
        double best = 1e300;
        uint64_t enc_tokens = 0;
        for (int r = 0; r < repeat; r++) {
            labse_stats st0, st1;
            labse_session_stats(sess, &st0);
            double t0 = now_s();
            for (size_t i = 0; i < ne; i += ENCODE_CHUNK) {
                size_t k = ne - i < ENCODE_CHUNK ? ne - i : ENCODE_CHUNK;
                s = labse_encode(sess, cp.text + i, cp.len + i, k, rows, &err);
                if (s != LABSE_OK) {
                    errorf("encode: %s", err.message[0] ? err.message : labse_status_str(s));
                    goto bench_done;
                }
            }
            double dt = now_s() - t0;
            labse_session_stats(sess, &st1);
            enc_tokens = st1.tokens - st0.tokens;
            fprintf(stderr, "labse: bench run %d/%d: encode %.3f s\n", r + 1, repeat, dt);
            if (dt < best) best = dt;
        }
        if (best <= 0) best = 1e-9;
        printf("encode (%s, threads %d, batch_tokens %d, best of %d):\n",
               mi.device_name, ma.opt.threads, ma.opt.batch_tokens, repeat);
        printf("  sentences: %zu\n  tokens: %" PRIu64 "\n", ne, enc_tokens);
        printf("  seconds: %.4f\n  tokens_per_s: %.0f\n  sentences_per_s: %.1f\n", best,
               (double)enc_tokens / best, (double)ne / best);
        fflush(stdout);
        if ((encoder || mi.device == LABSE_DEVICE_CUDA) &&
            bench_encoder(m, cp.text, cp.len, ne, repeat, ma.opt.batch_tokens) != 0)
            goto bench_done;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errorf("stdout: write failed: %s", strerror(errno));
        goto bench_done;
    }
    rc = 0;
bench_done:
    free(rows);
    free(ids);
    labse_session_free(sess);
    labse_model_free(m);
    corpus_free(&cp);
out:
    free(inputs);
    return rc;
}
