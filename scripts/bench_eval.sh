#!/usr/bin/env bash
# Prefill speed of `bitsmith eval` against llama.cpp's llama-perplexity on the same F32 GGUF,
# both with the same thread count, side by side; plus peak memory (GNU time's max RSS).
#
# The model: a synthetic llama2.c checkpoint of ~117M parameters (dim 896, hidden 2432,
# 12 layers, 14 heads of 64, random weights, seed 0) that uses stories260K's 512-token
# vocabulary, so both tools tokenize wikitext2 identically; bitsmith converts it to an F32 GGUF.
# The perplexity it scores is meaningless; the speed is not.
#
#   scripts/bench_eval.sh [CHUNKS] [THREADS]     (default 8 chunks of 512 tokens, 2 threads)
# Environment: BITSMITH_BUILD_DIR (default build), BITSMITH_BENCH_DIR (default ~/.cache/bitsmith/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
CHUNKS=${1:-8}
THREADS=${2:-2}
CTX=512
BUILD=${BITSMITH_BUILD_DIR:-build}
DIR=${BITSMITH_BENCH_DIR:-$HOME/.cache/bitsmith/bench}
SHARED=${BITSMITH_SHARED_DIR:-$(pwd)/../shared}
TEXT=$SHARED/data/wikitext2_test.txt
TOK=$SHARED/models/stories260K/tok512.bin
mkdir -p "$DIR"
eval "$(bash scripts/peers/build_llamacpp.sh --env)"

BIN=$DIR/synth117m.bin
GGUF=$DIR/synth117m-f32.gguf
if [ ! -f "$GGUF" ]; then
  python3 - "$BIN" <<'PY'
import struct, sys
import numpy as np
dim, hidden, layers, heads, kv_heads, vocab, seq = 896, 2432, 12, 14, 14, 512, 1024
rng = np.random.default_rng(0)
hd = dim // heads
def w(*shape, fan_in):
    return (rng.standard_normal(shape, dtype=np.float32) / np.sqrt(fan_in)).astype(np.float32)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab, seq))
    parts = [w(vocab, dim, fan_in=dim), np.ones((layers, dim), np.float32),
             w(layers, dim, dim, fan_in=dim), w(layers, dim, dim, fan_in=dim),
             w(layers, dim, dim, fan_in=dim), w(layers, dim, dim, fan_in=dim),
             np.ones((layers, dim), np.float32), w(layers, hidden, dim, fan_in=dim),
             w(layers, dim, hidden, fan_in=hidden), w(layers, hidden, dim, fan_in=dim),
             np.ones(dim, np.float32), np.zeros((2, seq, hd // 2), np.float32)]
    for p in parts:
        f.write(np.ascontiguousarray(p, dtype="<f4").tobytes())
PY
  "$BUILD/bitsmith" quantize "$BIN" "$GGUF" --tokenizer "$TOK" --scheme f32 >/dev/null
  rm -f "$BIN"
fi
BYTES=$(stat -c %s "$GGUF")
echo "model: $GGUF ($BYTES bytes), ctx $CTX, $CHUNKS chunks, $THREADS threads"

rss() { grep "Maximum resident" "$1" | awk '{print $6}'; }

# llama.cpp: tokens/s = chunks x ctx over the time between its log lines "calculating
# perplexity" and "Final estimate" (log timestamps are minutes.seconds.milliseconds.microseconds),
# so model loading and tokenization count for neither tool.
LLAMA_LOG=$DIR/llama.log
LD_LIBRARY_PATH=$LLAMA_CPP_LIB_PATH /usr/bin/time -v "$LLAMA_CPP_BIN/llama-perplexity" -m "$GGUF" \
  -f "$TEXT" -c $CTX -b $CTX -t "$THREADS" --chunks "$CHUNKS" >"$LLAMA_LOG" 2>&1
LLAMA_TPS=$(python3 - "$LLAMA_LOG" $((CHUNKS * CTX)) <<'PY'
import re, sys
def t(line):
    m, s, ms, us = map(int, line.split()[0].split("."))
    return m * 60 + s + ms / 1e3 + us / 1e6
lines = open(sys.argv[1], errors="replace").read().splitlines()
start = next(t(l) for l in lines if "calculating perplexity" in l)
end = next(t(l) for l in lines if "Final estimate" in l)
print(round(int(sys.argv[2]) / (end - start), 1))
PY
)
LLAMA_PPL=$(grep "Final estimate" "$LLAMA_LOG" | sed -E 's/.*PPL = ([0-9.]+).*/\1/')
LLAMA_RSS=$(rss "$LLAMA_LOG")

BS_LOG=$DIR/bitsmith.log
/usr/bin/time -v "$BUILD/bitsmith" eval "$GGUF" --text "$TEXT" --ctx $CTX --threads "$THREADS" \
  --max-chunks "$CHUNKS" --json >"$BS_LOG" 2>"$BS_LOG.time"
BS_TPS=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['tokens_per_second'],1))" "$BS_LOG")
BS_PPL=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['perplexity'],4))" "$BS_LOG")
BS_RSS=$(rss "$BS_LOG.time")

KV=$(( 2 * 12 * CTX * 896 * 4 ))
printf "%-10s %12s %12s %14s %12s\n" tool tokens/s perplexity "peak RSS KiB" "RSS/model"
calc() { python3 -c "print(f'{$1:.3f}')"; }
printf "%-10s %12s %12s %14s %12s\n" llama.cpp "$LLAMA_TPS" "$LLAMA_PPL" "$LLAMA_RSS" "$(calc "$LLAMA_RSS*1024/$BYTES")"
printf "%-10s %12s %12s %14s %12s\n" bitsmith "$BS_TPS" "$BS_PPL" "$BS_RSS" "$(calc "$BS_RSS*1024/$BYTES")"
echo "speed ratio bitsmith/llama.cpp: $(calc "$BS_TPS/$LLAMA_TPS"); KV cache (f32) $KV bytes"
