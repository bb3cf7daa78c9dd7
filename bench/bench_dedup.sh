#!/usr/bin/env bash
# bench_dedup.sh — `labse encode --dedup` against a plain run (issue 12 §4): a sample of
# DISTINCT distinct lines of the shared bitext's both columns, concatenated 5 times and
# shuffled with a fixed seed (so 4 lines in 5 are duplicates, scattered over the file), encoded
# on the CPU with and without --dedup; the rows are checked equal within 1e-5 (the batches
# differ, and the CPU GEMMs are not batch-invariant to the last bit; tests/test_dedup.sh).
#
#   bench/bench_dedup.sh [BUILD_DIR] [MODEL] [DISTINCT] [PYTHON]
# Defaults: build, models/all-MiniLM-L6-v2, 3000, .venv/bin/python (numpy; the row check).
# DISTINCT=all: the issue's benchmark itself: every line of both columns as it is (its own
# duplicates kept), concatenated 5 times and shuffled (~1 M lines, ~17 M MiniLM tokens).
# DEDUP_TABLE=N (environment) passes --dedup-table N: the table must hold the distinct lines
# that come between a line and its next copy (with DISTINCT=all: 121,786 distinct lines, so
# the default 65,536 forgets most of them before they come back; use 262144).
# Prints a Markdown table: wall seconds, sentences/s, and tokens/s counted over the input's
# tokens (the plain run's count: what --dedup spares is work on those tokens).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}; MODEL=${2:-$ROOT/models/all-MiniLM-L6-v2}; N=${3:-3000}
PY=${4:-$ROOT/.venv/bin/python}
LABSE=$B/labse
BITEXT=$ROOT/../shared/data/bitext
W=$(mktemp -d "${TMPDIR:-/tmp}/labse_bdd.XXXXXX"); trap 'rm -rf "$W"' EXIT
seed() { yes 12 2>/dev/null; }                                 # shuf's fixed random source
if [ "$N" = all ]; then
    for f in "$BITEXT"/*.tsv; do cut -f1 "$f"; cut -f2 "$f"; done >"$W/distinct.txt"
else
    cat "$BITEXT"/*.tsv | tr '\t' '\n' | grep -v '^$' | sort -u | shuf -n "$N" --random-source=<(seed) >"$W/distinct.txt"
fi
for _ in 1 2 3 4 5; do cat "$W/distinct.txt"; done | shuf --random-source=<(seed) >"$W/in.txt"
E=(encode --model "$MODEL" --device cpu --input "$W/in.txt")
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F), model $(basename "$MODEL"), device cpu"
if [ "$N" = all ]; then
    echo "# input: every line of the bitext's both columns ($(wc -l <"$W/distinct.txt"), $(sort -u "$W/distinct.txt" | wc -l) distinct) x5, shuffled (seed 12): $(wc -l <"$W/in.txt") lines"
else
    echo "# input: $N distinct lines of the bitext (both columns) x5, shuffled (seed 12): $(wc -l <"$W/in.txt") lines"
fi
echo "# command: labse ${E[*]} --output OUT.npy [--dedup${DEDUP_TABLE:+ --dedup-table $DEDUP_TABLE}]"
echo
echo "| run | wall s | duplicates | tokens encoded | sentences/s | input tokens/s |"
echo "|---|---|---|---|---|---|"
TOK=""
for x in plain dedup; do
    "$LABSE" "${E[@]}" --output "$W/$x.npy" \
        $([ $x = dedup ] && echo --dedup ${DEDUP_TABLE:+--dedup-table $DEDUP_TABLE}) 2>"$W/err.$x"
    line=$(grep '^labse: encoded' "$W/err.$x")
    tokens=$(echo "$line" | sed 's/.* lines, \([0-9]*\) tokens.*/\1/')
    secs=$(echo "$line" | sed 's/.* capped in \([0-9.]*\) s:.*/\1/')
    dups=$(sed -n 's/^labse: \([0-9]*\) lines were duplicates.*/\1/p' "$W/err.$x"); dups=${dups:-0}
    [ -n "$TOK" ] || TOK=$tokens
    awk -v x="$x" -v s="$secs" -v d="$dups" -v t="$tokens" -v T="$TOK" -v n="$(wc -l <"$W/in.txt")" \
        'BEGIN { printf "| %s | %.1f | %d | %d | %.0f | %.0f |\n", x, s, d, t, n / s, T / s }'
done
"$PY" -c "
import numpy as np, sys
a, b = np.load('$W/plain.npy'), np.load('$W/dedup.npy')
d = float(np.abs(a - b).max())
print(f'# rows: max |plain - dedup| = {d:.2e}', '(ok, <= 1e-5)' if d <= 1e-5 else 'FAIL')
sys.exit(d > 1e-5)"
