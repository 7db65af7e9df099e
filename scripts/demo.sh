#!/usr/bin/env bash
# The main job on the default input: how each format stores pi, then the real stories260K model
# (../shared/models) quantized to a GGUF llama.cpp loads, sampled, and scored against the
# unquantized model on WikiText-2. Run scripts/setup.sh first (the Quick start does).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BITSMITH_BIN:-./build/bitsmith}
SHARED=${BITSMITH_SHARED_DIR:-../shared}
MODEL="$SHARED/models/stories260K/stories260K.bin"
TEXT="$SHARED/data/wikitext2_test.txt"
OUT=${BITSMITH_DEMO_DIR:-build/demo}
mkdir -p "$OUT"

echo "== 1. How each format stores pi"
"$BIN" formats --probe 3.141592653589793
if [ ! -f "$MODEL" ]; then
  echo "(stories260K not found at $MODEL: the model part of the demo is skipped)"
  exit 0
fi
echo
echo "== 2. Quantize stories260K to a q8_0 GGUF (llama.cpp loads it; its tokenizer travels inside)"
"$BIN" quantize "$MODEL" "$OUT/stories260K-q8_0.gguf" --scheme q8_0
echo
echo "== 3. Greedy text from the quantized GGUF"
"$BIN" generate "$OUT/stories260K-q8_0.gguf" --max-tokens 48
echo
echo "== 4. What each scheme costs on WikiText-2 (first 200 chunks of 256 tokens)"
"$BIN" compare "$MODEL" --text "$TEXT" --ctx 256 --max-chunks 200 \
  --schemes q8_0,fp8_e4m3,q4_0,nvfp4,mxfp4,int4_g32
