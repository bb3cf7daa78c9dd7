# mine.cmake — bitext mining and retrieval evaluation (src/mine/knn.c, src/mine/margin.c,
# src/mine/mine_emb.c, tools/cli/mine.c, tools/cli/eval.c) and their benchmark.
#   test_knn        streaming top-k vs full sort, blocked k-NN vs naive loop, margin by hand (unit)
#   mine_tiny       test_mine.py: `labse mine` / `labse eval` vs a numpy reference on exact,
#                   random, float16 and part-folder inputs, tiny-bert outputs, bad inputs (unit;
#                   skips 77 without numpy in LABSE_PYTHON)
#   mine_minilm     the same text-in checks on the real small model (model; 77 without it)
#   bench_mine      bench/bench_mine.c, a program, not a test

labse_add_test(test_knn SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_knn.c LABELS unit)

# Through bash so that a missing LABSE_PYTHON skips (77) instead of failing.
find_program(LABSE_MINE_BASH bash REQUIRED)
set(LABSE_MINE_PY ${LABSE_MINE_BASH} -c "if [ -x \"$0\" ] \; then exec \"$0\" \"$@\" \; else exit 77 \; fi" ${LABSE_PYTHON})
add_test(NAME mine_tiny
  COMMAND ${LABSE_MINE_PY} ${CMAKE_CURRENT_SOURCE_DIR}/test_mine.py
          $<TARGET_FILE:labse> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert)
set_tests_properties(mine_tiny PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "LABSE_SHARED_DIR=${LABSE_SHARED_DIR}")

add_test(NAME mine_minilm
  COMMAND ${LABSE_MINE_PY} ${CMAKE_CURRENT_SOURCE_DIR}/test_mine.py
          $<TARGET_FILE:labse> ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 --model-only)
set_tests_properties(mine_minilm PROPERTIES LABELS model SKIP_RETURN_CODE 77 TIMEOUT 600
  ENVIRONMENT "LABSE_SHARED_DIR=${LABSE_SHARED_DIR}")

add_executable(bench_mine ${CMAKE_SOURCE_DIR}/bench/bench_mine.c)
target_link_libraries(bench_mine PRIVATE labse_static)
target_include_directories(bench_mine PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_definitions(bench_mine PRIVATE _GNU_SOURCE)
