#!/usr/bin/env python3
"""perf_model.py — an analytic performance model of labse's GPU encoder (LaBSE shapes).

No kernel of this project has run on a GPU yet: every GPU speed figure of the project comes from
this model until hardware confirms it. It is a roofline per kernel launch:

    time(kernel) = max(flop time, HBM byte time, shared-memory time, CUDA-core time)
                   + launches x launch gap

    flop time   executed tensor FLOPs / (card's dense peak x efficiency of that shape class)
    byte time   bytes moved to/from HBM / (card's HBM bandwidth x achievable fraction)
    smem time   shared-memory bytes (attention only) / (SMs x 128 B/clk x clock x efficiency)
    core time   softmax instruction slots (attention only) / (SMs x 128 lanes x clock)

summed over the kernels of every batch, the batches cut from the real length distribution of the
bitext exactly as src/pipeline/pack.c cuts them (windows of 32,768 lines in corpus order, each
sorted by token count, cut on the token budget batch_tokens and the attention budget
sum(len^2) <= batch_tokens x max_length / 2). Batches run back to back on the compute stream;
the host-device copies (other streams) and the host (tokenising: ~15 M tokens/s a core,
bench/RESULTS.md) are assumed hidden.

Three paths:
  basic  today's src/gpu/gpu_forward.c: per layer QKV GEMM (bias epilogue), lb_attention
         (64-row query tile per (sequence, head), wmma with S, P and O through shared memory),
         out GEMM (bias), lb_add_layernorm (reads x and tmp), up GEMM (bias), lb_bias_act (GELU
         pass), down GEMM (bias), lb_add_layernorm; plus embed+LN, pool, Dense GEMM, tanh pass,
         L2: 1 + 12 x 8 + 4 = 101 launches a batch, no CUDA Graphs.
  fused  the planned fp16 path: residual folded into the out and down GEMMs (beta = 1, the
         LayerNorm reads one tensor), GELU in the up GEMM's epilogue, attention packing several
         (sequence, head) pairs per block (16-row granularity, S/P/O in registers), CUDA Graphs
         per token-count bucket (T rounded up to the bucket): 89 launches.
  fp8    fused with the four big GEMMs in FP8 E4M3 (2x the fp16 tensor rate), as built
         (src/gpu/gpu_forward.c, layer_fp8): the LayerNorms write fp16 + the fp8 copy + one
         fp32 scale per token (the QKV and up GEMMs' inputs); attention writes the context and
         the up GEMM's epilogue the GELU output directly as E4M3 with one static scale per
         layer (a bound derived from the weights at load, src/gpu/gpu_model.c), so no
         quantise pass runs inside a layer; one after the embedding: 1 launch more than fused.

Every assumption is a named constant in ASSUMPTIONS below (value + one-line justification),
overridable with --set NAME=VALUE. The length histogram is cached in bench/data/
bitext_lengths.json (regenerate: --regen-lengths, which needs the `tokenizers` package, e.g.
.venv/bin/python bench/perf_model.py --regen-lengths; --tokenizer and --bitext
name the inputs, default models/labse-random/tokenizer.json and ../shared/data/bitext). The report needs only the
standard library:

    python3 bench/perf_model.py                 # report (a second or two)
    python3 bench/perf_model.py --self-test     # closed-form FLOP and packing checks
    python3 bench/perf_model.py --set ATTN_EFF_FUSED=0.25 --set LAUNCH_GAP_US=4

Measured vs predicted: the script reads bench/RESULTS.md (--results) for GPU figures in one
format only: a markdown table whose header row has (case-insensitive, any order, other columns
ignored) the columns `gpu`, `path` and `tokens_per_s`, optionally `kernel` and `us_per_batch`.
A row whose kernel is empty or `total` gives the whole encoder's tokens/s over the bitext; a row
naming a kernel key of this model (gemm_qkv, attention, gemm_out, add_layernorm, ...) gives that
kernel's mean microseconds per batch (all its launches in one batch summed). `gpu` is
nvidia-smi's name: "H100" (not "PCIe") maps to the H100 SXM model, "H200" to the H200 model;
`path` is basic, fused or fp8. Numbers may carry thousands separators. Example:

    | date | gpu | path | kernel | tokens_per_s | us_per_batch | commit |
    |---|---|---|---|---|---|---|
    | 2026-12-10 | NVIDIA H100 80GB HBM3 | basic | total | 2,300,000 | | 83f242b |
    | 2026-12-10 | NVIDIA H100 80GB HBM3 | basic | attention | | 1,020 | 83f242b |

With no such table the report says "no GPU figures" and shows predictions only.

The GPU suite's own figures come as JSON (--measured, default bench/data/gpu_measured.json when
it exists; tools/gpu_suite.sh writes it to $OUT through bench/gpu_measured.py, whose docstring
defines the format "labse-gpu-measured/1"). For it the report prints:
  - per kernel: bench_gpu_kernels' median microseconds per launch beside the model's time of
    one launch of the basic path (the kernels bench_gpu_kernels times) for the bench's batch
    (its token count, lengths 20..60 spread evenly, no launch gap: each launch is timed alone
    between events), and measured / predicted;
  - end to end: each run's tokens/s (labse bench on the bitext; and its "encoder alone"
    figure, the one the model's assumption "copies and host hidden" describes) beside the
    prediction of the path it ran (LABSE_GPU_PATH basic or fused; "default" is compared with
    basic), and measured / predicted.
A file marked "emulated" (an emulation build: CPU times) is listed, never compared.

    python3 bench/perf_model.py --measured path/to/gpu_measured.json
"""
import argparse
import glob
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LENGTHS_FILE = os.path.join(HERE, "data", "bitext_lengths.json")
RESULTS_FILE = os.path.join(HERE, "RESULTS.md")
MEASURED_FILE = os.path.join(HERE, "data", "gpu_measured.json")

