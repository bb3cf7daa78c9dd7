/* gpu_forward.c — the fp16 encoder on a GPU: one context = three streams (h2d, compute, d2h),
 * activations sized from the token budget, a cuBLASLt GEMM cache, and a ring of `slots` batches
 * in flight (see gpu.h for the data path). The maths is cpu_forward.c's, layer by layer:
 *
 *   x   = LN(word[ids] + pos[t - cu[s]] + type[0])                    lb_embed_layernorm
 *   per layer:  qkv = x Wqkvᵀ + b          [T, 3H]                    GEMM (bias epilogue)
 *               ctx = attention(qkv)        [T, H]                    lb_gpu_attention (gpu_attention.c)
 *               x = LN(x + ctx Woᵀ + b)                               GEMM, LayerNorm
 *               big = gelu(x Wupᵀ + b)      [T, FF]                   GEMM (+ lb_bias_act)
 *               x = LN(x + big Wdownᵀ + b)                            GEMM, LayerNorm
 *   pooled = cls(x) | mean(x)               [n, H]                    lb_pool
 *   per Dense: y = act(pooled Wᵀ + b)       [n, out]                  GEMM, lb_bias_act
 *   rows = y / ||y||                        [n, dim] fp32             lb_l2norm_out
 *
 * Two paths per layer, chosen per context by LABSE_GPU_PATH (environment, read when the
 * context is made; default fused):
 *   basic  tmp = GEMM; x = lb_add_layernorm(x, tmp) (LN reads two tensors); big = GEMM, then
 *          lb_bias_act (exact erf GELU): 8 launches a layer.
 *   fused  the residual is the GEMM's C with beta 1, in place (x = x + ctx Woᵀ + b, C == D),
 *          and the LayerNorm that follows reads x only (lb_add_layernorm with r = NULL);
 *          GELU: LABSE_GPU_GELU=tanh (default) in the FFN-up GEMM's epilogue (GELU_BIAS,
 *          cuBLASLt's tanh form: 7 launches a layer), or erf: bias epilogue + lb_bias_act
 *          (8 launches). The tanh form's effect on the embeddings: README "GPU paths".
 * CUDA Graphs (fused path; LABSE_GPU_GRAPHS=0 turns them off): a batch (T tokens, n sequences,
 * longest L) is padded to a bucket shape (Tb, nb, Lb) by filler sequences of id 0 (pad_shape:
 * lb_gpu_bucket for Tb and nb, a power of two for Lb); the launch sequence of the shape, from
 * the embedding to the L2 rows, is captured once on the compute stream and instantiated
 * (get_graph; at most MAX_GRAPHS shapes, least recently used evicted, all dropped when the
 * activations are reallocated) and replayed on fixed device buffers gids / gcu / grows: the
 * slot's padded ids and cu_seqlens are copied in, the first n rows out (device to device, on the
 * compute stream). Why padding rather than kernels reading n from device memory or node
 * updates: no kernel changes (the attention kernel is being replaced), every kernel argument
 * is fixed per shape by construction, and a filler sequence is like any other — attention
 * stays within each sequence and every other op is row-wise, so fillers cannot touch a real
 * row (tests/test_gpu_graphs.c). The cost: up to ~13% more tokens (~5% on average over random
 * batches of >= 4096 tokens); what the graphs save (the host's launch work and the gaps
 * between ~90 launches) must be measured against that on a GPU (LABSE_GPU_GRAPHS=0 vs 1).
 * The residual sum is rounded to fp16 once in the fused path (in the GEMM's output) where the
 * basic path rounds the GEMM output and sums in fp32 inside the LayerNorm: both within fp16
 * rounding of the exact value.
 *
 * Precision fp8 (weights made by lb_gpu_weights_new_prec with fp8; the fused path only): the
 * layers' four GEMMs take E4M3 activations (layer_fp8). The LayerNorm outputs (the QKV and
 * FFN-up inputs) get one fp32 scale per token, made in the LayerNorm; the attention context and
 * the FFN activation get one static scale per layer, bound/448 with the bound derived from the
 * weights at load (model/act_bound.h: no value can saturate), so their producers write E4M3
 * elementwise and no quantise pass runs inside a layer:
 *   embed+LN → quantise x (lb_quant_rows_fp8)                       → q8, s8 (per token)
 *   qkv = GEMM8(q8) + b → attention writing E4M3 (lb_gpu_attention_fp8) → q8, sc8[l][0]
 *   x = x + GEMM8(q8) + b;  x = LN(x) with its fp8 copy              → q8, s8 (lb_add_layernorm_fp8)
 *   gelu(GEMM8(q8) + b) written as E4M3 (lb_gemm_fp8_q)              → q8b, sc8[l][1]
 *   x = x + GEMM8(q8b) + b;  x = LN(x) with its fp8 copy             → q8, s8
 * (lb_gemm_fp8 / _q: outer-vector scales in cuBLASLt, or the dequantising kernel route through
 * the fp32 scratch acc8; LABSE_GPU_FP8_SCALE=outer (default) | kernel chooses, for tests and
 * the GPU suite.) sc8 holds, per layer, the two static scales repeated over cap_tok (cuBLASLt's
 * B scale is a vector; filled once per allocation). With LABSE_GPU_GELU=erf, or a subset of the
 * GEMMs in fp8 (LABSE_GPU_FP8_GEMMS), the FFN activation is written fp16 and quantised per
 * token by a row-wise pass as before. q8 serves the LayerNorm outputs and the context: each is
 * consumed by the next GEMM before the next is made, in stream order. No scale depends on
 * another sentence: a sentence's embedding does not depend on the batch it is packed in.
 * src/cpu/cpu_fp8.c models this arithmetic on the CPU (precision fp8-model).
 * Storage fp16, accumulation and statistics fp32. Activations: x, ctx, tmp [cap_tok, H];
 * big [cap_tok, max(3H, FF)]; pooled ping-pong [cap_seq, widest Dense].
 *
 * Out of device memory (enqueue): the buffers of a batch (activations, the slot's ids,
 * cu_seqlens and rows, the graphs' inputs) are the only device allocations of a forward pass,
 * all made on the host before anything of the batch is queued. When one of them fails with
 * cudaErrorMemoryAllocation, the context drains its streams, frees every activation and slot
 * buffer (the old allocation that failed to grow would otherwise keep its memory), and encodes
 * the batch in pieces: halves by sentences, each queued and waited in turn on the same slot,
 * halved again while a piece does not fit, down to one sentence; the rows of a piece land at
 * its own rows of out, so the caller sees one batch. A piece computes what the whole batch
 * computes for its sentences (attention stays within a sequence, every other op is row-wise;
 * only the GEMM algorithm, chosen by token bucket, and the attention kernel, chosen by the
 * longest sentence, may differ: within fp16 rounding, as for any other batch composition —
 * tests/test_gpu_oom.c). The smallest (padded) token count that
 * failed is the context's ceiling: a later batch that would have to grow the buffers to it or
 * beyond is split up front instead of failing again. One sentence that does not fit is an
 * error naming its token count and the bytes asked. Splits are counted (lb_gpu_ctx_mem_stats).
 * lb_gpu_ctx_new does not fail for want of memory either: the first batch grows the buffers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bias_act.cuh"
#include "embed.cuh"
#include "cpu/encoder.h"
#include "base/fp8.h"
#include "gpu/gpu_attention.h"
#include "gpu/gpu_internal.h"
#include "layernorm.cuh"
#include "pool.cuh"
#include "quant_fp8.cuh"

#define MAX_SLOTS 8

#define MAX_GRAPHS 16

typedef enum { PATH_BASIC = 0, PATH_FUSED = 1 } gpu_path;

/* One captured forward pass: the launch sequence for a padded shape (Tb tokens, nb sequences,
 * longest Lb), replayed on the context's fixed buffers gids / gcu / grows. */
