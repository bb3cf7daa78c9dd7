/* test_model_load.c — lb_model_load on small sentence-transformers folders built here.
 *
 * A tiny BERT (30 WordPieces, hidden 8, 2 heads, FFN 16, 2 layers, 16 positions) is written
 * from C: config.json, model.safetensors (F32/F16/BF16, optional "bert." prefix), vocab.txt,
 * tokenizer_config.json, sentence_bert_config.json, modules.json, 1_Pooling/config.json and
 * an optional 2_Dense module. A good folder must load with every value in place; each fault
 * must be refused with a message naming the file at fault.
 *
 * With one argument (a folder, e.g. ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2) it instead loads
 * that real model and checks its shapes; exit 77 (skipped) when the folder is absent. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/model.h"

static char g_root[256];

/* ------------------------------------------------------------------------------------------
 * A minimal safetensors writer (values chosen to be exact in F16 and BF16)
 * ---------------------------------------------------------------------------------------- */

#define MAXT 64
typedef struct stw {
    int n;
    char name[MAXT][96];
    lb_dtype dtype[MAXT];
    int ndim[MAXT];
    int64_t shape[MAXT][2];
    uint8_t *data;
    size_t len, cap;
    size_t begin[MAXT], end[MAXT];
} stw;

/* The deterministic value i of tensor `name`: k/64 with k in [-64, 64] (exact in F16/BF16). */
static uint32_t name_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}
static float val(const char *name, int64_t i) {
    uint32_t h = name_hash(name) + (uint32_t)i * 2654435761u;
    h ^= h >> 15;
    return (float)((int)(h % 129) - 64) / 64.0f;
}

static uint16_t to_half(float f) { /* exact for normal values with <= 11 significant bits */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if ((u & 0x7fffffff) == 0) return sign;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    return (uint16_t)(sign | (e << 10) | ((u >> 13) & 0x3ff));
}

static void put(stw *w, const void *b, size_t n) {
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2 + 64;
        w->data = realloc(w->data, w->cap);
        assert_non_null(w->data);
    }
    memcpy(w->data + w->len, b, n);
    w->len += n;
}

/* Add tensor name [d0] (d1 = 0) or [d0, d1], values val(name, i) (or val(valname, i)). */
static void stw_add(stw *w, const char *name, lb_dtype dt, int64_t d0, int64_t d1) {
    assert_true(w->n < MAXT);
    int k = w->n++;
    snprintf(w->name[k], sizeof w->name[k], "%s", name);
    w->dtype[k] = dt;
    w->ndim[k] = d1 ? 2 : 1;
    w->shape[k][0] = d0;
    w->shape[k][1] = d1;
    w->begin[k] = w->len;
    int64_t n = d0 * (d1 ? d1 : 1);
    for (int64_t i = 0; i < n; i++) {
        float v = val(name, i);
        if (dt == LB_F32) {
            put(w, &v, 4);
        } else if (dt == LB_F16) {
            uint16_t h = to_half(v);
            uint8_t b[2] = {(uint8_t)(h & 0xff), (uint8_t)(h >> 8)};
            put(w, b, 2);
        } else {
            uint32_t u;
            memcpy(&u, &v, 4);
            uint8_t b[2] = {(uint8_t)(u >> 16), (uint8_t)(u >> 24)};
            put(w, b, 2);
        }
    }
    w->end[k] = w->len;
}

/* Write the file; pad_to: header length rounded to a multiple of this (1 = none). */
static void stw_write(stw *w, const char *path, int pad_to) {
    size_t cap = 256 + (size_t)w->n * 256, hl = 0;
    char *h = malloc(cap);
    assert_non_null(h);
    hl += (size_t)snprintf(h + hl, cap - hl, "{\"__metadata__\": {\"format\": \"pt\"}");
    for (int k = 0; k < w->n; k++) {
        static const char *names[] = {"F32", "F16", "BF16"};
        hl += (size_t)snprintf(h + hl, cap - hl, ", \"%s\": {\"dtype\": \"%s\", \"shape\": [%lld",
                               w->name[k], names[w->dtype[k]], (long long)w->shape[k][0]);
        if (w->ndim[k] == 2)
            hl += (size_t)snprintf(h + hl, cap - hl, ", %lld", (long long)w->shape[k][1]);
        hl += (size_t)snprintf(h + hl, cap - hl, "], \"data_offsets\": [%zu, %zu]}",
                               w->begin[k], w->end[k]);
    }
    hl += (size_t)snprintf(h + hl, cap - hl, "}");
    while (hl % (size_t)pad_to) h[hl++] = ' ';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    assert_int_equal(fwrite(le, 1, 8, f), 8);
    assert_int_equal(fwrite(h, 1, hl, f), hl);
    if (w->len) assert_int_equal(fwrite(w->data, 1, w->len, f), w->len);
    assert_int_equal(fclose(f), 0);
    free(h);
    free(w->data);
    memset(w, 0, sizeof *w);
}

/* ------------------------------------------------------------------------------------------
 * The tiny model folder
 * ---------------------------------------------------------------------------------------- */

enum { V = 30, H = 8, NH = 2, I = 16, P = 16, T = 2 };

static const char *k_vocab[V] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a",   "cat",   "dog",   "sat",
    "on",    "mat",   "hello", "world", ".",      ",",   "!",   "?",     "##s",   "##ing",
    "run",   "walk",  "big",   "small", "red",    "blue", "one", "two",  "three", "##ed"};

typedef struct spec {
    lb_dtype dtype;
    const char *prefix;    /* "" or "bert." */
    int layers;
    int heads;
    const char *hidden_act;
    const char *pooling;   /* "cls", "mean", "both" */
    int dense;             /* 0: none, 1: one Dense H -> dense_out (tanh) */
    int dense_in;          /* in_features written (default H) */
    int dense_out;
    int dense_bias;
    const char *dense_act; /* NULL = Tanh */
    int normalize;
    const char *omit;      /* a tensor name (without prefix) left out */
    const char *reshape;   /* a tensor name written with one extra row */
    int vocab_lines;       /* lines written to vocab.txt (default V) */
    int no_vocab, no_config, bad_config_json, no_modules, no_sbert;
    int legacy_ln;         /* LayerNorm gamma/beta names */
    int odd_align;         /* header padded so F32 data is unaligned */
    int max_seq;           /* sentence_bert_config max_seq_length (0 = omitted) */
    int tok_objects;       /* special tokens as {"content": ...} */
    const char *tok_json;  /* text of tokenizer.json (NULL: none written) */
    const char *mask;      /* tokenizer_config.json mask_token (NULL: "[MASK]") */
} spec;

