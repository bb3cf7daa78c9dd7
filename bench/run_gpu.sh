#!/usr/bin/env bash
# The GPU benchmark of issue 6, end to end: `labse bench --device cuda` and the peer
# (sentence-transformers in fp16, bench/peer_gpu.py) on the same corpus and model folder.
#   usage: bench/run_gpu.sh MODEL_DIR [LINES] [BUILD_DIR]
#     LINES      corpus size: both columns of every bitext file (in file order), repeated or
#                cut to LINES lines (default 194676: the whole bitext once)
#     BUILD_DIR  default build/ (a CUDA build; an emulation build runs too, slowly, and says so)
#   environment: LABSE_SHARED_DIR (default ../shared), PYTHON (default python3), REPEAT (runs of
#     each side, best reported; default 2), LABSE_DEVICE (default cuda), LABSE_PEAK_TFLOPS (the
#     card's dense fp16 peak when the GPU is not in the table below), BATCH_SIZE (the peer's;
#     default 1024 sentences), PEER (0: labse only, no peer and no cosine check; default 1),
#     LABSE_BENCH_PRECISION (labse's --precision: fp16 default, or fp8; the peak fraction is
#     then still against the fp16 peak).
# Prints tokens/s and sentences/s of both, the ratio labse / peer, and the fraction of the
# card's dense fp16 tensor peak that labse's time implies:
#   FLOPs = tokens * 2 * layers * (3 H^2 + H^2 + 2 H FF)       (the linear layers: QKV, output,
#           + 4 * H * layers * sum over sentences of L^2         FFN up and down; attention's
#                                                                Q K^T and P V)
# with H, FF, layers read from MODEL_DIR/config.json (LaBSE: 169.9 MFLOP per token + attention)
# and sum L^2 from the peer's tokenisation (the same tokens as labse's; estimated from the mean
# length, and said so, when the peer cannot run). The per-sentence Dense and pooling are left
# out (< 0.1%). The last line is machine-readable: GPU_BENCH key=value ...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL=${1:?usage: bench/run_gpu.sh MODEL_DIR [LINES] [BUILD_DIR]}
LINES=${2:-194676}
B=${3:-$ROOT/build}
BITEXT="${LABSE_SHARED_DIR:-$ROOT/../shared}/data/bitext"
PY=${PYTHON:-python3}
REPEAT=${REPEAT:-2}
DEV=${LABSE_DEVICE:-cuda}
[ -f "$MODEL/config.json" ] || { echo "run_gpu: no model at $MODEL" >&2; exit 1; }
[ -x "$B/labse" ] || { echo "run_gpu: no $B/labse (build first)" >&2; exit 1; }
ls "$BITEXT"/*.tsv >/dev/null 2>&1 || { echo "run_gpu: no bitext at $BITEXT" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/labse_run_gpu.XXXXXX")
trap 'rm -rf "$T"' EXIT

# --- the corpus ------------------------------------------------------------------------------
awk -F'\t' '{ for (i = 1; i <= NF; i++) print $i }' "$BITEXT"/*.tsv >"$T/one.txt"
: >"$T/corpus.txt"
while [ "$(wc -l <"$T/corpus.txt")" -lt "$LINES" ]; do cat "$T/one.txt" >>"$T/corpus.txt"; done
head -n "$LINES" "$T/corpus.txt" >"$T/c" && mv "$T/c" "$T/corpus.txt"

GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
[ -n "$GPU" ] || GPU="unknown (no nvidia-smi)"
echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+changes'), $(date -u +%Y-%m-%d), GPU: $GPU"
echo "model $MODEL, corpus $LINES lines (bitext both columns, $(wc -l <"$T/one.txt") a pass), repeat $REPEAT"

# --- labse ------------------------------------------------------------------------------------
echo "== labse bench --device $DEV"
PREC_ARGS=(); [ -n "${LABSE_BENCH_PRECISION:-}" ] && PREC_ARGS=(--precision "$LABSE_BENCH_PRECISION")
echo "precision: ${LABSE_BENCH_PRECISION:-default}"
"$B/labse" bench --model "$MODEL" --input "$T/corpus.txt" --device "$DEV" --repeat "$REPEAT" "${PREC_ARGS[@]}" \
    >"$T/bench.out" 2>"$T/bench.err" || { cat "$T/bench.err" >&2; echo "run_gpu: labse bench failed" >&2; exit 1; }
sed -n '/^encode/,$p' "$T/bench.out"
# keys of the encode section: sentences tokens seconds tokens_per_s sentences_per_s
lb() { sed -n '/^encode/,$p' "$T/bench.out" | awk -v k="$1" '$1 == k":" { print $2; exit }'; }
LB_DEVICE=$(sed -n 's/^encode (\(.*\), threads.*/\1/p' "$T/bench.out")
LB_TOKENS=$(lb tokens); LB_SENT=$(lb sentences); LB_SEC=$(lb seconds)
# the encoder-only section (pre-packed batches through the backend; printed on a GPU)
le() { sed -n '/^encoder/,$p' "$T/bench.out" | awk -v k="$1" '$1 == k":" { print $2; exit }'; }
ENC_SEC=$(le seconds); ENC_BUSY=$(le device_busy_fraction); ENC_SUMSQ=$(le sum_len_sq)

