/*
 * labse.h — the public C API of liblabse: LaBSE (and any BERT-family sentence-transformers
 * checkpoint) sentence embeddings, tokenised on the host, encoded on the CPU or the GPU.
 *
 * Plain C11. This header includes no CUDA or BLAS header and never will.
 *
 * Objects
 *   labse_model    loaded weights, configuration and tokenizer. Immutable once loaded: share
 *                  one model between any number of threads.
 *   labse_session  per-thread working state (scratch buffers; on the GPU a stream and device
 *                  buffers). A session is used by one thread at a time.
 *
 * Errors
 *   Every fallible function returns a labse_status and, when `err` is not NULL, fills it with
 *   the status and a human-readable message naming the file, tensor or option at fault.
 *   `err` may always be NULL. The library never calls exit() and never prints.
 */
#ifndef LABSE_H
#define LABSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LABSE_VERSION_MAJOR 0
#define LABSE_VERSION_MINOR 1
#define LABSE_VERSION_PATCH 0

typedef enum labse_status {
    LABSE_OK = 0,            /* success */
    LABSE_E_IO = 1,          /* a file could not be opened, read, mapped or written */
    LABSE_E_FORMAT = 2,      /* a model file is malformed or inconsistent with the others */
    LABSE_E_NOMEM = 3,       /* a host allocation failed */
    LABSE_E_CUDA = 4,        /* a CUDA / cuBLAS call failed (message names call, file, line) */
    LABSE_E_INVALID = 5,     /* an argument is invalid (NULL where not allowed, bad option) */
    LABSE_E_UNSUPPORTED = 6  /* valid but not supported (activation, pooling, dtype, device) */
} labse_status;

/* The message buffer of an error. 1 KiB holds a path and a full explanation. */
#define LABSE_ERRMSG_MAX 1024

typedef struct labse_error {
    labse_status status;              /* same value the function returned */
    char message[LABSE_ERRMSG_MAX];   /* NUL-terminated; "" on success */
} labse_error;

/* A one-line English name of a status ("format error", ...). Static storage; never NULL. */
const char *labse_status_str(labse_status s);

/* One line on the CPU BLAS: which OpenBLAS kernels run, and whether labse re-selected them
 * because this OpenBLAS release does not know the CPU (it would run its slowest generic
 * kernels; the first model load or CPU k-NN does the check, once per process; see README,
 * "CPU speed"). Calling this does the check now. Static storage; never NULL; thread-safe. */
const char *labse_blas_info(void);

typedef enum labse_device {
    LABSE_DEVICE_CPU = 0,   /* the fp32 OpenBLAS backend */
    LABSE_DEVICE_CUDA = 1,  /* the fp16 GPU backend; LABSE_E_UNSUPPORTED when not built / no GPU */
    LABSE_DEVICE_AUTO = 2,  /* CUDA when built and a GPU is present, else CPU */
    /* The host's feeding rate (issue 12 section 7): a benchmark-only device whose encoder
     * returns zero rows at once, so a run measures reading, tokenising, packing, reordering
     * and writing, not the encoder. Its rows are all 0.0: never use it for embeddings. */
    LABSE_DEVICE_NULL = 3
} labse_device;

/* Arithmetic precision of the encoder. Each device does some of them; asking a device for one
 * it cannot do is LABSE_E_UNSUPPORTED at load, naming the values it can do.
 *   CPU:  fp32 (default), bf16 (GEMM inputs rounded to bfloat16, fp32 accumulation, through
 *         oneDNN; needs a CPU with AVX512-BF16 or AMX, and a build with oneDNN), fp8-model
 *         (CUDA's fp8 arithmetic modelled exactly on the CPU, at fp32 speed or a little less:
 *         to measure what fp8 costs in accuracy, and mining quality, without a GPU)
 *   CUDA: fp16 (default), fp8 (the encoder layers' four GEMMs in FP8 E4M3 with fp32
 *         accumulation: weights scaled per output channel at load; activations per token
 *         (LayerNorm outputs) or by a static per-layer bound derived from the weights
 *         (attention context, FFN activation); attention, LayerNorm, the head stay fp16/fp32;
 *         README "Precision") */
typedef enum labse_precision {
    LABSE_PRECISION_DEFAULT = 0, /* the device's default: fp32 on the CPU, fp16 on the GPU */
    LABSE_PRECISION_FP32 = 1,
    LABSE_PRECISION_BF16 = 2,
    LABSE_PRECISION_FP16 = 3,
    LABSE_PRECISION_FP8 = 4,
    LABSE_PRECISION_FP8_MODEL = 5 /* CPU only: see above */
} labse_precision;

/* Options for loading a model and for its sessions. Get defaults with
 * labse_default_options() and change only what you need. */
typedef struct labse_options {
    labse_device device;   /* default LABSE_DEVICE_AUTO */
    int cuda_device;       /* GPU ordinal for LABSE_DEVICE_CUDA; default 0. LABSE_CUDA_ALL:
                              every visible GPU — the streaming encoder (labse_encode_file)
                              spreads batches over all of them; each session runs on one,
                              round-robin in the order sessions are made */
    int threads;           /* CPU threads for the encoder; 0 = all cores (default) */
    int batch_tokens;      /* token budget of one packed batch; default 16384 */
    int max_length;        /* max tokens per sentence incl. [CLS]/[SEP]; 0 = the model's
                              sentence_bert_config max_seq_length (default). Values above the
                              model's max_position_embeddings are refused. */
    int window;            /* labse_encode sorts up to this many texts by length before cutting
                              batches; default 32768, as `labse encode --window` */
    labse_precision precision; /* default LABSE_PRECISION_DEFAULT (see labse_precision) */
} labse_options;

/* labse_options.cuda_device value: use every visible GPU. */
#define LABSE_CUDA_ALL (-1)

