#!/usr/bin/env bash
# Regenerate the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/seed-*) from small
# real files: tiny-bert's own files, tests/golden/sentences.txt, and .npy files and a part
# folder's manifest.json written by the project's own CLI (labse encode with tiny-bert).
# Files named regress-* (inputs that once failed; the fix is in the library) are kept, except
# fuzz_lines's, written here (in the input format of today).
#   usage: tests/fuzz/make_seeds.sh [BUILD_DIR]   (default build: a normal build with the CLI)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
LABSE="$BUILD/labse"
[ -x "$LABSE" ] || { echo "make_seeds: no $LABSE (build the project first)" >&2; exit 1; }
C="$ROOT/tests/fuzz/corpus"
M="$ROOT/tests/data/tiny-bert"
S="$ROOT/tests/golden/sentences.txt"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for t in fuzz_tokenizer fuzz_utf8 fuzz_safetensors fuzz_model_files fuzz_npy fuzz_manifest \
         fuzz_lines fuzz_tsv; do
  mkdir -p "$C/$t"
  rm -f "$C/$t"/seed-*
done

# tokenizer: byte 0 = max_ids selector (0x7e: 128 ids), then one sentence; every 8th line
i=0
while IFS= read -r line; do
  if [ $((i % 8)) -eq 0 ]; then printf '\x7e%s' "$line" > "$C/fuzz_tokenizer/seed-$i"; fi
  i=$((i + 1))
done < "$S"
printf '\x03a\xff\xfe b\xed\xa0\x80 c' > "$C/fuzz_tokenizer/seed-invalid-utf8"
# utf8: sentences (valid) and the standard's examples of ill-formed sequences
head -c 2000 "$S" > "$C/fuzz_utf8/seed-sentences"
printf '\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64' > "$C/fuzz_utf8/seed-maximal-subparts"
printf '\xc0\xaf\xe0\x80\xbf\xf0\x81\x82\x41\xed\xa0\x80\xf4\x90\x80\x80' > "$C/fuzz_utf8/seed-overlong-surrogate"
# safetensors: tiny-bert's Dense weights (8.5 KB, a real file written by safetensors)
cp "$M/2_Dense/model.safetensors" "$C/fuzz_safetensors/seed-dense"
# model files: byte 0 picks the file (the order of FILES in fuzz_model_files.c)
k=0
for f in config.json tokenizer.json tokenizer_config.json modules.json 1_Pooling/config.json \
         2_Dense/config.json sentence_bert_config.json vocab.txt; do
  { printf "\\x$(printf %02x $k)"; cat "$M/$f"; } > "$C/fuzz_model_files/seed-$k"
  k=$((k + 1))
done
# npy and manifest: what `labse encode` writes for 5 sentences, f32 and f16, single file and
# a part folder of 2-row parts
head -n 5 "$S" > "$TMP/in.txt"
"$LABSE" encode -q --device cpu -m "$M" -i "$TMP/in.txt" -o "$TMP/f32.npy"
"$LABSE" encode -q --device cpu -m "$M" -i "$TMP/in.txt" -o "$TMP/f16.npy" --format f16
"$LABSE" encode -q --device cpu -m "$M" -i "$TMP/in.txt" -o "$TMP/parts/" --part-rows 2
cp "$TMP/f32.npy" "$C/fuzz_npy/seed-f32"
cp "$TMP/f16.npy" "$C/fuzz_npy/seed-f16"
cp "$TMP/parts/part-00000.npy" "$C/fuzz_npy/seed-part"
cp "$TMP/parts/manifest.json" "$C/fuzz_manifest/seed-run"
# the same folder as a manifest written before XXH3-128 (its parts' "sha256"), still read
while read -r f h; do
  sed -i "s|\"xxh128\": \"$h\"|\"sha256\": \"$(sha256sum "$TMP/parts/$f" | cut -d' ' -f1)\"|" "$TMP/parts/manifest.json"
done < <(cd "$TMP/parts" && xxh128sum part-*.npy | awk '{ print $2, $1 }')
cp "$TMP/parts/manifest.json" "$C/fuzz_manifest/seed-run-sha256"
# a parts listing by hand, naming the parts the harness writes (2 x 4 f32, 3 x 4 f16)
printf '{"dim": 4, "parts": [{"file": "part-00000.npy", "first_line": 0, "rows": 2}]}' \
  > "$C/fuzz_manifest/seed-listing-f32"
printf '{"dtype": "float16", "parts": [{"file": "part-00001.npy", "first_line": 0, "rows": 3}]}' \
  > "$C/fuzz_manifest/seed-listing-f16"
# lines: byte 0 = line cap, byte 1 = read size, byte 2 = line range (fuzz_lines.c); sentences
# (cap 32, 96-byte reads, whole file), CRLF/NUL/lone CR (cap 4, 1-byte reads), over-long lines
# (cap 6, 2-byte reads, lines 1..3)
head -c 600 "$S" > "$TMP/sentences" && { printf '\x1f\x25\xf0'; cat "$TMP/sentences"; } > "$C/fuzz_lines/seed-sentences"
printf '\x03\x00\xf0a\r\nb\x00c\r\n\nd\re\r' > "$C/fuzz_lines/seed-crlf-nul"
printf '\x05\x01\x21a b c d e f g\nnext\nthird line here\nlast' > "$C/fuzz_lines/seed-cap"
# and its regress-* inputs (found with the 1 MiB cap before the small-cap seam; written again
# here in the small-cap format): lines of continuation bytes over the cap; the offset after
# a capped line; a line of exactly the cap before a final CR, and before its CRLF; a cap
# under 3 bytes backing off to a character boundary (tests/test_pipeline.c has each as a test)
printf '\x03\x0b\xf0\x90\x90\x90\x90\x90\x90\x90\x90\na\x90\x90\x90\x90\x90\x90\x90' > "$C/fuzz_lines/regress-cap-continuation"
printf '\x07\x02\xf0xxxxxxxxxxxx\nok' > "$C/fuzz_lines/regress-capped-offset"
printf '\x07\x0b\xf0aaaaaaaa\r' > "$C/fuzz_lines/regress-cr-eof-at-cap"
printf '\x07\x00\xf0aaaaaaaa\r\nb' > "$C/fuzz_lines/regress-crlf-at-cap"
printf '\x01\x0b\xf0a\xc3\xa9\n' > "$C/fuzz_lines/regress-small-cap-backoff"
# tsv: the first lines of a real bitext file when ../shared has them, else a made-up pair
B="$ROOT/../shared/data/bitext/de.tsv"
if [ -f "$B" ]; then head -n 4 "$B" > "$C/fuzz_tsv/seed-bitext"; else
  printf 'Hello.\tHallo.\r\nThank you.\tDanke.\n' > "$C/fuzz_tsv/seed-bitext"; fi
printf 'no tab here\n' > "$C/fuzz_tsv/seed-no-tab"
du -sh "$C"
