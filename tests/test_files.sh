#!/usr/bin/env bash
# test_files.sh — many files in one run (issue 12 §2) through `labse encode --input-list` /
# repeated --input, `labse merge --npy OUT.npy DIR` and `labse mine --src-emb DIR`:
#   - one run over 5 inputs (plain, .gz, empty, one in a subfolder, a big one that --shard
#     cuts) == the per-file single runs, row for row (byte-identical);
#   - --input repeated == --input-list (blank lines and CRLF in the list);
#   - --shard K/3 tasks (K given, from OMPI_* with --shard auto, from PMI_* alone): each
#     writes only its own folders, the big input is cut into byte ranges; the tasks + merge ==
#     the single run;
#   - merge refuses a missing input (a task not run) and an incomplete one, naming it;
#   - kill -9 mid-list + rerun == an undisturbed run, the complete inputs kept;
#   - name collisions, a .npy output of several inputs, stdin in a list, another list in the
#     same folder: refused with a clear message;
#   - structured input (--tsv-column) per file, one of them .zst;
#   - mine --src-emb DIR == mine --src-emb MERGED.npy.
#
#   test_files.sh LABSE_BIN MODEL_DIR
# Exit 77 when MODEL_DIR, gzip or zstd is absent. The model does not matter: tiny-bert.
set -u
LABSE=${1:?labse}; MODEL=${2:?model}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_model "$MODEL"
LABSE=$(cd "$(dirname "$LABSE")" && pwd)/$(basename "$LABSE"); MODEL=$(cd "$MODEL" && pwd)
for t in gzip zstd; do command -v $t >/dev/null || { echo "SKIP: no $t"; exit 77; }; done
scratch files
BITEXT=$(cd "$(dirname "$0")/../../shared/data/bitext" 2>/dev/null && pwd)
# one encoder thread: rows do not depend on it, and it is the fast setting on a loaded machine
E=(encode --model "$MODEL" --device cpu --threads "${LABSE_TEST_THREADS:-1}" --tok-threads 2 --quiet)
# parts of 200 rows, windows of 100: several of each per input; the single runs use the same
OPTS=(--part-rows 200 --window 100)

# The rows of a .npy (format 1.0: 10 bytes + a header of the length at bytes 8-9).
npy_data() { local h; h=$(od -An -tu2 -j8 -N2 "$1" | tr -d ' '); tail -c +$((10 + h + 1)) "$1"; }
# "rows" of a .npy's shape
npy_rows() { head -c 200 "$1" | tr -d '\0' | grep -ao "'shape': ([0-9]*" | grep -o '[0-9]*$'; }

