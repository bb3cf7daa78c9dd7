#!/usr/bin/env bash
# test_cli.sh — end-to-end checks of the `labse` CLI.
#
#   test_cli.sh LABSE_BIN NPY_TOOL MODEL_DIR [PYTHON]
#
# MODEL_DIR: a sentence-transformers folder (tests/data/tiny-bert for `unit`,
# models/all-MiniLM-L6-v2 for `model`); exit 77 (skip) when it is absent.
# PYTHON: optional; when it can import numpy, the outputs are also loaded with numpy.load.
# Every check counts as passed or failed; the script ends with "N passed, M failed" and exits
# 1 when any failed.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LABSE=${1:?labse binary}
NPYT=${2:?npy_tool binary}
MODEL=${3:?model dir}
PY=${4:-}

need_model "$MODEL"
scratch cli

# run EXPECTED_RC DESCRIPTION ARGS...: run labse, capture stdout/stderr in $T/out, $T/err.
# A signal death (rc >= 128) always fails.
run() {
    local want=$1 d=$2; shift 2
    "$LABSE" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -ge 128 ]; then
        bad "$d: crashed (rc $rc)"; sed 's/^/    /' "$T/err" | head -5
    elif [ "$rc" -ne "$want" ]; then
        bad "$d: rc $rc, want $want"; sed 's/^/    /' "$T/err" | head -5
    else
        ok "$d"
    fi
    return 0
}

# Like run but accepts any rc in 1..127 (a failure of either kind, never a crash).
run_fails() {
    local d=$1; shift
    "$LABSE" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -ge 1 ] && [ "$rc" -le 127 ]; then ok "$d (rc $rc)"; else bad "$d: rc $rc"; fi
}

stderr_has() { grep -q -- "$1" "$T/err"; }
stdout_has() { grep -q -- "$1" "$T/out"; }
no_file() { [ ! -e "$1" ]; }

shape_is() { # shape_is FILE ROWS COLS
    local s; s=$("$NPYT" shape "$1" 2>&1) || { echo "    $s"; return 1; }
    [ "$s" = "$2 $3" ] || { echo "    shape $s, want $2 $3"; return 1; }
}

# Rows I and J equal: max abs difference <= 1e-5 (same text packed in another position of a
# batch may round differently in the GEMMs; anything real is orders of magnitude larger).
rows_same() {
    local d; d=$("$NPYT" maxdiff "$1" "$2" "$3") || return 1
    awk -v d="$d" 'BEGIN { exit !(d <= 1e-5) }' || { echo "    max diff $d"; return 1; }
}
rows_differ() {
    local d; d=$("$NPYT" maxdiff "$1" "$2" "$3") || return 1
    awk -v d="$d" 'BEGIN { exit !(d > 1e-3) }' || { echo "    max diff $d"; return 1; }
}
only_digits() { ! grep -qE '[^0-9 ]' "$1"; }

MODEL_OPT=(--model "$MODEL" --device cpu)

# ---------------------------------------------------------------------------------------
echo "# help and usage errors"
run 0 "labse --help" --help
check "--help lists the commands" grep -q "encode" "$T/out"
for c in encode tokenize info bench; do
    run 0 "labse $c --help" "$c" --help
    check "labse $c --help prints its usage" grep -q "usage: labse $c" "$T/out"
    run 0 "labse help $c" help "$c"
    run 0 "labse $c -h" "$c" -h
done
run 2 "no command" 
check "no command: the usage on stderr" stderr_has "usage: labse COMMAND"
run 2 "unknown command" frobnicate
check "unknown command: named" stderr_has "unknown command 'frobnicate'"
run 2 "encode without --model" encode --input x --output y.npy
run 2 "encode without --input" encode --model "$MODEL" --output "$T/y.npy"
run 2 "encode without --output" encode --model "$MODEL" --input x
run 2 "unknown long option" encode "${MODEL_OPT[@]}" --input x --output y.npy --frobnicate
run 2 "unknown short option" encode "${MODEL_OPT[@]}" --input x --output y.npy -Z
run 2 "option without value" encode --input x --output y.npy --model
run 2 "unexpected positional argument" encode "${MODEL_OPT[@]}" --input x --output y.npy extra
for v in abc -1 1x "" " 4" 99999999999999999999 4096.5 5000; do
    run 2 "--threads '$v'" encode "${MODEL_OPT[@]}" --input x --output y.npy --threads "$v"
