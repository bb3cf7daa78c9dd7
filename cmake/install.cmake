# install.cmake — what `cmake --install` puts where, included from the top CMakeLists.txt.
#
#   lib/liblabse.so.X.Y.Z (+ SONAME and dev links)   component runtime / development
#   bin/labse                                        component runtime
#   lib/liblabse.a, include/labse.h                  component development
#   lib/pkgconfig/labse.pc                           component development
#   lib/cmake/labse/{labse-config,labse-config-version,labseTargets,labseStaticTargets}.cmake
#
# RPATH: liblabse.so and the CLI are linked against the OpenMP build of OpenBLAS, which Debian
# keeps in its own folder (/usr/lib/<arch>/openblas-openmp) behind the alternatives system.
# Their install RPATH names that folder, so the installed binaries load the variant they were
# built and measured with, whatever the alternatives point at.
#
# Under scikit-build-core (SKBUILD, the Python wheel) only component "python" is installed:
# the shared library into the package folder labse/, where labse/_lib.py loads it.

include(CMakePackageConfigHelpers)

set(LABSE_INSTALL_RPATH "")
if(OPENBLAS_LIBRARY)
  get_filename_component(_labse_blas_dir "${OPENBLAS_LIBRARY}" DIRECTORY)
  list(APPEND LABSE_INSTALL_RPATH "${_labse_blas_dir}")
endif()
if(LABSE_GPU STREQUAL "CUDA")
  # the CUDA runtime and cuBLASLt the library was built against
  list(APPEND LABSE_INSTALL_RPATH "${CUDAToolkit_LIBRARY_DIR}")
endif()
set_target_properties(labse_shared labse PROPERTIES INSTALL_RPATH "${LABSE_INSTALL_RPATH}")

if(SKBUILD)
  # One file, no symlinks (a wheel cannot hold them): the library is built with its install
  # RPATH and copied as labse/liblabse.so; ctypes loads it by path, so the SONAME is moot.
  set_target_properties(labse_shared PROPERTIES BUILD_WITH_INSTALL_RPATH ON)
  install(PROGRAMS $<TARGET_FILE:labse_shared> DESTINATION labse RENAME liblabse.so COMPONENT python)
  return()
endif()

set(LABSE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/labse)

install(TARGETS labse_shared EXPORT labseTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development)
install(TARGETS labse_static EXPORT labseStaticTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(TARGETS labse RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(FILES ${CMAKE_SOURCE_DIR}/include/labse.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)

install(EXPORT labseTargets NAMESPACE labse:: DESTINATION ${LABSE_CMAKE_DIR}
  FILE labseTargets.cmake COMPONENT development)
install(EXPORT labseStaticTargets NAMESPACE labse:: DESTINATION ${LABSE_CMAKE_DIR}
  FILE labseStaticTargets.cmake COMPONENT development)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/labse-config.cmake.in
  ${CMAKE_BINARY_DIR}/labse-config.cmake INSTALL_DESTINATION ${LABSE_CMAKE_DIR})
# 0.x: a minor release may change the ABI, so only the same MAJOR.MINOR is compatible.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/labse-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/labse-config.cmake ${CMAKE_BINARY_DIR}/labse-config-version.cmake
  DESTINATION ${LABSE_CMAKE_DIR} COMPONENT development)

# labse.pc: the prefix relative to ${pcfiledir} (= <prefix>/<libdir>/pkgconfig).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(LABSE_PC_RELPREFIX "")
  message(WARNING "labse.pc: absolute CMAKE_INSTALL_LIBDIR; the pkg-config file is not relocatable")
else()
  file(RELATIVE_PATH LABSE_PC_RELPREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
endif()
# Libs.private: what a static link of liblabse.a needs besides Requires.private.
set(LABSE_PC_LIBS_PRIVATE "")
if(OPENBLAS_LIBRARY)
  string(APPEND LABSE_PC_LIBS_PRIVATE "-L${_labse_blas_dir} -Wl,-rpath,${_labse_blas_dir} -lopenblas")
else()
  foreach(_l ${BLAS_LIBRARIES})
    string(APPEND LABSE_PC_LIBS_PRIVATE " ${_l}")
  endforeach()
endif()
if(LABSE_GPU STREQUAL "CUDA")
  string(APPEND LABSE_PC_LIBS_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -Wl,-rpath,${CUDAToolkit_LIBRARY_DIR} -lcublasLt -lcudart")
endif()
if(LABSE_HAVE_DNNL)
  string(APPEND LABSE_PC_LIBS_PRIVATE " -ldnnl") # precision bf16 on the CPU
endif()
if(NOT LABSE_GPU STREQUAL "OFF")
  string(APPEND LABSE_PC_LIBS_PRIVATE " -lstdc++") # the kernels' host code (or the emulator) is C++
endif()
set(_labse_pc_l ${OpenMP_C_LIB_NAMES} pthread m)
list(REMOVE_DUPLICATES _labse_pc_l)
foreach(_l ${_labse_pc_l})
  string(APPEND LABSE_PC_LIBS_PRIVATE " -l${_l}")
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/cmake/labse.pc.in ${CMAKE_BINARY_DIR}/labse.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/labse.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)
