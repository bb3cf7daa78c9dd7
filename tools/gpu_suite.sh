#!/usr/bin/env bash
# gpu_suite.sh — prove the GPU backend on a lent GPU machine, in one call that gives its most
# valuable results first: build, the GPU tests, the kernel and end-to-end benchmarks for both GPU
# paths, GPU vs CPU, compute-sanitizer, and measured vs predicted (bench/perf_model.py).
#
#   tools/gpu_suite.sh pack                      here, on the development machine
#   tools/gpu_suite.sh run [options]             there (or here: --dry, --emu)
#
# A lent machine (one H200, 16 cores, no network; nvcc 13, cmake, python3 with numpy,
# tokenizers, torch and sentence-transformers; none of our Debian -dev packages, no models) is
# there for ~15 minutes of device time in all, its start included (~1-2 min): `run` fits one
# 600 s device call (default budget 540 s) and orders its steps by value.
#
# `pack` gathers into .gpu-carry/ (git-ignored; it must stay <= 40 MiB, the tree included the
# device call takes 64 MiB) what that machine lacks, and prints the sizes:
#   deps.tar.xz          the Debian (bookworm) packages the CMake build needs, unpacked with
#                        dpkg -x and stripped of static libraries and docs: prefix/ =
#                        libutf8proc, libcjson, libcmocka, OpenBLAS (OpenMP build), pkgconf;
#                        rt/ = libgfortran5, libquadmath0 (used only when the machine has none)
#   deps.txt             the .deb files that went in (name_version_arch)
#   labse_vocab.txt.xz   LaBSE's vocabulary (501,153 lines): models/labse-random is regenerated
#                        there by tools/make_random_model.py --preset labse (~1 min, in the
#                        background while the build runs)
#   bitext.tar.xz        ../shared/data/bitext (../shared is not carried)
#   minilm.tar.xz        all-MiniLM-L6-v2's config, tokenizer and module files, no weights:
#                        tools/make_random_model.py --preset like writes random weights of its
#                        shapes there (1 s). GPU-vs-CPU parity is about the maths; the real
#                        vocabulary keeps the tokenisation real.
#
# `run` works in WORK (default /tmp/labse-gpu-suite). Each step is time-boxed against the one
# overall budget; a step that would start with under 25 s left is not run (SKIP), and each
# step's timeout is cut to the time left. In order:
#   inputs        unpack the carry (or, with --dry/--emu and no carry, take this machine's:
#                 system packages, ../shared, models/all-MiniLM-L6-v2's files)
#   models        MiniLM-shaped random weights, labse-random (background; not on the emulator)
#   configure     -DLABSE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 against the unpacked prefix
#   build         only the targets the steps use: labse, bench_gpu_kernels, bench_mine and
#                 every program of a `gpu` test (from ctest --show-only=json-v1)
#   ctest_gpu     ctest -L gpu -LE e2e: kernel tests at full size, GPU encoder, labse_encode
#                 in flight; 3 at a time, OMP_NUM_THREADS = cores / 3 each
#   bench_kernels bench_gpu_kernels: µs per launch at LaBSE's shapes, 16,384-token batch
#   bench_e2e_*   bench/run_gpu.sh on labse-random (whole bitext): LABSE_GPU_PATH=basic
#                 LABSE_GPU_ATTN=tiled with the peer (sentence-transformers fp16), then
#                 fused/short (labse only, PEER=0), then --precision fp8 (bench_e2e_fp8,
#                 LABSE_BENCH_PRECISION=fp8). The suite sets these variables; the note
#                 records them and any line of the program's output naming the path it ran
#   gpu_e2e_*     tests/test_gpu_e2e.sh: GPU fp16 vs CPU fp32 on the bitext, all cores to
#                 the CPU: MiniLM every line; labse-random every line on the GPU, 12,000 of
#                 them on the CPU too (LABSE_E2E_LINES_*; --full: every line); gpu_e2e_fp8_*
#                 the same with --precision fp8 (and tiny-bert-mean through the dequantising
#                 kernel route, LABSE_GPU_FP8_SCALE=kernel)
#   san_*         compute-sanitizer memcheck on test_k_rowwise, racecheck on test_k_attention
#                 (--small); skipped when the sanitizer refuses the device
#   the rest, as time allows: bench_e2e for fused/tiled and basic/short, bench_mine (100k x
#                 100k), bench_e2e on MiniLM, perf_model (measured vs predicted), labse-random's
#                 e2e with every line on the CPU too (WARN when the budget cuts it), the other
#                 sanitizer runs, the CPU unit tests (building the remaining targets first)
# Threads: OPENBLAS_NUM_THREADS=1 (OpenBLAS is the OpenMP build: OMP_NUM_THREADS sets it),
# OMP_NUM_THREADS per step as above (default: all cores).
# Output, to $OUT when set (the device tool's folder that comes back) and WORK/logs/:
#   summary.txt          the table: step, PASS/FAIL/SKIP/TIMEOUT/WARN, seconds, note
#   suite.log            every step's output (long ones cut in the middle)
#   bench.txt            the benchmarks' output
#   gpu_measured.json    the figures (bench/gpu_measured.py: format labse-gpu-measured/1),
#                        rewritten after each benchmark so a cut run still brings them back
#   perf_model.txt       bench/perf_model.py --measured: measured / predicted per kernel and
#                        per end-to-end run
# The table is printed LAST. Exit status: 0 when no step failed (skips are not failures), 1 else.
#
# The device-tool call (see /work/.library/device/README.md; the call costs device time from
# its start, ~1-2 min of it to start the machine):
#   run(command="tools/gpu_suite.sh run", carry=[".gpu-carry"], timeout_s=600)
# then read the table at the end of output_tail, and the files above from files_at. A second,
# immediate call on the still-warm machine finds WORK in place: add --reuse to skip the
# unpacking and the model generation (the build is incremental anyway).
#
# Options of run:
#   --dry          no GPU expected (e.g. here): same steps, the GPU ones skip or are skipped;
#                  budget unlimited unless --budget; WORK default /tmp/labse-gpu-suite-dry
#   --emu          the emulation backend (LABSE_CUDA_EMU=ON) at small sizes: the GPU tests
#                  of tiny models, the benchmarks on tests/data/tiny-bert and 20 lines,
#                  gpu_e2e_tiny; no sanitizer, no unit tests. For testing this script:
#                  tools/test.sh runs `run --dry --emu --build build-emu` (~1 min)
#   --build DIR    use this configured build folder (its models and shared folders) instead
#                  of configuring WORK/build; only the needed targets are built
#   --budget S     overall seconds (default 540)
#   --work DIR     work folder
#   --full         labse-random's e2e test compares every bitext line with the CPU too (MiniLM
#                  always does; needs ~5 more minutes: the CPU encodes the LaBSE-shaped model
#                  at ~1k tokens/s per core)
#   --reuse        keep WORK's unpacked deps, data and models from an earlier run
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARRY="$ROOT/.gpu-carry"
say() { printf 'gpu_suite: %s\n' "$*"; }
die() { printf 'gpu_suite: %s\n' "$*" >&2; exit 1; }

