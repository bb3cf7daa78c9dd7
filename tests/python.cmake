# The Python package (pyproject.toml, python/labse, python/tests), through tests/test_python.sh:
#   python_install  pip-installs the package from this tree into BUILD/pyenv (fixture setup)
#   python_tiny     pytest on the committed tiny models                        (unit)
#   python_minilm   pytest -m model: the real all-MiniLM-L6-v2 (tools/setup.sh) (model)
# Both pytest runs compare Model.encode with this build's `labse encode`, bitwise.
# Without network for the venv's packages they skip (77). Sanitizer builds skip: the wheel
# builds its own, uninstrumented library.
find_program(LABSE_BASH bash REQUIRED)
set(_py ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_python.sh)
set(_py_env "LABSE_MODELS_DIR=${LABSE_MODELS_DIR}" "LABSE_SHARED_DIR=${LABSE_SHARED_DIR}")
if(LABSE_SANITIZE)
  list(APPEND _py_env "LABSE_PY_SKIP=sanitizer build: the Python wheel is tested by the normal build")
endif()
add_test(NAME python_install COMMAND ${_py} install ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
add_test(NAME python_tiny COMMAND ${_py} run ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} -q -m "not model")
add_test(NAME python_minilm COMMAND ${_py} run ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} -q -m model)
set_tests_properties(python_install PROPERTIES LABELS "unit;model" TIMEOUT 600
  FIXTURES_SETUP labse_pyenv ENVIRONMENT "${_py_env}")
set_tests_properties(python_tiny PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED labse_pyenv ENVIRONMENT "${_py_env}")
set_tests_properties(python_minilm PROPERTIES LABELS model TIMEOUT 600 SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED labse_pyenv ENVIRONMENT "${_py_env}")