static spec good_spec(void) {
    spec s = {0};
    s.dtype = LB_F32;
    s.prefix = "";
    s.layers = 2;
    s.heads = NH;
    s.hidden_act = "gelu";
    s.pooling = "cls";
    s.dense = 1;
    s.dense_in = H;
    s.dense_out = 6;
    s.dense_bias = 1;
    s.normalize = 1;
    s.vocab_lines = V;
    s.max_seq = 12;
    return s;
}

static void write_text(const char *dir, const char *name, const char *fmt, ...) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    assert_int_equal(fclose(f), 0);
}

static void add_t(stw *w, const spec *s, const char *name, int64_t d0, int64_t d1) {
    if (s->omit && strcmp(s->omit, name) == 0) return;
    char full[160];
    const char *nm = name;
    char legacy[160];
    if (s->legacy_ln && strstr(name, "LayerNorm.")) {
        const char *dot = strrchr(name, '.');
        snprintf(legacy, sizeof legacy, "%.*s.%s", (int)(dot - name), name,
                 strcmp(dot, ".weight") == 0 ? "gamma" : "beta");
        nm = legacy;
    }
    snprintf(full, sizeof full, "%s%s", s->prefix, nm);
    if (s->reshape && strcmp(s->reshape, name) == 0) d0 += 1;
    stw_add(w, full, s->dtype, d0, d1);
}

