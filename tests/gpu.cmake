# The GPU backend's tests. The same test programs run twice over the project's life:
#   build with LABSE_CUDA_EMU=ON  → label emu: kernels and host path on the CPU emulator, small
#                                   sizes (EMU_ARGS), in every CI run;
#   build with real CUDA (nvcc)   → label gpu: full sizes (GPU_ARGS) on a real GPU; a program
#                                   that finds no device exits 77 (skipped).
# Without a GPU backend (LABSE_GPU OFF) nothing is registered here.
# labse_add_gpu_test(NAME SOURCES f.c... [EMU_ARGS ...] [GPU_ARGS ...] [LABELS extra...]
#                    [NO_CASE]): the executable NAME and (unless NO_CASE) its CTest case NAME.
if(LABSE_GPU STREQUAL "OFF")
  return()
endif()

function(labse_add_gpu_test name)
  cmake_parse_arguments(T "NO_CASE" "" "SOURCES;EMU_ARGS;GPU_ARGS;LABELS" ${ARGN})
  foreach(src ${T_SOURCES})
    if(src MATCHES "\\.cu$" AND LABSE_GPU STREQUAL "EMU") # a .cu test: C++ over the emulator
      set_source_files_properties(${src} PROPERTIES LANGUAGE CXX COMPILE_OPTIONS "${LABSE_EMU_KERNEL_OPTIONS}")
    endif()
  endforeach()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE labse_static PkgConfig::CMOCKA)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests
                             ${CMAKE_SOURCE_DIR}/kernels)
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE
    LABSE_SRC_DIR="${LABSE_SRC_DIR}" LABSE_SHARED_DIR="${LABSE_SHARED_DIR}" LABSE_MODELS_DIR="${LABSE_MODELS_DIR}")
  if(LABSE_GPU STREQUAL "EMU")
    target_compile_definitions(${name} PRIVATE LABSE_CUDA_EMU=1 LABSE_HAVE_GPU=1)
  else()
    target_compile_definitions(${name} PRIVATE LABSE_HAVE_CUDA=1 LABSE_HAVE_GPU=1)
  endif()
  if(NOT T_NO_CASE)
    labse_gpu_test_case(${name} ${name} EMU_ARGS ${T_EMU_ARGS} GPU_ARGS ${T_GPU_ARGS} LABELS ${T_LABELS})
  endif()
endfunction()

# labse_gpu_test_case(TESTNAME EXECUTABLE [EMU_ARGS ...] [GPU_ARGS ...] [LABELS ...]): one more
# CTest case of an executable made by labse_add_gpu_test (other arguments, same label rule).
function(labse_gpu_test_case tname exe)
  cmake_parse_arguments(T "" "" "EMU_ARGS;GPU_ARGS;LABELS" ${ARGN})
  if(LABSE_GPU STREQUAL "EMU")
    add_test(NAME ${tname} COMMAND ${exe} ${T_EMU_ARGS})
    set_tests_properties(${tname} PROPERTIES LABELS "emu;${T_LABELS}" SKIP_RETURN_CODE 77)
  else()
    add_test(NAME ${tname} COMMAND ${exe} ${T_GPU_ARGS})
    set_tests_properties(${tname} PROPERTIES LABELS "gpu;${T_LABELS}" SKIP_RETURN_CODE 77)
  endif()
endfunction()

# Registered tests: kernels/*.cu each have one (tests/test_k_*.c); the emulator tests itself
# (tests/test_emu.c); the whole GPU encoder against the CPU (tests/test_gpu_encoder.c).
file(GLOB LABSE_GPU_TEST_FRAGMENTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/gpu/*.cmake)
foreach(f ${LABSE_GPU_TEST_FRAGMENTS})
  include(${f})
endforeach()
