#!/usr/bin/env bash
# test_null_device.sh — the benchmark device (issue 12 §7): `labse encode --device null` runs
# the whole host side (read, tokenise, pack, reorder, write) and writes one row of zeros per
# line (npy_tool: the shape, and norms 0 0), as a .npy and as a folder of parts whose manifest
# is complete; a .gz input and --dedup go through it too; `labse bench --device null` reports
# its tokens/s; `labse mine` refuses it (the k-NN has no null device). A few seconds.
#
#   test_null_device.sh LABSE_BIN NPY_TOOL MODEL_DIR
# Exit 77 when MODEL_DIR is absent.
set -u
LABSE=${1:?labse}; NPYT=${2:?npy_tool}; MODEL=${3:?model}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_model "$MODEL"
scratch null
# 2500 lines (some empty), a part size and window that make several of each
awk 'BEGIN { for (i = 0; i < 2500; i++) { s = ""; for (j = 0; j < i % 19; j++) s = s " w" (i * j % 89); print s } }' >"$T/in.txt"
E=(encode --model "$MODEL" --device null --tok-threads 2 --part-rows 1000 --window 400)

"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/a.npy" 2>"$T/err"
check "encode --device null: rc 0" test $? -eq 0
check "2500 rows (shape: $("$NPYT" shape "$T/a.npy"))" test "$("$NPYT" shape "$T/a.npy" | cut -d' ' -f1)" = 2500
check "every row is zero" test "$("$NPYT" norms "$T/a.npy")" = "0 0"
check "summary counts 2500 lines" grep -q '^labse: encoded 2500 lines' "$T/err"
"$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/f/"
check "folder: complete manifest of 3 parts" test "$(grep -c '"file": "part-' "$T/f/manifest.json")" -eq 3 -a \
    -n "$(grep '"complete": true' "$T/f/manifest.json")"
gzip -c "$T/in.txt" >"$T/in.gz"
"$LABSE" "${E[@]}" --quiet --input "$T/in.gz" --output "$T/g.npy" --dedup
check ".gz + --dedup: == the plain run (zeros, 2500 rows)" cmp -s "$T/g.npy" "$T/a.npy"
"$LABSE" bench --model "$MODEL" --device null --input "$T/in.txt" >"$T/bench" 2>/dev/null
check "bench --device null: rc 0, reports the null device's tokens/s" \
    test $? -eq 0 -a -n "$(grep -A4 '^encode (null' "$T/bench" | grep 'tokens_per_s')"
printf 'a\nb\n' >"$T/s.txt"
"$LABSE" mine --model "$MODEL" --device null --src "$T/s.txt" --tgt "$T/s.txt" --output "$T/p.tsv" 2>"$T/err"; rc=$?
check "mine --device null: refused (rc $rc)" test "$rc" -ne 0 -a ! -e "$T/p.tsv"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
