/* tokenizer.c — the HuggingFace fast BERT tokenizer (tokenizers' BertNormalizer,
 * BertPreTokenizer, WordPiece, [CLS] $A [SEP] template, added special tokens), exactly.
 * See tokenizer.h and ARCHITECTURE.md, "The model and the tokenizer, exactly".
 *
 * Sections: character classes (utf8proc + generated exceptions) · vocabulary and its hash
 * tables · special-token matching · normalise + pre-tokenise + WordPiece · public API.
 *
 * The pipeline runs as one pass over the bytes, one code point at a time:
 *   decode (invalid UTF-8 -> U+FFFD) -> clean (drop controls, map whitespace to ' ')
 *   -> CJK spacing -> [NFD, drop Mn] -> [lower-case] -> split on whitespace / isolate
 *   punctuation -> WordPiece each finished word -> ids.
 * The cased path (LaBSE) never leaves the fast loop; the bracketed stages run only when the
 * configuration asks for them. Words are at most 100 code points (longer ones are one [UNK]
 * and are only counted), so a word fits a fixed buffer on the stack: nothing is allocated per
 * token. The only heap scratch is a per-thread buffer for runs of non-Mn combining marks
 * under NFD (canonical reordering), normally never used. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <utf8proc.h>

#include "model/tok_exceptions.h"
#include "model/tokenizer.h"
#include "model/utf8.h"

/* ====================================================================================== */
/* Character classes                                                                        */
/* ====================================================================================== */

/* One byte of flags per code point (0..0x10FFFF), built once per process from utf8proc and
 * the generated exceptions (tok_exceptions.h). 1.1 MB, read-only after build. */
enum {
    CL_DROP = 1,    /* removed by the cleaner: NUL, U+FFFD, Cc Cf Co Cs except \t \n \r */
    CL_WS = 2,      /* whitespace: \t \n \r and White_Space (Rust char::is_whitespace) */
    CL_PUNCT = 4,   /* ASCII punctuation or P* (the reference's tables) */
    CL_CJK = 8,     /* one of the CJK ideograph ranges of bert.rs */
    CL_MN = 16,     /* nonspacing mark (removed when stripping accents) */
    CL_LOWER = 32,  /* has a lower-case mapping other than itself */
    CL_NFD = 64     /* has a canonical decomposition other than itself */
};

#define LB_MAX_CP 0x110000u
static uint8_t g_cls[LB_MAX_CP];
static pthread_once_t g_cls_once = PTHREAD_ONCE_INIT;

static const uint32_t k_white_space[][2] = {
    {0x09, 0x0D}, {0x20, 0x20}, {0x85, 0x85}, {0xA0, 0xA0}, {0x1680, 0x1680},
    {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}};
static const uint32_t k_cjk[][2] = {
    {0x4E00, 0x9FFF}, {0x3400, 0x4DBF}, {0x20000, 0x2A6DF}, {0x2A700, 0x2B73F},
    {0x2B740, 0x2B81F}, {0x2B920, 0x2CEAF}, {0xF900, 0xFAFF}, {0x2F800, 0x2FA1F}};

/* Set (on=1) or clear (on=0) flag over inclusive ranges r[][2] ending with lo = 0xFFFFFFFF. */
static void cls_apply(const uint32_t (*r)[2], uint8_t flag, int on) {
    for (; r[0][0] != 0xFFFFFFFFu; r++)
        for (uint32_t c = r[0][0]; c <= r[0][1]; c++)
            g_cls[c] = on ? (uint8_t)(g_cls[c] | flag) : (uint8_t)(g_cls[c] & ~flag);
}

