# The attention kernels (kernels/attention.cu, tiled; kernels/attention_short.cu, short
# sequences) against a float64 and a naive-fp16 CPU attention: emulator (label emu) with a few-second subset, real GPU (label gpu)
# with every length 1..512 of the list, every head dim, 12 heads, mixes and a softmax stress.
labse_add_gpu_test(test_k_attention
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_k_attention.c
  EMU_ARGS --small
  LABELS kernels)
# The short kernel synchronises only within warps (cp.async waits, __syncwarp): its group again
# with the threads of each block run in reverse order, which exposes a missing __syncwarp the
# index order can hide (emulator only).
if(TEST test_k_attention AND LABSE_GPU STREQUAL "EMU")
  add_test(NAME test_k_attention_short_reverse COMMAND test_k_attention --small --short)
  set_tests_properties(test_k_attention_short_reverse PROPERTIES LABELS "emu;kernels"
                       SKIP_RETURN_CODE 77 ENVIRONMENT "LABSE_EMU_SCHEDULE=reverse")
endif()
# The CPU references run one (sequence, head) pair per OpenMP thread.
if(TARGET test_k_attention AND TARGET OpenMP::OpenMP_C)
  target_link_libraries(test_k_attention PRIVATE OpenMP::OpenMP_C)
endif()
# The warp-level PTX wrappers the short-sequence kernel is built on (kernels/mma.cuh: mma.sync
# m16n8k16, ldmatrix, cp.async) against scalar references; on the emulator this checks its
# model of them (tests/cuda_emu/emu_mma.h), on a GPU the model against the hardware.
labse_add_gpu_test(test_k_mma SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_k_mma.cu LABELS kernels)
# The whole encoder with each attention kernel forced (LABSE_GPU_ATTN, src/gpu/gpu_attention.h):
# the plain gpu_encoder_* cases take the automatic choice, which mixes both kernels by batch.
foreach(k short tiled)
  labse_gpu_test_case(gpu_encoder_tiny-bert_attn_${k} test_gpu_encoder
    EMU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert small
    GPU_ARGS ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert full)
  set_tests_properties(gpu_encoder_tiny-bert_attn_${k} PROPERTIES ENVIRONMENT "LABSE_GPU_ATTN=${k}")
endforeach()