/* Build folder g_root/<name> from s; returns its path (static buffer). */
static const char *make_model(const char *name, const spec *s) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", g_root, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    if (!s->no_config) {
        if (s->bad_config_json)
            write_text(dir, "config.json", "{\"vocab_size\": 30, \"hidden_size\": ");
        else
            write_text(dir, "config.json",
                       "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", "
                       "\"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": %d, "
                       "\"num_attention_heads\": %d, \"intermediate_size\": %d, "
                       "\"max_position_embeddings\": %d, \"type_vocab_size\": %d, "
                       "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"%s\", "
                       "\"position_embedding_type\": \"absolute\", \"pad_token_id\": 0}\n",
                       V, H, s->layers, s->heads, I, P, T, s->hidden_act);
    }
    if (!s->no_vocab) {
        char p[600];
        snprintf(p, sizeof p, "%s/vocab.txt", dir);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        for (int i = 0; i < s->vocab_lines; i++) fprintf(f, "%s\n", i < V ? k_vocab[i] : "zz");
        fclose(f);
    }
    if (s->tok_json) write_text(dir, "tokenizer.json", "%s", s->tok_json);
    if (s->tok_objects)
        write_text(dir, "tokenizer_config.json",
                   "{\"do_lower_case\": false, \"strip_accents\": null, "
                   "\"tokenize_chinese_chars\": true, \"model_max_length\": 512, "
                   "\"unk_token\": {\"content\": \"[UNK]\", \"lstrip\": false}, "
                   "\"cls_token\": {\"content\": \"[CLS]\"}, \"sep_token\": \"[SEP]\", "
                   "\"pad_token\": {\"content\": \"[PAD]\"}, \"mask_token\": \"[MASK]\"}");
    else
        write_text(dir, "tokenizer_config.json",
                   "{\"do_lower_case\": true, \"unk_token\": \"[UNK]\", \"sep_token\": \"[SEP]\", "
                   "\"pad_token\": \"[PAD]\", \"cls_token\": \"[CLS]\", \"mask_token\": "
                   "\"%s\", \"tokenize_chinese_chars\": true, \"strip_accents\": null, "
                   "\"model_max_length\": 512}",
                   s->mask ? s->mask : "[MASK]");
    if (!s->no_sbert) {
        if (s->max_seq)
            write_text(dir, "sentence_bert_config.json",
                       "{\"max_seq_length\": %d, \"do_lower_case\": false}", s->max_seq);
        else
            write_text(dir, "sentence_bert_config.json", "{\"do_lower_case\": false}");
    }
    if (!s->no_modules) {
        char mods[1024];
        int k = snprintf(mods, sizeof mods,
                         "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": "
                         "\"sentence_transformers.models.Transformer\"}, {\"idx\": 1, \"name\": "
                         "\"1\", \"path\": \"1_Pooling\", \"type\": "
                         "\"sentence_transformers.models.Pooling\"}");
        if (s->dense)
            k += snprintf(mods + k, sizeof mods - (size_t)k,
                          ", {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Dense\", \"type\": "
                          "\"sentence_transformers.models.Dense\"}");
        if (s->normalize)
            k += snprintf(mods + k, sizeof mods - (size_t)k,
                          ", {\"idx\": 3, \"name\": \"3\", \"path\": \"3_Normalize\", \"type\": "
                          "\"sentence_transformers.models.Normalize\"}");
        snprintf(mods + k, sizeof mods - (size_t)k, "]");
        write_text(dir, "modules.json", "%s", mods);
    }
    char sub[600];
    snprintf(sub, sizeof sub, "%s/1_Pooling", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    int cls = strcmp(s->pooling, "mean") != 0, mean = strcmp(s->pooling, "cls") != 0;
    write_text(sub, "config.json",
               "{\"word_embedding_dimension\": %d, \"pooling_mode_cls_token\": %s, "
               "\"pooling_mode_mean_tokens\": %s, \"pooling_mode_max_tokens\": false, "
               "\"pooling_mode_mean_sqrt_len_tokens\": false}",
               H, cls ? "true" : "false", mean ? "true" : "false");
    if (s->dense) {
        snprintf(sub, sizeof sub, "%s/2_Dense", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        write_text(sub, "config.json",
                   "{\"in_features\": %d, \"out_features\": %d, \"bias\": %s, "
                   "\"activation_function\": \"%s\"}",
                   s->dense_in, s->dense_out, s->dense_bias ? "true" : "false",
                   s->dense_act ? s->dense_act : "torch.nn.modules.activation.Tanh");
        stw w = {0};
        stw_add(&w, "linear.weight", s->dtype, s->dense_out, s->dense_in);
        if (s->dense_bias) stw_add(&w, "linear.bias", s->dtype, s->dense_out, 0);
        char p[700];
        snprintf(p, sizeof p, "%s/model.safetensors", sub);
        stw_write(&w, p, 8);
    }
    if (s->normalize) {
        snprintf(sub, sizeof sub, "%s/3_Normalize", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
    }
    /* the encoder weights */
    stw w = {0};
    add_t(&w, s, "embeddings.word_embeddings.weight", V, H);
    add_t(&w, s, "embeddings.position_embeddings.weight", P, H);
    add_t(&w, s, "embeddings.token_type_embeddings.weight", T, H);
    add_t(&w, s, "embeddings.LayerNorm.weight", H, 0);
    add_t(&w, s, "embeddings.LayerNorm.bias", H, 0);
    for (int l = 0; l < s->layers; l++) {
        static const struct {
            const char *n;
            int d0, d1;
        } lt[] = {
            {"attention.self.query.weight", H, H},   {"attention.self.query.bias", H, 0},
            {"attention.self.key.weight", H, H},     {"attention.self.key.bias", H, 0},
            {"attention.self.value.weight", H, H},   {"attention.self.value.bias", H, 0},
            {"attention.output.dense.weight", H, H}, {"attention.output.dense.bias", H, 0},
            {"attention.output.LayerNorm.weight", H, 0},
            {"attention.output.LayerNorm.bias", H, 0},
            {"intermediate.dense.weight", I, H},     {"intermediate.dense.bias", I, 0},
            {"output.dense.weight", H, I},           {"output.dense.bias", H, 0},
            {"output.LayerNorm.weight", H, 0},       {"output.LayerNorm.bias", H, 0},
        };
        for (size_t k = 0; k < sizeof lt / sizeof lt[0]; k++) {
            char nm[128];
            snprintf(nm, sizeof nm, "encoder.layer.%d.%s", l, lt[k].n);
            add_t(&w, s, nm, lt[k].d0, lt[k].d1);
        }
    }
    /* pooler and buffers are ignored by the loader */
    add_t(&w, s, "pooler.dense.weight", H, H);
    add_t(&w, s, "pooler.dense.bias", H, 0);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    stw_write(&w, p, s->odd_align ? 1 : 8);
    return dir;
}

static int64_t expected_params(const spec *s) {
    int64_t n = (int64_t)V * H + P * H + T * H + 2 * H;
    n += (int64_t)s->layers * (4 * (H * H + H) + 2 * H + (I * H + I) + (H * I + H) + 2 * H);
    if (s->dense) n += (int64_t)s->dense_out * s->dense_in + (s->dense_bias ? s->dense_out : 0);
    return n;
}

/* m's fp32 array x (n values) must equal val(name, i) exactly. */
static void check_vals(const float *x, const char *name, int64_t n) {
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) {
        if (x[i] != val(name, i)) print_error("%s[%lld] = %g, want %g\n", name, (long long)i,
                                              (double)x[i], (double)val(name, i));
        assert_true(x[i] == val(name, i));
    }
}

/* Load and check every value of a good model built from s. */
static void check_good(const char *name, const spec *s) {
    const char *dir = make_model(name, s);
    lb_model *m = NULL;
    labse_error err;
    labse_status st = lb_model_load(dir, 0, &m, &err);
    if (st) print_error("%s\n", err.message);
    assert_int_equal(st, LABSE_OK);
    assert_non_null(m);
    const lb_config *c = &m->cfg;
    assert_int_equal(c->vocab_size, V);
    assert_int_equal(c->hidden, H);
    assert_int_equal(c->layers, s->layers);
    assert_int_equal(c->heads, NH);
    assert_int_equal(c->head_dim, H / NH);
    assert_int_equal(c->intermediate, I);
    assert_int_equal(c->max_position, P);
    assert_int_equal(c->type_vocab, T);
    assert_true(c->ln_eps == 1e-12f);
    assert_int_equal(c->hidden_act, strcmp(s->hidden_act, "gelu") ? LB_ACT_GELU_TANH : LB_ACT_GELU);
    assert_int_equal(c->max_seq_length, s->max_seq ? s->max_seq : P);
    assert_int_equal(c->pooling, strcmp(s->pooling, "cls") == 0 ? LABSE_POOL_CLS
                                                                 : LABSE_POOL_MEAN);
    assert_int_equal(c->normalize, s->normalize);
    assert_int_equal(c->dim, s->dense ? s->dense_out : H);
    assert_int_equal(c->lowercase, s->tok_objects ? 0 : 1);
    assert_int_equal(m->parameters, expected_params(s));
    assert_non_null(m->tok);
    assert_int_equal(lb_tokenizer_vocab_size(m->tok), V);

    char nm[160], q[160];
    const char *pre = s->prefix;
#define N(...) (snprintf(nm, sizeof nm, __VA_ARGS__), nm)
    check_vals(m->word_emb, N("%sembeddings.word_embeddings.weight", pre), V * H);
    check_vals(m->pos_emb, N("%sembeddings.position_embeddings.weight", pre), P * H);
    check_vals(m->type_emb, N("%sembeddings.token_type_embeddings.weight", pre), T * H);
    const char *g = s->legacy_ln ? "gamma" : "weight", *b = s->legacy_ln ? "beta" : "bias";
    check_vals(m->emb_ln_g, N("%sembeddings.LayerNorm.%s", pre, g), H);
    check_vals(m->emb_ln_b, N("%sembeddings.LayerNorm.%s", pre, b), H);
    assert_non_null(m->layer);
    for (int l = 0; l < s->layers; l++) {
        const lb_layer *L = &m->layer[l];
        static const char *part[3] = {"query", "key", "value"};
        assert_int_equal(L->qkv.in, H);
        assert_int_equal(L->qkv.out, 3 * H);
        for (int k = 0; k < 3; k++) {
            snprintf(q, sizeof q, "%sencoder.layer.%d.attention.self.%s.weight", pre, l, part[k]);
            check_vals(L->qkv.w + k * H * H, q, H * H);
            snprintf(q, sizeof q, "%sencoder.layer.%d.attention.self.%s.bias", pre, l, part[k]);
            check_vals(L->qkv.b + k * H, q, H);
        }
        assert_int_equal(L->attn_out.in, H);
        assert_int_equal(L->attn_out.out, H);
        check_vals(L->attn_out.w, N("%sencoder.layer.%d.attention.output.dense.weight", pre, l),
                   H * H);
        check_vals(L->attn_out.b, N("%sencoder.layer.%d.attention.output.dense.bias", pre, l), H);
        check_vals(L->ln1_g, N("%sencoder.layer.%d.attention.output.LayerNorm.%s", pre, l, g), H);
        check_vals(L->ln1_b, N("%sencoder.layer.%d.attention.output.LayerNorm.%s", pre, l, b), H);
        assert_int_equal(L->ffn_up.in, H);
        assert_int_equal(L->ffn_up.out, I);
        check_vals(L->ffn_up.w, N("%sencoder.layer.%d.intermediate.dense.weight", pre, l), I * H);
        check_vals(L->ffn_up.b, N("%sencoder.layer.%d.intermediate.dense.bias", pre, l), I);
        assert_int_equal(L->ffn_down.in, I);
        assert_int_equal(L->ffn_down.out, H);
        check_vals(L->ffn_down.w, N("%sencoder.layer.%d.output.dense.weight", pre, l), H * I);
        check_vals(L->ffn_down.b, N("%sencoder.layer.%d.output.dense.bias", pre, l), H);
        check_vals(L->ln2_g, N("%sencoder.layer.%d.output.LayerNorm.%s", pre, l, g), H);
        check_vals(L->ln2_b, N("%sencoder.layer.%d.output.LayerNorm.%s", pre, l, b), H);
    }
    assert_int_equal(m->n_dense, s->dense);
    if (s->dense) {
        const lb_dense *d = &m->dense[0];
        assert_int_equal(d->lin.in, s->dense_in);
        assert_int_equal(d->lin.out, s->dense_out);
        assert_int_equal(d->act, s->dense_act ? LB_ACT_IDENTITY : LB_ACT_TANH);
        check_vals(d->lin.w, "linear.weight", (int64_t)s->dense_out * s->dense_in);
        if (s->dense_bias)
            check_vals(d->lin.b, "linear.bias", s->dense_out);
        else
            assert_null(d->lin.b);
    }
    /* F32 aligned files stay mapped (weights used in place); converted ones are released */
    if (s->dtype == LB_F32 && !s->odd_align) {
        assert_true(m->n_files >= 1);
        assert_true((const uint8_t *)m->word_emb >= m->files[0]->map &&
                    (const uint8_t *)m->word_emb < m->files[0]->map + m->files[0]->size);
    } else if (s->dtype != LB_F32) {
        assert_int_equal(m->n_files, 0);
    }
#undef N
    lb_model_free(m);
}

/* ------------------------------------------------------------------------------------------
 * Good folders
 * ---------------------------------------------------------------------------------------- */

static void test_good_cls_dense_normalize(void **state) {
    (void)state;
    spec s = good_spec();
    check_good("good_cls", &s);
}

static void test_good_mean_no_dense(void **state) {
    (void)state;
    spec s = good_spec();
    s.pooling = "mean";
    s.dense = 0;
    s.layers = 1;
    s.max_seq = 0;
    s.no_sbert = 1; /* max length from min(model_max_length 512, max_position 16) */
    check_good("good_mean", &s);
}

static void test_good_bert_prefix(void **state) {
    (void)state;
    spec s = good_spec();
    s.prefix = "bert.";
    s.dense_act = "torch.nn.modules.linear.Identity";
    s.dense_bias = 0;
    s.tok_objects = 1;
    check_good("good_prefix", &s);
}

static void test_good_f16(void **state) {
    (void)state;
    spec s = good_spec();
    s.dtype = LB_F16;
    check_good("good_f16", &s);
}

static void test_good_bf16_legacy(void **state) {
    (void)state;
    spec s = good_spec();
    s.dtype = LB_BF16;
    s.legacy_ln = 1;
    check_good("good_bf16", &s);
}

static void test_good_unaligned_f32(void **state) {
    (void)state;
    spec s = good_spec();
    s.odd_align = 1;
    s.max_seq = 100; /* above max_position: capped to 16 */
    const char *dir = make_model("good_unaligned", &s);
    lb_model *m = NULL;
    labse_error err;
    labse_status st = lb_model_load(dir, 0, &m, &err);
    if (st) print_error("%s\n", err.message);
    assert_int_equal(st, LABSE_OK);
    assert_int_equal(m->cfg.max_seq_length, P);
    assert_int_equal((uintptr_t)m->word_emb % sizeof(float), 0);
    check_vals(m->word_emb, "embeddings.word_embeddings.weight", V * H);
    lb_model_free(m);
}

static void test_max_length_override(void **state) {
    (void)state;
    spec s = good_spec();
    const char *dir = make_model("override", &s);
    lb_model *m = NULL;
    labse_error err;
    assert_int_equal(lb_model_load(dir, 5, &m, &err), LABSE_OK);
    assert_int_equal(m->cfg.max_seq_length, 5);
    lb_model_free(m);
    assert_int_equal(lb_model_load(dir, P, &m, &err), LABSE_OK);
    assert_int_equal(m->cfg.max_seq_length, P);
    lb_model_free(m);
    static const int bad[] = {1, -3, P + 1, 1 << 30};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = (lb_model *)(uintptr_t)1;
        assert_int_equal(lb_model_load(dir, bad[i], &m, &err), LABSE_E_INVALID);
        assert_int_equal(err.status, LABSE_E_INVALID);
        assert_non_null(strstr(err.message, "out of range"));
        assert_non_null(strstr(err.message, "2..16"));
    }
    assert_int_equal(lb_model_load(NULL, 0, &m, &err), LABSE_E_INVALID);
}

