#!/usr/bin/env bash
# fault_walk.sh — I/O fault injection over every I/O call of the commands that write files.
#
#   fault_walk.sh LABSE_BIN FAULTINJ_SO MODEL_DIR [SCENARIO...]
#
# Scenarios (each in a fresh folder, paths relative to it, tiny corpus of 40 lines):
#   npy     labse encode to out.npy
#   dir     labse encode to a part folder out/ (--part-rows 16: 3 parts)
#   resume  the same, resumed from a folder a failed run left (1 of 3 parts done)
#   merge   labse merge of 4 shard folders to a folder and a .npy
#   mine    labse mine to pairs.tsv
#   model   labse encode to out.npy, faults on the model files only (a copy of MODEL_DIR)
#   full    a real disk-full run: labse encode of 400 lines to a folder on a 48 KiB tmpfs
#           (root only; skipped with a message where mount is refused), then the folder
#           copied to disk and resumed (no shim)
# For each: a run in counting mode (LB_FAULT_COUNT) gives the number of calls per kind on
# files under the scenario's folder (LB_FAULT_PREFIX; the model is outside it, so the walk of
# the encoders excludes model loading, which the 'model' scenario walks instead). Then one run
# per call N and fault: ENOSPC for every call, EINTR for every call of a kind that can return
# it, a short write for every write, EIO for every fsync. Checks after each faulted run:
#   EINTR         rc 0 and the outputs byte-identical to the undisturbed run (retried);
#   other faults  rc 1 and stderr names the file (the path the call was on, relative to the
#                 folder) and the errno's text; or rc 0 with identical outputs (a fault the
#                 library tolerates by design: listed as "tolerated");
#   always        no temporary (*.tmp.*) left; every final file present (the .npy, the TSV,
#                 each part) byte-identical to the undisturbed run's; every part the manifest
#                 lists exists with the listed checksum; a rerun without the fault finishes
#                 byte-identical to the undisturbed run (the whole folder).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
LABSE=$(realpath "${1:?labse}"); SHIM=$(realpath "${2:?faultinj.so}"); MODEL=$(realpath "${3:?model}"); shift 3
need_model "$MODEL"
SCEN=("$@"); [ ${#SCEN[@]} -gt 0 ] || SCEN=(npy dir resume merge mine model full)
scratch fault
trap 'umount "$T/full/mnt" 2>/dev/null; rm -rf "$T"' EXIT
TOL=0
E=(encode --device cpu --threads 1 --tok-threads 1 --quiet)
awk 'BEGIN { for (i = 0; i < 40; i++) { s = ""; for (j = 0; j < i % 7; j++) s = s " w" (i * j % 13); print "line " i s } }' >"$T/in.txt"

# cmd_S: the command of scenario S, run in its folder; outs_S: its outputs.
cmd_npy() { "$LABSE" "${E[@]}" --model "$MODEL" --input in.txt --output out.npy; }
cmd_dir() { "$LABSE" "${E[@]}" --model "$MODEL" --input in.txt --output out/ --part-rows 16 --window 8; }
cmd_resume() { cmd_dir; }
cmd_merge() { "$LABSE" merge --out merged --npy merged.npy sh/shard-* -q; }
cmd_mine() { "$LABSE" mine --src-emb emb.npy --tgt-emb emb.npy --device cpu --threads 1 -k 4 --output pairs.tsv; }
cmd_model() { "$LABSE" "${E[@]}" --model model --input in.txt --output out.npy; }
outs() { case $1 in npy|model) echo out.npy ;; dir|resume) echo out ;; merge) echo merged merged.npy ;; mine) echo pairs.tsv ;; esac; }
prefix() { if [ "$1" = model ]; then echo "$2/model"; else echo "$2"; fi; }

