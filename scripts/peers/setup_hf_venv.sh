#!/usr/bin/env bash
# Creates (once) the Python environment of the Hugging Face loaders that read bitsmith's
# safetensors outputs in tests/cli/test_hf_loaders_cli.py: torch (run on the CPU), transformers,
# compressed-tensors (what vLLM and transformers use for quantized checkpoints), safetensors,
# tokenizers, numpy, ml_dtypes. Optional: the tests skip, saying so, when it is absent.
#
#   scripts/peers/setup_hf_venv.sh          create or reuse ~/.cache/bitsmith/venv-hf
#   BITSMITH_HF_VENV=DIR                    another location (the tests read the same variable)
#
# Only PyPI is reachable, and PyPI has no CPU-only torch for Linux x86_64: the torch wheel
# requires NVIDIA's CUDA runtime packages (cuda-toolkit, nvidia-cudnn, nccl, ...), and
# `import torch` fails without them (libcufile.so.0 missing) even on a CPU-only machine.
# So they are installed too (about 5 GB in the venv, a few minutes once); nothing uses a GPU.
# The venv is isolated from the system site-packages. Idempotent: when the pinned versions
# are already importable it exits at once.
set -euo pipefail
VENV=${BITSMITH_HF_VENV:-$HOME/.cache/bitsmith/venv-hf}
PY_BASE=${PYTHON:-python3}
PKGS=(torch==2.11.0 transformers==5.24.0 compressed-tensors==0.20.0 safetensors numpy
  tokenizers ml_dtypes)

check() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import importlib.metadata as m, torch, transformers, compressed_tensors, safetensors, numpy, tokenizers, ml_dtypes
assert m.version("torch") == "2.11.0" and m.version("transformers") == "5.24.0"
assert m.version("compressed-tensors") == "0.20.0"
PY
}

if check; then
  echo "peers: HF venv ready at $VENV"
  exit 0
fi
start=$(date +%s)
echo "peers: creating the HF venv at $VENV (torch CPU use + CUDA runtime wheels, transformers, compressed-tensors; a few minutes once)"
mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PY_BASE" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PKGS[@]}"
if ! check; then
  echo "peers: the HF venv at $VENV does not import torch/transformers/compressed-tensors" >&2
  exit 1
fi
echo "peers: HF venv ready at $VENV ($(du -sh "$VENV" | cut -f1), $(( $(date +%s) - start )) s)"