typedef struct graph {
    int Tb, nb, Lb;
    cudaGraphExec_t exec;
    uint64_t last_use;
} graph;

typedef struct slot {
    int32_t *ids, *cu;          /* device [cap_tok], [cap_seq + 1] */
    float *rows;                /* device [cap_seq, dim] */
    int32_t *hcu;               /* pinned host [cap_seq + 1]: the padded cu_seqlens (graphs) */
    size_t cap_tok, cap_seq;
    cudaEvent_t h2d, start, done, d2h;
    int busy;
} slot;

struct lb_gpu_ctx {
    const lb_model *m;
    const lb_gpu_weights *w;
    int device;
    cudaStream_t s_h2d, s_comp, s_d2h;
    lb_gemm *gemm;
    gpu_path path;              /* LABSE_GPU_PATH */
    int gelu_tanh;              /* fused path: GELU in the GEMM epilogue (LABSE_GPU_GELU) */
    int use_graphs;             /* fused path: CUDA Graphs (LABSE_GPU_GRAPHS) */
    graph graphs[MAX_GRAPHS];
    uint64_t graph_clock;
    int graph_captures;         /* graphs captured (lb_gpu_ctx_graph_stats) */
    int graphs_failed;          /* a capture failed: graphs were turned off */
    int32_t *gids, *gcu;        /* device [cap_tok], [cap_seq + 1]: the graphs' inputs */
    float *grows;               /* device [cap_seq, dim]: the graphs' output */
    lb_half *x, *big, *ctx, *tmp, *pa, *pb;
    int fp8;                    /* the weights are fp8: layer_fp8 */
    uint8_t *q8;                /* fp8: device [cap_tok, max(3H, FF)] E4M3 activations */
    uint8_t *q8b;               /* fp8: device [cap_tok, FF] the FFN activation's E4M3 codes */
    float *s8, *acc8;           /* fp8: device [cap_tok] row scales; [cap_tok, max(3H, FF)] fp32 */
    float *sc8;                 /* fp8: device [layers][2][cap_tok] static scales (ctx, FFN act) */
    size_t cap_tok, cap_seq;
    int widest;                 /* widest pooled/Dense row */
    int nslots;
    slot sl[MAX_SLOTS];
    /* out of device memory (enqueue) */
    size_t oom_asked;           /* bytes of the allocation that failed in this attempt; 0: none */
    size_t oom_tok;             /* tokens that allocation was sized for */
    size_t oom_ceiling;         /* smallest such token count so far; 0: none failed */
    uint64_t split_batches;     /* batches encoded in pieces */
    int split_min;              /* fewest sentences in a piece; 0: none split */
    int32_t *piece_cu;          /* host [piece_cap + 1]: a piece's cu_seqlens from 0 */
    size_t piece_cap;
    /* lb_gpu_encode's pinned staging */
    int32_t *st_ids, *st_cu;
    float *st_out;
    size_t st_tok, st_seq;
    /* timing (lb_gpu_ctx_timing) */
    double busy_ms, t_first, t_last;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Destroy every captured graph (they hold the activation pointers). */
static void clear_graphs(lb_gpu_ctx *c) {
    for (int i = 0; i < MAX_GRAPHS; i++) {
        if (c->graphs[i].exec) cudaGraphExecDestroy(c->graphs[i].exec);
        memset(&c->graphs[i], 0, sizeof c->graphs[i]);
    }
}

static void free_acts(lb_gpu_ctx *c) {
    clear_graphs(c);
    void **p[] = {(void **)&c->x,  (void **)&c->big, (void **)&c->ctx,  (void **)&c->tmp,
                  (void **)&c->pa, (void **)&c->pb,  (void **)&c->gids, (void **)&c->gcu,
                  (void **)&c->grows, (void **)&c->q8, (void **)&c->s8, (void **)&c->acc8,
                  (void **)&c->q8b, (void **)&c->sc8};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
        if (*p[i]) cudaFree(*p[i]);
        *p[i] = NULL;
    }
    c->cap_tok = c->cap_seq = 0;
}

/* cudaMalloc of bytes into *p for a batch of tok tokens; an out-of-memory failure is noted in
 * c->oom_asked / c->oom_tok for enqueue (lb_cuda_fail, through LB_CU, clears CUDA's error). */
static cudaError_t dev_alloc(lb_gpu_ctx *c, void **p, size_t bytes, size_t tok) {
    const cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaErrorMemoryAllocation) {
        c->oom_asked = bytes;
        c->oom_tok = tok;
    }
    return e;
}

/* The width of the activation big: max(3H, FF) (QKV and the FFN share it). Pure. */
static size_t big_width(const lb_config *k) {
    return (size_t)(k->intermediate > 3 * k->hidden ? k->intermediate : 3 * k->hidden);
}

/* Device bytes of the activations (acts 1) or of one slot's buffers (acts 0) for tok tokens
 * and seq sequences, as grow_acts / grow_slot allocate them. Pure. */
