/* bench_tokenize — single-thread tokenizer throughput on the bitext corpus.
 *
 *   bench_tokenize VOCAB BITEXT_DIR [ROUNDS=5] [MAX_LEN=256] [--lower]
 *
 * Reads every .tsv file of BITEXT_DIR, splits lines on '\n' and columns on '\t', tokenises every
 * column ROUNDS times with lb_tokenize_text and prints tokens/s (ids incl. [CLS]/[SEP]),
 * sentences/s and MB/s of input, and the vocabulary load time. No assertions. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/tokenizer.h"

typedef struct { const char *p; size_t n; } span;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenize VOCAB BITEXT_DIR [ROUNDS] [MAX_LEN] [--lower]\n");
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    size_t max_len = argc > 4 ? (size_t)atol(argv[4]) : 256;
    int lower = argc > 5 && !strcmp(argv[5], "--lower");
    if (rounds < 1 || max_len < 2) return 2;

    lb_tok_config cfg = lb_tok_default_config();
    cfg.lowercase = lower;
    labse_error err;
    lb_tokenizer *t = NULL;
    double t0 = now();
    if (lb_tokenizer_new(argv[1], &cfg, &t, &err) != LABSE_OK) {
        fprintf(stderr, "bench_tokenize: %s\n", err.message);
        return 1;
    }
    double load_s = now() - t0;

    /* read the corpus: all files concatenated in one buffer, spans per column */
    DIR *d = opendir(argv[2]);
    if (!d) {
        fprintf(stderr, "bench_tokenize: cannot open %s\n", argv[2]);
        return 1;
    }
    char **names = NULL;
    size_t nn = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".tsv")) {
            names = realloc(names, (nn + 1) * sizeof *names);
            names[nn++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_str);
    char *buf = NULL;
    size_t len = 0;
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[2], names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = realloc(buf, len + (size_t)sz + 1);
        len += fread(buf + len, 1, (size_t)sz, f);
        buf[len++] = '\n';
        fclose(f);
        free(names[i]);
    }
    free(names);
    span *sp = NULL;
    size_t ns = 0, cap = 0, bytes = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\t') j++;
        size_t n = j - i;
        if (n && buf[i + n - 1] == '\r') n--;
        if (n) {
            if (ns == cap) sp = realloc(sp, (cap = cap ? 2 * cap : 1 << 16) * sizeof *sp);
            sp[ns++] = (span){buf + i, n};
            bytes += n;
        }
        i = j + 1;
    }

    int32_t *ids = malloc(max_len * sizeof *ids);
    size_t tokens = 0;
    lb_tokenize_text(t, sp[0].p, sp[0].n, ids, max_len, NULL); /* warm up the class table */
    double t1 = now();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < ns; i++) tokens += lb_tokenize_text(t, sp[i].p, sp[i].n, ids, max_len, NULL);
    double s = now() - t1;
    printf("vocab %s: %d pieces, loaded in %.3f s\n", argv[1], lb_tokenizer_vocab_size(t), load_s);
    printf("corpus: %zu files, %zu texts, %.2f MB; %d rounds, max_len %zu%s\n", nn, ns,
           (double)bytes / 1e6, rounds, max_len, lower ? ", lower-case" : "");
    printf("single thread: %.2f M tokens/s, %.0f sentences/s, %.1f MB/s (%.3f s, %zu tokens)\n",
           (double)tokens / s / 1e6, (double)ns * rounds / s, (double)bytes * rounds / s / 1e6, s,
           tokens);
    free(ids);
    free(sp);
    free(buf);
    lb_tokenizer_free(t);
    return 0;
}
