#!/usr/bin/env bash
# test_output_formats.sh — `labse encode --format f32|f16|bf16|int8|ubinary|binary` (issue 12
# §5) against numpy applied to the float32 output of the same run: f16, bf16, ubinary and
# binary bit for bit; int8 equal to sentence-transformers' quantize_embeddings(emb, "int8",
# calibration_embeddings=...) when it is importable, else to the same formula in numpy
# (clamped to -128..127 where the calibration does not cover a value); ranges from the first
# window, a float32 and a float16 --calibration file. Folder outputs merge to the single file;
# a resumed int8 folder reuses the manifest's ranges (a changed --calibration or --format is
# refused); int8 shards need --calibration and merge to the single run; merge refuses other
# calibrations and formats; mine reads bf16 (as the float32 of its bits) and refuses int8,
# ubinary and binary, files and folders.
#
#   test_output_formats.sh LABSE_BIN MODEL_DIR PYTHON
# Exit 77 when MODEL_DIR is absent or PYTHON has no numpy. The model does not matter: tiny-bert.
set -u
LABSE=${1:?labse}; MODEL=${2:?model}; PY=${3:-python3}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_model "$MODEL"
"$PY" -c 'import numpy' 2>/dev/null || { echo "SKIP: no numpy in $PY"; exit 77; }
scratch formats
E=(encode --model "$MODEL" --device cpu --threads "${LABSE_TEST_THREADS:-1}" --tok-threads 2 --quiet)
# windows of 200 and parts of 300 rows over 900 lines: several of each; the first window's
# ranges do not cover the later rows (clamping is exercised)
OPTS=(--part-rows 300 --window 200)
BITEXT=$(dirname "$0")/../../shared/data/bitext
{
    if [ -d "$BITEXT" ]; then cat "$BITEXT"/*.tsv | head -600 | cut -f1; fi
    awk 'BEGIN { for (i = 0; i < 300; i++) { s = ""; for (j = 0; j < i % 19; j++) s = s " w" (i * j % 89); print "line " i s } }'
} >"$T/in.txt"

echo "# every format vs numpy on the float32 output (single .npy)"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/f32.npy" "${OPTS[@]}"
check "f32 run: rc 0" test $? -eq 0
# calibration files: the first 100 rows as float32 and as float16 (numpy)
"$PY" -c "import numpy as np, sys; a = np.load(sys.argv[1]); np.save(sys.argv[2], a[:100]); np.save(sys.argv[3], a[:100].astype(np.float16))" \
    "$T/f32.npy" "$T/cal32.npy" "$T/cal16.npy"
for f in f16 bf16 int8 ubinary binary; do
    "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/$f.npy" "${OPTS[@]}" --format "$f"
    check "--format $f: rc 0" test $? -eq 0
done
for c in 32 16; do
    "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/int8c$c.npy" "${OPTS[@]}" --format int8 --calibration "$T/cal$c.npy"
    check "--format int8 --calibration float$c: rc 0" test $? -eq 0
done
cat >"$T/ref.py" <<'PYEOF'
# The references: numpy on the float32 rows; int8 by sentence-transformers when importable.
import numpy as np
try:
    from sentence_transformers.quantization import quantize_embeddings
except Exception:  # not installed (the CI venv has no torch): the same formula in numpy
    quantize_embeddings = None

def bf16(a):
    u = a.view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")

def ubinary(a):
    return np.packbits(a > 0, axis=-1)

def binary(a):
    return (ubinary(a).astype(np.int16) - 128).astype(np.int8)

def int8(a, cal):
    """quantize_embeddings(a, "int8", calibration_embeddings=cal), saturated where the
    calibration does not cover a value (numpy's astype wraps there; labse clamps)."""
    ranges = np.vstack((np.min(cal, axis=0), np.max(cal, axis=0)))
    starts, steps = ranges[0, :], (ranges[1, :] - ranges[0, :]) / 255
    t = (a - starts) / steps - 128
    inside = (t > -129) & (t < 128)  # where astype(int8) is defined
    q = np.clip(t, -128, 127).astype(np.int8)
    if quantize_embeddings is not None:  # where it is defined, it is the reference itself
        st = quantize_embeddings(a, "int8", calibration_embeddings=cal)
        assert (st[inside] == q[inside]).all(), "numpy formula != sentence-transformers"
    return q, inside
PYEOF
check "f16, bf16, ubinary, binary == numpy (bitwise); int8 == quantize_embeddings" "$PY" - "$T" <<'PYEOF'
import sys
import numpy as np
t = sys.argv[1]
sys.path.insert(0, t)
import ref
a = np.load(f"{t}/f32.npy")
assert a.shape[0] > 800, a.shape
def load(n, dtype, cols):
    x = np.load(f"{t}/{n}.npy")
    assert x.dtype == np.dtype(dtype) and x.shape == (a.shape[0], cols), (n, x.dtype, x.shape)
    return x
assert (load("f16", "<f2", a.shape[1]).view("<u2") == a.astype(np.float16).view("<u2")).all()
assert (load("bf16", "<u2", a.shape[1]) == ref.bf16(a)).all()
assert (load("ubinary", "|u1", a.shape[1] // 8) == ref.ubinary(a)).all()
assert (load("binary", "|i1", a.shape[1] // 8) == ref.binary(a)).all()
for n, cal in (("int8", a[:200]), ("int8c32", np.load(f"{t}/cal32.npy")),
               ("int8c16", np.load(f"{t}/cal16.npy"))):
    q, inside = ref.int8(a, cal)
    x = load(n, "|i1", a.shape[1])
    assert (x == q).all(), (n, np.argwhere(x != q)[:5])
    # the first-window ranges cover the first window; the others are clamped somewhere
    assert inside[:200].all() if n == "int8" else True
    assert not inside.all(), n
print("    ref: sentence-transformers" if ref.quantize_embeddings else "    ref: numpy formula")
PYEOF

echo "# folders: parts + merge == the single file; the manifest records format and ranges"
for f in bf16 int8 ubinary binary; do
    "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/d$f/" "${OPTS[@]}" --format "$f"
    "$LABSE" merge --npy "$T/m$f.npy" "$T/d$f" -q
    check "$f folder, merged == the single .npy" cmp -s "$T/m$f.npy" "$T/$f.npy"
done
check "manifests say their format" grep -q '"dtype": "ubinary"' "$T/dubinary/manifest.json"
check "int8 manifest: first-window ranges of 200 rows" \
    grep -q '"calibration": {"source": "first-window", "rows": 200, "ranges_dtype": "float32", "min": \[' "$T/dint8/manifest.json"

echo "# resume: an int8 folder reuses its manifest's ranges"
cat >"$T/cut.py" <<'PYEOF'
# cut.py DIR [WIDEN]: keep only the first part of DIR (an interrupted run); WIDEN: also widen
# the manifest's int8 ranges by that much on each side (a resume must use these)
import json, os, sys
d = sys.argv[1]
m = json.load(open(f"{d}/manifest.json"))
for p in m["parts"][1:]:
    os.unlink(f"{d}/{p['file']}")
m["parts"] = m["parts"][:1]
m["complete"] = False
if len(sys.argv) > 2:
    w = float(sys.argv[2])
    m["calibration"]["min"] = [float(f"{v - w:.9g}") for v in m["calibration"]["min"]]
    m["calibration"]["max"] = [float(f"{v + w:.9g}") for v in m["calibration"]["max"]]
json.dump(m, open(f"{d}/manifest.json", "w"))
PYEOF
cp -r "$T/dint8" "$T/r1"; "$PY" "$T/cut.py" "$T/r1"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/r1/" "${OPTS[@]}" --format int8
check "cut + resume == the undisturbed folder" diff <(cd "$T/r1" && sha256sum part-*) <(cd "$T/dint8" && sha256sum part-*)
cp -r "$T/dint8" "$T/r2"; "$PY" "$T/cut.py" "$T/r2" 0.01
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/r2/" "${OPTS[@]}" --format int8
check "resume quantises with the manifest's (widened) ranges, not the new first window's" "$PY" - "$T" <<'PYEOF'
import json, sys
import numpy as np
t = sys.argv[1]
a = np.load(f"{t}/f32.npy")
c = json.load(open(f"{t}/r2/manifest.json"))["calibration"]
cal = np.array([c["min"], c["max"]], dtype=np.float32)
sys.path.insert(0, t)
import ref
q, _ = ref.int8(a, cal)
x = np.concatenate([np.load(f"{t}/r2/part-{k:05d}.npy") for k in range(3)])
assert (x[:300] == np.load(f"{t}/dint8/part-00000.npy")).all()  # the kept part
assert (x[300:] == q[300:]).all() and (x[300:] != np.load(f"{t}/int8.npy")[300:]).any()
PYEOF
cp -r "$T/dint8" "$T/r3"; "$PY" "$T/cut.py" "$T/r3"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/r3/" "${OPTS[@]}" --format int8 --calibration "$T/cal32.npy" 2>"$T/err"; rc=$?
check "resume with another --calibration: refused (rc $rc)" grep -q 'the int8 calibration differs' "$T/err"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/r3/" "${OPTS[@]}" --format binary 2>"$T/err"; rc=$?
check "resume with another --format: refused (rc $rc)" grep -q 'the format differs (folder: int8, now: binary)' "$T/err"

echo "# shards: int8 needs --calibration; shards + merge == one run"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/s/" "${OPTS[@]}" --format int8 --shard 0/3 2>"$T/err"; rc=$?
check "int8 --shard without --calibration: usage error (rc $rc)" \
    test "$rc" -eq 2 -a -n "$(grep 'needs --calibration' "$T/err")" -a ! -e "$T/s"
for k in 0 1 2; do
    "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/s/" "${OPTS[@]}" --format int8 --calibration "$T/cal16.npy" --shard $k/3
    "$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/u/" "${OPTS[@]}" --format ubinary --shard $k/3
done
"$LABSE" merge --npy "$T/s.npy" "$T"/s/shard-* -q
check "int8 shards (float16 calibration) + merge == the single run" cmp -s "$T/s.npy" "$T/int8c16.npy"
"$LABSE" merge --npy "$T/u.npy" "$T"/u/shard-* -q
check "ubinary shards + merge == the single run" cmp -s "$T/u.npy" "$T/ubinary.npy"
"$LABSE" "${E[@]}" --input "$T/in.txt" --output "$T/s2/" "${OPTS[@]}" --format int8 --calibration "$T/cal32.npy" --shard 2/3
"$LABSE" merge --npy "$T/x.npy" "$T"/s/shard-0000[01]* "$T/s2/shard-00002-of-00003" -q 2>"$T/err"; rc=$?
check "merge of shards of two calibrations: refused (rc $rc)" \
    test "$rc" -eq 1 -a -n "$(grep 'different calibrations' "$T/err")" -a ! -e "$T/x.npy"
"$LABSE" merge --npy "$T/x.npy" "$T"/s/shard-0000[01]* "$T/u/shard-00002-of-00003" -q 2>"$T/err"; rc=$?
check "merge of shards of two formats: refused (rc $rc)" \
    test "$rc" -eq 1 -a -n "$(grep 'format' "$T/err")" -a ! -e "$T/x.npy"

echo "# mine: bf16 is read, quantised outputs are refused"
"$PY" -c "import numpy as np, sys; b = np.load(sys.argv[1]); np.save(sys.argv[2], (b.astype('<u4') << 16).view('<f4'))" \
    "$T/bf16.npy" "$T/bf16as32.npy"
"$LABSE" mine -q --threads 1 --src-emb "$T/bf16.npy" --tgt-emb "$T/dbf16" -o "$T/p1.tsv"
"$LABSE" mine -q --threads 1 --src-emb "$T/bf16as32.npy" --tgt-emb "$T/bf16as32.npy" -o "$T/p2.tsv"
check "mine on bf16 (file, folder) == mine on its float32 values" cmp -s "$T/p1.tsv" "$T/p2.tsv"
for f in int8.npy dint8 ubinary.npy dubinary binary.npy dbinary; do
    "$LABSE" mine -q --threads 1 --src-emb "$T/$f" --tgt-emb "$T/f32.npy" -o "$T/p.tsv" 2>"$T/err"; rc=$?
    check "mine --src-emb $f: refused (rc $rc), says why" \
        test "$rc" -ne 0 -a -n "$(grep 'quantised embeddings; mining compares float rows' "$T/err")"
done
no_tmp "$T" "$T"/*/
check "no temporaries left" test $? -eq 0

echo "test_output_formats: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