/* ------------------------------------------------------------------------------------------
 * Faults: refused, message names the file
 * ---------------------------------------------------------------------------------------- */

/* Build folder `name` from s, load it, expect status `want` and a message containing
 * dir + "/" + file and every NULL-terminated substring. */
static void expect_refused(const char *name, const spec *s, labse_status want,
                           const char *file, ...) {
    const char *dir = make_model(name, s);
    char full[700];
    snprintf(full, sizeof full, "%s%s%s", dir, *file ? "/" : "", file);
    lb_model *m = NULL;
    labse_error err;
    labse_status st = lb_model_load(dir, 0, &m, &err);
    if (st != want || !strstr(err.message, full))
        print_error("status %d, message: %s\n", st, err.message);
    assert_int_equal(st, want);
    assert_int_equal(err.status, want);
    assert_null(m);
    assert_non_null(strstr(err.message, full));
    va_list ap;
    va_start(ap, file);
    for (const char *sub; (sub = va_arg(ap, const char *));) {
        if (!strstr(err.message, sub)) print_error("message: %s\nwanted: %s\n", err.message, sub);
        assert_non_null(strstr(err.message, sub));
    }
    va_end(ap);
}
#define REFUSED(name, s, want, file, ...) \
    expect_refused((name), (s), (want), (file), __VA_ARGS__, (const char *)NULL)

