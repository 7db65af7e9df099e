#!/usr/bin/env bash
# Builds bitsmith and runs the whole test suite (unit tests, oracle tests against ml_dtypes and
# the gguf package, CLI tests) with CTest. Installs missing dependencies first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BITSMITH_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
