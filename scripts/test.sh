#!/usr/bin/env bash
# Builds bitsmith and runs the whole test suite: CTest (unit tests, the oracle tests against
# ml_dtypes, the gguf package and llama.cpp, the CLI tests), then the file parsers under
# AddressSanitizer + UndefinedBehaviorSanitizer, a short libFuzzer run of each reader, and the
# formats and quant tests of a build with SIMD dispatch off (BITSMITH_PORTABLE) and of an aarch64
# cross build run under qemu.
# Installs what is missing first: Debian/PyPI packages (scripts/setup.sh) and the llama.cpp peer
# built from the llama-cpp-python sdist on PyPI (scripts/peers/; a few minutes the first time,
# cached in ~/.cache/bitsmith).
# The Hugging Face loaders (torch CPU, transformers, compressed-tensors) go in a venv cached in
# ~/.cache/bitsmith/venv-hf (scripts/peers/setup_hf_venv.sh: ~5 GB, several minutes the first
# time); if that install fails the run goes on and tests/cli/test_hf_loaders_cli.py skips.
#   BITSMITH_SKIP_PEERS=1     no llama.cpp, no HF venv (their interop/oracle tests skip, saying so)
#   BITSMITH_SKIP_SANITIZE=1  skip the sanitizer and fuzz passes
#   BITSMITH_SKIP_PORTABLE=1  skip the build with SIMD dispatch off (scripts/test_portable.sh)
#   BITSMITH_SKIP_CROSS=1     skip the aarch64 cross build run under qemu (scripts/test_cross_aarch64.sh)
#   BITSMITH_FUZZ_RUNS=N      executions per fuzz target (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"  # see scripts/setup.sh
bash scripts/setup.sh
if [ "${BITSMITH_SKIP_PEERS:-0}" != "1" ]; then
  bash scripts/peers/build_llamacpp.sh
  bash scripts/peers/install_llama_cpp_python.sh
  bash scripts/peers/setup_hf_venv.sh ||
    echo "test: the HF loaders venv could not be set up (tests/cli/test_hf_loaders_cli.py will skip)"
fi
if [ "${BITSMITH_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== parsers under AddressSanitizer + UndefinedBehaviorSanitizer"
  BITSMITH_ASAN_TARGETS="core_tests io_tests" bash scripts/test_sanitize.sh
  echo "== libFuzzer smoke run of the GGUF, safetensors and llama2.c readers"
  bash scripts/fuzz.sh "${BITSMITH_FUZZ_RUNS:-20000}"
fi
if [ "${BITSMITH_SKIP_PORTABLE:-0}" != "1" ]; then
  echo "== portable build (SIMD dispatch off): formats and quant tests on the baseline kernels"
  bash scripts/test_portable.sh
fi
if [ "${BITSMITH_SKIP_CROSS:-0}" != "1" ]; then
  echo "== aarch64 cross build (real non-x86 target): core, formats and quant tests under qemu"
  bash scripts/test_cross_aarch64.sh
fi
echo "== test suite"
BUILD_DIR=${BITSMITH_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
