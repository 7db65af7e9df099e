# nvfp4, MX and integer schemes against numpy + ml_dtypes oracles written from REFERENCE.md
# (tests/oracles/{nvfp4,mx,int}_oracle.py). The driver exits 77 (skip) without numpy/ml_dtypes.
add_executable(quant_oracle_dump ${CMAKE_CURRENT_LIST_DIR}/oracle_dump_main.cc)
target_link_libraries(quant_oracle_dump PRIVATE bitsmith_quant bitsmith_warnings)
add_test(NAME quant.oracles
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/oracle_check.py $<TARGET_FILE:quant_oracle_dump>)
set_tests_properties(quant.oracles PROPERTIES SKIP_RETURN_CODE 77 LABELS quant TIMEOUT 600)
