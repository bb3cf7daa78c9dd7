#!/usr/bin/env bash
# test_signals.sh — `labse merge` and `labse mine` interrupted at random points: SIGINT,
# SIGTERM and SIGKILL, each in ROUNDS rounds at a deterministic pseudo-random delay in
# [0, the command's own uninterrupted run time]. After every interruption:
#   - the final outputs are absent or byte-identical to the uninterrupted run's (never partial:
#     every output is written to "<name>.tmp.<pid>" and renamed when complete);
#   - a merged folder holds a manifest only if it equals the uninterrupted one (the old
#     manifest is removed before any part is replaced);
#   - after SIGINT/SIGTERM: exit status 130/143 (or 0 when the run had finished) and no
#     temporary left behind (labse removes its temporaries in the signal handler);
#   - after SIGKILL: a rerun finishes byte-identical (a temporary may remain: nothing can
#     remove it, and it is never a final name).
# `labse encode`'s own interruptions (resume after kill -9, SIGINT) are in test_pipeline.sh.
#
#   test_signals.sh LABSE_BIN MODEL_DIR [LINES] [ROUNDS]
# Exit 77 when MODEL_DIR is absent.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LABSE=${1:?labse}; MODEL=${2:?model}; LINES=${3:-6000}; ROUNDS=${4:-4}
need_model "$MODEL"
scratch sig
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

awk -v n="$LINES" 'BEGIN { srand(11); for (i = 0; i < n; i++) { s = "line " i; k = 3 + int(rand() * 30); for (j = 0; j < k; j++) s = s " w" int(rand() * 3000); print s } }' >"$T/in.txt"
"$LABSE" encode --model "$MODEL" --device cpu --threads 2 --quiet --input "$T/in.txt" \
    --part-rows 250 --window 250 --output "$T/sh/" --shard 0/2 &&
"$LABSE" encode --model "$MODEL" --device cpu --threads 2 --quiet --input "$T/in.txt" \
    --part-rows 250 --window 250 --output "$T/sh/" --shard 1/2 || { echo "FAIL: setup encode"; exit 1; }
SHARDS=("$T"/sh/shard-*)

# The uninterrupted references, timed.
t0=$(now_ms)
"$LABSE" merge --out "$T/ref_merged" --npy "$T/ref.npy" "${SHARDS[@]}" -q || { echo "FAIL: merge"; exit 1; }
MERGE_MS=$(( $(now_ms) - t0 + 1 ))
t0=$(now_ms)
"$LABSE" mine --src-emb "$T/ref.npy" --tgt-emb "$T/ref.npy" --device cpu --threads 2 -k 8 \
    --output "$T/ref.tsv" 2>/dev/null || { echo "FAIL: mine"; exit 1; }
MINE_MS=$(( $(now_ms) - t0 + 1 ))
echo "# uninterrupted: merge ${MERGE_MS} ms, mine ${MINE_MS} ms ($LINES rows)"

same_or_absent() { [ ! -e "$1" ] || cmp -s "$1" "$2"; }

# run_killed NAME SIGNAL ROUND MS CMD... : start CMD, send SIGNAL after a pseudo-random delay
# in [0, MS], wait; sets RC.
run_killed() {
    local name=$1 sig=$2 round=$3 ms=$4; shift 4
    local d=$(( (round * 7919 + ${#sig} * 104729) % (ms + 1) ))
    "$@" 2>/dev/null &
    local pid=$!
    sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"
    kill -s "$sig" "$pid" 2>/dev/null
    wait "$pid"; RC=$?
    echo "    $name: $sig after ${d} ms -> rc $RC"
}

for sig in INT TERM KILL; do
    want=$((128 + $(kill -l "$sig")))
    for round in $(seq 1 "$ROUNDS"); do
        echo "# merge, SIG$sig, round $round"
        M="$T/m_${sig}_$round"
        if [ $((round % 2)) -eq 0 ]; then cp -r "$T/ref_merged" "$M"; fi # over an older merge too
        run_killed merge "$sig" "$round" "$MERGE_MS" "$LABSE" merge --out "$M" --npy "$M.npy" "${SHARDS[@]}" -q
        check "merge SIG$sig #$round: rc 0 or $want (got $RC)" test "$RC" -eq 0 -o "$RC" -eq "$want"
        check "merge SIG$sig #$round: .npy absent or complete" same_or_absent "$M.npy" "$T/ref.npy"
        check "merge SIG$sig #$round: manifest absent or complete" same_or_absent "$M/manifest.json" "$T/ref_merged/manifest.json"
        if [ "$sig" != KILL ]; then
            check "merge SIG$sig #$round: no temporary left" no_tmp "$T" "$M"
        fi
        "$LABSE" merge --out "$M" --npy "$M.npy" "${SHARDS[@]}" -q
        # (after SIGKILL the killed process's temporary may remain beside the parts: not compared)
        check "merge SIG$sig #$round: rerun == uninterrupted (folder and .npy)" \
            eval 'cmp -s "$M.npy" "$T/ref.npy" && diff -r -x "*.tmp.*" "$M" "$T/ref_merged" >/dev/null'

        echo "# mine, SIG$sig, round $round"
        P="$T/p_${sig}_$round.tsv"
        if [ $((round % 2)) -eq 0 ]; then cp "$T/ref.tsv" "$P"; fi # over an older output too
        run_killed mine "$sig" "$round" "$MINE_MS" "$LABSE" mine --src-emb "$T/ref.npy" --tgt-emb "$T/ref.npy" \
            --device cpu --threads 2 -k 8 --output "$P"
        check "mine SIG$sig #$round: rc 0 or $want (got $RC)" test "$RC" -eq 0 -o "$RC" -eq "$want"
        check "mine SIG$sig #$round: output absent or complete" same_or_absent "$P" "$T/ref.tsv"
        if [ "$sig" != KILL ]; then
            check "mine SIG$sig #$round: no temporary left" no_tmp "$T"
        fi
        "$LABSE" mine --src-emb "$T/ref.npy" --tgt-emb "$T/ref.npy" --device cpu --threads 2 -k 8 \
            --output "$P" 2>/dev/null
        check "mine SIG$sig #$round: rerun == uninterrupted" cmp -s "$P" "$T/ref.tsv"
    done
done

echo "# $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
