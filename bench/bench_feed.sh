#!/usr/bin/env bash
# bench_feed.sh — the host's feeding rate (issue 12 §7): `labse encode --device null` (no
# encoder: zero rows at once) on the shared bitext's both columns, plain, .gz and .zst, at 1
# and 2 tokenizer threads. Everything but the encoder is measured: read, decompress, split,
# tokenise, bucket, pack, reorder, write (+ the sha256 of the output that the manifest keeps).
#
#   bench/bench_feed.sh [BUILD_DIR] [MODEL] [REPEAT] [FORMAT]
# Defaults: build, models/labse-random (LaBSE's tokenizer and 768-d rows), corpus x3, f32.
# Prints a Markdown table: wall tokens/s of the pipeline (its own clock, model load excluded)
# and tokens per CPU-second of the whole process (user + sys from /usr/bin/time, minus the
# same for a 1-line input: the model load), the figure that says how many cores a GPU needs;
# best of 2 runs. The output goes to /dev/shm when it exists (tmpfs: the disk's fsync is not
# the host's CPU cost; say which in the results).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}; MODEL=${2:-$ROOT/models/labse-random}; REP=${3:-3}; FMT=${4:-f32}
LABSE=$B/labse
BITEXT=$ROOT/../shared/data/bitext
OUTD=/dev/shm; [ -d "$OUTD" ] && [ -w "$OUTD" ] || OUTD=${TMPDIR:-/tmp}
W=$(mktemp -d "${TMPDIR:-/tmp}/labse_feed.XXXXXX"); O=$(mktemp -d "$OUTD/labse_feed.XXXXXX")
trap 'rm -rf "$W" "$O"' EXIT
cat "$BITEXT"/*.tsv | tr '\t' '\n' >"$W/both.txt"             # both columns, a line each
for _ in $(seq "$REP"); do cat "$W/both.txt"; done >"$W/in.txt"
gzip -6 -c "$W/in.txt" >"$W/in.gz"; zstd -q -3 -c "$W/in.txt" >"$W/in.zst"
head -1 "$W/in.txt" >"$W/one.txt"

# run FILE TT -> "tokens wall_s cpu_s" (cpu: user + sys of the process)
run() {
    rm -f "$O/out.npy"
    /usr/bin/time -f "%U %S" -o "$W/time" "$LABSE" encode --model "$MODEL" --device null \
        --tok-threads "$2" --format "$FMT" --input "$1" --output "$O/out.npy" 2>"$W/err"
    local line; line=$(grep '^labse: encoded' "$W/err")
    local tokens secs
    tokens=$(echo "$line" | sed 's/.* lines, \([0-9]*\) tokens.*/\1/')
    secs=$(echo "$line" | sed 's/.* capped in \([0-9.]*\) s:.*/\1/')
    echo "$tokens $secs $(awk '{ print $1 + $2 }' "$W/time")"
}
LOAD=$(run "$W/one.txt" 1 | awk '{ print $3 }')   # CPU seconds of loading the model
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F), model $(basename "$MODEL"), --format $FMT, output in $OUTD"
echo "# input: bitext both columns x$REP: $(wc -l <"$W/in.txt") lines, $(du -m "$W/in.txt" | cut -f1) MB (.gz $(du -m "$W/in.gz" | cut -f1) MB, .zst $(du -m "$W/in.zst" | cut -f1) MB); model load: $LOAD CPU s (subtracted)"
echo
echo "| input | tok threads | tokens | wall s | tokens/s (wall) | CPU s | tokens per CPU-second |"
echo "|---|---|---|---|---|---|---|"
for f in txt gz zst; do
    for tt in 1 2; do
        best=""
        for _ in 1 2; do
            r=$(run "$W/in.$f" "$tt")
            if [ -z "$best" ] || awk -v a="$r" -v b="$best" 'BEGIN { split(a, x); split(b, y); exit !(x[2] < y[2]) }'; then best=$r; fi
        done
        echo "$best" | awk -v f="$f" -v tt="$tt" -v load="$LOAD" '{
            cpu = $3 - load; if (cpu <= 0) cpu = $3
            printf "| %s | %d | %d | %.2f | %.2f M | %.2f | %.2f M |\n", (f == "txt" ? "plain" : "." f), tt, $1, $2, $1 / $2 / 1e6, cpu, $1 / cpu / 1e6 }'
    done
done