/* Default options, by value. Thread-safe. */
labse_options labse_default_options(void);

typedef struct labse_model labse_model;
typedef struct labse_session labse_session;

typedef enum labse_pooling {
    LABSE_POOL_CLS = 0,    /* hidden state of the first token ([CLS]) */
    LABSE_POOL_MEAN = 1    /* mean of the sequence's hidden states */
} labse_pooling;

/* What was loaded; see labse_model_get_info(). */
typedef struct labse_model_info {
    int layers;               /* num_hidden_layers */
    int hidden;               /* hidden_size */
    int heads;                /* num_attention_heads */
    int intermediate;         /* intermediate_size */
    int vocab_size;           /* rows of the word embedding = lines of vocab.txt */
    int max_position;         /* max_position_embeddings */
    int max_length;           /* effective max tokens per sentence (incl. [CLS]/[SEP]) */
    int dim;                  /* output embedding dimension (after the Dense modules) */
    labse_pooling pooling;
    int n_dense;              /* number of Dense modules after pooling (LaBSE: 1) */
    int normalize;            /* 1 when a Normalize module ends the pipeline */
    int lowercase;            /* tokenizer lower-cases (and strips accents per config) */
    int64_t parameters;       /* number of parameters of encoder + Dense modules */
    labse_device device;      /* the device the model's sessions run on */
    char device_name[128];    /* "cpu", or "cuda:N (GPU name)"; "(emulated)" in the emulation
                                 build used by the tests */
} labse_model_info;

/*
 * Load a model folder in the sentence-transformers layout: config.json, model.safetensors,
 * vocab.txt, tokenizer_config.json, sentence_bert_config.json, modules.json,
 * 1_Pooling/config.json, optional N_Dense/ modules and Normalize.
 * Every shape is read from the files and cross-checked; a malformed or hostile file is
 * refused with LABSE_E_FORMAT and a message naming the file and the fault.
 * Weights are memory-mapped (F32) or converted once to fp32 (F16, BF16).
 *   dir  folder path (NUL-terminated, not retained).
 *   opt  options (NULL = defaults; copied).
 *   out  receives the model on success; caller owns it and frees it with labse_model_free()
 *        after every session using it is freed. Untouched on failure.
 * Thread-safety: may be called from any thread.
 */
labse_status labse_model_load(const char *dir, const labse_options *opt, labse_model **out,
                              labse_error *err);

/* Free a model (NULL is a no-op). All its sessions must have been freed first. */
void labse_model_free(labse_model *m);

/* Fill *info with what was loaded. Thread-safe. */
void labse_model_get_info(const labse_model *m, labse_model_info *info);

/* Output embedding dimension (== info.dim). Thread-safe. */
int labse_model_dim(const labse_model *m);

/* Effective max tokens per sentence incl. [CLS] and [SEP]. Thread-safe. */
int labse_model_max_length(const labse_model *m);

/* Per-text facts reported by tokenisation. */
typedef struct labse_tok_info {
    int repaired;    /* 1 if the text had invalid UTF-8 (replaced by U+FFFD, then dropped) */
    int truncated;   /* 1 if pieces were cut to fit max_length */
} labse_tok_info;

/*
 * Tokenise one text exactly like the HuggingFace fast BERT tokenizer with the model's
 * vocabulary and settings: [CLS] pieces... [SEP], truncated to max_length.
 *   text, len  the bytes (need not be NUL-terminated; may contain NUL and invalid UTF-8).
 *   ids        output array of at least labse_model_max_length(m) entries.
 *   info       optional (NULL) per-text facts.
 * Returns the number of ids written (>= 2), or 0 with *err filled on failure (only
 * LABSE_E_NOMEM or LABSE_E_INVALID can occur).
 * Thread-safe: any number of threads may tokenise with one model concurrently.
 */
size_t labse_tokenize(const labse_model *m, const char *text, size_t len, int32_t *ids,
                      labse_tok_info *info, labse_error *err);

/* Create a session on the model's device. Caller owns *out; free with labse_session_free().
 * Thread-safety: sessions are independent; create one per thread. */
labse_status labse_session_new(const labse_model *m, labse_session **out, labse_error *err);

/* Free a session (NULL is a no-op). */
void labse_session_free(labse_session *s);

/* The last error message of this session ("" if none). Valid until the next call on it. */
const char *labse_session_errmsg(const labse_session *s);

/*
 * Encode n texts into out[n * dim] (row-major float32; row i is texts[i]).
 *   texts  n pointers to UTF-8 bytes (invalid bytes are repaired, see labse_tokenize).
 *   lens   n byte lengths, or NULL for NUL-terminated texts.
 *   out    caller-owned, n * labse_model_dim() floats.
 * Texts are tokenised (surrounding whitespace yields no token, so the result equals
 * sentence-transformers' str.strip() then tokenise), taken in windows of opt.window texts,
 * sorted by token count inside each window, packed padding-free into batches of at most
 * opt.batch_tokens tokens and batch_tokens * max_length / 2 squared lengths (a longer single
 * text is a batch of its own), encoded, and written back in input order. An empty text gets
 * the embedding of "[CLS] [SEP]". The windows and batches are those `labse encode` makes
 * for the same lines and options (windows from the first text of the call; the CLI also cuts
 * at every 1,000,000th line and, like this function, after 64 MiB of text), so for inputs of
 * up to a million lines the rows are bitwise equal to the CLI's on the same thread count;
 * the CPU GEMMs are not batch-invariant to the last bit (<= 1e-5 otherwise).
 * On a GPU two batches are in flight (the next one is packed and copied while one computes);
 * the rows are the same bytes as one batch at a time. On an error the call returns once no
 * batch is in flight any more (nothing writes to out after it returns); out is then partly
 * written and must not be used. The session stays usable.
 * Thread-safety: one thread per session at a time.
 */
