#!/usr/bin/env bash
# test_input_formats.sh — compressed and structured input through `labse encode` (issue 12 §1,
# §3): .gz, .zst and .xz files and stdin give the plain file's rows bit for bit (the line
# rules — CRLF, empty lines, NUL, invalid UTF-8, an 11 MB line over the 1 MiB cap and the 8 MiB read, no final
# newline — apply the same); several gzip members / zstd frames read as one text; a truncated
# stream is an error; parts of a compressed input carry the plain file's input hashes; kill -9
# + resume on a .gz == an undisturbed run; a changed part hash is refused on resume; --shard on
# a .zst + merge == a single run; --tsv-column and --jsonl-field (nested, missing field, bad
# JSON, with and without --on-bad-record empty) give the rows of the plain text they select.
#
#   test_input_formats.sh LABSE_BIN MODEL_DIR [PYTHON]
# Exit 77 when MODEL_DIR or a compressor (gzip, zstd, xz) is absent. The JSONL corpus is made
# with PYTHON (or python3). The model does not matter here: tiny-bert.
set -u
LABSE=${1:?labse}; MODEL=${2:?model}; PY=${3:-}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_model "$MODEL"
for t in gzip zstd xz; do command -v $t >/dev/null || { echo "SKIP: no $t"; exit 77; }; done
[ -n "$PY" ] && [ -x "$PY" ] || PY=python3
scratch inputs
# one encoder thread: the rows do not depend on it here, and OpenMP spinning on a loaded
# 2-core machine made the run 5x slower (measured)
E=(encode --model "$MODEL" --device cpu --threads "${LABSE_TEST_THREADS:-1}" --tok-threads 2 --quiet)
# windows of 150 and parts of 300 rows: several of each in ~2000 lines
OPTS=(--part-rows 300 --window 150)

