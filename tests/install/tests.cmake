# The installed library: cmake --install into a temporary prefix, then a consumer project
# (tests/install/consumer) does find_package(bitsmith), links and runs.
if(BITSMITH_INSTALL)
  add_test(NAME install.consumer
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/check_install.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(install.consumer PROPERTIES LABELS install TIMEOUT 600)
endif()
