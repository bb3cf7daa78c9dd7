# End-to-end GPU checks through the CLI (tests/test_gpu_e2e.sh): GPU fp16 vs CPU fp32 per
# sentence (cosine >= 0.999) and batch-composition independence (max |difference| <= 1e-3).
# Labels, as tests/gpu.cmake does it:
#   emulation build → label emu: the tiny committed models (head_dim 16) on a ~44-sentence
#     multilingual sample (+ empty, blank, over-long lines; ~15 s CPU each). MiniLM and the
#     LaBSE-shaped model on a 6-sentence micro sample, label model only (NOT emu: the emulator
#     needs ~1-2 min for them, too slow for every CI run; `ctest -L model` runs them);
#   CUDA build → label gpu: all four models on every line of the bitext, both columns.
# The script skips (77) when a model, python+numpy or the device is missing. The CPU side of
# the comparison is bounded by LABSE_E2E_LINES_<MODEL> in the environment (tools/gpu_suite.sh).
find_program(LABSE_BASH bash REQUIRED)

# labse_gpu_e2e(TESTNAME MODEL_DIR LINES LABELS...)
function(labse_gpu_e2e tname model lines)
  add_test(NAME ${tname}
    COMMAND ${LABSE_BASH} ${CMAKE_SOURCE_DIR}/tests/test_gpu_e2e.sh
            $<TARGET_FILE:labse> ${LABSE_E2E_MODE} ${model}
            ${LABSE_SHARED_DIR}/data/bitext ${LABSE_PYTHON} ${lines})
  set_tests_properties(${tname} PROPERTIES LABELS "e2e;${ARGN}"
                       SKIP_RETURN_CODE 77 TIMEOUT ${LABSE_E2E_TIMEOUT})
endfunction()

if(LABSE_GPU STREQUAL "EMU")
  set(LABSE_E2E_MODE emu)
  set(LABSE_E2E_TIMEOUT 600)
  labse_gpu_e2e(gpu_e2e_tiny ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert 0 emu)
  labse_gpu_e2e(gpu_e2e_tiny_mean ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert-mean 0 emu)
  labse_gpu_e2e(gpu_e2e_minilm ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 4 model)
  labse_gpu_e2e(gpu_e2e_labse_random ${LABSE_MODELS_DIR}/labse-random 4 model)
else()
  set(LABSE_E2E_MODE gpu)
  set(LABSE_E2E_TIMEOUT 1800)
  labse_gpu_e2e(gpu_e2e_tiny ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert 0 gpu)
  labse_gpu_e2e(gpu_e2e_tiny_mean ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert-mean 0 gpu)
  labse_gpu_e2e(gpu_e2e_minilm ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 0 gpu model)
  labse_gpu_e2e(gpu_e2e_labse_random ${LABSE_MODELS_DIR}/labse-random 0 gpu model)
endif()

# Per-kernel timings (CUDA events) and the four cuBLASLt GEMM shapes of LaBSE; see the file.
add_executable(bench_gpu_kernels ${CMAKE_SOURCE_DIR}/bench/bench_gpu_kernels.c)
target_link_libraries(bench_gpu_kernels PRIVATE labse_static m)
target_include_directories(bench_gpu_kernels PRIVATE ${CMAKE_SOURCE_DIR}/src
                           ${CMAKE_SOURCE_DIR}/kernels)
if(LABSE_GPU STREQUAL "EMU")
  target_compile_definitions(bench_gpu_kernels PRIVATE _GNU_SOURCE LABSE_CUDA_EMU=1 LABSE_HAVE_GPU=1)
else()
  target_compile_definitions(bench_gpu_kernels PRIVATE _GNU_SOURCE LABSE_HAVE_CUDA=1 LABSE_HAVE_GPU=1)
endif()
