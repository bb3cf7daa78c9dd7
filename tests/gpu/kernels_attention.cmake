# The fused variable-length attention kernel (kernels/attention.cu) against a float64 and a
# naive-fp16 CPU attention: emulator (label emu) with a few-second subset, real GPU (label gpu)
# with every length 1..512 of the list, every head dim, 12 heads, mixes and a softmax stress.
labse_add_gpu_test(test_k_attention
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_k_attention.c
  EMU_ARGS --small
  LABELS kernels)
# The CPU references run one (sequence, head) pair per OpenMP thread.
if(TARGET test_k_attention AND TARGET OpenMP::OpenMP_C)
  target_link_libraries(test_k_attention PRIVATE OpenMP::OpenMP_C)
endif()
