# ml_dtypes oracle (tests/oracles/ml_dtypes_oracle.py): a generator test writes ml_dtypes' answers
# into the build tree as a CTest fixture (exit 77 = skipped when numpy/ml_dtypes are absent, and
# it prints why); a separate gtest binary compares bitsmith with them and GTEST_SKIPs, saying
# so, when the data is missing. It is its own binary, not part of formats_tests, so that
# `ctest -j` never runs the comparison before (or while) the generator writes the data.
set(BITSMITH_ML_DTYPES_ORACLE_DIR ${PROJECT_BINARY_DIR}/oracles/ml_dtypes)
add_executable(formats_oracle_tests ${CMAKE_CURRENT_SOURCE_DIR}/formats/ml_dtypes_oracle_check.cc)
target_link_libraries(formats_oracle_tests PRIVATE bitsmith_formats bitsmith_warnings GTest::gtest_main)
target_compile_definitions(formats_oracle_tests PRIVATE
  BITSMITH_ML_DTYPES_ORACLE_DIR="${BITSMITH_ML_DTYPES_ORACLE_DIR}")
add_test(NAME formats.oracle.ml_dtypes.compare COMMAND formats_oracle_tests)
set_tests_properties(formats.oracle.ml_dtypes.compare PROPERTIES
  LABELS "formats;oracle" SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
if(Python3_Interpreter_FOUND)
  add_test(NAME formats.oracle.ml_dtypes.generate
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/oracles/ml_dtypes_oracle.py
            --out ${BITSMITH_ML_DTYPES_ORACLE_DIR})
  set_tests_properties(formats.oracle.ml_dtypes.generate PROPERTIES
    FIXTURES_SETUP ml_dtypes_oracle SKIP_RETURN_CODE 77 LABELS "formats;oracle")
  set_tests_properties(formats.oracle.ml_dtypes.compare PROPERTIES FIXTURES_REQUIRED ml_dtypes_oracle)
endif()
