#!/usr/bin/env bash
# GGUF block quantize speed: bitsmith (1 and 2 threads) next to ggml's reference quantizer
# (tests/oracles/ggml_oracle.py --bench, 1 thread, libggml from ~/.cache/bitsmith/llama.cpp)
# and gguf-py (q4_0, q8_0), interleaved in the same run, N(0,1) float32 [64 x 4096] input.
# Prints the median (and min..max) GB/s of float32 input over RUNS rounds. Never asserted.
#
#   scripts/bench_gguf.sh [RUNS=5] [BUILD_DIR=build-ggufperf]
#
# BEFORE=path/to/another/gguf_speed adds a "before" column (1 thread) from an older build of
# the same tool, measured in the same rounds (types it does not know are left blank).
set -euo pipefail
RUNS=${1:-5}
BUILD=${2:-build-ggufperf}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$BUILD" -j2 gguf_speed >/dev/null
SPEED="$BUILD/tests/gguf_speed"
TYPES=q4_0,q4_1,q5_0,q5_1,q8_0,q2_k,q3_k,q4_k,q5_k,q6_k,iq4_nl,gguf_mxfp4
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

for ((r = 0; r < RUNS; ++r)); do
  "$SPEED" --types "$TYPES" --threads 1 --reps 3 >>"$OUT/bitsmith1.txt"
  "$SPEED" --types "$TYPES" --threads 2 --reps 3 >>"$OUT/bitsmith2.txt"
  if [ -n "${BEFORE:-}" ]; then
    for t in ${TYPES//,/ }; do "$BEFORE" --types "$t" --threads 1 --reps 3 2>/dev/null || true; done \
      >>"$OUT/before1.txt"
  fi
  python3 tests/oracles/ggml_oracle.py --bench --json --min-time 0.3 \
    --types q4_0,q4_1,q5_0,q5_1,q8_0,q2_K,q3_K,q4_K,q5_K,q6_K,iq4_nl,mxfp4 \
    >"$OUT/ggml.$r.json" 2>/dev/null || true
  python3 - "$OUT/ggufpy.txt" <<'EOF' || true
import sys, time
import numpy as np
from gguf import GGMLQuantizationType as T, quants
x = np.random.default_rng(0).standard_normal((64, 4096)).astype(np.float32)
with open(sys.argv[1], "a") as f:
    for name, t in (("q4_0", T.Q4_0), ("q8_0", T.Q8_0)):
        quants.quantize(x[:1], t)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter(); quants.quantize(x, t); best = min(best, time.perf_counter() - t0)
        f.write(f"{name} {x.nbytes / best / 1e9:.4f}\n")
EOF
done

python3 - "$OUT" "$RUNS" <<'EOF'
import glob, json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def col(path, field=2):
    d = {}
    try:
        for line in open(path):
            p = line.split()
            d.setdefault(p[0], []).append(float(p[field]))
    except FileNotFoundError:
        pass
    return d
b1, b2, gp = col(f"{out}/bitsmith1.txt"), col(f"{out}/bitsmith2.txt"), col(f"{out}/ggufpy.txt", 1)
b0 = col(f"{out}/before1.txt")
gg = {}
for f in glob.glob(f"{out}/ggml.*.json"):
    try:
        for r in json.load(open(f))["results"]:
            if r["gbps"] is not None:
                t = r["type"].lower()
                gg.setdefault("gguf_mxfp4" if t == "mxfp4" else t, []).append(r["gbps"])
    except (ValueError, KeyError):
        pass
def fmt(v):
    return "-" if not v else f"{statistics.median(v):.3f} ({min(v):.2f}..{max(v):.2f})"
print(f"GGUF quantize, float32 [64 x 4096] N(0,1), GB/s of float32 input, median of {runs} rounds (min..max)")
print(f"{'type':10s} | {'before 1T':>20s} | {'bitsmith 1T':>20s} | {'bitsmith 2T':>20s} | {'ggml 1T':>20s} | {'gguf-py':>20s} | x ggml")
for t in ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl",
          "gguf_mxfp4"]:
    ratio = (f"{statistics.median(b1[t]) / statistics.median(gg[t]):.1f}"
             if b1.get(t) and gg.get(t) else "-")
    print(f"{t:10s} | {fmt(b0.get(t)):>20s} | {fmt(b1.get(t)):>20s} | {fmt(b2.get(t)):>20s} | {fmt(gg.get(t)):>20s} | "
          f"{fmt(gp.get(t)):>20s} | {ratio}")
EOF
