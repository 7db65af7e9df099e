#!/usr/bin/env bash
# Prefill speed and peak memory of `bitsmith eval` against llama.cpp's llama-perplexity on the
# same real GGUF (default: SmolLM2-135M-Instruct Q4_1, scripts/models/install_smollm2.sh), same
# text (wikitext2), ctx 512, same chunks and thread count, back to back.
#
#   scripts/models/bench_smollm2.sh [CHUNKS] [THREADS] [GGUF]     (default 8 chunks, 2 threads)
# Environment: BITSMITH_BUILD_DIR (default build), BITSMITH_BENCH_DIR (default ~/.cache/bitsmith/bench)
#
# tokens/s = chunks x 512 over the scoring time only: bitsmith's own figure (--json), and for
# llama.cpp the time between its log lines "calculating perplexity" and "Final estimate".
# llama.cpp runs the Q4_1 file with its Q4_1 x Q8_1 kernels; bitsmith dequantizes each layer to
# float32 and runs float32 GEMMs, so their perplexities differ slightly (docs/larger_model.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
CHUNKS=${1:-8}
THREADS=${2:-2}
GGUF=${3:-$(python3 scripts/models/find_model.py smollm2)}
BUILD=${BITSMITH_BUILD_DIR:-build}
DIR=${BITSMITH_BENCH_DIR:-$HOME/.cache/bitsmith/bench}
TEXT=${BITSMITH_SHARED_DIR:-$(pwd)/../shared}/data/wikitext2_test.txt
mkdir -p "$DIR"
eval "$(bash scripts/peers/build_llamacpp.sh --env)"
BYTES=$(stat -c %s "$GGUF")
echo "model: $GGUF ($BYTES bytes), ctx 512, $CHUNKS chunks, $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"

LOG=$DIR/smollm2-llama.log
LD_LIBRARY_PATH=$LLAMA_CPP_LIB_PATH /usr/bin/time -v "$LLAMA_CPP_BIN/llama-perplexity" -m "$GGUF" \
  -f "$TEXT" -c 512 -b 512 -t "$THREADS" --chunks "$CHUNKS" >"$LOG" 2>&1
BS=$DIR/smollm2-bitsmith.json
/usr/bin/time -v "$BUILD/bitsmith" eval "$GGUF" --text "$TEXT" --ctx 512 --threads "$THREADS" \
  --max-chunks "$CHUNKS" --json >"$BS" 2>"$BS.time"

python3 - "$LOG" "$BS" "$BS.time" "$BYTES" "$CHUNKS" <<'PY'
import json, re, sys
llama_log, bs_json, bs_time, size, chunks = sys.argv[1:]
text = open(llama_log, errors="replace").read()
def stamp(marker):  # llama.cpp log time: minutes.seconds.milliseconds.microseconds
    m = re.search(r"^(\d+)\.(\d+)\.(\d+)\.(\d+) .*" + marker, text, re.M)
    mi, s, ms, us = map(int, m.groups())
    return mi * 60 + s + ms / 1e3 + us / 1e6
def peak_kib(t):
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
tokens = int(chunks) * 512
llama_tps = tokens / (stamp("Final estimate") - stamp("calculating perplexity"))
llama_ppl = float(re.search(r"Final estimate: PPL = ([0-9.]+)", text).group(1))
bs = json.load(open(bs_json))
rows = [("llama.cpp", llama_tps, llama_ppl, peak_kib(text)),
        ("bitsmith", bs["tokens_per_second"], bs["perplexity"], peak_kib(open(bs_time).read()))]
print(f"{'tool':10} {'tokens/s':>9} {'perplexity':>11} {'peak RSS MiB':>13} {'RSS/model':>10}")
for name, tps, ppl, kib in rows:
    print(f"{name:10} {tps:9.1f} {ppl:11.4f} {kib / 1024:13.1f} {kib * 1024 / int(size):10.3f}")
print(f"speed ratio bitsmith/llama.cpp: {rows[1][1] / rows[0][1]:.3f}")
PY