static void cls_build(void) {
    for (uint32_t c = 0; c < LB_MAX_CP; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) { /* never produced by the decoder */
            g_cls[c] = CL_DROP;
            continue;
        }
        const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
        uint8_t f = 0;
        switch (p->category) {
        case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
        case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CS:
            if (c != '\t' && c != '\n' && c != '\r') f |= CL_DROP;
            break;
        case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
        case UTF8PROC_CATEGORY_PO:
            f |= CL_PUNCT;
            break;
        case UTF8PROC_CATEGORY_MN:
            f |= CL_MN;
            break;
        default:
            break;
        }
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
            (c >= 123 && c <= 126))
            f |= CL_PUNCT;
        if (p->lowercase_seqindex != UINT16_MAX && utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c)
            f |= CL_LOWER;
        if ((p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) ||
            (c >= 0xAC00 && c <= 0xD7A3))
            f |= CL_NFD;
        g_cls[c] = f;
    }
    g_cls[0] |= CL_DROP;
    g_cls[0xFFFD] |= CL_DROP;
    for (size_t i = 0; i < sizeof k_white_space / sizeof k_white_space[0]; i++)
        for (uint32_t c = k_white_space[i][0]; c <= k_white_space[i][1]; c++) g_cls[c] |= CL_WS;
    for (size_t i = 0; i < sizeof k_cjk / sizeof k_cjk[0]; i++)
        for (uint32_t c = k_cjk[i][0]; c <= k_cjk[i][1]; c++) g_cls[c] |= CL_CJK;
    cls_apply(lb_tokx_other_keep, CL_DROP, 0);
    cls_apply(lb_tokx_other_drop, CL_DROP, 1);
    cls_apply(lb_tokx_ws_on, CL_WS, 1);
    cls_apply(lb_tokx_ws_off, CL_WS, 0);
    cls_apply(lb_tokx_punct_on, CL_PUNCT, 1);
    cls_apply(lb_tokx_punct_off, CL_PUNCT, 0);
    cls_apply(lb_tokx_mn_on, CL_MN, 1);
    cls_apply(lb_tokx_mn_off, CL_MN, 0);
    for (const lb_tokx_map *m = lb_tokx_nfd; m->cp != 0xFFFFFFFFu; m++) g_cls[m->cp] |= CL_NFD;
    for (const lb_tokx_map *m = lb_tokx_lower; m->cp != 0xFFFFFFFFu; m++) g_cls[m->cp] |= CL_LOWER;
}

/* The exception entry for cp in a map sorted by cp (sentinel-terminated), or NULL. */
static const lb_tokx_map *tokx_find(const lb_tokx_map *m, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return (lo < n && m[lo].cp == cp) ? &m[lo] : NULL;
}

static size_t tokx_len(const lb_tokx_map *m) {
    size_t n = 0;
    while (m[n].cp != 0xFFFFFFFFu) n++;
    return n;
}

/* Full canonical decomposition of cp (the reference's NFD) into out[0..8); returns count. */
static size_t cp_nfd(uint32_t cp, uint32_t *out) {
    const lb_tokx_map *x = tokx_find(lb_tokx_nfd, tokx_len(lb_tokx_nfd), cp);
    if (x) {
        for (uint32_t i = 0; i < x->n; i++) out[i] = x->to[i];
        return x->n;
    }
    utf8proc_int32_t buf[8];
    int bound = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 8,
                                                 UTF8PROC_DECOMPOSE, &bound);
    if (n < 1 || n > 8) {
        out[0] = cp;
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++) out[i] = (uint32_t)buf[i];
    return (size_t)n;
}

