/* test_tokenizer.c — hand-written cases for the tokenizer (src/model/tokenizer.c) with a tiny
 * vocabulary written to a temporary file. Parity with HuggingFace over real text and every
 * code point is tests/tok_parity.py; here each rule is pinned down on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/tokenizer.h"
#include "model/utf8.h"

/* The tiny vocabulary: id = index. */
static const char *const k_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",      /* 0..4 */
    "un", "##aff", "##able", "unaff", "##a",            /* 5..9 */
    "a", "b", "c", "!", ",",                            /* 10..14 */
    ".", "-", "~", "\xe3\x80\x82" /* 。 */, "\xe4\xbd\xa0" /* 你 */,  /* 15..19 */
    "\xe5\xa5\xbd" /* 好 */, "hello", "world", "##s", "cafe",       /* 20..24 */
    "caf\xc3\xa9" /* café */, "\xc3\xa9" /* é */, "e", "istanbul", "i",  /* 25..29 */
    "\xc3\xa7" /* ç */, "x", "##x", "ab", "\xc2\xbf" /* ¿ */,        /* 30..34 */
    "\xe2\x82\xac" /* € */, "##b", "##c", "$", "#",                  /* 35..39 */
};
#define NV (sizeof k_vocab / sizeof k_vocab[0])

typedef struct fixture {
    char path[64];
    lb_tokenizer *cased, *uncased;
} fixture;

static int write_vocab(const char *path, const char *const *lines, size_t n, const char *eol) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%s", lines[i], eol);
    return fclose(f);
}

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    strcpy(fx->path, "/tmp/test_tokenizer_XXXXXX");
    int fd = mkstemp(fx->path);
    if (fd < 0) return -1;
    close(fd);
    if (write_vocab(fx->path, k_vocab, NV, "\n")) return -1;
    lb_tok_config c = lb_tok_default_config();
    c.lowercase = 0;
    labse_error err;
    if (lb_tokenizer_new(fx->path, &c, &fx->cased, &err) != LABSE_OK) return -1;
    lb_tok_config u = lb_tok_default_config(); /* lowercase 1, strip follows */
    if (lb_tokenizer_new(fx->path, &u, &fx->uncased, &err) != LABSE_OK) return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    lb_tokenizer_free(fx->cased);
    lb_tokenizer_free(fx->uncased);
    unlink(fx->path);
    free(fx);
    return 0;
}

/* Tokenise s (strlen, or n bytes when n > 0) with room for max_ids ids and check that the
 * result is exactly [CLS] want... [SEP] (want terminated by -1). */
