# The encoder's cuBLASLt GEMMs (src/gpu/gpu_gemm.c: bias / GELU epilogues, residual, the bucketed
# algorithm cache, buffer alignment) against a float64 oracle (tests/test_gpu_gemm.c); ~1 s.
labse_add_gpu_test(test_gpu_gemm SOURCES test_gpu_gemm.c LABELS kernels)
