# api.cmake — the public labse_encode_file and labse_mine (include/labse.h):
#   test_api_file_mine  labse_encode_file .npy == labse_encode rows bitwise (f32, f16);
#                       labse_mine == `labse mine --src-emb/--tgt-emb` for every margin x
#                       retrieval; errors (unit, tiny-bert)
labse_add_test(test_api_file_mine SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_api_file_mine.c
  LABELS unit ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert $<TARGET_FILE:labse>)

# test_api_files  many files (issue 12 §2): names, list file, the shard plan; labse_encode_files
#                 2 tasks + labse_merge == labse_encode_file per input; embeddings of the
#                 folder; stop + resume; refusals (unit, tiny-bert; ~2 s)
labse_add_test(test_api_files SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_api_files.c
  LABELS unit ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert)
