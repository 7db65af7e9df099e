# GPTQ against a numpy implementation of the published algorithm (tests/oracles/gptq_reference.py):
# the executable writes W, H and bitsmith's results; the script recomputes and compares
# (exit 77 = skipped without numpy).
add_executable(gptq_dump ${CMAKE_CURRENT_LIST_DIR}/gptq_dump_main.cc)
target_link_libraries(gptq_dump PRIVATE bitsmith_algo bitsmith_warnings)
add_test(NAME algo.gptq_oracle
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/oracles/gptq_reference.py
          --check $<TARGET_FILE:gptq_dump> ${PROJECT_BINARY_DIR}/gptq_oracle)
set_tests_properties(algo.gptq_oracle PROPERTIES SKIP_RETURN_CODE 77 LABELS algo TIMEOUT 600)

# HQQ and AWQ's scale search against numpy re-implementations of mobiusml/hqq's proximal
# optimizer and llm-awq's auto_scale (tests/oracles/{hqq,awq}_reference.py).
add_executable(algo_oracle_dump ${CMAKE_CURRENT_LIST_DIR}/algo_oracle_dump_main.cc)
target_link_libraries(algo_oracle_dump PRIVATE bitsmith_algo bitsmith_io bitsmith_warnings)
foreach(oracle hqq awq)
  add_test(NAME algo.${oracle}_oracle
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/oracles/${oracle}_reference.py
            $<TARGET_FILE:algo_oracle_dump> ${PROJECT_BINARY_DIR}/${oracle}_oracle)
  set_tests_properties(algo.${oracle}_oracle PROPERTIES SKIP_RETURN_CODE 77 LABELS algo TIMEOUT 300)
endforeach()

# A .dat written by llama.cpp's llama-imatrix, read by bitsmith and compared with its own imatrix
# on the same tokens (skipped without the llama.cpp build in ~/.cache/bitsmith).
add_test(NAME algo.llama_imatrix_dat
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/llama_imatrix_check.sh $<TARGET_FILE:bitsmith>
          $<TARGET_FILE:algo_oracle_dump> ${BITSMITH_SHARED_DIR} ${PROJECT_BINARY_DIR}/llama_imatrix)
set_tests_properties(algo.llama_imatrix_dat PROPERTIES SKIP_RETURN_CODE 77 LABELS algo TIMEOUT 300)