/* Full lower-case mapping of cp (Rust char::to_lowercase) into out[0..3); returns count. */
static size_t cp_lower(uint32_t cp, uint32_t *out) {
    const lb_tokx_map *x = tokx_find(lb_tokx_lower, tokx_len(lb_tokx_lower), cp);
    if (x) {
        for (uint32_t i = 0; i < x->n; i++) out[i] = x->to[i];
        return x->n;
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

/* ====================================================================================== */
/* Vocabulary                                                                               */
/* ====================================================================================== */

/* Open addressing, linear probing. A slot holds what decides a probe without leaving it:
 * the key's first 8 bytes (zero-padded) and a tag (bits 8..31 of the key's 64-bit hash, the
 * key's length, capped at 255, in bits 0..7). A key of at most 8 bytes is found or passed over
 * by its slot alone; a longer one compares its remaining bytes in the arena. Greedy longest
 * match makes several probes a word, and the slots of a 501k-piece vocabulary (16 MiB) miss
 * the core's caches: each probe is one cache miss (two for keys over 8 bytes), where a slot of
 * only {tag, id} cost four (slot, len[], off[], the arena's bytes; bench/RESULTS.md, the
 * host's feeding rate). id < 0 marks an empty slot. */
typedef struct vslot {
    uint32_t tag;
    int32_t id;
    uint64_t k8;
} vslot;

typedef struct vtable {
    vslot *slots;     /* cap entries, owned */
    uint64_t mask;    /* cap - 1 (cap a power of two, >= 2 x keys) */
    int shift;        /* 64 - log2(cap) */
    size_t max_key;   /* longest key in bytes (bounds the greedy match) */
} vtable;

/* A word longer than this many code points is one [UNK] (max_input_chars_per_word). */
#define LB_MAX_WORD_CHARS 100
#define LB_WORD_BYTES (4 * LB_MAX_WORD_CHARS)
#define LB_MAX_SPECIAL 5

struct lb_tokenizer {
    lb_tok_config cfg;     /* copy; token-name pointers are NULLed (names live in vocab) */
    int lowercase, strip;  /* resolved: strip = strip_accents, or lowercase when -1 */
    char *arena;           /* the vocab file's bytes, each line NUL-terminated; owned */
    uint32_t *off;         /* [n] start of line id in arena; owned */
    uint32_t *len;         /* [n] bytes of line id (without its "\n" or "\r\n"); owned */
    int32_t n;             /* lines = ids */
    vtable start;          /* keys: lines not starting with "##" */
    vtable cont;           /* keys: lines starting with "##", without the prefix */
    int32_t unk, cls, sep, pad;
    int nspecial;          /* added special tokens matched in the raw text */
    struct { const char *s; size_t len; int32_t id; } special[LB_MAX_SPECIAL];
    uint8_t special_first[256]; /* 1 for bytes that begin a special token */
    int special_one_first;      /* the single first byte of all specials, or -1 */
};

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define CONT_SEED 0x5bd1e9955bd1e995ull

static inline uint64_t hash_seed(int cont) { return cont ? FNV_OFFSET ^ CONT_SEED : FNV_OFFSET; }

static inline uint64_t hash_bytes(const uint8_t *s, size_t n, int cont) {
    uint64_t h = hash_seed(cont);
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * FNV_PRIME;
    return h;
}

static inline uint64_t slot_of(const vtable *v, uint64_t h) {
    return ((h ^ (h >> 32)) * 0x9E3779B97F4A7C15ull) >> v->shift;
}

/* The tag of a key of n bytes with hash h (see vslot). */
static inline uint32_t tag_of(uint64_t h, size_t n) {
    return ((uint32_t)h & 0xFFFFFF00u) | (uint32_t)(n < 255 ? n : 255);
}

/* The first min(n, 8) bytes at s, zero-padded to 8, as one word; s must have 8 readable
 * bytes (the tokenizer's word buffer has 8 spare bytes; other callers go through
 * key8_copy). */
static inline uint64_t key8(const uint8_t *s, size_t n) {
    uint64_t x;
    memcpy(&x, s, 8);
    if (n >= 8) return x;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return n ? x & (~0ull << (64 - 8 * n)) : 0;
#else
    return x & ((1ull << (8 * n)) - 1);
#endif
}

/* key8() of a key that may end sooner than 8 bytes after s. */
static inline uint64_t key8_copy(const uint8_t *s, size_t n) {
    uint8_t b[8] = {0};
    memcpy(b, s, n < 8 ? n : 8);
    return key8(b, n);
}

/* Key bytes of id in table cont (0/1). */
static inline const uint8_t *key_of(const lb_tokenizer *t, int32_t id, int cont, size_t *n) {
    *n = t->len[id] - (cont ? 2u : 0u);
    return (const uint8_t *)t->arena + t->off[id] + (cont ? 2 : 0);
}

/* The id of key s[0..n) with hash h and first bytes k8 (key8 or key8_copy) in table cont,
 * or -1. */
static inline int32_t vt_find(const lb_tokenizer *t, int cont, uint64_t h, const uint8_t *s,
                              size_t n, uint64_t k8) {
    const vtable *v = cont ? &t->cont : &t->start;
    uint64_t i = slot_of(v, h);
    const uint32_t tag = tag_of(h, n);
    for (;;) {
        const vslot *sl = &v->slots[i];
        if (sl->id < 0) return -1;
        if (sl->tag == tag && sl->k8 == k8) {
            if (n <= 8) return sl->id;
            size_t kn;
            const uint8_t *k = key_of(t, sl->id, cont, &kn);
            if (kn == n && memcmp(k + 8, s + 8, n - 8) == 0) return sl->id;
        }
        i = (i + 1) & v->mask;
    }
}

static int vt_init(vtable *v, size_t keys) {
    size_t cap = 16;
    int bits = 4;
    while (cap < 2 * keys + 1) {
        cap <<= 1;
        bits++;
    }
    v->slots = malloc(cap * sizeof *v->slots);
    if (!v->slots) return -1;
    for (size_t i = 0; i < cap; i++) {
        v->slots[i].id = -1;
        v->slots[i].tag = 0;
        v->slots[i].k8 = 0;
    }
    v->mask = cap - 1;
    v->shift = 64 - bits;
    v->max_key = 0;
    return 0;
}

/* Insert id under its key; a later duplicate line replaces the earlier id (as the
 * reference's HashMap insert does). */
static void vt_insert(lb_tokenizer *t, int cont, int32_t id) {
    vtable *v = cont ? &t->cont : &t->start;
    size_t n;
    const uint8_t *k = key_of(t, id, cont, &n);
    uint64_t h = hash_bytes(k, n, cont);
    if (n > v->max_key) v->max_key = n;
    uint64_t i = slot_of(v, h);
    const uint32_t tag = tag_of(h, n);
    for (;;) {
        vslot *sl = &v->slots[i];
        if (sl->id < 0) {
            sl->id = id;
            sl->tag = tag;
            sl->k8 = key8_copy(k, n);
            return;
        }
        if (sl->tag == tag) {
            size_t kn;
            const uint8_t *kk = key_of(t, sl->id, cont, &kn);
            if (kn == n && memcmp(kk, k, n) == 0) {
                sl->id = id;
                return;
            }
        }
        i = (i + 1) & v->mask;
    }
}

lb_tok_config lb_tok_default_config(void) {
    lb_tok_config c;
    memset(&c, 0, sizeof c);
    c.lowercase = 1;
    c.strip_accents = -1;
    c.chinese_chars = 1;
    c.clean_text = 1;
    return c;
}

void lb_tokenizer_free(lb_tokenizer *t) {
    if (!t) return;
    free(t->arena);
    free(t->off);
    free(t->len);
    free(t->start.slots);
    free(t->cont.slots);
    free(t);
}

/* Read the whole file into a malloc'd buffer with one spare byte; *n = file size. */
static labse_status read_file(const char *path, char **out, size_t *n, labse_error *err) {
    FILE *f;
    do /* EINTR retried */
        f = fopen(path, "rb");
    while (!f && errno == EINTR);
    if (!f) return lb_err(err, LABSE_E_IO, "%s: cannot open vocabulary: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return lb_err(err, LABSE_E_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if ((uint64_t)st.st_size >= UINT32_MAX) {
        fclose(f);
        return lb_err(err, LABSE_E_FORMAT, "%s: vocabulary larger than 4 GiB", path);
    }
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return lb_err(err, LABSE_E_NOMEM, "%s: cannot allocate %zu bytes", path, size + 1);
    }
    if (size && fread(buf, 1, size, f) != size) {
        free(buf);
        fclose(f);
        return lb_err(err, LABSE_E_IO, "%s: read error", path);
    }
    fclose(f);
    buf[size] = '\0';
    *out = buf;
    *n = size;
    return LABSE_OK;
}

/* The id of the line equal to name (not a "##" key), or -1. */
static int32_t find_line(const lb_tokenizer *t, const char *name) {
    size_t n = strlen(name);
    if (n >= 2 && name[0] == '#' && name[1] == '#') return -1;
    const uint8_t *s = (const uint8_t *)name;
    return vt_find(t, 0, hash_bytes(s, n, 0), s, n, key8_copy(s, n));
}

/* A fresh tokenizer with cfg copied and the special-token names resolved into names[5]
 * (unk, cls, sep, pad, mask; the caller's strings, or the defaults). NULL when out of memory. */
static lb_tokenizer *tok_alloc(const lb_tok_config *cfg, const char *names[5]) {
    pthread_once(&g_cls_once, cls_build);
    lb_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg = cfg ? *cfg : lb_tok_default_config();
    t->lowercase = t->cfg.lowercase != 0;
    t->strip = t->cfg.strip_accents < 0 ? t->lowercase : t->cfg.strip_accents != 0;
    names[0] = t->cfg.unk_token ? t->cfg.unk_token : "[UNK]";
    names[1] = t->cfg.cls_token ? t->cfg.cls_token : "[CLS]";
    names[2] = t->cfg.sep_token ? t->cfg.sep_token : "[SEP]";
    names[3] = t->cfg.pad_token ? t->cfg.pad_token : "[PAD]";
    names[4] = t->cfg.mask_token ? t->cfg.mask_token : "[MASK]";
    /* the names are only used while building; what is kept points into the arena */
    t->cfg.unk_token = t->cfg.cls_token = t->cfg.sep_token = t->cfg.pad_token = NULL;
    t->cfg.mask_token = NULL;
    return t;
}

/* The common builder. On entry t->arena holds every piece NUL-terminated, t->off/t->len/t->n
 * index them (id -> piece, valid UTF-8, checked by the caller). Builds the two hash tables
 * (a later id with the same piece replaces the earlier one), finds the special tokens by name
 * (names[5] as from tok_alloc) and sets up the added-token matcher. On failure t is freed;
 * messages name `source`. On success *out = t. */
static labse_status tok_build(lb_tokenizer *t, const char *const names[5], const char *source,
                              lb_tokenizer **out, labse_error *err) {
    size_t ncont = 0;
    for (int32_t id = 0; id < t->n; id++) {
        const char *l = t->arena + t->off[id];
        ncont += t->len[id] >= 2 && l[0] == '#' && l[1] == '#';
    }
    if (vt_init(&t->start, (size_t)t->n - ncont) || vt_init(&t->cont, ncont)) {
        lb_tokenizer_free(t);
        return lb_err(err, LABSE_E_NOMEM, "%s: cannot allocate the hash tables", source);
    }
    for (int32_t id = 0; id < t->n; id++) {
        const char *l = t->arena + t->off[id];
        int cont = t->len[id] >= 2 && l[0] == '#' && l[1] == '#';
        vt_insert(t, cont, id);
    }
    int32_t *dst[4] = {&t->unk, &t->cls, &t->sep, &t->pad};
    for (int i = 0; i < 4; i++) {
        *dst[i] = find_line(t, names[i]);
        if (*dst[i] < 0) {
            labse_status s = lb_err(err, LABSE_E_FORMAT,
                                    "%s: vocabulary lacks the special token %.64s", source,
                                    names[i]);
            lb_tokenizer_free(t);
            return s;
        }
    }
    /* Added special tokens (matched in the raw text before normalisation, as the reference's
     * AddedVocabulary does): unk, sep, cls, pad and the mask token when present. */
    const char *sp[LB_MAX_SPECIAL] = {names[0], names[2], names[1], names[3], names[4]};
    t->special_one_first = -2;
    for (int i = 0; i < LB_MAX_SPECIAL; i++) {
        int32_t id = find_line(t, sp[i]);
        if (id < 0 || t->len[id] == 0) continue;
        int dup = 0;
        for (int j = 0; j < t->nspecial; j++) dup |= t->special[j].id == id;
        if (dup) continue;
        const char *s = t->arena + t->off[id];
        t->special[t->nspecial].s = s;
        t->special[t->nspecial].len = t->len[id];
        t->special[t->nspecial].id = id;
        t->nspecial++;
        uint8_t f = (uint8_t)s[0];
        t->special_first[f] = 1;
        t->special_one_first = t->special_one_first == -2 ? f : (t->special_one_first == f ? f : -1);
    }
    *out = t;
    lb_err_clear(err);
    return LABSE_OK;
}

labse_status lb_tokenizer_new(const char *vocab_path, const lb_tok_config *cfg,
                              lb_tokenizer **out, labse_error *err) {
    if (!vocab_path || !out) return lb_err(err, LABSE_E_INVALID, "lb_tokenizer_new: NULL argument");
    const char *names[5];
    lb_tokenizer *t = tok_alloc(cfg, names);
    if (!t) return lb_err(err, LABSE_E_NOMEM, "%s: cannot allocate the tokenizer", vocab_path);

    size_t size = 0;
    labse_status s = read_file(vocab_path, &t->arena, &size, err);
    if (s != LABSE_OK) {
        lb_tokenizer_free(t);
        return s;
    }
    /* lines: split on '\n'; a final line without '\n' counts, an empty tail does not */
    size_t lines = 0;
    for (const char *p = t->arena, *e = t->arena + size; p < e; lines++) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        p = nl ? nl + 1 : e;
    }
    if (lines == 0) {
        lb_tokenizer_free(t);
        return lb_err(err, LABSE_E_FORMAT, "%s: empty vocabulary", vocab_path);
    }
    if (lines > INT32_MAX / 2) {
        lb_tokenizer_free(t);
        return lb_err(err, LABSE_E_FORMAT, "%s: too many lines", vocab_path);
    }
    t->n = (int32_t)lines;
    t->off = malloc(lines * sizeof *t->off);
    t->len = malloc(lines * sizeof *t->len);
    if (!t->off || !t->len) {
        lb_tokenizer_free(t);
        return lb_err(err, LABSE_E_NOMEM, "%s: cannot allocate the line index", vocab_path);
    }
    char *p = t->arena, *e = t->arena + size;
    for (size_t i = 0; i < lines; i++) {
        char *nl = memchr(p, '\n', (size_t)(e - p));
        char *end = nl ? nl : e;
        size_t n = (size_t)(end - p);
        if (lb_utf8_count_invalid((const uint8_t *)p, n) != 0) {
            lb_tokenizer_free(t);
            return lb_err(err, LABSE_E_FORMAT, "%s: line %zu is not valid UTF-8", vocab_path, i + 1);
        }
        /* The line is the piece, verbatim: only '\n' or "\r\n" ends it. This is what the
         * published LaBSE tokenizer.json holds (made by transformers' Python load_vocab),
         * and TF's vocabulary table. tokenizers' WordPiece.from_file instead trims trailing
         * White_Space (str::trim_end), which would turn "a\u00a0" (LaBSE line 332925) into
         * a later duplicate of "a" and change the id of "a", "i", "na", ... */
        if (n && p[n - 1] == '\r') n--;
        p[n] = '\0'; /* overwrites '\r', '\n', or the spare byte */
        t->off[i] = (uint32_t)(p - t->arena);
        t->len[i] = (uint32_t)n;
        p = nl ? nl + 1 : e;
    }
    return tok_build(t, names, vocab_path, out, err);
}

