# tokenizer.cmake — the tokenizer's tests (src/model/tokenizer.c, src/model/utf8.c) and its benchmark.
#   test_tokenizer           cmocka unit tests on a tiny vocabulary                  (unit)
#   tok_parity_*             tests/tok_parity.py: C (tok_dump) vs HuggingFace tokenizers,
#                            skip (77) without the python or the vocabulary   (unit / model)
#   bench_tokenize           bench/bench_tokenize.c, a program, not a test
set(LABSE_TOK_SMALLER_VOCAB ${LABSE_SHARED_DIR}/data/vocab/labse-smaller-vocab.txt CACHE FILEPATH
    "the 173k smaller LaBSE vocabulary (tokenizer parity, label unit)")
set(LABSE_TOK_LABSE_VOCAB ${LABSE_MODELS_DIR}/labse-random/vocab.txt CACHE FILEPATH
    "the full 501k LaBSE vocabulary (tokenizer parity, label model)")
set(LABSE_TOK_MINILM_VOCAB ${LABSE_MODELS_DIR}/all-MiniLM-L6-v2/vocab.txt CACHE FILEPATH
    "the uncased all-MiniLM-L6-v2 vocabulary (tokenizer parity, label model)")
set(LABSE_TOK_BITEXT ${LABSE_SHARED_DIR}/data/bitext)

labse_add_test(test_tokenizer SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer.c LABELS unit)

add_executable(tok_dump ${CMAKE_CURRENT_SOURCE_DIR}/tok_dump.c)
target_link_libraries(tok_dump PRIVATE labse_static)
target_include_directories(tok_dump PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_definitions(tok_dump PRIVATE _GNU_SOURCE)

add_executable(bench_tokenize ${CMAKE_SOURCE_DIR}/bench/bench_tokenize.c)
target_link_libraries(bench_tokenize PRIVATE labse_static)
target_include_directories(bench_tokenize PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_compile_definitions(bench_tokenize PRIVATE _GNU_SOURCE)

# tok_parity_test(NAME LABEL VOCAB ARGS...): run tests/tok_parity.py through /bin/sh so that a
# missing python is a skip (77), not a failure.
function(tok_parity_test name label vocab)
  add_test(NAME ${name}
    COMMAND /bin/sh -c "test -x \"$0\" || { echo \"SKIP: no python at $0\"; exit 77; }; exec \"$0\" \"$@\""
            ${LABSE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tok_parity.py
            --tok-dump $<TARGET_FILE:tok_dump> --vocab ${vocab} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS ${label} SKIP_RETURN_CODE 77 TIMEOUT 900)
endfunction()

# always available: the smaller LaBSE vocabulary (cased, and with lower-casing to exercise
# the accent-stripping path on every code point)
tok_parity_test(tok_parity_smaller_bitext unit ${LABSE_TOK_SMALLER_VOCAB}
                --suite bitext --bitext ${LABSE_TOK_BITEXT} --max-len 256)
tok_parity_test(tok_parity_smaller_special unit ${LABSE_TOK_SMALLER_VOCAB} --suite special --max-len 256)
tok_parity_test(tok_parity_smaller_special_nolimit unit ${LABSE_TOK_SMALLER_VOCAB} --suite special --max-len 0)
tok_parity_test(tok_parity_smaller_special_lower unit ${LABSE_TOK_SMALLER_VOCAB} --suite special --max-len 512 --lower)
tok_parity_test(tok_parity_codepoints_cased unit ${LABSE_TOK_SMALLER_VOCAB} --suite codepoints)
tok_parity_test(tok_parity_codepoints_uncased unit ${LABSE_TOK_SMALLER_VOCAB} --suite codepoints --lower)
tok_parity_test(tok_parity_codepoints_lower_nostrip unit ${LABSE_TOK_SMALLER_VOCAB} --suite codepoints --lower --strip-accents 0)
# the real vocabularies from models/ (tools/setup.sh)
tok_parity_test(tok_parity_labse_bitext model ${LABSE_TOK_LABSE_VOCAB}
                --suite bitext --bitext ${LABSE_TOK_BITEXT} --max-len 256)
tok_parity_test(tok_parity_labse_special model ${LABSE_TOK_LABSE_VOCAB} --suite special --max-len 512)
tok_parity_test(tok_parity_minilm_bitext model ${LABSE_TOK_MINILM_VOCAB}
                --suite bitext --bitext ${LABSE_TOK_BITEXT} --max-len 256 --lower)
tok_parity_test(tok_parity_minilm_special model ${LABSE_TOK_MINILM_VOCAB} --suite special --max-len 256 --lower)