done
run 2 "--batch-tokens 0" encode "${MODEL_OPT[@]}" --input x --output y.npy --batch-tokens 0
run 2 "--max-length 1" encode "${MODEL_OPT[@]}" --input x --output y.npy --max-length 1
run 2 "--max-length 12k" encode "${MODEL_OPT[@]}" --input x --output y.npy --max-length 12k
run 2 "--device tpu" encode --model "$MODEL" --device tpu --input x --output y.npy
run 2 "--output -" encode "${MODEL_OPT[@]}" --input x --output -
run 2 "tokenize --threads is not an option" tokenize --model "$MODEL" --input x --threads 2
run 2 "bench without corpus" bench --model "$MODEL"
run 2 "bench --repeat 0" bench --model "$MODEL" --input x --repeat 0
run 2 "bench --limit -5" bench --model "$MODEL" --input x --limit -5
run 2 "info without --model" info
check "usage errors name the problem" stderr_has "model"

# ---------------------------------------------------------------------------------------
echo "# info"
run 0 "info" info "${MODEL_OPT[@]}"
for k in layers hidden heads intermediate vocab_size max_position max_length pooling \
         dense_modules normalize lowercase dim parameters device; do
    check "info has '$k: '" grep -q "^$k: ." "$T/out"
done
DIM=$(sed -n 's/^dim: //p' "$T/out")
MAXLEN=$(sed -n 's/^max_length: //p' "$T/out")
NORMALIZE=$(sed -n 's/^normalize: //p' "$T/out")
check "dim is a positive number ($DIM)" test "${DIM:-0}" -gt 0
check "max_length is >= 8 ($MAXLEN)" test "${MAXLEN:-0}" -ge 8
DIM=${DIM:-1}
MAXLEN=${MAXLEN:-8}
run 0 "info --max-length 8" info "${MODEL_OPT[@]}" --max-length 8
check "info reports max_length 8" grep -q "^max_length: 8$" "$T/out"
run_fails "info on a missing model dir" info --model "$T/no-such-model"
check "info names the missing dir" stderr_has "no-such-model"

# ---------------------------------------------------------------------------------------
echo "# encode: line rules"
# Lines (0-based):
#  0 "abc"          1 "abc" CRLF      2 ""              3 "   \t "   4 "ab<NUL>c"
#  5 "ab<FF>c"      6 "hello world"   7 "" CRLF         8 "abc" again
#  9 "xyz" without a final newline
printf 'abc\nabc\r\n\n   \t \nab\0c\nab\377c\nhello world\n\r\nabc\nxyz' >"$T/mixed.txt"
run 0 "encode mixed.txt" encode "${MODEL_OPT[@]}" --input "$T/mixed.txt" --output "$T/mixed.npy"
check "mixed: 10 rows" shape_is "$T/mixed.npy" 10 "$DIM"
check "mixed: all values finite" "$NPYT" finite "$T/mixed.npy"
check "'abc\\n' == 'abc\\r\\n'" rows_same "$T/mixed.npy" 0 1
check "'abc' == 'abc' later in the file" rows_same "$T/mixed.npy" 0 8
check "'' == whitespace-only line" rows_same "$T/mixed.npy" 2 3
check "'' == '\\r\\n' line" rows_same "$T/mixed.npy" 2 7
check "'abc' == 'ab<NUL>c' (NUL dropped)" rows_same "$T/mixed.npy" 0 4
check "'abc' == 'ab<FF>c' (invalid UTF-8 repaired, dropped)" rows_same "$T/mixed.npy" 0 5
check "'abc' != 'xyz'" rows_differ "$T/mixed.npy" 0 9
check "'abc' != ''" rows_differ "$T/mixed.npy" 0 2
check "'hello world' != 'abc'" rows_differ "$T/mixed.npy" 6 0
check "repair reported on stderr" stderr_has "1 lines had invalid UTF-8 (replaced)"
check "summary on stderr" stderr_has "encoded 10 lines"
check "no temporary left" no_tmp "$T"
if [ "$NORMALIZE" = "1" ]; then
    check "rows are unit vectors" awk -v s="$("$NPYT" norms "$T/mixed.npy")" \
        'BEGIN { split(s, a, " "); exit !(a[1] > 0.9999 && a[2] < 1.0001) }'
