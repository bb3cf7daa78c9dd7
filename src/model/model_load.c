/* model_load.c — load a sentence-transformers folder into an lb_model.
 *
 * Folder layout (every value read from the files, nothing hard-coded):
 *   config.json                 BERT shape: vocab_size, hidden_size, num_hidden_layers, ...
 *   model.safetensors           encoder weights (F32 / F16 / BF16; optional "bert." prefix)
 *   tokenizer.json              optional; when present its WordPiece vocabulary (model.vocab,
 *                               piece -> id, ids 0..vocab_size-1) is the one used, as the HF
 *                               fast tokenizer does
 *   vocab.txt                   one WordPiece a line, read exactly; line count == vocab_size
 *                               (used only when there is no tokenizer.json)
 *   tokenizer_config.json       do_lower_case, strip_accents, tokenize_chinese_chars, tokens
 *   sentence_bert_config.json   max_seq_length, do_lower_case
 *   modules.json                [Transformer "", Pooling, Dense*, Normalize?] in order
 *   <Pooling path>/config.json  exactly one of cls / mean pooling
 *   <Dense path>/config.json + model.safetensors ("linear.weight" [out,in], "linear.bias")
 *
 * Sections: path and JSON helpers, configuration files, weights, lb_model_load / free.
 * Every failure names the file (full path) and the fault; nothing is read out of bounds.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "model/model.h"

/* Config files larger than this are refused (a real one is a few KiB). */
#define LB_JSON_MAX_BYTES (16u << 20)
/* tokenizer.json larger than this is refused (LaBSE's is about 14 MB). */
#define LB_TOKJSON_MAX_BYTES (512u << 20)
/* Upper bound for every size field of config.json (all products are done in int64). */
#define LB_DIM_MAX (1 << 30)

/* ------------------------------------------------------------------------------------------
 * Path and JSON helpers
 * ---------------------------------------------------------------------------------------- */

/* dir + "/" + a [+ "/" + b]; malloc'd (caller frees), NULL when out of memory. */
static char *path_join(const char *dir, const char *a, const char *b) {
    size_t ld = strlen(dir), la = strlen(a), lb = b ? strlen(b) : 0;
    char *p = malloc(ld + la + lb + 3);
    if (!p) return NULL;
    memcpy(p, dir, ld);
    size_t k = ld;
    if (la) {
        if (k && p[k - 1] != '/') p[k++] = '/';
        memcpy(p + k, a, la);
        k += la;
    }
    if (b) {
        if (k && p[k - 1] != '/') p[k++] = '/';
        memcpy(p + k, b, lb);
        k += lb;
    }
    p[k] = '\0';
    return p;
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Read a whole (small) file into a malloc'd buffer (*buf, *len). LABSE_E_IO when missing. */
static labse_status read_small_file(const char *path, size_t max, char **buf, size_t *len,
                                    labse_error *err) {
    *buf = NULL;
    *len = 0;
    FILE *f;
    do /* EINTR retried */
        f = fopen(path, "rb");
    while (!f && errno == EINTR);
    if (!f) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    struct stat sb; /* size the buffer once for a regular file (one read, no regrowth) */
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uint64_t)sb.st_size < max)
        cap = (size_t)sb.st_size + 1;
    char *b = malloc(cap);
    if (!b) {
        fclose(f);
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                free(b);
                fclose(f);
                return lb_err(err, LABSE_E_FORMAT, "%s: file larger than %zu bytes", path, max);
            }
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                fclose(f);
                return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
            }
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return lb_err(err, LABSE_E_IO, "%s: read error", path);
    }
    *buf = b;
    *len = n;
    return LABSE_OK;
}

/* Parse path (at most max bytes) as JSON into *out (caller cJSON_Deletes). A missing file is
 * LABSE_E_IO (or, when optional, LABSE_OK with *out = NULL); anything unparsable is
 * LABSE_E_FORMAT. The file's bytes are freed before returning. */
static labse_status read_json_max(const char *path, int optional, size_t max, cJSON **out,
                                  labse_error *err) {
    *out = NULL;
    if (optional && !file_exists(path)) return LABSE_OK;
    char *buf;
    size_t len;
    labse_status s = read_small_file(path, max, &buf, &len, err);
    if (s) return s;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (j && end)
        for (const char *p = end; p < buf + len; p++)
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                cJSON_Delete(j);
                j = NULL;
                break;
            }
    free(buf);
    if (!j) return lb_err(err, LABSE_E_FORMAT, "%s: not valid JSON", path);
    *out = j;
    return LABSE_OK;
}

/* A configuration file (a few KiB) as JSON; see read_json_max. */
static labse_status read_json(const char *path, int optional, cJSON **out, labse_error *err) {
    return read_json_max(path, optional, LB_JSON_MAX_BYTES, out, err);
}

/* obj[key] as an int in [lo, hi]. Absent: *out = def when has_def, else an error. */
static labse_status json_int(const char *path, const cJSON *obj, const char *key, int has_def,
                             int def, int lo, int hi, int *out, labse_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (has_def) {
            *out = def;
            return LABSE_OK;
        }
        return lb_err(err, LABSE_E_FORMAT, "%s: missing \"%s\"", path, key);
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return lb_err(err, LABSE_E_FORMAT, "%s: \"%s\" is not an integer", path, key);
    double d = v->valuedouble;
    if (d < lo || d > hi)
        return lb_err(err, LABSE_E_FORMAT, "%s: \"%s\" = %.17g is out of range [%d, %d]", path,
                      key, d, lo, hi);
    *out = (int)d;
    return LABSE_OK;
}

