#!/usr/bin/env bash
# Builds llama.cpp (the peer and oracle bitsmith is compared against) from the source that the
# llama-cpp-python sdist on PyPI carries under vendor/llama.cpp. Nothing lands in the repo.
#
#   scripts/peers/build_llamacpp.sh            fetch + build (exits at once when already built)
#   scripts/peers/build_llamacpp.sh --print    print where things are (and whether built); no work
#   scripts/peers/build_llamacpp.sh --env      print shell exports (eval "$(... --env)")
#
# Environment:
#   BITSMITH_PEERS_DIR            where everything lands (default ~/.cache/bitsmith/llama.cpp)
#   BITSMITH_LLAMA_CPP_PY_VERSION the llama-cpp-python sdist to take llama.cpp from (default pinned below)
#   BITSMITH_PEERS_JOBS           parallel build jobs (default 2)
#
# Layout under $BITSMITH_PEERS_DIR:
#   sdist/llama_cpp_python-<v>.tar.gz   the sdist as downloaded from PyPI
#   src/llama_cpp_python-<v>/           the extracted sdist; llama.cpp is vendor/llama.cpp inside it
#   build/bin/                          llama-quantize, llama-perplexity, ... and libggml*.so, libllama.so
#   build-info.txt                      versions, commit, options, build time (also printed)
set -euo pipefail

PY_VERSION=${BITSMITH_LLAMA_CPP_PY_VERSION:-0.3.36}
# sha256 of the pinned sdist (PyPI files never change); other versions are not checked.
PINNED_SHA256_0_3_36=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
PEERS_DIR=${BITSMITH_PEERS_DIR:-$HOME/.cache/bitsmith/llama.cpp}
JOBS=${BITSMITH_PEERS_JOBS:-2}
PY=${PYTHON:-python3}

SDIST_DIR="$PEERS_DIR/sdist"
SRC_ROOT="$PEERS_DIR/src/llama_cpp_python-$PY_VERSION"
LLAMA_SRC="$SRC_ROOT/vendor/llama.cpp"
BUILD_DIR="$PEERS_DIR/build"
BIN_DIR="$BUILD_DIR/bin"
INFO="$PEERS_DIR/build-info.txt"

# What we build: only these targets (the server, its web UI and the tests are skipped: they
# take most of the build time on 2 cores and nothing here needs them).
TARGETS=(ggml-base ggml-cpu ggml llama llama-quantize llama-perplexity llama-imatrix
  llama-simple llama-completion llama-tokenize llama-gguf)
# Files that must exist for the build to count as done.
REQUIRED=(libggml-base.so libggml.so libggml-cpu.so libllama.so llama-quantize llama-perplexity
  llama-imatrix llama-simple llama-completion llama-tokenize llama-gguf)

CMAKE_OPTS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=ON
  # Not -march=native: it compiles ggml's AMX kernels on CPUs that advertise AMX, and a virtual
  # machine that does not grant the AMX tile state kills them with SIGILL (seen here: tilezero in
  # tinygemm_kernel_amx). A fixed x86-64-v3 set (AVX2, FMA, F16C, BMI2) runs on every machine
  # this project runs on.
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
  -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
  -DGGML_CPU=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENCL=OFF
  -DGGML_BLAS=OFF -DGGML_RPC=OFF -DGGML_BACKEND_DL=OFF
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_EXAMPLES=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
)

built() {
  local f
  for f in "${REQUIRED[@]}"; do [ -e "$BIN_DIR/$f" ] || return 1; done
  [ -f "$INFO" ] && grep -q "^llama_cpp_python_version: $PY_VERSION$" "$INFO" &&
    grep -qxF "cmake_options: ${CMAKE_OPTS[*]}" "$INFO"  # built with other options: build again
}

print_paths() {
  echo "peers: llama.cpp dir      $PEERS_DIR"
  echo "peers: llama.cpp source   $LLAMA_SRC"
  echo "peers: binaries and libs  $BIN_DIR"
  local f
  for f in "${REQUIRED[@]}"; do
    if [ -e "$BIN_DIR/$f" ]; then echo "peers:   $BIN_DIR/$f"; else echo "peers:   (missing) $BIN_DIR/$f"; fi
  done
  [ -f "$INFO" ] && sed 's/^/peers: /' "$INFO"
  return 0
}