# The inputs of each scenario, made once undisturbed.
mkdir -p "$T/seed" && cd "$T/seed" || exit 1
cp "$T/in.txt" . && cmd_dir >/dev/null || { echo "FAIL: undisturbed encode"; exit 1; }
"$LABSE" merge --npy emb.npy out -q || exit 1
for k in 0 1 2 3; do "$LABSE" "${E[@]}" --model "$MODEL" --input in.txt --output sh/ --shard $k/4 --part-rows 16 --window 8 || exit 1; done
# the resume scenario's start: a run that failed at its first write after part 0 was listed
# (the smallest N of write:N:ENOSPC leaving part 0, and only it, in the manifest)
for n in $(seq 1 40); do
    rm -rf "$T/part"; mkdir -p "$T/part" && cd "$T/part" && cp "$T/in.txt" . || exit 1
    LD_PRELOAD=$SHIM LB_FAULT_PREFIX="$T/part/out" LB_FAULT=write:$n:ENOSPC cmd_dir 2>/dev/null
    grep -qs '"part-00000.npy"' out/manifest.json && break
done
! grep -q '"part-00001.npy"' out/manifest.json || { echo "FAIL: no resume seed"; exit 1; }

setup() { # setup S DIR: a fresh folder for scenario S
    rm -rf "$2"; mkdir -p "$2"; cp "$T/in.txt" "$2/"
    case $1 in
    resume) cp -r "$T/part/out" "$2/" ;;
    merge) cp -r "$T/seed/sh" "$2/" ;;
    mine) cp "$T/seed/emb.npy" "$2/" ;;
    model) cp -r "$MODEL" "$2/model" ;;
    esac
}