BITEXT=$(dirname "$0")/../../shared/data/bitext
{
    if [ -d "$BITEXT" ]; then cat "$BITEXT"/*.tsv | head -1500; fi
    awk 'BEGIN { for (i = 0; i < 400; i++) { s = ""; for (j = 0; j < i % 23; j++) s = s " w" (i * j % 97); print "line " i "\t" s } }'
} >"$T/pairs.tsv"                           # two columns (tabs), the structured tests' source
{
    cut -f2 "$T/pairs.tsv"
    printf 'crlf line\r\n\n\nnul\0inside\n\377\376 bad utf8\n'
    awk 'BEGIN { for (i = 0; i < 1500000; i++) printf "word%d ", i % 1000; print "" }'  # ~11 MB line: over the cap and over one 8 MiB read
    printf 'no final newline'
} >"$T/in.txt"
NL=$(awk 'END { print NR }' "$T/in.txt")

echo "# compressed == plain, bit for bit (files and stdin)"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/plain.npy" "${OPTS[@]}"
check "plain run: rc 0" test $? -eq 0
gzip -c "$T/in.txt" >"$T/in.gz"; zstd -q -c "$T/in.txt" >"$T/in.zst"; xz -c "$T/in.txt" >"$T/in.xz"
for f in gz zst xz; do
    "$LABSE" "${E[@]}" --input "$T/in.$f" --output "$T/$f.npy" "${OPTS[@]}"
    check ".$f file == plain" cmp -s "$T/$f.npy" "$T/plain.npy"
    "$LABSE" "${E[@]}" --input - --output "$T/s$f.npy" "${OPTS[@]}" <"$T/in.$f"
    check ".$f on stdin == plain" cmp -s "$T/s$f.npy" "$T/plain.npy"
done
# several members / frames, as `cat a.gz b.gz` or pzstd make them
head -c 70000 "$T/in.txt" >"$T/a"; tail -c +70001 "$T/in.txt" >"$T/b"
{ gzip -c "$T/a"; gzip -c "$T/b"; } >"$T/multi.gz"; { zstd -q -c "$T/a"; zstd -q -c "$T/b"; } >"$T/multi.zst"
for f in gz zst; do
    "$LABSE" "${E[@]}" --input "$T/multi.$f" --output "$T/m$f.npy" "${OPTS[@]}"
    check "two .$f members cut mid-line == plain" cmp -s "$T/m$f.npy" "$T/plain.npy"
done
head -c $(( $(wc -c <"$T/in.gz") / 2 )) "$T/in.gz" >"$T/trunc.gz"
"$LABSE" "${E[@]}" --input "$T/trunc.gz" --output "$T/trunc.npy" 2>"$T/err"; rc=$?
check "truncated .gz: rc 1 (got $rc), says truncated, no output" \
    test "$rc" -eq 1 -a ! -e "$T/trunc.npy" -a -n "$(grep 'truncated gzip stream' "$T/err")"
: | gzip -c >"$T/empty.gz"
"$LABSE" "${E[@]}" --input "$T/empty.gz" --output "$T/empty/"
check "empty .gz: a complete folder of 0 lines" grep -q '"lines": 0}' "$T/empty/manifest.json"

echo "# folders: part hashes, kill -9 + resume on .gz, shards on .zst"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/pf/" "${OPTS[@]}"
"$LABSE" "${E[@]}" --input "$T/in.gz" --output "$T/gf/" "${OPTS[@]}"
hashes() { grep -o '"byte_start": [0-9]*, "byte_end": [0-9]*, "input_sha256": "[0-9a-f]*"' "$1/manifest.json"; }
check "gz folder: ranges and input hashes == the plain folder's" diff <(hashes "$T/pf") <(hashes "$T/gf")
hashes_of_bytes() { # "start end sha256" of every part's range of the plain text, by dd
    hashes "$1" | sed 's/[^0-9]*\([0-9]*\)[^0-9]*\([0-9]*\).*"\([0-9a-f]*\)"/\1 \2 \3/' | while read -r bs be h; do
        echo "$bs $be $(tail -c +$((bs + 1)) "$T/in.txt" | head -c $((be - bs)) | sha256sum | cut -d' ' -f1) $h"
    done | awk '$3 != $4 { print "    bytes " $1 ".." $2 ": input_sha256 differs"; bad = 1 } END { exit bad }'
}
check "gz folder: input_sha256 == sha256 of the decompressed bytes of each part" hashes_of_bytes "$T/gf"
check "gz folder: manifest says gzip and the decompressed size" \
    grep -q "\"compression\": \"gzip\", \"data_size\": $(wc -c <"$T/in.txt")" "$T/gf/manifest.json"
check "gz folder: parts == plain folder's" diff <(cd "$T/gf" && sha256sum part-*) <(cd "$T/pf" && sha256sum part-*)
T0=$(date +%s%N)
"$LABSE" "${E[@]}" --input "$T/in.gz" --output "$T/gf/" "${OPTS[@]}"
check "rerun on a complete .gz folder: rc 0" test $? -eq 0
REF_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
# kill after a part or two (polling the manifest), then resume; at most 5 tries on a loaded
# machine where the run may finish first
killed=0
for try in 1 2 3 4 5; do
    rm -rf "$T/k9"
    "$LABSE" "${E[@]}" --input "$T/in.gz" --output "$T/k9/" "${OPTS[@]}" &
    pid=$!
    for _ in $(seq 400); do grep -q "part-0000$try" "$T/k9/manifest.json" 2>/dev/null && break; sleep 0.01; done
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    grep -q '"complete": false' "$T/k9/manifest.json" 2>/dev/null && { killed=1; break; }
done
check "kill -9 left an incomplete .gz folder" test "$killed" -eq 1
"$LABSE" "${E[@]}" --input "$T/in.gz" --output "$T/k9/" "${OPTS[@]}"
check "resume on .gz: rc 0" test $? -eq 0
check "resumed .gz folder == undisturbed (byte-identical)" diff -r "$T/k9" "$T/gf"
# a kept part whose input hash does not match: resume re-hashes the decompressed bytes
cp -r "$T/gf" "$T/gbad"
"$PY" - "$T/gbad/manifest.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["complete"], m["parts"] = False, m["parts"][:3]       # an interrupted run's first 3 parts
h = m["parts"][1]["input_sha256"]
m["parts"][1]["input_sha256"] = ("0" if h[0] != "0" else "1") + h[1:]
json.dump(m, open(sys.argv[1], "w"))
PYEOF
"$LABSE" "${E[@]}" --input "$T/in.gz" --output "$T/gbad/" "${OPTS[@]}" 2>"$T/err"; rc=$?
check "resume over a changed .gz part hash: refused (rc $rc), names part 1" \
    test "$rc" -eq 1 -a -n "$(grep -F 'the input changed under part 1 (' "$T/err")"
# shards: on the text without the 11 MB line (with it, the cuts of 3 shards fall in that line)
cut -f2 "$T/pairs.tsv" >"$T/short.txt"; zstd -q -c "$T/short.txt" >"$T/short.zst"
"$LABSE" "${E[@]}" --input "$T/short.txt" --output "$T/short.npy" "${OPTS[@]}"
for k in 0 1 2; do "$LABSE" "${E[@]}" --input "$T/short.zst" --output "$T/sh/" --shard $k/3 "${OPTS[@]}" || bad "shard $k"; done
"$LABSE" merge --npy "$T/sh.npy" "$T"/sh/shard-* -q
check ".zst: 3 shards merged == single run (byte-identical)" cmp -s "$T/sh.npy" "$T/short.npy"
for k in 0 1 2; do "$LABSE" "${E[@]}" --input "$T/short.txt" --output "$T/psh/" --shard $k/3 "${OPTS[@]}"; done
shards() { cat "$T/$1"/shard-*/manifest.json | grep -o '"shard": {[^}]*}'; }
check ".zst: 3 non-empty shards, cut where the plain file's are" \
    test "$(shards sh | grep -c '"lines": [1-9]')" -eq 3 -a "$(shards sh)" = "$(shards psh)"

