#!/usr/bin/env bash
# QAT against RTN and GPTQ (docs/calibration.md, "QAT"): for each scheme, quantize stories260K
# with rtn, gptq and qat --distill, calibrating/training on Tiny Shakespeare, and score each on
# WikiText-2 (a text none of them saw) against the float model, the settings of calibration.md's
# RTN/GPTQ table. Prints one markdown row per scheme x method with the wall time of `quantize`.
# Usage: scripts/bench_qat.sh BUILD_DIR [CHUNKS]; env: SCHEMES, STEPS, LR, BATCH, NS, SL, QNS, QSL.
set -euo pipefail
BD=${1:?build dir}
CHUNKS=${2:-100}
B=$BD/tools/bitsmith/bitsmith
[ -x "$B" ] || B=$BD/bitsmith
SH=$(cd "$(dirname "$0")/../.." && pwd)/shared
M=${MODEL:-$SH/models/stories260K/stories260K.bin}
CAL=$SH/data/tinyshakespeare.txt
EV=$SH/data/wikitext2_test.txt
NS=${NS:-128} SL=${SL:-512}          # GPTQ's calibration
QNS=${QNS:-$NS} QSL=${QSL:-$SL}      # QAT's training segments
STEPS=${STEPS:-100} LR=${LR:-3e-4} BATCH=${BATCH:-4}  # quantize --method qat's defaults
METHODS=${METHODS:-rtn gptq qat}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo "| scheme | method | ppl | KLD | top-1 | quantize s |"
echo "|---|---|---|---|---|---|"
for s in ${SCHEMES:-int3_g32 int4_g32 nvfp4 q4_0}; do
  ext=safetensors
  case "$s" in q4_0|q*_k|iq4_nl) ext=gguf ;; esac
  for m in $METHODS; do
    out=$T/$s-$m.$ext
    args=()
    case $m in
      gptq) args=(--calib "$CAL" --calib-samples "$NS" --calib-seqlen "$SL") ;;
      qat) args=(--calib "$CAL" --calib-samples "$QNS" --calib-seqlen "$QSL" --steps "$STEPS" --lr "$LR"
                 --batch "$BATCH" --distill) ;;
    esac
    start=$(date +%s.%N)
    "$B" quantize "$M" "$out" --scheme "$s" --method "$m" "${args[@]}" > "$T/q.txt"
    secs=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
    "$B" eval "$out" --text "$EV" --ref "$M" --max-chunks "$CHUNKS" --json | python3 -c "
import json,sys; j=json.load(sys.stdin)
print(f\"| $s | $m | {j['perplexity']:.2f} | {j['kld']:.4f} | {100*j['top1_agreement']:.1f}% | $secs |\")"
    [ "$m" = qat ] && grep '^qat:' "$T/q.txt" >&2
    rm -rf "$out"
  done
done