static size_t bufs_bytes(const lb_gpu_ctx *c, size_t tok, size_t seq, int acts) {
    const lb_config *k = &c->m->cfg;
    const size_t H = (size_t)k->hidden, wide = big_width(k);
    const size_t io = tok * sizeof(int32_t) + (seq + 1) * sizeof(int32_t) +
                      seq * (size_t)k->dim * sizeof(float); /* ids, cu, rows */
    if (!acts) return io;
    return 3 * tok * H * 2 + tok * wide * 2 + 2 * seq * (size_t)c->widest * 2 +
           (c->use_graphs ? io : 0) +
           (c->fp8 ? tok * wide + tok * 4 + tok * wide * 4 + tok * (size_t)k->intermediate +
                         tok * 4 * 2 * (size_t)k->layers
                   : 0);
}

/* (Re)allocate the activations for tok tokens and seq sequences (at least the current ones;
 * the old buffers are freed first). The compute stream must be idle (callers synchronise
 * first). On failure nothing is held (cap 0). */
static labse_status grow_acts(lb_gpu_ctx *c, size_t tok, size_t seq, labse_error *err) {
    labse_status st = LABSE_OK;
    if (tok <= c->cap_tok && seq <= c->cap_seq) return LABSE_OK;
    if (tok < c->cap_tok) tok = c->cap_tok;
    if (seq < c->cap_seq) seq = c->cap_seq;
    free_acts(c);
    const lb_config *k = &c->m->cfg;
    const size_t H = (size_t)k->hidden, wide = big_width(k);
    LB_CU(dev_alloc(c, (void **)&c->x, tok * H * 2, tok));
    LB_CU(dev_alloc(c, (void **)&c->ctx, tok * H * 2, tok));
    LB_CU(dev_alloc(c, (void **)&c->tmp, tok * H * 2, tok));
    LB_CU(dev_alloc(c, (void **)&c->big, tok * wide * 2, tok));
    LB_CU(dev_alloc(c, (void **)&c->pa, seq * (size_t)c->widest * 2, tok));
    LB_CU(dev_alloc(c, (void **)&c->pb, seq * (size_t)c->widest * 2, tok));
    if (c->fp8) {
        LB_CU(dev_alloc(c, (void **)&c->q8, tok * wide, tok));
        LB_CU(dev_alloc(c, (void **)&c->s8, tok * sizeof(float), tok));
        LB_CU(dev_alloc(c, (void **)&c->acc8, tok * wide * sizeof(float), tok));
        LB_CU(dev_alloc(c, (void **)&c->q8b, tok * (size_t)k->intermediate, tok));
        LB_CU(dev_alloc(c, (void **)&c->sc8, tok * sizeof(float) * 2 * (size_t)k->layers, tok));
        for (int l = 0; l < k->layers; l++) { /* the static scales, repeated over the tokens */
            const lb_gpu_layer *ly = &c->w->layer[l];
            LB_CU(lb_fp8_fill_scale(c->sc8 + (size_t)(2 * l) * tok, (int)tok,
                                    ly->ctx_bound / LB_E4M3_MAX, c->s_comp));
            LB_CU(lb_fp8_fill_scale(c->sc8 + (size_t)(2 * l + 1) * tok, (int)tok,
                                    ly->big_bound / LB_E4M3_MAX, c->s_comp));
        }
    }
    if (c->use_graphs) {
        LB_CU(dev_alloc(c, (void **)&c->gids, tok * sizeof(int32_t), tok));
        LB_CU(dev_alloc(c, (void **)&c->gcu, (seq + 1) * sizeof(int32_t), tok));
        LB_CU(dev_alloc(c, (void **)&c->grows, seq * (size_t)k->dim * sizeof(float), tok));
    }
    c->cap_tok = tok;
    c->cap_seq = seq;
    return LABSE_OK;
fail:
    free_acts(c);
    lb_err_prefix(err, "activations for a batch of %zu tokens", tok);
    return st;
}

static void free_slot_bufs(slot *s) {
    if (s->ids) cudaFree(s->ids);
    if (s->cu) cudaFree(s->cu);
    if (s->rows) cudaFree(s->rows);
    lb_gpu_host_free(s->hcu);
    s->ids = s->cu = s->hcu = NULL;
    s->rows = NULL;
    s->cap_tok = s->cap_seq = 0;
}

/* (Re)allocate slot s's device buffers for tok tokens and seq sequences (at least the current
 * ones; freed first, nothing held on failure). The slot must be idle. */
static labse_status grow_slot(lb_gpu_ctx *c, slot *s, size_t tok, size_t seq, labse_error *err) {
    labse_status st = LABSE_OK;
    if (tok <= s->cap_tok && seq <= s->cap_seq) return LABSE_OK;
    if (tok < s->cap_tok) tok = s->cap_tok;
    if (seq < s->cap_seq) seq = s->cap_seq;
    free_slot_bufs(s);
    LB_CU(dev_alloc(c, (void **)&s->ids, tok * sizeof(int32_t), tok));
    LB_CU(dev_alloc(c, (void **)&s->cu, (seq + 1) * sizeof(int32_t), tok));
    LB_CU(dev_alloc(c, (void **)&s->rows, seq * (size_t)c->m->cfg.dim * sizeof(float), tok));
    if (c->use_graphs && !(s->hcu = lb_gpu_host_alloc((seq + 1) * sizeof(int32_t)))) {
        st = lb_err(err, LABSE_E_CUDA, "cannot allocate pinned host memory for %zu sequences", seq);
        goto fail;
    }
    s->cap_tok = tok;
    s->cap_seq = seq;
    return LABSE_OK;
fail:
    free_slot_bufs(s);
    return st;
}

/* An environment choice: *out = the index of the value in names[0..n) (unset or empty: def);
 * any other value is LABSE_E_INVALID naming the variable and its values. */
static labse_status env_choice(const char *var, const char *const *names, int n, int def, int *out,
                               labse_error *err) {
    const char *v = getenv(var);
    *out = def;
    if (!v || !*v) return LABSE_OK;
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return LABSE_OK;
        }
    return lb_err(err, LABSE_E_INVALID, "%s=%s: expected %s or %s", var, v, names[0], names[1]);
}

