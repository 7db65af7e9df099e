#!/usr/bin/env bash
# Whole-model quantization throughput and peak memory on a synthetic F32 checkpoint, bitsmith
# side by side with llama.cpp's llama-quantize (when scripts/peers/build_llamacpp.sh built it).
#   scripts/bench_quantize.sh [SIZE] [TYPES]      default 2.2GB (9 layers: 2.11 GB), "q8_0 q4_0 q4_k_m"
# Env: BITSMITH_BIN (default build/bitsmith), BENCH_DIR (default /tmp/bitsmith-bench), THREADS (2).
# Prints one line per run: tool, type, input GB/s (float32 input bytes / wall seconds), peak RSS
# (/usr/bin/time -v "Maximum resident set size"), output bytes; and the RSS bound the issue sets:
# output size + 2 x largest tensor + 100 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-2.2GB}
TYPES=${2:-"q8_0 q4_0 q4_k_m"}
BIN=${BITSMITH_BIN:-build/bitsmith}
DIR=${BENCH_DIR:-/tmp/bitsmith-bench}
THREADS=${THREADS:-2}
mkdir -p "$DIR"
SRC="$DIR/synth-$SIZE-f32.gguf"
if [ ! -f "$SRC" ]; then
  # TinyLlama-like widths; --size picks the layer count.
  "$BIN" synth "$SRC" --size "$SIZE" --dim 2048 --hidden 5632 --heads 32 --kv-heads 4 --vocab 32000
fi
IN_BYTES=$(stat -c %s "$SRC")
LARGEST=$("$BIN" inspect "$SRC" --json | python3 -c "import json,sys; print(max(t['bytes'] for t in json.load(sys.stdin)['tensors']))")
echo "bench: input $SRC ($IN_BYTES bytes), largest tensor $LARGEST bytes, $THREADS threads, $(nproc) cores"
LLAMA_QUANTIZE=""
if bash scripts/peers/build_llamacpp.sh --print >/dev/null 2>&1; then
  eval "$(bash scripts/peers/build_llamacpp.sh --env)"
  LLAMA_QUANTIZE="$LLAMA_CPP_BIN/llama-quantize"
fi

measure() {  # tool type out cmd...
  local tool=$1 type=$2 out=$3; shift 3
  rm -f "$out"
  sync
  local log="$DIR/time-$tool-$type.log"
  /usr/bin/time -v "$@" >"$DIR/out-$tool-$type.log" 2>"$log"
  local wall rss bytes
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
  bytes=$(stat -c %s "$out")
  python3 - "$tool" "$type" "$wall" "$rss" "$bytes" "$IN_BYTES" "$LARGEST" <<'PY'
import sys
tool, typ, wall, rss_kb, out, inp, largest = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
bound = out + 2 * largest + 100e6
print(f"bench: {tool:15s} {typ:7s} {inp / wall / 1e9:6.3f} GB/s  {wall:7.1f} s  peak RSS {rss_kb * 1024 / 1e6:8.1f} MB"
      f"  output {out / 1e6:8.1f} MB  bound {bound / 1e6:8.1f} MB  {'ok' if rss_kb * 1024 <= bound else 'OVER'}")
PY
}

for t in $TYPES; do
  measure bitsmith "$t" "$DIR/bitsmith-$t.gguf" "$BIN" quantize "$SRC" "$DIR/bitsmith-$t.gguf" --scheme "$t" --threads "$THREADS"
  if [ -n "$LLAMA_QUANTIZE" ]; then
    measure llama-quantize "$t" "$DIR/llama-$t.gguf" "$LLAMA_QUANTIZE" "$SRC" "$DIR/llama-$t.gguf" "$(echo "$t" | tr a-z A-Z)" "$THREADS"
    # Same mix and same bytes? (gguf package reads both; metadata differs and is not compared.)
    python3 - "$DIR/bitsmith-$t.gguf" "$DIR/llama-$t.gguf" "$t" <<'PY' || true
import sys, collections
import numpy as np, gguf
a, b = gguf.GGUFReader(sys.argv[1]), gguf.GGUFReader(sys.argv[2])
tb = {x.name: x for x in b.tensors}
same, types, n = collections.Counter(), collections.Counter(), 0
for x in a.tensors:
    y = tb.get(x.name)
    n += y is not None and y.tensor_type == x.tensor_type
    types[x.tensor_type.name] += 1
    same[x.tensor_type.name] += y is not None and np.asarray(x.data).tobytes() == np.asarray(y.data).tobytes()
print(f"bench: {sys.argv[3]}: same type as llama-quantize {n}/{len(a.tensors)} tensors; byte-identical "
      + ", ".join(f"{k} {same[k]}/{types[k]}" for k in sorted(types)))
PY
  fi
done