labse_status lb_tokenizer_new_from_pieces(const char *const *pieces, const size_t *lens, int n,
                                          const lb_tok_config *cfg, const char *source_name,
                                          lb_tokenizer **out, labse_error *err) {
    const char *src = source_name ? source_name : "vocabulary";
    if (!pieces || !lens || !out)
        return lb_err(err, LABSE_E_INVALID, "lb_tokenizer_new_from_pieces: NULL argument");
    if (n <= 0) return lb_err(err, LABSE_E_FORMAT, "%s: empty vocabulary", src);
    if (n > INT32_MAX / 2) return lb_err(err, LABSE_E_FORMAT, "%s: too many pieces", src);
    /* arena size: every piece + its NUL; offsets are 32-bit */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!pieces[i])
            return lb_err(err, LABSE_E_INVALID, "%s: no piece for id %d", src, i);
        if (lens[i] > UINT32_MAX - 1 - total)
            return lb_err(err, LABSE_E_FORMAT, "%s: vocabulary larger than 4 GiB", src);
        total += lens[i] + 1;
    }
    const char *names[5];
    lb_tokenizer *t = tok_alloc(cfg, names);
    if (!t) return lb_err(err, LABSE_E_NOMEM, "%s: cannot allocate the tokenizer", src);
    t->n = (int32_t)n;
    t->arena = malloc(total);
    t->off = malloc((size_t)n * sizeof *t->off);
    t->len = malloc((size_t)n * sizeof *t->len);
    if (!t->arena || !t->off || !t->len) {
        lb_tokenizer_free(t);
        return lb_err(err, LABSE_E_NOMEM, "%s: cannot allocate %zu bytes for the vocabulary",
                      src, total);
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (lb_utf8_count_invalid((const uint8_t *)pieces[i], lens[i]) != 0) {
            lb_tokenizer_free(t);
            return lb_err(err, LABSE_E_FORMAT, "%s: the piece of id %d is not valid UTF-8",
                          src, i);
        }
        if (lens[i]) memcpy(t->arena + at, pieces[i], lens[i]);
        t->arena[at + lens[i]] = '\0';
        t->off[i] = (uint32_t)at;
        t->len[i] = (uint32_t)lens[i];
        at += lens[i] + 1;
    }
    return tok_build(t, names, src, out, err);
}

