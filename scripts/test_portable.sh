#!/usr/bin/env bash
# Builds the kernels' modules with SIMD dispatch off (-DBITSMITH_PORTABLE=ON: every kernel
# compiled once for the baseline CPU, as on a non-x86 target; include/bitsmith/core/cpu_dispatch.h)
# in build-portable and runs their tests: the scalar paths must give the bytes of the reference
# and of the stored digests (tests/quant/scheme_digests.txt) just as the dispatched ones do.
# Only formats and quant (where every dispatched kernel lives but GPTQ's and infer's), to keep
# CI's cost small: a few minutes.
#   scripts/test_portable.sh
#   BITSMITH_PORTABLE_TARGETS="formats_tests quant_tests io_tests" scripts/test_portable.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BITSMITH_PORTABLE_BUILD_DIR:-build-portable}
TARGETS=${BITSMITH_PORTABLE_TARGETS:-formats_tests quant_tests}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBITSMITH_PORTABLE=ON \
    -DBITSMITH_BUILD_BENCH=OFF -DBITSMITH_INSTALL=OFF >/dev/null
fi
ninja -C "$BUILD" -j "${BITSMITH_JOBS:-$(nproc)}" $TARGETS
for t in $TARGETS; do
  "$BUILD/tests/$t" --gtest_brief=1 "$@"
done
