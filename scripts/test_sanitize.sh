#!/usr/bin/env bash
# Builds the io module and its tests with AddressSanitizer + UndefinedBehaviorSanitizer in
# build-asan and runs them (the broken-file corpus included). Extra arguments go to ctest.
#   scripts/test_sanitize.sh                 io tests
#   BITSMITH_ASAN_TARGETS="io_tests core_tests" scripts/test_sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BITSMITH_ASAN_BUILD_DIR:-build-asan}
TARGETS=${BITSMITH_ASAN_TARGETS:-io_tests}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBITSMITH_SANITIZE=ON \
    -DBITSMITH_BUILD_BENCH=OFF >/dev/null
fi
ninja -C "$BUILD" -j "${BITSMITH_JOBS:-2}" $TARGETS
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in $TARGETS; do
  "$BUILD/tests/$t" "$@"
done
