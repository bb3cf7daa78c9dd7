# The benchmark scripts' own tests (standard-library python; label unit):
#   perf_model   bench/perf_model.py's measured-vs-predicted report, fed by bench/gpu_measured.py
#                from fake GPU suite logs (tests/test_perf_model.py)
find_program(LABSE_PYTHON3 python3)
if(LABSE_PYTHON3)
  add_test(NAME perf_model COMMAND ${LABSE_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_perf_model.py)
  set_tests_properties(perf_model PROPERTIES LABELS unit)
endif()
