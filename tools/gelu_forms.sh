#!/usr/bin/env bash
# gelu_forms.sh — how much the tanh form of GELU (cuBLASLt's GELU epilogue, the GPU's default
# fused path) changes the embeddings against the exact erf GELU, with nothing else changed:
# the fp32 CPU engine encodes the same lines twice, once with the model as it is (hidden_act
# "gelu", erf) and once with a copy of the folder whose config.json says "gelu_new" (the tanh
# form; every other file a symlink). Prints the per-sentence cosine's minimum, 1st percentile
# and mean deficit, and how many sentences fall below 0.9999 and 0.99999.
#
# Usage: tools/gelu_forms.sh LABSE_BINARY MODEL_DIR BITEXT_DIR STRIDE [WORKDIR]
#   the lines: both columns of every BITEXT_DIR/*.tsv (sorted), then every STRIDE-th of them
#   (1 = all). Runs on one CPU thread (LABSE_THREADS=N: N threads, the same for both
#   forms; GELU_PARALLEL=1: the two forms at once, each with that many threads: two
#   one-thread processes use two busy cores better than one two-thread process, whose threads
#   wait for each other at every GEMM). Needs python3 with numpy ($PYTHON names another).
#   WORKDIR keeps the work:
#   rerun the same command to resume an interrupted run (the LaBSE-shaped model takes hours
#   on one core).
set -euo pipefail
bin=$1 model=$(readlink -f "$2") bitext=$3 stride=$4 work=${5:-$(mktemp -d)}
mkdir -p "$work/tanh-model"
for f in "$model"/* "$model"/.[!.]*; do
  [ -e "$f" ] || continue
  [ "$(basename "$f")" = config.json ] || ln -sfn "$f" "$work/tanh-model/$(basename "$f")"
done
sed 's/"hidden_act": *"gelu"/"hidden_act": "gelu_new"/' "$model/config.json" > "$work/tanh-model/config.json"
grep -q '"gelu_new"' "$work/tanh-model/config.json" || { echo "no \"hidden_act\": \"gelu\" in $model/config.json" >&2; exit 1; }
for f in $(ls "$bitext"/*.tsv | sort); do cut -f1 "$f"; cut -f2 "$f"; done |
  awk -v s="$stride" '(NR - 1) % s == 0' > "$work/lines.txt"
# Each form is encoded into a part folder (resumable: rerunning the same command after an
# interruption goes on from the last complete part), then joined into FORM.npy.
encode_form() { # encode_form NAME MODEL
    [ -f "$work/$1.npy" ] && return 0
    "$bin" encode -m "$2" -i "$work/lines.txt" -o "$work/$1/" --part-rows 4096 --device cpu \
        -t "${LABSE_THREADS:-1}" --tok-threads 1
    "$bin" merge --npy "$work/$1.npy" "$work/$1"
}
if [ "${GELU_PARALLEL:-0}" = 1 ]; then
    encode_form erf "$model" & erf_pid=$!
    encode_form tanh "$work/tanh-model" & tanh_pid=$!
    rc=0
    wait "$erf_pid" || rc=1
    wait "$tanh_pid" || rc=1
    [ "$rc" = 0 ] || exit 1
else
    encode_form erf "$model"
    encode_form tanh "$work/tanh-model"
fi
"${PYTHON:-python3}" - "$work/erf.npy" "$work/tanh.npy" <<'PY'
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
print(f"{len(c)} sentences: min cosine {c.min():.9f}, 1st percentile {np.percentile(c, 1):.9f}, "
      f"mean deficit {(1 - c).mean():.3g}, below 0.9999: {(c < 0.9999).sum()}, "
      f"below 0.99999: {(c < 0.99999).sum()}")
PY
