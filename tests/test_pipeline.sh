#!/usr/bin/env bash
# test_pipeline.sh — end-to-end checks of the streaming pipeline through `labse encode`:
# folder output + manifest, resume after kill -9 at 5 deterministic random points and after
# SIGINT (byte-identical to an uninterrupted run), a changed input refused (also a same-size
# edit in the middle: each part's input bytes are re-hashed), shards + merge ==
# a single run (byte-identical), row i == line i encoded alone (<= 1e-5), bad input (CRLF, no
# final newline, empty lines, NUL, invalid UTF-8, a 3 MB line, empty input), f16 == numpy's
# astype(float16) of the f32 output, MPI environment sharding and `mpirun -np 2` (Open MPI).
#
#   test_pipeline.sh LABSE_BIN NPY_TOOL MODEL_DIR [PYTHON] [SIZE]
# Exit 77 when MODEL_DIR is absent. Checks needing numpy are skipped without it.
# SIZE (default 3000): bitext lines and synthetic lines in the corpus; windows are SIZE/10
# lines and parts SIZE*7/30 rows, so every check sees several windows and parts whatever the
# size (a real model is ~50x slower than tiny-bert: its run uses a smaller SIZE).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LABSE=${1:?labse}; NPYT=${2:?npy_tool}; MODEL=${3:?model}; PY=${4:-}; SIZE=${5:-3000}
need_model "$MODEL"
HAVE_NP=0
if [ -n "$PY" ] && [ -x "$PY" ] && "$PY" -c 'import numpy' 2>/dev/null; then HAVE_NP=1; fi
scratch pipe
# LABSE_TEST_THREADS: the encoder's OpenMP threads (the ThreadSanitizer stage of tools/test.sh
# sets 1: libgomp is not instrumented); the tokenizer and reader threads run either way.
E=(encode --model "$MODEL" --device cpu --threads "${LABSE_TEST_THREADS:-2}" --tok-threads 2 --quiet)
DIM=$("$LABSE" info --model "$MODEL" | awk '/^ *dim/ {print $2; exit}')

