# lib.sh — the preamble the end-to-end shell tests share (test_cli.sh, test_pipeline.sh,
# test_signals.sh, test_input_formats.sh, test_gpu_e2e.sh, faultinj/fault_walk.sh). Sourced by
# bash, not run:
#     . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"        (faultinj/: .../../lib.sh)
# It defines
#   need_model DIR     exit 77 (ctest's skip) with "SKIP: no model at DIR" unless DIR/config.json
#   scratch NAME       T = a fresh folder ${TMPDIR:-/tmp}/labse_NAME.XXXXXX, removed at exit
#                      (an EXIT trap: a caller that needs more at exit sets its own, rm -rf "$T"
#                      included)
#   PASS, FAIL         counters (0), and
#   ok TEXT / bad TEXT count and print "ok   TEXT" / "FAIL TEXT"
#   check TEXT CMD...  run CMD: ok TEXT when it succeeds, bad TEXT when not
#   no_tmp PATH...     fails, printing them, when a temporary (a name with ".tmp.") is in the
#                      listing of a PATH (each folder's entries, one level)
#   manifest_ok DIR    fails, printing "FILE listed, checksum differs or absent", unless every
#                      part DIR/manifest.json lists exists with the listed checksum: "xxh128"
#                      (xxh128sum) or, from a manifest written before it, "sha256" (sha256sum);
#                      also fails when a part has neither (no manifest: success)
# Each test prints its own summary and exit status.

need_model() { [ -f "$1/config.json" ] || { echo "SKIP: no model at $1"; exit 77; }; }

scratch() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/labse_$1.XXXXXX")
    trap 'rm -rf "$T"' EXIT
}

PASS=0; FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

no_tmp() { if ls "$@" 2>/dev/null | grep '\.tmp\.'; then return 1; fi; }

manifest_ok() {
    local d=$1 line f h sum
    [ -f "$d/manifest.json" ] || return 0
    [ "$(grep -c '"file": ' "$d/manifest.json")" = "$(grep -Ec '"(xxh128|sha256)": "[0-9a-f]*"' "$d/manifest.json")" ] ||
        { echo "a part without a checksum"; return 1; }
    grep -Eo '"file": "[^"]*", [^}]*"(xxh128|sha256)": "[0-9a-f]*"' "$d/manifest.json" | while read -r line; do
        f=$(echo "$line" | sed 's/.*"file": "\([^"]*\)".*/\1/'); h=$(echo "$line" | sed -E 's/.*"(xxh128|sha256)": "([0-9a-f]*)".*/\2/')
        case $line in *'"xxh128"'*) sum=xxh128sum ;; *) sum=sha256sum ;; esac
        [ -f "$d/$f" ] && [ "$($sum "$d/$f" | cut -d' ' -f1)" = "$h" ] || { echo "$f listed, checksum differs or absent"; exit 1; }
    done
}
