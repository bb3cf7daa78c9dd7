/* tok_dump — tokenise lines from stdin, print one line of space-separated ids per line.
 *
 *   tok_dump --vocab FILE [--lower] [--strip-accents -1|0|1] [--no-chinese] [--no-clean]
 *            [--max-len N] [--hex] < lines
 *
 * Input is split on '\n' only; one trailing '\r' of each line is removed (as the CLI does);
 * every other byte (NUL, '\r' inside, invalid UTF-8) is part of the text. With --hex each
 * line is the text's bytes in hexadecimal (so any byte, '\n' included, can be given).
 * --max-len N: ids per text including [CLS]/[SEP] (default 512; 0 = no truncation).
 * Used by tests/tok_parity.py to compare with the HuggingFace tokenizer. Exit 0, or 2 on
 * a usage error, 1 on a load/IO error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer.h"

/* Read all of stdin into a malloc'd buffer; *n its size. NULL on failure. */
static char *read_all(FILE *f, size_t *n) {
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *n = len;
    return buf;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv) {
    const char *vocab = NULL;
    lb_tok_config cfg = lb_tok_default_config();
    cfg.lowercase = 0;
    long max_len = 512;
    int hex = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = argv[++i];
        else if (!strcmp(argv[i], "--lower")) cfg.lowercase = 1;
        else if (!strcmp(argv[i], "--strip-accents") && i + 1 < argc) cfg.strip_accents = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-chinese")) cfg.chinese_chars = 0;
        else if (!strcmp(argv[i], "--no-clean")) cfg.clean_text = 0;
        else if (!strcmp(argv[i], "--max-len") && i + 1 < argc) max_len = atol(argv[++i]);
        else if (!strcmp(argv[i], "--hex")) hex = 1;
        else {
            fprintf(stderr, "usage: tok_dump --vocab FILE [--lower] [--strip-accents -1|0|1] "
                            "[--no-chinese] [--no-clean] [--max-len N] [--hex] < lines\n");
            return 2;
        }
    }
    if (!vocab || max_len < 0 || max_len == 1) {
        fprintf(stderr, "tok_dump: --vocab is required; --max-len must be 0 or >= 2\n");
        return 2;
    }
    labse_error err;
    lb_tokenizer *t = NULL;
    if (lb_tokenizer_new(vocab, &cfg, &t, &err) != LABSE_OK) {
        fprintf(stderr, "tok_dump: %s\n", err.message);
        return 1;
    }
    size_t n = 0;
    char *data = read_all(stdin, &n);
    if (!data) {
        fprintf(stderr, "tok_dump: cannot read stdin\n");
        lb_tokenizer_free(t);
        return 1;
    }
    int32_t *ids = NULL;
    size_t ids_cap = 0;
    char *text = NULL;  /* decoded --hex line */
    size_t pos = 0;
    int rc = 0;
    while (pos < n) {
        char *nl = memchr(data + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - data) : n;
        const char *line = data + pos;
        size_t len = end - pos;
        pos = nl ? end + 1 : n;
        if (len && line[len - 1] == '\r') len--;
        if (hex) {
            char *nt = realloc(text, len / 2 + 1);
            if (!nt) { rc = 1; break; }
            text = nt;
            for (size_t i = 0; i + 1 < len; i += 2) {
                int a = hexval((unsigned char)line[i]), b = hexval((unsigned char)line[i + 1]);
                if (a < 0 || b < 0) {
                    fprintf(stderr, "tok_dump: bad hex input\n");
                    rc = 2;
                    break;
                }
                text[i / 2] = (char)(a * 16 + b);
            }
            if (rc) break;
            line = text;
            len /= 2;
        }
        size_t max_ids = max_len ? (size_t)max_len : len + 2;
        if (max_ids > ids_cap) {
            int32_t *ni = realloc(ids, max_ids * sizeof *ids);
            if (!ni) { rc = 1; break; }
            ids = ni;
            ids_cap = max_ids;
        }
        size_t k = lb_tokenize_text(t, line, len, ids, max_ids, NULL);
        if (k == 0) {
            fprintf(stderr, "tok_dump: out of memory\n");
            rc = 1;
            break;
        }
        for (size_t i = 0; i < k; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
    }
    free(text);
    free(ids);
    free(data);
    lb_tokenizer_free(t);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}
