#!/usr/bin/env bash
# test_install.sh BUILD_DIR SRC_DIR MODEL_DIR CC [EXTRA_CFLAGS]
#
# Installs BUILD_DIR into a temporary prefix (`cmake --install BUILD_DIR --prefix TMP`) and
# checks the installed tree the way a C user meets it:
#   1. the files are there; liblabse.so exports only labse_* and has its SONAME;
#   2. examples/encode_example.c builds through `pkg-config --cflags --libs labse` (shared),
#      through `pkg-config --static` against liblabse.a (Libs.private / Requires.private),
#      and through find_package(labse CONFIG) (labse::labse and labse::labse_static);
#   3. every build runs on MODEL_DIR, prints "dim D" with D = `labse info`'s dim and rows
#      equal to what the installed `labse encode` writes (within the %.6f print precision),
#      and exits 1 with a message on a missing model.
# Exit: 0 pass, 1 fail, 77 skip (pkg-config missing).
set -euo pipefail
BUILD="$1" SRC="$2" MODEL="$3" CC="$4" XFLAGS="${5:-}"
command -v pkg-config >/dev/null || { echo "SKIP: no pkg-config"; exit 77; }
command -v cmake >/dev/null || { echo "SKIP: no cmake"; exit 77; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

PREFIX="$TMP/prefix"
cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log" || { cat "$TMP/install.log"; fail "cmake --install"; }
LIBDIR="$(dirname "$(find "$PREFIX" -name labse.pc -path '*/pkgconfig/*')")/.."
LIBDIR="$(cd "$LIBDIR" && pwd)"
for f in "$PREFIX/include/labse.h" "$PREFIX/bin/labse" "$LIBDIR/liblabse.a" "$LIBDIR/liblabse.so" \
         "$LIBDIR/cmake/labse/labse-config.cmake" "$LIBDIR/cmake/labse/labse-config-version.cmake"; do
  [ -e "$f" ] || fail "not installed: $f"
done
SONAME="$(readelf -d "$LIBDIR/liblabse.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[ "$SONAME" = "liblabse.so.0.1" ] || fail "SONAME '$SONAME' != liblabse.so.0.1"
readelf -d "$LIBDIR/liblabse.so" | grep -q 'RUNPATH\|RPATH' || fail "liblabse.so has no RUNPATH"
BAD="$(nm -D --defined-only "$LIBDIR/liblabse.so" | awk '$2 ~ /[TDBRVW]/ {print $3}' | grep -v '^labse_' || true)"
[ -z "$BAD" ] || fail "liblabse.so exports non-API symbols: $BAD"
nm -D --defined-only "$LIBDIR/liblabse.so" | grep -q ' T labse_encode$' || fail "labse_encode not exported"

# Reference rows: the installed CLI on the same sentences.
SENT=("Hello, world!" "Bonjour le monde !" "Ünïcödé — 你好，世界")
printf '%s\n' "${SENT[@]}" >"$TMP/in.txt"
"$PREFIX/bin/labse" encode -q --device cpu --threads 1 --model "$MODEL" --input "$TMP/in.txt" --output "$TMP/ref.npy" ||
  fail "installed labse encode"
DIM="$("$PREFIX/bin/labse" info --model "$MODEL" | sed -n 's/^dim: //p')"
[ -n "$DIM" ] || fail "labse info gave no dim"
# first 4 floats of each row, from the .npy (header length at bytes 8..9, little-endian)
HLEN=$(od -A n -t u2 -j 8 -N 2 "$TMP/ref.npy" | tr -d ' ')
for i in 0 1 2; do
  od -A n -t f4 -v -j $((10 + HLEN + i * DIM * 4)) -N 16 "$TMP/ref.npy" | tr -s ' ' '\n' | grep -v '^$' | tr '\n' ' '
  echo
done >"$TMP/ref.txt"

export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
EX="$SRC/examples/encode_example.c"
check_run() { # NAME BINARY
  local name="$1" bin="$2" out
  out="$("$bin" "$MODEL" "${SENT[@]}")" || fail "$name: exit $? on a good model"
  [ "$(printf '%s\n' "$out" | head -1)" = "dim $DIM" ] || fail "$name: first line '$(printf '%s\n' "$out" | head -1)' != 'dim $DIM'"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 4 ] || fail "$name: expected 4 lines, got: $out"
  printf '%s\n' "$out" | tail -n 3 | awk '{print $2, $3, $4, $5}' >"$TMP/got.txt"
  paste -d' ' "$TMP/got.txt" "$TMP/ref.txt" | awk -v n="$name" '{
      for (j = 1; j <= 4; j++) { d = $j - $(j + 4); if (d < 0) d = -d;
        if (d > 2e-6 || $j == "") { printf "%s: row %d value %d: %s vs CLI %s\n", n, NR - 1, j, $j, $(j + 4); bad = 1 } }
    } END { exit bad }' || fail "$name: rows differ from the installed CLI"
  if "$bin" "$TMP/no-such-model" >"$TMP/err.out" 2>"$TMP/err.txt"; then fail "$name: exit 0 on a missing model"; fi
  [ -s "$TMP/err.txt" ] || fail "$name: no message on a missing model"
  echo "ok: $name"
}

# shellcheck disable=SC2086,SC2046
"$CC" -std=c11 -Wall -Wextra -Werror $XFLAGS "$EX" $(pkg-config --cflags --libs labse) \
  -Wl,-rpath,"$LIBDIR" -o "$TMP/ex_pc" || fail "build via pkg-config (shared)"
readelf -d "$TMP/ex_pc" | grep -q 'liblabse.so.0.1' || fail "ex_pc does not link liblabse.so"
check_run "pkg-config shared" "$TMP/ex_pc"

# static: -l:liblabse.a forces the archive; the rest of the line is Libs.private + Requires.private
STATIC_LIBS="$(pkg-config --static --libs labse | sed 's/-llabse\b/-l:liblabse.a/')"
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror $XFLAGS "$EX" $(pkg-config --cflags labse) $STATIC_LIBS \
  -o "$TMP/ex_pc_static" || fail "build via pkg-config --static"
if readelf -d "$TMP/ex_pc_static" | grep -q 'liblabse'; then fail "ex_pc_static links liblabse dynamically"; fi
check_run "pkg-config static" "$TMP/ex_pc_static"

cmake -S "$SRC/examples" -B "$TMP/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_COMPILER="$CC" \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $XFLAGS" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
  { cat "$TMP/cmake.log"; fail "configure examples/ with find_package(labse)"; }
cmake --build "$TMP/cmake-build" >>"$TMP/cmake.log" 2>&1 || { cat "$TMP/cmake.log"; fail "build examples/"; }
check_run "find_package labse::labse" "$TMP/cmake-build/encode_example"
check_run "find_package labse::labse_static" "$TMP/cmake-build/encode_example_static"
echo "PASS: installed tree at a temporary prefix: pkg-config and find_package consumers agree with the CLI"
