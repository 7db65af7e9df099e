# GGUF block types against the gguf PyPI package and ggml's own library: the generator script is
# a CTest fixture (exit 77 = skipped when numpy/gguf are missing); the comparison executable
# reads what it wrote and skips when the files are absent.
add_executable(gguf_oracle_tests ${CMAKE_CURRENT_LIST_DIR}/gguf_oracle_test.cc)
target_link_libraries(gguf_oracle_tests PRIVATE bitsmith_quant bitsmith_warnings GTest::gtest_main)
set(GGUF_ORACLE_DIR ${PROJECT_BINARY_DIR}/gguf_oracle)
target_compile_definitions(gguf_oracle_tests PRIVATE
  BITSMITH_GGUF_ORACLE_DIR_DEFAULT="${GGUF_ORACLE_DIR}")
add_test(NAME gguf.oracle_generate
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/oracles/gguf_quant_oracle.py ${GGUF_ORACLE_DIR})
set_tests_properties(gguf.oracle_generate PROPERTIES
  FIXTURES_SETUP gguf_oracle SKIP_RETURN_CODE 77 LABELS gguf TIMEOUT 600)
add_test(NAME gguf.oracle_compare COMMAND gguf_oracle_tests)
set_tests_properties(gguf.oracle_compare PROPERTIES
  FIXTURES_REQUIRED gguf_oracle LABELS gguf TIMEOUT 600
  SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\] [0-9]+ test.*\\[  PASSED  \\] 0 tests"
  ENVIRONMENT "BITSMITH_GGUF_ORACLE_DIR=${GGUF_ORACLE_DIR}")

# Timing tool for scripts/bench_gguf.sh (not a test: never asserted).
add_executable(gguf_speed ${CMAKE_CURRENT_LIST_DIR}/gguf_speed.cc)
target_link_libraries(gguf_speed PRIVATE bitsmith_quant bitsmith_warnings)