fi

run 0 "encode --quiet" encode "${MODEL_OPT[@]}" --input "$T/mixed.txt" --output "$T/q.npy" --quiet
check "--quiet prints nothing" test ! -s "$T/err"
check "--quiet output has 10 rows" shape_is "$T/q.npy" 10 "$DIM"

# stdin gives the same rows as the file.
"$LABSE" encode "${MODEL_OPT[@]}" --input - --output "$T/stdin.npy" --quiet <"$T/mixed.txt"
check "stdin: rc 0" test $? -eq 0
check "stdin: 10 rows" shape_is "$T/stdin.npy" 10 "$DIM"
check "stdin output == file output (byte for byte)" cmp -s "$T/stdin.npy" "$T/mixed.npy"

printf '' >"$T/empty.txt"
run 0 "encode an empty file" encode "${MODEL_OPT[@]}" --input "$T/empty.txt" --output "$T/empty.npy"
check "empty file: (0, dim)" shape_is "$T/empty.npy" 0 "$DIM"
printf '\n' >"$T/nl.txt"
run 0 "encode a file of one newline" encode "${MODEL_OPT[@]}" --input "$T/nl.txt" --output "$T/nl.npy"
check "one newline: (1, dim)" shape_is "$T/nl.npy" 1 "$DIM"
printf 'a\nb\n\n\n' >"$T/trail.txt"
run 0 "encode trailing empty lines" encode "${MODEL_OPT[@]}" --input "$T/trail.txt" --output "$T/trail.npy"
check "trailing empty lines: 4 rows" shape_is "$T/trail.npy" 4 "$DIM"
printf '\0\0\0\n\377\376\n' >"$T/junk.txt"
run 0 "encode NUL-only and invalid-only lines" encode "${MODEL_OPT[@]}" --input "$T/junk.txt" --output "$T/junk.npy"
check "junk: 2 rows" shape_is "$T/junk.npy" 2 "$DIM"
check "junk: NUL-only line == invalid-only line (both empty)" rows_same "$T/junk.npy" 0 1

# More lines than one encode chunk (4096): order is kept across chunks.
awk 'BEGIN { for (i = 0; i < 5000; i++) print "line number " (i % 7) }' >"$T/many.txt"
run 0 "encode 5000 lines" encode "${MODEL_OPT[@]}" --input "$T/many.txt" --output "$T/many.npy" --batch-tokens 512
check "5000 rows" shape_is "$T/many.npy" 5000 "$DIM"
check "row 4 == row 4995 (same text, other chunk)" rows_same "$T/many.npy" 4 4995
check "row 4099 ('...4') != row 1 ('...1')" rows_differ "$T/many.npy" 4099 1
check "row 4100 == row 5 (4100 % 7 == 5)" rows_same "$T/many.npy" 4100 5

# Truncation is counted.
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "word%d ", i; print "" }' >"$T/long.txt"
echo "short" >>"$T/long.txt"
run 0 "encode a long line" encode "${MODEL_OPT[@]}" --input "$T/long.txt" --output "$T/long.npy"
check "long: 2 rows" shape_is "$T/long.npy" 2 "$DIM"
check "truncation reported" stderr_has "1 lines were truncated"
check "summary counts 1 truncated" stderr_has "1 truncated"
run 0 "encode --max-length 8" encode "${MODEL_OPT[@]}" --input "$T/long.txt" --output "$T/long8.npy" --max-length 8 --threads 1 --batch-tokens 64
check "long8: 2 rows" shape_is "$T/long8.npy" 2 "$DIM"

# ---------------------------------------------------------------------------------------
echo "# tokenize"
run 0 "tokenize mixed.txt" tokenize --model "$MODEL" --input "$T/mixed.txt"
check "tokenize: one output line per input line" test "$(wc -l <"$T/out")" -eq 10
cp "$T/out" "$T/tok.txt"
L() { sed -n "$(($1 + 1))p" "$T/tok.txt"; }
check "tokenize: 'abc' == 'abc\\r\\n' == 'ab<NUL>c' == 'ab<FF>c'" \
    test "$(L 0)" = "$(L 1)" -a "$(L 0)" = "$(L 4)" -a "$(L 0)" = "$(L 5)"
