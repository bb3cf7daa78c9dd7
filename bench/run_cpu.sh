#!/usr/bin/env bash
# The CPU benchmark of issue 3: tokenisation alone and the whole encode, on the shared bitext,
# for all-MiniLM-L6-v2 and the LaBSE-shaped model. Prints the figures bench/RESULTS.md quotes.
#   usage: bench/run_cpu.sh [BUILD_DIR]     (default build; needs tools/setup.sh done)
# Encode runs on --limit sentences taken evenly across the 109 languages (the CPU encoder does
# ~1-10k tokens/s; the whole corpus would take hours); the tokenizer runs on all 194,676.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="${1:-$ROOT/build}"
BITEXT="${LABSE_SHARED_DIR:-$ROOT/../shared}/data/bitext"
echo "commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== tokenizer alone, one thread (bench_tokenize; 5 rounds over both columns)"
"$B/tests/bench_tokenize" "$ROOT/models/labse-random/vocab.txt" "$BITEXT" 5 256
"$B/tests/bench_tokenize" "$ROOT/models/all-MiniLM-L6-v2/vocab.txt" "$BITEXT" 5 256 --lower
for m in all-MiniLM-L6-v2:4000 labse-random:1000; do
  name=${m%%:*}; n=${m##*:}
  echo "== labse bench $name (encode on $n sentences, all cores, best of 2)"
  "$B/labse" bench --model "$ROOT/models/$name" --bitext "$BITEXT" --limit "$n" --repeat 2 2>/dev/null \
    | sed -n '/^tokenize/,$p'
done