/* obj[key] as a boolean (true/false; 0/1 accepted). Absent or null: def. */
static labse_status json_bool(const char *path, const cJSON *obj, const char *key, int def,
                              int *out, labse_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return LABSE_OK;
    }
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return LABSE_OK;
    }
    if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1)) {
        *out = v->valuedouble != 0;
        return LABSE_OK;
    }
    return lb_err(err, LABSE_E_FORMAT, "%s: \"%s\" is not a boolean", path, key);
}

/* obj[key] as a string (borrowed from obj); NULL when absent or null. */
static labse_status json_str(const char *path, const cJSON *obj, const char *key,
                             const char **out, labse_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return LABSE_OK;
    if (!cJSON_IsString(v) || !v->valuestring)
        return lb_err(err, LABSE_E_FORMAT, "%s: \"%s\" is not a string", path, key);
    *out = v->valuestring;
    return LABSE_OK;
}

/* ------------------------------------------------------------------------------------------
 * Ownership bookkeeping of lb_model (arrays grown at powers of two)
 * ---------------------------------------------------------------------------------------- */

static int grow_ptrs(void ***arr, int n) {
    if (n == 0 || (n & (n - 1)) == 0) {
        size_t cap = n ? (size_t)n * 2 : 8;
        void **na = realloc(*arr, cap * sizeof **arr);
        if (!na) return 0;
        *arr = na;
    }
    return 1;
}

/* Hand p (malloc'd) to m; freed by lb_model_free. On failure p is freed and NULL returned. */
static void *own(lb_model *m, void *p) {
    if (!p) return NULL;
    if (!grow_ptrs(&m->owned, m->n_owned)) {
        free(p);
        return NULL;
    }
    m->owned[m->n_owned++] = p;
    return p;
}

static labse_status add_file(lb_model *m, lb_safetensors *st, labse_error *err) {
    void **arr = (void **)m->files;
    if (!grow_ptrs(&arr, m->n_files)) {
        lb_st_close(st);
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    m->files = (lb_safetensors **)arr;
    m->files[m->n_files++] = st;
    return LABSE_OK;
}

/* ------------------------------------------------------------------------------------------
 * Configuration files
 * ---------------------------------------------------------------------------------------- */

/* config.json -> the BERT shape fields of cfg. */
static labse_status load_bert_config(const char *path, lb_config *c, labse_error *err) {
    cJSON *j;
    labse_status s = read_json(path, 0, &j, err);
    if (s) return s;
    if (!cJSON_IsObject(j)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    const char *mt, *act, *pet;
    if ((s = json_str(path, j, "model_type", &mt, err))) goto done;
    if (mt && strcmp(mt, "bert") != 0) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: model_type \"%.64s\" is not supported (only \"bert\")", path, mt);
        goto done;
    }
    if ((s = json_int(path, j, "vocab_size", 0, 0, 1, INT_MAX, &c->vocab_size, err)) ||
        (s = json_int(path, j, "hidden_size", 0, 0, 1, LB_DIM_MAX, &c->hidden, err)) ||
        (s = json_int(path, j, "num_hidden_layers", 0, 0, 1, 4096, &c->layers, err)) ||
        (s = json_int(path, j, "num_attention_heads", 0, 0, 1, LB_DIM_MAX, &c->heads, err)) ||
        (s = json_int(path, j, "intermediate_size", 0, 0, 1, LB_DIM_MAX, &c->intermediate,
                      err)) ||
        (s = json_int(path, j, "max_position_embeddings", 0, 0, 2, LB_DIM_MAX,
                      &c->max_position, err)) ||
        (s = json_int(path, j, "type_vocab_size", 1, 2, 1, LB_DIM_MAX, &c->type_vocab, err)))
        goto done;
    if (c->hidden % c->heads != 0) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: num_attention_heads %d does not divide hidden_size %d", path, c->heads,
                   c->hidden);
        goto done;
    }
    c->head_dim = c->hidden / c->heads;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    if (!eps || cJSON_IsNull(eps)) {
        c->ln_eps = 1e-12f; /* BertConfig's default */
    } else if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || !(eps->valuedouble < 1)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: \"layer_norm_eps\" is not a number in (0, 1)",
                   path);
        goto done;
    } else {
        c->ln_eps = (float)eps->valuedouble;
    }
    if ((s = json_str(path, j, "hidden_act", &act, err))) goto done;
    if (act && strcmp(act, "gelu") != 0 && strcmp(act, "gelu_new") != 0 &&
        strcmp(act, "gelu_pytorch_tanh") != 0) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: hidden_act \"%.64s\" is not supported (\"gelu\", the erf form, or its tanh "
                   "form \"gelu_new\" / \"gelu_pytorch_tanh\")",
                   path, act);
        goto done;
    }
    c->hidden_act = act && strcmp(act, "gelu") != 0 ? LB_ACT_GELU_TANH : LB_ACT_GELU;
    if ((s = json_str(path, j, "position_embedding_type", &pet, err))) goto done;
    if (pet && strcmp(pet, "absolute") != 0) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: position_embedding_type \"%.64s\" is not supported (only \"absolute\")",
                   path, pet);
        goto done;
    }
done:
    cJSON_Delete(j);
    return s;
}

/* A token setting of tokenizer_config.json: a string or {"content": string}. The copy is
 * owned by m (the tokenizer may keep the pointer). */
static labse_status tok_token(lb_model *m, const char *path, const cJSON *j, const char *key,
                              const char **out, labse_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return LABSE_OK;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0])
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: \"%s\" is not a token string or {\"content\": string}", path, key);
    if (!(*out = own(m, strdup(v->valuestring))))
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    return LABSE_OK;
}

/* tokenizer_config.json (optional: BertTokenizerFast defaults) -> tc, *model_max (<= 0:
 * not given). */
