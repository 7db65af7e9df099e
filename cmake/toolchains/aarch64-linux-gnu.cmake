# Cross build for 64-bit Arm Linux (scripts/test_cross_aarch64.sh): Debian's
# g++-aarch64-linux-gnu compiles, qemu-user's qemu-aarch64 runs the tests (CTest and the
# GoogleTest discovery go through CMAKE_CROSSCOMPILING_EMULATOR). On this target
# core/cpu_dispatch.h turns dispatch off: every kernel is its portable version.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