# --- the peer ---------------------------------------------------------------------------------
PEER_JSON=""
if [ "${PEER:-1}" = 0 ]; then
    echo "== peer: not run (PEER=0)"
else
    echo "== peer: sentence-transformers fp16 (bench/peer_gpu.py)"
    if "$B/labse" encode --model "$MODEL" --device "$DEV" --input "$T/corpus.txt" --output "$T/labse.npy" "${PREC_ARGS[@]}" \
        --quiet 2>"$T/enc.err"; then
        NPY=(--labse-npy "$T/labse.npy")
    else
        echo "run_gpu: labse encode failed (no cosine check): $(head -1 "$T/enc.err")"
        NPY=()
    fi
    if "$PY" "$ROOT/bench/peer_gpu.py" "$MODEL" "$T/corpus.txt" --repeat "$REPEAT" \
        --batch-size "${BATCH_SIZE:-1024}" "${NPY[@]}" >"$T/peer.out" 2>"$T/peer.err"; then
        grep -v '^PEER_GPU ' "$T/peer.out" || true
        PEER_JSON=$(sed -n 's/^PEER_GPU //p' "$T/peer.out")
    else
        echo "peer: unavailable: $(grep -v '^peer_gpu: pass' "$T/peer.err" | tail -1)"
    fi
fi

# --- the figures ------------------------------------------------------------------------------
"$PY" - "$MODEL/config.json" "$GPU" "$LB_DEVICE" "$LB_SENT" "$LB_TOKENS" "$LB_SEC" "$PEER_JSON" \
    "${LABSE_PEAK_TFLOPS:-}" "${ENC_SEC:-}" "${ENC_BUSY:-}" "${ENC_SUMSQ:-}" <<'EOF'
import json, sys
cfg_path, gpu, lb_dev, sent, tokens, sec, peer_json, peak_env, enc_sec, enc_busy, enc_sumsq = sys.argv[1:]
cfg = json.load(open(cfg_path))
H, FF, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
sent, tokens, sec = int(sent), int(tokens), float(sec)
peer = json.loads(peer_json) if peer_json else None
lin = 2.0 * L * (3 * H * H + H * H + 2 * H * FF)  # FLOPs per token, linear layers
if enc_sumsq:
    sum_l2, how = int(enc_sumsq), "exact (labse's tokenisation)"
elif peer and peer["sentences"] == sent:
    sum_l2, how = peer["sum_len2"], "exact (peer's tokenisation)"
    if peer["tokens"] != tokens:
        print("WARNING: token counts differ: labse %d, peer %d" % (tokens, peer["tokens"]))
else:
    m = tokens / max(sent, 1)
    sum_l2, how = sent * m * m, "ESTIMATED from the mean length %.1f (a lower bound)" % m
