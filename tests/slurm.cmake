# Slurm concern (issue 12 §6): tools/slurm/encode_array.sh as real array jobs on a single-node
# Slurm that tests/test_slurm.sh starts and stops itself (munged, slurmctld, slurmd on
# localhost): the GPU request (stub labse), the CPU variant with the tiny model, shards merged
# == one run. Label slurm only (not unit: no sanitizer build runs it). Skips (77) when not
# root or when the daemons cannot start (it prints why); ~18 s (~32 s with the @LIST stage,
# which runs once labse encode has --input-list), every wait bounded inside
# (the worst case of those bounds is under the TIMEOUT: the test cleans up before ctest kills).
add_test(NAME slurm_tiny
  COMMAND ${LABSE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_slurm.sh
          $<TARGET_FILE:labse> ${CMAKE_CURRENT_SOURCE_DIR}/data/tiny-bert)
set_tests_properties(slurm_tiny PROPERTIES LABELS slurm SKIP_RETURN_CODE 77 TIMEOUT 900)
