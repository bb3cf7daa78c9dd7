# CLI concern: the .npy writer/reader, the line splitter, and end-to-end runs of `labse`.

labse_add_test(test_npy SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_npy.c LABELS unit)
labse_add_test(test_lines SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_lines.c LABELS unit)

# A .npy inspector for test_cli.sh (so the end-to-end checks need no Python).
add_executable(npy_tool ${CMAKE_CURRENT_SOURCE_DIR}/npy_tool.c)
target_link_libraries(npy_tool PRIVATE labse_static m)
target_include_directories(npy_tool PRIVATE ${CMAKE_SOURCE_DIR}/src)

# End to end: test_cli.sh LABSE NPY_TOOL MODEL_DIR PYTHON. Skips (77) when MODEL_DIR is absent.
# `unit` runs on the tiny committed model; `model` on the real small checkpoint.
find_program(LABSE_BASH bash REQUIRED)
add_test(NAME cli_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.sh
          $<TARGET_FILE:labse> $<TARGET_FILE:npy_tool>
          ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert ${LABSE_PYTHON})
set_tests_properties(cli_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)

add_test(NAME cli_minilm
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.sh
          $<TARGET_FILE:labse> $<TARGET_FILE:npy_tool>
          ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 ${LABSE_PYTHON})
set_tests_properties(cli_minilm PROPERTIES LABELS model SKIP_RETURN_CODE 77 TIMEOUT 900)

# OpenBLAS's kernels re-selected for a CPU its release does not know (src/cpu/blas_core.c).
add_test(NAME blas_core
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_blas_core.sh
          $<TARGET_FILE:labse> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert)
set_tests_properties(blas_core PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 120)
