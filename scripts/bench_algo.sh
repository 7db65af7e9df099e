#!/usr/bin/env bash
# Quality table of the quantization methods on stories260K: calibrate on tinyshakespeare,
# evaluate on wikitext2 (llama.cpp perplexity convention, first N chunks of 512), KL divergence
# and top-1 agreement against the float model. Prints one markdown row per scheme x method with
# the wall time and peak memory of `bitsmith quantize`.
# Usage: scripts/bench_algo.sh [BUILD_DIR] [EVAL_CHUNKS]
set -euo pipefail
B=${1:-build-algo}/bitsmith
CHUNKS=${2:-100}
SHARED=${BITSMITH_SHARED_DIR:-$(dirname "$0")/../../shared}
M=$SHARED/models/stories260K/stories260K.bin
CAL=$SHARED/data/tinyshakespeare.txt
EV=$SHARED/data/wikitext2_test.txt
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$B" imatrix "$M" --text "$CAL" -o "$T/im.dat" > /dev/null
echo "| scheme | method | ppl | KLD | top-1 | quantize s | peak MB |"
echo "|---|---|---|---|---|---|---|"
row() {  # scheme method out
  local s=$1 m=$2 out=$3 extra=()
  [ "$m" = imatrix ] && extra=(--imatrix "$T/im.dat")
  /usr/bin/time -f "%e %M" -o "$T/time" "$B" quantize "$M" "$out" --scheme "$s" --method "$m" \
      --calib "$CAL" "${extra[@]}" > /dev/null
  read -r secs kb < "$T/time"
  "$B" eval "$out" --text "$EV" --ref "$M" --max-chunks "$CHUNKS" --json | python3 -c "
import json,sys; j=json.load(sys.stdin)
print(f\"| $s | $m | {j['perplexity']:.2f} | {j['kld']:.4f} | {100*j['top1_agreement']:.1f}% | $secs | $((kb / 1024)) |\")"
}
ref=$("$B" eval "$M" --text "$EV" --max-chunks "$CHUNKS" --json | python3 -c "import json,sys; print(round(json.load(sys.stdin)['perplexity'],2))")
echo "| f32 | - | $ref | 0 | 100% | - | - |"
for s in int4_g32 int4_g64 int3_g32 int3_g64 nvfp4 mxfp4 q4_0; do
  ext=safetensors
  [ "$s" = q4_0 ] && ext=gguf
  for m in rtn gptq awq imatrix hqq; do
    case "$s:$m" in nvfp4:hqq|mxfp4:hqq|q4_0:hqq) continue ;; esac
    row "$s" "$m" "$T/$s-$m.$ext"
  done
done
