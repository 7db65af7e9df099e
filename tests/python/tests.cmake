# The Python package's pytest suite (tests/python). It tests the installed package (pip install
# ./python, done by scripts/setup.sh); run_pytest.py exits 77 (skip) when the package or pytest
# is missing, saying so.
add_test(NAME python.pytest
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/run_pytest.py)
set_tests_properties(python.pytest PROPERTIES SKIP_RETURN_CODE 77 LABELS python TIMEOUT 900
  ENVIRONMENT "BITSMITH_BIN=$<TARGET_FILE:bitsmith>;BITSMITH_QUANT_DUMP=$<TARGET_FILE:quant_oracle_dump>;BITSMITH_SHARED_DIR=${BITSMITH_SHARED_DIR};BITSMITH_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
# The course lab walked through with the package (examples/lab_data_types.py); exit 77 = skip.
add_test(NAME python.lab_data_types
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/examples/lab_data_types.py --check)
set_tests_properties(python.lab_data_types PROPERTIES SKIP_RETURN_CODE 77 LABELS python TIMEOUT 300)
