# I/O fault injection (tests/faultinj): an LD_PRELOAD shim that fails the Nth open, read,
# write, fsync, rename, ftruncate or mmap of one kind (faultinj.c), and a walk over every
# such call of `labse encode` (.npy, part folder, resume), `labse merge`, `labse mine` and the
# model loading (fault_walk.sh). Not in sanitizer builds: ASan and TSan must come first in
# the process's library list, and an LD_PRELOAD shim would come before them.
if(NOT LABSE_SANITIZE AND NOT LABSE_SANITIZE_THREAD)
  add_library(faultinj SHARED ${CMAKE_CURRENT_LIST_DIR}/faultinj/faultinj.c)
  target_link_libraries(faultinj PRIVATE ${CMAKE_DL_LIBS})
  find_program(LABSE_BASH bash REQUIRED)
  add_test(NAME fault_walk
    COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_LIST_DIR}/faultinj/fault_walk.sh
            $<TARGET_FILE:labse> $<TARGET_FILE:faultinj> ${CMAKE_CURRENT_LIST_DIR}/data/tiny-bert)
  set_tests_properties(fault_walk PROPERTIES LABELS "unit;faultinj" SKIP_RETURN_CODE 77 TIMEOUT 900)
endif()