static labse_status load_tok_config(lb_model *m, const char *path, lb_tok_config *tc,
                                    double *model_max, labse_error *err) {
    *tc = lb_tok_default_config();
    *model_max = 0;
    cJSON *j;
    labse_status s = read_json(path, 1, &j, err);
    if (s || !j) return s;
    if (!cJSON_IsObject(j)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    if ((s = json_bool(path, j, "do_lower_case", 1, &tc->lowercase, err)) ||
        (s = json_bool(path, j, "tokenize_chinese_chars", 1, &tc->chinese_chars, err)))
        goto done;
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(j, "strip_accents");
    if (!sa || cJSON_IsNull(sa)) {
        tc->strip_accents = -1;
    } else if (cJSON_IsBool(sa)) {
        tc->strip_accents = cJSON_IsTrue(sa);
    } else {
        s = lb_err(err, LABSE_E_FORMAT, "%s: \"strip_accents\" is not null, true or false",
                   path);
        goto done;
    }
    if ((s = tok_token(m, path, j, "unk_token", &tc->unk_token, err)) ||
        (s = tok_token(m, path, j, "cls_token", &tc->cls_token, err)) ||
        (s = tok_token(m, path, j, "sep_token", &tc->sep_token, err)) ||
        (s = tok_token(m, path, j, "pad_token", &tc->pad_token, err)) ||
        (s = tok_token(m, path, j, "mask_token", &tc->mask_token, err)))
        goto done;
    const cJSON *mm = cJSON_GetObjectItemCaseSensitive(j, "model_max_length");
    if (mm && cJSON_IsNumber(mm) && mm->valuedouble > 0) *model_max = mm->valuedouble;
done:
    cJSON_Delete(j);
    return s;
}

/* sentence_bert_config.json (optional) -> *max_seq (0 = not given). */
static labse_status load_sbert_config(const char *path, int *max_seq, labse_error *err) {
    *max_seq = 0;
    cJSON *j;
    labse_status s = read_json(path, 1, &j, err);
    if (s || !j) return s;
    int lower = 0;
    if (!cJSON_IsObject(j)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: not a JSON object", path);
    } else if (!(s = json_int(path, j, "max_seq_length", 1, 0, 2, INT_MAX, max_seq, err)) &&
               !(s = json_bool(path, j, "do_lower_case", 0, &lower, err)) && lower) {
        /* sentence-transformers lower-cases with Python's str.lower() before tokenising;
         * that is not the tokenizer's per-character lowercase (final sigma, ...). */
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: do_lower_case true (lower-casing by sentence-transformers) is not "
                   "supported",
                   path);
    }
    cJSON_Delete(j);
    return s;
}

/* tokenizer.json -> m->tok. Only the WordPiece vocabulary is taken from it (model.vocab: an
 * object piece -> id, ids exactly 0..vocab_size-1, each once); the normaliser settings and
 * token names stay those of tokenizer_config.json (tc), as transformers' BertTokenizerFast
 * overrides the file's normalizer with its init kwargs. model.type must be "WordPiece" and
 * continuing_subword_prefix / max_input_chars_per_word, when given, "##" / 100 (what the
 * tokenizer implements). Cost for LaBSE (501,153 pieces, ~14 MB): one cJSON tree, freed
 * before returning; the tokenizer copies the pieces into its own arena. */
static labse_status load_tokenizer_json(lb_model *m, const char *path, const lb_tok_config *tc,
                                        int vocab_size, labse_error *err) {
    cJSON *j;
    labse_status s = read_json_max(path, 0, LB_TOKJSON_MAX_BYTES, &j, err);
    if (s) return s;
    const char **pieces = NULL; /* [vocab_size] borrowed from j: pieces[id] */
    size_t *lens = NULL;        /* [vocab_size] */
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsObject(j) || !cJSON_IsObject(model)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: no \"model\" object", path);
        goto done;
    }
    const char *type, *prefix, *unk;
    if ((s = json_str(path, model, "type", &type, err)) ||
        (s = json_str(path, model, "continuing_subword_prefix", &prefix, err)) ||
        (s = json_str(path, model, "unk_token", &unk, err)))
        goto done;
    if (!type || strcmp(type, "WordPiece") != 0) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: model.type \"%.64s\" is not supported (only \"WordPiece\")", path,
                   type ? type : "(missing)");
        goto done;
    }
    if (prefix && strcmp(prefix, "##") != 0) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: model.continuing_subword_prefix \"%.64s\" is not supported (only "
                   "\"##\")",
                   path, prefix);
        goto done;
    }
    const cJSON *mic = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (mic && !cJSON_IsNull(mic) && !(cJSON_IsNumber(mic) && mic->valuedouble == 100)) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: model.max_input_chars_per_word other than 100 is not supported", path);
        goto done;
    }
    const char *want_unk = tc->unk_token ? tc->unk_token : "[UNK]";
    if (unk && strcmp(unk, want_unk) != 0) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: model.unk_token \"%.64s\" differs from the unk_token \"%.64s\" of "
                   "tokenizer_config.json",
                   path, unk, want_unk);
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: model.vocab is not an object (piece -> id)", path);
        goto done;
    }
    pieces = calloc((size_t)vocab_size, sizeof *pieces);
    lens = malloc((size_t)vocab_size * sizeof *lens);
    if (!pieces || !lens) {
        s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory for %d pieces", path, vocab_size);
        goto done;
    }
    /* every id an integer in 0..vocab_size-1, none twice; then none missing */
    int count = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, count++) {
        const char *piece = e->string ? e->string : "";
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble)) {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: model.vocab: the id of piece \"%.64s\" is not an integer", path,
                       piece);
            goto done;
        }
        double d = e->valuedouble;
        if (d < 0 || d >= vocab_size) {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: model.vocab: piece \"%.64s\" has id %.17g, outside 0..%d "
                       "(config.json vocab_size %d)",
                       path, piece, d, vocab_size - 1, vocab_size);
            goto done;
        }
        int id = (int)d;
        if (pieces[id]) {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: model.vocab: pieces \"%.64s\" and \"%.64s\" both have id %d", path,
                       pieces[id], piece, id);
            goto done;
        }
        pieces[id] = piece;
        lens[id] = strlen(piece);
    }
    if (count != vocab_size) { /* fewer: some id has no piece */
        int gap = 0;
        while (gap < vocab_size && pieces[gap]) gap++;
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: model.vocab has %d pieces, but config.json has vocab_size %d (no piece "
                   "has id %d)",
                   path, count, vocab_size, gap);
        goto done;
    }
    s = lb_tokenizer_new_from_pieces(pieces, lens, vocab_size, tc, path, &m->tok, err);
