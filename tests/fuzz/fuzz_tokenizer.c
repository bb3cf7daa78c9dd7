/* fuzz_tokenizer.c — libFuzzer target: the tokenizer (model/tokenizer.h), bytes → ids, with
 * tests/data/tiny-bert's vocabulary and settings (or the model folder in $LABSE_FUZZ_MODEL,
 * e.g. models/labse-random for the real 501,153-piece LaBSE vocabulary).
 * Input: byte 0 picks max_ids = 2 + byte0 % 127; the rest is the text.
 * Checks: 2 <= count <= max_ids; [CLS] first and [SEP] last (only the ends: a text may spell
 * "[SEP]", and special tokens are matched in the text); every id in [0, vocab); the same
 * ids for the same bytes twice; `truncated` only when the count is max_ids; `repaired`
 * exactly when the bytes are not valid UTF-8; truncation is a prefix cut (the pieces with
 * max_ids are the first pieces of those with 512).
 * Single-threaded; the model is loaded once (LLVMFuzzerInitialize) and never freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "model/utf8.h"

#define LONG_IDS 512 /* the reference length for the prefix check (LaBSE's max_length) */

static lb_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("LABSE_FUZZ_MODEL");
    if (!dir || !*dir) dir = LABSE_SRC_DIR "/tests/data/tiny-bert";
    labse_error err = {0};
    if (lb_model_load(dir, 0, &model, &err) != LABSE_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.message);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const lb_tokenizer *t = model->tok;
    size_t max_ids = 2 + data[0] % 127;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t a[LONG_IDS], b[LONG_IDS], full[LONG_IDS];
    labse_tok_info ia = {0}, ib = {0}, ifull = {0};
    size_t na = lb_tokenize_text(t, text, len, a, max_ids, &ia);
    size_t nb = lb_tokenize_text(t, text, len, b, max_ids, &ib);
    size_t nf = lb_tokenize_text(t, text, len, full, LONG_IDS, &ifull);
    FUZZ_CHECK(na >= 2 && na <= max_ids);
    FUZZ_CHECK(na == nb && memcmp(a, b, na * sizeof a[0]) == 0);
    FUZZ_CHECK(ia.repaired == ib.repaired && ia.truncated == ib.truncated);
    FUZZ_CHECK(a[0] == lb_tokenizer_cls_id(t) && a[na - 1] == lb_tokenizer_sep_id(t));
    int vocab = lb_tokenizer_vocab_size(t);
    for (size_t i = 0; i < na; i++) FUZZ_CHECK(a[i] >= 0 && a[i] < vocab);
    if (ia.truncated) FUZZ_CHECK(na == max_ids);
    FUZZ_CHECK(ia.repaired == (lb_utf8_count_invalid(data + 1, len) > 0));
    /* the short list is the long one cut: same pieces, then [SEP] */
    FUZZ_CHECK(nf >= na && nf >= 2 && full[nf - 1] == lb_tokenizer_sep_id(t));
    FUZZ_CHECK(memcmp(a, full, (na - 1) * sizeof a[0]) == 0);
    if (!ifull.truncated) FUZZ_CHECK(ia.truncated == (nf > na));
    return 0;
}