labse_status lb_gpu_ctx_new(const lb_model *m, const lb_gpu_weights *w, int max_tokens, int slots,
                            lb_gpu_ctx **out, labse_error *err) {
    labse_status st = LABSE_OK;
    if (slots < 1 || slots > MAX_SLOTS)
        return lb_err(err, LABSE_E_INVALID, "GPU context: slots %d not in 1..%d", slots, MAX_SLOTS);
    static const char *const paths[2] = {"basic", "fused"}, *const gelus[2] = {"erf", "tanh"};
    static const char *const onoff[2] = {"0", "1"}, *const scalings[2] = {"outer", "kernel"};
    int path = PATH_FUSED, gelu_tanh = 1, graphs = 1, scaling = 0;
    if ((st = env_choice("LABSE_GPU_PATH", paths, 2, PATH_FUSED, &path, err)) != LABSE_OK ||
        (st = env_choice("LABSE_GPU_GELU", gelus, 2, 1, &gelu_tanh, err)) != LABSE_OK ||
        (st = env_choice("LABSE_GPU_GRAPHS", onoff, 2, 1, &graphs, err)) != LABSE_OK ||
        (st = env_choice("LABSE_GPU_FP8_SCALE", scalings, 2, 0, &scaling, err)) != LABSE_OK)
        return st;
    if (w->fp8 && path != PATH_FUSED)
        return lb_err(err, LABSE_E_INVALID, "LABSE_GPU_PATH=basic: precision fp8 runs on the fused path only");
    lb_gpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    c->path = (gpu_path)path;
    c->use_graphs = path == PATH_FUSED && graphs;
    /* the epilogue's GELU is the tanh form: exact for a gelu_new model, the approximation
     * (LABSE_GPU_GELU=tanh) for an erf one */
    c->gelu_tanh = path == PATH_FUSED && (m->cfg.hidden_act == LB_ACT_GELU_TANH ||
                                          (gelu_tanh && m->cfg.hidden_act == LB_ACT_GELU));
    c->m = m;
    c->w = w;
    c->fp8 = w->fp8;
    c->device = w->device;
    c->nslots = slots;
    c->widest = m->cfg.hidden;
    for (int k = 0; k < m->n_dense; k++)
        if (m->dense[k].lin.out > c->widest) c->widest = m->dense[k].lin.out;
    LB_CU(cudaSetDevice(c->device));
    LB_CU(cudaStreamCreateWithFlags(&c->s_h2d, cudaStreamNonBlocking));
    LB_CU(cudaStreamCreateWithFlags(&c->s_comp, cudaStreamNonBlocking));
    LB_CU(cudaStreamCreateWithFlags(&c->s_d2h, cudaStreamNonBlocking));
    for (int k = 0; k < slots; k++) {
        slot *s = &c->sl[k];
        LB_CU(cudaEventCreateWithFlags(&s->h2d, cudaEventDisableTiming));
        LB_CU(cudaEventCreate(&s->start));
        LB_CU(cudaEventCreate(&s->done));
        LB_CU(cudaEventCreateWithFlags(&s->d2h, cudaEventDisableTiming));
    }
    if ((st = lb_gemm_new(c->device, &c->gemm, err)) != LABSE_OK) goto fail;
    lb_gemm_fp8_mode(c->gemm, scaling);
    {
        /* the budget's activations up front; when they do not fit, the first batches grow
         * them (and split, enqueue) */
        size_t tok = (size_t)(max_tokens > m->cfg.max_seq_length ? max_tokens : m->cfg.max_seq_length);
        c->oom_asked = 0;
        if ((st = grow_acts(c, tok, tok, err)) != LABSE_OK) {
            if (!c->oom_asked) goto fail;
            lb_err_clear(err);
            st = LABSE_OK;
        }
    }
    *out = c;
    return LABSE_OK;
fail:
    lb_gpu_ctx_free(c);
    return st;
}

/* Wait for this context's streams (not the whole device: other sessions may share it). */
static void drain(lb_gpu_ctx *c) {
    if (c->s_h2d) cudaStreamSynchronize(c->s_h2d);
    if (c->s_comp) cudaStreamSynchronize(c->s_comp);
    if (c->s_d2h) cudaStreamSynchronize(c->s_d2h);
}

void lb_gpu_ctx_free(lb_gpu_ctx *c) {
    if (!c) return;
    cudaSetDevice(c->device);
    drain(c);
    for (int k = 0; k < c->nslots; k++) {
        slot *s = &c->sl[k];
        free_slot_bufs(s);
        if (s->h2d) cudaEventDestroy(s->h2d);
        if (s->start) cudaEventDestroy(s->start);
        if (s->done) cudaEventDestroy(s->done);
        if (s->d2h) cudaEventDestroy(s->d2h);
    }
    free_acts(c);
    lb_gemm_free(c->gemm);
    if (c->s_h2d) cudaStreamDestroy(c->s_h2d);
    if (c->s_comp) cudaStreamDestroy(c->s_comp);
    if (c->s_d2h) cudaStreamDestroy(c->s_d2h);
    lb_gpu_host_free(c->st_ids);
    lb_gpu_host_free(c->st_cu);
    lb_gpu_host_free(c->st_out);
    free(c->piece_cu);
    cudaGetLastError();
    free(c);
}

/* ctx = attention(qkv) for a batch (cu [n + 1] device): the one attention call site; the
 * kernel (tiled or short) is chosen per batch by lb_gpu_attention (gpu_attention.c). */
static labse_status attend(lb_gpu_ctx *c, const int32_t *cu, int n, int maxlen, cudaStream_t cs,
                           labse_error *err) {
    const lb_config *k = &c->m->cfg;
    return lb_gpu_attention(c->ctx, c->big, cu, n, maxlen, k->heads, k->head_dim, cs, err);
}

/* One encoder layer. basic: each sublayer's output goes to tmp and the LayerNorm adds it to x
 * (8 launches). fused: the output and FFN-down GEMMs add the residual in place (C = D = x) and
 * the LayerNorm reads x alone; GELU in the FFN-up GEMM's epilogue when gelu_tanh (7 launches;
 * 8 with erf). */
static labse_status layer(lb_gpu_ctx *c, const lb_gpu_layer *ly, const int32_t *cu, int n, int T,
                          int maxlen, labse_error *err) {
    labse_status st = LABSE_OK;
    const lb_config *k = &c->m->cfg;
    cudaStream_t cs = c->s_comp;
    const int fused = c->path == PATH_FUSED;
    lb_half *res = fused ? c->x : NULL, *sub = fused ? c->x : c->tmp, *add = fused ? NULL : c->tmp;
    if ((st = lb_gemm_linear(c->gemm, &ly->qkv, c->x, T, c->big, cs, err)) != LABSE_OK) goto fail;
    if ((st = attend(c, cu, n, maxlen, cs, err)) != LABSE_OK) goto fail;
    if ((st = lb_gemm_run(c->gemm, &ly->attn_out, c->ctx, T, res, 0, sub, cs, err)) != LABSE_OK) goto fail;
    LB_CU(lb_add_layernorm(c->x, add, ly->ln1_g, ly->ln1_b, T, k->hidden, k->ln_eps, cs));
    if ((st = lb_gemm_run(c->gemm, &ly->ffn_up, c->x, T, NULL, c->gelu_tanh, c->big, cs, err)) != LABSE_OK)
        goto fail;
    if (!c->gelu_tanh) LB_CU(lb_bias_act(c->big, NULL, T, k->intermediate, (int)k->hidden_act, cs));
    if ((st = lb_gemm_run(c->gemm, &ly->ffn_down, c->big, T, res, 0, sub, cs, err)) != LABSE_OK) goto fail;
    LB_CU(lb_add_layernorm(c->x, add, ly->ln2_g, ly->ln2_b, T, k->hidden, k->ln_eps, cs));
    return LABSE_OK;
fail:
    return st;
}

