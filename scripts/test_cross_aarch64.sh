#!/usr/bin/env bash
# A real non-x86 build: core, formats and quant (every kernel that dispatches by CPU lives there
# but GPTQ's and infer's) cross-compiled for 64-bit Arm Linux with Debian's g++-aarch64-linux-gnu,
# and their tests run under qemu-aarch64: the portable kernels must give the bytes of the scalar
# reference and of the stored digests (tests/quant/scheme_digests.txt) on another architecture
# too, and the project must configure and build there with no x86 assumption.
# In build-aarch64/ (cmake/toolchains/aarch64-linux-gnu.cmake, cmake/cross_deps.cmake).
#   scripts/test_cross_aarch64.sh        (scripts/setup.sh installs the cross compiler and qemu)
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
BUILD=${BITSMITH_CROSS_BUILD_DIR:-build-aarch64}
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "test_cross_aarch64: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
    -DBITSMITH_MODULES="core;formats;quant" -DBITSMITH_BUILD_TOOLS=OFF -DBITSMITH_BUILD_BENCH=OFF \
    -DBITSMITH_INSTALL=OFF >/dev/null
fi
ninja -C "$BUILD" -j "${BITSMITH_JOBS:-$(nproc)}" core_tests formats_tests quant_tests
# The binaries really are Arm ones (not a host build by mistake).
file "$BUILD/tests/quant_tests" | grep -q "ARM aarch64" ||
  { echo "test_cross_aarch64: $BUILD/tests/quant_tests is not an aarch64 binary" >&2; exit 1; }
for t in core_tests formats_tests quant_tests; do
  echo "== $t (aarch64, qemu)"
  qemu-aarch64 -L /usr/aarch64-linux-gnu "$BUILD/tests/$t" --gtest_brief=1 "$@"
done
