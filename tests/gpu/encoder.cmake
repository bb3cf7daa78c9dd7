# The whole GPU encoder against the CPU encoder (tests/test_gpu_encoder.c): the tiny committed
# models always (head_dim 16), the real MiniLM (head_dim 32) and the LaBSE-shaped model
# (head_dim 64, 501k vocabulary) when tools/setup.sh made them (label model too; skip 77).
labse_add_gpu_test(test_gpu_encoder SOURCES ${CMAKE_SOURCE_DIR}/tests/test_gpu_encoder.c NO_CASE)
foreach(m tiny-bert tiny-bert-mean)
  labse_gpu_test_case(gpu_encoder_${m} test_gpu_encoder
    EMU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/${m} small
    GPU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/${m} full)
endforeach()
labse_gpu_test_case(gpu_encoder_minilm test_gpu_encoder
  EMU_ARGS ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 small
  GPU_ARGS ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 full LABELS model)
labse_gpu_test_case(gpu_encoder_labse_random test_gpu_encoder
  EMU_ARGS ${LABSE_MODELS_DIR}/labse-random small
  GPU_ARGS ${LABSE_MODELS_DIR}/labse-random full LABELS model)

# --device cuda:all: byte-identical to cuda:0 (the emulator pretends 3 GPUs).
add_test(NAME gpu_multi_tiny COMMAND bash ${CMAKE_SOURCE_DIR}/tests/test_gpu_multi.sh
  $<TARGET_FILE:labse> ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert ${LABSE_SHARED_DIR}/data/bitext/fr.tsv)
if(LABSE_GPU STREQUAL "EMU")
  set_tests_properties(gpu_multi_tiny PROPERTIES LABELS emu SKIP_RETURN_CODE 77)
else()
  set_tests_properties(gpu_multi_tiny PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
endif()

# Both layer paths of src/gpu/gpu_forward.c pass the same checks: the default (fused, GELU in
# the GEMM epilogue) above; here the basic path and the fused path with the exact erf GELU.
if(LABSE_GPU STREQUAL "EMU")
  foreach(v "basic;LABSE_GPU_PATH=basic" "fused_erf;LABSE_GPU_GELU=erf")
    list(GET v 0 tag)
    list(GET v 1 env)
    labse_gpu_test_case(gpu_encoder_tiny-bert_${tag} test_gpu_encoder
      EMU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert small)
    set_tests_properties(gpu_encoder_tiny-bert_${tag} PROPERTIES ENVIRONMENT ${env})
  endforeach()
endif()

# CUDA Graphs (fused path): padded batches captured once per shape and replayed, rows equal to
# the graph-free path within the batch-composition bound (tests/test_gpu_graphs.c).
labse_add_gpu_test(test_gpu_graphs SOURCES ${CMAKE_SOURCE_DIR}/tests/test_gpu_graphs.c
  EMU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert
  GPU_ARGS ${LABSE_MODELS_DIR}/labse-random)
