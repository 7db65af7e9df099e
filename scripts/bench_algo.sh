#!/usr/bin/env bash
# Quality table of the quantization methods: calibrate on tinyshakespeare, evaluate on wikitext2
# (llama.cpp perplexity convention, first N chunks of 512), KL divergence and top-1 agreement
# against the unquantized model. Prints one markdown row per scheme x method with the wall time
# and peak memory of `bitsmith quantize` (/usr/bin/time). With SPEED=1, first GPTQ on one layer
# against the numpy reference (tests/oracles/gptq_reference.py's gptq on the same W and H; a
# markdown table of medians, speedups and agreement) and the Google Benchmark figures of
# bench/algo_bench.cc; SPEED_ONLY=1 stops there.
# Usage: scripts/bench_algo.sh [BUILD_DIR] [EVAL_CHUNKS]
# Environment: MODEL (default stories260K), CALIB_SAMPLES (128), CALIB_SEQLEN (512),
#   SCHEMES (default: stories260K's list), METHODS (rtn gptq awq imatrix hqq), SPEED (0),
#   SPEED_ONLY (0), SPEED_SHAPES (1024x1024 4096x1024 4096x4096), RUNS (3),
#   NUMPY_THREADS (numpy's OpenBLAS threads to time: "1 all"; "1" alone halves a long run).
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
gptq_vs_numpy_py() {  # the numpy side of SPEED=1 (gptq_reference.py's gptq on the same W, H)
  cat <<'PY'
import json, os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import gptq_reference as gr

INT = (gr._group_params, gr._encode)


def use_nvfp4(W):
    """nvfp4 in gptq_reference's quantizer slots (nvfp4_oracle.py's rules): block scale
    e4m3(amax16 / (6 S)) * S with S = amax(W) / 2688 fixed from the original weights."""
    import ml_dtypes
    from mx_oracle import float_codes
    S = np.float32(np.max(np.abs(W)) / np.float32(2688.0))

    def params(vals, bits, sym, shrink):
        bamax = np.max(np.abs(vals), axis=-1)
        sc = float_codes((bamax / (np.float32(6.0) * S)).astype(np.float32), ml_dtypes.float8_e4m3fn, 448.0).copy()
        sc[sc == 0] = 0x38
        d = (sc.view(ml_dtypes.float8_e4m3fn).astype(np.float32) * S).astype(np.float32)
        return d, np.zeros_like(d), None, None

    def encode(g, d, z, bits, sym):
        c = float_codes((g / d[:, None]).astype(np.float32), ml_dtypes.float4_e2m1fn, 6.0)
        return None, c, (c.view(ml_dtypes.float4_e2m1fn).astype(np.float32) * d[:, None]).astype(np.float32)
    gr._group_params, gr._encode = params, encode
    return 4, 16, False


mode, d = sys.argv[2], sys.argv[3]
if mode == "numpy":  # numpy DIR RUNS THREADS: median seconds per config, and agreement
    runs, threads = int(sys.argv[4]), sys.argv[5]
    W = np.load(os.path.join(d, "W.npy"))
    H = np.load(os.path.join(d, "H.npy")).astype(np.float64)
    for c in map(json.loads, open(os.path.join(d, "b.json"))):
        gr._group_params, gr._encode = INT
        bits, group, sym = use_nvfp4(W) if c["scheme"] == "nvfp4" else gr.parse_scheme(c["scheme"])
        secs = []
        for _ in range(runs):
            t0 = time.perf_counter()
            ref = gr.gptq(W, H, bits, group, sym, actorder=c["act_order"])
            secs.append(time.perf_counter() - t0)
        agree = {}
        for sub in sorted(os.listdir(d)):
            f = os.path.join(d, sub, c["name"] + ".npy")
            if os.path.exists(f):
                agree[sub] = gr.compare(c["name"], np.load(f), ref)
        print(json.dumps({"name": c["name"], "threads": threads, "seconds": sorted(secs)[runs // 2], "agree": agree}))
else:  # table DIR SHAPE: one markdown row per config
    b = {}
    for sub in sorted(os.listdir(d)):
        f = os.path.join(d, sub, "b.json")
        if os.path.isdir(os.path.join(d, sub)) and os.path.exists(f):
            for c in map(json.loads, open(f)):
                b[(c["name"], sub)] = c["seconds"]
    n = {}
    for line in open(os.path.join(d, "n.json")):
        r = json.loads(line)
        n[(r["name"], r["threads"])] = r
    names = [json.loads(l)["name"] for l in open(os.path.join(d, "b.json"))]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    for name in names:
        b1, b2 = b[(name, "t1")], b[(name, "tall")]
        r1, r2 = n.get((name, "1")), n.get((name, "all"))
        n1, n2 = (r and r["seconds"] for r in (r1, r2))
        best = min(v for v in (n1, n2) if v is not None)

        def agree(sub):  # worst over the numpy runs
            vals = [r["agree"][sub] for r in (r1, r2) if r and sub in r["agree"]]
            return f"{100 * min(v[0] for v in vals):.4f}% / {max(v[1] for v in vals):.1e}"
        print(f"| {sys.argv[4]} | {name} | {b2:.3f} | {b1:.3f} | {fmt(n2)} | {fmt(n1)} | "
              f"**{best / b2:.1f}x** | {'-' if n1 is None else f'{n1 / b1:.1f}x'} | "
              f"{agree('tall')} | {agree('t1')} |")
PY
}
if [ "${SPEED:-0}" = 1 ]; then
  # GPTQ against gptq_reference.py's numpy on the same layer (algo_bench --vs-numpy writes W and H
  # and bitsmith's results), RUNS runs each, medians; both sides with all cores and with one
  # (OPENBLAS_NUM_THREADS=1; numpy is often faster so). Speedup: bitsmith (all cores) against the
  # faster numpy, and one core against one core; agreement: the least identical fraction and the
  # largest relative error against the numpy runs.
  RUNS=${RUNS:-3}
  gptq_vs_numpy_py > "$T/vs.py"
  ORC=$(cd "$(dirname "$0")/../tests/oracles" && pwd)
  echo "| rows x cols | config | bitsmith s | bitsmith 1-core s | numpy s | numpy 1-core s | speedup | 1-core speedup | identical / rel err | 1-core identical / rel err |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for shape in ${SPEED_SHAPES:-1024x1024 4096x1024 4096x4096}; do
    d=$T/vs$shape
    mkdir -p "$d/t1" "$d/tall"
    OPENBLAS_NUM_THREADS=1 "$BD/bench/algo_bench" --vs-numpy "$d/t1" ${shape/x/ } "$RUNS" 1 > "$d/t1/b.json"
    "$BD/bench/algo_bench" --vs-numpy "$d/tall" ${shape/x/ } "$RUNS" > "$d/tall/b.json"
    cp "$d/tall/W.npy" "$d/tall/H.npy" "$d/tall/b.json" "$d/"
    : > "$d/n.json"
    for nt in ${NUMPY_THREADS:-1 all}; do
      if [ "$nt" = all ]; then python3 "$T/vs.py" "$ORC" numpy "$d" "$RUNS" all >> "$d/n.json"
      else OPENBLAS_NUM_THREADS=$nt python3 "$T/vs.py" "$ORC" numpy "$d" "$RUNS" "$nt" >> "$d/n.json"; fi
    done
    python3 "$T/vs.py" "$ORC" table "$d" "${shape/x/ × }"
  done
  "$BD/bench/algo_bench" --benchmark_min_time=0.2
  [ "${SPEED_ONLY:-0}" = 1 ] && exit 0
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
