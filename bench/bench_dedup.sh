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
# PLAIN=one (environment): the plain run encodes one copy of the distinct lines instead of
# all five, and its wall time is scaled by 5 (marked "x5 est."): without --dedup every copy
# costs the same, so its rates are those of one copy; the encoder's CPU time for the full
# corpus (~1 h on 2 cores with all-MiniLM-L6-v2) is spared. The rows are still compared, each
# --dedup row against the plain row of its line.
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
# in.txt: the five copies shuffled; idx.txt: the line of distinct.txt each came from (0-based)
nd=$(wc -l <"$W/distinct.txt")
for _ in 1 2 3 4 5; do awk '{ printf "%d\t%s\n", NR - 1, $0 }' "$W/distinct.txt"; done |
    shuf --random-source=<(seed) >"$W/pairs.txt"
cut -f1 "$W/pairs.txt" >"$W/idx.txt"
cut -f2- "$W/pairs.txt" >"$W/in.txt"
rm -f "$W/pairs.txt"
E=(encode --model "$MODEL" --device cpu)
ONE=0; [ "${PLAIN:-}" = one ] && ONE=1
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F), model $(basename "$MODEL"), device cpu"
if [ "$N" = all ]; then
    echo "# input: every line of the bitext's both columns ($nd, $(sort -u "$W/distinct.txt" | wc -l) distinct) x5, shuffled (seed 12): $(wc -l <"$W/in.txt") lines"
else
    echo "# input: $N distinct lines of the bitext (both columns) x5, shuffled (seed 12): $(wc -l <"$W/in.txt") lines"
fi
echo "# command: labse ${E[*]} --input IN --output OUT.npy [--dedup${DEDUP_TABLE:+ --dedup-table $DEDUP_TABLE}]"
[ $ONE = 1 ] && echo "# PLAIN=one: the plain run encodes one copy ($nd lines); its wall time x5 is the estimate for the five (every copy costs the same without --dedup), its rates are measured"
echo
echo "| run | wall s | duplicates | tokens encoded | sentences/s | input tokens/s |"
echo "|---|---|---|---|---|---|"
TOK=""
NIN=$(wc -l <"$W/in.txt")
for x in plain dedup; do
    in="$W/in.txt"; [ $x = plain ] && [ $ONE = 1 ] && in="$W/distinct.txt"
    "$LABSE" "${E[@]}" --input "$in" --output "$W/$x.npy" \
        $([ $x = dedup ] && echo --dedup ${DEDUP_TABLE:+--dedup-table $DEDUP_TABLE}) 2>"$W/err.$x"
    line=$(grep '^labse: encoded' "$W/err.$x")
    tokens=$(echo "$line" | sed 's/.* lines, \([0-9]*\) tokens.*/\1/')
    secs=$(echo "$line" | sed 's/.* capped in \([0-9.]*\) s:.*/\1/')
    dups=$(sed -n 's/^labse: \([0-9]*\) lines were duplicates.*/\1/p' "$W/err.$x"); dups=${dups:-0}
    label=$x; scale=1
    if [ $x = plain ] && [ $ONE = 1 ]; then scale=5; label="plain (x5 est.)"; fi
    [ -n "$TOK" ] || TOK=$((tokens * scale))
    awk -v x="$label" -v s="$secs" -v k="$scale" -v d="$dups" -v t="$((tokens * scale))" -v T="$TOK" -v n="$NIN" \
        'BEGIN { printf "| %s | %.1f | %d | %d | %.0f | %.0f |\n", x, s * k, d, t, n / (s * k), T / (s * k) }'
done
"$PY" -c "
import numpy as np, sys
a, b = np.load('$W/plain.npy'), np.load('$W/dedup.npy')
if $ONE:  # plain rows are those of distinct.txt: row i of the input is plain row idx[i]
    a = a[np.loadtxt('$W/idx.txt', dtype=np.int64, ndmin=1)]
d = float(np.abs(a - b).max())
print(f'# rows: max |plain - dedup| = {d:.2e}', '(ok, <= 1e-5)' if d <= 1e-5 else 'FAIL')
sys.exit(d > 1e-5)"
