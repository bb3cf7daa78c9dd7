# The element-wise / row-wise kernels (embed.cu, layernorm.cu, bias_act.cu, pool.cu) against a
# float64 oracle; emu: a subset of the ragged lengths (a few seconds), gpu: all of them.
labse_add_gpu_test(test_k_rowwise SOURCES test_k_rowwise.c
  EMU_ARGS --small
  GPU_ARGS
  LABELS kernels)
