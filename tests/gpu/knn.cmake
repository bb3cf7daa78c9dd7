# The GPU k-NN (src/mine/knn_gpu.c, kernels/topk.cu) against the CPU backend and full sorts
# (tests/test_gpu_knn.c): the top-k kernel alone, tables with exact ties (bit-exact) and on
# random data (cosines within 1e-6, indices equal up to near-ties), mining end to end (scores
# within 1e-5), and `labse mine --device cuda` vs `--device cpu` through the CLI.
#   emu: a few hundred rows, d 64 and 768, block sizes 37/64/1000 (many tiles, ragged ends);
#   gpu: 20k x 30k at d 768 (prints the GPU's pairs scored per second), 10k x 12k for the CLI.
labse_add_gpu_test(test_gpu_knn SOURCES ${CMAKE_SOURCE_DIR}/tests/test_gpu_knn.c
  EMU_ARGS small $<TARGET_FILE:labse>
  GPU_ARGS full $<TARGET_FILE:labse>)
add_dependencies(test_gpu_knn labse)
