#!/usr/bin/env bash
# Runs bench/formats_bench (bitsmith's array conversions, 1 thread and all threads) and, in the
# same run, numpy + ml_dtypes `astype` on an array of the same size (the peer), and prints both
# side by side in elements per second.
#   scripts/bench_formats.sh              (build dir: $BITSMITH_BUILD_DIR or ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BITSMITH_BUILD_DIR:-build}
BENCH="$BUILD_DIR/bench/formats_bench"
if [ ! -x "$BENCH" ]; then
  cmake --build "$BUILD_DIR" --target formats_bench
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$BENCH" --benchmark_format=json --benchmark_min_time=0.5 --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true >"$OUT/bitsmith.json"
python3 - "$OUT/bitsmith.json" <<'PY'
import json, sys, time

doc = json.load(open(sys.argv[1]))
N = 1 << 20  # kN in bench/formats_bench.cc
ours = {}
for b in doc["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    name = b["run_name"].replace("BM_", "").replace("/real_time", "")
    conv, _, threads = name.partition("/threads:")
    ours[(conv, "1" if threads in ("1", "") else "all")] = b["items_per_second"]

peer = {}
try:
    import numpy as np
    import ml_dtypes as md
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(N) * 0.05).astype(np.float32)
    scale = np.float32(0.05 / 32)

    def rate(fn, reps=30):
        fn()
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return N / best

    bf16, f16, e4m3, e5m2, e2m1 = (x.astype(t) for t in (md.bfloat16, np.float16, md.float8_e4m3fn, md.float8_e5m2, md.float4_e2m1fn))
    q8 = np.clip(np.rint(x / scale), -128, 127).astype(np.int8)
    peer = {
        "f32_to_bf16": rate(lambda: x.astype(md.bfloat16)),
        "bf16_to_f32": rate(lambda: bf16.astype(np.float32)),
        "f32_to_f16": rate(lambda: x.astype(np.float16)),
        "f16_to_f32": rate(lambda: f16.astype(np.float32)),
        "f32_to_e4m3": rate(lambda: x.astype(md.float8_e4m3fn)),
        "e4m3_to_f32": rate(lambda: e4m3.astype(np.float32)),
        "f32_to_e5m2": rate(lambda: x.astype(md.float8_e5m2)),
        "e5m2_to_f32": rate(lambda: e5m2.astype(np.float32)),
        "f32_to_e2m1": rate(lambda: x.astype(md.float4_e2m1fn)),
        "e2m1_to_f32": rate(lambda: e2m1.astype(np.float32)),
        # numpy has no fused quantizer: the usual idiom, divide, round, clip, cast.
        "f32_to_int8": rate(lambda: np.clip(np.rint(x / scale), -128, 127).astype(np.int8)),
        "int8_to_f32": rate(lambda: q8.astype(np.float32) * scale),
    }
    peer_name = f"numpy {np.__version__} + ml_dtypes {md.__version__}"
except ImportError as e:
    peer_name = f"(peer unavailable: {e})"

def fmt(v):
    return "-" if v is None else f"{v / 1e9:7.3f} G/s"

print(f"elements per second, float32 array of {N} elements; peer: {peer_name}")
print(f"{'conversion':26} {'bitsmith 1 thr':>14} {'bitsmith all':>14} {'peer astype':>14} {'1 thr / peer':>12}")
for conv in dict.fromkeys(k[0] for k in ours):
    one, allt, p = ours.get((conv, "1")), ours.get((conv, "all")), peer.get(conv)
    ratio = f"{one / p:10.1f}x" if one and p else "-"
    print(f"{conv:26} {fmt(one):>14} {fmt(allt):>14} {fmt(p):>14} {ratio:>12}")
ctx = doc.get("context", {})
print(f"machine: {ctx.get('num_cpus')} cpus at {ctx.get('mhz_per_cpu')} MHz, load {ctx.get('load_avg')}")
PY