labse_status labse_encode(labse_session *s, const char *const *texts, const size_t *lens,
                          size_t n, float *out, labse_error *err);

/* Cumulative counters of a session (since labse_session_new). */
typedef struct labse_stats {
    uint64_t texts;      /* texts encoded */
    uint64_t tokens;     /* tokens encoded, [CLS]/[SEP] included */
    uint64_t truncated;  /* texts cut to max_length */
    uint64_t repaired;   /* texts with invalid UTF-8 repaired */
    uint64_t batches;    /* batches run (one split for want of GPU memory counts once) */
    /* GPU only (0 on the CPU): surviving too little device memory. */
    uint64_t gpu_split_batches;   /* batches encoded in pieces because the GPU ran out of
                                     memory for them (halves, halved again down to one text;
                                     a later batch that large is split up front); the rows
                                     are those of the whole batch within fp16 rounding */
    uint64_t gpu_split_min;       /* the fewest texts in one such piece; 0 when none */
    uint64_t gpu_workspace_bytes; /* the cuBLASLt workspace (32 MiB, or 4 MiB or 0 when the
                                     GPU could not give 32 MiB; the smallest over the GPUs) */
    int gpu_workspace_reduced;    /* 1: the workspace is below 32 MiB (GEMMs may be slower) */
} labse_stats;

/* Copy the session's counters into *st. Same thread rules as labse_encode. The gpu_* fields
 * belong to the session's GPU context, which only this session's thread touches. */
void labse_session_stats(const labse_session *s, labse_stats *st);

/*
 * Encode n already-tokenised sequences, packed back to back.
 *   ids         total = cu_seqlens[n] token ids, each sequence [CLS] ... [SEP].
 *   cu_seqlens  n + 1 offsets, cu_seqlens[0] = 0, increasing; each length in 1..max_length.
 *   out         caller-owned, n * dim floats.
 * The sequences are encoded as one batch (the caller chose the packing).
 * Thread-safety: one thread per session at a time.
 */
labse_status labse_encode_ids(labse_session *s, const int32_t *ids, const int32_t *cu_seqlens,
                              size_t n, float *out, labse_error *err);

/* ==========================================================================================
 * Files and mining: the engines of `labse encode` and `labse mine`
 * ========================================================================================== */

/* The format of labse_encode_file's rows (README, "Output formats"); bytes per row for dim d. */
typedef enum labse_dtype {
    LABSE_DTYPE_F32 = 0,   /* float32 rows (the encoder's output); 4d, '<f4' */
    LABSE_DTYPE_F16 = 1,   /* float16, round to nearest even (numpy's astype(float16)); 2d */
    LABSE_DTYPE_BF16 = 2,  /* bfloat16, round to nearest even; 2d, stored as '<u2' bit
                              patterns (numpy has no bf16: x.astype('<u4') << 16 viewed as
                              float32 gives the values back); the manifest says "bfloat16" */
    LABSE_DTYPE_INT8 = 3,  /* int8 with per-dimension ranges (labse_file_options.calibration),
                              sentence-transformers' quantize_embeddings(x, "int8"); d, '|i1' */
    LABSE_DTYPE_UBINARY = 4, /* sign bits packed 8 a byte: numpy.packbits(x > 0, axis=-1) as
                              uint8; d/8, '|u1' (d must be a multiple of 8) */
    LABSE_DTYPE_BINARY = 5 /* ubinary - 128 as int8 (quantize_embeddings' "binary"); d/8 */
} labse_dtype;

/* A line longer than this many bytes is cut before tokenising (at its last ASCII space before
 * the cap, else at a UTF-8 character boundary) and counted as capped; its ids are those of the
 * whole line whenever the kept bytes already give max_length pieces (any natural text). */
#define LABSE_LINE_CAP ((size_t)1 << 20)

/* Progress of labse_encode_file, given to labse_file_options.progress. */
typedef struct labse_progress {
    uint64_t lines_done;       /* rows finished, rows resumed from a folder included */
    uint64_t lines_total;      /* lines of the input (or shard); 0 when unknown */
    uint64_t tokens;           /* tokens encoded by this call */
    uint64_t bytes_done;       /* input bytes consumed, from the start of the range */
    uint64_t bytes_total;      /* bytes of the range; 0 when unknown */
    double seconds;            /* since the call started */
    uint64_t run_lines;        /* rows encoded by this call (for rates) */
} labse_progress;

/* What labse_encode_file does with a bad record of a structured input. */
typedef enum labse_bad_record {
    LABSE_BAD_RECORD_ERROR = 0,  /* stop with an error naming the file and line */
    LABSE_BAD_RECORD_EMPTY = 1   /* encode it as an empty line and count it */
} labse_bad_record;

