#!/usr/bin/env bash
# Build the libFuzzer targets (tests/fuzz) and run one, or all one after the other.
#   usage: tools/fuzz.sh TARGET|all SECONDS [extra libFuzzer flags...]
#   TARGET: tokenizer utf8 safetensors model_files npy manifest lines tsv (or fuzz_NAME)
#   SECONDS: per target (-max_total_time); 0 = no time limit, for a run to a number of
#   executions: the long run of bench/RESULTS.md is `tools/fuzz.sh TARGET 0 -runs=10000000`.
# Build: build-fuzz/ (CC=clang, -DLABSE_FUZZ=ON: ASan + UBSan + libFuzzer; $LABSE_FUZZ_BUILD
# overrides the folder). Each run starts from the committed corpus tests/fuzz/corpus/TARGET
# (seeds and regress-* inputs that once failed) and grows a scratch corpus in
# build-fuzz/corpus/TARGET (not committed); the dictionary tests/fuzz/dict/TARGET.dict is used
# when there is one. It fails (exit 1) on any crash, sanitizer report, invariant failure, leak
# (detect_leaks=1), an input slower than 10 s (-timeout) or over 2 GiB (-rss_limit_mb); the
# failing input is saved as build-fuzz/artifacts/TARGET/crash-* (timeout-*, oom-*, leak-*).
# The last lines of each run (libFuzzer's final stats: runs, exec/s, cov, ft) are printed.
# Environment: LABSE_JOBS (build jobs, default 2), CC (default clang-14, else clang).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ $# -ge 2 ] || { echo "usage: tools/fuzz.sh TARGET|all SECONDS [libFuzzer flags]" >&2; exit 2; }
WHAT="$1" SECS="$2"
shift 2
ALL=(tokenizer utf8 safetensors model_files npy manifest lines tsv)
B="${LABSE_FUZZ_BUILD:-$ROOT/build-fuzz}"
CC="${CC:-$(command -v clang-14 || command -v clang)}"
cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC" -DLABSE_CUDA=OFF -DLABSE_FUZZ=ON \
  -DLABSE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j"${LABSE_JOBS:-2}" --target fuzz_all >/dev/null

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
run_one() {
  local t="${1#fuzz_}"
  shift
  local exe="$B/tests/fuzz/fuzz_$t" seeds="$ROOT/tests/fuzz/corpus/fuzz_$t"
  local work="$B/corpus/fuzz_$t" art="$B/artifacts/fuzz_$t" dict="$ROOT/tests/fuzz/dict/$t.dict"
  [ -x "$exe" ] || { echo "fuzz.sh: no target '$t' (one of: ${ALL[*]})" >&2; return 2; }
  mkdir -p "$work" "$art"
  local args=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1
              -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$art/")
  [ -f "$dict" ] && args+=(-dict="$dict")
  if [ "$SECS" = 0 ]; then echo "== fuzz_$t: no time limit"; else echo "== fuzz_$t: ${SECS}s"; fi
  local log="$B/fuzz_$t.log" rc=0
  "$exe" "${args[@]}" "$@" "$work" "$seeds" >"$log" 2>&1 || rc=$?
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|DONE' "$log" |
    tail -4
  if [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: fuzz_$t FAILED (exit $rc); log $log, inputs in $art/" >&2
    grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -20 >&2
  fi
  return "$rc"
}
if [ "$WHAT" = all ]; then
  fail=0
  for t in "${ALL[@]}"; do run_one "$t" "$@" || fail=1; done
  exit "$fail"
fi
run_one "$WHAT" "$@"
