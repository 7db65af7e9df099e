#!/usr/bin/env bash
# Quantization throughput, bitsmith next to a peer on the same array: a numpy + ml_dtypes
# NVFP4 quantizer (tests/oracles/nvfp4_oracle.py, the exactness oracle) on 1024 x 4096 N(0,1)
# float32 weights, the shape quant_bench uses. Figures are GB/s of float32 input.
#   scripts/bench_quant.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BENCH="$BUILD/bench/quant_bench"
[ -x "$BENCH" ] || { echo "bench_quant: build $BENCH first (ninja -C $BUILD quant_bench)"; exit 1; }

echo "== bitsmith (Google Benchmark; 1 thread and all threads) =="
"$BENCH" --benchmark_filter='(quantize|dequantize)/(fp8_e4m3|fp8_e5m2|int8|q8_0|q4_0|nvfp4|mxfp4|q4_k|iq4_nl)/' \
  --benchmark_min_time=0.3 2>/dev/null | grep -E '^(quantize|dequantize)' |
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /bytes_per_second=/) { sub("bytes_per_second=", "", $i); print $1, $i } }'

echo "== peer: numpy + ml_dtypes NVFP4 (tests/oracles/nvfp4_oracle.py), 1 thread =="
python3 - <<'PY'
import os, sys, time
sys.path.insert(0, os.path.join("tests", "oracles"))
import numpy as np
import nvfp4_oracle
x = np.random.default_rng(42).standard_normal((1024, 4096)).astype(np.float32)
best = min((lambda t0: (nvfp4_oracle.quantize(x), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
print(f"numpy_nvfp4_quantize {x.nbytes / best / 1e9:.3f} GB/s ({best * 1e3:.1f} ms)")
PY