static void test_missing_config(void **state) {
    (void)state;
    spec s = good_spec();
    s.no_config = 1;
    REFUSED("no_config", &s, LABSE_E_IO, "config.json", "cannot open");
}

static void test_config_not_json(void **state) {
    (void)state;
    spec s = good_spec();
    s.bad_config_json = 1;
    REFUSED("bad_config", &s, LABSE_E_FORMAT, "config.json", "not valid JSON");
}

static void test_heads_not_dividing(void **state) {
    (void)state;
    spec s = good_spec();
    s.heads = 3;
    REFUSED("heads3", &s, LABSE_E_FORMAT, "config.json", "num_attention_heads 3",
            "does not divide hidden_size 8");
}

static void test_missing_tensor(void **state) {
    (void)state;
    spec s = good_spec();
    s.omit = "encoder.layer.1.attention.self.key.bias";
    REFUSED("missing_tensor", &s, LABSE_E_FORMAT, "model.safetensors", "missing tensor",
            "encoder.layer.1.attention.self.key.bias");
    s = good_spec();
    s.prefix = "bert.";
    s.omit = "encoder.layer.0.output.LayerNorm.weight";
    REFUSED("missing_tensor2", &s, LABSE_E_FORMAT, "model.safetensors",
            "missing tensor \"bert.encoder.layer.0.output.LayerNorm.weight\"");
    s = good_spec();
    s.omit = "embeddings.word_embeddings.weight";
    REFUSED("missing_tensor3", &s, LABSE_E_FORMAT, "model.safetensors",
            "missing tensor \"embeddings.word_embeddings.weight\"");
}

static void test_wrong_shape(void **state) {
    (void)state;
    spec s = good_spec();
    s.reshape = "encoder.layer.0.intermediate.dense.weight";
    REFUSED("wrong_shape", &s, LABSE_E_FORMAT, "model.safetensors",
            "encoder.layer.0.intermediate.dense.weight", "shape [17, 8]", "expected [16, 8]");
    s = good_spec();
    s.reshape = "embeddings.position_embeddings.weight";
    REFUSED("wrong_shape2", &s, LABSE_E_FORMAT, "model.safetensors",
            "embeddings.position_embeddings.weight", "[17, 8]", "[16, 8]");
    s = good_spec();
    s.reshape = "encoder.layer.1.attention.self.value.bias";
    REFUSED("wrong_shape3", &s, LABSE_E_FORMAT, "model.safetensors", "value.bias", "[9]",
            "[8]");
}

static void test_vocab_count(void **state) {
    (void)state;
    spec s = good_spec();
    s.vocab_lines = V - 1;
    REFUSED("vocab_short", &s, LABSE_E_FORMAT, "vocab.txt", "29 lines", "vocab_size 30");
    s = good_spec();
    s.vocab_lines = V + 2;
    REFUSED("vocab_long", &s, LABSE_E_FORMAT, "vocab.txt", "32 lines");
}

/* ------------------------------------------------------------------------------------------
 * tokenizer.json: its WordPiece vocabulary is preferred to vocab.txt
 * ---------------------------------------------------------------------------------------- */

/* The "piece": id entries of k_vocab (id = index) as JSON object members, except: ids swap_a
 * and swap_b exchanged (-1: none), entry `drop` left out (-1: none), entry `set` given the id
 * text set_to (-1: none); then `extra` appended. Static buffer. */
static const char *vocab_entries(int swap_a, int swap_b, int drop, int set, const char *set_to,
                                 const char *extra) {
    static char buf[4096];
    size_t k = 0;
    for (int i = 0; i < V; i++) {
        if (i == drop) continue;
        char id[32];
        int v = i == swap_a ? swap_b : i == swap_b ? swap_a : i;
        snprintf(id, sizeof id, "%d", v);
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s\"%s\": %s", k ? ", " : "", k_vocab[i],
                              i == set ? set_to : id);
    }
    snprintf(buf + k, sizeof buf - k, "%s", extra ? extra : "");
    return buf;
}

/* A tokenizer.json as the tokenizers library writes it (trimmed), model fields as given.
 * Static buffer. */
static const char *tok_json_text(const char *type, const char *prefix, int max_chars,
                                 const char *entries) {
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, "
             "\"added_tokens\": [], \"normalizer\": {\"type\": \"BertNormalizer\", "
             "\"clean_text\": true, \"handle_chinese_chars\": true, \"strip_accents\": null, "
             "\"lowercase\": false}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, "
             "\"model\": {\"type\": \"%s\", \"unk_token\": \"[UNK]\", "
             "\"continuing_subword_prefix\": \"%s\", \"max_input_chars_per_word\": %d, "
             "\"vocab\": {%s}}}\n",
             type, prefix, max_chars, entries);
    return buf;
}

/* Load dir (must succeed) and tokenise text: the ids between [CLS] and [SEP] must be want
 * (terminated by -1) and the vocabulary must come from `source`. */