done:
    free(pieces);
    free(lens);
    cJSON_Delete(j);
    return s;
}

/* Line count of vocab.txt: '\n' ends a line; a last line without '\n' counts. */
static labse_status count_vocab_lines(const char *path, long *lines, labse_error *err) {
    FILE *f;
    do /* EINTR retried */
        f = fopen(path, "rb");
    while (!f && errno == EINTR);
    if (!f) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char buf[1 << 16];
    long n = 0;
    int last = '\n';
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < r; i++) n += buf[i] == '\n';
        last = (unsigned char)buf[r - 1];
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) return lb_err(err, LABSE_E_IO, "%s: read error", path);
    if (last != '\n') n++;
    *lines = n;
    return LABSE_OK;
}

/* The class name of a modules.json "type" ("sentence_transformers.models.Dense" -> "Dense"). */
static const char *module_kind(const char *type) {
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

/* N_Pooling/config.json -> cfg.pooling. */
static labse_status load_pooling(const char *path, lb_config *c, labse_error *err) {
    cJSON *j;
    labse_status s = read_json(path, 0, &j, err);
    if (s) return s;
    if (!cJSON_IsObject(j)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    int wdim;
    if ((s = json_int(path, j, "word_embedding_dimension", 0, 0, 1, INT_MAX, &wdim, err)))
        goto done;
    if (wdim != c->hidden) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: word_embedding_dimension %d does not match hidden_size %d", path, wdim,
                   c->hidden);
        goto done;
    }
    int cls = 0, mean = 0, other = 0;
    char other_name[64] = "";
    for (const cJSON *e = j->child; e; e = e->next) {
        if (!e->string || strncmp(e->string, "pooling_mode_", 13) != 0) continue;
        int on;
        if ((s = json_bool(path, j, e->string, 0, &on, err))) goto done;
        if (!on) continue;
        if (strcmp(e->string, "pooling_mode_cls_token") == 0) {
            cls = 1;
        } else if (strcmp(e->string, "pooling_mode_mean_tokens") == 0) {
            mean = 1;
        } else {
            other++;
            snprintf(other_name, sizeof other_name, "%s", e->string);
        }
    }
    /* Newer sentence-transformers may also write "pooling_mode": "cls" | "mean" | ... */
    const char *pm;
    if ((s = json_str(path, j, "pooling_mode", &pm, err))) goto done;
    if (pm && !cls && !mean && !other) {
        if (strcmp(pm, "cls") == 0) cls = 1;
        else if (strcmp(pm, "mean") == 0) mean = 1;
        else {
            other = 1;
            snprintf(other_name, sizeof other_name, "pooling_mode \"%.32s\"", pm);
        }
    }
    if (other) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: %s is not supported (only pooling_mode_cls_token or "
                   "pooling_mode_mean_tokens)",
                   path, other_name);
    } else if (cls && mean) {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: two pooling modes (cls and mean) are set; exactly one is supported",
                   path);
    } else if (!cls && !mean) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: no pooling mode is set", path);
    } else {
        c->pooling = cls ? LABSE_POOL_CLS : LABSE_POOL_MEAN;
    }
done:
    cJSON_Delete(j);
    return s;
}

/* A Dense module's config.json: in_features must equal *dim (the running dimension). */
static labse_status load_dense_config(const char *path, int *dim, lb_dense *d,
                                      int *has_bias, labse_error *err) {
    cJSON *j;
    labse_status s = read_json(path, 0, &j, err);
    if (s) return s;
    if (!cJSON_IsObject(j)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    int in, out;
    if ((s = json_int(path, j, "in_features", 0, 0, 1, LB_DIM_MAX, &in, err)) ||
        (s = json_int(path, j, "out_features", 0, 0, 1, LB_DIM_MAX, &out, err)) ||
        (s = json_bool(path, j, "bias", 1, has_bias, err)))
        goto done;
    if (in != *dim) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: in_features %d does not match the dimension %d of the previous module",
                   path, in, *dim);
        goto done;
    }
    const char *act;
    if ((s = json_str(path, j, "activation_function", &act, err))) goto done;
    if (!act || strcmp(act, "torch.nn.modules.activation.Tanh") == 0) {
        d->act = LB_ACT_TANH; /* sentence-transformers' Dense default */
    } else if (strcmp(act, "torch.nn.modules.linear.Identity") == 0) {
        d->act = LB_ACT_IDENTITY;
    } else {
        s = lb_err(err, LABSE_E_UNSUPPORTED,
                   "%s: activation_function \"%.96s\" is not supported (Tanh or Identity)", path,
                   act);
        goto done;
    }
    d->lin.in = in;
    d->lin.out = out;
    *dim = out;
done:
    cJSON_Delete(j);
    return s;
}

/* ------------------------------------------------------------------------------------------
 * Weights
 * ---------------------------------------------------------------------------------------- */

