# Pipeline concern (issue 4): unit tests of the pieces, and end-to-end runs of
# `labse encode` (folders, resume after kill -9 and SIGINT, shards + merge, f16, bad input).
labse_add_test(test_pipeline SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_pipeline.c LABELS unit)
set_tests_properties(test_pipeline PROPERTIES TIMEOUT 300)

# test_pipeline.sh LABSE NPY_TOOL MODEL_DIR PYTHON: skips (77) when MODEL_DIR is absent.
add_test(NAME pipeline_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_pipeline.sh
          $<TARGET_FILE:labse> $<TARGET_FILE:npy_tool>
          ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert ${LABSE_PYTHON})
set_tests_properties(pipeline_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 1200) # ~4.5 min of CPU under ASan
add_test(NAME pipeline_minilm
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_pipeline.sh
          $<TARGET_FILE:labse> $<TARGET_FILE:npy_tool>
          ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 ${LABSE_PYTHON} 600)
set_tests_properties(pipeline_minilm PROPERTIES LABELS model SKIP_RETURN_CODE 77 TIMEOUT 900)

# test_signals.sh LABSE MODEL_DIR: merge and mine killed at random points (SIGINT, SIGTERM,
# SIGKILL): no partial output under a final name, no temporary after SIGINT/SIGTERM.
add_test(NAME signals_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_signals.sh
          $<TARGET_FILE:labse> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert)
set_tests_properties(signals_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 600)

# test_input_formats.sh LABSE MODEL_DIR PYTHON: compressed (.gz/.zst/.xz, file and stdin) and
# structured (--tsv-column, --jsonl-field) input, resume and shards on compressed input
# (issue 12 §1, §3). ~35 s on a loaded 2-core machine.
add_test(NAME input_formats_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_input_formats.sh
          $<TARGET_FILE:labse> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert ${LABSE_PYTHON})
set_tests_properties(input_formats_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 600)

# test_output_formats.sh LABSE MODEL_DIR PYTHON: --format bf16/int8/ubinary/binary vs numpy on
# the float32 output, int8 calibration, resume, shards + merge, mine's refusal (issue 12 §5).
# ~5 s on a loaded 2-core machine.
add_test(NAME output_formats_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_output_formats.sh
          $<TARGET_FILE:labse> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert ${LABSE_PYTHON})
set_tests_properties(output_formats_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)
# test_quant: io/quant.h edge cases (saturation, step 0, float16 steps, sign bits, bf16 ties,
# calibration files, the manifest's ranges bit for bit).
labse_add_test(test_quant SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_quant.c LABELS unit)
# test_files.sh LABSE MODEL_DIR: many files in one run (issue 12 §2): a list == the single
# runs, --shard K/3 + merge == one run, refusals, kill -9 mid-list + resume, mine over the
# folder. ~10 s on a loaded 2-core machine.
add_test(NAME files_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_files.sh
          $<TARGET_FILE:labse> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert)
set_tests_properties(files_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 600)

# test_dedup.sh LABSE MODEL_DIR PYTHON: --dedup rows == plain rows (.npy, folder, resume,
# shards + merge, a small table, TSV, .gz), duplicates counted (issue 12 §4). ~20 s on a
# loaded 2-core machine.
add_test(NAME dedup_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_dedup.sh
          $<TARGET_FILE:labse> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert ${LABSE_PYTHON})
set_tests_properties(dedup_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)

# test_null_device.sh LABSE NPY_TOOL MODEL_DIR: --device null (benchmark only: no encoder)
# writes one zero row per line, as a .npy and a folder; bench runs on it (issue 12 §7). ~3 s.
add_test(NAME null_device_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_null_device.sh
          $<TARGET_FILE:labse> $<TARGET_FILE:npy_tool> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert)
set_tests_properties(null_device_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 120)