case "${1:-}" in
  --print) print_paths; built; exit $? ;;
  --env)
    echo "export BITSMITH_PEERS_DIR='$PEERS_DIR'"
    echo "export LLAMA_CPP_BIN='$BIN_DIR'"
    echo "export LLAMA_CPP_LIB_PATH='$BIN_DIR'"
    exit 0 ;;
  "") ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac

if built; then
  echo "peers: llama.cpp already built (delete $INFO to force a rebuild)"
  print_paths
  exit 0
fi

mkdir -p "$PEERS_DIR"
# One builder at a time: other engineers share this machine and this cache.
exec 9>"$PEERS_DIR/.lock"
if ! flock -n 9; then
  echo "peers: another build holds $PEERS_DIR/.lock; waiting for it"
  flock 9
  if built; then print_paths; exit 0; fi
fi

# 1. The sdist (pinned version), downloaded once with pip's ordinary client.
SDIST="$SDIST_DIR/llama_cpp_python-$PY_VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
  mkdir -p "$SDIST_DIR"
  echo "peers: downloading llama-cpp-python==$PY_VERSION sdist from PyPI"
  # (pip prepares the sdist's metadata, which fetches scikit-build-core into a temporary env)
  "$PY" -m pip download --quiet --no-deps --no-binary :all: \
    "llama-cpp-python==$PY_VERSION" -d "$SDIST_DIR"
fi
[ -f "$SDIST" ] || { echo "peers: sdist not found at $SDIST" >&2; exit 1; }
if [ "$PY_VERSION" = 0.3.36 ]; then
  got=$(sha256sum "$SDIST" | cut -d' ' -f1)
  if [ "$got" != "$PINNED_SHA256_0_3_36" ]; then
    echo "peers: $SDIST has sha256 $got, expected $PINNED_SHA256_0_3_36; delete it and retry" >&2
    exit 1
  fi
fi

# 2. Extract it (whole: vendor/llama.cpp/.git points into the sdist's .git/modules).
if [ ! -f "$LLAMA_SRC/CMakeLists.txt" ]; then
  echo "peers: extracting $SDIST"
  rm -rf "$SRC_ROOT.tmp" && mkdir -p "$SRC_ROOT.tmp"
  tar xzf "$SDIST" -C "$SRC_ROOT.tmp"
  rm -rf "$SRC_ROOT" && mv "$SRC_ROOT.tmp/llama_cpp_python-$PY_VERSION" "$SRC_ROOT"
  rm -rf "$SRC_ROOT.tmp"
fi

# 3. Versions: the commit is in the sdist's git metadata; ggml's version in its CMakeLists.
COMMIT=$(git -C "$LLAMA_SRC" rev-parse HEAD 2>/dev/null || echo unknown)
COMMIT_DATE=$(git -C "$LLAMA_SRC" log -1 --format=%cI 2>/dev/null || echo unknown)
GGML_VERSION=$(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' \
  "$LLAMA_SRC/ggml/CMakeLists.txt" | paste -sd. -)
echo "peers: llama-cpp-python $PY_VERSION, llama.cpp commit $COMMIT ($COMMIT_DATE), ggml $GGML_VERSION"

# 4. Configure and build.
GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
# Configured every time: options changed since the last build reconfigure it (incrementally).
cmake -S "$LLAMA_SRC" -B "$BUILD_DIR" "${GEN[@]}" "${CMAKE_OPTS[@]}" > /dev/null
start=$(date +%s)
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}"
end=$(date +%s)

for f in "${REQUIRED[@]}"; do
  [ -e "$BIN_DIR/$f" ] || { echo "peers: build finished but $BIN_DIR/$f is missing" >&2; exit 1; }
done

BUILD_INFO=$("$BIN_DIR/llama-completion" --version 2>&1 | grep -E "^(version|built with)" | paste -sd';' - || true)
{
  echo "llama_cpp_python_version: $PY_VERSION"
  echo "llama_cpp_commit: $COMMIT"
  echo "llama_cpp_commit_date: $COMMIT_DATE"
  echo "ggml_version: $GGML_VERSION"
  echo "llama_cpp_build_info: $BUILD_INFO"
  echo "compiler: $(${CXX:-c++} --version | head -1)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cmake_options: ${CMAKE_OPTS[*]}"
  echo "build_seconds: $((end - start)) (jobs $JOBS)"
  echo "built_at: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$INFO"

echo "peers: built llama.cpp in $((end - start)) s"
print_paths
