#!/usr/bin/env bash
# The README's main-job command: on a fresh Debian machine, set up and encode a sample of the
# shared multilingual bitext with the real all-MiniLM-L6-v2 checkpoint (GPU when present and
# built, else CPU), then print what was written.
#   usage: tools/demo.sh [PAIRS]   (default 10: the first PAIRS pairs of each of the 109
#                                   languages, both sides, one sentence a line)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${1:-10}"
SHARED="${LABSE_SHARED_DIR:-$ROOT/../shared}"

bash tools/install_deps.sh
bash tools/setup.sh
cmake -S . -B build -DLABSE_CUDA="${LABSE_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$(nproc)" --target labse

mkdir -p out
for f in "$SHARED"/data/bitext/*.tsv; do head -n "$N" "$f"; done | tr '\t' '\n' > out/sample.txt
./build/labse info --model models/all-MiniLM-L6-v2
./build/labse encode --model models/all-MiniLM-L6-v2 --device auto \
  --input out/sample.txt --output out/sample.npy
.venv/bin/python - <<'PY'
import numpy as np
e = np.load("out/sample.npy")
print(f"out/sample.npy: shape {e.shape}, dtype {e.dtype}, row norms {np.linalg.norm(e, axis=1).min():.6f}..{np.linalg.norm(e, axis=1).max():.6f}")
PY
