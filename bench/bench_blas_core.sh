#!/usr/bin/env bash
# bench_blas_core.sh — what re-selecting OpenBLAS's kernels (src/cpu/blas_core.c) buys end to
# end: the same lines encoded on the CPU with OpenBLAS's own pick (LABSE_BLAS_CORE=keep) and
# with labse's, interleaved ROUNDS times so a loaded machine hurts both alike; prints each
# run's tokens/s and the median ratio.
#   bench/bench_blas_core.sh LABSE MODEL_DIR LINES_FILE [THREADS=2] [ROUNDS=3]
set -euo pipefail
LABSE=$1 MODEL=$2 IN=$3 THREADS=${4:-2} ROUNDS=${5:-3}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
echo "$("$LABSE" info -m "$MODEL" --device cpu | sed -n 's/^blas: //p')"
run() { LABSE_BLAS_CORE=$1 "$LABSE" encode -m "$MODEL" -i "$IN" -o "$T/o.npy" --device cpu \
        -t "$THREADS" --tok-threads 1 2>&1 | grep -oE '[0-9]+ tokens/s' | awk '{print $1}'; }
ratios=()
for r in $(seq 1 "$ROUNDS"); do
    k=$(run keep); a=$(run auto)
    echo "round $r: OpenBLAS's pick $k tokens/s, labse's $a tokens/s"
    ratios+=("$(awk -v a="$a" -v k="$k" 'BEGIN {printf "%.2f", a / k}')")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {print "median ratio " v[int((NR + 1) / 2)] "x"}'
