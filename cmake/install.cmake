# `cmake --install build --prefix P` installs what a C++ project needs to use bitsmith:
#   P/include/bitsmith/...              the public headers
#   P/lib/libbitsmith_<module>.a        one static library per module (position-independent)
#   P/lib/cmake/bitsmith/               bitsmithConfig.cmake, its version file and the targets
#   P/bin/bitsmith                      the CLI (component "cli")
# A consumer writes find_package(bitsmith 0.1 REQUIRED) and links bitsmith::bitsmith (every
# module) or one module, e.g. bitsmith::quant; tests/install/ checks exactly that.
include(CMakePackageConfigHelpers)

get_property(bitsmith_module_targets GLOBAL PROPERTY BITSMITH_MODULES)
add_library(bitsmith_all INTERFACE)
set_target_properties(bitsmith_all PROPERTIES EXPORT_NAME bitsmith)
target_link_libraries(bitsmith_all INTERFACE ${bitsmith_module_targets})
add_library(bitsmith::bitsmith ALIAS bitsmith_all)

set(BITSMITH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/bitsmith)
install(TARGETS ${bitsmith_module_targets} bitsmith_all EXPORT bitsmithTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/bitsmith DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev)
install(EXPORT bitsmithTargets NAMESPACE bitsmith:: DESTINATION ${BITSMITH_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/bitsmithConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/bitsmithConfig.cmake
                              INSTALL_DESTINATION ${BITSMITH_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bitsmithConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/bitsmithConfig.cmake ${PROJECT_BINARY_DIR}/bitsmithConfigVersion.cmake
        DESTINATION ${BITSMITH_CMAKE_DIR} COMPONENT dev)
if(TARGET bitsmith)
  install(TARGETS bitsmith RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
endif()
