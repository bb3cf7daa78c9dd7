# labse_encode with batches in flight (the session's ring, depth 2 on the GPU) against the
# synchronous batch loop, byte for byte, plus faults injected in the 2nd batch
# (tests/test_encode_inflight.c): the tiny committed model always, MiniLM when tools/setup.sh
# made it (label model too; skip 77).
labse_add_gpu_test(test_encode_inflight SOURCES ${CMAKE_SOURCE_DIR}/tests/test_encode_inflight.c NO_CASE)
labse_gpu_test_case(encode_inflight_tiny test_encode_inflight
  EMU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert small
  GPU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert full)
labse_gpu_test_case(encode_inflight_minilm test_encode_inflight
  EMU_ARGS ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 small
  GPU_ARGS ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 full LABELS model)