static void expect_ids(const char *dir, const char *source, const char *text,
                       const int32_t *want) {
    lb_model *m = NULL;
    labse_error err;
    labse_status st = lb_model_load(dir, 0, &m, &err);
    if (st) print_error("%s\n", err.message);
    assert_int_equal(st, LABSE_OK);
    assert_string_equal(m->vocab_source, source);
    assert_int_equal(lb_tokenizer_vocab_size(m->tok), V);
    int32_t ids[32];
    size_t n = lb_tokenize_text(m->tok, text, strlen(text), ids, 32, NULL);
    size_t nw = 0;
    while (want[nw] >= 0) nw++;
    assert_int_equal(n, nw + 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[n - 1], 3);
    for (size_t i = 0; i < nw; i++) assert_int_equal(ids[i + 1], want[i]);
    lb_model_free(m);
}

static void test_tokenizer_json_preferred(void **state) {
    (void)state;
    spec s = good_spec();
    /* without tokenizer.json: vocab.txt, cat = 7, dog = 8 */
    expect_ids(make_model("tj_none", &s), "vocab.txt", "cat dog [MASK]",
               (const int32_t[]){7, 8, 4, -1});
    /* tokenizer.json swaps cat and dog (and [MASK] with "the"): its ids win over vocab.txt */
    const char *e = vocab_entries(7, 8, -1, -1, NULL, NULL);
    char ent[4096];
    snprintf(ent, sizeof ent, "%s", e);
    /* [MASK] (4) <-> the (5) as well: the added-token match takes the tokenizer.json id */
    char *pm = strstr(ent, "\"[MASK]\": 4"), *pt = strstr(ent, "\"the\": 5");
    assert_non_null(pm);
    assert_non_null(pt);
    pm[strlen("\"[MASK]\": ")] = '5';
    pt[strlen("\"the\": ")] = '4';
    s.tok_json = tok_json_text("WordPiece", "##", 100, ent);
    expect_ids(make_model("tj_swap", &s), "tokenizer.json", "cat dog [MASK] the",
               (const int32_t[]){8, 7, 5, 4, -1});
    /* vocab.txt is not needed, and its line count is not checked, when tokenizer.json is
     * used */
    s.no_vocab = 1;
    expect_ids(make_model("tj_novocab", &s), "tokenizer.json", "dog", (const int32_t[]){7, -1});
    s.no_vocab = 0;
    s.vocab_lines = V + 3;
    expect_ids(make_model("tj_longvocab", &s), "tokenizer.json", "cats",
               (const int32_t[]){8, 18, -1});
    /* tokenizer_config.json's mask_token is the special token matched in the text: "dog"
     * (id 7 here) inside "dogs" is cut out, "s" alone is unknown; "[MASK]" is then plain */
    s.mask = "dog";
    expect_ids(make_model("tj_mask", &s), "tokenizer.json", "dogs [MASK]",
               (const int32_t[]){7, 1, 1, 1, 1, -1});
    s.tok_json = NULL;
    s.vocab_lines = V;
    expect_ids(make_model("txt_mask", &s), "vocab.txt", "dogs", (const int32_t[]){8, 1, -1});
}

static void test_tokenizer_json_faults(void **state) {
    (void)state;
    spec s = good_spec();
    char ok[4096]; /* the good entries (vocab_entries' buffer is reused below) */
    snprintf(ok, sizeof ok, "%s", vocab_entries(-1, -1, -1, -1, NULL, NULL));

    s.tok_json = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[PAD]\": 0,";
    REFUSED("tj_notjson", &s, LABSE_E_FORMAT, "tokenizer.json", "not valid JSON");
    s.tok_json = "[1, 2]";
    REFUSED("tj_array", &s, LABSE_E_FORMAT, "tokenizer.json", "no \"model\" object");
    s.tok_json = tok_json_text("BPE", "##", 100, ok);
    REFUSED("tj_bpe", &s, LABSE_E_UNSUPPORTED, "tokenizer.json", "model.type \"BPE\"",
            "only \"WordPiece\"");
    s.tok_json = tok_json_text("WordPiece", "@@", 100, ok);
    REFUSED("tj_prefix", &s, LABSE_E_UNSUPPORTED, "tokenizer.json",
            "continuing_subword_prefix \"@@\"");
    s.tok_json = tok_json_text("WordPiece", "##", 200, ok);
    REFUSED("tj_maxchars", &s, LABSE_E_UNSUPPORTED, "tokenizer.json",
            "max_input_chars_per_word");
    /* "sat" (9) takes the id of "dog" (8) */
    s.tok_json = tok_json_text("WordPiece", "##", 100, vocab_entries(-1, -1, -1, 9, "8", NULL));
    REFUSED("tj_dup", &s, LABSE_E_FORMAT, "tokenizer.json", "\"dog\" and \"sat\" both have id 8");
    s.tok_json = tok_json_text("WordPiece", "##", 100, vocab_entries(-1, -1, -1, 9, "30", NULL));
    REFUSED("tj_range", &s, LABSE_E_FORMAT, "tokenizer.json", "\"sat\" has id 30",
            "outside 0..29");
    s.tok_json = tok_json_text("WordPiece", "##", 100, vocab_entries(-1, -1, -1, 9, "-1", NULL));
    REFUSED("tj_negative", &s, LABSE_E_FORMAT, "tokenizer.json", "\"sat\" has id -1");
    /* 31 pieces, ids 0..30 */
    s.tok_json = tok_json_text("WordPiece", "##", 100,
                               vocab_entries(-1, -1, -1, -1, NULL, ", \"zz\": 30"));
    REFUSED("tj_more", &s, LABSE_E_FORMAT, "tokenizer.json", "\"zz\" has id 30",
            "vocab_size 30");
    /* a gap: "three" (28) left out, ids 0..27, 29 */
    s.tok_json = tok_json_text("WordPiece", "##", 100, vocab_entries(-1, -1, 28, -1, NULL, NULL));
    REFUSED("tj_gap", &s, LABSE_E_FORMAT, "tokenizer.json", "no piece has id 28");
    /* fewer pieces than vocab_size: ids 0..28 */
    s.tok_json = tok_json_text("WordPiece", "##", 100, vocab_entries(-1, -1, 29, -1, NULL, NULL));
    REFUSED("tj_fewer", &s, LABSE_E_FORMAT, "tokenizer.json", "model.vocab has 29 pieces",
            "vocab_size 30", "no piece has id 29");
    s.tok_json = tok_json_text("WordPiece", "##", 100, vocab_entries(-1, -1, -1, 9, "8.5", NULL));
    REFUSED("tj_fraction", &s, LABSE_E_FORMAT, "tokenizer.json",
            "the id of piece \"sat\" is not an integer");
    s.tok_json = tok_json_text("WordPiece", "##", 100, vocab_entries(-1, -1, -1, 9, "\"9\"", NULL));
    REFUSED("tj_string_id", &s, LABSE_E_FORMAT, "tokenizer.json",
            "the id of piece \"sat\" is not an integer");
    /* a vocabulary without [CLS] (renamed): refused by the tokenizer, naming the file */
    char *cls = strstr(ok, "[CLS]");
    assert_non_null(cls);
    cls[1] = 'X';
    s.tok_json = tok_json_text("WordPiece", "##", 100, ok);
    REFUSED("tj_nocls", &s, LABSE_E_FORMAT, "tokenizer.json", "lacks the special token [CLS]");
}

