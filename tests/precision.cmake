# labse_options.precision (issue 15), tests/test_precision.c:
#   precision_errors        values a device cannot do, unknown values, fp32 == default (unit)
#   precision_noisa         ONEDNN_MAX_CPU_ISA=AVX512_CORE: a CPU without AVX512-BF16 gets a
#                           clear error for bf16 (unit)
#   precision_bf16_tiny     bf16 vs fp32 on the tiny committed model (unit)
#   precision_bf16_minilm   bf16 vs fp32, all-MiniLM-L6-v2: 20 lines of every bitext file, both
#                           columns, + the 20 longest sentences; and `labse eval`'s accuracies
#                           (P@1 by cosine and by margin, both ways) on the same pairs: the
#                           averages within 0.3 points of fp32 (model)
#   precision_bf16_labse    the same with labse-random, 1 line of every file + the 2 longest
#                           (no eval: random weights): the LaBSE-shaped model encodes ~1-2k
#                           tokens/s on 2 cores (model)
#   precision_fp8model_tiny, _minilm, _labse  the same three with precision fp8-model (the
#                           GPU's fp8 arithmetic on the CPU) vs fp32: the worst cosine held to
#                           a regression guard (0.985, the reason in test_precision.c) and, for
#                           MiniLM, the eval averages within 0.3 points (the issue's mining
#                           criterion for fp8). The tiny model's fp8 loss is ~1e-6, so its test
#                           is the plumbing's (load, the scratch, no NaN; under ASan in CI), not
#                           the accuracy's: a planted x1.5 on one token's GEMM outputs passes
#                           there (worst 0.99996) and fails precision_fp8model_minilm (0.58)
# The bf16 parity tests skip (77) where bf16 is not available (no oneDNN, no AVX512-BF16).
# LABSE_PARITY_FULL=1 ctest -R precision_bf16 runs every line of every file (hours for
# labse-random on 2 cores).
add_executable(test_precision test_precision.c)
target_link_libraries(test_precision PRIVATE labse_static)
target_compile_definitions(test_precision PRIVATE _GNU_SOURCE)
set(_bt ${LABSE_SHARED_DIR}/data/bitext)
add_test(NAME precision_errors COMMAND test_precision errors ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert)
add_test(NAME precision_noisa COMMAND test_precision noisa ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert)
set_tests_properties(precision_noisa PROPERTIES ENVIRONMENT "ONEDNN_MAX_CPU_ISA=AVX512_CORE")
add_test(NAME precision_bf16_tiny COMMAND test_precision parity ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert ${_bt} 5 8)
set_tests_properties(precision_errors precision_noisa precision_bf16_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77)
add_test(NAME precision_bf16_minilm COMMAND test_precision parity ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 ${_bt} 20 20 eval)
add_test(NAME precision_bf16_labse COMMAND test_precision parity ${LABSE_MODELS_DIR}/labse-random ${_bt} 1 2)
set_tests_properties(precision_bf16_minilm precision_bf16_labse PROPERTIES LABELS model SKIP_RETURN_CODE 77
  TIMEOUT 1800)
add_test(NAME precision_fp8model_tiny COMMAND test_precision parity-fp8 ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert ${_bt} 5 8)
set_tests_properties(precision_fp8model_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77)
add_test(NAME precision_fp8model_minilm COMMAND test_precision parity-fp8 ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 ${_bt} 20 20 eval)
add_test(NAME precision_fp8model_labse COMMAND test_precision parity-fp8 ${LABSE_MODELS_DIR}/labse-random ${_bt} 1 2)
set_tests_properties(precision_fp8model_minilm precision_fp8model_labse PROPERTIES LABELS model
  SKIP_RETURN_CODE 77 TIMEOUT 1800)