/* Options of labse_encode_file. Get defaults with labse_default_file_options(). */
typedef struct labse_file_options {
    labse_dtype dtype;     /* default LABSE_DTYPE_F32 */
    int tok_threads;       /* tokenizer threads; 0 = cores - 1, at least 1 (default) */
    uint64_t part_rows;    /* rows per part file of a folder output; default 1,000,000 */
    size_t window;         /* lines sorted by length together; 0 = the model's
                              labse_options.window (default) */
    int shard_index;       /* shard K of shard_count (0-based); default 0 */
    int shard_count;       /* default 1 = the whole input; > 1 needs a folder output */
    /* Called on the calling thread after a window is written, at most every
     * progress_interval seconds (and after the last window). NULL (default): none. */
    void (*progress)(const labse_progress *p, void *user);
    double progress_interval;  /* seconds; default 0.5 */
    /* Polled on the calling thread between batches; nonzero stops the run at the next
     * consistent point: a folder output keeps its complete parts and resumes on the next
     * call; a .npy output is not written. The call then returns LABSE_OK with
     * labse_file_stats.stopped = 1. It must be async-signal-safe to set what it reads (e.g.
     * a volatile sig_atomic_t set by a signal handler). NULL (default): never. */
    int (*should_stop)(void *user);
    void *user;            /* passed to progress and should_stop */
    /* Structured input (at most one of the two; README, "Input formats"). Each input line is
     * a record and row i is record i. Default: 0 / NULL, the line is the text. */
    int tsv_column;        /* > 0: the text is the record's tab-separated column N (1-based,
                              as `cut -f N`) */
    const char *jsonl_field; /* not NULL: the record is a JSON object and the text its string
                              field of this name; dots walk nested objects ("meta.text");
                              at most 200 bytes; copied by the call */
    labse_bad_record on_bad_record; /* a record without the column or field, or JSON that does
                              not parse: LABSE_BAD_RECORD_ERROR (default) fails with
                              LABSE_E_FORMAT naming the file and line; LABSE_BAD_RECORD_EMPTY
                              encodes it as an empty line, counted in bad_records */
    /* Quantised outputs (issue 12 §5), for dtype LABSE_DTYPE_INT8 only. */
    const char *calibration; /* a float32/float16 .npy (rows, dim) of embeddings whose
                              per-dimension min and max are the int8 ranges; NULL (default):
                              the ranges of the run's first window of rows (a folder output
                              records them in manifest.json and a resume reuses them). Shards
                              (shard_count > 1) require it, so that every shard shares the
                              ranges. Read by the call, not retained. */
    /* Exact deduplication (issue 12 section 4; README, "Deduplication"): identical lines
     * (after the line rules and record extraction) are encoded once and every duplicate gets
     * a byte-identical copy of its first occurrence's row (row i is still line i). Within a
     * part (part_rows lines; also for a .npy output) and among the last dedup_table distinct
     * lines of it: a duplicate beyond that is encoded again. Memory: dedup_table × dim × 4
     * bytes of rows + 64 MiB of text at most. A folder records it: a resume must match. */
    int dedup;             /* 1: on; default 0 */
    uint64_t dedup_table;  /* distinct lines remembered, 1..2^24; 0 = 65,536 (default) */
} labse_file_options;

/* Default file options, by value. Thread-safe. */
labse_file_options labse_default_file_options(void);

/* Longest output path labse_encode_file reports back (labse_file_stats.output). */
#define LABSE_PATH_MAX 4096

/* What labse_encode_file did. */
typedef struct labse_file_stats {
    uint64_t lines;            /* rows encoded by this call */
    uint64_t lines_resumed;    /* rows found complete in a folder output at start */
    uint64_t tokens;           /* tokens encoded, [CLS]/[SEP] included */
    uint64_t truncated;        /* lines cut to max_length */
    uint64_t repaired;         /* lines with invalid UTF-8 repaired */
    uint64_t capped;           /* lines over LABSE_LINE_CAP bytes cut before tokenising */
    uint64_t batches;          /* batches run (as labse_stats.batches) */
    double seconds;            /* wall time */
    int already_complete;      /* 1: the folder was complete; nothing done */
    int stopped;               /* 1: should_stop stopped the run (see labse_file_options) */
    int tok_threads;           /* tokenizer threads used */
    double tok_cpu_seconds;    /* summed over the tokenizer threads: time tokenising */
    double encode_seconds;     /* calling thread: packing, encoding, reordering */
    double wait_seconds;       /* calling thread: waiting for tokenised windows */
    double device_busy_seconds;/* GPU: seconds the device computed; 0 on the CPU */
    double device_span_seconds;/* GPU: first submit to last wait; the device waited for the
                                  host 1 - busy/span of it. 0 on the CPU */
    uint64_t gpu_split_batches;   /* GPU: batches encoded in pieces, out of device memory
                                     (labse_stats.gpu_split_batches); 0 on the CPU */
    uint64_t gpu_split_min;       /* GPU: the fewest lines in one such piece; 0 when none */
    uint64_t gpu_workspace_bytes; /* GPU: the cuBLASLt workspace (labse_stats); 0 on the CPU */
    int gpu_workspace_reduced;    /* GPU: 1 when it is below 32 MiB (out of device memory) */
    char output[LABSE_PATH_MAX]; /* what was written: the .npy, the folder, or the shard's
                                  folder OUT/shard-KKKKK-of-NNNNN */
    uint64_t bad_records;      /* bad records encoded as empty lines (LABSE_BAD_RECORD_EMPTY) */
    /* Deduplication (labse_file_options.dedup): */
    uint64_t duplicates;       /* rows copied from an identical earlier line (not encoded;
                                  counted in lines, not in tokens) */
} labse_file_stats;

/* 1 when labse_encode_file would write `output` as a folder of parts: the name ends in '/'
 * or names an existing folder whose name does not end in ".npy"; 0: one .npy file.
 * Thread-safe (it stats the path). */
int labse_output_is_folder(const char *output);

/*
 * Embed every line of a text file through the streaming pipeline of `labse encode` (same
 * windows, batches and bytes: the output equals `labse encode --input IN --output OUT` with
 * the same options, model options and thread count, byte for byte).
 *   input   path of the text (one sentence per line; '\n', a '\r' before it dropped);
 *           "-" reads standard input (a folder output of stdin cannot be resumed). A gzip,
 *           zstd or xz input (file or stdin, known by its magic bytes) is decompressed on
 *           the fly; rows equal those of the decompressed text. With tsv_column or
 *           jsonl_field each line is a record whose text is that column or field.
 *   output  "OUT.npy": one (lines, dim) array, written to a temporary, synced and renamed
 *           (nothing is left on failure); a folder - the name ends in '/' or is an existing
 *           folder not named *.npy - part-NNNNN.npy files of part_rows rows + manifest.json,
 *           resumed when an incomplete folder of the same input and settings exists. With
 *           shard_count > 1 the shard is written to OUT/shard-KKKKK-of-NNNNN/.
 *   opt     NULL = defaults (copied). Batch token budget and max_length: the model's.
 *           Progress reports and a stop request go through opt's callbacks.
 *   st      optional (NULL) counters; filled on LABSE_OK (also when stopped).
 * Never prints and installs no signal handler: `labse encode` prints its progress line from
 * opt->progress and stops on SIGINT/SIGTERM through opt->should_stop. Host memory is bounded by the options, not the input.
 * Errors: LABSE_E_INVALID (NULL argument, bad option, a folder of other settings),
 * LABSE_E_IO (input unreadable, output not writable), LABSE_E_NOMEM, encoder errors.
 * Thread-safety: m may be shared; the call uses its own session and threads. Two calls must
 * not write the same output.
 */
