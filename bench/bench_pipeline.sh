#!/usr/bin/env bash
# bench_pipeline.sh — end-to-end `labse encode` through the streaming pipeline: tokens/s,
# time spent tokenising, and peak RSS at 1x and 10x the input (host memory must stay flat),
# with --tok-threads variations; and the tokenizer alone, tokens/s on one core.
#
#   bench/bench_pipeline.sh [BUILD_DIR] [LINES_1X] [MODEL]
# Defaults: build, 100000 lines, tests/data/tiny-bert with --max-length 32 — a tiny encoder
# so the encoder is not the bottleneck and the pipeline (reader, tokenizer pool, bucketing,
# writer) shows; figures of LaBSE-sized encoding are in RESULTS.md (labse bench).
# Corpus: ../shared/data/bitext (both columns of 109 languages) repeated to the line count.
# Needs GNU time (/usr/bin/time; Debian package `time`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}; N=${2:-100000}; MODEL=${3:-$ROOT/tests/data/tiny-bert}
LABSE=$B/labse
BITEXT=$ROOT/../shared/data/bitext
W=$(mktemp -d "${TMPDIR:-/tmp}/labse_bp.XXXXXX"); trap 'rm -rf "$W"' EXIT
cat "$BITEXT"/*.tsv | tr '\t' '\n' | grep -v '^$' >"$W/base.txt"
make_input() { # make_input LINES OUT
    local n=$1 out=$2 have=0
    : >"$out"
    while [ "$have" -lt "$n" ]; do cat "$W/base.txt" >>"$out"; have=$((have + $(wc -l <"$W/base.txt"))); done
    head -n "$n" "$out" >"$out.tmp" && mv "$out.tmp" "$out"
}
make_input "$N" "$W/in1.txt"
make_input $((10 * N)) "$W/in10.txt"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), date: $(date -u +%F)"
echo "# model: $MODEL (--max-length 32), input 1x: $N lines ($(du -h "$W/in1.txt" | cut -f1)), 10x: $((10 * N)) lines"
echo
echo "## tokenizer alone, one thread (labse bench --no-encode on the 1x input)"
"$LABSE" bench --model "$MODEL" --input "$W/in1.txt" --no-encode --max-length 32 2>/dev/null | grep -E "tokens_per_s|sentences_per_s|seconds" | head -3 || true
"$LABSE" bench --model "$MODEL" --input "$W/in1.txt" --no-encode 2>/dev/null | grep -E "tokens_per_s" | head -1 | sed 's/^/  (max-length default) /' || true
echo
echo "## end to end: labse encode --output DIR/ (f32, part-rows 1000000)"
printf '%-6s %-11s %10s %12s %12s %12s %10s %10s\n' size tok-threads lines tokens/s sentences/s tok-cpu-s wall-s peakRSS-MB
for size in 1 10; do
    for tt in 1 2; do
        rm -rf "$W/out"
        /usr/bin/time -v "$LABSE" encode --model "$MODEL" --device cpu --max-length 32 \
            --input "$W/in$size.txt" --output "$W/out/" --tok-threads $tt 2>"$W/err" >/dev/null
        s=$(grep '^labse: encoded' "$W/err")
        lines=$(echo "$s" | sed 's/.*encoded \([0-9]*\) lines.*/\1/')
        tps=$(echo "$s" | sed 's/.*sentences\/s, \([0-9]*\) tokens\/s.*/\1/')
        sps=$(echo "$s" | sed 's/.*s: \([0-9.]*\) sentences\/s.*/\1/')
        tok=$(echo "$s" | sed 's/.*threads: \([0-9.]*\) s tokenising.*/\1/')
        wall=$(echo "$s" | sed 's/.* in \([0-9.]*\) s:.*/\1/')
        rss=$(awk '/Maximum resident set size/ { printf "%.0f", $6 / 1024 }' "$W/err")
        printf '%-6s %-11s %10s %12s %12s %12s %10s %10s\n' "${size}x" "$tt" "$lines" "$tps" "$sps" "$tok" "$wall" "$rss"
    done
done