echo "# structured input: --tsv-column, --jsonl-field, --on-bad-record"
cut -f1 "$T/pairs.tsv" >"$T/c1.txt"; cp "$T/short.txt" "$T/c2.txt"
for c in 1 2; do
    "$LABSE" "${E[@]}" --input "$T/c$c.txt" --output "$T/c$c.npy" "${OPTS[@]}"
    "$LABSE" "${E[@]}" --input "$T/pairs.tsv" --tsv-column $c --output "$T/t$c.npy" "${OPTS[@]}"
    check "--tsv-column $c == cut -f$c" cmp -s "$T/t$c.npy" "$T/c$c.npy"
done
gzip -c "$T/pairs.tsv" | "$LABSE" "${E[@]}" --input - --tsv-column 2 --output "$T/tz.npy" "${OPTS[@]}"
check "--tsv-column 2 of a .gz on stdin == cut -f2" cmp -s "$T/tz.npy" "$T/c2.npy"
"$PY" - "$T/pairs.tsv" "$T/in.jsonl" "$T/bad.jsonl" <<'PYEOF'
import json, sys
src, good, badf = sys.argv[1:4]
rows = [l.rstrip(b"\n").split(b"\t") for l in open(src, "rb")]
with open(good, "w") as g, open(badf, "w") as b:
    for i, r in enumerate(rows):
        t = r[1].decode("utf-8", "surrogateescape")
        # nested field, keys in varied order, \u escapes (ensure_ascii) and other value types
        rec = {"id": i, "meta": {"lang": "xx", "text": t}, "n": None} if i % 2 else \
              {"meta": {"text": t, "k": [1, 2]}, "id": i}
        g.write(json.dumps(rec, ensure_ascii=bool(i % 3)) + "\n")
        if i == 3:   b.write('{"meta": {"txt": "missing"}}\n')
        elif i == 5: b.write('{"meta": {"text": "unterminated}\n')
        elif i == 7: b.write('{"meta": {"text": 42}}\n')
        else:        b.write(json.dumps(rec) + "\n")