/* Look-up context: one safetensors file, a name prefix ("" or "bert."), the model. */
typedef struct wctx {
    lb_model *m;
    lb_safetensors *st;
    const char *prefix;
    int in_place;  /* tensors of st used in place (when 0 the file can be unmapped) */
} wctx;

static void fmt_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* Find prefix+name (and, when alt is given, prefix+alt) and check its dtype and shape. */
static labse_status find_checked(wctx *w, const char *name, const char *alt, int ndim,
                                 const int64_t *shape, const lb_tensor **out,
                                 labse_error *err) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", w->prefix, name);
    const lb_tensor *t = lb_st_find(w->st, full);
    if (!t && alt) {
        char fa[512];
        snprintf(fa, sizeof fa, "%s%s", w->prefix, alt);
        t = lb_st_find(w->st, fa);
    }
    if (!t) return lb_err(err, LABSE_E_FORMAT, "%s: missing tensor \"%s\"", w->st->path, full);
    if (t->dtype != LB_F32 && t->dtype != LB_F16 && t->dtype != LB_BF16)
        return lb_err(err, LABSE_E_UNSUPPORTED,
                      "%s: tensor \"%s\" has dtype %s (F32, F16 or BF16 expected)", w->st->path,
                      t->name, lb_dtype_name(t->dtype));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char e[128], f[128];
        fmt_shape(e, sizeof e, ndim, shape);
        fmt_shape(f, sizeof f, t->ndim, t->shape);
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: tensor \"%s\" has shape %s, expected %s (from config.json)",
                      w->st->path, t->name, f, e);
    }
    *out = t;
    return LABSE_OK;
}

/* An fp32 view of tensor name with the given shape: in place when F32 and 4-byte aligned,
 * else converted into a buffer owned by the model. Adds numel to m->parameters. */
static labse_status weight(wctx *w, const char *name, const char *alt, int ndim, int64_t d0,
                           int64_t d1, const float **out, labse_error *err) {
    const int64_t shape[2] = {d0, d1};
    const lb_tensor *t;
    labse_status s = find_checked(w, name, alt, ndim, shape, &t, err);
    if (s) return s;
    w->m->parameters += t->numel;
    if (t->dtype == LB_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = (const float *)t->data;
        w->in_place++;
        return LABSE_OK;
    }
    float *buf = own(w->m, malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float)));
    if (!buf)
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory converting \"%s\" (%lld values)",
                      w->st->path, t->name, (long long)t->numel);
    if ((s = lb_tensor_to_f32(t, buf, err))) {
        lb_err_prefix(err, "%s", w->st->path);
        return s;
    }
    *out = buf;
    return LABSE_OK;
}

/* Layer i's fused QKV: weight [3H, H] (rows Q, K, V) and bias [3H], owned by the model.
 * All six tensors are checked before anything is allocated (sizes then follow the file). */
static labse_status fused_qkv(wctx *w, int i, int H, lb_linear *qkv, labse_error *err) {
    static const char *const part[3] = {"query", "key", "value"};
    const lb_tensor *tw[3], *tb[3];
    const int64_t ws[2] = {H, H}, bs[1] = {H};
    labse_status s;
    for (int p = 0; p < 3; p++) {
        char nm[128];
        snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s.weight", i, part[p]);
        if ((s = find_checked(w, nm, NULL, 2, ws, &tw[p], err))) return s;
        snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s.bias", i, part[p]);
        if ((s = find_checked(w, nm, NULL, 1, bs, &tb[p], err))) return s;
    }
    float *wb = own(w->m, malloc((size_t)3 * H * H * sizeof(float)));
    float *bb = own(w->m, malloc((size_t)3 * H * sizeof(float)));
    if (!wb || !bb)
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory for layer %d's QKV weight",
                      w->st->path, i);
    for (int p = 0; p < 3; p++) {
        if ((s = lb_tensor_to_f32(tw[p], wb + (size_t)p * H * H, err)) ||
            (s = lb_tensor_to_f32(tb[p], bb + (size_t)p * H, err)))
            return s;
        w->m->parameters += tw[p]->numel + tb[p]->numel;
    }
    qkv->in = H;
    qkv->out = 3 * H;
    qkv->w = wb;
    qkv->b = bb;
    return LABSE_OK;
}

/* Linear layer "<base>.weight" [out, in] and "<base>.bias" [out]. */
static labse_status linear(wctx *w, const char *base, int in, int out, int bias, lb_linear *l,
                           labse_error *err) {
    char nw[256], nb[256];
    snprintf(nw, sizeof nw, "%s.weight", base);
    snprintf(nb, sizeof nb, "%s.bias", base);
    labse_status s = weight(w, nw, NULL, 2, out, in, &l->w, err);
    if (s) return s;
    l->b = NULL;
    if (bias && (s = weight(w, nb, NULL, 1, out, 0, &l->b, err))) return s;
    l->in = in;
    l->out = out;
    return LABSE_OK;
}

/* LayerNorm "<base>.weight"/"<base>.bias" (legacy "gamma"/"beta"), both [H]. */
static labse_status layernorm(wctx *w, const char *base, int H, const float **g,
                              const float **b, labse_error *err) {
    char ng[256], nb[256], lg[256], lbeta[256];
    snprintf(ng, sizeof ng, "%s.weight", base);
    snprintf(nb, sizeof nb, "%s.bias", base);
    snprintf(lg, sizeof lg, "%s.gamma", base);
    snprintf(lbeta, sizeof lbeta, "%s.beta", base);
    labse_status s = weight(w, ng, lg, 1, H, 0, g, err);
    if (!s) s = weight(w, nb, lbeta, 1, H, 0, b, err);
    return s;
}

