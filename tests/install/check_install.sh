#!/usr/bin/env bash
# cmake --install of this build into a temporary prefix, then tests/install/consumer configured,
# built and run against it: find_package(bitsmith), namespaced targets, the version file (a
# version the install does not satisfy must be refused), and the installed CLI.
#   check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/lib/cmake/bitsmith/bitsmithConfig.cmake"
test -f "$prefix/lib/cmake/bitsmith/bitsmithConfigVersion.cmake"
test -f "$prefix/include/bitsmith/quant/scheme.h"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# The consumer sees the installed tree only (no source include paths).
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/consumer" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
"$tmp/consumer/consumer"
if cmake -S "$src/tests/install/consumer" -B "$tmp/consumer_v9" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DBITSMITH_WANTED_VERSION=9.0 >"$tmp/v9.log" 2>&1; then
  echo "check_install: find_package(bitsmith 9.0) was accepted by an install of $(grep -o 'PACKAGE_VERSION "[^"]*"' "$prefix/lib/cmake/bitsmith/bitsmithConfigVersion.cmake")"
  exit 1
fi
grep -q "version" "$tmp/v9.log"
"$prefix/bin/bitsmith" schemes --json >/dev/null
echo "check_install: ok (installed to a temporary prefix; consumer built and ran; version 9.0 refused)"