int lb_tokenizer_vocab_size(const lb_tokenizer *t) { return t->n; }
int32_t lb_tokenizer_cls_id(const lb_tokenizer *t) { return t->cls; }
int32_t lb_tokenizer_sep_id(const lb_tokenizer *t) { return t->sep; }
int32_t lb_tokenizer_unk_id(const lb_tokenizer *t) { return t->unk; }
int32_t lb_tokenizer_pad_id(const lb_tokenizer *t) { return t->pad; }

const char *lb_tokenizer_piece(const lb_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n) return NULL;
    return t->arena + t->off[id];
}

/* ====================================================================================== */
/* Tokenising                                                                               */
/* ====================================================================================== */

/* Per-thread scratch: a run of non-Mn combining marks awaiting canonical reordering (NFD).
 * Grown geometrically, never freed (one per thread). */
static _Thread_local uint32_t *tls_run;
static _Thread_local size_t tls_run_cap;

/* State of one lb_tokenize_text call; lives on the caller's stack. */
typedef struct tk_state {
    const lb_tokenizer *t;
    int32_t *out;       /* piece ids go to out[0..cap) (the caller's ids + 1) */
    size_t cap, n;      /* room for pieces, pieces written */
    int stop;           /* 1 once a piece did not fit: truncated, nothing more to do */
    int oom;            /* a scratch allocation failed */
    int repaired;       /* invalid UTF-8 seen */
    size_t wlen;        /* bytes in word (only while wchars <= LB_MAX_WORD_CHARS) */
    size_t wchars;      /* code points in the current word */
    size_t nrun;        /* combining marks waiting in tls_run (NFD path) */
    uint8_t word[LB_WORD_BYTES + 8];
} tk_state;