labse_status labse_encode_file(const labse_model *m, const char *input, const char *output,
                               const labse_file_options *opt, labse_file_stats *st,
                               labse_error *err);

/*
 * Many files in one run (issue 12 §2; README, "Many files"): embed every line of each input
 * of inputs[n] (n >= 1, in this order) into the folder `output` (made if missing; any name
 * but one ending in ".npy", which is refused):
 *   OUT/files.json                   the list: input paths, derived folder names and sizes,
 *                                    in order (the same bytes from every task)
 *   OUT/NAME/                        one input's part files + manifest.json, as
 *                                    labse_encode_file writes a folder
 *   OUT/NAME/shard-JJJJJ-of-MMMMM/   with shard_count N > 1, an input bigger than total/N
 *                                    bytes is cut into M byte ranges; others stay whole
 * NAME is the input's path with its '/'-separated components joined by "__" and bytes outside
 * [A-Za-z0-9._+-] (and a leading '.') replaced by '_'; two inputs with one NAME are refused
 * (LABSE_E_INVALID naming both). opt->shard_index/shard_count deal whole inputs (and ranges of
 * huge ones) to N tasks with balanced bytes, the same plan in every task (from the list and
 * the file sizes); a task writes only the folders it owns. Each folder resumes as
 * labse_encode_file's does; an existing files.json of another list is refused. Rows of the
 * whole (labse_merge of OUT alone, labse_embeddings_open of OUT): the list's order. The other
 * options, the progress callback (bytes over all the task's inputs, lines_total 0) and st
 * (sums; output = OUT) as labse_encode_file. Errors as labse_encode_file, plus
 * LABSE_E_INVALID for a file output, stdin ("-") or a NULL path in the list.
 * Thread-safety: as labse_encode_file.
 */
labse_status labse_encode_files(const labse_model *m, const char *const *inputs, size_t n,
                                const char *output, const labse_file_options *opt,
                                labse_file_stats *st, labse_error *err);

/*
 * The inputs named in the list file `list_path` (`labse encode --input-list`): one path a
 * line; '\n' ends a line and one '\r' before it is dropped; lines that are empty or only
 * blanks and tabs are skipped; every other line is a path as written (relative to the current
 * directory). *paths: a labse_free'd array of *n labse_free'd strings (free each, then the
 * array). Errors: LABSE_E_IO, LABSE_E_INVALID (no path, a NUL byte), LABSE_E_NOMEM.
 * Thread-safety: reentrant.
 */
labse_status labse_read_input_list(const char *list_path, char ***paths, size_t *n,
                                   labse_error *err);

typedef enum labse_margin {
    LABSE_MARGIN_RATIO = 0,     /* cos(x,y) / b */
    LABSE_MARGIN_DISTANCE = 1,  /* cos(x,y) - b */
    LABSE_MARGIN_ABSOLUTE = 2   /* cos(x,y) */
} labse_margin;

typedef enum labse_retrieval {
    LABSE_RETRIEVAL_FORWARD = 0,    /* each source with its best target */
    LABSE_RETRIEVAL_BACKWARD = 1,   /* each target with its best source */
    LABSE_RETRIEVAL_INTERSECT = 2,  /* forward pairs whose target's best source is the source */
    LABSE_RETRIEVAL_MAX = 3         /* forward + backward, each row used at most once */
} labse_retrieval;

/* Options of labse_mine. Get defaults with labse_default_mine_options(). */
typedef struct labse_mine_options {
    int k;                        /* neighbours; default 4; lowered to min(ns, nt) */
    labse_margin margin;          /* default LABSE_MARGIN_RATIO */
    labse_retrieval retrieval;    /* default LABSE_RETRIEVAL_MAX */
    double threshold;             /* keep score >= threshold; NaN (default) keeps all */
    int threads;                  /* OpenMP threads; 0 = all (default) */
    size_t block_rows;            /* rows per similarity block; default 2048 */
    labse_device device;          /* where the k-NN search runs: default LABSE_DEVICE_CPU;
                                     CUDA: fp32 tiles on the GPU, same pairs as the CPU up to
                                     near-ties closer than fp32 rounding, k <= 64; AUTO: the GPU
                                     when the build has one and a device is present */
    int cuda_device;              /* GPU ordinal; default 0 */
} labse_mine_options;

/* Default mining options, by value. Thread-safe. */
labse_mine_options labse_default_mine_options(void);

/* One mined pair: row src of the source matrix translates row tgt of the target matrix. */
typedef struct labse_pair {
    double score;    /* the margin score */
    uint64_t src;    /* 0-based source row */
    uint64_t tgt;    /* 0-based target row */
} labse_pair;

