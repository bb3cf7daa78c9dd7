/* tokenizer.h — the HuggingFace fast BERT tokenizer, exactly: BertNormalizer (clean text,
 * CJK spacing, optional accent stripping and lower-casing), BertPreTokenizer (whitespace and
 * punctuation split), WordPiece (greedy longest match, "##" continuations, [UNK] for words
 * over 100 code points or with an unmatched position), then [CLS] ... [SEP] with truncation.
 * The rules, one by one: ARCHITECTURE.md, "The model and the tokenizer, exactly". */
#ifndef LB_TOKENIZER_H
#define LB_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

typedef struct lb_tokenizer lb_tokenizer;

typedef struct lb_tok_config {
    int lowercase;      /* tokenizer_config.json do_lower_case */
    int strip_accents;  /* -1 = null (follows lowercase, as HF does), 0 = false, 1 = true */
    int chinese_chars;  /* tokenize_chinese_chars (default 1) */
    int clean_text;     /* BertNormalizer clean_text (always 1 for BERT checkpoints) */
    const char *unk_token, *cls_token, *sep_token, *pad_token; /* NULL = "[UNK]" etc. */
    const char *mask_token; /* NULL = "[MASK]"; matched in the text only when in the vocab */
} lb_tok_config;

/* Defaults of BertTokenizerFast: lowercase 1, strip_accents -1, chinese 1, clean 1. */
lb_tok_config lb_tok_default_config(void);

/* Load vocab.txt (one piece a line, id = line number; '\n' or '\r\n' ends, nothing else is
 * trimmed; a later duplicate line takes the piece) and build the hash table. Refuses a
 * missing/empty vocab, invalid UTF-8 or one lacking the special tokens (LABSE_E_FORMAT,
 * message names the file). The token-name strings of cfg are only read during the call.
 * *out owned by caller; free with lb_tokenizer_free. Immutable afterwards: thread-safe to
 * share. */
labse_status lb_tokenizer_new(const char *vocab_path, const lb_tok_config *cfg,
                              lb_tokenizer **out, labse_error *err);

/* The same from an in-memory vocabulary (e.g. tokenizer.json's model.vocab): pieces[id] is
 * the piece of id, lens[id] its length in bytes (id 0..n-1, every id present, n >= 1; a
 * piece need not be NUL-terminated). The bytes are copied: pieces may be freed after the
 * call. Same rules and refusals as lb_tokenizer_new (a later id with the same piece takes
 * it); messages name source_name (NULL = "vocabulary"). */
labse_status lb_tokenizer_new_from_pieces(const char *const *pieces, const size_t *lens, int n,
                                          const lb_tok_config *cfg, const char *source_name,
                                          lb_tokenizer **out, labse_error *err);
void lb_tokenizer_free(lb_tokenizer *t);

int lb_tokenizer_vocab_size(const lb_tokenizer *t);
int32_t lb_tokenizer_cls_id(const lb_tokenizer *t);
int32_t lb_tokenizer_sep_id(const lb_tokenizer *t);
int32_t lb_tokenizer_unk_id(const lb_tokenizer *t);
int32_t lb_tokenizer_pad_id(const lb_tokenizer *t);
/* The piece of id (NUL-terminated, owned by t), or NULL when out of range. */
const char *lb_tokenizer_piece(const lb_tokenizer *t, int32_t id);

/* Tokenise text[0..len) into ids[0..max_ids): [CLS] pieces [SEP], pieces truncated to
 * max_ids - 2 (max_ids >= 2). Invalid UTF-8 becomes U+FFFD (one per maximal invalid
 * subsequence, as Python's errors="replace"), which the cleaner drops; info->repaired says so.
 * Returns the count (2..max_ids), or 0 if a scratch allocation failed.
 * Thread-safe (per-thread scratch); no allocation per token. */
size_t lb_tokenize_text(const lb_tokenizer *t, const char *text, size_t len, int32_t *ids,
                        size_t max_ids, labse_tok_info *info);

#endif