static void test_missing_vocab(void **state) {
    (void)state;
    spec s = good_spec();
    s.no_vocab = 1;
    REFUSED("no_vocab", &s, LABSE_E_IO, "vocab.txt", "cannot open");
}

/* GELU's tanh form under HuggingFace's two names loads as LB_ACT_GELU_TANH; others are refused. */
static void test_unsupported_act(void **state) {
    (void)state;
    spec s = good_spec();
    s.hidden_act = "gelu_new";
    check_good("act_gelu_new", &s);
    s.hidden_act = "gelu_pytorch_tanh";
    check_good("act_gelu_pytorch_tanh", &s);
    s.hidden_act = "gelu_fast";
    REFUSED("act", &s, LABSE_E_UNSUPPORTED, "config.json", "hidden_act \"gelu_fast\"");
    s.hidden_act = "relu";
    REFUSED("act2", &s, LABSE_E_UNSUPPORTED, "config.json", "hidden_act \"relu\"");
}

static void test_two_pooling_modes(void **state) {
    (void)state;
    spec s = good_spec();
    s.pooling = "both";
    REFUSED("pool2", &s, LABSE_E_UNSUPPORTED, "1_Pooling/config.json", "two pooling modes");
}

static void test_dense_in_mismatch(void **state) {
    (void)state;
    spec s = good_spec();
    s.dense_in = 7;
    REFUSED("dense_in", &s, LABSE_E_FORMAT, "2_Dense/config.json", "in_features 7",
            "dimension 8");
}

static void test_dense_bad_act(void **state) {
    (void)state;
    spec s = good_spec();
    s.dense_act = "torch.nn.modules.activation.ReLU";
    REFUSED("dense_act", &s, LABSE_E_UNSUPPORTED, "2_Dense/config.json",
            "torch.nn.modules.activation.ReLU");
}

static void test_missing_modules(void **state) {
    (void)state;
    spec s = good_spec();
    s.no_modules = 1;
    REFUSED("no_modules", &s, LABSE_E_FORMAT, "modules.json", "missing");
}

/* Faults written over a good folder after it is built. */
static void refused_after(const char *name, const char *file, const char *content,
                          labse_status want, const char *sub) {
    spec s = good_spec();
    const char *dir = make_model(name, &s);
    char d[512];
    snprintf(d, sizeof d, "%s", dir);
    write_text(d, file, "%s", content);
    char full[700];
    snprintf(full, sizeof full, "%s/%s", d, file);
    lb_model *m = NULL;
    labse_error err;
    labse_status st = lb_model_load(d, 0, &m, &err);
    if (st != want || !strstr(err.message, full) || !strstr(err.message, sub))
        print_error("status %d, message: %s\n", st, err.message);
    assert_int_equal(st, want);
    assert_null(m);
    assert_non_null(strstr(err.message, full));
    assert_non_null(strstr(err.message, sub));
}

static void test_misc_config_faults(void **state) {
    (void)state;
    refused_after("mt", "config.json",
                  "{\"model_type\": \"roberta\", \"vocab_size\": 30, \"hidden_size\": 8}",
                  LABSE_E_UNSUPPORTED, "model_type \"roberta\"");
    refused_after("nohidden", "config.json", "{\"model_type\": \"bert\", \"vocab_size\": 30}",
                  LABSE_E_FORMAT, "missing \"hidden_size\"");
    refused_after("neg", "config.json",
                  "{\"vocab_size\": -30, \"hidden_size\": 8, \"num_hidden_layers\": 1, "
                  "\"num_attention_heads\": 2, \"intermediate_size\": 16, "
                  "\"max_position_embeddings\": 16}",
                  LABSE_E_FORMAT, "\"vocab_size\"");
    refused_after("frac", "config.json",
                  "{\"vocab_size\": 30, \"hidden_size\": 8.5, \"num_hidden_layers\": 1}",
                  LABSE_E_FORMAT, "\"hidden_size\" is not an integer");
    refused_after("relkey", "config.json",
                  "{\"vocab_size\": 30, \"hidden_size\": 8, \"num_hidden_layers\": 2, "
                  "\"num_attention_heads\": 2, \"intermediate_size\": 16, "
                  "\"max_position_embeddings\": 16, \"position_embedding_type\": "
                  "\"relative_key\"}",
                  LABSE_E_UNSUPPORTED, "relative_key");
    refused_after("cfgarr", "config.json", "[1, 2]", LABSE_E_FORMAT, "not a JSON object");
    refused_after("sbert_lower", "sentence_bert_config.json",
                  "{\"max_seq_length\": 8, \"do_lower_case\": true}", LABSE_E_UNSUPPORTED,
                  "do_lower_case");
    refused_after("sbert_len", "sentence_bert_config.json", "{\"max_seq_length\": 1}",
                  LABSE_E_FORMAT, "max_seq_length");
    refused_after("tok_bad", "tokenizer_config.json", "{\"strip_accents\": \"yes\"}",
                  LABSE_E_FORMAT, "strip_accents");
    refused_after("tok_tok", "tokenizer_config.json", "{\"unk_token\": 5}", LABSE_E_FORMAT,
                  "unk_token");
    refused_after("pool_none", "1_Pooling/config.json",
                  "{\"word_embedding_dimension\": 8, \"pooling_mode_cls_token\": false}",
                  LABSE_E_FORMAT, "no pooling mode");
    refused_after("pool_max", "1_Pooling/config.json",
                  "{\"word_embedding_dimension\": 8, \"pooling_mode_max_tokens\": true}",
                  LABSE_E_UNSUPPORTED, "pooling_mode_max_tokens");
    refused_after("pool_dim", "1_Pooling/config.json",
                  "{\"word_embedding_dimension\": 16, \"pooling_mode_cls_token\": true}",
                  LABSE_E_FORMAT, "word_embedding_dimension 16");
    refused_after("mods_obj", "modules.json", "{}", LABSE_E_FORMAT, "array");
    refused_after("mods_first", "modules.json",
                  "[{\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}]",
                  LABSE_E_UNSUPPORTED, "first module");
    refused_after("mods_nopool", "modules.json",
                  "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}]",
                  LABSE_E_FORMAT, "no Pooling");
    refused_after("mods_unknown", "modules.json",
                  "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
                  "{\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}, "
                  "{\"path\": \"x\", \"type\": \"sentence_transformers.models.LayerNorm\"}]",
                  LABSE_E_UNSUPPORTED, "LayerNorm");
    refused_after("mods_escape", "modules.json",
                  "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
                  "{\"path\": \"../x\", \"type\": \"sentence_transformers.models.Pooling\"}]",
                  LABSE_E_FORMAT, "leaves the folder");
    /* a hostile model.safetensors: the reader's message comes through */
    refused_after("st_garbage", "model.safetensors", "xxxxxxxx{not json at all}",
                  LABSE_E_FORMAT, "past the end");
    refused_after("dense_st", "2_Dense/model.safetensors", "abc", LABSE_E_FORMAT, "truncated");
}

