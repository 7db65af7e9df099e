# GPTQ against a numpy implementation of the published algorithm (tests/oracles/gptq_reference.py):
# the executable writes W, H and bitsmith's results; the script recomputes and compares
# (exit 77 = skipped without numpy).
add_executable(gptq_dump ${CMAKE_CURRENT_LIST_DIR}/gptq_dump_main.cc)
target_link_libraries(gptq_dump PRIVATE bitsmith_algo bitsmith_warnings)
add_test(NAME algo.gptq_oracle
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/oracles/gptq_reference.py
          --check $<TARGET_FILE:gptq_dump> ${PROJECT_BINARY_DIR}/gptq_oracle)
set_tests_properties(algo.gptq_oracle PROPERTIES SKIP_RETURN_CODE 77 LABELS algo TIMEOUT 600)