PYEOF
"$LABSE" "${E[@]}" --input "$T/in.jsonl" --jsonl-field meta.text --output "$T/j.npy" "${OPTS[@]}"
check "--jsonl-field meta.text (nested, escapes) == cut -f2" cmp -s "$T/j.npy" "$T/c2.npy"
"$LABSE" "${E[@]}" --input "$T/bad.jsonl" --jsonl-field meta.text --output "$T/jb.npy" "${OPTS[@]}" 2>"$T/err"; rc=$?
check "missing field: rc 1 (got $rc), names file and line 4, no output" \
    test "$rc" -eq 1 -a ! -e "$T/jb.npy" -a -n "$(grep -F "$T/bad.jsonl: line 4: bad record: no field 'meta.text'" "$T/err")"
sed -i 4d "$T/bad.jsonl"; sed -i '3a {"meta": {"txt": "missing"}}' "$T/bad.jsonl"
"$LABSE" "${E[@]}" --input "$T/bad.jsonl" --jsonl-field meta.text --output "$T/jb.npy" --on-bad-record empty "${OPTS[@]}" 2>"$T/err"; rc=$?
check "--on-bad-record empty: rc 0 (got $rc)" test "$rc" -eq 0
awk 'NR == 4 || NR == 6 || NR == 8 { print ""; next } { print }' "$T/c2.txt" >"$T/c2bad.txt"
"$LABSE" "${E[@]}" --input "$T/c2bad.txt" --output "$T/c2bad.npy" "${OPTS[@]}"
check "--on-bad-record empty: bad records are empty lines (missing, bad JSON, a number)" cmp -s "$T/jb.npy" "$T/c2bad.npy"
"$LABSE" encode --model "$MODEL" --device cpu --threads "${LABSE_TEST_THREADS:-1}" --input "$T/bad.jsonl" --jsonl-field meta.text --output "$T/jb2.npy" --on-bad-record empty 2>"$T/err"
check "--on-bad-record empty: the summary counts 3" grep -q "3 bad records were encoded as empty lines" "$T/err"
sed -n 6p "$T/bad.jsonl" >"$T/one.jsonl"
"$LABSE" "${E[@]}" --input "$T/one.jsonl" --jsonl-field meta.text --output "$T/one.npy" 2>"$T/err"
check "bad JSON: names line 1 and says not JSON" grep -qF "$T/one.jsonl: line 1: bad record: not JSON" "$T/err"
"$LABSE" "${E[@]}" --input "$T/pairs.tsv" --tsv-column 3 --output "$T/t3/" "${OPTS[@]}" 2>"$T/err"; rc=$?
check "--tsv-column 3 of 2 columns: rc 1, names line 1" test "$rc" -eq 1 -a -n "$(grep -F "pairs.tsv: line 1: bad record: 2 columns, no column 3" "$T/err")"
"$LABSE" "${E[@]}" --input "$T/pairs.tsv" --tsv-column 2 --output "$T/tf/" "${OPTS[@]}"
"$LABSE" "${E[@]}" --input "$T/pairs.tsv" --tsv-column 1 --output "$T/tf/" "${OPTS[@]}" 2>"$T/err"; rc=$?
check "resume with another --tsv-column: refused (rc $rc)" test "$rc" -eq 1 -a -n "$(grep 'the records differ' "$T/err")"
"$LABSE" "${E[@]}" --input "$T/pairs.tsv" --tsv-column 1 --jsonl-field x --output "$T/x.npy" 2>/dev/null
check "--tsv-column with --jsonl-field: usage error" test $? -eq 2

echo "passed $PASS, failed $FAIL"
[ "$FAIL" -eq 0 ]
