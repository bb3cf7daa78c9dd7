# The installed tree: `cmake --install` into a temporary prefix, then examples/encode_example.c
# built against it through pkg-config (shared, and static via Libs.private) and through
# find_package(labse CONFIG) (labse::labse and labse::labse_static), each run on tiny-bert.
# Under LABSE_SANITIZE the installed libraries carry ASan/UBSan, so the consumers are built
# with the same flags.
find_program(LABSE_BASH bash REQUIRED)
set(_labse_consumer_flags "")
if(LABSE_SANITIZE)
  set(_labse_consumer_flags "-fsanitize=address,undefined -fno-sanitize-recover=all")
endif()
add_test(NAME install_tree
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_install.sh
          ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert
          ${CMAKE_C_COMPILER} "${_labse_consumer_flags}")
set_tests_properties(install_tree PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)