/*
 * Bitext mining, the engine of `labse mine --src-emb A --tgt-emb B` (same pairs, same scores,
 * same order): exact k-NN by cosine both ways over L2-normalised rows, margin scoring
 * (Artetxe & Schwenk 2019) and the retrieval mode; see `labse mine --help`.
 *   src    ns x dim float32, row-major (not modified; rows normalised on the fly).
 *   tgt    nt x dim float32, row-major.
 *   opt    NULL = defaults.
 *   pairs  receives a malloc'ed array of *n_pairs pairs sorted by score descending, ties by
 *          src then tgt ascending; NULL when *n_pairs == 0. The caller frees it with
 *          labse_free(). Both untouched on failure.
 * Errors: LABSE_E_INVALID (NULL argument, ns or nt 0, dim 0, bad option, more than
 * 4294967294 rows), LABSE_E_FORMAT (a row with NaN/inf or zero norm; the message names the
 * matrix "src"/"tgt" and the row), LABSE_E_NOMEM. Memory: about threads x block_rows x
 * (block_rows + dim) x 4 bytes plus (ns + nt) x k x 8 bytes.
 * Thread-safety: reentrant; runs on its own OpenMP threads.
 */
labse_status labse_mine(const float *src, size_t ns, const float *tgt, size_t nt, size_t dim,
                        const labse_mine_options *opt, labse_pair **pairs, size_t *n_pairs,
                        labse_error *err);

/* Parse a margin name: "ratio" | "distance" | "absolute" (as `labse mine --margin`).
 * Returns 1 and sets *out, or 0 (out untouched) for an unknown or NULL name. Thread-safe. */
int labse_margin_parse(const char *name, labse_margin *out);

/* Parse a retrieval name: "forward" | "backward" | "intersect" | "max". As above. */
int labse_retrieval_parse(const char *name, labse_retrieval *out);

/* The name of a margin / retrieval mode ("ratio", "max", ...); "?" for an unknown value.
 * Static storage; never NULL. Thread-safe. */
const char *labse_margin_name(labse_margin m);
const char *labse_retrieval_name(labse_retrieval r);

/* ==========================================================================================
 * Text input: the line rules of `labse encode`, `labse tokenize`, `labse mine`...
 * ========================================================================================== */

/*
 * labse_text: the whole of one input in memory, split into lines.
 * Line rules (the same for every `labse` command):
 *   - lines are separated by '\n';
 *   - one '\r' directly before the '\n' is removed (CRLF files), and so is one '\r' that ends
 *     the input (a CRLF file whose last line lost its '\n'); a '\r' anywhere else is kept;
 *   - a last line without '\n' still counts; an input that ends with '\n' has no extra empty
 *     line after it;
 *   - empty lines count;
 *   - every other byte, NUL and invalid UTF-8 included, is kept as it is.
 * So: "" -> 0 lines, "\n" -> 1 empty line, "a" -> 1, "a\n" -> 1, "a\n\nb" -> 3, "a\r\n" -> "a".
 * A regular file is memory-mapped (constant heap memory for its bytes, plus 16 bytes per
 * line for the line table); stdin and pipes are read into a heap buffer, and so is a gzip,
 * zstd or xz input (known by its first bytes), decompressed.
 * Immutable once read: any number of threads may read lines from one labse_text.
 */
typedef struct labse_text labse_text;

/*
 * Read and split the whole of `path`; "-" means standard input.
 *   path  NUL-terminated, not retained.
 *   out   receives the text (caller frees with labse_text_free()). Untouched on failure.
 * Errors: LABSE_E_IO with "PATH: reason" (open/stat/read/mmap failed, PATH is a folder),
 * LABSE_E_FORMAT (a corrupt or truncated compressed input), LABSE_E_NOMEM, LABSE_E_INVALID
 * (NULL argument).
 * Thread-safety: reentrant; reading "-" from two threads at once is the caller's problem.
 */
labse_status labse_text_read(const char *path, labse_text **out, labse_error *err);

/* Number of lines (by the rules above). 0 for NULL. Thread-safe. */
size_t labse_text_count(const labse_text *t);

/*
 * Line i (0-based, i < labse_text_count(t)): a pointer to its first byte, its byte length in
 * *len (without the '\n' and the removed '\r'; len may be NULL). The bytes are NOT
 * NUL-terminated and may contain NUL; they stay valid until labse_text_free(t). NULL (and
 * *len = 0) when t is NULL or i is out of range; an empty line gives a non-NULL pointer.
 * Thread-safe.
 */
const char *labse_text_line(const labse_text *t, size_t i, size_t *len);

/* Free a text (NULL is a no-op): unmaps or frees its bytes; every line pointer dies. */
void labse_text_free(labse_text *t);

/* ==========================================================================================
 * Embedding matrices, mining and evaluation over them (the engines of `labse mine` and
 * `labse eval`)
 * ========================================================================================== */

/*
 * labse_embeddings: a read-only (rows, dim) matrix of sentence embeddings, whatever its
 * storage: a float32/float16/bfloat16 ('<u2' bits) .npy file or a part folder of `labse
 * encode` (memory-mapped, never copied whole; the quantised formats int8, ubinary and
 * binary are refused with LABSE_E_UNSUPPORTED), a caller's float32 array, or texts just encoded. At most 4294967294
 * rows. Immutable after creation: any number of threads may use one concurrently (create and
 * free from one thread).
 */
typedef struct labse_embeddings labse_embeddings;

/*
 * Open `path`: a .npy file ('<f4', '<f2' or '<u2' = bfloat16 bits, 2-D, C order), a folder
 * holding the manifest.json of `labse encode` (parts in order, contiguous, each checked for
 * its exact size), or a many-files output of labse_encode_files (a folder holding files.json:
 * every input present and complete, rows in the list's order, as labse_merge joins them). The
 * name (labse_embeddings_name) is `path`.
 *   out  receives the matrix (caller frees with labse_embeddings_free()). Untouched on failure.
 * Errors: LABSE_E_IO (open/map), LABSE_E_FORMAT (bad header, size or manifest, not 2-D, too
 * many rows, dim 0), LABSE_E_UNSUPPORTED (int8/uint8 rows: a quantised output of labse
 * encode --format int8/ubinary/binary, file or folder), LABSE_E_NOMEM, LABSE_E_INVALID (NULL
 * argument). Messages name the file.
 * Thread-safety: reentrant.
 */