/* The whole BERT encoder from model.safetensors. */
static labse_status load_encoder(lb_model *m, wctx *w, labse_error *err) {
    const lb_config *c = &m->cfg;
    const int H = c->hidden, I = c->intermediate;
    labse_status s;
    w->prefix = "";
    if (!lb_st_find(w->st, "embeddings.word_embeddings.weight") &&
        lb_st_find(w->st, "bert.embeddings.word_embeddings.weight"))
        w->prefix = "bert.";
    if ((s = weight(w, "embeddings.word_embeddings.weight", NULL, 2, c->vocab_size, H,
                    &m->word_emb, err)) ||
        (s = weight(w, "embeddings.position_embeddings.weight", NULL, 2, c->max_position, H,
                    &m->pos_emb, err)) ||
        (s = weight(w, "embeddings.token_type_embeddings.weight", NULL, 2, c->type_vocab, H,
                    &m->type_emb, err)) ||
        (s = layernorm(w, "embeddings.LayerNorm", H, &m->emb_ln_g, &m->emb_ln_b, err)))
        return s;
    m->layer = own(m, calloc((size_t)c->layers, sizeof *m->layer));
    if (!m->layer) return lb_err(err, LABSE_E_NOMEM, "out of memory for %d layers", c->layers);
    for (int i = 0; i < c->layers; i++) {
        lb_layer *L = &m->layer[i];
        char b[160];
        if ((s = fused_qkv(w, i, H, &L->qkv, err))) return s;
        snprintf(b, sizeof b, "encoder.layer.%d.attention.output.dense", i);
        if ((s = linear(w, b, H, H, 1, &L->attn_out, err))) return s;
        snprintf(b, sizeof b, "encoder.layer.%d.attention.output.LayerNorm", i);
        if ((s = layernorm(w, b, H, &L->ln1_g, &L->ln1_b, err))) return s;
        snprintf(b, sizeof b, "encoder.layer.%d.intermediate.dense", i);
        if ((s = linear(w, b, H, I, 1, &L->ffn_up, err))) return s;
        snprintf(b, sizeof b, "encoder.layer.%d.output.dense", i);
        if ((s = linear(w, b, I, H, 1, &L->ffn_down, err))) return s;
        snprintf(b, sizeof b, "encoder.layer.%d.output.LayerNorm", i);
        if ((s = layernorm(w, b, H, &L->ln2_g, &L->ln2_b, err))) return s;
    }
    return LABSE_OK;
}

/* Map path, register it with the model, and unmap it again at the end when no tensor is used
 * in place (all converted). */
static labse_status open_weights(lb_model *m, const char *path, wctx *w, labse_error *err) {
    lb_safetensors *st;
    labse_status s = lb_st_open(path, &st, err);
    if (s) return s;
    if ((s = add_file(m, st, err))) return s;
    w->m = m;
    w->st = st;
    w->prefix = "";
    w->in_place = 0;
    return LABSE_OK;
}

static void release_unused(lb_model *m, wctx *w) {
    if (w->in_place || m->n_files == 0 || m->files[m->n_files - 1] != w->st) return;
    lb_st_close(w->st);
    m->files[--m->n_files] = NULL;
    w->st = NULL;
}

/* ------------------------------------------------------------------------------------------
 * lb_model_load: the stages, in order
 *   1. model_dir_check      the folder exists
 *   2. stage_config         config.json: the BERT shape
 *   3. stage_modules        modules.json + Pooling/Dense configs: pooling, output dim,
 *                           Normalize, the Dense modules to read (dense_plan)
 *   4. stage_max_length     tokenizer_config.json + sentence_bert_config.json: tokenizer
 *                           options, the maximum sequence length
 *   5. stage_vocab          tokenizer.json or vocab.txt: the tokenizer; cross-checked with
 *                           vocab_size
 *   6. stage_encoder        model.safetensors: map and bind the encoder's tensors
 *   7. stage_dense          N_Dense/model.safetensors: bind each Dense module's tensors
 * Each stage fills its part of *m (owned by m: lb_model_free() releases it whatever stage
 * failed) and returns the first error with a message naming the file. Single-threaded.
 * ---------------------------------------------------------------------------------------- */

/* One Dense module found in modules.json, before its weights are read. */
typedef struct dense_plan {
    char *dir;
    int has_bias;
} dense_plan;

/* Replace *p (freed) by path_join(a, b, c). LABSE_E_NOMEM on failure (*p is then NULL). */
static labse_status set_path(char **p, const char *a, const char *b, const char *c,
                             labse_error *err) {
    free(*p);
    if (!(*p = path_join(a, b, c))) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    return LABSE_OK;
}

/* Stage 1: dir must be an existing directory. */
static labse_status model_dir_check(const char *dir, labse_error *err) {
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return lb_err(err, LABSE_E_IO, "%s: not a model folder: %s", dir,
                      stat(dir, &sb) != 0 ? strerror(errno) : "not a directory");
    return LABSE_OK;
}

/* Stage 2: config.json into m->cfg. */
static labse_status stage_config(lb_model *m, const char *dir, labse_error *err) {
    char *p = NULL;
    labse_status s = set_path(&p, dir, "config.json", NULL, err);
    if (!s) s = load_bert_config(p, &m->cfg, err);
    free(p);
    return s;
}

/* Stage 3: modules.json — Transformer "", Pooling, Dense*, Normalize? — with the Pooling and
 * Dense config.json files. Sets cfg.pool*, cfg.normalize, cfg.dim; appends m->dense (shapes
 * only); *plan (heap array, *n_plan entries, each dir heap; the caller frees them, also on
 * failure) lists where each Dense module's weights are. */