static void check_n(const lb_tokenizer *t, const char *s, size_t n, size_t max_ids,
                    const int32_t *want, labse_tok_info *info_out) {
    int32_t ids[600];
    assert_true(max_ids <= 600);
    labse_tok_info info = {-1, -1};
    size_t k = lb_tokenize_text(t, s, n, ids, max_ids, &info);
    size_t nw = 0;
    while (want[nw] >= 0) nw++;
    if (k != nw + 2) {
        fprintf(stderr, "text \"%.*s\": got %zu ids:", (int)n, s, k);
        for (size_t i = 0; i < k; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(k, nw + 2);
    assert_int_equal(ids[0], 2);
    for (size_t i = 0; i < nw; i++) assert_int_equal(ids[i + 1], want[i]);
    assert_int_equal(ids[k - 1], 3);
    assert_true(info.repaired == 0 || info.repaired == 1);
    assert_true(info.truncated == 0 || info.truncated == 1);
    if (info_out) *info_out = info;
}

#define IDS(...) ((const int32_t[]){__VA_ARGS__, -1})
#define NONE ((const int32_t[]){-1})
#define CHECK(t, s, ...) check_n((t), (s), strlen(s), 64, IDS(__VA_ARGS__), NULL)

static void test_special_ids(void **state) {
    fixture *fx = *state;
    assert_int_equal(lb_tokenizer_vocab_size(fx->cased), (int)NV);
    assert_int_equal(lb_tokenizer_pad_id(fx->cased), 0);
    assert_int_equal(lb_tokenizer_unk_id(fx->cased), 1);
    assert_int_equal(lb_tokenizer_cls_id(fx->cased), 2);
    assert_int_equal(lb_tokenizer_sep_id(fx->cased), 3);
    assert_string_equal(lb_tokenizer_piece(fx->cased, 6), "##aff");
    assert_null(lb_tokenizer_piece(fx->cased, (int32_t)NV));
    assert_null(lb_tokenizer_piece(fx->cased, -1));
}

static void test_greedy_longest_match(void **state) {
    fixture *fx = *state;
    CHECK(fx->cased, "unaffable", 8, 7);      /* "unaff" beats "un" + "##aff" */
    CHECK(fx->cased, "unable", 5, 7);         /* un ##able */
    CHECK(fx->cased, "unaffa", 8, 9);         /* ##a continuation */
    CHECK(fx->cased, "hellos worlds", 21, 23, 22, 23);
    CHECK(fx->cased, "abc", 33, 37);          /* "ab" then "##c" */
    CHECK(fx->cased, "xxx", 31, 32, 32);
}

static void test_unknown(void **state) {
    fixture *fx = *state;
    CHECK(fx->cased, "unz", 1);               /* a failing position makes the word [UNK] */
    CHECK(fx->cased, "zun a", 1, 10);
    CHECK(fx->cased, "ba", 11, 9);            /* b ##a */
    CHECK(fx->cased, "bz", 1);
}

static void test_word_length_limit(void **state) {
    fixture *fx = *state;
    char w[260];
    memset(w, 'x', sizeof w);
    int32_t want[101];
    want[0] = 31;
    for (int i = 1; i < 100; i++) want[i] = 32;
    want[100] = -1;
    check_n(fx->cased, w, 100, 200, want, NULL);           /* 100 chars: x ##x * 99 */
    check_n(fx->cased, w, 101, 200, IDS(1), NULL);         /* 101 chars: [UNK] */
    check_n(fx->cased, w, 250, 200, IDS(1), NULL);
    char e[260]; /* 100 x "é" (2 bytes each): the limit counts code points, not bytes */
    for (int i = 0; i < 100; i++) memcpy(e + 2 * i, "\xc3\xa9", 2);
    int32_t wu[2] = {1, -1};
    check_n(fx->cased, e, 200, 200, wu, NULL);             /* no "##é": [UNK] either way */
    char m[300]; /* "a" + 100 x "x" = 101 chars → [UNK]; then " a" */
    m[0] = 'a';
    memset(m + 1, 'x', 100);
    memcpy(m + 101, " a", 2);
    check_n(fx->cased, m, 103, 200, IDS(1, 10), NULL);
}

static void test_punctuation(void **state) {
    fixture *fx = *state;
    CHECK(fx->cased, "a!b", 10, 13, 11);
    CHECK(fx->cased, "a,b.c", 10, 14, 11, 15, 12);
    CHECK(fx->cased, "a-b~c", 10, 16, 11, 17, 12);         /* ASCII 45, 126 */
    CHECK(fx->cased, "$a#", 38, 10, 39);                   /* ASCII 36, 35 (Sc, Po) */
    CHECK(fx->cased, "\xc2\xbf" "a", 34, 10);             /* ¿ U+00BF: Po */
    CHECK(fx->cased, "a\xe3\x80\x82" "b", 10, 18, 11);    /* 。 U+3002: Po */
    CHECK(fx->cased, "a\xe2\x82\xac" "b", 1);             /* € U+20AC: Sc, not split */
    CHECK(fx->cased, "a\xe2\x82\xac", 1);
    CHECK(fx->cased, "\xe2\x82\xac", 35);
    CHECK(fx->cased, "!!", 13, 13);
}

static void test_cjk(void **state) {
    fixture *fx = *state;
    CHECK(fx->cased, "\xe4\xbd\xa0\xe5\xa5\xbd", 19, 20);  /* 你好 → 你 好 */
    CHECK(fx->cased, "a\xe4\xbd\xa0" "b", 10, 19, 11);
    lb_tok_config c = lb_tok_default_config();
    c.lowercase = 0;
    c.chinese_chars = 0;
    lb_tokenizer *t = NULL;
    assert_int_equal(lb_tokenizer_new(fx->path, &c, &t, NULL), LABSE_OK);
    CHECK(t, "\xe4\xbd\xa0\xe5\xa5\xbd", 1);              /* one word, not in vocab */
    lb_tokenizer_free(t);
}

static void test_whitespace_and_controls(void **state) {
    fixture *fx = *state;
    check_n(fx->cased, "", 0, 64, NONE, NULL);
    CHECK(fx->cased, "   ", -1);
    CHECK(fx->cased, " a\tb\nc\r ", 10, 11, 12);
    CHECK(fx->cased, "a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\x89" "a", 10, 11, 12, 10);
    CHECK(fx->cased, "a\xe2\x80\xa8" "b", 10, 11);          /* U+2028 is White_Space */
    /* U+0085 is Cc: dropped, so "b" and "c" join: "bc" = b ##c */
    CHECK(fx->cased, "b\xc2\x85" "c", 11, 37);
    CHECK(fx->cased, "a\x0b" "b\x0c" "c", 33, 37);        /* \v \f are Cc: dropped: ab ##c */
    CHECK(fx->cased, "a\xe2\x80\x8b" "b", 33);         /* ZWSP U+200B is Cf: dropped */
    CHECK(fx->cased, "a\xc2\xad" "b", 33);                 /* soft hyphen: Cf */
    check_n(fx->cased, "a\0b", 3, 64, IDS(33), NULL);      /* NUL dropped */
    CHECK(fx->cased, "a\xef\xbf\xbd" "b", 33);             /* U+FFFD itself dropped */
}

static void test_invalid_utf8(void **state) {
    fixture *fx = *state;
    labse_tok_info info;
    check_n(fx->cased, "a\x80" "b", 3, 64, IDS(33), &info);
    assert_int_equal(info.repaired, 1);
    check_n(fx->cased, "ab", 2, 64, IDS(33), &info);
    assert_int_equal(info.repaired, 0);
    check_n(fx->cased, "a\xe4\xbd", 3, 64, IDS(10), &info); /* truncated 你 */
    assert_int_equal(info.repaired, 1);
    /* Counts of U+FFFD: maximal subparts (Python errors="replace") */
    struct { const char *s; size_t n, bad; } cases[] = {
        {"\x80", 1, 1}, {"\xc0\xaf", 2, 2}, {"\xc2", 1, 1}, {"\xe0\x80\x80", 3, 3},
        {"\xe0\xa0", 2, 1}, {"\xe1\x80" "a", 3, 1}, {"\xed\xa0\x80", 3, 3},
        {"\xf0\x90\x80", 3, 1}, {"\xf0\x80\x80\x80", 4, 4}, {"\xf4\x90\x80\x80", 4, 4},
        {"\xf5\x80", 2, 2}, {"\xff\xfe", 2, 2}, {"\xe2\x82\xac", 3, 0}, {"\xf0\x9f\x98\x80", 4, 0},
        {"\xf0\x9f\x98", 3, 1}, {"\xf8\xa1\xa1\xa1\xa1", 5, 5}, {"\xe2\x28\xa1", 3, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(lb_utf8_count_invalid((const uint8_t *)cases[i].s, cases[i].n), cases[i].bad);
    size_t used;
    int bad = 0;
    assert_int_equal(lb_utf8_decode((const uint8_t *)"\xe2\x82\xac", 3, &used, &bad), 0x20AC);
    assert_int_equal(used, 3);
    assert_int_equal(bad, 0);
    assert_int_equal(lb_utf8_decode((const uint8_t *)"\xe2\x82", 2, &used, &bad), 0xFFFD);
    assert_int_equal(used, 2);
    assert_int_equal(bad, 1);
    /* invalid bytes late in a truncated text still count as repaired */
    check_n(fx->cased, "a a a \xff", 7, 3, IDS(10), &info);
    assert_int_equal(info.repaired, 1);
    assert_int_equal(info.truncated, 1);
}

static void test_truncation(void **state) {
    fixture *fx = *state;
    labse_tok_info info;
    check_n(fx->cased, "a b c", 5, 5, IDS(10, 11, 12), &info);
    assert_int_equal(info.truncated, 0);
    check_n(fx->cased, "a b c", 5, 4, IDS(10, 11), &info);
    assert_int_equal(info.truncated, 1);
    check_n(fx->cased, "a b c", 5, 2, NONE, &info);           /* only [CLS] [SEP] */
    assert_int_equal(info.truncated, 1);
    check_n(fx->cased, "unaffable", 9, 3, IDS(8), &info);     /* cut inside the word */
    assert_int_equal(info.truncated, 1);
    check_n(fx->cased, "a   ", 4, 3, IDS(10), &info);         /* nothing after: not truncated */
    assert_int_equal(info.truncated, 0);
    check_n(fx->cased, "xxxz a", 6, 3, IDS(1), &info);        /* [UNK] word fits in one */
    assert_int_equal(info.truncated, 1);
    int32_t ids[1];
    assert_int_equal(lb_tokenize_text(fx->cased, "a", 1, ids, 1, NULL), 0); /* max_ids < 2 */
}

static void test_special_tokens_in_text(void **state) {
    fixture *fx = *state;
    CHECK(fx->cased, "a[MASK]b", 10, 4, 11);
    CHECK(fx->cased, "[CLS][SEP]", 2, 3);
    CHECK(fx->uncased, "[MASK]", 4);                    /* matched before lower-casing */
    CHECK(fx->cased, "[mask]", 1, 1, 1);               /* "[", "mask", "]": not in the vocab */
}

static void test_lowercase_strip_accents(void **state) {
    fixture *fx = *state;
    CHECK(fx->uncased, "HELLO World", 21, 22);
    CHECK(fx->cased, "HELLO", 1);
    CHECK(fx->uncased, "Caf\xc3\xa9", 24);                /* café → cafe (NFD, drop Mn) */
    CHECK(fx->uncased, "Cafe\xcc\x81", 24);               /* e + U+0301 */
    CHECK(fx->cased, "caf\xc3\xa9", 25);
    CHECK(fx->cased, "cafe\xcc\x81", 1);                  /* no NFC: "cafe" + U+0301 */
    CHECK(fx->uncased, "\xc4\xb0stanbul", 28);            /* İ → I + U+0307 → i */
    lb_tok_config c = lb_tok_default_config();
    c.strip_accents = 0;                                   /* lower only */
    lb_tokenizer *t = NULL;
    assert_int_equal(lb_tokenizer_new(fx->path, &c, &t, NULL), LABSE_OK);
    CHECK(t, "\xc3\x89", 26);                              /* É → é, accent kept */
    CHECK(t, "\xc4\xb0", 1);                               /* İ → i + U+0307 (full mapping) */
    CHECK(t, "I", 29);
    lb_tokenizer_free(t);
    c = lb_tok_default_config();
    c.lowercase = 0;
    c.strip_accents = 1;                                   /* strip only */
    assert_int_equal(lb_tokenizer_new(fx->path, &c, &t, NULL), LABSE_OK);
    CHECK(t, "caf\xc3\xa9", 24);
    CHECK(t, "\xc3\x87", 1);                               /* Ç → C, not in vocab */
    lb_tokenizer_free(t);
}

static void test_load_errors(void **state) {
    labse_error err;
    lb_tokenizer *t = NULL;
    assert_int_equal(lb_tokenizer_new("/nonexistent/vocab.txt", NULL, &t, &err), LABSE_E_IO);
    assert_null(t);
    assert_non_null(strstr(err.message, "/nonexistent/vocab.txt"));

    char path[64];
    strcpy(path, "/tmp/test_tokenizer_bad_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(lb_tokenizer_new(path, NULL, &t, &err), LABSE_E_FORMAT); /* empty */
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "empty"));

    const char *no_unk[] = {"[PAD]", "[CLS]", "[SEP]", "a"};
    assert_int_equal(write_vocab(path, no_unk, 4, "\n"), 0);
    assert_int_equal(lb_tokenizer_new(path, NULL, &t, &err), LABSE_E_FORMAT);
    assert_null(t);
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "[UNK]"));

    const char *bad_utf8[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a\xff"};
    assert_int_equal(write_vocab(path, bad_utf8, 5, "\n"), 0);
    assert_int_equal(lb_tokenizer_new(path, NULL, &t, &err), LABSE_E_FORMAT);
    assert_non_null(strstr(err.message, "line 5"));

    /* CRLF endings, no final newline; a later duplicate line wins; other custom names */
    const char *crlf[] = {"<unk>", "[CLS]", "[SEP]", "[PAD]", "a", "b", "a"};
    assert_int_equal(write_vocab(path, crlf, 7, "\r\n"), 0);
    lb_tok_config c = lb_tok_default_config();
    c.lowercase = 0;
    c.unk_token = "<unk>";
    assert_int_equal(lb_tokenizer_new(path, &c, &t, &err), LABSE_OK);
    assert_int_equal(lb_tokenizer_unk_id(t), 0);
    assert_string_equal(lb_tokenizer_piece(t, 5), "b");
    int32_t ids[8];
    assert_int_equal(lb_tokenize_text(t, "a z", 3, ids, 8, NULL), 4);
    assert_int_equal(ids[1], 6);
    assert_int_equal(ids[2], 0);
    assert_int_equal(ids[0], 1);
    lb_tokenizer_free(t);
    unlink(path);
}

/* Tokenise s with a and b (room for 64 ids) and require identical results. */
static void same_ids(const lb_tokenizer *a, const lb_tokenizer *b, const char *s) {
    int32_t x[64], y[64];
    labse_tok_info ix = {-1, -1}, iy = {-1, -1};
    size_t n = lb_tokenize_text(a, s, strlen(s), x, 64, &ix);
    size_t m = lb_tokenize_text(b, s, strlen(s), y, 64, &iy);
    if (n != m || memcmp(x, y, n * sizeof *x) != 0) print_error("text \"%s\" differs\n", s);
    assert_int_equal(n, m);
    assert_memory_equal(x, y, n * sizeof *x);
    assert_int_equal(ix.truncated, iy.truncated);
    assert_int_equal(ix.repaired, iy.repaired);
}

/* The in-memory constructor (what tokenizer.json's model.vocab feeds) must build the same
 * tokenizer as the file one on the same vocabulary. The pieces are packed back to back with
 * no NUL between them, so only lens delimits them. */
static void test_from_pieces_matches_file(void **state) {
    fixture *fx = *state;
    char packed[512];
    const char *pieces[NV];
    size_t lens[NV], k = 0;
    for (size_t i = 0; i < NV; i++) {
        size_t n = strlen(k_vocab[i]);
        assert_true(k + n <= sizeof packed);
        memcpy(packed + k, k_vocab[i], n);
        pieces[i] = packed + k;
        lens[i] = n;
        k += n;
    }
    static const char *texts[] = {
        "unaffable unable unaffa", "hellos worlds, abc xxx!", "\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82",
        "a[MASK]b [CLS][SEP] [mask]", "Caf\xc3\xa9 HELLO \xc4\xb0stanbul", "zzz \xff a",
        ("a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c "
         "a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c"),
        "",
    };
    for (int cased = 0; cased < 2; cased++) {
        lb_tok_config c = lb_tok_default_config();
        c.lowercase = !cased;
        lb_tokenizer *t = NULL;
        labse_error err;
        assert_int_equal(lb_tokenizer_new_from_pieces(pieces, lens, (int)NV, &c, "mem", &t, &err),
                         LABSE_OK);
        const lb_tokenizer *f = cased ? fx->cased : fx->uncased;
        assert_int_equal(lb_tokenizer_vocab_size(t), (int)NV);
        assert_int_equal(lb_tokenizer_unk_id(t), lb_tokenizer_unk_id(f));
        assert_int_equal(lb_tokenizer_cls_id(t), lb_tokenizer_cls_id(f));
        assert_int_equal(lb_tokenizer_sep_id(t), lb_tokenizer_sep_id(f));
        assert_int_equal(lb_tokenizer_pad_id(t), lb_tokenizer_pad_id(f));
        for (int32_t id = 0; id < (int32_t)NV; id++)
            assert_string_equal(lb_tokenizer_piece(t, id), lb_tokenizer_piece(f, id));
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) same_ids(t, f, texts[i]);
        CHECK(t, "unaffable hellos", 8, 7, 21, 23);
        lb_tokenizer_free(t);
    }
}

static void test_from_pieces_rules(void **state) {
    (void)state;
    lb_tokenizer *t = NULL;
    labse_error err;
    /* a later id with the same piece takes it, as a later vocab.txt line does */
    const char *dup[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "a"};
    size_t dlen[] = {5, 5, 5, 5, 1, 1, 1};
    assert_int_equal(lb_tokenizer_new_from_pieces(dup, dlen, 7, NULL, "dup.json", &t, &err),
                     LABSE_OK);
    CHECK(t, "a b", 6, 5);
    lb_tokenizer_free(t);
    /* refusals name the source */
    t = (lb_tokenizer *)(uintptr_t)1;
    const char *bad[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a\xff"};
    size_t blen[] = {5, 5, 5, 5, 2};
    assert_int_equal(lb_tokenizer_new_from_pieces(bad, blen, 5, NULL, "bad.json", &t, &err),
                     LABSE_E_FORMAT);
    assert_non_null(strstr(err.message, "bad.json"));
    assert_non_null(strstr(err.message, "id 4 is not valid UTF-8"));
    assert_int_equal(lb_tokenizer_new_from_pieces(bad, blen, 4, NULL, "nopad.json", &t, &err),
                     LABSE_OK); /* ids 0..3 only: valid */
    lb_tokenizer_free(t);
    assert_int_equal(lb_tokenizer_new_from_pieces(bad, blen, 3, NULL, "nosep.json", &t, &err),
                     LABSE_E_FORMAT);
    assert_non_null(strstr(err.message, "nosep.json"));
    assert_non_null(strstr(err.message, "[SEP]"));
    assert_int_equal(lb_tokenizer_new_from_pieces(bad, blen, 0, NULL, "none.json", &t, &err),
                     LABSE_E_FORMAT);
    assert_non_null(strstr(err.message, "none.json"));
    const char *hole[] = {"[PAD]", NULL, "[CLS]"};
    assert_int_equal(lb_tokenizer_new_from_pieces(hole, blen, 3, NULL, "hole.json", &t, &err),
                     LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "id 1"));
    assert_int_equal(lb_tokenizer_new_from_pieces(NULL, blen, 3, NULL, "x", &t, &err),
                     LABSE_E_INVALID);
}

/* mask_token names the mask token matched in the text (NULL = "[MASK]"). */
static void test_custom_mask_token(void **state) {
    (void)state;
    const char *v[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<mask>", "a", "b"};
    size_t len[8];
    for (int i = 0; i < 8; i++) len[i] = strlen(v[i]);
    lb_tok_config c = lb_tok_default_config();
    c.lowercase = 0;
    lb_tokenizer *t = NULL;
    assert_int_equal(lb_tokenizer_new_from_pieces(v, len, 8, &c, "m", &t, NULL), LABSE_OK);
    CHECK(t, "a[MASK]b", 6, 4, 7);     /* default: "[MASK]" */
    CHECK(t, "a<mask>b", 6, 1, 1, 1, 7); /* "<", "mask", ">": not special, all unknown */
    lb_tokenizer_free(t);
    c.mask_token = "<mask>";
    assert_int_equal(lb_tokenizer_new_from_pieces(v, len, 8, &c, "m", &t, NULL), LABSE_OK);
    CHECK(t, "a<mask>b", 6, 5, 7);
    CHECK(t, "a[MASK]b", 6, 1, 1, 1, 7); /* no longer special: "[", "MASK", "]" */
    lb_tokenizer_free(t);
    /* the file constructor honours it too */
    char path[64];
    strcpy(path, "/tmp/test_tokenizer_mask_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(write_vocab(path, v, 8, "\n"), 0);
    assert_int_equal(lb_tokenizer_new(path, &c, &t, NULL), LABSE_OK);
    CHECK(t, "b <mask>", 7, 5);
    lb_tokenizer_free(t);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special_ids),
        cmocka_unit_test(test_greedy_longest_match),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_word_length_limit),
        cmocka_unit_test(test_punctuation),
        cmocka_unit_test(test_cjk),
        cmocka_unit_test(test_whitespace_and_controls),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_special_tokens_in_text),
        cmocka_unit_test(test_lowercase_strip_accents),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_from_pieces_matches_file),
        cmocka_unit_test(test_from_pieces_rules),
        cmocka_unit_test(test_custom_mask_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