labse_status labse_embeddings_open(const char *path, labse_embeddings **out, labse_error *err);

/*
 * Wrap rows x dim float32 values, row-major, WITHOUT copying them: `data` must stay valid and
 * unchanged until labse_embeddings_free(). `name` (copied; NULL = "embeddings") is used in
 * messages. rows may be 0 (mining and evaluation refuse an empty matrix); dim >= 1.
 * Errors: LABSE_E_INVALID (NULL data with rows > 0, dim 0, too many rows), LABSE_E_NOMEM.
 * Thread-safety: reentrant.
 */
labse_status labse_embeddings_wrap(const float *data, uint64_t rows, size_t dim,
                                   const char *name, labse_embeddings **out, labse_error *err);

/*
 * Encode n texts with session s of model m (labse_encode in chunks of 4096 texts, so the rows
 * equal labse_encode's) into a new in-memory (n, labse_model_dim(m)) matrix named `name`
 * (copied; NULL = "texts"). texts/lens as for labse_encode (lens NULL: NUL-terminated).
 * Resident: n x dim floats (for corpora that do not fit, `labse encode` to a folder then
 * labse_embeddings_open).
 * Errors: the encoder's, prefixed with "NAME: lines A..B"; LABSE_E_FORMAT when the encoder
 * gives a non-finite value; LABSE_E_NOMEM; LABSE_E_INVALID (NULL argument, s not of m is the
 * caller's bug and not detected).
 * Thread-safety: one thread per session at a time (as labse_encode).
 */
labse_status labse_embeddings_encode(labse_session *s, const labse_model *m,
                                     const char *const *texts, const size_t *lens, size_t n,
                                     const char *name, labse_embeddings **out, labse_error *err);

/* Free a matrix (NULL is a no-op): unmaps its files, frees what it owns (never a wrapped
 * caller array). */
void labse_embeddings_free(labse_embeddings *e);

/*
 * Copy rows [row0, row0 + n) into out[n * dim] as float32 (float16 files widened exactly).
 * Returns LABSE_E_INVALID (nothing copied) when e or out is NULL (with n > 0) or the range
 * passes the last row. Thread-safe: any number of threads may read one matrix at once.
 */
labse_status labse_embeddings_read(const labse_embeddings *e, uint64_t row0, size_t n,
                                   float *out, labse_error *err);

/* Rows, dimension and name (the path, or the name given). 0 / 0 / "" for NULL. The name
 * lives as long as e. Thread-safe. */
uint64_t labse_embeddings_rows(const labse_embeddings *e);
size_t labse_embeddings_dim(const labse_embeddings *e);
const char *labse_embeddings_name(const labse_embeddings *e);

/*
 * Bitext mining over two embedding matrices: the same pairs, scores and order as labse_mine
 * on the same rows (the engine of `labse mine`).
 *   opt     NULL = defaults. opt->k above min(rows(src), rows(tgt)) is lowered to it.
 *           Device: as labse_mine_options.device; with LABSE_DEVICE_AUTO a k (after lowering)
 *           above 64, which the GPU search does not take, runs on the CPU instead of failing.
 *   pairs   receives a malloc'ed array of *n_pairs pairs (NULL when 0), ordered as labse_mine;
 *           free with labse_free(). Both untouched on failure.
 *   k_used  optional (NULL): the k searched with.
 * Errors: LABSE_E_INVALID (NULL argument, a matrix with no rows: "NAME: no rows ...", unequal
 * dims: "dimension mismatch ...", bad option), LABSE_E_FORMAT (a row with NaN/inf or zero
 * norm; the message names the matrix and the row), LABSE_E_UNSUPPORTED (device CUDA without
 * a GPU), LABSE_E_NOMEM, LABSE_E_CUDA. Memory as labse_mine.
 * Thread-safety: reentrant; runs on its own OpenMP threads.
 */
labse_status labse_mine_embeddings(const labse_embeddings *src, const labse_embeddings *tgt,
                                   const labse_mine_options *opt, labse_pair **pairs,
                                   size_t *n_pairs, int *k_used, labse_error *err);

/* Retrieval accuracies of aligned corpora (row i of src translates row i of tgt), fractions
 * in [0, 1]: is a row's best candidate on the other side its own translation? */
typedef struct labse_eval_result {
    uint64_t n;                 /* rows (pairs) */
    double cos_src2tgt;         /* by cosine (nearest neighbour; the lower index on ties) */
    double cos_tgt2src;
    double margin_src2tgt;      /* by margin (the best of the k nearest, as labse_mine) */
    double margin_tgt2src;
} labse_eval_result;

/*
 * Tatoeba-style evaluation (the engine of `labse eval`): the k-NN of labse_mine_embeddings
 * both ways, then the accuracies above.
 *   opt     NULL = defaults; uses k (lowered to the row count), margin, threads, block_rows,
 *           device and cuda_device (with the same AUTO rule); retrieval and threshold are
 *           ignored.
 *   res     receives the result. Untouched on failure.
 *   k_used  optional (NULL): the k searched with.
 * Errors: as labse_mine_embeddings, and LABSE_E_INVALID when the row counts differ.
 * Thread-safety: reentrant; runs on its own OpenMP threads.
 */
labse_status labse_eval_embeddings(const labse_embeddings *src, const labse_embeddings *tgt,
                                   const labse_mine_options *opt, labse_eval_result *res,
                                   int *k_used, labse_error *err);