static labse_status stage_modules(lb_model *m, const char *dir, dense_plan **plan, int *n_plan,
                                  labse_error *err) {
    lb_config *c = &m->cfg;
    char *p = NULL, *mpath = NULL;
    cJSON *mods = NULL;
    labse_status s = set_path(&mpath, dir, "modules.json", NULL, err);
    if (s) return s;
    if (!file_exists(mpath)) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: missing: not a sentence-transformers folder (modules.json lists the "
                   "Transformer, Pooling, Dense and Normalize modules)",
                   mpath);
        goto out;
    }
    if ((s = read_json(mpath, 0, &mods, err))) goto out;
    if (!cJSON_IsArray(mods) || cJSON_GetArraySize(mods) == 0) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: not a non-empty JSON array of modules", mpath);
        goto out;
    }
    int idx = 0, have_pool = 0, dim = c->hidden;
    *plan = calloc((size_t)cJSON_GetArraySize(mods), sizeof **plan);
    if (!*plan) {
        s = lb_err(err, LABSE_E_NOMEM, "out of memory");
        goto out;
    }
    for (const cJSON *e = mods->child; e; e = e->next, idx++) {
        const char *type = NULL, *sub = NULL;
        if (!cJSON_IsObject(e) || json_str(mpath, e, "type", &type, NULL) || !type ||
            json_str(mpath, e, "path", &sub, NULL) || !sub) {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: module %d is not an object with string \"type\" and \"path\"",
                       mpath, idx);
            break;
        }
        const char *kind = module_kind(type);
        if (sub[0] == '/' || strstr(sub, "..")) {
            s = lb_err(err, LABSE_E_FORMAT, "%s: module %d path \"%.64s\" leaves the folder",
                       mpath, idx, sub);
            break;
        }
        if (idx == 0) {
            if (strcmp(kind, "Transformer") != 0 || sub[0] != '\0') {
                s = lb_err(err, LABSE_E_UNSUPPORTED,
                           "%s: the first module must be a Transformer with path \"\" "
                           "(found \"%.96s\" at \"%.64s\")",
                           mpath, type, sub);
                break;
            }
            continue;
        }
        if (c->normalize) {
            s = lb_err(err, LABSE_E_UNSUPPORTED,
                       "%s: module %d (\"%.96s\") after Normalize is not supported", mpath,
                       idx, type);
            break;
        }
        if (strcmp(kind, "Pooling") == 0) {
            if (have_pool) {
                s = lb_err(err, LABSE_E_UNSUPPORTED, "%s: more than one Pooling module",
                           mpath);
                break;
            }
            have_pool = 1;
            if ((s = set_path(&p, dir, sub, "config.json", err))) break;
            if ((s = load_pooling(p, c, err))) break;
        } else if (strcmp(kind, "Dense") == 0) {
            if (!have_pool) {
                s = lb_err(err, LABSE_E_UNSUPPORTED,
                           "%s: Dense module %d comes before the Pooling module", mpath, idx);
                break;
            }
            lb_dense d = {0};
            dense_plan *pl = &(*plan)[*n_plan];
            if ((s = set_path(&p, dir, sub, "config.json", err))) break;
            if ((s = load_dense_config(p, &dim, &d, &pl->has_bias, err))) break;
            if (!(pl->dir = path_join(dir, sub, NULL))) {
                s = lb_err(err, LABSE_E_NOMEM, "out of memory");
                break;
            }
            (*n_plan)++;
            lb_dense *nd = realloc(m->dense, (size_t)(m->n_dense + 1) * sizeof *nd);
            if (!nd) {
                s = lb_err(err, LABSE_E_NOMEM, "out of memory");
                break;
            }
            m->dense = nd;
            m->dense[m->n_dense++] = d;
        } else if (strcmp(kind, "Normalize") == 0) {
            if (!have_pool) {
                s = lb_err(err, LABSE_E_UNSUPPORTED,
                           "%s: Normalize module %d comes before the Pooling module", mpath,
                           idx);
                break;
            }
            c->normalize = 1;
        } else {
            s = lb_err(err, LABSE_E_UNSUPPORTED,
                       "%s: module %d of type \"%.96s\" is not supported (Transformer, "
                       "Pooling, Dense, Normalize)",
                       mpath, idx, type);
            break;
        }
    }
    if (!s && !have_pool) s = lb_err(err, LABSE_E_FORMAT, "%s: no Pooling module", mpath);
    c->dim = dim;
out:
    free(p);
    free(mpath);
    cJSON_Delete(mods);
    return s;
}

/* Stage 4: tokenizer_config.json (into *tc, strings owned by m; cfg.lowercase) and
 * sentence_bert_config.json: cfg.max_seq_length = max_seq_length, else
 * min(model_max_length, max_position_embeddings), clamped to 2..max_position; an override
 * (non-zero) must lie in 2..max_position. */
static labse_status stage_max_length(lb_model *m, const char *dir, int max_length_override,
                                     lb_tok_config *tc, labse_error *err) {
    lb_config *c = &m->cfg;
    char *p = NULL;
    double model_max;
    int max_seq;
    labse_status s;
    if ((s = set_path(&p, dir, "tokenizer_config.json", NULL, err))) goto out;
    if ((s = load_tok_config(m, p, tc, &model_max, err))) goto out;
    c->lowercase = tc->lowercase != 0;
    if ((s = set_path(&p, dir, "sentence_bert_config.json", NULL, err))) goto out;
    if ((s = load_sbert_config(p, &max_seq, err))) goto out;
    if (max_seq == 0) /* absent: min(model_max_length, max_position_embeddings) */
        max_seq = (model_max > 0 && model_max < c->max_position) ? (int)model_max
                                                                : c->max_position;
    if (max_seq > c->max_position) max_seq = c->max_position;
    if (max_seq < 2) max_seq = 2;
    if (max_length_override != 0) {
        if (max_length_override < 2 || max_length_override > c->max_position) {
            s = lb_err(err, LABSE_E_INVALID,
                       "%s: max length %d is out of range: must be 2..%d "
                       "(max_position_embeddings of config.json)",
                       dir, max_length_override, c->max_position);
            goto out;
        }
        max_seq = max_length_override;
    }
    c->max_seq_length = max_seq;
out:
    free(p);
    return s;
}

