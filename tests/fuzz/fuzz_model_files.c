/* fuzz_model_files.c — libFuzzer target: the model folder's small files through the folder
 * loader (model/model.h lb_model_load), one fuzzed file at a time with the others fixed.
 * At start-up tests/data/tiny-bert is copied into the scratch folder; each input replaces one
 * of its files, loads the folder, and puts the original back.
 * Input: byte 0 % N_FILES picks the file (FILES below); the rest is its content.
 *   vocab.txt is only read when tokenizer.json is absent, so it goes through the vocab.txt
 *   reader (lb_tokenizer_new) directly.
 * Checks: a load either succeeds (then the model is freed; LeakSanitizer sees every path) or
 * fails with a message; no crash, no sanitizer report, no leak.
 * Single-threaded; one model load per input (~1 ms: tiny-bert's 0.75 MB of weights). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "model/model.h"
#include "model/tokenizer.h"

static const char *const FILES[] = {
    "config.json",       "tokenizer.json",        "tokenizer_config.json",
    "modules.json",      "1_Pooling/config.json", "2_Dense/config.json",
    "sentence_bert_config.json", "vocab.txt",
};
#define N_FILES (sizeof FILES / sizeof FILES[0])
static const char *const ALL[] = {
    "config.json", "config_sentence_transformers.json", "model.safetensors", "modules.json",
    "sentence_bert_config.json", "special_tokens_map.json", "tokenizer.json",
    "tokenizer_config.json", "vocab.txt", "1_Pooling/config.json", "2_Dense/config.json",
    "2_Dense/model.safetensors",
};

static char model_dir[600];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_path(model_dir, sizeof model_dir, "model");
    char a[1200], b[1200];
    mkdir(model_dir, 0700);
    snprintf(a, sizeof a, "%s/1_Pooling", model_dir);
    mkdir(a, 0700);
    snprintf(a, sizeof a, "%s/2_Dense", model_dir);
    mkdir(a, 0700);
    for (size_t i = 0; i < sizeof ALL / sizeof ALL[0]; i++) {
        snprintf(a, sizeof a, "%s/tests/data/tiny-bert/%s", LABSE_SRC_DIR, ALL[i]);
        snprintf(b, sizeof b, "%s/%s", model_dir, ALL[i]);
        fuzz_copy_file(a, b);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t which = data[0] % N_FILES;
    char path[1200], orig[1200];
    snprintf(path, sizeof path, "%s/%s", model_dir, FILES[which]);
    snprintf(orig, sizeof orig, "%s/tests/data/tiny-bert/%s", LABSE_SRC_DIR, FILES[which]);
    fuzz_write(path, data + 1, size - 1);
    labse_error err = {0};
    if (strcmp(FILES[which], "vocab.txt") == 0) {
        lb_tok_config cfg = lb_tok_default_config();
        lb_tokenizer *t = NULL;
        if (lb_tokenizer_new(path, &cfg, &t, &err) == LABSE_OK) {
            FUZZ_CHECK(lb_tokenizer_vocab_size(t) >= 1);
            lb_tokenizer_free(t);
        } else {
            FUZZ_CHECK(err.message[0] != '\0');
        }
    } else {
        lb_model *m = NULL;
        if (lb_model_load(model_dir, 0, &m, &err) == LABSE_OK) {
            FUZZ_CHECK(m->tok != NULL && m->cfg.dim > 0);
            lb_model_free(m);
        } else {
            FUZZ_CHECK(err.message[0] != '\0');
        }
    }
    fuzz_copy_file(orig, path);
    return 0;
}
