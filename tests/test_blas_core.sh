#!/usr/bin/env bash
# test_blas_core.sh — OpenBLAS's kernels are re-selected for a CPU its release does not know
# (src/cpu/blas_core.c), and only then. Through `labse info`'s "blas:" line.
#   test_blas_core.sh LABSE MODEL_DIR
# The oracle is independent of the code under test: the CPU's flags in /proc/cpuinfo, and the
# core OpenBLAS itself picked at load (OPENBLAS_VERBOSE=2 prints "Core: NAME").
# Checks:
#  1. default: the core in use is at least as good as the flags allow (AVX-512 F/DQ/BW/VL ->
#     SkylakeX, Cooperlake or newer; AVX2 + FMA -> Haswell, Zen or better);
#  2. LABSE_BLAS_CORE=keep: the core is OpenBLAS's own pick, untouched;
#  3. OPENBLAS_CORETYPE=Haswell (the user's choice): Haswell, never re-selected;
#  4. the rows of a tiny encode with the re-selected kernels equal those of OpenBLAS's own pick
#     within 1e-5 (only the summation order of the GEMMs differs: fp32 rounding, ~1e-7).
# Skips (77) when the BLAS is not DYNAMIC_ARCH OpenBLAS (nothing to select).
set -u
LABSE=${1:?labse binary} MODEL=${2:?model dir}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if [ "$1" = 0 ]; then echo "ok $2"; else echo "FAIL $2"; fail=1; fi; }
blas() { env "$@" "$LABSE" info -m "$MODEL" --device cpu 2>"$T/err" | sed -n 's/^blas: //p'; }

line=$(blas)
echo "default: $line"
case "$line" in "not OpenBLAS"*) echo "SKIP: $line"; exit 77 ;; esac
core=$(echo "$line" | awk '{print $3}')
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { for f in "$@"; do echo "$flags" | grep -qw "$f" || return 1; done; }
if has avx512f avx512dq avx512bw avx512vl; then
    case "$core" in SkylakeX | Cooperlake | SapphireRapids) r=0 ;; *) r=1 ;; esac
    check $r "AVX-512 CPU runs AVX-512 kernels ($core)"
elif has avx2 fma; then
    case "$core" in Prescott | Core2 | Penryn | Dunnington | Nehalem | Atom | Sandybridge) r=1 ;; *) r=0 ;; esac
    check $r "AVX2 CPU runs AVX2 kernels ($core)"
else
    echo "ok (no AVX2 on this CPU: nothing to check for the default)"
fi

own=$(OPENBLAS_VERBOSE=2 "$LABSE" info -m "$MODEL" --device cpu 2>&1 >/dev/null | sed -n 's/^Core: //p' | head -1)
kept=$(blas LABSE_BLAS_CORE=keep | awk '{print $3}')
echo "OpenBLAS's own pick: $own; kept: $kept"
[ -n "$own" ] && [ "$kept" = "$own" ]; check $? "LABSE_BLAS_CORE=keep keeps OpenBLAS's pick"

user=$(blas OPENBLAS_CORETYPE=Haswell)
echo "OPENBLAS_CORETYPE=Haswell: $user"
case "$user" in "OpenBLAS core Haswell (OPENBLAS_CORETYPE=Haswell)") r=0 ;; *) r=1 ;; esac
check $r "the user's OPENBLAS_CORETYPE is obeyed"

printf 'Hello world.\nLes sanglots longs des violons.\n\n%s\n' "$(printf 'word %.0s' $(seq 1 200))" >"$T/in.txt"
"$LABSE" encode -m "$MODEL" -i "$T/in.txt" -o "$T/auto.npy" --device cpu -q &&
LABSE_BLAS_CORE=keep "$LABSE" encode -m "$MODEL" -i "$T/in.txt" -o "$T/keep.npy" --device cpu -q
check $? "encode with both kernel choices"
# the rows after the 128-byte header, as little-endian float32
cmp_rows() {
    od -An -v -tf4 -j128 "$1" | tr -s ' ' '\n' | sed '/^$/d' >"$T/a"
    od -An -v -tf4 -j128 "$2" | tr -s ' ' '\n' | sed '/^$/d' >"$T/b"
    paste "$T/a" "$T/b" | awk '{d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d} END {print m + 0; exit !(NR > 0 && m <= 1e-5)}'
}
m=$(cmp_rows "$T/auto.npy" "$T/keep.npy"); r=$?
echo "max |difference| re-selected vs OpenBLAS's pick: $m"
check $r "rows agree within 1e-5"
exit $fail