# A corpus: varied lengths, CRLF lines, empty lines, NUL, invalid UTF-8, many languages.
BITEXT=$(dirname "$0")/../../shared/data/bitext
{
    if [ -d "$BITEXT" ]; then cat "$BITEXT"/*.tsv | cut -f2 | head -"$SIZE"; fi
    awk -v n="$SIZE" 'BEGIN { for (i = 0; i < n; i++) { s = ""; for (j = 0; j < i % 37; j++) s = s " w" (i * j % 101); print "line " i s } }'
    printf 'crlf line\r\n\n\nnul\0inside\n\377\376 bad utf8\n'
    printf 'no final newline'
} >"$T/in.txt"
NL=$(awk 'END { print NR }' "$T/in.txt")
PART=$((SIZE * 7 / 30))
OPTS=(--part-rows "$PART" --window $((SIZE / 10)))

echo "# uninterrupted reference runs"
t0=$(date +%s%N)
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/ref/" "${OPTS[@]}"
check "folder run: rc 0" test $? -eq 0
REF_MS=$(( ($(date +%s%N) - t0) / 1000000 ))   # kill points are fractions of this
check "folder: manifest complete" grep -q '"complete": true' "$T/ref/manifest.json"
check "folder: $(( (NL + PART - 1) / PART )) parts" test "$(ls "$T/ref" | grep -c '^part-.*\.npy$')" -eq $(( (NL + PART - 1) / PART ))
check "folder: no temporaries" test -z "$(ls "$T/ref" | grep '\.tmp\.')"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/single.npy" "${OPTS[@]}"
check "single .npy: ($NL, $DIM)" test "$("$NPYT" shape "$T/single.npy")" = "$NL $DIM"
check "manifest sha256 == sha256sum of every part" manifest_ok "$T/ref"
"$LABSE" merge --npy "$T/ref_cat.npy" "$T/ref" -q
check "folder concatenated == single .npy (byte-identical)" cmp -s "$T/ref_cat.npy" "$T/single.npy"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/ref/" "${OPTS[@]}"; rc=$?
check "rerun on a complete folder: rc 0, nothing changes" test $rc -eq 0

echo "# kill -9 at random points, then resume"
# 5 rounds, each on a fresh folder: kill at a random point (5%..90% of an uninterrupted run),
# resume and kill again at a random point of the resumed run, then resume to the end. A kill
# counts only when it left the folder incomplete; when the first run of a round finished
# before its kill (a loaded machine), the round starts again with half the delay.
RANDOM=4242
killed=0
killrun() { # killrun DIR SCALE_PCT: start a run, kill -9 it after a random delay; 0 = a real kill
    local ms=$((REF_MS * (5 + RANDOM % 86) / 100 * $2 / 100)) pid
    "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$1/" "${OPTS[@]}" &
    pid=$!
    sleep "$(awk -v m=$ms 'BEGIN { printf "%.3f", m / 1000 }')"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if grep -q '"complete": true' "$1/manifest.json" 2>/dev/null; then return 1; fi
    killed=$((killed + 1))
    return 0
}
for round in 1 2 3 4 5; do
    scale=100
    for try in 1 2 3 4 5 6 7 8; do
        rm -rf "$T/k9"
        killrun "$T/k9" "$scale" && break
        scale=$((scale / 2))
    done
    killrun "$T/k9" 100
    "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/k9/" "${OPTS[@]}"
    check "round $round: resume after kill -9: rc 0" test $? -eq 0
    check "round $round: resumed folder == uninterrupted folder (byte-identical, same files)" diff -r "$T/k9" "$T/ref"
done
echo "    killed $killed times"
check "killed at least 5 times" test "$killed" -ge 5

echo "# SIGINT leaves a resumable folder"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/int/" "${OPTS[@]}" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do grep -q 'part-00001' "$T/int/manifest.json" 2>/dev/null && break; sleep 0.05; done
kill -INT "$pid"; wait "$pid"; rc=$?
check "SIGINT: rc 130 (got $rc)" test "$rc" -eq 130
check "SIGINT: message says resumable" grep -q "rerun the same command" "$T/err"
check "SIGINT: manifest incomplete" grep -q '"complete": false' "$T/int/manifest.json"
check "SIGINT: no temporaries" test -z "$(ls "$T/int" | grep '\.tmp\.')"
check "SIGINT: parts listed == parts on disk" test "$(grep -c '"file"' "$T/int/manifest.json")" -eq "$(ls "$T/int" | grep -c '^part-')"
cp -r "$T/int" "$T/int2"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/int/" "${OPTS[@]}"
check "resume after SIGINT == uninterrupted (byte-identical)" diff -r "$T/int" "$T/ref"

echo "# a changed input is refused on resume"
cp "$T/in.txt" "$T/in2.txt"; echo "one more line" >>"$T/in2.txt"
mv "$T/int2" "$T/int3"
sed -i "s|\"path\": \"$T/in.txt\"|\"path\": \"$T/in2.txt\"|" "$T/int3/manifest.json"
"$LABSE" "${E[@]}" --input "$T/in2.txt" --output "$T/int3/" "${OPTS[@]}" 2>"$T/err"; rc=$?
check "changed input: rc 1 (got $rc)" test "$rc" -eq 1
check "changed input: clear message" grep -q "cannot resume: the input changed" "$T/err"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/int3/" "${OPTS[@]}" --part-rows 500 2>"$T/err"; rc=$?
check "changed --part-rows: refused (rc $rc)" test "$rc" -eq 1
check "changed --part-rows: says so" grep -q "part_rows differs" "$T/err"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/int3/" "${OPTS[@]}" --format f16 2>"$T/err"; rc=$?
check "changed --format: refused (rc $rc)" test "$rc" -eq 1

echo "# a same-size edit in the middle of the input: resume and merge re-hash each part's input range"
range_ok() { # every part's input_sha256 == sha256 of its byte range of the input
    local d=$1 in=$2 bs be h
    grep -o '"byte_start": [0-9]*, "byte_end": [0-9]*, "input_sha256": "[0-9a-f]*"' "$d/manifest.json" | while read -r line; do
        bs=$(echo "$line" | sed 's/.*"byte_start": \([0-9]*\).*/\1/'); be=$(echo "$line" | sed 's/.*"byte_end": \([0-9]*\).*/\1/')
        h=$(echo "$line" | sed 's/.*"input_sha256": "\([0-9a-f]*\)".*/\1/')
        [ "$(tail -c +$((bs + 1)) "$in" | head -c $((be - bs)) | sha256sum | cut -d' ' -f1)" = "$h" ] || { echo "    bytes $bs..$be: input_sha256 differs"; exit 1; }
    done
}
check "manifest input_sha256 == sha256 of every part's input bytes" range_ok "$T/ref" "$T/in.txt"
# edit one ASCII letter in the middle of part 1's range (same size, same lines)
P1=$(grep '"file": "part-00001.npy"' "$T/ref/manifest.json" | grep -o '"byte_start": [0-9]*, "byte_end": [0-9]*')
BS=$(echo "$P1" | sed 's/.*"byte_start": \([0-9]*\).*/\1/'); BE=$(echo "$P1" | sed 's/.*"byte_end": \([0-9]*\).*/\1/')
MID=$(( (BS + BE) / 2 ))
HIT=$(tail -c +$((MID + 1)) "$T/in.txt" | head -c $((BE - MID)) | LC_ALL=C grep -abo '[a-y]' | head -1)
OFF=$((MID + ${HIT%%:*})); CH=${HIT#*:}
cp "$T/in.txt" "$T/in_mid.txt"
printf "$(printf '%s' "$CH" | tr 'a-y' 'b-z')" | dd of="$T/in_mid.txt" bs=1 seek="$OFF" conv=notrunc status=none
check "the edited input has the same size and differs" test "$(wc -c <"$T/in_mid.txt")" -eq "$(wc -c <"$T/in.txt")" -a "$(cmp "$T/in.txt" "$T/in_mid.txt" | wc -l)" -eq 1
# a folder encoded from in.txt, told that its input is in_mid.txt with in_mid.txt's own size and
# fingerprint: only the per-part hashes can see the edit
fp() { { printf '%d\n' "$(wc -c <"$1")"; head -c 1048576 "$1"; tail -c 1048576 "$1"; } | sha256sum | cut -d' ' -f1; }
cp -r "$T/ref" "$T/mid"
sed -i -e "s|\"path\": \"$T/in.txt\"|\"path\": \"$T/in_mid.txt\"|" -e "s|sha256-ends-1MiB:[0-9a-f]*|sha256-ends-1MiB:$(fp "$T/in_mid.txt")|" "$T/mid/manifest.json"
"$LABSE" "${E[@]}" --input "$T/in_mid.txt" --output "$T/mid/" "${OPTS[@]}" 2>"$T/err"; rc=$?
check "resume over a same-size mid edit: refused (rc $rc)" test "$rc" -eq 1
check "resume over a same-size mid edit: names part 1" grep -qF "cannot resume: the input changed under part 1 (" "$T/err"
sed -i "s|sha256-ends-1MiB:[0-9a-f]*|sha256-ends-1MiB:$(fp "$T/in.txt")|" "$T/mid/manifest.json"
cp "$T/in.txt" "$T/in_mid.txt"
"$LABSE" "${E[@]}" --input "$T/in_mid.txt" --output "$T/mid/" "${OPTS[@]}"; rc=$?
check "the same folder over the unedited bytes: accepted (rc $rc)" test "$rc" -eq 0

echo "# shards and merge"
for k in 0 1 2 3; do "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/sh/" --shard $k/4 "${OPTS[@]}" || bad "shard $k"; done
check "4 shard folders" test "$(ls -d "$T/sh"/shard-*-of-00004 | wc -l)" -eq 4
"$LABSE" merge --out "$T/merged" "$T"/sh/shard-* --npy "$T/merged.npy" -q
check "merge: rc 0" test $? -eq 0
check "merged .npy == single run (byte-identical)" cmp -s "$T/merged.npy" "$T/single.npy"
check "merged folder parts == single-run parts" diff <(cd "$T/merged" && sha256sum part-*) <(cd "$T/ref" && sha256sum part-*)
check "shards: input_sha256 of every part" range_ok "$T/sh/shard-00001-of-00004" "$T/in.txt"
cp -r "$T/sh" "$T/shmid"; cp "$T/in.txt" "$T/in_mid2.txt"
printf "$(printf '%s' "$CH" | tr 'a-y' 'b-z')" | dd of="$T/in_mid2.txt" bs=1 seek="$OFF" conv=notrunc status=none
sed -i "s|\"path\": \"$T/in.txt\"|\"path\": \"$T/in_mid2.txt\"|" "$T"/shmid/shard-*/manifest.json
"$LABSE" merge --npy "$T/shmid.npy" "$T"/shmid/shard-* 2>"$T/err"; rc=$?
check "merge over a same-size mid edit: refused (rc $rc)" test "$rc" -eq 1
check "merge over a same-size mid edit: says where" grep -q "cannot merge: the input changed under part" "$T/err"
check "merge refused: no .npy left" test ! -e "$T/shmid.npy"
sed -i "s|\"path\": \"$T/in_mid2.txt\"|\"path\": \"$T/gone.txt\"|" "$T"/shmid/shard-*/manifest.json
"$LABSE" merge --npy "$T/shmid.npy" "$T"/shmid/shard-* -q; rc=$?
check "merge where the input is absent: not checked, merged (rc $rc)" cmp -s "$T/shmid.npy" "$T/single.npy"
"$LABSE" merge "$T/m2" "$T/sh/shard-00000-of-00004" "$T/sh/shard-00001-of-00004" 2>"$T/err"; rc=$?
check "merge of 2 of 4 shards refused (rc $rc)" test "$rc" -eq 1
# MPI environment: OMPI_COMM_WORLD_RANK/SIZE pick the shard when the output is a folder.
for r in 0 1; do OMPI_COMM_WORLD_RANK=$r OMPI_COMM_WORLD_SIZE=2 "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/mpi/" "${OPTS[@]}"; done
check "MPI env: 2 shard folders" test -f "$T/mpi/shard-00000-of-00002/manifest.json" -a -f "$T/mpi/shard-00001-of-00002/manifest.json"
"$LABSE" merge --npy "$T/mpi.npy" "$T"/mpi/shard-* -q
check "MPI shards merged == single run" cmp -s "$T/mpi.npy" "$T/single.npy"
PMI_RANK=0 PMI_SIZE=2 "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/x.npy" 2>/dev/null; rc=$?
check "MPI env with a .npy output: usage error (rc $rc)" test "$rc" -eq 2
# Open MPI's launcher for real (tools/install_deps.sh installs openmpi-bin). labse never calls
# MPI: mpirun only starts the ranks with OMPI_COMM_WORLD_* set. As root (CI's containers)
# mpirun refuses to start without --allow-run-as-root; --oversubscribe: 2 ranks on 1 core too.
if command -v mpirun >/dev/null 2>&1; then
    timeout 300 mpirun --allow-run-as-root --oversubscribe -np 2 "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/mpirun/" "${OPTS[@]}" --shard auto; rc=$?
    check "mpirun -np 2: rc $rc" test "$rc" -eq 0
    "$LABSE" merge --npy "$T/mpirun.npy" "$T"/mpirun/shard-* -q
    check "mpirun -np 2 merged == single run" cmp -s "$T/mpirun.npy" "$T/single.npy"
elif [ -n "${LABSE_REQUIRE_MPI:-}${CI:-}" ]; then
    bad "mpirun -np 2: no mpirun under tools/test.sh or CI (tools/install_deps.sh installs openmpi-bin)"
else
    echo "skip mpirun -np 2: no mpirun (tools/install_deps.sh installs openmpi-bin)"
fi

echo "# bad input through the pipeline"
{
    printf 'abc\r\nabc\n\n   \nab\0c\nab\377c\n'
    awk 'BEGIN { for (i = 0; i < 600000; i++) printf "word%d ", i % 1000; print "" }'   # ~4.5 MB line
    awk 'BEGIN { for (i = 0; i < 2000; i++) printf "word%d ", i % 1000; print "" }'
    printf 'no newline at the end'
} >"$T/bad.txt"
TH=(); [ -z "${LABSE_TEST_THREADS:-}" ] || TH=(--threads "$LABSE_TEST_THREADS")  # default: all cores
"$LABSE" encode --model "$MODEL" --device cpu "${TH[@]}" --input "$T/bad.txt" --output "$T/bad/" --part-rows 4 2>"$T/err"
check "bad input: rc 0" test $? -eq 0
"$LABSE" merge --npy "$T/bad.npy" "$T/bad" -q
check "bad input: 9 rows" test "$("$NPYT" shape "$T/bad.npy")" = "9 $DIM"
rows_same() { local d; d=$("$NPYT" maxdiff "$1" "$2" "$3") && awk -v d="$d" 'BEGIN { exit !(d <= 1e-5) }'; }
check "CRLF line == plain line" rows_same "$T/bad.npy" 0 1
check "empty line == whitespace line" rows_same "$T/bad.npy" 2 3
check "NUL and invalid UTF-8 dropped like HF does" rows_same "$T/bad.npy" 0 4
check "4.5 MB line == its first 2000 words (both truncated)" rows_same "$T/bad.npy" 6 7
check "summary counts the capped line" grep -q "1 capped" "$T/err"
check "summary counts the repaired line" grep -q "1 repaired" "$T/err"
printf '' >"$T/empty.txt"
"$LABSE" "${E[@]}" --input "$T/empty.txt" --output "$T/empty/"
check "empty input: complete folder with no parts" grep -q '"complete": true' "$T/empty/manifest.json"
"$LABSE" "${E[@]}" --input "$T/empty.txt" --output "$T/empty.npy"
check "empty input: (0, dim) .npy" test "$("$NPYT" shape "$T/empty.npy")" = "0 $DIM"
"$LABSE" "${E[@]}" --input - --output "$T/stdin/" "${OPTS[@]}" <"$T/in.txt"
"$LABSE" merge --npy "$T/stdin.npy" "$T/stdin" -q
check "stdin into a folder == file run" cmp -s "$T/stdin.npy" "$T/single.npy"

if [ "$HAVE_NP" = 1 ]; then
    echo "# numpy: row i == line i alone; f16 == astype(float16)"
    "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/f16/" "${OPTS[@]}" --format f16
    "$LABSE" merge --npy "$T/f16.npy" "$T/f16" -q
    check "f16 output == numpy astype(float16) of the f32 output (bitwise)" "$PY" - "$T" <<'PYEOF'
import sys, numpy as np
t = sys.argv[1]
a = np.load(f"{t}/single.npy"); h = np.load(f"{t}/f16.npy")
assert h.dtype == np.float16 and h.shape == a.shape
assert (a.astype(np.float16).view(np.uint16) == h.view(np.uint16)).all()
PYEOF
    # 25 lines encoded one at a time vs their rows in the batched run
    awk 'NR % 241 == 7 || NR == 1 { print NR - 1 }' "$T/in.txt" | head -25 >"$T/idx"
    while read -r i; do
        awk -v n=$((i + 1)) 'NR == n { printf "%s", $0; exit }' "$T/in.txt" >"$T/one.txt"
        "$LABSE" "${E[@]}" --input "$T/one.txt" --output "$T/one_$i.npy"
    done <"$T/idx"
    check "row i == line i encoded alone (max abs <= 1e-5)" "$PY" - "$T" <<'PYEOF'
import sys, numpy as np
t = sys.argv[1]
a = np.load(f"{t}/single.npy")
worst = 0.0
for i in map(int, open(f"{t}/idx").read().split()):
    r = np.load(f"{t}/one_{i}.npy"); assert r.shape == (1, a.shape[1])
    worst = max(worst, float(np.abs(r[0] - a[i]).max()))
print("    max abs", worst)
assert worst <= 1e-5
PYEOF
else
    echo "# (no numpy: f16 and row-alone checks skipped)"
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