/*
 * Write mined pairs as the TSV of `labse mine`: one pair a line,
 *   "%.8f\t%u\t%u\n"  (score, source row, target row), or, when both texts are given,
 *   "%.8f\t%u\t%u\tSOURCE\tTARGET\n" with the texts' lines src_text[src] and tgt_text[tgt]
 *   (a tab inside a text is written as a space; other bytes as they are).
 *   path      "-" = standard output (flushed, not closed); otherwise written to
 *             "PATH.tmp.PID" (created exclusively), fsync'ed and renamed over PATH; nothing
 *             is left behind on failure.
 *   pairs     n pairs (NULL when n == 0); rows must fit in 32 bits.
 *   src_text, tgt_text  optional (either NULL: no text columns); a pair's row must be a line
 *             of its text (LABSE_E_INVALID otherwise, checked before anything is written).
 * Errors: LABSE_E_IO "PATH.tmp.PID: cannot create: reason" / "PATH: write failed: reason" /
 * "stdout: write failed: reason"; LABSE_E_INVALID (NULL path, bad row).
 * Thread-safety: reentrant for distinct paths; "-" shares stdout with the caller.
 */
labse_status labse_write_pairs_tsv(const char *path, const labse_pair *pairs, size_t n,
                                   const labse_text *src_text, const labse_text *tgt_text,
                                   labse_error *err);

/*
 * Join the complete shard folders of one `labse encode --shard K/N` run (all N, any order),
 * the engine of `labse merge`:
 *   out_dir     the merged folder (part files hard-linked, or copied across file systems, and
 *               renumbered; one manifest.json), or NULL for none;
 *   shard_dirs  n >= 1 shard folder paths;
 *   npy_path    also concatenate every row into one .npy (atomic; each part's sha256 checked
 *               on the way), or NULL. At least one of out_dir and npy_path.
 *   rows        optional (NULL): receives the total row count.
 * Refused unless every shard is complete and they share the input (size + fingerprint),
 * model, dim, format (dtype, and the int8 calibration ranges) and shard count, with
 * contiguous byte and line ranges, and, when the
 * input file is at its recorded path (with its recorded size), unless its bytes under every
 * part still hash to the part's input_sha256 (skipped when the input is absent).
 * A many-files output (a folder holding files.json, labse_encode_files) is given alone (n = 1)
 * with npy_path and out_dir NULL: its rows are concatenated in the list's order, each input's
 * shard folders checked as above; refused (LABSE_E_INVALID naming the input and its folder)
 * unless every input of the list is present and complete.
 * Errors: LABSE_E_INVALID (NULL/empty arguments, shards that do not fit together; the message
 * says why), LABSE_E_IO, LABSE_E_FORMAT (a damaged shard), LABSE_E_NOMEM.
 * Thread-safety: reentrant for distinct outputs.
 */
labse_status labse_merge(const char *out_dir, const char *const *shard_dirs, int n,
                         const char *npy_path, uint64_t *rows, labse_error *err);

/* Free memory the library returned to the caller (labse_mine's and
 * labse_mine_embeddings' pairs). NULL is a no-op. */
void labse_free(void *p);

/* Remove the temporary files ("<final name>.tmp.<pid>") of every output this process is
 * writing now through the library. Every output (.npy, part, manifest, pairs TSV) is written
 * to a temporary and renamed onto its final name only when complete, so an interrupted
 * process never leaves a partial file under a final name; calling this from a SIGINT/SIGTERM
 * handler, just before the process ends, also leaves no temporary behind (`labse` does so
 * for every command). The interrupted writers' later calls fail. Async-signal-safe; any
 * thread; tracks up to 64 files being written at once. */
void labse_remove_temporaries(void);

/* ==========================================================================================
 * Benchmark: the encoder alone (the engine of `labse bench`'s encoder-only phase)
 * ========================================================================================== */

/* What labse_bench_encoder measured. */
typedef struct labse_bench_result {
    char backend[128];         /* the device the batches ran on ("cpu", "cuda:0 (NAME)") */
    int in_flight;             /* batches kept in flight (1 on the CPU; 2 per GPU) */
    int batch_tokens;          /* the model's token budget of one batch */
    int repeat;                /* timed runs (after one warm-up run) */
    uint64_t sentences;        /* texts encoded per run */
    uint64_t tokens;           /* tokens per run, [CLS]/[SEP] included */
    uint64_t batches;          /* batches per run */
    uint64_t sum_len_sq;       /* Σ len² over the texts (attention work) */
    double seconds;            /* the best timed run */
    double device_busy_s;      /* GPU: seconds the device computed over all runs (else 0) */
    double device_span_s;      /* GPU: first submit to last wait over all runs (else 0);
                                  device_busy_s / device_span_s is the busy fraction */
} labse_bench_result;

/*
 * Time the encoder alone: the n texts are tokenised and packed first exactly as labse_encode
 * packs them (windows of labse_options.window texts, sorted by length, batches cut on the
 * token and attention budgets), then only the device runs them: 1 + repeat runs through the
 * streaming backend of the model's device (pinned buffers and batches in flight on the GPU,
 * copies both ways included); the first run is a warm-up (allocation, algorithm choice),
 * out->seconds is the best of the other `repeat`.
 *   texts, lens  n texts (n may be 0; lens NULL: NUL-terminated; a NULL text is empty);
 *                not retained.
 *   repeat       >= 1.
 *   out          filled on success (caller-owned).
 * Memory: the packed ids of all n texts (4 bytes a token) plus one batch per slot in flight.
 * Errors: LABSE_E_INVALID (NULL argument, repeat < 1), LABSE_E_NOMEM, encoder errors;
 * the message says which step failed ("tokenize", "backend", "encode").
 * Thread-safety: m may be shared; the call makes and frees its own backend.
 */
labse_status labse_bench_encoder(const labse_model *m, const char *const *texts,
                                 const size_t *lens, size_t n, int repeat,
                                 labse_bench_result *out, labse_error *err);

#ifdef __cplusplus
}
#endif
#endif /* LABSE_H */
