# FP8 E4M3 (tests/test_fp8.cu): the conversions (emulator model, device code, src/base/fp8.c)
# against a nearest-code search, and the cuBLASLt FP8 matmul (TN, per-tensor and outer-vector
# scales, epilogues) against double. Emulation build → label emu (a second or two); CUDA build →
# label gpu, where it compares the emulator's model with the hardware and cuBLASLt.
labse_add_gpu_test(test_fp8 SOURCES ${CMAKE_SOURCE_DIR}/tests/test_fp8.cu)
if(TEST test_fp8)
  set_tests_properties(test_fp8 PROPERTIES TIMEOUT 120)
endif()
# lb_gemm_fp8 (src/gpu/gpu_gemm.c) through both scaling routes against a float64 oracle (~1 s).
labse_add_gpu_test(test_gpu_gemm_fp8 SOURCES test_gpu_gemm_fp8.c LABELS kernels)