check "tokenize: empty line has 2 ids ([CLS] [SEP])" test "$(L 2 | wc -w)" -eq 2
check "tokenize: whitespace line == empty line" test "$(L 3)" = "$(L 2)"
check "tokenize: ids are numbers" only_digits "$T/tok.txt"
check "tokenize: every line starts with the [CLS] id of line 0" \
    awk -v c="$(L 0 | cut -d' ' -f1)" '$1 != c { exit 1 }' "$T/tok.txt"
run 0 "tokenize long.txt" tokenize --model "$MODEL" --input "$T/long.txt"
check "tokenize: long line truncated to max_length ($MAXLEN)" test "$(head -1 "$T/out" | wc -w)" -eq "$MAXLEN"
run 0 "tokenize --max-length 8" tokenize --model "$MODEL" --input "$T/long.txt" --max-length 8
check "tokenize --max-length 8: 8 ids" test "$(head -1 "$T/out" | wc -w)" -eq 8
check "tokenize --max-length 8: short line < 8 ids" test "$(sed -n 2p "$T/out" | wc -w)" -lt 8
"$LABSE" tokenize --model "$MODEL" --input - <"$T/mixed.txt" >"$T/tok_stdin.txt" 2>/dev/null
check "tokenize stdin == tokenize file" cmp -s "$T/tok_stdin.txt" "$T/tok.txt"
run 0 "tokenize empty file" tokenize --model "$MODEL" --input "$T/empty.txt"
check "tokenize empty file: no output" test ! -s "$T/out"
if [ -w /dev/full ]; then
    "$LABSE" tokenize --model "$MODEL" --input "$T/many.txt" >/dev/full 2>"$T/err"
    rc=$?
    check "tokenize into /dev/full fails with rc 1 (got $rc)" test "$rc" -eq 1
    check "tokenize into /dev/full says so" stderr_has "write failed"
    "$LABSE" info --model "$MODEL" >/dev/full 2>/dev/null
    rc=$?
    check "info into /dev/full fails with rc 1 (got $rc)" test "$rc" -eq 1
fi

# ---------------------------------------------------------------------------------------
echo "# failures leave no output"
run_fails "missing model dir" encode --model "$T/no-such-model" --input "$T/mixed.txt" --output "$T/f1.npy"
check "missing model: no output" no_file "$T/f1.npy"
check "missing model: message names the dir" stderr_has "no-such-model"
run 1 "missing input" encode "${MODEL_OPT[@]}" --input "$T/no-such.txt" --output "$T/f2.npy"
check "missing input: no output" no_file "$T/f2.npy"
check "missing input: message names the file" stderr_has "no-such.txt"
check "missing input: not called the output" sh -c "! grep -q 'output' '$T/err'"
run 1 "missing input, folder output" encode "${MODEL_OPT[@]}" --input "$T/no-such.txt" --output "$T/f2d/"
check "missing input, folder output: names the input only" sh -c "grep -q '^labse: $T/no-such.txt: ' '$T/err'"
run 1 "input is a directory" encode "${MODEL_OPT[@]}" --input "$T" --output "$T/f3.npy"
check "directory input: no output" no_file "$T/f3.npy"
run 1 "output into a missing directory" encode "${MODEL_OPT[@]}" --input "$T/mixed.txt" --output "$T/nodir/x.npy"
check "missing out dir: nothing created" no_file "$T/nodir"
mkdir -p "$T/outdir/target.npy"
run 1 "output names an existing directory (rename fails)" encode "${MODEL_OPT[@]}" --input "$T/mixed.txt" --output "$T/outdir/target.npy"
check "rename failure: no temporary left" no_tmp "$T/outdir"
check "rename failure: the directory is still there" test -d "$T/outdir/target.npy"
run_fails "--max-length above max_position" encode "${MODEL_OPT[@]}" --input "$T/mixed.txt" --output "$T/f4.npy" --max-length 100000
check "refused max-length: no output" no_file "$T/f4.npy"

