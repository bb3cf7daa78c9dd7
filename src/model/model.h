/* model.h — the loaded model: configuration read from the sentence-transformers folder, the
 * tokenizer, and fp32 weights (mapped from F32 files, or converted once from F16/BF16).
 * Immutable after lb_model_load(); the public labse_model wraps it. */
#ifndef LB_MODEL_H
#define LB_MODEL_H

#include <stdint.h>

#include "base/common.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"

/* GELU: 0.5 v (1 + erf(v / sqrt 2)); GELU_TANH: 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3)))
 * (HuggingFace's "gelu_new" / "gelu_pytorch_tanh", and cuBLASLt's GELU epilogue). */
typedef enum lb_act {
    LB_ACT_IDENTITY = 0, LB_ACT_TANH, LB_ACT_GELU, LB_ACT_RELU, LB_ACT_GELU_TANH
} lb_act;

typedef struct lb_config {
    int vocab_size;      /* config.json vocab_size (== word embedding rows == pieces of the
                            vocabulary: tokenizer.json model.vocab, else vocab.txt lines) */
    int hidden;          /* hidden_size */
    int layers;          /* num_hidden_layers */
    int heads;           /* num_attention_heads (divides hidden) */
    int head_dim;        /* hidden / heads */
    int intermediate;    /* intermediate_size */
    int max_position;    /* max_position_embeddings */
    int type_vocab;      /* type_vocab_size */
    float ln_eps;        /* layer_norm_eps */
    lb_act hidden_act;   /* LB_ACT_GELU ("gelu") or LB_ACT_GELU_TANH ("gelu_new", "gelu_pytorch_tanh") */
    int max_seq_length;  /* sentence_bert_config.json max_seq_length, capped by max_position */
    labse_pooling pooling;
    int normalize;       /* a sentence_transformers.models.Normalize module is present */
    int dim;             /* output dimension */
    int lowercase;       /* the tokenizer lower-cases (tokenizer_config do_lower_case) */
} lb_config;

/* A linear layer y = x W^T + b, PyTorch layout: w is [out, in] row-major, b is [out]. */
typedef struct lb_linear {
    int in, out;
    const float *w;
    const float *b;      /* may be NULL (bias: false) */
} lb_linear;

typedef struct lb_layer {
    lb_linear qkv;       /* fused [3*hidden, hidden]: rows Q then K then V (made at load) */
    lb_linear attn_out;  /* [hidden, hidden] */
    const float *ln1_g, *ln1_b;   /* attention.output.LayerNorm */
    lb_linear ffn_up;    /* [intermediate, hidden] */
    lb_linear ffn_down;  /* [hidden, intermediate] */
    const float *ln2_g, *ln2_b;   /* output.LayerNorm */
} lb_layer;

typedef struct lb_dense {
    lb_linear lin;       /* [out_features, in_features] */
    lb_act act;          /* from N_Dense/config.json activation_function */
} lb_dense;

typedef struct lb_model {
    lb_config cfg;
    lb_tokenizer *tok;
    char vocab_source[32];   /* the file the WordPiece vocabulary was read from:
                                "tokenizer.json" (preferred when present) or "vocab.txt" */
    const float *word_emb;   /* [vocab_size, hidden] */
    const float *pos_emb;    /* [max_position, hidden] */
    const float *type_emb;   /* [type_vocab, hidden] */
    const float *emb_ln_g, *emb_ln_b;
    lb_layer *layer;         /* [layers] */
    int n_dense;
    lb_dense *dense;         /* [n_dense], applied in modules.json order after pooling */
    int64_t parameters;
    /* ownership: mapped files and fp32 buffers made at load */
    lb_safetensors **files;
    int n_files;
    void **owned;
    int n_owned;
} lb_model;

/* Load a sentence-transformers folder (see labse_model_load in labse.h for the contract).
 * max_length_override: 0 = use sentence_bert_config's max_seq_length. */
labse_status lb_model_load(const char *dir, int max_length_override, lb_model **out,
                           labse_error *err);
void lb_model_free(lb_model *m);

#endif