finals_ok() { # finals_ok S DIR REF: every final file present equals the reference's
    local o f rel
    for o in $(outs "$1"); do
        if [ -d "$3/$o" ]; then
            for f in "$2/$o"/*; do
                [ -e "$f" ] || continue
                rel=${f#"$2/"}
                case $rel in *manifest.json) continue ;; esac
                cmp -s "$f" "$3/$rel" || { echo "$rel differs from the undisturbed run"; return 1; }
            done
            manifest_ok "$2/$o" || return 1
        elif [ -e "$2/$o" ]; then
            cmp -s "$2/$o" "$3/$o" || { echo "$o differs from the undisturbed run"; return 1; }
        fi
    done
}

same_all() { # same_all S DIR REF: every output (folders whole) equals the reference
    local o
    for o in $(outs "$1"); do diff -r "$2/$o" "$3/$o" >/dev/null || { echo "$o differs"; return 1; }; done
}

errtext() { case $1 in ENOSPC) echo "No space left on device" ;; EIO|SHORT) echo "" ;; esac; }

walk() { # walk S
    local s=$1 ref="$T/ref_$1" w="$T/w_$1" pre kinds k c n what rc rel msg runs=0 t0
    t0=$(date +%s%N)
    setup "$s" "$ref"; (cd "$ref" && cmd_"$s" >/dev/null 2>&1) || { bad "$s: undisturbed run"; return; }
    rm -rf "$ref/in.txt" "$ref/sh" "$ref/model"
    setup "$s" "$w"; pre=$(prefix "$s" "$w")
    (cd "$w" && LD_PRELOAD=$SHIM LB_FAULT_PREFIX="$pre" LB_FAULT_COUNT="$T/count" cmd_"$s" >/dev/null 2>&1) || { bad "$s: counting run"; return; }
    echo "# $s: calls $(tr '\n' ' ' <"$T/count")"
    while read -r k c; do
        for n in $(seq 1 "$c"); do
            for what in ENOSPC EINTR SHORT EIO; do
                case $what/$k in
                EINTR/rename|EINTR/mmap) continue ;;
                SHORT/write) ;; SHORT/*) continue ;;
                EIO/fsync) ;; EIO/*) continue ;;
                esac
                runs=$((runs + 1))
                setup "$s" "$w"
                rm -f "$T/log"
                (cd "$w" && LD_PRELOAD=$SHIM LB_FAULT_PREFIX="$pre" LB_FAULT="$k:$n:$what" LB_FAULT_LOG="$T/log" cmd_"$s" >/dev/null 2>"$T/err")
                rc=$?
                [ -f "$T/log" ] || { bad "$s $k:$n:$what: the fault did not fire"; continue; }
                rel=$(awk '{ print $4 }' "$T/log"); rel=${rel#"$w/"}
                if [ "$what" = EINTR ] || [ "$what" = SHORT ]; then
                    [ $rc -eq 0 ] || { bad "$s $k:$n:$what: rc $rc, not retried: $(head -c 300 "$T/err")"; continue; }
                elif [ $rc -eq 0 ]; then
                    TOL=$((TOL + 1)); echo "     tolerated: $s $k:$n:$what on $rel"
                else
                    msg=$(errtext "$what")
                    [ $rc -eq 1 ] || bad "$s $k:$n:$what: rc $rc (want 1): $(head -c 300 "$T/err")"
                    grep -qF "$rel" "$T/err" || bad "$s $k:$n:$what: the message does not name $rel: $(head -c 300 "$T/err")"
                    [ -z "$msg" ] || grep -qF "$msg" "$T/err" || bad "$s $k:$n:$what: the message lacks '$msg': $(head -c 300 "$T/err")"
                    [ "$what" != EIO ] || grep -qF "Input/output error" "$T/err" || bad "$s $k:$n:$what: the message lacks EIO's text"
                fi
                if find "$w" -name '*.tmp.*' | grep -q .; then bad "$s $k:$n:$what: temporaries left: $(find "$w" -name '*.tmp.*')"; fi
                x=$(finals_ok "$s" "$w" "$ref") || bad "$s $k:$n:$what: $x"
                if [ $rc -eq 0 ]; then
                    x=$(same_all "$s" "$w" "$ref") || bad "$s $k:$n:$what: rc 0 but $x"
                else
                    (cd "$w" && cmd_"$s" >/dev/null 2>&1) || { bad "$s $k:$n:$what: rerun failed"; continue; }
                    x=$(same_all "$s" "$w" "$ref") || bad "$s $k:$n:$what: rerun: $x"
                fi
                PASS=$((PASS + 1))
            done
        done
    done <"$T/count"
    echo "# $s: $runs faulted runs in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

full() { # a real ENOSPC from a small tmpfs
    local d="$T/full" rc
    awk 'BEGIN { for (i = 0; i < 400; i++) print "full line " i " w" (i % 17) }' >"$T/in400.txt"
    mkdir -p "$d/ref" "$d/mnt" && cd "$d" && cp "$T/in400.txt" in.txt || { bad "full: setup"; return; }
    (cd ref && cp ../in.txt . && cmd_dir >/dev/null 2>&1) || { bad "full: undisturbed run"; return; }
    if ! mount -t tmpfs -o size=48k none "$d/mnt" 2>/dev/null; then
        echo "# full: SKIP (cannot mount a tmpfs here: needs root)"; return
    fi
    cp in.txt mnt/ && (cd mnt && cmd_dir >/dev/null 2>"$T/err"); rc=$?
    [ $rc -eq 1 ] || bad "full: rc $rc on a full disk (want 1)"
    grep -q "No space left on device" "$T/err" || bad "full: no ENOSPC message: $(head -c 300 "$T/err")"
    grep -q "out/" "$T/err" || bad "full: the message names no file under out/: $(head -c 300 "$T/err")"
    ! find mnt -name '*.tmp.*' | grep -q . || bad "full: temporaries left"
    x=$(manifest_ok mnt/out) || bad "full: $x"
    echo "# full: $(grep -c '"file"' mnt/out/manifest.json 2>/dev/null) parts listed when the disk filled: $(head -c 200 "$T/err")"
    mkdir -p disk && cp -r mnt/out mnt/in.txt disk/; umount "$d/mnt"
    (cd disk && cmd_dir >/dev/null 2>&1) || { bad "full: resume on disk failed"; return; }
    diff -r disk/out ref/out >/dev/null || bad "full: resumed folder differs from the undisturbed run"
    PASS=$((PASS + 1))
}

for s in "${SCEN[@]}"; do if [ "$s" = full ]; then full; else walk "$s"; fi; done
echo "# $PASS faulted runs checked, $TOL tolerated faults, $FAIL failures"
[ "$FAIL" -eq 0 ]
