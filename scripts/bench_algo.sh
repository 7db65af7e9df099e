#!/usr/bin/env bash
# Quality table of the quantization methods: calibrate on tinyshakespeare, evaluate on wikitext2
# (llama.cpp perplexity convention, first N chunks of 512), KL divergence and top-1 agreement
# against the unquantized model. Prints one markdown row per scheme x method with the wall time
# and peak memory of `bitsmith quantize` (/usr/bin/time). With SPEED=1, first GPTQ on one layer
# against the numpy reference (tests/oracles/gptq_reference.py --bench) and the Google Benchmark
# figures of bench/algo_bench.cc.
# Usage: scripts/bench_algo.sh [BUILD_DIR] [EVAL_CHUNKS]
# Environment: MODEL (default stories260K), CALIB_SAMPLES (128), CALIB_SEQLEN (512),
#   SCHEMES (default: stories260K's list), METHODS (rtn gptq awq imatrix hqq), SPEED (0).
set -euo pipefail
BD=${1:-build-algo}
B=$BD/bitsmith
CHUNKS=${2:-100}
SHARED=${BITSMITH_SHARED_DIR:-$(dirname "$0")/../../shared}
M=${MODEL:-$SHARED/models/stories260K/stories260K.bin}
CAL=$SHARED/data/tinyshakespeare.txt
EV=$SHARED/data/wikitext2_test.txt
NS=${CALIB_SAMPLES:-128}
SL=${CALIB_SEQLEN:-512}
SCHEMES=${SCHEMES:-int4_g32 int4_g64 int3_g32 int3_g64 nvfp4 mxfp4 q4_0}
METHODS=${METHODS:-rtn gptq awq imatrix hqq}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ "${SPEED:-0}" = 1 ]; then
  for size in 1024 2048; do  # gptq_dump builds H with a plain triple loop: 4096 takes minutes
    python3 "$(dirname "$0")/../tests/oracles/gptq_reference.py" --bench "$BD/tests/gptq_dump" "$T/gq$size" $size $size
  done
  "$BD/bench/algo_bench" --benchmark_min_time=0.2
fi
"$B" imatrix "$M" --text "$CAL" --calib-samples "$NS" --calib-seqlen "$SL" -o "$T/im.dat" > /dev/null
echo "| scheme | method | ppl | KLD | top-1 | quantize s | peak MB |"
echo "|---|---|---|---|---|---|---|"
row() {  # scheme method out
  local s=$1 m=$2 out=$3 extra=()
  [ "$m" = imatrix ] && extra=(--imatrix "$T/im.dat")
  /usr/bin/time -f "%e %M" -o "$T/time" "$B" quantize "$M" "$out" --scheme "$s" --method "$m" \
      --calib "$CAL" --calib-samples "$NS" --calib-seqlen "$SL" "${extra[@]}" > /dev/null
  read -r secs kb < "$T/time"
  "$B" eval "$out" --text "$EV" --ref "$M" --max-chunks "$CHUNKS" --json | python3 -c "
import json,sys; j=json.load(sys.stdin)
print(f\"| $s | $m | {j['perplexity']:.2f} | {j['kld']:.4f} | {100*j['top1_agreement']:.1f}% | $secs | $((kb / 1024)) |\")"
  rm -f "$out"
}
ref=$("$B" eval "$M" --text "$EV" --max-chunks "$CHUNKS" --json | python3 -c "import json,sys; print(round(json.load(sys.stdin)['perplexity'],2))")
echo "| f32 | - | $ref | 0 | 100% | - | - |"
for s in $SCHEMES; do
  ext=safetensors
  case "$s" in q4_0|q4_k|q*_k|iq4_nl) ext=gguf ;; esac
  for m in $METHODS; do
    case "$s:$m" in nvfp4:hqq|mxfp4:hqq|q4_0:hqq|q4_k:hqq) continue ;; esac
    row "$s" "$m" "$T/$s-$m.$ext"
  done
done
