# The CPU encoder: fast path vs the oracle vs PyTorch goldens (tests/golden, made by
# tools/make_goldens.py). The tiny committed models run everywhere (unit); the real MiniLM and
# the LaBSE-shaped random model need tools/setup.sh (model; skip 77 without).
set(_g ${CMAKE_SOURCE_DIR}/tests/golden)
add_executable(test_encoder test_encoder.c)
target_link_libraries(test_encoder PRIVATE labse_static PkgConfig::CMOCKA)
target_include_directories(test_encoder PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_definitions(test_encoder PRIVATE _GNU_SOURCE)
foreach(m tiny-bert tiny-bert-mean)
  add_test(NAME encoder_${m} COMMAND test_encoder ${CMAKE_SOURCE_DIR}/tests/data/${m} ${_g}/${m})
  set_tests_properties(encoder_${m} PROPERTIES LABELS unit SKIP_RETURN_CODE 77)
endforeach()
# REF_LIMIT: the naive oracle is O(minutes) per thousand LaBSE tokens; 8 sentences suffice
# to pin it to PyTorch, and the fast path is then checked on every golden sentence.
add_test(NAME encoder_minilm COMMAND test_encoder ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2 ${_g}/all-MiniLM-L6-v2 16)
add_test(NAME encoder_labse_random COMMAND test_encoder ${LABSE_MODELS_DIR}/labse-random ${_g}/labse-random 6)
set_tests_properties(encoder_minilm encoder_labse_random PROPERTIES LABELS model SKIP_RETURN_CODE 77)
