# The emulator's race checker (tests/cuda_emu/emu_race.cpp; LABSE_EMU_RACECHECK=1), label race:
#  - tests/test_race.cu: planted races (a missing __syncthreads, a missing __syncwarp,
#    overlapping global writes, two warps' wmma stores to one tile) must abort with the kernel,
#    the threads and the offset; a clean kernel (barriers, __syncwarp, shuffles, atomics, wmma)
#    must not;
#  - every kernel test again under the checker, with two schedules (random:1 and reverse):
#    the small sizes (a missing barrier shows at any size), so the added CI time stays small.
# Only in the instrumented emulation build (LABSE_EMU_RACECHECK=ON, no LABSE_SANITIZE): ASan and
# TSan instrumentation do not combine. A real GPU runs compute-sanitizer's racecheck instead
# (tools/gpu_suite.sh).
if(NOT LABSE_GPU STREQUAL "EMU" OR NOT LABSE_EMU_RACECHECK OR LABSE_SANITIZE)
  return()
endif()

labse_add_gpu_test(test_race SOURCES ${CMAKE_SOURCE_DIR}/tests/test_race.cu LABELS race)
set_tests_properties(test_race PROPERTIES TIMEOUT 120)

# labse_race_case(NAME SCHEDULE EXE ARGS...): EXE ARGS under the checker with LABSE_EMU_SCHEDULE.
function(labse_race_case name schedule exe)
  add_test(NAME ${name} COMMAND ${exe} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS "emu;race" SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "LABSE_EMU_RACECHECK=1;LABSE_EMU_SCHEDULE=${schedule}")
endfunction()

foreach(sched random:1 reverse)
  string(REGEX REPLACE ":" "" tag ${sched})
  labse_race_case(race_emu_${tag} ${sched} test_emu)
  labse_race_case(race_k_rowwise_${tag} ${sched} test_k_rowwise --small)
  labse_race_case(race_k_attention_${tag} ${sched} test_k_attention --small)
  labse_race_case(race_k_mma_${tag} ${sched} test_k_mma)
  labse_race_case(race_gpu_knn_${tag} ${sched} test_gpu_knn small $<TARGET_FILE:labse>)
  labse_race_case(race_gpu_encoder_tiny_${tag} ${sched} test_gpu_encoder
    ${CMAKE_SOURCE_DIR}/tests/data/tiny-bert small)
endforeach()
