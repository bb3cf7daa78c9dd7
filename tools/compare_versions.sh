#!/usr/bin/env bash
# compare_versions.sh — are the outputs of this tree byte-identical to those of an older commit?
#
#   tools/compare_versions.sh OLD_REV [MODEL_DIR]
#
# Builds OLD_REV (in a temporary git worktree) and this working tree, both CPU-only and without
# tests, then runs the same scenarios with each build and compares every output file's bytes:
#   CLI   encode to one .npy (defaults; small batches and windows; one thread), to a float16
#         part folder, three shards + `merge` (folder and --npy), `tokenize`, `mine` on texts
#         and on embeddings, `eval --json`
#   API   Python's Model.encode (labse_encode) and Model.encode_file (labse_encode_file), and
#         labse.mine (labse_mine), each through that build's liblabse.so
# The corpus: the first 20 lines of every file of ../shared/data/bitext, both columns (about
# 4,400 sentences of 109 languages). MODEL_DIR defaults to models/all-MiniLM-L6-v2
# (tools/setup.sh). Used to show that a refactoring changed no byte; not part of CI (it builds
# the library twice). Prints one line per scenario and "N passed, N failed"; exit 1 on a
# difference.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OLD_REV="${1:?usage: tools/compare_versions.sh OLD_REV [MODEL_DIR]}"
MODEL="$(realpath "${2:-models/all-MiniLM-L6-v2}")"
SHARED="${LABSE_SHARED_DIR:-$ROOT/../shared}"
PY="$ROOT/.venv/bin/python"
JOBS="${LABSE_JOBS:-$(nproc)}"
WORK="$(mktemp -d /tmp/labse-compare.XXXXXX)"
trap 'git -C "$ROOT" worktree remove --force "$WORK/old-src" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

git worktree add --detach "$WORK/old-src" "$OLD_REV" >/dev/null 2>&1
build() { # SRC BUILD
  cmake -S "$1" -B "$2" -DLABSE_CUDA=OFF -DLABSE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$2" -j"$JOBS" --target labse labse_shared >/dev/null
}
echo "compare: building $OLD_REV and the working tree (CPU only)"
build "$WORK/old-src" "$WORK/old-build"
build "$ROOT" "$WORK/new-build"

# The corpus, both columns, and the first few files as TSV for eval.
mkdir -p "$WORK/in"
for f in "$SHARED"/data/bitext/*.tsv; do head -n 20 "$f"; done > "$WORK/in/pairs.tsv"
cut -f1 "$WORK/in/pairs.tsv" > "$WORK/in/src.txt"
cut -f2 "$WORK/in/pairs.tsv" > "$WORK/in/tgt.txt"
cat "$WORK/in/src.txt" "$WORK/in/tgt.txt" > "$WORK/in/all.txt"
ls "$SHARED"/data/bitext/*.tsv | head -n 3 > "$WORK/in/eval_files"

run_one() { # NAME: run every scenario with build NAME into $WORK/out-NAME
  local b="$WORK/$1-build" o="$WORK/out-$1" lb="$WORK/$1-build/labse"
  local m="--model $MODEL"
  mkdir -p "$o"
  cd "$WORK/in" # relative input paths: manifests record them
  "$lb" encode $m --input all.txt --output "$o/default.npy" -q
  "$lb" encode $m --input all.txt --output "$o/small.npy" --batch-tokens 512 --window 700 --threads 1 -q
  "$lb" encode $m --input all.txt --output "$o/parts/" --part-rows 1000 --format f16 -q
  for k in 0 1 2; do "$lb" encode $m --input all.txt --output "$o/shards/" --shard "$k/3" --part-rows 500 -q; done
  "$lb" merge -q "$o/merged" "$o"/shards/shard-0000*
  "$lb" merge -q --npy "$o/merged.npy" "$o"/shards/shard-0000*
  "$lb" tokenize $m --input all.txt > "$o/tokens.txt"
  "$lb" mine $m --src src.txt --tgt tgt.txt --output "$o/pairs_text.tsv" -q
  "$lb" encode $m --input src.txt --output "$o/src.npy" -q
  "$lb" encode $m --input tgt.txt --output "$o/tgt.npy" -q
  "$lb" mine --src-emb "$o/src.npy" --tgt-emb "$o/tgt.npy" --k 3 --output "$o/pairs_emb.tsv" -q
  (cd "$o" && "$lb" eval --src-emb src.npy --tgt-emb tgt.npy --json > eval_emb.json) # names the paths
  "$lb" eval $m --json $(cat eval_files) > "$o/eval.json"
  LABSE_LIBRARY="$b/liblabse.so" PYTHONPATH="$ROOT/python" "$PY" - "$MODEL" "$o" <<'EOF'
import sys, numpy as np, labse
model, out = sys.argv[1], sys.argv[2]
lines = open("all.txt", "rb").read().split(b"\n")[:-1]
with labse.Model(model, device="cpu") as m:
    np.save(out + "/py_encode.npy", m.encode(lines))
    np.save(out + "/py_encode_small.npy", labse.Model(model, device="cpu", batch_tokens=512, window=700).encode(lines))
    m.encode_file("all.txt", out + "/py_file.npy")
src, tgt = np.load(out + "/src.npy"), np.load(out + "/tgt.npy")
np.save(out + "/py_mine.npy", labse.mine(src, tgt, k=3))
EOF
  cd "$ROOT"
}
run_one old
run_one new

pass=0 fail=0
while IFS= read -r f; do
  rel="${f#"$WORK/out-old/"}"
  if [ -f "$WORK/out-new/$rel" ] && cmp -s "$f" "$WORK/out-new/$rel"; then
    pass=$((pass + 1)); echo "same      $rel"
  else
    fail=$((fail + 1)); echo "DIFFERENT $rel"
  fi
done < <(find "$WORK/out-old" -type f | sort)
n_new=$(find "$WORK/out-new" -type f | wc -l)
if [ "$n_new" -ne $((pass + fail)) ]; then
  fail=$((fail + 1)); echo "DIFFERENT: the new build wrote $n_new files, the old $((pass + fail - 1))"
fi
echo "compare: $OLD_REV vs working tree: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
