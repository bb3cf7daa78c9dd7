# The GPU encoder out of device memory (tests/test_gpu_oom.c): batches split in pieces, the
# cuBLASLt workspace fallback, one sentence that does not fit → a clear error (API and CLI).
# Emulation build → label emu (the tiny committed model; seconds). CUDA build → label gpu (the
# CLI part is emulator-only: its limit is LABSE_EMU_MEM_BYTES).
labse_add_gpu_test(test_gpu_oom SOURCES ${CMAKE_SOURCE_DIR}/tests/test_gpu_oom.c NO_CASE)
labse_gpu_test_case(gpu_oom_tiny test_gpu_oom
  EMU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert $<TARGET_FILE:labse> small
  GPU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert $<TARGET_FILE:labse> full)
# On a real GPU the test takes nearly all free device memory (its "ballast"): alone, so the
# gpu tests that ctest (tools/gpu_suite.sh: -j 3) runs beside it keep theirs. The emulator's
# device memory is per process.
if(TEST gpu_oom_tiny AND NOT LABSE_GPU STREQUAL "EMU")
  set_tests_properties(gpu_oom_tiny PROPERTIES RUN_SERIAL TRUE)
endif()