/* Tensors of a dtype that cannot be converted are refused by name. */
static void test_bad_dtype_tensor(void **state) {
    (void)state;
    spec s = good_spec();
    s.dense = 0;
    const char *dir = make_model("dtype_i32", &s);
    char d[512], p[600];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    /* overwrite with a file whose LayerNorm bias is I32 (all other tensors dropped) */
    const char *hdr = "{\"embeddings.word_embeddings.weight\": {\"dtype\": \"I32\", "
                      "\"shape\": [30, 8], \"data_offsets\": [0, 960]}}";
    size_t hl = strlen(hdr);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    uint8_t le[8] = {(uint8_t)hl, 0, 0, 0, 0, 0, 0, 0};
    fwrite(le, 1, 8, f);
    fwrite(hdr, 1, hl, f);
    static const uint8_t z[960];
    fwrite(z, 1, sizeof z, f);
    fclose(f);
    lb_model *m = NULL;
    labse_error err;
    assert_int_equal(lb_model_load(d, 0, &m, &err), LABSE_E_UNSUPPORTED);
    assert_non_null(strstr(err.message, p));
    assert_non_null(strstr(err.message, "I32"));
    assert_null(m);
}

/* ------------------------------------------------------------------------------------------
 * The real all-MiniLM-L6-v2 folder (label model)
 * ---------------------------------------------------------------------------------------- */

static int run_real(const char *dir) {
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        printf("SKIP: %s not found (run tools/setup.sh)\n", dir);
        return 77;
    }
    lb_model *m = NULL;
    labse_error err;
    labse_status s = lb_model_load(dir, 0, &m, &err);
    if (s) {
        fprintf(stderr, "FAIL: %s\n", err.message);
        return 1;
    }
    const lb_config *c = &m->cfg;
    int ok = c->layers == 6 && c->hidden == 384 && c->heads == 12 && c->head_dim == 32 &&
             c->intermediate == 1536 && c->vocab_size == 30522 && c->max_position == 512 &&
             c->type_vocab == 2 && c->hidden_act == LB_ACT_GELU && c->max_seq_length == 256 &&
             c->pooling == LABSE_POOL_MEAN && c->normalize == 1 && c->dim == 384 &&
             c->lowercase == 1 &&
             m->n_dense == 0 && lb_tokenizer_vocab_size(m->tok) == 30522 &&
             m->parameters == 22565376; /* BertModel without its pooler (22,713,216 with) */
    fprintf(stderr,
            "%s: layers %d hidden %d heads %d ffn %d vocab %d maxpos %d maxseq %d pool %d "
            "norm %d dim %d dense %d params %lld\n",
            dir, c->layers, c->hidden, c->heads, c->intermediate, c->vocab_size,
            c->max_position, c->max_seq_length, (int)c->pooling, c->normalize, c->dim,
            m->n_dense, (long long)m->parameters);
    lb_model_free(m);
    if (!ok) fprintf(stderr, "FAIL: unexpected shapes\n");
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------
 * fixture
 * ---------------------------------------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/labse_load_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_root) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return nftw(g_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv) {
    if (argc > 1) return run_real(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_cls_dense_normalize),
        cmocka_unit_test(test_good_mean_no_dense),
        cmocka_unit_test(test_good_bert_prefix),
        cmocka_unit_test(test_good_f16),
        cmocka_unit_test(test_good_bf16_legacy),
        cmocka_unit_test(test_good_unaligned_f32),
        cmocka_unit_test(test_max_length_override),
        cmocka_unit_test(test_missing_config),
        cmocka_unit_test(test_config_not_json),
        cmocka_unit_test(test_heads_not_dividing),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_vocab_count),
        cmocka_unit_test(test_missing_vocab),
        cmocka_unit_test(test_tokenizer_json_preferred),
        cmocka_unit_test(test_tokenizer_json_faults),
        cmocka_unit_test(test_unsupported_act),
        cmocka_unit_test(test_two_pooling_modes),
        cmocka_unit_test(test_dense_in_mismatch),
        cmocka_unit_test(test_dense_bad_act),
        cmocka_unit_test(test_missing_modules),
        cmocka_unit_test(test_misc_config_faults),
        cmocka_unit_test(test_bad_dtype_tensor),
    };
    return cmocka_run_group_tests_name("model_load", tests, setup, teardown);
}