/* One encoder layer in fp8 (see the header): on entry x and its fp8 copy (q8, s8); on exit the
 * same for the layer's output. l: the layer's index (its static scales in sc8). 7 launches
 * (more with erf GELU, a subset of fp8 GEMMs, or on the kernel route). */
static labse_status layer_fp8(lb_gpu_ctx *c, const lb_gpu_layer *ly, int l, const int32_t *cu,
                              int n, int T, int maxlen, labse_error *err) {
    labse_status st = LABSE_OK;
    const lb_config *k = &c->m->cfg;
    cudaStream_t cs = c->s_comp;
    const int H = k->hidden, FF = k->intermediate;
    const float *s_ctx = c->sc8 + (size_t)(2 * l) * c->cap_tok;     /* the static scales */
    const float *s_big = c->sc8 + (size_t)(2 * l + 1) * c->cap_tok;
    /* a GEMM left in fp16 (LABSE_GPU_FP8_GEMMS, gpu_model.c) reads the fp16 tensor instead;
     * an fp8 copy is made only for a GEMM that reads it */
    const int next_qkv = c->w->fp8_gemms & LB_FP8_QKV;
    /* the FFN activation straight to E4M3 from the up GEMM's epilogue: both FFN GEMMs fp8 and
     * GELU (tanh) in the epilogue; otherwise fp16 and a per-token quantise pass */
    const int big8 = ly->ffn_up.w8 && ly->ffn_down.w8 && c->gelu_tanh;
#define GEMM(lin, x16, q, s, resid, gelu, y)                                                       \
    ((lin)->w8 ? lb_gemm_fp8(c->gemm, (lin), (q), (s), T, (resid), (gelu), (y), c->acc8, cs, err) \
               : lb_gemm_run(c->gemm, (lin), (x16), T, (resid), (gelu), (y), cs, err))
    if ((st = GEMM(&ly->qkv, c->x, c->q8, c->s8, NULL, 0, c->big)) != LABSE_OK) goto fail;
    if (ly->attn_out.w8)
        st = lb_gpu_attention_fp8(c->q8, LB_E4M3_MAX / ly->ctx_bound, c->big, cu, n, maxlen,
                                  k->heads, k->head_dim, cs, err);
    else
        st = attend(c, cu, n, maxlen, cs, err);
    if (st != LABSE_OK) goto fail;
    if ((st = GEMM(&ly->attn_out, c->ctx, c->q8, s_ctx, c->x, 0, c->x)) != LABSE_OK) goto fail;
    LB_CU(lb_add_layernorm_fp8(c->x, NULL, ly->ln1_g, ly->ln1_b, T, H, k->ln_eps,
                               ly->ffn_up.w8 ? c->q8 : NULL, ly->ffn_up.w8 ? c->s8 : NULL, cs));
    if (big8) {
        if ((st = lb_gemm_fp8_q(c->gemm, &ly->ffn_up, c->q8, c->s8, T, 1, c->q8b, ly->big_inv_dev,
                                c->acc8, cs, err)) != LABSE_OK)
            goto fail;
        if ((st = lb_gemm_fp8(c->gemm, &ly->ffn_down, c->q8b, s_big, T, c->x, 0, c->x, c->acc8, cs,
                              err)) != LABSE_OK)
            goto fail;
    } else {
        if ((st = GEMM(&ly->ffn_up, c->x, c->q8, c->s8, NULL, c->gelu_tanh, c->big)) != LABSE_OK)
            goto fail;
        if (!c->gelu_tanh) LB_CU(lb_bias_act(c->big, NULL, T, FF, (int)k->hidden_act, cs));
        if (ly->ffn_down.w8) LB_CU(lb_quant_rows_fp8(c->big, T, FF, c->q8, c->s8, cs));
        if ((st = GEMM(&ly->ffn_down, c->big, c->q8, c->s8, c->x, 0, c->x)) != LABSE_OK) goto fail;
    }
#undef GEMM
    LB_CU(lb_add_layernorm_fp8(c->x, NULL, ly->ln2_g, ly->ln2_b, T, H, k->ln_eps,
                               next_qkv ? c->q8 : NULL, next_qkv ? c->s8 : NULL, cs));
    return LABSE_OK;
fail:
    return st;
}

/* Enqueue the forward pass of a batch (device ids [T], cu [n + 1], n sequences, longest maxlen)
 * on the compute stream; rows → device rows [n, dim]. */
static labse_status forward(lb_gpu_ctx *c, const int32_t *ids, const int32_t *cu, float *rows,
                            int n, int T, int maxlen, labse_error *err) {
    labse_status st = LABSE_OK;
    const lb_config *k = &c->m->cfg;
    const lb_gpu_weights *w = c->w;
    const int H = k->hidden;
    cudaStream_t cs = c->s_comp;
    LB_CU(lb_embed_layernorm(c->x, ids, cu, n, T, w->word, w->pos, w->type, w->emb_g,
                            w->emb_b, H, k->ln_eps, cs));
    if (c->fp8 && (w->fp8_gemms & LB_FP8_QKV)) LB_CU(lb_quant_rows_fp8(c->x, T, H, c->q8, c->s8, cs));
    for (int l = 0; l < k->layers; l++) {
        st = c->fp8 ? layer_fp8(c, &w->layer[l], l, cu, n, T, maxlen, err)
                    : layer(c, &w->layer[l], cu, n, T, maxlen, err);
        if (st != LABSE_OK) goto fail;
    }
    LB_CU(lb_pool(c->pa, c->x, cu, n, H, (int)k->pooling, cs));
    lb_half *y = c->pa, *z = c->pb;
    int width = H;
    for (int d = 0; d < w->n_dense; d++) {
        if ((st = lb_gemm_linear(c->gemm, &w->dense[d], y, n, z, cs, err)) != LABSE_OK) goto fail;
        LB_CU(lb_bias_act(z, NULL, n, w->dense[d].out, (int)w->dense_act[d], cs));
        lb_half *t = y; y = z; z = t;
        width = w->dense[d].out;
    }
    LB_CU(lb_l2norm_out(rows, y, n, width, k->normalize, cs));
    return LABSE_OK;
fail:
    return st;
}

