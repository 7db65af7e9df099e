#!/usr/bin/env bash
# Builds bitsmith and runs the whole test suite: CTest (unit tests, the oracle tests against
# ml_dtypes, the gguf package and llama.cpp, the CLI tests), then the file parsers under
# AddressSanitizer + UndefinedBehaviorSanitizer and a short libFuzzer run of each reader.
# Installs what is missing first: Debian/PyPI packages (scripts/setup.sh) and the llama.cpp peer
# built from the llama-cpp-python sdist on PyPI (scripts/peers/; a few minutes the first time,
# cached in ~/.cache/bitsmith).
#   BITSMITH_SKIP_PEERS=1     do not build llama.cpp (its interop/oracle tests then skip, saying so)
#   BITSMITH_SKIP_SANITIZE=1  skip the sanitizer and fuzz passes
#   BITSMITH_FUZZ_RUNS=N      executions per fuzz target (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${BITSMITH_SKIP_PEERS:-0}" != "1" ]; then
  bash scripts/peers/build_llamacpp.sh
  bash scripts/peers/install_llama_cpp_python.sh
fi
if [ "${BITSMITH_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== parsers under AddressSanitizer + UndefinedBehaviorSanitizer"
  BITSMITH_ASAN_TARGETS="core_tests io_tests" bash scripts/test_sanitize.sh
  echo "== libFuzzer smoke run of the GGUF, safetensors and llama2.c readers"
  bash scripts/fuzz.sh "${BITSMITH_FUZZ_RUNS:-20000}"
fi
echo "== test suite"
BUILD_DIR=${BITSMITH_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
