# The CUDA emulator's own test (tests/test_emu.cu): device built-ins, barriers, warp collectives,
# atomics, wmma, fp16, streams/events, error paths and the cuBLASLt subset against references.
# Emulation build → label emu (also aborts on misuse, the memory limit), run twice: threads of a
# block in index order and in reverse order (LABSE_EMU_SCHEDULE=reverse). CUDA build → label
# gpu, where the same checks compare the emulator's semantics with the hardware and cuBLASLt.
labse_add_gpu_test(test_emu SOURCES ${CMAKE_SOURCE_DIR}/tests/test_emu.cu)
if(TEST test_emu)
  set_tests_properties(test_emu PROPERTIES TIMEOUT 120)
  if(LABSE_GPU STREQUAL "EMU")
    add_test(NAME test_emu_reverse COMMAND test_emu)
    set_tests_properties(test_emu_reverse PROPERTIES LABELS "emu" SKIP_RETURN_CODE 77 TIMEOUT 120
                         ENVIRONMENT "LABSE_EMU_SCHEDULE=reverse")
  endif()
endif()