/* The padded shape of a batch (T tokens, n sequences, longest maxlen) for CUDA Graphs:
 * Lb = maxlen rounded up to a power of two >= 32 (at most maxpos), Tb and nb buckets
 * (lb_gpu_bucket) such that the Tb - T filler tokens form exactly nb - n filler sequences of
 * 1..Lb tokens each (none when Tb == T and nb == n). Pure. */
static void pad_shape(int T, int n, int maxlen, int maxpos, int *Tb, int *nb, int *Lb) {
    int L = 32;
    while (L < maxlen) L *= 2;
    if (L > maxpos) L = maxpos > maxlen ? maxpos : maxlen;
    int t = lb_gpu_bucket(T), q = lb_gpu_bucket(n);
    for (;;) { /* each step only raises a bucket; ends within a few steps */
        const long F = (long)t - T, k = (long)q - n;
        if (F == 0 && k == 0) break;
        if (k == 0) q = lb_gpu_bucket(q + 1);
        else if (F < k) t = lb_gpu_bucket(T + (int)k);
        else if (F > k * L) q = lb_gpu_bucket(n + (int)((F + L - 1) / L));
        else break;
    }
    *Tb = t, *nb = q, *Lb = L;
}

/* The padded cu_seqlens: cu [n + 1] then nb - n fillers sharing Tb - T tokens evenly. */
static void pad_cu(const int32_t *cu, int n, int Tb, int nb, int32_t *out) {
    memcpy(out, cu, ((size_t)n + 1) * sizeof *cu);
    const int k = nb - n, F = Tb - cu[n];
    for (int i = 0; i < k; i++) out[n + 1 + i] = out[n + i] + F / k + (i < F % k);
}

/* The graph of a padded shape: found (replayed), or captured now on the compute stream (the
 * launches are recorded, not run) and instantiated, evicting the least recently used. */
static labse_status get_graph(lb_gpu_ctx *c, int Tb, int nb, int Lb, cudaGraphExec_t *out,
                              labse_error *err) {
    labse_status st = LABSE_OK;
    graph *slot_g = &c->graphs[0];
    for (int i = 0; i < MAX_GRAPHS; i++) {
        graph *g = &c->graphs[i];
        if (g->exec && g->Tb == Tb && g->nb == nb && g->Lb == Lb) {
            g->last_use = ++c->graph_clock;
            *out = g->exec;
            return LABSE_OK;
        }
        if (!g->exec || (slot_g->exec && g->last_use < slot_g->last_use)) slot_g = g;
    }
    if (slot_g->exec) cudaGraphExecDestroy(slot_g->exec);
    memset(slot_g, 0, sizeof *slot_g);
    cudaGraph_t gr = NULL;
    LB_CU(cudaStreamBeginCapture(c->s_comp, cudaStreamCaptureModeThreadLocal));
    st = forward(c, c->gids, c->gcu, c->grows, nb, Tb, Lb, err);
    {
        const cudaError_t ce = cudaStreamEndCapture(c->s_comp, &gr);
        if (st != LABSE_OK) goto fail;
        LB_CU(ce);
    }
    LB_CU(cudaGraphInstantiate(&slot_g->exec, gr, 0));
    cudaGraphDestroy(gr);
    slot_g->Tb = Tb, slot_g->nb = nb, slot_g->Lb = Lb;
    slot_g->last_use = ++c->graph_clock;
    c->graph_captures++;
    *out = slot_g->exec;
    return LABSE_OK;
fail:
    if (gr) cudaGraphDestroy(gr);
    slot_g->exec = NULL;
    return st;
}

/* The shape the device computes for a batch (cu [n + 1], n >= 1): the longest sequence
 * *maxlen, and *Tb tokens, *nb sequences, *Lb longest (padded for graphs; else T, n, maxlen).
 * Pure. */
static void batch_shape(const lb_gpu_ctx *c, const int32_t *cu, int n, int *maxlen, int *Tb,
                        int *nb, int *Lb) {
    int L = 0;
    for (int i = 0; i < n; i++)
        if (cu[i + 1] - cu[i] > L) L = cu[i + 1] - cu[i];
    *maxlen = L;
    *Tb = cu[n], *nb = n, *Lb = L;
    if (c->use_graphs) pad_shape(cu[n], n, L, c->m->cfg.max_position, Tb, nb, Lb);
}

/* Queue a batch that already passed lb_batch_check (n >= 1) in idle slot sl, as one forward
 * pass. A failed allocation of its buffers leaves c->oom_asked set (enqueue splits). */