attn = 4.0 * H * L * sum_l2
flops = tokens * lin + attn
# dense fp16 tensor-core peaks (fp32 accumulation), TFLOP/s, NVIDIA datasheets, no sparsity
table = [("H200 NVL", 835.5), ("H100 NVL", 835.5), ("H100 PCIe", 756.0), ("H200", 989.4),
         ("H100", 989.4), ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0)]
peak, peak_src = None, "unknown GPU: set LABSE_PEAK_TFLOPS"
if peak_env:
    peak, peak_src = float(peak_env), "LABSE_PEAK_TFLOPS"
else:
    for k, v in table:
        if k in gpu:
            peak, peak_src = v, "%s dense fp16 (SXM unless named), datasheet" % k
            break
tps, sps = tokens / sec, sent / sec
achieved = flops / sec / 1e12
print("== summary")
print("model: hidden %d, FFN %d, %d layers: %.1f MFLOP/token linear + attention %.2f MFLOP/token "
      "on average (sum L^2 %s)" % (H, FF, L, lin / 1e6, attn / max(tokens, 1) / 1e6, how))
print("labse (%s): %d sentences, %d tokens, %.3f s: %.0f tokens/s, %.0f sentences/s, %.1f TFLOP/s"
      % (lb_dev, sent, tokens, sec, tps, sps, achieved))
if peak:
    print("peak used: %.1f TFLOP/s (%s, GPU '%s'): labse reaches %.1f%% of it"
          % (peak, peak_src, gpu, 100 * achieved / peak))
else:
    print("peak: %s (GPU '%s'); no fraction printed" % (peak_src, gpu))
enc_tps = enc_frac = None
if enc_sec:
    es = float(enc_sec)
    enc_tps = tokens / es
    print("labse encoder alone (pre-packed batches, copies included): %.3f s: %.0f tokens/s, "
          "%.0f sentences/s, %.1f TFLOP/s%s%s" % (es, enc_tps, sent / es, flops / es / 1e12,
          "" if not peak else ", %.1f%% of peak" % (100 * flops / es / 1e12 / peak),
          "" if not enc_busy else ", device busy %.1f%%" % (100 * float(enc_busy))))
    enc_frac = flops / es / 1e12 / peak if peak else None
if peer:
    r = peer["seconds"] and tps / peer["tokens_per_s"]
    print("peer sentence-transformers %s fp16 batch %d: %.0f tokens/s, %.0f sentences/s; "
          "labse / peer = %.2fx%s" % (peer["sentence_transformers"], peer["batch_size"],
          peer["tokens_per_s"], peer["sentences_per_s"], r,
          "" if peer.get("worst_cosine_vs_labse") is None
          else "; worst cosine labse vs peer %.6f" % peer["worst_cosine_vs_labse"]))
if "emulat" in lb_dev:
    print("WARNING: labse ran on the CUDA emulator: these are not GPU figures")
kv = {"gpu": gpu.replace(" ", "_"), "device": lb_dev.replace(" ", "_"), "sentences": sent,
      "tokens": tokens, "seconds": "%.4f" % sec, "tokens_per_s": "%.0f" % tps,
      "sentences_per_s": "%.1f" % sps, "tflops": "%.2f" % achieved,
      "peak_tflops": peak or "NA", "peak_fraction": "%.4f" % (achieved / peak) if peak else "NA",
      "encoder_tokens_per_s": "%.0f" % enc_tps if enc_tps else "NA",
      "encoder_peak_fraction": "%.4f" % enc_frac if enc_frac else "NA",
      "peer_tokens_per_s": "%.0f" % peer["tokens_per_s"] if peer else "NA",
      "ratio": "%.3f" % (tps / peer["tokens_per_s"]) if peer else "NA",
      "worst_cosine": ("%.6f" % peer["worst_cosine_vs_labse"])
      if peer and peer.get("worst_cosine_vs_labse") is not None else "NA"}
print("GPU_BENCH " + " ".join("%s=%s" % (k, v) for k, v in kv.items()))
EOF