# ==========================================================================================
# pack
# ==========================================================================================
# MiniLM's folder without model.safetensors: SRC DST (the sub-folders too, e.g. the empty
# 2_Normalize/). tools/make_random_model.py --preset like then writes random weights of its shapes.
minilm_files() {
    local src=$1 dst=$2
    (cd "$src" && find . -type d | while read -r d; do mkdir -p "$dst/$d"; done
     for f in config.json config_sentence_transformers.json modules.json sentence_bert_config.json \
              special_tokens_map.json tokenizer.json tokenizer_config.json vocab.txt \
              1_Pooling/config.json; do [ -f "$f" ] && cp "$f" "$dst/$f"; done; true)
}

DEBS=(libutf8proc-dev libutf8proc2 libcjson-dev libcjson1 libcmocka-dev libcmocka0
      libopenblas-openmp-dev libopenblas0-openmp pkgconf-bin libpkgconf3)
RT_DEBS=(libgfortran5 libquadmath0)

cmd_pack() {
    set -e
    mkdir -p "$CARRY"
    local tmp; tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpu_pack.XXXXXX")
    trap 'rm -rf "$tmp"' RETURN
    local py="$ROOT/.venv/bin/python"
    [ -x "$py" ] || die "no $py (run tools/setup.sh first)"

    # --- Debian packages ---
    say "apt-get download ${DEBS[*]} ${RT_DEBS[*]}"
    mkdir -p "$tmp/debs" && chmod 777 "$tmp/debs"
    if ! (cd "$tmp/debs" && apt-get download -q "${DEBS[@]}" "${RT_DEBS[@]}" >"$tmp/apt.log" 2>&1); then
        cat "$tmp/apt.log" >&2
        if [ -s "$CARRY/deps.tar.xz" ]; then say "apt-get download failed: keeping the existing deps.tar.xz"
        else die "apt-get download failed (apt-get update first?)"; fi
    else
        mkdir -p "$tmp/d/prefix" "$tmp/d/rt"
        for p in "${DEBS[@]}"; do dpkg -x "$tmp/debs/${p}"_*.deb "$tmp/d/prefix"; done
        for p in "${RT_DEBS[@]}"; do dpkg -x "$tmp/debs/${p}"_*.deb "$tmp/d/rt"; done
        find "$tmp/d" \( -name '*.a' -o -path '*/usr/share/doc*' -o -path '*/usr/share/lintian*' \
            -o -path '*/usr/share/man*' \) -prune -exec rm -rf {} + 2>/dev/null || true
        (cd "$tmp/debs" && ls *.deb | sed 's/\.deb$//') >"$CARRY/deps.txt"
        tar -C "$tmp/d" -cf - prefix rt | xz -6 -T2 >"$CARRY/deps.tar.xz"
        say "deps.tar.xz: $(du -h "$CARRY/deps.tar.xz" | cut -f1) ($(wc -l <"$CARRY/deps.txt") packages)"
    fi

    # --- LaBSE's vocabulary (for models/labse-random) ---
    local vocab="" want
    want=$(sed -n 's/^LABSE_VOCAB_SHA256=//p' "$ROOT/tools/setup.sh")
    for v in "$ROOT/.cache/labse_cased_vocab.txt" "$ROOT/models/labse-random/vocab.txt"; do
        if [ -s "$v" ] && [ "$(sha256sum "$v" | cut -d' ' -f1)" = "$want" ]; then vocab=$v; break; fi
    done
    [ -n "$vocab" ] || die "LaBSE vocabulary not found (sha256 $want): run tools/setup.sh"
    if [ ! -s "$CARRY/labse_vocab.txt.xz" ] || [ "$(cat "$CARRY/labse_vocab.sha256" 2>/dev/null)" != "$want" ]; then
        xz -9 -T2 -c "$vocab" >"$CARRY/labse_vocab.txt.xz"
        echo "$want" >"$CARRY/labse_vocab.sha256"
    fi
    say "labse_vocab.txt.xz: $(du -h "$CARRY/labse_vocab.txt.xz" | cut -f1)"

    # --- the bitext corpus ---
    local shared="${LABSE_SHARED_DIR:-$ROOT/../shared}"
    [ -d "$shared/data/bitext" ] || die "no $shared/data/bitext"
    tar -C "$shared/data" -cf - bitext | xz -9 -T2 >"$CARRY/bitext.tar.xz"
    say "bitext.tar.xz: $(du -h "$CARRY/bitext.tar.xz" | cut -f1) ($(ls "$shared/data/bitext" | wc -l) files)"

    # --- MiniLM's files without its weights (run makes random ones: --preset like) ---
    local mini="$ROOT/models/all-MiniLM-L6-v2"
    [ -s "$mini/config.json" ] || die "no $mini (run tools/setup.sh)"
    rm -f "$CARRY/minilm.stamp"
    local m="$tmp/m/all-MiniLM-L6-v2"
    mkdir -p "$m"
    minilm_files "$mini" "$m"
    tar -C "$tmp/m" -cf - all-MiniLM-L6-v2 | xz -6 -T2 >"$CARRY/minilm.tar.xz"
    say "minilm.tar.xz: $(du -h "$CARRY/minilm.tar.xz" | cut -f1) (config, tokenizer, modules; no weights)"

    # --- sizes ---
    local carry_b tree_b
    carry_b=$(du -sb "$CARRY" | cut -f1)
    tree_b=$(cd "$ROOT" && { git ls-files -z; git ls-files -z --others --exclude-standard; } |
             xargs -0 -r stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    if ! git -C "$ROOT" check-ignore -q .gpu-carry; then
        say "WARNING: .gpu-carry is not git-ignored: it would travel twice"
    fi
    awk -v c="$carry_b" -v t="$tree_b" 'BEGIN {
        m = 1048576; printf "gpu_suite: .gpu-carry %.1f MiB + working tree %.1f MiB = %.1f MiB of the 64 MiB limit\n", c/m, t/m, (c+t)/m;
        if (c > 40 * m) { print "gpu_suite: WARNING: .gpu-carry over 40 MiB"; exit 1 }
        if (c + t > 60 * m) { print "gpu_suite: WARNING: over 60 MiB: too close to the limit"; exit 1 } }'
    say "device call: run(command=\"tools/gpu_suite.sh run\", carry=[\".gpu-carry\"], timeout_s=600)"
}

