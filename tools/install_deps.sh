#!/usr/bin/env bash
# Install the Debian packages labse builds against (idempotent; skips what is installed).
#   build: cmake, a C compiler, pkg-config
#   libs:  utf8proc (Unicode categories, NFD, case maps), OpenBLAS built with OpenMP (sgemm;
#          shares our OpenMP thread pool), cJSON (JSON), zlib, libzstd, liblzma (compressed
#          input: .gz, .zst, .xz; the zstd and xz-utils tools make the test inputs),
#          libxxhash (--dedup's line hash, XXH3; the part files' XXH3-128; the xxhash package's
#          xxh128sum checks them in the shell tests), cmocka (unit tests), oneDNN (libdnnl-dev: the CPU bf16 GEMMs, --precision bf16)
#   clang: clang-14, its sanitizer + libFuzzer runtimes (libclang-rt-14-dev) and OpenMP
#          (libomp-14-dev): the fuzz stage of tools/test.sh (tools/fuzz.sh) and CC=clang builds
#   tools: python3 + venv (reference tokenizer and model tools, see tools/setup.sh)
#   cluster: openmpi-bin (mpirun: test_pipeline.sh's `mpirun -np 2 ... --shard auto`), slurm-wlm
#          + munge (tests/test_slurm.sh starts its own single-node Slurm; Debian's slurm units
#          do not start without /etc/slurm/slurm.conf, and a system munged, where systemd
#          starts one, is not used). ~23 MB, ~19 s of apt-get on the dev machine (issue 12 §6)
# The CUDA toolkit is optional and not installed here: when nvcc is on PATH the GPU backend
# is built too (LABSE_CUDA=AUTO).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libutf8proc-dev libopenblas-openmp-dev libcjson-dev libcmocka-dev
      libdnnl-dev zlib1g-dev libzstd-dev liblzma-dev zstd xz-utils libxxhash-dev xxhash
      clang-14 libclang-rt-14-dev libomp-14-dev
      openmpi-bin slurm-wlm munge)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then :; else missing+=(python3-venv); fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all Debian packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