static labse_status queue_one(lb_gpu_ctx *c, int sl, const int32_t *ids, const int32_t *cu, int n,
                              float *out, labse_error *err) {
    labse_status st = LABSE_OK;
    slot *s = &c->sl[sl];
    const int T = cu[n];
    int maxlen, Tb, nb, Lb; /* the shape the device computes (padded for graphs) */
    batch_shape(c, cu, n, &maxlen, &Tb, &nb, &Lb);
    LB_CU(cudaSetDevice(c->device));
    if ((size_t)Tb > c->cap_tok || (size_t)nb > c->cap_seq) {
        /* a batch over the budget (labse_encode_ids accepts any): grow after the work in
         * flight that uses the activations is done */
        LB_CU(cudaStreamSynchronize(c->s_comp));
        if ((st = grow_acts(c, (size_t)Tb, (size_t)nb, err)) != LABSE_OK) return st;
    }
    if ((st = grow_slot(c, s, c->cap_tok, c->cap_seq, err)) != LABSE_OK) return st;
    if (c->t_first == 0) c->t_first = now_s();
    const size_t dim = (size_t)c->m->cfg.dim;
    LB_CU(cudaMemcpyAsync(s->ids, ids, (size_t)T * sizeof *ids, cudaMemcpyHostToDevice, c->s_h2d));
    if (c->use_graphs) {
        /* filler tokens: id 0, in nb - n filler sequences; their rows are never read back */
        pad_cu(cu, n, Tb, nb, s->hcu);
        if (Tb > T)
            LB_CU(cudaMemsetAsync(s->ids + T, 0, (size_t)(Tb - T) * sizeof *ids, c->s_h2d));
        LB_CU(cudaMemcpyAsync(s->cu, s->hcu, (size_t)(nb + 1) * sizeof *cu, cudaMemcpyHostToDevice,
                              c->s_h2d));
    } else {
        LB_CU(cudaMemcpyAsync(s->cu, cu, (size_t)(n + 1) * sizeof *cu, cudaMemcpyHostToDevice,
                              c->s_h2d));
    }
    LB_CU(cudaEventRecord(s->h2d, c->s_h2d));
    LB_CU(cudaStreamWaitEvent(c->s_comp, s->h2d, 0));
    cudaGraphExec_t ge = NULL;
    if (c->use_graphs && get_graph(c, Tb, nb, Lb, &ge, err) != LABSE_OK) {
        /* a capture the runtime refused: this context goes on without graphs (the slot's
         * padded ids and cu_seqlens start with the real batch, which forward reads alone) */
        cudaGetLastError();
        clear_graphs(c);
        c->use_graphs = 0;
        c->graphs_failed = 1;
    }
    if (c->use_graphs) {
        LB_CU(cudaEventRecord(s->start, c->s_comp));
        LB_CU(cudaMemcpyAsync(c->gids, s->ids, (size_t)Tb * sizeof *ids, cudaMemcpyDeviceToDevice,
                              c->s_comp));
        LB_CU(cudaMemcpyAsync(c->gcu, s->cu, (size_t)(nb + 1) * sizeof *cu,
                              cudaMemcpyDeviceToDevice, c->s_comp));
        LB_CU(cudaGraphLaunch(ge, c->s_comp));
        LB_CU(cudaMemcpyAsync(s->rows, c->grows, (size_t)n * dim * sizeof *out,
                              cudaMemcpyDeviceToDevice, c->s_comp));
    } else {
        LB_CU(cudaEventRecord(s->start, c->s_comp));
        if ((st = forward(c, s->ids, s->cu, s->rows, n, T, maxlen, err)) != LABSE_OK) goto fail;
    }
    LB_CU(cudaEventRecord(s->done, c->s_comp));
    LB_CU(cudaStreamWaitEvent(c->s_d2h, s->done, 0));
    LB_CU(cudaMemcpyAsync(out, s->rows, (size_t)n * dim * sizeof *out, cudaMemcpyDeviceToHost, c->s_d2h));
    LB_CU(cudaEventRecord(s->d2h, c->s_d2h));
    s->busy = 1;
    return LABSE_OK;
fail:
    /* leave nothing half-queued behind: drain so the slot can be reused */
    drain(c);
    cudaGetLastError();
    return st;
}

/* 1 when a batch (cu [n + 1], n >= 2) is to be split without trying: it would have to grow
 * the buffers to the ceiling of a failed allocation or beyond. Pure. */
static int split_up_front(const lb_gpu_ctx *c, const int32_t *cu, int n) {
    if (n < 2 || !c->oom_ceiling) return 0;
    int maxlen, Tb, nb, Lb;
    batch_shape(c, cu, n, &maxlen, &Tb, &nb, &Lb);
    const int grows = (size_t)Tb > c->cap_tok || (size_t)nb > c->cap_seq;
    return grows && (size_t)Tb >= c->oom_ceiling;
}

/* After a failed allocation: lower the ceiling, wait for everything queued, and free every
 * activation and slot buffer (slots still marked busy have their rows on the host after the
 * drain; their wait only syncs a completed event), so the next attempt starts from nothing. */
static void release_after_oom(lb_gpu_ctx *c) {
    if (!c->oom_ceiling || c->oom_tok < c->oom_ceiling) c->oom_ceiling = c->oom_tok;
    drain(c);
    cudaGetLastError();
    free_acts(c);
    for (int k = 0; k < c->nslots; k++) free_slot_bufs(&c->sl[k]);
}

/* The error for one sentence (cu [2]) that does not fit even alone. */
static labse_status oom_error(lb_gpu_ctx *c, const int32_t *cu, labse_error *err) {
    int maxlen, Tb, nb, Lb;
    batch_shape(c, cu, 1, &maxlen, &Tb, &nb, &Lb);
    const size_t need = bufs_bytes(c, (size_t)Tb, (size_t)nb, 1) +
                        bufs_bytes(c, (size_t)Tb, (size_t)nb, 0);
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        free_b = total_b = 0;
    }
    return lb_err(err, LABSE_E_CUDA,
                  "GPU out of memory: one sentence of %d tokens does not fit on cuda:%d even "
                  "alone (its buffers ask %zu bytes of device memory, for %d tokens and %d "
                  "sequences as computed; an allocation of %zu bytes failed; %.1f MiB free of "
                  "%.1f MiB) — lower max_length or use a GPU with more free memory",
                  cu[1], c->device, need, Tb, nb, c->oom_asked, free_b / 1048576.0,
                  total_b / 1048576.0);
}

/* Encode a batch (n >= 2) in pieces through slot sl: halves by sentences, halved again while a
 * piece does not fit, each piece queued after the previous one was waited (the slot's buffers
 * and c->piece_cu are reused); the last piece is left in flight. Rows of sentence i go to
 * out + i * dim as for the whole batch. */
static labse_status queue_pieces(lb_gpu_ctx *c, int sl, const int32_t *ids, const int32_t *cu,
                                 int n, float *out, labse_error *err) {
    labse_status st = LABSE_OK;
    const size_t dim = (size_t)c->m->cfg.dim;
    if ((size_t)n > c->piece_cap) {
        int32_t *p = realloc(c->piece_cu, ((size_t)n + 1) * sizeof *p);
        if (!p) return lb_err(err, LABSE_E_NOMEM, "out of memory");
        c->piece_cu = p;
        c->piece_cap = (size_t)n;
    }
    c->split_batches++;
    /* pieces still to run, [lo, hi) of the batch's sentences, the next on top; a piece's
     * halves replace it, so the stack holds at most one piece per halving (n < 2^62) */
    struct { int lo, hi; } stack[64];
    int top = 0;
    stack[top].lo = n / 2, stack[top++].hi = n;
    stack[top].lo = 0, stack[top++].hi = n / 2;
    while (top > 0) {
        const int lo = stack[top - 1].lo, hi = stack[top - 1].hi, k = hi - lo;
        top--;
        if ((st = lb_gpu_wait(c, sl, err)) != LABSE_OK) return st; /* the previous piece */
        for (int i = 0; i <= k; i++) c->piece_cu[i] = cu[lo + i] - cu[lo];
        if (!split_up_front(c, c->piece_cu, k)) {
            c->oom_asked = 0;
            st = queue_one(c, sl, ids + cu[lo], c->piece_cu, k, out + (size_t)lo * dim, err);
            if (st == LABSE_OK) {
                if (!c->split_min || k < c->split_min) c->split_min = k;
                continue;
            }
            if (!c->oom_asked) return st;
            release_after_oom(c);
            if (k == 1) return oom_error(c, c->piece_cu, err);
        }
        stack[top].lo = lo + k / 2, stack[top++].hi = hi;
        stack[top].lo = lo, stack[top++].hi = lo + k / 2;
    }
    lb_err_clear(err);
    return LABSE_OK;
}