# ---- the model (LaBSE: BERT-base shapes) -------------------------------------------------------
LAYERS, H, HEADS, HEAD_DIM, FF, DENSE_OUT = 12, 768, 12, 64, 3072, 768
VOCAB, MAX_LENGTH = 501153, 256
BATCH_TOKENS, WINDOW = 16384, 32768          # labse_options defaults (src/api/labse.c)

# ---- cards ---------------------------------------------------------------------------------
# fp16/fp8: dense tensor peaks (NVIDIA datasheet, no sparsity). clock: the one at which 132 SMs
# x 4096 dense fp16 FLOP/clk give 989.4 TFLOP/s, used for the shared-memory and CUDA-core rates.
CARDS = {
    "H100 SXM": {"fp16": 989.4e12, "fp8": 1978.9e12, "hbm": 3.35e12, "sms": 132, "clock": 1.83e9},
    "H200": {"fp16": 989.4e12, "fp8": 1978.9e12, "hbm": 4.8e12, "sms": 132, "clock": 1.83e9},
}

# ---- assumptions: NAME: (value, justification). --set NAME=VALUE overrides. -------------------
ASSUMPTIONS = {
    "GEMM_EFF_QKV": (0.75, "T x 768 -> 2304, K = 768: cuBLASLt fp16 on H100 reaches ~70-80% at large M"),
    "GEMM_EFF_OUT": (0.68, "T x 768 -> 768: short K loop (12 steps of 64) and narrow N amortise the prologue/epilogue less"),
    "GEMM_EFF_UP": (0.78, "T x 768 -> 3072: the widest shape, best case of the class"),
    "GEMM_EFF_DOWN": (0.75, "T x 3072 -> 768: long K loop, narrow N"),
    "GEMM_EFF_DENSE": (0.50, "n x 768 -> 768 on ~10^2-10^3 pooled rows: a small GEMM"),
    "GEMM_TILE_M": (128, "CTA tile rows assumed for wave quantisation (cuBLASLt Hopper fp16 kernels: 128 x 256)"),
    "GEMM_TILE_N": (256, "CTA tile columns assumed for wave quantisation"),
    "GEMM_WAVE_QUANT": (1, "1: apply wave quantisation (tiles / (waves x SMs)) on top of GEMM_EFF_* (the class figures are full-wave)"),
    "GEMM_GELU_EPILOGUE_SLOWDOWN": (1.05, "erf-GELU on every output element in the up GEMM's epilogue: ~5% on a ~80 us GEMM"),
    "FP8_EFF_RATIO": (0.85, "an FP8 GEMM reaches a lower fraction of its 2x peak than fp16 does (operand feed, scaling epilogue)"),
    "BW_FRAC": (0.87, "achievable fraction of HBM bandwidth for streaming kernels and GEMM operands (STREAM-like ~85-90%)"),
    "BW_FRAC_GATHER": (0.70, "embedding rows gathered at random from a 770 MB table (1.5 KiB rows)"),
    "LAUNCH_GAP_US": (3.0, "idle gap per dependent kernel launch on one stream without CUDA Graphs (~2-4 us)"),
    "LAUNCH_GAP_GRAPH_US": (1.0, "the same inside a CUDA Graph (~1 us)"),
    "GRAPH_BUCKET_TOKENS": (256, "graphs captured per token-count bucket: a batch's T is rounded up to a multiple of this"),
    "ATTN_EFF_BASIC": (0.25, "lb_attention's wmma 16x16x16 with fragments reloaded from shared memory: mma.sync-class, no wgmma"),
    "ATTN_EFF_FUSED": (0.35, "FlashAttention-2-class kernel (mma.sync, S/P in registers) on H100 at d = 64: ~350 TFLOP/s"),
    "ATTN_SMEM_EFF": (0.60, "fraction of the 128 B/clk/SM shared-memory bandwidth reached (wmma fp32 stores, barriers)"),
    "ATTN_CORE_OPS_BASIC": (20, "CUDA-core instruction slots per padded score (scale, max, ex2 at 8 slots, sum, cvt, O rescale)"),
    "ATTN_CORE_OPS_FUSED": (12, "the same with S/P/O in registers"),
    "ATTN_FUSED_ROW_GRAN": (16, "fused attention pads each (sequence, head) to whole 16-row warp tiles (query rows)"),
    "ATTN_FUSED_KV_GRAN": (16, "and keys to multiples of 16 (the mma k dimension)"),
}
A = {k: v[0] for k, v in ASSUMPTIONS.items()}

PATHS = ("basic", "fused", "fp8")


