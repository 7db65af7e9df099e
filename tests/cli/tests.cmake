# CLI tests: every tests/cli/test_*.py runs as one CTest test against the built binary.
# A script exits 77 to report a clean skip (a missing optional package), 0 on success.
file(GLOB CLI_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_*.py)
foreach(script ${CLI_TESTS})
  get_filename_component(stem ${script} NAME_WE)
  add_test(NAME cli.${stem} COMMAND ${Python3_EXECUTABLE} ${script})
  set_tests_properties(cli.${stem} PROPERTIES
    SKIP_RETURN_CODE 77 LABELS cli TIMEOUT 900
    ENVIRONMENT "BITSMITH_BIN=$<TARGET_FILE:bitsmith>;BITSMITH_SHARED_DIR=${BITSMITH_SHARED_DIR};BITSMITH_SOURCE_DIR=${PROJECT_SOURCE_DIR};BITSMITH_BINARY_DIR=${PROJECT_BINARY_DIR}")
endforeach()