cd "$T" || exit 1
mkdir -p in/sub
gen() { # gen SEED N: N lines of text (the shared bitext's, when present, then synthetic)
    { if [ -n "$BITEXT" ]; then cat "$BITEXT"/*.tsv | cut -f2 | tail -n +"$1" | head -n "$2"; fi
      awk -v s="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) { l = "s" s " line " i; for (j = 0; j < (i + s) % 29; j++) l = l " w" ((i * j + s) % 101); print l } }'
    } | head -n "$2"
}
gen 1 700 >in/a.txt
gen 900 300 | gzip -c >in/b.txt.gz
: >in/empty.txt
gen 2000 250 >in/sub/c.txt
gen 3000 2500 >in/big.txt
printf 'in/a.txt\r\n\nin/b.txt.gz\n  \t\nin/empty.txt\nin/sub/c.txt\nin/big.txt' >list.txt
INPUTS=(in/a.txt in/b.txt.gz in/empty.txt in/sub/c.txt in/big.txt)
NAMES=(in__a.txt in__b.txt.gz in__empty.txt in__sub__c.txt in__big.txt)

echo "# one run over the list == the per-file single runs"
"$LABSE" "${E[@]}" --input-list list.txt --output one/ "${OPTS[@]}"
check "list run: rc 0" test $? -eq 0
check "one folder per input, named from its path" \
    bash -c 'for n in "$@"; do [ -f "one/$n/manifest.json" ] || exit 1; done' _ "${NAMES[@]}"
check "files.json lists the inputs in order" \
    test "$(grep -o '"input":[^,]*' one/files.json | tr -d '\t' | cut -d'"' -f4 | tr '\n' ' ')" = "${INPUTS[*]} "
"$LABSE" merge -q --npy one.npy one
check "merge --npy DIR: rc 0" test $? -eq 0
rows=0
for i in "${!INPUTS[@]}"; do
    "$LABSE" "${E[@]}" --input "${INPUTS[$i]}" --output "single$i.npy" "${OPTS[@]}"
    rows=$((rows + $(npy_rows "single$i.npy")))
done
check "merged rows ($(npy_rows one.npy)) == the inputs' lines ($rows = 700+300+0+250+2500)" \
    test "$(npy_rows one.npy)" -eq "$rows" -a "$rows" -eq 3750
check "merged .npy == the single runs concatenated, byte for byte" \
    cmp -s <(npy_data one.npy) <(for i in "${!INPUTS[@]}"; do npy_data "single$i.npy"; done)
"$LABSE" "${E[@]}" --input "${INPUTS[0]}" --input "${INPUTS[1]}" --input "${INPUTS[2]}" \
    --input "${INPUTS[3]}" --input "${INPUTS[4]}" --output rep/ "${OPTS[@]}"
check "--input repeated == --input-list (blank lines, CRLF skipped): identical folders" diff -r rep one
"$LABSE" "${E[@]}" --input-list list.txt --output one/ "${OPTS[@]}" 2>err
check "rerun on a complete list: rc 0" test $? -eq 0

echo "# --shard K/3: whole inputs dealt, the big one cut; tasks + merge == the single run"
"$LABSE" "${E[@]}" --input-list list.txt --output sh/ --shard 0/3 "${OPTS[@]}"
check "task 0: rc 0" test $? -eq 0
n0=$(find sh -name manifest.json | wc -l)
check "task 0 wrote only its folders ($n0 manifests of the 7 pieces)" test "$n0" -ge 1 -a "$n0" -lt 7
# task 1 as an MPI launcher starts it: the task from the environment (--shard auto)
OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=3 "$LABSE" "${E[@]}" --input-list list.txt --output sh \
    --shard auto "${OPTS[@]}"
check "task 1 from OMPI_COMM_WORLD_RANK/SIZE (--shard auto): rc 0" test $? -eq 0
"$LABSE" merge -q --npy sh.npy sh 2>err; rc=$?
check "merge with task 2 not run: refused (rc $rc), names a missing input" \
    test "$rc" -ne 0 -a ! -e sh.npy -a -n "$(grep 'is missing' err)"
# task 2 under a launcher, without --shard (output named without '/': a list's is a folder)
PMI_RANK=2 PMI_SIZE=3 "$LABSE" "${E[@]}" --input-list list.txt --output sh "${OPTS[@]}"
check "the big input is cut in byte ranges (3 shard folders)" \
    test "$(ls -d sh/in__big.txt/shard-*-of-00003 | wc -l)" -eq 3
check "small inputs stay whole" test -f sh/in__a.txt/manifest.json -a -f sh/in__empty.txt/manifest.json
"$LABSE" merge -q --npy sh.npy sh
check "3 tasks + merge == the single run (byte-identical .npy)" cmp -s sh.npy one.npy
cp -r sh shx
sed -i 's/"complete": true/"complete": false/' shx/in__sub__c.txt/manifest.json
"$LABSE" merge -q --npy shx.npy shx 2>err; rc=$?
check "merge of an incomplete input: refused (rc $rc), names it" \
    test "$rc" -ne 0 -a ! -e shx.npy -a -n "$(grep -F 'in/sub/c.txt' err)"
"$LABSE" merge -q outdir sh 2>err; rc=$?
check "merge of a list into a folder: refused (rc $rc)" test "$rc" -ne 0 -a ! -e outdir

echo "# kill -9 mid-list, then rerun: == undisturbed, complete inputs kept"
killed=0
for try in 1 2 3 4 5; do
    rm -rf k9
    "$LABSE" "${E[@]}" --input-list list.txt --output k9/ "${OPTS[@]}" &
    pid=$!
    # after the 4th input is complete, while the big one runs (or retry)
    for _ in $(seq 500); do grep -q '"complete": true' k9/in__sub__c.txt/manifest.json 2>/dev/null && break; sleep 0.01; done
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    grep -q '"complete": true' k9/in__big.txt/manifest.json 2>/dev/null || { killed=1; break; }
done
check "kill -9 left the list incomplete" test "$killed" -eq 1
before=$(stat -c %Y.%i k9/in__a.txt/part-00000.npy 2>/dev/null)
"$LABSE" "${E[@]}" --input-list list.txt --output k9/ "${OPTS[@]}"
check "rerun after kill -9: rc 0" test $? -eq 0
check "complete inputs kept (part file untouched)" \
    test -n "$before" -a "$before" = "$(stat -c %Y.%i k9/in__a.txt/part-00000.npy)"
check "resumed folder == undisturbed (byte-identical)" diff -r k9 one
no_tmp_all() { ! find "$1" -name '*.tmp.*' | grep -q .; }
check "no temporaries left" no_tmp_all k9

echo "# refusals"
cp in/sub/c.txt in/sub__c.txt
"$LABSE" "${E[@]}" --input in/sub/c.txt --input in/sub__c.txt --output col/ 2>err; rc=$?
check "two inputs with one folder name: refused (rc $rc), naming both" \
    test "$rc" -ne 0 -a -n "$(grep -F 'in/sub/c.txt' err | grep -F 'in/sub__c.txt')" -a ! -e col/files.json
"$LABSE" "${E[@]}" --input in/a.txt --input in/a.txt --output col2/ 2>err; rc=$?
check "one input given twice: refused (rc $rc)" test "$rc" -ne 0 -a -n "$(grep -F 'in/a.txt' err)"
"$LABSE" "${E[@]}" --input-list list.txt --output many.npy 2>err; rc=$?
check "several inputs into one .npy: usage error (rc $rc)" \
    test "$rc" -eq 2 -a ! -e many.npy -a -n "$(grep 'folder output' err)"
"$LABSE" "${E[@]}" --input in/a.txt --input - --output st/ 2>err </dev/null; rc=$?
check "stdin among several inputs: usage error (rc $rc)" test "$rc" -eq 2
printf '\n \n' >blank.txt
"$LABSE" "${E[@]}" --input-list blank.txt --output bl/ 2>err; rc=$?
check "a list without paths: refused (rc $rc)" test "$rc" -ne 0 -a -n "$(grep 'names no input' err)"
"$LABSE" "${E[@]}" --input in/a.txt --input in/sub/c.txt --output one/ 2>err; rc=$?
check "another list into the same folder: refused (rc $rc), files.json named" \
    test "$rc" -ne 0 -a -n "$(grep -F 'files.json' err)"
"$LABSE" "${E[@]}" --input in/a.txt --input in/nope.txt --output nope/ 2>err; rc=$?
check "a missing input: refused (rc $rc), named" test "$rc" -ne 0 -a -n "$(grep -F 'in/nope.txt' err)"

echo "# structured inputs per file (--tsv-column 2), one .zst"
paste in/a.txt in/a.txt | head -300 >t1.tsv
paste in/sub/c.txt in/sub/c.txt | zstd -q -c >t2.tsv.zst
"$LABSE" "${E[@]}" --input t1.tsv --input t2.tsv.zst --tsv-column 2 --output tsv/ "${OPTS[@]}"
check "tsv list: rc 0" test $? -eq 0
"$LABSE" merge -q --npy tsv.npy tsv
head -300 in/a.txt >p1.txt
"$LABSE" "${E[@]}" --input p1.txt --output p1.npy "${OPTS[@]}"
"$LABSE" "${E[@]}" --input in/sub/c.txt --output p2.npy "${OPTS[@]}"
check "tsv column 2 of each file == the plain text's rows (550)" \
    cmp -s <(npy_data tsv.npy) <(npy_data p1.npy; npy_data p2.npy)
check "  (550 rows)" test "$(npy_rows tsv.npy)" = 550

echo "# mine reads the folder as it is"
"$LABSE" mine --src-emb sh --tgt-emb one -o pairs_dir.tsv -q
check "mine --src-emb DIR: rc 0" test $? -eq 0
"$LABSE" mine --src-emb sh.npy --tgt-emb one.npy -o pairs_npy.tsv -q
check "mine over the folders == over the merged .npy" cmp -s pairs_dir.tsv pairs_npy.tsv
"$LABSE" mine --src-emb shx --tgt-emb one -o bad.tsv -q 2>err; rc=$?
check "mine over an incomplete list: refused (rc $rc)" test "$rc" -ne 0 -a ! -e bad.tsv

echo "# quantised formats over a list (--format, issue 12 section 5)"
"$LABSE" "${E[@]}" --input in/a.txt --input in/sub/c.txt --format ubinary --output ub/ "${OPTS[@]}"
check "ubinary list: rc 0" test $? -eq 0
"$LABSE" merge -q --npy ub.npy ub
for f in a.txt sub/c.txt; do "$LABSE" "${E[@]}" --input "in/$f" --format ubinary --output "ub_$(basename "$f").npy" "${OPTS[@]}"; done
check "ubinary list merged == the single runs (rows of dim/8 bytes)" \
    cmp -s <(npy_data ub.npy) <(npy_data ub_a.txt.npy; npy_data ub_c.txt.npy)
"$LABSE" "${E[@]}" --input in/a.txt --input in/sub/c.txt --format int8 --output i8/ "${OPTS[@]}" 2>err; rc=$?
check "int8 over several inputs without --calibration: usage error (rc $rc)" \
    test "$rc" -eq 2 -a -n "$(grep -F -- '--calibration' err)"
"$LABSE" "${E[@]}" --input in/a.txt --input in/sub/c.txt --output f16/ --format f16 "${OPTS[@]}"
"$LABSE" "${E[@]}" --input in/a.txt --input in/sub/c.txt --output fmt/ --format f32 "${OPTS[@]}"
rm -rf fmt/in__a.txt && cp -r f16/in__a.txt fmt/in__a.txt   # one input f16, the other f32
"$LABSE" merge -q --npy fmt.npy fmt 2>err; rc=$?
check "merge of inputs of different formats: refused (rc $rc)" test "$rc" -ne 0 -a ! -e fmt.npy

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