# ---- lengths ---------------------------------------------------------------------------------
def regen_lengths(bitext_dir, tokenizer_path, out_path, max_length=MAX_LENGTH, window=WINDOW):
    """Tokenise every line of both columns of bitext_dir/*.tsv, in the order bench/run_gpu.sh
    feeds them (files in C-locale glob order, fields 1..NF of each line), with LaBSE's tokenizer
    (BertWordPiece, cased, strip_accents None, Chinese characters split; [CLS] + [SEP]),
    truncated to max_length; write per-window length histograms (windows of `window` lines:
    within a window the packer only sees the multiset of lengths, so this packs exactly)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    from tokenizers import Tokenizer  # only this option needs it
    tok = Tokenizer.from_file(tokenizer_path)
    tok.no_truncation()
    tok.no_padding()
    files = sorted(glob.glob(os.path.join(bitext_dir, "*.tsv")))
    if not files:
        sys.exit("perf_model: no *.tsv in %s" % bitext_dir)
    texts = []
    for f in files:
        with open(f, encoding="utf-8", newline="\n") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line == "":
                    continue  # awk -F'\t' prints no field of an empty line
                texts.extend(line.split("\t"))
    lens = []
    for i in range(0, len(texts), 4096):
        lens.extend(min(len(e.ids), max_length) for e in tok.encode_batch(texts[i:i + 4096]))
    wins = []
    for w0 in range(0, len(lens), window):
        h = {}
        for l in lens[w0:w0 + window]:
            h[l] = h.get(l, 0) + 1
        wins.append({"lines": len(lens[w0:w0 + window]), "hist": sorted(h.items())})
    total = {}
    for l in lens:
        total[l] = total.get(l, 0) + 1
    doc = {
        "about": "token counts per sentence ([CLS]/[SEP] included, truncated to max_length) of "
                 "every line of both columns of the bitext, per packer window; regenerate with "
                 "bench/perf_model.py --regen-lengths",
        "bitext": os.path.basename(os.path.normpath(bitext_dir)) + "/*.tsv (%d files)" % len(files),
        "tokenizer": "LaBSE tokenizer.json (BertWordPiece, cased, strip_accents None, chinese chars split)",
        "max_length": max_length, "window": window, "lines": len(lens), "tokens": sum(lens),
        "windows": wins, "hist": sorted(total.items()),
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as fh:
        json.dump(doc, fh, separators=(",", ":"))
        fh.write("\n")
    print("perf_model: %d lines, %d tokens, %d windows -> %s" % (len(lens), sum(lens), len(wins), out_path))


def load_windows(path):
    with open(path) as fh:
        doc = json.load(fh)
    return doc, [[(int(l), int(c)) for l, c in w["hist"]] for w in doc["windows"]]


# ---- packing (src/pipeline/pack.c) -------------------------------------------------------------
def budgets(batch_tokens, max_length):
    """lb_pack_budget_of: tokens = batch_tokens, attn = batch_tokens x max_length / 2."""
    return batch_tokens, batch_tokens * max_length // 2


def pack_window(hist, batch_tokens, max_length):
    """lb_bucket_order + lb_batch_cut over one window given as [(len, count)]: returns batches as
    run-length lists [(len, count)] (ascending lengths; a single text always fits)."""
    btok, battn = budgets(batch_tokens, max_length)
    out, cur, tok, sq = [], [], 0, 0
    for l, c in sorted(hist):
        for _ in range(c):
            if cur and (tok + l > btok or sq + l * l > battn):
                out.append(cur)
                cur, tok, sq = [], 0, 0
            if cur and cur[-1][0] == l:
                cur[-1] = (l, cur[-1][1] + 1)
            else:
                cur.append((l, 1))
            tok += l
            sq += l * l
    if cur:
        out.append(cur)
    return out


def batch_stats(b):
    return (sum(l * c for l, c in b), sum(c for _, c in b), sum(l * l * c for l, c in b))


# ---- kernels -------------------------------------------------------------------------------
class Kernel:
    """One kernel (or its `launches` launches in one batch): executed tensor FLOPs at `rate`
    (FLOP/s), HBM bytes, shared-memory bytes, CUDA-core instruction slots; `useful` FLOPs."""
    __slots__ = ("key", "label", "launches", "flops", "rate", "bytes", "bw", "smem", "core",
                 "useful")

    def __init__(self, key, label, launches, flops=0.0, rate=1.0, bytes_=0.0, bw=1.0, smem=0.0,
                 core=0.0, useful=0.0):
        self.key, self.label, self.launches = key, label, launches
        self.flops, self.rate, self.bytes, self.bw = flops, rate, bytes_, bw
        self.smem, self.core, self.useful = smem, core, useful

    def time(self, card, gap):
        c = CARDS[card]
        terms = {
            "flop": self.flops / self.rate if self.flops else 0.0,
            "hbm": self.bytes / (c["hbm"] * self.bw),
            "smem": self.smem / (c["sms"] * 128 * c["clock"] * A["ATTN_SMEM_EFF"]),
            "core": self.core / (c["sms"] * 128 * c["clock"]),
        }
        bound = max(terms, key=terms.get)
        return terms[bound] + self.launches * gap, bound


def wave_eff(m, n, sms):
    if not A["GEMM_WAVE_QUANT"]:
        return 1.0
    tm, tn = int(A["GEMM_TILE_M"]), int(A["GEMM_TILE_N"])
    tiles = math.ceil(m / tm) * math.ceil(n / tn)
    waves = math.ceil(tiles / sms)
    return (m * n) / (waves * sms * tm * tn)


def gemm(key, label, card, m, k, n, eff, launches, fp8=False, a_bytes=2, out_bytes=2,
         extra_bytes=0.0, slowdown=1.0):
    """y[m, n] = x[m, k] W[n, k]^T (+ bias, + epilogue): FLOPs 2mkn per launch (x launches for
    layers). Bytes: A, W (fp16 or fp8), output, bias, extra (residual, scales)."""
    c = CARDS[card]
    peak = c["fp8"] * A["FP8_EFF_RATIO"] if fp8 else c["fp16"]
    rate = peak * eff * wave_eff(m, n, c["sms"]) / slowdown
    wb = 1 if fp8 else 2
    per = m * k * a_bytes + n * k * wb + m * n * out_bytes + n * 2 + extra_bytes
    f = 2.0 * m * k * n * launches
    return Kernel(key, label, launches, f, rate, per * launches, A["BW_FRAC"], useful=f)


def attention(card, path, b, launches):
    """lb_attention over one batch (run-length lengths b) x layers."""
    c = CARDS[card]
    d = HEAD_DIM
    useful = sum(4.0 * l * l * H * cnt for l, cnt in b)          # QK^T + PV, all heads
    T = sum(l * cnt for l, cnt in b)
    if path == "basic":
        BQ, BKV = 64, 32                                           # attention.cu, d = 64
        flops = smem = core = 0.0
        for l, cnt in b:
            qt, kt = math.ceil(l / BQ), math.ceil(l / BKV)
            pairs = qt * kt * HEADS * cnt                          # (q tile, kv tile) steps
            flops += pairs * 2 * (2.0 * BQ * BKV * d)              # S = QK^T and O += PV, padded
            core += pairs * BQ * BKV * A["ATTN_CORE_OPS_BASIC"]
            # per step: K,V tile in (2 BKV d halves), 4 warps read K and V (4 x 2 x BKV d halves),
            # S fp32 stored and read, P fp16 stored and read, O fp32 through fragments (load +
            # store) and rescaled by the softmax threads (load + store)
            step = (2 * BKV * d * 2 + 4 * 2 * BKV * d * 2 + 2 * BQ * BKV * 4 + 2 * BQ * BKV * 2
                    + 4 * BQ * d * 4)
            # per q tile: Q staged in and out to fragments, output staged (fp16)
            smem += pairs * step + qt * HEADS * cnt * (2 * BQ * d * 2 * 2)
        eff = A["ATTN_EFF_BASIC"]
        kv_reads = sum(math.ceil(l / BQ) * l * cnt for l, cnt in b)  # K, V re-read per q tile
        hbm = T * H * 2 + 2 * kv_reads * H * 2 + T * H * 2          # Q, K, V in; ctx out
        label = "attention (64-row tile per seq x head)"
    else:
        gr, gk = int(A["ATTN_FUSED_ROW_GRAN"]), int(A["ATTN_FUSED_KV_GRAN"])
        flops = smem = core = 0.0
        for l, cnt in b:
            lq, lk = gr * math.ceil(l / gr), gk * math.ceil(l / gk)
            flops += HEADS * cnt * 4.0 * lq * lk * d
            core += HEADS * cnt * lq * lk * A["ATTN_CORE_OPS_FUSED"]
            # K, V staged once per (seq, head), read by each of the lq/16 warps
            smem += HEADS * cnt * (2 * lk * d * 2) * (1 + lq // 16)
        eff = A["ATTN_EFF_FUSED"]
        hbm = T * 3 * H * 2 + T * H * (1 if path == "fp8" else 2)   # ctx fp16, or E4M3 (fp8)
        label = "attention (packed seq x head, 16-row gran.)"
    return Kernel("attention", label, launches, flops * launches, c["fp16"] * eff,
                  hbm * launches, A["BW_FRAC"], smem * launches, core * launches,
                  useful * launches)


def stream(key, label, launches, nbytes, bw=None):
    return Kernel(key, label, launches, bytes_=nbytes * launches, bw=bw or A["BW_FRAC"])


def batch_kernels(card, path, b):
    """The kernels of one batch on `path`, in launch order (layers merged: launches = 12)."""
    T, n, _ = batch_stats(b)
    L = LAYERS
    if path != "basic":
        g = int(A["GRAPH_BUCKET_TOKENS"])
        T = g * math.ceil(T / g)                  # graph bucket: shapes of the bucket, not of T
    ks = []
    fp8 = path == "fp8"
    q = 1 if fp8 else 2                           # bytes per element of a quantised activation
    sc = T * 4 if fp8 else 0                      # per-token fp32 scales of one tensor
    # embedding + LN: ids, word rows (gather), position rows, type row, write x (+ fp8 copy)
    ks.append(stream("embed_ln", "embed + LayerNorm", 1,
                     T * 4 + T * H * 2 + T * H * 2 + T * H * 2 + (T * H + sc if fp8 else 0),
                     A["BW_FRAC_GATHER"]))
    ks.append(gemm("gemm_qkv", "GEMM QKV  T x 768 -> 2304", card, T, H, 3 * H, A["GEMM_EFF_QKV"],
                   L, fp8, a_bytes=q, extra_bytes=sc))
    ks.append(attention(card, path, b, L))
    if fp8:  # the one row-wise quantise pass: the embedding's output (ctx and the GELU output
        # are written as E4M3 by their producers, with static per-layer scales)
        ks.append(stream("quant_emb", "quantise embedding out -> fp8", 1, T * H * 2 + T * H + sc))
    if path == "basic":
        ks.append(gemm("gemm_out", "GEMM out  T x 768 -> 768 (+bias)", card, T, H, H,
                       A["GEMM_EFF_OUT"], L))
        ks.append(stream("add_layernorm", "add + LayerNorm (x2 per layer, reads x, tmp)", 2 * L,
                         3 * T * H * 2))
        ks.append(gemm("gemm_up", "GEMM up   T x 768 -> 3072 (+bias)", card, T, H, FF,
                       A["GEMM_EFF_UP"], L))
        ks.append(stream("bias_act", "bias_act GELU pass  T x 3072", L, 2 * T * FF * 2))
        ks.append(gemm("gemm_down", "GEMM down T x 3072 -> 768 (+bias)", card, T, FF, H,
                       A["GEMM_EFF_DOWN"], L))
    else:
        ks.append(gemm("gemm_out", "GEMM out  T x 768 -> 768 (+bias +residual)", card, T, H, H,
                       A["GEMM_EFF_OUT"], L, fp8, a_bytes=q, extra_bytes=T * H * 2))
        # LN reads one tensor (x + attn already summed), writes x fp16 (+ fp8 copy + scales)
        ks.append(stream("layernorm", "LayerNorm (x2 per layer, reads one tensor)", 2 * L,
                         2 * T * H * 2 + (T * H + sc if fp8 else 0)))
        ks.append(gemm("gemm_up", "GEMM up   T x 768 -> 3072 (+bias +GELU)", card, T, H, FF,
                       A["GEMM_EFF_UP"], L, fp8, a_bytes=q, out_bytes=q, extra_bytes=sc,
                       slowdown=A["GEMM_GELU_EPILOGUE_SLOWDOWN"]))
        ks.append(gemm("gemm_down", "GEMM down T x 3072 -> 768 (+bias +residual)", card, T, FF,
                       H, A["GEMM_EFF_DOWN"], L, fp8, a_bytes=q, extra_bytes=T * H * 2))
    # head: CLS pooling, Dense 768 -> 768 (bias epilogue), tanh pass, L2 (fp32 rows out)
    ks.append(stream("pool", "pool (CLS)", 1, n * H * 2 * 2))
    ks.append(gemm("gemm_dense", "GEMM Dense n x 768 -> 768", card, n, H, DENSE_OUT,
                   A["GEMM_EFF_DENSE"], 1))
    ks.append(stream("dense_act", "tanh pass  n x 768", 1, 2 * n * DENSE_OUT * 2))
    ks.append(stream("l2norm", "L2 normalise -> fp32", 1, n * DENSE_OUT * (2 + 4)))
    return ks


def launches_per_batch(path):
    return sum(k.launches for k in batch_kernels("H100 SXM", path, [(20, 10)]))


# ---- the corpus --------------------------------------------------------------------------------
def model(card, path, batches):
    """Totals over the batches: per kernel key -> [label, seconds, launches, bound counts]."""
    gap = (A["LAUNCH_GAP_US"] if path == "basic" else A["LAUNCH_GAP_GRAPH_US"]) * 1e-6
    rows, total = {}, 0.0
    for b in batches:
        for k in batch_kernels(card, path, b):
            t, bound = k.time(card, gap)
            r = rows.setdefault(k.key, [k.label, 0.0, k.launches, {}, 0.0])
            r[1] += t
            r[3][bound] = r[3].get(bound, 0) + t
            r[4] += k.launches * gap
            total += t
    return rows, total


def useful_flops(batches):
    """2 x GEMM parameters x tokens (+ the Dense per sentence) + 4 len^2 H per layer."""
    f = 0.0
    for b in batches:
        T, n, sq = batch_stats(b)
        f += 2.0 * T * LAYERS * (4 * H * H + 2 * H * FF) + 2.0 * n * H * DENSE_OUT
        f += 4.0 * sq * H * LAYERS
    return f


# ---- measured figures ------------------------------------------------------------------------
def parse_measured(path):
    """Rows of every markdown table in `path` whose header has gpu, path and tokens_per_s."""
    if not os.path.exists(path):
        return []
    out, hdr = [], None
    for line in open(path, encoding="utf-8"):
        s = line.strip()
        if not s.startswith("|"):
            hdr = None
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if hdr is None:
            low = [c.lower() for c in cells]
            if {"gpu", "path", "tokens_per_s"} <= set(low):
                hdr = low
            else:
                hdr = False                       # a table, not ours: skip to its end
            continue
        if hdr is False or set(s) <= set("|-: "):
            continue
        row = dict(zip(hdr, cells))
        out.append(row)
    return out


def num(s):
    s = (s or "").replace(",", "").replace(" ", "")
    try:
        return float(s)
    except ValueError:
        return None


def card_of(gpu):
    g = gpu.upper()
    if "H200" in g:
        return "H200"
    if "H100" in g and "PCIE" not in g:
        return "H100 SXM"
    return None


# ---- report ------------------------------------------------------------------------------------
def report(doc, batches, results_path):
    tokens = sum(batch_stats(b)[0] for b in batches)
    sents = sum(batch_stats(b)[1] for b in batches)
    sq = sum(batch_stats(b)[2] for b in batches)
    uf = useful_flops(batches)
    Ts = [batch_stats(b)[0] for b in batches]
    print("labse GPU performance model (predictions; no kernel has run on a GPU)")
    print("corpus: %s, %d sentences, %d tokens (mean %.2f), sum len^2 %d" %
          (doc.get("bitext", "?"), sents, tokens, tokens / sents, sq))
    print("packing: batch_tokens %d, max_length %d (attention budget %d), windows of %d lines: "
          "%d batches, T mean %.0f, min %d, max %d" %
          (BATCH_TOKENS, MAX_LENGTH, budgets(BATCH_TOKENS, MAX_LENGTH)[1], WINDOW, len(batches),
           tokens / len(batches), min(Ts), max(Ts)))
    print("useful FLOPs: %.1f MFLOP/token (GEMMs %.1f + attention %.2f)" %
          (uf / tokens / 1e6, 2.0 * LAYERS * (4 * H * H + 2 * H * FF) / 1e6,
           4.0 * sq * H * LAYERS / tokens / 1e6))
    print()
    print("assumptions (--set NAME=VALUE):")
    for k, (v, why) in ASSUMPTIONS.items():
        cur = A[k]
        print("  %-28s %-6g %s%s" % (k, cur, why, "" if cur == v else "  [default %g]" % v))
    print()
    summary = {}
    for path in PATHS:
        res = {c: model(c, path, batches) for c in CARDS}
        print("== path %s: %d launches a batch, launch gap %g us ==" %
              (path, launches_per_batch(path),
               A["LAUNCH_GAP_US"] if path == "basic" else A["LAUNCH_GAP_GRAPH_US"]))
        hdr = "  %-46s %6s" % ("kernel", "launch")
        for c in CARDS:
            hdr += " | %9s %6s %5s" % (c[:9] + " us/b", "share", "bound")
        print(hdr)
        keys = list(res["H100 SXM"][0])
        for key in keys:
            lab, _, la, _, _ = res["H100 SXM"][0][key]
            line = "  %-46s %6d" % (lab[:46], la)
            for c in CARDS:
                rows, tot = res[c]
                r = rows[key]
                bound = max(r[3], key=r[3].get)
                if r[4] > 0.5 * r[1]:
                    bound = "launch"
                line += " | %9.1f %5.1f%% %5s" % (r[1] / len(batches) * 1e6, 100 * r[1] / tot,
                                                   bound)
            print(line)
        for c in CARDS:
            rows, tot = res[c]
            gap = sum(r[4] for r in rows.values())
            top = sorted(rows.values(), key=lambda r: -r[1])[:3]
            summary[(path, c)] = (tokens / tot, sents / tot, uf / tot / CARDS[c]["fp16"],
                                  [(r[0], r[1] / tot) for r in top], tot)
            print("  %-9s %7.3f s for the bitext: %.2f M tokens/s, %.0f k sentences/s, "
                  "%.1f%% of fp16 dense peak (useful FLOPs); launch gaps %.1f%%" %
                  (c, tot, tokens / tot / 1e6, sents / tot / 1e3,
                   100 * uf / tot / CARDS[c]["fp16"], 100 * gap / tot))
        print()
    print("== summary ==")
    print("  %-6s %-9s %14s %14s %11s  top 3 kernels by time" %
          ("path", "card", "M tokens/s", "k sentences/s", "% fp16 pk"))
    for path in PATHS:
        for c in CARDS:
            tps, sps, frac, top, _ = summary[(path, c)]
            print("  %-6s %-9s %14.2f %14.0f %10.1f%%  %s" %
                  (path, c, tps / 1e6, sps / 1e3, 100 * frac,
                   "; ".join("%s %.0f%%" % (lab.split("  ")[0].split(" (")[0], 100 * s)
                             for lab, s in top)))
    print("  fused fp16 prediction for the bitext: %s" % "; ".join(
        "%s %.2f M tokens/s (%s 3.0 M)" % (c, summary[("fused", c)][0] / 1e6,
                                           ">=" if summary[("fused", c)][0] >= 3e6 else "BELOW")
        for c in CARDS))
    print("  issue targets (H100 SXM): fused >= 3.0 M tokens/s: %s (%.2f); fp8 >= 4.0 M: %s (%.2f)"
          % ("met" if summary[("fused", "H100 SXM")][0] >= 3e6 else "MISSED",
             summary[("fused", "H100 SXM")][0] / 1e6,
             "met" if summary[("fp8", "H100 SXM")][0] >= 4e6 else "MISSED",
             summary[("fp8", "H100 SXM")][0] / 1e6))
    print()
    measured = parse_measured(results_path)
    if not measured:
        print("measured vs predicted: no GPU figures in %s (looked for a markdown table with "
              "columns gpu, path, tokens_per_s; see this script's docstring)" %
              os.path.relpath(results_path))
        return summary
    print("measured vs predicted (%s):" % os.path.relpath(results_path))
    for row in measured:
        card, path = card_of(row.get("gpu", "")), row.get("path", "").lower()
        kern = row.get("kernel", "").lower()
        if card is None or path not in PATHS:
            print("  %-40s %-6s  (no model for this card/path)" % (row.get("gpu", ""), path))
            continue
        if kern in ("", "total"):
            m = num(row.get("tokens_per_s"))
            p = summary[(path, card)][0]
            print("  %-9s %-6s %-14s measured %.2f M tokens/s, predicted %.2f M: measured/predicted %s"
                  % (card, path, "total", (m or 0) / 1e6, p / 1e6,
                     "%.2f" % (m / p) if m else "-"))
        else:
            rows, _ = model(card, path, batches)
            m = num(row.get("us_per_batch"))
            if kern not in rows:
                print("  %-9s %-6s %-14s not a kernel of this path's model" % (card, path, kern))
                continue
            p = rows[kern][1] / len(batches) * 1e6
            print("  %-9s %-6s %-14s measured %.1f us/batch, predicted %.1f: measured/predicted %s"
                  % (card, path, kern, m or 0, p, "%.2f" % (m / p) if m else "-"))
    return summary


def bench_batch(tokens, lo=20, hi=60):
    """bench_gpu_kernels' packed batch: `tokens` tokens of lengths lo..hi (it draws them
    uniformly at random; here they cycle lo, lo+1, .., hi, the last one cut to fit), as a
    run-length list [(len, count)]."""
    counts, T, l = {}, 0, lo
    while T < tokens:
        take = min(l, tokens - T)
        counts[take] = counts.get(take, 0) + 1
        T += take
        l = lo if l == hi else l + 1
    return sorted(counts.items())


def predict_launch_us(card, path, key, tokens):
    """The model's time of one launch of kernel `key` on `path` for bench_batch(tokens), no
    launch gap, in microseconds; None when the path has no such kernel. "attention L=N" is the
    bench's attention case of tokens / N sequences of exactly N tokens."""
    b = bench_batch(tokens)
    if key.startswith("attention_short"):  # kernels/attention_short.cu: the fused path's kernel
        path, key = "fused", "attention" + key[len("attention_short"):]
    if key.startswith("attention L="):
        n = int(key.split("=", 1)[1])
        key, b = "attention", [(n, max(1, tokens // n))]
    for k in batch_kernels(card, path, b):
        if k.key == key:
            t, _ = k.time(card, 0.0)
            return t / k.launches * 1e6
    return None


def report_measured(path, batches, summary):
    """Print measured / predicted for a gpu_measured.json (bench/gpu_measured.py's format)."""
    if not path or not os.path.exists(path):
        print("measured vs predicted (JSON): no %s (tools/gpu_suite.sh run writes one to $OUT)"
              % os.path.relpath(path or MEASURED_FILE))
        return None
    with open(path, encoding="utf-8") as fh:
        m = json.load(fh)
    if m.get("format") != "labse-gpu-measured/1":
        sys.exit("perf_model: %s: format %r, expected labse-gpu-measured/1" % (path, m.get("format")))
    card = card_of(m.get("gpu", ""))
    print("measured vs predicted (%s: %s, commit %s, %s):" %
          (os.path.relpath(path), m.get("gpu") or "?", m.get("commit") or "?", m.get("date") or "?"))
    if m.get("emulated"):
        print("  emulated: these are CPU times of the CUDA emulator; not compared "
              "(%d kernel rows, %d runs)" % (len(m.get("kernels", [])), len(m.get("e2e", []))))
        return None
    if card is None:
        print("  no model for GPU %r (H100 SXM and H200 only): not compared" % m.get("gpu"))
        return None
    out = {"kernels": {}, "e2e": []}
    ks = m.get("kernels", [])
    if ks:
        print("  per kernel, one launch, basic path, bench_gpu_kernels' batch (lengths 20..60):")
        print("    %-18s %-12s %7s %12s %12s %9s" % ("kernel", "case", "tokens", "measured us",
                                                    "predicted us", "meas/pred"))
    for r in ks:
        us, key, T = r.get("us_per_launch"), r.get("kernel", ""), int(r.get("tokens") or 0)
        p = predict_launch_us(card, "basic", key, T) if T > 0 else None
        ratio = us / p if us and p else None
        if ratio is not None:
            out["kernels"][key] = ratio
        print("    %-18s %-12s %7d %12s %12s %9s" %
              (key[:18], (r.get("case") or "")[:12], T, "%.1f" % us if us else "-",
               "%.1f" % p if p else "(no model)", "%.2f" % ratio if ratio else "-"))
    runs = m.get("e2e", [])
    if runs:
        print("  end to end, tokens/s (M) on the bitext:")
    for r in runs:
        pth = r.get("path") or "default"
        mp = pth if pth in PATHS else "basic"
        if r.get("model") != "labse-random":
            print("    %-16s %-7s %-7s measured %s M tokens/s; no prediction (the model has "
                  "LaBSE's shapes only)" % (r.get("model"), pth, r.get("attn"),
                                          "%.3f" % (r["tokens_per_s"] / 1e6) if r.get("tokens_per_s") else "-"))
            continue
        p = summary[(mp, card)][0]
        meas = r.get("tokens_per_s")
        enc = r.get("encoder_tokens_per_s")
        ratio = meas / p if meas else None
        eratio = enc / p if enc else None
        out["e2e"].append((pth, r.get("attn"), ratio, eratio))
        print("    %-16s %-7s %-7s measured %s (encoder alone %s), predicted %.3f (%s): "
              "measured/predicted %s (encoder %s)" %
              (r.get("model"), pth, r.get("attn"), "%.3f" % (meas / 1e6) if meas else "-",
               "%.3f" % (enc / 1e6) if enc else "-", p / 1e6, mp,
               "%.2f" % ratio if ratio else "-", "%.2f" % eratio if eratio else "-"))
    return out


# ---- self-test ---------------------------------------------------------------------------------
def self_test():
    ok = True

    def check(cond, what):
        nonlocal ok
        print("  %s  %s" % ("ok  " if cond else "FAIL", what))
        ok = ok and cond

    # one layer's GEMM FLOPs for T tokens = 2T(4H^2 + 2H FF) (the closed form); attention 4 L^2 H
    for T in (1, 37, 16384):
        b = [(T, 1)] if T <= 512 else [(32, T // 32)]
        ks = batch_kernels("H100 SXM", "basic", b)
        g = sum(k.useful for k in ks if k.key in ("gemm_qkv", "gemm_out", "gemm_up", "gemm_down"))
        check(abs(g / LAYERS - 2.0 * T * (4 * H * H + 2 * H * FF)) < 1e-6 * g,
              "GEMM FLOPs of one layer, T = %d: %.4g = 2T(4H^2 + 2H*FF)" % (T, g / LAYERS))
        a = sum(k.useful for k in ks if k.key == "attention")
        check(abs(a / LAYERS - sum(4.0 * l * l * H * c for l, c in b)) < 1e-6 * max(a, 1),
              "attention FLOPs of one layer, T = %d: 4 sum(len^2) H" % T)
    check(abs(2.0 * LAYERS * (4 * H * H + 2 * H * FF) - 169.87e6) < 0.01e6,
          "169.9 MFLOP/token in the encoder's GEMMs (bench/RESULTS.md)")
    # packing: one 512-token sentence at max_length 512 is one batch within the budgets
    bt, ba = budgets(16384, 512)
    bs = pack_window([(512, 1)], 16384, 512)
    T, n, sq = batch_stats(bs[0])
    check(len(bs) == 1 and T == 512 and n == 1 and T <= bt and sq <= ba,
          "one 512-token sentence: one batch, T 512 <= %d, sum len^2 %d <= %d" % (bt, sq, ba))
    # a single text over both budgets still forms a batch of its own
    bs = pack_window([(100, 1), (300, 2)], 200, 256)
    check([batch_stats(b)[1] for b in bs] == [1, 1, 1], "texts over the budget: one batch each")
    # the budgets hold for every multi-text batch of the bitext, and no text is lost
    if os.path.exists(LENGTHS_FILE):
        doc, wins = load_windows(LENGTHS_FILE)
        bt, ba = budgets(BATCH_TOKENS, MAX_LENGTH)
        batches = [b for w in wins for b in pack_window(w, BATCH_TOKENS, MAX_LENGTH)]
        good = all(batch_stats(b)[1] == 1 or (batch_stats(b)[0] <= bt and batch_stats(b)[2] <= ba)
                   for b in batches)
        check(good, "bitext: %d batches within both budgets" % len(batches))
        check(sum(batch_stats(b)[1] for b in batches) == doc["lines"] and
              sum(batch_stats(b)[0] for b in batches) == doc["tokens"],
              "bitext: every sentence and token packed once")
        # the cut is greedy: adding the next text of the window would break a budget
        w = sorted(l for l, c in wins[0] for _ in range(c))
        at, greedy = 0, True
        for b in pack_window(wins[0], BATCH_TOKENS, MAX_LENGTH):
            T, n, sq = batch_stats(b)
            at += n
            if at < len(w):
                l = w[at]
                greedy &= T + l > bt or sq + l * l > ba
        check(greedy, "window 0: every cut is forced by a budget (lb_batch_cut)")
    check(launches_per_batch("basic") == 101, "basic path: 101 launches a batch (gpu_forward.c)")
    check(launches_per_batch("fused") == 89, "fused path: 89 launches a batch")
    # the roofline: a pure-bytes kernel takes bytes / (bw x frac) + gap
    k = stream("x", "x", 1, 1e9)
    t, bound = k.time("H100 SXM", 2e-6)
    check(abs(t - (1e9 / (3.35e12 * A["BW_FRAC"]) + 2e-6)) < 1e-12 and bound == "hbm",
          "a 1 GB streaming kernel: bytes / (HBM x BW_FRAC) + gap")
    print("self-test: %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    global BATCH_TOKENS, MAX_LENGTH, WINDOW
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an assumption (see the report's list)")
    ap.add_argument("--lengths", default=LENGTHS_FILE, help="cached length histogram (JSON)")
    ap.add_argument("--results", default=RESULTS_FILE, help="markdown file with measured GPU figures")
    ap.add_argument("--measured", default=MEASURED_FILE,
                    help="JSON of the GPU suite's figures (bench/gpu_measured.py; used when it exists)")
    ap.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--regen-lengths", action="store_true",
                    help="re-tokenise the bitext into --lengths (needs the tokenizers package)")
    ap.add_argument("--bitext", default=os.path.join(ROOT, "..", "shared", "data", "bitext"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "labse-random", "tokenizer.json"))
    args = ap.parse_args()
    for s in args.set:
        name, _, val = s.partition("=")
        if name not in A:
            sys.exit("perf_model: no assumption %r (known: %s)" % (name, ", ".join(A)))
        A[name] = float(val)
    BATCH_TOKENS = args.batch_tokens
    if args.regen_lengths:
        regen_lengths(args.bitext, args.tokenizer, args.lengths)
        return 0
    if args.self_test:
        return self_test()
    if not os.path.exists(args.lengths):
        sys.exit("perf_model: no %s (run with --regen-lengths)" % args.lengths)
    doc, wins = load_windows(args.lengths)
    MAX_LENGTH, WINDOW = doc["max_length"], doc["window"]
    batches = [b for w in wins for b in pack_window(w, BATCH_TOKENS, MAX_LENGTH)]
    summary = report(doc, batches, args.results)
    report_measured(args.measured, batches, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