# An existing output survives a failed run untouched.
printf 'OLD CONTENT' >"$T/keep.npy"
run_fails "failed run over an existing file" encode --model "$T/no-such-model" --input "$T/mixed.txt" --output "$T/keep.npy"
check "existing file untouched (model failure)" test "$(cat "$T/keep.npy")" = "OLD CONTENT"
# A write error (file size limit: EFBIG, as a full disk gives ENOSPC) in the middle of the rows.
( ulimit -f 2; exec "$LABSE" encode "${MODEL_OPT[@]}" --input "$T/many.txt" --output "$T/keep.npy" --quiet ) >/dev/null 2>"$T/err"
rc=$?
check "write error: rc 1 (got $rc)" test "$rc" -eq 1
check "write error: reported" stderr_has "write failed"
check "write error: existing file untouched" test "$(cat "$T/keep.npy")" = "OLD CONTENT"
check "write error: no temporary left" no_tmp "$T"
( ulimit -f 2; exec "$LABSE" encode "${MODEL_OPT[@]}" --input "$T/many.txt" --output "$T/new.npy" --quiet ) >/dev/null 2>&1
check "write error: no new file" no_file "$T/new.npy"
# A successful run replaces it.
run 0 "successful run replaces an existing file" encode "${MODEL_OPT[@]}" --input "$T/nl.txt" --output "$T/keep.npy"
check "replaced file is a (1, dim) array" shape_is "$T/keep.npy" 1 "$DIM"

# ---------------------------------------------------------------------------------------
echo "# bench"
printf 'Hello world.\tHallo Welt.\nGood morning\tGuten Morgen\n' >"$T/b.tsv"
run 0 "bench on a tsv" bench "${MODEL_OPT[@]}" --input "$T/b.tsv" --threads 1
check "bench: 4 sentences from 2 tsv lines" grep -q "sentences: 4$" "$T/out"
check "bench: reports tokenize tokens_per_s" grep -q "tokens_per_s" "$T/out"
check "bench: reports encode sentences_per_s" grep -q "sentences_per_s" "$T/out"
check "bench: reports cores" grep -q "cores: [0-9]" "$T/out"
run 0 "bench --limit 3 --repeat 2" bench "${MODEL_OPT[@]}" --input "$T/mixed.txt" --limit 3 --repeat 2 --threads 1
check "bench --limit 3: the encode runs on 3 sentences" grep -q "^  sentences: 3$" "$T/out"
check "bench --limit 3: the tokenizer runs on all 10 lines of mixed.txt" grep -q "^  sentences: 10$" "$T/out"
mkdir -p "$T/bitext"
cp "$T/b.tsv" "$T/bitext/de.tsv"
cp "$T/b.tsv" "$T/bitext/fr.tsv"
run 0 "bench --bitext" bench "${MODEL_OPT[@]}" --bitext "$T/bitext" --no-encode
check "bench --bitext: 8 sentences" grep -q "sentences: 8$" "$T/out"
run 1 "bench --bitext on a missing dir" bench "${MODEL_OPT[@]}" --bitext "$T/nope"

# ---------------------------------------------------------------------------------------
if [ -n "$PY" ] && [ -x "$PY" ] && "$PY" -c 'import numpy' 2>/dev/null; then
    echo "# numpy reads the outputs"
    check "numpy.load: float32, C order, shapes" "$PY" - "$T" "$DIM" <<'EOF'
import sys, numpy as np
t, dim = sys.argv[1], int(sys.argv[2])
want = {"mixed.npy": 10, "empty.npy": 0, "nl.npy": 1, "many.npy": 5000, "keep.npy": 1}
for name, rows in want.items():
    a = np.load(f"{t}/{name}")
    assert a.dtype == np.float32, (name, a.dtype)
    assert a.shape == (rows, dim), (name, a.shape)
    assert a.flags.c_contiguous
    assert np.isfinite(a).all(), name
    # byte-exact header: what numpy itself would write for this array
    import io
    b = io.BytesIO(); np.save(b, a)
    with open(f"{t}/{name}", "rb") as f:
        assert f.read() == b.getvalue(), f"{name}: bytes differ from np.save"
m = np.load(f"{t}/mixed.npy")
assert np.abs(m[0] - m[1]).max() <= 1e-5 and np.abs(m[0] - m[9]).max() > 1e-3
EOF
else
    echo "# (no python with numpy: numpy.load checks skipped)"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