/* Append pieces p[0..k) to the output; a piece that does not fit ends the work. */
static inline void push_pieces(tk_state *st, const int32_t *p, size_t k) {
    size_t room = st->cap - st->n;
    if (k > room) {
        memcpy(st->out + st->n, p, room * sizeof *p);
        st->n = st->cap;
        st->stop = 1;
        return;
    }
    memcpy(st->out + st->n, p, k * sizeof *p);
    st->n += k;
}

/* WordPiece of the finished word st->word[0..wlen) (wchars code points), then reset it.
 * Greedy longest match from each start; continuation keys ("##" + rest) are looked up in
 * their own table, so no string is built. Prefix hashes make each candidate O(1). */
/* Candidate slots fetched ahead in flush_word: 4 measured best of 0, 4 and 12 (median
 * tokenizer rate +12% over none; bench/RESULTS.md, the host's feeding rate). */
#define TOK_PREFETCH 4
static void flush_word(tk_state *st) {
    if (st->wchars == 0) return;
    const lb_tokenizer *t = st->t;
    size_t nchars = st->wchars;
    st->wchars = 0;
    size_t n = st->wlen;
    st->wlen = 0;
    if (st->stop) return;
    if (nchars > LB_MAX_WORD_CHARS) {
        push_pieces(st, &t->unk, 1);
        return;
    }
    const uint8_t *w = st->word;
    int32_t pieces[LB_MAX_WORD_CHARS];
    uint64_t hs[LB_WORD_BYTES + 1]; /* hs[k]: hash of w[start .. start+k) */
    size_t k = 0, start = 0;
    while (start < n) {
        int cont = start > 0;
        const vtable *v = cont ? &t->cont : &t->start;
        size_t lim = n - start;
        if (lim > v->max_key) lim = v->max_key;
        uint64_t h = hash_seed(cont);
        for (size_t i = 0; i < lim; i++) {
            h = (h ^ w[start + i]) * FNV_PRIME;
            hs[i + 1] = h;
        }
        size_t end = lim;
        while (end > 0 && start + end < n && (w[start + end] & 0xC0) == 0x80) end--;
        /* The candidates' slots are fetched together: their cache misses overlap. */
        for (size_t e = end, p = 0; e > 0 && p < TOK_PREFETCH; e--)
            if (start + e >= n || (w[start + e] & 0xC0) != 0x80) {
                __builtin_prefetch(&v->slots[slot_of(v, hs[e])]);
                p++;
            }
        int32_t id = -1;
        while (end > 0) {
            id = vt_find(t, cont, hs[end], w + start, end, key8(w + start, end));
            if (id >= 0) break;
            end--;
            while (end > 0 && (w[start + end] & 0xC0) == 0x80) end--;
        }
        if (id < 0) {
            push_pieces(st, &t->unk, 1);
            return;
        }
        pieces[k++] = id;
        start += end;
    }
    push_pieces(st, pieces, k);
}

