#!/usr/bin/env bash
# test_dedup.sh — `labse encode --dedup` (issue 12 §4): on a corpus where most lines are
# duplicates, the rows with --dedup are byte-identical to the rows without, through a .npy, a
# folder of parts (where the table is emptied at every part start), a resumed folder (parts
# dropped from a complete one), three shards + merge, a table small enough to forget lines
# (duplicates past it are encoded again), TSV records and a gzip input; the summary and the
# manifest count the duplicates (the expected count: an awk of the lines per part); a resume
# with another table is refused. With the default batch budget: rows within 1e-5 of the plain
# ones and every duplicate's row byte-identical to its first occurrence's. The C API and
# Python: tests/test_api_file_mine.c, python/tests/test_dedup.py.
#
#   test_dedup.sh LABSE_BIN MODEL_DIR PYTHON
# Exit 77 when MODEL_DIR is absent. PYTHON (with numpy) edits a manifest and compares rows.
#
# Why --batch-tokens 1 for the exact comparisons: a duplicate's row is a copy of its first
# occurrence's, computed in a batch without the duplicates, i.e. in other batches than
# without --dedup; the CPU GEMMs are not batch-invariant to the last bit (measured here:
# 90 of 3000 rows differ by at most 1.6e-7 with the default budget). With one line per batch
# (a single line always fits) no row depends on the others of its batch: the rows must then
# be byte-identical, and any wrong copy (another line's row, a stale slot) shows.
set -u
LABSE=${1:?labse}; MODEL=${2:?model}; PY=${3:-}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_model "$MODEL"
[ -n "$PY" ] && [ -x "$PY" ] || PY=python3
scratch dedup
E=(encode --model "$MODEL" --device cpu --threads 1 --tok-threads 2 --batch-tokens 1)
OPTS=(--part-rows 700 --window 300)    # windows of 300, parts of 700: several of each

# 3000 lines drawn from ~260 distinct ones (empty lines and a CRLF line among them): ~90% are
# duplicates; awk's rand with a fixed seed, so the corpus is the same on every run
awk 'BEGIN { srand(12); for (i = 0; i < 260; i++) { s = ""; n = i % 17;
        for (j = 0; j < n; j++) s = s " w" int(rand() * 50); d[i] = (i == 7 ? "crlf\r" : s) }
      for (i = 0; i < 3000; i++) print d[int(rand() * 260)] }' >"$T/in.txt"
NL=$(wc -l <"$T/in.txt")
# expected duplicates: lines minus distinct lines, per part of P lines (P = 0: the whole file)
dups() { awk -v P="$1" '{ p = P ? int((NR - 1) / P) : 0; k = p SUBSEP $0; if (k in seen) d++; seen[k] = 1 } END { print d + 0 }' "$T/in.txt"; }

echo "# rows with --dedup == rows without"
"$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/plain.npy" "${OPTS[@]}"
check "plain run: rc 0" test $? -eq 0
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/dd.npy" "${OPTS[@]}" --dedup 2>"$T/err"
check "dedup run: rc 0" test $? -eq 0
check "--dedup .npy == plain (byte-identical)" cmp -s "$T/dd.npy" "$T/plain.npy"
D7=$(dups 700)
check "summary counts $D7 duplicates (the table is emptied per part of 700)" \
    grep -q "^labse: $D7 lines were duplicates" "$T/err"
"$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/dd1.npy" --window 300 --dedup
check "--dedup, one part: == plain" cmp -s "$T/dd1.npy" "$T/plain.npy"

echo "# folders, resume, shards, a small table"
"$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/f/" "${OPTS[@]}" --dedup
"$LABSE" merge --npy "$T/f.npy" "$T/f" -q
check "folder --dedup == plain" cmp -s "$T/f.npy" "$T/plain.npy"
check "manifest: table 65536, $D7 duplicates" \
    grep -q "\"dedup\": {\"table\": 65536, \"duplicates\": $D7}" "$T/f/manifest.json"
check "manifest: parts' duplicates add up" test "$(grep -o '"duplicates": [0-9]*, "xxh128"' "$T/f/manifest.json" |
    awk '{ s += $2 } END { print s }')" = "$D7"