# ==========================================================================================
# run
# ==========================================================================================
DRY=0 BUDGET="" WORK="" FULL=0 REUSE=0 EMU=0
T_START=$(date +%s)
STEPS=()    # "name|status|seconds|note"
FAILED=0

now() { date +%s; }
left() { echo $(( T_START + BUDGET - $(now) )); }

# Append a step's log to $OUT/suite.log (bounded: head and tail of long logs).
out_log() {
    local name=$1 f=$2
    [ -n "${OUT:-}" ] || return 0
    {
        echo "=================== $name ==================="
        if [ "$(wc -c <"$f")" -gt 1500000 ]; then
            head -c 500000 "$f"; echo; echo "[... $(wc -c <"$f") bytes, cut ...]"; tail -c 900000 "$f"
        else
            cat "$f"
        fi
    } >>"$OUT/suite.log"
}

# summary [FILE]: the table into FILE (replaced), or to stdout. (Not `>/dev/stdout`: when
# stdout is a regular file, e.g. a CI log, that would truncate it.)
summary() {
    if [ $# -gt 0 ]; then summary_table >"$1"; else summary_table; fi
}
summary_table() {
    {
        printf '\n%-26s %-8s %6s  %s\n' "step" "status" "sec" "note"
        printf '%-26s %-8s %6s  %s\n' "----" "------" "---" "----"
        for s in "${STEPS[@]}"; do
            IFS='|' read -r n st sec note <<<"$s"
            printf '%-26s %-8s %6s  %s\n' "$n" "$st" "$sec" "$note"
        done
        printf 'total %ss of a %ss budget; %s\n' "$(( $(now) - T_START ))" "$BUDGET" \
            "$([ "$FAILED" -eq 0 ] && echo "no step failed" || echo "$FAILED step(s) FAILED")"
    }
}

record() { # record NAME STATUS SECONDS NOTE
    STEPS+=("$1|$2|$3|${4//|//}")
    case "$2" in FAIL | TIMEOUT) FAILED=$((FAILED + 1)) ;; esac
    say "$1: $2 ($3 s) $4"
    [ -n "${OUT:-}" ] && summary "$OUT/summary.txt"
    return 0
}

# step NAME CAP_SECONDS COMMAND...: run COMMAND with timeout min(CAP, time left - 15 s), log to
# WORK/logs/NAME.log (and $OUT/suite.log). Sets STEP_RC (124 = timed out, 999 = not run).
step() {
    local name=$1 cap=$2; shift 2
    local l t0 rc; l=$(left)
    local to=$(( cap < l - 15 ? cap : l - 15 ))
    STEP_LOG="$LOGS/$name.log"
    if [ "$to" -lt 10 ]; then
        echo "not run: no time left" >"$STEP_LOG"; STEP_RC=999; STEP_SEC=0
        return 0
    fi
    say "$name (up to ${to}s): $*"
    t0=$(now)
    timeout -k 10 "$to" "$@" >"$STEP_LOG" 2>&1
    rc=$?
    STEP_SEC=$(( $(now) - t0 ))
    [ "$rc" -eq 137 ] && rc=124
    STEP_RC=$rc
    [ "$rc" -eq 124 ] && echo "[gpu_suite: timed out after ${to}s]" >>"$STEP_LOG"
    out_log "$name" "$STEP_LOG"
    return 0
}

# Status of a plain step from STEP_RC.
st_of() { case "$STEP_RC" in 0) echo PASS ;; 124) echo TIMEOUT ;; 999) echo SKIP ;; *) echo FAIL ;; esac; }

# ctest summary line of a log: "P/N passed, S skipped; failed: a b"
ctest_note() {
    local f=$1 line failed skipped
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$f" | tail -1)
    skipped=$(grep -c '\*\*\*Skipped\|Not Run' "$f")
    failed=$(sed -n '/The following tests FAILED/,$p' "$f" | grep -oE '^[[:space:]]*[0-9]+ - [^ ]+' |
             awk '{ print $3 }' | tr '\n' ' ')
    [ -n "$line" ] || line="no ctest summary"
    echo "$line; $skipped skipped${failed:+; failed: $failed}"
}

