# Loader tests: the safetensors reader (hostile files) and lb_model_load (tiny folders built
# in C, plus the real all-MiniLM-L6-v2 folder when tools/setup.sh has installed it).
labse_add_test(test_safetensors SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.c LABELS unit)
labse_add_test(test_model_load SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model_load.c LABELS unit)
# Same executable source, given a folder: loads the real model and checks its shapes; 77 without.
labse_add_test(test_model_load_minilm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model_load.c
               LABELS model ARGS ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2)
