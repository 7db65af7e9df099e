#!/usr/bin/env bash
# llama.cpp's llama-imatrix and bitsmith on the same model and tokens: stories260K converted to
# an F32 GGUF by bitsmith, 8 chunks of 128 tokens of tinyshakespeare (tokenized by llama-tokenize),
# llama-imatrix --output-format dat; bitsmith must read that file and find the values of its own
# imatrix (algo_oracle_dump imatrix). Exit 77 (skipped) without ~/.cache/bitsmith/llama.cpp.
# Usage: llama_imatrix_check.sh BITSMITH ALGO_ORACLE_DUMP SHARED_DIR WORK_DIR
set -euo pipefail
BS=$1 DUMP=$2 SHARED=$3 W=$4
L=${LLAMA_CPP_BIN:-$HOME/.cache/bitsmith/llama.cpp/build/bin}
if [ ! -x "$L/llama-imatrix" ] || [ ! -x "$L/llama-tokenize" ]; then
  echo "SKIP: no llama-imatrix in $L"
  exit 77
fi
export LD_LIBRARY_PATH=$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
mkdir -p "$W"
"$BS" quantize "$SHARED/models/stories260K/stories260K.bin" "$W/s260.gguf" --scheme f32 > /dev/null
head -c 20000 "$SHARED/data/tinyshakespeare.txt" > "$W/text.txt"
"$L/llama-tokenize" -m "$W/s260.gguf" -f "$W/text.txt" --ids --log-disable 2> /dev/null > "$W/ids.txt"
"$L/llama-imatrix" -m "$W/s260.gguf" -f "$W/text.txt" -c 128 --chunks 8 --no-ppl -t 2 \
    --output-format dat -o "$W/llama.dat" > "$W/llama-imatrix.log" 2>&1
"$DUMP" imatrix "$W/s260.gguf" "$W/ids.txt" 128 8 "$W/llama.dat"