/* Add code point cp (UTF-8 in b[0..nb)) to the current word. */
static inline void word_add(tk_state *st, const uint8_t *b, size_t nb) {
    if (++st->wchars <= LB_MAX_WORD_CHARS) {
        memcpy(st->word + st->wlen, b, nb);
        st->wlen += nb;
    }
}

/* The pre-tokenizer for one normalised code point with class flags c: whitespace ends the
 * word, an isolated character (punctuation; CJK on the fast path) is a word of its own. */
static inline void pretok(tk_state *st, uint32_t cp, uint8_t c, uint8_t isolate) {
    uint8_t b[4];
    size_t nb = lb_utf8_encode(cp, b);
    if (c & CL_WS) {
        flush_word(st);
    } else if (c & isolate) {
        flush_word(st);
        word_add(st, b, nb);
        flush_word(st);
    } else {
        word_add(st, b, nb);
    }
}

/* Lower-casing stage, after accent stripping. */
static inline void stage_lower(tk_state *st, uint32_t cp) {
    uint8_t c = g_cls[cp];
    if (st->t->lowercase && (c & CL_LOWER)) {
        uint32_t m[4];
        size_t k = cp_lower(cp, m);
        for (size_t i = 0; i < k; i++) pretok(st, m[i], g_cls[m[i]], CL_PUNCT);
    } else {
        pretok(st, cp, c, CL_PUNCT);
    }
}

