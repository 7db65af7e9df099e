# The dependencies of a cross build (CMAKE_CROSSCOMPILING), made from what the host already has,
# so no foreign-architecture packages are needed: fmt (header-only mode) and nlohmann-json from
# the host's architecture-independent headers, GoogleTest compiled from Debian's sources
# (/usr/src/googletest, shipped by libgtest-dev). Only headers of those two libraries are put
# on the include path (through links in the build tree), never the host's /usr/include itself,
# whose C library headers are the host's.
set(BITSMITH_HOST_HEADERS ${PROJECT_BINARY_DIR}/host-headers)
file(MAKE_DIRECTORY ${BITSMITH_HOST_HEADERS})
foreach(dir fmt nlohmann)
  if(NOT EXISTS /usr/include/${dir})
    message(FATAL_ERROR "cross build: /usr/include/${dir} missing (scripts/setup.sh installs it)")
  endif()
  file(CREATE_LINK /usr/include/${dir} ${BITSMITH_HOST_HEADERS}/${dir} SYMBOLIC)
endforeach()

add_library(bitsmith_cross_fmt INTERFACE)
target_include_directories(bitsmith_cross_fmt SYSTEM INTERFACE ${BITSMITH_HOST_HEADERS})
target_compile_definitions(bitsmith_cross_fmt INTERFACE FMT_HEADER_ONLY=1)
add_library(fmt::fmt ALIAS bitsmith_cross_fmt)
add_library(bitsmith_cross_json INTERFACE)
target_include_directories(bitsmith_cross_json SYSTEM INTERFACE ${BITSMITH_HOST_HEADERS})
add_library(nlohmann_json::nlohmann_json ALIAS bitsmith_cross_json)

if(BITSMITH_BUILD_TESTS)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  add_subdirectory(/usr/src/googletest ${PROJECT_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
  if(NOT TARGET GTest::gtest_main)  # googletest 1.11+ defines the aliases itself
    add_library(GTest::gtest ALIAS gtest)
    add_library(GTest::gtest_main ALIAS gtest_main)
  endif()
endif()