/* Stage 5: the vocabulary — tokenizer.json's when there is one (what the HF fast tokenizer
 * uses), else vocab.txt (line count == vocab_size) — then m->tok, cross-checked against
 * cfg.vocab_size; m->vocab_source names the file used. */
static labse_status stage_vocab(lb_model *m, const char *dir, const lb_tok_config *tc,
                                labse_error *err) {
    lb_config *c = &m->cfg;
    char *p = NULL;
    labse_status s;
    if ((s = set_path(&p, dir, "tokenizer.json", NULL, err))) goto out;
    if (file_exists(p)) {
        if ((s = load_tokenizer_json(m, p, tc, c->vocab_size, err))) goto out;
        snprintf(m->vocab_source, sizeof m->vocab_source, "tokenizer.json");
    } else {
        if ((s = set_path(&p, dir, "vocab.txt", NULL, err))) goto out;
        long lines;
        if ((s = count_vocab_lines(p, &lines, err))) goto out;
        if (lines != c->vocab_size) {
            s = lb_err(err, LABSE_E_FORMAT, "%s: %ld lines, but config.json has vocab_size %d",
                       p, lines, c->vocab_size);
            goto out;
        }
        if ((s = lb_tokenizer_new(p, tc, &m->tok, err))) goto out;
        snprintf(m->vocab_source, sizeof m->vocab_source, "vocab.txt");
    }
    if (lb_tokenizer_vocab_size(m->tok) != c->vocab_size)
        s = lb_err(err, LABSE_E_FORMAT, "%s: the tokenizer read %d pieces, vocab_size is %d", p,
                   lb_tokenizer_vocab_size(m->tok), c->vocab_size);
out:
    free(p);
    return s;
}

/* Stages 6 and 7 share this: the weights file "<wdir>/model.safetensors" must exist
 * (LABSE_E_UNSUPPORTED when only pytorch_model.bin is there, LABSE_E_IO otherwise; dense = 1
 * says "the Dense module's weights" in the message). *p (freed first, heap) receives the
 * path. */
static labse_status weights_path(const char *wdir, int dense, char **p, labse_error *err) {
    labse_status s = set_path(p, wdir, "model.safetensors", NULL, err);
    if (s || file_exists(*p)) return s;
    char *alt = path_join(wdir, "pytorch_model.bin", NULL);
    int has_bin = alt && file_exists(alt);
    free(alt);
    if (dense)
        return lb_err(err, has_bin ? LABSE_E_UNSUPPORTED : LABSE_E_IO,
                      has_bin ? "%s: missing (the Dense module's weights; only "
                                "pytorch_model.bin found: convert it to safetensors)"
                              : "%s: missing (the Dense module's weights)",
                      *p);
    return lb_err(err, has_bin ? LABSE_E_UNSUPPORTED : LABSE_E_IO,
                  has_bin ? "%s: missing (only pytorch_model.bin found; convert it to "
                            "safetensors)"
                          : "%s: missing",
                  *p);
}

/* Stage 6: model.safetensors — map it and bind the encoder's tensors (m->files, m->owned). */
static labse_status stage_encoder(lb_model *m, const char *dir, labse_error *err) {
    char *p = NULL;
    wctx w;
    labse_status s = weights_path(dir, 0, &p, err);
    if (!s && !(s = open_weights(m, p, &w, err)) && !(s = load_encoder(m, &w, err)))
        release_unused(m, &w);
    free(p);
    return s;
}

/* Stage 7: each Dense module's N_Dense/model.safetensors: "linear.weight" [out, in],
 * "linear.bias" when the plan says so. */
static labse_status stage_dense(lb_model *m, const dense_plan *plan, labse_error *err) {
    char *p = NULL;
    labse_status s = LABSE_OK;
    for (int k = 0; k < m->n_dense && !s; k++) {
        lb_dense *d = &m->dense[k];
        wctx w;
        if ((s = weights_path(plan[k].dir, 1, &p, err))) break;
        if ((s = open_weights(m, p, &w, err)) ||
            (s = linear(&w, "linear", d->lin.in, d->lin.out, plan[k].has_bias, &d->lin, err)))
            break;
        release_unused(m, &w);
    }
    free(p);
    return s;
}

labse_status lb_model_load(const char *dir, int max_length_override, lb_model **out,
                           labse_error *err) {
    if (!dir || !out) return lb_err(err, LABSE_E_INVALID, "lb_model_load: NULL argument");
    lb_err_clear(err);
    lb_model *m = calloc(1, sizeof *m);
    if (!m) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    dense_plan *plan = NULL;
    int n_plan = 0;
    lb_tok_config tc;
    labse_status s;
    if ((s = model_dir_check(dir, err)) || (s = stage_config(m, dir, err)) ||
        (s = stage_modules(m, dir, &plan, &n_plan, err)) ||
        (s = stage_max_length(m, dir, max_length_override, &tc, err)) ||
        (s = stage_vocab(m, dir, &tc, err)) || (s = stage_encoder(m, dir, err)) ||
        (s = stage_dense(m, plan, err))) {
        lb_model_free(m);
        m = NULL;
    }
    for (int k = 0; k < n_plan; k++) free(plan[k].dir);
    free(plan);
    if (m) *out = m;
    return s;
}

void lb_model_free(lb_model *m) {
    if (!m) return;
    if (m->tok) lb_tokenizer_free(m->tok);
    for (int i = 0; i < m->n_files; i++) lb_st_close(m->files[i]);
    free(m->files);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->dense);
    free(m);
}
