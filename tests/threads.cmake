# Thread safety from C (tests/test_threads.c): one model, NTHREADS threads each with its own
# session, rows bitwise equal to a single-thread run (opt.threads = 1). The tiny committed
# model always (unit); the real all-MiniLM-L6-v2 when tools/setup.sh installed it (model).
labse_add_test(test_threads SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_threads.c LABELS unit
               ARGS ${CMAKE_CURRENT_LIST_DIR}/data/tiny-bert)
find_package(Threads REQUIRED)
target_link_libraries(test_threads PRIVATE Threads::Threads)
add_test(NAME test_threads_minilm COMMAND test_threads ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2)
set_tests_properties(test_threads_minilm PROPERTIES LABELS model SKIP_RETURN_CODE 77 TIMEOUT 600)
