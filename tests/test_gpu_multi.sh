#!/usr/bin/env bash
# test_gpu_multi.sh LABSE_CLI MODEL_DIR INPUT — `--device cuda:all` spreads the batches of the
# streaming encoder over every GPU (one context and two batches in flight per GPU, one
# tokenizer pool); the output must be byte-identical to a run on cuda:0, since every batch is
# the same and a row does not depend on which GPU computed it (same kernels, same GEMM shapes).
# On the emulator LABSE_EMU_DEVICES=3 pretends three GPUs. Exit 77 without a CUDA device.
set -euo pipefail
CLI="$1"; MODEL="$2"; INPUT="$3"
[ -d "$MODEL" ] || { echo "no $MODEL: skipped"; exit 77; }
if ! "$CLI" info --model "$MODEL" --device cuda >/dev/null 2>&1; then
  echo "no CUDA device: skipped"; exit 77
fi
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
head -n 300 "$INPUT" | cut -f2 >"$TMP/in.txt"
export LABSE_EMU_DEVICES="${LABSE_EMU_DEVICES:-3}"   # ignored by real CUDA builds
"$CLI" encode --model "$MODEL" --device cuda:0 --batch-tokens 512 -i "$TMP/in.txt" -o "$TMP/one.npy" --quiet
"$CLI" encode --model "$MODEL" --device cuda:all --batch-tokens 512 -i "$TMP/in.txt" -o "$TMP/all.npy" 2>"$TMP/log"
cat "$TMP/log"
grep -q "cuda:" "$TMP/log" || { echo "FAIL: no device summary"; exit 1; }
cmp "$TMP/one.npy" "$TMP/all.npy" || { echo "FAIL: cuda:all differs from cuda:0"; exit 1; }
# folder output (windows cut at part boundaries): every part equal to cuda:0's
for d in cuda:0 cuda:all; do
  "$CLI" encode --model "$MODEL" --device "$d" --batch-tokens 512 --part-rows 100 -i "$TMP/in.txt" -o "$TMP/dir-${d#cuda:}/" --quiet
done
for p in "$TMP"/dir-0/part-*.npy; do
  cmp "$p" "$TMP/dir-all/$(basename "$p")" || { echo "FAIL: $(basename "$p") differs"; exit 1; }
done
echo "PASS: cuda:all equals cuda:0 ($(wc -l <"$TMP/in.txt") lines)"
