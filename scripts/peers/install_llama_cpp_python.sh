#!/usr/bin/env bash
# Installs the Python binding llama-cpp-python (optional: tests that use it skip when it is
# absent) WITHOUT compiling llama.cpp a second time: the package is built from the same sdist
# that scripts/peers/build_llamacpp.sh built llama.cpp from, with its own CMake build of
# llama.cpp switched off (-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF: the wheel then holds only the
# Python code), and its lib/ folder is pointed at the libraries already built.
#
#   scripts/peers/install_llama_cpp_python.sh          reuse the peers build (fast, seconds)
#   scripts/peers/install_llama_cpp_python.sh --full   plain `pip install llama-cpp-python==V`,
#                                                      which compiles llama.cpp again (minutes)
#
# How the binding finds libllama.so: llama_cpp/llama_cpp.py loads
#   $LLAMA_CPP_LIB_PATH/libllama.so   when that variable is set, else
#   <site-packages>/llama_cpp/lib/libllama.so
# This script symlinks the peers' lib*.so into the latter, so `import llama_cpp` works with no
# variable; exporting LLAMA_CPP_LIB_PATH=$BITSMITH_PEERS_DIR/build/bin does the same.
# Both must come from the same llama.cpp commit (the binding declares the C API by hand).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY=${PYTHON:-python3}
PY_VERSION=${BITSMITH_LLAMA_CPP_PY_VERSION:-0.3.36}
PEERS_DIR=${BITSMITH_PEERS_DIR:-$HOME/.cache/bitsmith/llama.cpp}
BIN_DIR="$PEERS_DIR/build/bin"
SDIST="$PEERS_DIR/sdist/llama_cpp_python-$PY_VERSION.tar.gz"

pip_install() { "$PY" -m pip install "$@" || "$PY" -m pip install --break-system-packages "$@"; }

if [ "${1:-}" = "--full" ]; then
  echo "peers: pip install llama-cpp-python==$PY_VERSION (compiles llama.cpp from source)"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" pip_install "llama-cpp-python==$PY_VERSION"
  exit 0
fi

have=$("$PY" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null || true)
if [ "$have" = "$PY_VERSION" ] && "$PY" -c 'import llama_cpp' >/dev/null 2>&1; then
  echo "peers: llama-cpp-python $have already installed and importable"
  exit 0
fi

bash "$HERE/build_llamacpp.sh" >/dev/null   # no-op when built; builds otherwise
[ -f "$SDIST" ] || { echo "peers: $SDIST missing (build_llamacpp.sh downloads it)" >&2; exit 1; }

echo "peers: installing llama-cpp-python $PY_VERSION from $SDIST without its llama.cpp build"
CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" pip_install --quiet --no-cache-dir "$SDIST"

PKG_DIR=$("$PY" -c 'import importlib.util as u, os; print(os.path.dirname(u.find_spec("llama_cpp").origin))')
mkdir -p "$PKG_DIR/lib"
for so in "$BIN_DIR"/lib*.so*; do
  ln -sf "$so" "$PKG_DIR/lib/$(basename "$so")"
done
"$PY" -c 'import llama_cpp, sys; print("peers: llama_cpp", llama_cpp.__version__, "loads", llama_cpp.llama_cpp._lib._name)'