/* Emit the waiting combining marks in canonical order (stable by combining class). */
static void flush_run(tk_state *st) {
    uint32_t *r = tls_run;
    size_t n = st->nrun;
    st->nrun = 0;
    for (size_t i = 1; i < n; i++) { /* insertion sort: runs are short */
        uint32_t x = r[i];
        int cx = utf8proc_get_property((utf8proc_int32_t)x)->combining_class;
        size_t j = i;
        while (j > 0 && utf8proc_get_property((utf8proc_int32_t)r[j - 1])->combining_class > cx) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
    for (size_t i = 0; i < n; i++) stage_lower(st, r[i]);
}

/* NFD + strip-Mn stage. Filtering Mn before the stable reorder gives the same sequence as
 * after it, so only surviving marks (non-Mn with a combining class) are buffered. */
static void stage_strip(tk_state *st, uint32_t cp) {
    if (!st->t->strip) {
        stage_lower(st, cp);
        return;
    }
    uint32_t d[8];
    size_t k = (g_cls[cp] & CL_NFD) ? cp_nfd(cp, d) : (d[0] = cp, 1);
    for (size_t i = 0; i < k; i++) {
        uint32_t x = d[i];
        int ccc = x < 0x300 ? 0 : utf8proc_get_property((utf8proc_int32_t)x)->combining_class;
        if (ccc == 0) {
            if (st->nrun) flush_run(st);
            if (!(g_cls[x] & CL_MN)) stage_lower(st, x);
        } else if (!(g_cls[x] & CL_MN)) {
            if (st->nrun == tls_run_cap) {
                size_t cap = tls_run_cap ? 2 * tls_run_cap : 16;
                uint32_t *r = realloc(tls_run, cap * sizeof *r);
                if (!r) {
                    st->oom = 1;
                    st->stop = 1;
                    return;
                }
                tls_run = r;
                tls_run_cap = cap;
            }
            tls_run[st->nrun++] = x;
        }
    }
}

/* Normalise + pre-tokenise + WordPiece the segment s[0..len) (no special tokens inside).
 * Returns the bytes consumed (len unless the output filled up). */
static size_t run_segment(tk_state *st, const uint8_t *s, size_t len) {
    const lb_tokenizer *t = st->t;
    const uint8_t drop = t->cfg.clean_text ? CL_DROP : 0;
    const uint8_t cjk = t->cfg.chinese_chars ? CL_CJK : 0;
    size_t i = 0;
    if (!t->lowercase && !t->strip) {
        /* fast path: the cased configuration */
        const uint8_t isolate = (uint8_t)(CL_PUNCT | cjk);
        while (i < len) {
            uint8_t b0 = s[i];
            if (b0 < 0x80) {
                uint8_t c = g_cls[b0] & (uint8_t)(drop | CL_WS | isolate);
                i++;
                if (c == 0) {
                    if (++st->wchars <= LB_MAX_WORD_CHARS) st->word[st->wlen++] = b0;
                    continue;
                }
                if (c & drop) continue;
                pretok(st, b0, c, isolate);
            } else {
                size_t used;
                uint32_t cp = lb_utf8_decode(s + i, len - i, &used, &st->repaired);
                uint8_t c = g_cls[cp] & (uint8_t)(drop | CL_WS | isolate);
                i += used;
                if (c == 0) {
                    word_add(st, s + i - used, used);
                    continue;
                }
                if (c & drop) continue;
                pretok(st, cp, c, isolate);
            }
            if (st->stop) return i;
        }
        flush_word(st);
        return i;
    }
    /* general path: NFD / strip accents / lower-case */
    while (i < len && !st->stop) {
        size_t used = 1;
        uint32_t cp = s[i];
        if (cp >= 0x80) cp = lb_utf8_decode(s + i, len - i, &used, &st->repaired);
        i += used;
        uint8_t c = g_cls[cp];
        if (c & drop) continue;
        if (drop && (c & CL_WS)) cp = ' ';
        if (c & cjk) {
            stage_strip(st, ' ');
            stage_strip(st, cp);
            stage_strip(st, ' ');
        } else {
            stage_strip(st, cp);
        }
    }
    if (st->nrun && !st->stop) flush_run(st);
    st->nrun = 0;
    flush_word(st);
    return i;
}

/* The leftmost-longest special token in s[from..len): sets *at, returns its index or -1. */
static int find_special(const lb_tokenizer *t, const uint8_t *s, size_t len, size_t from,
                        size_t *at) {
    if (t->nspecial == 0) return -1;
    size_t i = from;
    while (i < len) {
        if (t->special_one_first >= 0) {
            const uint8_t *q = memchr(s + i, t->special_one_first, len - i);
            if (!q) return -1;
            i = (size_t)(q - s);
        } else if (!t->special_first[s[i]]) {
            i++;
            continue;
        }
        int best = -1;
        for (int k = 0; k < t->nspecial; k++) {
            size_t n = t->special[k].len;
            if (n <= len - i && memcmp(s + i, t->special[k].s, n) == 0 &&
                (best < 0 || n > t->special[best].len))
                best = k;
        }
        if (best >= 0) {
            *at = i;
            return best;
        }
        i++;
    }
    return -1;
}

size_t lb_tokenize_text(const lb_tokenizer *t, const char *text, size_t len, int32_t *ids,
                        size_t max_ids, labse_tok_info *info) {
    if (max_ids < 2) return 0;
    tk_state st;
    st.t = t;
    st.out = ids + 1;
    st.cap = max_ids - 2;
    st.n = 0;
    st.stop = st.oom = st.repaired = 0;
    st.wlen = st.wchars = st.nrun = 0;
    const uint8_t *s = (const uint8_t *)text;
    size_t pos = 0;
    if (!s) len = 0;
    while (pos < len && !st.stop) {
        size_t at = len;
        int k = find_special(t, s, len, pos, &at);
        pos += run_segment(&st, s + pos, at - pos);
        if (st.stop || k < 0) break;
        push_pieces(&st, &t->special[k].id, 1);
        pos = at + t->special[k].len;
    }
    if (st.oom) return 0;
    if (info) {
        info->truncated = st.stop;
        info->repaired = st.repaired ||
                         (pos < len && lb_utf8_count_invalid(s + pos, len - pos) != 0);
    }
    ids[0] = t->cls;
    ids[st.n + 1] = t->sep;
    return st.n + 2;
}
