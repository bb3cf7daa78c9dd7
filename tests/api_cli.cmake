# api_cli.cmake — the public API under the CLI (include/labse.h):
#   test_api_cli  labse_text line rules; labse_embeddings (.npy, part folder, wrap, encode ==
#                 labse_encode, read); labse_mine_embeddings == labse_mine (every margin x
#                 retrieval, k lowered); labse_eval_embeddings; labse_write_pairs_tsv bytes and
#                 errors; labse_merge (errors, two shards == the .npy) (unit, tiny-bert)
labse_add_test(test_api_cli SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_api_cli.c
  LABELS unit ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert)