/* Queue a batch that already passed lb_batch_check (n >= 1) in slot sl: one forward pass, or,
 * out of device memory, pieces (queue_pieces; see the file's comment). */
static labse_status enqueue(lb_gpu_ctx *c, int sl, const int32_t *ids, const int32_t *cu, int n,
                            float *out, labse_error *err) {
    if (sl < 0 || sl >= c->nslots)
        return lb_err(err, LABSE_E_INVALID, "GPU submit: slot %d not in 0..%d", sl, c->nslots - 1);
    if (c->sl[sl].busy)
        return lb_err(err, LABSE_E_INVALID, "GPU submit: slot %d is still in flight", sl);
    if (!split_up_front(c, cu, n)) {
        c->oom_asked = 0;
        const labse_status st = queue_one(c, sl, ids, cu, n, out, err);
        if (st == LABSE_OK || !c->oom_asked) return st;
        release_after_oom(c);
        if (n == 1) return oom_error(c, cu, err);
    }
    return queue_pieces(c, sl, ids, cu, n, out, err);
}

labse_status lb_gpu_submit(lb_gpu_ctx *c, int sl, const int32_t *ids, const int32_t *cu, int n,
                           float *out, labse_error *err) {
    lb_batch b = {.n = n, .ids = ids, .cu_seqlens = cu};
    labse_status st = lb_batch_check(c->m, &b, err);
    if (st != LABSE_OK || n == 0) return st;
    return enqueue(c, sl, ids, cu, n, out, err);
}

labse_status lb_gpu_wait(lb_gpu_ctx *c, int sl, labse_error *err) {
    labse_status st = LABSE_OK;
    if (sl < 0 || sl >= c->nslots)
        return lb_err(err, LABSE_E_INVALID, "GPU wait: slot %d not in 0..%d", sl, c->nslots - 1);
    slot *s = &c->sl[sl];
    if (!s->busy) return LABSE_OK;
    s->busy = 0;
    LB_CU(cudaSetDevice(c->device));
    LB_CU(cudaEventSynchronize(s->d2h));
    {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, s->start, s->done) == cudaSuccess) c->busy_ms += ms;
        else cudaGetLastError();
    }
    c->t_last = now_s();
    /* an asynchronous fault of a kernel surfaces here */
    LB_CU(cudaGetLastError());
    return LABSE_OK;
fail:
    return st;
}

labse_status lb_gpu_encode(lb_gpu_ctx *c, const int32_t *ids, const int32_t *cu, int n, float *out,
                           labse_error *err) {
    lb_batch b = {.n = n, .ids = ids, .cu_seqlens = cu};
    labse_status cs = lb_batch_check(c->m, &b, err);
    if (cs != LABSE_OK || n == 0) return cs;
    const size_t T = (size_t)cu[n], dim = (size_t)c->m->cfg.dim;
    if (T > c->st_tok) {
        lb_gpu_host_free(c->st_ids);
        c->st_tok = 0;
        if (!(c->st_ids = lb_gpu_host_alloc(T * sizeof *ids)))
            return lb_err(err, LABSE_E_CUDA, "cannot allocate %zu bytes of pinned host memory", T * 4);
        c->st_tok = T;
    }
    if ((size_t)n > c->st_seq) {
        lb_gpu_host_free(c->st_cu);
        lb_gpu_host_free(c->st_out);
        c->st_out = NULL;
        c->st_seq = 0;
        if (!(c->st_cu = lb_gpu_host_alloc(((size_t)n + 1) * sizeof *cu)) ||
            !(c->st_out = lb_gpu_host_alloc((size_t)n * dim * sizeof *out)))
            return lb_err(err, LABSE_E_CUDA, "cannot allocate pinned host memory for %d rows", n);
        c->st_seq = (size_t)n;
    }
    memcpy(c->st_ids, ids, T * sizeof *ids);
    memcpy(c->st_cu, cu, ((size_t)n + 1) * sizeof *cu);
    labse_status st = enqueue(c, 0, c->st_ids, c->st_cu, n, c->st_out, err); /* checked above */
    if (st == LABSE_OK) st = lb_gpu_wait(c, 0, err);
    if (st == LABSE_OK) memcpy(out, c->st_out, (size_t)n * dim * sizeof *out);
    return st;
}

void lb_gpu_ctx_graph_stats(const lb_gpu_ctx *c, int *enabled, int *captured, int *live) {
    int n = 0;
    for (int i = 0; i < MAX_GRAPHS; i++) n += c->graphs[i].exec != NULL;
    if (enabled) *enabled = c->use_graphs ? 1 : c->graphs_failed ? -1 : 0;
    if (captured) *captured = c->graph_captures;
    if (live) *live = n;
}

void lb_gpu_ctx_mem_stats(const lb_gpu_ctx *c, uint64_t *split_batches, int *split_min,
                          size_t *workspace) {
    if (split_batches) *split_batches = c->split_batches;
    if (split_min) *split_min = c->split_min;
    if (workspace) *workspace = lb_gemm_workspace(c->gemm);
}

void lb_gpu_ctx_timing(const lb_gpu_ctx *c, double *busy_s, double *span_s) {
    if (busy_s) *busy_s = c ? c->busy_ms / 1e3 : 0;
    if (span_s) *span_s = c && c->t_last > c->t_first ? c->t_last - c->t_first : 0;
}

_Static_assert(LB_KACT_GELU == (int)LB_ACT_GELU && LB_KACT_TANH == (int)LB_ACT_TANH &&
                   LB_KACT_GELU_TANH == (int)LB_ACT_GELU_TANH &&
                   LB_KACT_RELU == (int)LB_ACT_RELU && LB_KACT_IDENTITY == (int)LB_ACT_IDENTITY,
               "kernels/bias_act.cuh codes must match lb_act");
_Static_assert(LB_KPOOL_CLS == (int)LABSE_POOL_CLS && LB_KPOOL_MEAN == (int)LABSE_POOL_MEAN,
               "kernels/pool.cuh codes must match labse_pooling");