# an interrupted run, made exactly: the complete folder with its last 3 parts dropped
cp -r "$T/f" "$T/r"
"$PY" - "$T/r" <<'EOF'
import json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
for p in m["parts"][2:]:
    os.remove(os.path.join(d, p["file"]))
m["parts"], m["complete"] = m["parts"][:2], False
json.dump(m, open(os.path.join(d, "manifest.json"), "w"))
EOF
"$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/r/" "${OPTS[@]}" --dedup
check "resumed --dedup folder == uninterrupted (byte-identical)" diff -r "$T/r" "$T/f"
"$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/r/" "${OPTS[@]}" --dedup-table 50 2>"$T/err"
check "rerun with another table: refused" grep -q "dedup table (--dedup) differs" "$T/err"
for k in 0 1 2; do "$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/sh/" --shard $k/3 "${OPTS[@]}" --dedup || bad "shard $k"; done
"$LABSE" merge --npy "$T/sh.npy" "$T"/sh/shard-* -q
check "3 shards --dedup + merge == plain" cmp -s "$T/sh.npy" "$T/plain.npy"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/small.npy" "${OPTS[@]}" --dedup-table 50 2>"$T/err"
check "--dedup-table 50 (lines forgotten) == plain" cmp -s "$T/small.npy" "$T/plain.npy"
DS=$(sed -n 's/^labse: \([0-9]*\) lines were duplicates.*/\1/p' "$T/err")
check "--dedup-table 50 finds fewer duplicates (${DS:-none}) than 65536 ($D7), some" \
    test "${DS:-0}" -gt 0 -a "${DS:-0}" -lt "$D7"

echo "# records and compressed input"
paste "$T/in.txt" "$T/in.txt" | awk -F'\t' '{ print NR "\t" $2 }' >"$T/in.tsv"   # column 1 unique
"$LABSE" "${E[@]}" --quiet --input "$T/in.tsv" --tsv-column 2 --output "$T/tsv.npy" "${OPTS[@]}" --dedup
check "--tsv-column 2 --dedup == plain (duplicates of the column, not of the line)" cmp -s "$T/tsv.npy" "$T/plain.npy"
gzip -c "$T/in.txt" >"$T/in.gz"
"$LABSE" "${E[@]}" --quiet --input "$T/in.gz" --output "$T/gz.npy" "${OPTS[@]}" --dedup
check ".gz --dedup == plain" cmp -s "$T/gz.npy" "$T/plain.npy"
# with an output format the duplicates' float32 rows are copied before the conversion
for f in int8 ubinary; do
    "$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/q$f.npy" "${OPTS[@]}" --format "$f"
    "$LABSE" "${E[@]}" --quiet --input "$T/in.txt" --output "$T/qd$f.npy" "${OPTS[@]}" --format "$f" --dedup
    check "--format $f --dedup == --format $f" cmp -s "$T/qd$f.npy" "$T/q$f.npy"
done

echo "# the default batch budget: close to plain, duplicates == their first occurrence"
if [ -n "$PY" ] && "$PY" -c 'import numpy' 2>/dev/null; then
    for x in plain dd; do
        "$LABSE" "${E[@]}" --batch-tokens 16384 --quiet --input "$T/in.txt" --output "$T/b$x.npy" \
            "${OPTS[@]}" $([ $x = dd ] && echo --dedup)
    done
    # 1e-5: a few float32 ulps of values of order 1 (measured 1.6e-7)
    "$PY" - "$T" <<'EOF'
import sys, numpy as np
t = sys.argv[1]
a, b = np.load(f"{t}/bplain.npy"), np.load(f"{t}/bdd.npy")
assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5, np.abs(a - b).max()
first = {}
for i, line in enumerate(open(f"{t}/in.txt", "rb").read().split(b"\n")[:len(b)]):
    k = (i // 700, line.rstrip(b"\r"))    # the table is emptied at every part of 700
    j = first.setdefault(k, i)
    assert b[i].tobytes() == b[j].tobytes(), (i, j)
EOF
    check "default budget: rows within 1e-5, duplicates byte-identical to their first" test $? -eq 0
else
    echo "    (no Python with numpy: skipped)"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