# Status of a ctest step: as st_of, but WARN when tests skipped on a machine with a GPU (a
# GPU test that finds no device there, or a missing model, is worth a look).
ctest_st() {
    local st; st=$(st_of)
    if [ "$st" = PASS ] && have_gpu && grep -q '\*\*\*Skipped' "$STEP_LOG"; then st=WARN; fi
    echo "$st"
}

have_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; }

cmd_run() {
    local BUILD_GIVEN=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --dry) DRY=1 ;;
            --budget) BUDGET=${2:?}; shift ;;
            --work) WORK=${2:?}; shift ;;
            --build) BUILD_GIVEN=${2:?}; shift ;;
            --full) FULL=1 ;;
            --reuse) REUSE=1 ;;
            --emu) EMU=1 ;;
            *) die "run: unknown option '$1'" ;;
        esac
        shift
    done
    if [ -z "$BUDGET" ]; then if [ "$DRY" = 1 ]; then BUDGET=36000; else BUDGET=540; fi; fi
    if [ -z "$WORK" ]; then if [ "$DRY" = 1 ]; then WORK=/tmp/labse-gpu-suite-dry; else WORK=/tmp/labse-gpu-suite; fi; fi
    # inputs: the carry when there is one; else (only with --emu or --dry) this machine's own:
    # system packages, ../shared, models/all-MiniLM-L6-v2's files
    local SRC=carry
    if [ ! -d "$CARRY" ]; then
        if [ "$EMU" = 1 ] || [ "$DRY" = 1 ]; then SRC=local
        else die "no $CARRY: run 'tools/gpu_suite.sh pack' on the dev machine and carry it"; fi
    fi
    mkdir -p "$WORK"
    LOGS="$WORK/logs"
    rm -rf "$LOGS"; mkdir -p "$LOGS"
    if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; : >"$OUT/suite.log"; fi
    local BUILD="$WORK/build" P="$WORK/deps/prefix" RT="$WORK/deps/rt"
    local MODELS="$WORK/models" SHARED="$WORK/shared" NJ; NJ=$(nproc)
    [ -n "$BUILD_GIVEN" ] && BUILD=$(cd "$BUILD_GIVEN" && pwd)
    local A=x86_64-linux-gnu
    # python with numpy (+ tokenizers, torch, sentence-transformers there): python3 on the GPU
    # machine; the build's .venv here, where python3 may have no numpy
    local PYBIN; PYBIN=$(command -v python3)
    if ! python3 -c 'import numpy' >/dev/null 2>&1 && [ -x "$ROOT/.venv/bin/python" ]; then
        PYBIN="$ROOT/.venv/bin/python"
    fi
    # sizes: the emulator runs the same steps on small inputs (the point there is the script)
    local LINES=194676 MROWS=100000 BENCH_MODEL=labse-random
    if [ "$EMU" = 1 ]; then LINES=20; MROWS=2000; BENCH_MODEL=tiny-bert; fi
    # threads: OpenBLAS is the OpenMP build, so OMP_NUM_THREADS sets both; per step below
    export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$NJ
    local GPU_KINDS="LABSE_GPU_PATH=${LABSE_GPU_PATH:-<unset>} LABSE_GPU_ATTN=${LABSE_GPU_ATTN:-<unset>}"

    # --- 0. the machine ---
    {
        echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
             "$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files"
        echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo)"
        echo "inputs: $SRC; environment as given: $GPU_KINDS"
        grep -m1 'model name' /proc/cpuinfo
        nvidia-smi 2>&1 || echo "nvidia-smi: not available"
        command -v nvcc >/dev/null && nvcc --version | tail -2
        cmake --version | head -1; cc --version | head -1
        command -v compute-sanitizer >/dev/null && compute-sanitizer --version | tail -1
        "$PYBIN" -c 'import sys, numpy; print("python", sys.version.split()[0], "numpy", numpy.__version__)' 2>&1
        "$PYBIN" -c 'import torch, sentence_transformers as s; print("torch", torch.__version__, "cuda", torch.version.cuda, "sentence-transformers", s.__version__)' 2>&1
    } >"$LOGS/machine.log" 2>&1
    out_log machine "$LOGS/machine.log"
    local GPU_NAME; GPU_NAME=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
    if have_gpu; then record machine PASS 0 "${GPU_NAME}, $(nproc) cores"
    elif [ "$DRY" = 1 ]; then record machine SKIP 0 "--dry: no GPU here; inputs: $SRC"
    else record machine FAIL 0 "no GPU found by nvidia-smi (see suite.log)"; fi

    # --- 1. inputs: unpack the carry, or take this machine's ---
    local t0; t0=$(now)
    if [ "$SRC" = local ]; then
        SHARED=$(cd "${LABSE_SHARED_DIR:-$ROOT/../shared}" 2>/dev/null && pwd) || SHARED=""
        rm -rf "$MODELS/all-MiniLM-L6-v2"; mkdir -p "$MODELS/all-MiniLM-L6-v2"
        local nm=0
        if [ -s "$ROOT/models/all-MiniLM-L6-v2/config.json" ]; then
            minilm_files "$ROOT/models/all-MiniLM-L6-v2" "$MODELS/all-MiniLM-L6-v2"; nm=1
        fi
        ln -sfn "$ROOT/tests/data/tiny-bert" "$MODELS/tiny-bert"
        record inputs PASS $(( $(now) - t0 )) "local (no $CARRY): system packages, ${SHARED:-no shared/}, MiniLM files: $nm"
    elif [ "$REUSE" = 1 ] && [ -d "$P" ] && [ -d "$SHARED/data/bitext" ] && [ -d "$MODELS/all-MiniLM-L6-v2" ]; then
        record inputs SKIP 0 "--reuse: kept $WORK"
    else
        (
            set -e
            rm -rf "$WORK/deps" "$SHARED" "$MODELS/all-MiniLM-L6-v2"
            mkdir -p "$WORK/deps" "$SHARED/data" "$MODELS"
            xz -dc "$CARRY/deps.tar.xz" | tar -C "$WORK/deps" -xf -
            # the .pc files say prefix=/usr: point them at the unpacked tree
            find "$P" -name '*.pc' -exec sed -i -e "s|=/usr|=$P/usr|g" -e "s|-I/usr|-I$P/usr|g" \
                -e "s|-L/usr|-L$P/usr|g" {} +
            xz -dc "$CARRY/bitext.tar.xz" | tar -C "$SHARED/data" -xf -
            xz -dc "$CARRY/minilm.tar.xz" | tar -C "$MODELS" -xf -
            xz -dc "$CARRY/labse_vocab.txt.xz" >"$WORK/labse_vocab.txt"
            ln -sfn "$ROOT/tests/data/tiny-bert" "$MODELS/tiny-bert"
        ) >"$LOGS/unpack.log" 2>&1
        local rc=$?
        out_log unpack "$LOGS/unpack.log"
        if [ "$rc" -ne 0 ]; then record inputs FAIL $(( $(now) - t0 )) "unpack failed: see suite.log"; summary; return 1; fi
        record inputs PASS $(( $(now) - t0 )) "carry: $(ls "$SHARED/data/bitext" | wc -l) bitext files, $(wc -l <"$CARRY/deps.txt") debs"
    fi
    local CM_DEPS=()
    if [ "$SRC" = carry ]; then
        export PKG_CONFIG_PATH="$P/usr/lib/$A/pkgconfig:$P/usr/lib/$A/openblas-openmp/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
        export LD_LIBRARY_PATH="$P/usr/lib/$A/openblas-openmp:$P/usr/lib/$A${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        # OpenBLAS needs libgfortran.so.5: the machine's own when it has one, else ours
        if ! ldconfig -p 2>/dev/null | grep -q 'libgfortran.so.5 '; then
            export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$RT/usr/lib/$A"
        fi
        local PKGCONF; PKGCONF=$(command -v pkg-config || command -v pkgconf || echo "$P/usr/bin/pkgconf")
        CM_DEPS=(-DPKG_CONFIG_EXECUTABLE="$PKGCONF"
                 -DOPENBLAS_LIBRARY="$P/usr/lib/$A/openblas-openmp/libopenblas.so"
                 -DOPENBLAS_INCLUDE_DIR="$P/usr/include/$A/openblas-openmp" -DCMAKE_PREFIX_PATH="$P/usr")
    fi

    # --- 2. the models, in the background while the build runs: MiniLM's shapes with random
    # weights (its real tokenizer; GPU-vs-CPU parity is about the maths), and labse-random
    # (not on the emulator: 1.9 GB that the emulated steps do not use) ---
    local LR="$MODELS/labse-random" MODEL_PID=""
    local want_lr; want_lr=$(sed -n 's/^LABSE_RANDOM_SHA256=//p' "$ROOT/tools/setup.sh")
    if [ "$REUSE" = 1 ] && [ -s "$LR/model.safetensors" ] && [ -s "$MODELS/all-MiniLM-L6-v2/model.safetensors" ]; then
        echo "--reuse: kept $LR and $MODELS/all-MiniLM-L6-v2" >"$LOGS/models.log"
    else
        (
            if [ -s "$MODELS/all-MiniLM-L6-v2/config.json" ]; then
                "$PYBIN" "$ROOT/tools/make_random_model.py" --preset like --out "$MODELS/all-MiniLM-L6-v2" || exit 1
            else
                echo "no MiniLM files: its tests skip"
            fi
            if [ "$EMU" = 1 ] || [ ! -s "$WORK/labse_vocab.txt" ]; then
                echo "labse-random: not made ($([ "$EMU" = 1 ] && echo emulator || echo 'no vocabulary'))"
            else
                rm -rf "$LR"
                "$PYBIN" "$ROOT/tools/make_random_model.py" --preset labse --vocab "$WORK/labse_vocab.txt" \
                    --out "$LR" && sha256sum "$LR/model.safetensors"
            fi
        ) >"$LOGS/models.log" 2>&1 &
        MODEL_PID=$!
    fi
    local t_models; t_models=$(now)

    # --- 3. configure, and build only what the steps use ---
    local CUDA_ARGS=(-DLABSE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
    [ "$EMU" = 1 ] && CUDA_ARGS=(-DLABSE_CUDA_EMU=ON)
    local LGPU=gpu; [ "$EMU" = 1 ] && LGPU=emu
    if [ -n "$BUILD_GIVEN" ]; then
        [ -f "$BUILD/CMakeCache.txt" ] || die "--build $BUILD_GIVEN: not a configured build folder"
        record configure SKIP 0 "--build: $BUILD as configured (its models and shared folders)"
        MODELS=$(sed -n 's/^LABSE_MODELS_DIR:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
        SHARED=$(sed -n 's/^LABSE_SHARED_DIR:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
        [ -d "$MODELS/$BENCH_MODEL" ] || BENCH_MODEL_DIR="$ROOT/tests/data/$BENCH_MODEL"
    else
        local GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
        [ -f "$BUILD/CMakeCache.txt" ] && GEN=()   # keep the generator of an existing build
        step configure 120 cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
            "${CUDA_ARGS[@]}" -DLABSE_SHARED_DIR="$SHARED" -DLABSE_MODELS_DIR="$MODELS" \
            -DLABSE_PYTHON="$PYBIN" "${CM_DEPS[@]}"
        record configure "$(st_of)" "$STEP_SEC" "$(grep -m1 'GPU backend' "$STEP_LOG" | sed 's/^-- //')"
        if [ "$STEP_RC" -ne 0 ]; then
            [ -n "$MODEL_PID" ] && kill "$MODEL_PID" 2>/dev/null
            summary; [ -n "${OUT:-}" ] && summary "$OUT/summary.txt"; return 1
        fi
    fi
    BENCH_MODEL_DIR=${BENCH_MODEL_DIR:-$MODELS/$BENCH_MODEL}
    # the targets: every program the gpu (emu) tests run, the benchmarks, the CLI
    local TARGETS=(labse bench_gpu_kernels bench_mine)
    # (from the CTestTestfile.cmake files: ctest --show-only leaves out the command of a test
    # whose program is not built yet)
    mapfile -t -O 3 TARGETS < <("$PYBIN" - "$BUILD" "$LGPU" <<'PY'
import os, re, sys
build, label = os.path.realpath(sys.argv[1]) + "/", sys.argv[2]
cmds, labels = {}, {}
for d, _, files in os.walk(build):
    if "CTestTestfile.cmake" not in files:
        continue
    for line in open(os.path.join(d, "CTestTestfile.cmake"), encoding="utf-8", errors="replace"):
        m = re.match(r'add_test\(\[=\[(.*?)\]=\] (.*)\)\s*$', line)
        if m:
            cmds[m.group(1)] = re.findall(r'"([^"]*)"', m.group(2))
        m = re.match(r'set_tests_properties\(\[=\[(.*?)\]=\] PROPERTIES .*?LABELS "([^"]*)"', line)
        if m:
            labels[m.group(1)] = m.group(2).split(";")
seen = set(("labse", "bench_gpu_kernels", "bench_mine"))
for t, args in cmds.items():
    if label not in labels.get(t, []):
        continue
    for a in args:
        if a.startswith(build) and os.path.dirname(a) + "/" in (build, build + "tests/"):
            n = os.path.basename(a)
            if n not in seen:
                seen.add(n)
                print(n)
PY
)
    local KEEP=(-k); grep -q 'CMAKE_GENERATOR:INTERNAL=Ninja' "$BUILD/CMakeCache.txt" && KEEP=(-k 0)
    step build 420 cmake --build "$BUILD" -j "$NJ" --target "${TARGETS[@]}" -- "${KEEP[@]}"
    record build "$(st_of)" "$STEP_SEC" "${#TARGETS[@]} targets; $(grep -cE 'warning' "$STEP_LOG") warning lines; -j$NJ$(
        [ "$STEP_RC" -ne 0 ] && echo "; errors: $(grep -E '(error|FAILED):' "$STEP_LOG" | head -3 | cut -c1-160 | tr '\n' ' ')")"
    if [ "$STEP_RC" -eq 124 ]; then
        [ -n "$MODEL_PID" ] && kill "$MODEL_PID" 2>/dev/null
        summary; [ -n "${OUT:-}" ] && summary "$OUT/summary.txt"; return 1
    fi

    # --- 4. the models ---
    if [ -n "$MODEL_PID" ]; then
        while kill -0 "$MODEL_PID" 2>/dev/null && [ "$(left)" -gt 60 ]; do sleep 1; done
        if kill -0 "$MODEL_PID" 2>/dev/null; then kill "$MODEL_PID"; fi
        wait "$MODEL_PID"; local mrc=$?
        out_log models "$LOGS/models.log"
        local got; got=$(awk '/model.safetensors$/ && NF == 2 { h = $1 } END { print h }' "$LOGS/models.log")
        if [ "$mrc" -ne 0 ]; then record models FAIL $(( $(now) - t_models )) "make_random_model.py failed (their tests will skip)"
        elif [ -z "$got" ]; then record models PASS $(( $(now) - t_models )) "MiniLM-shaped random weights; $(grep -m1 '^labse-random' "$LOGS/models.log")"
        elif [ "$got" = "$want_lr" ]; then record models PASS $(( $(now) - t_models )) "MiniLM-shaped random; labse-random sha256 as tools/setup.sh expects"
        else record models PASS $(( $(now) - t_models )) "labse-random made, but sha256 ${got:0:12}.. != setup.sh's ${want_lr:0:12}.. (numpy/tokenizers differ?)"; fi
    else
        record models SKIP 0 "--reuse"
    fi

    # --- 5. the GPU tests: kernels and encoder (3 at a time, the cores shared among them) ---
    local GPU_RE=()
    [ "$EMU" = 1 ] && GPU_RE=(-R '^(test_k_rowwise|gpu_encoder_tiny-bert|encode_inflight_tiny)$')
    step ctest_gpu 200 env OMP_NUM_THREADS=$(( NJ / 3 > 0 ? NJ / 3 : 1 )) \
        ctest --test-dir "$BUILD" -L "^$LGPU\$" -LE e2e "${GPU_RE[@]}" --output-on-failure -j 3 --timeout 180
    record ctest_gpu "$(ctest_st)" "$STEP_SEC" "$(ctest_note "$STEP_LOG")"

    # --- 6. benchmarks: per kernel, then end to end vs the peer for both GPU paths ---
    [ -n "${OUT:-}" ] && : >"$OUT/bench.txt"
    local E2E_LOGS=()
    # bench_e2e LABEL PATH ATTN PEER MODEL_DIR [VAR=VALUE]: bench/run_gpu.sh with LABSE_GPU_PATH/ATTN
    # set ("default": left as the caller's environment has it), and one more variable if given
    bench_e2e() {
        local label=$1 path=$2 attn=$3 peer=$4 mdir=$5 envs=()
        [ -n "${6:-}" ] && envs+=("$6")
        [ "$path" != default ] && envs+=(LABSE_GPU_PATH="$path")
        [ "$attn" != default ] && envs+=(LABSE_GPU_ATTN="$attn")
        step "bench_$label" 150 env "${envs[@]}" LABSE_SHARED_DIR="$SHARED" PYTHON="$PYBIN" REPEAT=2 \
            PEER="$peer" bash "$ROOT/bench/run_gpu.sh" "$mdir" "$LINES" "$BUILD"
        [ -n "${OUT:-}" ] && { echo "##### bench_$label: ${envs[*]:-default environment}"; cat "$STEP_LOG"; } >>"$OUT/bench.txt"
        # the fp8 run is labelled path fp8 (the default path otherwise): the perf model's fp8 row
        local lpath=$path; [ "${6:-}" = LABSE_BENCH_PRECISION=fp8 ] && lpath=fp8
        E2E_LOGS+=(--e2e "$(basename "$mdir"):$lpath:$attn=$STEP_LOG")
        local kv note ran; kv=$(grep '^GPU_BENCH' "$STEP_LOG" | tail -1)
        note=$(echo "$kv" | tr ' ' '\n' | grep -E '^(tokens_per_s|encoder_tokens_per_s|ratio|worst_cosine)=' | tr '\n' ' ')
        # what the binary says it ran, when it says it (a line naming the path or attention)
        ran=$(grep -m2 -iE 'gpu.?path|LABSE_GPU_(PATH|ATTN)|attention kernel' "$STEP_LOG" | tr '\n' ' ' | cut -c1-80)
        record "bench_$label" "$(st_of)" "$STEP_SEC" "${envs[*]:-default env}: ${note:-see bench.txt}${ran:+; says: $ran}"
    }
    local BENCH_OK=0
    if have_gpu || [ "$EMU" = 1 ]; then
        BENCH_OK=1
        local KARGS=(); [ "$EMU" = 1 ] && KARGS=(--reps 2 --warmup 1)
        step bench_kernels 60 "$BUILD/tests/bench_gpu_kernels" "${KARGS[@]}"
        cp "$STEP_LOG" "$LOGS/bench_kernels.out"
        [ -n "${OUT:-}" ] && cat "$STEP_LOG" >>"$OUT/bench.txt"
        record bench_kernels "$(st_of)" "$STEP_SEC" "$(grep -m1 '^encoder estimate' "$STEP_LOG" | sed 's/.*: //')"
        bench_e2e e2e_basic_tiled basic tiled 1 "$BENCH_MODEL_DIR"
        bench_e2e e2e_fused_short fused short 0 "$BENCH_MODEL_DIR"
        # precision fp8 beside the fp16 runs (default path and attention; issue 15)
        bench_e2e e2e_fp8 default default 0 "$BENCH_MODEL_DIR" LABSE_BENCH_PRECISION=fp8
    else
        record bench SKIP 0 "no GPU"
    fi
    write_measured() { # bench/gpu_measured.py over what ran so far -> WORK and $OUT
        local kl=(); [ -s "$LOGS/bench_kernels.out" ] && kl=(--kernels "$LOGS/bench_kernels.out")
        local em=(); [ "$EMU" = 1 ] && em=(--emulated)
        "$PYBIN" "$ROOT/bench/gpu_measured.py" --out "$WORK/gpu_measured.json" "${kl[@]}" "${E2E_LOGS[@]}" \
            --gpu "${GPU_NAME%%,*}" --commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" \
            "${em[@]}" >/dev/null 2>&1 || return 0
        [ -n "${OUT:-}" ] && cp "$WORK/gpu_measured.json" "$OUT/gpu_measured.json"
        return 0
    }
    [ "$BENCH_OK" = 1 ] && write_measured

    # --- 7. GPU vs CPU end to end (all cores to the CPU side) ---
    # MiniLM: every bitext line is compared with the CPU (194,676 sentences, ~2.5 M tokens:
    # ~20-60 s of 16 cores for a 6-layer, 384-wide model). labse-random: the GPU encodes every
    # line, the CPU compares 12,000 taken evenly across the files (every language; ~0.12 M
    # tokens, ~10 s); every line (~2 M tokens, ~2-4 min of 16 cores) is left to the end (step
    # 9, as time allows) or --full. The LaBSE-shaped run goes before MiniLM's longer one.
    if [ "$FULL" = 0 ]; then
        export LABSE_E2E_LINES_LABSE_RANDOM=${LABSE_E2E_LINES_LABSE_RANDOM:-12000}
    fi
    # one ctest call each (their TIMEOUT property beats ctest --timeout, so the step's timeout
    # is what bounds them)
    local t cap cmpl E2E_LIST="gpu_e2e_tiny:60 gpu_e2e_labse_random:150 gpu_e2e_fp8_labse_random:150 gpu_e2e_fp8_tiny_mean_kernel:60 gpu_e2e_minilm:200 gpu_e2e_fp8_minilm:200"
    [ "$EMU" = 1 ] && E2E_LIST="gpu_e2e_tiny:120 gpu_e2e_fp8_tiny_mean:120"
    for t in $E2E_LIST; do
        cap=${t#*:}; t=${t%%:*}
        case "$t" in
            gpu_e2e_minilm | gpu_e2e_fp8_minilm) cmpl=${LABSE_E2E_LINES_ALL_MINILM_L6_V2:-all} ;;
            gpu_e2e_labse_random | gpu_e2e_fp8_labse_random) cmpl=${LABSE_E2E_LINES_LABSE_RANDOM:-all} ;;
            *) cmpl=all ;;
        esac
        step "$t" "$cap" ctest --test-dir "$BUILD" -R "^$t\$" -V
        record "$t" "$(ctest_st)" "$STEP_SEC" "$(grep -cE '^([0-9]+: )?ok ' "$STEP_LOG") ok, $(grep -cE '^([0-9]+: )?FAIL ' "$STEP_LOG") failed; CPU-compared lines: $cmpl; $(grep -m1 -oE 'cosine min [0-9.]+' "$STEP_LOG")"
    done

    # --- 8. compute-sanitizer: memcheck and racecheck on one small program each, first ---
    local CS; CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
    # sanitize TOOL PROGRAM: one run, its status recorded
    sanitize() {
        local tool=$1 p=$2 name; name="san_${1}_$(basename "$2")"
        if [ ! -x "$p" ]; then record "$name" FAIL 0 "not built"; return; fi
        step "$name" 90 env OMP_NUM_THREADS=4 "$CS" --tool "$tool" --error-exitcode 99 --print-limit 30 "$p" --small
        local st note
        if grep -qiE 'Device not supported|not supported on this|error 999|Unable to|Target application terminated before first instrumented API call' "$STEP_LOG" &&
           ! grep -q 'ERROR SUMMARY: [1-9]' "$STEP_LOG"; then st=SKIP; note="the sanitizer refused the device"
        elif [ "$STEP_RC" -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' "$STEP_LOG"; then st=PASS; note="0 errors"
        elif [ "$STEP_RC" -eq 77 ]; then st=SKIP; note="the program skipped (77)"
        elif [ "$STEP_RC" -eq 999 ]; then st=SKIP; note="no time left"
        else st=$(st_of); [ "$st" = PASS ] && st=FAIL; note="rc $STEP_RC; $(grep -oE 'ERROR SUMMARY: [0-9]+ errors?' "$STEP_LOG" | tail -1)"; fi
        record "$name" "$st" "$STEP_SEC" "$note"
    }
    local SAN_OK=0
    if [ "$EMU" = 1 ]; then record sanitizer SKIP 0 "emulation build"
    elif [ -z "$CS" ]; then record sanitizer SKIP 0 "compute-sanitizer not found"
    elif ! have_gpu; then record sanitizer SKIP 0 "no GPU"
    else
        SAN_OK=1
        sanitize memcheck "$BUILD/tests/test_k_rowwise"
        sanitize racecheck "$BUILD/tests/test_k_attention"
    fi

    # --- 9. the rest, as time allows ---
    if [ "$BENCH_OK" = 1 ]; then
        bench_e2e e2e_fused_tiled fused tiled 0 "$BENCH_MODEL_DIR"
        bench_e2e e2e_basic_short basic short 0 "$BENCH_MODEL_DIR"
        write_measured
        step bench_mine 60 "$BUILD/tests/bench_mine" --device cuda --src "$MROWS" --tgt "$MROWS" \
            --dim 768 --k 4 --block-rows 8192
        [ -n "${OUT:-}" ] && cat "$STEP_LOG" >>"$OUT/bench.txt"
        record bench_mine "$(st_of)" "$STEP_SEC" "$(grep -m1 -iE 'pairs.*/s' "$STEP_LOG" | head -c 120)"
        [ "$EMU" = 0 ] && bench_e2e e2e_minilm_default default default 1 "$MODELS/all-MiniLM-L6-v2" && write_measured
    fi
    # the measured figures against the performance model
    if [ -s "$WORK/gpu_measured.json" ]; then
        step perf_model 30 "$PYBIN" "$ROOT/bench/perf_model.py" --measured "$WORK/gpu_measured.json"
        sed -n '/^measured vs predicted (/,$p' "$STEP_LOG" | grep -v '^measured vs predicted: no GPU' >"$LOGS/perf_model_measured.txt"
        [ -n "${OUT:-}" ] && cp "$LOGS/perf_model_measured.txt" "$OUT/perf_model.txt"
        record perf_model "$(st_of)" "$STEP_SEC" "$(grep -m1 -oE 'labse-random +[a-z]+ +[a-z]+ +measured [0-9.]+' "$STEP_LOG" | tr -s ' ')$(
            grep -q 'not compared' "$STEP_LOG" && echo 'not compared (emulated or unknown GPU)')"
    fi
    # labse-random's every line on the CPU too (step 7 compared 12,000), with what time is left:
    # a cut run is a WARN, not a failure (step 7 already passed its sample)
    if [ "$FULL" = 0 ] && [ "$EMU" = 0 ] && have_gpu; then
        step gpu_e2e_labse_random_all 400 env LABSE_E2E_LINES_LABSE_RANDOM=0 \
            ctest --test-dir "$BUILD" -R '^gpu_e2e_labse_random$' -V
        case "$STEP_RC" in
            999) record gpu_e2e_labse_random_all SKIP 0 "no time left" ;;
            124) record gpu_e2e_labse_random_all WARN "$STEP_SEC" "cut by the budget (--full on a later call)" ;;
            *) record gpu_e2e_labse_random_all "$(ctest_st)" "$STEP_SEC" "$(grep -cE '^([0-9]+: )?ok ' "$STEP_LOG") ok, $(grep -cE '^([0-9]+: )?FAIL ' "$STEP_LOG") failed; CPU-compared lines: all; $(grep -m1 -oE 'cosine min [0-9.]+' "$STEP_LOG")" ;;
        esac
    fi
    if [ "$SAN_OK" = 1 ]; then
        local p
        sanitize racecheck "$BUILD/tests/test_k_rowwise"
        sanitize memcheck "$BUILD/tests/test_k_attention"
        for p in $(find "$BUILD/tests" -maxdepth 1 -type f -name 'test_k_*' -perm -u+x | sort); do
            case "$(basename "$p")" in test_k_rowwise | test_k_attention) continue ;; esac
            sanitize memcheck "$p"; sanitize racecheck "$p"
        done
    fi
    # the CPU unit tests (building the rest first), not on the emulator: CI runs them there
    if [ "$EMU" = 1 ]; then
        record ctest_unit SKIP 0 "emulation: tools/test.sh runs them"
    else
        step ctest_unit 150 sh -c "cmake --build '$BUILD' -j $NJ >/dev/null && OMP_NUM_THREADS=2 ctest --test-dir '$BUILD' -L unit -E '^python_' --output-on-failure -j $(( NJ / 2 )) --timeout 110"
        if [ "$STEP_RC" -eq 999 ]; then record ctest_unit SKIP 0 "no time left"
        else record ctest_unit "$(st_of)" "$STEP_SEC" "$(ctest_note "$STEP_LOG") (python_* left out: no registry there)"; fi
    fi

    [ -n "${OUT:-}" ] && summary "$OUT/summary.txt"
    summary
    [ "$FAILED" -eq 0 ]
}

case "${1:-}" in
    pack) shift; cmd_pack "$@" ;;
    run) shift; cmd_run "$@" ;;
    *) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
